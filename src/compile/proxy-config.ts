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
  /**
   * Present iff the resources name meshd's managed secrets (compile/identity.ts): the identity the
   * proxy's `meshd/identity` certificate must carry. The control layer serves the secrets.
   */
  readonly identity?: { readonly spiffeId: string; readonly dnsNames: readonly string[] };
}

/** Per-proxy settings that come from the proxy itself (its bootstrap's node metadata), not from the mesh. */
export interface ProxySettings {
  readonly ingressPort: number;
  readonly egressPort: number;
  /** A gRPC client library with an xDS resolver rather than an Envoy (see proxyless.ts). */
  readonly proxyless?: boolean;
}
