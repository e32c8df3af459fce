// Endpoints (EDS) from the plan: the Cloud Map instances, or the Kubernetes pods, a cluster's discovery selected.
import type { ClusterLoadAssignment } from '../generated/envoy/config/endpoint/v3/ClusterLoadAssignment';
import type { ClusterPlan } from './plan/types';

/** undefined for a cluster whose endpoints are not sent over EDS. */
export function loadAssignment(cluster: ClusterPlan): ClusterLoadAssignment | undefined {
  if (cluster.discovery.kind !== 'cloudMap' && cluster.discovery.kind !== 'kubernetes') return undefined;
  const lbEndpoints = cluster.discovery.endpoints.map(({ address, port }) => ({
    endpoint: { address: { socket_address: { address, port_value: port } } },
  }));
  return { cluster_name: cluster.name, endpoints: lbEndpoints.length > 0 ? [{ lb_endpoints: lbEndpoints }] : [] };
}
