// Proxyless gRPC: a gRPC client with an xDS resolver (grpc-js-xds, grpc-go, …) whose bootstrap
// names a virtual node gets the same routes and clusters as that node's sidecar would, plus one
// api listener per backend name it can dial (`xds:///<virtual service>[:port]`). gRPC reads
// the listener, follows its route table name to the egress route table and picks the virtual
// host whose domain is the name it dialled, so the router's weights split its calls.
import { UnsupportedFeature } from '../unsupported';
import { byName } from './order';
import type { ApiListenerPlan, ClusterPlan, ProxyPlan } from './types';

/**
 * gRPC resolves a LOGICAL_DNS cluster itself and balances over every address it gets, which is
 * what strict resolution (ENDPOINTS) asks for; gRPC has no STRICT_DNS. Client TLS (from files, SDS,
 * or meshd's mesh-wide mTLS) is not configured for gRPC here (gRPC wants certificate providers), and
 * silently dropping it would send plaintext.
 */
function forGrpc(cluster: ClusterPlan): ClusterPlan {
  if (cluster.tls) {
    const overSds = cluster.tls.certificate?.kind === 'sds' || cluster.tls.validation.trust.kind === 'sds';
    const from = overSds ? "over SDS (an ACM or SDS source, or the mesh's spec.meshd.mtls)" : 'from files';
    throw new UnsupportedFeature(
      `cluster ${cluster.name}: client TLS ${from} is not supported for proxyless gRPC clients (only for Envoy sidecars)`,
    );
  }
  return cluster.discovery.kind === 'dns' && cluster.discovery.resolution === 'strict'
    ? { ...cluster, discovery: { ...cluster.discovery, resolution: 'logical' } }
    : cluster;
}

/** The proxyless client's plan, cut from the plan its node's sidecar would get. */
export function planProxyless(sidecar: ProxyPlan): ProxyPlan {
  const egress = sidecar.listeners.find((l) => l.kind === 'sidecarEgress');
  const explicit = sidecar.routeTables.find((t) => t.name === egress?.explicitRouteTable);
  const hosts = explicit?.virtualHosts ?? [];
  const reached = new Set(
    hosts.flatMap((h) =>
      h.routes.flatMap((r) =>
        r.action.kind === 'weighted'
          ? r.action.targets.map((t) => t.cluster)
          : r.action.kind === 'cluster'
            ? [r.action.cluster]
            : [],
      ),
    ),
  );
  const listeners: ApiListenerPlan[] = hosts
    .flatMap((h) => h.domains)
    .map((name) => ({ kind: 'api', name, routeTable: explicit!.name }));
  return {
    listeners: listeners.sort(byName),
    routeTables: explicit ? [explicit] : [],
    // Only clusters the egress routes reach: the local-app and passthrough clusters mean nothing to a client library.
    clusters: sidecar.clusters
      .filter((c) => reached.has(c.name) && c.discovery.kind !== 'originalDestination')
      .map(forGrpc),
  };
}
