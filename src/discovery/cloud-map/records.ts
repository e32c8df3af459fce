// What the local Cloud Map registry holds, in the shape it is persisted. Field names follow
// AWS's API (camelCased), so the state file reads like `aws servicediscovery` output.

export type NamespaceType = 'HTTP' | 'DNS_PRIVATE';

import type { CustomHealthStatus } from '../../model/cloud-map-instance';

export interface DnsRecord {
  readonly type: 'A' | 'AAAA' | 'SRV' | 'CNAME';
  readonly ttl: number;
}

export interface NamespaceRecord {
  readonly id: string;
  readonly arn: string;
  readonly name: string;
  readonly type: NamespaceType;
  readonly description?: string;
  readonly creatorRequestId?: string;
  /** DNS_PRIVATE namespaces name a VPC in AWS; kept, not used. */
  readonly vpc?: string;
  /** Seconds since the epoch, as AWS's JSON protocol writes timestamps. */
  readonly createDate: number;
}

export interface ServiceRecord {
  readonly id: string;
  readonly arn: string;
  readonly name: string;
  readonly namespaceId: string;
  readonly description?: string;
  readonly creatorRequestId?: string;
  readonly dnsConfig?: { readonly routingPolicy: 'MULTIVALUE' | 'WEIGHTED'; readonly dnsRecords: readonly DnsRecord[] };
  /** With it, instances carry a health status set by UpdateInstanceCustomHealthStatus; without, they are UNKNOWN. */
  readonly healthCheckCustomConfig?: { readonly failureThreshold?: number };
  readonly createDate: number;
  /** Bumped on every instance change: DiscoverInstances' InstancesRevision. */
  readonly revision: number;
}

/** An instance declared in the mesh files (kind CloudMapService), applied when the declaration changes. */
export interface SeedDeclaration {
  readonly attributes: Readonly<Record<string, string>>;
  readonly health?: CustomHealthStatus;
}

/** A declaration as last applied, so an unchanged one is not applied again over what the API did since. */
export interface AppliedSeed extends SeedDeclaration {
  readonly namespace: string;
  readonly service: string;
  readonly id: string;
}

export interface InstanceRecord {
  readonly id: string;
  readonly serviceId: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly creatorRequestId?: string;
  /** The custom health status; meaningful only when the service has a custom health check. */
  readonly health: CustomHealthStatus;
  /** Set while the instance is owned by the mesh files; a RegisterInstance call takes it over. */
  readonly seed?: SeedDeclaration;
  readonly createDate: number;
}

export type OperationType =
  | 'CREATE_NAMESPACE'
  | 'DELETE_NAMESPACE'
  | 'UPDATE_NAMESPACE'
  | 'UPDATE_SERVICE'
  | 'REGISTER_INSTANCE'
  | 'DEREGISTER_INSTANCE';

/** AWS runs these asynchronously; the local registry finishes them before answering. */
export interface OperationRecord {
  readonly id: string;
  readonly type: OperationType;
  readonly status: 'SUCCESS';
  readonly createDate: number;
  readonly targets: Readonly<Partial<Record<'NAMESPACE' | 'SERVICE' | 'INSTANCE', string>>>;
}

export interface RegistryState {
  readonly format: 'meshd-cloud-map/v1';
  readonly namespaces: NamespaceRecord[];
  readonly services: ServiceRecord[];
  readonly instances: InstanceRecord[];
  /** The most recent operations, oldest first (capped). */
  readonly operations: OperationRecord[];
  /** The mesh files' declarations as last applied (absent in files written before it existed). */
  readonly appliedSeeds?: AppliedSeed[];
}

export function emptyState(): RegistryState {
  return {
    format: 'meshd-cloud-map/v1',
    namespaces: [],
    services: [],
    instances: [],
    operations: [],
    appliedSeeds: [],
  };
}
