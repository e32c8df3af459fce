import type { Filter } from '../generated/envoy/config/listener/v3/Filter';
import type { Listener } from '../generated/envoy/config/listener/v3/Listener';
import type { VirtualNode } from '../model/virtual-node';
import { packAny } from './any';
import { egressListenerName, egressRouteConfigName, ingressClusterName, ingressListenerName, ingressRouteConfigName } from './names';

function httpConnectionManager(statPrefix: string, routeConfigName: string): Filter {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: packAny('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
      stat_prefix: statPrefix,
      codec_type: 'AUTO',
      rds: { route_config_name: routeConfigName, config_source: { ads: {}, resource_api_version: 'V3' } },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: packAny('envoy.extensions.filters.http.router.v3.Router', {}) }],
      upgrade_configs: [{ upgrade_type: 'websocket' }],
    }),
  };
}

function tcpProxy(statPrefix: string, cluster: string): Filter {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: packAny('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', { stat_prefix: statPrefix, cluster }),
  };
}

function socketAddress(port: number): Listener['address'] {
  return { socket_address: { address: '0.0.0.0', port_value: port } };
}

/**
 * Inbound traffic, redirected to the ingress port by iptables: the original destination port
 * picks the filter chain, which hands the request to the local app behind that port.
 */
export function ingressListener(node: VirtualNode, ingressPort: number): Listener | undefined {
  if ((node.spec.listeners ?? []).length === 0) return undefined;
  return {
    name: ingressListenerName(ingressPort),
    address: socketAddress(ingressPort),
    traffic_direction: 'INBOUND',
    listener_filters: [
      { name: 'envoy.filters.listener.original_dst', typed_config: packAny('envoy.extensions.filters.listener.original_dst.v3.OriginalDst', {}) },
    ],
    filter_chains: (node.spec.listeners ?? []).map(({ portMapping: { port, protocol } }) => ({
      name: `ingress_${protocol}_${port}`,
      filter_chain_match: { destination_port: { value: port } },
      filters: [
        protocol === 'tcp'
          ? tcpProxy('ingress', ingressClusterName(node.mesh, node.name, protocol, port))
          : httpConnectionManager('ingress', ingressRouteConfigName(port)),
      ],
    })),
  };
}

/**
 * Outbound traffic in explicit mode: the app sends plain HTTP to 127.0.0.1:<egress port>,
 * and the Host (or :authority) header picks the virtual service.
 */
export function egressListener(egressPort: number): Listener {
  return {
    name: egressListenerName(egressPort),
    address: socketAddress(egressPort),
    traffic_direction: 'OUTBOUND',
    filter_chains: [{ name: `egress_http_${egressPort}`, filters: [httpConnectionManager('egress', egressRouteConfigName(egressPort))] }],
  };
}
