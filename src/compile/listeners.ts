// Listener plans → Envoy Listeners, and the filters they share. Sidecar ingress: traffic
// redirected to the ingress port, one filter chain per virtual-node listener port (found by
// original destination port). Sidecar egress: one filter chain per captured backend port
// (transparent mode) and one for the egress port itself (explicit mode); ALLOW_ALL adds a
// passthrough for everything else.
import type { AccessLog } from '../generated/envoy/config/accesslog/v3/AccessLog';
import type { Filter } from '../generated/envoy/config/listener/v3/Filter';
import type { FilterChain } from '../generated/envoy/config/listener/v3/FilterChain';
import type { Listener } from '../generated/envoy/config/listener/v3/Listener';
import type { ListenerFilter } from '../generated/envoy/config/listener/v3/ListenerFilter';
import type { HttpConnectionManager } from '../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager';
import type { HttpFilter } from '../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpFilter';
import { accessLogs } from './access-log';
import { packAny } from './any';
import { fromMillis } from './durations';
import { grpcStatsFilter } from './grpc-stats';
import type {
  BindPlan,
  DownstreamTlsPlan,
  SidecarEgressListenerPlan,
  SidecarIngressListenerPlan,
  TracingPlan,
  TrafficPlan,
} from './plan/types';
import { downstreamTls } from './tls';
import { hcmTracing, REQUEST_ID_UNCHANGED } from './tracing';

/** What a gateway's connection manager adds to a sidecar's (gateway-listeners.ts). */
export interface ConnectionManagerOptions {
  /** HTTP filters that run before the router. */
  readonly filters?: HttpFilter[];
  readonly settings?: Pick<
    HttpConnectionManager,
    'normalize_path' | 'merge_slashes' | 'strip_any_host_port' | 'use_remote_address'
  >;
  /** The mesh's OpenTelemetry tracing (plan/tracing.ts); without it, the bootstrap's tracer if any. */
  readonly tracing?: TracingPlan;
  /** A virtual gateway's listener: outside clients' x-client-trace-id forces no trace (compile/tracing.ts). */
  readonly edge?: boolean;
}

export function httpConnectionManager(
  statPrefix: string,
  routeConfigName: string,
  accessLog: AccessLog[],
  options: ConnectionManagerOptions = {},
): Filter {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: packAny('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
      stat_prefix: statPrefix,
      codec_type: 'AUTO',
      rds: { route_config_name: routeConfigName, config_source: { ads: {}, resource_api_version: 'V3' } },
      ...options.settings,
      http_filters: [
        ...(options.filters ?? []),
        {
          name: 'envoy.filters.http.router',
          typed_config: packAny('envoy.extensions.filters.http.router.v3.Router', {}),
        },
      ],
      upgrade_configs: [{ upgrade_type: 'websocket' }],
      tracing: hcmTracing(options.tracing, options.edge),
      request_id_extension: REQUEST_ID_UNCHANGED,
      ...(accessLog.length ? { access_log: accessLog } : {}),
    }),
  };
}

/** TCP to one cluster, or split by weight. */
export function tcpProxy(
  statPrefix: string,
  traffic: Extract<TrafficPlan, { kind: 'tcp' }>,
  accessLog: AccessLog[],
): Filter {
  const [only, ...more] = traffic.targets;
  const upstream =
    more.length === 0 && only
      ? { cluster: only.cluster }
      : { weighted_clusters: { clusters: traffic.targets.map((t) => ({ name: t.cluster, weight: t.weight })) } };
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: packAny('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', {
      stat_prefix: statPrefix,
      ...upstream,
      idle_timeout: fromMillis(traffic.idleTimeoutMs),
      ...(accessLog.length ? { access_log: accessLog } : {}),
    }),
  };
}

/** `grpc`: the connection manager counts gRPC calls by status (grpc-stats.ts). */
function trafficFilter(
  statPrefix: string,
  traffic: TrafficPlan,
  accessLog: AccessLog[],
  tracing: TracingPlan | undefined,
  grpc: boolean,
): Filter {
  return traffic.kind === 'http'
    ? httpConnectionManager(statPrefix, traffic.routeTable, accessLog, {
        ...(grpc ? { filters: [grpcStatsFilter] } : {}),
        ...(tracing ? { tracing } : {}),
      })
    : tcpProxy(statPrefix, traffic, accessLog);
}

export function listenerAddress(bind: BindPlan): Listener['address'] {
  return {
    socket_address: { address: bind.address, port_value: bind.port, ...(bind.ipv4Compat ? { ipv4_compat: true } : {}) },
  };
}

const originalDst: ListenerFilter = {
  name: 'envoy.filters.listener.original_dst',
  typed_config: packAny('envoy.extensions.filters.listener.original_dst.v3.OriginalDst', {}),
};
export const tlsInspector: ListenerFilter = {
  name: 'envoy.filters.listener.tls_inspector',
  typed_config: packAny('envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector', {}),
};

/**
 * The filter chains of a listener in its TLS mode: no TLS plaintext, STRICT TLS only,
 * PERMISSIVE both (told apart by the TLS inspector, which the listener must then run).
 */
export function tlsModeChains(
  name: string,
  filters: Filter[],
  tls: DownstreamTlsPlan | undefined,
  match: FilterChain['filter_chain_match'] = {},
): FilterChain[] {
  const chain = (
    suffix: string,
    extra: Pick<FilterChain, 'transport_socket' | 'filter_chain_match'> = {},
  ): FilterChain => {
    const chainMatch = { ...match, ...extra.filter_chain_match };
    return {
      name: `${name}${suffix}`,
      ...extra,
      ...(Object.keys(chainMatch).length ? { filter_chain_match: chainMatch } : {}),
      filters,
    };
  };
  if (!tls) return [chain('')];
  const transport_socket = downstreamTls(tls);
  if (tls.mode === 'STRICT') return [chain('', { transport_socket })];
  return [
    chain('_tls', { transport_socket, filter_chain_match: { transport_protocol: 'tls' } }),
    chain('_plaintext', { filter_chain_match: { transport_protocol: 'raw_buffer' } }),
  ];
}

/** Inbound traffic, redirected to the ingress port by iptables. */
export function sidecarIngressListener(plan: SidecarIngressListenerPlan): Listener {
  const accessLog = accessLogs(plan.accessLog);
  return {
    name: plan.name,
    address: listenerAddress(plan.bind),
    traffic_direction: 'INBOUND',
    listener_filters: plan.inspectTls ? [originalDst, tlsInspector] : [originalDst],
    filter_chains: plan.ports.flatMap(({ port, protocol, tls, traffic }) =>
      tlsModeChains(
        `ingress_${protocol}_${port}`,
        [trafficFilter('ingress', traffic, accessLog, plan.tracing, protocol === 'grpc')],
        tls,
        { destination_port: { value: port } },
      ),
    ),
  };
}

/**
 * Outbound traffic. Transparent mode: iptables sends the app's connections here and the
 * original destination port picks the chain. Explicit mode: the app sends plain HTTP to
 * 127.0.0.1:<egress port>, and the Host (or :authority) header picks the virtual service.
 */
export function sidecarEgressListener(plan: SidecarEgressListenerPlan): Listener {
  const accessLog = accessLogs(plan.accessLog);
  const portChains: FilterChain[] = plan.capturedPorts.map(({ port, traffic }) => ({
    name: `egress_${traffic.kind}_${port}`,
    filter_chain_match: { destination_port: { value: port } },
    // Every egress connection manager counts gRPC: a captured port or the egress port may carry
    // HTTP and gRPC backends alike, and the filter lets non-gRPC requests through untouched.
    filters: [trafficFilter('egress', traffic, accessLog, plan.tracing, true)],
  }));
  const egressPort = plan.bind.port;
  return {
    name: plan.name,
    address: listenerAddress(plan.bind),
    traffic_direction: 'OUTBOUND',
    listener_filters: [originalDst],
    filter_chains: [
      ...portChains,
      {
        name: `egress_http_${egressPort}`,
        filter_chain_match: { destination_port: { value: egressPort } },
        filters: [
          httpConnectionManager('egress', plan.explicitRouteTable, accessLog, {
            filters: [grpcStatsFilter],
            ...(plan.tracing ? { tracing: plan.tracing } : {}),
          }),
        ],
      },
    ],
    ...(plan.passthrough
      ? {
          default_filter_chain: {
            name: 'egress_allow_all',
            filters: [
              tcpProxy(
                'egress_allow_all',
                {
                  kind: 'tcp',
                  targets: [{ cluster: plan.passthrough.cluster, weight: 1 }],
                  idleTimeoutMs: plan.passthrough.idleTimeoutMs,
                },
                accessLog,
              ),
            ],
          },
        }
      : {}),
  };
}
