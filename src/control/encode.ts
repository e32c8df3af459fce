// Compiled resources → xDS resources. Proxies share most of their resources (every caller of
// a service gets the same cluster), so encoding goes through one cache keyed by content:
// each distinct resource is encoded once and its bytes are shared by every snapshot.
import { createHash } from 'node:crypto';
import type { ProxyConfig } from '../compile/proxy-config';
import { encodeResource } from '../xds/protos';
import { buildSnapshot, makeResource, type Resource, type Snapshot } from '../xds/resources';
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

export class ResourceEncoder {
  private entries = new Map<string, Resource>();
  private usedSinceSweep = new Map<string, Resource>();

  encode(typeUrl: string, name: string, resource: object): Resource {
    // The compiler builds objects in a fixed key order, so equal content gives equal JSON.
    const key = createHash('sha1').update(typeUrl).update('\0').update(name).update('\0').update(JSON.stringify(resource)).digest('base64');
    let encoded = this.usedSinceSweep.get(key) ?? this.entries.get(key);
    encoded ??= makeResource(typeUrl, name, encodeResource(typeUrl, resource));
    this.usedSinceSweep.set(key, encoded);
    return encoded;
  }

  /** Forgets resources no snapshot has used since the last sweep (call after recompiling every proxy). */
  sweep(): void {
    this.entries = this.usedSinceSweep;
    this.usedSinceSweep = new Map();
  }

  /** Encodes a compiled proxy config into an xDS snapshot. */
  snapshot(config: ProxyConfig, detectedAt?: number): Snapshot {
    const byType = new Map<string, Resource[]>();
    for (const [typeUrl, list] of resourcesByType(config)) {
      byType.set(typeUrl, list.map(({ name, resource }) => this.encode(typeUrl, name, resource)));
    }
    return buildSnapshot(byType, detectedAt);
  }
}
