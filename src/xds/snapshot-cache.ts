// A generic snapshot cache, after go-control-plane's pkg/cache: one snapshot of encoded
// resources per node key; streams subscribe to their key and are told when it changes.
import { createHash } from 'node:crypto';

/** The encoded resources of one type in a snapshot, with a content-hash version. */
export interface ResourceSet {
  readonly version: string;
  /** name → encoded resource (protobuf bytes of the resource message itself). */
  readonly resources: ReadonlyMap<string, Buffer>;
}

/** type URL → resources of that type. */
export type Snapshot = ReadonlyMap<string, ResourceSet>;

export interface NamedBytes {
  readonly name: string;
  readonly bytes: Buffer;
}

/**
 * Builds a snapshot from encoded resources. Versions are hashes of the content, so the same
 * resources always get the same version (across restarts too) and an unchanged type keeps
 * its version when something else in the snapshot changes.
 */
export function buildSnapshot(byType: ReadonlyMap<string, readonly NamedBytes[]>): Snapshot {
  const snapshot = new Map<string, ResourceSet>();
  for (const [typeUrl, list] of byType) {
    const sorted = [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const hash = createHash('sha256');
    for (const { name, bytes } of sorted) {
      hash.update(`${name.length}:${name}${bytes.length}:`).update(bytes);
    }
    snapshot.set(typeUrl, { version: hash.digest('hex').slice(0, 16), resources: new Map(sorted.map((r) => [r.name, r.bytes])) });
  }
  return snapshot;
}

const EMPTY: ResourceSet = { version: buildSnapshot(new Map([['', []]])).get('')!.version, resources: new Map() };

/** The resources of a type, or an empty set (with a stable version) if the snapshot has none. */
export function resourcesOf(snapshot: Snapshot, typeUrl: string): ResourceSet {
  return snapshot.get(typeUrl) ?? EMPTY;
}

type Watcher = (snapshot: Snapshot) => void;

export class SnapshotCache {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly watchers = new Map<string, Set<Watcher>>();

  get(nodeKey: string): Snapshot | undefined {
    return this.snapshots.get(nodeKey);
  }

  /** Stores a node's snapshot and tells its watchers, unless nothing changed. */
  set(nodeKey: string, snapshot: Snapshot): boolean {
    const previous = this.snapshots.get(nodeKey);
    if (previous && sameVersions(previous, snapshot)) return false;
    this.snapshots.set(nodeKey, snapshot);
    for (const watcher of this.watchers.get(nodeKey) ?? []) watcher(snapshot);
    return true;
  }

  delete(nodeKey: string): void {
    this.snapshots.delete(nodeKey);
  }

  /** Calls `watcher` on every later change of the node's snapshot; returns the unsubscribe function. */
  watch(nodeKey: string, watcher: Watcher): () => void {
    const set = this.watchers.get(nodeKey) ?? new Set();
    set.add(watcher);
    this.watchers.set(nodeKey, set);
    return () => {
      set.delete(watcher);
      if (set.size === 0) this.watchers.delete(nodeKey);
    };
  }

  /** Whether any open stream still watches the node key. */
  isWatched(nodeKey: string): boolean {
    return this.watchers.has(nodeKey);
  }
}

function sameVersions(a: Snapshot, b: Snapshot): boolean {
  if (a.size !== b.size) return false;
  for (const [typeUrl, set] of a) {
    if (b.get(typeUrl)?.version !== set.version) return false;
  }
  return true;
}
