// Per virtual node, the last 15 minutes of traffic in 1-second buckets (requests, 5xx, request
// durations), plus running totals since meshd started. Data is bucketed by the time it
// arrived: counters arrive at each sidecar's stats flush, durations as they are measured.
// Memory is bounded, whatever the datagrams say: at most `maxNodes` nodes, 900 buckets per
// node, and at most `maxLatencyBuckets` histogram buckets (latency-histogram.ts) held over all
// nodes and seconds. Every number stays finite: a count that would pass 2^53 is refused.
// In a fleet, each replica exports its closed seconds (exportSince) for the leader to sum
// (fleet-traffic.ts); windowSeconds and summarise keep both readers' numbers the same.
import { compare } from '../model/mesh-model';
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

export interface TrafficSummary {
  readonly windowMs: number;
  readonly requests: number;
  readonly errors: number; // 5xx
  readonly successRate: number | null; // percent 0..100, null when requests = 0
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

interface Bucket {
  /** Which second (ms since the epoch / 1000, floored) it holds; a slot is reused 15 minutes later. */
  second: number;
  requests: number;
  errors: number;
  latency: LatencyHistogram;
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
}

export const emptySum = (): WindowSum => ({ requests: 0, errors: 0, latency: new LatencyHistogram() });

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
export function summarise(windowMs: number, { requests, errors, latency }: WindowSum): TrafficSummary {
  return {
    windowMs,
    requests,
    errors,
    successRate: successRate(requests, errors),
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
      bucket.requests += requests;
      bucket.errors += errors;
      // The totals since start saturate rather than refuse: the window, which rollouts read, goes on.
      t.requests = Math.min(MAX_COUNT, t.requests + requests);
      t.errors = Math.min(t.requests, t.errors + errors);
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
        if (b.requests === 0 && b.errors === 0 && b.latency.count === 0) continue;
        records.push({
          mesh: ref.mesh,
          virtualNode: ref.virtualNode,
          second: b.second,
          requests: b.requests,
          errors: b.errors,
          latency: b.latency.serialise(),
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
