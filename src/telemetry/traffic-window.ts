// Per virtual node, the last 15 minutes of traffic in 1-second buckets (requests, 5xx, gRPC
// calls by status, request durations), plus running totals since meshd started. Data is
// bucketed by the time it arrived: counters arrive at each sidecar's stats flush, durations as
// they are measured. Memory is bounded, whatever the datagrams say: at most `maxNodes` nodes,
// 900 buckets per node (each with at most 17 gRPC status counts), and at most
// `maxLatencyBuckets` histogram buckets (latency-histogram.ts) held over all nodes and seconds.
// Every number stays finite: a count that would pass 2^53 is refused.
// In a fleet, each replica exports its closed seconds (exportSince) for the leader to sum
// (fleet-traffic.ts); windowSeconds and summarise keep both readers' numbers the same.
import { compare } from '../model/mesh-model';
import { GRPC_STATUS_COUNT, GRPC_STATUS_NAMES, type GrpcStatusName } from '../model/grpc-status';
import { MAX_WINDOW_MS } from '../model/rollout';
import type { LineDropReason } from './dogstatsd';
import type { Observation, VirtualNodeRef } from './envoy-stats';
import { LatencyHistogram, type HistogramJson } from './latency-histogram';

export const BUCKET_MS = 1000;
// As much traffic as a rollout metric may look back over (the model's limit), and no more.
export { MAX_WINDOW_MS };
export const BUCKETS = MAX_WINDOW_MS / BUCKET_MS;

export interface WindowLimits {
  /** Virtual nodes tracked (each holds up to 900 one-second buckets). */
  readonly maxNodes: number;
  /** Latency histogram buckets held over every node and second (~30 bytes each). */
  readonly maxLatencyBuckets: number;
}

export const DEFAULT_WINDOW_LIMITS: WindowLimits = { maxNodes: 10_000, maxLatencyBuckets: 4_000_000 };

/** Where a count stops: beyond it doubles lose whole units, and sums head for Infinity. */
export const MAX_COUNT = Number.MAX_SAFE_INTEGER;

/**
 * gRPC calls over a window, by the status they ended with (the callers' sidecars' grpc_stats
 * filter). They are among `requests` too, mostly as 2xx: a gRPC failure usually travels in an
 * HTTP 200. `errors5xx` is the part of the window's 5xx that came through gRPC listeners'
 * clusters: Envoy's own answers there (no upstream, timeout) count as a 5xx and as a status.
 */
export interface GrpcTraffic {
  /** Calls that ended with a status (every call that got an answer a gRPC client can read). */
  readonly calls: number;
  /** Every one of the 17 statuses; a status that is none of them counts as UNKNOWN. */
  readonly statuses: Readonly<Record<GrpcStatusName, number>>;
  readonly errors5xx: number;
}

export interface TrafficSummary {
  readonly windowMs: number;
  readonly requests: number;
  readonly errors: number; // 5xx
  readonly successRate: number | null; // percent 0..100 of non-5xx, null when requests = 0
  /** Set when the window had gRPC calls (none: no gRPC failure either). */
  readonly grpc?: GrpcTraffic;
  readonly ratePerSecond: number; // requests / window seconds
  readonly p50Ms: number | null; // null when no latency samples
  readonly p99Ms: number | null;
}

export interface TelemetryReader {
  /** Traffic to a virtual node over the last windowMs (up to 15 minutes), as of `now` (default Date.now()). */
  summary(mesh: string, virtualNode: string, windowMs: number, now?: number): TrafficSummary;
}

export interface TrafficTotals {
  readonly requests: number;
  readonly errors: number;
  readonly latencySamples: number;
}

/** A second's (or a window's) gRPC counts, as the stats gave them. */
export interface GrpcCounts {
  /** Calls by status code 0..16 (index = code). */
  readonly byStatus: number[];
  /** Calls whose status was not OK, known or not (`grpc.failure`). */
  failures: number;
  /** 5xx through gRPC listeners' clusters. */
  errors5xx: number;
}

export const emptyGrpcCounts = (): GrpcCounts => ({
  byStatus: new Array<number>(GRPC_STATUS_COUNT).fill(0),
  failures: 0,
  errors5xx: 0,
});

export function addGrpcCounts(to: GrpcCounts, from: GrpcCounts): void {
  for (let i = 0; i < GRPC_STATUS_COUNT; i++) to.byStatus[i]! += from.byStatus[i]!;
  to.failures += from.failures;
  to.errors5xx += from.errors5xx;
}

const isEmptyGrpc = (g: GrpcCounts | undefined): boolean =>
  !g || (g.failures === 0 && g.errors5xx === 0 && g.byStatus.every((n) => n === 0));

interface Bucket {
  /** Which second (ms since the epoch / 1000, floored) it holds; a slot is reused 15 minutes later. */
  second: number;
  requests: number;
  errors: number;
  latency: LatencyHistogram;
  /** Made on the first gRPC count: a node with no gRPC traffic does not pay for it. */
  grpc?: GrpcCounts;
}

class NodeTraffic {
  readonly slots: (Bucket | undefined)[] = new Array<Bucket | undefined>(BUCKETS);
  requests = 0;
  errors = 0;
  latencySamples = 0;

  /** The bucket of `now`'s second; `released` hears of the histogram buckets a reused slot gave back. */
  bucket(now: number, released: (latencyBuckets: number) => void): Bucket {
    const second = Math.floor(now / BUCKET_MS);
    const i = ((second % BUCKETS) + BUCKETS) % BUCKETS;
    let b = this.slots[i];
    if (!b || b.second !== second) {
      if (b) released(b.latency.buckets);
      this.slots[i] = b = { second, requests: 0, errors: 0, latency: new LatencyHistogram() };
    }
    return b;
  }
}

const key = (mesh: string, node: string) => `${mesh}\u0000${node}`;

function successRate(requests: number, errors: number): number | null {
  return requests > 0 ? (100 * (requests - errors)) / requests : null;
}

/** Traffic of a node added up over some seconds (and, in the fleet, over replicas). */
export interface WindowSum {
  requests: number;
  errors: number;
  latency: LatencyHistogram;
  grpc: GrpcCounts;
}

export const emptySum = (): WindowSum => ({
  requests: 0,
  errors: 0,
  latency: new LatencyHistogram(),
  grpc: emptyGrpcCounts(),
});

/**
 * The window's gRPC statuses by name. Calls with a status that is none of the 17 only show in
 * `grpc.failure`: what it counts beyond the known non-OK statuses is added to UNKNOWN (as a gRPC
 * client reads such a status).
 */
export function grpcTraffic(g: GrpcCounts): GrpcTraffic {
  const statuses = Object.fromEntries(GRPC_STATUS_NAMES.map((name, code) => [name, g.byStatus[code]!])) as Record<
    GrpcStatusName,
    number
  >;
  const knownFailures = g.byStatus.reduce((sum, n, code) => (code === 0 ? sum : sum + n), 0);
  statuses.UNKNOWN += Math.max(0, g.failures - knownFailures);
  const calls = Object.values(statuses).reduce((a, b) => a + b, 0);
  return { calls, statuses, errors5xx: g.errors5xx };
}

/**
 * The statuses Envoy's own answers to a gRPC call carry (its HTTP status turned into gRPC: 502,
 * 503 and 504 are UNAVAILABLE, a timeout DEADLINE_EXCEEDED, another 5xx UNKNOWN).
 */
const LOCAL_REPLY_STATUSES: readonly GrpcStatusName[] = ['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'UNKNOWN'];

/**
 * The requests of a window that failed for request-success-rate: an HTTP 5xx, or a gRPC status
 * in `failureCodes`. A call Envoy answered itself on a gRPC listener's cluster (no upstream, a
 * timeout) counts both as a 5xx and as a status (LOCAL_REPLY_STATUSES): the 5xx of gRPC
 * listeners are taken to be among those statuses when the list has them, so such a call fails
 * once. At most `requests`.
 */
export function requestFailures(summary: TrafficSummary, failureCodes: readonly GrpcStatusName[]): number {
  const grpc = summary.grpc;
  if (!grpc) return Math.min(summary.requests, summary.errors);
  const listed = [...new Set(failureCodes)];
  const count = (names: readonly GrpcStatusName[]) => names.reduce((sum, name) => sum + (grpc.statuses[name] ?? 0), 0);
  const twice = Math.min(
    grpc.errors5xx,
    summary.errors,
    count(listed.filter((name) => LOCAL_REPLY_STATUSES.includes(name))),
  );
  const failures = summary.errors + count(listed) - twice;
  return Math.min(summary.requests, failures);
}

/** The seconds a window of `windowMs` up to `now` holds (both included); a window beyond 0..15 min is a RangeError. */
export function windowSeconds(windowMs: number, now: number): { first: number; last: number } {
  if (!(windowMs > 0 && windowMs <= MAX_WINDOW_MS))
    throw new RangeError(
      `the window must be more than 0 ms and at most ${MAX_WINDOW_MS} ms (15 minutes), got ${windowMs}`,
    );
  const last = Math.floor(now / BUCKET_MS);
  return { first: last - Math.ceil(windowMs / BUCKET_MS) + 1, last };
}

/** What a reader shows of a window's sum. */
export function summarise(windowMs: number, { requests, errors, latency, grpc }: WindowSum): TrafficSummary {
  return {
    windowMs,
    requests,
    errors,
    successRate: successRate(requests, errors),
    // Only with gRPC traffic in the window: an HTTP-only node's summary keeps the shape it had.
    ...(isEmptyGrpc(grpc) ? {} : { grpc: grpcTraffic(grpc) }),
    ratePerSecond: requests / (windowMs / 1000),
    p50Ms: latency.quantile(0.5),
    p99Ms: latency.quantile(0.99),
  };
}

/**
 * One closed second of one node's traffic on one replica, as it travels through the shared
 * store: plain JSON. `latency` is the second's histogram (latency-histogram.ts's HistogramJson).
 */
export interface TrafficRecord {
  readonly mesh: string;
  readonly virtualNode: string;
  /** Seconds since the epoch (ms / 1000, floored), by the exporting replica's clock. */
  readonly second: number;
  readonly requests: number;
  readonly errors: number;
  readonly latency: HistogramJson;
  /**
   * Only when the second had gRPC counts: calls by status code 0..16 (index = code), calls not
   * OK (`grpc.failure`) and 5xx through gRPC listeners' clusters. Optional, so that a replica that
   * predates them reads these records as before (it ignores fields it does not know).
   */
  readonly grpc?: readonly number[];
  readonly grpcFailures?: number;
  readonly grpc5xx?: number;
}

export class TrafficWindows implements TelemetryReader {
  private readonly nodes = new Map<string, { ref: VirtualNodeRef; traffic: NodeTraffic }>();
  /** Histogram buckets held now, over every node and second. */
  private latencyBuckets = 0;

  constructor(private readonly limits: WindowLimits = DEFAULT_WINDOW_LIMITS) {}

  /** Records an observation; or, when it would break a bound, records nothing and says which. */
  record(observation: Observation, now = Date.now()): LineDropReason | undefined {
    // Envoy flushes `:0` for every counter it ever used; that is no traffic, and makes no node appear.
    if (observation.kind === 'responses' && observation.requests === 0) return undefined;
    if (observation.kind === 'grpc' && observation.count === 0) return undefined;
    const { mesh, virtualNode } = observation.node;
    let entry = this.nodes.get(key(mesh, virtualNode));
    if (!entry) {
      if (this.nodes.size >= this.limits.maxNodes) return 'node_limit';
      this.nodes.set(key(mesh, virtualNode), (entry = { ref: { mesh, virtualNode }, traffic: new NodeTraffic() }));
    }
    const t = entry.traffic;
    const bucket = t.bucket(now, (released) => (this.latencyBuckets -= released));
    if (observation.kind === 'responses') {
      const { requests, errors } = observation;
      // Written so that NaN is refused too (intake refuses it first; this keeps the sums finite whatever the caller).
      if (!(requests >= 0 && errors >= 0 && errors <= requests && bucket.requests + requests <= MAX_COUNT))
        return 'overflow';
      if (observation.grpcListener && errors > 0) {
        if (!(bucket.errors + errors <= MAX_COUNT)) return 'overflow';
        (bucket.grpc ??= emptyGrpcCounts()).errors5xx += errors;
      }
      bucket.requests += requests;
      bucket.errors += errors;
      // The totals since start saturate rather than refuse: the window, which rollouts read, goes on.
      t.requests = Math.min(MAX_COUNT, t.requests + requests);
      t.errors = Math.min(t.requests, t.errors + errors);
    } else if (observation.kind === 'grpc') {
      const { status, count } = observation;
      const g = (bucket.grpc ??= emptyGrpcCounts());
      const now = status === 'failure' ? g.failures : g.byStatus[status];
      // A status is 0..16 (envoy-stats.ts); anything else, or a count that would overflow, is refused.
      if (now === undefined || !(count >= 0 && now + count <= MAX_COUNT)) return 'overflow';
      if (status === 'failure') g.failures += count;
      else g.byStatus[status] = now + count;
    } else {
      const held = bucket.latency.buckets;
      const added = observation.ms.filter((ms) => !bucket.latency.has(ms)).length;
      if (this.latencyBuckets + added > this.limits.maxLatencyBuckets) return 'latency_budget';
      for (const ms of observation.ms) bucket.latency.record(ms);
      this.latencyBuckets += bucket.latency.buckets - held;
      t.latencySamples = Math.min(MAX_COUNT, t.latencySamples + observation.ms.length);
    }
    return undefined;
  }

  /** Histogram buckets held now (for the budget's tests). */
  get latencyBucketsHeld(): number {
    return this.latencyBuckets;
  }

  /**
   * The seconds in the window are the ⌈windowMs/1000⌉ buckets up to and including the one
   * `now` falls in; the rate divides by windowMs.
   */
  summary(mesh: string, virtualNode: string, windowMs: number, now = Date.now()): TrafficSummary {
    const { first, last } = windowSeconds(windowMs, now);
    const sum = emptySum();
    this.addSeconds(mesh, virtualNode, first, last, sum);
    return summarise(windowMs, sum);
  }

  /** Adds a node's buckets of seconds `first` to `last` (both included) to `sum`. */
  addSeconds(mesh: string, virtualNode: string, first: number, last: number, sum: WindowSum): void {
    const traffic = this.nodes.get(key(mesh, virtualNode))?.traffic;
    if (!traffic) return;
    for (const b of traffic.slots) {
      if (!b || b.second < first || b.second > last) continue;
      sum.requests += b.requests;
      sum.errors += b.errors;
      b.latency.addTo(sum.latency);
      if (b.grpc) addGrpcCounts(sum.grpc, b.grpc);
    }
  }

  /**
   * The closed seconds (before the one `now` is in, within the last 15 minutes) after second
   * `since`, one record per node and second that had traffic, oldest first: what this replica
   * exports for the fleet (fleet-traffic.ts). Pass the last second a previous export covered
   * (`Math.floor(now / 1000) - 1` of its `now`); a record exported twice is imported once, so
   * exporting a few seconds again after a failed write is safe.
   */
  exportSince(since: number, now = Date.now()): TrafficRecord[] {
    if (Number.isNaN(since)) throw new RangeError('exportSince needs a second to export after, got NaN');
    const current = Math.floor(now / BUCKET_MS);
    const records: TrafficRecord[] = [];
    for (const { ref, traffic } of this.nodes.values()) {
      for (const b of traffic.slots) {
        if (!b || b.second <= since || b.second >= current || b.second <= current - BUCKETS) continue;
        if (b.requests === 0 && b.errors === 0 && b.latency.count === 0 && isEmptyGrpc(b.grpc)) continue;
        records.push({
          mesh: ref.mesh,
          virtualNode: ref.virtualNode,
          second: b.second,
          requests: b.requests,
          errors: b.errors,
          latency: b.latency.serialise(),
          ...(b.grpc && !isEmptyGrpc(b.grpc)
            ? { grpc: [...b.grpc.byStatus], grpcFailures: b.grpc.failures, grpc5xx: b.grpc.errors5xx }
            : {}),
        });
      }
    }
    return records.sort(
      (a, b) => a.second - b.second || compare(a.mesh, b.mesh) || compare(a.virtualNode, b.virtualNode),
    );
  }

  /** Since meshd started (never reset, never windowed). */
  totals(mesh: string, virtualNode: string): TrafficTotals {
    const t = this.nodes.get(key(mesh, virtualNode))?.traffic;
    return { requests: t?.requests ?? 0, errors: t?.errors ?? 0, latencySamples: t?.latencySamples ?? 0 };
  }

  /** Every virtual node anything was recorded for, sorted by mesh then name. */
  nodesSeen(): VirtualNodeRef[] {
    return [...this.nodes.values()]
      .map((e) => e.ref)
      .sort((a, b) => compare(a.mesh, b.mesh) || compare(a.virtualNode, b.virtualNode));
  }
}
