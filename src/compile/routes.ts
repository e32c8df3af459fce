import type { Route } from '../generated/envoy/config/route/v3/Route';
import type { RouteConfiguration } from '../generated/envoy/config/route/v3/RouteConfiguration';
import type { VirtualHost } from '../generated/envoy/config/route/v3/VirtualHost';
import { egressClusterNameOf } from './clusters';
import { defaultRetryPolicy, ROUTE_IDLE_TIMEOUT, ROUTE_TIMEOUT } from './defaults';
import type { ResolvedRoute, ResolvedService } from './services';

function envoyRoute(route: ResolvedRoute): Route {
  return {
    name: route.name,
    match: { prefix: route.prefix },
    route: {
      weighted_clusters: {
        clusters: route.targets.map((t) => ({ name: egressClusterNameOf(t.target), weight: { value: t.weight } })),
      },
      timeout: ROUTE_TIMEOUT,
      idle_timeout: ROUTE_IDLE_TIMEOUT,
      retry_policy: defaultRetryPolicy(),
    },
  };
}

/** One virtual host per virtual service, reachable as `name` and `name:port`. */
function serviceVirtualHost(service: ResolvedService): VirtualHost {
  return {
    name: service.name,
    domains: [service.name, `${service.name}:${service.port}`],
    routes: service.routes.map(envoyRoute),
  };
}

export function egressRouteConfig(name: string, services: readonly ResolvedService[]): RouteConfiguration {
  return { name, virtual_hosts: services.map(serviceVirtualHost) };
}

/** Everything arriving on an ingress port goes to the local app behind it. */
export function ingressRouteConfig(name: string, clusterName: string): RouteConfiguration {
  return {
    name,
    virtual_hosts: [
      {
        name: 'local_app',
        domains: ['*'],
        routes: [{ match: { prefix: '/' }, route: { cluster: clusterName, timeout: ROUTE_TIMEOUT, idle_timeout: ROUTE_IDLE_TIMEOUT } }],
      },
    ],
  };
}
