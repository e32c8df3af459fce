// Request durations in bounded memory: a sparse log-linear histogram (HdrHistogram's layout
// with 7 significant bits). Whole milliseconds below 128 ms are kept exactly (Envoy measures
// whole milliseconds, so a 101 ms request stays 101 ms); above, each power of two is cut into
// 64 buckets, so a value is off by at most 1/128 (0.8 %). From 0 to 15 minutes that is at most
// ~1,000 buckets however many requests there were, and histograms add up exactly, so one per
// second can be merged into any window. (A reservoir per second would keep single values but
// would need weighting to merge seconds of different traffic, and loses the tail.)

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
