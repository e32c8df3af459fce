// The Cloud Map registry shared by a fleet through a real PostgreSQL (test/helpers/postgres.ts): three replicas in
// this process (three stores on one database, three registries), answering real AWS JSON requests through the
// shared handler. Every acknowledged write reaches every replica; AWS's checks hold fleet-wide; a write the store
// cannot take is answered with a clear error and leaves nothing behind, in memory or in the database; a replica cut
// off catches up exactly, through the log or, past its horizon, by reloading; listeners hear other replicas' writes.
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import { TARGET_PREFIX, type ApiAnswer } from '../../src/discovery/cloud-map/api';
import type { RefusalReason } from '../../src/discovery/cloud-map/errors';
import { cloudMapHandler } from '../../src/discovery/cloud-map/http';
import type { RegistryState } from '../../src/discovery/cloud-map/records';
import { serviceKey } from '../../src/discovery/cloud-map/registry';
import { followCloudMap, type SharedCloudMap } from '../../src/store/postgres/cloud-map';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres';
import { describeWithPostgres, type PostgresCluster } from '../helpers/postgres';
import { waitFor } from '../helpers/processes';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

interface Replica {
  readonly id: string;
  readonly store: PostgresStore;
  readonly shared: SharedCloudMap;
  readonly answer: (request: Parameters<ReturnType<SharedCloudMap['handler']>>[0]) => Promise<ApiAnswer>;
  readonly failures: string[];
  /** Every set of changed (namespace, service) keys its registry announced. */
  readonly heard: string[][];
}

const replicaInfo = () => ({ xdsAddress: '-', adminAddress: '-', meshHash: '-', proxies: [], version: 'test' });

let databases = 0;

async function openReplica(
  url: string,
  id: string,
  changeLog: { keepChanges?: number } = {},
  connectionUrl = url,
): Promise<Replica> {
  const store = await openPostgresStore({
    url: connectionUrl,
    replicaId: id,
    replicaInfo,
    leaseTtlMs: 2000,
    changeLog: { pollMs: 200, ...changeLog },
  });
  const shared = followCloudMap(store);
  const failures: string[] = [];
  const heard: string[][] = [];
  shared.registry.onChange((changed) => heard.push([...changed]));
  await store.start();
  return { id, store, shared, answer: shared.handler({ onFailure: (m) => failures.push(m) }), failures, heard };
}

async function fleet(cluster: PostgresCluster, n = 3): Promise<{ url: string; replicas: Replica[] }> {
  const url = await cluster.createDatabase(`cloud_map_${++databases}`);
  const replicas: Replica[] = [];
  // Ids unique to the test: terminateConnections goes by application name, cluster-wide.
  for (let i = 0; i < n; i++)
    replicas.push(await openReplica(url, `replica-${databases}${String.fromCharCode(97 + i)}`));
  return { url, replicas };
}

function call(replica: Replica, operation: string, input: unknown): Promise<ApiAnswer> {
  return replica.answer({
    method: 'POST',
    path: '/',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `${TARGET_PREFIX}${operation}` },
    body: Buffer.from(JSON.stringify(input)),
  });
}

async function ok(replica: Replica, operation: string, input: unknown): Promise<Record<string, unknown>> {
  const answer = await call(replica, operation, input);
  if (answer.status !== 200) throw new Error(`${operation} on ${replica.id}: ${JSON.stringify(answer)}`);
  return answer.body;
}

/** A namespace and a service (with a custom health check) made on `replica`; the service's id. */
async function service(replica: Replica, namespace = 'apps.local', name = 'orders'): Promise<string> {
  const created = await ok(replica, 'CreateHttpNamespace', { Name: namespace });
  const op = await ok(replica, 'GetOperation', { OperationId: created.OperationId });
  const namespaceId = (op.Operation as { Targets: { NAMESPACE: string } }).Targets.NAMESPACE;
  const made = await ok(replica, 'CreateService', {
    Name: name,
    NamespaceId: namespaceId,
    HealthCheckCustomConfig: {},
  });
  return (made.Service as { Id: string }).Id;
}

const registration = (serviceId: string, i: number, extra: Record<string, string> = {}) => ({
  ServiceId: serviceId,
  InstanceId: `i-${i}`,
  Attributes: { AWS_INSTANCE_IPV4: `10.1.${i >> 8}.${i & 255}`, AWS_INSTANCE_PORT: '8080', ...extra },
});

/** What a replica holds, comparable across replicas (operations as a set: their order is the registry's own). */
function held(replica: Replica): RegistryState {
  const state = replica.shared.registry.state();
  return { ...state, operations: [...state.operations].sort((a, b) => (a.id < b.id ? -1 : 1)) };
}

/** Every replica has applied everything committed so far. */
async function settled(replicas: readonly Replica[]): Promise<void> {
  await Promise.all(replicas.map((r) => r.store.log.catchUp()));
  const top = Math.max(...replicas.map((r) => r.store.log.sequence));
  await waitFor('every replica at the same sequence', () =>
    replicas.every((r) => r.store.log.sequence === top) ? true : undefined,
  );
}

async function instancesInDatabase(cluster: PostgresCluster, url: string): Promise<string[]> {
  const database = new URL(url).pathname.slice(1);
  const rows = await cluster.query<{ id: string }>(
    "SELECT row->>'id' AS id FROM meshd_cloud_map_instances ORDER BY 1",
    [],
    database,
  );
  return rows.map((r) => r.id);
}

describeWithPostgres('the Cloud Map registry shared through PostgreSQL', (cluster) => {
  let open: Replica[] = [];
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(open.map((r) => r.store.close()));
    for (const close of closers.splice(0)) await close();
    open = [];
  });

  it('100 concurrent registrations spread over three replicas: every acknowledged one is on all three', async () => {
    const { url, replicas } = await fleet(cluster());
    open = replicas;
    const [a, b] = replicas as [Replica, Replica, Replica];
    const serviceId = await service(a);
    await settled(replicas);
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) => call(replicas[i % 3]!, 'RegisterInstance', registration(serviceId, i))),
    );
    const acknowledged = answers.flatMap((answer, i) => (answer.status === 200 ? [`i-${i}`] : []));
    expect(answers.filter((x) => x.status !== 200)).toEqual([]);
    expect(acknowledged).toHaveLength(100);
    await settled(replicas);
    for (const replica of replicas) {
      const ids = replica.shared.registry.instances(serviceId).map((i) => i.id);
      expect(ids.sort()).toEqual([...acknowledged].sort());
    }
    // The same registry everywhere, and in the database.
    expect(held(b)).toEqual(held(a));
    expect(held(replicas[2]!)).toEqual(held(a));
    expect(await instancesInDatabase(cluster(), url)).toEqual([...acknowledged].sort());
    // Every replica's proxies follow: each one's listeners heard the service (its own writes or the others').
    for (const replica of replicas) expect(replica.heard.flat()).toContain(serviceKey('apps.local', 'orders'));
    // A read on any replica sees every registration.
    const discovered = await ok(replicas[2]!, 'DiscoverInstances', {
      NamespaceName: 'apps.local',
      ServiceName: 'orders',
      MaxResults: 1000,
    });
    expect(discovered.Instances).toHaveLength(100);
  });

  it("a listener on replica B hears the (namespace, service) of a registration made on replica A, and B's reads see it", async () => {
    const { replicas } = await fleet(cluster(), 2);
    open = replicas;
    const [a, b] = replicas as [Replica, Replica];
    const serviceId = await service(a, 'shop.local', 'cart');
    await settled(replicas);
    b.heard.length = 0;
    await ok(a, 'RegisterInstance', registration(serviceId, 7));
    await waitFor('B hearing the registration', () => (b.heard.length > 0 ? true : undefined));
    expect(b.heard).toEqual([[serviceKey('shop.local', 'cart')]]);
    expect(b.shared.registry.discover('shop.local', 'cart')?.map((i) => i.id)).toEqual(['i-7']);
    // A deregistration too, and a health change.
    await ok(a, 'UpdateInstanceCustomHealthStatus', { ServiceId: serviceId, InstanceId: 'i-7', Status: 'UNHEALTHY' });
    await waitFor('B seeing the health', () =>
      b.shared.registry.discover('shop.local', 'cart')?.[0]?.health === 'UNHEALTHY' ? true : undefined,
    );
    await ok(a, 'DeregisterInstance', { ServiceId: serviceId, InstanceId: 'i-7' });
    await waitFor('B seeing the deregistration', () =>
      b.shared.registry.discover('shop.local', 'cart')?.length === 0 ? true : undefined,
    );
    expect(b.heard).toEqual([
      [serviceKey('shop.local', 'cart')],
      [serviceKey('shop.local', 'cart')],
      [serviceKey('shop.local', 'cart')],
    ]);
  });

  it('CreateService of one name on two replicas at once: exactly one succeeds, the other is ServiceAlreadyExists', async () => {
    const { replicas } = await fleet(cluster());
    open = replicas;
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const created = await ok(a, 'CreateHttpNamespace', { Name: 'race.local' });
    const op = await ok(a, 'GetOperation', { OperationId: created.OperationId });
    const namespaceId = (op.Operation as { Targets: { NAMESPACE: string } }).Targets.NAMESPACE;
    await settled(replicas);
    for (let round = 0; round < 5; round++) {
      const name = `svc-${round}`;
      const answers = await Promise.all([
        call(b, 'CreateService', { Name: name, NamespaceId: namespaceId }),
        call(c, 'CreateService', { Name: name, NamespaceId: namespaceId }),
      ]);
      expect(answers.map((x) => x.status).sort()).toEqual([200, 400]);
      const refused = answers.find((x) => x.status === 400)!;
      const winner = answers.find((x) => x.status === 200)!;
      expect(refused.body.__type).toBe('ServiceAlreadyExists');
      expect(refused.body.ServiceId).toBe((winner.body.Service as { Id: string }).Id);
    }
    await settled(replicas);
    for (const replica of replicas)
      expect(replica.shared.registry.services().map((s) => s.name)).toEqual([0, 1, 2, 3, 4].map((r) => `svc-${r}`));
    // Namespaces too: one name, one namespace.
    const again = await Promise.all([
      call(a, 'CreateHttpNamespace', { Name: 'twice.local' }),
      call(b, 'CreateHttpNamespace', { Name: 'twice.local' }),
    ]);
    expect(again.map((x) => x.status).sort()).toEqual([200, 400]);
  });

  it('a write during a PostgreSQL outage fails with a clear error and is nowhere afterwards; reads still answer; writes recover', async () => {
    const { url, replicas } = await fleet(cluster());
    open = replicas;
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const serviceId = await service(a);
    await ok(b, 'RegisterInstance', registration(serviceId, 1));
    await settled(replicas);
    const before = held(a);
    a.heard.length = 0;

    await cluster().stopServer();
    try {
      const answer = await call(a, 'RegisterInstance', registration(serviceId, 2));
      expect(answer.status).toBe(503);
      expect(answer.body.__type).toBe('ServiceUnavailable');
      expect(answer.body.Message).toMatch(/store \(PostgreSQL\).*nothing changed/);
      expect(a.failures.at(-1)).toMatch(/PostgreSQL/);
      expect(held(a)).toEqual(before);
      expect(a.shared.registry.discover('apps.local', 'orders')?.map((i) => i.id)).toEqual(['i-1']);
      // Reads are answered from memory: no lock, no database.
      const listed = await ok(c, 'ListInstances', { ServiceId: serviceId });
      expect(listed.Instances).toEqual([{ Id: 'i-1', Attributes: expect.any(Object) }]);
      const discovered = await ok(a, 'DiscoverInstances', { NamespaceName: 'apps.local', ServiceName: 'orders' });
      expect(discovered.Instances).toHaveLength(1);
      // A target that names no operation is the caller's mistake, whatever the store's state.
      expect((await call(b, 'RegisterInstances', {})).body.__type).toBe('UnknownOperationException');
    } finally {
      await cluster().startServer();
    }
    // Recovered: the same registration is now taken (the pool's connections were cut, so the first may still fail).
    await waitFor(
      'a write after the restart',
      async () => ((await call(a, 'RegisterInstance', registration(serviceId, 3))).status === 200 ? true : undefined),
      20000,
      200,
    );
    await settled(replicas);
    expect(await instancesInDatabase(cluster(), url)).toEqual(['i-1', 'i-3']);
    for (const replica of replicas)
      expect(replica.shared.registry.instances(serviceId).map((i) => i.id)).toEqual(['i-1', 'i-3']);
  });

  it('a transaction PostgreSQL refuses after the write ran in memory: the registry is exactly as before and listeners hear the revert', async () => {
    const { url, replicas } = await fleet(cluster(), 2);
    open = replicas;
    const [a, b] = replicas as [Replica, Replica];
    const serviceId = await service(a);
    await ok(a, 'RegisterInstance', registration(serviceId, 1));
    await settled(replicas);
    // A real refusal at commit time: a trigger that rejects one instance's row.
    const database = new URL(url).pathname.slice(1);
    await cluster().query(
      `CREATE FUNCTION refuse_doomed() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN IF NEW.row->>'id' = 'i-666' THEN RAISE EXCEPTION 'the test refuses i-666'; END IF; RETURN NEW; END $$`,
      [],
      database,
    );
    await cluster().query(
      'CREATE TRIGGER refuse_doomed BEFORE INSERT OR UPDATE ON meshd_cloud_map_instances FOR EACH ROW EXECUTE FUNCTION refuse_doomed()',
      [],
      database,
    );
    const before = held(a);
    a.heard.length = 0;
    const answer = await call(a, 'RegisterInstance', registration(serviceId, 666));
    expect(answer.status).toBe(503);
    expect(answer.body.Message).toMatch(/the test refuses i-666/);
    expect(held(a)).toEqual(before);
    // The registration was announced, then its undo: proxies that were sent i-666 are sent the registry without it.
    expect(a.heard).toEqual([[serviceKey('apps.local', 'orders')], [serviceKey('apps.local', 'orders')]]);
    expect(a.shared.registry.discover('apps.local', 'orders')?.map((i) => i.id)).toEqual(['i-1']);
    // The next write is made against the registry as it was (the revision did not move on).
    await ok(a, 'RegisterInstance', registration(serviceId, 2));
    await settled(replicas);
    expect(held(b)).toEqual(held(a));
    expect(await instancesInDatabase(cluster(), url)).toEqual(['i-1', 'i-2']);
  });

  it('a value PostgreSQL cannot hold (U+0000) is refused alone; the writes it shares a batch with are made', async () => {
    const { url, replicas } = await fleet(cluster(), 2);
    open = replicas;
    const [a, b] = replicas as [Replica, Replica];
    const serviceId = await service(a);
    await settled(replicas);
    const answers = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => call(a, 'RegisterInstance', registration(serviceId, i))),
      call(a, 'RegisterInstance', { ...registration(serviceId, 99), CreatorRequestId: 'bad\u0000id' }),
      call(a, 'CreateService', { Name: 'other', NamespaceId: 'ns-x', Description: 'half \ud800 a pair' }),
    ]);
    expect(answers.slice(0, 20).map((x) => x.status)).toEqual(Array(20).fill(200));
    expect(answers[20]).toMatchObject({
      status: 400,
      body: {
        __type: 'InvalidInput',
        Message: expect.stringMatching(/"CreatorRequestId" holds the character U\+0000/),
      },
    });
    expect(answers[21]).toMatchObject({ status: 400, body: { Message: expect.stringMatching(/"Description"/) } });
    // A body nesting arrays 200,000 deep (under the 1 MiB limit) is answered as the file mode answers it, not a 500.
    const deep = `{"ServiceId":"${serviceId}","InstanceId":"deep","Attributes":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
    const nested = await a.answer({
      method: 'POST',
      path: '/',
      headers: { 'x-amz-target': `${TARGET_PREFIX}RegisterInstance` },
      body: Buffer.from(deep),
    });
    expect(nested).toMatchObject({
      status: 400,
      body: {
        __type: 'SerializationException',
        Message: expect.stringMatching(
          /^Attributes must be a map of strings, got \[\.\.\.\] \(an array nested too deep/,
        ),
      },
    });
    expect(a.failures).toEqual([]);
    const fileMode = cloudMapHandler(a.shared.registry, { onFailure: () => undefined });
    expect(
      fileMode({
        method: 'POST',
        path: '/',
        headers: { 'x-amz-target': `${TARGET_PREFIX}RegisterInstance` },
        body: Buffer.from(deep),
      }),
    ).toEqual(nested);
    await settled(replicas);
    expect((await instancesInDatabase(cluster(), url)).length).toBe(20);
    expect(held(b)).toEqual(held(a));
  });

  it('a replica whose connections were terminated catches up exactly', async () => {
    const { url, replicas } = await fleet(cluster());
    open = replicas;
    const [a, b, c] = replicas as [Replica, Replica, Replica];
    const serviceId = await service(a);
    await Promise.all(Array.from({ length: 30 }, (_, i) => call(b, 'RegisterInstance', registration(serviceId, i))));
    await settled(replicas);
    expect(await cluster().terminateConnections(`meshd ${c.id} listen`)).toBe(1);
    await cluster().terminateConnections(`meshd ${c.id}`);
    // Changes of every kind while C reconnects: registrations, deregistrations, health, a new service.
    await Promise.all([
      ...Array.from({ length: 30 }, (_, i) => call(a, 'RegisterInstance', registration(serviceId, 100 + i))),
      ...Array.from({ length: 10 }, (_, i) =>
        call(b, 'DeregisterInstance', { ServiceId: serviceId, InstanceId: `i-${i}` }),
      ),
      call(a, 'UpdateInstanceCustomHealthStatus', { ServiceId: serviceId, InstanceId: 'i-20', Status: 'UNHEALTHY' }),
      call(b, 'CreateService', { Name: 'late', NamespaceId: a.shared.registry.namespaces()[0]!.id }),
    ]);
    await settled(replicas);
    expect(held(c)).toEqual(held(a));
    expect(held(b)).toEqual(held(a));
    expect(c.shared.registry.instances(serviceId)).toHaveLength(50);
    expect(await instancesInDatabase(cluster(), url)).toHaveLength(50);
    // And C writes again.
    await ok(c, 'RegisterInstance', registration(serviceId, 500));
    await settled(replicas);
    expect(held(a)).toEqual(held(c));
  });

  it('a replica cut off past the log horizon reloads the tables: exactly the fleet, and its listeners hear what changed', async () => {
    const url = await cluster().createDatabase(`cloud_map_${++databases}`);
    const proxy: TcpProxy = await startTcpProxy('127.0.0.1', cluster().port);
    closers.push(() => proxy.close());
    const viaProxy = url.replace(`:${cluster().port}/`, `:${proxy.port}/`);
    const a = await openReplica(url, `replica-${databases}a`, { keepChanges: 10 });
    const c = await openReplica(url, `replica-${databases}c`, {}, viaProxy);
    open = [a, c];
    const serviceId = await service(a);
    const other = await service(a, 'quiet.local', 'idle');
    await ok(a, 'RegisterInstance', registration(other, 1));
    await ok(a, 'RegisterInstance', registration(serviceId, 1));
    await settled(open);
    proxy.cut();
    // More than a thousand changes: A prunes its log to the last ten, so C cannot read what it missed.
    for (let round = 0; round < 11; round++)
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          call(a, 'RegisterInstance', registration(serviceId, 1000 + round * 100 + i)),
        ),
      );
    await ok(a, 'DeregisterInstance', { ServiceId: serviceId, InstanceId: 'i-1' });
    const database = new URL(url).pathname.slice(1);
    await waitFor('the log pruned', async () => {
      const rows = await cluster().query<{ n: string }>('SELECT min(seq) AS n FROM meshd_changes', [], database);
      return Number(rows[0]!.n) > c.store.log.sequence + 1 ? true : undefined;
    });
    c.heard.length = 0;
    proxy.restore();
    await waitFor('C caught up', () => (c.store.log.sequence === a.store.log.sequence ? true : undefined), 20000);
    expect(held(c)).toEqual(held(a));
    expect(c.shared.registry.instances(serviceId)).toHaveLength(1100);
    // The reload announced the service whose instances changed, not the one that did not.
    expect(c.heard.flat()).toContain(serviceKey('apps.local', 'orders'));
    expect(c.heard.flat()).not.toContain(serviceKey('quiet.local', 'idle'));
  });

  it('signatures are checked as in the file mode: a refused request is counted and writes nothing; a signed one is made', async () => {
    const { url, replicas } = await fleet(cluster(), 1);
    open = replicas;
    const credentials = { accessKeyId: 'AKIDMESHDFLEET', secretAccessKey: 'fleet/secret/key/for/the/test/only' };
    const refused: RefusalReason[] = [];
    const answer = replicas[0]!.shared.handler({
      credentials,
      onFailure: () => undefined,
      onRefused: (r) => refused.push(r),
    });
    const signed = async (operation: string, input: unknown, secretAccessKey = credentials.secretAccessKey) => {
      const body = JSON.stringify(input);
      const request = await new SignatureV4({
        service: 'servicediscovery',
        region: 'us-east-1',
        credentials: { ...credentials, secretAccessKey },
        sha256: Hash.bind(null, 'sha256'),
      }).sign({
        method: 'POST',
        protocol: 'http:',
        hostname: '127.0.0.1',
        path: '/',
        headers: {
          host: '127.0.0.1',
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': `${TARGET_PREFIX}${operation}`,
        },
        body,
      });
      const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v]));
      return answer({ method: 'POST', path: '/', headers, body: Buffer.from(body) });
    };
    const unsigned = await answer({
      method: 'POST',
      path: '/',
      headers: { 'x-amz-target': `${TARGET_PREFIX}CreateHttpNamespace` },
      body: Buffer.from(JSON.stringify({ Name: 'unsigned.local' })),
    });
    expect(unsigned).toMatchObject({ status: 403, body: { __type: 'MissingAuthenticationTokenException' } });
    const forged = await signed('CreateHttpNamespace', { Name: 'forged.local' }, 'not-the-secret');
    expect(forged.status).toBe(400);
    expect(refused).toEqual(['signature', 'signature']);
    expect((await signed('CreateHttpNamespace', { Name: 'signed.local' })).status).toBe(200);
    const database = new URL(url).pathname.slice(1);
    const names = await cluster().query<{ name: string }>(
      "SELECT row->>'name' AS name FROM meshd_cloud_map_namespaces",
      [],
      database,
    );
    expect(names).toEqual([{ name: 'signed.local' }]);
  });

  it('a replica that takes the lead applies the seeds it was last given (its first load came before the lease)', async () => {
    const { replicas } = await fleet(cluster());
    open = replicas;
    const leader = await waitFor('a leader', () => replicas.find((r) => r.store.lease.leading), 10000);
    const others = replicas.filter((r) => r !== leader);
    const seeds = (ids: string[]) => [
      {
        namespace: 'files.local',
        service: 'ledger',
        instances: ids.map((id, i) => ({ id, attributes: { AWS_INSTANCE_IPV4: `10.8.0.${i + 1}` } })),
      },
    ];
    expect(await leader.shared.applySeeds(seeds(['l-1']))).toMatchObject({ outcome: 'applied', registered: 1 });
    // The others' files declare another instance: not theirs to apply while they do not lead.
    for (const r of others) expect(await r.shared.applySeeds(seeds(['l-1', 'l-2']))).toEqual({ outcome: 'not-leader' });
    expect(await others[0]!.shared.leadershipGained()).toEqual({ outcome: 'not-leader' });
    // The leader stops (its lease is given up): another takes the lead and applies its own files' seeds.
    await leader.store.close();
    open = others;
    const next = await waitFor('a new leader', () => others.find((r) => r.store.lease.leading), 10000);
    expect(await next.shared.leadershipGained()).toEqual({ outcome: 'applied', registered: 1, deregistered: 0 });
    await settled(others);
    for (const r of others)
      expect(r.shared.registry.discover('files.local', 'ledger')?.map((i) => i.id)).toEqual(['l-1', 'l-2']);
    // A replica given no seeds yet has nothing to apply.
    const fresh = await openReplica(
      await cluster().createDatabase(`cloud_map_${++databases}`),
      `replica-${databases}z`,
    );
    open = [...others, fresh];
    expect(await fresh.shared.leadershipGained()).toBeUndefined();
  });

  it("the mesh files' instances are applied once for the fleet, by the leader; a direct write to a shared registry is refused", async () => {
    const { url, replicas } = await fleet(cluster());
    open = replicas;
    // A name with what the stored keys escape ('%', and '%00', the escape of the key's separator).
    const FILES = 'files%00%.local';
    const leader = await waitFor('a leader', () => replicas.find((r) => r.store.lease.leading), 10000);
    const follower = replicas.find((r) => r !== leader)!;
    const seeds = [
      {
        namespace: FILES,
        service: 'billing',
        instances: [
          { id: 'seed-1', attributes: { AWS_INSTANCE_IPV4: '10.9.0.1', AWS_INSTANCE_PORT: '80' } },
          { id: 'seed-2', attributes: { AWS_INSTANCE_IPV4: '10.9.0.2', AWS_INSTANCE_PORT: '80' } },
        ],
      },
    ];
    expect(await follower.shared.applySeeds(seeds)).toEqual({ outcome: 'not-leader' });
    await settled(replicas);
    expect(follower.shared.registry.namespaceNamed(FILES)).toBeUndefined();
    expect(await leader.shared.applySeeds(seeds)).toEqual({ outcome: 'applied', registered: 2, deregistered: 0 });
    await settled(replicas);
    for (const replica of replicas)
      expect(replica.shared.registry.discover(FILES, 'billing')?.map((i) => i.id)).toEqual(['seed-1', 'seed-2']);
    // Unchanged seeds change nothing; a dropped one is deregistered fleet-wide.
    expect(await leader.shared.applySeeds(seeds)).toEqual({ outcome: 'applied', registered: 0, deregistered: 0 });
    expect(await leader.shared.applySeeds([{ ...seeds[0]!, instances: seeds[0]!.instances.slice(0, 1) }])).toEqual({
      outcome: 'applied',
      registered: 0,
      deregistered: 1,
    });
    await settled(replicas);
    for (const replica of replicas)
      expect(replica.shared.registry.discover(FILES, 'billing')?.map((i) => i.id)).toEqual(['seed-1']);
    expect(await instancesInDatabase(cluster(), url)).toEqual(['seed-1']);
    for (const replica of replicas) expect(held(replica)).toEqual(held(leader));
    // The registry's own write methods would bypass the fleet: refused, and nothing changes.
    const serviceId = follower.shared.registry.serviceNamed(
      follower.shared.registry.namespaceNamed(FILES)!.id,
      'billing',
    )!.id;
    expect(() => follower.shared.registry.deregisterInstance(serviceId, 'seed-1')).toThrow(
      /changes only through the store/,
    );
    expect(follower.shared.registry.discover(FILES, 'billing')).toHaveLength(1);
  });
});
