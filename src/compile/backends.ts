// The caller side of a set of virtual services, shared by sidecars (their backends) and
// gateways (their gateway routes' targets): one egress cluster per target listener, with the
// client policy's TLS, and the EDS endpoints of the targets found through Cloud Map.
import type { CloudMapView } from './cloud-map-view';
import type { Cluster } from '../generated/envoy/config/cluster/v3/Cluster';
import type { ClusterLoadAssignment } from '../generated/envoy/config/endpoint/v3/ClusterLoadAssignment';
import { compare, type MeshReader } from '../model/mesh-model';
import { egressCluster, egressClusterNameOf, usesCloudMap } from './clusters';
import { cloudMapAssignment } from './endpoints';
import { ipPreferenceOf } from './ip-preference';
import type { ResolvedService } from './services';
import { upstreamTls, type ClientTls } from './tls';

export interface Backend {
  readonly service: ResolvedService;
  readonly tls: ClientTls | undefined;
  /** Where the client policy was written, for error messages. */
  readonly tlsWhere: string;
}

export interface BackendResources {
  readonly clusters: Map<string, Cluster>;
  /** By cluster name, as a ProxyConfig lists them. */
  readonly endpoints: ClusterLoadAssignment[];
}

/** Every target listener the backends' routes reach, each once (by cluster name). */
export function backendResources(model: MeshReader, cloudMap: CloudMapView, backends: readonly Backend[]): BackendResources {
  const clusters = new Map<string, Cluster>();
  const endpoints = new Map<string, ClusterLoadAssignment>();
  for (const { service, tls, tlsWhere } of backends) {
    for (const { routes } of service.ports) {
      for (const { targets } of routes) {
        for (const { target } of targets) {
          const name = egressClusterNameOf(target);
          if (clusters.has(name)) continue;
          clusters.set(name, egressCluster(target, { addresses: ipPreferenceOf(model, target.node), tls: upstreamTls(tls, target.port, tlsWhere) }));
          if (usesCloudMap(target)) endpoints.set(name, cloudMapAssignment(name, target, model, cloudMap));
        }
      }
    }
  }
  return { clusters, endpoints: [...endpoints.values()].sort((a, b) => compare(a.cluster_name ?? '', b.cluster_name ?? '')) };
}
