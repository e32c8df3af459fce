// Resolves a virtual service to what Envoy needs: the ports callers use and, per port, the
// ordered routes with their weighted targets. Listeners, routes and clusters are built from this.
import { compare, type MeshReader } from '../model/mesh-model';
import { impliedPrefix, routeKindOf, type Route, type RouteKind, type RouteSpec } from '../model/route';
import type { Protocol } from '../model/shapes';
import type { VirtualNode } from '../model/virtual-node';
import type { VirtualService } from '../model/virtual-service';

/** A listener port of a virtual node: what a weighted target or a provided service points at. */
export interface NodePort {
  readonly node: VirtualNode;
  readonly port: number;
  readonly protocol: Protocol;
}

export interface WeightedNodePort {
  readonly target: NodePort;
  readonly weight: number;
}

export interface ResolvedRoute {
  /** The App Mesh route name, or the service name for a node-provided service. */
  readonly name: string;
  /** The route spec; a node-provided service gets a catch-all one of its listener's kind. */
  readonly spec: RouteSpec;
  readonly kind: RouteKind;
  readonly targets: readonly WeightedNodePort[];
}

export interface ServicePort {
  readonly port: number;
  readonly protocol: Protocol;
  readonly routes: readonly ResolvedRoute[];
}

export interface ResolvedService {
  readonly name: string;
  /** One per provider listener: callers may address the service as `name:port`. */
  readonly ports: readonly ServicePort[];
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
export function appMeshOrder<T extends { readonly name: string; readonly spec: { readonly priority?: number } }>(routes: readonly T[], pathLengthOf: (route: T) => number): T[] {
  const priority = (r: T) => r.spec.priority ?? Number.MAX_SAFE_INTEGER;
  return [...routes].sort((a, b) => priority(a) - priority(b) || pathLengthOf(b) - pathLengthOf(a) || compare(a.name, b.name));
}

export function orderRoutes(routes: readonly Route[]): Route[] {
  return appMeshOrder(routes, (r) => pathLength(r.spec));
}

/** The catch-all route a node-provided service gets for one listener. */
function providedRoute(service: VirtualService, target: NodePort): ResolvedRoute {
  const action = { weightedTargets: [{ virtualNode: target.node.name, weight: 1 }] };
  const spec: RouteSpec =
    target.protocol === 'tcp'
      ? { tcpRoute: { action } }
      : target.protocol === 'grpc'
        ? { grpcRoute: { match: {}, action } }
        : { [target.protocol === 'http2' ? 'http2Route' : 'httpRoute']: { match: { prefix: '/' }, action } };
  return { name: service.name, spec, kind: routeKindOf(spec).kind, targets: [{ target, weight: 1 }] };
}

/** undefined for a service without a provider: nothing answers it, so callers get no route to it. */
export function resolveService(model: MeshReader, service: VirtualService): ResolvedService | undefined {
  const provider = service.spec.provider;
  if (!provider) return undefined;
  if (provider.virtualNode) {
    const node = model.virtualNode(service.mesh, provider.virtualNode.virtualNodeName)!;
    const ports = (node.spec.listeners ?? []).map(({ portMapping }): ServicePort => {
      const target = nodePort(node, portMapping.port);
      return { port: target.port, protocol: target.protocol, routes: [providedRoute(service, target)] };
    });
    return { name: service.name, ports };
  }
  const router = model.virtualRouter(service.mesh, provider.virtualRouter!.virtualRouterName)!;
  const routes = orderRoutes(model.routesOf(service.mesh, router.name));
  const single = router.spec.listeners.length === 1;
  const ports = router.spec.listeners.map(({ portMapping: { port, protocol } }): ServicePort => ({
    port,
    protocol,
    // With several listeners, validation made every route name its listener with match.port.
    routes: routes
      .filter((route) => single || routeKindOf(route.spec).match?.port === port)
      .map((route): ResolvedRoute => {
        const { kind, action } = routeKindOf(route.spec);
        return {
          name: route.name,
          spec: route.spec,
          kind,
          targets: action.weightedTargets.map((t) => ({ target: nodePort(model.virtualNode(service.mesh, t.virtualNode)!, t.port), weight: t.weight })),
        };
      }),
  }));
  return { name: service.name, ports };
}
