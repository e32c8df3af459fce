// What a rollout is asked to do: shift a route's traffic from a primary virtual node to a canary
// in steps, checking the canary's live telemetry between steps. The settings follow Flagger's
// Canary `analysis` block (interval, stepWeight, maxWeight, threshold, metrics with
// thresholdRange, webhooks), so a Flagger user can paste theirs; `route`, `primary` and
// `canary` say which App Mesh route and virtual nodes take part. One shape serves `kind:
// Rollout` in mesh files and `meshd rollout start` (which posts the same spec to the admin API).
import { formatDuration, parseDuration } from '../util/duration';
import type { FieldPath } from './common';
import { DEFAULT_GRPC_FAILURE_CODES, GRPC_FAILURE_NAMES, type GrpcFailureName } from './grpc-status';
import type { MeshModel } from './mesh-model';
import { routeKindOf } from './route';
import { integer, list, number, object, oneOf, optional, required, string, type Fail } from './schema';
import { resourceName } from './shapes';

export const ROLLOUT_KIND = 'Rollout';

/** The furthest back a metric may look: the telemetry keeps exactly this much traffic (telemetry/traffic-window). */
export const MAX_WINDOW_MS = 15 * 60 * 1000;

/** Flagger's webhook types, run at the same moments with the same meaning. */
export const WEBHOOK_TYPES = [
  'confirm-rollout',
  'pre-rollout',
  'rollout',
  'confirm-traffic-increase',
  'confirm-promotion',
  'post-rollout',
  'rollback',
  'event',
] as const;
export type WebhookType = (typeof WEBHOOK_TYPES)[number];

/** Flagger's two built-in metrics: the success rate (percent of non-5xx) and the p99 request duration (ms). */
export const METRIC_NAMES = ['request-success-rate', 'request-duration'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

export const DEFAULTS = {
  intervalMs: 60_000,
  stepWeight: 10,
  maxWeight: 50,
  threshold: 5,
  minRequests: 1,
  webhookTimeoutMs: 10_000,
} as const;
/** Used when `analysis.metrics` is left out (an empty list means: no metric checks). */
export const DEFAULT_METRICS: readonly MetricCheck[] = [
  { name: 'request-success-rate', min: 99 },
  { name: 'request-duration', max: 500 },
];
const MIN_INTERVAL_MS = 1000;
const MAX_INTERVAL_MS = 24 * 3_600_000;

const duration = (description: string) =>
  string({
    max: 32,
    pattern: { regex: /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/, message: 'must be a duration such as 30s, 1m or 500ms' },
    description,
  });

/** A query metric's `{{ interval }}` when it sets none: Flagger's (GetMetricInterval), not the analysis interval. */
export const DEFAULT_QUERY_WINDOW_MS = 60_000;
/** The furthest back a query metric may look: Prometheus keeps its own history, so not the telemetry's 15m. */
export const MAX_QUERY_WINDOW_MS = 24 * 3_600_000;

/** The longest PromQL template a metric may carry. */
export const MAX_QUERY_LENGTH = 4096;

/**
 * The variables a metric's `query` may use, as Flagger's MetricTemplate does (`{{ target }}`,
 * `{{ namespace }}`, `{{ interval }}`), plus meshd's own names for the same things.
 */
export const QUERY_VARIABLES = ['target', 'namespace', 'interval', 'mesh', 'virtualNode', 'primary', 'canary'] as const;
export type QueryVariable = (typeof QUERY_VARIABLES)[number];

/** `{{ name }}` with any spacing inside the braces (Flagger's templates write `{{ target }}` and `{{target}}`). */
export const QUERY_VARIABLE_PATTERN = /\{\{\s*([^{}]*?)\s*\}\}/g;

/**
 * What is wrong with a query template, or undefined: an unknown variable, braces that open a
 * variable and never close it, or a query with nothing in it.
 */
export function queryTemplateProblem(query: string): string | undefined {
  if (query.trim() === '') return 'is empty; write a PromQL expression';
  for (const match of query.matchAll(QUERY_VARIABLE_PATTERN)) {
    const variable = match[1]!;
    if (!(QUERY_VARIABLES as readonly string[]).includes(variable))
      return `uses {{ ${variable.slice(0, 64)} }}, which is not a template variable; use ${QUERY_VARIABLES.map((v) => `{{ ${v} }}`).join(', ')}`;
  }
  const left = query.replace(QUERY_VARIABLE_PATTERN, '');
  if (left.includes('{{') || left.includes('}}'))
    return 'has a {{ or }} that is not part of a {{ variable }} (PromQL itself never writes two braces in a row)';
  return undefined;
}

/**
 * The characters a name may hold when a query metric puts it into PromQL ({{ target }}, {{ mesh }},
 * ...): nothing that could end a string literal or mean something in a regex matcher (`|`, `*`,
 * `(`...). A `.` is let through (names often hold one); in a `=~` matcher it matches any character.
 */
export const QUERY_SAFE_NAME = /^[A-Za-z0-9_.-]+$/;

/** Why `name` (a mesh, primary or canary) cannot go into a query template, or undefined. */
export function queryNameProblem(name: string): string | undefined {
  if (QUERY_SAFE_NAME.test(name)) return undefined;
  const bad = [...new Set([...name].filter((c) => !QUERY_SAFE_NAME.test(c)))]
    .slice(0, 5)
    .map((c) => JSON.stringify(c))
    .join(' ');
  return `is '${name.slice(0, 64)}'${name.length > 64 ? '…' : ''}, which holds ${bad}; a rollout with a query metric puts it into PromQL, so it may hold only letters, digits, _, . and - (rename it, or drop the query metrics)`;
}

/** Names a query metric may not take: the check's results are told apart by name (analysis.ts MetricResult). */
const RESERVED_METRIC_NAMES: readonly string[] = [...METRIC_NAMES, 'request-count'];

/** A metric's label when it carries a query: a short name such as error-rate or p95_latency. */
const METRIC_LABEL = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;

const metricShape = object(
  {
    name: required(
      string({
        max: 63,
        pattern: {
          regex: METRIC_LABEL,
          message: 'must be a short name: letters, digits, -, _ and ., starting and ending with a letter or digit',
        },
        description:
          'request-success-rate (percent of non-5xx responses) or request-duration (p99, milliseconds); with a query, any short name',
      }),
    ),
    query: optional(
      string({
        max: MAX_QUERY_LENGTH,
        description:
          'a PromQL template asked of --prometheus-url (docs/prometheus.md); {{ target }} is the canary, {{ namespace }} the mesh, {{ interval }} the metric interval; its one value is held to thresholdRange',
      }),
    ),
    thresholdRange: required(
      object(
        {
          min: optional(number(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'the lowest acceptable value')),
          max: optional(number(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'the highest acceptable value')),
        },
        {
          check: (r, fail) =>
            r.min === undefined && r.max === undefined
              ? fail([], 'sets neither min nor max; set at least one')
              : undefined,
        },
      ),
    ),
    interval: optional(
      duration(
        'how far back the metric looks: a built-in metric, default analysis.interval, at most 15m (the telemetry meshd keeps); a query metric ({{ interval }}), default 1m as in Flagger, at most 24h',
      ),
    ),
  },
  {
    check: (m, fail) => {
      if (m.query === undefined) {
        if (!(METRIC_NAMES as readonly string[]).includes(m.name))
          fail(
            ['name'],
            `is '${m.name}', not a built-in metric (request-success-rate or request-duration); a metric of another name needs a query (a PromQL template, docs/prometheus.md)`,
          );
        else if ((m.thresholdRange.min ?? 0) < 0 || (m.thresholdRange.max ?? 0) < 0)
          fail(['thresholdRange'], `of ${m.name} must not be negative`);
      } else {
        if (RESERVED_METRIC_NAMES.includes(m.name.toLowerCase()))
          fail(
            ['name'],
            `is '${m.name}', the name of meshd's built-in ${m.name.toLowerCase() === 'request-count' ? 'request count (minRequests)' : 'metric'}; a metric with a query needs another name (e.g. prom-${m.name.toLowerCase()})`,
          );
        const problem = queryTemplateProblem(m.query);
        if (problem) fail(['query'], problem);
      }
      if (m.query === undefined) checkWindow(m.interval, fail);
      else checkDuration(m.interval, ['interval'], MIN_INTERVAL_MS, MAX_QUERY_WINDOW_MS, fail);
    },
  },
);

const webhookShape = object(
  {
    name: required(string({ max: 253 })),
    type: optional(oneOf(WEBHOOK_TYPES, "when it is called, as in Flagger (default 'rollout')")),
    url: required(
      string({ max: 2048, pattern: { regex: /^https?:\/\/[^\s]+$/, message: 'must be an http:// or https:// URL' } }),
    ),
    timeout: optional(duration('how long to wait for an answer (default 10s)')),
    // metadata: a mapping of strings, checked on its own (the schema language has no maps)
  },
  {
    check: (w, fail) => {
      checkDuration(w.timeout, ['timeout'], 1, 300_000, fail);
      checkWebhookUrl(w.url, fail);
    },
  },
);

/** Beyond the pattern: a URL that parses, http or https, with a host (the pattern alone lets `http://%zz` through). */
function checkWebhookUrl(url: string, fail: Fail): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return fail(['url'], `is not a valid URL: '${url}'`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    return fail(['url'], `must be an http:// or https:// URL, not ${parsed.protocol.replace(/:$/, '')}`);
  if (parsed.hostname === '') fail(['url'], `names no host: '${url}'`);
}

const analysisShape = object(
  {
    interval: optional(duration('time between checks and steps (default 1m)')),
    stepWeight: optional(integer(1, 100, 'canary weight added at each step (default 10)')),
    maxWeight: optional(integer(1, 100, 'canary weight after which the canary is promoted (default 50)')),
    threshold: optional(integer(1, 1000, 'failed checks that roll the canary back (default 5)')),
    minRequests: optional(
      integer(0, Number.MAX_SAFE_INTEGER, 'requests the canary must get per interval for a check to pass (default 1)'),
    ),
    metrics: optional(list(metricShape, { max: 10 })),
    webhooks: optional(list(webhookShape, { max: 20 })),
    grpcFailureCodes: optional(
      list(oneOf(GRPC_FAILURE_NAMES, 'a gRPC status name other than OK'), {
        max: GRPC_FAILURE_NAMES.length,
        description: `gRPC statuses request-success-rate counts as failures, besides HTTP 5xx (default ${DEFAULT_GRPC_FAILURE_CODES.join(', ')}; [] for none)`,
      }),
    ),
  },
  {
    check: (a, fail) => {
      checkDuration(a.interval, ['interval'], MIN_INTERVAL_MS, MAX_INTERVAL_MS, fail);
      a.grpcFailureCodes?.forEach((code, i) => {
        if (a.grpcFailureCodes!.indexOf(code) !== i) fail(['grpcFailureCodes', i], `lists ${code} twice`);
      });
      const step = a.stepWeight ?? DEFAULTS.stepWeight;
      const max = a.maxWeight ?? DEFAULTS.maxWeight;
      if (max < step) fail(['maxWeight'], `is ${max}, below stepWeight (${step}); the canary could never take a step`);
      const first = new Map<string, number>();
      for (const [i, m] of (a.metrics ?? []).entries()) {
        const at = first.get(m.name);
        if (at === undefined) first.set(m.name, i);
        else
          fail(
            ['metrics', i, 'name'],
            `is '${m.name}', the name of metrics[${at}] too; each metric of a rollout needs its own name (its results and events are told apart by it)`,
          );
      }
      // Judged by Prometheus alone, a rollout reads no request count of meshd's own (analysis.ts checkCanaryAll).
      if (a.minRequests !== undefined && a.metrics?.length && a.metrics.every((m) => m.query !== undefined))
        fail(
          ['minRequests'],
          'is not used when every metric is a query (meshd reads no request count of its own then); drop it and write the request count as a query metric, e.g. sum(increase(envoy_cluster_upstream_rq_completed{…}[{{ interval }}])) with thresholdRange.min',
        );
    },
  },
);

export const rolloutSpecShape = object(
  {
    route: required(
      object(
        { virtualRouter: required(resourceName), name: required(resourceName) },
        { description: 'the route whose weighted targets the rollout shifts' },
      ),
    ),
    primary: required(string({ max: 255, description: 'the virtual node serving now (weight 100 - canary weight)' })),
    canary: required(string({ max: 255, description: 'the virtual node being rolled out' })),
    analysis: optional(analysisShape),
  },
  {
    check: (s, fail) => {
      if (s.primary === s.canary)
        return fail(['canary'], `is the primary too ('${s.primary}'); name two different virtual nodes`);
      if (s.analysis?.metrics?.some((m) => m.query !== undefined))
        for (const role of ['primary', 'canary'] as const) {
          const problem = queryNameProblem(s[role]);
          if (problem) fail([role], problem);
        }
    },
  },
);

interface MetricBounds {
  readonly min?: number;
  readonly max?: number;
  /** How far back it looks; undefined: the analysis interval (a built-in metric) or 1m (a query metric). */
  readonly windowMs?: number;
}

/** One of Flagger's built-in metrics, measured from meshd's own telemetry. */
export interface BuiltinMetricCheck extends MetricBounds {
  readonly name: MetricName;
  readonly query?: undefined;
}

/** A PromQL template asked of Prometheus (rollout/prometheus.ts); `name` is only its label. */
export interface QueryMetricCheck extends MetricBounds {
  readonly name: string;
  readonly query: string;
}

export type MetricCheck = BuiltinMetricCheck | QueryMetricCheck;

export interface Webhook {
  readonly name: string;
  readonly type: WebhookType;
  readonly url: string;
  readonly timeoutMs: number;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface RouteRef {
  readonly virtualRouter: string;
  readonly name: string;
}

/** A rollout's settings with every default filled in. */
export interface RolloutSettings {
  readonly route: RouteRef;
  readonly primary: string;
  readonly canary: string;
  readonly intervalMs: number;
  readonly stepWeight: number;
  readonly maxWeight: number;
  readonly threshold: number;
  readonly minRequests: number;
  readonly metrics: readonly MetricCheck[];
  readonly webhooks: readonly Webhook[];
  /**
   * gRPC statuses counted as failures by request-success-rate (besides HTTP 5xx); undefined:
   * DEFAULT_GRPC_FAILURE_CODES (left out, so that the settings of a rollout saved before the field
   * existed compare equal to the same spec read again, and it is not restarted).
   */
  readonly grpcFailureCodes?: readonly GrpcFailureName[];
}

function checkWindow(interval: string | undefined, fail: Fail): void {
  checkDuration(interval, ['interval'], MIN_INTERVAL_MS, MAX_WINDOW_MS, fail);
}

function checkDuration(text: string | undefined, path: FieldPath, min: number, max: number, fail: Fail): void {
  if (text === undefined) return;
  const ms = parseDuration(text)!;
  if (ms < min || ms > max) fail(path, `must be from ${formatDuration(min)} to ${formatDuration(max)}, got ${text}`);
}

type Spec = typeof rolloutSpecShape extends { check?(value: infer V, fail: Fail): void } ? V : never;

/**
 * The webhooks' metadata mappings are taken out before the shape check (see webhookShape) and
 * checked here: string values only, as in Flagger. Returns the spec without them and the mappings by index.
 */
export function splitWebhookMetadata(
  spec: unknown,
  fail: Fail,
): { spec: unknown; metadata: Map<number, Record<string, string>> } {
  const metadata = new Map<number, Record<string, string>>();
  const hooks = (spec as { analysis?: { webhooks?: unknown } } | null)?.analysis?.webhooks;
  if (!Array.isArray(hooks)) return { spec, metadata };
  const stripped = hooks.map((hook: unknown, i) => {
    if (hook === null || typeof hook !== 'object' || Array.isArray(hook) || !('metadata' in hook)) return hook;
    const { metadata: value, ...rest } = hook as Record<string, unknown>;
    const at: FieldPath = ['analysis', 'webhooks', i, 'metadata'];
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      fail(at, 'must be a mapping of names to strings');
    else {
      const entries = Object.entries(value as Record<string, unknown>);
      const bad = entries.find(([, v]) => typeof v !== 'string');
      if (bad) fail([...at, bad[0]], `must be a string (quote it), got ${JSON.stringify(bad[1])}`);
      else metadata.set(i, Object.fromEntries(entries) as Record<string, string>);
    }
    return rest;
  });
  const s = spec as { analysis: Record<string, unknown> };
  return { spec: { ...s, analysis: { ...s.analysis, webhooks: stripped } }, metadata };
}

/** Fills in the defaults of a spec that passed rolloutSpecShape. */
export function resolveSettings(
  spec: Spec,
  metadata: ReadonlyMap<number, Record<string, string>> = new Map(),
): RolloutSettings {
  const a = spec.analysis ?? {};
  return {
    route: { virtualRouter: spec.route.virtualRouter, name: spec.route.name },
    primary: spec.primary,
    canary: spec.canary,
    intervalMs: a.interval === undefined ? DEFAULTS.intervalMs : parseDuration(a.interval)!,
    stepWeight: a.stepWeight ?? DEFAULTS.stepWeight,
    maxWeight: a.maxWeight ?? DEFAULTS.maxWeight,
    threshold: a.threshold ?? DEFAULTS.threshold,
    minRequests: a.minRequests ?? DEFAULTS.minRequests,
    metrics:
      a.metrics === undefined
        ? DEFAULT_METRICS
        : a.metrics.map((m) => ({
            ...(m.query !== undefined ? { name: m.name, query: m.query } : { name: m.name as MetricName }),
            ...(m.thresholdRange.min !== undefined ? { min: m.thresholdRange.min } : {}),
            ...(m.thresholdRange.max !== undefined ? { max: m.thresholdRange.max } : {}),
            ...(m.interval !== undefined
              ? { windowMs: parseDuration(m.interval)! }
              : m.query !== undefined
                ? { windowMs: DEFAULT_QUERY_WINDOW_MS }
                : {}),
          })),
    webhooks: (a.webhooks ?? []).map((w, i) => ({
      name: w.name,
      type: w.type ?? 'rollout',
      url: w.url,
      timeoutMs: w.timeout === undefined ? DEFAULTS.webhookTimeoutMs : parseDuration(w.timeout)!,
      metadata: metadata.get(i) ?? {},
    })),
    // null is "not set", as the schema reads it (a spec that reaches here unchecked gets the default too).
    ...(a.grpcFailureCodes !== undefined && a.grpcFailureCodes !== null
      ? { grpcFailureCodes: a.grpcFailureCodes }
      : {}),
  };
}

/** The route's split between the two nodes: each one's weight and the index of its weighted target. */
export interface RouteSplit {
  readonly primary: { readonly weight: number; readonly index: number };
  readonly canary: { readonly weight: number; readonly index: number };
}

/**
 * Where the rollout's route stands in `model`, or why the rollout cannot run on it: the route
 * must exist and send its traffic to exactly the primary and the canary, one target each.
 * `path` is relative to the rollout's spec, for messages that point at the user's text.
 */
export function routeSplit(
  model: MeshModel,
  mesh: string,
  s: Pick<RolloutSettings, 'route' | 'primary' | 'canary'>,
): RouteSplit | { error: string; path: FieldPath } {
  const { virtualRouter, name } = s.route;
  if (!model.mesh(mesh)) return { error: `mesh '${mesh}' is not defined`, path: [] };
  if (!model.virtualRouter(mesh, virtualRouter))
    return {
      error: `virtual router '${virtualRouter}' is not defined in mesh '${mesh}'`,
      path: ['route', 'virtualRouter'],
    };
  const route = model.routesOf(mesh, virtualRouter).find((r) => r.name === name);
  if (!route)
    return {
      error: `route '${name}' of virtual router '${virtualRouter}' is not defined in mesh '${mesh}'`,
      path: ['route', 'name'],
    };
  for (const [role, node] of [
    ['primary', s.primary],
    ['canary', s.canary],
  ] as const) {
    if (!model.virtualNode(mesh, node))
      return { error: `virtual node '${node}' is not defined in mesh '${mesh}'`, path: [role] };
  }
  const targets = routeKindOf(route.spec).action.weightedTargets;
  const listed = [...new Set(targets.map((t) => t.virtualNode))].join(', ');
  const label = `Route/${virtualRouter}/${name}`;
  const indexOf = (node: string) => targets.flatMap((t, i) => (t.virtualNode === node ? [i] : []));
  const [p, c] = [indexOf(s.primary), indexOf(s.canary)];
  for (const [role, node, found] of [
    ['primary', s.primary, p],
    ['canary', s.canary, c],
  ] as const) {
    if (found.length === 0)
      return {
        error: `${label} has no weighted target for the ${role} '${node}' (it sends to ${listed}); add { virtualNode: ${node}, weight: ${role === 'primary' ? 100 : 0} }`,
        path: [role],
      };
    if (found.length > 1)
      return { error: `${label} lists '${node}' ${found.length} times; a rollout needs it once`, path: [role] };
  }
  const others = [
    ...new Set(
      targets.filter((t) => t.virtualNode !== s.primary && t.virtualNode !== s.canary).map((t) => t.virtualNode),
    ),
  ];
  if (others.length > 0)
    return {
      error: `${label} also sends traffic to ${others.join(', ')}; a rollout's route must have exactly two weighted targets, the primary and the canary`,
      path: ['route', 'name'],
    };
  return {
    primary: { weight: targets[p[0]!]!.weight, index: p[0]! },
    canary: { weight: targets[c[0]!]!.weight, index: c[0]! },
  };
}
