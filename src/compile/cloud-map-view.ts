// What the compiler reads from Cloud Map: a service's instances, or undefined when it is not
// registered. The registries in discovery/ (local, remote, combined) satisfy it; the interface
// lives here, with its reader, so compile depends on no registry. In Kubernetes mode with
// --kubernetes-endpoints it also answers a virtual node's endpoints from the cluster's
// EndpointSlices (k8s/endpoint-slices.ts), which then replace its DNS or Cloud Map discovery.
import type { DiscoveredInstance } from '../model/cloud-map-instance';

export interface CloudMapView {
  discover(namespaceName: string, serviceName: string): readonly DiscoveredInstance[] | undefined;
  /**
   * The addresses of the pods a virtual node's podSelector selects, as the cluster's EndpointSlices
   * list them (ready ones only); undefined: the node's endpoints do not come from the cluster (its
   * DNS or Cloud Map discovery applies). An unchanged list should be the same array (the memo compares it).
   */
  workloadEndpoints?(mesh: string, virtualNode: string): readonly WorkloadEndpoint[] | undefined;
}

/** One address of a pod that serves a virtual node. */
export interface WorkloadEndpoint {
  readonly address: string;
}

/**
 * The key a discovery source announces (onChange) when a virtual node's workload endpoints
 * changed, and under which the controller notes who read them. Never a Cloud Map serviceKey
 * (those hold a NUL).
 */
export function workloadEndpointsKey(mesh: string, virtualNode: string): string {
  return `k8s:${mesh}/${virtualNode}`;
}

/** For compiling without a registry: every Cloud Map service is unregistered (no endpoints). */
export const NO_CLOUD_MAP: CloudMapView = { discover: () => undefined };
