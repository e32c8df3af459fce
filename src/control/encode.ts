// Compiled resources → xDS resources. Proxies share most of their resources (every caller of
// a service gets the same cluster), so encoding goes through one cache keyed by content:
// each distinct resource is encoded once and its bytes are shared by every snapshot.
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
  /** type URL and name → the resource's JSON → its encoding. */
  private entries = new Map<string, Map<string, Resource>>();
  private size = 0;
  private readonly keyOf = new WeakMap<Resource, { readonly group: string; readonly json: string }>();
  /** How many entries the last sweep kept: the next sweeps once there are twice as many. */
  private keptBySweep = 0;

  encode(typeUrl: string, name: string, resource: object): Resource {
    // The compiler builds objects in a fixed key order, so equal content gives equal JSON. The
    // JSON itself is the key (the Map hashes it natively; a digest of it cost more than the rest).
    const group = `${typeUrl}\0${name}`;
    const json = JSON.stringify(resource);
    let byJson = this.entries.get(group);
    let encoded = byJson?.get(json);
    if (!encoded) {
      encoded = makeResource(typeUrl, name, encodeResource(typeUrl, resource));
      if (!byJson) this.entries.set(group, (byJson = new Map()));
      byJson.set(json, encoded);
      this.keyOf.set(encoded, { group, json });
      this.size++;
    }
    return encoded;
  }

  /**
   * Forgets the resources none of `live` (the snapshots being served) carries, once the
   * entries have doubled since the last sweep: recompiling only some proxies leaves the others'
   * resources unused but still served, and sweeping every time would walk every snapshot.
   */
  sweepIfGrown(live: Iterable<Snapshot>): void {
    if (this.size < 2 * this.keptBySweep + 1000) return;
    const kept = new Map<string, Map<string, Resource>>();
    let size = 0;
    for (const snapshot of live) {
      for (const set of snapshot.types.values()) {
        for (const resource of set.resources.values()) {
          const key = this.keyOf.get(resource);
          if (!key) continue;
          let byJson = kept.get(key.group);
          if (!byJson) kept.set(key.group, (byJson = new Map()));
          if (!byJson.has(key.json)) size++;
          byJson.set(key.json, resource);
        }
      }
    }
    this.entries = kept;
    this.size = this.keptBySweep = size;
  }

  /** Encodes a compiled proxy config into an xDS snapshot. */
  snapshot(config: ProxyConfig, detectedAt?: number): Snapshot {
    const byType = new Map<string, Resource[]>();
    for (const [typeUrl, list] of resourcesByType(config)) {
      byType.set(
        typeUrl,
        list.map(({ name, resource }) => this.encode(typeUrl, name, resource)),
      );
    }
    return buildSnapshot(byType, detectedAt);
  }
}
