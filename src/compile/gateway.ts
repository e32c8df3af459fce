// compile(model, Cloud Map, gateway, settings) → the Envoy resources of a virtual gateway.
//
// A gateway route and its target's routes are two route tables in a row: the gateway route
// matches and rewrites, then the target service's router picks a node by weight, matching the
// rewritten request. Envoy runs one route table per request, so, as App Mesh did (its
// "self_redirect" cluster), the gateway sends a matched request to itself on a loopback listener
// (the egress port) where the target services' routes run, exactly as a sidecar's egress runs
// them. The target travels in a header, so it does not depend on the Host being rewritten.
import type { CloudMapView } from '../discovery/cloud-map/registry';
import type { Cluster } from '../generated/envoy/config/cluster/v3/Cluster';
import type { Route } from '../generated/envoy/config/route/v3/Route';
import type { RouteConfiguration } from '../generated/envoy/config/route/v3/RouteConfiguration';
import { gatewayRouteKindOf, type GatewayRoute } from '../model/gateway-route';
import { compare, type MeshReader } from '../model/mesh-model';
import type { VirtualGateway, VirtualGatewayListener } from '../model/virtual-gateway';
import { accessLogs } from './access-log';
import { backendResources, type Backend } from './backends';
import { connectionPoolLimits, circuitBreakers, protocolOptions } from './clusters';
import { INGRESS_CONNECT_TIMEOUT } from './defaults';
import { GATEWAY_TARGET_HEADER, gatewayRoute, gatewayRouteMatchPort, gatewayTargetKey, orderGatewayRoutes, unservedGatewayRoute } from './gateway-routes';
import { gatewayEgressListener, gatewayListener } from './gateway-listeners';
import { meshIpPreference } from './ip-preference';
import { withHeaders } from './matches';
import { egressRouteConfigName, ingressRouteConfigName, selfRedirectClusterName } from './names';
import { byName, type ProxyConfig, type ProxySettings } from './proxy-config';
import { serviceRoute } from './routes';
import { resolveService, type ResolvedService, type ServicePort } from './services';
import { UnsupportedFeature } from './unsupported';

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
function selfRedirectCluster(gateway: VirtualGateway, listener: VirtualGatewayListener, egressPort: number, sharesName: boolean): Cluster {
  const { port, protocol } = listener.portMapping;
  const name = selfRedirectClusterName(gateway.mesh, gateway.name, protocol, egressPort, sharesName ? port : undefined);
  return {
    name,
    type: 'STATIC',
    connect_timeout: INGRESS_CONNECT_TIMEOUT,
    circuit_breakers: circuitBreakers(connectionPoolLimits(listener.connectionPool)),
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: egressPort } } } }] }] },
    ...protocolOptions('downstream'),
  };
}

/** The service port a gateway route targets, or the service's name when nothing provides it. */
function targetOf(model: MeshReader, r: GatewayRoute): TargetPort | { unserved: string } {
  const body = gatewayRouteKindOf(r.spec).route;
  const name = body.action.target.virtualService.virtualServiceName;
  const service = resolveService(model, model.virtualService(r.mesh, name)!);
  // Validation made the port exist and be HTTP-family; the only port when none is named.
  const port = service?.ports.find((p) => body.action.target.port === undefined || p.port === body.action.target.port);
  if (!service || !port) return { unserved: name };
  return { key: gatewayTargetKey({ service: service.name, port: port.port }), service, port };
}

/**
 * The hop's routes: each target's own routes, in its router's
 * order, taken only by requests the gateway sent to that target.
 */
function hopRouteConfig(egressPort: number, targets: readonly TargetPort[]): RouteConfiguration {
  const routes: Route[] = targets.flatMap(({ key, port }) =>
    port.routes.map(serviceRoute).map((route) => ({
      ...route,
      name: `${key}/${route.name}`,
      match: withHeaders(route.match ?? {}, { name: GATEWAY_TARGET_HEADER, string_match: { exact: key } }),
    })),
  );
  return { name: egressRouteConfigName(egressPort), virtual_hosts: [{ name: 'gateway_targets', domains: ['*'], routes, request_headers_to_remove: [GATEWAY_TARGET_HEADER] }] };
}

export function compileGateway(model: MeshReader, cloudMap: CloudMapView, gateway: VirtualGateway, settings: ProxySettings): ProxyConfig {
  const clash = gateway.spec.listeners.findIndex((l) => l.portMapping.port === settings.egressPort);
  if (clash >= 0) {
    throw new UnsupportedFeature(
      `VirtualGateway/${gateway.name}: listeners[${clash}].portMapping.port: ${settings.egressPort} is this gateway Envoy's egress port, where its internal hop listens; give the Envoy another one (APPMESH_ENVOY_EGRESS_PORT or meshd bootstrap --egress-port)`,
    );
  }
  const addresses = meshIpPreference(model, gateway.mesh);
  const accessLog = accessLogs(gateway.spec.logging);
  const ordered = orderGatewayRoutes(model.gatewayRoutesOf(gateway.mesh, gateway.name));
  const single = gateway.spec.listeners.length === 1;
  const targets = new Map<string, TargetPort>();
  const clusters = new Map<string, Cluster>();
  const routes: RouteConfiguration[] = [];

  gateway.spec.listeners.forEach((listener, index) => {
    const { port, protocol } = listener.portMapping;
    const sharesName = gateway.spec.listeners.slice(0, index).some((earlier) => earlier.portMapping.protocol === protocol);
    const hop = selfRedirectCluster(gateway, listener, settings.egressPort, sharesName);
    clusters.set(hop.name!, hop);
    // With several listeners, validation made every gateway route name its listener with match.port.
    const served = ordered.filter((r) => single || gatewayRouteMatchPort(r) === port);
    const envoyRoutes = served.map((r) => {
      const target = targetOf(model, r);
      if ('unserved' in target) return unservedGatewayRoute(r, target.unserved);
      targets.set(target.key, target);
      return gatewayRoute(r, hop.name!, { service: target.service.name, port: target.port.port });
    });
    // A gateway without routes still listens (and answers 404), so a load balancer's TCP check passes.
    routes.push({ name: ingressRouteConfigName(port), virtual_hosts: [{ name: 'gateway', domains: ['*'], routes: envoyRoutes }] });
  });

  // Validation made every target port HTTP-family.
  const hopTargets = [...targets.values()].sort((a, b) => compare(a.key, b.key));
  routes.push(hopRouteConfig(settings.egressPort, hopTargets));
  const tls = gateway.spec.backendDefaults?.clientPolicy?.tls;
  const backends: Backend[] = hopTargets.map(({ service, port }) => ({ service: { name: service.name, ports: [port] }, tls, tlsWhere: `VirtualGateway/${gateway.name}: backendDefaults.clientPolicy.tls` }));
  const egress = backendResources(model, cloudMap, backends);
  for (const [name, cluster] of egress.clusters) clusters.set(name, cluster);

  return {
    listeners: [...gateway.spec.listeners.map((_, i) => gatewayListener(gateway, i, addresses, accessLog)), gatewayEgressListener(settings.egressPort)].sort(byName),
    routes: routes.sort(byName),
    clusters: [...clusters.values()].sort(byName),
    endpoints: egress.endpoints,
  };
}
