// A rollout's state as meshd keeps it (and writes it to --rollout-state after every change, so a
// restarted meshd carries on where it was): its settings, phase, the weights it expects the
// route to serve, its failed checks and its recent events. RolloutStore is the state file; in a
// fleet the records live in the store's rollouts table instead (store/postgres/rollouts.ts), and a
// record read from there must first pass checkRolloutRecord.
import { AtomicJsonFile, StateFileError } from '../util/atomic-json-file';
import type { MetricResult } from './analysis';
import type { RolloutSettings } from '../model/rollout';

/** Flagger's phases, minus the Kubernetes ones (Initialized, Promoting, Finalising), plus Paused and Aborted. */
export const PHASES = [
  'Initializing',
  'Progressing',
  'WaitingPromotion',
  'Paused',
  'Succeeded',
  'Failed',
  'Aborted',
] as const;
export type Phase = (typeof PHASES)[number];
export const FINISHED: ReadonlySet<Phase> = new Set(['Succeeded', 'Failed', 'Aborted']);

export interface Split {
  readonly primary: number;
  readonly canary: number;
}

export interface RolloutEvent {
  readonly at: string;
  readonly type: 'Normal' | 'Warning';
  readonly message: string;
  /** The canary's percent after the event (absent in records saved before meshd recorded it). */
  readonly canaryWeight?: number;
  /** Set on the record of a webhook call: the hook's name. */
  readonly webhook?: string;
}

export interface RolloutRecord {
  readonly mesh: string;
  readonly name: string;
  /** `file`: a `kind: Rollout` document; `api`: `meshd rollout start`. */
  readonly source: 'file' | 'api';
  settings: RolloutSettings;
  phase: Phase;
  /** While Paused: the phase `resume` goes back to. */
  pausedFrom?: Phase;
  /** The canary's share (percent) the rollout has reached. */
  canaryWeight: number;
  /** The weights the route must be serving; anything else is an edit by hand. */
  expected: Split;
  failedChecks: number;
  startedAt: string;
  updatedAt: string;
  /**
   * A route write under way: the weights being written and, for an end, the phase it ends in.
   * Saved before the route file is renamed into place, and cleared once it is; found on disk
   * only when meshd was stopped in between, so that a restarted meshd recognises those weights
   * in the file as its own write rather than an edit by hand.
   */
  writing?: { readonly split: Split; readonly phase?: Phase };
  /**
   * Ended, and its post-rollout hooks not yet known to have been called: saved with the end,
   * cleared once they answered, so that a meshd stopped in between (in a fleet: a leader that
   * stopped leading) leaves them to the next one, which calls them.
   */
  postRolloutDue?: true;
  /** When the next check or step is due (ms since the epoch); none while paused or finished. */
  nextStepAt?: number;
  lastCheck?: { readonly at: string; readonly ok: boolean; readonly results: readonly MetricResult[] };
  events: RolloutEvent[];
}

export const rolloutKey = (mesh: string, name: string): string => `${mesh}/${name}`;

/**
 * Why a record read from a shared store is not one this meshd can act on (one line), or undefined.
 * Its shape only, field by field: enough that showing it, or a step on it, cannot throw.
 */
export function checkRolloutRecord(row: unknown): string | undefined {
  const obj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  const num = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
  const split = (v: unknown): boolean => obj(v) && num(v.primary) && num(v.canary);
  if (!obj(row)) return 'not a JSON object';
  const r = row;
  if (typeof r.mesh !== 'string' || typeof r.name !== 'string') return 'mesh and name must be strings';
  if (r.source !== 'file' && r.source !== 'api') return 'source must be file or api';
  if (!(PHASES as readonly unknown[]).includes(r.phase)) return `phase must be one of ${PHASES.join(', ')}`;
  if (r.pausedFrom !== undefined && !(PHASES as readonly unknown[]).includes(r.pausedFrom))
    return 'pausedFrom must be a phase';
  const s = r.settings;
  if (
    !obj(s) ||
    !obj(s.route) ||
    typeof s.route.virtualRouter !== 'string' ||
    typeof s.route.name !== 'string' ||
    typeof s.primary !== 'string' ||
    typeof s.canary !== 'string' ||
    ![s.intervalMs, s.stepWeight, s.maxWeight, s.threshold, s.minRequests].every(num) ||
    !Array.isArray(s.metrics) ||
    !Array.isArray(s.webhooks) ||
    !s.webhooks.every((h) => obj(h) && typeof h.type === 'string' && typeof h.url === 'string' && obj(h.metadata))
  )
    return "settings are not a rollout's settings";
  if (!num(r.canaryWeight) || !num(r.failedChecks)) return 'canaryWeight and failedChecks must be numbers';
  if (!split(r.expected)) return 'expected must hold the primary and canary weights';
  if (
    r.writing !== undefined &&
    !(
      obj(r.writing) &&
      split(r.writing.split) &&
      (r.writing.phase === undefined || (PHASES as readonly unknown[]).includes(r.writing.phase))
    )
  )
    return 'writing must hold a split, and maybe a phase';
  if (r.nextStepAt !== undefined && !num(r.nextStepAt)) return 'nextStepAt must be a number';
  if (typeof r.startedAt !== 'string' || typeof r.updatedAt !== 'string') return 'startedAt and updatedAt must be text';
  if (!Array.isArray(r.events) || !r.events.every((e) => obj(e) && typeof e.message === 'string'))
    return 'events must be a list of events';
  return undefined;
}

const FORMAT = 'meshd-rollouts/v1';

/** The rollouts on disk: read once at start, rewritten whole (atomically, durably) after each change. */
export class RolloutStore {
  private readonly file: AtomicJsonFile;

  constructor(readonly path: string) {
    this.file = new AtomicJsonFile(path);
  }

  load(): RolloutRecord[] {
    const stored = this.file.read() as { format?: unknown; rollouts?: unknown } | undefined;
    if (stored === undefined) return [];
    if (stored === null || typeof stored !== 'object' || stored.format !== FORMAT) {
      throw new StateFileError(
        `${this.path}: not a meshd rollout state file (expected "format": "${FORMAT}"); move it away or pass another --rollout-state`,
      );
    }
    if (!Array.isArray(stored.rollouts))
      throw new StateFileError(`${this.path}: "rollouts" must be a list; fix or remove the file`);
    return stored.rollouts as RolloutRecord[];
  }

  save(records: Iterable<RolloutRecord>): void {
    this.file.write({ format: FORMAT, rollouts: [...records] });
  }
}
