// One meshd serving a mesh file plus one real Envoy sidecar for one node id, all on free
// ports: the pieces of test/e2e/skeleton.test.ts, made reusable for traffic tests. The test
// client talks plain HTTP (or h2c gRPC) to 127.0.0.1:<egressPort>, naming the virtual
// service in the Host header / :authority (App Mesh's explicit mode).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { startEnvoy, type RunningEnvoy } from './envoy';
import { freePorts, getOk, MESHD_BIN, startMeshd, tmpDir, waitFor, type RunningProcess } from './processes';

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  /** Give up (reject) after this long; default 20 s, above the 15 s default route timeout. */
  timeoutMs?: number;
}

/** One HTTP/1.1 request to 127.0.0.1:<port> with the given Host; resolves on any HTTP status. */
export function httpRequest(port: number, host: string, opts: RequestOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: opts.path ?? '/',
        method: opts.method ?? 'GET',
        headers: { ...opts.headers, host },
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.setTimeout(opts.timeoutMs ?? 20000, () =>
      req.destroy(new Error(`request to ${host}${opts.path ?? '/'} timed out`)),
    );
    req.end();
  });
}

/** Which upstream answered: its `x-upstream` header, or `HTTP <status>` when Envoy itself answered. */
export function answeredBy(r: HttpResult): string {
  const server = r.headers['x-upstream'];
  if (typeof server === 'string' && r.status === 200) return server;
  return typeof server === 'string' ? `${server} HTTP ${r.status}` : `HTTP ${r.status}`;
}

export interface SidecarOptions {
  envoyBin: string;
  /** The mesh file's text (multi-document YAML). */
  meshYaml: string;
  /** e.g. mesh/demo/virtualNode/client */
  nodeId: string;
  /**
   * Wait until a request to this virtual service (Host header) answers `ready.status` (default
   * 200), or until a check of your own (given the egress port) resolves true.
   */
  ready:
    | { host: string; path?: string; headers?: Record<string, string>; status?: number }
    | ((egressPort: number) => Promise<boolean>);
  /** Envoy's ADS flavour (`meshd bootstrap --ads`); default: meshd bootstrap's default (sotw). */
  ads?: 'sotw' | 'delta';
  /** More `meshd serve` flags, e.g. `['--log-level', 'debug']` (kept across restartMeshd). */
  meshdArgs?: string[];
  /** More `meshd bootstrap` flags for the sidecar, e.g. `['--stats-flush-interval', '200ms']`. */
  bootstrapArgs?: string[];
  /**
   * Envoy's DogStatsD sink sends to this meshd (`bootstrap --dog-statsd`): meshd's statsd
   * listener takes a free UDP port (startMeshd's MESHD_STATSD_PORT=0), the harness reads it from
   * GET /v1/telemetry into `statsdPort`, and restartMeshd binds the same port again.
   */
  dogStatsd?: boolean;
}

export interface ProxyTypeStatus {
  state: 'SYNCED' | 'STALE' | 'NACKED' | 'NOT_SENT';
  sentVersion: string | null;
  ackedVersion: string | null;
  lastNack: { message: string } | null;
}

export interface Sidecar {
  readonly nodeId: string;
  readonly meshFile: string;
  readonly egressPort: number;
  readonly ingressPort: number;
  readonly adminPort: number;
  readonly xdsPort: number;
  readonly meshdAdminPort: number;
  /** meshd's DogStatsD (UDP) port on 127.0.0.1 that the sidecar sends to, with `dogStatsd`. */
  readonly statsdPort: number | undefined;
  /** The meshd process serving now (a new one after restartMeshd). */
  readonly meshd: RunningProcess;
  readonly envoy: RunningEnvoy;
  /** An HTTP request through the egress listener to a virtual service. */
  request(host: string, opts?: RequestOptions): Promise<HttpResult>;
  /**
   * Rewrites the mesh file and waits until meshd reloaded it and
   * Envoy ACKed every type (throws on a rejected mesh or a NACK).
   */
  updateMesh(yaml: string): Promise<void>;
  /**
   * Rewrites the mesh file and waits until meshd reloaded it, without waiting for Envoy (throws on a rejected mesh).
   */
  reloadMesh(yaml: string): Promise<void>;
  /**
   * Stops meshd (SIGTERM by default; `kill: 'SIGKILL'` for a crash), waits until it is gone, and
   * starts a new one on the same xDS and admin ports and mesh file; resolves once it serves.
   * Envoy is left alone: it reconnects on its own.
   */
  restartMeshd(opts?: { kill?: NodeJS.Signals }): Promise<void>;
  /** meshd admin API: GET a path (e.g. `/metrics`, `/v1/proxies`) as text. */
  meshdAdmin(pathAndQuery: string): Promise<string>;
  /** Envoy admin: GET a path (e.g. `/clusters`, `/config_dump`) as text. */
  admin(pathAndQuery: string): Promise<string>;
  /** Envoy admin counters and gauges, by full stat name (from /stats?format=json). */
  stats(filter?: string): Promise<Map<string, number>>;
  /** One stat's value, or undefined when Envoy has no such stat. */
  stat(name: string): Promise<number | undefined>;
  /** meshd's view of this proxy's ADS stream (GET /v1/proxies). */
  proxyStatus(): Promise<Record<string, ProxyTypeStatus> | undefined>;
  /** meshd's and Envoy's logs, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

/** Envoy's warnings and errors, and its last lines: enough to see why a test failed. */
function envoyLogDigest(log: string): string {
  const lines = log.split('\n');
  const notable = lines.filter((l) => /\]\[(warning|error|critical)\]/.test(l));
  return [...notable.slice(-30), '...', ...lines.slice(-10)].join('\n');
}

/** Starts meshd on the mesh and one Envoy for `nodeId`, and waits until `ready` answers. */
export async function startSidecar(opts: SidecarOptions): Promise<Sidecar> {
  const meshFile = path.join(tmpDir('sidecar-'), 'mesh.yaml');
  fs.writeFileSync(meshFile, opts.meshYaml);
  // Distinct: the OS may hand a port out twice, and an ingress port equal to the egress port is a
  // listener Envoy rejects (duplicate address).
  const [xdsPort, meshdAdminPort, adminPort, ingressPort, egressPort] = (await freePorts(5)) as [
    number,
    number,
    number,
    number,
    number,
  ];

  // Its own Cloud Map registry file, kept across restartMeshd like a real deployment's.
  const cloudMapState = path.join(tmpDir('sidecar-cloud-map-'), 'cloud-map.json');
  const serveArgs = [
    'serve',
    '--mesh',
    meshFile,
    '--xds-address',
    '127.0.0.1',
    '--xds-port',
    String(xdsPort),
    '--admin-port',
    String(meshdAdminPort),
    '--cloud-map-state',
    cloudMapState,
    ...(opts.meshdArgs ?? []),
  ];
  let meshd = startMeshd(serveArgs);
  /** The stderr of the meshd processes stopped by restartMeshd, for failure messages. */
  let earlierMeshdLogs = '';
  let envoy: RunningEnvoy | undefined;
  const logs = () =>
    `--- meshd stderr ---\n${(earlierMeshdLogs + meshd.stderr()).slice(-6000)}\n--- envoy (warnings, errors, last lines) ---\n${envoy ? envoyLogDigest(envoy.logs()) : '(not started)'}`;
  const stop = async () => {
    await envoy?.stop();
    await meshd.stop();
  };

  const proxyStatus = async (): Promise<Record<string, ProxyTypeStatus> | undefined> => {
    const proxies = JSON.parse(await getOk(meshdAdminPort, '/v1/proxies')) as {
      nodeId: string;
      types: Record<string, ProxyTypeStatus>;
    }[];
    return proxies.find((p) => p.nodeId === opts.nodeId)?.types;
  };

  /** Every type meshd sent is ACKed, twice in a row; a NACK is an error. */
  const waitSynced = async (what: string, logFrom = 0) => {
    let syncedOnce = false;
    await waitFor(
      what,
      async () => {
        // meshd says so when it cannot compile this node's configuration; no point waiting.
        const cannot = meshd
          .stderr()
          .slice(logFrom)
          .split('\n')
          .find((l) => l.includes(`cannot compile ${opts.nodeId}`));
        if (cannot) throw new Error(cannot);
        const types = await proxyStatus();
        if (!types || Object.keys(types).length === 0) return undefined;
        const nacked = Object.entries(types).find(([, t]) => t.state === 'NACKED');
        if (nacked) throw new Error(`Envoy NACKed ${nacked[0]}: ${nacked[1].lastNack?.message}`);
        const synced =
          Object.values(types).every((t) => t.state === 'SYNCED' || t.state === 'NOT_SENT') &&
          Object.values(types).some((t) => t.state === 'SYNCED');
        if (!synced) return ((syncedOnce = false), undefined);
        if (syncedOnce) return true;
        syncedOnce = true;
        return undefined;
      },
      20000,
      50,
    );
  };

  const meshdServing = () =>
    waitFor('meshd to start serving', () => {
      if (meshd.child.exitCode !== null) throw new Error(`meshd exited with ${meshd.child.exitCode}`);
      return meshd.stdout().includes('xDS (ADS gRPC)') ? true : undefined;
    });

  let statsdPort: number | undefined;
  try {
    await meshdServing();
    if (opts.dogStatsd) {
      statsdPort = (JSON.parse(await getOk(meshdAdminPort, '/v1/telemetry')) as { statsd: { port: number } }).statsd
        .port;
      serveArgs.push('--statsd-port', String(statsdPort));
    }
    const bootstrap = execFileSync(
      process.execPath,
      [
        MESHD_BIN,
        'bootstrap',
        '--node',
        opts.nodeId,
        '--xds-address',
        `127.0.0.1:${xdsPort}`,
        '--admin-address',
        '127.0.0.1',
        '--admin-port',
        String(adminPort),
        '--ingress-port',
        String(ingressPort),
        '--egress-port',
        String(egressPort),
        ...(opts.ads ? ['--ads', opts.ads] : []),
        ...(statsdPort !== undefined
          ? ['--dog-statsd', '--statsd-address', '127.0.0.1', '--statsd-port', String(statsdPort)]
          : []),
        ...(opts.bootstrapArgs ?? []),
      ],
      { encoding: 'utf8' },
    );
    envoy = startEnvoy(opts.envoyBin, bootstrap, adminPort);
    await waitSynced(`Envoy (${opts.nodeId}) to ACK its configuration`);
    const ready = opts.ready;
    let last = '';
    const check =
      typeof ready === 'function'
        ? async () => ((await ready(egressPort).catch((e: Error) => ((last = e.message), false))) ? true : undefined)
        : async () => {
            const r = await httpRequest(egressPort, ready.host, {
              path: ready.path,
              headers: ready.headers,
              timeoutMs: 3000,
            }).catch((e: Error) => {
              last = e.message;
              return undefined;
            });
            if (r) last = `HTTP ${r.status} ${r.body.slice(0, 200)}`;
            return r?.status === (ready.status ?? 200) ? true : undefined;
          };
    const what =
      typeof ready === 'function'
        ? 'the readiness check to pass'
        : `${ready.host}${ready.path ?? '/'} to answer ${ready.status ?? 200} through the egress port`;
    await waitFor(what, check, 30000, 100).catch((err: Error) => {
      throw new Error(`${err.message}; last answer: ${last}`);
    });
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${logs()}`);
  }
  const started = envoy!;
  const stats = (filter?: string) => statsOf(adminPort, filter);

  /** Writes the mesh file and waits for meshd to reload it; returns where meshd's log stood before. */
  const reloadMesh = async (yaml: string): Promise<number> => {
    const from = meshd.stderr().length;
    fs.writeFileSync(meshFile, yaml);
    await waitFor('meshd to reload the mesh file', () => {
      const log = meshd.stderr().slice(from);
      if (log.includes('mesh not reloaded')) throw new Error(`meshd rejected the new mesh:\n${log}`);
      return log.includes('mesh reloaded') ? true : undefined;
    }).catch((err: Error) => {
      throw new Error(`${err.message}\n${logs()}`);
    });
    return from;
  };

  return {
    nodeId: opts.nodeId,
    meshFile,
    egressPort,
    ingressPort,
    adminPort,
    xdsPort,
    meshdAdminPort,
    statsdPort,
    get meshd() {
      return meshd;
    },
    envoy: started,
    request: (host, ropts) => httpRequest(egressPort, host, ropts),
    async updateMesh(yaml) {
      const from = await reloadMesh(yaml);
      await waitSynced('Envoy to ACK the reloaded mesh', from).catch((err: Error) => {
        throw new Error(`${err.message}\n${logs()}`);
      });
    },
    async reloadMesh(yaml) {
      await reloadMesh(yaml);
    },
    async restartMeshd(ropts = {}) {
      const old = meshd;
      if (old.child.exitCode === null && old.child.signalCode === null) {
        const exited = new Promise<void>((resolve) => old.child.once('exit', () => resolve()));
        old.child.kill(ropts.kill ?? 'SIGTERM');
        await exited;
      }
      earlierMeshdLogs += `${old.stderr()}--- meshd stopped (${ropts.kill ?? 'SIGTERM'}) and started again ---\n`;
      meshd = startMeshd(serveArgs);
      await meshdServing().catch((err: Error) => {
        throw new Error(`${err.message}\n${logs()}`);
      });
    },
    meshdAdmin: (p) => getOk(meshdAdminPort, p),
    admin: (p) => getOk(adminPort, p),
    stats,
    async stat(name) {
      const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      return (await stats(`^${escaped}$`)).get(name);
    },
    proxyStatus,
    logs,
    stop,
  };
}

/** Envoy admin /stats?format=json as name → value (counters and gauges; histograms left out). */
async function statsOf(adminPort: number, filter?: string): Promise<Map<string, number>> {
  const q = filter ? `/stats?format=json&filter=${encodeURIComponent(filter)}` : '/stats?format=json';
  const json = JSON.parse(await getOk(adminPort, q)) as { stats: { name?: string; value?: number }[] };
  const out = new Map<string, number>();
  for (const s of json.stats) if (s.name !== undefined && typeof s.value === 'number') out.set(s.name, s.value);
  return out;
}

/**
 * A virtual node that stands for one test upstream: one listener on the upstream's port, found
 * through DNS at 127.0.0.1, so the caller's egress cluster connects straight to the test server.
 * `listenerExtra` is YAML for more listener fields (healthCheck, outlierDetection, ...), as a
 * flow mapping body, e.g. `outlierDetection: { ... }`.
 */
export function targetNodeYaml(
  mesh: string,
  name: string,
  port: number,
  protocol: 'http' | 'http2' | 'grpc' = 'http',
  listenerExtra = '',
): string {
  return `kind: VirtualNode
mesh: ${mesh}
name: ${name}
spec:
  listeners: [{ portMapping: { port: ${port}, protocol: ${protocol} }${listenerExtra ? `, ${listenerExtra}` : ''} }]
  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }
`;
}
