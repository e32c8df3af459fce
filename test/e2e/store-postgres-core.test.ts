// The PostgreSQL store's core (src/store/postgres/) against a real throwaway cluster: several in-process
// replicas on one database. Writes checked against each replica's state commit linearisably fleet-wide; a
// refused write changes nothing; a replica that missed notifications, or fell behind the pruned log, catches
// up exactly; a write during an outage fails cleanly and is undone in memory; migrations run once when
// replicas start together, and a newer schema is refused; the leader lease stands a cut-off leader down
// before another takes over, and a stale term's write is fenced off.
import { FencedError, openPostgresStore, StoreUnavailableError, type PostgresStore } from '../../src/store/postgres';
import { MIGRATIONS } from '../../src/store/postgres/schema';
import { describeWithPostgres, type PostgresCluster } from '../helpers/postgres';
import { MapFollower, noReplicaInfo, until } from '../helpers/store-follower';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

interface Replica {
  readonly store: PostgresStore;
  readonly view: MapFollower;
  readonly leadership: { leading: boolean; at: number }[];
}

describeWithPostgres('the PostgreSQL store core', (pg) => {
  let cluster: PostgresCluster;
  const open: Replica[] = [];
  let n = 0;
  beforeAll(() => {
    cluster = pg();
  });
  afterEach(async () => {
    for (const r of open.splice(0)) await r.store.close();
  });

  async function database(): Promise<string> {
    return cluster.createDatabase(`core_${++n}`);
  }

  async function replica(
    url: string,
    id: string,
    options: { leaseTtlMs?: number; keepChanges?: number; start?: boolean } = {},
  ): Promise<Replica> {
    const view = new MapFollower();
    const leadership: Replica['leadership'] = [];
    const store = await openPostgresStore({
      url,
      replicaId: id,
      replicaInfo: noReplicaInfo,
      leaseTtlMs: options.leaseTtlMs ?? 60_000,
      connection: { queryTimeoutMs: 2000, connectTimeoutMs: 1000 },
      changeLog: { pollMs: 200, ...(options.keepChanges !== undefined ? { keepChanges: options.keepChanges } : {}) },
      onLeadership: (leading) => leadership.push({ leading, at: performance.now() }),
    });
    store.log.follow(view);
    const r = { store, view, leadership };
    open.push(r);
    if (options.start !== false) await store.start();
    return r;
  }

  /** Adds one to the counter `n` as this replica sees it now: the write's check is its own state. */
  const increment = (r: Replica) =>
    r.store.log.write(() => {
      const before = (r.view.rows.get('n') as number | undefined) ?? 0;
      r.view.rows.set('n', before + 1);
      return {
        result: before + 1,
        change: { put: { rollouts: [{ key: 'n', row: before + 1 }] } },
        revert: () => r.view.rows.set('n', before),
      };
    });

  it('commits concurrent writes from three replicas one after another: each sees the one before', async () => {
    const url = await database();
    const replicas = await Promise.all(['a', 'b', 'c'].map((id) => replica(url, id)));
    const results = await Promise.all(Array.from({ length: 600 }, (_, i) => increment(replicas[i % 3]!)));
    // Linearisable: 600 increments give 1..600, each once, whichever replica made it.
    expect([...results].sort((x, y) => x - y)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    await until('every replica to see 600', () => replicas.every((r) => r.view.rows.get('n') === 600), 5000);
    const [row] = await cluster.query<{ row: number }>(
      "SELECT row FROM meshd_rollouts WHERE key = 'n'",
      [],
      `core_${n}`,
    );
    expect(row!.row).toBe(600);
    expect(replicas.map((r) => r.store.log.sequence)).toEqual([600, 600, 600]);
  });

  it('a refused write changes nothing, and the other writes of its batch still commit', async () => {
    const url = await database();
    const [a, b] = [await replica(url, 'a'), await replica(url, 'b')];
    const refused = a.store.log.write(() => {
      throw new Error('the name is taken');
    });
    const made = increment(a);
    await expect(refused).rejects.toThrow('the name is taken');
    await expect(made).resolves.toBe(1);
    await until('b to see the first write', () => b.view.rows.get('n') === 1, 5000);
    expect(a.store.log.sequence).toBe(1);
  });

  it('a replica whose connections were cut catches up on every change it missed, in order', async () => {
    const url = await database();
    const a = await replica(url, 'a');
    const b = await replica(url, 'b');
    await increment(a);
    await until('b to see the first write', () => b.view.rows.get('n') === 1, 5000);
    await cluster.terminateConnections('meshd b listen');
    await cluster.terminateConnections('meshd b');
    for (let i = 0; i < 20; i++) await increment(a);
    await until('b to catch up to 21', () => b.view.rows.get('n') === 21 && b.store.log.sequence === 21, 10_000);
    // Caught up from the log, not reloaded.
    expect(b.view.resets).toBe(1);
  });

  describe('through a TCP path the test can cut', () => {
    let proxy: TcpProxy;
    afterEach(async () => {
      await proxy?.close();
    });

    it('a replica cut off while the log was pruned past it reloads every table instead', async () => {
      const url = await database();
      proxy = await startTcpProxy('127.0.0.1', cluster.port);
      const a = await replica(url, 'a', { keepChanges: 10 });
      const b = await replica(url.replace(`:${cluster.port}/`, `:${proxy.port}/`), 'b');
      await increment(a);
      await until('b to see the first write', () => b.view.rows.get('n') === 1, 5000);
      proxy.cut();
      // Pruning runs every 1,000 writes, keeping the last 10.
      for (let i = 0; i < 1100; i++) void increment(a);
      await increment(a);
      await a.store.log.write(() => ({
        result: undefined,
        change: { delete: { rollouts: ['gone'] }, put: { rollouts: [{ key: 'x', row: 'y' }] } },
        revert: () => undefined,
      }));
      await until(
        'the log to be pruned past b',
        async () => {
          const [min] = await cluster.query<{ min: string }>(
            'SELECT min(seq) AS min FROM meshd_changes',
            [],
            `core_${n}`,
          );
          return Number(min!.min) > 2;
        },
        10_000,
      );
      proxy.restore();
      await until('b to reload past the horizon', () => b.view.rows.get('x') === 'y', 15_000);
      expect(b.view.rows.get('n')).toBe(1102);
      expect(b.view.resets).toBe(2);
    });

    it('a write during an outage fails with a clear error and is undone in memory; writes work again after', async () => {
      const url = await database();
      proxy = await startTcpProxy('127.0.0.1', cluster.port);
      const a = await replica(url.replace(`:${cluster.port}/`, `:${proxy.port}/`), 'a');
      await increment(a);
      proxy.blackhole();
      const write = increment(a);
      await expect(write).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(write).rejects.toThrow(/PostgreSQL/);
      expect(a.view.rows.get('n')).toBe(1);
      await until('a to notice the outage', () => !a.store.log.isHealthy, 10_000);
      proxy.restore();
      await until('a to reconnect', () => a.store.log.isHealthy, 10_000);
      await expect(increment(a)).resolves.toBe(2);
      const [row] = await cluster.query<{ row: number }>(
        "SELECT row FROM meshd_rollouts WHERE key = 'n'",
        [],
        `core_${n}`,
      );
      expect(row!.row).toBe(2);
    });

    it('a leader cut off stands down before another replica takes the lease over, and its old term is fenced off', async () => {
      const url = await database();
      proxy = await startTcpProxy('127.0.0.1', cluster.port);
      const a = await replica(url.replace(`:${cluster.port}/`, `:${proxy.port}/`), 'a', { leaseTtlMs: 1500 });
      await until('a to lead', () => a.store.lease.leading, 5000);
      const b = await replica(url, 'b', { leaseTtlMs: 1500 });
      const staleFence = a.store.lease.fence!;
      proxy.blackhole();
      await until('b to take over', () => b.store.lease.leading, 10_000);
      const aStoodDown = a.leadership.find((l) => !l.leading);
      const bTookOver = b.leadership.find((l) => l.leading);
      expect(aStoodDown).toBeDefined();
      expect(aStoodDown!.at).toBeLessThan(bTookOver!.at);
      expect(a.store.lease.leading).toBe(false);
      // A write carrying a's old term (a leader paused past its lease) is refused, even from a connected replica.
      await expect(
        b.store.log.write(
          () => ({ result: 1, change: { put: { rollouts: [{ key: 'step', row: 1 }] } }, revert: () => undefined }),
          staleFence,
        ),
      ).rejects.toBeInstanceOf(FencedError);
      const fence = b.store.lease.fence!;
      expect(fence.term).toBe(staleFence.term + 1);
      await expect(
        b.store.log.write(
          () => ({ result: 2, change: { put: { rollouts: [{ key: 'step', row: 2 }] } }, revert: () => undefined }),
          fence,
        ),
      ).resolves.toBe(2);
    });
  });

  it('a write holding a value the database cannot store is refused and undone in memory; the replica stays ready', async () => {
    const url = await database();
    const [a, b] = [await replica(url, 'a'), await replica(url, 'b')];
    await increment(a);
    // PostgreSQL's jsonb holds no U+0000: refused after the step changed memory, before the transaction is sent.
    const refused = a.store.log.write(() => {
      a.view.rows.set('n', 'bad\u0000');
      return {
        result: 0,
        change: { put: { rollouts: [{ key: 'n', row: 'bad\u0000' }] } },
        revert: () => a.view.rows.set('n', 1),
      };
    });
    await expect(refused).rejects.toThrow(
      /U\+0000 or an unpaired UTF-16 surrogate, which the store \(PostgreSQL\) cannot hold/,
    );
    expect(a.view.rows.get('n')).toBe(1);
    expect(a.store.log.isHealthy).toBe(true);
    await expect(increment(a)).resolves.toBe(2);
    await until('b to see the second write', () => b.view.rows.get('n') === 2, 5000);
  });

  it('replicas that start together migrate once; a schema newer than this meshd is refused', async () => {
    const url = await database();
    await Promise.all(['a', 'b', 'c'].map((id) => replica(url, id, { start: false })));
    const rows = await cluster.query<{ version: number }>(
      'SELECT version FROM meshd_schema_migrations',
      [],
      `core_${n}`,
    );
    expect(rows.map((r) => r.version).sort((a, b) => a - b)).toEqual(MIGRATIONS.map((m) => m.version));
    await cluster.query("INSERT INTO meshd_schema_migrations (version, name) VALUES (99, 'future')", [], `core_${n}`);
    await expect(replica(url, 'd')).rejects.toThrow(/newer than this meshd/);
  });

  it('refuses a URL that is not postgres://, without echoing its password', async () => {
    await expect(openPostgresStore({ url: 'mysql://u:secret@h/db', replicaInfo: noReplicaInfo })).rejects.toThrow(
      /postgres:\/\/ URL/,
    );
    await expect(
      openPostgresStore({
        url: 'postgres://u:secret@127.0.0.1:1/db',
        replicaInfo: noReplicaInfo,
        connection: { connectTimeoutMs: 500 },
      }),
    ).rejects.toThrow(/^cannot use the store postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/db: /);
  });
});
