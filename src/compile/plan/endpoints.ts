// The instances of a Cloud Map service that a target virtual node's discovery selects — its
// namespace and service, every attribute it filters on, healthy or UNKNOWN (no health check)
// only — each at the address its IP preference picks, in instance id order.
import { instanceAddress, instancePort } from '../../model/cloud-map-instance';
import type { CloudMapView } from '../cloud-map-view';
import { compare, type MeshReader } from '../../model/mesh-model';
import { ipPreferenceNameOf } from './ip-preference';
import type { NodePort } from './services';
import type { CloudMapDiscoveryPlan } from './types';

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
