// The Prometheus registry renders exactly the text exposition format (0.0.4) Prometheus parses.
import { MetricsRegistry } from '../../src/admin/metrics';

describe('MetricsRegistry', () => {
  it('renders a counter, starting at 0 and adding up increments', () => {
    const registry = new MetricsRegistry();
    const pushes = registry.counter('meshd_xds_pushes_total', 'Responses sent to proxies.');
    expect(registry.render()).toBe(
      [
        '# HELP meshd_xds_pushes_total Responses sent to proxies.',
        '# TYPE meshd_xds_pushes_total counter',
        'meshd_xds_pushes_total 0',
        '',
      ].join('\n'),
    );
    pushes.inc();
    pushes.inc(2);
    pushes.inc(undefined, 0.5);
    expect(registry.render()).toBe(
      [
        '# HELP meshd_xds_pushes_total Responses sent to proxies.',
        '# TYPE meshd_xds_pushes_total counter',
        'meshd_xds_pushes_total 3.5',
        '',
      ].join('\n'),
    );
  });

  it('renders labelled series sorted by label values, whatever order they were written in', () => {
    const registry = new MetricsRegistry();
    const nacks = registry.counter('meshd_xds_nacks_total', 'NACKs received.', ['type', 'node']);
    nacks.inc({ type: 'RDS', node: 'mesh/apps/virtualNode/front' });
    nacks.inc({ node: 'mesh/apps/virtualNode/b', type: 'CDS' }, 4);
    nacks.inc({ type: 'CDS', node: 'mesh/apps/virtualNode/a' });
    expect(registry.render()).toBe(
      [
        '# HELP meshd_xds_nacks_total NACKs received.',
        '# TYPE meshd_xds_nacks_total counter',
        'meshd_xds_nacks_total{type="CDS",node="mesh/apps/virtualNode/a"} 1',
        'meshd_xds_nacks_total{type="CDS",node="mesh/apps/virtualNode/b"} 4',
        'meshd_xds_nacks_total{type="RDS",node="mesh/apps/virtualNode/front"} 1',
        '',
      ].join('\n'),
    );
  });

  it('renders a labelled gauge that is set, increased and decreased', () => {
    const registry = new MetricsRegistry();
    const streams = registry.gauge('meshd_xds_streams', 'Open ADS streams.', ['protocol']);
    expect(registry.render()).toBe('# HELP meshd_xds_streams Open ADS streams.\n# TYPE meshd_xds_streams gauge\n');
    streams.set({ protocol: 'sotw' }, 3);
    streams.inc({ protocol: 'delta' });
    streams.inc({ protocol: 'delta' }, 2);
    streams.dec({ protocol: 'sotw' });
    expect(registry.render()).toBe(
      [
        '# HELP meshd_xds_streams Open ADS streams.',
        '# TYPE meshd_xds_streams gauge',
        'meshd_xds_streams{protocol="delta"} 3',
        'meshd_xds_streams{protocol="sotw"} 2',
        '',
      ].join('\n'),
    );
  });

  it('computes a collected gauge on every render', () => {
    const registry = new MetricsRegistry();
    let proxies = [
      { labels: { state: 'SYNCED' }, value: 2 },
      { labels: { state: 'NACKED' }, value: 1 },
    ];
    registry.gauge('meshd_proxies', 'Connected proxies by sync state.', ['state'], () => proxies);
    expect(registry.render()).toBe(
      [
        '# HELP meshd_proxies Connected proxies by sync state.',
        '# TYPE meshd_proxies gauge',
        'meshd_proxies{state="NACKED"} 1',
        'meshd_proxies{state="SYNCED"} 2',
        '',
      ].join('\n'),
    );
    proxies = [{ labels: { state: 'SYNCED' }, value: 3 }];
    expect(registry.render()).toBe(
      '# HELP meshd_proxies Connected proxies by sync state.\n# TYPE meshd_proxies gauge\nmeshd_proxies{state="SYNCED"} 3\n',
    );
  });

  it('reads a collected counter from its running totals on every render; it cannot be increased', () => {
    const registry = new MetricsRegistry();
    let totals = [
      { labels: { node: 'b' }, value: 5 },
      { labels: { node: 'a' }, value: 2 },
    ];
    const requests = registry.counter('meshd_requests_total', 'Requests seen.', ['node'], () => totals);
    registry.counter('meshd_lines_total', 'Lines seen.', [], () => [{ value: 7 }]);
    expect(registry.render()).toBe(
      [
        '# HELP meshd_requests_total Requests seen.',
        '# TYPE meshd_requests_total counter',
        'meshd_requests_total{node="a"} 2',
        'meshd_requests_total{node="b"} 5',
        '# HELP meshd_lines_total Lines seen.',
        '# TYPE meshd_lines_total counter',
        'meshd_lines_total 7',
        '',
      ].join('\n'),
    );
    totals = [{ labels: { node: 'a' }, value: 3 }];
    expect(registry.render()).toContain(
      '# TYPE meshd_requests_total counter\nmeshd_requests_total{node="a"} 3\n# HELP meshd_lines_total',
    );
    expect(() => requests.inc({ node: 'a' })).toThrow(
      'counter meshd_requests_total is computed when rendered; it cannot be increased',
    );
    totals = [
      { labels: { node: 'a' }, value: 1 },
      { labels: { node: 'a' }, value: 2 },
    ];
    expect(() => registry.render()).toThrow('counter meshd_requests_total: the collector returned {node="a"} twice');
  });

  it('renders a histogram with cumulative buckets, +Inf, _sum and _count', () => {
    const registry = new MetricsRegistry();
    const latency = registry.histogram(
      'meshd_push_seconds',
      'Time from mesh change to response sent.',
      [0.5, 0.1, 1],
      ['type'],
    );
    for (const v of [0.05, 0.1, 0.3, 0.7, 2]) latency.observe({ type: 'CDS' }, v);
    latency.observe({ type: 'LDS' }, 0.25);
    expect(registry.render()).toBe(
      [
        '# HELP meshd_push_seconds Time from mesh change to response sent.',
        '# TYPE meshd_push_seconds histogram',
        'meshd_push_seconds_bucket{type="CDS",le="0.1"} 2',
        'meshd_push_seconds_bucket{type="CDS",le="0.5"} 3',
        'meshd_push_seconds_bucket{type="CDS",le="1"} 4',
        'meshd_push_seconds_bucket{type="CDS",le="+Inf"} 5',
        'meshd_push_seconds_sum{type="CDS"} 3.15',
        'meshd_push_seconds_count{type="CDS"} 5',
        'meshd_push_seconds_bucket{type="LDS",le="0.1"} 0',
        'meshd_push_seconds_bucket{type="LDS",le="0.5"} 1',
        'meshd_push_seconds_bucket{type="LDS",le="1"} 1',
        'meshd_push_seconds_bucket{type="LDS",le="+Inf"} 1',
        'meshd_push_seconds_sum{type="LDS"} 0.25',
        'meshd_push_seconds_count{type="LDS"} 1',
        '',
      ].join('\n'),
    );
  });

  it('renders an unlabelled histogram with zero observations', () => {
    const registry = new MetricsRegistry();
    registry.histogram('meshd_reload_seconds', 'Mesh reload time.', [1, Infinity]);
    expect(registry.render()).toBe(
      [
        '# HELP meshd_reload_seconds Mesh reload time.',
        '# TYPE meshd_reload_seconds histogram',
        'meshd_reload_seconds_bucket{le="1"} 0',
        'meshd_reload_seconds_bucket{le="+Inf"} 0',
        'meshd_reload_seconds_sum 0',
        'meshd_reload_seconds_count 0',
        '',
      ].join('\n'),
    );
  });

  it('escapes backslashes, double quotes and newlines in label values, and backslashes and newlines in help', () => {
    const registry = new MetricsRegistry();
    const g = registry.gauge('meshd_escape_test', 'A help with a \\ backslash\nand a newline.', ['message']);
    g.set({ message: 'say "hi"\\n\nbye' }, 1);
    expect(registry.render()).toBe(
      [
        '# HELP meshd_escape_test A help with a \\\\ backslash\\nand a newline.',
        '# TYPE meshd_escape_test gauge',
        'meshd_escape_test{message="say \\"hi\\"\\\\n\\nbye"} 1',
        '',
      ].join('\n'),
    );
  });

  it('renders metrics in registration order and special float values as Prometheus spells them', () => {
    const registry = new MetricsRegistry();
    registry.gauge('z_first', 'Registered first.').set(Infinity);
    registry.gauge('a_second', 'Registered second.').set(NaN);
    registry.gauge('m_third', 'Registered third.').set(-Infinity);
    expect(registry.render()).toBe(
      [
        '# HELP z_first Registered first.',
        '# TYPE z_first gauge',
        'z_first +Inf',
        '# HELP a_second Registered second.',
        '# TYPE a_second gauge',
        'a_second NaN',
        '# HELP m_third Registered third.',
        '# TYPE m_third gauge',
        'm_third -Inf',
        '',
      ].join('\n'),
    );
    expect(new MetricsRegistry().render()).toBe('');
  });

  it('rejects misuse with an error that names the metric', () => {
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
    expect(() => registry.render()).toThrow('gauge meshd_collected: the collector returned {k="a"} twice');
  });
});
