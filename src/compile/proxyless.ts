// Proxyless gRPC: a gRPC client with an xDS resolver (grpc-js-xds, grpc-go, …) whose bootstrap
// names a virtual node gets the same routes and clusters as that node's sidecar would, plus one
// api_listener per backend name it can dial (`xds:///<virtual service>[:port]`). gRPC reads
// the listener, follows its RDS name to the egress route configuration and picks the virtual
// host whose domain is the name it dialled, so the router's weights split its calls.
import type { CloudMapView } from './cloud-map-view';
import type { Cluster } from '../generated/envoy/config/cluster/v3/Cluster';
import type { Listener } from '../generated/envoy/config/listener/v3/Listener';
import type { MeshReader } from '../model/mesh-model';
import type { VirtualNode } from '../model/virtual-node';
import { packAny } from './any';
import { egressRouteConfigName } from './names';
import type { ProxyConfig, ProxySettings } from './proxy-config';
import { compileSidecar } from './sidecar';
import { UnsupportedFeature } from './unsupported';

/** An api_listener named after the target a gRPC client dials, routed by the given route configuration. */
function apiListener(name: string, routeConfigName: string): Listener {
  return {
    name,
    api_listener: {
      api_listener: packAny('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
        stat_prefix: name,
        rds: { route_config_name: routeConfigName, config_source: { ads: {}, resource_api_version: 'V3' } },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: packAny('envoy.extensions.filters.http.router.v3.Router', {}) }],
      }),
    },
  };
}

/**
 * gRPC resolves a LOGICAL_DNS cluster itself and balances over every address it gets, which is
 * what STRICT_DNS (ENDPOINTS) asks for; gRPC has no STRICT_DNS. TLS from files has no gRPC
 * equivalent (gRPC wants certificate providers), and silently dropping it would send plaintext.
 */
function forGrpc(cluster: Cluster): Cluster {
  if (cluster.transport_socket) {
    throw new UnsupportedFeature(`cluster ${cluster.name}: client TLS from files is not supported for proxyless gRPC clients (only for Envoy sidecars)`);
  }
  return cluster.type === 'STRICT_DNS' ? { ...cluster, type: 'LOGICAL_DNS' } : cluster;
}

export function compileProxyless(model: MeshReader, cloudMap: CloudMapView, node: VirtualNode, settings: ProxySettings): ProxyConfig {
  const sidecar = compileSidecar(model, cloudMap, node, settings);
  const explicitName = egressRouteConfigName(settings.egressPort);
  const explicit = sidecar.routes.find((r) => r.name === explicitName);
  const dialable = (explicit?.virtual_hosts ?? []).flatMap((host) => host.domains ?? []);
  const egressClusters = new Set(
    (explicit?.virtual_hosts ?? []).flatMap((h) => (h.routes ?? []).flatMap((route) => [route.route?.cluster, ...(route.route?.weighted_clusters?.clusters ?? []).map((c) => c.name)])),
  );
  return {
    listeners: dialable.map((name) => apiListener(name, explicitName)).sort((a, b) => (a.name! < b.name! ? -1 : 1)),
    routes: explicit ? [explicit] : [],
    // Only clusters the egress routes reach: the local-app and passthrough clusters mean nothing to a client library.
    clusters: sidecar.clusters.filter((c) => egressClusters.has(c.name) && c.type !== 'ORIGINAL_DST').map(forGrpc),
    endpoints: sidecar.endpoints.filter((e) => egressClusters.has(e.cluster_name)),
  };
}
