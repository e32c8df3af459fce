// Leadership: which replica makes the steps that must happen once (rollout steps, their
// webhooks, applying the files' Cloud Map seeds). A lease row with a TTL and a term number that
// rises at every takeover, rather than an advisory lock held on a connection:
//
// - An advisory lock is freed only when the server sees its connection die. A leader cut off by
//   a silent partition (packets dropped, no reset) keeps it until TCP gives up, minutes later,
//   and the fleet has no leader meanwhile. A lease expires on the server's clock after the TTL
//   whatever happens to the connection, so a takeover takes at most the TTL.
// - The leader stops acting before its lease can expire: it counts the TTL, less a margin, from
//   the moment it sent its last successful renewal (on its own monotonic clock), which is before
//   the server started counting. A replica that cannot renew therefore stands down first, and a
//   new leader can only take the row after the server's expiry.
// - The term is a fencing token: every leader-only write checks, in its own transaction, that
//   the lease is still this replica's at this term (change-log.ts, FOR SHARE, so a takeover waits
//   for that transaction). A leader paused longer than its margin (a stopped process, a clock
//   jump) therefore cannot write once another has taken over, even before it notices.
import type { Pool } from 'pg';
import { describeError } from './connect';
import type { Fence } from './change-log';

export interface LeaderLeaseOptions {
  readonly holder: string;
  /** 5 s by default. */
  readonly ttlMs?: number;
  /** Renewals (and attempts to take the lease) this often: a fifth of the TTL by default. */
  readonly renewEveryMs?: number;
  readonly onChange?: (leading: boolean, term: number, reason: string) => void;
}

export class LeaderLease {
  private term: number | undefined;
  /** performance.now() after which this replica no longer counts itself leader. */
  private validUntil = 0;
  private tick: NodeJS.Timeout | undefined;
  private expiry: NodeJS.Timeout | undefined;
  private busy = false;
  private closed = false;
  readonly ttlMs: number;
  private readonly renewEveryMs: number;
  private readonly marginMs: number;

  constructor(
    private readonly pool: Pool,
    private readonly options: LeaderLeaseOptions,
  ) {
    this.ttlMs = options.ttlMs ?? 5000;
    this.renewEveryMs = options.renewEveryMs ?? Math.max(100, Math.floor(this.ttlMs / 5));
    this.marginMs = Math.max(100, Math.floor(this.ttlMs / 5));
  }

  start(): void {
    void this.round();
    this.tick = setInterval(() => void this.round(), this.renewEveryMs);
    this.tick.unref();
  }

  /** Gives the lease up at once (a clean stop), so that another replica need not wait out the TTL. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.tick);
    const term = this.term;
    this.standDown('meshd is shutting down');
    if (term !== undefined) {
      await this.pool
        .query("UPDATE meshd_leader SET expires_at = '-infinity' WHERE id = 1 AND holder = $1 AND term = $2", [
          this.options.holder,
          term,
        ])
        .catch(() => undefined);
    }
  }

  get leading(): boolean {
    return this.term !== undefined && performance.now() < this.validUntil;
  }

  /** What a leader-only write carries; undefined when this replica does not lead. */
  get fence(): Fence | undefined {
    return this.leading ? { holder: this.options.holder, term: this.term! } : undefined;
  }

  /** The current leader as the store has it (for status): holder, term, and whether its lease is live. */
  async current(): Promise<{ holder: string | null; term: number; live: boolean }> {
    const r = await this.pool.query<{ holder: string | null; term: string; live: boolean }>(
      'SELECT holder, term, expires_at > now() AS live FROM meshd_leader WHERE id = 1',
    );
    const row = r.rows[0]!;
    return { holder: row.holder, term: Number(row.term), live: row.live };
  }

  private async round(): Promise<void> {
    if (this.busy || this.closed) return;
    this.busy = true;
    const sentAt = performance.now();
    const timeout = { query_timeout: this.renewEveryMs * 2 };
    try {
      if (this.term !== undefined) {
        const renewed = await this.pool.query({
          text: `UPDATE meshd_leader SET expires_at = now() + $3 * interval '1 millisecond'
                 WHERE id = 1 AND holder = $1 AND term = $2 RETURNING term`,
          values: [this.options.holder, this.term, this.ttlMs],
          ...timeout,
        });
        if (this.closed) return;
        if (renewed.rowCount === 1) this.extend(sentAt);
        else this.standDown('another replica holds the lease');
      } else {
        const taken = await this.pool.query<{ term: string }>({
          text: `UPDATE meshd_leader SET holder = $1, term = term + 1, expires_at = now() + $2 * interval '1 millisecond'
                 WHERE id = 1 AND expires_at <= now() RETURNING term`,
          values: [this.options.holder, this.ttlMs],
          ...timeout,
        });
        if (this.closed || taken.rowCount !== 1) return;
        const validUntil = this.validUntilFor(sentAt);
        // An answer that came after the lease's margin makes no leader: the row expires, and is taken again.
        if (performance.now() >= validUntil) return;
        // Leading (its fence and its expiry timer set) before the listener hears of it, which acts as leader at once.
        this.term = Number(taken.rows[0]!.term);
        this.validUntil = validUntil;
        this.armExpiry();
        this.options.onChange?.(true, this.term, 'took the lease');
      }
    } catch (err) {
      // Not renewed: still leader until validUntil, when the expiry timer stands it down.
      void describeError(err);
    } finally {
      this.busy = false;
    }
  }

  private extend(sentAt: number): void {
    this.validUntil = this.validUntilFor(sentAt);
    this.armExpiry();
  }

  /** The end of this replica's leadership for a renewal sent at `sentAt`: the TTL less the margin. */
  private validUntilFor(sentAt: number): number {
    return sentAt + this.ttlMs - this.marginMs;
  }

  /**
   * Stands down once validUntil has passed. A timer can fire before performance.now() reaches it (Node counts timers
   * from the event loop's cached time, which lags when the loop is busy), so an early fire sets the timer again.
   */
  private armExpiry(): void {
    clearTimeout(this.expiry);
    const left = this.validUntil - performance.now();
    if (left <= 0) {
      this.standDown('could not renew the lease in time');
      return;
    }
    this.expiry = setTimeout(() => this.armExpiry(), Math.ceil(left) + 1);
    this.expiry.unref();
  }

  private standDown(reason: string): void {
    clearTimeout(this.expiry);
    const term = this.term;
    if (term === undefined) return;
    this.term = undefined;
    this.validUntil = 0;
    this.options.onChange?.(false, term, reason);
  }
}
