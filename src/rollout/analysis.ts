// One check of a canary: its live telemetry against the rollout's thresholds. Pure: the
// telemetry comes in, a verdict with one line per metric goes out.
//
// Every comparison fails closed: a check passes only when a number is finite and inside its
// range, so NaN, Infinity or a missing value (however the telemetry came to hold one) is a
// failed check, never a pass. Each test is written as `!(value >= min)`, which is true for NaN.
import { formatDuration } from '../util/duration';
import { failureFraction, type TelemetryReader, type TrafficSummary } from '../telemetry';
import { DEFAULT_GRPC_FAILURE_CODES, GRPC_FAILURE_NAMES, type GrpcFailureName } from '../model/grpc-status';
import {
  DEFAULT_QUERY_WINDOW_MS,
  type BuiltinMetricCheck,
  type MetricCheck,
  type QueryMetricCheck,
  type RolloutSettings,
} from '../model/rollout';
import { renderQuery, type PrometheusClient } from './prometheus';

export interface MetricResult {
  /** A built-in metric, request-count, or the name of a metric with a query. */
  readonly metric: MetricCheck['name'] | 'request-count';
  /** The measured value (percent, milliseconds, requests or the query's value), null when there was none. */
  readonly value: number | null;
  readonly ok: boolean;
  readonly message: string;
}

export interface CheckResult {
  readonly ok: boolean;
  readonly results: readonly MetricResult[];
}

const round = (n: number) => Math.round(n * 100) / 100;

/** What a metric can be at all: a success rate is a percentage, a duration is not negative. */
const POSSIBLE = {
  'request-success-rate': { low: 0, high: 100 },
  'request-duration': { low: 0, high: Number.MAX_VALUE },
} as const;

/** A number the telemetry could not have measured (NaN, ±Infinity, not a number at all): the check fails on it. */
const unreadable = (value: unknown): boolean => typeof value !== 'number' || !Number.isFinite(value);

/**
 * The percentage that did not fail: 100 less telemetry's failureFraction, the larger of the
 * HTTP 5xx among requests and the gRPC calls ending in a status of `grpcFailureCodes` among
 * gRPC calls; null with neither. `detail` shows both when gRPC calls were counted.
 */
function successRate(
  traffic: TrafficSummary,
  grpcFailureCodes: readonly GrpcFailureName[],
): { value: number | null; detail: string } {
  // No gRPC calls in the window (or a reader that knows none): the 5xx alone.
  const grpc = traffic.grpc;
  if (!grpc) return { value: traffic.successRate, detail: '' };
  const f = failureFraction(traffic, grpcFailureCodes);
  if (f.fraction === null) return { value: null, detail: '' };
  const counted = grpcFailureCodes
    .filter((name, i) => grpcFailureCodes.indexOf(name) === i && grpc.statuses[name] > 0)
    .map((name) => `${name} ${round(grpc.statuses[name])}`);
  const http = `${round(traffic.errors)} HTTP 5xx of ${round(traffic.requests)} requests`;
  const calls = `gRPC ${counted.length > 0 ? counted.join(', ') : 'no failure'} of ${round(grpc.calls)} calls`;
  return { value: 100 * (1 - f.fraction), detail: ` (${http}; ${calls})` };
}

function checkMetric(
  metric: BuiltinMetricCheck,
  traffic: TrafficSummary,
  grpcFailureCodes: readonly GrpcFailureName[],
): MetricResult {
  const window = formatDuration(traffic.windowMs);
  const rate = metric.name === 'request-success-rate' ? successRate(traffic, grpcFailureCodes) : undefined;
  const [value, unit, what] = rate ? [rate.value, '%', 'success rate'] : [traffic.p99Ms, ' ms', 'p99 latency'];
  if (value === null || value === undefined)
    return {
      metric: metric.name,
      value: null,
      ok: false,
      message: `no ${what} to judge: the canary got no requests in the last ${window}`,
    };
  const possible = POSSIBLE[metric.name];
  if (unreadable(value) || !(value >= possible.low && value <= possible.high)) {
    return {
      metric: metric.name,
      value: null,
      ok: false,
      message: `${what} over the last ${window} is ${String(value)}, not a measurement; the telemetry cannot be trusted, so the check fails`,
    };
  }
  const shown = `${what} ${round(value)}${unit} over the last ${window}${rate?.detail ?? ''}`;
  if (metric.min !== undefined && !(value >= metric.min))
    return { metric: metric.name, value, ok: false, message: `${shown}, below the minimum ${metric.min}${unit}` };
  if (metric.max !== undefined && !(value <= metric.max))
    return { metric: metric.name, value, ok: false, message: `${shown}, above the maximum ${metric.max}${unit}` };
  return { metric: metric.name, value, ok: true, message: shown };
}

/**
 * The rollout's gRPC failure codes: the default list when it has none (a rollout saved before the
 * field existed), and when what it holds is not a list of names (a state file edited by hand).
 */
function failureCodes(s: RolloutSettings): readonly GrpcFailureName[] {
  const codes: unknown = s.grpcFailureCodes;
  return Array.isArray(codes) && codes.every((c) => (GRPC_FAILURE_NAMES as readonly unknown[]).includes(c))
    ? (codes as GrpcFailureName[])
    : DEFAULT_GRPC_FAILURE_CODES;
}

/** Checks the canary's traffic: enough requests over the interval, then each metric over its window. */
export function checkCanary(telemetry: TelemetryReader, mesh: string, s: RolloutSettings, now: number): CheckResult {
  const traffic = telemetry.summary(mesh, s.canary, s.intervalMs, now);
  const interval = formatDuration(s.intervalMs);
  const requests: unknown = traffic.requests;
  const count: MetricResult =
    unreadable(requests) ||
    unreadable(traffic.errors) ||
    !(traffic.errors >= 0 && traffic.errors <= (requests as number))
      ? {
          metric: 'request-count',
          value: null,
          ok: false,
          message: `the canary's request count over the last ${interval} is ${String(requests)} with ${String(traffic.errors)} 5xx, not a measurement; the telemetry cannot be trusted, so the check fails`,
        }
      : (requests as number) >= s.minRequests
        ? {
            metric: 'request-count',
            value: requests as number,
            ok: true,
            message: `${requests as number} request(s) over the last ${interval}`,
          }
        : {
            metric: 'request-count',
            value: requests as number,
            ok: false,
            message: `only ${requests as number} request(s) reached the canary over the last ${interval}; at least ${s.minRequests} are needed (is there traffic on the route?)`,
          };
  const results = [
    count,
    ...builtins(s).map((m) =>
      checkMetric(
        m,
        m.windowMs === undefined ? traffic : telemetry.summary(mesh, s.canary, m.windowMs, now),
        failureCodes(s),
      ),
    ),
  ];
  // Strictly `true`: a result that is anything else fails the check.
  return { ok: results.length > 0 && results.every((r) => r.ok === true), results };
}

const builtins = (s: RolloutSettings) => s.metrics.filter((m): m is BuiltinMetricCheck => m.query === undefined);
const queries = (s: RolloutSettings) => s.metrics.filter((m): m is QueryMetricCheck => m.query !== undefined);

/** Whether a rollout has a metric asked of Prometheus. */
export function hasQueryMetrics(s: RolloutSettings): boolean {
  return queries(s).length > 0;
}

/**
 * Asks Prometheus each query metric (all at once) and holds its value to its range. Fails closed:
 * no Prometheus, no answer, or anything but one finite number is a failed check, with the reason.
 */
export async function checkQueries(
  prometheus: PrometheusClient | undefined,
  mesh: string,
  s: RolloutSettings,
  now: number,
  signal?: AbortSignal,
): Promise<MetricResult[]> {
  return Promise.all(
    queries(s).map(async (m): Promise<MetricResult> => {
      const label = `metric ${m.name}`;
      if (!prometheus)
        return {
          metric: m.name,
          value: null,
          ok: false,
          message: `${label}: meshd serve has no --prometheus-url, so its query cannot be asked`,
        };
      let query: string;
      try {
        query = renderQuery(m.query, {
          mesh,
          primary: s.primary,
          canary: s.canary,
          // 1m as in Flagger when the metric sets none (resolveSettings fills it in; an older state file may not).
          intervalMs: m.windowMs ?? DEFAULT_QUERY_WINDOW_MS,
        });
      } catch (err) {
        return { metric: m.name, value: null, ok: false, message: `${label}: ${(err as Error).message}` };
      }
      const answer = await prometheus.query(query, now, signal);
      if (!answer.ok) return { metric: m.name, value: null, ok: false, message: `${label}: ${answer.reason}` };
      const value = answer.value;
      const shown = `${label} ${round(value)}`;
      if (unreadable(value))
        return { metric: m.name, value: null, ok: false, message: `${label}: ${String(value)} is not a number` };
      if (m.min !== undefined && !(value >= m.min))
        return { metric: m.name, value, ok: false, message: `${shown}, below the minimum ${m.min}` };
      if (m.max !== undefined && !(value <= m.max))
        return { metric: m.name, value, ok: false, message: `${shown}, above the maximum ${m.max}` };
      return { metric: m.name, value, ok: true, message: shown };
    }),
  );
}

/**
 * The whole check: meshd's own telemetry for the built-in metrics (and the request count), and
 * Prometheus for the query metrics. A rollout whose metrics are all queries is judged by
 * Prometheus alone: meshd's telemetry (DogStatsD) is not asked, not even for the request count,
 * since a fleet that uses Prometheus may send meshd none.
 */
export async function checkCanaryAll(
  telemetry: TelemetryReader,
  prometheus: PrometheusClient | undefined,
  mesh: string,
  s: RolloutSettings,
  now: number,
  signal?: AbortSignal,
): Promise<CheckResult> {
  const queried = await checkQueries(prometheus, mesh, s, now, signal);
  const onlyQueries = s.metrics.length > 0 && builtins(s).length === 0;
  const own = onlyQueries ? [] : checkCanary(telemetry, mesh, s, now).results;
  const results = [...own, ...queried];
  return { ok: results.length > 0 && results.every((r) => r.ok === true), results };
}
