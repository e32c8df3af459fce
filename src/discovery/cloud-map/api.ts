// AWS Cloud Map's API (AWS JSON 1.1: `POST /`, `X-Amz-Target: Route53AutoNaming_v20170314.<Op>`)
// over the local registry, so `aws servicediscovery --endpoint-url` and the AWS SDKs work
// unchanged. One function per operation; answers and errors in AWS's shapes.
import { page, ApiInput } from './api-input';
import { CloudMapError, type RefusalReason } from './errors';
import { CUSTOM_HEALTH_STATUSES } from '../../model/cloud-map-instance';
import {
  type DnsRecord,
  type InstanceRecord,
  type NamespaceRecord,
  type OperationRecord,
  type ServiceRecord,
} from './records';
import type { CloudMapRegistry } from './registry';

export const TARGET_PREFIX = 'Route53AutoNaming_v20170314.';
export const CONTENT_TYPE = 'application/x-amz-json-1.1';

export interface ApiAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** Set when the request was refused for one of the reasons counted in /metrics. */
  readonly refusal?: RefusalReason;
}

type Operation = (registry: CloudMapRegistry, input: ApiInput) => Record<string, unknown>;

// AWS's name rules, shortened to what a user can read in an error.
const INSTANCE_ID = { max: 64, pattern: /^[0-9a-zA-Z_/:.@-]+$/, rule: 'may contain only letters, digits and _/:.@-' };
const SERVICE_NAME = {
  max: 127,
  pattern:
    /^([a-zA-Z0-9_][a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9_])(\.([a-zA-Z0-9_][a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9_]))*$|^\.$/,
  rule: 'must be DNS labels (letters, digits, - and _) separated by dots',
};
const HTTP_NAMESPACE_NAME = { max: 1024, pattern: /^[!-~]+$/, rule: 'must be printable ASCII without spaces' };
const DNS_NAMESPACE_NAME = { max: 253, pattern: /^[!-~]+$/, rule: 'must be printable ASCII without spaces' };
const ID = { max: 64 };

const OPERATIONS: Readonly<Record<string, Operation>> = {
  CreateHttpNamespace: (registry, input) => ({
    OperationId: registry.createNamespace({
      name: input.requiredString('Name', HTTP_NAMESPACE_NAME),
      type: 'HTTP',
      ...common(input),
    }).id,
  }),

  CreatePrivateDnsNamespace: (registry, input) => ({
    OperationId: registry.createNamespace({
      name: input.requiredString('Name', DNS_NAMESPACE_NAME),
      type: 'DNS_PRIVATE',
      vpc: input.requiredString('Vpc', ID),
      ...common(input),
    }).id,
  }),

  CreateService: (registry, input) => {
    const name = input.requiredString('Name', SERVICE_NAME);
    const dns = input.object('DnsConfig');
    const namespaceId = input.string('NamespaceId', ID) ?? dns?.string('NamespaceId', ID);
    if (namespaceId === undefined)
      throw new CloudMapError('InvalidInput', 'NamespaceId is required (or DnsConfig.NamespaceId)');
    if (input.has('HealthCheckConfig')) {
      throw new CloudMapError(
        'InvalidInput',
        'HealthCheckConfig (Route 53 health checks) needs a public DNS namespace, which the local registry does not have; use HealthCheckCustomConfig',
      );
    }
    if (input.oneOf('Type', ['HTTP']) === 'HTTP' && dns)
      throw new CloudMapError('InvalidInput', 'a service of Type HTTP cannot have DnsConfig');
    const custom = input.object('HealthCheckCustomConfig');
    const failureThreshold = custom?.integer('FailureThreshold', 1, 10);
    const service = registry.createService({
      name,
      namespaceId,
      ...common(input),
      ...(dns ? { dnsConfig: dnsConfigOf(dns) } : {}),
      ...(custom ? { healthCheckCustomConfig: failureThreshold !== undefined ? { failureThreshold } : {} } : {}),
    });
    return { Service: serviceOut(registry, service) };
  },

  GetNamespace: (registry, input) => ({
    Namespace: namespaceOut(registry, registry.namespace(input.requiredString('Id', ID))),
  }),

  GetService: (registry, input) => ({
    Service: serviceOut(registry, registry.service(input.requiredString('Id', ID))),
  }),

  ListNamespaces: (registry, input) => {
    const filters = (input.list('Filters') ?? []).map((f) => filterOf(f, ['TYPE', 'NAME', 'HTTP_NAME']));
    const namespaces = registry
      .namespaces()
      .filter((ns) => filters.every((f) => f.test(f.name === 'TYPE' ? ns.type : ns.name)));
    const { items, nextToken } = page(namespaces, input, { default: 100, max: 100 });
    return {
      Namespaces: items.map((ns) => namespaceOut(registry, ns)),
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  },

  ListServices: (registry, input) => {
    const filters = (input.list('Filters') ?? []).map((f) => filterOf(f, ['NAMESPACE_ID']));
    const services = registry.services().filter((s) => filters.every((f) => f.test(s.namespaceId)));
    const { items, nextToken } = page(services, input, { default: 100, max: 100 });
    return { Services: items.map((s) => serviceOut(registry, s)), ...(nextToken ? { NextToken: nextToken } : {}) };
  },

  DeleteService: (registry, input) => {
    registry.deleteService(input.requiredString('Id', ID));
    return {};
  },

  DeleteNamespace: (registry, input) => ({ OperationId: registry.deleteNamespace(input.requiredString('Id', ID)).id }),

  RegisterInstance: (registry, input) => {
    const serviceId = input.requiredString('ServiceId', ID);
    const instanceId = input.requiredString('InstanceId', INSTANCE_ID);
    const attributes = input.stringMap('Attributes');
    if (attributes === undefined) throw new CloudMapError('InvalidInput', 'Attributes is required');
    const creatorRequestId = input.string('CreatorRequestId', { max: 64 });
    return {
      OperationId: registry.registerInstance({
        serviceId,
        instanceId,
        attributes,
        ...(creatorRequestId ? { creatorRequestId } : {}),
      }).id,
    };
  },

  DeregisterInstance: (registry, input) => ({
    OperationId: registry.deregisterInstance(
      input.requiredString('ServiceId', ID),
      input.requiredString('InstanceId', INSTANCE_ID),
    ).id,
  }),

  ListInstances: (registry, input) => {
    const { items, nextToken } = page(registry.instances(input.requiredString('ServiceId', ID)), input, {
      default: 100,
      max: 100,
    });
    return {
      Instances: items.map((i) => ({ Id: i.id, Attributes: i.attributes })),
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  },

  GetInstance: (registry, input) => {
    const instance = registry.instance(
      input.requiredString('ServiceId', ID),
      input.requiredString('InstanceId', INSTANCE_ID),
    );
    return {
      Instance: {
        Id: instance.id,
        ...(instance.creatorRequestId ? { CreatorRequestId: instance.creatorRequestId } : {}),
        Attributes: instance.attributes,
      },
    };
  },

  DiscoverInstances: (registry, input) => {
    const { namespace, service } = namedService(registry, input);
    const wanted = input.oneOf('HealthStatus', ['HEALTHY', 'UNHEALTHY', 'ALL', 'HEALTHY_OR_ELSE_ALL']) ?? 'HEALTHY';
    const max = input.integer('MaxResults', 1, 1000) ?? 100;
    const required = input.stringMap('QueryParameters') ?? {};
    const optional = input.stringMap('OptionalParameters') ?? {};
    const matches = (i: InstanceRecord, params: Record<string, string>) =>
      Object.entries(params).every(([k, v]) => Object.hasOwn(i.attributes, k) && i.attributes[k] === v);
    let found = registry.instances(service.id).filter((i) => matches(i, required));
    // The health filter applies only to services with a health check; others return every instance.
    if (service.healthCheckCustomConfig && wanted !== 'ALL') {
      const healthy = found.filter((i) => i.health === 'HEALTHY');
      found =
        wanted === 'HEALTHY'
          ? healthy
          : wanted === 'UNHEALTHY'
            ? found.filter((i) => i.health === 'UNHEALTHY')
            : healthy.length > 0
              ? healthy
              : found;
    }
    // Optional parameters narrow the answer only when some instance matches them.
    const narrowed = found.filter((i) => matches(i, optional));
    if (narrowed.length > 0) found = narrowed;
    return {
      Instances: found.slice(0, max).map((i) => ({
        InstanceId: i.id,
        NamespaceName: namespace.name,
        ServiceName: service.name,
        HealthStatus: registry.healthOf(i),
        Attributes: i.attributes,
      })),
      InstancesRevision: service.revision,
    };
  },

  DiscoverInstancesRevision: (registry, input) => ({
    InstancesRevision: namedService(registry, input).service.revision,
  }),

  GetInstancesHealthStatus: (registry, input) => {
    const serviceId = input.requiredString('ServiceId', ID);
    const named = input.stringList('Instances');
    const instances = named ? named.map((id) => registry.instance(serviceId, id)) : registry.instances(serviceId);
    const { items, nextToken } = page(instances, input, { default: 100, max: 100 });
    return {
      Status: Object.fromEntries(items.map((i) => [i.id, registry.healthOf(i)])),
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  },

  UpdateInstanceCustomHealthStatus: (registry, input) => {
    const serviceId = input.requiredString('ServiceId', ID);
    const instanceId = input.requiredString('InstanceId', INSTANCE_ID);
    const status = input.oneOf('Status', CUSTOM_HEALTH_STATUSES);
    if (status === undefined) throw new CloudMapError('InvalidInput', 'Status is required (HEALTHY or UNHEALTHY)');
    registry.setCustomHealth(serviceId, instanceId, status);
    return {};
  },

  GetOperation: (registry, input) => ({
    Operation: operationOut(registry.operation(input.requiredString('OperationId', { max: 255 }))),
  }),
};

/** By name: the name comes from the client's X-Amz-Target, so a Map (never Object.prototype's members). */
const OPERATION_BY_NAME: ReadonlyMap<string, Operation> = new Map(Object.entries(OPERATIONS));

export const SUPPORTED_OPERATIONS = [...OPERATION_BY_NAME.keys()].sort();

/** Answers one request: `target` is the X-Amz-Target header, `body` the raw request body. */
export function answerCloudMapRequest(registry: CloudMapRegistry, target: string | undefined, body: string): ApiAnswer {
  try {
    const name = target?.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : undefined;
    const operation = name !== undefined ? OPERATION_BY_NAME.get(name) : undefined;
    if (!operation) {
      const got =
        target === undefined
          ? 'no X-Amz-Target header'
          : `X-Amz-Target '${target.length > 128 ? `${target.slice(0, 128)}...` : target}'`;
      throw new CloudMapError(
        'UnknownOperationException',
        `${got}; the local Cloud Map answers ${TARGET_PREFIX}{${SUPPORTED_OPERATIONS.join(',')}}`,
      );
    }
    return { status: 200, body: operation(registry, ApiInput.parse(body)) };
  } catch (err) {
    if (err instanceof CloudMapError) return errorAnswer(err);
    throw err;
  }
}

export function errorAnswer(err: CloudMapError): ApiAnswer {
  return {
    status: err.status,
    body: { __type: err.type, Message: err.message, ...err.fields },
    ...(err.refusal ? { refusal: err.refusal } : {}),
  };
}

function common(input: ApiInput): { description?: string; creatorRequestId?: string } {
  const description = input.string('Description', { max: 1024 });
  const creatorRequestId = input.string('CreatorRequestId', { max: 64 });
  return {
    ...(description !== undefined ? { description } : {}),
    ...(creatorRequestId !== undefined ? { creatorRequestId } : {}),
  };
}

function dnsConfigOf(dns: ApiInput): NonNullable<ServiceRecord['dnsConfig']> {
  const records = dns.list('DnsRecords');
  if (!records || records.length === 0)
    throw new CloudMapError('InvalidInput', 'DnsConfig.DnsRecords must list at least one record');
  const dnsRecords: DnsRecord[] = records.map((r) => {
    const type = r.oneOf('Type', ['A', 'AAAA', 'SRV', 'CNAME']);
    const ttl = r.integer('TTL', 0, 2147483647);
    if (type === undefined || ttl === undefined)
      throw new CloudMapError('InvalidInput', 'every DnsConfig.DnsRecords entry needs Type and TTL');
    return { type, ttl };
  });
  return { routingPolicy: dns.oneOf('RoutingPolicy', ['MULTIVALUE', 'WEIGHTED']) ?? 'MULTIVALUE', dnsRecords };
}

function filterOf(filter: ApiInput, names: readonly string[]): { name: string; test: (value: string) => boolean } {
  const name = filter.oneOf('Name', names);
  const values = filter.stringList('Values');
  if (name === undefined || !values || values.length === 0)
    throw new CloudMapError('InvalidInput', 'every filter needs Name and Values');
  const condition = filter.oneOf('Condition', ['EQ', 'IN', 'BEGINS_WITH']) ?? 'EQ';
  if (condition === 'EQ' && values.length !== 1)
    throw new CloudMapError('InvalidInput', `filter ${name} with condition EQ takes one value`);
  if (condition === 'BEGINS_WITH') return { name, test: (v) => values.some((prefix) => v.startsWith(prefix)) };
  return { name, test: (v) => values.includes(v) };
}

function namedService(
  registry: CloudMapRegistry,
  input: ApiInput,
): { namespace: NamespaceRecord; service: ServiceRecord } {
  const namespaceName = input.requiredString('NamespaceName', HTTP_NAMESPACE_NAME);
  const serviceName = input.requiredString('ServiceName', SERVICE_NAME);
  const namespace = registry.namespaceNamed(namespaceName);
  if (!namespace) throw new CloudMapError('NamespaceNotFound', `No namespace exists with name: ${namespaceName}`);
  const service = registry.serviceNamed(namespace.id, serviceName);
  if (!service)
    throw new CloudMapError(
      'ServiceNotFound',
      `No service exists with name: ${serviceName} in namespace ${namespaceName}`,
    );
  return { namespace, service };
}

function namespaceOut(registry: CloudMapRegistry, ns: NamespaceRecord): Record<string, unknown> {
  return {
    Id: ns.id,
    Arn: ns.arn,
    Name: ns.name,
    Type: ns.type,
    ...(ns.description !== undefined ? { Description: ns.description } : {}),
    ServiceCount: registry.serviceCount(ns.id),
    Properties: { ...(ns.type === 'DNS_PRIVATE' ? { DnsProperties: {} } : {}), HttpProperties: { HttpName: ns.name } },
    CreateDate: ns.createDate,
    ...(ns.creatorRequestId !== undefined ? { CreatorRequestId: ns.creatorRequestId } : {}),
  };
}

function serviceOut(registry: CloudMapRegistry, s: ServiceRecord): Record<string, unknown> {
  return {
    Id: s.id,
    Arn: s.arn,
    Name: s.name,
    NamespaceId: s.namespaceId,
    ...(s.description !== undefined ? { Description: s.description } : {}),
    InstanceCount: registry.instanceCount(s.id),
    ...(s.dnsConfig
      ? {
          DnsConfig: {
            NamespaceId: s.namespaceId,
            RoutingPolicy: s.dnsConfig.routingPolicy,
            DnsRecords: s.dnsConfig.dnsRecords.map((r) => ({ Type: r.type, TTL: r.ttl })),
          },
        }
      : {}),
    Type: s.dnsConfig ? 'DNS_HTTP' : 'HTTP',
    ...(s.healthCheckCustomConfig
      ? {
          HealthCheckCustomConfig:
            s.healthCheckCustomConfig.failureThreshold !== undefined
              ? { FailureThreshold: s.healthCheckCustomConfig.failureThreshold }
              : {},
        }
      : {}),
    CreateDate: s.createDate,
    ...(s.creatorRequestId !== undefined ? { CreatorRequestId: s.creatorRequestId } : {}),
  };
}

function operationOut(op: OperationRecord): Record<string, unknown> {
  return {
    Id: op.id,
    Type: op.type,
    Status: op.status,
    CreateDate: op.createDate,
    UpdateDate: op.createDate,
    Targets: op.targets,
  };
}
