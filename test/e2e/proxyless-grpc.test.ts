// Proxyless gRPC end to end: a real @grpc/grpc-js client with the @grpc/grpc-js-xds resolver
// (no Envoy) whose xDS bootstrap names the virtual node `caller` dials
// `xds:///colors.demo.local` and gets its listener, routes and clusters from a real meshd
// process over ADS. Two real gRPC servers stand for colors-v1 / colors-v2; the router's
// 75/25 weights split the client's calls, and editing the mesh file moves a live client (same
// channel, same ADS stream) to 0/100. The client runs in a child process
// (test/fixtures/grpc-xds-client.js) so its bootstrap env stays out of the jest process.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { freePort, getOk, startMeshd, tmpDir, waitFor, type RunningProcess } from '../helpers/processes';
import { GRPC_PACKAGE, startGrpcUpstream, type GrpcUpstream } from '../helpers/upstreams';

const MESH = 'demo';
const SERVICE = 'colors.demo.local';
const CALLER = `mesh/${MESH}/virtualNode/caller`;
const CLIENT_SCRIPT = path.resolve(__dirname, '../fixtures/grpc-xds-client.js');

function meshYaml(v1: GrpcUpstream, v2: GrpcUpstream, weights: [number, number]): string {
  const target = (u: GrpcUpstream) =>
    `kind: VirtualNode\nmesh: ${MESH}\nname: ${u.name}\nspec:\n` +
    `  listeners: [{ portMapping: { port: ${u.port}, protocol: grpc } }]\n  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }\n`;
  return [
    `kind: Mesh\nname: ${MESH}\nspec: { egressFilter: { type: DROP_ALL } }\n`,
    `kind: VirtualNode\nmesh: ${MESH}\nname: caller\nspec:\n  backends: [{ virtualService: { virtualServiceName: ${SERVICE} } }]\n`,
    target(v1),
    target(v2),
    `kind: VirtualRouter\nmesh: ${MESH}\nname: colors\nspec: { listeners: [{ portMapping: { port: 8080, protocol: grpc } }] }\n`,
    `kind: Route\nmesh: ${MESH}\nvirtualRouter: colors\nname: split\nspec:\n  grpcRoute:\n    match: { serviceName: ${GRPC_PACKAGE}.Colors }\n` +
      `    action: { weightedTargets: [{ virtualNode: ${v1.name}, weight: ${weights[0]} }, { virtualNode: ${v2.name}, weight: ${weights[1]} }] }\n`,
    `kind: VirtualService\nmesh: ${MESH}\nname: ${SERVICE}\nspec: { provider: { virtualRouter: { virtualRouterName: colors } } }\n`,
  ].join('---\n');
}

interface ProxyTypeStatus {
  state: 'SYNCED' | 'STALE' | 'NACKED' | 'NOT_SENT';
  sentVersion: string | null;
  ackedVersion: string | null;
  lastNack: { message: string } | null;
}

interface ProxyReport {
  nodeId: string;
  cluster: string;
  stream: number | string;
  protocol?: string;
  client?: string;
  types: Record<string, ProxyTypeStatus>;
}

async function getJson<T>(port: number, pathName: string): Promise<T> {
  return JSON.parse(await getOk(port, pathName)) as T;
}

interface CallsReply {
  counts: Record<string, number>;
  errors: Record<string, number>;
  lastError: string | null;
}

/** The grpc-js-xds client child process, driven by JSON lines over stdin/stdout. */
class XdsClientProcess {
  private readonly child: ChildProcess;
  private readonly pending = new Map<
    number,
    { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  private nextId = 1;
  private err = '';
  private exited: string | undefined;

  constructor(target: string, bootstrap: object) {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap),
      GRPC_TRACE: 'xds_client',
      GRPC_VERBOSITY: 'DEBUG',
    };
    delete env.GRPC_XDS_BOOTSTRAP;
    this.child = spawn(process.execPath, [CLIENT_SCRIPT, target], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => (this.err = (this.err + d.toString()).slice(-200_000)));
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let msg: { id?: number; error?: string } & Record<string, unknown>;
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      const waiter = msg.id === undefined ? undefined : this.pending.get(msg.id);
      if (!waiter) return;
      this.pending.delete(msg.id!);
      if (msg.error) waiter.reject(new Error(`client: ${msg.error}`));
      else waiter.resolve(msg);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = `grpc-xds-client exited (${code ?? signal})`;
      for (const w of this.pending.values()) w.reject(new Error(`${this.exited}\n${this.logTail()}`));
      this.pending.clear();
    });
  }

  private send(cmd: Record<string, unknown>, timeoutMs = 60000): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(new Error(`${this.exited}\n${this.logTail()}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`client did not answer ${JSON.stringify(cmd)} in ${timeoutMs} ms\n${this.logTail()}`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.child.stdin!.write(`${JSON.stringify({ ...cmd, id })}\n`);
    });
  }

  /** `n` unary Colors/Pick calls on the client's one channel: who answered how often, and the failures. */
  async calls(n: number): Promise<CallsReply> {
    return (await this.send({ cmd: 'calls', n })) as unknown as CallsReply;
  }

  /** The last lines of the client's grpc trace (xds_client), for failure messages. */
  logTail(chars = 6000): string {
    return `--- grpc-xds-client stderr (tail) ---\n${this.err.slice(-chars)}`;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

describe('proxyless gRPC: a real grpc-js-xds client routed by meshd (no Envoy)', () => {
  let v1: GrpcUpstream;
  let v2: GrpcUpstream;
  let meshFile: string;
  let meshd: RunningProcess;
  let meshdAdminPort: number;
  let client: XdsClientProcess;

  const logs = () => `--- meshd stderr ---\n${meshd?.stderr().slice(-6000)}\n${client?.logTail() ?? ''}`;

  const callerReport = async (): Promise<ProxyReport | undefined> =>
    (await getJson<ProxyReport[]>(meshdAdminPort, '/v1/proxies')).find((p) => p.nodeId === CALLER);

  /** Waits until the caller's stream has LDS, RDS and CDS all ACKed (a NACK fails at once), and returns that report. */
  const waitCallerSynced = (what: string, extra: (r: ProxyReport) => boolean = () => true): Promise<ProxyReport> =>
    waitFor(
      what,
      async () => {
        const report = await callerReport();
        if (!report) return undefined;
        const nacked = Object.entries(report.types).find(([, t]) => t.state === 'NACKED');
        if (nacked) throw new Error(`grpc-js-xds NACKed ${nacked[0]}: ${nacked[1].lastNack?.message}`);
        const synced = ['LDS', 'RDS', 'CDS'].every((t) => report.types[t]?.state === 'SYNCED');
        return synced && extra(report) ? report : undefined;
      },
      20000,
      50,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${logs()}`);
    });

  beforeAll(async () => {
    v1 = await startGrpcUpstream('colors-v1');
    v2 = await startGrpcUpstream('colors-v2');
    meshFile = path.join(tmpDir('proxyless-'), 'mesh.yaml');
    fs.writeFileSync(meshFile, meshYaml(v1, v2, [75, 25]));
    const xdsPort = await freePort();
    meshdAdminPort = await freePort();
    meshd = startMeshd([
      'serve',
      '--mesh',
      meshFile,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(xdsPort),
      '--admin-port',
      String(meshdAdminPort),
    ]);
    await waitFor('meshd to start serving', () => {
      if (meshd.child.exitCode !== null)
        throw new Error(`meshd exited with ${meshd.child.exitCode}\n${meshd.stderr()}`);
      return meshd.stdout().includes('xDS (ADS gRPC)') ? true : undefined;
    });
    client = new XdsClientProcess(`xds:///${SERVICE}`, {
      xds_servers: [
        { server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] },
      ],
      node: { id: CALLER, cluster: 'caller', locality: {} },
    });
  }, 60000);

  afterAll(async () => {
    await client?.stop();
    await meshd?.stop();
    await v1?.close();
    await v2?.close();
  });

  it('splits 400 calls to xds:///colors.demo.local about 75/25 between the two servers', async () => {
    const r = await client.calls(400);
    if (Object.keys(r.errors).length > 0) throw new Error(`calls failed: ${JSON.stringify(r)}\n${logs()}`);
    expect(Object.keys(r.counts).sort()).toEqual(['colors-v1', 'colors-v2']);
    expect(r.counts['colors-v1']! + r.counts['colors-v2']!).toBe(400);
    const v1Share = r.counts['colors-v1']! / 400;
    expect(v1Share).toBeGreaterThanOrEqual(0.65);
    expect(v1Share).toBeLessThanOrEqual(0.85);
    // The servers saw the calls the client counted (nothing else in between).
    expect(v1.calls.length).toBe(r.counts['colors-v1']);
    expect(v2.calls.length).toBe(r.counts['colors-v2']);
    expect(v1.calls.every((c) => c.service === `${GRPC_PACKAGE}.Colors` && c.method === 'Pick')).toBe(true);
  });

  it("lists the caller's ADS stream in /v1/proxies with LDS, RDS and CDS all SYNCED", async () => {
    const report = await waitCallerSynced('the caller to have LDS, RDS and CDS SYNCED');
    expect(report.cluster).toBe('caller');
    for (const t of ['LDS', 'RDS', 'CDS']) {
      expect(report.types[t]).toMatchObject({ state: 'SYNCED', lastNack: null });
      expect(report.types[t]!.ackedVersion).toBe(report.types[t]!.sentVersion);
    }
    // A gRPC client with LOGICAL_DNS clusters resolves addresses itself: it never asks for EDS.
    expect(report.types.EDS?.state ?? 'NOT_SENT').toBe('NOT_SENT');
    // One stream for this node: the client keeps its ADS stream.
    expect(
      (await getJson<ProxyReport[]>(meshdAdminPort, '/v1/proxies')).filter((p) => p.nodeId === CALLER),
    ).toHaveLength(1);
    expect(report.protocol).toBe('sotw');
    expect(report.client).toBe('gRPC Node Pure JS');
  });

  it('shows in /v1/config what the gRPC client is served: an api_listener per dialable name, not the sidecar listeners', async () => {
    const config = await getJson<{
      listeners: { name: string; api_listener?: unknown }[];
      clusters: { name: string; type: string }[];
    }>(meshdAdminPort, `/v1/config/${encodeURIComponent(CALLER)}`);
    // xds:///colors.demo.local and xds:///colors.demo.local:<router port> both work.
    expect(config.listeners.map((l) => l.name)).toEqual([
      SERVICE,
      expect.stringMatching(new RegExp(`^${SERVICE.replace(/\./g, '\\.')}:\\d+$`)),
    ]);
    expect(config.listeners.every((l) => l.api_listener !== undefined)).toBe(true);
    expect(config.clusters.map((c) => [c.name, c.type])).toEqual([
      ['cds_egress_demo_colors-v1_grpc_' + v1.port, 'LOGICAL_DNS'],
      ['cds_egress_demo_colors-v2_grpc_' + v2.port, 'LOGICAL_DNS'],
    ]);
  });

  it('moves the live client to 0/100 when the mesh file is edited, without a new ADS stream', async () => {
    const before = await waitCallerSynced('the caller to be SYNCED before the edit');
    const from = meshd.stderr().length;
    fs.writeFileSync(meshFile, meshYaml(v1, v2, [0, 100]));
    await waitFor('meshd to reload the mesh file', () => {
      const log = meshd.stderr().slice(from);
      if (log.includes('mesh not reloaded')) throw new Error(`meshd rejected the new mesh:\n${log}`);
      return log.includes('mesh reloaded') ? true : undefined;
    });
    const after = await waitCallerSynced(
      'the caller to ACK a new RDS version',
      (r) => r.types.RDS!.ackedVersion !== before.types.RDS!.ackedVersion,
    );
    expect(before.stream).toEqual(expect.anything());
    expect(after.stream).toBe(before.stream);
    expect(after.types.RDS!.ackedVersion).not.toBe(before.types.RDS!.ackedVersion);

    v1.reset();
    v2.reset();
    const r = await client.calls(200);
    if (Object.keys(r.errors).length > 0) throw new Error(`calls failed: ${JSON.stringify(r)}\n${logs()}`);
    expect(r.counts).toEqual({ 'colors-v2': 200 });
    expect(v1.calls).toHaveLength(0);
    expect(v2.calls).toHaveLength(200);
  });
});
