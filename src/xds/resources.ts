// Resources as the xDS server holds them: encoded once (the message and its Any wrapper),
// versioned by a hash of their content, and shared by every stream and every snapshot that
// carries the same bytes.
import * as crypto from 'node:crypto';
import { sortInPlace } from '../util/sort-in-place';

export interface Resource {
  readonly name: string;
  /** A hash of the encoded resource: the same content has the same version, across restarts too. */
  readonly version: string;
  /** google.protobuf.Any { type_url, value: <the resource message> }, ready to splice into a response. */
  readonly any: Buffer;
}

/** The resources of one type in a snapshot, by name, with a version for the whole set. */
export interface ResourceSet {
  readonly version: string;
  readonly resources: ReadonlyMap<string, Resource>;
}

export interface Snapshot {
  /** type URL → resources of that type. */
  readonly types: ReadonlyMap<string, ResourceSet>;
  /** When the change that produced this snapshot was detected (ms since the epoch), for push latency. */
  readonly detectedAt?: number;
}

/**
 * The first 16 hex digits of the SHA-256 of `data` (a string as UTF-8). One-shot crypto.hash where
 * Node has it (the same digest, without a Hash object: most resources are small, so that was most of the cost).
 */
const sha256Hex: (data: string | Uint8Array) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (data) => (crypto as unknown as { hash: (alg: string, data: string | Uint8Array) => string }).hash('sha256', data)
    : (data) => crypto.createHash('sha256').update(data).digest('hex');

function hash16(data: string | Uint8Array): string {
  return sha256Hex(data).slice(0, 16);
}

/** How many bytes `value` takes as a protobuf varint. */
function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value >>>= 7;
    size++;
  }
  return size;
}

/** Writes `value` as a protobuf varint at `at`; returns the offset after it. */
function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[at++] = value;
  return at;
}

/**
 * A message made of length-delimited fields only (strings, bytes, messages), each given by its
 * field number and its bytes, in the order given: what protobufjs writes for them, in one buffer
 * (its Writer copies a large message three times over).
 */
export function lengthDelimitedFields(fields: readonly (readonly [number, Uint8Array])[]): Buffer {
  let size = 0;
  for (const [field, bytes] of fields) size += varintSize(field << 3) + varintSize(bytes.length) + bytes.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const [field, bytes] of fields) {
    at = writeVarint(out, at, (field << 3) | 2);
    at = writeVarint(out, at, bytes.length);
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

/** Each type URL as UTF-8, encoded once (every Any starts with one). */
const typeUrlBytes = new Map<string, Buffer>();

function typeUrlBuffer(typeUrl: string): Buffer {
  let bytes = typeUrlBytes.get(typeUrl);
  if (!bytes) typeUrlBytes.set(typeUrl, (bytes = Buffer.from(typeUrl)));
  return bytes;
}

/** Wraps an encoded resource message into its Any (type_url = 1, value = 2) and versions it. */
export function makeResource(typeUrl: string, name: string, bytes: Uint8Array): Resource {
  return makeSplicedResource(typeUrl, name, [[0, bytes]]);
}

/**
 * makeResource(typeUrl, name, lengthDelimitedFields(fields)), written straight into the Any: the
 * message is laid out once, not built and then copied into its wrapper. Field number 0 stands
 * for bytes that are already a whole part of the message (makeResource's message as it is).
 */
export function makeSplicedResource(
  typeUrl: string,
  name: string,
  fields: readonly (readonly [number, Uint8Array])[],
): Resource {
  let size = 0;
  for (const [field, bytes] of fields)
    size += field === 0 ? bytes.length : varintSize(field << 3) + varintSize(bytes.length) + bytes.length;
  const url = typeUrlBuffer(typeUrl);
  const any = Buffer.allocUnsafe(1 + varintSize(url.length) + url.length + 1 + varintSize(size) + size);
  let at = writeVarint(any, 0, (1 << 3) | 2);
  at = writeVarint(any, at, url.length);
  any.set(url, at);
  at = writeVarint(any, at + url.length, (2 << 3) | 2);
  at = writeVarint(any, at, size);
  const start = at;
  for (const [field, bytes] of fields) {
    if (field !== 0) {
      at = writeVarint(any, at, (field << 3) | 2);
      at = writeVarint(any, at, bytes.length);
    }
    any.set(bytes, at);
    at += bytes.length;
  }
  return { name, version: hash16(any.subarray(start, at)), any };
}

/** The version of a set of resources: a hash of their names and versions, in name order. */
export function versionOf(resources: Iterable<Resource>): string {
  return versionOfSorted([...resources].sort(byResourceName));
}

function byResourceName(a: Resource, b: Resource): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function versionOfSorted(sorted: readonly Resource[]): string {
  let text = '';
  for (const r of sorted) text += `${r.name.length}:${r.name}:${r.version};`;
  return hash16(text);
}

export function resourceSet(list: Iterable<Resource>): ResourceSet {
  const sorted = sortInPlace([...list], byResourceName);
  const resources = new Map<string, Resource>();
  for (const r of sorted) resources.set(r.name, r);
  return { version: versionOfSorted(sorted), resources };
}

/** Subsets of a set already selected, by the names that select them (see select). */
const selections = new WeakMap<ResourceSet, Map<string, ResourceSet>>();
/** Past this many distinct subscriptions to one set, its subsets are forgotten (and rebuilt on demand). */
const MAX_SELECTIONS_PER_SET = 64;
/** Past this many names, a subscription is not worth keying (sorting and joining them costs more than selecting). */
const MAX_SHARED_SELECTION_NAMES = 256;

/**
 * The resources of `set` a subscription selects (all of them for a wildcard), in name order,
 * with their version. Every stream of a proxy subscribes alike, so a subset is built and
 * versioned once per set and shared by all of them; the usual subscription, to every name the
 * set has, is the set itself.
 */
export function select(set: ResourceSet, wildcard: boolean, names: ReadonlySet<string>): ResourceSet {
  if (wildcard) return set;
  if (names.size >= set.resources.size && [...set.resources.keys()].every((name) => names.has(name))) return set;
  if (names.size > MAX_SHARED_SELECTION_NAMES)
    return resourceSet([...names].flatMap((name) => set.resources.get(name) ?? []));
  const key = [...names].sort().join('\n');
  let bySubscription = selections.get(set);
  if (!bySubscription) {
    bySubscription = new Map();
    selections.set(set, bySubscription);
  }
  let subset = bySubscription.get(key);
  if (!subset) {
    if (bySubscription.size >= MAX_SELECTIONS_PER_SET) bySubscription.clear();
    subset = resourceSet([...names].flatMap((name) => set.resources.get(name) ?? []));
    bySubscription.set(key, subset);
  }
  return subset;
}

export function buildSnapshot(byType: ReadonlyMap<string, Iterable<Resource>>, detectedAt?: number): Snapshot {
  return { types: new Map([...byType].map(([typeUrl, list]) => [typeUrl, resourceSet(list)])), detectedAt };
}

const EMPTY = resourceSet([]);

/** The resources of a type, or an empty set (with a stable version) if the snapshot has none. */
export function resourcesOf(snapshot: Snapshot, typeUrl: string): ResourceSet {
  return snapshot.types.get(typeUrl) ?? EMPTY;
}

/** Whether two snapshots carry the same content for every type. */
export function sameContent(a: Snapshot, b: Snapshot): boolean {
  if (a.types.size !== b.types.size) return false;
  for (const [typeUrl, set] of a.types) if (b.types.get(typeUrl)?.version !== set.version) return false;
  return true;
}
