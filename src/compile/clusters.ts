// Clusters: the caller-side cluster of each target listener (DNS or Cloud Map discovery,
// health checks, outlier detection, client TLS), the local app behind each of a node's
// listeners (with its connection pool as circuit breakers), and ALLOW_ALL's passthrough.
import type { Cluster } from '../generated/envoy/config/cluster/v3/Cluster';
import type { HealthCheck } from '../generated/envoy/config/core/v3/HealthCheck';
import type { TransportSocket } from '../generated/envoy/config/core/v3/TransportSocket';
import type { Protocol } from '../model/common';
import type { ConnectionPool, HealthCheck as MeshHealthCheck } from '../model/shapes';
import type { VirtualNodeListener } from '../model/virtual-node';
import { packAny } from './any';
import { EGRESS_CONNECT_TIMEOUT, INGRESS_CONNECT_TIMEOUT, UNLIMITED } from './defaults';
import { fromMeshDuration, fromMillis } from './durations';
import type { AddressFamilyPlan } from './ip-preference';
import { allowAllClusterName, egressClusterName, ingressClusterName } from './names';
import type { NodePort } from './services';

export function egressClusterNameOf(t: NodePort): string {
  return egressClusterName(t.node.mesh, t.node.name, t.protocol, t.port);
}

/**
 * Upstream HTTP/2 for http2 and grpc listeners; Envoy's default (HTTP/1.1) otherwise; or
 * 'downstream': whichever the client spoke (a gateway's hop into itself).
 */
export function protocolOptions(protocol: Protocol | 'downstream'): Pick<Cluster, 'typed_extension_protocol_options'> {
  if (protocol !== 'http2' && protocol !== 'grpc' && protocol !== 'downstream') return {};
  const config = protocol === 'downstream' ? { use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } } : { explicit_http_config: { http2_protocol_options: {} } };
  return {
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': packAny('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', config),
    },
  };
}

type Thresholds = { max_connections?: number; max_pending_requests?: number; max_requests?: number };

/** App Mesh's "effectively unlimited" thresholds, lowered where a connection pool says so. */
export function circuitBreakers(limits: Thresholds = {}): Cluster['circuit_breakers'] {
  const value = (n: number | undefined) => ({ value: n ?? UNLIMITED });
  return {
    thresholds: [
      {
        max_connections: value(limits.max_connections),
        max_pending_requests: value(limits.max_pending_requests),
        max_requests: value(limits.max_requests),
        max_retries: value(undefined),
      },
    ],
  };
}

export function connectionPoolLimits(pool: ConnectionPool | undefined): Thresholds {
  if (pool?.tcp) return { max_connections: pool.tcp.maxConnections };
  if (pool?.http) return { max_connections: pool.http.maxConnections, max_pending_requests: pool.http.maxPendingRequests };
  const h2 = pool?.http2 ?? pool?.grpc;
  return h2 ? { max_requests: h2.maxRequests } : {};
}

function activeHealthCheck(hc: MeshHealthCheck): HealthCheck {
  const interval = fromMillis(hc.intervalMillis);
  const probe: HealthCheck =
    hc.protocol === 'grpc'
      ? { grpc_health_check: {} }
      : hc.protocol === 'tcp'
        ? { tcp_health_check: {} }
        : { http_health_check: { path: hc.path!, codec_client_type: hc.protocol === 'http2' ? 'HTTP2' : 'HTTP1' } };
  return {
    timeout: fromMillis(hc.timeoutMillis),
    interval,
    // App Mesh users expect the interval they set, also while a target gets no traffic.
    no_traffic_interval: interval,
    healthy_threshold: { value: hc.healthyThreshold },
    unhealthy_threshold: { value: hc.unhealthyThreshold },
    ...probe,
  };
}

function outlierDetection(od: NonNullable<VirtualNodeListener['outlierDetection']>, activeHealthCheck: boolean): Cluster['outlier_detection'] {
  return {
    consecutive_5xx: { value: od.maxServerErrors },
    interval: fromMeshDuration(od.interval),
    base_ejection_time: fromMeshDuration(od.baseEjectionDuration),
    max_ejection_percent: { value: od.maxEjectionPercent },
    // App Mesh's Envoys ran with successful_active_health_check_uneject_host off (its agent's
    // runtime default): a host stays ejected for its ejection time even when its health check
    // passes. Envoy 1.40 removed that runtime feature, so the cluster says it.
    ...(activeHealthCheck ? { successful_active_health_check_uneject_host: { value: false } } : {}),
  };
}

export interface EgressClusterOptions {
  /** How the target's address is looked up: its own IP preference, else the mesh's. */
  readonly addresses: AddressFamilyPlan;
  readonly tls?: TransportSocket;
}

/**
 * The caller-side cluster for one listener of a target virtual node: found through its DNS
 * name (or Cloud Map, as EDS over ADS), checked and ejected as that listener asks.
 */
export function egressCluster(target: NodePort, options: EgressClusterOptions): Cluster {
  const name = egressClusterNameOf(target);
  const listener = (target.node.spec.listeners ?? []).find((l) => l.portMapping.port === target.port);
  const dns = target.node.spec.serviceDiscovery?.dns;
  const discovery: Cluster = dns
    ? {
        // LOADBALANCER (the default) trusts one address behind a load balancer; ENDPOINTS balances over every address.
        type: dns.responseType === 'ENDPOINTS' ? 'STRICT_DNS' : 'LOGICAL_DNS',
        dns_lookup_family: options.addresses.dnsLookupFamily,
        load_assignment: {
          cluster_name: name,
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: dns.hostname, port_value: target.port } } } }] }],
        },
      }
    : { type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } } };
  return {
    name,
    ...discovery,
    connect_timeout: EGRESS_CONNECT_TIMEOUT,
    circuit_breakers: circuitBreakers(),
    ...(listener?.healthCheck ? { health_checks: [activeHealthCheck(listener.healthCheck)] } : {}),
    ...(listener?.outlierDetection ? { outlier_detection: outlierDetection(listener.outlierDetection, listener.healthCheck !== undefined) } : {}),
    ...(options.tls ? { transport_socket: options.tls } : {}),
    ...protocolOptions(target.protocol),
  };
}

/** Whether a target is found through Cloud Map (its endpoints arrive over EDS). */
export function usesCloudMap(target: NodePort): boolean {
  return target.node.spec.serviceDiscovery?.awsCloudMap !== undefined;
}

/** The proxy's own local app behind one of its listeners; the listener's connection pool limits it. */
export function ingressCluster(mesh: string, node: string, listener: VirtualNodeListener, addresses: AddressFamilyPlan): Cluster {
  const { port, protocol } = listener.portMapping;
  const name = ingressClusterName(mesh, node, protocol, port);
  return {
    name,
    type: 'STATIC',
    connect_timeout: INGRESS_CONNECT_TIMEOUT,
    circuit_breakers: circuitBreakers(connectionPoolLimits(listener.connectionPool)),
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: addresses.localAppAddress, port_value: port } } } }] }],
    },
    ...protocolOptions(protocol),
  };
}

/** ALLOW_ALL: traffic to undeclared destinations goes on to the address the app connected to. */
export function allowAllCluster(mesh: string): Cluster {
  return {
    name: allowAllClusterName(mesh),
    type: 'ORIGINAL_DST',
    lb_policy: 'CLUSTER_PROVIDED',
    connect_timeout: EGRESS_CONNECT_TIMEOUT,
    circuit_breakers: circuitBreakers(),
  };
}
