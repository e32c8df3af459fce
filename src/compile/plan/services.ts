// Resolves a virtual service to what its callers' proxies need: the ports callers use and, per
// port, the routes (HTTP family) or the TCP targets, already as plan entries, plus every target
// listener they reach (each becomes a caller-side cluster). A node-provided service gets a
// catch-all route to its node; a router-provided one its routes in App Mesh order.
import type { Duration as MeshDuration } from '../../model/common';
import { compare, type MeshReader } from '../../model/mesh-model';
import { NO_CLOUD_MAP } from '../cloud-map-view';
import type { CompileMemo } from '../memo';
import { impliedPrefix, routeKindOf, type Route, type RouteSpec } from '../../model/route';
import type { Protocol } from '../../model/shapes';
import type { VirtualNode } from '../../model/virtual-node';
import type { VirtualService } from '../../model/virtual-service';
import { ROUTE_IDLE_TIMEOUT_MS, ROUTE_TIMEOUT_MS } from '../defaults';
import { meshMillis } from './durations';
import { egressClusterName } from '../names';
import { grpcMatch, httpMatch } from './matches';
import { DEFAULT_RETRY, planRetry } from './retry';
import type { RoutePlan, TrafficPlan, WeightedClusterPlan } from './types';

/** A listener port of a virtual node: what a weighted target or a provided service points at. */
export interface NodePort {
  readonly node: VirtualNode;
  readonly port: number;
  readonly protocol: Protocol;
}

/** A port callers address a service on. */
export interface ServicePort {
  readonly port: number;
  readonly protocol: Protocol;
  /** HTTP family: the routes, in order. */
  readonly routes: readonly RoutePlan[];
  /** TCP: the first route's targets (zero weights dropped), undefined when none carry traffic. */
  readonly tcp?: Extract<TrafficPlan, { kind: 'tcp' }>;
  /** Every target listener the port's routes name, zero weights included, in route order. */
  readonly reaches: readonly NodePort[];
}

export interface ResolvedService {
  readonly name: string;
  /** One per provider listener: callers may address the service as `name:port`. */
  readonly ports: readonly ServicePort[];
}

export function isHttpFamily(port: { protocol: string }): boolean {
  return port.protocol !== 'tcp';
}

export function egressClusterNameOf(t: NodePort): string {
  return egressClusterName(t.node.mesh, t.node.name, t.protocol, t.port);
}

/** The node's first listener, or the one on `port`. Validation guarantees it exists. */
function nodePort(node: VirtualNode, port?: number): NodePort {
  const listener = (node.spec.listeners ?? []).find((l) => port === undefined || l.portMapping.port === port)!;
  return { node, port: listener.portMapping.port, protocol: listener.portMapping.protocol };
}

/** The path length App Mesh ordered equal-priority routes by (longer first). */
function pathLength(spec: RouteSpec): number {
  const http = spec.httpRoute ?? spec.http2Route;
  if (http) return (impliedPrefix(http.match) ?? http.match.path?.exact ?? '').length;
  const grpc = spec.grpcRoute?.match;
  if (grpc) return (grpc.serviceName ?? '').length + (grpc.methodName ?? '').length;
  return 0;
}

/** App Mesh's order for routes and gateway routes: priority (unset last), then the longer path, then name. */
export function appMeshOrder<T extends { readonly name: string; readonly spec: { readonly priority?: number } }>(
  routes: readonly T[],
  pathLengthOf: (route: T) => number,
): T[] {
  const priority = (r: T) => r.spec.priority ?? Number.MAX_SAFE_INTEGER;
  return [...routes].sort(
    (a, b) => priority(a) - priority(b) || pathLengthOf(b) - pathLengthOf(a) || compare(a.name, b.name),
  );
}

export function orderRoutes(routes: readonly Route[]): Route[] {
  return appMeshOrder(routes, (r) => pathLength(r.spec));
}

interface WeightedNodePort {
  readonly target: NodePort;
  readonly weight: number;
}

const weightedClusters = (targets: readonly WeightedNodePort[]): WeightedClusterPlan[] =>
  targets.map((t) => ({ cluster: egressClusterNameOf(t.target), weight: t.weight }));

/** App Mesh's timeouts: 15 s per request and 300 s idle unless set; 0 disables. */
export function httpTimeouts(timeout: { perRequest?: MeshDuration; idle?: MeshDuration } | undefined): {
  timeoutMs: number;
  idleTimeoutMs: number;
} {
  return {
    timeoutMs: timeout?.perRequest ? meshMillis(timeout.perRequest) : ROUTE_TIMEOUT_MS,
    idleTimeoutMs: timeout?.idle ? meshMillis(timeout.idle) : ROUTE_IDLE_TIMEOUT_MS,
  };
}

/**
 * One of a router's HTTP-family routes, as a caller's Envoy runs it: its match, weighted targets, timeouts and retries.
 */
function routerRoute(route: Route, targets: readonly WeightedNodePort[]): RoutePlan {
  const http = route.spec.httpRoute ?? route.spec.http2Route;
  const grpc = route.spec.grpcRoute;
  const body = http ?? grpc;
  if (!body) throw new Error(`${routeKindOf(route.spec).kind} ${route.name} has no HTTP route to compile`);
  return {
    name: route.name,
    match: http ? httpMatch(http.match) : grpcMatch(grpc!.match),
    action: {
      kind: 'weighted',
      targets: weightedClusters(targets),
      ...httpTimeouts(body.timeout),
      retry: body.retryPolicy ? planRetry(body.retryPolicy) : DEFAULT_RETRY,
    },
  };
}

/** A TCP port's traffic: its first route's targets that carry weight, with that route's idle timeout. */
function tcpTraffic(first: Route | undefined, targets: readonly WeightedNodePort[]): ServicePort['tcp'] {
  const carrying = targets.filter((t) => t.weight > 0);
  if (!first || carrying.length === 0) return undefined;
  const idle = first.spec.tcpRoute?.timeout?.idle;
  return {
    kind: 'tcp',
    targets: weightedClusters(carrying),
    idleTimeoutMs: idle ? meshMillis(idle) : ROUTE_IDLE_TIMEOUT_MS,
  };
}

/** A node-provided service on one of the node's listeners: everything goes to that listener. */
function providedPort(service: VirtualService, target: NodePort): ServicePort {
  const targets = [{ target, weight: 1 }];
  const base = { port: target.port, protocol: target.protocol, reaches: [target] };
  if (target.protocol === 'tcp')
    return {
      ...base,
      routes: [],
      tcp: { kind: 'tcp', targets: weightedClusters(targets), idleTimeoutMs: ROUTE_IDLE_TIMEOUT_MS },
    };
  const match = target.protocol === 'grpc' ? grpcMatch({}) : httpMatch({ prefix: '/' });
  const route: RoutePlan = {
    name: service.name,
    match,
    action: { kind: 'weighted', targets: weightedClusters(targets), ...httpTimeouts(undefined), retry: DEFAULT_RETRY },
  };
  return { ...base, routes: [route] };
}

/** undefined for a service without a provider: nothing answers it, so callers get no route to it. */
export function resolveService(model: MeshReader, service: VirtualService): ResolvedService | undefined {
  const provider = service.spec.provider;
  if (!provider) return undefined;
  if (provider.virtualNode) {
    const node = model.virtualNode(service.mesh, provider.virtualNode.virtualNodeName)!;
    return {
      name: service.name,
      ports: (node.spec.listeners ?? []).map(({ portMapping }) =>
        providedPort(service, nodePort(node, portMapping.port)),
      ),
    };
  }
  const router = model.virtualRouter(service.mesh, provider.virtualRouter!.virtualRouterName)!;
  const routes = orderRoutes(model.routesOf(service.mesh, router.name));
  const single = router.spec.listeners.length === 1;
  const ports = router.spec.listeners.map(({ portMapping: { port, protocol } }): ServicePort => {
    // With several listeners, validation made every route name its listener with match.port.
    const served = routes
      .filter((route) => single || routeKindOf(route.spec).match?.port === port)
      .map((route) => ({
        route,
        targets: routeKindOf(route.spec).action.weightedTargets.map((t) => ({
          target: nodePort(model.virtualNode(service.mesh, t.virtualNode)!, t.port),
          weight: t.weight,
        })),
      }));
    const reaches = served.flatMap(({ targets }) => targets.map((t) => t.target));
    if (!isHttpFamily({ protocol })) {
      const tcp = tcpTraffic(served[0]?.route, served[0]?.targets ?? []);
      return { port, protocol, routes: [], ...(tcp ? { tcp } : {}), reaches };
    }
    return { port, protocol, routes: served.map(({ route, targets }) => routerRoute(route, targets)), reaches };
  });
  return { name: service.name, ports };
}

/**
 * The virtual service `name` of `mesh` resolved (undefined: not defined, or no provider), once
 * for all its callers while what it reads is unchanged (memo.ts).
 */
export function resolvedService(
  model: MeshReader,
  memo: CompileMemo,
  mesh: string,
  name: string,
): ResolvedService | undefined {
  return memo.get(`service\0${mesh}\0${name}`, model, NO_CLOUD_MAP, (m) => {
    const service = m.virtualService(mesh, name);
    return service && resolveService(m, service);
  });
}
