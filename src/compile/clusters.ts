import type { Cluster } from '../generated/envoy/config/cluster/v3/Cluster';
import type { Protocol } from '../model/common';
import type { VirtualNode } from '../model/virtual-node';
import { packAny } from './any';
import { EGRESS_CONNECT_TIMEOUT, INGRESS_CONNECT_TIMEOUT, UNLIMITED } from './defaults';
import { egressClusterName, ingressClusterName } from './names';
import { UnsupportedFeature } from './unsupported';

/** A listener port of a virtual node: what a weighted target or a provided service points at. */
export interface NodePort {
  readonly node: VirtualNode;
  readonly port: number;
  readonly protocol: Protocol;
}

export function egressClusterNameOf(t: NodePort): string {
  return egressClusterName(t.node.mesh, t.node.name, t.protocol, t.port);
}

/** Upstream HTTP/2 for http2 and grpc listeners; Envoy's default (HTTP/1.1) otherwise. */
function protocolOptions(protocol: Protocol): Pick<Cluster, 'typed_extension_protocol_options'> {
  if (protocol !== 'http2' && protocol !== 'grpc') return {};
  return {
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': packAny('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', {
        explicit_http_config: { http2_protocol_options: {} },
      }),
    },
  };
}

const unlimitedCircuitBreakers: Cluster['circuit_breakers'] = {
  thresholds: [{ max_connections: { value: UNLIMITED }, max_pending_requests: { value: UNLIMITED }, max_requests: { value: UNLIMITED }, max_retries: { value: UNLIMITED } }],
};

/** The caller-side cluster for one listener of a target virtual node, found through its DNS name. */
export function egressCluster(target: NodePort): Cluster {
  const dns = target.node.spec.serviceDiscovery?.dns;
  if (!dns) throw new UnsupportedFeature(`VirtualNode/${target.node.name}: Cloud Map discovery is not compiled yet`);
  const name = egressClusterNameOf(target);
  return {
    name,
    // LOADBALANCER (the default) trusts one address behind a load balancer; ENDPOINTS balances over every address.
    type: dns.responseType === 'ENDPOINTS' ? 'STRICT_DNS' : 'LOGICAL_DNS',
    connect_timeout: EGRESS_CONNECT_TIMEOUT,
    dns_lookup_family: 'AUTO',
    circuit_breakers: unlimitedCircuitBreakers,
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: dns.hostname, port_value: target.port } } } }] }],
    },
    ...protocolOptions(target.protocol),
  };
}

/** The proxy's own local app behind one of its listeners. */
export function ingressCluster(node: VirtualNode, port: number, protocol: Protocol): Cluster {
  const name = ingressClusterName(node.mesh, node.name, protocol, port);
  return {
    name,
    type: 'STATIC',
    connect_timeout: INGRESS_CONNECT_TIMEOUT,
    circuit_breakers: unlimitedCircuitBreakers,
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }],
    },
    ...protocolOptions(protocol),
  };
}
