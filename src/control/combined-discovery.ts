// What proxies are compiled against in Kubernetes mode with --kubernetes-endpoints: the Cloud Map
// source as it is, plus the virtual nodes' endpoints from the cluster's EndpointSlices
// (k8s/endpoint-slices.ts). The controller notes both kinds of read per proxy, so a change of
// one node's pods recompiles only the proxies that call that node.
import type { WorkloadEndpoint } from '../compile/cloud-map-view';
import type { CloudMapSource } from './mesh-controller';

/** What the controller compiles against (mesh-controller.ts names it CloudMapSource; not cloud-map-source.ts's). */
export type DiscoverySource = CloudMapSource;

/** A source of virtual nodes' workload endpoints that announces the workloadEndpointsKeys that changed. */
export interface WorkloadEndpointsSource {
  workloadEndpoints(mesh: string, virtualNode: string): readonly WorkloadEndpoint[] | undefined;
  onChange(listener: (changed: ReadonlySet<string>) => void): unknown;
}

/**
 * One source for the controller (and for compiling a node's config on demand): Cloud Map's
 * services from `cloudMap`, virtual nodes' endpoints from `workloads`; onChange announces the
 * changes of both (Cloud Map serviceKeys and workloadEndpointsKeys, which never collide).
 */
export function combinedDiscovery(cloudMap: DiscoverySource, workloads: WorkloadEndpointsSource): DiscoverySource {
  return {
    discover: (namespaceName, serviceName) => cloudMap.discover(namespaceName, serviceName),
    workloadEndpoints: (mesh, virtualNode) => workloads.workloadEndpoints(mesh, virtualNode),
    onChange: (listener) => {
      cloudMap.onChange(listener);
      workloads.onChange(listener);
    },
  };
}
