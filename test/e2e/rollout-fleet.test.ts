// Rollouts in a fleet (issue 25): two replicas in this process, each with its own link to one real PostgreSQL
// database (openPostgresStore: pool, change log, leader lease with a short TTL), its own RolloutController on the
// rollouts' table (store/postgres/rollouts.ts), and its own served mesh. Only the leader acts; when it stops, the
// other takes over from the stored state.
//
// The route's weights live in the store too (table route_weights, one row), written under the leader's fence as the
// fleet's mesh store writes them, and followed by both replicas, each of which serves its mesh file with the weights
// the store holds (loadMesh, then the controller's meshLoaded): every route edit is recorded, by replica. The
// canary's traffic is a fake TelemetryReader (its success is what the test says), and the webhooks are recorded
// in-process (the HTTP calls themselves are covered by test/unit/rollout-controller.test.ts). Time is a hand-driven
// clock shared by both replicas; the lease runs on real time.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadMesh } from '../../src/load/mesh-source';
import type { Webhook } from '../../src/model/rollout';
import type { Clock } from '../../src/rollout/clock';
import { RolloutController } from '../../src/rollout/controller';
import { checkRolloutRecord, type RolloutRecord } from '../../src/rollout/records';
import type { EditResult, WeightEdit } from '../../src/rollout/route-file';
import type { WebhookAnswer, WebhookPayload } from '../../src/rollout/webhooks';
import {
  FencedError,
  openPostgresStore,
  type Fence,
  type Follower,
  type KeyedRow,
  type KeyedTable,
  type PostgresStore,
  type TableChange,
  type WriteStep,
} from '../../src/store/postgres';
import { currentLeader, PostgresRolloutState } from '../../src/store/postgres/rollouts';
import type { TelemetryReader, TrafficSummary } from '../../src/telemetry';
import { createLogger } from '../../src/util/log';
import { describeWithPostgres, type PostgresCluster } from '../helpers/postgres';
import { tmpDir, waitFor } from '../helpers/processes';

// The default TTL: a replica starved of CPU on a busy machine must not lose the lease by accident mid-test (each
// take-over here is of a lease given up or cut short, so none waits it out).
const LEASE_TTL_MS = 5000;
const WAIT_MS = 30_000;
const ROUTE_KEY = 'apps/web/split';

// ---- the mesh ----

const node = (name: string) =>
  `kind: VirtualNode\nmesh: apps\nname: ${name}\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: ${name}.local } }\n`;

function meshText(primary: number, canary: number, rollout: string): string {
  return [
    'kind: Mesh\nname: apps\n',
    node('web-v1'),
    node('web-v2'),
    'kind: VirtualRouter\nmesh: apps\nname: web\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n',
    'kind: VirtualService\nmesh: apps\nname: web.apps.local\nspec: { provider: { virtualRouter: { virtualRouterName: web } } }\n',
    `kind: Route\nmesh: apps\nvirtualRouter: web\nname: split\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action:\n      weightedTargets:\n        - { virtualNode: web-v1, weight: ${primary} }\n        - { virtualNode: web-v2, weight: ${canary} }\n`,
    rollout,
  ].join('---\n');
}

/** A Rollout of Route/web/split from web-v1 to web-v2: 1s checks, 10% steps up to 30%, then promotion. */
function rolloutDoc(hookTypes: readonly Webhook['type'][]): string {
  const webhooks = hookTypes.map((type) => ({ name: type, type, url: `http://127.0.0.1:9/${type}` }));
  const analysis = { interval: '1s', stepWeight: 10, maxWeight: 30, threshold: 2, webhooks };
  return `kind: Rollout\nmesh: apps\nname: canary\nspec:\n  route: { virtualRouter: web, name: split }\n  primary: web-v1\n  canary: web-v2\n  analysis: ${JSON.stringify(analysis)}\n`;
}

const ALL_HOOKS: Webhook['type'][] = [
  'pre-rollout',
  'rollout',
  'confirm-traffic-increase',
  'confirm-promotion',
  'post-rollout',
];

/** The weights an undisturbed rollout writes, in order (from 100/0). */
const UNDISTURBED = ['90/10', '80/20', '70/30', '0/100'];

// ---- shared parts: time, the canary's traffic, the webhooks, the route edits ----

/** Time that moves only when the test says; both replicas' timers are set on it. */
class ManualClock implements Clock {
  private at = Date.parse('2026-06-01T12:00:00.000Z');
  private nextId = 1;
  readonly timers = new Map<number, { due: number; callback: () => void }>();
  now(): number {
    return this.at;
  }
  setTimeout(callback: () => void, ms: number): number {
    const id = this.nextId++;
    this.timers.set(id, { due: this.at + Math.max(0, ms), callback });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Moves to the earliest timer and fires it; false when none is set. */
  next(): boolean {
    let first: [number, { due: number; callback: () => void }] | undefined;
    for (const t of this.timers) if (!first || t[1].due < first[1].due) first = t;
    if (!first) return false;
    this.timers.delete(first[0]);
    this.at = Math.max(this.at, first[1].due);
    first[1].callback();
    return true;
  }
}

const healthyCanary: TelemetryReader = {
  summary: (_mesh: string, _node: string, windowMs: number): TrafficSummary => ({
    requests: 200,
    errors: 0,
    successRate: 100,
    p50Ms: 5,
    p99Ms: 20,
    windowMs,
    ratePerSecond: 200 / (windowMs / 1000),
  }),
};

interface HookCall {
  readonly replica: string;
  readonly type: string;
  /** The canary's weight the calling replica served when it called. */
  readonly canary: number;
}

/** Every webhook call, by replica; a call can be held (unanswered) until the test releases it. */
class Hooks {
  readonly calls: HookCall[] = [];
  /** Calls cancelled by the caller while held ("replica type"). */
  readonly cancelled: string[] = [];
  private readonly held: { replica: string; type: string; answer: (a: WebhookAnswer) => void }[] = [];
  private readonly holding = new Set<string>();

  hold(replica: string, type: string): void {
    this.holding.add(`${replica} ${type}`);
  }

  isHeld(replica: string, type: string): boolean {
    return this.held.some((h) => h.replica === replica && h.type === type);
  }

  release(replica: string, type: string): void {
    this.holding.delete(`${replica} ${type}`);
    for (const h of this.held.filter((x) => x.replica === replica && x.type === type)) {
      this.held.splice(this.held.indexOf(h), 1);
      h.answer({ ok: true });
    }
  }

  call(replica: string, canary: number, payload: WebhookPayload, signal?: AbortSignal): Promise<WebhookAnswer> {
    this.calls.push({ replica, type: payload.type, canary });
    if (!this.holding.has(`${replica} ${payload.type}`)) return Promise.resolve({ ok: true });
    return new Promise((resolve) => {
      const entry = { replica, type: payload.type, answer: resolve };
      this.held.push(entry);
      signal?.addEventListener('abort', () => {
        const at = this.held.indexOf(entry);
        if (at === -1) return;
        this.held.splice(at, 1);
        this.cancelled.push(`${replica} ${payload.type}`);
        resolve({ ok: false, reason: 'cancelled' });
      });
    });
  }

  /** How many calls of each type at each canary weight, e.g. "rollout@20": 1. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.calls) out[`${c.type}@${c.canary}`] = (out[`${c.type}@${c.canary}`] ?? 0) + 1;
    return out;
  }
}

/** Each route edit a controller asked for, and how it ended. */
interface RouteEdit {
  readonly replica: string;
  readonly split: string;
  readonly outcome: 'written' | 'refused' | 'conflict';
}

// ---- a replica ----

/** The route's weights as one replica follows them in the store (table route_weights). */
class FollowedRoute implements Follower {
  readonly tables: readonly KeyedTable[] = ['route_weights'];
  weights = { primary: 100, canary: 0 };
  constructor(private readonly onChange: () => void) {}
  reset(rows: ReadonlyMap<KeyedTable, readonly KeyedRow[]>): void {
    const row = rows.get('route_weights')?.find((r) => r.key === ROUTE_KEY);
    this.weights = row ? (row.row as typeof this.weights) : { primary: 100, canary: 0 };
    this.onChange();
  }
  apply(change: TableChange): void {
    const row = change.put?.route_weights?.find((r) => r.key === ROUTE_KEY);
    if (!row) return;
    this.weights = row.row as typeof this.weights;
    this.onChange();
  }
}

interface Replica {
  readonly id: string;
  readonly store: PostgresStore;
  readonly controller: RolloutController;
  readonly route: FollowedRoute;
  readonly log: string[];
  /**
   * Set to make this replica a leader that was paused past its lease and has not noticed: it goes on
   * writing with this fence and hears nothing of its lease (a stopped process, a clock jump).
   */
  frozenFence: Fence | undefined;
  /** Set to make this replica stop for good right after it wrote these weights (e.g. '70/30'), before anything else. */
  stopAfterWriting: string | undefined;
  closed: boolean;
}

interface Fleet {
  readonly cluster: PostgresCluster;
  readonly url: string;
  readonly clock: ManualClock;
  readonly hooks: Hooks;
  readonly edits: RouteEdit[];
  readonly replicas: Replica[];
  readonly rollout: string;
}

let databases = 0;

async function fleet(cluster: PostgresCluster, hookTypes: readonly Webhook['type'][]): Promise<Fleet> {
  const url = await cluster.createDatabase(`rollout_fleet_${process.pid}_${++databases}`);
  return {
    cluster,
    url,
    clock: new ManualClock(),
    hooks: new Hooks(),
    edits: [],
    replicas: [],
    rollout: rolloutDoc(hookTypes),
  };
}

async function replica(f: Fleet, id: string): Promise<Replica> {
  const file = path.join(tmpDir('rollout-fleet-'), 'mesh.yaml');
  const log: string[] = [];
  let self: Replica | undefined;
  const store = await openPostgresStore({
    url: f.url,
    replicaId: id,
    leaseTtlMs: LEASE_TTL_MS,
    changeLog: { pollMs: 100 },
    replicaInfo: () => ({
      xdsAddress: '',
      adminAddress: `admin-of-${id}:18001`,
      meshHash: '',
      proxies: [],
      version: 'test',
    }),
    onLeadership: (leading, _term, reason) => {
      if (self && !self.frozenFence) self.controller.leadershipChanged(leading, reason);
    },
  });
  const fence = () => self?.frozenFence ?? store.lease.fence;
  const state = new PostgresRolloutState<RolloutRecord>(
    store.log,
    {
      get fence() {
        return fence();
      },
    },
    { check: checkRolloutRecord, onBadRow: (key, why) => log.push(`bad row ${key}: ${why}`) },
  );
  store.log.follow(state);
  // The mesh this replica serves: its file, with the weights the store holds.
  const serve = () => {
    if (!self || self.closed) return;
    const { primary, canary } = self.route.weights;
    fs.writeFileSync(file, meshText(primary, canary, f.rollout));
    const loaded = loadMesh([file]);
    if (!loaded.ok)
      throw new Error(`the test's mesh does not load: ${loaded.problems.map((p) => p.message).join('; ')}`);
    void self.controller.meshLoaded({ model: loaded.model, whereWritten: loaded.whereWritten }, loaded.rollouts);
  };
  const route = new FollowedRoute(serve);
  store.log.follow(route);
  /** The fleet's weight write: compare-and-set on the stored weights, under this replica's fence. */
  const editRoute = async (edits: readonly WeightEdit[]): Promise<EditResult> => {
    const [primary, canary] = edits as [WeightEdit, WeightEdit];
    const split = `${primary.value}/${canary.value}`;
    const held = fence();
    if (!held) {
      f.edits.push({ replica: id, split, outcome: 'refused' });
      throw new FencedError('this replica does not lead');
    }
    try {
      const step: WriteStep<EditResult> = () => {
        const before = route.weights;
        if (before.primary !== primary.expected || before.canary !== canary.expected)
          return {
            result: { ok: false, conflict: true, error: `the route holds ${before.primary}/${before.canary}` },
            change: {},
            revert: () => undefined,
          };
        route.weights = { primary: primary.value, canary: canary.value };
        return {
          result: { ok: true },
          change: { put: { route_weights: [{ key: ROUTE_KEY, row: route.weights }] } },
          revert: () => (route.weights = before),
        };
      };
      const result = await store.log.write(step, held);
      f.edits.push({ replica: id, split, outcome: result.ok ? 'written' : 'conflict' });
      if (result.ok) serve();
      if (result.ok && self?.stopAfterWriting === split) {
        // Stopped between the weights and the step's completion: it never carries on (quiet() no longer waits for it).
        self.frozenFence = held;
        return new Promise<EditResult>(() => undefined);
      }
      return result;
    } catch (err) {
      f.edits.push({ replica: id, split, outcome: 'refused' });
      throw err;
    }
  };
  const controller = new RolloutController({
    telemetry: healthyCanary,
    store: state,
    fleet: {
      replicaId: id,
      isLeader: () => (self?.frozenFence ? true : store.lease.leading),
      leader: () => currentLeader(store.lease, store.pool),
    },
    log: createLogger({ write: (line) => void log.push(line) }),
    clock: f.clock,
    callWebhook: (_hook, payload, signal) => f.hooks.call(id, route.weights.canary, payload, signal),
    editRoute,
  });
  self = { id, store, controller, route, log, frozenFence: undefined, stopAfterWriting: undefined, closed: false };
  f.replicas.push(self);
  await store.start();
  return self;
}

async function closeReplica(r: Replica): Promise<void> {
  if (r.closed) return;
  r.closed = true;
  r.controller.close();
  await r.store.close();
}

const fleets: Fleet[] = [];

afterEach(async () => {
  for (const f of fleets.splice(0)) for (const r of f.replicas) await closeReplica(r);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The controllers have nothing left to do but wait for the clock (a paused replica is not waited for). */
async function quiet(f: Fleet): Promise<boolean> {
  let done = false;
  const live = f.replicas.filter((r) => !r.closed && !r.frozenFence);
  await Promise.race([Promise.all(live.map((r) => r.controller.settled())).then(() => (done = true)), sleep(5)]);
  return done;
}

/** Waits for `check`, moving the clock to the next timer whenever the fleet is quiet. */
async function until<T>(f: Fleet, what: string, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    if (!((await quiet(f)) && f.clock.next())) await sleep(5);
  }
}

const rolloutOn = (r: Replica) => r.controller.get('apps', 'canary');
const written = (f: Fleet) => f.edits.filter((e) => e.outcome === 'written');
const leads = (r: Replica) => waitFor(`${r.id} to lead`, () => (r.controller.acting ? true : undefined), WAIT_MS);

/** The fleet's first replica, leading, then the second; the rollout started by the leader. */
async function twoReplicas(cluster: PostgresCluster, hookTypes = ALL_HOOKS): Promise<[Fleet, Replica, Replica]> {
  const f = await fleet(cluster, hookTypes);
  fleets.push(f);
  const a = await replica(f, 'replica-a');
  await leads(a);
  const b = await replica(f, 'replica-b');
  return [f, a, b];
}

describeWithPostgres('rollouts in a fleet of two replicas on one PostgreSQL', (pg) => {
  it('only the leader steps and calls webhooks; the other shows the stored state and sends commands to the leader', async () => {
    const [f, a, b] = await twoReplicas(pg());
    await until(f, 'the rollout to succeed', () => (rolloutOn(a)?.phase === 'Succeeded' ? true : undefined));
    await a.controller.settled();

    expect(f.edits).toEqual(UNDISTURBED.map((split) => ({ replica: 'replica-a', split, outcome: 'written' })));
    expect(f.hooks.calls.every((c) => c.replica === 'replica-a')).toBe(true);
    // Each check's hooks once, the step's weights once: the run every failover test compares with.
    expect(f.hooks.counts()).toEqual({
      'pre-rollout@0': 1,
      'rollout@10': 1,
      'confirm-traffic-increase@10': 1,
      'rollout@20': 1,
      'confirm-traffic-increase@20': 1,
      'rollout@30': 1,
      'confirm-promotion@30': 1,
      'post-rollout@100': 1,
    });
    expect(b.controller.acting).toBe(false);
    expect(b.log.join('')).not.toMatch(/leads now/);
    // The follower shows what the leader stored (its events included), and serves the weights the leader wrote.
    const shown = await waitFor('replica-b to show the end', () =>
      rolloutOn(b)?.phase === 'Succeeded' && rolloutOn(b)?.postRolloutDue === undefined ? rolloutOn(b) : undefined,
    );
    expect(shown).toMatchObject({ canaryWeight: 100, expected: { primary: 0, canary: 100 }, source: 'file' });
    expect(shown.events.map((e) => e.message)).toEqual(rolloutOn(a)!.events.map((e) => e.message));
    expect(b.route.weights).toEqual({ primary: 0, canary: 100 });
    // A command sent to the follower is refused with the leader's address, and changes nothing.
    const answer = await b.controller.command('apps', 'canary', 'abort');
    expect(answer).toEqual({
      ok: false,
      status: 503,
      error:
        'this replica (replica-b) does not lead the fleet, and only the leader changes rollouts: send it to the leader, replica replica-a (admin API admin-of-replica-a:18001)',
    });
    expect(rolloutOn(b)?.phase).toBe('Succeeded');
  });

  it('the leader stops between two steps: the other takes over and finishes with the same weights and webhook calls', async () => {
    const [f, a, b] = await twoReplicas(pg());
    await until(f, 'the second step', () => (written(f).length === 2 ? true : undefined));
    // Stored (the follower shows it), and the clock held still: replica-a stops before the next check.
    await a.controller.settled();
    await waitFor('the second step to be stored', () => (rolloutOn(b)?.expected.canary === 20 ? true : undefined));
    await closeReplica(a);

    await leads(b);
    await until(f, 'the rollout to succeed on replica-b', () =>
      rolloutOn(b)?.phase === 'Succeeded' ? true : undefined,
    );
    await b.controller.settled();

    expect(f.edits.map((e) => `${e.replica} ${e.split} ${e.outcome}`)).toEqual([
      'replica-a 90/10 written',
      'replica-a 80/20 written',
      'replica-b 70/30 written',
      'replica-b 0/100 written',
    ]);
    // The same webhook calls as the undisturbed run: a check whose outcome was stored is never made again.
    expect(f.hooks.counts()).toEqual({
      'pre-rollout@0': 1,
      'rollout@10': 1,
      'confirm-traffic-increase@10': 1,
      'rollout@20': 1,
      'confirm-traffic-increase@20': 1,
      'rollout@30': 1,
      'confirm-promotion@30': 1,
      'post-rollout@100': 1,
    });
    expect(f.hooks.calls.filter((c) => c.replica === 'replica-a').map((c) => `${c.type}@${c.canary}`)).toEqual([
      'pre-rollout@0',
      'rollout@10',
      'confirm-traffic-increase@10',
    ]);
    expect(rolloutOn(b)!.events.map((e) => e.message)).toContainEqual(
      expect.stringMatching(/^replica replica-b leads now: carrying on at canary weight 20%, next check in 1s$/),
    );
  });

  it('a leader paused past its lease: its late step write is refused, it stops, and the new leader makes that step once', async () => {
    // No confirm-* hooks: after the held `rollout` hook answers, the paused leader's next effect is the step's write.
    const [f, a, b] = await twoReplicas(pg(), ['pre-rollout', 'rollout', 'post-rollout']);
    await until(f, 'the second step', () => (written(f).length === 2 ? true : undefined));
    // The check at 20%: replica-a's `rollout` hook goes unanswered, as if replica-a had stopped there.
    f.hooks.hold('replica-a', 'rollout');
    f.hooks.hold('replica-b', 'rollout');
    await until(f, "replica-a's check at 20%", () => (f.hooks.isHeld('replica-a', 'rollout') ? true : undefined));
    // Paused past its lease: replica-a keeps its fence and hears nothing, and its lease is no longer renewed.
    a.frozenFence = a.store.lease.fence;
    expect(a.frozenFence).toBeDefined();
    await a.store.lease.close();
    await leads(b);
    // replica-b makes the check that was due (its `rollout` hook is called a second time: at least once)...
    await until(f, "replica-b's check at 20%", () => (f.hooks.isHeld('replica-b', 'rollout') ? true : undefined));
    // ... while replica-a wakes up, passes its check and tries to write its step: refused by the store.
    f.hooks.release('replica-a', 'rollout');
    await waitFor('replica-a to stop acting', () => (a.controller.acting ? undefined : true), WAIT_MS);
    await a.controller.settled();
    expect(a.log.join('')).toMatch(
      /replica replica-a no longer leads \(a state write was refused: this replica no longer leads \(term \d+\); the write was not made\)/,
    );
    expect(f.edits.filter((e) => e.replica === 'replica-a').map((e) => e.split)).toEqual(['90/10', '80/20']);

    f.hooks.release('replica-b', 'rollout');
    await until(f, 'the rollout to succeed on replica-b', () =>
      rolloutOn(b)?.phase === 'Succeeded' ? true : undefined,
    );
    await b.controller.settled();
    expect(f.edits.map((e) => `${e.replica} ${e.split} ${e.outcome}`)).toEqual([
      'replica-a 90/10 written',
      'replica-a 80/20 written',
      'replica-b 70/30 written',
      'replica-b 0/100 written',
    ]);
    expect(f.hooks.counts()).toEqual({
      'pre-rollout@0': 1,
      'rollout@10': 1,
      'rollout@20': 2,
      'rollout@30': 1,
      'post-rollout@100': 1,
    });
    expect(f.hooks.calls.filter((c) => c.replica === 'replica-a').length).toBe(3);
  });

  it('a leader whose lease is taken stops at once: its webhook call in flight is cancelled, and the rollout finishes', async () => {
    const [f, a, b] = await twoReplicas(pg());
    await until(f, 'the second step', () => (written(f).length === 2 ? true : undefined));
    f.hooks.hold('replica-a', 'rollout');
    await until(f, "replica-a's check at 20%", () => (f.hooks.isHeld('replica-a', 'rollout') ? true : undefined));
    // The lease changes hands in the store (to a holder that then lets it expire): replica-a finds out at its renewal.
    await f.cluster.query(
      "UPDATE meshd_leader SET holder = 'someone-else', term = term + 1, expires_at = now() + interval '1 second'",
      [],
      f.url.split('/').pop(),
    );
    await waitFor('replica-a to stop acting', () => (a.controller.acting ? undefined : true), WAIT_MS);
    expect(a.log.join('')).toMatch(/replica replica-a no longer leads \(another replica holds the lease\)/);
    expect(f.hooks.cancelled).toEqual(['replica-a rollout']);
    f.hooks.release('replica-a', 'rollout');
    // Whichever replica takes the lease next finishes the rollout.
    await until(f, 'the rollout to succeed', () =>
      [a, b].some((r) => r.controller.acting && rolloutOn(r)?.phase === 'Succeeded') ? true : undefined,
    );
    await Promise.all([a.controller.settled(), b.controller.settled()]);
    expect(f.edits.map((e) => `${e.split} ${e.outcome}`)).toEqual(UNDISTURBED.map((split) => `${split} written`));
    expect(f.hooks.counts()).toEqual({
      'pre-rollout@0': 1,
      'rollout@10': 1,
      'confirm-traffic-increase@10': 1,
      'rollout@20': 2,
      'confirm-traffic-increase@20': 1,
      'rollout@30': 1,
      'confirm-promotion@30': 1,
      'post-rollout@100': 1,
    });
  });

  it('a leader deposed while its post-rollout hook is in flight: the call is cancelled, the next leader calls it', async () => {
    const [f, a, b] = await twoReplicas(pg());
    f.hooks.hold('replica-a', 'post-rollout');
    await until(f, "replica-a's post-rollout call", () =>
      f.hooks.isHeld('replica-a', 'post-rollout') ? true : undefined,
    );
    // The end is stored with its post-rollout hooks due.
    await waitFor('the end to be stored', () =>
      rolloutOn(b)?.phase === 'Succeeded' && rolloutOn(b)?.postRolloutDue ? true : undefined,
    );
    await f.cluster.query(
      "UPDATE meshd_leader SET holder = 'someone-else', term = term + 1, expires_at = now() + interval '1 second'",
      [],
      f.url.split('/').pop(),
    );
    await waitFor('the call to be cancelled', () => (f.hooks.cancelled.length > 0 ? true : undefined), WAIT_MS);
    expect(f.hooks.cancelled).toEqual(['replica-a post-rollout']);
    f.hooks.release('replica-a', 'post-rollout');
    // Whichever replica leads next calls the hooks that are still due, and stores that they were.
    const shown = await waitFor(
      'the post-rollout hooks to be called again and stored',
      () =>
        [a, b].some((r) => r.controller.acting) && rolloutOn(b)?.postRolloutDue === undefined
          ? rolloutOn(b)
          : undefined,
      WAIT_MS,
    );
    expect(shown?.phase).toBe('Succeeded');
    expect(f.edits.map((e) => `${e.split} ${e.outcome}`)).toEqual(UNDISTURBED.map((split) => `${split} written`));
    expect(f.hooks.counts()['post-rollout@100']).toBe(2);
  });

  it('a leader paused past its lease calls no more webhooks: the store does not confirm its lease', async () => {
    const [f, a, b] = await twoReplicas(pg());
    await until(f, 'the second step', () => (written(f).length === 2 ? true : undefined));
    f.hooks.hold('replica-a', 'rollout');
    f.hooks.hold('replica-b', 'rollout');
    await until(f, "replica-a's check at 20%", () => (f.hooks.isHeld('replica-a', 'rollout') ? true : undefined));
    a.frozenFence = a.store.lease.fence;
    await a.store.lease.close();
    await leads(b);
    await until(f, "replica-b's check at 20%", () => (f.hooks.isHeld('replica-b', 'rollout') ? true : undefined));
    // replica-a wakes up and passes its check; its next webhook (confirm-traffic-increase) is not called.
    f.hooks.release('replica-a', 'rollout');
    await waitFor('replica-a to stop acting', () => (a.controller.acting ? undefined : true), WAIT_MS);
    await a.controller.settled();
    expect(a.log.join('')).toMatch(
      /replica replica-a no longer leads \(the store says another replica leads: this replica no longer leads \(term \d+\); the write was not made\)/,
    );
    expect(f.hooks.calls.filter((c) => c.replica === 'replica-a').map((c) => `${c.type}@${c.canary}`)).toEqual([
      'pre-rollout@0',
      'rollout@10',
      'confirm-traffic-increase@10',
      'rollout@20',
    ]);

    f.hooks.release('replica-b', 'rollout');
    await until(f, 'the rollout to succeed on replica-b', () =>
      rolloutOn(b)?.phase === 'Succeeded' ? true : undefined,
    );
    await b.controller.settled();
    expect(f.edits.map((e) => `${e.replica} ${e.split} ${e.outcome}`)).toEqual([
      'replica-a 90/10 written',
      'replica-a 80/20 written',
      'replica-b 70/30 written',
      'replica-b 0/100 written',
    ]);
    // The check at 20% was cut short by the change of leader: its `rollout` hook is the one called twice.
    expect(f.hooks.counts()).toEqual({
      'pre-rollout@0': 1,
      'rollout@10': 1,
      'confirm-traffic-increase@10': 1,
      'rollout@20': 2,
      'confirm-traffic-increase@20': 1,
      'rollout@30': 1,
      'confirm-promotion@30': 1,
      'post-rollout@100': 1,
    });
  });

  it("the leader stops after writing a step's weights, before storing it: the new leader takes that step as done", async () => {
    const [f, a, b] = await twoReplicas(pg());
    a.stopAfterWriting = '70/30';
    await until(f, 'the third step', () => (written(f).length === 3 ? true : undefined));
    await a.store.lease.close();
    await leads(b);
    await until(f, 'the rollout to succeed on replica-b', () =>
      rolloutOn(b)?.phase === 'Succeeded' ? true : undefined,
    );
    await b.controller.settled();

    expect(f.edits.map((e) => `${e.replica} ${e.split} ${e.outcome}`)).toEqual([
      'replica-a 90/10 written',
      'replica-a 80/20 written',
      'replica-a 70/30 written',
      'replica-b 0/100 written',
    ]);
    // The check at 30% is made once, by replica-b, after a whole interval at 30%: no step repeated, none skipped.
    expect(f.hooks.counts()).toEqual({
      'pre-rollout@0': 1,
      'rollout@10': 1,
      'confirm-traffic-increase@10': 1,
      'rollout@20': 1,
      'confirm-traffic-increase@20': 1,
      'rollout@30': 1,
      'confirm-promotion@30': 1,
      'post-rollout@100': 1,
    });
    expect(f.hooks.calls.filter((c) => c.replica === 'replica-b').map((c) => `${c.type}@${c.canary}`)).toEqual([
      'rollout@30',
      'confirm-promotion@30',
      'post-rollout@100',
    ]);
    const events = rolloutOn(b)!.events.map((e) => e.message);
    expect(events).toContain(
      'the previous leader stopped while writing web-v1 70 and web-v2 30 to the route; the route holds them, so that write is taken as done',
    );
    expect(events).toContain('replica replica-b leads now: carrying on at canary weight 30%, next check in 1s');
  });

  it('rows of the rollouts table that are not rollouts are neither shown nor acted on, and never deleted', async () => {
    const f = await fleet(pg(), ALL_HOOKS);
    fleets.push(f);
    const database = f.url.split('/').pop();
    // The schema first (a store that only migrates), then rows no meshd wrote.
    const migrated = await openPostgresStore({
      url: f.url,
      replicaId: 'migrate-only',
      replicaInfo: () => ({ xdsAddress: '', adminAddress: '', meshHash: '', proxies: [], version: 'test' }),
    });
    await migrated.close();
    await f.cluster.query(
      `INSERT INTO meshd_rollouts (key, row, seq) VALUES
         ('apps/junk', '{"mesh": "apps", "name": "junk", "phase": "Progressing"}', 0),
         ('apps/other', '{"mesh": "apps", "name": "elsewhere"}', 0),
         ('apps/list', '[1, 2]', 0)`,
      [],
      database,
    );
    const a = await replica(f, 'replica-a');
    await leads(a);
    await until(f, 'the rollout to succeed', () => (rolloutOn(a)?.phase === 'Succeeded' ? true : undefined));
    await a.controller.settled();

    expect(a.controller.list().map((r) => r.name)).toEqual(['canary']);
    expect(a.log).toEqual(
      expect.arrayContaining([
        'bad row apps/junk: source must be file or api',
        'bad row apps/other: the row is of apps/elsewhere, not of its key',
        'bad row apps/list: the row is not a JSON object',
      ]),
    );
    const rows = await f.cluster.query<{ key: string }>('SELECT key FROM meshd_rollouts ORDER BY key', [], database);
    expect(rows.map((r) => r.key)).toEqual(['apps/canary', 'apps/junk', 'apps/list', 'apps/other']);
  });
});
