// Gateway routes → the routes of a gateway listener's route table. Each matches as App Mesh
// matched, rewrites the Host and path as App Mesh documented, and sends the request over the
// gateway's loopback hop (plan/gateway.ts) tagged with its target, so the target virtual
// service's own routes (its router's weights, retries and timeouts) apply after it.
import {
  gatewayRouteKindOf,
  type GatewayRoute,
  type GrpcGatewayRoute,
  type HttpGatewayRoute,
} from '../../model/gateway-route';
import { literalRegex } from '../literal-regex';
import { grpcMatch, hostnameMatch, httpMatch, withHeaders } from './matches';
import { appMeshOrder } from './services';
import type { ClusterRouteActionPlan, RouteMatchPlan, RoutePlan } from './types';

/**
 * Carries a gateway route's target (`<virtual service>:<port>`) over the hop. The gateway sets it
 * (overwriting any a client sent) and the hop removes it before the request leaves.
 */
export const GATEWAY_TARGET_HEADER = 'x-meshd-gateway-target';

/** The virtual service and provider port a gateway route sends to. */
export interface GatewayTarget {
  readonly service: string;
  readonly port: number;
}

export const gatewayTargetKey = (t: GatewayTarget): string => `${t.service}:${t.port}`;

function httpBody(r: GatewayRoute): HttpGatewayRoute | undefined {
  return r.spec.httpRoute ?? r.spec.http2Route;
}

/** The length App Mesh ordered equal-priority gateway routes by: the prefix (or exact path, or gRPC service name). */
function matchLength(r: GatewayRoute): number {
  const http = httpBody(r);
  if (http) return (http.match.prefix ?? http.match.path?.exact ?? '').length;
  return (r.spec.grpcRoute?.match.serviceName ?? '').length;
}

/** App Mesh's gateway route order: priority (unset last), then the longest prefix, then name. */
export function orderGatewayRoutes(routes: readonly GatewayRoute[]): GatewayRoute[] {
  return appMeshOrder(routes, matchLength);
}

/** The gateway listener port a gateway route names with match.port, if it names one. */
export function gatewayRouteMatchPort(r: GatewayRoute): number | undefined {
  return gatewayRouteKindOf(r.spec).route.match.port;
}

/** A gateway route's match: its route kind's match, plus its hostname. */
function gatewayMatch(r: GatewayRoute): RouteMatchPlan {
  const http = httpBody(r);
  const grpc: GrpcGatewayRoute['match'] | undefined = r.spec.grpcRoute?.match;
  const match = http ? httpMatch(http.match) : grpcMatch({ serviceName: grpc!.serviceName, metadata: grpc!.metadata });
  const hostname = (http?.match ?? grpc)!.hostname;
  return hostname ? withHeaders(match, hostnameMatch(hostname)) : match;
}

/** A regex_rewrite substitution that inserts `text` as is (a backslash would start a back-reference). */
function literalSubstitution(text: string): string {
  return text.replace(/\\/g, '\\\\');
}

/**
 * App Mesh's path rewrite. `path.exact` replaces the whole path. A prefix match replaces the
 * matched prefix with `/` by default (or with `prefix.value`), and App Mesh's documented example
 * is `/chapter` + `/chapter/1` → `/1`: the slash after the prefix goes with it, so it is a regex
 * rewrite, not Envoy's prefix_rewrite (which gives `//1`). `defaultPrefix: DISABLED` keeps the
 * path, as does an exact or regex path match without a path rewrite. The query string is kept.
 * A match with neither prefix nor path (only a port or a hostname) keeps the path too.
 */
function pathRewrite({ match, action }: HttpGatewayRoute): ClusterRouteActionPlan['pathRewrite'] {
  const rewrite = action.rewrite;
  if (rewrite?.path?.exact !== undefined)
    return { regex: '^/.*$', substitution: literalSubstitution(rewrite.path.exact) };
  if (match.prefix === undefined || rewrite?.prefix?.defaultPrefix === 'DISABLED') return undefined;
  const replacement = rewrite?.prefix?.value ?? '/';
  const matched = match.prefix.replace(/\/$/, '');
  if (matched === '' && replacement === '/') return undefined;
  return { regex: `^${literalRegex(matched)}/?`, substitution: literalSubstitution(replacement) };
}

/** A gateway route whose target has no provider: App Mesh let its requests fail, so does meshd, saying why. */
export function unservedGatewayRoute(r: GatewayRoute, service: string): RoutePlan {
  return {
    name: r.name,
    match: gatewayMatch(r),
    action: { kind: 'directResponse', status: 503, body: `virtual service '${service}' has no provider\n` },
  };
}

/**
 * One gateway route: its match, the Host and path rewrites, and the
 * hop to its target (which does not time out: the target's routes do).
 */
export function gatewayRoute(r: GatewayRoute, hopCluster: string, target: GatewayTarget): RoutePlan {
  const http = httpBody(r);
  const rewriteHost = gatewayRouteKindOf(r.spec).route.action.rewrite?.hostname?.defaultTargetHostname !== 'DISABLED';
  const rewritePath = http ? pathRewrite(http) : undefined;
  return {
    name: r.name,
    match: gatewayMatch(r),
    setRequestHeaders: [{ name: GATEWAY_TARGET_HEADER, value: gatewayTargetKey(target) }],
    action: {
      kind: 'cluster',
      cluster: hopCluster,
      timeoutMs: null,
      ...(rewriteHost ? { hostRewrite: target.service } : {}),
      ...(rewritePath ? { pathRewrite: rewritePath } : {}),
    },
  };
}
