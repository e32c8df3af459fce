// The sliding-window store the admin API, /metrics and the rollout controller read: 1-second
// buckets kept 15 minutes, totals since start, and latency quantiles in bounded memory.
import { LatencyHistogram } from '../../src/telemetry/latency-histogram';
import { MAX_WINDOW_MS, TrafficWindows, type VirtualNodeRef } from '../../src/telemetry';

const BLUE: VirtualNodeRef = { mesh: 'apps', virtualNode: 'color-blue' };
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0); // on a second boundary
const MIN = 60_000;

function responses(store: TrafficWindows, at: number, requests: number, errors = 0, node = BLUE): void {
  store.record({ kind: 'responses', node, requests, errors }, at);
}

function latencies(store: TrafficWindows, at: number, ms: number[], node = BLUE): void {
  store.record({ kind: 'latency', node, ms }, at);
}

describe('TrafficWindows', () => {
  it('knows nothing about a node it never heard of: zeros, and null where there is nothing to divide', () => {
    expect(new TrafficWindows().summary('apps', 'nobody', MIN, T0)).toEqual({
      windowMs: MIN,
      requests: 0,
      errors: 0,
      successRate: null,
      ratePerSecond: 0,
      p50Ms: null,
      p99Ms: null,
    });
  });

  it('sums requests and 5xx in the window: success rate in percent, rate per second of the window', () => {
    const store = new TrafficWindows();
    responses(store, T0, 80, 4);
    responses(store, T0 + 5_000, 40, 2);
    latencies(store, T0 + 5_500, [10, 20, 30]);
    expect(store.summary('apps', 'color-blue', MIN, T0 + 10_000)).toEqual({
      windowMs: MIN,
      requests: 120,
      errors: 6,
      successRate: 95,
      ratePerSecond: 2,
      p50Ms: 20,
      p99Ms: 30,
    });
    // Latency samples alone (the counters not flushed yet): no requests, so no success rate.
    const other = new TrafficWindows();
    latencies(other, T0, [5]);
    expect(other.summary('apps', 'color-blue', MIN, T0)).toMatchObject({
      requests: 0,
      successRate: null,
      p50Ms: 5,
      p99Ms: 5,
    });
  });

  it('a window of N seconds holds the N one-second buckets up to the one `now` is in', () => {
    const store = new TrafficWindows();
    responses(store, T0 + 999, 1); // second 0
    responses(store, T0 + 1_000, 10); // second 1
    responses(store, T0 + 60_500, 100); // second 60
    const at = (now: number, windowMs = MIN) => store.summary('apps', 'color-blue', windowMs, now).requests;
    expect(at(T0 + 59_999)).toBe(11); // seconds 0..59
    expect(at(T0 + 60_000)).toBe(110); // seconds 1..60
    expect(at(T0 + 61_000)).toBe(100); // seconds 2..61
    expect(at(T0 + 60_000, 1_000)).toBe(100); // second 60 alone
    expect(at(T0 + 60_000, 1_500)).toBe(100); // seconds 59..60
    expect(at(T0 + 60_000, 2_001)).toBe(100); // seconds 58..60
    expect(at(T0 + 30_000)).toBe(11); // not what came after `now`
    expect(at(T0 + 120_000, 15 * MIN)).toBe(111);
  });

  it('keeps 15 minutes: a bucket is reused 15 minutes later, and the totals since start keep everything', () => {
    const store = new TrafficWindows();
    responses(store, T0, 7, 7);
    latencies(store, T0, [120]);
    expect(store.summary('apps', 'color-blue', 15 * MIN, T0 + 15 * MIN - 1)).toMatchObject({
      requests: 7,
      errors: 7,
      p50Ms: 120,
    });
    expect(store.summary('apps', 'color-blue', 15 * MIN, T0 + 15 * MIN)).toMatchObject({
      requests: 0,
      errors: 0,
      p50Ms: null,
    });
    responses(store, T0 + 15 * MIN, 3); // the same slot as T0's
    latencies(store, T0 + 15 * MIN, [2]);
    expect(store.summary('apps', 'color-blue', 15 * MIN, T0 + 15 * MIN)).toMatchObject({
      requests: 3,
      errors: 0,
      successRate: 100,
      p50Ms: 2,
      p99Ms: 2,
    });
    expect(store.totals('apps', 'color-blue')).toEqual({ requests: 10, errors: 7, latencySamples: 2 });
  });

  it('keeps nodes apart and lists those it heard of, sorted by mesh then name', () => {
    const store = new TrafficWindows();
    responses(store, T0, 5, 1, { mesh: 'b', virtualNode: 'x' });
    responses(store, T0, 3, 0, { mesh: 'a', virtualNode: 'y' });
    latencies(store, T0, [1], { mesh: 'a', virtualNode: 'x' });
    expect(store.nodesSeen()).toEqual([
      { mesh: 'a', virtualNode: 'x' },
      { mesh: 'a', virtualNode: 'y' },
      { mesh: 'b', virtualNode: 'x' },
    ]);
    expect(store.summary('b', 'x', MIN, T0)).toMatchObject({ requests: 5, errors: 1 });
    expect(store.summary('a', 'y', MIN, T0)).toMatchObject({ requests: 3, errors: 0 });
    expect(store.totals('a', 'x')).toEqual({ requests: 0, errors: 0, latencySamples: 1 });
  });

  it.each([0, -1, NaN, MAX_WINDOW_MS + 1])('refuses a window of %p ms', (windowMs) => {
    expect(() => new TrafficWindows().summary('apps', 'color-blue', windowMs, T0)).toThrow(RangeError);
  });

  it('merges the latency of every second in the window', () => {
    const store = new TrafficWindows();
    for (let s = 0; s < 100; s++) latencies(store, T0 + s * 1000, [s + 1]); // 1..100 ms, one per second
    expect(store.summary('apps', 'color-blue', 100_000, T0 + 99_000)).toMatchObject({ p50Ms: 50, p99Ms: 99 });
    // 91..100
    expect(store.summary('apps', 'color-blue', 10_000, T0 + 99_000)).toMatchObject({ p50Ms: 95, p99Ms: 100 });
  });
});

describe('LatencyHistogram', () => {
  it('is exact for whole milliseconds below 128 ms (nearest rank)', () => {
    const h = new LatencyHistogram();
    [100, 101, 101, 102, 0, 127].forEach((v) => h.record(v));
    expect([h.quantile(0.01), h.quantile(0.5), h.quantile(0.99), h.quantile(1)]).toEqual([0, 101, 127, 127]);
    expect(new LatencyHistogram().quantile(0.5)).toBeNull();
  });

  it('stays within 0.8 % above, and holds at most ~1,000 buckets from 0 to 15 minutes whatever it is fed', () => {
    const h = new LatencyHistogram();
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const values: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      const v = Math.round(random() * 900_000);
      values.push(v);
      h.record(v);
    }
    expect(h.buckets).toBeLessThanOrEqual(128 + 64 * 13);
    values.sort((a, b) => a - b);
    for (const q of [0.5, 0.9, 0.99]) {
      const exact = values[Math.ceil(q * values.length) - 1]!;
      expect(Math.abs(h.quantile(q)! - exact) / exact).toBeLessThanOrEqual(1 / 128);
    }
  });

  it('adds up: the merge of two histograms is the histogram of both', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    const both = new LatencyHistogram();
    [1, 5, 300, 4000].forEach((v) => (a.record(v), both.record(v)));
    [2, 250, 70_000].forEach((v) => (b.record(v), both.record(v)));
    const merged = new LatencyHistogram();
    a.addTo(merged);
    b.addTo(merged);
    expect(merged.count).toBe(7);
    for (const q of [0.1, 0.3, 0.5, 0.7, 0.9, 1]) expect(merged.quantile(q)).toBe(both.quantile(q));
  });
});
