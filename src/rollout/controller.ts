// The rollout controller: Flagger's canary analysis, driven by meshd's own telemetry and acted
// out on the user's mesh file. Each step rewrites the route's two weights in place
// (route-file.ts); the file watcher reloads the mesh and the proxies get the new split, so the
// YAML stays the one truth. Every interval the canary is checked (analysis.ts): a pass moves
// it up by stepWeight until maxWeight, then promotes it (all traffic to the canary); `threshold`
// failed checks roll it back (all traffic to the primary). A route whose weights change under
// the rollout's feet (an edit by hand) pauses it. The state is saved after every change and
// picked up again by the next meshd.
//
// Persistence order: the intent is saved before anything is acted out. A start, a command or a
// step that would change the route saves the rollout (with the weights it is about to write,
// `writing`) first; when that save fails, nothing is changed: the API answers 503 and an
// automatic step pauses the rollout. Only a rollback (all traffic back to the primary) goes
// ahead unsaved, as the safe direction. Since the weights being written are on disk before the
// route file is renamed into place, a meshd killed at that instant finds, on restart, either the
// old weights or the ones it was writing, and takes neither for an edit by hand.
//
// In a fleet (`--store postgres://…`, docs/rollouts.md "Rollouts in a fleet") the state lives in the
// store and only the leader acts: it makes the steps, calls the webhooks and sets the timers; the
// other replicas show the stored state and answer commands with 503 and the leader's address. A
// step's effects keep one order, each a write of its own: the intent (`writing`, with the weights
// about to be written), the weights, then the completion (the new `expected`, the next step's
// time). The leader's writes are fenced by its lease term: once another replica has taken over,
// each is refused, and the deposed leader stops at once. The new leader loads the stored state
// and carries on from it: an intent whose weights the route holds is taken as done, one whose
// weights it does not hold is the step still due, made once.
import type { Logger } from '../util/log';
import type { WrittenAt } from '../model/common';
import type { DeclaredRollout } from '../load/rollout-doc';
import type { FieldPath } from '../model/common';
import type { MeshModel, Resource } from '../model/mesh-model';
import { routeKindOf } from '../model/route';
import type { TelemetryReader } from '../telemetry';
import { canonicalJson } from '../util/canonical-json';
import { formatDuration } from '../util/duration';
import { checkCanaryAll, hasQueryMetrics } from './analysis';
import type { PrometheusClient } from './prometheus';
import { systemClock, type Clock, type TimerHandle } from './clock';
import { editWeights, type EditResult, type IdentityCheck, type WeightEdit } from './route-file';
import { FINISHED, rolloutKey, type Phase, type RolloutRecord, type Split } from './records';
import { queryNameProblem, routeSplit, type RolloutSettings, type Webhook, type WebhookType } from '../model/rollout';
import { WebhookCaller, type WebhookAnswer, type WebhookPayload } from './webhooks';

const MAX_EVENTS = 100;
/**
 * How soon a step looks again when the route it just wrote is not served yet (the watcher's reload takes milliseconds).
 */
const PENDING_WRITE_RECHECK_MS = 200;

/** A step cut short by a command (pause, abort, promote, resume) while it waited for a webhook. */
class Interrupted extends Error {}
/** Work stopped because this replica does not lead (any more): nothing more is written or called. */
class NotLeading extends Error {}

/**
 * Where the rollouts' state is kept. The state file (records.ts) answers at once; a shared store
 * (store/postgres/rollouts.ts) answers asynchronously and tells of changes made by other replicas.
 */
export interface RolloutPersistence {
  /** The rollouts as stored (in a fleet: once the store's changes so far are applied). */
  load(): readonly RolloutRecord[] | Promise<readonly RolloutRecord[]>;
  /** Stores every rollout (those left out are removed); throws, or rejects, with the reason it could not. */
  save(records: readonly RolloutRecord[]): void | Promise<void>;
  /** In a fleet: the rollouts as this replica knows them now (copies), shown while it does not lead. */
  current?(): readonly RolloutRecord[];
  /** In a fleet: called after another replica's change to the rollouts is applied here. */
  onChange?(listener: () => void): void;
  /** In a fleet: whether `err` (from save, or a route edit) says this replica no longer leads. */
  isDeposed?(err: unknown): boolean;
  /** In a fleet: resolves once the store has confirmed that this replica leads now (before a webhook call). */
  confirmLeading?(): Promise<void>;
}

/** A fleet of replicas sharing the rollouts' state: only the leader acts. */
export interface RolloutFleet {
  /** This replica's id, in messages. */
  readonly replicaId: string;
  /** Whether this replica holds the lease now. */
  isLeader(): boolean;
  /** The leader as the store knows it, named in the answer to a command sent to another replica. */
  leader?(): Promise<{ readonly id: string; readonly adminAddress?: string } | undefined>;
  /**
   * Resolves once the mesh served here includes every change the store had when it was called, so
   * that a new leader judges the route by the weights its predecessor wrote (not an older mesh).
   */
  caughtUp?(): Promise<void>;
}

/** Rewrites a route's weights (in its file, or in the store); may answer asynchronously. */
export type EditRoute = (
  edits: readonly WeightEdit[],
  identity: readonly IdentityCheck[],
) => EditResult | Promise<EditResult>;

/** What the controller reads from the rest of meshd. */
export interface RolloutDeps {
  readonly telemetry: TelemetryReader;
  /** The state file (records.ts RolloutStore), or a fleet's store. */
  readonly store: RolloutPersistence;
  /** Set in a fleet: the controller acts only while this replica leads (see leadershipChanged). */
  readonly fleet?: RolloutFleet;
  readonly log: Logger;
  /** The clock and timers the steps run on; the system's when left out (tests drive their own). */
  readonly clock?: Clock;
  /** Calls the webhooks under meshd's policy (--webhook-allow, ...); a default policy when left out. */
  readonly webhooks?: WebhookCaller;
  /** Replaces the webhook calls altogether (tests). */
  readonly callWebhook?: WebhookCaller['call'];
  /** Rewrites the route's weights in its file (tests replace it to stop meshd at the rename). */
  readonly editRoute?: EditRoute;
  /** --prometheus-url: asked for the metrics that carry a query; without it such a rollout is refused. */
  readonly prometheus?: PrometheusClient;
}

/** The mesh being served, and where each of its fields is written. */
export interface ServedMesh {
  readonly model: MeshModel;
  whereWritten(resource: Resource, path: FieldPath): WrittenAt | undefined;
}

export type CommandResult =
  | { readonly ok: true; readonly rollout: RolloutRecord }
  | { readonly ok: false; readonly status: 400 | 404 | 409 | 503; readonly error: string };

/** How a route write ended: `unsaved` when the intent could not be saved first, so nothing was written. */
type WriteResult = { readonly ok: true } | { readonly ok: false; readonly unsaved: boolean; readonly why: string };

/** The refusal of a call whose intent could not be saved: nothing was changed. */
const unsavedError = (what: string, why: string) => `cannot save the rollout state (${why}); ${what}`;

export const COMMANDS = ['pause', 'resume', 'abort', 'promote'] as const;
export type Command = (typeof COMMANDS)[number];

const sameSplit = (a: Split, b: Split) => a.primary === b.primary && a.canary === b.canary;
// Canonical: a record loaded from a shared store keeps its settings' keys in another order.
const settingsKey = (s: RolloutSettings) => canonicalJson(s);

export class RolloutController {
  private readonly records = new Map<string, RolloutRecord>();
  private readonly timers = new Map<string, TimerHandle>();
  /** Each rollout's work runs one piece at a time: steps, commands and reloads never interleave mid-write. */
  private readonly queues = new Map<string, Promise<unknown>>();
  private served: ServedMesh | undefined;
  /** Counts the meshes served, so that a weight written after the current mesh was read is not taken for an edit. */
  private generation = 0;
  /** Each rollout's last write of its route (this process only): in which generation, and when. */
  private readonly ownWrites = new Map<string, { generation: number; at: number }>();
  /** Aborts the webhook a rollout's step is waiting for, so that a command does not wait behind it. */
  private readonly stepAborts = new Map<string, AbortController>();
  /**
   * In a fleet: aborted when this replica stops leading, which
   * cancels every webhook call of its term (post-rollout's too).
   */
  private leadership = new AbortController();
  /**
   * Rollouts loaded from the store and not yet taken up by a served mesh: after a restart
   * (`restart`), or when this replica has just become the fleet's leader (`takeover`).
   */
  private restored: 'restart' | 'takeover' | undefined;
  private closed = false;
  /**
   * In a fleet: `following` shows the stored state and does nothing; `taking-over` waits for the
   * work of an earlier term to end and loads the state; `leading` acts. Alone, always `leading`.
   */
  private role: 'following' | 'taking-over' | 'leading';
  /** Rises at every change of role, so that a take-over overtaken by another change gives up. */
  private term = 0;
  /** The rollouts the mesh files declared in the last mesh served (a new leader starts from them). */
  private declared: readonly DeclaredRollout[] = [];
  private readonly clock: Clock;
  private readonly hook: NonNullable<RolloutDeps['callWebhook']>;
  private readonly webhooks: WebhookCaller;
  private readonly editRoute: EditRoute;
  /** Who hears of a change of any rollout (the web console's /v1/events). */
  private readonly changeListeners: (() => void)[] = [];

  constructor(private readonly deps: RolloutDeps) {
    this.clock = deps.clock ?? systemClock;
    this.webhooks = deps.webhooks ?? new WebhookCaller();
    this.hook = deps.callWebhook ?? this.webhooks.call;
    this.editRoute = deps.editRoute ?? editWeights;
    if (deps.fleet) {
      // The leader's state is loaded when it takes over; until then, the store's view is shown.
      this.role = 'following';
      deps.store.onChange?.(() => this.showStored());
      this.showStored();
      if (deps.fleet.isLeader()) void this.takeOver();
    } else {
      this.role = 'leading';
      const stored = deps.store.load();
      if (!Array.isArray(stored)) throw new Error('a rollout store that answers asynchronously needs a fleet');
      for (const record of stored as RolloutRecord[]) this.records.set(rolloutKey(record.mesh, record.name), record);
      this.restored = this.records.size > 0 ? 'restart' : undefined;
    }
  }

  /** Calls `listener` after a rollout changes: an event, a save, the store's view, a rollout forgotten. */
  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  private changed(): void {
    for (const listener of this.changeListeners) {
      try {
        listener();
      } catch {
        // A listener's failure is not the rollout's.
      }
    }
  }

  /**
   * Whether this controller makes steps, calls webhooks and writes the state: alone always, in a fleet while it leads.
   */
  get acting(): boolean {
    return this.role === 'leading';
  }

  /**
   * The fleet's lease changed hands (LeaderLease's onChange). Becoming leader: the stored state is
   * loaded and every running rollout carries on from it. No longer leader: every timer and
   * webhook call in flight is dropped at once, and nothing more is written.
   */
  leadershipChanged(leading: boolean, reason = ''): void {
    if (!this.deps.fleet || this.closed) return;
    if (leading) void this.takeOver();
    else this.standDown(reason || 'the lease was lost');
  }

  list(): RolloutRecord[] {
    return [...this.records.values()].sort((a, b) =>
      rolloutKey(a.mesh, a.name) < rolloutKey(b.mesh, b.name) ? -1 : 1,
    );
  }

  get(mesh: string, name: string): RolloutRecord | undefined {
    return this.records.get(rolloutKey(mesh, name));
  }

  /** A new valid mesh is served: start, restart or drop declared rollouts, and notice edits by hand. */
  meshLoaded(served: ServedMesh, declared: readonly DeclaredRollout[]): Promise<void> {
    this.served = served;
    this.generation += 1;
    this.declared = declared;
    // A replica that does not lead only shows the stored state; the leader starts what the files declare.
    if (!this.acting) return Promise.resolve();
    const work: Promise<unknown>[] = [];
    const handled = new Set<string>();
    const declaredKeys = new Set(declared.map((d) => rolloutKey(d.mesh, d.name)));
    const restored = this.restored;
    if (restored) {
      this.restored = undefined;
      for (const r of this.records.values()) {
        // A route write meshd was stopped in the middle of: settled first (it may end the rollout).
        if (r.writing) work.push(this.enqueue(r, () => this.settleInterruptedWrite(r, restored)));
        // An end whose post-rollout hooks were not known to be called: they are called now.
        if (r.postRolloutDue) work.push(this.enqueue(r, () => this.postRollout(r)));
        // One removed from the files while meshd was stopped is forgotten below, without another step.
        if (!this.isRunning(r) || (r.source === 'file' && !declaredKeys.has(rolloutKey(r.mesh, r.name)))) continue;
        handled.add(rolloutKey(r.mesh, r.name));
        work.push(this.enqueue(r, () => this.carryOn(r, restored)));
      }
    }
    for (const d of declared) {
      const key = rolloutKey(d.mesh, d.name);
      const existing = this.records.get(key);
      if (existing?.source === 'api') {
        this.deps.log.warn(
          `rollout ${key} is declared in the mesh files but one of that name was started with meshd rollout start; the declaration is ignored until that one is removed`,
        );
      } else if (!existing || settingsKey(existing.settings) !== settingsKey(d.settings)) {
        handled.add(key);
        // The old settings' step in flight (a webhook, a query) is moot: cut short, so the new ones start at once.
        this.stepAborts.get(key)?.abort();
        work.push(this.enqueue(d, () => this.begin(d.mesh, d.name, d.settings, 'file', existing)));
      }
    }
    for (const r of [...this.records.values()]) {
      const key = rolloutKey(r.mesh, r.name);
      if (handled.has(key)) continue;
      if (r.source === 'file' && !declaredKeys.has(key)) {
        this.stepAborts.get(key)?.abort();
        work.push(this.enqueue(r, () => this.forget(r)));
      } else if (this.isRunning(r)) work.push(this.enqueue(r, () => this.noticeEdits(r)));
    }
    return Promise.all(work).then(() => undefined);
  }

  /** `meshd rollout start`: a rollout kept only in the state file. */
  start(mesh: string, name: string, settings: RolloutSettings): Promise<CommandResult> {
    if (!this.acting) return this.notLeading();
    if (!this.served) return Promise.resolve({ ok: false, status: 503, error: 'no valid mesh is loaded yet' });
    const existing = this.records.get(rolloutKey(mesh, name));
    if (existing && !FINISHED.has(existing.phase))
      return Promise.resolve({
        ok: false,
        status: 409,
        error: `rollout ${mesh}/${name} is already ${existing.phase}; abort it first or pick another --name`,
      });
    if (existing?.source === 'file')
      return Promise.resolve({
        ok: false,
        status: 409,
        error: `rollout ${mesh}/${name} is declared in the mesh files; change it there`,
      });
    const split = routeSplit(this.served.model, mesh, settings);
    if ('error' in split) return Promise.resolve({ ok: false, status: 409, error: split.error });
    const busy = [...this.records.values()].find(
      (r) =>
        r.mesh === mesh &&
        !FINISHED.has(r.phase) &&
        r.settings.route.virtualRouter === settings.route.virtualRouter &&
        r.settings.route.name === settings.route.name,
    );
    if (busy)
      return Promise.resolve({
        ok: false,
        status: 409,
        error: `rollout ${busy.mesh}/${busy.name} is already rolling out that route`,
      });
    if (!this.deps.prometheus && hasQueryMetrics(settings)) {
      const i = settings.metrics.findIndex((m) => m.query !== undefined);
      return Promise.resolve({
        ok: false,
        status: 400,
        error: `spec.analysis.metrics[${i}].query: this meshd has no --prometheus-url to ask the query of (meshd serve --prometheus-url http://<prometheus>:9090)`,
      });
    }
    const meshProblem = hasQueryMetrics(settings) ? queryNameProblem(mesh) : undefined;
    if (meshProblem) return Promise.resolve({ ok: false, status: 400, error: `mesh: ${meshProblem}` });
    for (const [i, hook] of settings.webhooks.entries()) {
      const problem = this.webhooks.problem(hook.url);
      if (problem)
        return Promise.resolve({ ok: false, status: 400, error: `spec.analysis.webhooks[${i}].url: ${problem}` });
    }
    return this.enqueue({ mesh, name }, async (): Promise<CommandResult> => {
      if (!this.acting) return this.notLeading();
      const unsaved = await this.begin(mesh, name, settings, 'api', existing);
      if (unsaved !== undefined)
        return {
          ok: false,
          status: 503,
          error: unsavedError('nothing was started and the route was not changed', unsaved),
        };
      return { ok: true, rollout: this.records.get(rolloutKey(mesh, name))! };
    }).catch((err: unknown) => this.refusedWhenDeposed(err));
  }

  command(mesh: string, name: string, command: Command): Promise<CommandResult> {
    if (!this.acting) return this.notLeading();
    const r = this.records.get(rolloutKey(mesh, name));
    if (!r) return Promise.resolve({ ok: false, status: 404, error: `no rollout ${mesh}/${name}` });
    // Refused at once when it would be refused in turn: a step in flight (a webhook, a Prometheus query) neither
    // holds the answer back nor is cut short by a command that does nothing.
    if (FINISHED.has(r.phase))
      return Promise.resolve({
        ok: false,
        status: 409,
        error: `rollout ${mesh}/${name} has already ended (${r.phase})`,
      });
    if (command === 'resume' && r.phase !== 'Paused')
      return Promise.resolve({
        ok: false,
        status: 409,
        error: `rollout ${mesh}/${name} is not paused (it is ${r.phase})`,
      });
    if (command === 'pause' && r.phase === 'Paused')
      return Promise.resolve({ ok: false, status: 409, error: `rollout ${mesh}/${name} is already paused` });
    // Pause, abort and promote stop the analysis: a step waiting for a webhook or a query gives way (and is not
    // tried again unless the pause is refused). Resume has no step to cut short (a paused rollout takes none).
    if (command !== 'resume') this.stepAborts.get(rolloutKey(mesh, name))?.abort();
    return this.enqueue(r, async (): Promise<CommandResult> => {
      if (!this.acting) return this.notLeading();
      if (FINISHED.has(r.phase))
        return { ok: false, status: 409, error: `rollout ${mesh}/${name} has already ended (${r.phase})` };
      // Each command saves what it is about to do before doing it; when it cannot, nothing changes.
      const refuse = (why: string): CommandResult => ({
        ok: false,
        status: 503,
        error: unsavedError(`the rollout was not changed (${command} refused)`, why),
      });
      switch (command) {
        case 'pause': {
          if (r.phase === 'Paused')
            return { ok: false, status: 409, error: `rollout ${mesh}/${name} is already paused` };
          const unsaved = await this.persist({ ...r, phase: 'Paused', pausedFrom: r.phase, nextStepAt: undefined });
          if (unsaved !== undefined) return refuse(unsaved);
          this.pause(r, 'paused by meshd rollout pause');
          break;
        }
        case 'resume': {
          if (r.phase !== 'Paused')
            return { ok: false, status: 409, error: `rollout ${mesh}/${name} is not paused (it is ${r.phase})` };
          const plan = this.resumePlan(r);
          if ('error' in plan) return { ok: false, status: 409, error: plan.error };
          const unsaved = await this.persist({ ...r, ...plan, pausedFrom: undefined });
          if (unsaved !== undefined) return refuse(unsaved);
          this.resume(r, plan);
          break;
        }
        case 'abort': {
          const unsaved = await this.finish(
            r,
            'Aborted',
            0,
            'aborted by meshd rollout abort: all traffic back to the primary',
            { command: true },
          );
          if (unsaved !== undefined) return refuse(unsaved);
          break;
        }
        case 'promote': {
          const unsaved = await this.finish(
            r,
            'Succeeded',
            100,
            'promoted by meshd rollout promote: all traffic to the canary',
            { command: true },
          );
          if (unsaved !== undefined) return refuse(unsaved);
          break;
        }
      }
      return { ok: true, rollout: r };
    }).catch((err: unknown) => this.refusedWhenDeposed(err));
  }

  /** The answer to a command this replica cannot carry out: it does not lead the fleet. */
  private async notLeading(): Promise<CommandResult> {
    const fleet = this.deps.fleet;
    if (!fleet) return { ok: false, status: 503, error: 'meshd is shutting down' };
    let leader: Awaited<ReturnType<NonNullable<RolloutFleet['leader']>>>;
    try {
      leader = await fleet.leader?.();
    } catch {
      leader = undefined;
    }
    const where =
      leader === undefined || leader.id === fleet.replicaId
        ? 'no replica leads just now (a new leader takes over within the lease time); try again shortly'
        : `send it to the leader, replica ${leader.id}${leader.adminAddress ? ` (admin API ${leader.adminAddress})` : ''}`;
    return {
      ok: false,
      status: 503,
      error: `this replica (${fleet.replicaId}) does not lead the fleet, and only the leader changes rollouts: ${where}`,
    };
  }

  /** A command's work stopped because this replica lost the lease meanwhile: what was not saved did not happen. */
  private refusedWhenDeposed(err: unknown): Promise<CommandResult> {
    if (err instanceof NotLeading) return this.notLeading();
    throw err;
  }

  /** Resolves once every rollout's queued work (steps, commands, reloads) is done, and the work queued meanwhile. */
  async settled(): Promise<void> {
    while (this.queues.size > 0) await Promise.all([...this.queues.values()]);
  }

  close(): void {
    this.closed = true;
    // A replica of a fleet stops acting at once (its lease is given up); alone, work under way still saves.
    if (this.deps.fleet) {
      this.role = 'following';
      this.term += 1;
      this.leadership.abort();
    }
    for (const abort of this.stepAborts.values()) abort.abort();
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
  }

  // ---- the life of a rollout ----

  private isRunning(r: RolloutRecord): boolean {
    return !FINISHED.has(r.phase) && r.phase !== 'Paused';
  }

  /**
   * Starts (or restarts, after its settings changed) a rollout at the route's current split. A
   * rollout started through the API is saved before anything else happens; when that fails,
   * nothing is started and the reason comes back.
   */
  private async begin(
    mesh: string,
    name: string,
    settings: RolloutSettings,
    source: 'file' | 'api',
    previous: RolloutRecord | undefined,
  ): Promise<string | undefined> {
    const key = rolloutKey(mesh, name);
    const split = routeSplit(this.served!.model, mesh, settings);
    if ('error' in split) return undefined; // a declaration was checked at load; a command, just above
    const now = new Date(this.clock.now()).toISOString();
    const served: Split = { primary: split.primary.weight, canary: split.canary.weight };
    const r: RolloutRecord = {
      mesh,
      name,
      source,
      settings,
      phase: 'Initializing',
      canaryWeight: served.canary,
      expected: served,
      failedChecks: 0,
      startedAt: now,
      updatedAt: now,
      events: previous && !FINISHED.has(previous.phase) ? previous.events : [],
    };
    // A declared rollout is in the mesh files already; one started through the API exists only once saved.
    if (source === 'api') {
      const unsaved = await this.persist(r);
      if (unsaved !== undefined) return unsaved;
    }
    this.records.set(key, r);
    // A webhook meshd will not call is a no at every call: said once, up front.
    // So is a query metric with no Prometheus to ask (a state file written by a meshd that had one).
    if (!this.deps.prometheus && hasQueryMetrics(settings))
      this.event(
        r,
        'Warning',
        'this meshd has no --prometheus-url: every check of a metric with a query fails until it is restarted with one',
      );
    for (const [i, hook] of settings.webhooks.entries()) {
      const problem = this.webhooks.problem(hook.url);
      if (problem)
        this.event(
          r,
          'Warning',
          `webhook ${hook.name} (spec.analysis.webhooks[${i}].url) will not be called, which counts as a no: ${problem}`,
        );
    }
    if (previous && !FINISHED.has(previous.phase)) {
      this.event(r, 'Normal', 'the rollout settings changed: starting the analysis again from the primary');
      if (!(await this.setCanaryWeight(r, 0)).ok) return undefined;
    }
    // A canary that already has every request is done; starting over would take traffic back from it.
    if (served.primary === 0 && served.canary > 0) {
      r.phase = 'Succeeded';
      this.event(
        r,
        'Normal',
        `the canary ${settings.canary} already gets all traffic on the route; nothing to roll out`,
      );
      return undefined;
    }
    this.event(
      r,
      'Normal',
      `rollout started: ${settings.primary} → ${settings.canary} on Route/${settings.route.virtualRouter}/${settings.route.name}, ${settings.stepWeight}% steps up to ${settings.maxWeight}% every ${formatDuration(settings.intervalMs)}`,
    );
    this.schedule(r, 0);
    return undefined;
  }

  /**
   * After a restart: meshd was stopped in the middle of writing `r.writing` to the route (in a
   * fleet: the leader was stopped or deposed). If the route holds those weights, the write
   * happened and is taken as done, with the phase it was to end in, and the next step is a whole
   * interval away; otherwise it did not, and the usual checks follow (the old weights are what
   * the rollout expects, and the step that was being made is still due; anything else is an edit
   * by hand).
   */
  private settleInterruptedWrite(r: RolloutRecord, after: 'restart' | 'takeover'): void {
    const w = r.writing;
    r.writing = undefined;
    if (!w) return;
    const served = this.servedSplit(r);
    if ('error' in served || !sameSplit(served, w.split)) return;
    const who = after === 'restart' ? 'meshd was stopped' : 'the previous leader stopped';
    if (!sameSplit(served, r.expected)) {
      r.expected = w.split;
      r.canaryWeight = w.split.canary;
      r.nextStepAt = undefined;
      this.event(
        r,
        'Normal',
        `${who} while writing ${r.settings.primary} ${w.split.primary} and ${r.settings.canary} ${w.split.canary} to the route; the ${after === 'restart' ? 'file holds' : 'route holds'} them, so that write is taken as done`,
      );
    }
    if (w.phase !== undefined && w.phase !== r.phase) {
      this.unschedule(r);
      r.phase = w.phase;
      r.pausedFrom = undefined;
      // Its post-rollout hooks were to be called after the end was saved: they are called now.
      if (FINISHED.has(w.phase) && r.settings.webhooks.some((h) => h.type === 'post-rollout')) r.postRolloutDue = true;
      this.event(
        r,
        FINISHED.has(w.phase) && w.phase !== 'Succeeded' ? 'Warning' : 'Normal',
        `the rollout ended ${w.phase}, as it was doing when ${after === 'restart' ? 'meshd was stopped' : 'the previous leader stopped'}`,
      );
      if (r.postRolloutDue) void this.enqueue(r, () => this.postRollout(r));
    }
  }

  /**
   * Loaded from the store, running: after a restart, the next check comes after a whole interval
   * of fresh telemetry; after a take-over, at the time the previous leader had set (at once when it
   * is due: the step the previous leader did not finish is made now, once).
   */
  private carryOn(r: RolloutRecord, after: 'restart' | 'takeover'): void {
    if (after === 'restart') {
      if (!this.noticeEdits(r, 'while meshd was stopped')) return;
      this.event(
        r,
        'Normal',
        `meshd restarted: carrying on at canary weight ${r.canaryWeight}% after ${formatDuration(r.settings.intervalMs)} of fresh telemetry`,
      );
      return this.schedule(r, r.phase === 'Initializing' ? 0 : r.settings.intervalMs);
    }
    if (!this.noticeEdits(r, 'during the change of leader')) return;
    const inMs =
      r.nextStepAt !== undefined
        ? Math.max(0, r.nextStepAt - this.clock.now())
        : r.phase === 'Initializing'
          ? 0
          : r.settings.intervalMs;
    this.event(
      r,
      'Normal',
      `replica ${this.deps.fleet?.replicaId ?? '?'} leads now: carrying on at canary weight ${r.canaryWeight}%, ${inMs === 0 ? 'with the check that is due' : `next check in ${formatDuration(inMs)}`}`,
    );
    this.schedule(r, inMs);
  }

  // ---- leadership (a fleet) ----

  /** While not leading: the rollouts as the store has them (copies), for /v1/rollouts and status. */
  private showStored(): void {
    if (this.role !== 'following') return;
    const stored = this.deps.store.current?.();
    if (!stored) return;
    this.records.clear();
    for (const r of stored) this.records.set(rolloutKey(r.mesh, r.name), r);
    this.changed();
  }

  /**
   * This replica has become the leader: the work of its earlier term (if any) ends first, the
   * served mesh catches up with the store, then the stored state is loaded and taken up as after
   * a restart, except that a step that is due is made at once.
   */
  private async takeOver(): Promise<void> {
    if (this.role !== 'following' || this.closed) return;
    this.role = 'taking-over';
    const term = ++this.term;
    const fleet = this.deps.fleet!;
    try {
      await this.settled();
      await fleet.caughtUp?.();
      const stored = await this.deps.store.load();
      if (term !== this.term) return;
      this.records.clear();
      for (const r of stored) this.records.set(rolloutKey(r.mesh, r.name), r);
      this.ownWrites.clear();
      this.leadership = new AbortController();
      this.role = 'leading';
      this.restored = 'takeover';
      this.deps.log.info(
        `rollouts: replica ${fleet.replicaId} leads now and carries on ${[...this.records.values()].filter((r) => this.isRunning(r)).length} running rollout(s) from the stored state`,
      );
      if (this.served) await this.meshLoaded(this.served, this.declared);
    } catch (err) {
      if (term !== this.term) return;
      this.role = 'following';
      this.showStored();
      this.deps.log.error(
        `rollouts: replica ${fleet.replicaId} leads but cannot load the rollouts (${(err as Error).message}); trying again in 1s`,
      );
      const retry = setTimeout(() => {
        if (fleet.isLeader()) void this.takeOver();
      }, 1000);
      retry.unref();
    }
  }

  /**
   * Before a webhook call (which no fence can take back): the lease is checked with the store, so
   * that a leader that was paused past its lease (and has not noticed) calls nothing once another
   * replica has taken over. When the store cannot answer, the check is cut short and tried again
   * at the next interval, as for a command.
   */
  private async confirmLeading(): Promise<void> {
    if (!this.deps.fleet!.isLeader()) {
      this.standDown('the lease lapsed');
      throw new NotLeading();
    }
    try {
      await this.deps.store.confirmLeading?.();
    } catch (err) {
      if (this.deps.store.isDeposed?.(err)) {
        this.standDown(`the store says another replica leads: ${(err as Error).message}`);
        throw new NotLeading();
      }
      this.deps.log.warn(`rollouts: cannot confirm the lease before a webhook call: ${(err as Error).message}`);
      throw new Interrupted();
    }
    if (!this.acting) throw new NotLeading();
  }

  /** This replica no longer leads: nothing more is done, called or written; the store's state is shown. */
  private standDown(reason: string): void {
    if (this.role === 'following') return;
    this.role = 'following';
    this.term += 1;
    this.restored = undefined;
    this.leadership.abort();
    for (const abort of this.stepAborts.values()) abort.abort();
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
    this.ownWrites.clear();
    this.deps.log.warn(
      `rollouts: replica ${this.deps.fleet?.replicaId ?? '?'} no longer leads (${reason}): it makes no step and calls no webhook; the leader carries on from the stored state`,
    );
    this.showStored();
  }

  /** Pauses `r` if its route no longer serves what it set; true when all is as expected. */
  private noticeEdits(r: RolloutRecord, when = ''): boolean {
    if (!this.isRunning(r)) return false;
    const served = this.servedSplit(r);
    if ('error' in served) {
      this.pause(r, `the route cannot be rolled out any more: ${served.error}`);
      return false;
    }
    if (sameSplit(served, r.expected)) return true;
    // Written while this mesh was being read: the reload that serves it is still to come.
    if (this.writePending(r)) return true;
    const label = `Route/${r.settings.route.virtualRouter}/${r.settings.route.name}`;
    this.pause(
      r,
      `${label} was edited by hand${when ? ` ${when}` : ''}: it now gives ${r.settings.primary} ${served.primary} and ${r.settings.canary} ${served.canary}, where the rollout had set ${r.expected.primary} and ${r.expected.canary}. ` +
        `Paused; meshd rollout resume carries on from the file's weights, meshd rollout abort ends it`,
    );
    return false;
  }

  /** One interval's work: a check, then a step, a promotion or a rollback. */
  private async step(r: RolloutRecord): Promise<void> {
    if (!this.isRunning(r) || this.closed || !this.acting) return;
    const key = rolloutKey(r.mesh, r.name);
    const served = this.servedSplit(r);
    if ('error' in served) return this.pause(r, `the route cannot be rolled out any more: ${served.error}`);
    if (!sameSplit(served, r.expected)) {
      // Its own write, not served yet: the watcher's reload is on its way.
      const own = this.ownWrites.get(key);
      if (own && this.clock.now() - own.at < r.settings.intervalMs) return this.schedule(r, PENDING_WRITE_RECHECK_MS);
      // Still not served a whole interval later: a mesh file that
      // does not load holds the reload back (the log says which).
      this.event(
        r,
        'Warning',
        `waiting for the mesh to serve ${r.settings.canary} at ${r.expected.canary}% (it still serves ${served.canary}%); is a mesh file invalid?`,
      );
      return this.schedule(r, r.settings.intervalMs);
    }
    const abort = new AbortController();
    this.stepAborts.set(key, abort);
    try {
      await (r.phase === 'Initializing' ? this.initialize(r, abort.signal) : this.analyse(r, abort.signal));
    } catch (err) {
      if (!(err instanceof Interrupted)) throw err;
      if (this.isRunning(r)) this.schedule(r, r.settings.intervalMs);
    } finally {
      if (this.stepAborts.get(key) === abort) this.stepAborts.delete(key);
    }
  }

  private async analyse(r: RolloutRecord, signal: AbortSignal): Promise<void> {
    for (const hook of r.settings.webhooks.filter((w) => w.type === 'rollback')) {
      if ((await this.call(r, hook, this.payload(r, hook.type, hook.metadata), signal)).ok)
        return void (await this.finish(r, 'Failed', 0, `rolling back: the rollback webhook ${hook.name} asked for it`));
    }
    const failures: string[] = [];
    const gate = await this.runHooks(r, 'rollout', signal);
    if (!gate.ok) failures.push(gate.reason);
    // Prometheus is asked without holding anything else up: only this rollout's queue waits (at most the query
    // timeout), and a command (pause, abort, ...) cancels the wait through `signal`.
    const check = await checkCanaryAll(
      this.deps.telemetry,
      this.deps.prometheus,
      r.mesh,
      r.settings,
      this.clock.now(),
      signal,
    );
    if (signal.aborted) throw new Interrupted();
    if (!this.acting) throw new NotLeading();
    r.lastCheck = { at: new Date(this.clock.now()).toISOString(), ok: check.ok, results: check.results };
    failures.push(...check.results.filter((m) => !m.ok).map((m) => m.message));
    // The route may have been edited while the hooks ran.
    if (!this.noticeEdits(r)) return;
    if (failures.length > 0) return this.failCheck(r, failures.join('; '));

    const passed = check.results.map((m) => m.message).join(', ');
    if (r.canaryWeight < r.settings.maxWeight) {
      const confirm = await this.runHooks(r, 'confirm-traffic-increase', signal);
      if (!confirm.ok) {
        this.event(r, 'Normal', `check passed (${passed}); waiting for approval to add traffic: ${confirm.reason}`);
        return this.schedule(r, r.settings.intervalMs);
      }
      if (!this.noticeEdits(r)) return;
      const next = Math.min(r.settings.maxWeight, r.canaryWeight + r.settings.stepWeight);
      if (!(await this.setCanaryWeight(r, next)).ok) return;
      this.event(r, 'Normal', `check passed (${passed}); advancing ${r.settings.canary} to ${next}%`);
      return this.schedule(r, r.settings.intervalMs);
    }
    const promotion = await this.runHooks(r, 'confirm-promotion', signal);
    if (!promotion.ok) {
      if (r.phase !== 'WaitingPromotion') r.phase = 'WaitingPromotion';
      this.event(r, 'Normal', `check passed (${passed}); waiting for approval to promote: ${promotion.reason}`);
      return this.schedule(r, r.settings.intervalMs);
    }
    if (!this.noticeEdits(r)) return;
    await this.finish(r, 'Succeeded', 100, `check passed (${passed}); promoted: all traffic to ${r.settings.canary}`);
  }

  /** Before the first step: confirm-rollout holds it back; a failing pre-rollout hook counts as a failed check. */
  private async initialize(r: RolloutRecord, signal: AbortSignal): Promise<void> {
    const confirm = await this.runHooks(r, 'confirm-rollout', signal);
    if (!confirm.ok) {
      this.event(r, 'Normal', `waiting for approval to start: ${confirm.reason}`);
      return this.schedule(r, r.settings.intervalMs);
    }
    const pre = await this.runHooks(r, 'pre-rollout', signal);
    if (!pre.ok) return this.failCheck(r, pre.reason);
    if (!this.noticeEdits(r)) return;
    if (!(await this.setCanaryWeight(r, Math.min(r.settings.stepWeight, r.settings.maxWeight))).ok) return;
    r.phase = 'Progressing';
    this.event(r, 'Normal', `advancing ${r.settings.canary} to ${r.canaryWeight}%`);
    this.schedule(r, r.settings.intervalMs);
  }

  private async failCheck(r: RolloutRecord, reason: string): Promise<void> {
    r.failedChecks += 1;
    // Written so that a threshold that is not a number rolls back at once.
    if (!(r.failedChecks < r.settings.threshold)) {
      return void (await this.finish(
        r,
        'Failed',
        0,
        `rolling back after ${r.failedChecks} failed check(s): ${reason}`,
      ));
    }
    this.event(r, 'Warning', `check ${r.failedChecks} of ${r.settings.threshold} failed: ${reason}`);
    this.schedule(r, r.settings.intervalMs);
  }

  /**
   * Promotion (canary 100), rollback or abort (canary 0); then the post-rollout hooks, whose
   * answers are only logged. The end is saved (with the weights to write) before the route is
   * written. When that save fails: a command is refused (the reason comes back, nothing
   * changed), an automatic promotion pauses the rollout, and a rollback goes ahead anyway:
   * sending all traffic back to the primary is the safe direction.
   */
  private async finish(
    r: RolloutRecord,
    phase: Phase,
    canaryWeight: number,
    message: string,
    how: { command?: boolean } = {},
  ): Promise<string | undefined> {
    const rollback = phase !== 'Succeeded' && !how.command;
    const written = await this.setCanaryWeight(r, canaryWeight, {
      pauseOnFailure: !how.command && !rollback,
      endsIn: phase,
      mustSave: !rollback,
    });
    if (!written.ok && written.unsaved) return written.why;
    this.unschedule(r);
    r.phase = phase;
    r.pausedFrom = undefined;
    this.event(
      r,
      phase === 'Succeeded' ? 'Normal' : 'Warning',
      written.ok ? message : `${message} (the route could not be rewritten: see the previous event)`,
    );
    // Saved before the hooks, which may take their whole timeout: the end must not wait on them to be on disk.
    // With the hooks still to call: a new leader (or a restarted meshd) calls them if this one stops first.
    if (r.settings.webhooks.some((h) => h.type === 'post-rollout')) r.postRolloutDue = true;
    await this.save();
    await this.postRollout(r);
    return undefined;
  }

  /**
   * The post-rollout hooks of an ended rollout, whose answers are only logged; then the record
   * says they were called. At least once: a replica stopped after the end was saved and before
   * this is saved leaves them to the next leader (or the restarted meshd), which calls them again.
   */
  private async postRollout(r: RolloutRecord): Promise<void> {
    if (!r.postRolloutDue) return;
    let post: Awaited<ReturnType<RolloutController['runHooks']>>;
    try {
      post = await this.runHooks(r, 'post-rollout');
    } catch (err) {
      // Not called (this replica stopped leading, or could not confirm it leads): left to the next leader.
      if (err instanceof NotLeading || err instanceof Interrupted) return;
      throw err;
    }
    if (!post.ok) this.event(r, 'Warning', `post-rollout webhook: ${post.reason}`);
    r.postRolloutDue = undefined;
  }

  private pause(r: RolloutRecord, reason: string): void {
    this.unschedule(r);
    r.pausedFrom = r.phase;
    r.phase = 'Paused';
    this.event(r, 'Warning', reason);
  }

  /** Where a resume takes `r`: the route's weights as they are now (an edit by hand is adopted). */
  private resumePlan(r: RolloutRecord): { expected: Split; canaryWeight: number; phase: Phase } | { error: string } {
    const served = this.fileSplit(r);
    if ('error' in served) return { error: `cannot resume: ${served.error}` };
    const total = served.primary + served.canary;
    const canaryWeight = Math.round((100 * served.canary) / total);
    // Paused before its first step but given canary traffic by hand: the steps carry on from there.
    const phase = r.pausedFrom === 'Initializing' && canaryWeight > 0 ? 'Progressing' : (r.pausedFrom ?? 'Progressing');
    return { expected: served, canaryWeight, phase };
  }

  /** Back to where it was paused, as planned by resumePlan. */
  private resume(r: RolloutRecord, plan: { expected: Split; canaryWeight: number; phase: Phase }): void {
    r.expected = plan.expected;
    r.canaryWeight = plan.canaryWeight;
    r.phase = plan.phase;
    r.pausedFrom = undefined;
    this.event(r, 'Normal', `resumed at canary weight ${r.canaryWeight}%`);
    this.schedule(r, r.phase === 'Initializing' ? 0 : r.settings.intervalMs);
  }

  /** A declaration was removed from the mesh files: the rollout stops where it is and is forgotten. */
  private forget(r: RolloutRecord): void {
    this.unschedule(r);
    const key = rolloutKey(r.mesh, r.name);
    if (!FINISHED.has(r.phase))
      this.deps.log.warn(
        `rollout ${key}: removed from the mesh files; stopped with ${r.settings.canary} at ${r.expected.canary} (the route is left as it is)`,
      );
    this.records.delete(key);
    this.changed();
  }

  // ---- the route ----

  private servedSplit(r: RolloutRecord): Split | { error: string } {
    if (!this.served) return { error: 'no valid mesh is loaded' };
    const split = routeSplit(this.served.model, r.mesh, r.settings);
    return 'error' in split ? split : { primary: split.primary.weight, canary: split.canary.weight };
  }

  /**
   * What the route's file holds now: the rollout's own last write while its reload is still to
   * come, else what is served (for a rollout paused by an edit by hand: that edit).
   */
  private fileSplit(r: RolloutRecord): Split | { error: string } {
    return this.writePending(r) ? r.expected : this.servedSplit(r);
  }

  /**
   * The rollout wrote its route after the mesh being served now was read: the reload that serves the write is to come.
   */
  private writePending(r: RolloutRecord): boolean {
    return (this.ownWrites.get(rolloutKey(r.mesh, r.name))?.generation ?? -1) >= this.generation;
  }

  /**
   * Rewrites the route's weights in its file to give the canary `weight` percent. The rollout is
   * saved first with the weights it is about to write (and the phase it then `endsIn`); if that
   * save fails nothing is written (unless `mustSave` is false: a rollback). The file must still
   * hold what meshd knows it holds; an edit by hand not yet served, a file that cannot be
   * written or a state that cannot be saved pauses a running rollout (`pauseOnFailure`). Either
   * way the reason is an event and comes back.
   */
  private async setCanaryWeight(
    r: RolloutRecord,
    weight: number,
    how: { pauseOnFailure?: boolean; endsIn?: Phase; mustSave?: boolean } = {},
  ): Promise<WriteResult> {
    const target: Split = { primary: 100 - weight, canary: weight };
    const fail = (why: string, unsaved = false): WriteResult => {
      if ((how.pauseOnFailure ?? true) && this.isRunning(r)) this.pause(r, why);
      else this.event(r, 'Warning', why);
      return { ok: false, unsaved, why };
    };
    const { model, whereWritten } = this.served!;
    const split = routeSplit(model, r.mesh, r.settings);
    if ('error' in split) return fail(`cannot change the route: ${split.error}`);
    // What the file holds. Abort and promote of a rollout paused by an edit by hand write over that edit, as asked.
    const current = this.writePending(r) ? r.expected : { primary: split.primary.weight, canary: split.canary.weight };
    // The intent first: on disk before the route file changes (and, for an end, before the phase does). Set on
    // the record itself, so that every save until the route is written (another rollout's too) keeps it.
    const writing = { split: target, ...(how.endsIn !== undefined ? { phase: how.endsIn } : {}) };
    r.writing = writing;
    let unsaved: string | undefined;
    try {
      unsaved = await this.persist();
    } finally {
      r.writing = undefined;
    }
    if (unsaved !== undefined) {
      if (how.mustSave ?? true)
        return fail(
          unsavedError(
            `the route was left at ${r.settings.primary} ${current.primary} and ${r.settings.canary} ${current.canary}${(how.pauseOnFailure ?? true) ? ' and the rollout paused (meshd rollout resume once the state can be written)' : ''}`,
            unsaved,
          ),
          true,
        );
      this.event(
        r,
        'Warning',
        `${unsavedError('rolling back anyway: all traffic back to the primary is the safe direction, but a restarted meshd will find the route changed', unsaved)}`,
      );
    }
    if (!sameSplit(current, target)) {
      const route = model
        .routesOf(r.mesh, r.settings.route.virtualRouter)
        .find((x) => x.name === r.settings.route.name)!;
      const weightPath = (index: number): FieldPath => [
        'spec',
        routeKindOf(route.spec).kind,
        'action',
        'weightedTargets',
        index,
        'weight',
      ];
      const [primaryAt, canaryAt, nameAt] = [
        whereWritten(route, weightPath(split.primary.index)),
        whereWritten(route, weightPath(split.canary.index)),
        whereWritten(route, ['name']),
      ];
      if (!primaryAt || !canaryAt || !nameAt)
        return fail('cannot change the route: meshd does not know where it is written');
      r.writing = writing;
      let result: EditResult;
      try {
        result = await this.editRoute(
          [
            { at: primaryAt, expected: current.primary, value: target.primary },
            { at: canaryAt, expected: current.canary, value: target.canary },
          ],
          [{ at: nameAt, value: route.name }],
        );
      } catch (err) {
        if (this.deps.store.isDeposed?.(err)) {
          this.standDown(`the route write was refused: ${(err as Error).message}`);
          throw new NotLeading();
        }
        result = { ok: false, conflict: false, error: (err as Error).message };
      } finally {
        r.writing = undefined;
      }
      if (!result.ok)
        return fail(
          result.conflict
            ? `the route was edited by hand: ${result.error}`
            : `cannot change the route: ${result.error}`,
        );
      this.ownWrites.set(rolloutKey(r.mesh, r.name), { generation: this.generation, at: this.clock.now() });
    }
    r.expected = target;
    r.canaryWeight = weight;
    return { ok: true };
  }

  // ---- hooks, events, timers, state ----

  private payload(r: RolloutRecord, type: WebhookType, metadata: Readonly<Record<string, string>>): WebhookPayload {
    return { name: r.name, namespace: r.mesh, phase: r.phase, type, metadata };
  }

  /** Runs the hooks of one type in order; the first no stops the rest. */
  private async runHooks(
    r: RolloutRecord,
    type: WebhookType,
    signal?: AbortSignal,
  ): Promise<{ ok: true } | { ok: false; reason: string }> {
    for (const hook of r.settings.webhooks.filter((w) => w.type === type)) {
      const answer = await this.call(r, hook, this.payload(r, type, hook.metadata), signal);
      if (!answer.ok) return { ok: false, reason: `${type} webhook ${hook.name}: ${answer.reason}` };
    }
    return { ok: true };
  }

  /**
   * One webhook call; throws Interrupted when a command cut the step short, NotLeading when this replica does not lead.
   */
  private async call(
    r: RolloutRecord,
    hook: Webhook,
    payload: WebhookPayload,
    signal?: AbortSignal,
  ): Promise<WebhookAnswer> {
    if (!this.acting) throw new NotLeading();
    if (!this.deps.fleet) {
      const answer = await this.hook(hook, payload, signal);
      if (signal?.aborted) throw new Interrupted();
      return this.called(r, hook, answer);
    }
    await this.confirmLeading();
    const term = this.leadership.signal;
    const answer = await this.hook(hook, payload, signal ? AbortSignal.any([signal, term]) : term);
    if (term.aborted) throw new NotLeading();
    if (signal?.aborted) throw new Interrupted();
    return this.called(r, hook, answer);
  }

  /**
   * The rollout's timeline records each webhook call that said yes, one event per call (`rollout webhook load: ok
   * (HTTP 200)`, marked `webhook`). A no is already the reason in the event that follows from it (a failed check, a
   * wait for approval, the post-rollout warning); a rollback hook's no is its usual answer, which changes nothing,
   * so it is not recorded. `event` hooks are not recorded (each event calls them), and do not hear of these calls.
   */
  private called(r: RolloutRecord, hook: Webhook, answer: WebhookAnswer): WebhookAnswer {
    if (answer.ok)
      this.event(r, 'Normal', `${hook.type} webhook ${hook.name}: ok (HTTP ${answer.status ?? 200})`, hook.name);
    return answer;
  }

  /**
   * Records an event; `webhook` (a hook's name) marks the record of a webhook call, which `event` hooks do not hear.
   */
  private event(r: RolloutRecord, type: 'Normal' | 'Warning', message: string, webhook?: string): void {
    const at = new Date(this.clock.now()).toISOString();
    // The canary's share once the event has happened: the console's weight chart plots it over time.
    r.events.push({ at, type, message, canaryWeight: r.canaryWeight, ...(webhook !== undefined ? { webhook } : {}) });
    if (r.events.length > MAX_EVENTS) r.events.splice(0, r.events.length - MAX_EVENTS);
    r.updatedAt = at;
    const line = `rollout ${rolloutKey(r.mesh, r.name)}: ${message}`;
    if (type === 'Warning') this.deps.log.warn(line);
    else this.deps.log.info(line);
    this.changed();
    // Flagger's `event` hooks hear of every event but the calls of other hooks; their answers do not matter. Only the
    // leader sends them.
    if (!this.acting || webhook !== undefined) return;
    for (const hook of r.settings.webhooks.filter((w) => w.type === 'event')) {
      void this.hook(hook, {
        ...this.payload(r, 'event', hook.metadata),
        metadata: { ...hook.metadata, eventMessage: message, eventType: type, timestamp: String(Date.parse(at)) },
      });
    }
  }

  private schedule(r: RolloutRecord, inMs: number): void {
    this.unschedule(r);
    if (this.closed || !this.acting) return;
    r.nextStepAt = this.clock.now() + inMs;
    const key = rolloutKey(r.mesh, r.name);
    this.timers.set(
      key,
      this.clock.setTimeout(() => {
        this.timers.delete(key);
        // A rollout restarted or forgotten since is a new record (or none): this timer was its predecessor's.
        void this.enqueue(r, () => (this.records.get(key) === r ? this.step(r) : undefined));
      }, inMs),
    );
  }

  private unschedule(r: RolloutRecord): void {
    const key = rolloutKey(r.mesh, r.name);
    const timer = this.timers.get(key);
    if (timer !== undefined) this.clock.clearTimeout(timer);
    this.timers.delete(key);
    r.nextStepAt = undefined;
  }

  /** Runs `work` after the rollout's earlier work; the state is saved once it is done, before its promise settles. */
  private enqueue<T>(r: { mesh: string; name: string }, work: () => Promise<T> | T): Promise<T> {
    const key = rolloutKey(r.mesh, r.name);
    const saving = async () => {
      try {
        return await work();
      } finally {
        await this.save();
      }
    };
    const run = (this.queues.get(key) ?? Promise.resolve()).then(saving, saving);
    // Work cut short because this replica stopped leading is no error: the new leader carries on.
    const settled = run.catch((err: unknown) => {
      if (!(err instanceof NotLeading)) this.deps.log.error(`rollout ${key}: ${(err as Error).message}`);
    });
    this.queues.set(key, settled);
    void settled.then(() => {
      if (this.queues.get(key) === settled) this.queues.delete(key);
    });
    return run;
  }

  /**
   * Saves every rollout now (with `draft` in place of its own record, or added); the reason it could not, or undefined.
   * Throws NotLeading, having saved nothing, when this replica does not lead, or finds out from the store that it no
   * longer does (a fenced write refused): it has then stood down.
   */
  private async persist(draft?: RolloutRecord): Promise<string | undefined> {
    if (!this.acting) throw new NotLeading();
    const records = [...this.records.values()];
    if (draft) {
      const at = records.findIndex((x) => x.mesh === draft.mesh && x.name === draft.name);
      if (at === -1) records.push(draft);
      else records[at] = draft;
    }
    try {
      await this.deps.store.save(records);
      this.changed();
      return undefined;
    } catch (err) {
      if (this.deps.store.isDeposed?.(err)) {
        this.standDown(`a state write was refused: ${(err as Error).message}`);
        throw new NotLeading();
      }
      return (err as Error).message;
    }
  }

  /** Saves after work that changed no route (what changed it was saved before it acted); a failure is logged. */
  private async save(): Promise<void> {
    let unsaved: string | undefined;
    try {
      unsaved = await this.persist();
    } catch (err) {
      if (err instanceof NotLeading) return;
      throw err;
    }
    if (unsaved !== undefined)
      this.deps.log.error(
        `rollouts: ${unsaved}; the route files were not changed without a saved intent, but a restarted meshd may show older events and checks`,
      );
  }
}
