// DiscoveryResponse and DeltaDiscoveryResponse written straight from the pre-encoded Anys, so
// a resource is encoded once per version however many streams receive it (a protobufjs
// encode of the whole response would re-encode every resource for every stream).
import { Writer } from 'protobufjs';
import type { Resource, ResourceSet } from './resources';

const LEN = 2;
const tag = (field: number) => (field << 3) | LEN;

/** A response written as it is to every stream it goes to, with the nonce it carries. */
interface SharedResponse {
  readonly typeUrl: string;
  readonly nonce: string;
  readonly bytes: Buffer;
}

/** Whole responses per set and type URL, nonce included, and the number the next one's nonce takes. */
const sharedResponses = new WeakMap<ResourceSet, SharedResponse>();
let sharedNonces = 0;

/**
 * The DiscoveryResponse carrying `set`, with a nonce of the set's own, made once: a change sent
 * to a thousand streams is encoded once and written a thousand times. A nonce names the content
 * it came with, so an ACK of it means that content whichever stream sends it.
 */
export function sharedSetResponse(set: ResourceSet, typeUrl: string): SharedResponse {
  let known = sharedResponses.get(set);
  if (known?.typeUrl !== typeUrl) {
    const nonce = `s${++sharedNonces}`;
    known = { typeUrl, nonce, bytes: encodeDiscoveryResponse(set.version, typeUrl, nonce, set.resources.values()) };
    sharedResponses.set(set, known);
  }
  return known;
}

/** Delta responses by the set the client holds and the set it is sent to (see sharedDeltaResponse). */
const sharedDeltas = new WeakMap<ResourceSet, WeakMap<ResourceSet, SharedResponse>>();

/**
 * The DeltaDiscoveryResponse taking a client from holding exactly `from` to `to` (what changed and
 * what was removed, which those two sets decide), with a nonce of its own, made once for every
 * stream making that step.
 */
export function sharedDeltaResponse(
  from: ResourceSet,
  to: ResourceSet,
  typeUrl: string,
  changed: readonly Resource[],
  removed: readonly string[],
): SharedResponse {
  let byTarget = sharedDeltas.get(from);
  if (!byTarget) sharedDeltas.set(from, (byTarget = new WeakMap()));
  let known = byTarget.get(to);
  if (known?.typeUrl !== typeUrl) {
    const nonce = `d${++sharedNonces}`;
    known = { typeUrl, nonce, bytes: encodeDeltaDiscoveryResponse(to.version, typeUrl, nonce, changed, removed) };
    byTarget.set(to, known);
  }
  return known;
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
