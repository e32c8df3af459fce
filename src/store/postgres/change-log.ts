// The change log: how replicas share state through PostgreSQL and follow each other.
//
// Shared state is a set of keyed tables (schema.ts). Each replica keeps them in memory, in the
// structures it serves from (the Cloud Map registry, the API's resources, the rollouts): the
// `Follower`s. A write runs on the writing replica against its in-memory state, made current
// first, inside one transaction that holds the fleet's write lock (the row of `meshd_sequence`,
// FOR UPDATE): the rows it changed are written, the change is appended to `meshd_changes` under
// the next sequence number, and NOTIFY wakes every replica. The others read the changes after
// the last one they applied, in order, and apply them to their own state.
//
// Why one lock for the fleet: a write is checked against the state it changes (a name already
// taken, a version that moved on), so checking and committing must be one step fleet-wide, and
// sequence numbers must be committed in order so that "every change after n" never skips one
// still being committed. Holding the lock costs a few round trips on one connection; writes that
// arrive together share one transaction (group commit), which is what keeps registrations above
// a thousand a second.
//
// Catching up exactly: a replica that missed notifications (a dropped connection, a restart)
// asks for every change after the last it applied; sequence numbers have no gaps, so it sees
// each one once. One that fell behind the log's horizon (changes are pruned after a while)
// reloads every table from one consistent snapshot instead.
import type { Pool, PoolClient, Notification, Client } from 'pg';
import { describeError } from './connect';
import { unstorableIn } from './storable';
import { isKeyedTable, type KeyedTable } from './schema';

export interface KeyedRow {
  readonly key: string;
  readonly row: unknown;
}

/** What one write changed: per table, the rows put (whole) and the keys deleted. */
export interface TableChange {
  readonly put?: { readonly [T in KeyedTable]?: readonly KeyedRow[] };
  readonly delete?: { readonly [T in KeyedTable]?: readonly string[] };
}

/** A part of a replica's state that follows some of the keyed tables. */
export interface Follower {
  readonly tables: readonly KeyedTable[];
  /** Replaces everything with these rows (at start, or after falling behind the log's horizon). */
  reset(rows: ReadonlyMap<KeyedTable, readonly KeyedRow[]>): void;
  /** A change another replica committed (only the tables this follower follows are in it). */
  apply(change: TableChange): void;
}

/**
 * One write, run against the replica's current state while the fleet's write lock is held. It
 * changes that state itself and answers what it changed; it throws to refuse (and must then
 * have changed nothing). `revert` undoes its in-memory change if the transaction then fails.
 */
export type WriteStep<T> = () => { readonly result: T; readonly change: TableChange; readonly revert: () => void };

/** A write that must be made only while this replica leads (leader-lease.ts gives the fence). */
export interface Fence {
  readonly holder: string;
  readonly term: number;
}

/** The store could not be reached, or refused the transaction: nothing was changed. */
export class StoreUnavailableError extends Error {}
/** A write holding a value PostgreSQL cannot store (U+0000, an unpaired surrogate): refused alone, nothing changed. */
export class UnstorableError extends Error {}
/** A leader-only write from a replica that no longer leads: nothing was changed. */
export class FencedError extends Error {}

export interface ChangeLogOptions {
  readonly replicaId: string;
  /** Reading of the sequence between notifications, to catch up on one missed: 1 s by default. */
  readonly pollMs?: number;
  /** Changes older than this many sequence numbers are pruned: 100,000 by default. */
  readonly keepChanges?: number;
  /** At most this many writes share one transaction: 500 by default. */
  readonly maxBatch?: number;
  /** The LISTEN connection (made anew after it fails). */
  readonly listenClient: () => Client;
  readonly onHealth?: (healthy: boolean, reason: string) => void;
  /** Called after each change applied from the log (another replica's) or written here. */
  readonly onApplied?: (seq: number, origin: 'local' | 'remote') => void;
  /**
   * Each write transaction: how long it took (from connecting
   * to COMMIT), how many writes it held, whether it committed.
   */
  readonly onCommit?: (seconds: number, writes: number, committed: boolean) => void;
  /** Each NOTIFY heard. */
  readonly onNotification?: () => void;
  /** A change (or a table's rows) a follower could not take: someone wrote a malformed row by hand. */
  readonly onFollowerError?: (message: string) => void;
}

interface Pending {
  readonly step: WriteStep<unknown>;
  readonly fence?: Fence;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
}

const CHANNEL = 'meshd_changes';
/** Writes waiting for their transaction, at most: past it a write is refused at once (StoreUnavailableError). */
const MAX_QUEUED = 5000;

/** Pool clients given a listener for errors that arrive between queries (see ChangeLog.connect). */
const guarded = new WeakSet<PoolClient>();

export class ChangeLog {
  private readonly followers: Follower[] = [];
  /** The last sequence number this replica's state includes. */
  private applied = 0;
  private readonly queue: Pending[] = [];
  private writing = false;
  /** Local changes to state (catching up, a write's transaction) run one at a time. */
  private exclusive: Promise<void> = Promise.resolve();
  private listener: Client | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private healthy = false;
  private closed = false;
  private catchUpWanted = false;
  private catchUpRunning: Promise<void> | undefined;
  private sinceLastPrune = 0;
  /** A poll's query is in flight: the next waits for it rather than queueing behind it. */
  private polling = false;

  constructor(
    private readonly pool: Pool,
    private readonly options: ChangeLogOptions,
  ) {}

  follow(follower: Follower): void {
    this.followers.push(follower);
  }

  get sequence(): number {
    return this.applied;
  }

  get isHealthy(): boolean {
    return this.healthy;
  }

  /** Loads every follower's tables and starts following the log; throws when the store cannot be read. */
  async start(): Promise<void> {
    await this.locally(async () => {
      const client = await this.connect();
      try {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        await this.reload(client);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    });
    await this.listen();
    this.pollTimer = setInterval(() => this.poll(), this.options.pollMs ?? 1000);
    this.pollTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.reconnectTimer);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.exclusive.catch(() => undefined);
    for (const p of this.queue.splice(0)) p.reject(new StoreUnavailableError('meshd is shutting down'));
  }

  /**
   * Runs `step` against this replica's state made current with the fleet's, and commits its change
   * for the fleet. Resolves with the step's result once committed; rejects with the step's own
   * refusal, StoreUnavailableError or FencedError, having changed nothing anywhere.
   */
  write<T>(step: WriteStep<T>, fence?: Fence): Promise<T> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('meshd is shutting down'));
    // While the store is slow or cut off, writes fail at once rather than wait behind thousands of others.
    if (this.queue.length >= MAX_QUEUED) {
      return Promise.reject(
        new StoreUnavailableError(`the store (PostgreSQL) is not keeping up: ${MAX_QUEUED} writes are waiting already`),
      );
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ step, fence, resolve: resolve as (v: unknown) => void, reject });
      if (!this.writing) void this.drain();
    });
  }

  /** Applies the changes committed since the last one applied (at once, rather than at the next notification). */
  catchUp(): Promise<void> {
    this.catchUpWanted = true;
    if (!this.catchUpRunning) {
      this.catchUpRunning = (async () => {
        while (this.catchUpWanted && !this.closed) {
          this.catchUpWanted = false;
          await this.locally(async () => {
            const client = await this.connect();
            try {
              await this.readChanges(client, false);
            } finally {
              client.release();
            }
          });
        }
      })().finally(() => {
        this.catchUpRunning = undefined;
      });
    }
    return this.catchUpRunning;
  }

  // ---- writes ----

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch ?? 500);
        await this.locally(() => this.commitBatch(batch));
      }
    } finally {
      this.writing = false;
    }
  }

  private async commitBatch(batch: Pending[]): Promise<void> {
    const started = performance.now();
    const observe = (committed: boolean) =>
      this.options.onCommit?.((performance.now() - started) / 1000, batch.length, committed);
    let client: PoolClient;
    try {
      client = await this.connect();
    } catch (err) {
      observe(false);
      for (const p of batch) p.reject(err);
      return;
    }
    const done: { pending: Pending; result: unknown; change: TableChange; revert: () => void }[] = [];
    /** Writes already answered (refused by their step or by the fence). */
    const settled = new Set<Pending>();
    let broken = false;
    try {
      await client.query('BEGIN');
      const locked = await client.query<{ seq: string }>('SELECT seq FROM meshd_sequence WHERE id = 1 FOR UPDATE');
      if (Number(locked.rows[0]!.seq) > this.applied) await this.readChanges(client, true);
      const fences = new Map<string, boolean>();
      for (const pending of batch) {
        if (pending.fence) {
          const id = `${pending.fence.holder}\u0000${pending.fence.term}`;
          if (!fences.has(id)) fences.set(id, await this.fenceHolds(client, pending.fence));
          if (!fences.get(id)) {
            pending.reject(
              new FencedError(`this replica no longer leads (term ${pending.fence.term}); the write was not made`),
            );
            settled.add(pending);
            continue;
          }
        }
        let outcome: ReturnType<WriteStep<unknown>>;
        try {
          outcome = pending.step();
        } catch (refusal) {
          pending.reject(refusal);
          settled.add(pending);
          continue;
        }
        // One value PostgreSQL cannot hold would fail the whole batch's transaction: refused alone, before it is sent.
        const unstorable = unstorableIn(outcome.change);
        if (unstorable !== undefined) {
          outcome.revert();
          pending.reject(new UnstorableError(unstorable));
          settled.add(pending);
          continue;
        }
        done.push({ pending, ...outcome });
      }
      const changes = done.filter((d) => !isEmpty(d.change));
      if (changes.length > 0) {
        const first = this.applied + 1;
        await writeRows(
          client,
          changes.map((d) => d.change),
          first,
        );
        await client.query(
          `INSERT INTO meshd_changes (seq, replica, change)
           SELECT $3::bigint + n - 1, $2, c FROM unnest($1::jsonb[]) WITH ORDINALITY AS t(c, n)`,
          [changes.map((d) => JSON.stringify(d.change)), this.options.replicaId, first],
        );
        const last = first + changes.length - 1;
        await client.query('UPDATE meshd_sequence SET seq = $1 WHERE id = 1', [last]);
        await client.query('SELECT pg_notify($1, $2)', [CHANNEL, String(last)]);
        await client.query('COMMIT');
        this.applied = last;
        for (let seq = first; seq <= last; seq++) this.options.onApplied?.(seq, 'local');
        this.sinceLastPrune += changes.length;
      } else {
        await client.query('COMMIT');
      }
    } catch (err) {
      broken = true;
      await client.query('ROLLBACK').catch(() => undefined);
      // Undo in reverse order: each step saw the state the one before it left.
      for (const d of [...done].reverse()) d.revert();
      const error =
        err instanceof StoreUnavailableError
          ? err
          : new StoreUnavailableError(`the store (PostgreSQL) did not commit the write: ${describeError(err)}`);
      // Every write of the batch not refused yet fails: those whose step ran, and those not reached.
      for (const p of batch) if (!settled.has(p)) p.reject(error);
      if (isConnectionFailure(err)) this.markHealth(false, error.message);
      observe(false);
      return;
    } finally {
      client.release(broken);
    }
    observe(true);
    for (const d of done) d.pending.resolve(d.result);
    if (this.sinceLastPrune >= 1000) void this.prune();
  }

  private async fenceHolds(client: PoolClient, fence: Fence): Promise<boolean> {
    // FOR SHARE: a new leader's takeover (an UPDATE of this row) waits until this transaction ends.
    const held = await client.query(
      'SELECT 1 FROM meshd_leader WHERE id = 1 AND holder = $1 AND term = $2 AND expires_at > now() FOR SHARE',
      [fence.holder, fence.term],
    );
    return held.rowCount === 1;
  }

  private async prune(): Promise<void> {
    this.sinceLastPrune = 0;
    const keep = this.options.keepChanges ?? 100_000;
    await this.pool.query('DELETE FROM meshd_changes WHERE seq <= $1', [this.applied - keep]).catch(() => undefined);
  }

  // ---- following ----

  /** Applies every change after `applied`, or reloads everything when some were pruned. */
  private async readChanges(client: PoolClient, inTransaction: boolean): Promise<void> {
    let misses = 0;
    for (;;) {
      const rows = await client.query<{ seq: string; change: TableChange }>(
        'SELECT seq, change FROM meshd_changes WHERE seq > $1 ORDER BY seq LIMIT 1000',
        [this.applied],
      );
      if (rows.rows.length === 0) {
        const current = await client.query<{ seq: string }>('SELECT seq FROM meshd_sequence WHERE id = 1');
        const seq = Number(current.rows[0]!.seq);
        if (seq === this.applied) return;
        if (seq < this.applied) {
          // The database went back (a restore from a backup): what it holds now is the truth.
          await this.reloadConsistently(client, inTransaction);
          return;
        }
        // Either committed after the read above (read again), or pruned past us: then a consistent snapshot instead.
        const oldest = await client.query<{ min: string | null }>('SELECT min(seq) AS min FROM meshd_changes');
        const min = oldest.rows[0]!.min;
        // Read again once; a second miss means the log and the sequence disagree (rows deleted by hand): reload.
        if (min !== null && Number(min) <= this.applied + 1 && ++misses < 2) continue;
        await this.reloadConsistently(client, inTransaction);
        return;
      }
      if (Number(rows.rows[0]!.seq) !== this.applied + 1) {
        await this.reloadConsistently(client, inTransaction);
        return;
      }
      for (const row of rows.rows) {
        this.applyToFollowers(row.change, Number(row.seq));
        this.applied = Number(row.seq);
        this.options.onApplied?.(this.applied, 'remote');
      }
      if (rows.rows.length < 1000) return;
    }
  }

  /** In the write transaction the fleet's lock keeps the tables still; outside it, a snapshot does. */
  private async reloadConsistently(client: PoolClient, inTransaction: boolean): Promise<void> {
    if (inTransaction) {
      await this.reload(client);
      return;
    }
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      await this.reload(client);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /** Every followed table, and the sequence they are at (inside one consistent snapshot). */
  private async reload(client: PoolClient): Promise<void> {
    const seq = await client.query<{ seq: string }>('SELECT seq FROM meshd_sequence WHERE id = 1');
    const tables = new Map<KeyedTable, KeyedRow[]>();
    for (const name of new Set(this.followers.flatMap((f) => f.tables))) {
      const rows = await client.query<KeyedRow>(`SELECT key, row FROM meshd_${name} ORDER BY key`);
      tables.set(name, rows.rows);
    }
    for (const f of this.followers) {
      try {
        f.reset(new Map(f.tables.map((t) => [t, tables.get(t) ?? []])));
      } catch (err) {
        this.options.onFollowerError?.(`the store's tables could not all be loaded: ${describeError(err)}`);
      }
    }
    this.applied = Number(seq.rows[0]!.seq);
    this.options.onApplied?.(this.applied, 'remote');
  }

  /**
   * A change a follower cannot take (a row someone wrote by hand) is reported and passed over, never retried forever.
   */
  private applyToFollowers(change: TableChange, seq: number): void {
    for (const f of this.followers) {
      const part = restrict(change, f.tables);
      if (isEmpty(part)) continue;
      try {
        f.apply(part);
      } catch (err) {
        this.options.onFollowerError?.(
          `change ${seq} of the store could not be applied and was passed over: ${describeError(err)}`,
        );
      }
    }
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = this.options.listenClient();
    client.on('error', (err) => this.lostListener(client, describeError(err)));
    client.on('end', () => this.lostListener(client, 'the connection ended'));
    client.on('notification', (n: Notification) => {
      this.options.onNotification?.();
      if (n.channel === CHANNEL && Number(n.payload) > this.applied) void this.catchUp().catch(() => undefined);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      this.lostListener(client, describeError(err));
      return;
    }
    if (this.closed) {
      // close() ran while this connection was being made: it must not outlive the log.
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
    this.markHealth(true, 'connected');
    // Whatever was committed while not listening.
    void this.catchUp().catch((err) => this.markHealth(false, describeError(err)));
  }

  private lostListener(client: Client, reason: string): void {
    // An old client's late 'end' or 'error' (after a reconnect made another) says nothing about the current one.
    if (this.listener !== client && this.listener !== undefined) return;
    this.listener = undefined;
    client.removeAllListeners();
    client.on('error', () => undefined);
    void client.end().catch(() => undefined);
    this.markHealth(false, `lost the connection to PostgreSQL: ${reason}`);
    if (this.closed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.listen();
    }, 500);
    this.reconnectTimer.unref();
  }

  /** Between notifications: the sequence, read on the LISTEN connection (which proves it alive). */
  private poll(): void {
    const client = this.listener;
    if (!client || this.closed || this.polling) return;
    this.polling = true;
    client
      .query<{ seq: string }>('SELECT seq FROM meshd_sequence WHERE id = 1')
      .then((r) => {
        this.markHealth(true, 'connected');
        if (Number(r.rows[0]!.seq) > this.applied) void this.catchUp().catch(() => undefined);
      })
      .catch((err) => this.lostListener(client, describeError(err)))
      .finally(() => {
        this.polling = false;
      });
  }

  private markHealth(healthy: boolean, reason: string): void {
    if (this.healthy === healthy) return;
    this.healthy = healthy;
    this.options.onHealth?.(healthy, reason);
  }

  private async connect(): Promise<PoolClient> {
    try {
      const client = await this.pool.connect();
      // The server's FATAL (a shutdown, a terminated backend) can arrive in the same read as the answer to a query,
      // while no query is active: pg then emits 'error' on the checked-out client, which unhandled ends the process.
      // The next query on it fails instead, and is handled where it is made.
      if (!guarded.has(client)) {
        guarded.add(client);
        client.on('error', () => undefined);
      }
      return client;
    } catch (err) {
      throw new StoreUnavailableError(`the store (PostgreSQL) cannot be reached: ${describeError(err)}`);
    }
  }

  private locally(task: () => Promise<void>): Promise<void> {
    const run = this.exclusive.then(task, task);
    this.exclusive = run.catch(() => undefined);
    return run;
  }
}

/** Writes a batch's changes to the keyed tables: one statement per table and kind, whatever the batch's size. */
async function writeRows(client: PoolClient, changes: readonly TableChange[], firstSeq: number): Promise<void> {
  // Later changes win over earlier ones of the same batch: fold in order.
  const puts = new Map<KeyedTable, Map<string, { row: unknown; seq: number }>>();
  const deletes = new Map<KeyedTable, Set<string>>();
  changes.forEach((change, i) => {
    const seq = firstSeq + i;
    for (const [table, rows] of Object.entries(change.put ?? {}) as [KeyedTable, KeyedRow[]][]) {
      if (!isKeyedTable(table)) throw new Error(`unknown table ${table}`);
      const t = puts.get(table) ?? new Map<string, { row: unknown; seq: number }>();
      puts.set(table, t);
      for (const r of rows) {
        t.set(r.key, { row: r.row, seq });
        deletes.get(table)?.delete(r.key);
      }
    }
    for (const [table, keys] of Object.entries(change.delete ?? {}) as [KeyedTable, string[]][]) {
      if (!isKeyedTable(table)) throw new Error(`unknown table ${table}`);
      const d = deletes.get(table) ?? new Set<string>();
      deletes.set(table, d);
      for (const key of keys) {
        d.add(key);
        puts.get(table)?.delete(key);
      }
    }
  });
  for (const [table, keys] of deletes) {
    if (keys.size > 0) await client.query(`DELETE FROM meshd_${table} WHERE key = ANY($1::text[])`, [[...keys]]);
  }
  for (const [table, rows] of puts) {
    if (rows.size === 0) continue;
    const entries = [...rows];
    await client.query(
      `INSERT INTO meshd_${table} (key, row, seq)
       SELECT * FROM unnest($1::text[], $2::jsonb[], $3::bigint[])
       ON CONFLICT (key) DO UPDATE SET row = EXCLUDED.row, seq = EXCLUDED.seq`,
      [entries.map(([k]) => k), entries.map(([, v]) => JSON.stringify(v.row)), entries.map(([, v]) => v.seq)],
    );
  }
}

/**
 * Whether a failed transaction means the store is out of reach (no SQLSTATE: a timeout or a socket error; class 08,
 * connection exception; 57P, the server shutting down), rather than a refusal of this write's data.
 */
function isConnectionFailure(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return true;
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || code.startsWith('08') || code.startsWith('57P');
}

function isEmpty(change: TableChange): boolean {
  return (
    Object.values(change.put ?? {}).every((rows) => !rows || rows.length === 0) &&
    Object.values(change.delete ?? {}).every((keys) => !keys || keys.length === 0)
  );
}

function restrict(change: TableChange, tables: readonly KeyedTable[]): TableChange {
  const put: Partial<Record<KeyedTable, readonly KeyedRow[]>> = {};
  const del: Partial<Record<KeyedTable, readonly string[]>> = {};
  for (const t of tables) {
    const p = change.put?.[t];
    if (p && p.length > 0) put[t] = p;
    const d = change.delete?.[t];
    if (d && d.length > 0) del[t] = d;
  }
  return { put, delete: del };
}
