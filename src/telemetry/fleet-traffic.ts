// The traffic of a fleet of meshd replicas, for the rollout analysis on the leader. Each
// sidecar sends its stats to whichever replica it reaches, so each replica's TrafficWindows
// holds only its share. Every replica exports its closed seconds (TrafficWindows.exportSince)
// to the shared store about once a second; the leader imports every replica's records here,
// and the summary adds them up: the same numbers one TrafficWindows that had seen all the
// traffic gives, since counts add up and the latency histograms merge exactly.
//
// Pure and store-agnostic (no I/O): the store moves the records. Records come from outside and
// are read as hostile: each one is checked and refused with a reason, never half taken in.
// Memory is bounded: seconds older than 15 minutes are dropped at each import, and at most
// `maxBuckets` one-second buckets (replicas × virtual nodes × seconds) and
// `maxLatencyBuckets` histogram buckets are held; past that a record is refused.
import { MAX_DURATION_MS } from './envoy-stats';
import { LatencyHistogram } from './latency-histogram';
import { GRPC_STATUS_COUNT } from '../model/grpc-status';
import {
  BUCKET_MS,
  BUCKETS,
  emptySum,
  MAX_COUNT,
  SecondCounts,
  summarise,
  windowSeconds,
  type TelemetryReader,
  type TrafficSummary,
  type TrafficWindows,
} from './traffic-window';

export interface FleetLimits {
  /** One-second buckets held over every replica, virtual node and second. */
  readonly maxBuckets: number;
  /** Latency histogram buckets held over all of them (~30 bytes each). */
  readonly maxLatencyBuckets: number;
}

/** 3 replicas × 300 busy nodes × 15 minutes fit under the bucket cap. */
export const DEFAULT_FLEET_LIMITS: FleetLimits = { maxBuckets: 1_000_000, maxLatencyBuckets: 4_000_000 };

/** How far ahead of this replica's clock a record's second may be: replicas' clocks differ a little, never by this. */
export const MAX_CLOCK_AHEAD_MS = 60_000;

/** Longest replica id, mesh and virtual node name taken (App Mesh names are 1–255 characters). */
const MAX_NAME = 255;

export interface FleetOptions {
  readonly limits?: FleetLimits;
  /**
   * This replica, read live: its buckets, including the second still open, come from its own
   * windows, and records imported under its id are checked but not held (they would count twice).
   */
  readonly local?: { readonly replicaId: string; readonly windows: TrafficWindows };
}

export interface RefusedRecord {
  /** The record's place in the list imported; null when the whole import is refused. */
  readonly index: number | null;
  readonly reason: string;
}

export interface FleetImportResult {
  /** Records now held (a record with no traffic clears its bucket, and counts here too). */
  readonly imported: number;
  /** Valid records not held: older than 15 minutes, or this replica's own (read live). */
  readonly skipped: number;
  readonly refused: readonly RefusedRecord[];
}

interface CheckedRecord {
  readonly node: string;
  readonly second: number;
  readonly counts: SecondCounts;
}

const nodeKey = (mesh: string, node: string) => `${mesh}\u0000${node}`;

/** How a value from outside is shown in a reason: numbers as they are, anything else by its kind. */
function shown(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === null) return 'null';
  if (value === undefined) return 'missing';
  if (Array.isArray(value)) return 'a list';
  return /^[aeiou]/.test(typeof value) ? `an ${typeof value}` : `a ${typeof value}`;
}

const isName = (value: unknown): value is string =>
  // eslint-disable-next-line no-control-regex -- control characters are what it refuses
  typeof value === 'string' && value.length >= 1 && value.length <= MAX_NAME && !/[\u0000-\u001f\u007f]/.test(value);

/** A record checked field by field, or why it is refused. Fields it does not know are ignored. */
function check(value: unknown, currentSecond: number): CheckedRecord | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return `is ${shown(value)}, not a record {mesh, virtualNode, second, requests, errors, latency}`;
  const r = value as Record<string, unknown>;
  for (const field of ['mesh', 'virtualNode'] as const)
    if (!isName(r[field]))
      return `${field} is ${shown(r[field])}; must be a name of 1 to ${MAX_NAME} characters, none a control character`;
  const { second, requests, errors } = r;
  if (typeof second !== 'number' || !Number.isSafeInteger(second))
    return `second is ${shown(second)}; must be a whole number of seconds since the epoch`;
  if (second > currentSecond + MAX_CLOCK_AHEAD_MS / BUCKET_MS)
    return `second ${second} is ${second - currentSecond} s ahead of this replica's clock (at most ${MAX_CLOCK_AHEAD_MS / BUCKET_MS} s is taken)`;
  // Written so that NaN is refused too; a count may be fractional (a DogStatsD sample rate divides it).
  if (typeof requests !== 'number' || !(requests >= 0 && requests <= MAX_COUNT))
    return `requests is ${shown(requests)}; must be a number from 0 to ${MAX_COUNT}`;
  if (typeof errors !== 'number' || !(errors >= 0 && errors <= requests))
    return `errors is ${shown(errors)}; must be a number from 0 to the requests (${requests})`;
  const latency = LatencyHistogram.deserialise(r.latency, MAX_DURATION_MS);
  if ('error' in latency) return `latency ${latency.error}`;
  const counts = new SecondCounts(latency.histogram);
  counts.requests = requests;
  counts.errors = errors;
  const grpc = checkGrpc(r, counts);
  if (grpc) return grpc;
  return { node: nodeKey(r.mesh as string, r.virtualNode as string), second, counts };
}

const isCount = (value: unknown): value is number => typeof value === 'number' && value >= 0 && value <= MAX_COUNT;

/**
 * Takes a record's gRPC counts (traffic-window.ts's TrafficRecord) into `counts`: `grpc` and
 * `grpc5xx` together or neither; or says why they are refused. `grpcFailures` is what a replica
 * of the version before read UNKNOWN from; it is checked when present and otherwise ignored.
 */
function checkGrpc(r: Record<string, unknown>, counts: SecondCounts): string | undefined {
  const { grpc, grpcFailures, grpc5xx } = r;
  if (grpc === undefined && grpcFailures === undefined && grpc5xx === undefined) return undefined;
  if (!Array.isArray(grpc) || grpc.length !== GRPC_STATUS_COUNT)
    return `grpc is ${Array.isArray(grpc) ? `a list of ${grpc.length}` : shown(grpc)}; must be a list of ${GRPC_STATUS_COUNT} counts, one per gRPC status code`;
  const bad = grpc.findIndex((n) => !isCount(n));
  if (bad !== -1) return `grpc[${bad}] is ${shown(grpc[bad])}; must be a number from 0 to ${MAX_COUNT}`;
  // A replica cannot outweigh the others' calls without bound: the second's calls stay a count.
  const calls = (grpc as number[]).reduce((a, b) => a + b, 0);
  if (!(calls <= MAX_COUNT)) return `grpc counts ${calls} calls in all; at most ${MAX_COUNT} are taken`;
  if (grpcFailures !== undefined && !isCount(grpcFailures))
    return `grpcFailures is ${shown(grpcFailures)}; must be a number from 0 to ${MAX_COUNT}`;
  if (!isCount(grpc5xx) || !(grpc5xx <= counts.errors))
    return `grpc5xx is ${shown(grpc5xx)}; must be a number from 0 to the errors (${counts.errors})`;
  (grpc as number[]).forEach((n, code) => counts.addGrpc(code, n));
  counts.grpc5xx = grpc5xx;
  return undefined;
}

export class FleetTraffic implements TelemetryReader {
  /** second → replica id → node → bucket. Seconds are few (15 minutes' worth), so pruning and forgetting are cheap. */
  private readonly seconds = new Map<number, Map<string, Map<string, SecondCounts>>>();
  private buckets = 0;
  private latencyBuckets = 0;
  private readonly limits: FleetLimits;
  private readonly local: FleetOptions['local'];

  constructor(options: FleetOptions = {}) {
    this.limits = options.limits ?? DEFAULT_FLEET_LIMITS;
    this.local = options.local;
  }

  /** One-second buckets held now, over every replica, node and second. */
  get bucketsHeld(): number {
    return this.buckets;
  }

  /** Histogram buckets held now. */
  get latencyBucketsHeld(): number {
    return this.latencyBuckets;
  }

  /** The replicas whose records are held, sorted. */
  replicas(): string[] {
    const ids = new Set<string>();
    for (const perReplica of this.seconds.values()) for (const id of perReplica.keys()) ids.add(id);
    return [...ids].sort();
  }

  /**
   * Takes in a replica's exported records (TrafficWindows.exportSince, read back from the
   * store): each replaces what was held for its replica, node and second, so importing the
   * same export twice counts it once. Each record is checked on its own: a refused one
   * changes nothing, and the others are still taken in. Drops seconds older than 15 minutes.
   */
  import(replicaId: string, records: unknown, now = Date.now()): FleetImportResult {
    if (!isName(replicaId))
      return {
        imported: 0,
        skipped: 0,
        refused: [
          { index: null, reason: `the replica id is ${shown(replicaId)}; must be 1 to ${MAX_NAME} characters` },
        ],
      };
    if (!Array.isArray(records))
      return {
        imported: 0,
        skipped: 0,
        refused: [{ index: null, reason: `replica ${replicaId}'s export is ${shown(records)}, not a list of records` }],
      };
    this.prune(now);
    const current = Math.floor(now / BUCKET_MS);
    let imported = 0;
    let skipped = 0;
    const refused: RefusedRecord[] = [];
    records.forEach((value: unknown, index) => {
      let record: CheckedRecord | string;
      try {
        record = check(value, current);
      } catch {
        // Only a value that is not plain JSON (a getter that throws, a revoked proxy) gets here.
        record = 'could not be read';
      }
      if (typeof record === 'string') return void refused.push({ index, reason: record });
      if (record.second <= current - BUCKETS || this.local?.replicaId === replicaId) return void skipped++;
      const reason = this.hold(replicaId, record);
      if (reason) refused.push({ index, reason });
      else imported++;
    });
    return { imported, skipped, refused };
  }

  /** Drops every record of a replica (one that left the fleet); returns how many buckets that freed. */
  forget(replicaId: string): number {
    let freed = 0;
    for (const [second, perReplica] of this.seconds) {
      const nodes = perReplica.get(replicaId);
      if (!nodes) continue;
      for (const b of nodes.values()) this.release(b);
      freed += nodes.size;
      perReplica.delete(replicaId);
      if (perReplica.size === 0) this.seconds.delete(second);
    }
    return freed;
  }

  /** Drops the seconds older than the 15 minutes before `now` (import does this itself). */
  prune(now = Date.now()): void {
    const oldest = Math.floor(now / BUCKET_MS) - BUCKETS + 1;
    for (const [second, perReplica] of this.seconds) {
      if (second >= oldest) continue;
      for (const nodes of perReplica.values()) for (const b of nodes.values()) this.release(b);
      this.seconds.delete(second);
    }
  }

  /**
   * Traffic to a virtual node over the window, summed over every replica: held records, and
   * the local replica's live windows when there is one. Other replicas' last second or two is
   * not there yet (they export a second once it is closed, about once a second).
   */
  summary(mesh: string, virtualNode: string, windowMs: number, now = Date.now()): TrafficSummary {
    const { first, last } = windowSeconds(windowMs, now);
    const sum = emptySum();
    const node = nodeKey(mesh, virtualNode);
    for (let second = first; second <= last; second++) {
      const perReplica = this.seconds.get(second);
      if (!perReplica) continue;
      for (const nodes of perReplica.values()) {
        nodes.get(node)?.addTo(sum);
      }
    }
    this.local?.windows.addSeconds(mesh, virtualNode, first, last, sum);
    return summarise(windowMs, sum);
  }

  /** Holds a checked record in place of what was held for its key; or says why not (a limit), holding nothing. */
  private hold(replicaId: string, { node, second, counts }: CheckedRecord): string | undefined {
    const old = this.seconds.get(second)?.get(replicaId)?.get(node);
    const empty = counts.empty;
    const addedBuckets = (empty ? 0 : 1) - (old ? 1 : 0);
    const addedLatency = (empty ? 0 : counts.latency.buckets) - (old?.latency.buckets ?? 0);
    if (addedBuckets > 0 && this.buckets + addedBuckets > this.limits.maxBuckets)
      return `the fleet's telemetry holds its limit of ${this.limits.maxBuckets} one-second buckets (replicas × virtual nodes × seconds)`;
    if (addedLatency > 0 && this.latencyBuckets + addedLatency > this.limits.maxLatencyBuckets)
      return `the fleet's telemetry holds its limit of ${this.limits.maxLatencyBuckets} latency histogram buckets`;
    let perReplica = this.seconds.get(second);
    let nodes = perReplica?.get(replicaId);
    if (old) {
      this.release(old);
      nodes!.delete(node);
    }
    if (empty) {
      // Nothing to hold: clear the emptied maps so that a second with no traffic costs nothing.
      if (nodes?.size === 0) perReplica!.delete(replicaId);
      if (perReplica?.size === 0) this.seconds.delete(second);
      return undefined;
    }
    if (!perReplica) this.seconds.set(second, (perReplica = new Map()));
    if (!nodes) perReplica.set(replicaId, (nodes = new Map()));
    nodes.set(node, counts);
    this.buckets++;
    this.latencyBuckets += counts.latency.buckets;
    return undefined;
  }

  private release(b: SecondCounts): void {
    this.buckets--;
    this.latencyBuckets -= b.latency.buckets;
  }
}
