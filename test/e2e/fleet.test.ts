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
import { describeWithEnvoy, type RunningEnvoy } from '../helpers/envoy';
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
import { freePorts, httpGet, startNamedUpstream, tmpDir, waitFor } from '../helpers/processes';

const SERVICE = 'backend.fleet.local';
const CLIENTS = 6;
/** The brief's bound: a proxy whose replica dies is SYNCED on another within 5 s. */
const FAILOVER_MS = 5000;
const nodeIdOf = (i: number) => `mesh/fleet/virtualNode/client-${i}`;

function meshYaml(backendPort: number): string {
  const clients = Array.from(
    { length: CLIENTS },
    (_, i) => `---
kind: VirtualNode
mesh: fleet
name: client-${i}
spec:
  backends: [{ virtualService: { virtualServiceName: ${SERVICE} } }]
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
`;
}

interface Client {
  readonly nodeId: string;
  readonly envoy: RunningEnvoy;
  readonly egress: number;
}

/** Requests through every client's Envoy, about `perSecond` in all, until stopped; failures are kept. */
function trafficLoop(clients: readonly Client[], perSecond: number) {
  const counts = { ok: 0, failed: 0 };
  const failures: string[] = [];
  let stop = false;
  const gapMs = (1000 * clients.length) / perSecond;
  const loops = clients.map(async (c) => {
    while (!stop) {
      const started = Date.now();
      const r = await httpGet(c.egress, SERVICE).catch((err: Error) => ({ status: 0, body: err.message }));
      if (r.status === 200 && r.body === 'backend') counts.ok++;
      else {
        counts.failed++;
        if (failures.length < 10) failures.push(`${c.nodeId}: ${r.status} ${r.body.slice(0, 200)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, gapMs - (Date.now() - started))));
    }
  });
  return {
    counts,
    failures,
    async stop() {
      stop = true;
      await Promise.all(loops);
    },
  };
}

/** Which replica each client is SYNCED on now (every client must be on one). */
async function holders(fleet: Fleet, clients: readonly Client[]): Promise<Map<string, FleetReplica>> {
  const on = new Map<string, FleetReplica>();
  for (const r of fleet.replicas.filter((x) => x.alive()))
    for (const c of clients) if (await syncedOn(r, c.nodeId)) on.set(c.nodeId, r);
  return on;
}

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
    for (const c of clients.splice(0)) await c.envoy.stop();
    await fleet?.close();
    fleet = undefined;
  });

  afterAll(async () => {
    await backend?.close();
    await cluster?.stop();
  });

  /** Three replicas, and CLIENTS Envoys spread over them (each lists the replicas from a different one first). */
  async function fleetWithClients(): Promise<Fleet> {
    fleet = await startFleet({ cluster, database: `fleet_${++database}`, meshPaths: [meshFile], n: 3 });
    const ports = await freePorts(CLIENTS * 3);
    for (let i = 0; i < CLIENTS; i++) {
      const rotated = [...fleet.xdsAddresses.slice(i % 3), ...fleet.xdsAddresses.slice(0, i % 3)];
      const [admin, ingress, egress] = ports.slice(i * 3, i * 3 + 3) as [number, number, number];
      clients.push({
        nodeId: nodeIdOf(i),
        envoy: startFleetEnvoy(envoyBin, nodeIdOf(i), rotated, { admin, ingress, egress }),
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
  });

  it('a replica cut off from PostgreSQL stops leading, reports not ready, and keeps serving its proxies', async () => {
    const f = await fleetWithClients();
    const leaderOf = async () => {
      const report = JSON.parse(await f.replicas.find((r) => r.alive())!.admin('/v1/replicas')) as {
        leader: { id: string } | null;
      };
      return report.leader?.id;
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
  });
});
