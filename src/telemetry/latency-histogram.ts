// Request durations in bounded memory: a sparse log-linear histogram (HdrHistogram's layout
// with 7 significant bits). Whole milliseconds below 128 ms are kept exactly (Envoy measures
// whole milliseconds, so a 101 ms request stays 101 ms); above, each power of two is cut into
// 64 buckets, so a value is off by at most 1/128 (0.8 %). From 0 to 15 minutes that is at most
// ~1,000 buckets however many requests there were, and histograms add up exactly, so one per
// second can be merged into any window. (A reservoir per second would keep single values but
// would need weighting to merge seconds of different traffic, and loses the tail.) For the
// fleet's telemetry a histogram travels as JSON: its [bucket, count] pairs, which add up as
// exactly as the histograms do, and are checked bucket by bucket when read back.

const EXACT_BELOW = 128;

/** The bucket of a duration: its lowest value. */
function bucketOf(ms: number): number {
  const v = Math.max(0, Math.round(ms));
  if (v < EXACT_BELOW) return v;
  const shift = Math.floor(Math.log2(v)) - 6;
  return Math.floor(v / 2 ** shift) * 2 ** shift;
}

/** The value a bucket stands for: its middle (its only value when exact). */
function representative(bucket: number): number {
  if (bucket < EXACT_BELOW) return bucket;
  const width = 2 ** (Math.floor(Math.log2(bucket)) - 6);
  return bucket + (width - 1) / 2;
}

/** A histogram as JSON: [bucket, count] pairs, each bucket its lowest value in ms, ascending; every count ≥ 1. */
export type HistogramJson = [bucket: number, count: number][];

/** Where a bucket stands among all buckets from 0 ms: 0..127 below 128 ms, then 64 per power of two. */
function indexOf(bucket: number): number {
  if (bucket < EXACT_BELOW) return bucket;
  const shift = Math.floor(Math.log2(bucket)) - 6;
  return EXACT_BELOW + (shift - 1) * 64 + (bucket / 2 ** shift - 64);
}

/** How a value from outside is shown in a refusal: never the value's own text when it is not a number. */
function shown(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (value === null) return 'null';
  if (value === undefined) return 'missing';
  if (Array.isArray(value)) return 'a list';
  return /^[aeiou]/.test(typeof value) ? `an ${typeof value}` : `a ${typeof value}`;
}

export class LatencyHistogram {
  private readonly counts = new Map<number, number>();
  private total = 0;

  get count(): number {
    return this.total;
  }

  /** Distinct buckets held (the memory it uses). */
  get buckets(): number {
    return this.counts.size;
  }

  /** Whether `ms` falls in a bucket already held (recording it takes no more memory). */
  has(ms: number): boolean {
    return this.counts.has(bucketOf(ms));
  }

  record(ms: number, times = 1): void {
    const b = bucketOf(ms);
    this.counts.set(b, (this.counts.get(b) ?? 0) + times);
    this.total += times;
  }

  addTo(into: LatencyHistogram): void {
    for (const [b, n] of this.counts) {
      into.counts.set(b, (into.counts.get(b) ?? 0) + n);
      into.total += n;
    }
  }

  /** Its JSON form (see HistogramJson): what a replica exports for the fleet. */
  serialise(): HistogramJson {
    return [...this.counts.entries()].sort((x, y) => x[0] - y[0]);
  }

  /**
   * A histogram from its JSON form, or why that is not one: anything but ascending [bucket,
   * count] pairs, a bucket that is not a bucket's lowest value or lies above the bucket of
   * `maxMs`, a count that is not a whole number from 1 on, or counts adding up past 2^53.
   * Reads at most as many pairs as there are buckets up to `maxMs`.
   */
  static deserialise(value: unknown, maxMs: number): { histogram: LatencyHistogram } | { error: string } {
    if (!Array.isArray(value)) return { error: `is ${shown(value)}, not a list of [bucket, count] pairs` };
    const top = bucketOf(maxMs);
    if (value.length > indexOf(top) + 1)
      return {
        error: `has ${value.length} buckets; a histogram up to ${maxMs} ms has at most ${indexOf(top) + 1}`,
      };
    const h = new LatencyHistogram();
    let previous = -1;
    for (let i = 0; i < value.length; i++) {
      const pair: unknown = value[i];
      if (!Array.isArray(pair) || pair.length !== 2) return { error: `entry ${i} is not a [bucket, count] pair` };
      const [bucket, count] = pair as unknown[];
      if (typeof bucket !== 'number' || !Number.isSafeInteger(bucket) || bucket < 0)
        return { error: `entry ${i}: the bucket is ${shown(bucket)}, not a whole number of ms from 0` };
      if (bucket > top) return { error: `entry ${i}: bucket ${bucket} ms is above the longest duration (${maxMs} ms)` };
      if (bucketOf(bucket) !== bucket)
        return { error: `entry ${i}: ${bucket} ms is not a bucket (its bucket starts at ${bucketOf(bucket)} ms)` };
      if (bucket <= previous)
        return { error: `entry ${i}: bucket ${bucket} ms comes after bucket ${previous} ms; buckets must ascend` };
      if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1)
        return { error: `entry ${i}: the count is ${shown(count)}, not a whole number from 1` };
      if (h.total + count > Number.MAX_SAFE_INTEGER)
        return { error: `its counts add up to more than ${Number.MAX_SAFE_INTEGER}` };
      h.counts.set(bucket, count);
      h.total += count;
      previous = bucket;
    }
    return { histogram: h };
  }

  /**
   * The q-quantile (0 < q ≤ 1) by nearest rank: the smallest recorded value with at least
   * ⌈q·n⌉ values at or below it; null when empty.
   */
  quantile(q: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (const b of [...this.counts.keys()].sort((x, y) => x - y)) {
      seen += this.counts.get(b)!;
      if (seen >= rank) return representative(b);
    }
    return null;
  }
}
