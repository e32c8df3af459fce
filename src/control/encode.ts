import type { ProxyConfig } from '../compile/proxy-config';
import { encodeResource } from '../xds/protos';
import { buildSnapshot, type NamedBytes, type Snapshot } from '../xds/snapshot-cache';
import { TypeUrl } from '../xds/type-urls';

export interface NamedResource {
  readonly name: string;
  readonly resource: object;
}

/** A proxy's resources keyed by the type URL they are served under, each with its xDS name. */
export function resourcesByType(config: ProxyConfig): Map<TypeUrl, NamedResource[]> {
  const named = <T extends object>(list: T[], nameOf: (r: T) => string | undefined) =>
    list.map((resource) => ({ name: nameOf(resource) ?? '', resource }));
  return new Map<TypeUrl, NamedResource[]>([
    [TypeUrl.Cluster, named(config.clusters, (c) => c.name)],
    [TypeUrl.Endpoint, named(config.endpoints, (e) => e.cluster_name)],
    [TypeUrl.Listener, named(config.listeners, (l) => l.name)],
    [TypeUrl.Route, named(config.routes, (r) => r.name)],
  ]);
}

/** Encodes a compiled proxy config into an xDS snapshot. */
export function encodeProxyConfig(config: ProxyConfig): Snapshot {
  const byType = new Map<string, NamedBytes[]>();
  for (const [typeUrl, list] of resourcesByType(config)) {
    byType.set(typeUrl, list.map(({ name, resource }) => ({ name, bytes: encodeResource(typeUrl, resource) })));
  }
  return buildSnapshot(byType);
}
