// Remote Cloud Map (meshd serve --cloud-map remote): the instances of the Cloud Map services
// the mesh's virtual nodes name, read from a real Cloud Map endpoint (AWS, or anything that
// speaks its API, such as another meshd). Every interval it asks each service's
// DiscoverInstancesRevision and calls DiscoverInstances only when the revision moved, or when
// its last answer is older than the refresh interval: AWS's revision does not move when an
// instance's health changes, so health is only seen by reading the instances again. What the
// remote answers is hostile input: instances are checked and bounded before meshd holds them,
// a bad one is skipped and counted. An error or a time-out keeps the last good instances (a
// cluster is never emptied by a failing endpoint) and is reported until a poll succeeds.
import * as net from 'node:net';
import {
  IPV4,
  IPV6,
  parsePort,
  PORT,
  type DiscoveredInstance,
  type HealthStatus,
} from '../../model/cloud-map-instance';
import { addressProblem, attributeLimitProblem, type AttributePolicy } from './attributes';
import { serviceKey, type InstanceLookup } from './registry';

/** One instance as DiscoverInstances returned it, unchecked. */
export interface RawInstance {
  readonly InstanceId?: unknown;
  readonly HealthStatus?: unknown;
  readonly Attributes?: unknown;
}

/** The two calls the poller makes; the SDK adapter (remote-client.ts) or a test fake. */
export interface RemoteApi {
  revision(namespace: string, service: string, signal: AbortSignal): Promise<number>;
  discover(
    namespace: string,
    service: string,
    query: Readonly<Record<string, string>>,
    maxResults: number,
    signal: AbortSignal,
  ): Promise<readonly RawInstance[]>;
}

/** Why a call failed, for /metrics; the adapter throws these, anything else counts as `error`. */
export type RemoteErrorReason =
  'timeout' | 'not_found' | 'rejected' | 'server_error' | 'network' | 'invalid_response' | 'error';

export class RemoteCallError extends Error {
  constructor(
    readonly reason: RemoteErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** Why an instance the remote returned was not kept. */
export type SkipReason = 'bad_id' | 'duplicate_id' | 'attributes' | 'address' | 'health' | 'over_limit';
export const SKIP_REASONS: readonly SkipReason[] = [
  'bad_id',
  'duplicate_id',
  'attributes',
  'address',
  'health',
  'over_limit',
];
export const REMOTE_ERROR_REASONS: readonly RemoteErrorReason[] = [
  'timeout',
  'not_found',
  'rejected',
  'server_error',
  'network',
  'invalid_response',
  'error',
];

/** A service some virtual node names, with the attribute filters (DiscoverInstances' QueryParameters) they use. */
export interface RemoteSubscription {
  readonly namespace: string;
  readonly service: string;
  readonly queries: readonly Readonly<Record<string, string>>[];
}

export interface RemoteOptions {
  readonly api: RemoteApi;
  readonly pollIntervalMs: number;
  /**
   * DiscoverInstances is called at least this often even when the revision stays (health changes do not move AWS's).
   */
  readonly refreshIntervalMs: number;
  /** One call (revision or instances) that takes longer fails as a time-out. */
  readonly timeoutMs: number;
  /** The most instances kept per service (DiscoverInstances' MaxResults, at most 1000). */
  readonly maxInstances: number;
  readonly attributes?: AttributePolicy;
  /** A service this answers true for is the local registry's alone: its remote absence is no error. */
  readonly isLocal?: (namespace: string, service: string) => boolean;
  readonly now?: () => number;
  /** One line per state change (failing, recovered, skipped instances). */
  readonly log?: { warn(message: string): void; info(message: string): void };
  /** What the report says the remote is (endpoint, region), for status. */
  readonly describe?: Readonly<Record<string, string>>;
}

// AWS's InstanceId rule.
const INSTANCE_ID = /^[0-9a-zA-Z_/:.@-]{1,64}$/;
/** Keys that would reach Object.prototype where an object is keyed by input. */
const REFUSED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const HEALTH: ReadonlySet<string> = new Set(['HEALTHY', 'UNHEALTHY', 'UNKNOWN']);
/** Calls under way at once, over all services. */
const CONCURRENCY = 4;

interface ServiceState {
  readonly namespace: string;
  readonly service: string;
  /** By the query's canonical text. */
  queries: Map<string, Readonly<Record<string, string>>>;
  /** The revision whose instances `instances` holds, and the queries they were fetched for. */
  revision: number | undefined;
  fetchedQueries: Set<string>;
  /** When `instances` was read. */
  fetchedAt: number | undefined;
  /** The last good answer (the union of every query's instances, by id); undefined before the first. */
  instances: DiscoveredInstance[] | undefined;
  lastSuccessAt: number | undefined;
  lastError: { message: string; reason: RemoteErrorReason; at: number; since: number; consecutive: number } | undefined;
  /** The remote has no such service, and the local registry has it: nothing to report. */
  localOnly: boolean;
  /** Instances skipped in the last answer, by reason. */
  skipped: Map<SkipReason, number>;
}

type ChangeListener = (changed: ReadonlySet<string>) => void;

export class RemoteCloudMap implements InstanceLookup {
  private readonly services = new Map<string, ServiceState>();
  private readonly listeners = new Set<ChangeListener>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private started = false;
  /** Set when subscriptions change during a round: another round follows at once. */
  private again = false;
  // Totals for /metrics.
  readonly errorsTotal = new Map<string, number>();
  readonly skippedTotal = new Map<SkipReason, number>(SKIP_REASONS.map((r) => [r, 0]));
  readonly callsTotal = new Map<'revision' | 'discover', number>([
    ['revision', 0],
    ['discover', 0],
  ]);

  constructor(private readonly options: RemoteOptions) {
    this.now = options.now ?? Date.now;
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The last good instances of a service, or undefined when none was ever read (or it is not polled). */
  discover(namespaceName: string, serviceName: string): readonly DiscoveredInstance[] | undefined {
    return this.services.get(serviceKey(namespaceName, serviceName))?.instances;
  }

  /** Polls exactly these services from now on (the mesh's current references); new ones at once. */
  subscribe(subscriptions: readonly RemoteSubscription[]): void {
    const next = new Map<string, ServiceState>();
    let added = false;
    for (const sub of subscriptions) {
      const key = serviceKey(sub.namespace, sub.service);
      const state = next.get(key) ?? this.services.get(key) ?? newState(sub.namespace, sub.service);
      if (!next.has(key)) state.queries = new Map();
      for (const query of sub.queries) {
        const text = queryText(query);
        if (!state.fetchedQueries.has(text)) added = true;
        state.queries.set(text, query);
      }
      next.set(key, state);
    }
    this.services.clear();
    for (const [key, state] of next) this.services.set(key, state);
    if (added && this.started && !this.closed) {
      if (this.running) this.again = true;
      else this.schedule(0);
    }
  }

  /** Starts polling (the first round at once). */
  start(): void {
    this.started = true;
    this.schedule(0);
  }

  /** Stops polling; a round under way finishes first. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One round now (tests; start() runs them on a timer). */
  async pollOnce(): Promise<void> {
    if (this.running) await this.running;
    this.running = this.round().finally(() => (this.running = undefined));
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const startedAt = this.now();
      void this.pollOnce().then(() => {
        if (this.again) {
          this.again = false;
          return this.schedule(0);
        }
        this.schedule(Math.max(0, this.options.pollIntervalMs - (this.now() - startedAt)));
      });
    }, delayMs);
    this.timer.unref?.();
  }

  private async round(): Promise<void> {
    const states = [...this.services.values()];
    const changed = new Set<string>();
    let next = 0;
    const worker = async () => {
      while (next < states.length) {
        const state = states[next++]!;
        if (await this.pollService(state)) changed.add(serviceKey(state.namespace, state.service));
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, states.length) }, worker));
    // A service dropped from the subscriptions meanwhile is no one's concern any more.
    for (const key of changed) if (!this.services.has(key)) changed.delete(key);
    if (changed.size > 0) for (const listener of this.listeners) listener(changed);
  }

  /** One service's poll; true when the instances it serves changed. */
  private async pollService(state: ServiceState): Promise<boolean> {
    const { namespace, service } = state;
    const name = `${namespace}/${service}`;
    try {
      const revision = await this.call('revision', (signal) => this.options.api.revision(namespace, service, signal));
      if (typeof revision !== 'number' || !Number.isFinite(revision))
        throw new RemoteCallError(
          'invalid_response',
          `DiscoverInstancesRevision answered no number: ${clip(String(revision))}`,
        );
      const wanted = [...state.queries.keys()];
      const fresh = state.fetchedAt !== undefined && this.now() - state.fetchedAt < this.options.refreshIntervalMs;
      if (
        state.instances !== undefined &&
        revision === state.revision &&
        fresh &&
        wanted.every((q) => state.fetchedQueries.has(q))
      ) {
        this.succeeded(state);
        return false;
      }
      const answers = [];
      const fetchedAt = this.now();
      for (const text of wanted) {
        const query = state.queries.get(text)!;
        answers.push(
          await this.call('discover', (signal) =>
            this.options.api.discover(namespace, service, query, this.options.maxInstances, signal),
          ),
        );
      }
      const skipped = new Map<SkipReason, number>();
      const instances = this.checked(answers, skipped);
      const before = state.instances;
      state.instances = instances;
      state.revision = revision;
      state.fetchedQueries = new Set(wanted);
      state.fetchedAt = fetchedAt;
      this.noteSkipped(state, skipped, name);
      this.succeeded(state);
      return before === undefined || !sameInstances(before, instances);
    } catch (err) {
      const reason = err instanceof RemoteCallError ? err.reason : 'error';
      const message = err instanceof Error ? err.message : String(err);
      if (reason === 'not_found' && this.options.isLocal?.(namespace, service)) {
        // The local registry has it and the remote does not: local only, nothing is wrong.
        if (!state.localOnly)
          this.options.log?.info(
            `cloud map remote: ${name} is not in the remote registry; the local registry answers it`,
          );
        state.localOnly = true;
        state.lastError = undefined;
        state.lastSuccessAt = this.now();
        const had = state.instances !== undefined && state.instances.length > 0;
        state.instances = undefined;
        state.revision = undefined;
        state.fetchedQueries = new Set();
        state.fetchedAt = undefined;
        return had;
      }
      this.failed(state, reason, message);
      return false;
    }
  }

  /** Runs one call with the time-out; an error that is not a RemoteCallError stays as it is. */
  private async call<T>(operation: 'revision' | 'discover', run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.callsTotal.set(operation, (this.callsTotal.get(operation) ?? 0) + 1);
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(
          new RemoteCallError(
            'timeout',
            `${operation === 'revision' ? 'DiscoverInstancesRevision' : 'DiscoverInstances'} did not answer within ${this.options.timeoutMs} ms`,
          ),
        );
      }, this.options.timeoutMs);
    });
    try {
      return await Promise.race([run(controller.signal), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private succeeded(state: ServiceState): void {
    if (state.lastError) {
      this.options.log?.info(
        `cloud map remote: ${state.namespace}/${state.service} answers again after ${state.lastError.consecutive} failed poll(s)`,
      );
    }
    state.lastError = undefined;
    state.localOnly = false;
    state.lastSuccessAt = this.now();
  }

  private failed(state: ServiceState, reason: RemoteErrorReason, message: string): void {
    const key = `${state.namespace}\u0000${state.service}\u0000${reason}`;
    this.errorsTotal.set(key, (this.errorsTotal.get(key) ?? 0) + 1);
    const now = this.now();
    const first = state.lastError === undefined;
    state.lastError = {
      message: clip(message, 500),
      reason,
      at: now,
      since: state.lastError?.since ?? now,
      consecutive: (state.lastError?.consecutive ?? 0) + 1,
    };
    if (first) {
      const keeps =
        state.instances === undefined
          ? 'it has no instances yet'
          : `its last good ${state.instances.length} instance(s) keep serving`;
      this.options.log?.warn(
        `cloud map remote: ${state.namespace}/${state.service}: ${reason}: ${state.lastError.message}; ${keeps}`,
      );
    }
  }

  private noteSkipped(state: ServiceState, skipped: Map<SkipReason, number>, name: string): void {
    for (const [reason, n] of skipped) this.skippedTotal.set(reason, (this.skippedTotal.get(reason) ?? 0) + n);
    const text = (m: Map<SkipReason, number>) => [...m].map(([r, n]) => `${n} ${r}`).join(', ');
    if (skipped.size > 0 && text(skipped) !== text(state.skipped))
      this.options.log?.warn(`cloud map remote: ${name}: skipped instance(s): ${text(skipped)}`);
    state.skipped = skipped;
  }

  /** The union of the answers, by instance id, each instance checked; at most maxInstances. */
  private checked(
    answers: readonly (readonly RawInstance[])[],
    skipped: Map<SkipReason, number>,
  ): DiscoveredInstance[] {
    const skip = (reason: SkipReason) => skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
    const byId = new Map<string, DiscoveredInstance>();
    for (const answer of answers) {
      if (!Array.isArray(answer))
        throw new RemoteCallError('invalid_response', 'DiscoverInstances answered no Instances list');
      const seen = new Set<string>();
      for (const raw of answer as readonly RawInstance[]) {
        const id = raw?.InstanceId;
        if (typeof id !== 'string' || !INSTANCE_ID.test(id)) {
          skip('bad_id');
          continue;
        }
        if (seen.has(id)) {
          skip('duplicate_id');
          continue;
        }
        seen.add(id);
        if (byId.has(id)) continue; // the same instance through another query
        if (byId.size >= this.options.maxInstances) {
          skip('over_limit');
          continue;
        }
        const attributes = ownStrings(raw.Attributes);
        if (attributes === undefined || attributeLimitProblem(attributes) !== undefined) {
          skip('attributes');
          continue;
        }
        if (addressOf(attributes, this.options.attributes) !== undefined) {
          skip('address');
          continue;
        }
        const health = raw.HealthStatus ?? 'UNKNOWN';
        if (typeof health !== 'string' || !HEALTH.has(health)) {
          skip('health');
          continue;
        }
        byId.set(id, { id, attributes, health: health as HealthStatus });
      }
    }
    return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** What `meshd status` and GET /v1/cloud-map/remote show. */
  report(): unknown {
    const now = this.now();
    const services = [...this.services.values()]
      .sort((a, b) => compareText(a.namespace, b.namespace) || compareText(a.service, b.service))
      .map((s) => ({
        namespace: s.namespace,
        service: s.service,
        state: s.lastError ? 'failing' : s.localOnly ? 'local-only' : s.lastSuccessAt === undefined ? 'pending' : 'ok',
        instances: s.instances?.length ?? null,
        revision: s.revision ?? null,
        lastSuccessAt: s.lastSuccessAt === undefined ? null : new Date(s.lastSuccessAt).toISOString(),
        lastSuccessAgeSeconds: s.lastSuccessAt === undefined ? null : (now - s.lastSuccessAt) / 1000,
        lastError: s.lastError
          ? {
              reason: s.lastError.reason,
              message: s.lastError.message,
              at: new Date(s.lastError.at).toISOString(),
              failingSince: new Date(s.lastError.since).toISOString(),
              consecutiveFailures: s.lastError.consecutive,
            }
          : null,
        skippedInstances: Object.fromEntries(s.skipped),
      }));
    return {
      mode: 'remote',
      ...this.options.describe,
      pollIntervalMs: this.options.pollIntervalMs,
      refreshIntervalMs: this.options.refreshIntervalMs,
      timeoutMs: this.options.timeoutMs,
      maxInstances: this.options.maxInstances,
      services,
    };
  }

  /** Per polled service: whether its last poll succeeded, and how long ago a poll last did (metrics). */
  health(): { namespace: string; service: string; up: boolean; lastSuccessAgeSeconds: number | undefined }[] {
    const now = this.now();
    return [...this.services.values()].map((s) => ({
      namespace: s.namespace,
      service: s.service,
      up: s.lastError === undefined && s.lastSuccessAt !== undefined,
      lastSuccessAgeSeconds: s.lastSuccessAt === undefined ? undefined : (now - s.lastSuccessAt) / 1000,
    }));
  }
}

function newState(namespace: string, service: string): ServiceState {
  return {
    namespace,
    service,
    queries: new Map(),
    revision: undefined,
    fetchedQueries: new Set(),
    fetchedAt: undefined,
    instances: undefined,
    lastSuccessAt: undefined,
    lastError: undefined,
    localOnly: false,
    skipped: new Map(),
  };
}

/** A query's canonical text: its pairs sorted by key (two filters with the same pairs are one query). */
export function queryText(query: Readonly<Record<string, string>>): string {
  return JSON.stringify(
    Object.keys(query)
      .sort()
      .map((k) => [k, query[k]]),
  );
}

/** The remote's attributes as a null-prototype map of strings, or undefined when they are not one. */
function ownStrings(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return Object.create(null) as Record<string, string>;
  if (typeof value !== 'object' || Array.isArray(value)) return undefined;
  const out = Object.create(null) as Record<string, string>;
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    if (REFUSED_KEYS.has(key) || typeof v !== 'string') return undefined;
    out[key] = v;
  }
  return out;
}

/** Why the instance's address cannot be an endpoint, or undefined when it can. */
function addressOf(
  attributes: Readonly<Record<string, string>>,
  policy: AttributePolicy | undefined,
): string | undefined {
  const ipv4 = attributes[IPV4];
  const ipv6 = attributes[IPV6];
  const port = attributes[PORT];
  if (ipv4 === undefined && ipv6 === undefined) return `neither ${IPV4} nor ${IPV6}`;
  if (ipv4 !== undefined && !net.isIPv4(ipv4)) return `${IPV4} is no IPv4 address`;
  if (ipv6 !== undefined && !net.isIPv6(ipv6)) return `${IPV6} is no IPv6 address`;
  if (port !== undefined && parsePort(port) === undefined) return `${PORT} is no port`;
  return (
    (ipv4 !== undefined ? addressProblem(IPV4, ipv4, policy) : undefined) ??
    (ipv6 !== undefined ? addressProblem(IPV6, ipv6, policy) : undefined)
  );
}

function sameInstances(a: readonly DiscoveredInstance[], b: readonly DiscoveredInstance[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i]!;
    if (x.id !== y.id || x.health !== y.health) return false;
    const keys = Object.keys(x.attributes);
    return (
      keys.length === Object.keys(y.attributes).length &&
      keys.every((k) => Object.hasOwn(y.attributes, k) && x.attributes[k] === y.attributes[k])
    );
  });
}

function clip(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}

/** A consistent order (0 for equal text): concatenated pairs are not one, 'a'+'bc' and 'ab'+'c' being equal. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
