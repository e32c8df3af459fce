// planGateway(model, Cloud Map, gateway, settings) → the plan of a virtual gateway.
//
// A gateway route and its target's routes are two route tables in a row: the gateway route
// matches and rewrites, then the target service's router picks a node by weight, matching the
// rewritten request. Envoy runs one route table per request, so, as App Mesh did (its
// "self_redirect" cluster), the gateway sends a matched request to itself on a loopback listener
// (the egress port) where the target services' routes run, exactly as a sidecar's egress runs
// them. The target travels in a header, so it does not depend on the Host being rewritten.
import type { CloudMapView } from '../cloud-map-view';
import { gatewayRouteKindOf, type GatewayRoute } from '../../model/gateway-route';
import { compare, type MeshReader } from '../../model/mesh-model';
import type { VirtualGateway, VirtualGatewayListener } from '../../model/virtual-gateway';
import { INGRESS_CONNECT_TIMEOUT_MS } from '../defaults';
import { meshIpPreference, type AddressFamilyPlan } from './ip-preference';
import {
  egressRouteConfigName,
  gatewayEgressListenerName,
  ingressListenerName,
  ingressRouteConfigName,
  selfRedirectClusterName,
} from '../names';
import type { ProxySettings } from '../proxy-config';
import { UnsupportedFeature } from '../unsupported';
import { planAccessLog } from './access-log';
import { backendClusters, type Backend } from './backends';
import { connectionLimits } from './clusters';
import {
  GATEWAY_TARGET_HEADER,
  gatewayRoute,
  gatewayRouteMatchPort,
  gatewayTargetKey,
  orderGatewayRoutes,
  unservedGatewayRoute,
} from './gateway-routes';
import { withHeaders } from './matches';
import { byName, bindAll } from './order';
import type { CompileMemo } from '../memo';
import { resolvedService, type ResolvedService, type ServicePort } from './services';
import { downstreamTls } from './tls';
import type {
  AccessLogPlan,
  ClusterPlan,
  GatewayListenerPlan,
  ListenerPlan,
  ProxyPlan,
  RoutePlan,
  RouteTablePlan,
} from './types';

/** A service port some gateway route sends to. */
interface TargetPort {
  readonly key: string;
  readonly service: ResolvedService;
  readonly port: ServicePort;
}

/**
 * The hop from one gateway listener into the mesh: the gateway's own loopback listener, in the
 * protocol the client spoke. The listener's connection pool limits what passes through it.
 * Named as App Mesh named it, after the egress port; a later listener of the same protocol
 * (`sharesName`) adds its own port to keep the name unique (names.ts).
 */
function selfRedirectCluster(
  gateway: VirtualGateway,
  listener: VirtualGatewayListener,
  egressPort: number,
  sharesName: boolean,
): ClusterPlan {
  const { port, protocol } = listener.portMapping;
  return {
    name: selfRedirectClusterName(gateway.mesh, gateway.name, protocol, egressPort, sharesName ? port : undefined),
    discovery: { kind: 'static', address: '127.0.0.1', port: egressPort },
    connectTimeoutMs: INGRESS_CONNECT_TIMEOUT_MS,
    limits: connectionLimits(listener.connectionPool),
    upstreamProtocol: 'downstream',
  };
}

/** The service port a gateway route targets, or the service's name when nothing provides it. */
function targetOf(model: MeshReader, memo: CompileMemo, r: GatewayRoute): TargetPort | { unserved: string } {
  const body = gatewayRouteKindOf(r.spec).route;
  const name = body.action.target.virtualService.virtualServiceName;
  const service = resolvedService(model, memo, r.mesh, name);
  // Validation made the port exist and be HTTP-family; the only port when none is named.
  const port = service?.ports.find((p) => body.action.target.port === undefined || p.port === body.action.target.port);
  if (!service || !port) return { unserved: name };
  return { key: gatewayTargetKey({ service: service.name, port: port.port }), service, port };
}

/**
 * The hop's routes: each target's own routes, in its router's
 * order, taken only by requests the gateway sent to that target.
 */
function hopRouteTable(egressPort: number, targets: readonly TargetPort[]): RouteTablePlan {
  const routes: RoutePlan[] = targets.flatMap(({ key, port }) =>
    port.routes.map((route) => ({
      ...route,
      name: `${key}/${route.name}`,
      match: withHeaders(route.match, { name: GATEWAY_TARGET_HEADER, match: { kind: 'exact', value: key } }),
    })),
  );
  return {
    name: egressRouteConfigName(egressPort),
    virtualHosts: [{ name: 'gateway_targets', domains: ['*'], routes, removeRequestHeaders: [GATEWAY_TARGET_HEADER] }],
  };
}

/** A load balancer probing the health check path gets an answer from the gateway itself (not for gRPC checks). */
function healthCheckPath(listener: VirtualGatewayListener): string | undefined {
  const hc = listener.healthCheck;
  return !hc || hc.protocol === 'grpc' ? undefined : hc.path;
}

function gatewayListener(
  gateway: VirtualGateway,
  index: number,
  addresses: AddressFamilyPlan,
  accessLog: AccessLogPlan | undefined,
): GatewayListenerPlan {
  const listener = gateway.spec.listeners[index]!;
  const { port, protocol } = listener.portMapping;
  // HTTP/2 (gRPC's transport) is offered over TLS on http2 and grpc listeners; HTTP/1.1 on all.
  const alpn = protocol === 'http' ? ['http/1.1'] : ['h2', 'http/1.1'];
  // The mesh-wide mode leaves a gateway's own listeners alone: their clients are outside the mesh.
  const tls = downstreamTls(listener.tls, alpn);
  const probe = healthCheckPath(listener);
  return {
    kind: 'gateway',
    name: ingressListenerName(port),
    bind: bindAll(addresses, port),
    protocol,
    ...(tls ? { tls } : {}),
    ...(probe !== undefined ? { healthCheckPath: probe } : {}),
    routeTable: ingressRouteConfigName(port),
    ...(accessLog ? { accessLog } : {}),
  };
}

export function planGateway(
  model: MeshReader,
  cloudMap: CloudMapView,
  gateway: VirtualGateway,
  settings: ProxySettings,
  memo: CompileMemo,
): ProxyPlan {
  const clash = gateway.spec.listeners.findIndex((l) => l.portMapping.port === settings.egressPort);
  if (clash >= 0) {
    throw new UnsupportedFeature(
      `VirtualGateway/${gateway.name}: listeners[${clash}].portMapping.port: ${settings.egressPort} is this gateway Envoy's egress port, where its internal hop listens; give the Envoy another one (APPMESH_ENVOY_EGRESS_PORT or meshd bootstrap --egress-port)`,
    );
  }
  const addresses = meshIpPreference(model, gateway.mesh);
  const accessLog = planAccessLog(gateway.spec.logging);
  const ordered = orderGatewayRoutes(model.gatewayRoutesOf(gateway.mesh, gateway.name));
  const single = gateway.spec.listeners.length === 1;
  const targets = new Map<string, TargetPort>();
  const clusters = new Map<string, ClusterPlan>();
  const routeTables: RouteTablePlan[] = [];

  gateway.spec.listeners.forEach((listener, index) => {
    const { port, protocol } = listener.portMapping;
    const sharesName = gateway.spec.listeners
      .slice(0, index)
      .some((earlier) => earlier.portMapping.protocol === protocol);
    const hop = selfRedirectCluster(gateway, listener, settings.egressPort, sharesName);
    clusters.set(hop.name, hop);
    // With several listeners, validation made every gateway route name its listener with match.port.
    const served = ordered.filter((r) => single || gatewayRouteMatchPort(r) === port);
    const routes = served.map((r) => {
      const target = targetOf(model, memo, r);
      if ('unserved' in target) return unservedGatewayRoute(r, target.unserved);
      targets.set(target.key, target);
      return gatewayRoute(r, hop.name, { service: target.service.name, port: target.port.port });
    });
    // A gateway without routes still listens (and answers 404), so a load balancer's TCP check passes.
    routeTables.push({
      name: ingressRouteConfigName(port),
      virtualHosts: [{ name: 'gateway', domains: ['*'], routes }],
    });
  });

  // Validation made every target port HTTP-family.
  const hopTargets = [...targets.values()].sort((a, b) => compare(a.key, b.key));
  routeTables.push(hopRouteTable(settings.egressPort, hopTargets));
  const tls = gateway.spec.backendDefaults?.clientPolicy?.tls;
  const backends: Backend[] = hopTargets.map(({ service, port }) => ({
    service: { name: service.name, ports: [port] },
    tls,
  }));
  for (const [name, cluster] of backendClusters(model, cloudMap, backends, memo)) clusters.set(name, cluster);

  const listeners: ListenerPlan[] = [
    ...gateway.spec.listeners.map((_, i) => gatewayListener(gateway, i, addresses, accessLog)),
    {
      kind: 'gatewayHop',
      name: gatewayEgressListenerName(settings.egressPort),
      bind: { address: '127.0.0.1', port: settings.egressPort, ipv4Compat: false },
      routeTable: egressRouteConfigName(settings.egressPort),
    },
  ];
  return {
    listeners: listeners.sort(byName),
    routeTables: routeTables.sort(byName),
    clusters: [...clusters.values()].sort(byName),
  };
}
