// Remote Cloud Map end to end (meshd serve --cloud-map remote). meshd B plays the real AWS Cloud
// Map: instances are registered in it with the real AWS SDK, through its Cloud Map API.
// meshd A polls B (DiscoverInstancesRevision, DiscoverInstances) and serves a real Envoy sidecar
// whose virtual service finds its node in Cloud Map. What a user sees: B's instances reach
// Envoy as endpoints and take traffic; a registration, a health change or a deregistration in B
// reaches Envoy within one poll interval (the delay is measured and printed, not asserted); when
// B is stopped, traffic keeps flowing to the last known endpoints and `meshd status` says why.
// The same is then run against moto's server mode (a local AWS emulator), when it is installed.
import {
  CreateHttpNamespaceCommand,
  CreateServiceCommand,
  DeregisterInstanceCommand,
  GetOperationCommand,
  RegisterInstanceCommand,
  ServiceDiscoveryClient,
  UpdateInstanceCustomHealthStatusCommand,
} from '@aws-sdk/client-servicediscovery';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { describeIfAvailable, findEnvoy, NO_ENVOY } from '../helpers/envoy';
import { freePort, getOk, MESHD_BIN, startMeshd, tmpDir, waitFor, type RunningProcess } from '../helpers/processes';
import { answeredBy, startSidecar, type Sidecar } from '../helpers/sidecar-harness';
import { startHttpUpstream, type HttpUpstream } from '../helpers/upstreams';

const MESH = 'cm';
const NODE_ID = `mesh/${MESH}/virtualNode/client`;
const NAMESPACE = 'remote.local';
const ORDERS = 'orders.remote.local';
const ORDERS_CLUSTER = `cds_egress_${MESH}_orders_http_8080`;
const POLL_MS = 300;
// Static credentials and no instance metadata: the SDK's chain never looks beyond this machine.
const AWS_ENV = {
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_REGION: 'us-east-1',
};

/** client → orders.remote.local → the virtual node orders, found in Cloud Map remote.local/orders. */
const MESH_YAML = `kind: Mesh
name: ${MESH}
---
kind: VirtualNode
mesh: ${MESH}
name: client
spec:
  backends: [{ virtualService: { virtualServiceName: ${ORDERS} } }]
---
kind: VirtualNode
mesh: ${MESH}
name: orders
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
  serviceDiscovery: { awsCloudMap: { namespaceName: ${NAMESPACE}, serviceName: orders } }
---
kind: VirtualService
mesh: ${MESH}
name: ${ORDERS}
spec: { provider: { virtualNode: { virtualNodeName: orders } } }
`;

function sdkFor(endpoint: string): ServiceDiscoveryClient {
  return new ServiceDiscoveryClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
    disableHostPrefix: true,
  });
}

/** The endpoints Envoy has for the Cloud Map cluster right now (`address:port`, sorted), from its /clusters. */
async function envoyEndpoints(sidecar: Sidecar): Promise<string[]> {
  const text = await sidecar.admin('/clusters');
  const hosts = new Set<string>();
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${ORDERS_CLUSTER}::([0-9.]+:[0-9]+)::`).exec(line);
    if (m) hosts.add(m[1]!);
  }
  return [...hosts].sort();
}

/**
 * Milliseconds from now until Envoy's endpoints satisfy `done` (checked every 5 ms); fails after a generous deadline.
 */
async function untilEnvoy(sidecar: Sidecar, what: string, done: (endpoints: string[]) => boolean): Promise<number> {
  const started = performance.now();
  let last: string[] = [];
  await waitFor(
    what,
    async () => {
      last = await envoyEndpoints(sidecar);
      return done(last) ? true : undefined;
    },
    15000,
    5,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; Envoy has ${JSON.stringify(last)}\n${sidecar.logs()}`);
  });
  return performance.now() - started;
}

const local = (u: HttpUpstream) => `127.0.0.1:${u.port}`;
const attributesOf = (u: HttpUpstream) => ({ AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: String(u.port) });

function summary(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x);
  return `min ${r(s[0]!)} ms, median ${r(s[Math.floor(s.length / 2)]!)} ms, max ${r(s[s.length - 1]!)} ms (n=${s.length})`;
}

/**
 * `n` requests through the sidecar one after the other; how many each upstream (or Envoy, `HTTP <status>`) answered.
 */
async function spread(sidecar: Sidecar, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const who = answeredBy(await sidecar.request(ORDERS, { timeoutMs: 5000 }));
    counts[who] = (counts[who] ?? 0) + 1;
  }
  return counts;
}

interface RemoteReport {
  mode: string;
  services: {
    namespace: string;
    service: string;
    state: string;
    instances: number | null;
    lastError: { reason: string; message: string } | null;
  }[];
}

const remoteReport = async (sidecar: Sidecar) =>
  JSON.parse(await sidecar.meshdAdmin('/v1/cloud-map/remote')) as RemoteReport;

/** A's serve flags: remote mode against `endpoint`, polled every POLL_MS. */
const remoteArgs = (endpoint: string) => [
  '--cloud-map',
  'remote',
  '--cloud-map-endpoint',
  endpoint,
  '--cloud-map-poll-interval',
  `${POLL_MS}ms`,
  '--cloud-map-timeout',
  '1s',
];

let savedEnv: Record<string, string | undefined> = {};
function useAwsEnv(): void {
  savedEnv = Object.fromEntries(Object.keys(AWS_ENV).map((k) => [k, process.env[k]]));
  Object.assign(process.env, AWS_ENV);
}
function restoreEnv(): void {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

const envoyBin = findEnvoy();

describeIfAvailable(
  "remote Cloud Map: meshd A polls meshd B's Cloud Map API, its Envoy routes to B's instances",
  'a real Envoy',
  envoyBin ? undefined : NO_ENVOY,
  () => {
    let b: RunningProcess;
    let bAdmin: number;
    let sdk: ServiceDiscoveryClient;
    let serviceId: string;
    let sidecar: Sidecar;
    const upstreams: HttpUpstream[] = [];
    let one: HttpUpstream;
    let two: HttpUpstream;
    let three: HttpUpstream;
    const figures: Record<string, number[]> = { registration: [], 'health change': [], deregistration: [] };

    beforeAll(async () => {
      useAwsEnv();
      [one, two, three] = [
        await startHttpUpstream('one'),
        await startHttpUpstream('two'),
        await startHttpUpstream('three'),
      ];
      upstreams.push(one, two, three);
      // B: a plain meshd whose Cloud Map API is the remote registry (its own mesh names no Cloud Map service).
      const bMesh = path.join(tmpDir('remote-b-'), 'mesh.yaml');
      fs.writeFileSync(bMesh, 'kind: Mesh\nname: registry\n');
      bAdmin = await freePort();
      b = startMeshd([
        'serve',
        '--mesh',
        bMesh,
        '--xds-address',
        '127.0.0.1',
        '--xds-port',
        String(await freePort()),
        '--admin-port',
        String(bAdmin),
        '--cloud-map-state',
        path.join(tmpDir('remote-b-state-'), 'cloud-map.json'),
      ]);
      await waitFor('meshd B to serve', () => (b.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
      sdk = sdkFor(`http://127.0.0.1:${bAdmin}`);
      const { OperationId } = await sdk.send(new CreateHttpNamespaceCommand({ Name: NAMESPACE }));
      const { Operation } = await sdk.send(new GetOperationCommand({ OperationId: OperationId! }));
      const { Service } = await sdk.send(
        new CreateServiceCommand({
          Name: 'orders',
          NamespaceId: Operation!.Targets!.NAMESPACE!,
          HealthCheckCustomConfig: {},
        }),
      );
      serviceId = Service!.Id!;
      for (const [id, u] of [
        ['one', one],
        ['two', two],
      ] as const)
        await sdk.send(
          new RegisterInstanceCommand({ ServiceId: serviceId, InstanceId: id, Attributes: attributesOf(u) }),
        );
      // A, with its Envoy: ready once a request to the Cloud Map service answers 200.
      sidecar = await startSidecar({
        envoyBin: envoyBin!,
        meshYaml: MESH_YAML,
        nodeId: NODE_ID,
        ready: { host: ORDERS },
        meshdArgs: remoteArgs(`http://127.0.0.1:${bAdmin}`),
      });
    }, 60000);

    afterAll(async () => {
      const lines = Object.entries(figures)
        .filter(([, s]) => s.length > 0)
        .map(([what, s]) => `  ${what} in B -> Envoy's endpoints at A: ${summary(s)}`);
      if (lines.length)
        process.stdout.write(
          `remote Cloud Map propagation (poll interval ${POLL_MS} ms; expected within ${POLL_MS + 100} ms):\n${lines.join('\n')}\n`,
        );
      sdk?.destroy();
      await sidecar?.stop();
      await b?.stop();
      for (const u of upstreams) await u.close();
      restoreEnv();
    });

    it('the instances registered in B reach Envoy as endpoints and take traffic', async () => {
      expect(await envoyEndpoints(sidecar)).toEqual([local(one), local(two)].sort());
      const counts = await spread(sidecar, 30);
      expect(Object.keys(counts).sort()).toEqual(['one', 'two']);
      const report = await remoteReport(sidecar);
      expect(report).toMatchObject({
        mode: 'remote',
        services: [{ namespace: NAMESPACE, service: 'orders', state: 'ok', instances: 2, lastError: null }],
      });
    });

    it('a registration, a health change and a deregistration in B reach Envoy within a poll interval (measured, printed)', async () => {
      for (let round = 0; round < 4; round++) {
        // Changes land at a random point of A's poll cycle.
        await new Promise((r) => setTimeout(r, Math.random() * POLL_MS));
        await sdk.send(
          new RegisterInstanceCommand({ ServiceId: serviceId, InstanceId: 'three', Attributes: attributesOf(three) }),
        );
        figures.registration!.push(
          await untilEnvoy(sidecar, 'Envoy to get instance three', (e) => e.includes(local(three))),
        );

        await new Promise((r) => setTimeout(r, Math.random() * POLL_MS));
        await sdk.send(
          new UpdateInstanceCustomHealthStatusCommand({
            ServiceId: serviceId,
            InstanceId: 'three',
            Status: 'UNHEALTHY',
          }),
        );
        figures['health change']!.push(
          await untilEnvoy(
            sidecar,
            'Envoy to drop the unhealthy instance three',
            (e) => !e.includes(local(three)) && e.length === 2,
          ),
        );
        await sdk.send(
          new UpdateInstanceCustomHealthStatusCommand({ ServiceId: serviceId, InstanceId: 'three', Status: 'HEALTHY' }),
        );
        await untilEnvoy(sidecar, 'Envoy to get instance three back', (e) => e.includes(local(three)));

        await new Promise((r) => setTimeout(r, Math.random() * POLL_MS));
        await sdk.send(new DeregisterInstanceCommand({ ServiceId: serviceId, InstanceId: 'three' }));
        figures.deregistration!.push(
          await untilEnvoy(sidecar, 'Envoy to drop the deregistered instance three', (e) => !e.includes(local(three))),
        );
      }
      expect(await envoyEndpoints(sidecar)).toEqual([local(one), local(two)].sort());
      // The revision was asked every interval; the instances only when it moved.
      const metrics = await sidecar.meshdAdmin('/metrics');
      const calls = (op: string) =>
        Number(new RegExp(`meshd_cloud_map_remote_calls_total\\{operation="${op}"\\} (\\d+)`).exec(metrics)?.[1]);
      expect(calls('DiscoverInstances')).toBeLessThan(calls('DiscoverInstancesRevision'));
    }, 120000);

    it("a registration in A's own registry (its Cloud Map API) joins B's instances, and leaves again", async () => {
      const four = await startHttpUpstream('four');
      upstreams.push(four);
      const localSdk = sdkFor(`http://127.0.0.1:${sidecar.meshdAdminPort}`);
      try {
        const { OperationId } = await localSdk.send(new CreateHttpNamespaceCommand({ Name: NAMESPACE }));
        const { Operation } = await localSdk.send(new GetOperationCommand({ OperationId: OperationId! }));
        const { Service } = await localSdk.send(
          new CreateServiceCommand({ Name: 'orders', NamespaceId: Operation!.Targets!.NAMESPACE! }),
        );
        await localSdk.send(
          new RegisterInstanceCommand({ ServiceId: Service!.Id!, InstanceId: 'four', Attributes: attributesOf(four) }),
        );
        await untilEnvoy(
          sidecar,
          "Envoy to get the local instance four beside B's",
          (e) => e.length === 3 && e.includes(local(four)),
        );
        expect(await envoyEndpoints(sidecar)).toEqual([local(one), local(two), local(four)].sort());
        await localSdk.send(new DeregisterInstanceCommand({ ServiceId: Service!.Id!, InstanceId: 'four' }));
        await untilEnvoy(sidecar, 'Envoy to drop the local instance four', (e) => !e.includes(local(four)));
        expect(await envoyEndpoints(sidecar)).toEqual([local(one), local(two)].sort());
      } finally {
        localSdk.destroy();
      }
    });

    it('when B is stopped, traffic keeps flowing to the last known endpoints, and meshd status, /metrics and the log say why', async () => {
      await b.stop();
      await waitFor(
        'A to report the remote failing',
        async () => ((await remoteReport(sidecar)).services[0]?.state === 'failing' ? true : undefined),
        10000,
        50,
      );
      // Several poll intervals later, Envoy still has both endpoints and both answer.
      await new Promise((r) => setTimeout(r, 3 * POLL_MS));
      expect(await envoyEndpoints(sidecar)).toEqual([local(one), local(two)].sort());
      const counts = await spread(sidecar, 20);
      expect(Object.keys(counts).sort()).toEqual(['one', 'two']);

      const status = spawnSync(
        process.execPath,
        [MESHD_BIN, 'status', '--admin', `127.0.0.1:${sidecar.meshdAdminPort}`],
        { encoding: 'utf8' },
      );
      expect(status.status).toBe(0);
      expect(status.stdout).toMatch(
        new RegExp(`remote Cloud Map http://127\\.0\\.0\\.1:${bAdmin}: 1 service\\(s\\): 1 failing`),
      );
      expect(status.stdout).toMatch(
        new RegExp(
          `${NAMESPACE}/orders FAILING for \\d+s \\(\\d+ failed poll\\(s\\)\\): network: .*ECONNREFUSED.*; its last good 2 instance\\(s\\) keep serving`,
        ),
      );
      process.stdout.write(`meshd status with B stopped:\n${status.stdout}`);

      const metrics = await getOk(sidecar.meshdAdminPort, '/metrics');
      expect(metrics).toMatch(
        new RegExp(
          `meshd_cloud_map_remote_errors_total\\{namespace="${NAMESPACE.replace('.', '\\.')}",service="orders",reason="network"\\} [1-9]`,
        ),
      );
      expect(metrics).toContain(`meshd_cloud_map_remote_up{namespace="${NAMESPACE}",service="orders"} 0`);
      expect(sidecar.meshd.stderr()).toMatch(
        /warn .*cloud map remote: remote\.local\/orders: network: .*its last good 2 instance\(s\) keep serving/,
      );
    });
  },
);

/** Why moto's server mode cannot run here, or undefined when it can. */
function motoMissing(): string | undefined {
  if (!envoyBin) return NO_ENVOY;
  const probe = spawnSync('python3', ['-c', 'import moto.server, flask, flask_cors'], { encoding: 'utf8' });
  if (probe.error) return `python3 cannot be run (${probe.error.message})`;
  return probe.status === 0
    ? undefined
    : `moto's server mode is not installed (pip install 'moto[server]'): ${probe.stderr.trim().split('\n').pop()}`;
}

describeIfAvailable(
  "remote Cloud Map against moto's server mode (a local AWS emulator)",
  "moto's server mode and a real Envoy",
  motoMissing(),
  () => {
    let moto: ChildProcess;
    let motoLog = '';
    let motoPort: number;
    let sdk: ServiceDiscoveryClient;
    let serviceId: string;
    let sidecar: Sidecar;
    let one: HttpUpstream;
    let two: HttpUpstream;
    const figures: Record<string, number[]> = { registration: [], deregistration: [] };

    beforeAll(async () => {
      useAwsEnv();
      [one, two] = [await startHttpUpstream('one'), await startHttpUpstream('two')];
      motoPort = await freePort();
      moto = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(motoPort)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      moto.stdout!.on('data', (d: Buffer) => (motoLog += d.toString()));
      moto.stderr!.on('data', (d: Buffer) => (motoLog = (motoLog + d.toString()).slice(-4000)));
      await waitFor(
        'moto to answer',
        () =>
          getOk(motoPort, '/moto-api/').then(
            () => true,
            () => undefined,
          ),
        30000,
        100,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${motoLog}`);
      });
      sdk = sdkFor(`http://127.0.0.1:${motoPort}`);
      const { OperationId } = await sdk.send(new CreateHttpNamespaceCommand({ Name: NAMESPACE }));
      const { Operation } = await sdk.send(new GetOperationCommand({ OperationId: OperationId! }));
      const { Service } = await sdk.send(
        new CreateServiceCommand({ Name: 'orders', NamespaceId: Operation!.Targets!.NAMESPACE! }),
      );
      serviceId = Service!.Id!;
      await sdk.send(
        new RegisterInstanceCommand({ ServiceId: serviceId, InstanceId: 'one', Attributes: attributesOf(one) }),
      );
      sidecar = await startSidecar({
        envoyBin: envoyBin!,
        meshYaml: MESH_YAML,
        nodeId: NODE_ID,
        ready: { host: ORDERS },
        meshdArgs: remoteArgs(`http://127.0.0.1:${motoPort}`),
      });
    }, 90000);

    afterAll(async () => {
      const lines = Object.entries(figures)
        .filter(([, s]) => s.length > 0)
        .map(([what, s]) => `  ${what} in moto -> Envoy's endpoints: ${summary(s)}`);
      if (lines.length)
        process.stdout.write(
          `remote Cloud Map (moto) propagation (poll interval ${POLL_MS} ms):\n${lines.join('\n')}\n`,
        );
      sdk?.destroy();
      await sidecar?.stop();
      if (moto && moto.exitCode === null) {
        const exited = new Promise((r) => moto.once('exit', r));
        moto.kill('SIGTERM');
        await exited;
      }
      await one?.close();
      await two?.close();
      restoreEnv();
    });

    it("moto's instances reach Envoy; a registration and a deregistration follow within a poll interval; moto stopped keeps the endpoints", async () => {
      expect(await envoyEndpoints(sidecar)).toEqual([local(one)]);
      expect(Object.keys(await spread(sidecar, 5))).toEqual(['one']);
      for (let round = 0; round < 3; round++) {
        // One change per poll interval: moto's revision is a sum of
        // per-instance counters, so two changes within one poll may cancel out.
        await new Promise((r) => setTimeout(r, POLL_MS + Math.random() * POLL_MS));
        await sdk.send(
          new RegisterInstanceCommand({ ServiceId: serviceId, InstanceId: 'two', Attributes: attributesOf(two) }),
        );
        figures.registration!.push(
          await untilEnvoy(sidecar, 'Envoy to get instance two', (e) => e.includes(local(two))),
        );
        await new Promise((r) => setTimeout(r, POLL_MS + Math.random() * POLL_MS));
        await sdk.send(new DeregisterInstanceCommand({ ServiceId: serviceId, InstanceId: 'two' }));
        figures.deregistration!.push(
          await untilEnvoy(sidecar, 'Envoy to drop instance two', (e) => !e.includes(local(two))),
        );
      }

      moto.kill('SIGTERM');
      await waitFor(
        'A to report moto failing',
        async () => ((await remoteReport(sidecar)).services[0]?.state === 'failing' ? true : undefined),
        10000,
        50,
      );
      expect(await envoyEndpoints(sidecar)).toEqual([local(one)]);
      expect(Object.keys(await spread(sidecar, 5))).toEqual(['one']);
      const status = execFileSync(
        process.execPath,
        [MESHD_BIN, 'status', '--admin', `127.0.0.1:${sidecar.meshdAdminPort}`],
        { encoding: 'utf8' },
      );
      expect(status).toMatch(/remote\.local\/orders FAILING .*; its last good 1 instance\(s\) keep serving/);
    }, 120000);
  },
);

describe('serve --cloud-map flags', () => {
  const serve = (args: string[], env: Record<string, string> = {}) => {
    const dir = tmpDir('remote-flags-');
    const mesh = path.join(dir, 'mesh.yaml');
    fs.writeFileSync(mesh, MESH_YAML);
    return spawnSync(
      process.execPath,
      [
        MESHD_BIN,
        'serve',
        '--mesh',
        mesh,
        '--xds-port',
        '0',
        '--admin-port',
        '0',
        '--statsd-port',
        '0',
        '--cloud-map-state',
        path.join(dir, 'cm.json'),
        '--rollout-state',
        path.join(dir, 'r.json'),
        ...args,
      ],
      {
        encoding: 'utf8',
        timeout: 20000,
        env: { ...process.env, ...env },
      },
    );
  };

  it.each([
    [['--cloud-map', 'cloud'], "--cloud-map must be local or remote, got 'cloud'"],
    [
      ['--cloud-map-endpoint', 'http://127.0.0.1:1'],
      '--cloud-map-endpoint is for the remote Cloud Map: add --cloud-map remote',
    ],
    [
      ['--cloud-map', 'remote', '--cloud-map-endpoint', 'ftp://x'],
      "--cloud-map-endpoint must be an http or https URL such as http://127.0.0.1:18001, got 'ftp://x'",
    ],
    [
      ['--cloud-map', 'remote', '--cloud-map-poll-interval', '5'],
      "--cloud-map-poll-interval must be a duration from 100ms to 10m such as 5s, got '5'",
    ],
    [
      ['--cloud-map', 'remote', '--cloud-map-region', 'Mars 1'],
      "--cloud-map-region must be a region name such as us-east-1, got 'Mars 1'",
    ],
  ])('%j is refused with one line, exit 2', (args, message) => {
    const r = serve(args);
    expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({
      status: 2,
      stderr: expect.stringContaining(message),
    });
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('remote mode without any region stops with one line saying how to give one', () => {
    const r = serve(['--cloud-map', 'remote', '--cloud-map-endpoint', 'http://127.0.0.1:1'], {
      AWS_REGION: '',
      AWS_DEFAULT_REGION: '',
      AWS_CONFIG_FILE: '/nonexistent/config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cannot start: the remote Cloud Map needs a region: --cloud-map-region, or AWS_REGION');
  });
});
