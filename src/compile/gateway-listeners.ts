// A gateway's listeners. One per virtual-gateway listener, on its own port (no traffic capture:
// clients connect to the gateway), terminating TLS as the listener asks, with App Mesh's path
// normalisation, the access log and, for an http/http2 health check, an answer to the probe
// path from the gateway itself. And the loopback hop (gateway.ts), where the target services'
// routes run.
import type { AccessLog } from '../generated/envoy/config/accesslog/v3/AccessLog';
import type { Listener } from '../generated/envoy/config/listener/v3/Listener';
import type { HttpFilter } from '../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpFilter';
import type { VirtualGateway, VirtualGatewayListener } from '../model/virtual-gateway';
import { packAny } from './any';
import type { AddressFamilyPlan } from './ip-preference';
import { httpConnectionManager, listenerAddress, tlsInspector, tlsModeChains } from './listeners';
import { literalRegex } from './matches';
import { egressRouteConfigName, gatewayEgressListenerName, ingressListenerName, ingressRouteConfigName } from './names';

/**
 * A load balancer probing the health check path gets 200 from
 * the gateway (503 while it drains), without a gateway route.
 */
function healthCheckFilter(listener: VirtualGatewayListener): HttpFilter[] {
  const hc = listener.healthCheck;
  if (!hc || hc.protocol === 'grpc' || hc.path === undefined) return [];
  return [
    {
      name: 'envoy.filters.http.health_check',
      typed_config: packAny('envoy.extensions.filters.http.health_check.v3.HealthCheck', {
        pass_through_mode: { value: false },
        // :path carries the query string too; a probe may add one.
        headers: [{ name: ':path', string_match: { safe_regex: { regex: `${literalRegex(hc.path)}(\\?.*)?` } } }],
      }),
    },
  ];
}

/** HTTP/2 (gRPC's transport) is offered over TLS on http2 and grpc listeners; HTTP/1.1 on all. */
function alpnOf(listener: VirtualGatewayListener): string[] {
  return listener.portMapping.protocol === 'http' ? ['http/1.1'] : ['h2', 'http/1.1'];
}

export function gatewayListener(gateway: VirtualGateway, index: number, addresses: AddressFamilyPlan, accessLog: AccessLog[]): Listener {
  const listener = gateway.spec.listeners[index]!;
  const { port, protocol } = listener.portMapping;
  const hcm = httpConnectionManager('ingress', ingressRouteConfigName(port), accessLog, {
    filters: healthCheckFilter(listener),
    // App Mesh's gateway settings; routing on the Host ignores any port in it. The gateway is an
    // edge proxy: the client's address goes into X-Forwarded-For, and Envoy's own x-envoy-*
    // request headers from outside clients are not obeyed (Envoy's edge proxy advice).
    settings: { normalize_path: { value: true }, merge_slashes: true, strip_any_host_port: true, use_remote_address: { value: true } },
  });
  const where = `VirtualGateway/${gateway.name}: listeners[${index}].tls`;
  return {
    name: ingressListenerName(port),
    address: listenerAddress(port, addresses),
    traffic_direction: 'INBOUND',
    ...(listener.tls?.mode === 'PERMISSIVE' ? { listener_filters: [tlsInspector] } : {}),
    filter_chains: tlsModeChains(`gateway_${protocol}_${port}`, [hcm], listener.tls, where, {}, alpnOf(listener)),
  };
}

/** The hop: reachable from the gateway itself only, routed by the target the gateway route set. */
export function gatewayEgressListener(egressPort: number): Listener {
  return {
    name: gatewayEgressListenerName(egressPort),
    address: { socket_address: { address: '127.0.0.1', port_value: egressPort } },
    traffic_direction: 'OUTBOUND',
    filter_chains: [{ name: `egress_http_${egressPort}`, filters: [httpConnectionManager('egress', egressRouteConfigName(egressPort), [])] }],
  };
}
