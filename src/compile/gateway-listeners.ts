// A gateway's listeners. One per virtual-gateway listener, on its own port (no traffic capture:
// clients connect to the gateway), terminating TLS as the plan says, with App Mesh's path
// normalisation, the access log and, for an http/http2 health check, an answer to the probe
// path from the gateway itself. And the loopback hop (plan/gateway.ts), where the target
// services' routes run.
import type { Listener } from '../generated/envoy/config/listener/v3/Listener';
import type { HttpFilter } from '../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpFilter';
import { accessLogs } from './access-log';
import { packAny } from './any';
import { grpcStatsFilter } from './grpc-stats';
import { httpConnectionManager, listenerAddress, tlsInspector, tlsModeChains } from './listeners';
import { literalRegex } from './literal-regex';
import type { GatewayHopListenerPlan, GatewayListenerPlan } from './plan/types';

/**
 * A load balancer probing the health check path gets 200 from
 * the gateway (503 while it drains), without a gateway route.
 */
function healthCheckFilter(path: string | undefined): HttpFilter[] {
  if (path === undefined) return [];
  return [
    {
      name: 'envoy.filters.http.health_check',
      typed_config: packAny('envoy.extensions.filters.http.health_check.v3.HealthCheck', {
        pass_through_mode: { value: false },
        // :path carries the query string too; a probe may add one.
        headers: [{ name: ':path', string_match: { safe_regex: { regex: `${literalRegex(path)}(\\?.*)?` } } }],
      }),
    },
  ];
}

export function gatewayListener(plan: GatewayListenerPlan): Listener {
  const hcm = httpConnectionManager('ingress', plan.routeTable, accessLogs(plan.accessLog), {
    filters: healthCheckFilter(plan.healthCheckPath),
    // App Mesh's gateway settings; routing on the Host ignores any port in it. The gateway is an
    // edge proxy: the client's address goes into X-Forwarded-For, and Envoy's own x-envoy-*
    // request headers from outside clients are not obeyed (Envoy's edge proxy advice).
    settings: {
      normalize_path: { value: true },
      merge_slashes: true,
      strip_any_host_port: true,
      use_remote_address: { value: true },
    },
    ...(plan.tracing ? { tracing: plan.tracing } : {}),
    edge: true,
  });
  return {
    name: plan.name,
    address: listenerAddress(plan.bind),
    traffic_direction: 'INBOUND',
    ...(plan.tls?.mode === 'PERMISSIVE' ? { listener_filters: [tlsInspector] } : {}),
    filter_chains: tlsModeChains(`gateway_${plan.protocol}_${plan.bind.port}`, [hcm], plan.tls),
  };
}

/** The hop: reachable from the gateway itself only, routed by the target the gateway route set. */
export function gatewayHopListener(plan: GatewayHopListenerPlan): Listener {
  return {
    name: plan.name,
    address: listenerAddress(plan.bind),
    traffic_direction: 'OUTBOUND',
    filter_chains: [
      // The hop sends to the targets' egress clusters, whose gRPC statuses meshd's telemetry counts (grpc-stats.ts).
      {
        name: `egress_http_${plan.bind.port}`,
        filters: [
          httpConnectionManager('egress', plan.routeTable, [], {
            filters: [grpcStatsFilter],
            ...(plan.tracing ? { tracing: plan.tracing } : {}),
          }),
        ],
      },
    ],
  };
}
