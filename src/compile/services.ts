// Resolves a virtual service to what Envoy needs: the port callers use and the ordered
// routes with their weighted targets. Listeners, routes and clusters are all built from this.
import { compare, type MeshModel } from '../model/mesh-model';
import { routeKindOf, type Route } from '../model/route';
import type { VirtualNode } from '../model/virtual-node';
import type { VirtualService } from '../model/virtual-service';
import type { NodePort } from './clusters';
import { UnsupportedFeature } from './unsupported';

export interface WeightedNodePort {
  readonly target: NodePort;
  readonly weight: number;
}

export interface ResolvedRoute {
  /** The App Mesh route name, or the service name for a node-provided service. */
  readonly name: string;
  readonly prefix: string;
  readonly targets: readonly WeightedNodePort[];
}

export interface ResolvedService {
  readonly name: string;
  /** The provider's listener port: callers may address the service as `name:port`. */
  readonly port: number;
  readonly routes: readonly ResolvedRoute[];
}

/** The node's first listener, or the one on `port`. Validation guarantees it exists. */
function nodePort(node: VirtualNode, port?: number): NodePort {
  const listener = (node.spec.listeners ?? []).find((l) => port === undefined || l.portMapping.port === port)!;
  return { node, port: listener.portMapping.port, protocol: listener.portMapping.protocol };
}

/** App Mesh's route order: priority (unset last), then the longer prefix, then name. */
export function orderRoutes(routes: readonly Route[]): Route[] {
  const priority = (r: Route) => r.spec.priority ?? Number.MAX_SAFE_INTEGER;
  return [...routes].sort((a, b) => priority(a) - priority(b) || prefixOf(b).length - prefixOf(a).length || compare(a.name, b.name));
}

/** The path prefix an HTTP route matches; other matches are not compiled yet. */
function prefixOf(route: Route): string {
  const http = route.spec.httpRoute ?? route.spec.http2Route;
  if (!http) throw new UnsupportedFeature(`Route/${route.virtualRouter}/${route.name}: only httpRoute and http2Route are compiled so far`);
  const { prefix, ...other } = http.match;
  if (prefix === undefined || Object.keys(other).length > 0) {
    throw new UnsupportedFeature(`Route/${route.virtualRouter}/${route.name}: only a match on 'prefix' is compiled so far`);
  }
  return prefix;
}

/** undefined for a service without a provider: nothing answers it, so callers get no route to it. */
export function resolveService(model: MeshModel, service: VirtualService): ResolvedService | undefined {
  const provider = service.spec.provider;
  if (!provider) return undefined;
  if (provider.virtualNode) {
    const target = nodePort(model.virtualNode(service.mesh, provider.virtualNode.virtualNodeName)!);
    return { name: service.name, port: target.port, routes: [{ name: service.name, prefix: '/', targets: [{ target, weight: 1 }] }] };
  }
  const router = model.virtualRouter(service.mesh, provider.virtualRouter!.virtualRouterName)!;
  if (router.spec.listeners.length > 1) throw new UnsupportedFeature(`VirtualRouter/${router.name}: a router with several listeners is not compiled yet`);
  const routes = orderRoutes(model.routesOf(service.mesh, router.name)).map(
    (route): ResolvedRoute => ({
      name: route.name,
      prefix: prefixOf(route),
      targets: routeKindOf(route.spec).action.weightedTargets.map((t) => ({
        target: nodePort(model.virtualNode(service.mesh, t.virtualNode)!, t.port),
        weight: t.weight,
      })),
    }),
  );
  return { name: service.name, port: router.spec.listeners[0]!.portMapping.port, routes };
}
