// App Mesh's Envoy resource names, so migrating users find what their dashboards and
// runbooks expect (../shared/APP-MESH-FACTS.md, "Envoy resource names").
import type { Protocol } from '../model/common';

export const ingressListenerName = (port: number): string => `lds_ingress_0.0.0.0_${port}`;
export const egressListenerName = (port: number): string => `lds_egress_0.0.0.0_${port}`;
export const ingressRouteConfigName = (port: number): string => `rds_ingress_http_${port}`;
export const egressRouteConfigName = (port: number): string => `rds_egress_http_${port}`;

export const ingressClusterName = (mesh: string, node: string, protocol: Protocol, port: number): string =>
  `cds_ingress_${mesh}_${node}_${protocol}_${port}`;
export const egressClusterName = (mesh: string, node: string, protocol: Protocol, port: number): string =>
  `cds_egress_${mesh}_${node}_${protocol}_${port}`;
export const allowAllClusterName = (mesh: string): string => `cds_egress_${mesh}_mesh-allow-all`;

/**
 * A gateway's own hop into the mesh (see gateway.ts): a loopback
 * listener and, per gateway listener, the cluster that reaches it.
 */
export const gatewayEgressListenerName = (port: number): string => `lds_egress_127.0.0.1_${port}`;
/**
 * App Mesh named the hop cluster after the egress port it leads to (15001 unless the Envoy's
 * egress port says otherwise), not after the gateway listener's port; dashboards and alarms key
 * on that name. Two listeners of one protocol would share it, so only the first of them (in spec
 * order) keeps it; each later one appends its own listener port: `..._self_redirect_http_15001_8081`.
 */
export const selfRedirectClusterName = (
  mesh: string,
  gateway: string,
  protocol: Protocol,
  egressPort: number,
  listenerPort?: number,
): string =>
  `cds_ingress_${mesh}_${gateway}_self_redirect_${protocol}_${egressPort}${listenerPort === undefined ? '' : `_${listenerPort}`}`;

/**
 * meshd's own: the OTLP/gRPC collector of the mesh's OpenTelemetry tracing. Every App Mesh cluster name
 * starts with `cds_`, so this one cannot be taken by a virtual node's or a gateway's.
 */
export const OTEL_COLLECTOR_CLUSTER = 'meshd_otel_collector';
