// The PostgreSQL store's core against hostile writes and hostile rows, on a real throwaway cluster: a value
// PostgreSQL cannot hold is refused alone (the other writes of its batch commit); a write the database itself refuses
// is undone in memory; a change row written by hand that a follower cannot take is passed over, and later changes
// still apply; the store's URL never shows a password, in its user part or in its parameters.
import { randomBytes } from 'node:crypto';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres';
import { UnstorableError } from '../../src/store/postgres/change-log';
import { redactedUrl } from '../../src/store/postgres/connect';
import { describeWithPostgres, type PostgresCluster } from '../helpers/postgres';
import { MapFollower, noReplicaInfo, until } from '../helpers/store-follower';

describeWithPostgres('the PostgreSQL store core against hostile writes and rows', (pg) => {
  let cluster: PostgresCluster;
  const open: PostgresStore[] = [];
  let n = 0;
  beforeAll(() => {
    cluster = pg();
  });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });

  async function replica(url: string, id: string, errors: string[] = []) {
    const view = new MapFollower();
    const store = await openPostgresStore({
      url,
      replicaId: id,
      replicaInfo: noReplicaInfo,
      changeLog: { pollMs: 200, onFollowerError: (m) => errors.push(m) },
    });
    store.log.follow(view);
    open.push(store);
    await store.start();
    return { store, view };
  }

  /** Puts `row` at `key`, in memory first (as a real step does), undoing it if asked. */
  const put = (r: { store: PostgresStore; view: MapFollower }, key: string, row: unknown) =>
    r.store.log.write(() => {
      const before = r.view.rows.get(key);
      r.view.rows.set(key, row);
      return {
        result: row,
        change: { put: { rollouts: [{ key, row }] } },
        revert: () => (before === undefined ? r.view.rows.delete(key) : r.view.rows.set(key, before)),
      };
    });

  it('a value PostgreSQL cannot hold is refused alone: the other writes of its batch commit', async () => {
    const url = await cluster.createDatabase(`hostile_${++n}`);
    const a = await replica(url, 'a');
    const b = await replica(url, 'b');
    const writes = [put(a, 'x', 1), put(a, 'nul', 'a\u0000b'), put(a, 'half', '\ud800'), put(a, 'y', 2)];
    const outcomes = await Promise.allSettled(writes);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    for (const o of [outcomes[1], outcomes[2]]) {
      expect((o as PromiseRejectedResult).reason).toBeInstanceOf(UnstorableError);
      expect(String((o as PromiseRejectedResult).reason)).toMatch(/U\+0000 or an unpaired UTF-16 surrogate/);
    }
    expect([...a.view.rows.keys()].sort()).toEqual(['x', 'y']);
    await until('b to see both writes', () => b.view.rows.get('x') === 1 && b.view.rows.get('y') === 2, 5000);
    expect(b.view.rows.has('nul')).toBe(false);
  });

  it('a write the database refuses (a key past its index limit) is undone in memory; the replica stays ready', async () => {
    const url = await cluster.createDatabase(`hostile_${++n}`);
    const a = await replica(url, 'a');
    await put(a, 'k', 1);
    // Random, so that compression cannot bring it under the B-tree's limit of about 2.7 KB.
    const long = randomBytes(6000).toString('hex');
    await expect(put(a, long, 2)).rejects.toThrow(/did not commit the write/);
    expect(a.view.rows.has(long)).toBe(false);
    expect(a.store.log.isHealthy).toBe(true);
    await expect(put(a, 'k', 3)).resolves.toBe(3);
  });

  it('a change row written by hand that a follower cannot take is reported and passed over; later changes apply', async () => {
    const url = await cluster.createDatabase(`hostile_${++n}`);
    const errors: string[] = [];
    const a = await replica(url, 'a', errors);
    const b = await replica(url, 'b');
    await put(b, 'before', 1);
    await until('a to see the first write', () => a.view.rows.get('before') === 1, 5000);
    // Someone with access to the database appends a change no follower can take.
    const db = `hostile_${n}`;
    await cluster.query(
      `WITH s AS (UPDATE meshd_sequence SET seq = seq + 1 WHERE id = 1 RETURNING seq)
       INSERT INTO meshd_changes (seq, replica, change)
       SELECT seq, 'intruder', '{"put":{"rollouts":[{"key":"p","row":"poison"}]}}'::jsonb FROM s`,
      [],
      db,
    );
    await put(b, 'after', 2);
    await until('a to apply the change after the bad one', () => a.view.rows.get('after') === 2, 10_000);
    expect(
      errors.some((e) => /could not be applied and was passed over: a row this follower cannot take/.test(e)),
    ).toBe(true);
    expect(a.store.log.sequence).toBe(b.store.log.sequence);
  });

  it('never shows a password: not the user part, not a parameter', () => {
    expect(redactedUrl('postgres://meshd:s3cret@db:5432/meshd')).toBe('postgres://meshd:***@db:5432/meshd');
    const shown = redactedUrl('postgres://meshd@db/meshd?password=s3cret&sslpassword=k3y&sslmode=require');
    expect(shown).not.toMatch(/s3cret|k3y/);
    expect(shown).toMatch(/sslmode=require/);
  });
});
