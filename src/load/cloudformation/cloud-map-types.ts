// The AWS::ServiceDiscovery::* resource types a template may declare next to its mesh: namespaces,
// services and instances. They seed meshd's local Cloud Map registry as `kind: CloudMapService`
// documents do (a service and its instances; the namespace by name). Ref and Fn::GetAtt give
// what CloudFormation gives: Ref of a namespace or service is its id, of an instance its
// InstanceId; ids are made up (`ns-…`, `srv-…`), stable, and mapped back to the resource.
import { stableId, type StackInputs } from './stack-inputs';

export type CloudMapRole = 'namespace' | 'service' | 'instance';

export interface CloudMapType {
  readonly role: CloudMapRole;
  readonly properties: readonly string[];
  /** Fn::GetAtt attributes CloudFormation has for the type. */
  readonly attributes: readonly string[];
}

export const CLOUD_MAP_TYPES: ReadonlyMap<string, CloudMapType> = new Map([
  [
    'AWS::ServiceDiscovery::PrivateDnsNamespace',
    {
      role: 'namespace',
      properties: ['Name', 'Vpc', 'Description', 'Properties', 'Tags'],
      attributes: ['Arn', 'HostedZoneId', 'Id'],
    },
  ],
  [
    'AWS::ServiceDiscovery::PublicDnsNamespace',
    {
      role: 'namespace',
      properties: ['Name', 'Description', 'Properties', 'Tags'],
      attributes: ['Arn', 'HostedZoneId', 'Id'],
    },
  ],
  [
    'AWS::ServiceDiscovery::HttpNamespace',
    { role: 'namespace', properties: ['Name', 'Description', 'Tags'], attributes: ['Arn', 'Id'] },
  ],
  [
    'AWS::ServiceDiscovery::Service',
    {
      role: 'service',
      properties: [
        'Name',
        'NamespaceId',
        'DnsConfig',
        'HealthCheckConfig',
        'HealthCheckCustomConfig',
        'Description',
        'Type',
        'Tags',
        'ServiceAttributes',
      ],
      attributes: ['Arn', 'Id', 'Name'],
    },
  ],
  [
    'AWS::ServiceDiscovery::Instance',
    { role: 'instance', properties: ['InstanceAttributes', 'InstanceId', 'ServiceId'], attributes: [] },
  ],
] satisfies [string, CloudMapType][]);

/**
 * The id CloudFormation's Ref gives for a namespace or service, made up but the same for the same stack and logical ID.
 */
export function cloudMapId(role: 'namespace' | 'service', inputs: StackInputs, logicalId: string): string {
  return stableId(role === 'namespace' ? 'ns' : 'srv', `${inputs.stackName}/${logicalId}`);
}

export function cloudMapArn(role: 'namespace' | 'service', inputs: StackInputs, id: string): string {
  return `arn:${inputs.partition}:servicediscovery:${inputs.region}:${inputs.accountId}:${role}/${id}`;
}

/** Where a service names its namespace: NamespaceId, else DnsConfig.NamespaceId. */
export function namespaceIdPath(properties: Record<string, unknown>): readonly string[] | undefined {
  if (properties.NamespaceId !== undefined) return ['NamespaceId'];
  const dns = properties.DnsConfig;
  if (
    dns !== null &&
    typeof dns === 'object' &&
    !Array.isArray(dns) &&
    (dns as Record<string, unknown>).NamespaceId !== undefined
  )
    return ['DnsConfig', 'NamespaceId'];
  return undefined;
}
