// Mesh tasks made of real processes for the network-namespace suites: meshd reachable from
// the namespaces, Envoy sidecars (inside a namespace as the proxy user, or on the host in
// explicit mode), the app fixtures, and small HTTP/stat readers that take any address.
import { execFile, execFileSync } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { startEnvoy, type RunningEnvoy } from './envoy';
import {
  createNetns,
  proxyUserCopy,
  readableTmpDir,
  writeReadable,
  APPMESH_EGRESS_PORT,
  APPMESH_INGRESS_PORT,
  type Netns,
  type NetnsProcess,
} from './netns';
import { freePort, MESHD_BIN, startMeshd, waitFor, type RunningProcess } from './processes';

export const FIXTURES = path.resolve(__dirname, '../fixtures/netns');
export const CLIENT_JS = path.join(FIXTURES, 'client.js');
export const APP_JS = path.join(FIXTURES, 'app.js');
/** Envoy's admin port inside a namespace (App Mesh's ENVOY_ADMIN_ACCESS_PORT default). */
export const NS_ADMIN_PORT = 9901;

export interface MeshdForNetns {
  readonly meshd: RunningProcess;
  readonly xdsPort: number;
  readonly adminPort: number;
  stop(): Promise<void>;
}

/**
 * `meshd serve` with xDS on 0.0.0.0, so sidecars in namespaces reach it over their veth; or on
 * `xdsAddress` (127.0.0.1: meshd serves workload certificates, and namespaces reach it through
 * relayXdsToNetns), with `args` added.
 */
export async function startMeshdForNetns(
  meshFile: string,
  opts: { xdsAddress?: string; args?: string[] } = {},
): Promise<MeshdForNetns> {
  const xdsPort = await freePort();
  const adminPort = await freePort();
  const meshd = startMeshd([
    'serve',
    '--mesh',
    meshFile,
    '--xds-address',
    opts.xdsAddress ?? '0.0.0.0',
    '--xds-port',
    String(xdsPort),
    '--admin-port',
    String(adminPort),
    ...(opts.args ?? []),
  ]);
  await waitFor('meshd to start serving', () => {
    if (meshd.child.exitCode !== null) throw new Error(`meshd exited: ${meshd.stderr()}`);
    return meshd.stdout().includes('xDS (ADS gRPC)') ? true : undefined;
  });
  return { meshd, xdsPort, adminPort, stop: async () => void (await meshd.stop()) };
}

/**
 * A TCP relay from `ns.hostIp`:`port` (where startSidecarInNetns points a namespace's Envoy) to
 * 127.0.0.1:`port`, for a meshd whose xDS listens on loopback only: the namespace cannot reach the
 * host's loopback, and meshd serves workload certificates only there (or over --xds-tls).
 */
export async function relayXdsToNetns(ns: Netns, port: number): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ns.hostIp, () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export function meshdBootstrap(opts: {
  nodeId: string;
  xdsAddress: string;
  adminAddress: string;
  adminPort: number;
  ingressPort?: number;
  egressPort?: number;
  /** More `meshd bootstrap` arguments (e.g. --sds-socket-path). */
  extraArgs?: readonly string[];
  /** App Mesh variables for `meshd bootstrap` (e.g. ENABLE_ENVOY_JAEGER_TRACING), over the test's own. */
  env?: Readonly<Record<string, string>>;
}): string {
  const args = [
    'bootstrap',
    '--node',
    opts.nodeId,
    '--xds-address',
    opts.xdsAddress,
    '--admin-address',
    opts.adminAddress,
    '--admin-port',
    String(opts.adminPort),
  ];
  if (opts.ingressPort !== undefined) args.push('--ingress-port', String(opts.ingressPort));
  if (opts.egressPort !== undefined) args.push('--egress-port', String(opts.egressPort));
  args.push(...(opts.extraArgs ?? []));
  return execFileSync(process.execPath, [MESHD_BIN, ...args], {
    encoding: 'utf8',
    env: opts.env ? { ...process.env, ...opts.env } : undefined,
  });
}

export interface NsSidecar {
  readonly process: NetnsProcess;
  readonly adminHost: string;
  readonly adminPort: number;
  logs(): string;
  stop(): Promise<void>;
}

/**
 * An Envoy sidecar inside `ns`, running as uid/gid 1337 like App Mesh's, on the default
 * ports (ingress 15000, egress 15001, admin 9901), fed by meshd over the veth.
 */
export async function startSidecarInNetns(
  ns: Netns,
  envoyBin: string,
  nodeId: string,
  xdsPort: number,
  opts: {
    concurrency?: number;
    bootstrapArgs?: readonly string[];
    bootstrapEnv?: Readonly<Record<string, string>>;
    /** More Envoy command-line flags. */
    envoyArgs?: readonly string[];
  } = {},
): Promise<NsSidecar> {
  const dir = readableTmpDir('sidecar-');
  const bootstrap = meshdBootstrap({
    nodeId,
    xdsAddress: `${ns.hostIp}:${xdsPort}`,
    adminAddress: '0.0.0.0',
    adminPort: NS_ADMIN_PORT,
    ingressPort: APPMESH_INGRESS_PORT,
    egressPort: APPMESH_EGRESS_PORT,
    extraArgs: opts.bootstrapArgs,
    env: opts.bootstrapEnv,
  });
  const file = writeReadable(dir, 'envoy-bootstrap.yaml', bootstrap);
  const args = [
    '-c',
    file,
    '--log-level',
    'info',
    '--base-id',
    String(Math.floor(Math.random() * 1e6)),
    '--disable-hot-restart',
  ];
  if (opts.concurrency !== undefined) args.push('--concurrency', String(opts.concurrency));
  args.push(...(opts.envoyArgs ?? []));
  const proc = ns.spawn(envoyBin, args, { asProxyUser: true });
  const sidecar: NsSidecar = {
    process: proc,
    adminHost: ns.nsIp,
    adminPort: NS_ADMIN_PORT,
    logs: proc.output,
    stop: proc.stop,
  };
  await waitFor(
    `Envoy for ${nodeId} in ${ns.name} to be LIVE`,
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`Envoy exited (${proc.child.exitCode}):\n${proc.output()}`);
      const r = await request({ host: ns.nsIp, port: NS_ADMIN_PORT, path: '/ready' }).catch(() => undefined);
      return r?.status === 200 ? true : undefined;
    },
    30000,
    50,
  );
  return sidecar;
}

export interface HostSidecar {
  readonly envoy: RunningEnvoy;
  readonly adminPort: number;
  readonly egressPort: number;
  readonly ingressPort: number;
  stop(): Promise<void>;
}

/** An Envoy sidecar in the root namespace in explicit mode, every port free (shared host). */
export async function startSidecarOnHost(
  envoyBin: string,
  nodeId: string,
  xdsPort: number,
  opts: { bootstrapArgs?: readonly string[] } = {},
): Promise<HostSidecar> {
  const adminPort = await freePort();
  const egressPort = await freePort();
  const ingressPort = await freePort();
  const bootstrap = meshdBootstrap({
    nodeId,
    xdsAddress: `127.0.0.1:${xdsPort}`,
    adminAddress: '127.0.0.1',
    adminPort,
    ingressPort,
    egressPort,
    extraArgs: opts.bootstrapArgs,
  });
  const envoy = startEnvoy(envoyBin, bootstrap, adminPort);
  await waitFor(
    `Envoy for ${nodeId} to be LIVE`,
    async () => {
      if (envoy.process.exitCode !== null)
        throw new Error(`Envoy exited (${envoy.process.exitCode}):\n${envoy.logs()}`);
      const r = await request({ host: '127.0.0.1', port: adminPort, path: '/ready' }).catch(() => undefined);
      return r?.status === 200 ? true : undefined;
    },
    30000,
    50,
  );
  return { envoy, adminPort, egressPort, ingressPort, stop: envoy.stop };
}

export interface HttpResult {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One HTTP request to any address; resolves with status, body and headers. */
export function request(opts: {
  host: string;
  port: number;
  path?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: opts.host, port: opts.port, path: opts.path ?? '/', headers: opts.headers, agent: false },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(opts.timeoutMs ?? 5000, () => req.destroy(new Error('request timed out')));
    req.end();
  });
}

/** Envoy's counters and gauges from its admin /stats (name → value). */
export async function envoyStats(host: string, adminPort: number, filter?: string): Promise<Record<string, number>> {
  const r = await request({
    host,
    port: adminPort,
    path: `/stats${filter ? `?filter=${encodeURIComponent(filter)}` : ''}`,
  });
  const stats: Record<string, number> = {};
  for (const line of r.body.split('\n')) {
    const m = /^([^:]+): (\d+)$/.exec(line.trim());
    if (m) stats[m[1]!] = Number(m[2]);
  }
  return stats;
}

/** An Envoy TLS counter summed over its listeners or its clusters (`<scope>.<name>.ssl.<counter>` in `stats`). */
export function sslCounter(stats: Record<string, number>, scope: 'listener' | 'cluster', counter: string): number {
  return Object.entries(stats).reduce(
    (n, [k, v]) => (k.startsWith(`${scope}.`) && k.endsWith(`.ssl.${counter}`) ? n + v : n),
    0,
  );
}

/** What the fixture client printed for one request or connection. */
export interface ClientResult {
  status?: number;
  body?: string;
  overloaded?: string;
  data?: string;
  error?: string;
}

function runClient(ns: Netns, args: string[], asProxyUser: boolean): Promise<ClientResult[]> {
  const prefix = asProxyUser ? ['setpriv', '--reuid', '1337', '--regid', '1337', '--clear-groups'] : [];
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      ['netns', 'exec', ns.name, ...prefix, process.execPath, proxyUserCopy(CLIENT_JS), ...args],
      { encoding: 'utf8', timeout: 60000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`client ${args.join(' ')} failed: ${stderr || err.message}`));
        resolve(
          stdout
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as ClientResult),
        );
      },
    );
  });
}

/**
 * An app inside `ns` does `count` plain HTTP GETs of `url` (no proxy settings). With
 * `asProxyUser` it runs as uid 1337, which the capture rules let through untouched.
 */
export function nsHttpGet(
  ns: Netns,
  url: string,
  count = 1,
  opts: { asProxyUser?: boolean } = {},
): Promise<ClientResult[]> {
  return runClient(ns, ['http', url, String(count)], opts.asProxyUser ?? false);
}

/** An app inside `ns` opens `count` TCP connections to host:port and reads what it is sent. */
export function nsTcpRead(
  ns: Netns,
  host: string,
  port: number,
  count = 1,
  opts: { asProxyUser?: boolean } = {},
): Promise<ClientResult[]> {
  return runClient(ns, ['tcp', host, String(port), String(count)], opts.asProxyUser ?? false);
}

/** Counts answers: a 200's body, else `HTTP <status>`, else `error <code>`. */
export function tally(results: ClientResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of results) {
    const key =
      r.error !== undefined
        ? `error ${r.error}`
        : r.data !== undefined
          ? r.data
          : r.status === 200
            ? r.body!
            : `HTTP ${r.status}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

export interface Callee {
  readonly ns: Netns;
  readonly app: NetnsProcess;
  readonly sidecar: NsSidecar;
  /** The app's control server, reachable from the root namespace. */
  readonly controlPort: number;
  control(what: 'held' | 'release' | 'arm'): Promise<string>;
  destroy(): Promise<void>;
}

/**
 * A callee task: a namespace with the app (tests/fixtures/netns/app.js) on 127.0.0.1:<appPorts>,
 * App Mesh's capture rules for those ports, and its Envoy sidecar as uid 1337. Callers reach
 * it at ns.nsIp:<app port> (the node's DNS hostname must be that IP). If anything fails on the
 * way, what was created is removed before the error propagates.
 */
export async function startCallee(opts: {
  envoyBin: string;
  nodeId: string;
  xdsPort: number;
  appName: string;
  appPorts: number[];
  /** Called once the namespace exists and before the sidecar starts (e.g. to put its IP in the mesh). */
  beforeSidecar?: (ns: Netns) => void | Promise<void>;
  /** Envoy worker threads (default: one per CPU, like App Mesh's image). */
  concurrency?: number;
  /** More `meshd bootstrap` arguments for the sidecar (e.g. --sds-socket-path). */
  bootstrapArgs?: readonly string[];
}): Promise<Callee> {
  const ns = await createNetns();
  try {
    ns.setHosts({});
    ns.installAppMeshRules({ appPorts: opts.appPorts });
    const controlPort = 9000;
    const app = ns.spawn(process.execPath, [APP_JS, opts.appName, String(controlPort), ...opts.appPorts.map(String)]);
    await app.waitForOutput(`app ${opts.appName} listening`);
    await opts.beforeSidecar?.(ns);
    const sidecar = await startSidecarInNetns(ns, opts.envoyBin, opts.nodeId, opts.xdsPort, {
      concurrency: opts.concurrency,
      bootstrapArgs: opts.bootstrapArgs,
    });
    return {
      ns,
      app,
      sidecar,
      controlPort,
      control: async (what) => (await request({ host: ns.nsIp, port: controlPort, path: `/${what}` })).body,
      destroy: () => ns.destroy(),
    };
  } catch (err) {
    await ns.destroy();
    throw err;
  }
}
