// The instances of a Cloud Map service that a target virtual node's discovery selects — its
// namespace and service, every attribute it filters on, healthy or UNKNOWN (no health check)
// only — each at the address its IP preference picks, in instance id order. Or, with
// --kubernetes-endpoints, the ready pods its podSelector selects (workloadDiscovery).
import { instanceAddress, instancePort } from '../../model/cloud-map-instance';
import type { CloudMapView } from '../cloud-map-view';
import { compare, type MeshReader } from '../../model/mesh-model';
import { ipPreferenceNameOf } from './ip-preference';
import type { NodePort } from './services';
import type { CloudMapDiscoveryPlan, KubernetesDiscoveryPlan } from './types';

export function cloudMapDiscovery(target: NodePort, model: MeshReader, cloudMap: CloudMapView): CloudMapDiscoveryPlan {
  const discovery = target.node.spec.serviceDiscovery!.awsCloudMap!;
  const preference = ipPreferenceNameOf(model, target.node);
  const wanted = discovery.attributes ?? [];
  const endpoints = (cloudMap.discover(discovery.namespaceName, discovery.serviceName) ?? [])
    .filter((i) => i.health !== 'UNHEALTHY' && wanted.every(({ key, value }) => i.attributes[key] === value))
    .sort((a, b) => compare(a.id, b.id))
    .flatMap((i) => {
      const address = instanceAddress(i.attributes, preference);
      return address === undefined ? [] : [{ address, port: instancePort(i.attributes, target.port) }];
    });
  return { kind: 'cloudMap', namespace: discovery.namespaceName, service: discovery.serviceName, endpoints };
}

const isIpv6 = (address: string): boolean => address.includes(':');

/**
 * The target node's endpoints from the cluster's EndpointSlices, at the listener's port; undefined
 * when the view does not answer for it (its DNS or Cloud Map discovery applies). A dual-stack pod is
 * listed under both families: the node's IP preference picks one family for the whole list (IPv4 when
 * it has none, or prefers IPv4, and any IPv4 address is listed), so no pod is counted twice.
 */
export function workloadDiscovery(
  target: NodePort,
  model: MeshReader,
  view: CloudMapView,
): KubernetesDiscoveryPlan | undefined {
  const found = view.workloadEndpoints?.(target.node.mesh, target.node.name);
  if (found === undefined) return undefined;
  const v4 = found.filter((e) => !isIpv6(e.address));
  const v6 = found.filter((e) => isIpv6(e.address));
  let chosen: typeof found;
  switch (ipPreferenceNameOf(model, target.node)) {
    case 'IPv4_ONLY':
      chosen = v4;
      break;
    case 'IPv6_ONLY':
      chosen = v6;
      break;
    case 'IPv6_PREFERRED':
      chosen = v6.length > 0 ? v6 : v4;
      break;
    default:
      chosen = v4.length > 0 ? v4 : v6;
  }
  const addresses = [...new Set(chosen.map((e) => e.address))].sort(compare);
  return { kind: 'kubernetes', endpoints: addresses.map((address) => ({ address, port: target.port })) };
}
