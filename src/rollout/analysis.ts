// One check of a canary: its live telemetry against the rollout's thresholds. Pure: the
// telemetry comes in, a verdict with one line per metric goes out.
import { formatDuration } from '../duration';
import type { TelemetryReader, TrafficSummary } from '../telemetry';
import type { MetricCheck, RolloutSettings } from './spec';

export interface MetricResult {
  readonly metric: MetricCheck['name'] | 'request-count';
  /** The measured value (percent, milliseconds or requests), null when there was no traffic to measure. */
  readonly value: number | null;
  readonly ok: boolean;
  readonly message: string;
}

export interface CheckResult {
  readonly ok: boolean;
  readonly results: readonly MetricResult[];
}

const round = (n: number) => Math.round(n * 100) / 100;

function checkMetric(metric: MetricCheck, traffic: TrafficSummary): MetricResult {
  const window = formatDuration(traffic.windowMs);
  const [value, unit, what] =
    metric.name === 'request-success-rate' ? [traffic.successRate, '%', 'success rate'] : [traffic.p99Ms, ' ms', 'p99 latency'];
  if (value === null) return { metric: metric.name, value: null, ok: false, message: `no ${what} to judge: the canary got no requests in the last ${window}` };
  const shown = `${what} ${round(value)}${unit} over the last ${window}`;
  if (metric.min !== undefined && value < metric.min) return { metric: metric.name, value, ok: false, message: `${shown}, below the minimum ${metric.min}${unit}` };
  if (metric.max !== undefined && value > metric.max) return { metric: metric.name, value, ok: false, message: `${shown}, above the maximum ${metric.max}${unit}` };
  return { metric: metric.name, value, ok: true, message: shown };
}

/** Checks the canary's traffic: enough requests over the interval, then each metric over its window. */
export function checkCanary(telemetry: TelemetryReader, mesh: string, s: RolloutSettings, now: number): CheckResult {
  const traffic = telemetry.summary(mesh, s.canary, s.intervalMs, now);
  const count: MetricResult =
    traffic.requests >= s.minRequests
      ? { metric: 'request-count', value: traffic.requests, ok: true, message: `${traffic.requests} request(s) over the last ${formatDuration(s.intervalMs)}` }
      : {
          metric: 'request-count',
          value: traffic.requests,
          ok: false,
          message: `only ${traffic.requests} request(s) reached the canary over the last ${formatDuration(s.intervalMs)}; at least ${s.minRequests} are needed (is there traffic on the route?)`,
        };
  const results = [count, ...s.metrics.map((m) => checkMetric(m, m.windowMs === undefined ? traffic : telemetry.summary(mesh, s.canary, m.windowMs, now)))];
  return { ok: results.every((r) => r.ok), results };
}
