// Compiled resources → xDS resources. Proxies share most of their resources (every caller of
// a service gets the same cluster), so encoding goes through caches: a resource object met
// before (the compiler hands out the same object for what it memoised: compile/memo.ts) is
// recognised by identity; any other is keyed by content (its JSON), so each distinct resource is
// encoded once and its bytes are shared by every snapshot. A route configuration, which is
// mostly its callee services' virtual hosts, is keyed by which hosts it has and spliced from
// them, each encoded once (spliceRouteConfiguration, written straight into its Any).
import type { ProxyConfig } from '../compile/proxy-config';
import { encodeResource, encodeVirtualHost, isPlainRouteConfiguration, routeConfigurationFields } from '../xds/protos';
import {
  makeResource,
  makeSplicedResource,
  resourceSet,
  type Resource,
  type ResourceSet,
  type Snapshot,
} from '../xds/resources';
import { TypeUrl } from '../xds/type-urls';
import { Generations } from '../compile/generations';

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
  /**
   * By type URL: the resource's content key (its JSON, or a route configuration's name and hosts;
   * either names the resource) → its encoding. Generations forget what no compile asked for lately
   * (the snapshots being served keep their own resources), so the cache needs no sweep.
   */
  private readonly byContent = new Map<string, Generations<Resource>>();
  /** Resource objects already encoded, by type URL (the compiler does not change an object it handed out). */
  private readonly byObject = new Map<string, WeakMap<object, Resource>>();
  /** Virtual hosts already encoded, each with a number that stands for it in a route configuration's key. */
  private readonly hosts = new WeakMap<object, { readonly id: number; readonly bytes: Uint8Array }>();
  private nextHostId = 0;
  /** Resource lists of compiled configs already encoded, by type URL: their set (lists are never changed). */
  private readonly byList = new Map<string, WeakMap<readonly object[], ResourceSet>>();

  encode(typeUrl: string, name: string, resource: object): Resource {
    let known = this.byObject.get(typeUrl);
    if (!known) this.byObject.set(typeUrl, (known = new WeakMap()));
    let encoded = known.get(resource);
    if (!encoded) {
      encoded = this.encodeNew(typeUrl, name, resource);
      known.set(resource, encoded);
    }
    return encoded;
  }

  private encodeNew(typeUrl: string, name: string, resource: object): Resource {
    let key: string;
    let encode: () => Resource;
    if (typeUrl === TypeUrl.Route && isPlainRouteConfiguration(resource)) {
      // Keyed by its name and its hosts' numbers: the callers of the same services share it.
      const hosts = resource.virtual_hosts.map((host) => this.encodedHost(host));
      key = `${resource.name}\0${hosts.map((h) => h.id).join(',')}`;
      // Spliced straight into its Any (spliceRouteConfiguration's bytes, without a copy to wrap them).
      encode = () =>
        makeSplicedResource(
          typeUrl,
          name,
          routeConfigurationFields(
            resource.name,
            hosts.map((h) => h.bytes),
          ),
        );
    } else {
      // The compiler builds objects in a fixed key order, so equal content gives equal JSON. The
      // JSON itself is the key (the Map hashes it natively; a digest of it cost more than the rest).
      key = JSON.stringify(resource);
      encode = () => makeResource(typeUrl, name, encodeResource(typeUrl, resource));
    }
    // The key as it is (no type URL or name joined to it: copying a long JSON cost more than the look-up).
    let cache = this.byContent.get(typeUrl);
    if (!cache) this.byContent.set(typeUrl, (cache = new Generations(10_000)));
    let encoded = cache.get(key);
    if (!encoded || encoded.name !== name) {
      encoded = encode();
      cache.set(key, encoded);
    }
    return encoded;
  }

  private encodedHost(host: object): { readonly id: number; readonly bytes: Uint8Array } {
    let known = this.hosts.get(host);
    if (!known) this.hosts.set(host, (known = { id: this.nextHostId++, bytes: encodeVirtualHost(host) }));
    return known;
  }

  /**
   * Encodes a compiled proxy config into an xDS snapshot. A type whose resources are the very ones
   * of `previous` (the proxy's last snapshot) keeps its set, so its version is not computed again.
   */
  snapshot(config: ProxyConfig, detectedAt?: number, previous?: Snapshot): Snapshot {
    const types = new Map<string, ResourceSet>();
    const add = <T extends object>(typeUrl: TypeUrl, list: readonly T[], nameOf: (resource: T) => string | undefined) =>
      types.set(typeUrl, this.encodeList(typeUrl, list, nameOf, previous?.types.get(typeUrl)));
    add(TypeUrl.Cluster, config.clusters, (c) => c.name);
    add(TypeUrl.Endpoint, config.endpoints, (e) => e.cluster_name);
    add(TypeUrl.Listener, config.listeners, (l) => l.name);
    add(TypeUrl.Route, config.routes, (r) => r.name);
    return { types, detectedAt };
  }

  /** A list's set: `before` if it has the same resources (its version is not computed again). */
  private encodeList<T extends object>(
    typeUrl: TypeUrl,
    list: readonly T[],
    nameOf: (resource: T) => string | undefined,
    before: ResourceSet | undefined,
  ): ResourceSet {
    // A list met before (the compiler hands a proxy the same list while its pieces are unchanged) has its set.
    let known = this.byList.get(typeUrl);
    if (!known) this.byList.set(typeUrl, (known = new WeakMap()));
    let set = known.get(list);
    if (!set) {
      const resources = list.map((resource) => this.encode(typeUrl, nameOf(resource) ?? '', resource));
      set = before && sameResources(before, resources) ? before : resourceSet(resources);
      known.set(list, set);
    }
    return set;
  }
}

function sameResources(set: ResourceSet, list: readonly Resource[]): boolean {
  if (set.resources.size !== list.length) return false;
  for (const r of list) if (set.resources.get(r.name) !== r) return false;
  return true;
}
