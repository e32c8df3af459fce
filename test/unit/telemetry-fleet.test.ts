// Telemetry across a fleet of replicas: each replica's TrafficWindows sees only the sidecars
// that reach it; they export their closed seconds as JSON records, the leader imports them all
// into a FleetTraffic, and the rollout analysis reads the sum. Pure: the shared store that
// carries the records in production is stood in for by JSON.stringify/JSON.parse, which is
// what a JSON column gives back.
import { checkCanary } from '../../src/rollout/analysis';
import { resolveSettings, type RolloutSettings } from '../../src/model/rollout';
import {
  FleetTraffic,
  MAX_WINDOW_MS,
  TrafficWindows,
  type TrafficRecord,
  type VirtualNodeRef,
} from '../../src/telemetry';
import { LatencyHistogram } from '../../src/telemetry/latency-histogram';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0); // on a second boundary
const S0 = T0 / 1000;
const MIN = 60_000;
const CANARY: VirtualNodeRef = { mesh: 'apps', virtualNode: 'web-v2' };
const PRIMARY: VirtualNodeRef = { mesh: 'apps', virtualNode: 'web-v1' };
const OTHER_MESH: VirtualNodeRef = { mesh: 'shop', virtualNode: 'web-v2' };
const REPLICAS = ['meshd-a', 'meshd-b', 'meshd-c'] as const;

function seeded(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

/** Through the store and back: what a JSON column returns. */
const viaStore = (records: TrafficRecord[]): unknown => JSON.parse(JSON.stringify(records));

interface Fleet {
  /** One TrafficWindows that saw every observation. */
  readonly all: TrafficWindows;
  readonly replicas: ReadonlyMap<string, TrafficWindows>;
}

function newFleet(): Fleet {
  return { all: new TrafficWindows(), replicas: new Map(REPLICAS.map((id) => [id, new TrafficWindows()])) };
}

/**
 * `seconds` seconds of traffic from T0 to `node` from `sidecars` callers, each caller reporting to
 * the replica `reportsTo` picks for it; errors with probability `errorRate`, durations 1 ms to 2 s.
 */
function traffic(
  fleet: Fleet,
  opts: {
    node: VirtualNodeRef;
    seconds: number;
    sidecars: number;
    errorRate: number;
    reportsTo: (sidecar: number) => string;
    seed: number;
  },
): void {
  const random = seeded(opts.seed);
  for (let s = 0; s < opts.seconds; s++) {
    for (let car = 0; car < opts.sidecars; car++) {
      const replica = fleet.replicas.get(opts.reportsTo(car))!;
      const at = T0 + s * 1000 + Math.floor(random() * 1000);
      const requests = 1 + Math.floor(random() * 20);
      let errors = 0;
      const ms: number[] = [];
      for (let i = 0; i < requests; i++) {
        if (random() < opts.errorRate) errors++;
        // Mostly fast, with a tail: exact buckets below 128 ms and wide ones above.
        ms.push(random() < 0.9 ? Math.floor(random() * 120) : Math.floor(random() * 2000));
      }
      for (const windows of [fleet.all, replica]) {
        windows.record({ kind: 'responses', node: opts.node, requests, errors }, at);
        windows.record({ kind: 'latency', node: opts.node, ms }, at);
      }
    }
  }
}

/** Every replica exports everything closed at `now`; the leader imports it all, through the store. */
function gather(fleet: Fleet, now: number, into = new FleetTraffic()): FleetTraffic {
  for (const [id, windows] of fleet.replicas) {
    const result = into.import(id, viaStore(windows.exportSince(-Infinity, now)), now);
    expect(result.refused).toEqual([]);
  }
  return into;
}

const END = T0 + 120_000 + 500; // every second of traffic below is closed

describe('TrafficWindows.exportSince', () => {
  it('exports the closed seconds after `since` with traffic, per node, oldest first, as plain JSON', () => {
    const w = new TrafficWindows();
    w.record({ kind: 'responses', node: CANARY, requests: 10, errors: 1 }, T0 + 100);
    w.record({ kind: 'latency', node: CANARY, ms: [3, 3, 300] }, T0 + 200);
    w.record({ kind: 'responses', node: PRIMARY, requests: 4, errors: 0 }, T0 + 1_500);
    w.record({ kind: 'latency', node: OTHER_MESH, ms: [7] }, T0 + 1_600);
    w.record({ kind: 'responses', node: CANARY, requests: 5, errors: 0 }, T0 + 2_100); // still open at T0 + 2.5 s
    const records = w.exportSince(-Infinity, T0 + 2_500);
    expect(records).toEqual([
      {
        mesh: 'apps',
        virtualNode: 'web-v2',
        second: S0,
        requests: 10,
        errors: 1,
        latency: [
          [3, 2],
          [300, 1],
        ],
      },
      { mesh: 'apps', virtualNode: 'web-v1', second: S0 + 1, requests: 4, errors: 0, latency: [] },
      { mesh: 'shop', virtualNode: 'web-v2', second: S0 + 1, requests: 0, errors: 0, latency: [[7, 1]] },
    ]);
    expect(JSON.parse(JSON.stringify(records))).toEqual(records);
    // Newer than `since` only; and the open second once it has closed.
    expect(w.exportSince(S0, T0 + 2_500).map((r) => r.second)).toEqual([S0 + 1, S0 + 1]);
    expect(w.exportSince(S0 + 1, T0 + 3_000)).toEqual([
      { mesh: 'apps', virtualNode: 'web-v2', second: S0 + 2, requests: 5, errors: 0, latency: [] },
    ]);
    // Nothing older than the 15 minutes a TrafficWindows keeps.
    expect(w.exportSince(-Infinity, T0 + MAX_WINDOW_MS).map((r) => r.second)).toEqual([S0 + 1, S0 + 1, S0 + 2]);
    expect(w.exportSince(-Infinity, T0 + MAX_WINDOW_MS + 1_000).map((r) => r.second)).toEqual([S0 + 2]);
    expect(() => w.exportSince(NaN, T0)).toThrow(RangeError);
  });
});

describe('LatencyHistogram as JSON', () => {
  it('is exact: histograms read back from JSON merge into the histogram of every sample', () => {
    const random = seeded(7);
    const parts = [new LatencyHistogram(), new LatencyHistogram(), new LatencyHistogram()];
    const both = new LatencyHistogram();
    for (let i = 0; i < 20_000; i++) {
      const ms = Math.floor(random() ** 3 * 3_600_000);
      parts[Math.floor(random() * 3)]!.record(ms);
      both.record(ms);
    }
    const merged = new LatencyHistogram();
    for (const part of parts) {
      const read = LatencyHistogram.deserialise(JSON.parse(JSON.stringify(part.serialise())), 3_600_000);
      if ('error' in read) throw new Error(read.error);
      read.histogram.addTo(merged);
    }
    expect(merged.count).toBe(20_000);
    expect(merged.serialise()).toEqual(both.serialise());
    for (const q of [0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1]) expect(merged.quantile(q)).toBe(both.quantile(q));
  });
});

describe('FleetTraffic', () => {
  it('sums traffic split at random over 3 replicas into what one TrafficWindows that saw it all says', () => {
    const fleet = newFleet();
    const random = seeded(11);
    // Each observation to a replica picked at random (sidecars reconnect, flushes land anywhere).
    const anyReplica = () => REPLICAS[Math.floor(random() * 3)]!;
    traffic(fleet, { node: CANARY, seconds: 120, sidecars: 5, errorRate: 0.02, reportsTo: anyReplica, seed: 1 });
    traffic(fleet, { node: PRIMARY, seconds: 90, sidecars: 3, errorRate: 0.001, reportsTo: anyReplica, seed: 2 });
    traffic(fleet, { node: OTHER_MESH, seconds: 30, sidecars: 2, errorRate: 0.5, reportsTo: anyReplica, seed: 3 });
    const sum = gather(fleet, END);
    expect(sum.replicas()).toEqual([...REPLICAS]);
    for (const node of [CANARY, PRIMARY, OTHER_MESH])
      for (const windowMs of [1_000, 10_000, 30_000, MIN, 15 * MIN])
        for (const now of [T0 + 15_000, T0 + 60_000, T0 + 119_999]) {
          const want = fleet.all.summary(node.mesh, node.virtualNode, windowMs, now);
          expect(sum.summary(node.mesh, node.virtualNode, windowMs, now)).toEqual(want);
        }
    // And the numbers are the ones a canary check reads, not zeros that would match anyway.
    const canary = sum.summary('apps', 'web-v2', MIN, T0 + 119_999);
    expect(canary.requests).toBeGreaterThan(3_000);
    expect(canary.successRate).toBeGreaterThan(97);
    expect(canary.successRate).toBeLessThan(99);
    expect(canary.p99Ms).toBeGreaterThan(128);
    // Each replica alone knows about a third of it.
    const share = fleet.replicas.get('meshd-a')!.summary('apps', 'web-v2', MIN, T0 + 119_999).requests;
    expect(share).toBeLessThan(canary.requests * 0.45);
  });

  it('gives the same sum when the replicas export every second, as they run, with overlapping exports', () => {
    const fleet = newFleet();
    const random = seeded(5);
    traffic(fleet, {
      node: CANARY,
      seconds: 30,
      sidecars: 4,
      errorRate: 0.05,
      reportsTo: () => REPLICAS[Math.floor(random() * 3)]!,
      seed: 9,
    });
    const sum = new FleetTraffic();
    const exported = new Map<string, number>(REPLICAS.map((id) => [id, -Infinity]));
    for (let now = T0 + 300; now <= T0 + 31_000; now += 1_000)
      for (const [id, windows] of fleet.replicas) {
        // Two seconds again each time, as a replica that is not sure its last write landed would.
        const since = exported.get(id)! - 2;
        expect(sum.import(id, viaStore(windows.exportSince(since, now)), now).refused).toEqual([]);
        exported.set(id, Math.floor(now / 1000) - 1);
      }
    for (const windowMs of [5_000, MIN])
      expect(sum.summary('apps', 'web-v2', windowMs, T0 + 31_000)).toEqual(
        fleet.all.summary('apps', 'web-v2', windowMs, T0 + 31_000),
      );
  });

  describe('the canary verdict does not depend on which replica its callers report to', () => {
    const settings: RolloutSettings = resolveSettings({
      route: { virtualRouter: 'web', name: 'split' },
      primary: 'web-v1',
      canary: 'web-v2',
      analysis: {
        interval: '1m',
        minRequests: 1000,
        metrics: [
          { name: 'request-success-rate', thresholdRange: { min: 99 } },
          { name: 'request-duration', thresholdRange: { max: 1900 } },
        ],
      },
    });
    const NOW = T0 + 60_500;
    // Which replica each of the canary's 6 callers reports to.
    const assignments: [string, (car: number) => string][] = [
      ['all to meshd-a (the leader)', () => 'meshd-a'],
      ['all to meshd-b', () => 'meshd-b'],
      ['all to meshd-c', () => 'meshd-c'],
      ['spread over the three', (car) => REPLICAS[car % 3]!],
      ['five to meshd-c, one to the leader', (car) => (car === 0 ? 'meshd-a' : 'meshd-c')],
    ];

    it.each([
      ['a failing canary (2% 5xx)', 0.02, false],
      ['a passing canary (0.1% 5xx)', 0.001, true],
    ])('%s', (_, errorRate, verdict) => {
      const verdicts: unknown[] = [];
      const seen = assignments.map(([, reportsTo]) => {
        const fleet = newFleet();
        traffic(fleet, { node: CANARY, seconds: 60, sidecars: 6, errorRate, reportsTo, seed: 21 });
        traffic(fleet, { node: PRIMARY, seconds: 60, sidecars: 6, errorRate: 0, reportsTo: () => 'meshd-b', seed: 22 });
        const expected = checkCanary(fleet.all, 'apps', settings, NOW);
        expect(expected.ok).toBe(verdict);
        const check = checkCanary(gather(fleet, NOW), 'apps', settings, NOW);
        expect(check).toEqual(expected);
        verdicts.push(check);
        // The leader's own share alone would judge differently (none, a sixth or all of the traffic).
        return checkCanary(fleet.replicas.get('meshd-a')!, 'apps', settings, NOW);
      });
      // One verdict, with the same numbers and messages, for every assignment.
      for (const v of verdicts) expect(v).toEqual(verdicts[0]);
      const leaderAlone = seen.map((c) => c.ok);
      expect(leaderAlone).toEqual([verdict, false, false, expect.any(Boolean), false]);
      expect(seen[1]!.results[0]!.message).toMatch(/only 0 request\(s\) reached the canary/);
    });
  });

  it("reads this replica's live windows, the open second too, and holds none of its own records", () => {
    const fleet = newFleet();
    traffic(fleet, {
      node: CANARY,
      seconds: 10,
      sidecars: 6,
      errorRate: 0.1,
      reportsTo: (car) => REPLICAS[car % 3]!,
      seed: 4,
    });
    const now = T0 + 9_700; // second 9 is still open
    const sum = new FleetTraffic({ local: { replicaId: 'meshd-a', windows: fleet.replicas.get('meshd-a')! } });
    gather(fleet, now, sum);
    expect(sum.replicas()).toEqual(['meshd-b', 'meshd-c']);
    const own = sum.import('meshd-a', viaStore(fleet.replicas.get('meshd-a')!.exportSince(-Infinity, now)), now);
    expect(own).toMatchObject({ imported: 0, refused: [] });
    expect(own.skipped).toBeGreaterThan(0);
    // The others' open second is not there yet: it is in the sum once they export it.
    const upTo8 = fleet.all.summary('apps', 'web-v2', 9_000, T0 + 8_999);
    expect(sum.summary('apps', 'web-v2', 9_000, T0 + 8_999)).toEqual(upTo8);
    const local9 = fleet.replicas.get('meshd-a')!.summary('apps', 'web-v2', 1_000, now).requests;
    expect(local9).toBeGreaterThan(0);
    expect(sum.summary('apps', 'web-v2', 10_000, now).requests).toBe(upTo8.requests + local9);
    gather(fleet, T0 + 10_000, sum);
    expect(sum.summary('apps', 'web-v2', 10_000, T0 + 10_000)).toEqual(
      fleet.all.summary('apps', 'web-v2', 10_000, T0 + 10_000),
    );
  });

  it('counts an export imported twice once, and a record imported again replaces the one held', () => {
    const fleet = newFleet();
    traffic(fleet, {
      node: CANARY,
      seconds: 20,
      sidecars: 3,
      errorRate: 0.1,
      reportsTo: (car) => REPLICAS[car]!,
      seed: 8,
    });
    const NOW = T0 + 30_000;
    const sum = gather(fleet, END);
    const held = sum.bucketsHeld;
    const latency = sum.latencyBucketsHeld;
    const once = sum.summary('apps', 'web-v2', MIN, NOW);
    expect(once.requests).toBeGreaterThan(300);
    gather(fleet, END, sum);
    const again = sum.import('meshd-b', viaStore(fleet.replicas.get('meshd-b')!.exportSince(-Infinity, END)), END);
    expect(again).toEqual({ imported: 20, skipped: 0, refused: [] });
    expect(sum.summary('apps', 'web-v2', MIN, NOW)).toEqual(once);
    expect(once).toEqual(fleet.all.summary('apps', 'web-v2', MIN, NOW));
    expect([sum.bucketsHeld, sum.latencyBucketsHeld]).toEqual([held, latency]);
    // A second sent again with other numbers replaces what that replica said of it.
    const replaced = { mesh: 'apps', virtualNode: 'web-v2', second: S0 + 5, requests: 1, errors: 1, latency: [] };
    const before = fleet.replicas.get('meshd-c')!.exportSince(S0 + 4, END)[0]!;
    expect(before.second).toBe(S0 + 5);
    sum.import('meshd-c', [replaced], END);
    const after = sum.summary('apps', 'web-v2', MIN, NOW);
    expect(after.requests).toBe(once.requests - before.requests + 1);
    expect(after.errors).toBe(once.errors - before.errors + 1);
    // An empty record clears the bucket.
    sum.import('meshd-c', [{ ...replaced, requests: 0, errors: 0 }], END);
    expect(sum.summary('apps', 'web-v2', MIN, NOW).requests).toBe(once.requests - before.requests);
    expect(sum.bucketsHeld).toBe(held - 1);
  });

  it('forgets a replica that left, and drops seconds older than 15 minutes', () => {
    const fleet = newFleet();
    traffic(fleet, {
      node: CANARY,
      seconds: 10,
      sidecars: 3,
      errorRate: 0,
      reportsTo: (car) => REPLICAS[car]!,
      seed: 3,
    });
    const NOW = T0 + 30_000;
    const sum = gather(fleet, END);
    const b = (windowMs: number, now: number) =>
      fleet.replicas.get('meshd-b')!.summary('apps', 'web-v2', windowMs, now).requests;
    const total = sum.summary('apps', 'web-v2', MIN, NOW).requests;
    expect(b(MIN, NOW)).toBeGreaterThan(50);
    expect(sum.forget('meshd-b')).toBe(10);
    expect(sum.summary('apps', 'web-v2', MIN, NOW).requests).toBe(total - b(MIN, NOW));
    expect(sum.replicas()).toEqual(['meshd-a', 'meshd-c']);
    // Second 0 is older than 15 minutes at T0 + 15 min: dropped at the next import, and not taken again.
    const later = T0 + MAX_WINDOW_MS;
    const result = sum.import('meshd-a', viaStore(fleet.replicas.get('meshd-a')!.exportSince(-Infinity, END)), later);
    expect(result).toEqual({ imported: 9, skipped: 1, refused: [] });
    expect(sum.bucketsHeld).toBe(18);
    expect(sum.summary('apps', 'web-v2', MAX_WINDOW_MS, later).requests).toBe(
      fleet.all.summary('apps', 'web-v2', MAX_WINDOW_MS, later).requests - b(MAX_WINDOW_MS, later),
    );
    sum.prune(T0 + MAX_WINDOW_MS + 10_000);
    expect([sum.bucketsHeld, sum.latencyBucketsHeld]).toEqual([0, 0]);
    expect(sum.replicas()).toEqual([]);
  });

  it('holds at most maxBuckets one-second buckets and maxLatencyBuckets histogram buckets, and says so', () => {
    const sum = new FleetTraffic({ limits: { maxBuckets: 3, maxLatencyBuckets: 5 } });
    const rec = (second: number, latency: [number, number][] = []) => ({
      mesh: 'apps',
      virtualNode: 'web-v2',
      second: S0 + second,
      requests: 1,
      errors: 0,
      latency,
    });
    expect(sum.import('a', [rec(0), rec(1), rec(2), rec(3)], END)).toEqual({
      imported: 3,
      skipped: 0,
      refused: [
        {
          index: 3,
          reason: "the fleet's telemetry holds its limit of 3 one-second buckets (replicas × virtual nodes × seconds)",
        },
      ],
    });
    // Replacing a held bucket takes no more room; forgetting a replica frees it.
    expect(
      sum.import(
        'a',
        [
          rec(2, [
            [1, 1],
            [2, 1],
            [3, 1],
          ]),
        ],
        END,
      ).imported,
    ).toBe(1);
    expect(sum.import('b', [rec(0)], END).refused).toHaveLength(1);
    sum.forget('a');
    expect(
      sum.import(
        'b',
        [
          rec(0, [
            [1, 1],
            [2, 1],
            [3, 1],
          ]),
          rec(1, [
            [1, 1],
            [2, 1],
            [3, 1],
          ]),
        ],
        END,
      ),
    ).toEqual({
      imported: 1,
      skipped: 0,
      refused: [{ index: 1, reason: "the fleet's telemetry holds its limit of 5 latency histogram buckets" }],
    });
    expect([sum.bucketsHeld, sum.latencyBucketsHeld]).toEqual([1, 3]);
  });

  describe('refuses hostile or corrupt records with a reason, and takes the good ones beside them', () => {
    const good = { mesh: 'apps', virtualNode: 'web-v2', second: S0 + 3, requests: 10, errors: 1, latency: [[5, 10]] };
    const NOW = T0 + 10_000;
    const throwing = Object.defineProperty({ ...good }, 'requests', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    const tooMany = Array.from({ length: 2_000 }, (_, i) => [i, 1]);
    const hugeCounts = [
      [1, Number.MAX_SAFE_INTEGER],
      [2, 1],
    ];
    it.each<[string, unknown, RegExp]>([
      ['null', null, /^is null, not a record/],
      ['a list', [good], /^is a list, not a record/],
      ['a string', 'apps/web-v2', /^is "apps\/web-v2", not a record/],
      ['no mesh', { ...good, mesh: undefined }, /^mesh is missing; must be a name of 1 to 255 characters/],
      ['an empty node name', { ...good, virtualNode: '' }, /^virtualNode is ""; must be a name/],
      ['a node name of 256 characters', { ...good, virtualNode: 'x'.repeat(256) }, /^virtualNode is "x{40}…"/],
      [
        'a NUL in a node name',
        { ...good, virtualNode: 'web\u0000v2' },
        /^virtualNode is "web\\u0000v2"; must be a name of 1 to 255 characters, none a control character$/,
      ],
      ['a mesh that is a number', { ...good, mesh: 7 }, /^mesh is 7; must be a name/],
      ['a fractional second', { ...good, second: S0 + 0.5 }, /^second is \d+\.5; must be a whole number/],
      ['a second as a string', { ...good, second: String(S0) }, /^second is "\d+"; must be a whole number/],
      [
        'a second far in the future',
        { ...good, second: S0 + 3_600 },
        /^second \d+ is 3590 s ahead of this replica's clock \(at most 60 s/,
      ],
      ['negative requests', { ...good, requests: -1 }, /^requests is -1; must be a number from 0 to 9007199254740991/],
      ['NaN requests', { ...good, requests: NaN }, /^requests is NaN/],
      ['Infinity requests', { ...good, requests: Infinity }, /^requests is Infinity/],
      ['huge requests', { ...good, requests: 1e300 }, /^requests is 1e\+300/],
      ['requests as a string', { ...good, requests: '10' }, /^requests is "10"/],
      [
        'more errors than requests',
        { ...good, errors: 11 },
        /^errors is 11; must be a number from 0 to the requests \(10\)/,
      ],
      ['negative errors', { ...good, errors: -1 }, /^errors is -1/],
      ['missing errors', { ...good, errors: undefined }, /^errors is missing/],
      ['no latency', { ...good, latency: undefined }, /^latency is missing, not a list of \[bucket, count\] pairs/],
      ['latency as an object', { ...good, latency: { 5: 10 } }, /^latency is an object, not a list/],
      [
        'a latency entry that is no pair',
        { ...good, latency: [[5, 10, 1]] },
        /^latency entry 0 is not a \[bucket, count\] pair/,
      ],
      [
        'an unknown bucket',
        { ...good, latency: [[129, 1]] },
        /^latency entry 0: 129 ms is not a bucket \(its bucket starts at 128 ms\)/,
      ],
      [
        'a bucket above an hour',
        { ...good, latency: [[3_670_016, 1]] },
        /^latency entry 0: bucket 3670016 ms is above the longest duration \(3600000 ms\)/,
      ],
      ['a negative bucket', { ...good, latency: [[-1, 1]] }, /^latency entry 0: the bucket is -1, not a whole number/],
      ['a fractional bucket', { ...good, latency: [[1.5, 1]] }, /^latency entry 0: the bucket is 1.5/],
      [
        'buckets out of order',
        {
          ...good,
          latency: [
            [6, 1],
            [5, 1],
          ],
        },
        /^latency entry 1: bucket 5 ms comes after bucket 6 ms/,
      ],
      [
        'a bucket twice',
        {
          ...good,
          latency: [
            [5, 1],
            [5, 1],
          ],
        },
        /^latency entry 1: bucket 5 ms comes after bucket 5 ms/,
      ],
      ['a zero count', { ...good, latency: [[5, 0]] }, /^latency entry 0: the count is 0, not a whole number from 1/],
      ['a negative count', { ...good, latency: [[5, -3]] }, /^latency entry 0: the count is -3/],
      ['a fractional count', { ...good, latency: [[5, 0.5]] }, /^latency entry 0: the count is 0.5/],
      ['a count as a string', { ...good, latency: [[5, '1']] }, /^latency entry 0: the count is a string/],
      [
        'counts adding up past 2^53',
        { ...good, latency: hugeCounts },
        /^latency its counts add up to more than 9007199254740991/,
      ],
      [
        'more buckets than an hour has',
        { ...good, latency: tooMany },
        /^latency has 2000 buckets; a histogram up to 3600000 ms has at most \d+/,
      ],
      ['a getter that throws', throwing, /^could not be read$/],
    ])('%s', (_, hostile, reason) => {
      const sum = new FleetTraffic();
      sum.import('meshd-a', [good], NOW);
      const before = sum.summary('apps', 'web-v2', MIN, NOW);
      const held = [sum.bucketsHeld, sum.latencyBucketsHeld];
      // The hostile record aims at the held bucket's key: it must not replace, add to or clear it.
      const result = sum.import('meshd-a', [{ ...good, second: S0 + 4 }, hostile], NOW);
      expect(result.refused).toEqual([{ index: 1, reason: expect.stringMatching(reason) }]);
      expect(result.imported).toBe(1);
      const after = sum.summary('apps', 'web-v2', MIN, NOW);
      expect(after).toEqual({ ...before, requests: 20, errors: 2, successRate: 90, ratePerSecond: 20 / 60 });
      expect([sum.bucketsHeld, sum.latencyBucketsHeld]).toEqual([held[0]! + 1, held[1]! + 1]);
    });

    it.each<[string, unknown, unknown, RegExp]>([
      [
        'an export that is not a list',
        'meshd-a',
        { records: [good] },
        /^replica meshd-a's export is an object, not a list of records$/,
      ],
      ['an export that is null', 'meshd-a', null, /^replica meshd-a's export is null/],
      ['an empty replica id', '', [good], /^the replica id is ""; must be 1 to 255 characters$/],
      ['a replica id that is no string', 42, [good], /^the replica id is 42/],
    ])('refuses %s whole', (_, replica, records, reason) => {
      const sum = new FleetTraffic();
      expect(sum.import(replica as string, records, NOW)).toEqual({
        imported: 0,
        skipped: 0,
        refused: [{ index: null, reason: expect.stringMatching(reason) }],
      });
      expect(sum.bucketsHeld).toBe(0);
    });

    it('takes fields it does not know (a newer replica), and a second a little ahead of its clock', () => {
      const sum = new FleetTraffic();
      expect(
        sum.import(
          'meshd-a',
          [
            { ...good, note: 'x' },
            { ...good, second: S0 + 70 },
          ],
          NOW,
        ),
      ).toEqual({
        imported: 2,
        skipped: 0,
        refused: [],
      });
    });
  });
});
