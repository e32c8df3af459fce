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
  private readonly keyOf = new WeakMap<Resource, string>();
  /** How many entries the last sweep kept: the next sweeps once there are twice as many. */
  private keptBySweep = 0;

  encode(typeUrl: string, name: string, resource: object): Resource {
    // The compiler builds objects in a fixed key order, so equal content gives equal JSON.
    const key = createHash('sha1').update(typeUrl).update('\0').update(name).update('\0').update(JSON.stringify(resource)).digest('base64');
    let encoded = this.entries.get(key);
    if (!encoded) {
      encoded = makeResource(typeUrl, name, encodeResource(typeUrl, resource));
      this.entries.set(key, encoded);
      this.keyOf.set(encoded, key);
    }
    return encoded;
  }

  /**
   * Forgets the resources none of `live` (the snapshots being served) carries, once the
   * entries have doubled since the last sweep: recompiling only some proxies leaves the others'
   * resources unused but still served, and sweeping every time would walk every snapshot.
   */
  sweepIfGrown(live: Iterable<Snapshot>): void {
    if (this.entries.size < 2 * this.keptBySweep + 1000) return;
    const kept = new Map<string, Resource>();
    for (const snapshot of live) {
      for (const set of snapshot.types.values()) {
        for (const resource of set.resources.values()) {
          const key = this.keyOf.get(resource);
          if (key !== undefined) kept.set(key, resource);
        }
      }
    }
    this.entries = kept;
    this.keptBySweep = kept.size;
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
