// Live per-virtual-node telemetry: a real Envoy sidecar's DogStatsD sink reports to meshd, and
// meshd's admin API and /metrics show each destination's requests, 5xx, success rate and
// latency as the test's own client counted and timed them. Also, without Envoy: the statsd
// listener's flags, port conflicts, bad input, and the cluster lookup following mesh reloads.
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeWithEnvoy } from '../helpers/envoy';
import { meshFolder } from '../helpers/mesh-text';
import { freePort, getOk, MESHD_BIN, startMeshd, waitFor, type RunningProcess } from '../helpers/processes';
import { sample, sendUdp } from '../helpers/series';
import { startSidecar, targetNodeYaml, type Sidecar } from '../helpers/sidecar-harness';
import { startHttpUpstream, type HttpUpstream } from '../helpers/upstreams';

interface NodeTraffic {
  mesh: string;
  virtualNode: string;
  requests: number;
  errors: number;
  successRate: number | null;
  ratePerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  totals: { requests: number; errors: number; latencySamples: number };
}

interface TelemetryBody {
  statsd: { address: string; port: number; datagrams: number; lines: number; skippedLines: number; usedLines: number };
  window: string;
  windowMs: number;
  virtualNodes: NodeTraffic[];
}

/** Within `share` (0.05: 5 %) of `expected`. */
function near(actual: number, expected: number, share: number): boolean {
  return Math.abs(actual - expected) <= share * expected;
}

const MESH = 'tel';
const NODE_ID = `mesh/${MESH}/virtualNode/client`;
const DELAY_MS = 100;
const REQUESTS_PER_NODE = 150;
const FAIL_EVERY = 4; // flaky answers every 4th request 500 (not 503: App Mesh's default policy retries 503)

function meshYaml(u: { slow: HttpUpstream; flaky: HttpUpstream; probe: HttpUpstream }): string {
  const service = (name: string) =>
    `kind: VirtualService\nmesh: ${MESH}\nname: ${name}.${MESH}.local\nspec: { provider: { virtualNode: { virtualNodeName: ${name} } } }\n`;
  return [
    `kind: Mesh\nname: ${MESH}\nspec: { egressFilter: { type: DROP_ALL } }\n`,
    `kind: VirtualNode\nmesh: ${MESH}\nname: client\nspec:\n  backends:\n${['slow', 'flaky', 'probe'].map((n) => `    - virtualService: { virtualServiceName: ${n}.${MESH}.local }\n`).join('')}`,
    ...(['slow', 'flaky', 'probe'] as const).map((n) => targetNodeYaml(MESH, n, u[n].port)),
    ...['slow', 'flaky', 'probe'].map(service),
  ].join('---\n');
}

describeWithEnvoy('telemetry: a real sidecar reports its traffic to meshd over DogStatsD', (envoyBin) => {
  const u = {} as { slow: HttpUpstream; flaky: HttpUpstream; probe: HttpUpstream };
  let sidecar: Sidecar;
  const telemetry = async (query = '') =>
    JSON.parse(await sidecar.meshdAdmin(`/v1/telemetry${query}`)) as TelemetryBody;
  const traffic = (body: TelemetryBody, node: string) =>
    body.virtualNodes.find((n) => n.mesh === MESH && n.virtualNode === node);

  beforeAll(async () => {
    u.slow = await startHttpUpstream('slow');
    u.flaky = await startHttpUpstream('flaky');
    u.probe = await startHttpUpstream('probe');
    u.slow.delayAll(DELAY_MS);
    u.flaky.failEvery(FAIL_EVERY, 500);
    // Readiness goes to `probe`, so slow and flaky get only the load loop's requests.
    sidecar = await startSidecar({
      envoyBin,
      meshYaml: meshYaml(u),
      nodeId: NODE_ID,
      ready: { host: `probe.${MESH}.local` },
      dogStatsd: true,
      bootstrapArgs: ['--stats-flush-interval', '200ms'],
      meshdArgs: ['--telemetry-window', '15m'],
    });
  }, 60000);

  afterAll(async () => {
    await sidecar?.stop();
    for (const up of Object.values(u)) await up?.close();
  });

  it("counts each destination's requests, 5xx and latency as the client saw them, in the admin API and /metrics", async () => {
    // Before the load: the probe's traffic arrives, and nothing is counted for slow or flaky.
    await waitFor(
      'the readiness requests to reach meshd',
      async () => ((traffic(await telemetry(), 'probe')?.totals.requests ?? 0) > 0 ? true : undefined),
      15000,
      100,
    );
    const before = await telemetry();
    expect([traffic(before, 'slow'), traffic(before, 'flaky')]).toEqual([undefined, undefined]);

    // The load: both nodes, interleaved, 10 requests in flight; the client counts every answer.
    const client = { slow: { requests: 0, errors: 0 }, flaky: { requests: 0, errors: 0 } };
    const statuses = new Map<string, number>();
    const jobs = Array.from(
      { length: 2 * REQUESTS_PER_NODE },
      (_, i) => (i % 2 === 0 ? 'slow' : 'flaky') as 'slow' | 'flaky',
    );
    const worker = async () => {
      for (let node = jobs.shift(); node !== undefined; node = jobs.shift()) {
        const r = await sidecar.request(`${node}.${MESH}.local`);
        client[node].requests++;
        if (r.status >= 500) client[node].errors++;
        const key = `${node} ${r.status} ${r.headers['x-upstream'] ?? 'envoy'}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    // Every answer came from the app (200 or its 500s), none from Envoy itself.
    expect(Object.fromEntries(statuses)).toEqual({
      'slow 200 slow': REQUESTS_PER_NODE,
      'flaky 200 flaky': REQUESTS_PER_NODE - Math.floor(REQUESTS_PER_NODE / FAIL_EVERY),
      'flaky 500 flaky': Math.floor(REQUESTS_PER_NODE / FAIL_EVERY),
    });

    // Counters arrive at each stats flush (200 ms): poll until two readings five flushes apart agree.
    let previous = '';
    const settled = await waitFor(
      "meshd's counts to settle",
      async () => {
        const body = await telemetry('?window=15m');
        const totals = ['slow', 'flaky'].map((n) => traffic(body, n)?.totals);
        const seen = JSON.stringify(totals);
        const done = seen === previous && totals.every((t) => t !== undefined);
        previous = seen;
        return done ? body : undefined;
      },
      30000,
      1000,
    );

    for (const name of ['slow', 'flaky'] as const) {
      const seen = traffic(settled, name)!;
      const counted = client[name];
      const compared = { name, meshd: seen.totals, client: counted };
      expect({
        ...compared,
        requestsWithin5Percent: near(seen.totals.requests, counted.requests, 0.05),
        errorsWithin5Percent: near(seen.totals.errors, counted.errors, 0.05),
      }).toEqual({
        ...compared,
        requestsWithin5Percent: true,
        errorsWithin5Percent: true,
      });
      // Everything happened within the 15-minute window: the window holds the totals.
      expect({ name, requests: seen.requests, errors: seen.errors }).toEqual({
        name,
        requests: seen.totals.requests,
        errors: seen.totals.errors,
      });
      const clientRate = (100 * (counted.requests - counted.errors)) / counted.requests;
      expect({ name, successRate: Math.abs(seen.successRate! - clientRate) <= 1 }).toEqual({ name, successRate: true });
      expect(seen.ratePerSecond).toBeCloseTo(seen.requests / 900, 6);
    }
    expect(traffic(settled, 'slow')!.errors).toBe(0);
    expect(traffic(settled, 'flaky')!.errors).toBeGreaterThan(0);
    // Latency: Envoy times each request from the caller's side, so the slow node's delay shows.
    const slow = traffic(settled, 'slow')!;
    const flaky = traffic(settled, 'flaky')!;
    expect(slow.p50Ms).toBeGreaterThanOrEqual(DELAY_MS);
    expect(slow.p99Ms).toBeGreaterThanOrEqual(slow.p50Ms!);
    expect(flaky.p50Ms).toBeLessThan(DELAY_MS);
    expect(slow.totals.latencySamples).toBeGreaterThanOrEqual(0.95 * client.slow.requests);
    expect(settled.statsd).toMatchObject({ address: '127.0.0.1', port: sidecar.statsdPort, skippedLines: 0 });
    expect(settled.statsd.lines).toBeGreaterThanOrEqual(settled.statsd.datagrams);
    expect(settled.statsd.usedLines).toBeGreaterThan(0);

    // /metrics: the same totals as counters, the window (--telemetry-window 15m) as gauges.
    const m = await sidecar.meshdAdmin('/metrics');
    const series = (name: string, node: string, extra = '') =>
      sample(m, `${name}{mesh="${MESH}",virtual_node="${node}"${extra}}`);
    for (const name of ['slow', 'flaky'] as const) {
      const seen = traffic(settled, name)!;
      expect({
        name,
        requests: series('meshd_virtual_node_requests_total', name),
        errors: series('meshd_virtual_node_errors_total', name),
      }).toEqual({ name, requests: seen.totals.requests, errors: seen.totals.errors });
      expect(series('meshd_virtual_node_window_success_ratio', name)).toBeCloseTo(seen.successRate! / 100, 6);
      expect(series('meshd_virtual_node_window_requests_per_second', name)).toBeCloseTo(seen.requests / 900, 6);
    }
    expect(series('meshd_virtual_node_window_latency_seconds', 'slow', ',quantile="0.5"')).toBeGreaterThanOrEqual(
      DELAY_MS / 1000,
    );
    expect(series('meshd_virtual_node_window_latency_seconds', 'flaky', ',quantile="0.5"')).toBeLessThan(
      DELAY_MS / 1000,
    );
    expect(sample(m, 'meshd_telemetry_window_seconds')).toBe(900);
    expect(sample(m, 'meshd_statsd_lines_received_total')).toBeGreaterThanOrEqual(settled.statsd.lines);
    expect(sample(m, 'meshd_statsd_lines_skipped_total')).toBe(0);
  });
});

describe('telemetry: the statsd listener of meshd serve', () => {
  let meshd: RunningProcess | undefined;
  afterEach(async () => {
    await meshd?.stop();
    meshd = undefined;
  });

  const MESH_YAML = (nodes: string[]) =>
    [
      `kind: Mesh\nname: m\nspec: {}\n`,
      ...nodes.map(
        (n, i) =>
          `kind: VirtualNode\nmesh: m\nname: ${n}\nspec:\n  listeners: [{ portMapping: { port: ${8080 + i}, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }\n`,
      ),
    ].join('---\n');

  async function serve(
    meshFile: string,
    args: string[] = [],
    env: Record<string, string> = {},
  ): Promise<{ adminPort: number; body: () => Promise<TelemetryBody> }> {
    const adminPort = await freePort();
    meshd = startMeshd(
      [
        'serve',
        '--mesh',
        meshFile,
        '--xds-address',
        '127.0.0.1',
        '--xds-port',
        String(await freePort()),
        '--admin-port',
        String(adminPort),
        ...args,
      ],
      env,
    );
    const started = meshd;
    await waitFor('meshd to start', () => {
      if (started.child.exitCode !== null) throw new Error(`meshd exited: ${started.stderr()}`);
      return started.stdout().includes('xDS (ADS gRPC)') ? true : undefined;
    });
    return { adminPort, body: async () => JSON.parse(await getOk(adminPort, '/v1/telemetry')) as TelemetryBody };
  }

  it('takes any free port with MESHD_STATSD_PORT=0, shows it in the banner and the admin API, skips bad lines, and follows mesh reloads', async () => {
    const meshFile = path.join(meshFolder({ 'mesh.yaml': MESH_YAML(['a']) }), 'mesh.yaml');
    const { adminPort, body } = await serve(meshFile, [], { MESHD_STATSD_PORT: '0', MESHD_TELEMETRY_WINDOW: '90s' });
    const first = await body();
    expect(first.statsd.port).toBeGreaterThan(0);
    expect(first.statsd.port).not.toBe(8125);
    expect(meshd!.stdout()).toContain(
      `  telemetry (DogStatsD): udp://127.0.0.1:${first.statsd.port} (senders: any; window 1m30s: http://127.0.0.1:${adminPort}/v1/telemetry)`,
    );
    expect(meshd!.stdout()).toContain(`--dog-statsd --statsd-port ${first.statsd.port} > `);
    expect({ window: first.window, windowMs: first.windowMs, virtualNodes: first.virtualNodes }).toEqual({
      window: '1m30s',
      windowMs: 90_000,
      virtualNodes: [],
    });

    const line = (node: string, port: number, n: number, cls = 2) =>
      `envoy.cluster.upstream_rq_xx:${n}|c|#envoy.response_code_class:${cls},envoy.cluster_name:cds_egress_m_${node}_http_${port}`;
    await sendUdp(
      first.statsd.port,
      [line('a', 8080, 4), line('a', 8080, 1, 5), 'not statsd at all', line('b', 8081, 9)].join('\n'),
    );
    const counted = await waitFor('the datagram to be counted', async () =>
      (await body()).statsd.datagrams === 1 ? body() : undefined,
    );
    expect(counted.statsd).toMatchObject({ datagrams: 1, lines: 4, skippedLines: 1, usedLines: 2 });
    // b is not in the mesh yet
    expect(counted.virtualNodes.map((n) => [n.virtualNode, n.totals.requests, n.totals.errors])).toEqual([['a', 5, 1]]);

    // Node b joins the mesh: its egress cluster counts from then on.
    const reloads = meshd!.stderr().split('mesh reloaded').length;
    fs.writeFileSync(meshFile, MESH_YAML(['a', 'b']));
    await waitFor('meshd to reload the mesh', () =>
      meshd!.stderr().split('mesh reloaded').length > reloads ? true : undefined,
    );
    await sendUdp(first.statsd.port, line('b', 8081, 9));
    const after = await waitFor('the second datagram to be counted', async () =>
      (await body()).statsd.datagrams === 2 ? body() : undefined,
    );
    expect(after.virtualNodes.map((n) => [n.virtualNode, n.totals.requests, n.totals.errors])).toEqual([
      ['a', 5, 1],
      ['b', 9, 0],
    ]);
    const m = await getOk(adminPort, '/metrics');
    expect(sample(m, 'meshd_statsd_lines_skipped_total')).toBe(1);
    expect(sample(m, 'meshd_statsd_lines_received_total')).toBe(5);
    expect(sample(m, 'meshd_statsd_datagrams_received_total')).toBe(2);
    expect(sample(m, 'meshd_virtual_node_requests_total{mesh="m",virtual_node="b"}')).toBe(9);
    expect(sample(m, 'meshd_telemetry_window_seconds')).toBe(90);
  });

  it('answers a bad ?window= with 400 and one line; the 404 names /v1/telemetry', async () => {
    const { adminPort } = await serve(path.join(meshFolder({ 'mesh.yaml': MESH_YAML(['a']) }), 'mesh.yaml'));
    const get = async (p: string) => {
      const r = await fetch(`http://127.0.0.1:${adminPort}${p}`);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    expect(await get('/v1/telemetry?window=20m')).toEqual({
      status: 400,
      body: { error: "window must be a duration from 1s to 15m such as 30s, 5m or 1m30s, got '20m'" },
    });
    expect(await get('/v1/telemetry?window=')).toEqual({
      status: 400,
      body: { error: "window must be a duration from 1s to 15m such as 30s, 5m or 1m30s, got ''" },
    });
    expect(await get('/v1/telemetry?window=30s')).toMatchObject({
      status: 200,
      body: { window: '30s', windowMs: 30_000 },
    });
    expect((await get('/v1/nope')).body.error).toMatch(/; try .*\/v1\/telemetry/);
  });

  it('a statsd port in use stops serve at startup with one line', async () => {
    const taken = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => taken.bind(0, '127.0.0.1', () => resolve()));
    const port = taken.address().port;
    try {
      const meshFile = path.join(meshFolder({ 'mesh.yaml': MESH_YAML(['a']) }), 'mesh.yaml');
      const r = spawnSync(
        process.execPath,
        [
          MESHD_BIN,
          'serve',
          '--mesh',
          meshFile,
          '--xds-address',
          '127.0.0.1',
          '--xds-port',
          String(await freePort()),
          '--admin-port',
          String(await freePort()),
          '--statsd-port',
          String(port),
        ],
        { encoding: 'utf8', timeout: 20000 },
      );
      expect(r.status).toBe(1);
      const problems = r.stderr.split('\n').filter((l) => / error /.test(l));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(
        `error cannot start: statsd address 127.0.0.1:${port} (UDP) is already in use (another meshd, or a DogStatsD agent?); pick another with --statsd-port (0: any free port)`,
      );
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      taken.close();
    }
  });

  it('refuses a bad --telemetry-window (or MESHD_TELEMETRY_WINDOW) in one line, before starting anything', () => {
    const meshFile = path.join(meshFolder({ 'mesh.yaml': MESH_YAML(['a']) }), 'mesh.yaml');
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [MESHD_BIN, 'serve', '--mesh', meshFile, ...args], {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      });
    expect(run(['--telemetry-window', '16m'])).toMatchObject({
      status: 2,
      stderr: "meshd serve: --telemetry-window must be a duration from 1s to 15m such as 30s, 5m or 1m30s, got '16m'\n",
    });
    expect(run([], { MESHD_TELEMETRY_WINDOW: 'often' })).toMatchObject({
      status: 2,
      stderr:
        "meshd serve: MESHD_TELEMETRY_WINDOW must be a duration from 1s to 15m such as 30s, 5m or 1m30s, got 'often'\n",
    });
  });
});
