// From Envoy's stats to traffic per virtual node: which clusters count for which node (built
// from the mesh, names never split), which stats count, and the whole pipeline on datagrams
// the pinned Envoy really sent (test/fixtures/telemetry/).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MeshModel, type Resource } from '../../src/model/mesh-model';
import { formatDuration } from '../../src/util/duration';
import { EgressClusterIndex, interpret, parseLine, parseWindow, Telemetry, telemetryReport } from '../../src/telemetry';
import { listenerNode as node } from '../helpers/virtual-node-stub';

const FIXTURE = path.resolve(__dirname, '../fixtures/telemetry/envoy-1.40-dogstatsd.txt');

/** The mesh of the fixture's capture: the caller and its two destinations. */
const FIXTURE_MESH = new MeshModel([
  node('tm', 'client', []),
  node('tm', 'slow', [['http', 37403]]),
  node('tm', 'bad.v1', [['http', 41887]]),
]);

const counter = (cluster: string, value: number, responseClass: string, prefix = '') =>
  parseLine(
    `envoy.cluster.${prefix}upstream_rq_xx:${value}|c|#envoy.response_code_class:${responseClass},envoy.cluster_name:${cluster}`,
  )!;

describe('EgressClusterIndex', () => {
  // Underscores everywhere: `cds_egress_my_mesh_svc_http_8080_grpc_9090` cannot be split back.
  const model = new MeshModel([
    node('my_mesh', 'svc_http_8080', [
      ['grpc', 9090],
      ['http', 8080],
    ]),
    node('my_mesh', 'none', []),
    // Two meshes whose nodes give one cluster name.
    node('a', 'b_c', [['http', 80]]),
    node('a_b', 'c', [['http', 80]]),
  ]);
  const index = EgressClusterIndex.fromModel(model);

  it('maps every listener of every virtual node to its egress cluster, by exact name', () => {
    expect(index.lookup('cds_egress_my_mesh_svc_http_8080_grpc_9090')).toEqual({
      mesh: 'my_mesh',
      virtualNode: 'svc_http_8080',
    });
    expect(index.lookup('cds_egress_my_mesh_svc_http_8080_http_8080')).toEqual({
      mesh: 'my_mesh',
      virtualNode: 'svc_http_8080',
    });
    expect(index.size).toBe(3);
  });

  it('knows no ingress, allow-all or unknown cluster', () => {
    for (const name of [
      'cds_ingress_my_mesh_svc_http_8080_grpc_9090',
      'cds_egress_my_mesh_mesh-allow-all',
      'cds_egress_my_mesh_svc_http_8080_grpc_9091',
      'meshd_xds',
    ]) {
      expect(index.lookup(name)).toBeUndefined();
    }
  });

  it("tells two meshes' nodes with one cluster name apart by the sender's mesh, and otherwise counts them for neither", () => {
    expect(index.lookup('cds_egress_a_b_c_http_80', 'a')).toEqual({ mesh: 'a', virtualNode: 'b_c' });
    expect(index.lookup('cds_egress_a_b_c_http_80', 'a_b')).toEqual({ mesh: 'a_b', virtualNode: 'c' });
    expect(index.lookup('cds_egress_a_b_c_http_80')).toBeUndefined();
    const line = (tags: string) =>
      parseLine(
        `envoy.cluster.upstream_rq_xx:2|c|#envoy.response_code_class:2,${tags}envoy.cluster_name:cds_egress_a_b_c_http_80`,
      )!;
    expect(interpret(line('appmesh.mesh:a_b,appmesh.virtual_node:caller,'), index)).toMatchObject({
      node: { mesh: 'a_b', virtualNode: 'c' },
    });
    expect(interpret(line(''), index)).toBeUndefined();
  });
});

describe('interpret', () => {
  const index = EgressClusterIndex.fromModel(FIXTURE_MESH);
  const SLOW = { mesh: 'tm', virtualNode: 'slow' };

  it('counts upstream_rq_xx of an egress cluster: every class is a request, class 5 an error', () => {
    expect(interpret(counter('cds_egress_tm_slow_http_37403', 8, '2'), index)).toEqual({
      kind: 'responses',
      node: SLOW,
      requests: 8,
      errors: 0,
    });
    expect(interpret(counter('cds_egress_tm_slow_http_37403', 3, '5'), index)).toEqual({
      kind: 'responses',
      node: SLOW,
      requests: 3,
      errors: 3,
    });
    expect(interpret(counter('cds_egress_tm_slow_http_37403', 1, '4'), index)).toEqual({
      kind: 'responses',
      node: SLOW,
      requests: 1,
      errors: 0,
    });
  });

  it('takes upstream_rq_time as request durations', () => {
    expect(
      interpret(
        parseLine('envoy.cluster.upstream_rq_time:101|ms|#envoy.cluster_name:cds_egress_tm_slow_http_37403')!,
        index,
      ),
    ).toEqual({ kind: 'latency', node: SLOW, ms: [101] });
  });

  it('puts a dotted cluster name back together from the tag and the rest of the stat name', () => {
    const line =
      'envoy.cluster.v1_http_41887.upstream_rq_xx:5|c|#envoy.response_code_class:5,envoy.cluster_name:cds_egress_tm_bad';
    expect(interpret(parseLine(line)!, index)).toEqual({
      kind: 'responses',
      node: { mesh: 'tm', virtualNode: 'bad.v1' },
      requests: 5,
      errors: 5,
    });
  });

  it.each([
    ['the external. copy of a counter', counter('cds_egress_tm_slow_http_37403', 8, '2', 'external.')],
    ['the answer of a retried attempt', counter('cds_egress_tm_slow_http_37403', 2, '5', 'retry.')],
    [
      'the internal. copy of a duration',
      parseLine('envoy.cluster.internal.upstream_rq_time:4|ms|#envoy.cluster_name:cds_egress_tm_slow_http_37403')!,
    ],
    [
      'the external. copy of a dotted cluster',
      parseLine(
        'envoy.cluster.v1_http_41887.external.upstream_rq_xx:5|c|#envoy.response_code_class:5,envoy.cluster_name:cds_egress_tm_bad',
      )!,
    ],
    ['a cluster that is no egress cluster of the mesh', counter('cds_ingress_tm_slow_http_37403', 8, '2')],
    [
      'a counter without its response class',
      parseLine('envoy.cluster.upstream_rq_xx:8|c|#envoy.cluster_name:cds_egress_tm_slow_http_37403')!,
    ],
    ['a counter without its cluster', parseLine('envoy.cluster.upstream_rq_xx:8|c|#envoy.response_code_class:2')!],
    [
      'a per-code counter',
      parseLine(
        'envoy.cluster.upstream_rq:8|c|#envoy.response_code:200,envoy.cluster_name:cds_egress_tm_slow_http_37403',
      )!,
    ],
    [
      'a gauge of the cluster',
      parseLine('envoy.cluster.upstream_rq_active:1|g|#envoy.cluster_name:cds_egress_tm_slow_http_37403')!,
    ],
    [
      'a counter sent as a gauge',
      parseLine(
        'envoy.cluster.upstream_rq_xx:8|g|#envoy.response_code_class:2,envoy.cluster_name:cds_egress_tm_slow_http_37403',
      )!,
    ],
    [
      'an HTTP connection manager stat',
      parseLine('envoy.http.downstream_rq_xx:8|c|#envoy.response_code_class:2,envoy.http_conn_manager_prefix:egress')!,
    ],
  ])('ignores %s', (_, metric) => {
    expect(interpret(metric, index)).toBeUndefined();
  });

  it.each([
    ['a negative count', counter('cds_egress_tm_slow_http_37403', -1, '2')],
    ['a count above a billion', counter('cds_egress_tm_slow_http_37403', 2e9, '2')],
    [
      'a huge count blown up by its sample rate',
      parseLine(
        'envoy.cluster.upstream_rq_xx:1e308|c|@0.001|#envoy.response_code_class:2,envoy.cluster_name:cds_egress_tm_slow_http_37403',
      )!,
    ],
    [
      'a negative duration',
      parseLine('envoy.cluster.upstream_rq_time:-4|ms|#envoy.cluster_name:cds_egress_tm_slow_http_37403')!,
    ],
    [
      'a duration over an hour',
      parseLine('envoy.cluster.upstream_rq_time:1:1e300|ms|#envoy.cluster_name:cds_egress_tm_slow_http_37403')!,
    ],
  ])('refuses %s as out of range', (_, metric) => {
    expect(interpret(metric, index)).toEqual({ refused: 'out_of_range' });
  });
});

describe('the telemetry pipeline on what Envoy 1.40 sent', () => {
  const datagrams = fs
    .readFileSync(FIXTURE, 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('//'));
  const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);

  it('finds the requests, errors and durations the caller saw, per destination', () => {
    const telemetry = new Telemetry();
    telemetry.setModel(FIXTURE_MESH);
    for (const d of datagrams) telemetry.receive(Buffer.from(d), NOW);
    expect(telemetry.traffic(60_000, NOW)).toEqual([
      {
        mesh: 'tm',
        virtualNode: 'bad.v1',
        windowMs: 60_000,
        requests: 21,
        errors: 5,
        successRate: (100 * 16) / 21,
        ratePerSecond: 21 / 60,
        p50Ms: 0,
        p99Ms: 2,
        totals: { requests: 21, errors: 5, latencySamples: 21 },
      },
      {
        mesh: 'tm',
        virtualNode: 'slow',
        windowMs: 60_000,
        requests: 10,
        errors: 0,
        successRate: 100,
        ratePerSecond: 10 / 60,
        p50Ms: 101,
        p99Ms: 102,
        totals: { requests: 10, errors: 0, latencySamples: 10 },
      },
    ]);
    expect(telemetry.statsdCounts()).toEqual({
      datagrams: datagrams.length,
      lines: datagrams.length,
      skippedLines: 0,
      usedLines: expect.any(Number),
    });
  });

  it('counts nothing before it knows the mesh, and forgets a node the mesh no longer has', () => {
    const telemetry = new Telemetry();
    for (const d of datagrams) telemetry.receive(d, NOW);
    expect(telemetry.traffic(60_000, NOW)).toEqual([]);
    telemetry.setModel(new MeshModel([node('tm', 'slow', [['http', 37403]])]));
    for (const d of datagrams) telemetry.receive(d, NOW);
    expect(telemetry.traffic(60_000, NOW).map((t) => [t.virtualNode, t.requests])).toEqual([['slow', 10]]);
    // The slow node's lines: 10 durations, and its flushed counters (zero deltas too).
    const slowLines = datagrams.filter((d) =>
      /^envoy\.cluster\.upstream_rq_(xx|time):[^|]*\|(c|ms)\|#.*envoy\.cluster_name:cds_egress_tm_slow_http_37403$/.test(
        d,
      ),
    );
    expect(slowLines.length).toBeGreaterThan(10);
    expect(telemetry.statsdCounts().usedLines).toBe(slowLines.length);
  });

  it('follows a reload that changes a virtual node, after one that changed none', () => {
    const telemetry = new Telemetry();
    const service = (provider: string): Resource => ({
      kind: 'VirtualService',
      mesh: 'tm',
      name: 'slow.tm.local',
      source: { file: 'test', line: 1, col: 1 },
      spec: { provider: { virtualNode: { virtualNodeName: provider } } },
    });
    // The node listens on another port than the one the capture's cluster names: nothing counts.
    const elsewhere = node('tm', 'slow', [['http', 8080]]);
    const first = new MeshModel([elsewhere, service('slow')]);
    telemetry.setModel(first);
    const slower = service('slower');
    const second = new MeshModel([elsewhere, slower], first);
    expect(second.changedSince(first)?.size).toBe(1);
    telemetry.setModel(second);
    for (const d of datagrams) telemetry.receive(d, NOW);
    expect(telemetry.traffic(60_000, NOW)).toEqual([]);
    const third = new MeshModel([node('tm', 'slow', [['http', 37403]]), slower], second);
    expect(third.changedSince(second)?.size).toBe(1);
    telemetry.setModel(third);
    for (const d of datagrams) telemetry.receive(d, NOW);
    expect(telemetry.traffic(60_000, NOW).map((t) => [t.virtualNode, t.requests])).toEqual([['slow', 10]]);
  });

  it('counts datagrams, lines and skipped lines', () => {
    const telemetry = new Telemetry();
    telemetry.receive('a:1|c\nbroken\n\nb:2|g', NOW);
    telemetry.receive('', NOW);
    expect(telemetry.statsdCounts()).toEqual({ datagrams: 2, lines: 3, skippedLines: 1, usedLines: 0 });
  });
});

describe('telemetry windows as text', () => {
  it.each([
    ['30s', 30_000],
    ['1s', 1_000],
    ['1500ms', 1_500],
    ['5m', 300_000],
    ['1m30s', 90_000],
    ['15m', 900_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseWindow(text)).toEqual({ ms });
  });

  it.each(['', '0s', '999ms', '16m', '15m1s', '1h', '30', 's', '-5s', '30 s'])('%j is refused in one line', (text) => {
    const parsed = parseWindow(text);
    expect(parsed).toEqual({ error: `must be a duration from 1s to 15m such as 30s, 5m or 1m30s, got '${text}'` });
  });

  it.each([
    [60_000, '1m'],
    [90_000, '1m30s'],
    [30_000, '30s'],
    [1_500, '1.5s'],
    [900_000, '15m'],
  ])('%d ms is shown as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseWindow(text)).toEqual({ ms });
  });

  it("the admin API's report: the default window, or ?window=, or why not", () => {
    const telemetry = new Telemetry();
    const listen = { address: '127.0.0.1', port: 8125 };
    expect(telemetryReport(telemetry, listen, 60_000, null)).toEqual({
      ok: true,
      body: {
        statsd: {
          address: '127.0.0.1',
          port: 8125,
          datagrams: 0,
          lines: 0,
          skippedLines: 0,
          usedLines: 0,
          dropped: telemetry.droppedCounts(),
        },
        window: '1m',
        windowMs: 60_000,
        virtualNodes: [],
      },
    });
    expect(telemetryReport(telemetry, listen, 60_000, '5m')).toMatchObject({
      ok: true,
      body: { window: '5m', windowMs: 300_000 },
    });
    expect(telemetryReport(telemetry, listen, 60_000, 'soon')).toEqual({
      ok: false,
      error: "window must be a duration from 1s to 15m such as 30s, 5m or 1m30s, got 'soon'",
    });
  });
});
