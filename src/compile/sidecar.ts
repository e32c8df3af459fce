// compile(model, Cloud Map, node, settings) → the Envoy resources of one sidecar. Pure: no I/O, no
// clocks; the same input gives the same output, in the same order.
import type { AccessLog } from '../generated/envoy/config/accesslog/v3/AccessLog';
import type { RouteConfiguration } from '../generated/envoy/config/route/v3/RouteConfiguration';
import { compare, type MeshReader } from '../model/mesh-model';
import type { VirtualNode } from '../model/virtual-node';
import type { CloudMapView } from './cloud-map-view';
import { accessLogs } from './access-log';
import { backendResources, type Backend } from './backends';
import { allowAllCluster, egressClusterNameOf, ingressCluster } from './clusters';
import { fromMeshDuration } from './durations';
import { ipPreferenceOf } from './ip-preference';
import { egressListener, ingressListener, tcpProxy, type EgressPortChain } from './listeners';
import { allowAllClusterName, egressRouteConfigName, ingressRouteConfigName } from './names';
import { byName, type ProxyConfig, type ProxySettings } from './proxy-config';
import { explicitRouteConfig, ingressRouteConfig, isHttpFamily, portRouteConfig, type ServiceOnPort } from './routes';
import { resolveService } from './services';

/** The node's backends (each service once, by name) with the client policy that applies to each. */
function resolveBackends(model: MeshReader, node: VirtualNode): Backend[] {
  const defaults = node.spec.backendDefaults?.clientPolicy?.tls;
  const backends: Backend[] = [];
  (node.spec.backends ?? []).forEach((b, i) => {
    const vs = b.virtualService!;
    const service = resolveService(model, model.virtualService(node.mesh, vs.virtualServiceName)!);
    if (!service) return;
    const own = vs.clientPolicy?.tls;
    const tlsWhere = `VirtualNode/${node.name}: ${own ? `backends[${i}].virtualService.clientPolicy.tls` : 'backendDefaults.clientPolicy.tls'}`;
    backends.push({ service, tls: own ?? defaults, tlsWhere });
  });
  return backends.sort((a, b) => compare(a.service.name, b.service.name));
}

/** The services on each backend port, ports ascending. */
function servicesByPort(backends: readonly Backend[]): Map<number, ServiceOnPort[]> {
  const byPort = new Map<number, ServiceOnPort[]>();
  for (const { service } of backends) for (const port of service.ports) byPort.set(port.port, [...(byPort.get(port.port) ?? []), { service, port }]);
  return new Map([...byPort].sort(([a], [b]) => a - b));
}

/**
 * A captured port is HTTP when any service on it speaks HTTP (services are told apart by Host).
 * TCP carries no name, so a TCP-only port goes to the first TCP service on it (by name); a
 * service with no route yet (or only zero weights) leaves the port uncaptured: closed.
 */
function egressPortChain(port: number, services: readonly ServiceOnPort[], accessLog: AccessLog[]): EgressPortChain | undefined {
  if (services.some((s) => isHttpFamily(s.port))) return { port, http: true };
  const route = services[0]!.port.routes[0];
  const targets = (route?.targets ?? []).filter((t) => t.weight > 0).map((t) => ({ name: egressClusterNameOf(t.target), weight: t.weight }));
  if (targets.length === 0) return undefined;
  const upstream = targets.length === 1 ? { cluster: targets[0]!.name } : { weighted_clusters: { clusters: targets } };
  const idle = route!.spec.tcpRoute?.timeout?.idle;
  return { port, http: false, tcp: tcpProxy('egress', upstream, idle ? fromMeshDuration(idle) : undefined, accessLog) };
}

export function compileSidecar(model: MeshReader, cloudMap: CloudMapView, node: VirtualNode, settings: ProxySettings): ProxyConfig {
  const own = ipPreferenceOf(model, node);
  const accessLog = accessLogs(node.spec.logging);
  const allowAll = model.mesh(node.mesh)?.spec.egressFilter?.type === 'ALLOW_ALL';
  const backends = resolveBackends(model, node);

  const { clusters, endpoints } = backendResources(model, cloudMap, backends);

  const byPort = servicesByPort(backends);
  const routes: RouteConfiguration[] = [explicitRouteConfig(egressRouteConfigName(settings.egressPort), backends.map((b) => b.service))];
  for (const [port, services] of byPort) {
    if (port === settings.egressPort) continue;
    const http = services.filter((s) => isHttpFamily(s.port));
    if (http.length > 0) routes.push(portRouteConfig(egressRouteConfigName(port), http, allowAll ? allowAllClusterName(node.mesh) : undefined));
  }

  for (const listener of node.spec.listeners ?? []) {
    const { port, protocol } = listener.portMapping;
    const cluster = ingressCluster(node.mesh, node.name, listener, own);
    clusters.set(cluster.name!, cluster);
    if (protocol !== 'tcp') {
      const timeout = listener.timeout?.[protocol as 'http' | 'http2' | 'grpc'];
      routes.push(ingressRouteConfig(ingressRouteConfigName(port), cluster.name!, timeout));
    }
  }

  let passthrough;
  if (allowAll) {
    const cluster = allowAllCluster(node.mesh);
    clusters.set(cluster.name!, cluster);
    passthrough = tcpProxy('egress_allow_all', { cluster: cluster.name! }, undefined, accessLog);
  }
  const portChains = [...byPort].flatMap(([port, services]) => egressPortChain(port, services, accessLog) ?? []);
  const ingress = ingressListener(node, settings.ingressPort, own, accessLog);
  return {
    listeners: [egressListener(settings.egressPort, portChains, passthrough, own, accessLog), ...(ingress ? [ingress] : [])].sort(byName),
    routes: routes.sort(byName),
    clusters: [...clusters.values()].sort(byName),
    endpoints,
  };
}
