// A generic snapshot cache, after go-control-plane's pkg/cache: one snapshot per node key;
// streams watch their key and are told when its content changes. Whoever fills the cache may
// also leave, per node key, a line saying why that node has no (current) snapshot: the cache
// only keeps it for the status report, it does not interpret it.
import { sameContent, type Snapshot } from './resources';

export type { Resource, ResourceSet, Snapshot } from './resources';
export { buildSnapshot, makeResource, resourcesOf } from './resources';

type Watcher = (snapshot: Snapshot) => void;

export class SnapshotCache {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly problems = new Map<string, string>();

  get(nodeKey: string): Snapshot | undefined {
    return this.snapshots.get(nodeKey);
  }

  /** Stores a node's snapshot and tells its watchers, unless the content is unchanged. */
  set(nodeKey: string, snapshot: Snapshot): boolean {
    this.problems.delete(nodeKey);
    const previous = this.snapshots.get(nodeKey);
    if (previous && sameContent(previous, snapshot)) return false;
    this.snapshots.set(nodeKey, snapshot);
    for (const watcher of this.watchers.get(nodeKey) ?? []) watcher(snapshot);
    return true;
  }

  delete(nodeKey: string): void {
    this.snapshots.delete(nodeKey);
    this.problems.delete(nodeKey);
  }

  /** Notes why the node's proxies get no snapshot, or not the latest one; the next `set` or `delete` clears it. */
  setProblem(nodeKey: string, problem: string): void {
    this.problems.set(nodeKey, problem);
  }

  /** Why the node's proxies get no current snapshot, as `setProblem` said; undefined when nothing is wrong. */
  problem(nodeKey: string): string | undefined {
    return this.problems.get(nodeKey);
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

  /** Node keys with a snapshot. */
  keys(): string[] {
    return [...this.snapshots.keys()];
  }
}
