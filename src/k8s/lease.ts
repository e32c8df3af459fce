// Leader election on a coordination.k8s.io/v1 Lease, with the semantics of client-go's leaderelection: take the
// lease when it is absent, released (no holder) or expired (not changed for leaseDurationSeconds, by this replica's
// own clock: the holder's renewTime is another machine's clock, and skew must not make a replica steal a live lease);
// renew it every retryPeriod; step down when renewDeadline passed since the sending of the last renewal that
// succeeded (not since its answer: a slow answer must not stretch leadership past the lease). Each Lease call is
// abandoned after renewDeadline. Every write is optimistic (create, or replace with the read resourceVersion): a 409
// means another replica wrote first, and it wins.
import { KubeError, LEASES, type KubeClient, type KubeObject } from './kube-api';

export interface LeaseLog {
  info(message: string): void;
  warn(message: string): void;
}

export interface LeaseElectorOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly name: string;
  /** This replica's name in holderIdentity (pod name, say); unique among the replicas. */
  readonly identity: string;
  readonly leaseDurationSeconds?: number;
  readonly renewDeadlineSeconds?: number;
  readonly retryPeriodSeconds?: number;
  readonly log: LeaseLog;
  /** The clock (ms since the epoch); Date.now by default. */
  readonly now?: () => number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

/** A Kubernetes MicroTime: RFC 3339 with microseconds. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class LeaseElector {
  private readonly client: KubeClient;
  private readonly leaseDurationMs: number;
  /** The lease's spec.leaseDurationSeconds: an integer field (whole seconds, at least 1). */
  private readonly leaseSeconds: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => number;
  private readonly listeners: ((leading: boolean, reason: string) => void)[] = [];
  private leading_ = false;
  private holder_: string | undefined;
  private transitions = 0;
  private started = false;
  private stopped = false;
  private tickTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  /** The record last read and when (local clock) it last changed: another holder's lease expires a duration later. */
  private observedRecord = '';
  private observedAt = 0;
  private lastFailureLog = '';

  constructor(private readonly options: LeaseElectorOptions) {
    this.client = options.client;
    this.leaseDurationMs = (options.leaseDurationSeconds ?? 15) * 1000;
    this.leaseSeconds = Math.max(1, Math.ceil(this.leaseDurationMs / 1000));
    this.renewDeadlineMs = (options.renewDeadlineSeconds ?? 10) * 1000;
    this.retryPeriodMs = (options.retryPeriodSeconds ?? 2) * 1000;
    this.now = options.now ?? Date.now;
  }

  get leading(): boolean {
    return this.leading_;
  }

  /** The holder last seen in the lease (undefined: none, or not read yet). */
  get holder(): string | undefined {
    return this.holder_;
  }

  /** The leader's fencing token while this replica leads: who holds the lease and how many times it changed hands. */
  fence(): { holder: string; transitions: number } | undefined {
    return this.leading_ ? { holder: this.options.identity, transitions: this.transitions } : undefined;
  }

  /** Calls `listener` on each change of leadership; answers a function that removes it. */
  onLeadership(listener: (leading: boolean, reason: string) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.schedule(0);
  }

  /**
   * Stops trying; with `release`, clears holderIdentity (when this replica holds the lease) so that another replica
   * takes over at once.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.tickTimer);
    clearTimeout(this.deadlineTimer);
    // A call in flight is waited for, but no longer than renewDeadline: a SIGTERMed pod must release in time.
    if (this.inFlight) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.inFlight, new Promise<void>((r) => (timer = setTimeout(r, this.renewDeadlineMs)))]);
      clearTimeout(timer);
    }
    const wasLeading = this.leading_;
    this.setLeading(false, 'stopped');
    if (!options.release || !wasLeading) return;
    try {
      const lease = await this.bounded(
        this.client.get<Lease>(LEASES, this.options.namespace, this.options.name),
        'reading the lease',
      );
      if (!lease || lease.spec?.holderIdentity !== this.options.identity) return;
      const now = this.now();
      await this.bounded(
        this.client.replace(LEASES, this.options.namespace, this.options.name, {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            renewTime: microTime(now),
            acquireTime: microTime(now),
          },
        }),
        'releasing the lease',
      );
      this.holder_ = undefined;
      this.options.log.info(`released lease ${this.options.namespace}/${this.options.name}`);
    } catch (err) {
      this.options.log.warn(
        `could not release lease ${this.options.namespace}/${this.options.name} (it expires by itself): ${describe(err)}`,
      );
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.tickTimer);
    this.tickTimer = setTimeout(() => {
      this.inFlight = this.tick()
        .catch((err: unknown) => this.options.log.warn(`leader election failed unexpectedly: ${describe(err)}`))
        .finally(() => {
          this.inFlight = undefined;
          // A candidate retries with jitter (so that replicas do not move in lockstep); a leader renews on time.
          const jitter = this.leading_ ? 0 : Math.random() * 0.2 * this.retryPeriodMs;
          this.schedule(this.retryPeriodMs + jitter);
        });
    }, ms);
  }

  private setLeading(leading: boolean, reason: string): void {
    if (leading === this.leading_) return;
    this.leading_ = leading;
    if (!leading) clearTimeout(this.deadlineTimer);
    const lease = `${this.options.namespace}/${this.options.name}`;
    this.options.log.info(
      leading ? `leading (lease ${lease}): ${reason}` : `stopped leading (lease ${lease}): ${reason}`,
    );
    for (const listener of [...this.listeners]) {
      try {
        listener(leading, reason);
      } catch (err) {
        this.options.log.warn(`a leadership listener failed: ${describe(err)}`);
      }
    }
  }

  /** A Lease call, abandoned (a KubeError) when it has not answered within renewDeadline. */
  private bounded<T>(call: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new KubeError(`${what}: no answer within ${this.renewDeadlineMs / 1000} s`, 0)),
        this.renewDeadlineMs,
      );
    });
    call.catch(() => undefined); // A late failure of an abandoned call is no unhandled rejection.
    return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * A renewal (or acquisition) sent at `sentAt` succeeded: leading until renewDeadline after `sentAt` passes without
   * another. An answer that came too late (the deadline or the lease itself already past) makes no leader.
   */
  private renewed(reason: string, sentAt: number): void {
    clearTimeout(this.deadlineTimer);
    const now = this.now();
    const remaining = sentAt + this.renewDeadlineMs - now;
    if (remaining <= 0 || sentAt + this.leaseDurationMs <= now) {
      this.setLeading(false, `could not renew the lease within ${this.renewDeadlineMs / 1000} s`);
      return;
    }
    this.deadlineTimer = setTimeout(() => {
      this.setLeading(false, `could not renew the lease within ${this.renewDeadlineMs / 1000} s`);
    }, remaining);
    this.setLeading(true, reason);
  }

  private logFailure(message: string): void {
    // One line per distinct failure, not one every retry period.
    if (message === this.lastFailureLog) return;
    this.lastFailureLog = message;
    this.options.log.warn(message);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const { namespace, name, identity } = this.options;
    let lease: Lease | undefined;
    try {
      lease = await this.bounded(this.client.get<Lease>(LEASES, namespace, name), `reading lease ${namespace}/${name}`);
    } catch (err) {
      this.logFailure(`cannot read lease ${namespace}/${name}: ${describe(err)}`);
      return;
    }
    if (this.stopped) return;
    const now = this.now();
    if (!lease) {
      const body: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: this.leaseSeconds,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        },
      };
      try {
        await this.bounded(this.client.create(LEASES, namespace, body), `creating lease ${namespace}/${name}`);
      } catch (err) {
        if (err instanceof KubeError && err.status === 409) return; // Another replica created it first.
        this.logFailure(`cannot create lease ${namespace}/${name}: ${describe(err)}`);
        return;
      }
      if (this.stopped) return;
      this.holder_ = identity;
      this.transitions = 0;
      this.lastFailureLog = '';
      this.renewed('created the lease', now);
      return;
    }

    const spec: LeaseSpec = typeof lease.spec === 'object' && lease.spec !== null ? lease.spec : {};
    const holder =
      typeof spec.holderIdentity === 'string' && spec.holderIdentity !== '' ? spec.holderIdentity : undefined;
    const transitions =
      typeof spec.leaseTransitions === 'number' && Number.isInteger(spec.leaseTransitions) ? spec.leaseTransitions : 0;
    this.holder_ = holder;
    const record = JSON.stringify(spec);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = now;
    }
    if (holder !== undefined && holder !== identity) {
      const durationMs =
        typeof spec.leaseDurationSeconds === 'number' && spec.leaseDurationSeconds > 0
          ? spec.leaseDurationSeconds * 1000
          : this.leaseDurationMs;
      // Like client-go: by this replica's clock, from when it last saw the record change (never the holder's
      // renewTime, which is the holder's clock).
      if (this.observedAt + durationMs >= now) {
        // Someone else holds a live lease.
        this.setLeading(false, `lease held by ${holder}`);
        return;
      }
    }
    const changesHands = holder !== identity;
    const next: Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: this.leaseSeconds,
        renewTime: microTime(now),
        ...(changesHands ? { acquireTime: microTime(now), leaseTransitions: transitions + 1 } : {}),
      },
    };
    try {
      await this.bounded(
        this.client.replace(LEASES, namespace, name, next),
        `${changesHands ? 'taking' : 'renewing'} lease ${namespace}/${name}`,
      );
    } catch (err) {
      if (err instanceof KubeError && err.status === 409) return; // Another replica wrote first; read again next time.
      this.logFailure(`cannot ${changesHands ? 'take' : 'renew'} lease ${namespace}/${name}: ${describe(err)}`);
      return;
    }
    if (this.stopped) return;
    this.holder_ = identity;
    this.transitions = changesHands ? transitions + 1 : transitions;
    this.lastFailureLog = '';
    const reason = changesHands
      ? `took the lease${holder ? ` from ${holder} (expired)` : ' (released or expired)'}`
      : this.leading_
        ? 'renewed'
        : 'holds the lease again';
    this.renewed(reason, now);
  }
}
