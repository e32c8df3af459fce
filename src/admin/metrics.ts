// A tiny Prometheus registry (text exposition format 0.0.4) with no dependencies: counters and
// gauges (set directly or computed at render time) and histograms. Output is stable:
// metrics in registration order, series sorted by their label values.

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Readonly<Record<string, string | number>>;

/** One series of a gauge computed at render time. */
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
}

/** Buckets (upper bounds, seconds) that suit request and push latencies. */
export const DEFAULT_LATENCY_BUCKETS: readonly number[] = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A sample value as Prometheus (Go's ParseFloat) reads it. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

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

abstract class Metric {
  abstract readonly type: 'counter' | 'gauge' | 'histogram';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}

  /** The label values in labelNames order; throws if the labels are not exactly labelNames. */
  protected values(labels: Labels | undefined): string[] {
    const given = labels ?? {};
    const keys = Object.keys(given);
    const unknown = keys.filter((k) => !this.labelNames.includes(k));
    const missing = this.labelNames.filter((k) => !(k in given));
    if (unknown.length || missing.length) {
      const want = this.labelNames.length ? this.labelNames.join(', ') : 'no labels';
      throw new Error(`metric ${this.name} takes ${want}; got ${keys.length ? keys.join(', ') : 'no labels'}`);
    }
    return this.labelNames.map((k) => String(given[k]));
  }

  /** The series a collector returns now; each label set at most once. */
  protected collected(collect: Collector): SeriesMap<{ value: number }> {
    const series = new SeriesMap<{ value: number }>();
    for (const sample of collect()) {
      const values = this.values(sample.labels);
      const before = series.size;
      const cell = series.get(values, () => ({ value: 0 }));
      if (series.size === before)
        throw new Error(
          `${this.type} ${this.name}: the collector returned ${this.labelText(values) || 'the unlabelled series'} twice`,
        );
      cell.value = sample.value;
    }
    return series;
  }

  protected labelText(values: readonly string[], extra?: [string, string]): string {
    const pairs = this.labelNames.map((k, i) => `${k}="${escapeLabelValue(values[i]!)}"`);
    if (extra) pairs.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`);
    return pairs.length ? `{${pairs.join(',')}}` : '';
  }

  render(): string[] {
    return [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`, ...this.samples()];
  }

  protected abstract samples(): string[];
}

/** Series keyed by label values, rendered sorted by those values. */
class SeriesMap<T> {
  private readonly series = new Map<string, { values: string[]; data: T }>();

  get(values: string[], init: () => T): T {
    const key = JSON.stringify(values);
    let entry = this.series.get(key);
    if (!entry) this.series.set(key, (entry = { values, data: init() }));
    return entry.data;
  }

  get size(): number {
    return this.series.size;
  }

  sorted(): { values: string[]; data: T }[] {
    return [...this.series.values()].sort((a, b) => compareValues(a.values, b.values));
  }
}

function compareValues(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  }
  return 0;
}

class CounterMetric extends Metric implements Counter {
  readonly type = 'counter';
  private readonly series = new SeriesMap<{ value: number }>();

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly collect?: Collector,
  ) {
    super(name, help, labelNames);
  }

  inc(labels?: Labels | number, by?: number): void {
    if (this.collect) throw new Error(`counter ${this.name} is computed when rendered; it cannot be increased`);
    const [l, v] = split(labels, by, 1);
    if (!(v >= 0)) throw new Error(`counter ${this.name} can only go up; inc(${v})`);
    this.series.get(this.values(l), () => ({ value: 0 })).value += v;
  }

  protected samples(): string[] {
    // An unlabelled counter exists from the start (0), so rate() sees its first increment.
    if (this.labelNames.length === 0 && this.series.size === 0 && !this.collect) return [`${this.name} 0`];
    const series = this.collect ? this.collected(this.collect) : this.series;
    return series.sorted().map((s) => `${this.name}${this.labelText(s.values)} ${formatValue(s.data.value)}`);
  }
}

class GaugeMetric extends Metric implements Gauge {
  readonly type = 'gauge';
  private readonly series = new SeriesMap<{ value: number }>();

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly collect?: Collector,
  ) {
    super(name, help, labelNames);
  }

  set(labels: Labels | number, value?: number): void {
    const [l, v] = split(labels, value, undefined);
    this.cell(l).value = v;
  }

  inc(labels?: Labels | number, by?: number): void {
    const [l, v] = split(labels, by, 1);
    this.cell(l).value += v;
  }

  dec(labels?: Labels | number, by?: number): void {
    const [l, v] = split(labels, by, 1);
    this.cell(l).value -= v;
  }

  private cell(labels: Labels | undefined): { value: number } {
    if (this.collect) throw new Error(`gauge ${this.name} is computed when rendered; it cannot be set`);
    return this.series.get(this.values(labels), () => ({ value: 0 }));
  }

  protected samples(): string[] {
    let series = this.series;
    if (this.collect) {
      series = this.collected(this.collect);
    } else if (this.labelNames.length === 0 && series.size === 0) {
      return [`${this.name} 0`];
    }
    return series.sorted().map((s) => `${this.name}${this.labelText(s.values)} ${formatValue(s.data.value)}`);
  }
}

class HistogramMetric extends Metric implements Histogram {
  readonly type = 'histogram';
  private readonly series = new SeriesMap<{ counts: number[]; sum: number; count: number }>();

  constructor(
    name: string,
    help: string,
    private readonly buckets: readonly number[],
    labelNames: readonly string[],
  ) {
    super(name, help, labelNames);
  }

  observe(labels: Labels | number, value?: number): void {
    const [l, v] = split(labels, value, undefined);
    const s = this.series.get(this.values(l), () => this.empty());
    // Stored per bucket; made cumulative when rendered.
    const i = this.buckets.findIndex((upper) => v <= upper);
    if (i !== -1) s.counts[i]! += 1;
    s.sum += v;
    s.count += 1;
  }

  private empty() {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }

  protected samples(): string[] {
    const series = this.series.sorted();
    if (this.labelNames.length === 0 && series.length === 0) series.push({ values: [], data: this.empty() });
    const out: string[] = [];
    for (const { values, data } of series) {
      let cumulative = 0;
      this.buckets.forEach((upper, i) => {
        cumulative += data.counts[i]!;
        out.push(`${this.name}_bucket${this.labelText(values, ['le', formatValue(upper)])} ${cumulative}`);
      });
      out.push(`${this.name}_bucket${this.labelText(values, ['le', '+Inf'])} ${data.count}`);
      out.push(`${this.name}_sum${this.labelText(values)} ${formatValue(data.sum)}`);
      out.push(`${this.name}_count${this.labelText(values)} ${data.count}`);
    }
    return out;
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];

  /** A counter that is increased, or, with `collect`, read from a running total on every render. */
  counter(name: string, help: string, labelNames: readonly string[] = [], collect?: Collector): Counter {
    return this.add(new CounterMetric(name, help, this.checkLabels(name, labelNames), collect));
  }

  /** A gauge that is set, or, with `collect`, computed from current state on every render. */
  gauge(name: string, help: string, labelNames: readonly string[] = [], collect?: Collector): Gauge {
    return this.add(new GaugeMetric(name, help, this.checkLabels(name, labelNames), collect));
  }

  /** `buckets` are upper bounds; they are sorted, and `+Inf` is always added. */
  histogram(
    name: string,
    help: string,
    buckets: readonly number[] = DEFAULT_LATENCY_BUCKETS,
    labelNames: readonly string[] = [],
  ): Histogram {
    const labels = this.checkLabels(name, labelNames);
    if (labels.includes('le')) throw new Error(`histogram ${name}: 'le' is reserved for buckets`);
    if (buckets.some((b) => Number.isNaN(b))) throw new Error(`histogram ${name}: buckets must be numbers`);
    const bounds = [...new Set(buckets)].filter((b) => b !== Infinity).sort((a, b) => a - b);
    return this.add(new HistogramMetric(name, help, bounds, labels));
  }

  /** Every metric, in the text exposition format (0.0.4); '' when none is registered. */
  render(): string {
    const lines = this.metrics.flatMap((m) => m.render());
    return lines.length ? `${lines.join('\n')}\n` : '';
  }

  private add<M extends Metric>(metric: M): M {
    if (!METRIC_NAME.test(metric.name)) throw new Error(`'${metric.name}' is not a valid Prometheus metric name`);
    if (this.metrics.some((m) => m.name === metric.name))
      throw new Error(`metric ${metric.name} is already registered`);
    this.metrics.push(metric);
    return metric;
  }

  private checkLabels(name: string, labelNames: readonly string[]): readonly string[] {
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith('__'))
        throw new Error(`metric ${name}: '${l}' is not a valid label name`);
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`metric ${name}: a label name is repeated`);
    return [...labelNames];
  }
}
