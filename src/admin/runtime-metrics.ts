// The process's and Node runtime's standard metrics (prom-client's default metrics, unprefixed:
// process_cpu_seconds_total, process_resident_memory_bytes, nodejs_eventloop_lag_seconds,
// nodejs_gc_duration_seconds, nodejs_heap_size_used_bytes, ...), the names dashboards for Node
// services expect. They describe the process, not one meshd server, so they are made once per
// process (one event-loop delay monitor, one GC observer, however many servers a test starts) and
// their metric objects are registered in each server's own registry. The event-loop delay monitor
// (perf_hooks monitorEventLoopDelay) and the GC observer (a PerformanceObserver of 'gc' entries)
// run while at least one registry uses these metrics, and are stopped when the last lets go. Neither
// holds a reference that keeps the process alive.
import perfHooks, { type IntervalHistogram, type PerformanceObserver } from 'node:perf_hooks';
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
  /** The observer of GC entries prom-client made. */
  readonly gcObservers: readonly PerformanceObserver[];
  users: number;
}

let runtime: Runtime | undefined;

function create(): Runtime {
  const registry = new Registry();
  // prom-client keeps the monitor and the observer it makes to itself: they are caught as they are
  // made (perf_hooks' exports are swapped for the call, in this synchronous stretch only), to be
  // stopped later.
  const monitors: IntervalHistogram[] = [];
  const observers: PerformanceObserver[] = [];
  const { monitorEventLoopDelay, PerformanceObserver: Observer } = perfHooks;
  perfHooks.monitorEventLoopDelay = (options) => {
    const monitor = monitorEventLoopDelay(options);
    monitors.push(monitor);
    return monitor;
  };
  perfHooks.PerformanceObserver = class extends Observer {
    constructor(callback: ConstructorParameters<typeof Observer>[0]) {
      super(callback);
      observers.push(this);
    }
  };
  try {
    collectDefaultMetrics({ register: registry });
  } finally {
    perfHooks.monitorEventLoopDelay = monitorEventLoopDelay;
    perfHooks.PerformanceObserver = Observer;
  }
  for (const name of OMITTED_RUNTIME_METRICS) registry.removeSingleMetric(name);
  return {
    metrics: registry.getMetricsAsArray() as unknown as Metric[],
    monitor: monitors[0],
    gcObservers: observers,
    users: 0,
  };
}

/** The runtime metrics to register, and the function that lets go of them (call it once). */
export function acquireRuntimeMetrics(): { metrics: readonly Metric[]; release: () => void } {
  const fresh = runtime === undefined;
  runtime ??= create();
  const r = runtime;
  if (r.users++ === 0) {
    r.monitor?.reset();
    r.monitor?.enable();
    // prom-client started the observer when it made it; one stopped by a release starts again.
    if (!fresh) for (const observer of r.gcObservers) observer.observe({ entryTypes: ['gc'] });
  }
  let released = false;
  return {
    metrics: r.metrics,
    release: () => {
      if (released) return;
      released = true;
      if (--r.users > 0) return;
      r.monitor?.disable();
      for (const observer of r.gcObservers) observer.disconnect();
    },
  };
}

/**
 * For tests: how many registries use the runtime metrics, how many delays the event-loop monitor has
 * sampled since it was last enabled (it stops sampling when disabled; undefined before any use), and
 * how many GC observers prom-client made (one per process, or per module registry under jest).
 */
export function runtimeMetricsState(): { users: number; monitorSamples: number | undefined; gcObservers: number } {
  return {
    users: runtime?.users ?? 0,
    monitorSamples: runtime?.monitor?.count,
    gcObservers: runtime?.gcObservers.length ?? 0,
  };
}
