// meshd's registry (prom-client underneath) renders the text exposition format (0.0.4) Prometheus
// parses: counters, gauges (set, or computed when scraped) and histograms, each registry on its own.
import { MetricsRegistry } from '../../src/admin/metrics';
import { OMITTED_RUNTIME_METRICS, runtimeMetricsState } from '../../src/admin/runtime-metrics';

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
    b.close();
    expect(runtimeMetricsState().users).toBe(0);
    const stopped = runtimeMetricsState().monitorSamples;
    await sleep(100);
    expect(runtimeMetricsState().monitorSamples).toBe(stopped);
  });

  it('observe GCs while a registry uses them, not after the last one closes, and again once one adds them', async () => {
    const a = new MetricsRegistry();
    a.addRuntimeMetrics();
    const before = await gcCount(a);
    churn();
    await sleep(50);
    expect(await gcCount(a)).toBeGreaterThan(before);
    a.close();
    await sleep(50);
    const stopped = await gcCount(a);
    churn();
    await sleep(50);
    expect(await gcCount(a)).toBe(stopped);
    const b = new MetricsRegistry();
    b.addRuntimeMetrics();
    try {
      churn();
      await sleep(50);
      expect(await gcCount(b)).toBeGreaterThan(stopped);
      expect(runtimeMetricsState().gcObservers).toBe(1);
    } finally {
      b.close();
    }
  });
});
