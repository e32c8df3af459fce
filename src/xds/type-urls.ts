/** v3 type URLs of the resources meshd serves, in the order a change must reach a proxy (make-before-break). */
export const TypeUrl = {
  Cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  Endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  Listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  Route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  /** SDS over ADS: certificates and trust bundles, always asked for by name. */
  Secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

export type TypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

/**
 * Push order: secrets first (Envoy warms a cluster or listener until the secrets it names arrive,
 * so a secret never waits for any ACK), then clusters before the endpoints, listeners and routes
 * that refer to them.
 */
export const PUSH_ORDER: readonly TypeUrl[] = [
  TypeUrl.Secret,
  TypeUrl.Cluster,
  TypeUrl.Endpoint,
  TypeUrl.Listener,
  TypeUrl.Route,
];

const SHORT_NAMES: Record<TypeUrl, string> = {
  [TypeUrl.Cluster]: 'CDS',
  [TypeUrl.Endpoint]: 'EDS',
  [TypeUrl.Listener]: 'LDS',
  [TypeUrl.Route]: 'RDS',
  [TypeUrl.Secret]: 'SDS',
};

export function isKnownTypeUrl(url: string): url is TypeUrl {
  return url in SHORT_NAMES;
}

/** CDS, EDS, LDS, RDS, SDS: for logs; the type URL itself for anything else. */
export function shortTypeName(url: string): string {
  return isKnownTypeUrl(url) ? SHORT_NAMES[url] : url;
}

/** Envoy subscribes to these as wildcards (every resource the node has). */
export function isWildcardByDefault(url: string): boolean {
  return url === TypeUrl.Cluster || url === TypeUrl.Listener;
}

/** Secrets are served only by name: neither an empty first request nor '*' subscribes to every one. */
export function isNeverWildcard(url: string): boolean {
  return url === TypeUrl.Secret;
}
