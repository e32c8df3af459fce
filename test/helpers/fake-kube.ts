// An in-memory KubeClient for the informer and lease tests: objects with resourceVersions from one counter, an
// event log that watches replay from their version, compaction (a watch from before it gets ERROR 410), optimistic
// concurrency (409 on a stale replace or a second create), and switches to make watches end, fail or stall, and
// calls fail, so that a test can play every failure an API server has.
import {
  KubeError,
  type KubeClient,
  type KubeObject,
  type ListOptions,
  type ListResult,
  type PatchType,
  type ResourceType,
  type WatchEventType,
  type WatchOptions,
} from '../../src/k8s/kube-api';

interface Watcher {
  readonly plural: string;
  readonly namespace?: string;
  readonly onEvent: (type: WatchEventType, object: KubeObject) => void;
  readonly end: (err?: Error) => void;
}

interface LoggedEvent {
  readonly rv: number;
  readonly plural: string;
  readonly type: WatchEventType;
  readonly object: KubeObject;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export class FakeKube implements KubeClient {
  rv = 1;
  /** Events at or below this version are gone: a watch from an older version gets 410. */
  compactedTo = 0;
  readonly objects = new Map<string, KubeObject>();
  readonly log: LoggedEvent[] = [];
  readonly watchVersions: string[] = [];
  readonly calls: string[] = [];
  private readonly watchers = new Set<Watcher>();
  /** Each call rejects with this while set. */
  failAll: KubeError | undefined;
  /** Each call waits for this while set. */
  hold: Promise<void> | undefined;
  /** Called with each call's description ("replace leases/x"); the call waits for what it answers. */
  delay: ((call: string) => Promise<void> | undefined) | undefined;

  private key(type: ResourceType, namespace: string | undefined, name: string): string {
    return `${type.plural}/${type.namespaced ? (namespace ?? '') : ''}/${name}`;
  }

  private async gate(call: string): Promise<void> {
    this.calls.push(call);
    await new Promise((r) => setImmediate(r));
    if (this.hold) await this.hold;
    const delayed = this.delay?.(call);
    if (delayed) await delayed;
    if (this.failAll) throw this.failAll;
  }

  private emit(plural: string, type: WatchEventType, object: KubeObject): void {
    this.log.push({ rv: Number(object.metadata.resourceVersion), plural, type, object: clone(object) });
    for (const w of this.watchers) {
      if (w.plural !== plural) continue;
      if (w.namespace && object.metadata.namespace !== w.namespace) continue;
      w.onEvent(type, clone(object));
    }
  }

  /** Writes an object as the API server would (new version, an ADDED or MODIFIED event). */
  put(type: ResourceType, object: KubeObject): KubeObject {
    const key = this.key(type, object.metadata.namespace, object.metadata.name);
    const existed = this.objects.has(key);
    const stored = { ...clone(object), metadata: { ...object.metadata, resourceVersion: String(++this.rv) } };
    this.objects.set(key, stored);
    this.emit(type.plural, existed ? 'MODIFIED' : 'ADDED', stored);
    return clone(stored);
  }

  remove(type: ResourceType, namespace: string | undefined, name: string): void {
    const key = this.key(type, namespace, name);
    const old = this.objects.get(key);
    if (!old) throw new KubeError(`${type.plural} "${name}" not found`, 404, 'NotFound');
    this.objects.delete(key);
    this.emit(type.plural, 'DELETED', { ...old, metadata: { ...old.metadata, resourceVersion: String(++this.rv) } });
  }

  /** Changes an object without any event (what a resync must catch). */
  sneak(type: ResourceType, object: KubeObject): void {
    const stored = { ...clone(object), metadata: { ...object.metadata, resourceVersion: String(++this.rv) } };
    this.objects.set(this.key(type, object.metadata.namespace, object.metadata.name), stored);
  }

  /** Sends an event to the open watches as is (a repeat, say), without storing or logging it. */
  raw(plural: string, type: WatchEventType, object: KubeObject): void {
    for (const w of this.watchers) if (w.plural === plural) w.onEvent(type, clone(object));
  }

  bookmark(plural: string): void {
    this.raw(plural, 'BOOKMARK', { metadata: { name: '', resourceVersion: String(this.rv) } });
  }

  /** The server ends every open watch (as at its timeout). */
  endWatches(): void {
    for (const w of [...this.watchers]) w.end();
  }

  failWatches(err: Error): void {
    for (const w of [...this.watchers]) w.end(err);
  }

  /** Forgets the events up to now: a watch from an older version gets 410. */
  compact(): void {
    this.compactedTo = this.rv;
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  async get<T extends KubeObject = KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined> {
    await this.gate(`get ${type.plural}/${name}`);
    const o = this.objects.get(this.key(type, namespace, name));
    return o ? (clone(o) as T) : undefined;
  }

  async list<T extends KubeObject = KubeObject>(type: ResourceType, options: ListOptions = {}): Promise<ListResult<T>> {
    await this.gate(`list ${type.plural}`);
    const items = [...this.objects.entries()]
      .filter(
        ([k, o]) =>
          k.startsWith(`${type.plural}/`) && (!options.namespace || o.metadata.namespace === options.namespace),
      )
      .map(([, o]) => clone(o) as T);
    return { items, resourceVersion: String(this.rv) };
  }

  async watch<T extends KubeObject = KubeObject>(
    type: ResourceType,
    options: WatchOptions,
    onEvent: (type: WatchEventType, object: T) => void,
    signal: AbortSignal,
  ): Promise<void> {
    await this.gate(`watch ${type.plural}@${options.resourceVersion}`);
    this.watchVersions.push(options.resourceVersion);
    const from = Number(options.resourceVersion);
    if (from < this.compactedTo) {
      throw new KubeError(`too old resource version: ${from} (${this.compactedTo})`, 410, 'Expired');
    }
    return new Promise<void>((resolve, reject) => {
      const watcher: Watcher = {
        plural: type.plural,
        namespace: options.namespace,
        onEvent: onEvent as (type: WatchEventType, object: KubeObject) => void,
        end: (err) => {
          this.watchers.delete(watcher);
          signal.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve();
        },
      };
      const onAbort = () => watcher.end();
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', onAbort);
      for (const e of this.log) {
        if (e.plural !== type.plural || e.rv <= from) continue;
        if (options.namespace && e.object.metadata.namespace !== options.namespace) continue;
        onEvent(e.type, clone(e.object) as T);
      }
      this.watchers.add(watcher);
    });
  }

  async create<T extends KubeObject = KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    body: KubeObject,
  ): Promise<T> {
    await this.gate(`create ${type.plural}/${body.metadata.name}`);
    if (this.objects.has(this.key(type, namespace, body.metadata.name))) {
      throw new KubeError(`${type.plural} "${body.metadata.name}" already exists`, 409, 'AlreadyExists');
    }
    return this.put(type, { ...body, metadata: { ...body.metadata, namespace } }) as T;
  }

  async replace<T extends KubeObject = KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    body: KubeObject,
  ): Promise<T> {
    await this.gate(`replace ${type.plural}/${name}`);
    const old = this.objects.get(this.key(type, namespace, name));
    if (!old) throw new KubeError(`${type.plural} "${name}" not found`, 404, 'NotFound');
    if (old.metadata.resourceVersion !== body.metadata.resourceVersion) {
      throw new KubeError(`Operation cannot be fulfilled on ${type.plural} "${name}": modified`, 409, 'Conflict');
    }
    return this.put(type, body) as T;
  }

  async patch<T extends KubeObject = KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    patchType: PatchType,
  ): Promise<T> {
    await this.gate(`patch ${type.plural}/${name}`);
    const old = this.objects.get(this.key(type, namespace, name));
    if (!old) throw new KubeError(`${type.plural} "${name}" not found`, 404, 'NotFound');
    if (patchType !== 'merge') throw new KubeError('the fake applies merge patches only', 415);
    return this.put(type, { ...old, ...(patch as object) }) as T;
  }

  async delete(type: ResourceType, namespace: string | undefined, name: string): Promise<void> {
    await this.gate(`delete ${type.plural}/${name}`);
    this.remove(type, namespace, name);
  }
}
