// Adversarial DogStatsD: a sender on meshd's UDP port is anyone on the network (DogStatsD has no
// authentication until the identity issue). Against a real meshd, each class below sends what
// no Envoy sidecar sends and checks what a user would notice: meshd stays up and answers, the
// traffic numbers stay finite and equal to the honest traffic, every refusal is counted on
// /metrics, and what a stream of datagrams makes meshd hold stays bounded.
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as fc from 'fast-check';
import { meshFolder } from '../helpers/mesh-text';
import { freePort, getOk, startMeshd, waitFor, type RunningProcess } from '../helpers/processes';

interface TelemetryBody {
  statsd: {
    port: number;
    datagrams: number;
    lines: number;
    skippedLines: number;
    usedLines: number;
    dropped: { datagrams: Record<string, number>; lines: Record<string, number> };
  };
  virtualNodes: {
    mesh: string;
    virtualNode: string;
    requests: number;
    errors: number;
    successRate: number | null;
    ratePerSecond: number;
    p50Ms: number | null;
    p99Ms: number | null;
    totals: { requests: number; errors: number; latencySamples: number };
  }[];
}

const MESH_YAML = (nodes: string[]) =>
  [
    `kind: Mesh\nname: m\nspec: {}\n`,
    ...nodes.map(
      (n) =>
        `kind: VirtualNode\nmesh: m\nname: ${n}\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }\n`,
    ),
  ].join('---\n');

const cluster = (node: string) => `cds_egress_m_${node}_http_8080`;
/** Envoy's response counter for `node`, as the sink sends it (with optional extra sections such as `|@0.5`). */
const responses = (node: string, value: string, cls = 2, extra = '') =>
  `envoy.cluster.upstream_rq_xx:${value}|c${extra}|#envoy.response_code_class:${cls},envoy.cluster_name:${cluster(node)}`;
const duration = (node: string, value: string) =>
  `envoy.cluster.upstream_rq_time:${value}|ms|#envoy.cluster_name:${cluster(node)}`;

/** The value of one series in Prometheus text. */
function metric(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Every number in a JSON value, anywhere (JSON writes NaN and Infinity as null, so nulls are collected too). */
function numbersIn(value: unknown, out: unknown[] = []): unknown[] {
  if (typeof value === 'number' || value === null) out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => numbersIn(v, out));
  else if (typeof value === 'object') Object.values(value as object).forEach((v) => numbersIn(v, out));
  return out;
}

class Sender {
  private readonly socket = dgram.createSocket('udp4');
  sent = 0;
  constructor(private readonly port: number) {}

  async send(datagrams: readonly (string | Buffer)[]): Promise<void> {
    for (let i = 0; i < datagrams.length; i++) {
      await new Promise<void>((resolve, reject) =>
        this.socket.send(datagrams[i]!, this.port, '127.0.0.1', (err) => (err ? reject(err) : resolve())),
      );
      this.sent++;
      // Paced, so that the kernel's receive buffer never overflows and every datagram is counted.
      if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  close(): void {
    this.socket.close();
  }
}

interface Meshd {
  readonly process: RunningProcess;
  readonly adminPort: number;
  readonly sender: Sender;
  telemetry(): Promise<TelemetryBody>;
  metrics(): Promise<string>;
  /** Waits until meshd has counted every datagram sent so far. */
  settled(): Promise<TelemetryBody>;
  rssKb(): number;
}

const running: Meshd[] = [];
afterEach(async () => {
  for (const m of running.splice(0)) {
    m.sender.close();
    await m.process.stop();
  }
});

async function serve(nodes: string[], args: string[] = []): Promise<Meshd> {
  const meshFile = path.join(meshFolder({ 'mesh.yaml': MESH_YAML(nodes) }), 'mesh.yaml');
  const adminPort = await freePort();
  const child = startMeshd([
    'serve',
    '--mesh',
    meshFile,
    '--xds-address',
    '127.0.0.1',
    '--xds-port',
    String(await freePort()),
    '--admin-port',
    String(adminPort),
    '--telemetry-window',
    '15m',
    ...args,
  ]);
  await waitFor('meshd to start', () => {
    if (child.child.exitCode !== null) throw new Error(`meshd exited: ${child.stderr()}`);
    return child.stdout().includes('xDS (ADS gRPC)') ? true : undefined;
  });
  const telemetry = async () => JSON.parse(await getOk(adminPort, '/v1/telemetry')) as TelemetryBody;
  const sender = new Sender((await telemetry()).statsd.port);
  const m: Meshd = {
    process: child,
    adminPort,
    sender,
    telemetry,
    metrics: () => getOk(adminPort, '/metrics'),
    settled: () =>
      waitFor(
        `meshd to count ${sender.sent} datagram(s)`,
        async () => {
          if (child.child.exitCode !== null) throw new Error(`meshd exited: ${child.stderr()}`);
          const body = await telemetry();
          return body.statsd.datagrams >= sender.sent ? body : undefined;
        },
        30_000,
        50,
      ),
    rssKb: () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${child.child.pid}/status`, 'utf8'))![1]),
  };
  running.push(m);
  return m;
}

const node = (body: TelemetryBody, name: string) => body.virtualNodes.find((n) => n.virtualNode === name);

describe('class: one DogStatsD datagram with a huge or non-finite value turns the totals into Infinity or NaN', () => {
  it('drops every such line, counts it by reason, and keeps the honest traffic exact and finite', async () => {
    const meshd = await serve(['a', 'b']);
    // The honest traffic: 40 requests to a, 10 of them 5xx; 3 durations.
    const honest = [
      responses('a', '30'),
      responses('a', '10', 5),
      duration('a', '12'),
      duration('a', '15'),
      duration('a', '100'),
    ];
    const hostile: [string, string][] = [
      // The datagram of the issue: a huge counter blown up by its sample rate (1e308 / 0.001 = Infinity).
      [responses('a', '1e308', 2, '|@0.001'), 'out_of_range'],
      [responses('a', '1e308', 5, '|@0.001'), 'out_of_range'],
      [responses('a', '1e308'), 'out_of_range'],
      [responses('a', '2e9'), 'out_of_range'],
      [responses('a', '1:1e308:1e308'), 'out_of_range'],
      [responses('a', '-50'), 'out_of_range'],
      [responses('a', '1e309'), 'non_finite'],
      [responses('a', 'NaN'), 'non_finite'],
      [responses('a', 'nan', 5), 'non_finite'],
      [responses('a', 'Infinity'), 'non_finite'],
      [responses('a', '-Infinity', 5), 'non_finite'],
      [responses('a', 'inf'), 'non_finite'],
      [responses('a', '5', 2, '|@0'), 'sample_rate'],
      [responses('a', '5', 2, '|@-1'), 'sample_rate'],
      [responses('a', '5', 2, '|@2'), 'sample_rate'],
      [responses('a', '5', 2, '|@1e-300'), 'sample_rate'],
      [responses('a', '5', 2, '|@0.0001'), 'sample_rate'],
      [responses('a', '5', 2, '|@NaN'), 'sample_rate'],
      [responses('a', '5', 2, '|@Infinity'), 'sample_rate'],
      [duration('a', '1e308'), 'out_of_range'],
      [duration('a', '-1'), 'out_of_range'],
      [duration('a', '1e309'), 'non_finite'],
      [duration('a', 'NaN'), 'non_finite'],
      [duration('a', '4000000'), 'out_of_range'],
    ];
    // Interleaved, so that a poisoned line between honest ones cannot hide.
    await meshd.sender.send([
      honest[0]!,
      ...hostile.slice(0, 12).map(([l]) => l),
      honest[1]!,
      honest[2]!,
      ...hostile.slice(12).map(([l]) => l),
      honest[3]!,
      honest[4]!,
    ]);
    const body = await meshd.settled();

    expect(body.statsd.datagrams).toBe(honest.length + hostile.length);
    const a = node(body, 'a')!;
    expect({
      requests: a.requests,
      errors: a.errors,
      successRate: a.successRate,
      p99Ms: a.p99Ms,
      totals: a.totals,
    }).toEqual({
      requests: 40,
      errors: 10,
      successRate: 75,
      p99Ms: 100,
      totals: { requests: 40, errors: 10, latencySamples: 3 },
    });
    for (const n of numbersIn(body)) expect(Number.isFinite(n)).toBe(true);
    const expected: Record<string, number> = {};
    for (const [, reason] of hostile) expected[reason] = (expected[reason] ?? 0) + 1;
    expect(body.statsd.dropped.lines).toMatchObject(expected);

    const m = await meshd.metrics();
    for (const [reason, n] of Object.entries(expected))
      expect(metric(m, `meshd_statsd_dropped_lines_total{reason="${reason}"}`)).toBe(n);
    expect(metric(m, 'meshd_virtual_node_requests_total{mesh="m",virtual_node="a"}')).toBe(40);
    expect(metric(m, 'meshd_virtual_node_window_success_ratio{mesh="m",virtual_node="a"}')).toBe(0.75);
    expect(m).not.toMatch(/ (NaN|[+-]Inf)$/m);
  });

  it('keeps the totals finite however many maximal counts arrive', async () => {
    const meshd = await serve(['a']);
    // The largest count a line may carry, 2000 times: 2e12 requests, finite and exact.
    await meshd.sender.send(Array.from({ length: 2000 }, (_, i) => responses('a', '1e9', i % 2 === 0 ? 2 : 5)));
    const body = await meshd.settled();
    expect(node(body, 'a')!.totals).toEqual({ requests: 2e12, errors: 1e12, latencySamples: 0 });
    expect(node(body, 'a')!.successRate).toBe(50);
    // No durations were sent: the quantiles are null (none), every other number finite.
    expect([node(body, 'a')!.p50Ms, node(body, 'a')!.p99Ms]).toEqual([null, null]);
    for (const n of numbersIn(body)) expect(n === null || Number.isFinite(n)).toBe(true);
  });
});

describe('class: a DogStatsD stream makes meshd hold or parse without bound', () => {
  it('drops oversized datagrams, datagrams of too many lines and lines of too many tags, and counts them', async () => {
    const meshd = await serve(
      ['a'],
      ['--statsd-max-datagram-bytes', '4096', '--statsd-max-lines', '30', '--statsd-max-tags', '8'],
    );
    const tags = (n: number) => Array.from({ length: n }, (_, i) => `t${i}:v`).join(',');
    await meshd.sender.send([
      // 60 KB of one line, and 60 KB of honest lines: both above 4 KB.
      Buffer.alloc(60_000, 'x'),
      Array.from({ length: 400 }, () => responses('a', '1')).join('\n'),
      // 31 tiny lines (under 4 KB): too many.
      Array.from({ length: 31 }, () => 'a:1|c').join('\n'),
      // 30 honest lines (about 3 KB): taken.
      Array.from({ length: 30 }, () => responses('a', '1')).join('\n'),
      `${responses('a', '7')},${tags(7)}`, // 9 tags: dropped
      `${responses('a', '7')},${tags(6)}`, // 8 tags: taken
    ]);
    const body = await meshd.settled();
    expect(body.statsd.dropped.datagrams).toEqual({ oversized: 2, too_many_lines: 1, source: 0 });
    expect(body.statsd.dropped.lines.too_many_tags).toBe(1);
    expect(node(body, 'a')!.totals.requests).toBe(37);
    const m = await meshd.metrics();
    expect(metric(m, 'meshd_statsd_dropped_datagrams_total{reason="oversized"}')).toBe(2);
    expect(metric(m, 'meshd_statsd_dropped_datagrams_total{reason="too_many_lines"}')).toBe(1);
    expect(metric(m, 'meshd_statsd_dropped_lines_total{reason="too_many_tags"}')).toBe(1);
  });

  it('holds traffic for at most --telemetry-max-nodes nodes and --telemetry-max-buckets histogram buckets', async () => {
    const meshd = await serve(['a', 'b'], ['--telemetry-max-nodes', '1', '--telemetry-max-buckets', '200']);
    await meshd.sender.send([responses('a', '3'), responses('b', '4')]);
    // 3000 distinct durations, 0 to 2999 ms: about 420 histogram buckets, more than the budget of 200.
    await meshd.sender.send(
      Array.from({ length: 300 }, (_, i) =>
        duration('a', Array.from({ length: 10 }, (_, j) => String(i * 10 + j)).join(':')),
      ),
    );
    const body = await meshd.settled();
    expect(body.virtualNodes.map((n) => [n.virtualNode, n.totals.requests])).toEqual([['a', 3]]);
    expect(body.statsd.dropped.lines.node_limit).toBe(1);
    expect(body.statsd.dropped.lines.latency_budget).toBeGreaterThan(0);
    // What was taken still makes a finite p99.
    expect(Number.isFinite(node(body, 'a')!.p99Ms)).toBe(true);
    const m = await meshd.metrics();
    expect(metric(m, 'meshd_statsd_dropped_lines_total{reason="node_limit"}')).toBe(1);
  });

  it('many distinct names, tags and clusters add nothing meshd keeps', async () => {
    const meshd = await serve(['a']);
    await meshd.sender.send([responses('a', '1')]);
    await meshd.settled();
    const before = meshd.rssKb();
    // 20,000 datagrams, each with names, tag keys and cluster names never seen before.
    const junk = (i: number) =>
      `envoy.cluster.x${i}.upstream_rq_xx:5|c|#envoy.response_code_class:2,envoy.cluster_name:cds_egress_m_n${i}_http_8080,k${i}:v${i},${'__proto__'}:${i},constructor:x\n` +
      `custom.metric.${i}:${i}|g|#tag${i}:${i}\n${duration(`n${i}`, String(i % 1000))}`;
    for (let batch = 0; batch < 10; batch++)
      await meshd.sender.send(Array.from({ length: 2000 }, (_, i) => junk(batch * 2000 + i)));
    const body = await meshd.settled();
    expect(body.virtualNodes.map((n) => n.virtualNode)).toEqual(['a']);
    expect(node(body, 'a')!.totals.requests).toBe(1);
    // A figure for the report, not a timing: what 20,000 junk datagrams cost in memory.
    const grownMb = (meshd.rssKb() - before) / 1024;
    process.stdout.write(`statsd junk: RSS grew ${grownMb.toFixed(1)} MB over 20,000 datagrams\n`);
    expect(grownMb).toBeLessThan(100);
    expect(await getOk(meshd.adminPort, '/healthz')).toBeTruthy();
  });
});

describe('class: DogStatsD fuzz — random and hostile datagrams never take meshd down or make a number non-finite', () => {
  it('survives 4,000 random datagrams; every datagram is counted and every number it reports is finite', async () => {
    const meshd = await serve(['a', 'b']);
    const numbers = fc.constantFrom(
      '1',
      '0',
      '-1',
      '1e308',
      '1e309',
      '-1e308',
      'NaN',
      'Infinity',
      '-Infinity',
      '5e-324',
      '1.7976931348623157e308',
      '9007199254740993',
      '0x10',
      '',
      '.',
      '1e',
      '00012',
      '3.5',
    );
    const rates = fc.constantFrom(
      '',
      '|@1',
      '|@0.5',
      '|@0.001',
      '|@0.0009',
      '|@0',
      '|@-0.5',
      '|@2',
      '|@1e-300',
      '|@NaN',
      '|@',
      '|@1e308',
    );
    const types = fc.constantFrom('c', 'ms', 'h', 'd', 'g', 's', 'x', '');
    const names = fc.constantFrom(
      'envoy.cluster.upstream_rq_xx',
      'envoy.cluster.upstream_rq_time',
      'envoy.cluster.external.upstream_rq_xx',
      '_e{1,1}',
      '_sc',
      '__proto__',
      'constructor',
      'é',
      '',
    );
    const tagSets = fc.array(
      fc.constantFrom(
        `envoy.cluster_name:${cluster('a')}`,
        `envoy.cluster_name:${cluster('b')}`,
        'envoy.response_code_class:2',
        'envoy.response_code_class:5',
        'appmesh.mesh:m',
        '__proto__:x',
        'hasOwnProperty:1',
        'toString',
        ':',
        ',,',
      ),
      { maxLength: 8 },
    );
    const line = fc
      .tuple(
        names,
        fc.array(numbers, { minLength: 1, maxLength: 3 }),
        types,
        rates,
        tagSets,
        fc.constantFrom('', '|c:abc', '|T1656581400', '|#'),
      )
      .map(
        ([name, values, type, rate, tags, extra]) =>
          `${name}:${values.join(':')}|${type}${rate}${tags.length ? `|#${tags.join(',')}` : ''}${extra}`,
      );
    // Envoy's own lines for the mesh's nodes, carrying hostile numbers and rates: these reach the windows.
    const envoyish = fc.oneof(
      fc
        .tuple(fc.constantFrom('a', 'b'), numbers, fc.constantFrom(2, 5), rates)
        .map(([n, v, cls, rate]) => responses(n, v, cls, rate)),
      fc
        .tuple(fc.constantFrom('a', 'b'), fc.array(numbers, { minLength: 1, maxLength: 4 }))
        .map(([n, vs]) => duration(n, vs.join(':'))),
    );
    const datagram = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.array(fc.oneof(line, envoyish), { minLength: 1, maxLength: 6 }).map((ls) => ls.join('\n')),
      },
      { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) },
      {
        weight: 1,
        arbitrary: fc
          .array(fc.constantFrom(':', '|', '#', '@', ',', '\n', '\r', '1', 'c', 'e', '\u0000'), { maxLength: 200 })
          .map((cs) => cs.join('')),
      },
    );
    const datagrams = fc.sample(datagram, { numRuns: 4000, seed: 21 });
    await meshd.sender.send(datagrams);
    const body = await meshd.settled();

    expect(meshd.process.child.exitCode).toBeNull();
    expect(body.statsd.datagrams).toBe(4000);
    for (const n of numbersIn(body.virtualNodes)) expect(n === null || Number.isFinite(n)).toBe(true);
    for (const n of body.virtualNodes) {
      for (const v of [
        n.requests,
        n.errors,
        n.ratePerSecond,
        n.totals.requests,
        n.totals.errors,
        n.totals.latencySamples,
      ])
        expect(Number.isFinite(v)).toBe(true);
      // A success rate, when there is one, is a percentage.
      if (n.successRate !== null) expect(n.successRate >= 0 && n.successRate <= 100).toBe(true);
      expect(n.errors).toBeLessThanOrEqual(n.requests);
    }
    const m = await meshd.metrics();
    expect(m).not.toMatch(/ (NaN|[+-]Inf)$/m);
    expect(metric(m, 'meshd_statsd_datagrams_received_total')).toBe(4000);
    const dropped = Object.values(body.statsd.dropped.lines).reduce((x, y) => x + y, 0);
    expect(dropped).toBeGreaterThan(0);
    process.stdout.write(
      `statsd fuzz: ${body.statsd.lines} lines, ${body.statsd.skippedLines} skipped, ${dropped} dropped (${JSON.stringify(body.statsd.dropped.lines)}), ${body.statsd.usedLines} used\n`,
    );
    expect(await getOk(meshd.adminPort, '/healthz')).toBeTruthy();
  });
});
