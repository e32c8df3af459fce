// The metrics of per-virtual-node traffic that meshd receives from the sidecars' DogStatsD
// sinks: totals since start as counters and request durations as a histogram (what PromQL's
// rate() and histogram_quantile() window), and the telemetry window (--telemetry-window) as
// gauges (deprecated: the same figures are computed from the counters and the histogram). Only
// virtual nodes of the mesh served have series: a node removed from the mesh loses its series.
import type { Telemetry } from '../telemetry';
import { bucketIndex, type CollectedSample, type MetricsRegistry } from './metrics';

const NODE_LABELS = ['mesh', 'virtual_node'];

/**
 * Upper bounds (seconds) of meshd_virtual_node_request_duration_seconds: Envoy's upstream_rq_time
 * (milliseconds) from 1 ms to 1 minute; a slower request counts in +Inf only.
 */
export const REQUEST_DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** Whether a virtual node is in the mesh served now. */
export type InMesh = (mesh: string, virtualNode: string) => boolean;

/** One virtual node's request durations: observations per bucket (not cumulative), their sum and count. */
interface Durations {
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export interface TelemetryMetrics {
  /**
   * Drops the series of the virtual nodes no longer in the mesh (call on every model change, with
   * the new model's test; a scrape also drops them).
   */
  pruneRemoved(inMesh: InMesh): void;
}

export function telemetryMetrics(
  registry: MetricsRegistry,
  telemetry: Telemetry,
  windowMs: number,
  inMesh: InMesh = () => true,
): TelemetryMetrics {
  const served = <T extends { mesh: string; virtualNode: string }>(nodes: T[]) =>
    nodes.filter((n) => inMesh(n.mesh, n.virtualNode));
  const totals = () =>
    served(telemetry.windows.nodesSeen()).map((n) => ({
      labels: { mesh: n.mesh, virtual_node: n.virtualNode },
      totals: telemetry.windows.totals(n.mesh, n.virtualNode),
    }));
  const window = () =>
    served(telemetry.traffic(windowMs)).map((t) => ({ labels: { mesh: t.mesh, virtual_node: t.virtualNode }, t }));
  const present = (samples: { labels: Record<string, string>; value: number | null }[]): CollectedSample[] =>
    samples.filter((s): s is { labels: Record<string, string>; value: number } => s.value !== null);

  registry.counter(
    'meshd_virtual_node_requests_total',
    "Requests callers' sidecars sent to a virtual node (responses of its egress clusters), since meshd started",
    NODE_LABELS,
    () => totals().map(({ labels, totals: t }) => ({ labels, value: t.requests })),
  );
  registry.counter(
    'meshd_virtual_node_errors_total',
    'Of those, the requests answered 5xx, since meshd started',
    NODE_LABELS,
    () => totals().map(({ labels, totals: t }) => ({ labels, value: t.errors })),
  );
  // Request durations, per mesh and virtual node: meshd's own counts (a linear scan over the 15 bounds per
  // observation, no label object or key string made on this hot path), rendered when scraped.
  const durations = new Map<string, Map<string, Durations>>();
  const bounds = REQUEST_DURATION_BUCKETS;
  telemetry.onObservation((o) => {
    if (o.kind !== 'latency') return;
    let perMesh = durations.get(o.node.mesh);
    if (!perMesh) durations.set(o.node.mesh, (perMesh = new Map()));
    let d = perMesh.get(o.node.virtualNode);
    if (!d) perMesh.set(o.node.virtualNode, (d = { counts: new Float64Array(bounds.length + 1), sum: 0, count: 0 }));
    for (const ms of o.ms) {
      const seconds = ms / 1000;
      d.counts[bucketIndex(bounds, seconds)]!++;
      d.sum += seconds;
      d.count++;
    }
  });
  const durationsOf = (mesh: string, virtualNode: string) => durations.get(mesh)?.get(virtualNode);
  /** Drops the durations of the nodes `keep` says are no longer in the mesh. */
  const prune = (keep: InMesh) => {
    for (const [mesh, perMesh] of durations) {
      for (const node of perMesh.keys()) if (!keep(mesh, node)) perMesh.delete(node);
      if (perMesh.size === 0) durations.delete(mesh);
    }
  };
  registry.collectedHistogram(
    'meshd_virtual_node_request_duration_seconds',
    "Request durations to a virtual node (Envoy's upstream_rq_time in its callers' sidecars), since meshd started",
    bounds,
    NODE_LABELS,
    () => {
      // Also pruned here: the model the scrape sees may be newer than the last prune's.
      prune(inMesh);
      return [...durations].flatMap(([mesh, perMesh]) =>
        [...perMesh].map(([node, d]) => ({ labels: { mesh, virtual_node: node }, ...d })),
      );
    },
  );
  registry.gauge(
    'meshd_telemetry_window_seconds',
    'The window the meshd_virtual_node_window_* gauges cover (deprecated with them)',
    [],
    () => [{ value: windowMs / 1000 }],
  );
  registry.gauge(
    'meshd_virtual_node_window_requests_per_second',
    'Requests per second to a virtual node over the telemetry window (deprecated: rate(meshd_virtual_node_requests_total[1m]))',
    NODE_LABELS,
    () => window().map(({ labels, t }) => ({ labels, value: t.ratePerSecond })),
  );
  registry.gauge(
    'meshd_virtual_node_window_success_ratio',
    'Share of requests not answered 5xx over the telemetry window, 0 to 1, absent without requests (deprecated: from the rates of meshd_virtual_node_errors_total and meshd_virtual_node_requests_total)',
    NODE_LABELS,
    () =>
      present(
        window().map(({ labels, t }) => ({ labels, value: t.successRate === null ? null : t.successRate / 100 })),
      ),
  );
  // A summary (it was a gauge with a quantile label, which Prometheus's linter refuses): the quantiles
  // over the telemetry window, with the sum and count of every duration since meshd started.
  registry.summary(
    'meshd_virtual_node_window_latency_seconds',
    "Request duration quantiles (Envoy's upstream_rq_time) over the telemetry window, with the sum and count since meshd started (deprecated: histogram_quantile over meshd_virtual_node_request_duration_seconds_bucket)",
    NODE_LABELS,
    () =>
      window().flatMap(({ labels, t }) => {
        const seen = durationsOf(labels.mesh, labels.virtual_node);
        if (!seen) return [];
        const quantiles: Record<string, number> = {};
        if (t.p50Ms !== null) quantiles['0.5'] = t.p50Ms / 1000;
        if (t.p99Ms !== null) quantiles['0.99'] = t.p99Ms / 1000;
        return [{ labels, quantiles, sum: seen.sum, count: seen.count }];
      }),
  );
  registry.counter('meshd_statsd_datagrams_received_total', 'DogStatsD datagrams received', [], () => [
    { value: telemetry.statsdCounts().datagrams },
  ]);
  registry.counter(
    'meshd_statsd_lines_received_total',
    'DogStatsD lines received (metrics, and any line that is not one)',
    [],
    () => [{ value: telemetry.statsdCounts().lines }],
  );
  registry.counter(
    'meshd_statsd_lines_skipped_total',
    'DogStatsD lines that were not a metric and were skipped',
    [],
    () => [{ value: telemetry.statsdCounts().skippedLines }],
  );
  // Every reason is shown from the start (0), so that rate() sees the first refusal.
  registry.counter(
    'meshd_statsd_dropped_datagrams_total',
    'DogStatsD datagrams refused unread, by reason (oversized: above --statsd-max-datagram-bytes; too_many_lines: above --statsd-max-lines; source: from an address --statsd-allow does not allow)',
    ['reason'],
    () => Object.entries(telemetry.droppedCounts().datagrams).map(([reason, value]) => ({ labels: { reason }, value })),
  );
  registry.counter(
    'meshd_statsd_dropped_lines_total',
    'DogStatsD metric lines refused, by reason (non_finite, sample_rate, too_many_tags, out_of_range, node_limit, latency_budget, overflow)',
    ['reason'],
    () => Object.entries(telemetry.droppedCounts().lines).map(([reason, value]) => ({ labels: { reason }, value })),
  );
  return { pruneRemoved: prune };
}
