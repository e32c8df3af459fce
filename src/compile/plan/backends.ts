// The caller side of a set of virtual services, shared by sidecars (their backends) and gateways
// (their gateway routes' targets): one cluster per target listener, with the client policy's TLS.
import type { CloudMapView } from '../cloud-map-view';
import type { MeshReader } from '../../model/mesh-model';
import { egressCluster } from './clusters';
import { egressClusterNameOf, type ResolvedService } from './services';
import { upstreamTls, type ClientTls } from './tls';
import type { ClusterPlan } from './types';

export interface Backend {
  readonly service: ResolvedService;
  readonly tls: ClientTls | undefined;
  /** Where the client policy was written, for error messages. */
  readonly tlsWhere: string;
}

/** Every target listener the backends reach, each once (by cluster name; the first backend's client policy wins). */
export function backendClusters(
  model: MeshReader,
  cloudMap: CloudMapView,
  backends: readonly Backend[],
): Map<string, ClusterPlan> {
  const clusters = new Map<string, ClusterPlan>();
  for (const { service, tls, tlsWhere } of backends) {
    for (const { reaches } of service.ports) {
      for (const target of reaches) {
        const name = egressClusterNameOf(target);
        if (!clusters.has(name))
          clusters.set(name, egressCluster(model, cloudMap, target, upstreamTls(tls, target.port, tlsWhere)));
      }
    }
  }
  return clusters;
}
