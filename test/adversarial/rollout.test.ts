// Adversarial canary rollouts: telemetry that lies, webhooks that answer forever or point
// inside, and a state disk that refuses writes or a meshd killed mid-write. Each class is
// checked where a user would notice it: the rollout's phase and events, the route's weights in
// the mesh file, meshd's memory and /metrics. The classes about a running meshd start a real
// one (bin/meshd serve); the comparisons and the kill at the rename are driven through the
// RolloutController with a synthetic telemetry reader and an injected store or route writer,
// as test/unit/rollout-controller.test.ts does.
import { spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { StateFileError } from '../../src/util/atomic-json-file';
import { loadMesh } from '../../src/load/mesh-source';
import { createLogger } from '../../src/util/log';
import { routeKindOf } from '../../src/model/route';
import { checkCanary } from '../../src/rollout/analysis';
import { RolloutController } from '../../src/rollout/controller';
import { RolloutStore, type RolloutRecord } from '../../src/rollout/records';
import { editWeights } from '../../src/rollout/route-file';
import { DEFAULT_METRICS, resolveSettings, type RolloutSettings, type Webhook } from '../../src/model/rollout';
import { DEFAULT_WEBHOOK_POLICY, WebhookCaller } from '../../src/rollout/webhooks';
import type { TelemetryReader, TrafficSummary } from '../../src/telemetry';
import { freePort, getOk, MESHD_BIN, startMeshd, tmpDir, waitFor, type RunningProcess } from '../helpers/processes';

const WAIT_MS = 30_000;

// ---- the mesh: Route/web/split sends `primary` percent to web-v1 and `canary` percent to web-v2 ----

const node = (name: string) =>
  `kind: VirtualNode\nmesh: apps\nname: ${name}\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: ${name}.local } }\n`;

function meshText(primary: number, canary: number, ...rollouts: string[]): string {
  return [
    'kind: Mesh\nname: apps\n',
    node('web-v1'),
    node('web-v2'),
    'kind: VirtualRouter\nmesh: apps\nname: web\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n',
    'kind: VirtualService\nmesh: apps\nname: web.apps.local\nspec: { provider: { virtualRouter: { virtualRouterName: web } } }\n',
    `kind: Route\nmesh: apps\nvirtualRouter: web\nname: split\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action:\n      weightedTargets:\n        - { virtualNode: web-v1, weight: ${primary} }\n        - { virtualNode: web-v2, weight: ${canary} }\n`,
    ...rollouts,
  ].join('---\n');
}

function rolloutDoc(name: string, analysis: Record<string, unknown>): string {
  return `kind: Rollout\nmesh: apps\nname: ${name}\nspec:\n  route: { virtualRouter: web, name: split }\n  primary: web-v1\n  canary: web-v2\n  analysis: ${JSON.stringify(analysis)}\n`;
}

/** The route's weights as the file says now, e.g. "90/10". */
function splitIn(file: string): string {
  const result = loadMesh([file]);
  if (!result.ok) throw new Error(`${file} does not load: ${result.problems.map((p) => p.message).join('; ')}`);
  const route = result.model.routesOf('apps', 'web').find((r) => r.name === 'split')!;
  return routeKindOf(route.spec)
    .action.weightedTargets.map((t) => t.weight)
    .join('/');
}

// ---- a real meshd ----

interface RolloutView {
  name: string;
  phase: string;
  canaryWeight: number;
  events: { type: string; message: string }[];
}

interface Meshd {
  readonly proc:
    | RunningProcess
    | { child: ReturnType<typeof spawn>; stdout(): string; stderr(): string; stop(): Promise<number | null> };
  readonly adminPort: number;
  readonly meshFile: string;
  rollout(name: string): Promise<RolloutView | undefined>;
  post(pathName: string, body: unknown): Promise<{ status: number; body: { error?: string } & Partial<RolloutView> }>;
  statusKb(field: 'VmRSS' | 'VmHWM'): number;
}

const meshds: Meshd[] = [];
const servers: http.Server[] = [];
afterEach(async () => {
  for (const m of meshds.splice(0)) await m.proc.stop();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

function meshdOf(proc: Meshd['proc'], adminPort: number, meshFile: string): Meshd {
  const m: Meshd = {
    proc,
    adminPort,
    meshFile,
    rollout: async (name) =>
      (JSON.parse(await getOk(adminPort, '/v1/rollouts')) as RolloutView[]).find((r) => r.name === name),
    post: async (pathName, body) => {
      const res = await fetch(`http://127.0.0.1:${adminPort}${pathName}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as { error?: string } & Partial<RolloutView> };
    },
    statusKb: (field) =>
      Number(new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${proc.child.pid}/status`, 'utf8'))![1]),
  };
  meshds.push(m);
  return m;
}

async function started(proc: Meshd['proc']): Promise<void> {
  await waitFor(
    'meshd to serve',
    () => {
      if (proc.child.exitCode !== null) throw new Error(`meshd exited: ${proc.stderr()}`);
      return proc.stdout().includes('xDS (ADS gRPC)') ? true : undefined;
    },
    WAIT_MS,
  );
}

async function serve(text: string, args: string[] = []): Promise<Meshd> {
  const dir = tmpDir('adv-rollout-');
  const meshFile = path.join(dir, 'mesh.yaml');
  fs.writeFileSync(meshFile, text);
  const adminPort = await freePort();
  const proc = startMeshd([
    'serve',
    '--mesh',
    meshFile,
    '--xds-address',
    '127.0.0.1',
    '--xds-port',
    String(await freePort()),
    '--admin-port',
    String(adminPort),
    '--rollout-state',
    path.join(dir, 'rollouts.json'),
    '--cloud-map-state',
    path.join(dir, 'cloud-map.json'),
    '--debounce-ms',
    '0',
    ...args,
  ]);
  await started(proc);
  return meshdOf(proc, adminPort, meshFile);
}

/** Waits until the rollout has ended (Succeeded, Failed or Aborted) and returns it. */
const ended = (m: Meshd, name: string) =>
  waitFor(
    `rollout ${name} to end`,
    async () => {
      const r = await m.rollout(name);
      return r && ['Succeeded', 'Failed', 'Aborted'].includes(r.phase) ? r : undefined;
    },
    WAIT_MS,
    100,
  );

const eventsOf = (r: RolloutView) => r.events.map((e) => e.message).join('\n');

async function httpServer(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

// ---- a synthetic telemetry reader, for the controller ----

const honest: Omit<TrafficSummary, 'windowMs' | 'ratePerSecond'> = {
  requests: 200,
  errors: 0,
  successRate: 100,
  p50Ms: 5,
  p99Ms: 20,
};

class SyntheticTelemetry implements TelemetryReader {
  traffic: Record<string, unknown> = { ...honest };
  summary(_mesh: string, _node: string, windowMs: number): TrafficSummary {
    return { ratePerSecond: 1, ...this.traffic, windowMs } as unknown as TrafficSummary;
  }
}

/** A store whose writes fail (a full or read-only disk) while `failing` is set. */
class FlakyStore extends RolloutStore {
  failing = false;
  override save(records: Iterable<RolloutRecord>): void {
    if (this.failing) throw new StateFileError(`${this.path}: cannot write: ENOSPC: no space left on device`);
    super.save(records);
  }
}

interface Run {
  readonly file: string;
  readonly store: FlakyStore;
  readonly telemetry: SyntheticTelemetry;
  readonly controller: RolloutController;
  readonly poller: NodeJS.Timeout;
}

const runs: Run[] = [];
afterEach(() => {
  for (const r of runs.splice(0)) {
    clearInterval(r.poller);
    r.controller.close();
  }
});

/** `meshd serve` in small: the controller, the real loader, and a reload whenever the file changes (the watcher). */
async function control(
  file: string,
  opts: { storePath?: string; telemetry?: SyntheticTelemetry; editRoute?: typeof editWeights } = {},
): Promise<Run> {
  const store = new FlakyStore(opts.storePath ?? path.join(tmpDir('adv-state-'), 'rollouts.json'));
  const telemetry = opts.telemetry ?? new SyntheticTelemetry();
  const controller = new RolloutController({
    telemetry,
    store,
    log: createLogger({ write: () => undefined }),
    ...(opts.editRoute ? { editRoute: opts.editRoute } : {}),
  });
  let last = '';
  const reload = () => {
    last = fs.readFileSync(file, 'utf8');
    const result = loadMesh([file]);
    if (!result.ok) throw new Error(result.problems.map((p) => p.message).join('; '));
    return controller.meshLoaded({ model: result.model, whereWritten: result.whereWritten }, result.rollouts);
  };
  const poller = setInterval(() => {
    let now: string;
    try {
      now = fs.readFileSync(file, 'utf8');
    } catch {
      return;
    }
    if (now !== last) void reload();
  }, 10);
  const run = { file, store, telemetry, controller, poller };
  runs.push(run);
  await reload();
  return run;
}

const recordOf = (run: Run, name: string) => run.controller.get('apps', name);
const phaseOf = (run: Run, name: string, phases: string[]) =>
  waitFor(
    `rollout ${name} to reach ${phases.join(' or ')}`,
    () => {
      const r = recordOf(run, name);
      return r && phases.includes(r.phase) ? r : undefined;
    },
    WAIT_MS,
  );

function meshFileWith(text: string): string {
  const file = path.join(tmpDir('adv-mesh-'), 'mesh.yaml');
  fs.writeFileSync(file, text);
  return file;
}

// =====================================================================================

describe('class: the rollout check fails open on NaN (a comparison that NaN passes)', () => {
  const settings: RolloutSettings = resolveSettings({
    route: { virtualRouter: 'web', name: 'split' },
    primary: 'web-v1',
    canary: 'web-v2',
    analysis: { interval: '1s', minRequests: 5 },
  });

  it.each([
    ['a NaN success rate (Infinity requests)', { requests: Infinity, errors: 200, successRate: NaN }],
    ['Infinity requests with a 100% success rate', { requests: Infinity, errors: 0, successRate: 100 }],
    ['NaN requests', { requests: NaN, errors: 0, successRate: 100 }],
    ['a NaN p99', { p99Ms: NaN }],
    ['an Infinity p99', { p99Ms: Infinity }],
    ['a -Infinity p99', { p99Ms: -Infinity }],
    ['a missing p99', { p99Ms: undefined }],
    ['a missing success rate', { successRate: undefined }],
    ['a success rate above 100', { successRate: 250 }],
    ['a negative success rate', { successRate: -5 }],
    ['more 5xx than requests', { errors: 300 }],
    ['a success rate that is a string', { successRate: '100' }],
  ])('fails the check on %s', (_, lie) => {
    const telemetry = new SyntheticTelemetry();
    telemetry.traffic = { ...honest, ...lie };
    const check = checkCanary(telemetry, 'apps', settings, Date.now());
    expect(check.ok).toBe(false);
    expect(check.results.some((r) => !r.ok)).toBe(true);
    // And the honest traffic passes, so the check is not simply always failing.
    expect(checkCanary(new SyntheticTelemetry(), 'apps', settings, Date.now()).ok).toBe(true);
  });

  it('a metric with a NaN threshold fails rather than passes', () => {
    const odd: RolloutSettings = {
      ...settings,
      metrics: [{ name: 'request-success-rate', min: NaN }, ...DEFAULT_METRICS.slice(1)],
    };
    expect(checkCanary(new SyntheticTelemetry(), 'apps', odd, Date.now()).ok).toBe(false);
  });

  it('the controller rolls a canary back, never promotes it, when its telemetry is NaN', async () => {
    const file = meshFileWith(
      meshText(100, 0, rolloutDoc('nan', { interval: '1s', stepWeight: 50, maxWeight: 50, threshold: 2 })),
    );
    const telemetry = new SyntheticTelemetry();
    telemetry.traffic = { requests: Infinity, errors: 500, successRate: NaN, p50Ms: 5, p99Ms: 20 };
    const run = await control(file, { telemetry });
    const end = await phaseOf(run, 'nan', ['Failed', 'Succeeded']);
    expect(end.phase).toBe('Failed');
    await waitFor('the route back at 100/0', () => (splitIn(file) === '100/0' ? true : undefined), WAIT_MS);
    expect(end.events.map((e) => e.message).join('\n')).toContain('not a measurement; the telemetry cannot be trusted');
  });

  it('a real meshd never promotes a canary answering 5xx while a poisoned datagram (1e308 with a sample rate) arrives', async () => {
    const meshd = await serve(meshText(100, 0));
    const statsdPort = (JSON.parse(await getOk(meshd.adminPort, '/v1/telemetry')) as { statsd: { port: number } })
      .statsd.port;
    const socket = dgram.createSocket('udp4');
    const cluster = 'cds_egress_apps_web-v2_http_8080';
    const datagrams = [
      // The caller's sidecar: every request to the canary answered 5xx ...
      `envoy.cluster.upstream_rq_xx:20|c|#envoy.response_code_class:5,envoy.cluster_name:${cluster}`,
      // ... and the poison: one huge 2xx count, blown up by its sample rate.
      `envoy.cluster.upstream_rq_xx:1e308|c|@0.001|#envoy.response_code_class:2,envoy.cluster_name:${cluster}`,
      `envoy.cluster.upstream_rq_xx:1e308|c|#envoy.response_code_class:2,envoy.cluster_name:${cluster}`,
      `envoy.cluster.upstream_rq_xx:NaN|c|#envoy.response_code_class:2,envoy.cluster_name:${cluster}`,
      `envoy.cluster.upstream_rq_time:5|ms|#envoy.cluster_name:${cluster}`,
    ];
    const feeding = setInterval(() => {
      for (const d of datagrams) socket.send(d, statsdPort, '127.0.0.1');
    }, 100);
    try {
      fs.writeFileSync(
        meshd.meshFile,
        meshText(
          100,
          0,
          rolloutDoc('poisoned', { interval: '1s', stepWeight: 50, maxWeight: 50, threshold: 2, minRequests: 5 }),
        ),
      );
      const end = await ended(meshd, 'poisoned');
      expect(end.phase).toBe('Failed');
      expect(eventsOf(end)).toMatch(
        /rolling back after 2 failed check\(s\): success rate 0% over the last 1s, below the minimum 99%/,
      );
      expect(eventsOf(end)).not.toContain('promoted');
      await waitFor('the route back at 100/0', () => (splitIn(meshd.meshFile) === '100/0' ? true : undefined), WAIT_MS);
      const metrics = await getOk(meshd.adminPort, '/metrics');
      expect(
        Number(/meshd_statsd_dropped_lines_total\{reason="out_of_range"\} (\d+)/.exec(metrics)![1]),
      ).toBeGreaterThan(0);
      expect(Number(/meshd_statsd_dropped_lines_total\{reason="non_finite"\} (\d+)/.exec(metrics)![1])).toBeGreaterThan(
        0,
      );
    } finally {
      clearInterval(feeding);
      socket.close();
    }
  });
});

describe('class: a webhook answer is read whole into memory', () => {
  it('an endless answer is cut off after a few KB: meshd does not grow, and the call fails cleanly as a no', async () => {
    let sent = 0;
    let closed = 0;
    // Answers 500 and then writes forever (about 100 MB/s) until the caller hangs up.
    const port = await httpServer((req, res) => {
      req.resume();
      res.writeHead(500, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(1 << 20, 'a');
      const timer = setInterval(() => {
        if (res.writableLength < 8 << 20) {
          res.write(chunk);
          sent += chunk.length;
        }
      }, 10);
      res.on('close', () => {
        clearInterval(timer);
        closed++;
      });
    });
    const meshd = await serve(meshText(100, 0));
    const before = meshd.statusKb('VmHWM');
    fs.writeFileSync(
      meshd.meshFile,
      meshText(
        100,
        0,
        rolloutDoc('endless', {
          interval: '1s',
          threshold: 1,
          webhooks: [{ name: 'endless', type: 'pre-rollout', url: `http://127.0.0.1:${port}/`, timeout: '3s' }],
        }),
      ),
    );
    const end = await ended(meshd, 'endless');
    expect(end.phase).toBe('Failed');
    expect(eventsOf(end)).toContain(
      'rolling back after 1 failed check(s): pre-rollout webhook endless: answered 500 (the answer was cut off unread',
    );
    expect(eventsOf(end)).not.toContain('aaaa');
    await waitFor('meshd to hang up on the endless answer', () => (closed > 0 ? true : undefined), WAIT_MS);
    const grownMb = (meshd.statusKb('VmHWM') - before) / 1024;
    process.stdout.write(
      `endless webhook: meshd peak RSS grew ${grownMb.toFixed(1)} MB; the server wrote ${(sent / 1048576).toFixed(0)} MB before meshd hung up\n`,
    );
    expect(grownMb).toBeLessThan(50);
    expect(splitIn(meshd.meshFile)).toBe('100/0');
  });
});

describe('class: a webhook turns the rollout API into a reader of internal URLs', () => {
  /** An "internal" service that must never be reached, and what it would tell. */
  async function internalService(): Promise<{ port: number; hits: () => number }> {
    let hits = 0;
    const port = await httpServer((req, res) => {
      hits++;
      req.resume();
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('SECRET-INTERNAL-TOKEN');
    });
    return { port, hits: () => hits };
  }

  const spec = (webhooks: unknown[]) => ({
    route: { virtualRouter: 'web', name: 'split' },
    primary: 'web-v1',
    canary: 'web-v2',
    analysis: { interval: '1s', threshold: 1, webhooks },
  });

  it('with --webhook-allow, the API refuses a webhook to another host or scheme (400 naming the field) and changes nothing', async () => {
    const internal = await internalService();
    const allowedPort = await httpServer((_req, res) => res.end('ok'));
    const meshd = await serve(meshText(100, 0), ['--webhook-allow', `127.0.0.1:${allowedPort}`]);
    const before = fs.readFileSync(meshd.meshFile, 'utf8');
    const refused = [
      [
        `http://127.0.0.1:${internal.port}/admin`,
        `spec.analysis.webhooks[0].url: the host 127.0.0.1:${internal.port} is not in --webhook-allow (127.0.0.1:${allowedPort})`,
      ],
      [
        `http://localhost:${allowedPort}/`,
        `spec.analysis.webhooks[0].url: the host localhost:${allowedPort} is not in --webhook-allow`,
      ],
      [
        'http://169.254.169.254/latest/meta-data/',
        'spec.analysis.webhooks[0].url: the host 169.254.169.254 is not in --webhook-allow',
      ],
      ['ftp://127.0.0.1/x', 'spec.analysis.webhooks[0].url: must be an http:// or https:// URL'],
      ['file:///etc/passwd', 'spec.analysis.webhooks[0].url: must be an http:// or https:// URL'],
      ['data:text/plain,yes', 'spec.analysis.webhooks[0].url: must be an http:// or https:// URL'],
    ];
    for (const [url, error] of refused) {
      const r = await meshd.post('/v1/rollouts', {
        name: 'probe',
        spec: spec([{ name: 'probe', type: 'pre-rollout', url }]),
      });
      expect({ url, status: r.status }).toEqual({ url, status: 400 });
      expect(r.body.error).toContain(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(internal.hits()).toBe(0);
    expect(fs.readFileSync(meshd.meshFile, 'utf8')).toBe(before);
    expect(JSON.parse(await getOk(meshd.adminPort, '/v1/rollouts'))).toEqual([]);
  });

  it('a declared webhook to a host not allowed is never called: a Warning event, a no, and a count on /metrics', async () => {
    const internal = await internalService();
    const meshd = await serve(meshText(100, 0), ['--webhook-allow', 'hooks.example.internal']);
    fs.writeFileSync(
      meshd.meshFile,
      meshText(
        100,
        0,
        rolloutDoc('inside', {
          interval: '1s',
          threshold: 1,
          webhooks: [{ name: 'peek', type: 'pre-rollout', url: `http://127.0.0.1:${internal.port}/` }],
        }),
      ),
    );
    const end = await ended(meshd, 'inside');
    expect(end.phase).toBe('Failed');
    expect(end.events.find((e) => e.type === 'Warning')!.message).toBe(
      `webhook peek (spec.analysis.webhooks[0].url) will not be called, which counts as a no: the host 127.0.0.1:${internal.port} is not in --webhook-allow (hooks.example.internal)`,
    );
    expect(eventsOf(end)).toContain('pre-rollout webhook peek: not called: the host');
    expect(internal.hits()).toBe(0);
    expect(eventsOf(end)).not.toContain('SECRET');
    const metrics = await getOk(meshd.adminPort, '/metrics');
    expect(
      Number(/meshd_rollout_webhooks_refused_total\{reason="host_not_allowed"\} (\d+)/.exec(metrics)![1]),
    ).toBeGreaterThan(0);
  });

  const hook = (url: string, timeoutMs = 10_000): Webhook => ({
    name: 'h',
    type: 'pre-rollout',
    url,
    timeoutMs,
    metadata: {},
  });
  const payload = { name: 'r', namespace: 'apps', phase: 'Progressing', type: 'pre-rollout', metadata: {} };

  it('a URL of another scheme that reaches the caller anyway (from a state file, say) is refused at call time', async () => {
    const caller = new WebhookCaller();
    // fetch() answers a data: URL itself, with 200: without the check, a yes from nowhere.
    expect(await caller.call(hook('data:text/plain,yes'), payload)).toEqual({
      ok: false,
      reason: 'not called: only http and https webhooks are called, not data',
    });
    expect(await caller.call(hook('file:///etc/passwd'), payload)).toEqual({
      ok: false,
      reason: 'not called: only http and https webhooks are called, not file',
    });
    expect(caller.refused.scheme).toBe(2);
  });

  it("waits at most --webhook-max-timeout, whatever the hook's own timeout says", async () => {
    const port = await httpServer((req) => req.resume()); // never answers
    const caller = new WebhookCaller({ ...DEFAULT_WEBHOOK_POLICY, maxTimeoutMs: 1000 });
    expect(await caller.call(hook(`http://127.0.0.1:${port}/`, 300_000), payload)).toEqual({
      ok: false,
      reason: 'no answer within 1s (the most meshd waits, --webhook-max-timeout; the hook asks for 5m)',
    });
  });

  it('an allowed webhook: a long or non-text answer is not shown, and a redirect inside is not followed', async () => {
    const internal = await internalService();
    const page = `<html><body>${'x'.repeat(300)} SECRET-IN-LONG-PAGE</body></html>`;
    const hookPort = await httpServer((req, res) => {
      req.resume();
      if (req.url === '/long') {
        res.writeHead(503, { 'content-type': 'text/html' });
        res.end(page);
      } else if (req.url === '/binary') {
        res.writeHead(500, { 'content-type': 'application/octet-stream' });
        res.end(Buffer.from('SECRET-BINARY\u0000\u0001'));
      } else if (req.url === '/redirect') {
        res.writeHead(307, { location: `http://127.0.0.1:${internal.port}/admin` });
        res.end();
      } else {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('short text reason');
      }
    });
    const meshd = await serve(meshText(100, 0), ['--webhook-allow', `127.0.0.1:${hookPort}`]);
    const reasons: string[] = [];
    for (const [i, where] of ['/long', '/binary', '/redirect', '/short'].entries()) {
      const r = await meshd.post('/v1/rollouts', {
        name: `hook${i}`,
        spec: spec([{ name: 'gate', type: 'pre-rollout', url: `http://127.0.0.1:${hookPort}${where}` }]),
      });
      expect(r.status).toBe(201);
      const end = await ended(meshd, `hook${i}`);
      reasons.push(end.events.map((e) => e.message).find((m) => m.startsWith('rolling back'))!);
    }
    expect(reasons).toEqual([
      `rolling back after 1 failed check(s): pre-rollout webhook gate: answered 503 (a body of ${page.length} bytes, longer than 200 characters, not shown)`,
      'rolling back after 1 failed check(s): pre-rollout webhook gate: answered 500 (a body of type application/octet-stream, not shown)',
      'rolling back after 1 failed check(s): pre-rollout webhook gate: answered 307',
      'rolling back after 1 failed check(s): pre-rollout webhook gate: answered 500: short text reason',
    ]);
    expect(internal.hits()).toBe(0);
  });
});

describe('class: rollout persistence order (acting before the intent is saved)', () => {
  it('a real meshd that cannot write its rollout state refuses POST /v1/rollouts with 503 and leaves the route file as it was', async () => {
    // Run as nobody (uid 65534) when root, so that the state folder really is unwritable.
    const asRoot = process.getuid?.() === 0;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-adv-state-'));
    fs.chmodSync(dir, 0o755);
    const meshDir = path.join(dir, 'mesh');
    const stateDir = path.join(dir, 'state');
    const ownDir = path.join(dir, 'own');
    for (const d of [meshDir, stateDir, ownDir]) fs.mkdirSync(d, { mode: 0o755 });
    const meshFile = path.join(meshDir, 'mesh.yaml');
    fs.writeFileSync(meshFile, meshText(90, 10));
    if (asRoot) {
      for (const p of [meshDir, meshFile, ownDir]) fs.chownSync(p, 65534, 65534);
    } else {
      fs.chmodSync(stateDir, 0o555);
    }
    const adminPort = await freePort();
    const args = [
      MESHD_BIN,
      'serve',
      '--mesh',
      meshFile,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(await freePort()),
      '--admin-port',
      String(adminPort),
      '--rollout-state',
      path.join(stateDir, 'rollouts.json'),
      '--cloud-map-state',
      path.join(ownDir, 'cloud-map.json'),
      '--statsd-port',
      '0',
    ];
    const child = asRoot
      ? spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...args], {
          stdio: ['ignore', 'pipe', 'pipe'],
          cwd: ownDir,
        })
      : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: ownDir });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const proc = {
      child,
      stdout: () => out,
      stderr: () => err,
      stop: () =>
        new Promise<number | null>((resolve) => {
          if (child.exitCode !== null) return resolve(child.exitCode);
          child.once('exit', (code) => resolve(code));
          child.kill('SIGTERM');
        }),
    };
    const meshd = meshdOf(proc, adminPort, meshFile);
    await started(proc);
    const before = fs.readFileSync(meshFile, 'utf8');

    const r = await meshd.post('/v1/rollouts', {
      name: 'unsaved',
      spec: {
        route: { virtualRouter: 'web', name: 'split' },
        primary: 'web-v1',
        canary: 'web-v2',
        analysis: { interval: '1s', stepWeight: 10 },
      },
    });
    expect(r.status).toBe(503);
    expect(r.body.error).toMatch(
      /^cannot save the rollout state \(.*rollouts\.json: cannot write: .*(EACCES|permission denied).*\); nothing was started and the route was not changed$/i,
    );
    // Two intervals later: no step was taken, nothing is tracked, meshd is up.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(fs.readFileSync(meshFile, 'utf8')).toBe(before);
    expect(JSON.parse(await getOk(adminPort, '/v1/rollouts'))).toEqual([]);
    expect(child.exitCode).toBeNull();
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('the API start, a command and an automatic step each refuse to touch the route while the state cannot be saved', async () => {
    const file = meshFileWith(meshText(100, 0));
    const run = await control(file);
    const settings = resolveSettings({
      route: { virtualRouter: 'web', name: 'split' },
      primary: 'web-v1',
      canary: 'web-v2',
      analysis: { interval: '1s', stepWeight: 10, maxWeight: 50 },
    });

    // The start: refused, nothing tracked, the file untouched.
    run.store.failing = true;
    const refused = await run.controller.start('apps', 'api', settings);
    expect(refused).toEqual({
      ok: false,
      status: 503,
      error: expect.stringMatching(
        /^cannot save the rollout state \(.*ENOSPC.*\); nothing was started and the route was not changed$/,
      ),
    });
    expect(run.controller.list()).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(splitIn(file)).toBe('100/0');

    // Started once the disk is back; then the disk fills up again before its next step.
    run.store.failing = false;
    expect(await run.controller.start('apps', 'api', settings)).toMatchObject({ ok: true });
    await waitFor(
      'the first step',
      () => (splitIn(file) === '90/10' && recordOf(run, 'api')?.phase === 'Progressing' ? true : undefined),
      WAIT_MS,
    );
    run.store.failing = true;
    const paused = await phaseOf(run, 'api', ['Paused']);
    expect(paused.events[paused.events.length - 1]!.message).toMatch(
      /^cannot save the rollout state \(.*ENOSPC.*\); the route was left at web-v1 90 and web-v2 10 and the rollout paused/,
    );
    expect(splitIn(file)).toBe('90/10');

    // A command while the state cannot be saved: 503, nothing changed.
    expect(await run.controller.command('apps', 'api', 'promote')).toMatchObject({
      ok: false,
      status: 503,
      error: expect.stringContaining('the rollout was not changed (promote refused)'),
    });
    expect(await run.controller.command('apps', 'api', 'resume')).toMatchObject({ ok: false, status: 503 });
    expect(recordOf(run, 'api')!.phase).toBe('Paused');
    expect(splitIn(file)).toBe('90/10');

    // The disk is back: the state on it is where the rollout really is.
    run.store.failing = false;
    expect(await run.controller.command('apps', 'api', 'abort')).toMatchObject({
      ok: true,
      rollout: { phase: 'Aborted' },
    });
    expect(splitIn(file)).toBe('100/0');
    expect(new RolloutStore(run.store.path).load()).toEqual([
      expect.objectContaining({ name: 'api', phase: 'Aborted', expected: { primary: 100, canary: 0 } }),
    ]);
  });

  /**
   * Runs a rollout until its second step (10% → 20%) and "kills" meshd at that write: `at`
   * says whether just before the route file's rename or just after it. What a kill leaves is
   * the state file and the mesh file as they are at that instant: both are copied then, and a
   * new controller (a restarted meshd) starts from the copies.
   */
  async function killedAtRename(at: 'before' | 'after'): Promise<{ restarted: Run; copy: string }> {
    const file = meshFileWith(meshText(100, 0, rolloutDoc('kill', { interval: '1s', stepWeight: 10, maxWeight: 50 })));
    const storePath = path.join(tmpDir('adv-state-'), 'rollouts.json');
    const copyDir = tmpDir('adv-killed-');
    let killed = false;
    const snapshot = () => {
      fs.copyFileSync(storePath, path.join(copyDir, 'rollouts.json'));
      fs.copyFileSync(file, path.join(copyDir, 'mesh.yaml'));
      killed = true;
    };
    const editRoute: typeof editWeights = (edits, identity) => {
      const second = !killed && edits.some((e) => e.value === 20);
      if (second && at === 'before') snapshot();
      const result = editWeights(edits, identity);
      if (second && at === 'after') snapshot();
      return result;
    };
    const first = await control(file, { storePath, editRoute });
    await waitFor('the kill at the second step', () => (killed ? true : undefined), WAIT_MS);
    clearInterval(first.poller);
    first.controller.close();
    const copy = path.join(copyDir, 'mesh.yaml');
    expect(splitIn(copy)).toBe(at === 'before' ? '90/10' : '80/20');
    const restarted = await control(copy, { storePath: path.join(copyDir, 'rollouts.json') });
    return { restarted, copy };
  }

  it('a kill just after the route file was renamed into place is not taken for an edit by hand after a restart', async () => {
    const { restarted, copy } = await killedAtRename('after');
    const r = recordOf(restarted, 'kill')!;
    expect(r.events.map((e) => e.message).join('\n')).not.toContain('edited by hand');
    expect(r).toMatchObject({ phase: 'Progressing', canaryWeight: 20, expected: { primary: 80, canary: 20 } });
    expect(r.events.map((e) => e.message)).toContain(
      'meshd was stopped while writing web-v1 80 and web-v2 20 to the route; the file holds them, so that write is taken as done',
    );
    // And it carries on from there.
    await waitFor('the next step', () => (splitIn(copy) === '70/30' ? true : undefined), WAIT_MS);
  });

  it('a kill just before the rename (the intent saved, the file not yet changed) is not taken for an edit by hand either', async () => {
    const { restarted, copy } = await killedAtRename('before');
    const r = recordOf(restarted, 'kill')!;
    expect(r.events.map((e) => e.message).join('\n')).not.toContain('edited by hand');
    expect(r).toMatchObject({ phase: 'Progressing', canaryWeight: 10, expected: { primary: 90, canary: 10 } });
    expect(r.writing).toBeUndefined();
    await waitFor('the step taken again', () => (splitIn(copy) === '80/20' ? true : undefined), WAIT_MS);
  });
});

describe('class: a malformed percent-encoding in a rollout path takes the handler down', () => {
  it('answers 400 and keeps serving', async () => {
    const meshd = await serve(meshText(100, 0));
    for (const [method, p] of [
      ['GET', '/v1/rollouts/%E0%A4%A/x'],
      ['POST', '/v1/rollouts/apps/%zz/pause'],
      ['GET', '/v1/rollouts/%/%'],
    ]) {
      const res = await fetch(`http://127.0.0.1:${meshd.adminPort}${p}`, { method });
      expect({ p, status: res.status }).toEqual({ p, status: 400 });
      expect(((await res.json()) as { error: string }).error).toBe(
        'the path is not valid percent-encoding (a % must be followed by two hex digits)',
      );
    }
    expect(meshd.proc.child.exitCode).toBeNull();
    expect(JSON.parse(await getOk(meshd.adminPort, '/v1/rollouts'))).toEqual([]);
  });
});
