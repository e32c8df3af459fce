// The process's and Node runtime's standard metrics (prom-client's default metrics, unprefixed:
// process_cpu_seconds_total, process_resident_memory_bytes, nodejs_gc_duration_seconds,
// nodejs_heap_size_used_bytes, ...), the names dashboards for Node services expect, and the
// event-loop lag gauges under prom-client's names (nodejs_eventloop_lag_*), read from meshd's own
// delay monitor. They describe the process, not one meshd server, so they are made once per process
// and their metric objects are registered in each server's own registry.
//
// Event-loop lag: prom-client resets its delay monitor on every scrape, so that two scrapes at once
// (two Prometheus servers, or one and a curl) each read a half-reset monitor: a min of 9223372036.85
// s, a mean of NaN. meshd's monitor (perf_hooks monitorEventLoopDelay, 10 ms resolution) is never
// reset by a scrape: every LAG_WINDOW_MS a timer (unref'd: it does not keep the process alive) takes
// the window's figures and resets it, and a scrape reads the last whole window (before the first one
// ends, the figures so far). The gauges mean what prom-client's mean (the lag's distribution over a
// recent stretch), over a fixed 10 s instead of "since the last scrape". The monitor and the timer
// run while at least one registry uses these metrics. prom-client's own monitor is made with a
// resolution of 2^31-1 ms (its metrics are dropped; a monitor so slow never wakes the loop).
// nodejs_eventloop_lag_seconds is, as in prom-client, how late a setImmediate queued by the scrape
// runs (one sample per scrape), but measured before the scrape answers.
//
// GC: prom-client's observer of GC entries (nodejs_gc_duration_seconds) is started once and kept:
// a PerformanceObserver does not keep the process alive, and costs a callback per batch of GCs.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { collectDefaultMetrics, Registry, type Metric } from 'prom-client';

/**
 * prom-client's gauges of active handles/requests/resources summed over their types: promtool's
 * lint refuses a gauge named `*_total`, and each is the sum of its by-type gauge (nodejs_active_handles
 * etc.), which stays.
 */
export const OMITTED_RUNTIME_METRICS: readonly string[] = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** prom-client's event-loop lag gauges, replaced by meshd's under the same names. */
const LAG = 'nodejs_eventloop_lag_seconds';
const LAG_STATS: readonly { name: string; stat: keyof LagFigures; help: string }[] = [
  { name: 'nodejs_eventloop_lag_min_seconds', stat: 'min', help: 'The minimum recorded event loop delay.' },
  { name: 'nodejs_eventloop_lag_max_seconds', stat: 'max', help: 'The maximum recorded event loop delay.' },
  { name: 'nodejs_eventloop_lag_mean_seconds', stat: 'mean', help: 'The mean of the recorded event loop delays.' },
  {
    name: 'nodejs_eventloop_lag_stddev_seconds',
    stat: 'stddev',
    help: 'The standard deviation of the recorded event loop delays.',
  },
  {
    name: 'nodejs_eventloop_lag_p50_seconds',
    stat: 'p50',
    help: 'The 50th percentile of the recorded event loop delays.',
  },
  {
    name: 'nodejs_eventloop_lag_p90_seconds',
    stat: 'p90',
    help: 'The 90th percentile of the recorded event loop delays.',
  },
  {
    name: 'nodejs_eventloop_lag_p99_seconds',
    stat: 'p99',
    help: 'The 99th percentile of the recorded event loop delays.',
  },
];

/** The stretch the event-loop lag gauges describe: the last whole window of this length. */
export const LAG_WINDOW_MS = 10_000;
const LAG_RESOLUTION_MS = 10;
/** prom-client's monitor's resolution: the longest a timer takes, so that it never fires in practice. */
const DORMANT_RESOLUTION_MS = 2 ** 31 - 1;

/** One window's event-loop delays, in seconds. */
interface LagFigures {
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly stddev: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
}

/** The figures of the delays the monitor holds; undefined when it holds none (min would be 2^63-1 ns, mean NaN). */
function figures(h: IntervalHistogram): LagFigures | undefined {
  if (h.count === 0) return undefined;
  return {
    min: h.min / 1e9,
    max: h.max / 1e9,
    mean: h.mean / 1e9,
    stddev: h.stddev / 1e9,
    p50: h.percentile(50) / 1e9,
    p90: h.percentile(90) / 1e9,
    p99: h.percentile(99) / 1e9,
  };
}

interface Runtime {
  readonly metrics: Metric[];
  readonly monitor: IntervalHistogram;
  /** The last whole window's figures. */
  lastWindow: LagFigures | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Delays sampled in the windows before the current one, since the monitor was last enabled. */
  sampledBefore: number;
  users: number;
}

let runtime: Runtime | undefined;

/** A gauge prom-client renders through its get(); no value (no series) when `value` gives none. */
function gauge(name: string, help: string, value: () => number | undefined | Promise<number | undefined>): Metric {
  const get = async () => {
    const v = await value();
    return {
      name,
      help,
      type: 'gauge',
      aggregator: 'average',
      values: v === undefined ? [] : [{ labels: {}, value: v }],
    };
  };
  return { name, help, type: 'gauge', aggregator: 'average', get } as unknown as Metric;
}

/** How late the event loop runs a setImmediate queued now, in seconds. */
function immediateLag(): Promise<number> {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => setImmediate(() => resolve(Number(process.hrtime.bigint() - start) / 1e9)));
}

function create(): Runtime {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: DORMANT_RESOLUTION_MS });
  for (const name of OMITTED_RUNTIME_METRICS) registry.removeSingleMetric(name);
  registry.removeSingleMetric(LAG);
  for (const { name } of LAG_STATS) registry.removeSingleMetric(name);
  const monitor = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  const r: Runtime = { metrics: [], monitor, lastWindow: undefined, timer: undefined, sampledBefore: 0, users: 0 };
  const current = () => r.lastWindow ?? figures(monitor);
  r.metrics.push(
    ...(registry.getMetricsAsArray() as unknown as Metric[]),
    gauge(LAG, 'Lag of event loop in seconds.', immediateLag),
    ...LAG_STATS.map(({ name, stat, help }) =>
      gauge(name, `${help} Over the last ${LAG_WINDOW_MS / 1000} s.`, () => current()?.[stat]),
    ),
  );
  return r;
}

/** The runtime metrics to register, and the function that lets go of them (call it once). */
export function acquireRuntimeMetrics(): { metrics: readonly Metric[]; release: () => void } {
  runtime ??= create();
  const r = runtime;
  if (r.users++ === 0) {
    r.monitor.reset();
    r.lastWindow = undefined;
    r.sampledBefore = 0;
    r.monitor.enable();
    r.timer = setInterval(() => {
      r.lastWindow = figures(r.monitor);
      r.sampledBefore += r.monitor.count;
      r.monitor.reset();
    }, LAG_WINDOW_MS);
    r.timer.unref();
  }
  let released = false;
  return {
    metrics: r.metrics,
    release: () => {
      if (released) return;
      released = true;
      if (--r.users > 0) return;
      r.monitor.disable();
      clearInterval(r.timer);
      r.timer = undefined;
    },
  };
}

/**
 * For tests: how many registries use the runtime metrics, how many delays meshd's event-loop monitor
 * has sampled since it was last enabled (it stops sampling when the last registry lets go; undefined
 * before any use), and whether the window timer runs.
 */
export function runtimeMetricsState(): {
  users: number;
  monitorSamples: number | undefined;
  lagWindowRunning: boolean;
} {
  return {
    users: runtime?.users ?? 0,
    monitorSamples: runtime && runtime.sampledBefore + runtime.monitor.count,
    lagWindowRunning: runtime?.timer !== undefined,
  };
}
