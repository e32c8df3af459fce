// Route tables from the plan → Envoy RouteConfigurations: virtual hosts by domain, routes in
// order, each to weighted clusters (with timeouts and retries), one cluster, or a direct answer.
import type { Route } from '../generated/envoy/config/route/v3/Route';
import type { RouteConfiguration } from '../generated/envoy/config/route/v3/RouteConfiguration';
import type { VirtualHost } from '../generated/envoy/config/route/v3/VirtualHost';
import { fromMillis } from './durations';
import { routeMatch } from './matches';
import type { RouteActionPlan, RoutePlan, RouteTablePlan, VirtualHostPlan } from './plan/types';
import { NO_MEMO, type CompileMemo } from './memo';
import { retryPolicy } from './retry';

/** A hop that does not time out, said as an explicit zero. */
const NEVER = { seconds: 0 };

function action(a: RouteActionPlan): Pick<Route, 'route' | 'direct_response'> {
  switch (a.kind) {
    case 'weighted':
      return {
        route: {
          weighted_clusters: { clusters: a.targets.map((t) => ({ name: t.cluster, weight: { value: t.weight } })) },
          timeout: fromMillis(a.timeoutMs),
          idle_timeout: fromMillis(a.idleTimeoutMs),
          retry_policy: retryPolicy(a.retry),
        },
      };
    case 'cluster':
      return {
        route: {
          cluster: a.cluster,
          ...(a.hostRewrite !== undefined ? { host_rewrite_literal: a.hostRewrite } : {}),
          ...(a.pathRewrite
            ? { regex_rewrite: { pattern: { regex: a.pathRewrite.regex }, substitution: a.pathRewrite.substitution } }
            : {}),
          timeout: a.timeoutMs === null ? NEVER : fromMillis(a.timeoutMs),
          ...(a.idleTimeoutMs !== undefined ? { idle_timeout: fromMillis(a.idleTimeoutMs) } : {}),
        },
      };
    case 'directResponse':
      return { direct_response: { status: a.status, body: { inline_string: a.body } } };
  }
}

function route(r: RoutePlan): Route {
  return {
    ...(r.name !== undefined ? { name: r.name } : {}),
    match: routeMatch(r.match),
    ...action(r.action),
    ...(r.setRequestHeaders
      ? {
          request_headers_to_add: r.setRequestHeaders.map(({ name, value }) => ({
            header: { key: name, value },
            append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' as const,
          })),
        }
      : {}),
  };
}

function virtualHost(host: VirtualHostPlan): VirtualHost {
  return {
    name: host.name,
    domains: [...host.domains],
    routes: host.routes.map(route),
    ...(host.removeRequestHeaders ? { request_headers_to_remove: [...host.removeRequestHeaders] } : {}),
  };
}

/** A virtual host met before (memo.ts) gives the same object, which the encoder encodes once (control/encode.ts). */
export function routeConfiguration(table: RouteTablePlan, memo: CompileMemo = NO_MEMO): RouteConfiguration {
  return {
    name: table.name,
    virtual_hosts: table.virtualHosts.map((host) => memo.derived(host, virtualHost)),
  };
}
