// A fleet of three real meshd replicas on one real PostgreSQL, with real Envoys that know every
// replica's address (issue 25). Each replica reaches the database through its own TCP proxy, so
// one replica can be partitioned from it.
//
// - A replica dies: SIGKILL the one holding the most proxies during ~200 requests/s through
//   them: no request fails, every proxy is SYNCED on a survivor within 5 s, and the survivors
//   send nothing new (content-hash versions).
// - PostgreSQL restarts: proxies keep their configuration and traffic flows; replicas report
//   not ready, then ready again by themselves.
// - A partition: one replica's path to PostgreSQL is blackholed: it stops leading, reports not
//   ready, and keeps serving its proxies their last good configuration.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  AppMeshClient,
  AppMeshServiceException,
  CreateRouteCommand,
  DescribeRouteCommand,
  UpdateRouteCommand,
} from '@aws-sdk/client-app-mesh';
import { RegisterInstanceCommand, ServiceDiscoveryClient } from '@aws-sdk/client-servicediscovery';
import { describeWithEnvoy, type RunningEnvoy } from '../helpers/envoy';
import { withIfMatch } from '../helpers/meshd-api';
import {
  proxiesOn,
  pushesSent,
  readiness,
  startFleet,
  startFleetEnvoy,
  syncedOn,
  type Fleet,
  type FleetReplica,
} from '../helpers/fleet';
import { startPostgres, postgresUnavailable, type PostgresCluster } from '../helpers/postgres';
import { freePorts, getOk, httpGet, startNamedUpstream, tmpDir, waitFor } from '../helpers/processes';

const SERVICE = 'backend.fleet.local';
/** Routed by a route the test creates through the App Mesh API, to the Cloud Map node and the backend. */
const ROUTED = 'routed.fleet.local';
/** Routed by the route a canary rollout steps. */
const ROLLED = 'rolled.fleet.local';
const CLIENTS = 6;
/** The brief's bound: a proxy whose replica dies is SYNCED on another within 5 s. */
const FAILOVER_MS = 5000;
const nodeIdOf = (i: number) => `mesh/fleet/virtualNode/client-${i}`;

/** A canary rollout of the route `rolled/main` from backend to canary: 20 % steps every 2 s up to 60 %, then 100 %. */
const ROLLOUT = `---
kind: Rollout
mesh: fleet
name: rolled
spec:
  route: { virtualRouter: rolled, name: main }
  primary: backend
  canary: canary
  analysis:
    interval: 2s
    stepWeight: 20
    maxWeight: 60
    threshold: 3
    minRequests: 5
    metrics:
      - name: request-success-rate
        thresholdRange: { min: 95 }
`;

function meshYaml(backendPort: number, canaryPort = backendPort): string {
  const clients = Array.from(
    { length: CLIENTS },
    (_, i) => `---
kind: VirtualNode
mesh: fleet
name: client-${i}
spec:
  backends:
    - { virtualService: { virtualServiceName: ${SERVICE} } }
    - { virtualService: { virtualServiceName: ${ROUTED} } }
    - { virtualService: { virtualServiceName: ${ROLLED} } }
`,
  ).join('');
  return `kind: Mesh
name: fleet
${clients}---
kind: VirtualNode
mesh: fleet
name: backend
spec:
  listeners: [{ portMapping: { port: ${backendPort}, protocol: http } }]
  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }
---
kind: VirtualService
mesh: fleet
name: ${SERVICE}
spec:
  provider: { virtualNode: { virtualNodeName: backend } }
---
kind: VirtualNode
mesh: fleet
name: registered
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
  serviceDiscovery: { awsCloudMap: { namespaceName: fleet.local, serviceName: registered } }
---
kind: CloudMapService
namespace: fleet.local
name: registered
instances:
  - id: seed-1
    attributes: { AWS_INSTANCE_IPV4: 127.0.0.1, AWS_INSTANCE_PORT: ${backendPort} }
---
kind: VirtualRouter
mesh: fleet
name: router
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
---
kind: VirtualService
mesh: fleet
name: ${ROUTED}
spec:
  provider: { virtualRouter: { virtualRouterName: router } }
---
kind: VirtualNode
mesh: fleet
name: canary
spec:
  listeners: [{ portMapping: { port: ${canaryPort}, protocol: http } }]
  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }
---
kind: VirtualRouter
mesh: fleet
name: rolled
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
---
kind: Route
mesh: fleet
virtualRouter: rolled
name: main
spec:
  httpRoute:
    match: { prefix: / }
    action:
      weightedTargets:
        - { virtualNode: backend, weight: 100 }
        - { virtualNode: canary, weight: 0 }
---
kind: VirtualService
mesh: fleet
name: ${ROLLED}
spec:
  provider: { virtualRouter: { virtualRouterName: rolled } }
`;
}

interface Client {
  readonly nodeId: string;
  readonly envoy: RunningEnvoy;
  readonly egress: number;
}

/**
 * Traffic loops not yet stopped: afterEach stops them, so that a test failing before its own `stop()` does not leave
 * them running (they would keep jest from exiting after the run).
 */
const runningTraffic = new Set<{ stop(): Promise<void> }>();

/** Requests through every client's Envoy to `service`, about `perSecond` in all, until stopped; failures are kept. */
function trafficLoop(clients: readonly Client[], perSecond: number, service = SERVICE, answers = ['backend']) {
  const counts = { ok: 0, failed: 0 };
  const failures: string[] = [];
  let stop = false;
  const gapMs = (1000 * clients.length) / perSecond;
  const loops = clients.map(async (c) => {
    while (!stop) {
      const started = Date.now();
      const r = await httpGet(c.egress, service).catch((err: Error) => ({ status: 0, body: err.message }));
      if (r.status === 200 && answers.includes(r.body)) counts.ok++;
      else {
        counts.failed++;
        if (failures.length < 10) failures.push(`${c.nodeId}: ${r.status} ${r.body.slice(0, 200)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, gapMs - (Date.now() - started))));
    }
  });
  const running = {
    counts,
    failures,
    async stop() {
      stop = true;
      runningTraffic.delete(running);
      await Promise.all(loops);
    },
  };
  runningTraffic.add(running);
  return running;
}

/** The id of the files' Cloud Map service once every replica has it (the leader applied the seeds). */
async function seededServiceId(fleet: Fleet): Promise<string> {
  return waitFor('the seeded service on every replica', async () => {
    const contents = await Promise.all(fleet.replicas.filter((r) => r.alive()).map((r) => r.admin('/v1/cloud-map')));
    const services = contents.map(
      (c) =>
        (
          JSON.parse(c) as { namespaces: { id: string; name: string; services: { id: string; name: string }[] }[] }
        ).namespaces
          .find((n) => n.name === 'fleet.local')
          ?.services.find((s) => s.name === 'registered')?.id,
    );
    return services.every((id) => id && id === services[0]) ? services[0] : undefined;
  });
}

/** The instance ids of the files' Cloud Map service, as one replica has them. */
async function registeredOn(r: FleetReplica): Promise<string[]> {
  const contents = JSON.parse(await r.admin('/v1/cloud-map')) as {
    namespaces: { name: string; services: { name: string; instances: { id: string }[] }[] }[];
  };
  return (
    contents.namespaces
      .find((n) => n.name === 'fleet.local')
      ?.services.find((s) => s.name === 'registered')
      ?.instances.map((i) => i.id)
      .sort() ?? []
  );
}

/** A write's refusal: its error name and message (undefined when it succeeded). */
const refusalOf = (write: Promise<unknown>) =>
  write.then(
    () => undefined,
    (err: Error) => ({ name: err.name, message: err.message }),
  );

/** Which replica each client is SYNCED on now (every client must be on one). */
async function holders(fleet: Fleet, clients: readonly Client[]): Promise<Map<string, FleetReplica>> {
  const on = new Map<string, FleetReplica>();
  for (const r of fleet.replicas.filter((x) => x.alive()))
    for (const c of clients) if (await syncedOn(r, c.nodeId)) on.set(c.nodeId, r);
  return on;
}

// The SDKs play a user's automation here; their notice about Node versions is not about meshd.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const ANY_CREDENTIALS = { accessKeyId: 'x', secretAccessKey: 'y' };
const appMesh = (r: FleetReplica) =>
  new AppMeshClient({
    endpoint: `http://127.0.0.1:${r.adminPort}`,
    region: 'us-east-1',
    credentials: ANY_CREDENTIALS,
    maxAttempts: 1,
  });
const cloudMap = (r: FleetReplica) =>
  new ServiceDiscoveryClient({
    endpoint: `http://127.0.0.1:${r.adminPort}`,
    region: 'us-east-1',
    credentials: ANY_CREDENTIALS,
    maxAttempts: 1,
    disableHostPrefix: true,
  });
const ROUTE = { meshName: 'fleet', virtualRouterName: 'router', routeName: 'split' };
const routeSpec = (weight: number) => ({
  httpRoute: {
    match: { prefix: '/' },
    action: {
      weightedTargets: [
        { virtualNode: 'backend', weight },
        { virtualNode: 'registered', weight: 100 - weight },
      ],
    },
  },
});

const missing = postgresUnavailable();
describeWithEnvoy('a fleet of three meshd replicas on PostgreSQL', (envoyBin) => {
  let cluster: PostgresCluster;
  let backend: Awaited<ReturnType<typeof startNamedUpstream>>;
  let meshFile: string;
  let fleet: Fleet | undefined;
  const clients: Client[] = [];
  let database = 0;

  beforeAll(async () => {
    if (missing) throw new Error(`a real PostgreSQL is needed: ${missing}`);
    cluster = await startPostgres();
    backend = await startNamedUpstream('backend');
    meshFile = path.join(tmpDir('fleet-'), 'mesh.yaml');
    fs.writeFileSync(meshFile, meshYaml(backend.port));
  });

  afterEach(async () => {
    for (const traffic of [...runningTraffic]) await traffic.stop();
    for (const c of clients.splice(0)) await c.envoy.stop();
    await fleet?.close();
    fleet = undefined;
  });

  afterAll(async () => {
    await backend?.close();
    await cluster?.stop();
  });

  /** Three replicas, and CLIENTS Envoys spread over them (each lists the replicas from a different one first). */
  async function fleetWithClients(options: { meshFile?: string; statsd?: boolean } = {}): Promise<Fleet> {
    fleet = await startFleet({
      cluster,
      database: `fleet_${++database}`,
      meshPaths: [options.meshFile ?? meshFile],
      n: 3,
    });
    const replicas = fleet.replicas;
    const ports = await freePorts(CLIENTS * 3);
    for (let i = 0; i < CLIENTS; i++) {
      const rotated = [...fleet.xdsAddresses.slice(i % 3), ...fleet.xdsAddresses.slice(0, i % 3)];
      const [admin, ingress, egress] = ports.slice(i * 3, i * 3 + 3) as [number, number, number];
      clients.push({
        nodeId: nodeIdOf(i),
        // Its stats go to one replica (the one it lists first): each replica hears a share of the traffic.
        envoy: startFleetEnvoy(
          envoyBin,
          nodeIdOf(i),
          rotated,
          { admin, ingress, egress },
          options.statsd ? replicas[i % 3]!.statsdPort() : undefined,
        ),
        egress,
      });
    }
    for (const c of clients) {
      await waitFor(
        `${c.nodeId} to route to the backend`,
        async () => ((await httpGet(c.egress, SERVICE).catch(() => undefined))?.status === 200 ? true : undefined),
        30_000,
      );
    }
    const f = fleet;
    await waitFor('every client SYNCED on a replica', async () =>
      (await holders(f, clients)).size === CLIENTS ? true : undefined,
    );
    return f;
  }

  it('the replicas share one CA, made by whichever started first', async () => {
    const f = (fleet = await startFleet({ cluster, database: `fleet_${++database}`, meshPaths: [meshFile], n: 3 }));
    const cas = await Promise.all(
      f.replicas.map(async (r) => JSON.parse(await r.admin('/v1/ca')) as { trustBundle: string }),
    );
    expect(new Set(cas.map((c) => c.trustBundle)).size).toBe(1);
    expect(cas[0]!.trustBundle).toMatch(/BEGIN CERTIFICATE/);
  });

  it('SIGKILL the replica holding the most proxies: no request fails, all SYNCED on survivors within 5 s, sent nothing new', async () => {
    const f = await fleetWithClients();
    const before = await holders(f, clients);
    const load = new Map(f.replicas.map((r) => [r, [...before.values()].filter((h) => h === r).length]));
    // Spread: the rotated address lists put proxies on more than one replica.
    expect([...load.values()].filter((n) => n > 0).length).toBeGreaterThan(1);
    const victim = [...load].sort((a, b) => b[1] - a[1])[0]![0];
    const moving = clients.filter((c) => before.get(c.nodeId) === victim);
    const survivors = f.replicas.filter((r) => r !== victim);
    // Every replica serves the same mesh: one hash.
    const hashes = new Set((await Promise.all(f.replicas.map(proxiesOn))).flat().map((p) => p.meshHash));
    expect(hashes.size).toBe(1);
    const pushesBefore = await Promise.all(survivors.map(pushesSent));

    const traffic = trafficLoop(clients, 200);
    await waitFor('traffic to flow', () => (traffic.counts.ok >= 200 ? true : undefined));
    const killedAt = Date.now();
    victim.kill();
    await waitFor(
      `the ${moving.length} proxies of ${victim.id} to be SYNCED on a survivor`,
      async () => {
        const now = await holders(f, clients);
        return moving.every((c) => now.get(c.nodeId) !== undefined && now.get(c.nodeId) !== victim) ? true : undefined;
      },
      FAILOVER_MS,
    );
    const failoverMs = Date.now() - killedAt;
    const okAtFailover = traffic.counts.ok;
    await waitFor('more traffic after the failover', () =>
      traffic.counts.ok >= okAtFailover + 200 ? true : undefined,
    );
    await traffic.stop();
    const pushes = (await Promise.all(survivors.map(pushesSent))).map((n, i) => n - pushesBefore[i]!);
    process.stdout.write(
      `fleet: SIGKILL of ${victim.id} (${moving.length} of ${CLIENTS} proxies) → all SYNCED on survivors in ${failoverMs} ms; ` +
        `responses the survivors sent: ${pushes.join(', ')}; requests: ${traffic.counts.ok} ok, ${traffic.counts.failed} failed\n`,
    );
    expect(traffic.failures).toEqual([]);
    expect(pushes).toEqual([0, 0]);
  });

  it('100 registrations and 50 API updates sent to all three replicas at once: every one acknowledged is there, every Envoy converges, a stale update is refused anywhere', async () => {
    const f = await fleetWithClients();

    const meshClients = f.replicas.map(appMesh);
    const mapClients = f.replicas.map(cloudMap);
    // The leader applied the files' Cloud Map service (its namespace and service, one instance) for the fleet.
    const ids = await seededServiceId(f);
    // Created with a weight no update sets, so that the route Envoys end with tells which write came last.
    await meshClients[0]!.send(new CreateRouteCommand({ ...ROUTE, spec: routeSpec(75) }));

    const registrations = Array.from({ length: 100 }, (_, i) =>
      mapClients[i % 3]!.send(
        new RegisterInstanceCommand({
          ServiceId: ids,
          InstanceId: `i-${i}`,
          Attributes: { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: String(20000 + i) },
        }),
      ).then(
        () => `i-${i}`,
        (err: Error) => ({ failed: `i-${i}: ${err.message}` }),
      ),
    );
    const updates = Array.from({ length: 50 }, (_, i) =>
      meshClients[i % 3]!.send(new UpdateRouteCommand({ ...ROUTE, spec: routeSpec(i + 1) })).then(
        (answer) => answer.route!.metadata!.version!,
        (err: Error) => ({ failed: `update ${i}: ${err.message}` }),
      ),
    );
    const registered = await Promise.all(registrations);
    const versions = await Promise.all(updates);
    // Every write was acknowledged (none refused), so every one must be there.
    expect(registered.filter((r) => typeof r !== 'string')).toEqual([]);
    expect(versions.filter((v) => typeof v !== 'number')).toEqual([]);
    // Each update made its own version: 2..51, each once.
    expect([...(versions as number[])].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
    // Reads on another replica than the writer's see a write once that replica has applied it (milliseconds).
    await waitFor('every replica to describe the route at version 51', async () => {
      const seen = await Promise.all(
        meshClients.map(async (c) => (await c.send(new DescribeRouteCommand(ROUTE))).route!.metadata!.version),
      );
      return seen.every((v) => v === 51) ? true : undefined;
    });
    // The instances are on every replica (the seed's and the 100).
    for (const r of f.replicas) expect(await registeredOn(r)).toEqual(['seed-1', ...(registered as string[])].sort());
    // Every Envoy is SYNCED on its replica (it ACKed what that replica compiled last), the replicas serve one mesh
    // hash, and the replicas a client is not connected to would send it exactly what the others do.
    const hashes = new Set<string | undefined>();
    await waitFor(
      'every Envoy SYNCED, and one configuration per client on the replicas it is not connected to',
      async () => {
        const on = await holders(f, clients);
        if (on.size !== CLIENTS) return undefined;
        for (const c of clients) {
          const others = f.replicas.filter((r) => r !== on.get(c.nodeId));
          const configs = await Promise.all(others.map((r) => r.admin(`/v1/config/${encodeURIComponent(c.nodeId)}`)));
          if (new Set(configs).size !== 1) return undefined;
        }
        for (const r of f.replicas) for (const p of await proxiesOn(r)) hashes.add(p.meshHash);
        return true;
      },
      20_000,
    );
    expect(hashes.size).toBe(1);
    // What each Envoy holds: the route as the last acknowledged update made it.
    const lastWeight = (versions as number[]).indexOf(51) + 1;
    for (const c of clients) {
      await waitFor(`${c.nodeId} to route with the last update's weights`, async () => {
        const dump = await getOk(c.envoy.adminPort, '/config_dump?resource=dynamic_route_configs');
        const m =
          /"name": "cds_egress_fleet_backend_http_\d+",\s*"weight": (\d+)\s*},\s*{\s*"name": "cds_egress_fleet_registered_http_8080",\s*"weight": (\d+)/.exec(
            dump,
          );
        return m && Number(m[1]) === lastWeight && Number(m[2]) === 100 - lastWeight ? true : undefined;
      });
    }
    // What Envoy itself holds: the 101 endpoints of the Cloud Map service.
    const endpoints = await waitFor('an Envoy to hold every registered endpoint', async () => {
      const text = await getOk(clients[0]!.envoy.adminPort, '/clusters');
      const lines = text
        .split('\n')
        .filter((l) => /^cds_egress_fleet_registered_http_8080::127\.0\.0\.1:\d+::health_flags::/.test(l));
      return lines.length === 101 ? lines.length : undefined;
    });
    expect(endpoints).toBe(101);
    // A write based on a version that moved on is refused whichever replica receives it.
    for (const c of meshClients) {
      const refusal = await c.send(withIfMatch(new UpdateRouteCommand({ ...ROUTE, spec: routeSpec(7) }), 30)).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refusal).toBeInstanceOf(AppMeshServiceException);
      expect((refusal as Error).name).toBe('ConflictException');
    }
    expect((await meshClients[1]!.send(new DescribeRouteCommand(ROUTE))).route!.metadata!.version).toBe(51);
  });

  it('the leader is SIGKILLed mid-rollout: another takes over within the lease, and the route goes through the same weights, none skipped or repeated', async () => {
    const canary = await startNamedUpstream('canary');
    try {
      const rolloutMesh = path.join(tmpDir('fleet-rollout-'), 'mesh.yaml');
      fs.writeFileSync(rolloutMesh, meshYaml(backend.port, canary.port) + ROLLOUT);
      const f = await fleetWithClients({ meshFile: rolloutMesh, statsd: true });
      const db = `fleet_${database}`;
      /** The canary's weight in each write of the route's weights, in the store's order of changes. */
      const weightWrites = async () => {
        const rows = await cluster.query<{
          rows: { row: { edits: { path: (string | number)[]; value: number }[] } }[];
        }>(
          "SELECT change->'put'->'route_weights' AS rows FROM meshd_changes WHERE change->'put' ? 'route_weights' ORDER BY seq",
          [],
          db,
        );
        return rows.flatMap((r) => r.rows.map((w) => w.row.edits.find((e) => e.path[e.path.length - 2] === 1)!.value));
      };
      const leaderOf = async () => {
        for (const r of f.replicas.filter((x) => x.alive())) {
          const report = JSON.parse(await r.admin('/v1/replicas')) as { leader: { id: string } | null };
          if (report.leader) return report.leader.id;
        }
        return undefined;
      };
      // Canary traffic: every client calls the rolled service; each Envoy reports to its own replica.
      const traffic = trafficLoop(clients, 120, ROLLED, ['backend', 'canary']);
      try {
        await waitFor(
          'the first step (20 %)',
          async () => ((await weightWrites()).length >= 1 ? true : undefined),
          30_000,
        );
        const leaderId = (await leaderOf())!;
        const leader = f.replicas.find((r) => r.id === leaderId)!;
        expect(await weightWrites()).toEqual([20]);
        const killedAt = Date.now();
        leader.kill();
        const next = await waitFor(
          'another replica to lead',
          async () => {
            const id = await leaderOf();
            return id && id !== leaderId ? id : undefined;
          },
          2 * 2000,
        );
        const takeoverMs = Date.now() - killedAt;
        await waitFor(
          'the rollout to succeed',
          async () => {
            const rollouts = JSON.parse(await f.replicas.find((r) => r.id === next)!.admin('/v1/rollouts')) as {
              name: string;
              phase: string;
            }[];
            return rollouts.find((r) => r.name === 'rolled')?.phase === 'Succeeded' ? true : undefined;
          },
          60_000,
        );
        const writes = await weightWrites();
        process.stdout.write(
          `fleet rollout: SIGKILL of leader ${leaderId} after the first step → ${next} leads in ${takeoverMs} ms; canary weights written: ${writes.join(', ')}\n`,
        );
        // An undisturbed run writes 20, 40, 60 and then promotes (100): each once, in order.
        expect(writes).toEqual([20, 40, 60, 100]);
      } finally {
        await traffic.stop();
      }
      expect(traffic.failures).toEqual([]);
    } finally {
      await canary.close();
    }
  }, 120_000);

  it('PostgreSQL restarts during traffic: proxies keep their configuration, replicas are not ready, then ready by themselves', async () => {
    const f = await fleetWithClients();
    const traffic = trafficLoop(clients, 100);
    await waitFor('traffic to flow', () => (traffic.counts.ok >= 100 ? true : undefined));
    await cluster.stopServer();
    await waitFor(
      'every replica to report not ready',
      async () => {
        const states = await Promise.all(f.replicas.map(readiness));
        return states.every((s) => s.status === 503 && /store \(PostgreSQL\) cannot be reached/.test(s.body))
          ? true
          : undefined;
      },
      15_000,
    );
    // Writes during the outage fail with a clear error, and leave nothing behind (checked once it is over).
    const service = await seededServiceId(f);
    const registration = await refusalOf(
      cloudMap(f.replicas[0]!).send(
        new RegisterInstanceCommand({
          ServiceId: service,
          InstanceId: 'during-outage',
          Attributes: { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: '20999' },
        }),
      ),
    );
    expect(registration?.name).toBe('ServiceUnavailable');
    expect(registration?.message).toMatch(/PostgreSQL/);
    const create = await refusalOf(
      appMesh(f.replicas[1]!).send(new CreateRouteCommand({ ...ROUTE, spec: routeSpec(5) })),
    );
    expect(create?.name).toBe('ServiceUnavailableException');
    expect(create?.message).toMatch(/nothing was changed/);
    const okDuringOutage = traffic.counts.ok;
    await waitFor('traffic during the outage', () => (traffic.counts.ok >= okDuringOutage + 100 ? true : undefined));
    await cluster.startServer();
    await waitFor(
      'every replica to be ready again',
      async () => ((await Promise.all(f.replicas.map(readiness))).every((s) => s.status === 200) ? true : undefined),
      20_000,
    );
    await traffic.stop();
    expect(traffic.failures).toEqual([]);
    expect((await holders(f, clients)).size).toBe(CLIENTS);
    for (const r of f.replicas) {
      expect(await registeredOn(r)).toEqual(['seed-1']);
      const described = await refusalOf(appMesh(r).send(new DescribeRouteCommand(ROUTE)));
      expect(described?.name).toBe('NotFoundException');
    }
  });

  it('a replica cut off from PostgreSQL stops leading, reports not ready, and keeps serving its proxies', async () => {
    const f = await fleetWithClients();
    /** The leader as the store has it, asked of the replicas that can still read it. */
    const leaderOf = async () => {
      for (const r of f.replicas) {
        const text = await r.admin('/v1/replicas').catch(() => undefined);
        if (text === undefined) continue;
        return (JSON.parse(text) as { leader: { id: string } | null }).leader?.id;
      }
      return undefined;
    };
    const leaderId = await waitFor('a leader', leaderOf);
    const cutOff = f.replicas.find((r) => r.id === leaderId)!;
    const served = await holders(f, clients);
    const itsClients = clients.filter((c) => served.get(c.nodeId) === cutOff);
    const traffic = trafficLoop(clients, 100);
    cutOff.dbPath.blackhole();
    const others = f.replicas.filter((r) => r !== cutOff);
    const newLeader = await waitFor(
      'another replica to lead',
      async () => {
        const id = await leaderOf();
        return id && id !== cutOff.id ? id : undefined;
      },
      15_000,
    );
    expect(others.map((r) => r.id)).toContain(newLeader);
    const metrics = await cutOff.admin('/metrics');
    expect(metrics).toMatch(/^meshd_leader 0$/m);
    await waitFor('the cut-off replica to report not ready', async () =>
      (await readiness(cutOff)).status === 503 ? true : undefined,
    );
    // It applies no write: one sent to it fails, and is nowhere once its path is back.
    const refused = await refusalOf(
      cloudMap(cutOff).send(
        new RegisterInstanceCommand({
          ServiceId: await seededServiceId(f),
          InstanceId: 'while-cut-off',
          Attributes: { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: '20998' },
        }),
      ),
    );
    expect(refused?.name).toBe('ServiceUnavailable');
    // Its proxies are still connected to it, SYNCED, and their traffic flows.
    for (const c of itsClients) expect(await syncedOn(cutOff, c.nodeId)).toBeDefined();
    const ok = traffic.counts.ok;
    await waitFor('traffic while cut off', () => (traffic.counts.ok >= ok + 100 ? true : undefined));
    cutOff.dbPath.restore();
    await waitFor(
      'the replica to be ready again',
      async () => ((await readiness(cutOff)).status === 200 ? true : undefined),
      20_000,
    );
    await traffic.stop();
    expect(traffic.failures).toEqual([]);
    for (const r of f.replicas) expect(await registeredOn(r)).toEqual(['seed-1']);
  });
});
