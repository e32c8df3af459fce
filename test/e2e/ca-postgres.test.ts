// The CA state in PostgreSQL (PostgresCaStateStore, migration 2's meshd_ca table) on a real throwaway cluster:
// replicas that start together share one CA (the first insert wins, the others read it back); a rotation or a
// revocation by one replica is seen by another after reload(); updates are compare-and-set; with a key the row
// is encrypted, and a wrong key or an unencrypted row is refused.
import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { CertificateAuthority } from '../../src/ca/authority';
import { PostgresCaStateStore } from '../../src/ca/ca-state';
import { JoinTokens } from '../../src/ca/join-tokens';
import { migrate } from '../../src/store/postgres/schema';
import { opensslVerify } from '../helpers/ca';
import { describeWithPostgres, type PostgresCluster } from '../helpers/postgres';

const SPIFFE = 'spiffe://meshd.local/mesh/demo/virtualNode/web';

describeWithPostgres('the CA state in PostgreSQL', (pg) => {
  let cluster: PostgresCluster;
  const pools: Pool[] = [];
  const cas: CertificateAuthority[] = [];
  let n = 0;
  beforeAll(() => {
    cluster = pg();
  });
  afterEach(async () => {
    for (const ca of cas.splice(0)) ca.close();
    for (const pool of pools.splice(0)) await pool.end();
  });

  /** A fresh database with meshd's schema, and a pool per "replica". */
  async function database(): Promise<{ name: string; pool: () => Pool }> {
    const name = `ca_${++n}`;
    const url = await cluster.createDatabase(name);
    const pool = (): Pool => {
      const p = new Pool({ connectionString: url, max: 2 });
      pools.push(p);
      return p;
    };
    const client = await pool().connect();
    try {
      await migrate(client);
    } finally {
      client.release();
    }
    return { name, pool };
  }

  async function open(pool: Pool, key?: Buffer): Promise<CertificateAuthority> {
    const ca = await CertificateAuthority.open({
      store: new PostgresCaStateStore(pool, key ? { key, keyName: 'test.key' } : {}),
    });
    cas.push(ca);
    return ca;
  }

  it('replicas starting together share one CA, and see each other rotate and revoke', async () => {
    const db = await database();
    const replicas = await Promise.all([1, 2, 3, 4].map(() => open(db.pool())));
    const bundles = new Set(replicas.map((r) => r.trustBundlePem()));
    expect(bundles.size).toBe(1);
    const rows = await cluster.query<{ n: number }>('SELECT count(*)::int AS n FROM meshd_ca', [], db.name);
    expect(rows[0]!.n).toBe(1);
    const [a, b] = replicas as [CertificateAuthority, CertificateAuthority];
    const fromA = await a.issueWorkload({ spiffeId: SPIFFE });
    expect(opensslVerify(b.trustBundlePem(), fromA.certificateChainPem)).toBe('');
    // The row is not encrypted without a key: the state is readable JSON.
    const [stored] = await cluster.query<{ state: { roots: unknown[] } }>('SELECT state FROM meshd_ca', [], db.name);
    expect(stored!.state.roots).toHaveLength(1);

    let heard = 0;
    b.onChange(() => heard++);
    await a.rotate();
    await b.reload();
    expect(heard).toBe(1);
    expect(b.state().phase.phase).toBe('overlap');
    expect(b.trustBundlePem()).toBe(a.trustBundlePem());
    const fromB = await b.issueWorkload({ spiffeId: SPIFFE });
    expect(fromB.issuerFingerprint).toBe(a.state().issuer.fingerprint);

    const tokensA = new JoinTokens(a);
    const tokensB = new JoinTokens(b);
    const token = await tokensA.issue('mesh/demo/virtualNode/web');
    expect(await tokensB.verify(token.token)).toMatchObject({ nodeId: 'mesh/demo/virtualNode/web' });
    await tokensB.revoke(token.id, token.expiresAt);
    await a.reload();
    expect(await tokensA.verify(token.token)).toMatchObject({ error: 'revoked' });
  });

  it('two replicas changing the state at once both land (compare-and-set, retried on conflict)', async () => {
    const db = await database();
    const [a, b] = await Promise.all([open(db.pool()), open(db.pool())]);
    const tokensA = new JoinTokens(a);
    const tokensB = new JoinTokens(b);
    const issued = await Promise.all([1, 2, 3, 4, 5, 6].map(() => tokensA.issue('mesh/demo/virtualNode/web')));
    await Promise.all(issued.map((t, i) => (i % 2 ? tokensA : tokensB).revoke(t.id, t.expiresAt)));
    await a.reload();
    expect(new Set(tokensA.revoked().map((r) => r.id))).toEqual(new Set(issued.map((t) => t.id)));
    const store = new PostgresCaStateStore(db.pool());
    const { seq, state } = (await store.load())!;
    expect(await store.update(seq - 1, state)).toBeUndefined();
  });

  it('encrypts the row with the key file; a wrong key or no key is refused', async () => {
    const db = await database();
    const key = randomBytes(32);
    const ca = await open(db.pool(), key);
    const [row] = await cluster.query<{ state: Record<string, unknown> }>('SELECT state FROM meshd_ca', [], db.name);
    expect(Object.keys(row!.state)).toEqual(['encrypted']);
    expect(JSON.stringify(row!.state)).not.toMatch(/PRIVATE|CERTIFICATE/);
    const again = await open(db.pool(), key);
    expect(again.trustBundlePem()).toBe(ca.trustBundlePem());
    await expect(open(db.pool(), randomBytes(32))).rejects.toThrow(
      'cannot decrypt PostgreSQL table meshd_ca with test.key: wrong key or the file was modified',
    );
    await expect(open(db.pool())).rejects.toThrow(/the CA state is encrypted: give the key file with --ca-key-file/);
  });
});
