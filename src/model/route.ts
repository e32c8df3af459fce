import type { ResourceMeta } from './common';
import {
  boolean,
  integer,
  list,
  object,
  oneOf,
  optional,
  required,
  string,
  type Fail,
  type FieldPath,
  type Infer,
} from './schema';
import {
  durationShape,
  headersList,
  HTTP_METHODS,
  httpTimeoutShape,
  pathMatchShape,
  port,
  prefixShape,
  queryParametersList,
  resourceName,
  tcpTimeoutShape,
  headerMatchShape,
} from './shapes';

export const HTTP_RETRY_EVENTS = ['server-error', 'gateway-error', 'client-error', 'stream-error'] as const;
export const GRPC_RETRY_EVENTS = [
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
] as const;
export const ROUTE_KINDS = ['httpRoute', 'http2Route', 'grpcRoute', 'tcpRoute'] as const;
export type RouteKind = (typeof ROUTE_KINDS)[number];

export const weightedTargetShape = object({
  virtualNode: required(resourceName),
  /** 0–100; the weights of one route add up to at most 100. */
  weight: required(integer(0, 100)),
  /** The target node's listener port; required only when that node has several listeners. */
  port: optional(port),
});
export type WeightedTarget = Infer<typeof weightedTargetShape>;

const actionShape = object(
  { weightedTargets: required(list(weightedTargetShape, { min: 1, max: 10 })) },
  { check: (action, fail) => checkWeights(action.weightedTargets, fail) },
);

function checkWeights(targets: readonly WeightedTarget[], fail: Fail): void {
  const total = targets.reduce((sum, t) => sum + t.weight, 0);
  if (total === 0) fail(['weightedTargets'], 'the weights add up to 0; at least one target needs a weight above 0');
  if (total > 100) fail(['weightedTargets'], `the weights add up to ${total}; App Mesh allows at most 100 in total`);
}

const maxRetries = integer(0, Number.MAX_SAFE_INTEGER);
const httpRetryEvents = list(oneOf(HTTP_RETRY_EVENTS), { min: 1, max: 25 });
const tcpRetryEvents = list(oneOf(['connection-error']), { min: 1, max: 1 });

/** App Mesh: "Specify at least one value for at least one of the types of retry events." */
function checkRetryEvents(policy: object, kinds: readonly string[], fail: Fail): void {
  if (!kinds.some((k) => k in policy)) fail([], `lists no retry events; set at least one of: ${kinds.join(', ')}`);
}

const httpRetryPolicyShape = object(
  {
    maxRetries: required(maxRetries),
    perRetryTimeout: required(durationShape),
    httpRetryEvents: optional(httpRetryEvents),
    tcpRetryEvents: optional(tcpRetryEvents),
  },
  { check: (p, fail) => checkRetryEvents(p, ['httpRetryEvents', 'tcpRetryEvents'], fail) },
);

const grpcRetryPolicyShape = object(
  {
    maxRetries: required(maxRetries),
    perRetryTimeout: required(durationShape),
    grpcRetryEvents: optional(list(oneOf(GRPC_RETRY_EVENTS), { min: 1, max: 5 })),
    httpRetryEvents: optional(httpRetryEvents),
    tcpRetryEvents: optional(tcpRetryEvents),
  },
  { check: (p, fail) => checkRetryEvents(p, ['grpcRetryEvents', 'httpRetryEvents', 'tcpRetryEvents'], fail) },
);

export const httpRouteMatchShape = object(
  {
    prefix: optional(prefixShape),
    path: optional(pathMatchShape),
    headers: optional(headersList),
    method: optional(oneOf(HTTP_METHODS)),
    scheme: optional(oneOf(['http', 'https'])),
    queryParameters: optional(queryParametersList),
    port: optional(port),
  },
  { check: (m, fail) => checkNotPrefixAndPath(m, [], fail) },
);
export type HttpRouteMatch = Infer<typeof httpRouteMatchShape>;

/**
 * A route matches on a path prefix or on a path, never both. It may set neither: App Mesh's API
 * takes a match of only `port` (or headers, a method, …), and its backend gave such a match the
 * prefix `/` (see impliedPrefix). "Prefix or path is required" is the Kubernetes controller's
 * rule, applied to its manifests only (load/k8s-webhook-rules.ts).
 */
export function checkNotPrefixAndPath(match: { prefix?: string; path?: object }, at: FieldPath, fail: Fail): void {
  if (match.prefix !== undefined && match.path !== undefined)
    fail([...at, 'path'], "sets both 'prefix' and 'path'; set exactly one of them");
}

/**
 * The prefix an HTTP match matches on: its own, else `/` (every
 * path) when it sets no path either, as App Mesh's backend did.
 */
export function impliedPrefix(match: { prefix?: string; path?: object }): string | undefined {
  return match.prefix ?? (match.path === undefined ? '/' : undefined);
}

export const httpRouteShape = object({
  match: required(httpRouteMatchShape),
  action: required(actionShape),
  retryPolicy: optional(httpRetryPolicyShape),
  timeout: optional(httpTimeoutShape),
});
export type HttpRoute = Infer<typeof httpRouteShape>;

const grpcMetadataShape = object({
  name: required(string({ max: 50 })),
  invert: optional(boolean()),
  match: optional(headerMatchShape),
});

export const grpcRouteShape = object({
  match: required(
    object(
      {
        serviceName: optional(string()),
        methodName: optional(string({ max: 50 })),
        metadata: optional(list(grpcMetadataShape, { min: 1, max: 10 })),
        port: optional(port),
      },
      {
        check: (m, fail) =>
          m.methodName !== undefined &&
          m.serviceName === undefined &&
          fail(['methodName'], 'needs serviceName as well: a method is matched within a service'),
      },
    ),
  ),
  action: required(actionShape),
  retryPolicy: optional(grpcRetryPolicyShape),
  timeout: optional(httpTimeoutShape),
});
export type GrpcRoute = Infer<typeof grpcRouteShape>;

export const tcpRouteShape = object({
  match: optional(object({ port: optional(port) })),
  action: required(actionShape),
  timeout: optional(tcpTimeoutShape),
});
export type TcpRoute = Infer<typeof tcpRouteShape>;

export const routeSpecShape = object(
  {
    /** Lower numbers first (0–1000); routes without priority come after. */
    priority: optional(integer(0, 1000)),
    httpRoute: optional(httpRouteShape),
    http2Route: optional(httpRouteShape),
    grpcRoute: optional(grpcRouteShape),
    tcpRoute: optional(tcpRouteShape),
  },
  {
    check: (spec, fail) => {
      const kinds = ROUTE_KINDS.filter((k) => spec[k] !== undefined);
      if (kinds.length !== 1)
        fail(
          kinds.length === 0 ? [] : [kinds[1]!],
          kinds.length === 0
            ? `must set one of: ${ROUTE_KINDS.join(', ')}`
            : `sets ${kinds.join(' and ')}; a route has exactly one of them`,
        );
      if (spec.httpRoute?.match.scheme !== undefined)
        fail(['httpRoute', 'match', 'scheme'], 'applies only to an http2Route');
    },
  },
);
export type RouteSpec = Infer<typeof routeSpecShape>;

export interface Route extends ResourceMeta {
  readonly kind: 'Route';
  readonly virtualRouter: string;
  readonly spec: RouteSpec;
}

/** The one route kind a route spec sets, with its body. */
export function routeKindOf(spec: RouteSpec): {
  kind: RouteKind;
  match?: { port?: number };
  action: { weightedTargets: readonly WeightedTarget[] };
} {
  const kind = ROUTE_KINDS.find((k) => spec[k] !== undefined)!;
  return { kind, ...spec[kind]! };
}
