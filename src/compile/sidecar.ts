// compile(model, node, settings) → the Envoy resources of one sidecar. Pure: no I/O, no
// clocks; the same input gives the same output, in the same order.
import type { Cluster } from '../generated/envoy/config/cluster/v3/Cluster';
import type { RouteConfiguration } from '../generated/envoy/config/route/v3/RouteConfiguration';
import { compare, type MeshModel } from '../model/mesh-model';
import type { VirtualNode } from '../model/virtual-node';
import { egressCluster, ingressCluster } from './clusters';
import { egressListener, ingressListener } from './listeners';
import { egressRouteConfigName, ingressClusterName, ingressRouteConfigName } from './names';
import type { ProxyConfig, ProxySettings } from './proxy-config';
import { egressRouteConfig, ingressRouteConfig } from './routes';
import { resolveService, type ResolvedService } from './services';

export function compileSidecar(model: MeshModel, node: VirtualNode, settings: ProxySettings): ProxyConfig {
  const services: ResolvedService[] = uniqueSorted((node.spec.backends ?? []).map((b) => b.virtualService!.virtualServiceName))
    .map((name) => resolveService(model, model.virtualService(node.mesh, name)!))
    .filter((s): s is ResolvedService => s !== undefined);

  const clusters = new Map<string, Cluster>();
  for (const service of services) {
    for (const route of service.routes) {
      for (const { target } of route.targets) {
        const cluster = egressCluster(target);
        clusters.set(cluster.name!, cluster);
      }
    }
  }
  const routes: RouteConfiguration[] = [egressRouteConfig(egressRouteConfigName(settings.egressPort), services)];
  for (const { portMapping: { port, protocol } } of node.spec.listeners ?? []) {
    const cluster = ingressCluster(node, port, protocol);
    clusters.set(cluster.name!, cluster);
    if (protocol !== 'tcp') routes.push(ingressRouteConfig(ingressRouteConfigName(port), ingressClusterName(node.mesh, node.name, protocol, port)));
  }

  const ingress = ingressListener(node, settings.ingressPort);
  return {
    listeners: [egressListener(settings.egressPort), ...(ingress ? [ingress] : [])].sort(byName),
    routes: routes.sort(byName),
    clusters: [...clusters.values()].sort(byName),
    endpoints: [],
  };
}

function uniqueSorted(names: string[]): string[] {
  return [...new Set(names)].sort(compare);
}

function byName(a: { name?: string }, b: { name?: string }): number {
  return compare(a.name ?? '', b.name ?? '');
}
