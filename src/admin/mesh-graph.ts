// The mesh served as a graph, for the web console (GET /v1/mesh): virtual gateways, services,
// routers and nodes are its nodes; gateway routes, providers, route targets and backends its
// edges. Pure: the same model gives the same graph. Meshes, routes and gateway routes are not
// nodes; a route target's edge names its route, a gateway route's edge its gateway route.
import { routeKindOf } from '../model/route';
import { gatewayRouteKindOf } from '../model/gateway-route';
import { resourceKey, type MeshModel, type Resource } from '../model/mesh-model';
import { formatNodeId } from '../model/node-id';

/** Where a resource comes from: a file of the user's, the App Mesh API, or a Kubernetes object. */
export type Origin = 'file' | 'api' | 'kubernetes';

export type GraphNodeKind = 'VirtualGateway' | 'VirtualService' | 'VirtualRouter' | 'VirtualNode';
export type GraphEdgeKind = 'gateway-route' | 'provider' | 'route-target' | 'backend';

export interface GraphNode {
  readonly id: string;
  readonly kind: GraphNodeKind;
  readonly mesh: string;
  readonly name: string;
  readonly source: string;
  readonly origin: Origin;
  /** The Envoy node id: virtual nodes and gateways only. */
  readonly nodeId?: string;
  /** The virtual nodes whose inbound traffic is traffic into this element. */
  readonly trafficNodes: readonly string[];
}

export interface GraphEdge {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly kind: GraphEdgeKind;
  /** The route or gateway route the edge stands for (route targets and gateway routes). */
  readonly resource?: string;
  /** Route targets: the weight as configured, and its percent of the route's total (one decimal). */
  readonly weight?: number;
  readonly percent?: number;
}

export interface MeshGraph {
  readonly nodes: GraphNode[];
  readonly edges: GraphEdge[];
}

/** `file:line:col` of where a resource was written. */
export function sourceText(r: Resource): string {
  return `${r.source.file}:${r.source.line}:${r.source.col}`;
}

/** The Envoy node id of a virtual node or gateway; undefined for other kinds. */
export function envoyNodeIdOf(r: Resource): string | undefined {
  if (r.kind === 'VirtualNode') return formatNodeId({ mesh: r.mesh, type: 'virtualNode', name: r.name });
  if (r.kind === 'VirtualGateway') return formatNodeId({ mesh: r.mesh, type: 'virtualGateway', name: r.name });
  return undefined;
}

const GRAPH_KINDS: ReadonlySet<string> = new Set<GraphNodeKind>([
  'VirtualGateway',
  'VirtualService',
  'VirtualRouter',
  'VirtualNode',
]);

const round1 = (n: number) => Math.round(n * 10) / 10;

/**
 * The graph of `model`. Edges whose end is not a resource of the model (a reference meshd warned
 * about) are left out, so every edge joins two nodes. Nodes come in the model's order (by key).
 */
export function meshGraph(model: MeshModel, originOf: (file: string) => Origin = () => 'file'): MeshGraph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const present = new Set<string>();
  for (const r of model.resources) if (GRAPH_KINDS.has(r.kind)) present.add(resourceKey(r));
  const edgeIds = new Set<string>();
  const addEdge = (edge: GraphEdge) => {
    if (!present.has(edge.from) || !present.has(edge.to)) return;
    // One route may name a node twice (two ports): the second edge gets its place in the id.
    let id = edge.id;
    for (let n = 2; edgeIds.has(id); n++) id = `${edge.id}#${n}`;
    edgeIds.add(id);
    edges.push(id === edge.id ? edge : { ...edge, id });
  };
  const traffic = trafficNodesOf(model, present);
  for (const r of model.resources) {
    if (!GRAPH_KINDS.has(r.kind)) {
      if (r.kind === 'Route') {
        const router = `${r.mesh}/VirtualRouter/${r.virtualRouter}`;
        const targets = routeKindOf(r.spec).action.weightedTargets;
        const total = targets.reduce((sum, t) => sum + t.weight, 0);
        for (const t of targets) {
          const to = `${r.mesh}/VirtualNode/${t.virtualNode}`;
          addEdge({
            id: `${resourceKey(r)}->${to}`,
            from: router,
            to,
            kind: 'route-target',
            resource: resourceKey(r),
            weight: t.weight,
            percent: total > 0 ? round1((100 * t.weight) / total) : 0,
          });
        }
      } else if (r.kind === 'GatewayRoute') {
        const service = gatewayRouteKindOf(r.spec).route.action.target.virtualService.virtualServiceName;
        const to = `${r.mesh}/VirtualService/${service}`;
        addEdge({
          id: `${resourceKey(r)}->${to}`,
          from: `${r.mesh}/VirtualGateway/${r.virtualGateway}`,
          to,
          kind: 'gateway-route',
          resource: resourceKey(r),
        });
      }
      continue;
    }
    const id = resourceKey(r);
    const nodeId = envoyNodeIdOf(r);
    nodes.push({
      id,
      kind: r.kind as GraphNodeKind,
      mesh: r.mesh,
      name: r.name,
      source: sourceText(r),
      origin: originOf(r.source.file),
      ...(nodeId !== undefined ? { nodeId } : {}),
      trafficNodes: traffic.get(id) ?? [],
    });
    if (r.kind === 'VirtualService') {
      const to = providerOf(r.mesh, r.spec.provider);
      if (to !== undefined) addEdge({ id: `${id}->${to}`, from: id, to, kind: 'provider' });
    } else if (r.kind === 'VirtualNode') {
      for (const b of r.spec.backends ?? []) {
        const name = b.virtualService?.virtualServiceName;
        if (name === undefined) continue;
        const to = `${r.mesh}/VirtualService/${name}`;
        addEdge({ id: `${id}->${to}`, from: id, to, kind: 'backend' });
      }
    }
  }
  return { nodes, edges };
}

type Provider = { virtualNode?: { virtualNodeName: string }; virtualRouter?: { virtualRouterName: string } };

function providerOf(mesh: string, provider: Provider | undefined): string | undefined {
  if (provider?.virtualNode) return `${mesh}/VirtualNode/${provider.virtualNode.virtualNodeName}`;
  if (provider?.virtualRouter) return `${mesh}/VirtualRouter/${provider.virtualRouter.virtualRouterName}`;
  return undefined;
}

/**
 * Each graph node's traffic nodes: a virtual node itself; a router the targets of its routes; a service those of
 * its provider; a gateway none. Only virtual nodes of the model are named, sorted.
 */
function trafficNodesOf(model: MeshModel, present: ReadonlySet<string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of model.resources) {
    if (r.kind === 'VirtualNode') out.set(resourceKey(r), [resourceKey(r)]);
    else if (r.kind === 'VirtualRouter') {
      const targets = new Set<string>();
      for (const route of model.routesOf(r.mesh, r.name))
        for (const t of routeKindOf(route.spec).action.weightedTargets) {
          const node = `${r.mesh}/VirtualNode/${t.virtualNode}`;
          if (present.has(node)) targets.add(node);
        }
      out.set(resourceKey(r), [...targets].sort());
    } else if (r.kind === 'VirtualGateway') out.set(resourceKey(r), []);
  }
  for (const r of model.resources) {
    if (r.kind !== 'VirtualService') continue;
    const provider = providerOf(r.mesh, r.spec.provider);
    out.set(resourceKey(r), provider === undefined ? [] : (out.get(provider) ?? []));
  }
  return out;
}
