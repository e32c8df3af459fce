// Route configurations: the egress ones (one virtual host per backend virtual service, its
// router's routes in App Mesh order) and the ingress ones (everything to the local app).
import type { Route } from '../generated/envoy/config/route/v3/Route';
import type { RouteConfiguration } from '../generated/envoy/config/route/v3/RouteConfiguration';
import type { VirtualHost } from '../generated/envoy/config/route/v3/VirtualHost';
import type { Duration as MeshDuration } from '../model/common';
import { egressClusterNameOf } from './clusters';
import { ROUTE_IDLE_TIMEOUT, ROUTE_TIMEOUT } from './defaults';
import { fromMeshDuration } from './durations';
import { grpcRouteMatch, httpRouteMatch } from './matches';
import { defaultRetryPolicy, retryPolicy } from './retry';
import type { ResolvedRoute, ResolvedService, ServicePort } from './services';

export interface HttpTimeout {
  readonly perRequest?: MeshDuration;
  readonly idle?: MeshDuration;
}

/** App Mesh's timeouts: 15 s per request and 300 s idle unless set; 0 disables. */
export function timeouts(timeout: HttpTimeout | undefined): Pick<NonNullable<Route['route']>, 'timeout' | 'idle_timeout'> {
  return {
    timeout: timeout?.perRequest ? fromMeshDuration(timeout.perRequest) : ROUTE_TIMEOUT,
    idle_timeout: timeout?.idle ? fromMeshDuration(timeout.idle) : ROUTE_IDLE_TIMEOUT,
  };
}

/** One of a service's routes, as a caller's Envoy runs it: its match, its weighted targets, timeouts and retries. */
export function serviceRoute(route: ResolvedRoute): Route {
  const http = route.spec.httpRoute ?? route.spec.http2Route;
  const grpc = route.spec.grpcRoute;
  const body = http ?? grpc;
  if (!body) throw new Error(`${route.kind} ${route.name} has no HTTP route to compile`);
  return {
    name: route.name,
    match: http ? httpRouteMatch(http.match) : grpcRouteMatch(grpc!.match),
    route: {
      weighted_clusters: { clusters: route.targets.map((t) => ({ name: egressClusterNameOf(t.target), weight: { value: t.weight } })) },
      ...timeouts(body.timeout),
      retry_policy: body.retryPolicy ? retryPolicy(body.retryPolicy) : defaultRetryPolicy(),
    },
  };
}

export interface ServiceOnPort {
  readonly service: ResolvedService;
  readonly port: ServicePort;
}

export function isHttpFamily(port: { protocol: string }): boolean {
  return port.protocol !== 'tcp';
}

function virtualHost(name: string, domains: string[], port: ServicePort): VirtualHost {
  return { name, domains, routes: port.routes.map(serviceRoute) };
}

/** The config for one backend port (transparent mode): services on that port by Host. */
export function portRouteConfig(name: string, services: readonly ServiceOnPort[], passthroughCluster?: string): RouteConfiguration {
  const hosts = services.map(({ service, port }) => virtualHost(service.name, [service.name, `${service.name}:${port.port}`], port));
  return { name, virtual_hosts: passthroughCluster ? [...hosts, passthroughHost(passthroughCluster)] : hosts };
}

/**
 * The config for the egress port itself (explicit mode): every HTTP service, by Host. A
 * service with several HTTP ports gets a host per port; its bare name goes to the first.
 */
export function explicitRouteConfig(name: string, services: readonly ResolvedService[]): RouteConfiguration {
  const hosts: VirtualHost[] = [];
  for (const service of services) {
    const ports = service.ports.filter(isHttpFamily);
    ports.forEach((port, i) => {
      const hostName = ports.length === 1 ? service.name : `${service.name}:${port.port}`;
      hosts.push(virtualHost(hostName, [...(i === 0 ? [service.name] : []), `${service.name}:${port.port}`], port));
    });
  }
  return { name, virtual_hosts: hosts };
}

/** ALLOW_ALL: any other Host on a captured port goes on to where the app sent it. */
function passthroughHost(cluster: string): VirtualHost {
  return { name: 'allow_all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster, timeout: { seconds: 0 } } }] };
}

/** Everything arriving on an ingress port goes to the local app behind it, with the listener's timeouts. */
export function ingressRouteConfig(name: string, clusterName: string, timeout: HttpTimeout | undefined): RouteConfiguration {
  return {
    name,
    virtual_hosts: [{ name: 'local_app', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: clusterName, ...timeouts(timeout) } }] }],
  };
}
