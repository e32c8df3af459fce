// The rollouts' state in the fleet's store: table `rollouts`, one row per rollout, its key
// `<mesh>/<name>` and its row the rollout's record as JSON. Every replica follows the table, so
// one that does not lead shows the rollouts as the leader last saved them. Only the leader writes
// them, and each write carries its lease's fence: once another replica has taken over, the write
// is refused (FencedError) with nothing changed, which is how a deposed leader learns to stop.
//
// The records are opaque here (the store layer knows nothing of rollouts): whoever wires this in
// passes the check that a row read from the database must pass (rollout/records.ts
// checkRolloutRecord). A row that fails it is neither shown nor acted on, and never deleted.
import { FencedError, type ChangeLog, type Fence, type Follower, type KeyedRow, type TableChange } from './change-log';
import type { Pool } from 'pg';
import type { LeaderLease } from './leader-lease';
import { listReplicas } from './replicas';
import type { KeyedTable } from './schema';
import { canonicalJson } from '../../util/canonical-json';

/** What a rollout's record has for its key. */
export interface MeshNamed {
  readonly mesh: string;
  readonly name: string;
}

export interface PostgresRolloutStateOptions {
  /** Why a row read from the store is not a record this meshd can use, or undefined when it is. */
  readonly check?: (row: unknown) => string | undefined;
  /** Told of each row that fails the check (it is then ignored). */
  readonly onBadRow?: (key: string, why: string) => void;
}

const TABLE: KeyedTable = 'rollouts';

const keyOf = (r: MeshNamed): string => `${r.mesh}/${r.name}`;

/**
 * The table `rollouts` as one replica knows it: follows the change log, answers copies of the
 * records, and saves the leader's records (only the rows that changed) under its fence.
 */
export class PostgresRolloutState<R extends MeshNamed> implements Follower {
  readonly tables: readonly KeyedTable[] = [TABLE];
  /** Each usable row, as canonical JSON (so that an unchanged record is never written again). */
  private rows = new Map<string, string>();
  /** Rows that failed the check: kept out of sight, and never deleted by a save. */
  private unusable = new Set<string>();
  private readonly listeners: (() => void)[] = [];

  constructor(
    private readonly log: ChangeLog,
    private readonly lease: { readonly fence: Fence | undefined },
    private readonly options: PostgresRolloutStateOptions = {},
  ) {}

  // ---- Follower ----

  reset(tables: ReadonlyMap<KeyedTable, readonly KeyedRow[]>): void {
    this.rows = new Map();
    this.unusable = new Set();
    for (const row of tables.get(TABLE) ?? []) this.take(row);
    this.changed();
  }

  apply(change: TableChange): void {
    for (const key of change.delete?.[TABLE] ?? []) {
      this.rows.delete(key);
      this.unusable.delete(key);
    }
    for (const row of change.put?.[TABLE] ?? []) this.take(row);
    this.changed();
  }

  // ---- what the rollout controller uses (its RolloutPersistence) ----

  /** The records as this replica knows them now, in key order: fresh copies, the caller's to change. */
  current(): R[] {
    return [...this.rows.keys()].sort().map((key) => JSON.parse(this.rows.get(key)!) as R);
  }

  /** The records once every change committed so far is applied here (a new leader's starting point). */
  async load(): Promise<R[]> {
    await this.log.catchUp();
    return this.current();
  }

  /**
   * Stores `records` as the whole set (a record left out is deleted), writing only the rows that
   * differ, in one fenced write. Rejects with FencedError when this replica does not lead (nothing
   * written), StoreUnavailableError when the store cannot commit.
   */
  save(records: readonly R[]): Promise<void> {
    // Taken now: the caller goes on changing its records while the write waits for its turn.
    const wanted = new Map(records.map((r) => [keyOf(r), canonicalJson(r)]));
    if (!this.differs(wanted)) return Promise.resolve();
    const fence = this.lease.fence;
    if (!fence) return Promise.reject(new FencedError('this replica does not lead; the rollouts were not saved'));
    return this.log.write(() => {
      // Against the state made current under the fleet's write lock.
      const put: KeyedRow[] = [];
      const deleted: string[] = [];
      for (const [key, text] of wanted) {
        if (this.rows.get(key) !== text) put.push({ key, row: JSON.parse(text) as unknown });
      }
      for (const key of this.rows.keys()) if (!wanted.has(key)) deleted.push(key);
      const before = new Map(this.rows);
      const unusableBefore = new Set(this.unusable);
      for (const { key } of put) {
        this.rows.set(key, wanted.get(key)!);
        this.unusable.delete(key);
      }
      for (const key of deleted) this.rows.delete(key);
      return {
        result: undefined,
        change: { put: { [TABLE]: put }, delete: { [TABLE]: deleted } },
        revert: () => {
          this.rows = before;
          this.unusable = unusableBefore;
        },
      };
    }, fence);
  }

  /**
   * Resolves once the store confirms that this replica's lease holds (a fenced write that changes
   * nothing); rejects with FencedError when it does not, StoreUnavailableError when the store cannot answer.
   */
  confirmLeading(): Promise<void> {
    const fence = this.lease.fence;
    if (!fence) return Promise.reject(new FencedError('this replica does not lead'));
    return this.log.write(() => ({ result: undefined, change: {}, revert: () => undefined }), fence);
  }

  /** Whether a save or a route edit failed because this replica no longer leads. */
  isDeposed(err: unknown): boolean {
    return err instanceof FencedError;
  }

  /** `listener` is called after each change another replica made (and after a reload). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private differs(wanted: ReadonlyMap<string, string>): boolean {
    if ([...this.rows.keys()].some((key) => !wanted.has(key))) return true;
    for (const [key, text] of wanted) if (this.rows.get(key) !== text) return true;
    return false;
  }

  private take({ key, row }: KeyedRow): void {
    const why = this.problem(key, row);
    if (why !== undefined) {
      this.rows.delete(key);
      this.unusable.add(key);
      this.options.onBadRow?.(key, why);
      return;
    }
    this.unusable.delete(key);
    this.rows.set(key, canonicalJson(row));
  }

  private problem(key: string, row: unknown): string | undefined {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) return 'the row is not a JSON object';
    const { mesh, name } = row as Partial<MeshNamed>;
    if (typeof mesh !== 'string' || typeof name !== 'string') return 'the row has no mesh and name';
    if (keyOf({ mesh, name }) !== key) return `the row is of ${mesh}/${name}, not of its key`;
    return this.options.check?.(row);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

/** The replica that leads now, as the store knows it, with its admin address (for a command sent elsewhere). */
export async function currentLeader(
  lease: LeaderLease,
  pool: Pool,
): Promise<{ id: string; adminAddress?: string } | undefined> {
  const leader = await lease.current();
  if (!leader.live || leader.holder === null) return undefined;
  const row = (await listReplicas(pool)).find((r) => r.id === leader.holder);
  return { id: leader.holder, ...(row?.adminAddress ? { adminAddress: row.adminAddress } : {}) };
}
