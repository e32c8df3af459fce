// Cluster plans → Envoy Clusters: discovery (static, DNS, EDS for Cloud Map, original
// destination), circuit breakers, health checks, outlier detection, client TLS and the upstream
// HTTP protocol.
import type { Cluster } from '../generated/envoy/config/cluster/v3/Cluster';
import type { HealthCheck } from '../generated/envoy/config/core/v3/HealthCheck';
import { packAny } from './any';
import { UNLIMITED } from './defaults';
import { fromMillis } from './durations';
import type {
  ClusterPlan,
  ConnectionLimitsPlan,
  DiscoveryPlan,
  HealthCheckPlan,
  OutlierDetectionPlan,
} from './plan/types';
import { upstreamTls } from './tls';

function protocolOptions(protocol: ClusterPlan['upstreamProtocol']): Pick<Cluster, 'typed_extension_protocol_options'> {
  if (protocol === 'http1') return {};
  const config =
    protocol === 'downstream'
      ? { use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } }
      : { explicit_http_config: { http2_protocol_options: {} } };
  return {
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': packAny(
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        config,
      ),
    },
  };
}

/** App Mesh's "effectively unlimited" thresholds, lowered where the plan says so. */
function circuitBreakers(limits: ConnectionLimitsPlan): Cluster['circuit_breakers'] {
  const value = (n: number | undefined) => ({ value: n ?? UNLIMITED });
  return {
    thresholds: [
      {
        max_connections: value(limits.maxConnections),
        max_pending_requests: value(limits.maxPendingRequests),
        max_requests: value(limits.maxRequests),
        max_retries: value(undefined),
      },
    ],
  };
}

function activeHealthCheck(hc: HealthCheckPlan): HealthCheck {
  const interval = fromMillis(hc.intervalMs);
  const probe: HealthCheck =
    hc.protocol === 'grpc'
      ? { grpc_health_check: {} }
      : hc.protocol === 'tcp'
        ? { tcp_health_check: {} }
        : { http_health_check: { path: hc.path!, codec_client_type: hc.protocol === 'http2' ? 'HTTP2' : 'HTTP1' } };
  return {
    timeout: fromMillis(hc.timeoutMs),
    interval,
    // App Mesh users expect the interval they set, also while a target gets no traffic.
    no_traffic_interval: interval,
    healthy_threshold: { value: hc.healthyThreshold },
    unhealthy_threshold: { value: hc.unhealthyThreshold },
    ...probe,
  };
}

function outlierDetection(od: OutlierDetectionPlan): Cluster['outlier_detection'] {
  return {
    consecutive_5xx: { value: od.maxServerErrors },
    interval: fromMillis(od.intervalMs),
    base_ejection_time: fromMillis(od.baseEjectionMs),
    max_ejection_percent: { value: od.maxEjectionPercent },
    // Envoy 1.40 removed the runtime feature App Mesh's agent turned off, so the cluster says it.
    ...(od.keepEjectedWhileHealthy ? { successful_active_health_check_uneject_host: { value: false } } : {}),
  };
}

function oneEndpoint(name: string, address: string, port: number): Cluster['load_assignment'] {
  return {
    cluster_name: name,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address, port_value: port } } } }] }],
  };
}

function discovery(name: string, d: DiscoveryPlan): Cluster {
  switch (d.kind) {
    case 'static':
      return { type: 'STATIC', load_assignment: oneEndpoint(name, d.address, d.port) };
    case 'dns':
      return {
        type: d.resolution === 'strict' ? 'STRICT_DNS' : 'LOGICAL_DNS',
        dns_lookup_family: d.lookupFamily,
        load_assignment: oneEndpoint(name, d.hostname, d.port),
      };
    case 'cloudMap':
    case 'kubernetes':
      return { type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } } };
    case 'originalDestination':
      return { type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED' };
  }
}

export function cluster(plan: ClusterPlan): Cluster {
  return {
    name: plan.name,
    ...discovery(plan.name, plan.discovery),
    connect_timeout: fromMillis(plan.connectTimeoutMs),
    circuit_breakers: circuitBreakers(plan.limits),
    ...(plan.healthCheck ? { health_checks: [activeHealthCheck(plan.healthCheck)] } : {}),
    ...(plan.outlierDetection ? { outlier_detection: outlierDetection(plan.outlierDetection) } : {}),
    ...(plan.tls ? { transport_socket: upstreamTls(plan.tls) } : {}),
    ...protocolOptions(plan.upstreamProtocol),
  };
}
