// meshd's registry (prom-client underneath) renders the text exposition format (0.0.4) Prometheus
// parses: counters, gauges (set, or computed when scraped) and histograms, each registry on its own.
import { MetricsRegistry } from '../../src/admin/metrics';
import { OMITTED_RUNTIME_METRICS, runtimeMetricsState } from '../../src/admin/runtime-metrics';
import { telemetryMetrics } from '../../src/admin/telemetry-metrics';
import { MeshModel } from '../../src/model/mesh-model';
import type { VirtualNode } from '../../src/model/virtual-node';
import { Telemetry, type Observation } from '../../src/telemetry';

/** The sample lines (no comments, no blank lines) of one metric family, in the order rendered. */
function samples(text: string, family: string): string[] {
  return text
    .split('\n')
    .filter(
      (l) =>
        l !== '' &&
        !l.startsWith('#') &&
        (l.startsWith(`${family} `) || l.startsWith(`${family}{`) || l.startsWith(`${family}_`)),
    );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Allocates and drops ~100 MB in small arrays: enough for V8 to collect garbage several times. */
function churn(): number {
  let kept: number[][] = [];
  let total = 0;
  for (let i = 0; i < 120; i++) {
    kept.push(new Array<number>(100_000).fill(i));
    if (kept.length > 8) kept = kept.slice(1);
    total += kept.length;
  }
  return total;
}

/** GCs nodejs_gc_duration_seconds has counted, all kinds. */
async function gcCount(registry: MetricsRegistry): Promise<number> {
  return samples(await registry.render(), 'nodejs_gc_duration_seconds_count')
    .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)))
    .reduce((a, b) => a + b, 0);
}

describe('MetricsRegistry', () => {
  it('renders a counter with HELP and TYPE, starting at 0 and adding up increments', async () => {
    const registry = new MetricsRegistry();
    const pushes = registry.counter('meshd_xds_pushes_total', 'Responses sent to proxies.');
    expect(await registry.render()).toBe(
      '# HELP meshd_xds_pushes_total Responses sent to proxies.\n# TYPE meshd_xds_pushes_total counter\nmeshd_xds_pushes_total 0\n',
    );
    pushes.inc();
    pushes.inc(2);
    pushes.inc(undefined, 0.5);
    expect(samples(await registry.render(), 'meshd_xds_pushes_total')).toEqual(['meshd_xds_pushes_total 3.5']);
  });

  it('keeps registries apart: the same name in two registries, each with its own value', async () => {
    const a = new MetricsRegistry();
    const b = new MetricsRegistry();
    a.counter('meshd_reloads_total', 'Reloads.').inc(3);
    b.counter('meshd_reloads_total', 'Reloads.').inc(1);
    expect(samples(await a.render(), 'meshd_reloads_total')).toEqual(['meshd_reloads_total 3']);
    expect(samples(await b.render(), 'meshd_reloads_total')).toEqual(['meshd_reloads_total 1']);
  });

  it('renders labelled series of a counter and of a gauge that is set, increased and decreased', async () => {
    const registry = new MetricsRegistry();
    const nacks = registry.counter('meshd_xds_nacks_total', 'NACKs received.', ['type', 'node']);
    nacks.inc({ type: 'RDS', node: 'front' });
    nacks.inc({ node: 'b', type: 'CDS' }, 4);
    const streams = registry.gauge('meshd_xds_streams', 'Open ADS streams.', ['protocol']);
    streams.set({ protocol: 'sotw' }, 3);
    streams.inc({ protocol: 'delta' });
    streams.inc({ protocol: 'delta' }, 2);
    streams.dec({ protocol: 'sotw' });
    const text = await registry.render();
    expect(samples(text, 'meshd_xds_nacks_total').sort()).toEqual([
      'meshd_xds_nacks_total{type="CDS",node="b"} 4',
      'meshd_xds_nacks_total{type="RDS",node="front"} 1',
    ]);
    expect(samples(text, 'meshd_xds_streams').sort()).toEqual([
      'meshd_xds_streams{protocol="delta"} 3',
      'meshd_xds_streams{protocol="sotw"} 2',
    ]);
    expect(text).toContain('# TYPE meshd_xds_streams gauge\n');
  });

  it('computes a collected gauge on every scrape: series that are gone disappear, the rest sorted', async () => {
    const registry = new MetricsRegistry();
    let proxies = [
      { labels: { state: 'SYNCED' }, value: 2 },
      { labels: { state: 'NACKED' }, value: 1 },
    ];
    registry.gauge('meshd_proxies', 'Connected proxies by sync state.', ['state'], () => proxies);
    expect(samples(await registry.render(), 'meshd_proxies')).toEqual([
      'meshd_proxies{state="NACKED"} 1',
      'meshd_proxies{state="SYNCED"} 2',
    ]);
    proxies = [{ labels: { state: 'SYNCED' }, value: 3 }];
    expect(samples(await registry.render(), 'meshd_proxies')).toEqual(['meshd_proxies{state="SYNCED"} 3']);
  });

  it('reads a collected counter from its running totals on every scrape; it cannot be increased', async () => {
    const registry = new MetricsRegistry();
    let totals = [
      { labels: { node: 'b' }, value: 5 },
      { labels: { node: 'a' }, value: 0 },
    ];
    const requests = registry.counter('meshd_requests_total', 'Requests seen.', ['node'], () => totals);
    registry.counter('meshd_lines_total', 'Lines seen.', [], () => [{ value: 7 }]);
    let text = await registry.render();
    expect(text).toContain('# TYPE meshd_requests_total counter\n');
    // A zero total is a series too (rate() sees its first increment).
    expect(samples(text, 'meshd_requests_total')).toEqual([
      'meshd_requests_total{node="a"} 0',
      'meshd_requests_total{node="b"} 5',
    ]);
    expect(samples(text, 'meshd_lines_total')).toEqual(['meshd_lines_total 7']);
    totals = [{ labels: { node: 'a' }, value: 3 }];
    text = await registry.render();
    expect(samples(text, 'meshd_requests_total')).toEqual(['meshd_requests_total{node="a"} 3']);
    expect(() => requests.inc({ node: 'a' })).toThrow(
      'counter meshd_requests_total is computed when rendered; it cannot be increased',
    );
    totals = [
      { labels: { node: 'a' }, value: 1 },
      { labels: { node: 'a' }, value: 2 },
    ];
    await expect(registry.render()).rejects.toThrow(
      'counter meshd_requests_total: the collector returned {node="a"} twice',
    );
  });

  it('renders a histogram with cumulative buckets, +Inf, _sum and _count; a label set can be removed', async () => {
    const registry = new MetricsRegistry();
    const latency = registry.histogram(
      'meshd_push_seconds',
      'Time from mesh change to response sent.',
      [0.5, 0.1, 1],
      ['type'],
    );
    for (const v of [0.05, 0.1, 0.3, 0.7, 2]) latency.observe({ type: 'CDS' }, v);
    latency.observe({ type: 'LDS' }, 0.25);
    let text = await registry.render();
    expect(text).toContain('# TYPE meshd_push_seconds histogram\n');
    const cds = samples(text, 'meshd_push_seconds').filter((l) => l.includes('type="CDS"'));
    expect(cds).toEqual([
      'meshd_push_seconds_bucket{le="0.1",type="CDS"} 2',
      'meshd_push_seconds_bucket{le="0.5",type="CDS"} 3',
      'meshd_push_seconds_bucket{le="1",type="CDS"} 4',
      'meshd_push_seconds_bucket{le="+Inf",type="CDS"} 5',
      'meshd_push_seconds_sum{type="CDS"} 3.15',
      'meshd_push_seconds_count{type="CDS"} 5',
    ]);
    latency.remove({ type: 'CDS' });
    text = await registry.render();
    expect(samples(text, 'meshd_push_seconds').filter((l) => l.includes('type="CDS"'))).toEqual([]);
    expect(samples(text, 'meshd_push_seconds')).toContain('meshd_push_seconds_count{type="LDS"} 1');
  });

  it('renders an unlabelled histogram with zero observations', async () => {
    const registry = new MetricsRegistry();
    registry.histogram('meshd_reload_seconds', 'Mesh reload time.', [1, Infinity]);
    expect(samples(await registry.render(), 'meshd_reload_seconds')).toEqual([
      'meshd_reload_seconds_bucket{le="1"} 0',
      'meshd_reload_seconds_bucket{le="+Inf"} 0',
      'meshd_reload_seconds_sum 0',
      'meshd_reload_seconds_count 0',
    ]);
  });

  it('escapes backslashes, double quotes and newlines in label values, and backslashes and newlines in help', async () => {
    const registry = new MetricsRegistry();
    const g = registry.gauge('meshd_escape_test', 'A help with a \\ backslash\nand a newline.', ['message']);
    g.set({ message: 'say "hi"\\n\nbye' }, 1);
    expect(await registry.render()).toBe(
      [
        '# HELP meshd_escape_test A help with a \\\\ backslash\\nand a newline.',
        '# TYPE meshd_escape_test gauge',
        'meshd_escape_test{message="say \\"hi\\"\\\\n\\nbye"} 1',
        '',
      ].join('\n'),
    );
  });

  it('renders metrics in registration order and infinite values as Prometheus spells them', async () => {
    const registry = new MetricsRegistry();
    registry.gauge('z_first', 'Registered first.').set(Infinity);
    registry.gauge('a_second', 'Registered second.').set(-Infinity);
    const text = await registry.render();
    expect(text.indexOf('z_first +Inf')).toBeGreaterThan(-1);
    expect(text.indexOf('a_second -Inf')).toBeGreaterThan(text.indexOf('z_first +Inf'));
  });

  it('rejects misuse with an error that names the metric', async () => {
    const registry = new MetricsRegistry();
    const c = registry.counter('meshd_c_total', 'c', ['type']);
    expect(() => c.inc({ type: 'CDS' }, -1)).toThrow('counter meshd_c_total can only go up');
    expect(() => c.inc({ kind: 'CDS' })).toThrow('metric meshd_c_total takes type; got kind');
    expect(() => c.inc()).toThrow('metric meshd_c_total takes type; got no labels');
    expect(() => registry.counter('meshd_c_total', 'again')).toThrow('metric meshd_c_total is already registered');
    expect(() => registry.gauge('bad-name', 'x')).toThrow("'bad-name' is not a valid Prometheus metric name");
    expect(() => registry.histogram('meshd_h', 'h', [1], ['le'])).toThrow("'le' is reserved");
    expect(() => registry.gauge('meshd_g', 'g', ['__x'])).toThrow("'__x' is not a valid label name");
    const collected = registry.gauge('meshd_collected', 'c', ['k'], () => [
      { labels: { k: 'a' }, value: 1 },
      { labels: { k: 'a' }, value: 2 },
    ]);
    expect(() => collected.set({ k: 'a' }, 1)).toThrow('gauge meshd_collected is computed when rendered');
    await expect(registry.render()).rejects.toThrow('gauge meshd_collected: the collector returned {k="a"} twice');
  });
});

describe('runtime metrics (process_*, nodejs_*)', () => {
  it('are in every registry that adds them, unprefixed, without the gauges named *_total promtool refuses', async () => {
    const a = new MetricsRegistry();
    const b = new MetricsRegistry();
    a.addRuntimeMetrics();
    b.addRuntimeMetrics();
    try {
      for (const registry of [a, b]) {
        const text = await registry.render();
        for (const family of [
          'process_cpu_seconds_total',
          'process_resident_memory_bytes',
          'nodejs_eventloop_lag_seconds',
          'nodejs_eventloop_lag_p99_seconds',
          'nodejs_heap_size_used_bytes',
          'nodejs_gc_duration_seconds',
        ])
          expect(text).toContain(`# TYPE ${family} `);
        for (const family of OMITTED_RUNTIME_METRICS) expect(text).not.toContain(`# TYPE ${family} `);
        expect(samples(text, 'process_resident_memory_bytes')[0]).toMatch(/^process_resident_memory_bytes [1-9]\d*$/);
      }
    } finally {
      a.close();
      b.close();
    }
  });

  it('sample the event loop while a registry uses them, and stop when the last one closes', async () => {
    const a = new MetricsRegistry();
    const b = new MetricsRegistry();
    a.addRuntimeMetrics();
    b.addRuntimeMetrics();
    expect(runtimeMetricsState().users).toBe(2);
    a.close();
    a.close(); // idempotent: b still counts
    expect(runtimeMetricsState().users).toBe(1);
    await sleep(100);
    expect(runtimeMetricsState().monitorSamples).toBeGreaterThan(0);
    expect(runtimeMetricsState().lagWindowRunning).toBe(true);
    b.close();
    expect(runtimeMetricsState().users).toBe(0);
    expect(runtimeMetricsState().lagWindowRunning).toBe(false);
    const stopped = runtimeMetricsState().monitorSamples;
    expect(stopped).toBeGreaterThan(0);
    await sleep(100);
    expect(runtimeMetricsState().monitorSamples).toBe(stopped);
  });

  it('observe GCs (the observer is kept for the life of the process: it does not keep the process alive)', async () => {
    const a = new MetricsRegistry();
    a.addRuntimeMetrics();
    try {
      const before = await gcCount(a);
      churn();
      await sleep(50);
      expect(await gcCount(a)).toBeGreaterThan(before);
    } finally {
      a.close();
    }
  });

  it('give sane event-loop lag figures to two scrapes at once (a scrape never resets the monitor)', async () => {
    const registry = new MetricsRegistry();
    registry.addRuntimeMetrics();
    try {
      await sleep(100);
      const texts = await Promise.all([registry.render(), registry.render(), registry.render()]);
      for (const text of texts) {
        const lag = (stat: string) => {
          const lines = samples(text, `nodejs_eventloop_lag_${stat}_seconds`);
          expect(lines).toHaveLength(1);
          return Number(lines[0]!.slice(lines[0]!.lastIndexOf(' ') + 1));
        };
        const [min, max, mean, p50, p99] = ['min', 'max', 'mean', 'p50', 'p99'].map(lag) as number[];
        for (const v of [min, max, mean, p50, p99]) {
          expect(Number.isFinite(v)).toBe(true);
          expect(v).toBeGreaterThan(0);
          // Not 2^63-1 ns (an empty monitor's min): no delay of the loop lasts a minute here.
          expect(v).toBeLessThan(60);
        }
        expect(min).toBeLessThanOrEqual(mean!);
        expect(mean).toBeLessThanOrEqual(max!);
        expect(min).toBeLessThanOrEqual(p50!);
        expect(p50).toBeLessThanOrEqual(p99!);
        expect(p99).toBeLessThanOrEqual(max!);
        const [immediate] = samples(text, 'nodejs_eventloop_lag_seconds');
        expect(Number(immediate!.split(' ')[1])).toBeGreaterThanOrEqual(0);
      }
    } finally {
      registry.close();
    }
  });
});

describe('label values with the characters a series key could be confused by', () => {
  // Mesh and virtual node names are user data: each of these two label sets is its own series.
  const A = { mesh: 'a', virtual_node: 'b,virtual_node:c' };
  const B = { mesh: 'a,virtual_node:b', virtual_node: 'c' };

  it('keeps them apart in a counter, a gauge and a histogram', async () => {
    const registry = new MetricsRegistry();
    const c = registry.counter('meshd_c_total', 'c', ['mesh', 'virtual_node']);
    const g = registry.gauge('meshd_g', 'g', ['mesh', 'virtual_node']);
    const h = registry.histogram('meshd_h_seconds', 'h', [1], ['mesh', 'virtual_node']);
    c.inc(A, 2);
    c.inc(B, 3);
    g.set(A, 5);
    g.set(B, 7);
    h.observe(A, 0.5);
    h.observe(B, 2);
    h.observe(B, 3);
    const text = await registry.render();
    expect(samples(text, 'meshd_c_total')).toEqual([
      'meshd_c_total{mesh="a",virtual_node="b,virtual_node:c"} 2',
      'meshd_c_total{mesh="a,virtual_node:b",virtual_node="c"} 3',
    ]);
    expect(samples(text, 'meshd_g')).toEqual([
      'meshd_g{mesh="a",virtual_node="b,virtual_node:c"} 5',
      'meshd_g{mesh="a,virtual_node:b",virtual_node="c"} 7',
    ]);
    expect(samples(text, 'meshd_h_seconds_count')).toEqual([
      'meshd_h_seconds_count{mesh="a",virtual_node="b,virtual_node:c"} 1',
      'meshd_h_seconds_count{mesh="a,virtual_node:b",virtual_node="c"} 2',
    ]);
    h.remove(A);
    expect(samples(await registry.render(), 'meshd_h_seconds_count')).toEqual([
      'meshd_h_seconds_count{mesh="a,virtual_node:b",virtual_node="c"} 2',
    ]);
  });

  it('keeps them apart in collected counters, and in the request-duration histogram fed by telemetry', async () => {
    const registry = new MetricsRegistry();
    registry.counter('meshd_collected_total', 'c', ['mesh', 'virtual_node'], () => [
      { labels: A, value: 1 },
      { labels: B, value: 4 },
    ]);
    const fake = fakeTelemetry();
    telemetryMetrics(registry, fake.telemetry, 60_000);
    fake.observe(A.mesh, A.virtual_node, [3]);
    fake.observe(B.mesh, B.virtual_node, [40, 700]);
    const text = await registry.render();
    expect(samples(text, 'meshd_collected_total')).toEqual([
      'meshd_collected_total{mesh="a",virtual_node="b,virtual_node:c"} 1',
      'meshd_collected_total{mesh="a,virtual_node:b",virtual_node="c"} 4',
    ]);
    expect(samples(text, 'meshd_virtual_node_request_duration_seconds_count')).toEqual([
      'meshd_virtual_node_request_duration_seconds_count{mesh="a",virtual_node="b,virtual_node:c"} 1',
      'meshd_virtual_node_request_duration_seconds_count{mesh="a,virtual_node:b",virtual_node="c"} 2',
    ]);
  });
});

describe('meshd_virtual_node_request_duration_seconds (meshd counts per node; rendered when scraped)', () => {
  it('puts each duration in its bucket, cumulative when rendered, with +Inf, _sum and _count', async () => {
    const registry = new MetricsRegistry();
    const fake = fakeTelemetry();
    telemetryMetrics(registry, fake.telemetry, 60_000);
    // 1 ms is on a bound (le is inclusive); 70 s is above the last (60 s): +Inf only.
    fake.observe('m', 'n', [1, 3, 700, 70_000]);
    fake.observe('m', 'n', [2.5]);
    const node = 'mesh="m",virtual_node="n"';
    const lines = samples(await registry.render(), 'meshd_virtual_node_request_duration_seconds');
    const bucket = (le: string) =>
      lines.find((l) => l.startsWith(`meshd_virtual_node_request_duration_seconds_bucket{le="${le}",${node}} `));
    expect(['0.001', '0.0025', '0.005', '0.5', '1', '60', '+Inf'].map((le) => bucket(le)?.split(' ')[1])).toEqual([
      '1',
      '2',
      '3',
      '3',
      '4',
      '4',
      '5',
    ]);
    expect(lines).toContain(`meshd_virtual_node_request_duration_seconds_count{${node}} 5`);
    const sum = lines.find((l) => l.startsWith('meshd_virtual_node_request_duration_seconds_sum'));
    expect(Number(sum!.split(' ')[1])).toBeCloseTo(70.7065, 9);
  });

  it('drops the series of nodes the new model does not have when told so (on a reload), before any scrape', async () => {
    const registry = new MetricsRegistry();
    const fake = fakeTelemetry();
    const metrics = telemetryMetrics(registry, fake.telemetry, 60_000);
    fake.observe('m', 'gone', [5]);
    fake.observe('m', 'kept', [5]);
    metrics.pruneRemoved((_mesh, node) => node === 'kept');
    // The node is back in the mesh: it starts afresh, its old durations forgotten.
    fake.observe('m', 'gone', [7]);
    expect(samples(await registry.render(), 'meshd_virtual_node_request_duration_seconds_count')).toEqual([
      'meshd_virtual_node_request_duration_seconds_count{mesh="m",virtual_node="gone"} 1',
      'meshd_virtual_node_request_duration_seconds_count{mesh="m",virtual_node="kept"} 1',
    ]);
  });
});

describe('a throwing observation listener', () => {
  it("loses its own update only: the other listeners and the datagram's other lines are still handled", async () => {
    const quickstart = new MeshModel([
      {
        kind: 'VirtualNode',
        mesh: 'm',
        name: 'api',
        source: { file: 't', line: 1, col: 1 },
        spec: { listeners: [{ portMapping: { protocol: 'http', port: 80 } }] },
      } as VirtualNode,
    ]);
    const telemetry = new Telemetry();
    telemetry.setModel(quickstart);
    let calls = 0;
    telemetry.onObservation(() => {
      calls++;
      throw new Error('a bug in a listener');
    });
    const registry = new MetricsRegistry();
    telemetryMetrics(registry, telemetry, 60_000);
    const line = (ms: number) => `envoy.cluster.upstream_rq_time:${ms}|ms|#envoy.cluster_name:cds_egress_m_api_http_80`;
    expect(() => telemetry.receive([line(3), line(40)].join('\n'))).not.toThrow();
    expect(calls).toBe(2);
    expect(samples(await registry.render(), 'meshd_virtual_node_request_duration_seconds_count')).toEqual([
      'meshd_virtual_node_request_duration_seconds_count{mesh="m",virtual_node="api"} 2',
    ]);
  });
});

describe('samples a scrape cannot render as they are', () => {
  it('leaves out a collected counter sample that is negative or not finite, says so once, and renders the rest', async () => {
    const warnings: string[] = [];
    const registry = new MetricsRegistry({ warn: (m) => warnings.push(m) });
    registry.counter('meshd_bad_total', 'b', ['k'], () => [
      { labels: { k: 'negative' }, value: -1 },
      { labels: { k: 'nan' }, value: NaN },
      { labels: { k: 'inf' }, value: Infinity },
      { labels: { k: 'ok' }, value: 5 },
    ]);
    registry.gauge('meshd_fine', 'f').set(1);
    for (let i = 0; i < 2; i++) {
      const text = await registry.render();
      expect(samples(text, 'meshd_bad_total')).toEqual(['meshd_bad_total{k="ok"} 5']);
      expect(samples(text, 'meshd_fine')).toEqual(['meshd_fine 1']);
    }
    // The first bad one in label order.
    expect(warnings).toEqual([
      'metric meshd_bad_total: {k="inf"} has the value Infinity, which a counter cannot have; the sample is left out',
    ]);
  });

  it('spells NaN as NaN (a gauge set to NaN, a collected gauge, a summary quantile)', async () => {
    const registry = new MetricsRegistry();
    registry.gauge('meshd_set', 's').set(NaN);
    registry.gauge('meshd_collected', 'c', ['k'], () => [{ labels: { k: 'Nan' }, value: NaN }]);
    registry.summary('meshd_summary_seconds', 's', [], () => [
      { labels: {}, quantiles: { '0.5': NaN }, sum: 0, count: 0 },
    ]);
    const text = await registry.render();
    expect(samples(text, 'meshd_set')).toEqual(['meshd_set NaN']);
    expect(samples(text, 'meshd_collected')).toEqual(['meshd_collected{k="Nan"} NaN']);
    expect(samples(text, 'meshd_summary_seconds')[0]).toBe('meshd_summary_seconds{quantile="0.5"} NaN');
    expect(text).not.toMatch(/ Nan$/m);
  });
});

/** A stand-in for Telemetry with no traffic of its own: the test hands observations to its listeners. */
function fakeTelemetry(): { telemetry: Telemetry; observe(mesh: string, node: string, ms: number[]): void } {
  const listeners: ((o: Observation) => void)[] = [];
  const telemetry = {
    windows: { nodesSeen: () => [], totals: () => ({ requests: 0, errors: 0 }) },
    traffic: () => [],
    onObservation: (l: (o: Observation) => void) => listeners.push(l),
    statsdCounts: () => ({ datagrams: 0, lines: 0, skippedLines: 0, usedLines: 0 }),
    droppedCounts: () => ({ datagrams: {}, lines: {} }),
  } as unknown as Telemetry;
  return {
    telemetry,
    observe: (mesh, virtualNode, ms) => {
      for (const l of listeners) l({ kind: 'latency', node: { mesh, virtualNode }, ms } as unknown as Observation);
    },
  };
}
