// gRPC-aware telemetry and canary analysis: the grpc_stats counters Envoy sends over DogStatsD
// (names and tags as the pinned Envoy 1.40 sent them, captured through a sidecar compiled by
// meshd), counted per virtual node and status, bounded whatever a datagram or a server says;
// the fleet's records carrying them; and request-success-rate failing on a 5xx or a listed status.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadMesh } from '../../src/load/mesh-source';
import { formatProblem } from '../../src/load/problems';
import { checkValue } from '../../src/load/schema-check';
import { formatFieldPath, type FieldPath } from '../../src/model/common';
import {
  DEFAULT_GRPC_FAILURE_CODES,
  GRPC_STATUS_NAMES,
  type GrpcFailureName,
  type GrpcStatusName,
} from '../../src/model/grpc-status';
import { MeshModel } from '../../src/model/mesh-model';
import { resolveSettings, rolloutSpecShape, type RolloutSettings } from '../../src/model/rollout';
import { tmpDir } from '../helpers/processes';
import { checkCanary } from '../../src/rollout/analysis';
import {
  EgressClusterIndex,
  FleetTraffic,
  interpret,
  parseLine,
  failureFraction,
  SecondCounts,
  Telemetry,
  TrafficWindows,
  type TelemetryReader,
  type TrafficSummary,
} from '../../src/telemetry';
import { listenerNode as node } from '../helpers/virtual-node-stub';

const MODEL = new MeshModel([
  node('m', 'client', []),
  node('m', 'api', [['grpc', 38753]]),
  node('m', 'a.b', [['grpc', 80]]),
  node('m', 'web', [
    ['http', 8080],
    ['grpc', 9090],
  ]),
]);
const INDEX = EgressClusterIndex.fromModel(MODEL);
const API = 'cds_egress_m_api_grpc_38753';
const TAGS = `#appmesh.mesh:m,appmesh.virtual_node:client,envoy.cluster_name:${API}`;

// As Envoy 1.40 sent them: 4 OK calls, one UNAVAILABLE (retried twice upstream), one INTERNAL
// and one NOT_FOUND, all in HTTP 200; then the server gone: Envoy's own 503, as UNAVAILABLE.
const CAPTURE = [
  `envoy.cluster.grpc.total:5|c|${TAGS}`,
  `envoy.cluster.grpc.success:4|c|${TAGS}`,
  `envoy.cluster.grpc.response_message_count:4|c|${TAGS}`,
  `envoy.cluster.retry.upstream_rq_xx:2|c|#envoy.response_code_class:2,appmesh.mesh:m,appmesh.virtual_node:client,envoy.cluster_name:${API}`,
  `envoy.cluster.upstream_rq_xx:5|c|#envoy.response_code_class:2,appmesh.mesh:m,appmesh.virtual_node:client,envoy.cluster_name:${API}`,
  `envoy.cluster.external.upstream_rq_xx:5|c|#envoy.response_code_class:2,appmesh.mesh:m,appmesh.virtual_node:client,envoy.cluster_name:${API}`,
  `envoy.cluster.grpc.failure:1|c|${TAGS}`,
  `envoy.cluster.grpc.0:4|c|${TAGS}`,
  `envoy.cluster.grpc.14:1|c|${TAGS}`,
  `envoy.cluster.grpc.request_message_count:5|c|${TAGS}`,
  `envoy.cluster.grpc.total:2|c|${TAGS}`,
  `envoy.cluster.upstream_rq_xx:2|c|#envoy.response_code_class:2,appmesh.mesh:m,appmesh.virtual_node:client,envoy.cluster_name:${API}`,
  `envoy.cluster.grpc.failure:2|c|${TAGS}`,
  `envoy.cluster.grpc.5:1|c|${TAGS}`,
  `envoy.cluster.grpc.13:1|c|${TAGS}`,
  `envoy.cluster.grpc.13:0|c|${TAGS}`,
  `envoy.cluster.upstream_rq_xx:1|c|#envoy.response_code_class:5,appmesh.mesh:m,appmesh.virtual_node:client,envoy.cluster_name:${API}`,
  `envoy.cluster.grpc.failure:1|c|${TAGS}`,
  `envoy.cluster.grpc.total:1|c|${TAGS}`,
  `envoy.cluster.grpc.14:1|c|${TAGS}`,
];

const line = (text: string) => parseLine(text)!;

describe('gRPC stats from DogStatsD', () => {
  it('reads grpc.<status> and grpc-web.<status> of a known egress cluster, and nothing else of the filter', () => {
    expect(interpret(line(`envoy.cluster.grpc.14:3|c|${TAGS}`), INDEX)).toEqual({
      kind: 'grpc',
      node: { mesh: 'm', virtualNode: 'api' },
      status: 14,
      count: 3,
    });
    // gRPC-Web calls through the same cluster: grpc_stats counts them under `grpc-web`.
    expect(interpret(line(`envoy.cluster.grpc-web.5:2|c|${TAGS}`), INDEX)).toMatchObject({ status: 5, count: 2 });
    for (const protocol of ['grpc', 'grpc-web'])
      for (const stat of ['success', 'failure', 'total', 'request_message_count', 'response_message_count'])
        expect(interpret(line(`envoy.cluster.${protocol}.${stat}:1|c|${TAGS}`), INDEX)).toBeUndefined();
    // A gauge or a histogram of the same name is no call count.
    expect(interpret(line(`envoy.cluster.grpc.14:1|g|${TAGS}`), INDEX)).toBeUndefined();
  });

  it('marks responses of a gRPC listener cluster, where Envoy answers failures both ways', () => {
    expect(interpret(line(CAPTURE.at(-4)!), INDEX)).toMatchObject({ kind: 'responses', errors: 1, grpcListener: true });
    const http = `envoy.cluster.upstream_rq_xx:1|c|#envoy.response_code_class:5,envoy.cluster_name:cds_egress_m_web_http_8080`;
    expect(interpret(line(http), INDEX)).not.toHaveProperty('grpcListener');
  });

  it('finds a dotted cluster name cut at its first dot', () => {
    // cluster cds_egress_m_a.b_grpc_80 arrives as the tag cds_egress_m_a and the rest in the name.
    const text = `envoy.cluster.b_grpc_80.grpc.4:1|c|#envoy.cluster_name:cds_egress_m_a`;
    expect(interpret(line(text), INDEX)).toMatchObject({ node: { virtualNode: 'a.b' }, status: 4 });
  });

  it.each([
    ['a status the server made up', `envoy.cluster.grpc.99:1|c|${TAGS}`],
    ['a word', `envoy.cluster.grpc.abc:1|c|${TAGS}`],
    ['a leading zero', `envoy.cluster.grpc.014:1|c|${TAGS}`],
    ['a sign', `envoy.cluster.grpc.-1:1|c|${TAGS}`],
    ['an exponent', `envoy.cluster.grpc.1e1:1|c|${TAGS}`],
    ['a gRPC-Web status the server made up', `envoy.cluster.grpc-web.teapot:1|c|${TAGS}`],
  ])('counts %s as UNKNOWN, keeping no name of it', (_what, text) => {
    expect(interpret(line(text), INDEX)).toEqual({
      kind: 'grpc',
      node: { mesh: 'm', virtualNode: 'api' },
      status: 2,
      count: 1,
    });
  });

  it.each([
    ['a dotted status', `envoy.cluster.grpc.1.2:1|c|${TAGS}`],
    ['per-method names', `envoy.cluster.grpc.pkg.Svc.Method.14:1|c|${TAGS}`],
    ['a caller-made service named grpc', `envoy.cluster.grpc.grpc.14:1|c|${TAGS}`],
    ['an unknown cluster', 'envoy.cluster.grpc.14:1|c|#envoy.cluster_name:cds_egress_m_nobody_grpc_1'],
    ['an ingress cluster', 'envoy.cluster.grpc.14:1|c|#envoy.cluster_name:cds_ingress_m_api_grpc_38753'],
    ['no cluster tag', 'envoy.cluster.grpc.14:1|c'],
    ['another scope', `envoy.http.egress.grpc.14:1|c|${TAGS}`],
    ['a name ending like it', `envoy.cluster.xgrpc.14:1|c|${TAGS}`],
    ['a long name', `envoy.cluster.${'x.'.repeat(4000)}grpc.14:1|c|${TAGS}`],
  ])('takes no status from %s', (_what, text) => {
    const metric = parseLine(text);
    expect(metric && interpret(metric, INDEX)).toBeFalsy();
  });

  it.each([
    ['over a billion', `envoy.cluster.grpc.14:2000000000|c|${TAGS}`],
    ['negative', `envoy.cluster.grpc.14:-1|c|${TAGS}`],
    ['blown up by a sample rate', `envoy.cluster.grpc.abc:2000000|c|@0.001|${TAGS}`],
  ])('refuses a count %s', (_what, text) => {
    expect(interpret(line(text), INDEX)).toEqual({ refused: 'out_of_range' });
  });
});

describe('gRPC counts in the windows', () => {
  const NOW = 1_700_000_000_000;

  it('counts what Envoy sent per status: each call once, 5xx of the gRPC listener apart', () => {
    const telemetry = new Telemetry();
    telemetry.setModel(MODEL);
    for (const l of CAPTURE) telemetry.receive(l, NOW);
    const [api, ...others] = telemetry.traffic(60_000, NOW);
    expect(others).toEqual([]);
    expect(api).toMatchObject({ virtualNode: 'api', requests: 8, errors: 1, successRate: 87.5 });
    expect(api!.grpc).toMatchObject({ calls: 8, errors5xx: 1 });
    expect(api!.grpc!.statuses).toMatchObject({ OK: 4, UNAVAILABLE: 2, INTERNAL: 1, NOT_FOUND: 1, UNKNOWN: 0 });
    // Failures by the default list: UNAVAILABLE ×2 and INTERNAL; the 503 is one of the UNAVAILABLE.
    // Without UNAVAILABLE in the list, the 503 still fails, as a 5xx.
    // Judged by the worse of 1 5xx in 8 requests and 3 listed statuses in 8 calls.
    expect(failureFraction(api!, DEFAULT_GRPC_FAILURE_CODES)).toEqual({
      fraction: 3 / 8,
      http: 1 / 8,
      grpc: 3 / 8,
      grpcFailures: 3,
    });
    expect(failureFraction(api!, []).fraction).toBe(1 / 8);
    expect(failureFraction(api!, ['NOT_FOUND']).fraction).toBe(1 / 8);
  });

  it('counts UNKNOWN only from status stats: grpc.failure, arriving in another second or alone, adds nothing', () => {
    // Found in review: UNKNOWN was grpc.failure less the known non-OK statuses of the window. A
    // flush that straddled the window's edge (its grpc.5 line a second before its grpc.failure
    // line), or a lost grpc.5 datagram, turned allowed NOT_FOUND calls into UNKNOWN, which fails.
    const telemetry = new Telemetry();
    telemetry.setModel(MODEL);
    telemetry.receive(`envoy.cluster.grpc.5:250|c|${TAGS}`, NOW - 10_000);
    telemetry.receive(`envoy.cluster.grpc.failure:250|c|${TAGS}`, NOW);
    telemetry.receive(`envoy.cluster.grpc.0:250|c|${TAGS}`, NOW);
    telemetry.receive(`envoy.cluster.grpc.failure:100|c|${TAGS}`, NOW); // its grpc.5 line lost
    telemetry.receive(`envoy.cluster.upstream_rq_xx:500|c|#envoy.response_code_class:2,envoy.cluster_name:${API}`, NOW);
    // A status none of the 17: its own stat, taken as UNKNOWN (the name is not kept).
    telemetry.receive(`envoy.cluster.grpc.99:2|c|${TAGS}`, NOW);
    const summary = telemetry.windows.summary('m', 'api', 5_000, NOW);
    expect(summary.grpc!.statuses).toMatchObject({ OK: 250, NOT_FOUND: 0, UNKNOWN: 2 });
    expect(summary.grpc!.calls).toBe(252);
    expect(failureFraction(summary, DEFAULT_GRPC_FAILURE_CODES).grpcFailures).toBe(2);
  });

  it('judges requests and gRPC calls each against their own count: long streams end minutes after they start', () => {
    // Found in review: 100 long streams ending UNAVAILABLE (their requests counted, at response
    // headers, in an earlier window) and 20 new OK unary calls read as 100 failures in 20
    // requests: a success rate of 0%. Now: 100 of 120 calls.
    const summary: TrafficSummary = {
      windowMs: 60_000,
      requests: 20,
      errors: 0,
      successRate: 100,
      ratePerSecond: 1 / 3,
      p50Ms: 1,
      p99Ms: 2,
      grpc: { calls: 120, errors5xx: 0, statuses: { ...zeros(), OK: 20, UNAVAILABLE: 100 } },
    };
    expect(failureFraction(summary, DEFAULT_GRPC_FAILURE_CODES).fraction).toBeCloseTo(100 / 120, 10);
    // Streams started but not ended: requests with no status yet fail nothing.
    const started = {
      ...summary,
      requests: 120,
      grpc: { ...summary.grpc!, calls: 20, statuses: { ...zeros(), OK: 20 } },
    };
    expect(failureFraction(started, DEFAULT_GRPC_FAILURE_CODES).fraction).toBe(0);
  });

  it('makes no node of a zero flush, and leaves an HTTP-only summary as it was', () => {
    const windows = new TrafficWindows();
    expect(windows.record({ kind: 'grpc', node: { mesh: 'm', virtualNode: 'api' }, status: 14, count: 0 }, NOW)).toBe(
      undefined,
    );
    expect(windows.nodesSeen()).toEqual([]);
    windows.record({ kind: 'responses', node: { mesh: 'm', virtualNode: 'web' }, requests: 3, errors: 1 }, NOW);
    expect(windows.summary('m', 'web', 10_000, NOW)).not.toHaveProperty('grpc');
  });

  it('gives every second the same fields from the start, whatever gRPC statuses arrive', () => {
    // Memory: buckets that all have one shape (fields set in the constructor) stay small; a
    // field added on the first gRPC call, or a 17-count list per second, cost about 270 bytes.
    const b = new SecondCounts();
    const fields = Object.keys(b);
    expect(fields).toEqual(
      expect.arrayContaining(['requests', 'errors', 'grpcOk', 'grpcUnknown', 'grpc5xx', 'grpcOther']),
    );
    for (let code = 0; code < 17; code++) expect(b.addGrpc(code, code + 1)).toBe(true);
    expect(Object.keys(b)).toEqual(fields);
    // OK and UNKNOWN are fields; only the 15 other statuses go in the list, as code, count pairs.
    expect(b.grpcOther).toHaveLength(30);
    expect(b.grpcOther!.slice(0, 4)).toEqual([1, 2, 3, 4]);
    expect(new SecondCounts().grpcOther).toBeUndefined();
  });

  it('refuses a status outside 0..16 and a count that would overflow, holding nothing', () => {
    const windows = new TrafficWindows();
    const api = { mesh: 'm', virtualNode: 'api' };
    expect(windows.record({ kind: 'grpc', node: api, status: 17, count: 1 }, NOW)).toBe('overflow');
    windows.record({ kind: 'grpc', node: api, status: 14, count: Number.MAX_SAFE_INTEGER }, NOW);
    expect(windows.record({ kind: 'grpc', node: api, status: 14, count: 1 }, NOW)).toBe('overflow');
    expect(windows.summary('m', 'api', 10_000, NOW).grpc!.statuses.UNAVAILABLE).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("judges a node with HTTP and gRPC listeners by the worse, counting Envoy's own 503 once", () => {
    const summary: TrafficSummary = {
      windowMs: 10_000,
      requests: 100,
      errors: 5, // 3 on the HTTP listener, 2 Envoy's own on the gRPC one
      successRate: 95,
      ratePerSecond: 10,
      p50Ms: 1,
      p99Ms: 2,
      grpc: { calls: 50, errors5xx: 2, statuses: { ...zeros(), OK: 44, UNAVAILABLE: 6 } },
    };
    // 6 of 50 calls against 5 of 100 requests; the 2 are among the 6 UNAVAILABLE and the 5 5xx.
    expect(failureFraction(summary, DEFAULT_GRPC_FAILURE_CODES).fraction).toBe(6 / 50);
    expect(failureFraction(summary, ['NOT_FOUND']).fraction).toBe(5 / 100);
    // Never past all of them, whatever the counts.
    expect(failureFraction({ ...summary, requests: 4, errors: 5 }, DEFAULT_GRPC_FAILURE_CODES).fraction).toBe(1);
  });
});

function zeros(): Record<GrpcStatusName, number> {
  return Object.fromEntries(GRPC_STATUS_NAMES.map((n) => [n, 0])) as Record<GrpcStatusName, number>;
}

describe('gRPC counts across the fleet', () => {
  const NOW = 1_700_000_000_000;
  const api = { mesh: 'm', virtualNode: 'api' };

  const replicaWindows = () => {
    const w = new TrafficWindows();
    w.record({ kind: 'responses', node: api, requests: 4, errors: 1, grpcListener: true }, NOW - 2000);
    w.record({ kind: 'grpc', node: api, status: 14, count: 3 }, NOW - 2000);
    w.record({ kind: 'grpc', node: api, status: 0, count: 1 }, NOW - 2000);
    return w;
  };

  it('exports and imports them: the leader sums what each replica saw', () => {
    const records = replicaWindows().exportSince(0, NOW);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ grpcFailures: 3, grpc5xx: 1 });
    expect(records[0]!.grpc).toHaveLength(17);
    const fleet = new FleetTraffic();
    expect(fleet.import('r1', records, NOW)).toMatchObject({ imported: 1, refused: [] });
    expect(fleet.import('r2', JSON.parse(JSON.stringify(records)), NOW)).toMatchObject({ imported: 1 });
    const summary = fleet.summary('m', 'api', 10_000, NOW);
    expect(summary).toMatchObject({ requests: 8, errors: 2 });
    expect(summary.grpc).toMatchObject({ calls: 8, errors5xx: 2 });
    expect(summary.grpc!.statuses).toMatchObject({ OK: 2, UNAVAILABLE: 6 });
  });

  it('writes records a replica of the version before reads alike: grpcFailures is the named non-OK calls', () => {
    // That version took grpcFailures less the named non-OK statuses as UNKNOWN: this adds none.
    const w = new TrafficWindows();
    w.record({ kind: 'grpc', node: api, status: 0, count: 7 }, NOW - 2000);
    w.record({ kind: 'grpc', node: api, status: 5, count: 2 }, NOW - 2000);
    w.record({ kind: 'grpc', node: api, status: 2, count: 1 }, NOW - 2000);
    w.record({ kind: 'grpc', node: api, status: 16, count: 4 }, NOW - 2000);
    const [record] = w.exportSince(0, NOW);
    expect(record).toMatchObject({ grpcFailures: 7, grpc5xx: 0 });
    expect(record!.grpc).toEqual([7, 0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4]);
    // And the records of that version, with a grpcFailures of their own, are read by their statuses.
    const fleet = new FleetTraffic();
    expect(fleet.import('old', [{ ...record, grpcFailures: 99 }], NOW)).toMatchObject({ imported: 1, refused: [] });
    expect(fleet.summary('m', 'api', 10_000, NOW).grpc).toMatchObject({
      calls: 14,
      statuses: { OK: 7, UNKNOWN: 1, NOT_FOUND: 2, UNAUTHENTICATED: 4 },
    });
  });

  it('takes an HTTP-only record without the gRPC fields (what an older replica exports), and fields it does not know', () => {
    const [record] = replicaWindows().exportSince(0, NOW);
    const { grpc: _g, grpcFailures: _f, grpc5xx: _x, ...old } = record!;
    const fleet = new FleetTraffic();
    expect(fleet.import('old', [old], NOW)).toMatchObject({ imported: 1, refused: [] });
    expect(fleet.import('future', [{ ...record, grpcV2: { anything: [1] } }], NOW)).toMatchObject({
      imported: 1,
      refused: [],
    });
    expect(fleet.summary('m', 'api', 10_000, NOW).grpc!.statuses.UNAVAILABLE).toBe(3);
  });

  it.each([
    ['a short list', { grpc: [1, 2] }, /grpc is a list of 2; must be a list of 17 counts/],
    ['a list too long', { grpc: new Array(10_000).fill(0) }, /grpc is a list of 10000; must be a list of 17 counts/],
    ['more calls than a count holds', { grpc: new Array(17).fill(1e15) }, /grpc counts 17000000000000000 calls/],
    ['a negative count', { grpc: [...new Array(16).fill(0), -1] }, /grpc\[16\] is -1/],
    ['NaN', { grpc: [NaN, ...new Array(16).fill(0)] }, /grpc\[0\] is NaN/],
    ['a string count', { grpc: ['1', ...new Array(16).fill(0)] }, /grpc\[0\] is "1"/],
    ['grpcFailures not a count', { grpcFailures: 'x' }, /grpcFailures is "x"/],
    ['more gRPC 5xx than 5xx', { grpc5xx: 2 }, /grpc5xx is 2; must be a number from 0 to the errors \(1\)/],
    ['a lone field', { grpc: undefined }, /grpc is missing/],
  ])('refuses a record with %s, naming the field, and keeps the others', (_what, change, reason) => {
    const [record] = replicaWindows().exportSince(0, NOW);
    const fleet = new FleetTraffic();
    const result = fleet.import(
      'r1',
      [
        { ...record, ...change },
        { ...record, second: record!.second - 1 },
      ],
      NOW,
    );
    expect(result.imported).toBe(1);
    expect(result.refused).toEqual([{ index: 0, reason: expect.stringMatching(reason) as string }]);
  });
});

describe('request-success-rate with gRPC failure codes', () => {
  const NOW = 1_700_000_000_000;
  const settings = (grpcFailureCodes?: readonly GrpcFailureName[]): RolloutSettings =>
    resolveSettings({
      route: { virtualRouter: 'api', name: 'main' },
      primary: 'v1',
      canary: 'v2',
      analysis: {
        interval: '10s',
        metrics: [{ name: 'request-success-rate', thresholdRange: { min: 95 } }],
        ...(grpcFailureCodes ? { grpcFailureCodes: [...grpcFailureCodes] } : {}),
      },
    });

  /** 100 requests to the canary in HTTP 200, 10 of them failing with `status`. */
  const reader = (status: number): TelemetryReader => {
    const w = new TrafficWindows();
    const v2 = { mesh: 'm', virtualNode: 'v2' };
    w.record({ kind: 'responses', node: v2, requests: 100, errors: 0, grpcListener: true }, NOW);
    w.record({ kind: 'grpc', node: v2, status: 0, count: 90 }, NOW);
    w.record({ kind: 'grpc', node: v2, status, count: 10 }, NOW);
    return w;
  };
  const rate = (r: ReturnType<typeof checkCanary>) => r.results.find((x) => x.metric === 'request-success-rate')!;

  it('fails UNAVAILABLE in HTTP 200 by default, and says which statuses counted', () => {
    // Left out of the settings when the spec leaves it out: a rollout saved by an earlier meshd compares equal.
    expect(settings()).not.toHaveProperty('grpcFailureCodes');
    expect(settings(['INTERNAL']).grpcFailureCodes).toEqual(['INTERNAL']);
    // null is "not set" (as the schema reads it), never a list of null kept in the settings.
    const unset = resolveSettings({
      route: { virtualRouter: 'api', name: 'main' },
      primary: 'v1',
      canary: 'v2',
      analysis: { grpcFailureCodes: null as unknown as [] },
    });
    expect(unset).not.toHaveProperty('grpcFailureCodes');
    const r = checkCanary(reader(14), 'm', settings(), NOW);
    expect(r.ok).toBe(false);
    expect(rate(r)).toEqual({
      metric: 'request-success-rate',
      value: 90,
      ok: false,
      message:
        'success rate 90% over the last 10s (0 HTTP 5xx of 100 requests; gRPC UNAVAILABLE 10 of 100 calls), below the minimum 95%',
    });
  });

  it('passes a status outside the list (NOT_FOUND by default), and fails it once listed', () => {
    expect(rate(checkCanary(reader(5), 'm', settings(), NOW))).toMatchObject({ ok: true, value: 100 });
    expect(rate(checkCanary(reader(5), 'm', settings(['NOT_FOUND']), NOW))).toMatchObject({ ok: false, value: 90 });
    // A custom list replaces the default: UNAVAILABLE no longer counts.
    expect(rate(checkCanary(reader(14), 'm', settings(['NOT_FOUND']), NOW))).toMatchObject({ ok: true, value: 100 });
    expect(rate(checkCanary(reader(14), 'm', settings([]), NOW))).toMatchObject({ ok: true, value: 100 });
  });

  it('takes the default list for settings whose list is not one (a state file edited by hand)', () => {
    for (const codes of ['UNAVAILABLE', [14], ['NOPE'], null])
      expect(
        rate(checkCanary(reader(14), 'm', { ...settings(), grpcFailureCodes: codes as unknown as [] }, NOW)),
      ).toMatchObject({ ok: false, value: 90 });
  });

  it('fails closed on a gRPC count that is no measurement', () => {
    const bad: TelemetryReader = {
      summary: (_m, _n, windowMs) => ({
        windowMs,
        requests: 100,
        errors: 0,
        successRate: 100,
        ratePerSecond: 10,
        p50Ms: 1,
        p99Ms: 1,
        grpc: { calls: 100, errors5xx: 0, statuses: { ...zeros(), UNAVAILABLE: NaN } },
      }),
    };
    expect(rate(checkCanary(bad, 'm', settings(), NOW))).toMatchObject({ ok: false, value: null });
  });
});

describe('spec.analysis.grpcFailureCodes', () => {
  const problems = (grpcFailureCodes: unknown): string[] => {
    const found: string[] = [];
    const spec = {
      route: { virtualRouter: 'r', name: 'n' },
      primary: 'a',
      canary: 'b',
      analysis: { grpcFailureCodes },
    };
    checkValue(rolloutSpecShape, spec, ['spec'], (path: FieldPath, message: string) =>
      found.push(`${formatFieldPath(path)}: ${message}`),
    );
    return found;
  };

  it('takes names of the 16 statuses other than OK, and an empty list', () => {
    expect(problems(['UNAVAILABLE', 'INTERNAL', 'UNAUTHENTICATED', 'CANCELLED'])).toEqual([]);
    expect(problems([])).toEqual([]);
  });

  it.each([
    ['OK', ['OK'], /spec\.analysis\.grpcFailureCodes\[0\].*CANCELLED/],
    ['a number', [14], /spec\.analysis\.grpcFailureCodes\[0\]/],
    ['lower case', ['unavailable'], /spec\.analysis\.grpcFailureCodes\[0\]/],
    ['a string for a list', 'UNAVAILABLE', /spec\.analysis\.grpcFailureCodes/],
    [
      'a name twice',
      ['INTERNAL', 'UNAVAILABLE', 'INTERNAL'],
      /spec\.analysis\.grpcFailureCodes\[2\]: lists INTERNAL twice/,
    ],
    ['more than 16', new Array(17).fill('INTERNAL'), /spec\.analysis\.grpcFailureCodes/],
  ])('refuses %s, naming the field', (_what, value, message) => {
    const found = problems(value);
    expect(found.length).toBeGreaterThan(0);
    expect(found.join('\n')).toMatch(message);
  });
});

describe('grpcFailureCodes in a mesh file', () => {
  const MESH = `kind: Mesh
name: m
spec: {}
---
kind: VirtualNode
mesh: m
name: a
spec: { listeners: [{ portMapping: { port: 80, protocol: grpc } }], serviceDiscovery: { dns: { hostname: a } } }
---
kind: VirtualNode
mesh: m
name: b
spec: { listeners: [{ portMapping: { port: 80, protocol: grpc } }], serviceDiscovery: { dns: { hostname: b } } }
---
kind: VirtualRouter
mesh: m
name: r
spec: { listeners: [{ portMapping: { port: 80, protocol: grpc } }] }
---
kind: Route
mesh: m
virtualRouter: r
name: main
spec:
  grpcRoute:
    match: { serviceName: x }
    action: { weightedTargets: [{ virtualNode: a, weight: 100 }, { virtualNode: b, weight: 0 }] }
---
kind: Rollout
mesh: m
name: ro
spec:
  route: { virtualRouter: r, name: main }
  primary: a
  canary: b
  analysis:
`;
  const load = (analysis: string) => {
    const dir = tmpDir('grpc-codes-');
    fs.writeFileSync(path.join(dir, 'm.yaml'), MESH + analysis);
    return loadMesh([dir]).problems.map((p) => formatProblem(p).replaceAll(dir + path.sep, ''));
  };

  it('loads a valid list', () => {
    expect(load('    grpcFailureCodes: [UNAVAILABLE, INTERNAL]\n')).toEqual([]);
  });

  it('names the file, line, column, rollout and field of a bad name', () => {
    expect(load('    grpcFailureCodes: [UNAVAILABLE, Unavailable]\n')).toEqual([
      expect.stringMatching(
        /^m\.yaml:37:37: error: Rollout\/ro: must be one of CANCELLED, .*, got "Unavailable" \(spec\.analysis\.grpcFailureCodes\[1\]\)$/,
      ) as string,
    ]);
  });
});
