// The process's and Node runtime's standard metrics (prom-client's default metrics, unprefixed:
// process_cpu_seconds_total, process_resident_memory_bytes, nodejs_eventloop_lag_seconds,
// nodejs_gc_duration_seconds, nodejs_heap_size_used_bytes, ...), the names dashboards for Node
// services expect. They describe the process, not one meshd server, so they are made once per
// process (one event-loop delay monitor, one GC observer, however many servers a test starts) and
// their metric objects are registered in each server's own registry. The event-loop delay monitor
// (perf_hooks monitorEventLoopDelay; it holds no reference that keeps the process alive) is enabled
// while at least one registry uses these metrics and disabled when the last lets go.
import perfHooks, { type IntervalHistogram } from 'node:perf_hooks';
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

interface Runtime {
  readonly metrics: Metric[];
  /** The event-loop delay monitor prom-client made; undefined where perf_hooks has none. */
  readonly monitor: IntervalHistogram | undefined;
  users: number;
}

let runtime: Runtime | undefined;

function create(): Runtime {
  const registry = new Registry();
  // prom-client keeps the monitor it makes to itself: it is caught as it is made, to be disabled later.
  const made: IntervalHistogram[] = [];
  const original = perfHooks.monitorEventLoopDelay;
  perfHooks.monitorEventLoopDelay = (options) => {
    const monitor = original(options);
    made.push(monitor);
    return monitor;
  };
  try {
    collectDefaultMetrics({ register: registry });
  } finally {
    perfHooks.monitorEventLoopDelay = original;
  }
  for (const name of OMITTED_RUNTIME_METRICS) registry.removeSingleMetric(name);
  return { metrics: registry.getMetricsAsArray() as unknown as Metric[], monitor: made[0], users: 0 };
}

/** The runtime metrics to register, and the function that lets go of them (call it once). */
export function acquireRuntimeMetrics(): { metrics: readonly Metric[]; release: () => void } {
  runtime ??= create();
  const r = runtime;
  if (r.users++ === 0) {
    r.monitor?.reset();
    r.monitor?.enable();
  }
  let released = false;
  return {
    metrics: r.metrics,
    release: () => {
      if (released) return;
      released = true;
      if (--r.users === 0) r.monitor?.disable();
    },
  };
}

/**
 * For tests: how many registries use the runtime metrics, and how many delays the event-loop monitor has
 * sampled since it was last enabled (it stops sampling when disabled); undefined before any use.
 */
export function runtimeMetricsState(): { users: number; monitorSamples: number | undefined } {
  return { users: runtime?.users ?? 0, monitorSamples: runtime?.monitor?.count };
}
