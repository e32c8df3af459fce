// meshd's Prometheus registry: a thin layer over prom-client that keeps the API meshd's modules
// register their metrics with (counters and gauges that are set, or read from state when /metrics
// is scraped, and histograms). Each MetricsRegistry wraps its own prom-client Registry (never the
// global one: tests run several meshd servers in one process); addRuntimeMetrics() adds the
// process's and Node runtime's standard metrics (runtime-metrics.ts).
import { Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, Registry } from 'prom-client';
import { acquireRuntimeMetrics } from './runtime-metrics';

/** The text exposition format (0.0.4) /metrics answers in. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Readonly<Record<string, string | number>>;

/** One series of a metric computed when /metrics is scraped. */
export interface CollectedSample {
  readonly labels?: Labels;
  readonly value: number;
}

export type Collector = () => readonly CollectedSample[];

export interface Counter {
  /** Adds `by` (default 1, never negative). */
  inc(labels?: Labels | number, by?: number): void;
}

export interface Gauge {
  set(labels: Labels | number, value?: number): void;
  inc(labels?: Labels | number, by?: number): void;
  dec(labels?: Labels | number, by?: number): void;
}

export interface Histogram {
  observe(labels: Labels | number, value?: number): void;
  /** Drops one label set's series (a virtual node that left the mesh). */
  remove(labels: Labels): void;
}

/** One label set of a summary computed when /metrics is scraped. */
export interface CollectedSummary {
  readonly labels: Labels;
  /** Quantile ('0.5', '0.99') → value; a quantile without a value now is left out. */
  readonly quantiles: Readonly<Record<string, number>>;
  readonly sum: number;
  readonly count: number;
}

export interface HistogramOptions {
  /** Called before every scrape renders the histogram (to remove label sets that are gone). */
  readonly beforeCollect?: () => void;
}

/** Buckets (upper bounds, seconds) that suit request and push latencies. */
export const DEFAULT_LATENCY_BUCKETS: readonly number[] = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Splits the `(labels?, value?)` argument pairs every method accepts. */
function split(
  labels: Labels | number | undefined,
  value: number | undefined,
  fallback: number | undefined,
): [Labels | undefined, number] {
  if (typeof labels === 'number') return [undefined, labels];
  const v = value ?? fallback;
  if (v === undefined) throw new Error('a value is required');
  return [labels, v];
}

type LabelValues = Record<string, string>;

/** The labels as prom-client takes them (string values); throws unless they are exactly labelNames. */
function checked(name: string, labelNames: readonly string[], labels: Labels | undefined): LabelValues {
  const given = labels ?? {};
  const keys = Object.keys(given);
  const unknown = keys.filter((k) => !labelNames.includes(k));
  const missing = labelNames.filter((k) => !(k in given));
  if (unknown.length || missing.length) {
    const want = labelNames.length ? labelNames.join(', ') : 'no labels';
    throw new Error(`metric ${name} takes ${want}; got ${keys.length ? keys.join(', ') : 'no labels'}`);
  }
  return Object.fromEntries(labelNames.map((k) => [k, String(given[k])]));
}

function labelText(labelNames: readonly string[], labels: LabelValues): string {
  const pairs = labelNames.map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return pairs.length ? `{${pairs.join(',')}}` : 'the unlabelled series';
}

/**
 * The samples a collector returns now, each label set at most once, sorted by label values (so
 * that /metrics lists them in a stable order).
 */
function collected(
  kind: string,
  name: string,
  labelNames: readonly string[],
  collect: Collector,
): { labels: LabelValues; value: number }[] {
  const seen = new Set<string>();
  const out: { labels: LabelValues; value: number; key: string[] }[] = [];
  for (const sample of collect()) {
    const labels = checked(name, labelNames, sample.labels);
    const key = labelNames.map((k) => labels[k]!);
    const id = JSON.stringify(key);
    if (seen.has(id)) throw new Error(`${kind} ${name}: the collector returned ${labelText(labelNames, labels)} twice`);
    seen.add(id);
    out.push({ labels, value: sample.value, key });
  }
  return out.sort((a, b) => compareValues(a.key, b.key));
}

function compareValues(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return 0;
}

export class MetricsRegistry {
  /** The prom-client registry every metric of this instance is in. */
  readonly prom = new Registry();
  private releaseRuntime: (() => void) | undefined;

  /**
   * Adds the process's and Node runtime's metrics (process_*, nodejs_*: CPU, memory, file
   * descriptors, event-loop lag, GC, heap): shared by every registry of the process, their event-loop
   * monitor runs while at least one registry that added them is not closed.
   */
  addRuntimeMetrics(): void {
    if (this.releaseRuntime) return;
    const runtime = acquireRuntimeMetrics();
    for (const metric of runtime.metrics) this.prom.registerMetric(metric);
    this.releaseRuntime = runtime.release;
  }

  /** Lets go of the runtime metrics' event-loop monitor (when this was the last user). Idempotent. */
  close(): void {
    const release = this.releaseRuntime;
    this.releaseRuntime = undefined;
    release?.();
  }

  /** A counter that is increased, or, with `collect`, read from a running total on every scrape. */
  counter(name: string, help: string, labelNames: readonly string[] = [], collect?: Collector): Counter {
    const names = this.checkNames(name, labelNames);
    const counter: PromCounter<string> = new PromCounter({
      name,
      help,
      labelNames: names,
      registers: [],
      ...(collect
        ? {
            collect() {
              const samples = collected('counter', name, names, collect);
              counter.reset();
              for (const s of samples) counter.inc(s.labels, s.value);
            },
          }
        : {}),
    });
    this.prom.registerMetric(counter);
    return {
      inc: (labels, by) => {
        if (collect) throw new Error(`counter ${name} is computed when rendered; it cannot be increased`);
        const [l, v] = split(labels, by, 1);
        if (!(v >= 0)) throw new Error(`counter ${name} can only go up; inc(${v})`);
        counter.inc(checked(name, names, l), v);
      },
    };
  }

  /** A gauge that is set, or, with `collect`, computed from current state on every scrape. */
  gauge(name: string, help: string, labelNames: readonly string[] = [], collect?: Collector): Gauge {
    const names = this.checkNames(name, labelNames);
    const gauge: PromGauge<string> = new PromGauge({
      name,
      help,
      labelNames: names,
      registers: [],
      ...(collect
        ? {
            collect() {
              const samples = collected('gauge', name, names, collect);
              gauge.reset();
              for (const s of samples) gauge.set(s.labels, s.value);
            },
          }
        : {}),
    });
    this.prom.registerMetric(gauge);
    const settable = (): PromGauge<string> => {
      if (collect) throw new Error(`gauge ${name} is computed when rendered; it cannot be set`);
      return gauge;
    };
    return {
      set: (labels, value) => {
        const [l, v] = split(labels, value, undefined);
        settable().set(checked(name, names, l), v);
      },
      inc: (labels, by) => {
        const [l, v] = split(labels, by, 1);
        settable().inc(checked(name, names, l), v);
      },
      dec: (labels, by) => {
        const [l, v] = split(labels, by, 1);
        settable().dec(checked(name, names, l), v);
      },
    };
  }

  /** `buckets` are upper bounds; they are sorted, and `+Inf` is always added. */
  histogram(
    name: string,
    help: string,
    buckets: readonly number[] = DEFAULT_LATENCY_BUCKETS,
    labelNames: readonly string[] = [],
    options: HistogramOptions = {},
  ): Histogram {
    const names = this.checkNames(name, labelNames);
    if (names.includes('le')) throw new Error(`histogram ${name}: 'le' is reserved for buckets`);
    if (buckets.some((b) => Number.isNaN(b))) throw new Error(`histogram ${name}: buckets must be numbers`);
    const bounds = [...new Set(buckets)].filter((b) => b !== Infinity).sort((a, b) => a - b);
    const { beforeCollect } = options;
    const histogram = new PromHistogram({
      name,
      help,
      labelNames: names,
      buckets: bounds,
      registers: [],
      ...(beforeCollect ? { collect: () => beforeCollect() } : {}),
    });
    this.prom.registerMetric(histogram);
    return {
      observe: (labels, value) => {
        const [l, v] = split(labels, value, undefined);
        histogram.observe(checked(name, names, l), v);
      },
      remove: (labels) => histogram.remove(checked(name, names, labels)),
    };
  }

  /**
   * A summary read from state on every scrape: per label set, its quantiles (`quantile` label) and
   * its `_sum` and `_count`.
   */
  summary(name: string, help: string, labelNames: readonly string[], collect: () => readonly CollectedSummary[]): void {
    const names = this.checkNames(name, labelNames);
    if (names.includes('quantile')) throw new Error(`summary ${name}: 'quantile' is reserved for quantiles`);
    const values = () => {
      const seen = new Set<string>();
      return collect()
        .map((s) => ({ s, labels: checked(name, names, s.labels) }))
        .map(({ s, labels }) => {
          const key = names.map((k) => labels[k]!);
          const id = JSON.stringify(key);
          if (seen.has(id))
            throw new Error(`summary ${name}: the collector returned ${labelText(names, labels)} twice`);
          seen.add(id);
          return { s, labels, key };
        })
        .sort((a, b) => compareValues(a.key, b.key))
        .flatMap(({ s, labels }) => [
          ...Object.entries(s.quantiles).map(([quantile, value]) => ({ labels: { ...labels, quantile }, value })),
          { metricName: `${name}_sum`, labels, value: s.sum },
          { metricName: `${name}_count`, labels, value: s.count },
        ]);
    };
    // prom-client renders any metric object whose get() returns its type and values.
    const metric = {
      name,
      help,
      type: 'summary',
      aggregator: 'sum',
      get: () => Promise.resolve({ name, help, type: 'summary', aggregator: 'sum', values: values() }),
    };
    this.prom.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** Every metric, in the text exposition format (0.0.4). */
  render(): Promise<string> {
    return this.prom.metrics();
  }

  private checkNames(name: string, labelNames: readonly string[]): string[] {
    if (!METRIC_NAME.test(name)) throw new Error(`'${name}' is not a valid Prometheus metric name`);
    if (this.prom.getSingleMetric(name)) throw new Error(`metric ${name} is already registered`);
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith('__'))
        throw new Error(`metric ${name}: '${l}' is not a valid label name`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`metric ${name}: a label name is repeated`);
    return [...labelNames];
  }
}
