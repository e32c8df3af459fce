// An informer: one resource type's objects kept current by a list and a watch, like client-go's reflector and
// store. It lists, watches from the list's resourceVersion, resumes a watch that ended from the last version it
// saw (BOOKMARKs included), lists again when that version is too old (410) and tells only the differences, backs
// off on other failures, and lists again every resyncMs to catch anything a watch might have missed. Listeners
// get the changes of one turn of the event loop together.
import { KubeError, type KubeClient, type KubeObject, type ResourceType, type WatchEventType } from './kube-api';

export interface InformerChange<T extends KubeObject> {
  readonly kind: 'added' | 'modified' | 'deleted';
  /** The object now (for `deleted`: its last state, as the API server sent it). */
  readonly object: T;
  /** The stored object it replaces (`modified`, `deleted`). */
  readonly previous?: T;
}

export interface InformerLog {
  info(message: string): void;
  warn(message: string): void;
}

export interface InformerOptions<T extends KubeObject = KubeObject> {
  /** Only this namespace's objects (a namespaced type); all namespaces by default. */
  readonly namespace?: string;
  readonly labelSelector?: string;
  /** A full list every this long, telling only real differences (10 min; 0: never). */
  readonly resyncMs?: number;
  readonly log: InformerLog;
  /** The server ends each watch after about this long; it is then resumed (300 s). */
  readonly watchTimeoutSeconds?: number;
  /**
   * What of each object is kept (its metadata.name, namespace and resourceVersion must stay): an informer of
   * every Pod in a cluster keeps only what its reader uses, not whole objects.
   */
  readonly keep?: (object: T) => T;
}

export const DEFAULT_RESYNC_MS = 10 * 60_000;
/** Refusals in a row after which `watchRefused` reports one (about 3.5 s with the backoff). */
export const REFUSALS_THAT_COUNT = 3;
export const BACKOFF_INITIAL_MS = 500;
export const BACKOFF_MAX_MS = 30_000;
/** A watch that lasted this long resets the backoff. */
export const BACKOFF_RESET_MS = 30_000;
/** A watch that ends sooner than this without an event is treated as a failure (it waits before the next). */
const EMPTY_WATCH_MS = 1000;
/** At most one reconnect line per this long (the others are counted in the next line). */
const LOG_THROTTLE_MS = 10_000;

const keyOf = (o: KubeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const typeName = (t: ResourceType): string => (t.group === '' ? t.plural : `${t.plural}.${t.group}`);

export class Informer<T extends KubeObject> {
  /** Full lists made (the first, each 410 and each resync). */
  relists = 0;
  /** Watches started again after a failure. */
  reconnects = 0;
  /** Watch events received (bookmarks included). */
  events = 0;

  private readonly store = new Map<string, T>();
  private readonly listeners: ((changes: readonly InformerChange<T>[]) => void)[] = [];
  private pending: InformerChange<T>[] = [];
  private flushScheduled = false;
  private version = '';
  private started = false;
  private stopped = false;
  private synced_ = false;
  private readonly syncedPromise: Promise<void>;
  private resolveSynced!: () => void;
  private rejectSynced!: (err: Error) => void;
  private watchAbort: AbortController | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private resyncDue = false;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private lastLogAt = 0;
  private unlogged = 0;
  private readonly resyncMs: number;
  private refused: string | undefined;
  /** Tries refused (401, 403) in a row: reset by an accepted watch, an event, or a list. */
  private refusals = 0;

  constructor(
    private readonly client: KubeClient,
    readonly type: ResourceType,
    private readonly options: InformerOptions<T>,
  ) {
    this.resyncMs = options.resyncMs ?? DEFAULT_RESYNC_MS;
    this.syncedPromise = new Promise<void>((resolve, reject) => {
      this.resolveSynced = resolve;
      this.rejectSynced = reject;
    });
    // Nobody may be waiting when stop() rejects it.
    this.syncedPromise.catch(() => undefined);
  }

  get hasSynced(): boolean {
    return this.synced_;
  }

  /**
   * Why the API server refuses this informer's watch (401 or 403: RBAC lacks `watch`), until a watch works again:
   * the store is then stale, however fresh its list.
   */
  get watchRefused(): string | undefined {
    // One refusal can be an API server whose RBAC caches are still warming up after a restart: only a refusal
    // that holds over several tries in a row counts.
    return this.refusals >= REFUSALS_THAT_COUNT ? this.refused : undefined;
  }

  /** The last resourceVersion seen (list, event or bookmark); '' before the first list. */
  get resourceVersion(): string {
    return this.version;
  }

  /** Resolves once the first list is in the store (and told to the listeners); rejects if stopped before. */
  synced(): Promise<void> {
    return this.syncedPromise;
  }

  items(): readonly T[] {
    return [...this.store.values()];
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(`${namespace ?? ''}/${name}`);
  }

  /** Calls `listener` with each batch of changes; answers a function that removes it. */
  onChange(listener: (changes: readonly InformerChange<T>[]) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    if (this.resyncMs > 0) {
      this.resyncTimer = setInterval(() => {
        this.resyncDue = true;
        this.watchAbort?.abort();
      }, this.resyncMs);
      this.resyncTimer.unref?.();
    }
    void this.run().catch((err: unknown) => {
      // run() catches everything itself; this is the last guard against a bug ending the informer silently.
      this.options.log.warn(`informer ${typeName(this.type)} stopped on an unexpected error: ${String(err)}`);
    });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.resyncTimer);
    clearTimeout(this.sleepTimer);
    this.wake?.();
    this.watchAbort?.abort();
    if (!this.synced_)
      this.rejectSynced(new Error(`the ${typeName(this.type)} informer was stopped before its first list`));
  }

  private async run(): Promise<void> {
    let needList = true;
    let backoff = BACKOFF_INITIAL_MS;
    let expiredInARow = 0;
    let began = 0;
    let eventsBefore = 0;
    while (!this.stopped) {
      try {
        if (needList || this.resyncDue) {
          needList = true;
          this.resyncDue = false;
          await this.relist();
          needList = false;
          if (this.stopped) return;
        }
        const abort = new AbortController();
        this.watchAbort = abort;
        began = Date.now();
        eventsBefore = this.events;
        await this.client.watch<T>(
          this.type,
          {
            namespace: this.options.namespace,
            labelSelector: this.options.labelSelector,
            resourceVersion: this.version,
            timeoutSeconds: this.options.watchTimeoutSeconds,
            // Accepted: a refusal before (RBAC still warming up after an API server restart, say) is over.
            onOpen: () => {
              this.refused = undefined;
              this.refusals = 0;
            },
          },
          (type, object) => this.onEvent(type, object),
          abort.signal,
        );
        this.watchAbort = undefined;
        this.refused = undefined;
        this.refusals = 0;
        const lasted = Date.now() - began;
        if (lasted >= BACKOFF_RESET_MS) backoff = BACKOFF_INITIAL_MS;
        // The server ended the watch (or a resync aborted it): resume from the last version seen. A server that
        // ends every watch at once with nothing in it would make this a busy loop: that waits like a failure.
        if (lasted < EMPTY_WATCH_MS && this.events === eventsBefore && !this.resyncDue && !this.stopped) {
          throw new KubeError('the API server ended the watch at once, with no event', 0);
        }
      } catch (err) {
        this.watchAbort = undefined;
        if (this.stopped) return;
        if (err instanceof KubeError && (err.status === 401 || err.status === 403)) {
          this.refused = `the ${needList ? 'list' : 'watch'} of ${typeName(this.type)} is refused: ${err.message}`;
          this.refusals++;
        }
        // A watch that lasted or brought events ends any run of 410s.
        if (Date.now() - began >= EMPTY_WATCH_MS || this.events > eventsBefore) expiredInARow = 0;
        if (err instanceof KubeError && err.status === 410 && !needList && expiredInARow === 0) {
          // Too old: the events in between are gone. List again at once and tell the difference (a second 410
          // right after that list waits like any failure, so that a server answering only 410 is no busy loop).
          expiredInARow++;
          this.logReconnect(err, 'a new list');
          needList = true;
          continue;
        }
        if (err instanceof KubeError && err.status === 410) needList = true;
        this.reconnects++;
        this.logReconnect(err, needList ? 'a new list' : `version ${this.version}`);
        const delay = Math.round(backoff * (0.8 + Math.random() * 0.4));
        backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
        await this.sleep(delay);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
    });
  }

  private logReconnect(err: unknown, from: string): void {
    const now = Date.now();
    if (now - this.lastLogAt < LOG_THROTTLE_MS) {
      this.unlogged++;
      return;
    }
    const more = this.unlogged > 0 ? ` (${this.unlogged} more since the last line)` : '';
    this.lastLogAt = now;
    this.unlogged = 0;
    const message = err instanceof Error ? err.message : String(err);
    this.options.log.warn(`watch of ${typeName(this.type)} failed: ${message}; resuming from ${from}${more}`);
  }

  /** Lists, replaces the store by the list and queues the differences. */
  private async relist(): Promise<void> {
    const listed = await this.client.list<T>(this.type, {
      namespace: this.options.namespace,
      labelSelector: this.options.labelSelector,
    });
    if (this.stopped) return;
    this.relists++;
    const seen = new Set<string>();
    for (const object of listed.items) {
      const key = keyOf(object);
      seen.add(key);
      this.put(key, object);
    }
    for (const [key, previous] of this.store) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.queue({ kind: 'deleted', object: previous, previous });
      }
    }
    this.version = listed.resourceVersion;
    if (!this.synced_) {
      this.synced_ = true;
      this.flush();
      this.options.log.info(`${typeName(this.type)}: ${this.store.size} listed at version ${this.version}`);
      this.resolveSynced();
    }
  }

  private put(key: string, given: T): void {
    const object = this.options.keep ? this.options.keep(given) : given;
    const previous = this.store.get(key);
    if (previous && previous.metadata.resourceVersion === object.metadata.resourceVersion) {
      return;
    }
    this.store.set(key, object);
    this.queue(previous ? { kind: 'modified', object, previous } : { kind: 'added', object });
  }

  private onEvent(type: WatchEventType, object: T): void {
    if (this.stopped) return;
    this.events++;
    this.refused = undefined;
    this.refusals = 0;
    const rv = object.metadata.resourceVersion;
    if (type === 'BOOKMARK') {
      if (rv) this.version = rv;
      return;
    }
    const key = keyOf(object);
    if (type === 'DELETED') {
      const previous = this.store.get(key);
      if (previous) {
        this.store.delete(key);
        this.queue({ kind: 'deleted', object, previous });
      }
    } else {
      this.put(key, object);
    }
    if (rv) this.version = rv;
  }

  private queue(change: InformerChange<T>): void {
    this.pending.push(change);
    if (this.flushScheduled || !this.synced_) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0 || this.stopped) {
      this.pending = [];
      return;
    }
    const batch = this.pending;
    this.pending = [];
    for (const listener of [...this.listeners]) {
      try {
        listener(batch);
      } catch (err) {
        this.options.log.warn(
          `a ${typeName(this.type)} informer listener failed: ${(err as Error)?.message ?? String(err)}`,
        );
      }
    }
  }
}
