// `meshd render --static`: a complete Envoy bootstrap with a proxy's resources inlined
// (route configurations placed into their listeners, EDS endpoints into their clusters), so `envoy --mode validate -c`
// can check exactly what meshd would serve, without meshd running.
import { isIP } from 'node:net';
import { appMeshStaticLayer } from '../bootstrap/runtime';
import { packAny } from '../compile/any';
import type { ProxyConfig } from '../compile/proxy-config';
import type { Cluster } from '../generated/envoy/config/cluster/v3/Cluster';
import type { ClusterLoadAssignment } from '../generated/envoy/config/endpoint/v3/ClusterLoadAssignment';
import type { Bootstrap } from '../generated/envoy/config/bootstrap/v3/Bootstrap';
import type { Listener } from '../generated/envoy/config/listener/v3/Listener';
import type { RouteConfiguration } from '../generated/envoy/config/route/v3/RouteConfiguration';
import type { HttpConnectionManager } from '../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager';
import { decodeResource, encodeResource } from '../xds/protos';

const BOOTSTRAP_TYPE = 'type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap';
const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

function inlineRoutes(listener: Listener, routes: ReadonlyMap<string, RouteConfiguration>): Listener {
  return {
    ...listener,
    filter_chains: listener.filter_chains?.map((chain) => ({
      ...chain,
      filters: chain.filters?.map((filter) => {
        const config = filter.typed_config as (HttpConnectionManager & { '@type'?: string }) | undefined;
        const name = config?.rds?.route_config_name;
        if (config?.['@type'] !== `type.googleapis.com/${HCM}` || name === undefined) return filter;
        const { '@type': _type, rds: _rds, ...hcm } = config;
        return { ...filter, typed_config: packAny(HCM, { ...hcm, route_config: routes.get(name) ?? { name } }) };
      }),
    })),
  };
}

/**
 * Whether a cluster's TLS fetches meshd's managed secrets over ADS. Envoy (1.40) crashes on a
 * static cluster with hosts whose secrets come over ADS (ADS does not exist yet when static
 * clusters start), so such an EDS cluster stays EDS over ADS rather than being inlined.
 */
function fetchesSecretsOverAds(cluster: Cluster): boolean {
  return JSON.stringify(cluster.transport_socket ?? {}).includes('"ads":{}');
}

/** Whether a DNS cluster names an IP address: Envoy has its host at once, without resolving. */
function hasAddressLiteral(cluster: Cluster): boolean {
  return (cluster.load_assignment?.endpoints ?? []).some((e) =>
    (e.lb_endpoints ?? []).some((l) => isIP(l.endpoint?.address?.socket_address?.address ?? '') !== 0),
  );
}

/**
 * EDS clusters need meshd; inlined, they become STATIC with the endpoints meshd would send. A DNS
 * cluster to an IP address (a DNS hostname that is an IP) whose secrets come over ADS crashes Envoy
 * 1.40's validate mode as a static cluster with hosts does, so it becomes EDS over ADS: its TLS is
 * still checked, its address is not.
 */
function inlineEndpoints(cluster: Cluster, endpoints: ReadonlyMap<string, ClusterLoadAssignment>): Cluster {
  if (
    (cluster.type === 'LOGICAL_DNS' || cluster.type === 'STRICT_DNS') &&
    fetchesSecretsOverAds(cluster) &&
    hasAddressLiteral(cluster)
  ) {
    const { load_assignment: _hosts, dns_lookup_family: _family, ...rest } = cluster;
    return { ...rest, type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } } };
  }
  if (cluster.type !== 'EDS' || fetchesSecretsOverAds(cluster)) return cluster;
  const { eds_cluster_config: _eds, ...rest } = cluster;
  return {
    ...rest,
    type: 'STATIC',
    load_assignment: endpoints.get(cluster.name ?? '') ?? { cluster_name: cluster.name ?? '' },
  };
}

/** App Mesh's static runtime layer as a protobuf Struct (protobufjs's camelCase Value fields). */
function staticLayerFields(): Record<string, { boolValue: boolean } | { numberValue: number }> {
  return Object.fromEntries(
    Object.entries(appMeshStaticLayer()).map(([key, value]) => [
      key,
      typeof value === 'boolean' ? { boolValue: value } : { numberValue: value },
    ]),
  );
}

export function staticBootstrap(nodeId: string, config: ProxyConfig, adminPort = 9901): Record<string, unknown> {
  const routes = new Map(config.routes.map((r) => [r.name ?? '', r]));
  const endpoints = new Map(config.endpoints.map((e) => [e.cluster_name ?? '', e]));
  const bootstrap: Bootstrap = {
    node: { id: nodeId, cluster: nodeId },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    // The runtime `meshd bootstrap` gives a sidecar, so validate checks regexes by the same limit.
    layered_runtime: {
      layers: [
        { name: 'static_layer_0', static_layer: { fields: staticLayerFields() } },
        { name: 'admin_layer', admin_layer: {} },
      ],
    },
    static_resources: {
      listeners: config.listeners.map((l) => inlineRoutes(l, routes)),
      clusters: config.clusters.map((c) => inlineEndpoints(c, endpoints)),
    },
  };
  return decodeResource(BOOTSTRAP_TYPE, encodeResource(BOOTSTRAP_TYPE, bootstrap));
}
