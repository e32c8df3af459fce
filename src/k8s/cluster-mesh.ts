// The mesh as the cluster holds it: an informer on each of the seven App Mesh kinds and on
// Namespaces (for the meshes' namespaceSelectors), kept as the manifest texts of virtual files
// (virtual-files.ts) that the store loads beside the user's files. Announces which files changed
// when an object's manifest changed; a change to status or metadata alone announces nothing.
import { Informer, type InformerChange } from './informer';
import { APP_MESH_TYPES, NAMESPACES, type KubeClient, type KubeObject, type ResourceType } from './kube-api';
import { k8sVirtualFile, manifestText } from './virtual-files';

export interface ClusterLog {
  info(message: string): void;
  warn(message: string): void;
}

/** What an informer offers the cluster mesh (informer.ts; tests may give their own). */
export interface ObjectFeed {
  start(): void;
  stop(): void;
  synced(): Promise<void>;
  readonly hasSynced: boolean;
  /** The newest resourceVersion seen (list, event or bookmark). */
  readonly resourceVersion: string;
  /** For metrics: full lists after the first, watches started again after a failure, events received. */
  readonly relists: number;
  readonly reconnects: number;
  readonly events: number;
  /** Why its watch is refused (RBAC), while it is; informer.ts. */
  readonly watchRefused?: string | undefined;
  items(): readonly KubeObject[];
  get(namespace: string | undefined, name: string): KubeObject | undefined;
  onChange(listener: (changes: readonly InformerChange<KubeObject>[]) => void): void;
}

export interface ClusterMeshOptions {
  readonly client: KubeClient;
  readonly log: ClusterLog;
  /** Full relist period of every informer (ms). */
  readonly resyncMs?: number;
  /** Makes the feed of one type: an Informer on the client unless a test gives another. */
  readonly feed?: (type: ResourceType) => ObjectFeed;
}

/** The kinds read as mesh input, in the order their informers start. */
export const WATCHED_TYPES: readonly ResourceType[] = [NAMESPACES, ...Object.values(APP_MESH_TYPES)];

export interface ClusterObject {
  readonly type: ResourceType;
  readonly object: KubeObject;
  readonly file: string;
}

export class ClusterMesh {
  private readonly feeds = new Map<ResourceType, ObjectFeed>();
  /** Each object's virtual file: its text, and the object it was made from (the newest seen). */
  private readonly files = new Map<string, { text: string; entry: ClusterObject }>();
  private readonly listeners: ((changed: readonly string[]) => void)[] = [];
  private pending = new Set<string>();
  private flushScheduled = false;

  constructor(private readonly options: ClusterMeshOptions) {
    for (const type of WATCHED_TYPES) {
      const feed =
        options.feed?.(type) ??
        new Informer<KubeObject>(options.client, type, {
          log: options.log,
          ...(options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {}),
        });
      feed.onChange((changes) => this.apply(type, changes));
      this.feeds.set(type, feed);
    }
  }

  start(): void {
    for (const feed of this.feeds.values()) feed.start();
  }

  stop(): void {
    for (const feed of this.feeds.values()) feed.stop();
  }

  /** Resolves once every informer has listed its objects (the first load must see them all). */
  async synced(): Promise<void> {
    await Promise.all([...this.feeds.values()].map((f) => f.synced()));
  }

  /** Why a feed's watch is refused, while one is: the objects may be stale. */
  watchRefused(): string | undefined {
    for (const feed of this.feeds.values()) if (feed.watchRefused) return feed.watchRefused;
    return undefined;
  }

  get hasSynced(): boolean {
    return [...this.feeds.values()].every((f) => f.hasSynced);
  }

  /** The virtual files and their texts, for the store's load. */
  texts(): ReadonlyMap<string, string> {
    return new Map([...this.files].map(([file, { text }]) => [file, text]));
  }

  /** The object a virtual file was made from, as last seen. */
  objectOf(file: string): ClusterObject | undefined {
    return this.files.get(file)?.entry;
  }

  /** Every App Mesh object (not Namespaces), as last seen. */
  appMeshObjects(): ClusterObject[] {
    return [...this.files.values()].map((f) => f.entry).filter((e) => e.type !== NAMESPACES);
  }

  /** The feed of one watched type (the injection webhook reads VirtualNodes, Namespaces from here). */
  feed(type: ResourceType): ObjectFeed {
    return this.feeds.get(type)!;
  }

  /** Called with the virtual files whose manifest changed (a burst: once, on the next turn). */
  onChange(listener: (changed: readonly string[]) => void): void {
    this.listeners.push(listener);
  }

  private apply(type: ResourceType, changes: readonly InformerChange<KubeObject>[]): void {
    for (const change of changes) {
      const { name, namespace, deletionTimestamp } = change.object.metadata;
      const file = k8sVirtualFile(type, namespace, name);
      // An object being deleted (finalizers pending) has left the mesh already.
      if (change.kind === 'deleted' || deletionTimestamp !== undefined) {
        if (this.files.delete(file)) this.pending.add(file);
        continue;
      }
      const entry: ClusterObject = { type, object: change.object, file };
      const text = manifestText(type, change.object);
      const before = this.files.get(file);
      this.files.set(file, { text, entry });
      if (before?.text !== text) this.pending.add(file);
    }
    if (this.pending.size > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const changed = [...this.pending];
    this.pending = new Set();
    if (changed.length === 0) return;
    for (const listener of this.listeners) {
      try {
        listener(changed);
      } catch (err) {
        this.options.log.warn(`kubernetes: a listener of mesh changes failed: ${(err as Error).message}`);
      }
    }
  }
}
