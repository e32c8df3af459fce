// Cluster plans: the caller-side cluster of each target listener (DNS or Cloud Map discovery,
// health checks, outlier detection, client TLS), the local app behind each of a node's
// listeners (its connection pool as limits), and ALLOW_ALL's passthrough.
import type { CloudMapView } from '../cloud-map-view';
import type { MeshReader } from '../../model/mesh-model';
import type { ConnectionPool, HealthCheck, Protocol } from '../../model/shapes';
import type { VirtualNodeListener } from '../../model/virtual-node';
import { EGRESS_CONNECT_TIMEOUT_MS, INGRESS_CONNECT_TIMEOUT_MS } from '../defaults';
import { meshMillis } from './durations';
import { ipPreferenceOf, type AddressFamilyPlan } from './ip-preference';
import { allowAllClusterName, ingressClusterName } from '../names';
import { cloudMapDiscovery, workloadDiscovery } from './endpoints';
import { egressClusterNameOf, type NodePort } from './services';
import type {
  ClusterPlan,
  ConnectionLimitsPlan,
  HealthCheckPlan,
  OutlierDetectionPlan,
  UpstreamTlsPlan,
} from './types';

/** Upstream HTTP/2 for http2 and grpc listeners; Envoy's default (HTTP/1.1) otherwise. */
export function upstreamProtocolOf(protocol: Protocol): ClusterPlan['upstreamProtocol'] {
  return protocol === 'http2' || protocol === 'grpc' ? 'http2' : 'http1';
}

export function connectionLimits(pool: ConnectionPool | undefined): ConnectionLimitsPlan {
  if (pool?.tcp) return { maxConnections: pool.tcp.maxConnections };
  if (pool?.http)
    return {
      maxConnections: pool.http.maxConnections,
      ...(pool.http.maxPendingRequests !== undefined ? { maxPendingRequests: pool.http.maxPendingRequests } : {}),
    };
  const h2 = pool?.http2 ?? pool?.grpc;
  return h2 ? { maxRequests: h2.maxRequests } : {};
}

function healthCheck(hc: HealthCheck): HealthCheckPlan {
  const probesPath = hc.protocol === 'http' || hc.protocol === 'http2';
  return {
    protocol: hc.protocol,
    ...(probesPath && hc.path !== undefined ? { path: hc.path } : {}),
    timeoutMs: hc.timeoutMillis,
    intervalMs: hc.intervalMillis,
    healthyThreshold: hc.healthyThreshold,
    unhealthyThreshold: hc.unhealthyThreshold,
  };
}

function outlierDetection(
  od: NonNullable<VirtualNodeListener['outlierDetection']>,
  activeHealthCheck: boolean,
): OutlierDetectionPlan {
  return {
    maxServerErrors: od.maxServerErrors,
    intervalMs: meshMillis(od.interval),
    baseEjectionMs: meshMillis(od.baseEjectionDuration),
    maxEjectionPercent: od.maxEjectionPercent,
    // App Mesh's Envoys ran with successful_active_health_check_uneject_host off (its agent's
    // runtime default): a host stays ejected for its ejection time even when its health check passes.
    keepEjectedWhileHealthy: activeHealthCheck,
  };
}

/**
 * The caller-side cluster for one listener of a target virtual node: found through its DNS
 * name (or Cloud Map, or, with --kubernetes-endpoints, the cluster's EndpointSlices of the pods
 * it selects), checked and ejected as that listener asks, with the caller's client TLS.
 */
export function egressCluster(
  model: MeshReader,
  cloudMap: CloudMapView,
  target: NodePort,
  tls: UpstreamTlsPlan | undefined,
): ClusterPlan {
  const listener = (target.node.spec.listeners ?? []).find((l) => l.portMapping.port === target.port);
  const dns = target.node.spec.serviceDiscovery?.dns;
  // The target's own IP preference, else the mesh's.
  const addresses = ipPreferenceOf(model, target.node);
  const workloads = workloadDiscovery(target, model, cloudMap);
  return {
    name: egressClusterNameOf(target),
    // LOADBALANCER (the default) trusts one address behind a load balancer; ENDPOINTS balances over every address.
    discovery: workloads
      ? workloads
      : dns
        ? {
            kind: 'dns',
            hostname: dns.hostname,
            port: target.port,
            resolution: dns.responseType === 'ENDPOINTS' ? 'strict' : 'logical',
            lookupFamily: addresses.dnsLookupFamily,
          }
        : cloudMapDiscovery(target, model, cloudMap),
    connectTimeoutMs: EGRESS_CONNECT_TIMEOUT_MS,
    limits: {},
    upstreamProtocol: upstreamProtocolOf(target.protocol),
    ...(listener?.healthCheck ? { healthCheck: healthCheck(listener.healthCheck) } : {}),
    ...(listener?.outlierDetection
      ? { outlierDetection: outlierDetection(listener.outlierDetection, listener.healthCheck !== undefined) }
      : {}),
    ...(tls ? { tls } : {}),
  };
}

/** The proxy's own local app behind one of its listeners; the listener's connection pool limits it. */
export function ingressCluster(
  mesh: string,
  node: string,
  listener: VirtualNodeListener,
  addresses: AddressFamilyPlan,
): ClusterPlan {
  const { port, protocol } = listener.portMapping;
  return {
    name: ingressClusterName(mesh, node, protocol, port),
    discovery: { kind: 'static', address: addresses.localAppAddress, port },
    connectTimeoutMs: INGRESS_CONNECT_TIMEOUT_MS,
    limits: connectionLimits(listener.connectionPool),
    upstreamProtocol: upstreamProtocolOf(protocol),
  };
}

/** ALLOW_ALL: traffic to undeclared destinations goes on to the address the app connected to. */
export function allowAllCluster(mesh: string): ClusterPlan {
  return {
    name: allowAllClusterName(mesh),
    discovery: { kind: 'originalDestination' },
    connectTimeoutMs: EGRESS_CONNECT_TIMEOUT_MS,
    limits: {},
    upstreamProtocol: 'http1',
  };
}
