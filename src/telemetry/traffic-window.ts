// Per virtual node, the last 15 minutes of traffic in 1-second buckets (requests, 5xx, gRPC
// calls by status, request durations), plus running totals since meshd started. Data is
// bucketed by the time it arrived: counters arrive at each sidecar's stats flush, durations as
// they are measured. Memory is bounded, whatever the datagrams say: at most `maxNodes` nodes,
// 900 buckets per node (each with at most 17 gRPC status counts, the rarer ones held only once seen), and at most
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

/** A window's gRPC counts, added up over its seconds (and, in the fleet, over replicas). */
export interface GrpcCounts {
  /** Calls by status code 0..16 (index = code); a status that is none of the 17 is in UNKNOWN (2). */
  readonly byStatus: number[];
  /** 5xx through gRPC listeners' clusters. */
  errors5xx: number;
}

export const emptyGrpcCounts = (): GrpcCounts => ({
  byStatus: new Array<number>(GRPC_STATUS_COUNT).fill(0),
  errors5xx: 0,
});

const OK = 0;
const UNKNOWN = 2;

/**
 * One second's counts of one node (on one replica). Every field is set in the constructor, so
 * that every bucket has the same shape and costs the same few words: most gRPC calls end OK,
 * and an UNKNOWN or a 5xx is a plain number too; the other non-OK statuses, rarer, go in a
 * list of `code, count` pairs made when the first arrives (at most 15 pairs).
 */
export class SecondCounts {
  requests = 0;
  errors = 0;
  grpcOk = 0;
  grpcUnknown = 0;
  /** 5xx through gRPC listeners' clusters. */
  grpc5xx = 0;
  /** `[code, count, code, count, …]` of the statuses other than OK and UNKNOWN, or undefined when none. */
  grpcOther: number[] | undefined = undefined;

  constructor(readonly latency: LatencyHistogram = new LatencyHistogram()) {}

  /** The count held for a status code 0..16. */
  grpcCount(code: number): number {
    if (code === OK) return this.grpcOk;
    if (code === UNKNOWN) return this.grpcUnknown;
    const list = this.grpcOther;
    if (list) for (let i = 0; i < list.length; i += 2) if (list[i] === code) return list[i + 1]!;
    return 0;
  }

  /** Adds calls that ended with status `code` (0..16); false, adding nothing, when that would break MAX_COUNT. */
  addGrpc(code: number, count: number): boolean {
    const held = this.grpcCount(code);
    if (!(count >= 0 && held + count <= MAX_COUNT)) return false;
    if (count === 0) return true;
    if (code === OK) this.grpcOk = held + count;
    else if (code === UNKNOWN) this.grpcUnknown = held + count;
    else {
      const list = this.grpcOther;
      // Codes sit at even places and counts at odd ones (so no indexOf: a count may equal a code).
      let at = -1;
      if (list) for (let j = 0; j < list.length; j += 2) if (list[j] === code) at = j;
      // A new status makes a list of just the right length (push would reserve room for 16 more).
      if (at !== -1) list![at + 1] = held + count;
      else this.grpcOther = list ? list.concat(code, count) : [code, count];
    }
    return true;
  }

  get hasGrpc(): boolean {
    return this.grpcOk > 0 || this.grpcUnknown > 0 || this.grpc5xx > 0 || this.grpcOther !== undefined;
  }

  get empty(): boolean {
    return this.requests === 0 && this.errors === 0 && this.latency.count === 0 && !this.hasGrpc;
  }

  addTo(sum: WindowSum): void {
    sum.requests += this.requests;
    sum.errors += this.errors;
    this.latency.addTo(sum.latency);
    if (!this.hasGrpc) return;
    const g = sum.grpc;
    g.byStatus[OK]! += this.grpcOk;
    g.byStatus[UNKNOWN]! += this.grpcUnknown;
    g.errors5xx += this.grpc5xx;
    const list = this.grpcOther;
    if (list) for (let i = 0; i < list.length; i += 2) g.byStatus[list[i]!]! += list[i + 1]!;
  }

  /** The gRPC fields of a TrafficRecord, in the format replicas have exchanged since gRPC counts came in. */
  grpcRecord(): Pick<TrafficRecord, 'grpc' | 'grpcFailures' | 'grpc5xx'> {
    if (!this.hasGrpc) return {};
    const byStatus = new Array<number>(GRPC_STATUS_COUNT).fill(0);
    byStatus[OK] = this.grpcOk;
    byStatus[UNKNOWN] = this.grpcUnknown;
    const list = this.grpcOther;
    if (list) for (let i = 0; i < list.length; i += 2) byStatus[list[i]!] = list[i + 1]!;
    // grpcFailures: the non-OK calls named above, so that a replica of the version before, which
    // takes what grpcFailures counts beyond them as UNKNOWN, adds no UNKNOWN of its own.
    const failures = byStatus.reduce((sum, n, code) => (code === OK ? sum : sum + n), 0);
    return { grpc: byStatus, grpcFailures: Math.min(MAX_COUNT, failures), grpc5xx: this.grpc5xx };
  }
}

class Bucket extends SecondCounts {
  /** Which second (ms since the epoch / 1000, floored) it holds; a slot is reused 15 minutes later. */
  constructor(readonly second: number) {
    super();
  }
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
      this.slots[i] = b = new Bucket(second);
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

/** The window's gRPC statuses by name. */
export function grpcTraffic(g: GrpcCounts): GrpcTraffic {
  const statuses = Object.fromEntries(GRPC_STATUS_NAMES.map((name, code) => [name, g.byStatus[code]!])) as Record<
    GrpcStatusName,
    number
  >;
  const calls = g.byStatus.reduce((a, b) => a + b, 0);
  return { calls, statuses, errors5xx: g.errors5xx };
}

/** How a window's failures were counted (failureFraction). */
export interface FailureFraction {
  /**
   * 0..1, the larger of the two fractions below that has calls;
   * null when the window had neither requests nor gRPC calls.
   */
  readonly fraction: number | null;
  /** HTTP 5xx / requests (null without requests). */
  readonly http: number | null;
  /** gRPC calls ending in a listed status / gRPC calls (null without gRPC calls). */
  readonly grpc: number | null;
  /** The gRPC calls with a listed status. */
  readonly grpcFailures: number;
}

/**
 * The part of a window's traffic that failed for request-success-rate: the larger of the HTTP
 * 5xx among the requests and the gRPC calls whose status is in `failureCodes` among the gRPC
 * calls. The two are never added up, nor one divided by the other: requests are counted when
 * their response headers pass (upstream_rq_xx), gRPC calls when their status does, at the end
 * of the call (trailers), which for a long stream can be minutes later, in another window;
 * each population is judged against itself, so mismatched counts cannot pass 100% failures.
 * Envoy's own answer to a gRPC call (no upstream, a timeout) is both a 5xx and a status
 * (UNAVAILABLE, DEADLINE_EXCEEDED, UNKNOWN): with the larger of the two taken it counts once.
 * A node with HTTP and gRPC listeners is judged by the worse of its two kinds of traffic.
 */
export function failureFraction(summary: TrafficSummary, failureCodes: readonly GrpcStatusName[]): FailureFraction {
  const http = summary.requests > 0 ? Math.min(1, summary.errors / summary.requests) : null;
  const g = summary.grpc;
  const grpcFailures = g ? [...new Set(failureCodes)].reduce((sum, name) => sum + (g.statuses[name] ?? 0), 0) : 0;
  const grpc = g && g.calls > 0 ? Math.min(1, grpcFailures / g.calls) : null;
  const fraction = http === null ? grpc : grpc === null ? http : Math.max(http, grpc);
  return { fraction, http, grpc, grpcFailures };
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
    ...(grpc.errors5xx === 0 && grpc.byStatus.every((n) => n === 0) ? {} : { grpc: grpcTraffic(grpc) }),
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
   * Only when the second had gRPC counts: calls by status code 0..16 (index = code; a status none
   * of the 17 is in UNKNOWN), and 5xx through gRPC listeners' clusters. Optional, so that a replica
   * that predates them reads these records as before (it ignores fields it does not know).
   * `grpcFailures`, the calls of `grpc` not OK, is written for replicas of the version that read
   * UNKNOWN as grpcFailures less the named non-OK statuses (so they add none); it is not read.
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
        if (!(bucket.grpc5xx + errors <= MAX_COUNT)) return 'overflow';
        bucket.grpc5xx += errors;
      }
      bucket.requests += requests;
      bucket.errors += errors;
      // The totals since start saturate rather than refuse: the window, which rollouts read, goes on.
      t.requests = Math.min(MAX_COUNT, t.requests + requests);
      t.errors = Math.min(t.requests, t.errors + errors);
    } else if (observation.kind === 'grpc') {
      const { status, count } = observation;
      // A status is 0..16 (envoy-stats.ts); anything else, or a count that would overflow, is refused.
      if (!(Number.isInteger(status) && status >= 0 && status < GRPC_STATUS_COUNT)) return 'overflow';
      if (!bucket.addGrpc(status, count)) return 'overflow';
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
    for (const b of traffic.slots) if (b && b.second >= first && b.second <= last) b.addTo(sum);
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
        if (b.empty) continue;
        records.push({
          mesh: ref.mesh,
          virtualNode: ref.virtualNode,
          second: b.second,
          requests: b.requests,
          errors: b.errors,
          latency: b.latency.serialise(),
          ...b.grpcRecord(),
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
