// meshd's Prometheus registry: the API meshd's modules register their metrics with (counters and
// gauges that are set, or read from state when /metrics is scraped, and histograms). meshd keeps
// every series' value itself, keyed by the JSON of its label values (prom-client's own key joins
// `name:value,` unescaped, so that two label sets whose values contain `,` or `:` would merge; mesh
// and virtual node names are user data and may), and hands prom-client only metric objects whose
// get() returns the values to render. Each MetricsRegistry has its own prom-client Registry (never
// the global one: tests run several meshd servers in one process); addRuntimeMetrics() adds the
// process's and Node runtime's standard metrics (runtime-metrics.ts).
import { Registry } from 'prom-client';
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

/**
 * One label set of a histogram read from state on every scrape: `counts[i]` observations fell in
 * bucket i alone (not cumulative; the last one is +Inf's: above every bound).
 */
export interface CollectedHistogram {
  readonly labels: Labels;
  readonly counts: ArrayLike<number>;
  readonly sum: number;
  readonly count: number;
}

export interface RegistryOptions {
  /**
   * Where a sample that cannot be rendered is reported (a collected counter's negative or
   * non-finite value), once per metric; process warnings by default.
   */
  readonly warn?: (message: string) => void;
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

/** A value prom-client renders: one line of a metric family. */
interface Rendered {
  readonly metricName?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

type Family = 'counter' | 'gauge' | 'histogram' | 'summary';

/** The series of one metric, by label values (the JSON of their array: distinct label sets stay apart). */
class SeriesMap<T> {
  private readonly byKey = new Map<string, { labels: LabelValues; key: string[]; state: T }>();

  constructor(
    private readonly name: string,
    private readonly labelNames: readonly string[],
  ) {}

  get(labels: Labels | undefined, make: () => T): T {
    const values = checked(this.name, this.labelNames, labels);
    const key = this.labelNames.map((k) => values[k]!);
    const id = JSON.stringify(key);
    let series = this.byKey.get(id);
    if (!series) this.byKey.set(id, (series = { labels: values, key, state: make() }));
    return series.state;
  }

  delete(labels: Labels): void {
    const values = checked(this.name, this.labelNames, labels);
    this.byKey.delete(JSON.stringify(this.labelNames.map((k) => values[k]!)));
  }

  /** Every series, sorted by label values. */
  sorted(): { labels: LabelValues; state: T }[] {
    return [...this.byKey.values()].sort((a, b) => compareValues(a.key, b.key));
  }
}

/** `le`'s value for a bucket's upper bound. */
function le(bound: number): string {
  return bound === Infinity ? '+Inf' : String(bound);
}

/** A histogram's lines for one label set: cumulative buckets (`le` first), `_sum` and `_count`. */
function histogramLines(
  name: string,
  bounds: readonly number[],
  labels: LabelValues,
  counts: ArrayLike<number>,
  sum: number,
  count: number,
): Rendered[] {
  const out: Rendered[] = [];
  let cumulative = 0;
  for (let i = 0; i <= bounds.length; i++) {
    cumulative += counts[i] ?? 0;
    out.push({ metricName: `${name}_bucket`, labels: { le: le(bounds[i] ?? Infinity), ...labels }, value: cumulative });
  }
  out.push({ metricName: `${name}_sum`, labels, value: sum });
  out.push({ metricName: `${name}_count`, labels, value: count });
  return out;
}

/** The index of the bucket `value` falls in: the first bound it does not exceed, else +Inf's. */
export function bucketIndex(bounds: readonly number[], value: number): number {
  let i = 0;
  while (i < bounds.length && value > bounds[i]!) i++;
  return i;
}

interface HistogramState {
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export class MetricsRegistry {
  /** The prom-client registry every metric of this instance is in. */
  readonly prom = new Registry();
  private releaseRuntime: (() => void) | undefined;
  private readonly warn: (message: string) => void;
  /** Metrics whose unrenderable sample was reported already (once each). */
  private readonly warned = new Set<string>();

  constructor(options: RegistryOptions = {}) {
    this.warn = options.warn ?? ((message) => process.emitWarning(message));
  }

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
    const series = new SeriesMap<{ value: number }>(name, names);
    const zero = () => ({ value: 0 });
    // An unlabelled counter is shown from the start (0), so that rate() sees its first increment.
    if (names.length === 0 && !collect) series.get(undefined, zero);
    this.register(name, help, 'counter', () => {
      if (!collect) return series.sorted().map((s) => ({ labels: s.labels, value: s.state.value }));
      // A bad total (a bug in a collector) loses its own sample, not the whole scrape.
      return collected('counter', name, names, collect).filter((s) => {
        if (Number.isFinite(s.value) && s.value >= 0) return true;
        this.warnOnce(
          name,
          `metric ${name}: ${labelText(names, s.labels)} has the value ${s.value}, which a counter cannot have; the sample is left out`,
        );
        return false;
      });
    });
    return {
      inc: (labels, by) => {
        if (collect) throw new Error(`counter ${name} is computed when rendered; it cannot be increased`);
        const [l, v] = split(labels, by, 1);
        if (!(v >= 0)) throw new Error(`counter ${name} can only go up; inc(${v})`);
        series.get(l, zero).value += v;
      },
    };
  }

  /** A gauge that is set, or, with `collect`, computed from current state on every scrape. */
  gauge(name: string, help: string, labelNames: readonly string[] = [], collect?: Collector): Gauge {
    const names = this.checkNames(name, labelNames);
    const series = new SeriesMap<{ value: number }>(name, names);
    const zero = () => ({ value: 0 });
    if (names.length === 0 && !collect) series.get(undefined, zero);
    this.register(name, help, 'gauge', () =>
      collect
        ? collected('gauge', name, names, collect)
        : series.sorted().map((s) => ({ labels: s.labels, value: s.state.value })),
    );
    const settable = (labels: Labels | undefined): { value: number } => {
      if (collect) throw new Error(`gauge ${name} is computed when rendered; it cannot be set`);
      return series.get(labels, zero);
    };
    return {
      set: (labels, value) => {
        const [l, v] = split(labels, value, undefined);
        settable(l).value = v;
      },
      inc: (labels, by) => {
        const [l, v] = split(labels, by, 1);
        settable(l).value += v;
      },
      dec: (labels, by) => {
        const [l, v] = split(labels, by, 1);
        settable(l).value -= v;
      },
    };
  }

  /** `buckets` are upper bounds; they are sorted, and `+Inf` is always added. */
  histogram(
    name: string,
    help: string,
    buckets: readonly number[] = DEFAULT_LATENCY_BUCKETS,
    labelNames: readonly string[] = [],
  ): Histogram {
    const names = this.checkNames(name, labelNames);
    if (names.includes('le')) throw new Error(`histogram ${name}: 'le' is reserved for buckets`);
    if (buckets.some((b) => Number.isNaN(b))) throw new Error(`histogram ${name}: buckets must be numbers`);
    const bounds = [...new Set(buckets)].filter((b) => b !== Infinity).sort((a, b) => a - b);
    const series = new SeriesMap<HistogramState>(name, names);
    const empty = (): HistogramState => ({ counts: new Float64Array(bounds.length + 1), sum: 0, count: 0 });
    if (names.length === 0) series.get(undefined, empty);
    this.register(name, help, 'histogram', () =>
      series
        .sorted()
        .flatMap(({ labels, state }) => histogramLines(name, bounds, labels, state.counts, state.sum, state.count)),
    );
    return {
      observe: (labels, value) => {
        const [l, v] = split(labels, value, undefined);
        const state = series.get(l, empty);
        state.counts[bucketIndex(bounds, v)]!++;
        state.sum += v;
        state.count++;
      },
      remove: (labels) => series.delete(labels),
    };
  }

  /**
   * A histogram read from state on every scrape (its owner counts observations per bucket, with
   * bucketIndex(): the cheapest path for many observations). `bounds` must be finite, ascending and
   * distinct; `+Inf` is added.
   */
  collectedHistogram(
    name: string,
    help: string,
    bounds: readonly number[],
    labelNames: readonly string[],
    collect: () => Iterable<CollectedHistogram>,
  ): void {
    const names = this.checkNames(name, labelNames);
    if (names.includes('le')) throw new Error(`histogram ${name}: 'le' is reserved for buckets`);
    if (!bounds.every((b, i) => Number.isFinite(b) && (i === 0 || b > bounds[i - 1]!)))
      throw new Error(`histogram ${name}: bounds must be finite, ascending and distinct`);
    const fixed = [...bounds];
    this.register(name, help, 'histogram', () => {
      const seen = new Set<string>();
      const all: { labels: LabelValues; key: string[]; h: CollectedHistogram }[] = [];
      for (const h of collect()) {
        const labels = checked(name, names, h.labels);
        const key = names.map((k) => labels[k]!);
        const id = JSON.stringify(key);
        if (seen.has(id))
          throw new Error(`histogram ${name}: the collector returned ${labelText(names, labels)} twice`);
        if (h.counts.length !== fixed.length + 1)
          throw new Error(`histogram ${name}: ${fixed.length + 1} bucket counts expected, got ${h.counts.length}`);
        seen.add(id);
        all.push({ labels, key, h });
      }
      return all
        .sort((a, b) => compareValues(a.key, b.key))
        .flatMap(({ labels, h }) => histogramLines(name, fixed, labels, h.counts, h.sum, h.count));
    });
  }

  /**
   * A summary read from state on every scrape: per label set, its quantiles (`quantile` label) and
   * its `_sum` and `_count`.
   */
  summary(name: string, help: string, labelNames: readonly string[], collect: () => readonly CollectedSummary[]): void {
    const names = this.checkNames(name, labelNames);
    if (names.includes('quantile')) throw new Error(`summary ${name}: 'quantile' is reserved for quantiles`);
    this.register(name, help, 'summary', () => {
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
    });
  }

  /**
   * Every metric, in the text exposition format (0.0.4). prom-client spells NaN `Nan`, which
   * Prometheus's parser reads too but promtool and the format's text do not: it is written `NaN`.
   */
  async render(): Promise<string> {
    return fixNaN(await this.prom.metrics());
  }

  /** prom-client renders any metric object whose get() returns its type and values. */
  private register(name: string, help: string, type: Family, values: () => Rendered[]): void {
    const metric = {
      name,
      help,
      type,
      aggregator: 'sum',
      get: () => Promise.resolve({ name, help, type, aggregator: 'sum', values: values() }),
    };
    this.prom.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  private warnOnce(name: string, message: string): void {
    if (this.warned.has(name)) return;
    this.warned.add(name);
    this.warn(message);
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

/**
 * `NaN` for prom-client's `Nan`: a sample line's value is its last field (label values are quoted
 * and their newlines escaped, so a line that ends in ` Nan` is a sample whose value is NaN).
 */
export function fixNaN(text: string): string {
  return text.includes(' Nan') ? text.replace(/^([^#\n].*) Nan$/gm, '$1 NaN') : text;
}
