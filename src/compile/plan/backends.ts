// The caller side of a set of virtual services, shared by sidecars (their backends) and gateways
// (their gateway routes' targets): one cluster per target listener, with the client policy's TLS.
import type { CloudMapView } from '../cloud-map-view';
import type { MeshReader } from '../../model/mesh-model';
import { egressCluster } from './clusters';
import { egressClusterNameOf, resolvedService, type NodePort, type ResolvedService } from './services';
import { meshMtlsOf, upstreamTls, type ClientTls } from './tls';
import type { ClusterPlan } from './types';
import type { CompileMemo } from '../memo';

export interface Backend {
  readonly service: ResolvedService;
  readonly tls: ClientTls | undefined;
}

/**
 * A sidecar's backend: the service `name` of `mesh` resolved, with the cluster of every target
 * listener it reaches under client policy `tls` (in the order backendClusters takes them), once
 * for every caller with that policy while what it reads is unchanged. One entry for both, so a
 * caller's compile asks the memo once per backend. undefined: no such service, or no provider.
 */
export function resolvedBackend(
  model: MeshReader,
  cloudMap: CloudMapView,
  memo: CompileMemo,
  mesh: string,
  name: string,
  tls: ClientTls | undefined,
  key = backendKey(mesh, name, tls),
): { readonly service: ResolvedService; readonly clusters: readonly ClusterPlan[] } | undefined {
  return memo.get(key, model, cloudMap, (m, c) => {
    const service = resolvedService(m, memo, mesh, name);
    if (!service) return undefined;
    const clusters = backendClusters(m, c, [{ service, tls }], memo);
    return { service, clusters: [...clusters.values()] };
  });
}

/** resolvedBackend's memo key. */
export function backendKey(mesh: string, name: string, tls: ClientTls | undefined): string {
  return `backend\0${mesh}\0${name}\0${tls ? JSON.stringify(tls) : ''}`;
}

/** Every target listener the backends reach, each once (by cluster name; the first backend's client policy wins). */
export function backendClusters(
  model: MeshReader,
  cloudMap: CloudMapView,
  backends: readonly Backend[],
  memo: CompileMemo,
): Map<string, ClusterPlan> {
  const clusters = new Map<string, ClusterPlan>();
  for (const { service, tls } of backends) {
    for (const { reaches } of service.ports) {
      for (const target of reaches) {
        const name = egressClusterNameOf(target);
        if (!clusters.has(name)) clusters.set(name, memoEgressCluster(model, cloudMap, memo, target, tls));
      }
    }
  }
  return clusters;
}

/**
 * egressCluster, once for every caller with the same client TLS while what it reads is
 * unchanged: the target node is looked up again inside, so the memo records it.
 */
function memoEgressCluster(
  model: MeshReader,
  cloudMap: CloudMapView,
  memo: CompileMemo,
  target: NodePort,
  tls: ClientTls | undefined,
): ClusterPlan {
  // Read through the caller's reader, so its recording (and resolvedBackend's memo entry) notes the
  // mesh: a change of the mesh-wide mode gives another plan, so another key.
  const planned = upstreamTls(tls, target, meshMtlsOf(model, target.node.mesh));
  const { mesh, name } = target.node;
  const key = `cluster\0${mesh}\0${name}\0${target.port}\0${target.protocol}\0${planned ? JSON.stringify(planned) : ''}`;
  // Interned: a cluster computed again (its node's file was reloaded, say) but equal to the one
  // before is that very object, so the sidecars calling it keep their frames (sidecar.ts).
  return memo.get(key, model, cloudMap, (m, c) => {
    const node = m.virtualNode(mesh, name)!;
    return memo.interned(egressCluster(m, c, { node, port: target.port, protocol: target.protocol }, planned));
  });
}
