// A proxy fails over between meshd replicas, on real processes: two `meshd serve` on the same
// mesh file (different ports; content-hash versions make what they serve identical), one real
// Envoy bootstrapped by `meshd bootstrap --xds-address a,b`, an upstream app on loopback.
// SIGKILL the replica that holds Envoy's ADS stream: Envoy is SYNCED on the other within 5 s,
// is sent nothing new there (it reports the versions it holds, which are the survivor's too),
// and traffic through its listeners never stops.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeWithEnvoy, startEnvoy, type RunningEnvoy } from '../helpers/envoy';
import { envoyStats } from '../helpers/sidecars';
import {
  freePorts,
  getOk,
  httpGet,
  MESHD_BIN,
  startMeshd,
  startNamedUpstream,
  tmpDir,
  waitFor,
  type RunningProcess,
} from '../helpers/processes';

const NODE_ID = 'mesh/fleet/virtualNode/client';
const SERVICE = 'backend.fleet.local';
/** The brief's bound: a proxy whose replica dies is SYNCED on another within 5 s. */
const FAILOVER_MS = 5000;

function meshYaml(backendPort: number): string {
  return `kind: Mesh
name: fleet
---
kind: VirtualNode
mesh: fleet
name: client
spec:
  backends: [{ virtualService: { virtualServiceName: ${SERVICE} } }]
---
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

interface Replica {
  name: string;
  meshd: RunningProcess;
  xdsPort: number;
  adminPort: number;
}

interface ProxyEntry {
  nodeId: string;
  types: Record<string, { state: string; ackedVersion: string | null }>;
}

const proxiesOn = async (r: Replica): Promise<ProxyEntry[]> =>
  JSON.parse(await getOk(r.adminPort, '/v1/proxies')) as ProxyEntry[];

/** The client's entry on a replica once it is SYNCED on every type it subscribed to (CDS, LDS and RDS at least). */
async function syncedOn(r: Replica): Promise<ProxyEntry | undefined> {
  const entry = (await proxiesOn(r)).find((p) => p.nodeId === NODE_ID);
  if (!entry) return undefined;
  const states = Object.values(entry.types).map((t) => t.state);
  const all = ['CDS', 'LDS', 'RDS'].every((t) => t in entry.types) && states.every((s) => s === 'SYNCED');
  return all ? entry : undefined;
}

/** xDS responses a replica has sent, all types together (its /metrics). */
async function pushesSent(r: Replica): Promise<number> {
  const metrics = await getOk(r.adminPort, '/metrics');
  return metrics
    .split('\n')
    .filter((l) => l.startsWith('meshd_xds_pushes_total'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

/** Config updates Envoy has accepted (every xDS response it applied raises one of these). */
async function envoyUpdates(adminPort: number): Promise<number> {
  const stats = await envoyStats('127.0.0.1', adminPort, 'update_success$');
  return Object.values(stats).reduce((a, b) => a + b, 0);
}

const versions = (p: ProxyEntry) =>
  Object.fromEntries(Object.entries(p.types).map(([type, t]) => [type, t.ackedVersion]));

describeWithEnvoy('a proxy fails over between meshd replicas', (envoyBin) => {
  let backend: Awaited<ReturnType<typeof startNamedUpstream>>;
  const replicas: Replica[] = [];
  let envoy: RunningEnvoy;
  let envoyAdmin: number;
  let egressPort: number;

  beforeAll(async () => {
    backend = await startNamedUpstream('backend');
    const meshFile = path.join(tmpDir('fleet-'), 'mesh.yaml');
    fs.writeFileSync(meshFile, meshYaml(backend.port));
    const ports = await freePorts(7);
    for (const name of ['a', 'b']) {
      const [xdsPort, adminPort] = [ports.shift()!, ports.shift()!];
      const state = tmpDir(`replica-${name}-`);
      const meshd = startMeshd([
        'serve',
        '--mesh',
        meshFile,
        '--xds-address',
        '127.0.0.1',
        '--xds-port',
        String(xdsPort),
        '--admin-port',
        String(adminPort),
        '--cloud-map-state',
        path.join(state, 'cloud-map.json'),
        '--api-dir',
        path.join(state, 'api'),
      ]);
      replicas.push({ name, meshd, xdsPort, adminPort });
    }
    for (const r of replicas)
      await waitFor(`replica ${r.name} to serve`, () => {
        if (r.meshd.child.exitCode !== null) throw new Error(`meshd exited: ${r.meshd.stderr()}`);
        return r.meshd.stdout().includes('xDS (ADS gRPC)') ? true : undefined;
      });

    [envoyAdmin, egressPort] = [ports.shift()!, ports.shift()!];
    const bootstrap = execFileSync(
      process.execPath,
      [
        MESHD_BIN,
        'bootstrap',
        '--node',
        NODE_ID,
        '--xds-address',
        replicas.map((r) => `127.0.0.1:${r.xdsPort}`).join(','),
        '--admin-address',
        '127.0.0.1',
        '--admin-port',
        String(envoyAdmin),
        '--ingress-port',
        String(ports.shift()!),
        '--egress-port',
        String(egressPort),
      ],
      { encoding: 'utf8' },
    );
    envoy = startEnvoy(envoyBin, bootstrap, envoyAdmin);
    await waitFor(
      'Envoy to route to the virtual service',
      async () => ((await httpGet(egressPort, SERVICE).catch(() => undefined))?.status === 200 ? true : undefined),
      30000,
    );
  });

  afterAll(async () => {
    await envoy?.stop();
    // The replica killed by the test has exited already (by a signal: no exit code to wait for).
    for (const r of replicas) if (r.meshd.child.signalCode === null) await r.meshd.stop();
    await backend?.close();
  });

  it('SIGKILL the replica holding the ADS stream: SYNCED on the other within 5 s, sent nothing new, traffic unbroken', async () => {
    // Both replicas serve the same versions: content hashes of the same mesh.
    const holder = await waitFor('one replica to have Envoy SYNCED', async () => {
      for (const r of replicas) if (await syncedOn(r)) return r;
      return undefined;
    });
    const survivor = replicas.find((r) => r !== holder)!;
    expect((await proxiesOn(survivor)).map((p) => p.nodeId)).not.toContain(NODE_ID);
    const before = versions((await syncedOn(holder))!);
    const survivorPushesBefore = await pushesSent(survivor);
    const envoyUpdatesBefore = await envoyUpdates(envoyAdmin);

    // Requests through Envoy's egress listener, one after another, until told to stop.
    const answers: Record<string, number> = {};
    let stop = false;
    const traffic = (async () => {
      while (!stop) {
        const r = await httpGet(egressPort, SERVICE).catch((err: Error) => ({ status: 0, body: err.message }));
        const key = r.status === 200 ? r.body : `HTTP ${r.status} ${r.body}`;
        answers[key] = (answers[key] ?? 0) + 1;
      }
    })();
    await waitFor('traffic to flow', () => ((answers.backend ?? 0) >= 20 ? true : undefined));

    const killedAt = Date.now();
    holder.meshd.child.kill('SIGKILL');
    const after = await waitFor(
      `Envoy to be SYNCED on replica ${survivor.name}`,
      () => syncedOn(survivor),
      FAILOVER_MS,
    );
    const failoverMs = Date.now() - killedAt;
    const answered = answers.backend ?? 0;
    await waitFor('more traffic after the failover', () =>
      (answers.backend ?? 0) >= answered + 20 ? true : undefined,
    );
    stop = true;
    await traffic;

    // The survivor sent nothing: Envoy reported the versions it held, the survivor's own.
    const survivorPushes = (await pushesSent(survivor)) - survivorPushesBefore;
    const envoyUpdatesAfter = (await envoyUpdates(envoyAdmin)) - envoyUpdatesBefore;
    process.stdout.write(
      `failover: SIGKILL of replica ${holder.name} → SYNCED on replica ${survivor.name} in ${failoverMs} ms; ` +
        `responses the survivor sent: ${survivorPushes}; config updates Envoy applied: ${envoyUpdatesAfter}; ` +
        `requests: ${JSON.stringify(answers)}\n`,
    );
    expect(versions(after)).toEqual(before);
    expect(survivorPushes).toBe(0);
    expect(envoyUpdatesAfter).toBe(0);
    expect(Object.keys(answers)).toEqual(['backend']);
    const connected = await envoyStats('127.0.0.1', envoyAdmin, 'control_plane.connected_state');
    expect(connected['control_plane.connected_state']).toBe(1);
  });
});
