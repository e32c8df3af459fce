// planSidecar(model, Cloud Map, node, settings) → the plan of one sidecar: its ingress (one
// entry per virtual-node listener, to the local app) and its egress (its backends' services,
// by Host on the egress port and by original destination port on each captured port).
import type { CloudMapView } from '../cloud-map-view';
import { compare, type MeshReader } from '../../model/mesh-model';
import type { VirtualNode } from '../../model/virtual-node';
import { ROUTE_IDLE_TIMEOUT_MS } from '../defaults';
import { meshMillis } from './durations';
import { ipPreferenceOf, type AddressFamilyPlan } from './ip-preference';
import {
  allowAllClusterName,
  egressListenerName,
  egressRouteConfigName,
  ingressClusterName,
  ingressListenerName,
  ingressRouteConfigName,
} from '../names';
import type { ProxySettings } from '../proxy-config';
import { planAccessLog } from './access-log';
import { backendKey, resolvedBackend, type Backend } from './backends';
import type { ClientTls } from './tls';
import { allowAllCluster, ingressCluster } from './clusters';
import { byName, bindAll } from './order';
import { sortInPlace } from '../../util/sort-in-place';
import { httpTimeouts, isHttpFamily, type ResolvedService, type ServicePort } from './services';
import type { CompileMemo } from '../memo';
import { downstreamTls, meshMtlsOf, type MeshMtls } from './tls';
import type {
  AccessLogPlan,
  ClusterPlan,
  ProxyPlan,
  RouteTablePlan,
  SidecarEgressListenerPlan,
  SidecarIngressListenerPlan,
  VirtualHostPlan,
} from './types';

interface ServiceOnPort<S = ResolvedService, P = ServicePort> {
  readonly service: S;
  readonly port: P;
}

const byServiceName = (a: Backend, b: Backend) => compare(a.service.name, b.service.name);

/** The node's backends (each service once, by name) with the client policy that applies to each, and their clusters. */
function resolveBackends(
  model: MeshReader,
  cloudMap: CloudMapView,
  memo: CompileMemo,
  node: VirtualNode,
): (Backend & { readonly clusters: readonly ClusterPlan[] })[] {
  const backends: (Backend & { readonly clusters: readonly ClusterPlan[] })[] = [];
  for (const { name, tls, key } of memo.derived(node, backendsOf)) {
    const resolved = resolvedBackend(model, cloudMap, memo, node.mesh, name, tls, key);
    if (resolved) backends.push({ service: resolved.service, tls, clusters: resolved.clusters });
  }
  return sortInPlace(backends, byServiceName);
}

/**
 * The node's backends as it declares them: each service's name, its client policy and its memo
 * key, worked out once per node object rather than on every compile (the same key string each
 * time is also hashed once).
 */
function backendsOf(node: VirtualNode): {
  readonly name: string;
  readonly tls: ClientTls | undefined;
  readonly key: string;
}[] {
  const defaults = node.spec.backendDefaults?.clientPolicy?.tls;
  return (node.spec.backends ?? []).map((b) => {
    const vs = b.virtualService!;
    const tls = vs.clientPolicy?.tls ?? defaults;
    return { name: vs.virtualServiceName, tls, key: backendKey(node.mesh, vs.virtualServiceName, tls) };
  });
}

/** The services on each backend port, ports ascending. */
function servicesByPort<S extends { readonly ports: readonly P[] }, P extends { readonly port: number }>(
  backends: readonly { readonly service: S }[],
): Map<number, ServiceOnPort<S, P>[]> {
  const byPort = new Map<number, ServiceOnPort<S, P>[]>();
  let ascending = true;
  let last = -Infinity;
  for (const { service } of backends)
    for (const port of service.ports) {
      const list = byPort.get(port.port);
      if (list) list.push({ service, port });
      else {
        byPort.set(port.port, [{ service, port }]);
        if (port.port < last) ascending = false;
        last = port.port;
      }
    }
  // Most nodes call their backends on one port: nothing to sort then.
  return ascending ? byPort : new Map([...byPort].sort(([a], [b]) => a - b));
}

/** The route table for one captured backend port (transparent mode): services on that port by Host. */
function portRouteTable(
  name: string,
  services: readonly ServiceOnPort[],
  passthroughCluster: string | undefined,
  memo: CompileMemo,
): RouteTablePlan {
  const hosts = services.map(({ service, port }) => memo.derived(service, hostsOf).byPort.get(port.port)!);
  // The passthrough host is the same for every proxy of the mesh: interned, it is encoded once.
  return {
    name,
    virtualHosts: passthroughCluster ? [...hosts, memo.interned(passthroughHost(passthroughCluster))] : hosts,
  };
}

/**
 * The route table for the egress port itself (explicit mode): every HTTP service, by Host. A
 * service with several HTTP ports gets a host per port; its bare name goes to the first.
 */
function explicitRouteTable(name: string, services: readonly ResolvedService[], memo: CompileMemo): RouteTablePlan {
  const virtualHosts: VirtualHostPlan[] = [];
  for (const service of services) virtualHosts.push(...memo.derived(service, hostsOf).explicit);
  return { name, virtualHosts };
}

/**
 * A service's virtual hosts, derived once per resolved service (so the same objects for every
 * caller of a memoised one): in the explicit route table, and in the route table of each of its
 * ports (captured ports). A service with one HTTP port has the same host in both, one object.
 */
function hostsOf(service: ResolvedService): {
  readonly explicit: readonly VirtualHostPlan[];
  readonly byPort: ReadonlyMap<number, VirtualHostPlan>;
} {
  const http = service.ports.filter(isHttpFamily);
  const explicit = http.map((port, i) => ({
    name: http.length === 1 ? service.name : `${service.name}:${port.port}`,
    domains: [...(i === 0 ? [service.name] : []), `${service.name}:${port.port}`],
    routes: port.routes,
  }));
  const byPort = new Map(
    service.ports.map((port): [number, VirtualHostPlan] => [
      port.port,
      http.length === 1 && http[0] === port
        ? explicit[0]!
        : { name: service.name, domains: [service.name, `${service.name}:${port.port}`], routes: port.routes },
    ]),
  );
  return { explicit, byPort };
}

/** ALLOW_ALL: any other Host on a captured port goes on to where the app sent it. */
function passthroughHost(cluster: string): VirtualHostPlan {
  return {
    name: 'allow_all',
    domains: ['*'],
    routes: [
      { match: { path: { kind: 'prefix', value: '/' } }, action: { kind: 'cluster', cluster, timeoutMs: null } },
    ],
  };
}

/**
 * A captured port is HTTP when any service on it speaks HTTP (services are told apart by Host).
 * TCP carries no name, so a TCP-only port goes to the first TCP service on it (by name); a
 * service with no route yet (or only zero weights) leaves the port uncaptured: closed.
 */
function capturedPort(
  port: number,
  services: readonly ServiceOnPort<unknown, FramePort>[],
): SidecarEgressListenerPlan['capturedPorts'][number] | undefined {
  if (services.some((s) => isHttpFamily(s.port)))
    return { port, traffic: { kind: 'http', routeTable: egressRouteConfigName(port) } };
  const tcp = services[0]!.port.tcp;
  return tcp ? { port, traffic: tcp } : undefined;
}

/** Inbound traffic, redirected to the ingress port by iptables; undefined for a node without listeners. */
function ingressListener(
  node: VirtualNode,
  ingressPort: number,
  bind: AddressFamilyPlan,
  accessLog: AccessLogPlan | undefined,
  meshMtls: MeshMtls | undefined,
): SidecarIngressListenerPlan | undefined {
  const listeners = node.spec.listeners ?? [];
  if (listeners.length === 0) return undefined;
  const tlsByPort = listeners.map((l) => downstreamTls(l.tls, undefined, meshMtls));
  return {
    kind: 'sidecarIngress',
    name: ingressListenerName(ingressPort),
    bind: bindAll(bind, ingressPort),
    inspectTls: tlsByPort.some((t) => t?.mode === 'PERMISSIVE'),
    ports: listeners.map(({ portMapping: { port, protocol }, timeout }, i) => {
      const idle = timeout?.tcp?.idle;
      const planned = tlsByPort[i];
      return {
        port,
        protocol,
        ...(planned ? { tls: planned } : {}),
        traffic:
          protocol === 'tcp'
            ? {
                kind: 'tcp',
                targets: [{ cluster: ingressClusterName(node.mesh, node.name, protocol, port), weight: 1 }],
                idleTimeoutMs: idle ? meshMillis(idle) : ROUTE_IDLE_TIMEOUT_MS,
              }
            : { kind: 'http', routeTable: ingressRouteConfigName(port) },
      };
    }),
    ...(accessLog ? { accessLog } : {}),
  };
}

interface LocalSide {
  readonly ingress: SidecarIngressListenerPlan | undefined;
  /** Its local app behind each listener. */
  readonly clusters: readonly ClusterPlan[];
  /** The ingress route table of each HTTP-family listener. */
  readonly routeTables: readonly RouteTablePlan[];
}

/** The node's ingress: its listener, and the clusters and route tables to its local app. */
function localSide(model: MeshReader, node: VirtualNode, ingressPort: number): LocalSide {
  const own = ipPreferenceOf(model, node);
  const clusters: ClusterPlan[] = [];
  const routeTables: RouteTablePlan[] = [];
  for (const listener of node.spec.listeners ?? []) {
    const { port, protocol } = listener.portMapping;
    const cluster = ingressCluster(node.mesh, node.name, listener, own);
    clusters.push(cluster);
    if (protocol !== 'tcp') {
      const timeouts = httpTimeouts(listener.timeout?.[protocol as 'http' | 'http2' | 'grpc']);
      routeTables.push({
        name: ingressRouteConfigName(port),
        virtualHosts: [
          {
            name: 'local_app',
            domains: ['*'],
            routes: [
              {
                match: { path: { kind: 'prefix', value: '/' } },
                action: { kind: 'cluster', cluster: cluster.name, ...timeouts },
              },
            ],
          },
        ],
      });
    }
  }

  return {
    ingress: ingressListener(node, ingressPort, own, planAccessLog(node.spec.logging), meshMtlsOf(model, node.mesh)),
    clusters,
    routeTables,
  };
}

/** What a sidecar's listeners and clusters read of a backend port (its routes feed only the route tables). */
type FramePort = Pick<ServicePort, 'port' | 'protocol' | 'tcp'>;

/** What a sidecar's listeners and clusters read of one backend. */
interface FrameBackend {
  readonly service: { readonly name: string; readonly ports: readonly FramePort[] };
  readonly clusters: readonly ClusterPlan[];
}

/** A sidecar's listeners and clusters: all of its plan but its route tables. */
interface SidecarFrame {
  readonly listeners: ProxyPlan['listeners'];
  readonly clusters: ProxyPlan['clusters'];
}

/**
 * Everything sidecarFrame reads, flat: while these are the same values, so is the frame. A
 * route change keeps them (a service recomputed for new routes keeps its ports and, through the
 * memo, its clusters), so only the route tables of the proxies it reaches are built again.
 */
function frameInputs(
  node: VirtualNode,
  egressPort: number,
  own: AddressFamilyPlan,
  allowAll: boolean,
  local: LocalSide,
  backends: readonly FrameBackend[],
): unknown[] {
  const inputs: unknown[] = [node, egressPort, own, allowAll, local, backends.length];
  for (const { service, clusters } of backends) {
    inputs.push(service.name, service.ports.length);
    for (const { port, protocol, tcp } of service.ports) inputs.push(port, protocol, tcp);
    inputs.push(clusters.length, ...clusters);
  }
  return inputs;
}

/** Only what frameInputs covers of a backend (so the frame cannot read its routes). */
function frameBackend({ service, clusters }: FrameBackend): FrameBackend {
  return {
    service: { name: service.name, ports: service.ports.map(({ port, protocol, tcp }) => ({ port, protocol, tcp })) },
    clusters,
  };
}

function sidecarFrame(
  node: VirtualNode,
  egressPort: number,
  own: AddressFamilyPlan,
  allowAll: boolean,
  local: LocalSide,
  backends: readonly FrameBackend[],
): SidecarFrame {
  const accessLog = planAccessLog(node.spec.logging);
  // Every target listener the backends reach, each once (the first backend's client policy wins: backendClusters).
  const clusters = new Map<string, ClusterPlan>();
  for (const backend of backends)
    for (const cluster of backend.clusters) if (!clusters.has(cluster.name)) clusters.set(cluster.name, cluster);
  // The node's own side.
  for (const cluster of local.clusters) clusters.set(cluster.name, cluster);

  let passthrough: SidecarEgressListenerPlan['passthrough'];
  if (allowAll) {
    const cluster = allowAllCluster(node.mesh);
    clusters.set(cluster.name, cluster);
    passthrough = { cluster: cluster.name, idleTimeoutMs: ROUTE_IDLE_TIMEOUT_MS };
  }
  const egress: SidecarEgressListenerPlan = {
    kind: 'sidecarEgress',
    name: egressListenerName(egressPort),
    bind: bindAll(own, egressPort),
    capturedPorts: [...servicesByPort<FrameBackend['service'], FramePort>(backends)].flatMap(([port, services]) =>
      port === egressPort ? [] : (capturedPort(port, services) ?? []),
    ),
    explicitRouteTable: egressRouteConfigName(egressPort),
    ...(passthrough ? { passthrough } : {}),
    ...(accessLog ? { accessLog } : {}),
  };
  const ingress = local.ingress;
  return {
    listeners: [egress, ...(ingress ? [ingress] : [])].sort(byName),
    clusters: [...clusters.values()].sort(byName),
  };
}

/** Each proxy's memo keys, made once per settings object (a connected proxy keeps its own) and node. */
const proxyKeys = new WeakMap<
  ProxySettings,
  WeakMap<VirtualNode, { readonly local: string; readonly frame: string }>
>();

function keysOf(node: VirtualNode, settings: ProxySettings): { readonly local: string; readonly frame: string } {
  let byNode = proxyKeys.get(settings);
  if (!byNode) proxyKeys.set(settings, (byNode = new WeakMap()));
  let keys = byNode.get(node);
  if (!keys) {
    const { ingressPort, egressPort } = settings;
    keys = {
      local: `sidecar-local\0${node.mesh}\0${node.name}\0${ingressPort}`,
      frame: `sidecar-frame\0${node.mesh}\0${node.name}\0${ingressPort}\0${egressPort}`,
    };
    byNode.set(node, keys);
  }
  return keys;
}

export function planSidecar(
  model: MeshReader,
  cloudMap: CloudMapView,
  node: VirtualNode,
  settings: ProxySettings,
  memo: CompileMemo,
): ProxyPlan {
  const own = ipPreferenceOf(model, node);
  const allowAll = model.mesh(node.mesh)?.spec.egressFilter?.type === 'ALLOW_ALL';
  const backends = resolveBackends(model, cloudMap, memo, node);
  // The node's own side (the same for every compile of it until the node or its mesh changes).
  const keys = keysOf(node, settings);
  const local = memo.get(keys.local, model, cloudMap, (m) =>
    localSide(m, m.virtualNode(node.mesh, node.name)!, settings.ingressPort),
  );
  // Its listeners and clusters, the same objects while what they are made of is (memo.whileSame).
  const { egressPort } = settings;
  const frame = memo.whileSame(keys.frame, frameInputs(node, egressPort, own, allowAll, local, backends), () =>
    sidecarFrame(node, egressPort, own, allowAll, local, backends.map(frameBackend)),
  );

  const routeTables: RouteTablePlan[] = [
    explicitRouteTable(
      egressRouteConfigName(egressPort),
      backends.map((b) => b.service),
      memo,
    ),
  ];
  for (const [port, services] of servicesByPort<ResolvedService, ServicePort>(backends)) {
    if (port === egressPort) continue;
    const http = services.filter((s) => isHttpFamily(s.port));
    if (http.length > 0)
      routeTables.push(
        portRouteTable(egressRouteConfigName(port), http, allowAll ? allowAllClusterName(node.mesh) : undefined, memo),
      );
  }
  routeTables.push(...local.routeTables);
  return { listeners: frame.listeners, routeTables: sortInPlace(routeTables, byName), clusters: frame.clusters };
}
