import type { Cluster } from '../generated/envoy/config/cluster/v3/Cluster';
import type { ClusterLoadAssignment } from '../generated/envoy/config/endpoint/v3/ClusterLoadAssignment';
import type { Listener } from '../generated/envoy/config/listener/v3/Listener';
import type { RouteConfiguration } from '../generated/envoy/config/route/v3/RouteConfiguration';

/** Everything one proxy gets, as Envoy v3 resources. Each list is sorted by name. */
export interface ProxyConfig {
  readonly listeners: Listener[];
  readonly routes: RouteConfiguration[];
  readonly clusters: Cluster[];
  readonly endpoints: ClusterLoadAssignment[];
}

/** Per-proxy settings that come from the proxy itself (its bootstrap's node metadata), not from the mesh. */
export interface ProxySettings {
  readonly ingressPort: number;
  readonly egressPort: number;
  /** A gRPC client library with an xDS resolver rather than an Envoy (see proxyless.ts). */
  readonly proxyless?: boolean;
}
