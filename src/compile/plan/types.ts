// The plan: what one proxy gets, described once, typed and JSON-serialisable, between the App
// Mesh model and Envoy's protos (as Envoy Gateway's IR sits between the Gateway API and xDS).
// planProxy (plan/index.ts) builds it from the model: App Mesh's defaults applied, its orders
// taken, its retry events mapped, durations in milliseconds, every resource named. The Envoy
// builders (listeners.ts, routes.ts, clusters.ts, endpoints.ts, ...) translate it and decide
// nothing App Mesh-specific. Plain data only: no Maps, no functions, no `undefined` values
// (an absent optional field is missing), so JSON.parse(JSON.stringify(plan)) equals the plan.

export type Millis = number;
export type AppProtocol = 'http' | 'http2' | 'grpc' | 'tcp';

/** Everything one proxy gets; each list sorted by name. */
export interface ProxyPlan {
  readonly listeners: readonly ListenerPlan[];
  readonly routeTables: readonly RouteTablePlan[];
  /** Endpoints are the clusters' Cloud Map or Kubernetes discovery (CloudMapDiscoveryPlan, KubernetesDiscoveryPlan). */
  readonly clusters: readonly ClusterPlan[];
  /** The workload identity meshd's managed secrets carry for this proxy; present iff the plan names them. */
  readonly identity?: { readonly spiffeId: string; readonly dnsNames: readonly string[] };
}

// ---------------------------------------------------------------- listeners

export type ListenerPlan =
  | SidecarIngressListenerPlan
  | SidecarEgressListenerPlan
  | GatewayListenerPlan
  | GatewayHopListenerPlan
  | ApiListenerPlan;

export interface BindPlan {
  readonly address: '0.0.0.0' | '::' | '127.0.0.1';
  readonly port: number;
  /** An IPv6 listener that also accepts IPv4. */
  readonly ipv4Compat: boolean;
}

export interface AccessLogPlan {
  readonly path: string;
  /** Envoy's default format when missing; a text format always ends in a newline. */
  readonly format?:
    { readonly text: string } | { readonly json: readonly { readonly key: string; readonly value: string }[] };
}

/** Plain HTTP to a route table, or TCP to weighted clusters. */
export type TrafficPlan =
  | { readonly kind: 'http'; readonly routeTable: string }
  | { readonly kind: 'tcp'; readonly targets: readonly WeightedClusterPlan[]; readonly idleTimeoutMs: Millis };

/**
 * Traffic iptables redirected to the ingress port: one entry per virtual-node listener, by original destination port.
 */
export interface SidecarIngressListenerPlan {
  readonly kind: 'sidecarIngress';
  readonly name: string;
  readonly bind: BindPlan;
  /** A PERMISSIVE port tells TLS from plaintext by inspecting the first bytes. */
  readonly inspectTls: boolean;
  readonly ports: readonly {
    readonly port: number;
    readonly protocol: AppProtocol;
    readonly tls?: DownstreamTlsPlan;
    readonly traffic: TrafficPlan;
  }[];
  readonly accessLog?: AccessLogPlan;
  readonly tracing?: TracingPlan;
}

/**
 * Outbound traffic: captured backend ports by original destination port (transparent mode),
 * the egress port itself by Host (explicit mode), and ALLOW_ALL's passthrough for the rest.
 */
export interface SidecarEgressListenerPlan {
  readonly kind: 'sidecarEgress';
  readonly name: string;
  readonly bind: BindPlan;
  /** Ports ascending; never the egress port. */
  readonly capturedPorts: readonly { readonly port: number; readonly traffic: TrafficPlan }[];
  readonly explicitRouteTable: string;
  readonly passthrough?: { readonly cluster: string; readonly idleTimeoutMs: Millis };
  readonly accessLog?: AccessLogPlan;
  readonly tracing?: TracingPlan;
}

/** A virtual-gateway listener: clients connect to it; an edge proxy. */
export interface GatewayListenerPlan {
  readonly kind: 'gateway';
  readonly name: string;
  readonly bind: BindPlan;
  readonly protocol: AppProtocol;
  readonly tls?: DownstreamTlsPlan;
  /** The gateway answers a load balancer's probe on this path itself. */
  readonly healthCheckPath?: string;
  readonly routeTable: string;
  readonly accessLog?: AccessLogPlan;
  readonly tracing?: TracingPlan;
}

/** The gateway's loopback hop where its targets' routes run (gateway.ts). */
export interface GatewayHopListenerPlan {
  readonly kind: 'gatewayHop';
  readonly name: string;
  readonly bind: BindPlan;
  readonly routeTable: string;
  readonly tracing?: TracingPlan;
}

/**
 * meshd's OpenTelemetry tracing (the mesh's spec.meshd.tracing) for a listener's HTTP connection managers. Without it
 * they still trace, with whatever tracer the Envoy's bootstrap configures (App Mesh's tracing variables).
 */
export interface TracingPlan {
  readonly kind: 'openTelemetry';
  /** The cluster of the OTLP/gRPC collector. */
  readonly collectorCluster: string;
  /** The spans' resource service.name: the virtual node's or virtual gateway's name. */
  readonly serviceName: string;
  /** Of the requests no caller decided for, the percentage traced (0–100). */
  readonly randomSamplingPercent: number;
  /** Literal tags (span attributes) on every span. */
  readonly tags: readonly { readonly name: string; readonly value: string }[];
}

/** A proxyless gRPC client's name to dial (`xds:///<name>`), routed by a route table. */
export interface ApiListenerPlan {
  readonly kind: 'api';
  readonly name: string;
  readonly routeTable: string;
}

// ---------------------------------------------------------------- routes

export interface RouteTablePlan {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHostPlan[];
}

export interface VirtualHostPlan {
  readonly name: string;
  readonly domains: readonly string[];
  /** In order: the first match wins. */
  readonly routes: readonly RoutePlan[];
  readonly removeRequestHeaders?: readonly string[];
}

export interface RoutePlan {
  readonly name?: string;
  readonly match: RouteMatchPlan;
  /** Set (overwriting any the client sent) before the request goes on. */
  readonly setRequestHeaders?: readonly { readonly name: string; readonly value: string }[];
  readonly action: RouteActionPlan;
}

export type RouteActionPlan = WeightedRouteActionPlan | ClusterRouteActionPlan | DirectResponsePlan;

/** A virtual service's route: split by weight, with its timeouts and retries. */
export interface WeightedRouteActionPlan {
  readonly kind: 'weighted';
  readonly targets: readonly WeightedClusterPlan[];
  readonly timeoutMs: Millis;
  readonly idleTimeoutMs: Millis;
  readonly retry: RetryPlan;
}

/** To one cluster. */
export interface ClusterRouteActionPlan {
  readonly kind: 'cluster';
  readonly cluster: string;
  /** 0 ms (as App Mesh users write it) disables the timeout; null: meshd's own hops, which never time out. */
  readonly timeoutMs: Millis | null;
  readonly idleTimeoutMs?: Millis;
  readonly hostRewrite?: string;
  readonly pathRewrite?: { readonly regex: string; readonly substitution: string };
}

export interface DirectResponsePlan {
  readonly kind: 'directResponse';
  readonly status: number;
  readonly body: string;
}

export interface WeightedClusterPlan {
  readonly cluster: string;
  readonly weight: number;
}

export interface StringMatchPlan {
  readonly kind: 'exact' | 'prefix' | 'suffix' | 'regex';
  readonly value: string;
  readonly ignoreCase?: boolean;
}

export type HeaderValueMatchPlan =
  | StringMatchPlan
  | { readonly kind: 'present' }
  | { readonly kind: 'range'; readonly start: number; readonly end: number };

export interface HeaderMatchPlan {
  readonly name: string;
  readonly match: HeaderValueMatchPlan;
  readonly invert?: boolean;
}

/**
 * A request matches when its path, every header (pseudo-headers like :method included) and every query parameter match.
 */
export interface RouteMatchPlan {
  readonly path: { readonly kind: 'prefix' | 'exact' | 'regex'; readonly value: string };
  /** gRPC requests only (content-type application/grpc). */
  readonly grpc?: boolean;
  readonly headers?: readonly HeaderMatchPlan[];
  readonly queryParameters?: readonly {
    readonly name: string;
    readonly match: { readonly kind: 'present' } | StringMatchPlan;
  }[];
}

/** Retries with App Mesh's events already mapped to Envoy's conditions; the host that just failed is avoided. */
export interface RetryPlan {
  /** Envoy retry_on conditions, in order. */
  readonly retryOn: readonly string[];
  readonly retriableStatusCodes: readonly number[];
  readonly numRetries: number;
  readonly perTryTimeoutMs?: Millis;
}

// ---------------------------------------------------------------- clusters

export interface ClusterPlan {
  readonly name: string;
  readonly discovery: DiscoveryPlan;
  readonly connectTimeoutMs: Millis;
  /** Circuit-breaker thresholds; a missing one is App Mesh's "effectively unlimited". */
  readonly limits: ConnectionLimitsPlan;
  /** http1: Envoy's default; downstream: whichever the client spoke (a gateway's hop). */
  readonly upstreamProtocol: 'http1' | 'http2' | 'downstream';
  readonly healthCheck?: HealthCheckPlan;
  readonly outlierDetection?: OutlierDetectionPlan;
  readonly tls?: UpstreamTlsPlan;
}

export interface ConnectionLimitsPlan {
  readonly maxConnections?: number;
  readonly maxPendingRequests?: number;
  readonly maxRequests?: number;
}

export type DnsLookupFamily = 'AUTO' | 'V4_PREFERRED' | 'V4_ONLY' | 'V6_ONLY';

export type DiscoveryPlan =
  | { readonly kind: 'static'; readonly address: string; readonly port: number }
  /** strict: every address the name resolves to; logical: one (behind a load balancer). */
  | {
      readonly kind: 'dns';
      readonly hostname: string;
      readonly port: number;
      readonly resolution: 'strict' | 'logical';
      readonly lookupFamily: DnsLookupFamily;
    }
  | CloudMapDiscoveryPlan
  | KubernetesDiscoveryPlan
  /** Wherever the app connected to (ALLOW_ALL). */
  | { readonly kind: 'originalDestination' };

/** Endpoints over EDS: the Cloud Map instances the node's discovery selects, as they are now. */
export interface CloudMapDiscoveryPlan {
  readonly kind: 'cloudMap';
  readonly namespace: string;
  readonly service: string;
  readonly endpoints: readonly { readonly address: string; readonly port: number }[];
}

/**
 * Endpoints over EDS: the ready pods the node's podSelector selects, from the cluster's
 * EndpointSlices (--kubernetes-endpoints), at the listener's port, sorted by address.
 */
export interface KubernetesDiscoveryPlan {
  readonly kind: 'kubernetes';
  readonly endpoints: readonly { readonly address: string; readonly port: number }[];
}

export interface HealthCheckPlan {
  readonly protocol: AppProtocol;
  /** http and http2 probes. */
  readonly path?: string;
  readonly timeoutMs: Millis;
  readonly intervalMs: Millis;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

export interface OutlierDetectionPlan {
  readonly maxServerErrors: number;
  readonly intervalMs: Millis;
  readonly baseEjectionMs: Millis;
  readonly maxEjectionPercent: number;
  /** A host stays ejected for its ejection time even when its active health check passes. */
  readonly keepEjectedWhileHealthy: boolean;
}

// ---------------------------------------------------------------- TLS

/**
 * A secret Envoy fetches by name: from meshd over ADS (meshd's managed identity and trust bundle)
 * or from the SPIRE agent's socket (App Mesh `sds`).
 */
export interface SdsSecretPlan {
  readonly kind: 'sds';
  readonly secretName: string;
  readonly source: 'ads' | 'spire';
}

/** The proxy's certificate and key. */
export type CertificatePlan =
  { readonly kind: 'file'; readonly certificateChain: string; readonly privateKey: string } | SdsSecretPlan;

/** The CAs a peer's certificate must chain to. */
export type TrustPlan = { readonly kind: 'file'; readonly trustedCa: string } | SdsSecretPlan;

export interface ValidationPlan {
  readonly trust: TrustPlan;
  /** App Mesh's exact names, each a DNS name or a URI (SPIFFE). */
  readonly subjectAltNames?: readonly string[];
  /** meshd's mesh-wide mTLS, calling: the peer's SPIFFE ID (a URI SAN) is one of these. */
  readonly spiffeIds?: readonly string[];
  /** meshd's mesh-wide mTLS, called: the peer's SPIFFE ID (a URI SAN) starts with this (any proxy of the mesh). */
  readonly uriSanPrefix?: string;
}

/** STRICT: TLS only; PERMISSIVE: TLS and plaintext. A validation asks for client certificates. */
export interface DownstreamTlsPlan {
  readonly mode: 'STRICT' | 'PERMISSIVE';
  readonly certificate: CertificatePlan;
  readonly validation?: ValidationPlan;
  readonly alpn?: readonly string[];
}

export interface UpstreamTlsPlan {
  readonly certificate?: CertificatePlan;
  readonly validation: ValidationPlan;
}
