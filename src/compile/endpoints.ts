// Endpoints (EDS): the instances of a Cloud Map service that a target virtual node's
// discovery selects — its namespace and service, every attribute it filters on, healthy or
// UNKNOWN (no health check) only — each at the address its IP preference picks.
import { instanceAddress, instancePort } from '../model/cloud-map-instance';
import type { CloudMapView } from './cloud-map-view';
import type { ClusterLoadAssignment } from '../generated/envoy/config/endpoint/v3/ClusterLoadAssignment';
import { compare, type MeshReader } from '../model/mesh-model';
import { ipPreferenceNameOf } from './ip-preference';
import type { NodePort } from './services';

export function cloudMapAssignment(clusterName: string, target: NodePort, model: MeshReader, cloudMap: CloudMapView): ClusterLoadAssignment {
  const discovery = target.node.spec.serviceDiscovery!.awsCloudMap!;
  const preference = ipPreferenceNameOf(model, target.node);
  const wanted = discovery.attributes ?? [];
  const lbEndpoints = (cloudMap.discover(discovery.namespaceName, discovery.serviceName) ?? [])
    .filter((i) => i.health !== 'UNHEALTHY' && wanted.every(({ key, value }) => i.attributes[key] === value))
    .sort((a, b) => compare(a.id, b.id))
    .flatMap((i) => {
      const address = instanceAddress(i.attributes, preference);
      return address === undefined ? [] : [{ endpoint: { address: { socket_address: { address, port_value: instancePort(i.attributes, target.port) } } } }];
    });
  return { cluster_name: clusterName, endpoints: lbEndpoints.length > 0 ? [{ lb_endpoints: lbEndpoints }] : [] };
}
