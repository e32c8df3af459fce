// A proxy fails over between meshd replicas, on real processes: two `meshd serve` on the same
// mesh file (different ports; content-hash versions make what they serve identical), one real
// Envoy bootstrapped by `meshd bootstrap`, an upstream app. SIGKILL the replica that holds
// Envoy's ADS stream: Envoy is SYNCED on the other within 5 s, is sent nothing new there (it
// reports the versions it holds, which are the survivor's too), and traffic through its
// listeners never stops. With the replicas' two addresses (--xds-address a,b), over SotW and
// Delta ADS; and with one DNS name that has an A record for each (in a network namespace, whose
// own /etc/hosts gives the name its two addresses: Envoy's resolver reads it as it would a DNS
// answer; no DNS server is run).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeWithEnvoy, startEnvoy, type RunningEnvoy } from '../helpers/envoy';
import {
  createNetns,
  describeWithNetns,
  readableTmpDir,
  removeReadableTmpDirs,
  writeReadable,
  type Netns,
  type NetnsProcess,
} from '../helpers/netns';
import { envoyStats, request } from '../helpers/sidecars';
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

/** One meshd replica, wherever it runs: its admin API, and a way to kill it. */
interface Replica {
  name: string;
  admin(pathName: string): Promise<string>;
  kill(): void;
}

/** What the scenario needs of the proxy: its admin API and a request through its egress listener. */
interface Proxy {
  adminHost: string;
  adminPort: number;
  send(): Promise<{ status: number; body: string }>;
}

interface ProxyEntry {
  nodeId: string;
  types: Record<string, { state: string; ackedVersion: string | null }>;
}

const proxiesOn = async (r: Replica): Promise<ProxyEntry[]> => JSON.parse(await r.admin('/v1/proxies')) as ProxyEntry[];

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
  const metrics = await r.admin('/metrics');
  return metrics
    .split('\n')
    .filter((l) => l.startsWith('meshd_xds_pushes_total'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

/** Config updates Envoy has accepted (every xDS response it applied raises one of these). */
async function envoyUpdates(proxy: Proxy): Promise<number> {
  const stats = await envoyStats(proxy.adminHost, proxy.adminPort, 'update_success$');
  return Object.values(stats).reduce((a, b) => a + b, 0);
}

const versions = (p: ProxyEntry) =>
  Object.fromEntries(Object.entries(p.types).map(([type, t]) => [type, t.ackedVersion]));

/**
 * The scenario: find the replica holding the proxy's stream, SIGKILL it during a request loop,
 * and check the proxy is SYNCED on the survivor within 5 s, was sent nothing, and lost no request.
 */
async function killTheHolder(replicas: Replica[], proxy: Proxy, label: string): Promise<void> {
  // Both replicas serve the same versions: content hashes of the same mesh.
  const holder = await waitFor('one replica to have Envoy SYNCED', async () => {
    for (const r of replicas) if (await syncedOn(r)) return r;
    return undefined;
  });
  const survivor = replicas.find((r) => r !== holder)!;
  expect((await proxiesOn(survivor)).map((p) => p.nodeId)).not.toContain(NODE_ID);
  const before = versions((await syncedOn(holder))!);
  const survivorPushesBefore = await pushesSent(survivor);
  const envoyUpdatesBefore = await envoyUpdates(proxy);

  // Requests through Envoy's egress listener, one after another, until told to stop.
  const answers: Record<string, number> = {};
  let stop = false;
  const traffic = (async () => {
    while (!stop) {
      const r = await proxy.send().catch((err: Error) => ({ status: 0, body: err.message }));
      const key = r.status === 200 ? r.body : `HTTP ${r.status} ${r.body}`;
      answers[key] = (answers[key] ?? 0) + 1;
    }
  })();
  await waitFor('traffic to flow', () => ((answers.backend ?? 0) >= 20 ? true : undefined));

  const killedAt = Date.now();
  holder.kill();
  const after = await waitFor(`Envoy to be SYNCED on replica ${survivor.name}`, () => syncedOn(survivor), FAILOVER_MS);
  const failoverMs = Date.now() - killedAt;
  const answered = answers.backend ?? 0;
  await waitFor('more traffic after the failover', () => ((answers.backend ?? 0) >= answered + 20 ? true : undefined));
  stop = true;
  await traffic;

  // The survivor sent nothing: Envoy reported the versions it held, the survivor's own.
  const survivorPushes = (await pushesSent(survivor)) - survivorPushesBefore;
  const envoyUpdatesAfter = (await envoyUpdates(proxy)) - envoyUpdatesBefore;
  process.stdout.write(
    `failover (${label}): SIGKILL of replica ${holder.name} → SYNCED on replica ${survivor.name} in ${failoverMs} ms; ` +
      `responses the survivor sent: ${survivorPushes}; config updates Envoy applied: ${envoyUpdatesAfter}; ` +
      `requests: ${JSON.stringify(answers)}\n`,
  );
  expect(versions(after)).toEqual(before);
  expect(survivorPushes).toBe(0);
  expect(envoyUpdatesAfter).toBe(0);
  expect(Object.keys(answers)).toEqual(['backend']);
  const connected = await envoyStats(proxy.adminHost, proxy.adminPort, 'control_plane.connected_state');
  expect(connected['control_plane.connected_state']).toBe(1);
}

function bootstrapYaml(
  xdsAddress: string,
  adminAddress: string,
  ports: { admin: number; ingress: number; egress: number },
  ads: 'sotw' | 'delta' = 'sotw',
) {
  return execFileSync(
    process.execPath,
    [
      MESHD_BIN,
      'bootstrap',
      '--node',
      NODE_ID,
      '--xds-address',
      xdsAddress,
      '--admin-address',
      adminAddress,
      '--admin-port',
      String(ports.admin),
      '--ingress-port',
      String(ports.ingress),
      '--egress-port',
      String(ports.egress),
      '--ads',
      ads,
    ],
    { encoding: 'utf8' },
  );
}

// State of the world (Envoy reports the version it holds per type) and Delta (it reports each
// resource's version): either way the survivor has nothing to send.
for (const ads of ['sotw', 'delta'] as const)
  describeWithEnvoy(`a proxy fails over between meshd replicas at two addresses (${ads} ADS)`, (envoyBin) => {
    let backend: Awaited<ReturnType<typeof startNamedUpstream>>;
    const meshds: RunningProcess[] = [];
    const replicas: Replica[] = [];
    let envoy: RunningEnvoy;
    let proxy: Proxy;

    beforeAll(async () => {
      backend = await startNamedUpstream('backend');
      const meshFile = path.join(tmpDir('fleet-'), 'mesh.yaml');
      fs.writeFileSync(meshFile, meshYaml(backend.port));
      const ports = await freePorts(7);
      const xdsAddresses: string[] = [];
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
        meshds.push(meshd);
        xdsAddresses.push(`127.0.0.1:${xdsPort}`);
        replicas.push({ name, admin: (p) => getOk(adminPort, p), kill: () => meshd.child.kill('SIGKILL') });
        await waitFor(`replica ${name} to serve`, () => {
          if (meshd.child.exitCode !== null) throw new Error(`meshd exited: ${meshd.stderr()}`);
          return meshd.stdout().includes('xDS (ADS gRPC)') ? true : undefined;
        });
      }

      const [admin, ingress, egress] = [ports.shift()!, ports.shift()!, ports.shift()!];
      envoy = startEnvoy(
        envoyBin,
        bootstrapYaml(xdsAddresses.join(','), '127.0.0.1', { admin, ingress, egress }, ads),
        admin,
      );
      proxy = { adminHost: '127.0.0.1', adminPort: admin, send: () => httpGet(egress, SERVICE) };
      await waitFor(
        'Envoy to route to the virtual service',
        async () => ((await proxy.send().catch(() => undefined))?.status === 200 ? true : undefined),
        30000,
      );
    });

    afterAll(async () => {
      await envoy?.stop();
      // The replica killed by the test has exited already (by a signal: no exit code to wait for).
      for (const m of meshds) if (m.child.signalCode === null) await m.stop();
      await backend?.close();
    });

    it('SIGKILL the replica holding the ADS stream: SYNCED on the other within 5 s, sent nothing new, traffic unbroken', async () => {
      await killTheHolder(replicas, proxy, `two addresses, ${ads}`);
    });
  });

describeWithNetns('a proxy fails over between meshd replicas behind one DNS name', (envoyBin) => {
  // Everything runs in one namespace: the replicas on 127.0.0.2 and 127.0.0.3 (the same port,
  // as replicas on two hosts would be), the name meshd-fleet with an A record for each, the app
  // and Envoy; the test reaches their admin ports and Envoy's egress listener over the veth.
  const XDS_PORT = 18000;
  const ENVOY = { admin: 9901, ingress: 15000, egress: 15001 };
  const BACKEND_PORT = 8080;
  let ns: Netns;
  const processes: NetnsProcess[] = [];
  const replicas: Replica[] = [];
  let proxy: Proxy;

  beforeAll(async () => {
    ns = await createNetns();
    writeReadable(
      path.join('/etc/netns', ns.name),
      'hosts',
      '127.0.0.1 localhost\n127.0.0.2 meshd-fleet\n127.0.0.3 meshd-fleet\n',
    );
    // No DNS server in the namespace: a query is refused at once, and the hosts file answers.
    writeReadable(path.join('/etc/netns', ns.name), 'resolv.conf', 'nameserver 127.0.0.1\n');
    const dir = readableTmpDir('fleet-dns-');
    const meshFile = writeReadable(dir, 'mesh.yaml', meshYaml(BACKEND_PORT));
    const app = ns.spawn(process.execPath, [
      '-e',
      `require('node:http').createServer((q, s) => s.end('backend')).listen(${BACKEND_PORT}, '127.0.0.1', () => console.log('app listening'))`,
    ]);
    processes.push(app);
    await app.waitForOutput('app listening');
    for (const [name, ip, adminPort] of [
      ['a', '127.0.0.2', 18001],
      ['b', '127.0.0.3', 18002],
    ] as const) {
      const state = path.join(dir, `replica-${name}`);
      const meshd = ns.spawn(process.execPath, [
        MESHD_BIN,
        'serve',
        '--mesh',
        meshFile,
        '--xds-address',
        ip,
        '--xds-port',
        String(XDS_PORT),
        '--admin-address',
        '0.0.0.0',
        // The test only reads the admin API, from outside the replica's namespace.
        '--insecure-admin',
        '--admin-port',
        String(adminPort),
        '--statsd-port',
        '0',
        '--cloud-map-state',
        path.join(state, 'cloud-map.json'),
        '--api-dir',
        path.join(state, 'api'),
        '--rollout-state',
        path.join(state, 'rollouts.json'),
      ]);
      processes.push(meshd);
      await meshd.waitForOutput('xDS (ADS gRPC)');
      replicas.push({
        name,
        admin: async (p) => {
          const r = await request({ host: ns.nsIp, port: adminPort, path: p });
          if (r.status !== 200) throw new Error(`GET ${p}: HTTP ${r.status}: ${r.body}`);
          return r.body;
        },
        kill: () => meshd.child.kill('SIGKILL'),
      });
    }

    const bootstrap = writeReadable(dir, 'envoy.yaml', bootstrapYaml(`meshd-fleet:${XDS_PORT}`, '0.0.0.0', ENVOY));
    expect(fs.readFileSync(bootstrap, 'utf8')).toContain('type: "STRICT_DNS"');
    const envoy = ns.spawn(envoyBin, ['-c', bootstrap, '--log-level', 'info', '--disable-hot-restart'], {
      asProxyUser: true,
    });
    processes.push(envoy);
    proxy = {
      adminHost: ns.nsIp,
      adminPort: ENVOY.admin,
      send: () => request({ host: ns.nsIp, port: ENVOY.egress, headers: { host: SERVICE } }),
    };
    await waitFor(
      'Envoy to route to the virtual service',
      async () => {
        if (envoy.child.exitCode !== null) throw new Error(`Envoy exited:\n${envoy.output()}`);
        return (await proxy.send().catch(() => undefined))?.status === 200 ? true : undefined;
      },
      30000,
    ).catch(async (err: Error) => {
      // Which replicas Envoy found for the name, and how connecting to them went.
      const clusters = await request({ host: ns.nsIp, port: ENVOY.admin, path: '/clusters' }).catch(() => undefined);
      const hosts = (clusters?.body ?? '').split('\n').filter((l) => /^meshd_xds::[0-9]/.test(l));
      throw new Error(
        `${err.message}\nmeshd_xds in Envoy:\n${hosts.join('\n')}\nEnvoy:\n${envoy.output().slice(-3000)}`,
      );
    });
  });

  afterAll(async () => {
    await ns?.destroy(); // stops the processes too
    removeReadableTmpDirs();
  });

  it('Envoy makes each A record an endpoint', async () => {
    const clusters = await request({ host: ns.nsIp, port: ENVOY.admin, path: '/clusters' });
    const hosts = [...clusters.body.matchAll(/^meshd_xds::([0-9.]+:[0-9]+)::hostname::meshd-fleet$/gm)].map(
      (m) => m[1],
    );
    expect(hosts.sort()).toEqual([`127.0.0.2:${XDS_PORT}`, `127.0.0.3:${XDS_PORT}`]);
  });

  it('SIGKILL the replica holding the ADS stream: SYNCED on the other within 5 s, sent nothing new, traffic unbroken', async () => {
    await killTheHolder(replicas, proxy, 'one DNS name');
  });
});
