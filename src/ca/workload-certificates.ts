// The current workload certificate of each identity (SPIFFE ID) meshd serves: asked for
// synchronously while a proxy's snapshot is built, issued in the background the first time,
// renewed at a random point between 50 % and 80 % of its life (so a fleet issued together does
// not renew together), and issued again for all after the CA changed. A failed issue is logged
// and retried with backoff; it never throws out of a timer.
import type { Logger } from '../util/log';
import type { Issued, WorkloadRequest } from './authority';

/** What the cache needs of the CA (CertificateAuthority has both). */
export interface WorkloadIssuer {
  issueWorkload(request: WorkloadRequest): Promise<Issued>;
  onChange(listener: () => void): () => void;
}

export interface WorkloadIdentity {
  readonly spiffeId: string;
  readonly dnsNames: readonly string[];
}

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface WorkloadCertificatesOptions {
  readonly authority: WorkloadIssuer;
  /** The certificates' lifetime: 24 h by default (the CA's default). */
  readonly ttlMs?: number;
  readonly now?: () => number;
  /** In [0, 1): where between 50 % and 80 % of its life each certificate renews; the retry jitter. */
  readonly random?: () => number;
  readonly timers?: Timers;
  readonly logger?: Pick<Logger, 'warn' | 'debug'>;
  /** The most identities kept; the least recently asked for is dropped beyond it. 100,000 by default. */
  readonly maxIdentities?: number;
  /** Issues running at once (key generation and signing are CPU work): 4 by default. */
  readonly maxConcurrentIssues?: number;
  /** The first retry after a failed issue (doubling each time, up to maxRetryMs): 1 s and 5 min by default. */
  readonly minRetryMs?: number;
  readonly maxRetryMs?: number;
}

export const RENEW_FROM = 0.5;
export const RENEW_TO = 0.8;

interface Entry {
  readonly spiffeId: string;
  dnsNames: readonly string[];
  dnsKey: string;
  /** Bumped when what the certificate must be changes (DNS names, the CA): an issue of an older one is redone. */
  generation: number;
  issued?: Issued;
  issuedDnsKey?: string;
  inFlight: boolean;
  timer?: unknown;
  failures: number;
}

const realTimers: Timers = {
  setTimeout: (callback, ms) => {
    const handle = setTimeout(callback, ms);
    handle.unref();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** setTimeout's longest delay; a longer renewal waits in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class WorkloadCertificates {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<(spiffeIds: string[]) => void>();
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly timers: Timers;
  private readonly maxIdentities: number;
  private readonly maxConcurrent: number;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private changed = new Set<string>();
  private flushQueued = false;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(private readonly options: WorkloadCertificatesOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.timers = options.timers ?? realTimers;
    this.maxIdentities = options.maxIdentities ?? 100_000;
    this.maxConcurrent = options.maxConcurrentIssues ?? 4;
    this.unsubscribe = options.authority.onChange(() => this.reissueAll());
  }

  /**
   * The current certificate of `identity`, or undefined while it is being issued (the first
   * time, or for new DNS names); onChange says when it is there. Never throws.
   */
  current(identity: WorkloadIdentity): Issued | undefined {
    if (this.closed) return undefined;
    const dnsNames = [...new Set(identity.dnsNames)].sort();
    const dnsKey = dnsNames.join('\n');
    let entry = this.entries.get(identity.spiffeId);
    if (entry) {
      // Least recently asked for first: move it to the end.
      this.entries.delete(identity.spiffeId);
      this.entries.set(identity.spiffeId, entry);
      if (entry.dnsKey !== dnsKey) {
        entry.dnsNames = dnsNames;
        entry.dnsKey = dnsKey;
        entry.generation++;
        this.issue(entry);
      }
    } else {
      while (this.entries.size >= this.maxIdentities) this.forget(this.entries.keys().next().value as string);
      entry = { spiffeId: identity.spiffeId, dnsNames, dnsKey, generation: 0, inFlight: false, failures: 0 };
      this.entries.set(identity.spiffeId, entry);
      this.issue(entry);
    }
    const issued = entry.issued;
    if (!issued || entry.issuedDnsKey !== dnsKey) return undefined;
    if (issued.notAfter.getTime() <= this.now()) {
      // Expired (every renewal failed): useless to a peer; issuing goes on in the background.
      if (!entry.inFlight && entry.timer === undefined) this.issue(entry);
      return undefined;
    }
    return issued;
  }

  /** Drops the identity (no proxy of it is connected): its renewals stop. */
  forget(spiffeId: string): void {
    const entry = this.entries.get(spiffeId);
    if (!entry) return;
    this.clearTimer(entry);
    this.entries.delete(spiffeId);
  }

  /** Listeners hear which identities have a new certificate (batched per turn of the event loop). */
  onChange(listener: (spiffeIds: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** How many identities are kept. */
  get size(): number {
    return this.entries.size;
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    for (const entry of this.entries.values()) this.clearTimer(entry);
    this.entries.clear();
  }

  /** After a CA change every certificate is issued again; the old ones are served until then. */
  private reissueAll(): void {
    for (const entry of this.entries.values()) {
      entry.generation++;
      this.clearTimer(entry);
      this.issue(entry);
    }
  }

  private clearTimer(entry: Entry): void {
    if (entry.timer !== undefined) this.timers.clearTimeout(entry.timer);
    entry.timer = undefined;
  }

  private schedule(entry: Entry, delayMs: number, run: () => void): void {
    this.clearTimer(entry);
    const step = Math.min(Math.max(0, delayMs), MAX_TIMER_MS);
    entry.timer = this.timers.setTimeout(() => {
      entry.timer = undefined;
      if (this.entries.get(entry.spiffeId) !== entry || this.closed) return;
      if (step < delayMs) this.schedule(entry, delayMs - step, run);
      else run();
    }, step);
  }

  /** Issues for the entry unless an issue is running (that one's end re-checks the generation). */
  private issue(entry: Entry): void {
    if (entry.inFlight || this.closed) return;
    this.clearTimer(entry);
    entry.inFlight = true;
    const generation = entry.generation;
    const dnsKey = entry.dnsKey;
    void this.limited(() =>
      this.options.authority.issueWorkload({
        spiffeId: entry.spiffeId,
        dnsNames: entry.dnsNames,
        ...(this.options.ttlMs !== undefined ? { ttlMs: this.options.ttlMs } : {}),
      }),
    ).then(
      (issued) => {
        entry.inFlight = false;
        if (this.entries.get(entry.spiffeId) !== entry || this.closed) return;
        entry.issued = issued;
        entry.issuedDnsKey = dnsKey;
        entry.failures = 0;
        this.changedNow(entry.spiffeId);
        if (entry.generation !== generation) this.issue(entry);
        else this.scheduleRenewal(entry, issued, this.now());
      },
      (err: unknown) => {
        entry.inFlight = false;
        if (this.entries.get(entry.spiffeId) !== entry || this.closed) return;
        entry.failures++;
        const base = this.options.minRetryMs ?? 1000;
        const max = this.options.maxRetryMs ?? 5 * 60 * 1000;
        const delay = Math.min(max, base * 2 ** Math.min(entry.failures - 1, 30)) * (0.5 + this.random() / 2);
        this.options.logger?.warn(
          { spiffeId: entry.spiffeId, failures: entry.failures },
          `cannot issue the workload certificate of ${entry.spiffeId}: ${err instanceof Error ? err.message : String(err)} (retrying in ${Math.round(delay / 1000)} s)`,
        );
        this.schedule(entry, delay, () => this.issue(entry));
      },
    );
  }

  /**
   * Renews at a random point between 50 % and 80 % of the certificate's life, counted from its issue: the CA
   * back-dates notBefore (clock skew), and from there a 1 min certificate would be renewed 0–36 s after its issue.
   */
  private scheduleRenewal(entry: Entry, issued: Issued, issuedAt: number): void {
    const from = Math.max(issued.notBefore.getTime(), Math.min(issuedAt, issued.notAfter.getTime()));
    const life = issued.notAfter.getTime() - from;
    const at = from + life * (RENEW_FROM + (RENEW_TO - RENEW_FROM) * this.random());
    this.schedule(entry, at - this.now(), () => this.issue(entry));
  }

  private async limited<T>(work: () => Promise<T>): Promise<T> {
    // A finished issue hands its slot straight to the next waiting one, so no newcomer slips in between.
    if (this.running >= this.maxConcurrent) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  private changedNow(spiffeId: string): void {
    this.changed.add(spiffeId);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      const ids = [...this.changed];
      this.changed = new Set();
      for (const listener of [...this.listeners]) {
        try {
          listener(ids);
        } catch (err) {
          this.options.logger?.warn(
            `a workload certificate listener failed: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }
    });
  }
}
