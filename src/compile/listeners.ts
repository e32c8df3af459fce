// The sidecar's two listeners. Ingress: traffic redirected to the ingress port, one filter
// chain per virtual-node listener port (found by original destination port). Egress: one
// filter chain per backend port (transparent mode) and one for the egress port itself
// (explicit mode); ALLOW_ALL adds a passthrough for everything else.
import type { AccessLog } from '../generated/envoy/config/accesslog/v3/AccessLog';
import type { Filter } from '../generated/envoy/config/listener/v3/Filter';
import type { HttpConnectionManager } from '../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager';
import type { HttpFilter } from '../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpFilter';
import type { FilterChain } from '../generated/envoy/config/listener/v3/FilterChain';
import type { Listener } from '../generated/envoy/config/listener/v3/Listener';
import type { ListenerFilter } from '../generated/envoy/config/listener/v3/ListenerFilter';
import type { TcpProxy } from '../generated/envoy/extensions/filters/network/tcp_proxy/v3/TcpProxy';
import type { VirtualNode, VirtualNodeListener } from '../model/virtual-node';
import { packAny } from './any';
import { ROUTE_IDLE_TIMEOUT } from './defaults';
import { fromMeshDuration } from './durations';
import type { AddressFamilyPlan } from './ip-preference';
import { egressListenerName, egressRouteConfigName, ingressClusterName, ingressListenerName, ingressRouteConfigName } from './names';
import { downstreamTls } from './tls';

/** What a gateway's connection manager adds to a sidecar's (gateway-listeners.ts). */
export interface ConnectionManagerOptions {
  /** HTTP filters that run before the router. */
  readonly filters?: HttpFilter[];
  readonly settings?: Pick<HttpConnectionManager, 'normalize_path' | 'merge_slashes' | 'strip_any_host_port' | 'use_remote_address'>;
}

export function httpConnectionManager(statPrefix: string, routeConfigName: string, accessLog: AccessLog[], options: ConnectionManagerOptions = {}): Filter {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: packAny('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
      stat_prefix: statPrefix,
      codec_type: 'AUTO',
      rds: { route_config_name: routeConfigName, config_source: { ads: {}, resource_api_version: 'V3' } },
      ...options.settings,
      http_filters: [...(options.filters ?? []), { name: 'envoy.filters.http.router', typed_config: packAny('envoy.extensions.filters.http.router.v3.Router', {}) }],
      upgrade_configs: [{ upgrade_type: 'websocket' }],
      ...(accessLog.length ? { access_log: accessLog } : {}),
    }),
  };
}

export function tcpProxy(statPrefix: string, upstream: Pick<TcpProxy, 'cluster' | 'weighted_clusters'>, idle: TcpProxy['idle_timeout'], accessLog: AccessLog[]): Filter {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: packAny('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', {
      stat_prefix: statPrefix,
      ...upstream,
      idle_timeout: idle ?? ROUTE_IDLE_TIMEOUT,
      ...(accessLog.length ? { access_log: accessLog } : {}),
    }),
  };
}

export function listenerAddress(port: number, addresses: AddressFamilyPlan): Listener['address'] {
  const ipv6 = addresses.bindAddress === '::';
  return { socket_address: { address: addresses.bindAddress, port_value: port, ...(ipv6 ? { ipv4_compat: true } : {}) } };
}

const originalDst: ListenerFilter = {
  name: 'envoy.filters.listener.original_dst',
  typed_config: packAny('envoy.extensions.filters.listener.original_dst.v3.OriginalDst', {}),
};
export const tlsInspector: ListenerFilter = {
  name: 'envoy.filters.listener.tls_inspector',
  typed_config: packAny('envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector', {}),
};

type ListenerTls = NonNullable<VirtualNodeListener['tls']>;

/**
 * The filter chains of a listener in its TLS mode: DISABLED (or no tls) plaintext, STRICT TLS
 * only, PERMISSIVE both (told apart by the TLS inspector, which the listener must then run).
 */
export function tlsModeChains(name: string, filters: Filter[], tls: ListenerTls | undefined, where: string, match: FilterChain['filter_chain_match'] = {}, alpn?: string[]): FilterChain[] {
  const chain = (suffix: string, extra: Pick<FilterChain, 'transport_socket' | 'filter_chain_match'> = {}): FilterChain => {
    const chainMatch = { ...match, ...extra.filter_chain_match };
    return { name: `${name}${suffix}`, ...extra, ...(Object.keys(chainMatch).length ? { filter_chain_match: chainMatch } : {}), filters };
  };
  if (!tls || tls.mode === 'DISABLED') return [chain('')];
  const transport_socket = downstreamTls(tls, where, alpn);
  if (tls.mode === 'STRICT') return [chain('', { transport_socket })];
  return [chain('_tls', { transport_socket, filter_chain_match: { transport_protocol: 'tls' } }), chain('_plaintext', { filter_chain_match: { transport_protocol: 'raw_buffer' } })];
}

/** The filter chains of one virtual-node listener, found by the original destination port. */
function ingressChains(node: VirtualNode, listener: VirtualNodeListener, index: number, accessLog: AccessLog[]): FilterChain[] {
  const { port, protocol } = listener.portMapping;
  const filter =
    protocol === 'tcp'
      ? tcpProxy('ingress', { cluster: ingressClusterName(node.mesh, node.name, protocol, port) }, listener.timeout?.tcp?.idle ? fromMeshDuration(listener.timeout.tcp.idle) : undefined, accessLog)
      : httpConnectionManager('ingress', ingressRouteConfigName(port), accessLog);
  return tlsModeChains(`ingress_${protocol}_${port}`, [filter], listener.tls, `VirtualNode/${node.name}: listeners[${index}].tls`, { destination_port: { value: port } });
}

/** Inbound traffic, redirected to the ingress port by iptables; undefined for a node without listeners. */
export function ingressListener(node: VirtualNode, ingressPort: number, addresses: AddressFamilyPlan, accessLog: AccessLog[]): Listener | undefined {
  const listeners = node.spec.listeners ?? [];
  if (listeners.length === 0) return undefined;
  const permissive = listeners.some((l) => l.tls?.mode === 'PERMISSIVE');
  return {
    name: ingressListenerName(ingressPort),
    address: listenerAddress(ingressPort, addresses),
    traffic_direction: 'INBOUND',
    listener_filters: permissive ? [originalDst, tlsInspector] : [originalDst],
    filter_chains: listeners.flatMap((l, i) => ingressChains(node, l, i, accessLog)),
  };
}

/** One captured backend port: HTTP services by Host, or a TCP service's targets. */
export type EgressPortChain = { readonly port: number; readonly http: true } | { readonly port: number; readonly http: false; readonly tcp: Filter };

/**
 * Outbound traffic. Transparent mode: iptables sends the app's connections here and the
 * original destination port picks the chain. Explicit mode: the app sends plain HTTP to
 * 127.0.0.1:<egress port>, and the Host (or :authority) header picks the virtual service.
 */
export function egressListener(egressPort: number, ports: readonly EgressPortChain[], passthrough: Filter | undefined, addresses: AddressFamilyPlan, accessLog: AccessLog[]): Listener {
  const portChains: FilterChain[] = ports
    .filter((p) => p.port !== egressPort)
    .map((p) => ({
      name: `egress_${p.http ? 'http' : 'tcp'}_${p.port}`,
      filter_chain_match: { destination_port: { value: p.port } },
      filters: [p.http ? httpConnectionManager('egress', egressRouteConfigName(p.port), accessLog) : p.tcp],
    }));
  return {
    name: egressListenerName(egressPort),
    address: listenerAddress(egressPort, addresses),
    traffic_direction: 'OUTBOUND',
    listener_filters: [originalDst],
    filter_chains: [
      ...portChains,
      { name: `egress_http_${egressPort}`, filter_chain_match: { destination_port: { value: egressPort } }, filters: [httpConnectionManager('egress', egressRouteConfigName(egressPort), accessLog)] },
    ],
    ...(passthrough ? { default_filter_chain: { name: 'egress_allow_all', filters: [passthrough] } } : {}),
  };
}
