// `meshd register` and `meshd deregister`: one-line Cloud Map registrations for compose
// health checks and scripts. They speak the same AWS API as `aws servicediscovery`, against
// a running meshd's admin port, creating the namespace and service on first use.
import { CONTENT_TYPE, TARGET_PREFIX } from '../discovery/cloud-map/api';
import { CUSTOM_HEALTH_STATUSES } from '../model/cloud-map-instance';
import {
  adminFlag,
  adminRequest,
  parseAdminAddress,
  parseJson,
  unreachableMessage,
  type AdminAddress,
} from './admin-client';
import { UsageError, type CommandSpec, type FlagSpec, type ParsedArgs } from './args';

const target: Record<string, FlagSpec> = {
  admin: adminFlag,
  namespace: {
    type: 'string',
    metavar: 'name',
    help: 'Cloud Map namespace, as the virtual node names it (awsCloudMap.namespaceName)',
  },
  service: { type: 'string', metavar: 'name', help: 'Cloud Map service (awsCloudMap.serviceName)' },
  instance: { type: 'string', metavar: 'id', help: 'instance id, unique in the service (e.g. the container name)' },
};

export const registerCommand: CommandSpec = {
  name: 'register',
  summary: 'register (or update) a Cloud Map instance with a running meshd',
  usage:
    'meshd register --namespace <ns> --service <svc> --instance <id> --ipv4 <ip> --port <port> [--attribute key=value]... [--health HEALTHY|UNHEALTHY]',
  flags: {
    ...target,
    ipv4: { type: 'string', metavar: 'ip', help: 'AWS_INSTANCE_IPV4: the address Envoy connects to' },
    ipv6: { type: 'string', metavar: 'ip', help: 'AWS_INSTANCE_IPV6' },
    port: { type: 'int', min: 1, help: 'AWS_INSTANCE_PORT (default: the port of the listener being called)' },
    attribute: {
      type: 'list',
      metavar: 'key=value',
      help: 'a custom attribute, as virtual nodes filter on (repeatable)',
    },
    health: {
      type: 'string',
      metavar: 'status',
      help: 'set the custom health status: HEALTHY or UNHEALTHY (default: HEALTHY when new, else unchanged)',
    },
  },
  notes: [
    'A missing namespace is created as an HTTP namespace, a missing service with a custom health check.',
    'Registering an id again replaces its attributes. Exit status: 0 registered, 1 refused or unreachable, 2 bad flags.',
  ],
};

export const deregisterCommand: CommandSpec = {
  name: 'deregister',
  summary: 'remove a Cloud Map instance from a running meshd',
  usage: 'meshd deregister --namespace <ns> --service <svc> --instance <id>',
  flags: target,
  notes: ['Exit status: 0 removed, 1 not registered or unreachable, 2 bad flags.'],
};

/** An AWS error answer, or meshd unreachable: the command prints it as one line. */
class CallFailed extends Error {}

/** Calls one operation of meshd's Cloud Map API. */
async function call(
  command: string,
  admin: AdminAddress,
  operation: string,
  input: unknown,
): Promise<Record<string, unknown>> {
  const res = await adminRequest(admin, '/', {
    method: 'POST',
    headers: { 'content-type': CONTENT_TYPE, 'x-amz-target': `${TARGET_PREFIX}${operation}` },
    body: JSON.stringify(input),
  });
  if (!res.ok) throw new CallFailed(unreachableMessage(command, admin, res.reason).trimEnd());
  const body = parseJson(res.body) as Record<string, unknown> | undefined;
  if (res.status === 200 && body) return body;
  const type = typeof body?.__type === 'string' ? body.__type : `HTTP ${res.status}`;
  const message = typeof body?.Message === 'string' ? body.Message : res.body.trim().slice(0, 200);
  throw new CallFailed(`meshd ${command}: ${operation} refused: ${type}: ${message}`);
}

function required(args: ParsedArgs, name: string): string {
  const value = args.flags[name] as string | undefined;
  if (!value) throw new UsageError(`--${name} is required`);
  return value;
}

async function findNamespaceId(command: string, admin: AdminAddress, name: string): Promise<string | undefined> {
  const { Namespaces } = await call(command, admin, 'ListNamespaces', {
    Filters: [{ Name: 'NAME', Values: [name], Condition: 'EQ' }],
  });
  return (Namespaces as { Id: string }[])[0]?.Id;
}

async function findServiceId(
  command: string,
  admin: AdminAddress,
  namespaceId: string,
  name: string,
): Promise<string | undefined> {
  const { Services } = await call(command, admin, 'ListServices', {
    Filters: [{ Name: 'NAMESPACE_ID', Values: [namespaceId], Condition: 'EQ' }],
  });
  return (Services as { Id: string; Name: string }[]).find((s) => s.Name === name)?.Id;
}

function attributesOf(args: ParsedArgs): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const pair of args.flags.attribute as string[]) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--attribute must be key=value, got '${pair}'`);
    attributes[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const set = (key: string, value: string | number | undefined) =>
    value !== undefined && (attributes[key] = String(value));
  set('AWS_INSTANCE_IPV4', args.flags.ipv4 as string | undefined);
  set('AWS_INSTANCE_IPV6', args.flags.ipv6 as string | undefined);
  set('AWS_INSTANCE_PORT', args.flags.port as number | undefined);
  return attributes;
}

async function runCommand(body: () => Promise<string>): Promise<number> {
  try {
    process.stdout.write(`${await body()}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof CallFailed)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
}

export function runRegister(args: ParsedArgs): Promise<number> {
  const admin = parseAdminAddress(args.flags.admin as string);
  const [namespace, service, instance] = [
    required(args, 'namespace'),
    required(args, 'service'),
    required(args, 'instance'),
  ];
  const health = args.flags.health as string | undefined;
  if (health !== undefined && !(CUSTOM_HEALTH_STATUSES as readonly string[]).includes(health))
    throw new UsageError(`--health must be HEALTHY or UNHEALTHY, got '${health}'`);
  const attributes = attributesOf(args);
  if (!attributes.AWS_INSTANCE_IPV4 && !attributes.AWS_INSTANCE_IPV6)
    throw new UsageError('give --ipv4 or --ipv6: Envoy needs an address to reach the instance');

  return runCommand(async () => {
    const notes: string[] = [];
    let namespaceId = await findNamespaceId('register', admin, namespace);
    if (!namespaceId) {
      const { OperationId } = await call('register', admin, 'CreateHttpNamespace', { Name: namespace });
      const { Operation } = await call('register', admin, 'GetOperation', { OperationId });
      namespaceId = (Operation as { Targets: { NAMESPACE: string } }).Targets.NAMESPACE;
      notes.push(`created HTTP namespace ${namespace}`);
    }
    let serviceId = await findServiceId('register', admin, namespaceId, service);
    if (!serviceId) {
      const { Service } = await call('register', admin, 'CreateService', {
        Name: service,
        NamespaceId: namespaceId,
        HealthCheckCustomConfig: {},
      });
      serviceId = (Service as { Id: string }).Id;
      notes.push(`created service ${service}`);
    }
    await call('register', admin, 'RegisterInstance', {
      ServiceId: serviceId,
      InstanceId: instance,
      Attributes: attributes,
    });
    if (health)
      await call('register', admin, 'UpdateInstanceCustomHealthStatus', {
        ServiceId: serviceId,
        InstanceId: instance,
        Status: health,
      });
    const address = attributes.AWS_INSTANCE_IPV4 ?? `[${attributes.AWS_INSTANCE_IPV6}]`;
    const where = `${address}${attributes.AWS_INSTANCE_PORT ? `:${attributes.AWS_INSTANCE_PORT}` : ''}`;
    return `registered ${instance} (${where}${health ? `, ${health}` : ''}) in ${namespace}/${service}${notes.length ? ` (${notes.join(', ')})` : ''}`;
  });
}

export function runDeregister(args: ParsedArgs): Promise<number> {
  const admin = parseAdminAddress(args.flags.admin as string);
  const [namespace, service, instance] = [
    required(args, 'namespace'),
    required(args, 'service'),
    required(args, 'instance'),
  ];
  return runCommand(async () => {
    const namespaceId = await findNamespaceId('deregister', admin, namespace);
    if (!namespaceId) throw new CallFailed(`meshd deregister: namespace ${namespace} does not exist`);
    const serviceId = await findServiceId('deregister', admin, namespaceId, service);
    if (!serviceId)
      throw new CallFailed(`meshd deregister: service ${service} does not exist in namespace ${namespace}`);
    await call('deregister', admin, 'DeregisterInstance', { ServiceId: serviceId, InstanceId: instance });
    return `deregistered ${instance} from ${namespace}/${service}`;
  });
}
