// DiscoveryResponse and DeltaDiscoveryResponse written straight from the pre-encoded Anys, so
// a resource is encoded once per version however many streams receive it (a protobufjs
// encode of the whole response would re-encode every resource for every stream).
import { Writer } from 'protobufjs';
import type { Resource, ResourceSet } from './resources';

const LEN = 2;
const tag = (field: number) => (field << 3) | LEN;

/**
 * A DiscoveryResponse without its nonce (fields 1, 2 and 4), per set of resources and type URL:
 * every stream sent the same set shares it, and only the nonce (field 5, written last) is its own.
 */
const sotwBodies = new WeakMap<ResourceSet, { readonly typeUrl: string; readonly body: Buffer }>();

/**
 * The DiscoveryResponse carrying `set` (its version and its resources, in name order): the bytes
 * encodeDiscoveryResponse writes, with the part before the nonce made once per set.
 */
export function encodeSetResponse(set: ResourceSet, typeUrl: string, nonce: string): Buffer {
  let known = sotwBodies.get(set);
  if (known?.typeUrl !== typeUrl) {
    const w = Writer.create().uint32(tag(1)).string(set.version);
    for (const r of set.resources.values()) w.uint32(tag(2)).bytes(r.any);
    known = { typeUrl, body: Buffer.from(w.uint32(tag(4)).string(typeUrl).finish()) };
    sotwBodies.set(set, known);
  }
  return Buffer.concat([known.body, Buffer.from(Writer.create().uint32(tag(5)).string(nonce).finish())]);
}

/** envoy.service.discovery.v3.DiscoveryResponse: version_info=1, resources=2, type_url=4, nonce=5. */
export function encodeDiscoveryResponse(
  versionInfo: string,
  typeUrl: string,
  nonce: string,
  resources: Iterable<Resource>,
): Buffer {
  const w = Writer.create().uint32(tag(1)).string(versionInfo);
  for (const r of resources) w.uint32(tag(2)).bytes(r.any);
  return Buffer.from(w.uint32(tag(4)).string(typeUrl).uint32(tag(5)).string(nonce).finish());
}

/**
 * envoy.service.discovery.v3.DeltaDiscoveryResponse: system_version_info=1, resources=2
 * (Resource: version=1, resource=2, name=3), type_url=4, nonce=5, removed_resources=6.
 */
export function encodeDeltaDiscoveryResponse(
  systemVersion: string,
  typeUrl: string,
  nonce: string,
  resources: Iterable<Resource>,
  removed: Iterable<string>,
): Buffer {
  const w = Writer.create().uint32(tag(1)).string(systemVersion);
  for (const r of resources) {
    w.uint32(tag(2))
      .fork()
      .uint32(tag(1))
      .string(r.version)
      .uint32(tag(2))
      .bytes(r.any)
      .uint32(tag(3))
      .string(r.name)
      .ldelim();
  }
  w.uint32(tag(4)).string(typeUrl).uint32(tag(5)).string(nonce);
  for (const name of removed) w.uint32(tag(6)).string(name);
  return Buffer.from(w.finish());
}
