// Writes the desired statuses (status.ts) to the API server: a JSON merge patch of `/status` for
// each object whose status as the informer last saw it differs, four at a time, retried with
// backoff on conflicts, throttling, server and transport errors, dropped for an object deleted
// meanwhile (404), and only while this meshd is the leader. Nothing it does throws to its caller.
import type { Logger } from '../util/log';
import type { DesiredStatus } from './status';
import { KubeError, type KubeClient } from './kube-api';

export interface StatusWriterOptions {
  readonly client: KubeClient;
  /** Asked before every write (and every retry): only the leader writes status. */
  readonly isLeader: () => boolean;
  readonly log: Logger;
  /** Writes in flight at once (4). */
  readonly concurrency?: number;
  /** Tries of one write before it is given up (5). */
  readonly attempts?: number;
  /** The first retry's delay in ms (200), doubled for each next one, at most 5 s. */
  readonly backoffMs?: number;
  /** A failure class is logged at most once in this many ms (60 s); the next line counts the ones left out. */
  readonly logEveryMs?: number;
  /** For tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly clock?: () => number;
}

export interface StatusWriterCounters {
  /** Patches the API server accepted. */
  readonly writes: number;
  /** Writes given up (after their retries, or refused for good). */
  readonly failures: number;
  /** Writes dropped because the object was deleted meanwhile. */
  readonly dropped: number;
}

const MAX_BACKOFF_MS = 5_000;

/** Whether a write that failed this way may succeed when tried again. */
function retriable(err: unknown): boolean {
  if (!(err instanceof KubeError)) return true;
  return err.status === 0 || err.status === 409 || err.status === 429 || err.status >= 500;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** Conditions as compared: a lastTransitionTime does not count when the status it marks is the same. */
function sameConditions(a: unknown, b: unknown): boolean {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  return a.every((x, i) => {
    const y: unknown = b[i];
    if (!isRecord(x) || !isRecord(y)) return sameJson(x, y);
    if (x.type !== y.type || x.status !== y.status) return false;
    const { lastTransitionTime: _a, ...restX } = x;
    const { lastTransitionTime: _b, ...restY } = y;
    return sameJson(restX, restY);
  });
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => sameJson(x, b[i]));
  }
  if (!isRecord(a) || !isRecord(b)) return false;
  const ka = Object.keys(a).filter((k) => a[k] !== undefined);
  const kb = Object.keys(b).filter((k) => b[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => hasOwn(b, k) && sameJson(a[k], b[k]));
}

/**
 * The merge patch of `status` that turns `current` into `desired`, for the fields `desired` has
 * (fields only `current` has are left alone, except within a map meshd writes whole: routeARNs);
 * undefined when nothing differs.
 */
export function statusPatch(
  current: unknown,
  desired: Readonly<Record<string, unknown>>,
): Record<string, unknown> | undefined {
  const now = isRecord(current) ? current : {};
  const entries: [string, unknown][] = [];
  for (const [key, value] of Object.entries(desired)) {
    const was = hasOwn(now, key) ? now[key] : undefined;
    if (key === 'conditions' ? sameConditions(was, value) : sameJson(was, value)) continue;
    // A map: the keys it lost are deleted (null), the others set.
    const map = (m: Record<string, unknown>, w: Record<string, unknown>) =>
      Object.fromEntries([...Object.entries(m), ...Object.keys(w).flatMap((k) => (hasOwn(m, k) ? [] : [[k, null]]))]);
    entries.push([key, isRecord(value) && isRecord(was) ? map(value, was) : value]);
  }
  // fromEntries: keys from the API server (even __proto__) are data, never a prototype.
  const patch = Object.fromEntries(entries);
  return Object.keys(patch).length > 0 ? patch : undefined;
}

interface Pending {
  readonly key: string;
  readonly desired: DesiredStatus;
}

export class StatusWriter {
  private readonly pending = new Map<string, DesiredStatus>();
  private readonly running = new Set<string>();
  /**
   * What was last written for an object, at the resourceVersion the informer had then: the
   * informer may not have seen the write yet.
   */
  private readonly written = new Map<
    string,
    { readonly resourceVersion: string | undefined; readonly status: unknown }
  >();
  private readonly loggedAt = new Map<string, { at: number; missed: number }>();
  private readonly waiters: (() => void)[] = [];
  private counts = { writes: 0, failures: 0, dropped: 0 };
  private closed = false;

  constructor(private readonly options: StatusWriterOptions) {}

  get counters(): StatusWriterCounters {
    return { ...this.counts };
  }

  /**
   * Takes the statuses a load wants (by virtual file), one for every object there is; those that differ from
   * what the informer saw are written. A later call's status for the same object replaces one not yet written.
   */
  update(desired: ReadonlyMap<string, DesiredStatus>): void {
    try {
      if (this.closed || !this.options.isLeader()) return;
      for (const [key, d] of desired) {
        const written = this.written.get(key);
        // The informer has seen the object since our last write: that entry is not needed any more.
        if (written && written.resourceVersion !== d.resourceVersion) this.written.delete(key);
        // The informer has not caught up with our own last write: compare with what was written.
        const seen = written && written.resourceVersion === d.resourceVersion ? written.status : d.current;
        if (statusPatch(seen, d.status) === undefined) {
          this.pending.delete(key);
          continue;
        }
        this.pending.set(key, d);
      }
      // Each call names every object there is: one not named any more is gone, and so is what was written for it.
      for (const key of this.written.keys()) if (!desired.has(key)) this.written.delete(key);
      this.pump();
    } catch (err) {
      this.fail('internal', `status writer: ${String(err)}`);
    }
  }

  /** Resolves when no write is pending or in flight (tests, shutdown). */
  idle(): Promise<void> {
    if (this.running.size === 0 && this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Stops writing: pending writes are dropped, retries end. */
  close(): void {
    this.closed = true;
    this.pending.clear();
    this.settle();
  }

  private pump(): void {
    const limit = this.options.concurrency ?? 4;
    for (const [key, desired] of this.pending) {
      if (this.running.size >= limit) break;
      if (this.running.has(key)) continue;
      this.pending.delete(key);
      this.running.add(key);
      void this.write({ key, desired }).finally(() => {
        this.running.delete(key);
        if (!this.closed) this.pump();
        this.settle();
      });
    }
    this.settle();
  }

  private settle(): void {
    if (this.running.size > 0 || (this.pending.size > 0 && !this.closed)) return;
    for (const resolve of this.waiters.splice(0)) resolve();
  }

  private async write({ key, desired }: Pending): Promise<void> {
    const { client, isLeader } = this.options;
    const attempts = this.options.attempts ?? 5;
    const sleep = this.options.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms).unref()));
    const label = `${desired.type.kind} ${desired.namespace ? `${desired.namespace}/` : ''}${desired.name}`;
    const written = this.written.get(key);
    const seen = written && written.resourceVersion === desired.resourceVersion ? written.status : desired.current;
    const patch = statusPatch(seen, desired.status);
    if (patch === undefined) return;
    for (let attempt = 1; ; attempt++) {
      if (this.closed || !isLeader()) return;
      try {
        await client.patch(desired.type, desired.namespace, desired.name, { status: patch }, 'merge', 'status');
        this.counts.writes++;
        this.written.set(key, { resourceVersion: desired.resourceVersion, status: desired.status });
        return;
      } catch (err) {
        if (err instanceof KubeError && err.status === 404) {
          this.counts.dropped++;
          this.written.delete(key);
          return;
        }
        if (!retriable(err) || attempt >= attempts) {
          this.counts.failures++;
          const status = err instanceof KubeError ? err.status : 0;
          this.fail(
            `${status}`,
            `cannot write the status of ${label}${attempt > 1 ? ` (${attempt} tries)` : ''}: ${err instanceof Error ? err.message : String(err)}`,
          );
          return;
        }
        const base = this.options.backoffMs ?? 200;
        await sleep(Math.min(MAX_BACKOFF_MS, base * 2 ** (attempt - 1)));
      }
    }
  }

  /** Logs a failure, at most once per class per logEveryMs; the next line says how many were left out. */
  private fail(kind: string, message: string): void {
    try {
      const now = (this.options.clock ?? Date.now)();
      const every = this.options.logEveryMs ?? 60_000;
      const last = this.loggedAt.get(kind);
      if (last && now - last.at < every) {
        last.missed++;
        return;
      }
      const missed = last?.missed ?? 0;
      this.loggedAt.set(kind, { at: now, missed: 0 });
      this.options.log.warn(missed > 0 ? `${message} (and ${missed} more like it since the last such line)` : message);
    } catch {
      // A logger that throws must not stop the writer.
    }
  }
}
