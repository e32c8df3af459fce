// What the PostgreSQL store core's tests share: a replica's view of one keyed table as a Map (a Follower of the change
// log), the heartbeat's empty info, and waiting for a condition.
import type { Follower, KeyedRow, KeyedTable, TableChange } from '../../src/store/postgres';
import { waitFor } from './processes';

/** A replica's view of the `rollouts` table. It cannot take a row that is the string 'poison' (a hand-written row). */
export class MapFollower implements Follower {
  readonly tables: readonly KeyedTable[] = ['rollouts'];
  rows = new Map<string, unknown>();
  /** How many times the whole table was loaded (start, or past the log's horizon). */
  resets = 0;
  reset(rows: ReadonlyMap<KeyedTable, readonly KeyedRow[]>): void {
    this.resets++;
    this.rows = new Map((rows.get('rollouts') ?? []).map((r) => [r.key, r.row]));
  }
  apply(change: TableChange): void {
    for (const r of change.put?.rollouts ?? []) {
      if (r.row === 'poison') throw new Error('a row this follower cannot take');
      this.rows.set(r.key, r.row);
    }
    for (const k of change.delete?.rollouts ?? []) this.rows.delete(k);
  }
}

/** What a test replica's heartbeat reports. */
export const noReplicaInfo = () => ({ xdsAddress: '', adminAddress: '', meshHash: '', proxies: [], version: '' });

/** Waits until `condition` holds (waitFor wants a value, not a boolean). */
export const until = (what: string, condition: () => boolean | Promise<boolean>, ms: number) =>
  waitFor(what, async () => ((await condition()) ? true : undefined), ms);
