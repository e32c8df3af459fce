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
  union,
  type Fail,
  type Infer,
} from './schema';
import { checkNotPrefixAndPath } from './route';
import {
  headerMatchShape,
  headersList,
  HTTP_METHODS,
  pathMatchShape,
  port,
  prefixShape,
  queryParametersList,
  resourceName,
} from './shapes';

/** App Mesh kept these for itself: a gateway route may not match them. */
export const RESERVED_PREFIXES = ['/aws-appmesh', '/aws-app-mesh'] as const;
export const RESERVED_GRPC_SERVICE_PREFIX = 'aws.appmesh';
export const GATEWAY_ROUTE_KINDS = ['httpRoute', 'http2Route', 'grpcRoute'] as const;

const enabledOrDisabled = oneOf(['ENABLED', 'DISABLED']);

const targetShape = object({
  virtualService: required(object({ virtualServiceName: required(resourceName) })),
  /** The target service's listener port; required when its provider has several listeners. */
  port: optional(port),
});

const hostnameMatchShape = union({ exact: optional(string({ max: 253 })), suffix: optional(string({ max: 253 })) });
const hostnameRewriteShape = object({ defaultTargetHostname: optional(enabledOrDisabled) });

const httpGatewayRouteShape = object(
  {
    match: required(
      object({
        prefix: optional(prefixShape),
        path: optional(pathMatchShape),
        hostname: optional(hostnameMatchShape),
        headers: optional(headersList),
        method: optional(oneOf(HTTP_METHODS)),
        queryParameters: optional(queryParametersList),
        port: optional(port),
      }),
    ),
    action: required(
      object({
        target: required(targetShape),
        rewrite: optional(
          object({
            hostname: optional(hostnameRewriteShape),
            prefix: optional(
              object({
                defaultPrefix: optional(enabledOrDisabled),
                value: optional(string({ pattern: { regex: /^\/(.*\/)?$/, message: "must start and end with '/'" } })),
              }),
            ),
            path: optional(
              object({ exact: optional(string({ pattern: { regex: /^\//, message: "must start with '/'" } })) }),
            ),
          }),
        ),
      }),
    ),
  },
  { check: (route, fail) => checkHttpGatewayRoute(route, fail) },
);
export type HttpGatewayRoute = Infer<typeof httpGatewayRouteShape>;

/**
 * App Mesh's API takes a match of only `port` (or headers, …): such a match is the prefix `/`.
 * "Prefix, path or hostname is required" and "a rewrite sets something" are the Kubernetes
 * controller's rules, applied to its manifests only (load/k8s-webhook-rules.ts).
 */
function checkHttpGatewayRoute({ match, action }: HttpGatewayRoute, fail: Fail): void {
  const { prefix, path } = match;
  checkNotPrefixAndPath(match, ['match'], fail);
  for (const [field, value] of [
    ['prefix', prefix],
    ['path', path?.exact],
  ] as const) {
    const reserved = value !== undefined && RESERVED_PREFIXES.find((r) => value.toLowerCase().startsWith(r));
    if (reserved)
      fail(
        ['match', field, ...(field === 'path' ? ['exact'] : [])],
        `'${reserved}' is reserved by App Mesh; a gateway route cannot match it`,
      );
  }
  const rewrite = action.rewrite;
  if (!rewrite) return;
  const rewritePath = ['action', 'rewrite'];
  if (rewrite.prefix && rewrite.path)
    fail([...rewritePath, 'path'], "sets both a 'prefix' and a 'path' rewrite; set one of them");
  if (rewrite.prefix?.defaultPrefix !== undefined && rewrite.prefix.value !== undefined)
    fail([...rewritePath, 'prefix'], "sets both 'defaultPrefix' and 'value'; set one of them");
  if (rewrite.prefix && path !== undefined)
    fail(
      [...rewritePath, 'prefix'],
      "a prefix rewrite needs a 'match.prefix' to replace, and this route matches a 'path'",
    );
}

const grpcGatewayRouteShape = object({
  match: required(
    object(
      {
        serviceName: optional(string()),
        hostname: optional(hostnameMatchShape),
        metadata: optional(
          list(
            object({
              name: required(string({ max: 50 })),
              invert: optional(boolean()),
              match: optional(headerMatchShape),
            }),
            { min: 1, max: 10 },
          ),
        ),
        port: optional(port),
      },
      {
        // Neither serviceName nor hostname is every gRPC request on the port;
        // "one of them is required" is the Kubernetes controller's rule.
        check: (m, fail) => {
          if (m.serviceName?.startsWith(RESERVED_GRPC_SERVICE_PREFIX))
            fail(
              ['serviceName'],
              `'${RESERVED_GRPC_SERVICE_PREFIX}' services are reserved by App Mesh; a gateway route cannot match them`,
            );
        },
      },
    ),
  ),
  action: required(
    object({ target: required(targetShape), rewrite: optional(object({ hostname: optional(hostnameRewriteShape) })) }),
  ),
});

export type GrpcGatewayRoute = Infer<typeof grpcGatewayRouteShape>;

export const gatewayRouteSpecShape = object(
  {
    priority: optional(integer(0, 1000)),
    httpRoute: optional(httpGatewayRouteShape),
    http2Route: optional(httpGatewayRouteShape),
    grpcRoute: optional(grpcGatewayRouteShape),
  },
  {
    check: (spec, fail) => {
      const kinds = GATEWAY_ROUTE_KINDS.filter((k) => spec[k] !== undefined);
      if (kinds.length === 0) fail([], `must set one of: ${GATEWAY_ROUTE_KINDS.join(', ')}`);
      if (kinds.length > 1) fail([kinds[1]!], `sets ${kinds.join(' and ')}; a gateway route has exactly one of them`);
    },
  },
);
export type GatewayRouteSpec = Infer<typeof gatewayRouteSpecShape>;

export interface GatewayRoute extends ResourceMeta {
  readonly kind: 'GatewayRoute';
  readonly virtualGateway: string;
  readonly spec: GatewayRouteSpec;
}

/** The one route kind a gateway route spec sets, with its body. */
export function gatewayRouteKindOf(spec: GatewayRouteSpec) {
  const kind = GATEWAY_ROUTE_KINDS.find((k) => spec[k] !== undefined)!;
  return { kind, route: spec[kind]! };
}
