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
import type { Logger } from '../util/log';
import type { WrittenAt } from '../model/common';
import type { DeclaredRollout } from '../load/rollout-doc';
import type { FieldPath } from '../model/common';
import type { MeshModel, Resource } from '../model/mesh-model';
import { routeKindOf } from '../model/route';
import type { TelemetryReader } from '../telemetry';
import { formatDuration } from '../util/duration';
import { checkCanary } from './analysis';
import { systemClock, type Clock, type TimerHandle } from './clock';
import { editWeights } from './route-file';
import { FINISHED, rolloutKey, type Phase, type RolloutRecord, type RolloutStore, type Split } from './records';
import { routeSplit, type RolloutSettings, type Webhook, type WebhookType } from '../model/rollout';
import { WebhookCaller, type WebhookAnswer, type WebhookPayload } from './webhooks';

const MAX_EVENTS = 100;
/**
 * How soon a step looks again when the route it just wrote is not served yet (the watcher's reload takes milliseconds).
 */
const PENDING_WRITE_RECHECK_MS = 200;

/** A step cut short by a command (pause, abort, promote, resume) while it waited for a webhook. */
class Interrupted extends Error {}

/** What the controller reads from the rest of meshd. */
export interface RolloutDeps {
  readonly telemetry: TelemetryReader;
  readonly store: RolloutStore;
  readonly log: Logger;
  /** The clock and timers the steps run on; the system's when left out (tests drive their own). */
  readonly clock?: Clock;
  /** Calls the webhooks under meshd's policy (--webhook-allow, ...); a default policy when left out. */
  readonly webhooks?: WebhookCaller;
  /** Replaces the webhook calls altogether (tests). */
  readonly callWebhook?: WebhookCaller['call'];
  /** Rewrites the route's weights in its file (tests replace it to stop meshd at the rename). */
  readonly editRoute?: typeof editWeights;
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
const settingsKey = (s: RolloutSettings) => JSON.stringify(s);

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
  private restored: boolean;
  private closed = false;
  private readonly clock: Clock;
  private readonly hook: NonNullable<RolloutDeps['callWebhook']>;
  private readonly webhooks: WebhookCaller;
  private readonly editRoute: typeof editWeights;

  constructor(private readonly deps: RolloutDeps) {
    this.clock = deps.clock ?? systemClock;
    this.webhooks = deps.webhooks ?? new WebhookCaller();
    this.hook = deps.callWebhook ?? this.webhooks.call;
    this.editRoute = deps.editRoute ?? editWeights;
    for (const record of deps.store.load()) this.records.set(rolloutKey(record.mesh, record.name), record);
    this.restored = this.records.size > 0;
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
    const work: Promise<unknown>[] = [];
    const handled = new Set<string>();
    const declaredKeys = new Set(declared.map((d) => rolloutKey(d.mesh, d.name)));
    if (this.restored) {
      this.restored = false;
      for (const r of this.records.values()) {
        // A route write meshd was stopped in the middle of: settled first (it may end the rollout).
        if (r.writing) work.push(this.enqueue(r, () => this.settleInterruptedWrite(r)));
        // One removed from the files while meshd was stopped is forgotten below, without another step.
        if (!this.isRunning(r) || (r.source === 'file' && !declaredKeys.has(rolloutKey(r.mesh, r.name)))) continue;
        handled.add(rolloutKey(r.mesh, r.name));
        work.push(this.enqueue(r, () => this.carryOnAfterRestart(r)));
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
        work.push(this.enqueue(d, () => this.begin(d.mesh, d.name, d.settings, 'file', existing)));
      }
    }
    for (const r of [...this.records.values()]) {
      const key = rolloutKey(r.mesh, r.name);
      if (handled.has(key)) continue;
      if (r.source === 'file' && !declaredKeys.has(key)) work.push(this.enqueue(r, () => this.forget(r)));
      else if (this.isRunning(r)) work.push(this.enqueue(r, () => this.noticeEdits(r)));
    }
    return Promise.all(work).then(() => undefined);
  }

  /** `meshd rollout start`: a rollout kept only in the state file. */
  start(mesh: string, name: string, settings: RolloutSettings): Promise<CommandResult> {
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
    for (const [i, hook] of settings.webhooks.entries()) {
      const problem = this.webhooks.problem(hook.url);
      if (problem)
        return Promise.resolve({ ok: false, status: 400, error: `spec.analysis.webhooks[${i}].url: ${problem}` });
    }
    return this.enqueue({ mesh, name }, (): CommandResult => {
      const unsaved = this.begin(mesh, name, settings, 'api', existing);
      if (unsaved !== undefined)
        return {
          ok: false,
          status: 503,
          error: unsavedError('nothing was started and the route was not changed', unsaved),
        };
      return { ok: true, rollout: this.records.get(rolloutKey(mesh, name))! };
    });
  }

  command(mesh: string, name: string, command: Command): Promise<CommandResult> {
    const r = this.records.get(rolloutKey(mesh, name));
    if (!r) return Promise.resolve({ ok: false, status: 404, error: `no rollout ${mesh}/${name}` });
    // A step waiting for a webhook gives way (and tries again next interval unless the command ends or pauses it).
    this.stepAborts.get(rolloutKey(mesh, name))?.abort();
    return this.enqueue(r, async (): Promise<CommandResult> => {
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
          const unsaved = this.persist({ ...r, phase: 'Paused', pausedFrom: r.phase, nextStepAt: undefined });
          if (unsaved !== undefined) return refuse(unsaved);
          this.pause(r, 'paused by meshd rollout pause');
          break;
        }
        case 'resume': {
          if (r.phase !== 'Paused')
            return { ok: false, status: 409, error: `rollout ${mesh}/${name} is not paused (it is ${r.phase})` };
          const plan = this.resumePlan(r);
          if ('error' in plan) return { ok: false, status: 409, error: plan.error };
          const unsaved = this.persist({ ...r, ...plan, pausedFrom: undefined });
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
    });
  }

  /** Resolves once every rollout's queued work (steps, commands, reloads) is done, and the work queued meanwhile. */
  async settled(): Promise<void> {
    while (this.queues.size > 0) await Promise.all([...this.queues.values()]);
  }

  close(): void {
    this.closed = true;
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
  private begin(
    mesh: string,
    name: string,
    settings: RolloutSettings,
    source: 'file' | 'api',
    previous: RolloutRecord | undefined,
  ): string | undefined {
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
      const unsaved = this.persist(r);
      if (unsaved !== undefined) return unsaved;
    }
    this.records.set(key, r);
    // A webhook meshd will not call is a no at every call: said once, up front.
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
      if (!this.setCanaryWeight(r, 0).ok) return undefined;
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
   * After a restart: meshd was stopped in the middle of writing `r.writing` to the route. If the
   * file holds those weights, the write happened (the rename went through) and is taken as done,
   * with the phase it was to end in; otherwise it did not, and the usual checks follow (the old
   * weights are what the rollout expects; anything else is an edit by hand).
   */
  private settleInterruptedWrite(r: RolloutRecord): void {
    const w = r.writing;
    r.writing = undefined;
    if (!w) return;
    const served = this.servedSplit(r);
    if ('error' in served || !sameSplit(served, w.split)) return;
    if (!sameSplit(served, r.expected)) {
      r.expected = w.split;
      r.canaryWeight = w.split.canary;
      this.event(
        r,
        'Normal',
        `meshd was stopped while writing ${r.settings.primary} ${w.split.primary} and ${r.settings.canary} ${w.split.canary} to the route; the file holds them, so that write is taken as done`,
      );
    }
    if (w.phase !== undefined && w.phase !== r.phase) {
      this.unschedule(r);
      r.phase = w.phase;
      r.pausedFrom = undefined;
      this.event(
        r,
        FINISHED.has(w.phase) && w.phase !== 'Succeeded' ? 'Warning' : 'Normal',
        `the rollout ended ${w.phase}, as it was doing when meshd was stopped`,
      );
    }
  }

  /** The first mesh after a restart: running rollouts carry on, after a whole interval of fresh telemetry. */
  private carryOnAfterRestart(r: RolloutRecord): void {
    if (!this.noticeEdits(r, 'while meshd was stopped')) return;
    this.event(
      r,
      'Normal',
      `meshd restarted: carrying on at canary weight ${r.canaryWeight}% after ${formatDuration(r.settings.intervalMs)} of fresh telemetry`,
    );
    this.schedule(r, r.phase === 'Initializing' ? 0 : r.settings.intervalMs);
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
    if (!this.isRunning(r) || this.closed) return;
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
      if ((await this.call(hook, this.payload(r, hook.type, hook.metadata), signal)).ok)
        return void (await this.finish(r, 'Failed', 0, `rolling back: the rollback webhook ${hook.name} asked for it`));
    }
    const failures: string[] = [];
    const gate = await this.runHooks(r, 'rollout', signal);
    if (!gate.ok) failures.push(gate.reason);
    const check = checkCanary(this.deps.telemetry, r.mesh, r.settings, this.clock.now());
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
      if (!this.setCanaryWeight(r, next).ok) return;
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
    if (!this.setCanaryWeight(r, Math.min(r.settings.stepWeight, r.settings.maxWeight)).ok) return;
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
    const written = this.setCanaryWeight(r, canaryWeight, {
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
    this.save();
    const post = await this.runHooks(r, 'post-rollout');
    if (!post.ok) this.event(r, 'Warning', `post-rollout webhook: ${post.reason}`);
    return undefined;
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
  private setCanaryWeight(
    r: RolloutRecord,
    weight: number,
    how: { pauseOnFailure?: boolean; endsIn?: Phase; mustSave?: boolean } = {},
  ): WriteResult {
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
    // The intent first: on disk before the route file changes (and, for an end, before the phase does).
    const writing = { split: target, ...(how.endsIn !== undefined ? { phase: how.endsIn } : {}) };
    const unsaved = this.persist({ ...r, writing });
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
      let result: ReturnType<typeof editWeights>;
      try {
        result = this.editRoute(
          [
            { at: primaryAt, expected: current.primary, value: target.primary },
            { at: canaryAt, expected: current.canary, value: target.canary },
          ],
          [{ at: nameAt, value: route.name }],
        );
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
      const answer = await this.call(hook, this.payload(r, type, hook.metadata), signal);
      if (!answer.ok) return { ok: false, reason: `${type} webhook ${hook.name}: ${answer.reason}` };
    }
    return { ok: true };
  }

  /** One webhook call; throws Interrupted when a command cut the step short. */
  private async call(hook: Webhook, payload: WebhookPayload, signal?: AbortSignal): Promise<WebhookAnswer> {
    const answer = await this.hook(hook, payload, signal);
    if (signal?.aborted) throw new Interrupted();
    return answer;
  }

  private event(r: RolloutRecord, type: 'Normal' | 'Warning', message: string): void {
    const at = new Date(this.clock.now()).toISOString();
    r.events.push({ at, type, message });
    if (r.events.length > MAX_EVENTS) r.events.splice(0, r.events.length - MAX_EVENTS);
    r.updatedAt = at;
    const line = `rollout ${rolloutKey(r.mesh, r.name)}: ${message}`;
    if (type === 'Warning') this.deps.log.warn(line);
    else this.deps.log.info(line);
    // Flagger's `event` hooks hear of every event; their answers do not matter.
    for (const hook of r.settings.webhooks.filter((w) => w.type === 'event')) {
      void this.hook(hook, {
        ...this.payload(r, 'event', hook.metadata),
        metadata: { ...hook.metadata, eventMessage: message, eventType: type, timestamp: String(Date.parse(at)) },
      });
    }
  }

  private schedule(r: RolloutRecord, inMs: number): void {
    this.unschedule(r);
    if (this.closed) return;
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
        this.save();
      }
    };
    const run = (this.queues.get(key) ?? Promise.resolve()).then(saving, saving);
    const settled = run.catch((err: unknown) => this.deps.log.error(`rollout ${key}: ${(err as Error).message}`));
    this.queues.set(key, settled);
    void settled.then(() => {
      if (this.queues.get(key) === settled) this.queues.delete(key);
    });
    return run;
  }

  /**
   * Saves every rollout now (with `draft` in place of its own record, or added); the reason it could not, or undefined.
   */
  private persist(draft?: RolloutRecord): string | undefined {
    const records = [...this.records.values()];
    if (draft) {
      const at = records.findIndex((x) => x.mesh === draft.mesh && x.name === draft.name);
      if (at === -1) records.push(draft);
      else records[at] = draft;
    }
    try {
      this.deps.store.save(records);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** Saves after work that changed no route (what changed it was saved before it acted); a failure is logged. */
  private save(): void {
    const unsaved = this.persist();
    if (unsaved !== undefined)
      this.deps.log.error(
        `rollouts: ${unsaved}; the route files were not changed without a saved intent, but a restarted meshd may show older events and checks`,
      );
  }
}
