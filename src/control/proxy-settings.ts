// Per-proxy settings carried in the node metadata that `meshd bootstrap` writes, so several
// sidecars can share one host (tests, the no-Docker demo) with their own ports.
import type { ProxySettings } from '../compile/proxy-config';
import { DEFAULT_EGRESS_PORT, DEFAULT_INGRESS_PORT } from '../compile/defaults';
import type { Node__Output } from '../generated/envoy/config/core/v3/Node';
import { isGrpcUserAgent } from '../xds/stream-status';

export const INGRESS_PORT_KEY = 'APPMESH_ENVOY_INGRESS_PORT';
export const EGRESS_PORT_KEY = 'APPMESH_ENVOY_EGRESS_PORT';

export function proxySettingsOf(node: Node__Output): ProxySettings {
  return {
    ingressPort: portFromMetadata(node, INGRESS_PORT_KEY) ?? DEFAULT_INGRESS_PORT,
    egressPort: portFromMetadata(node, EGRESS_PORT_KEY) ?? DEFAULT_EGRESS_PORT,
    proxyless: isGrpcUserAgent(node.user_agent_name ?? ''),
  };
}

function portFromMetadata(node: Node__Output, key: string): number | undefined {
  const value = node.metadata?.fields?.[key];
  // google.protobuf.Value keeps protobufjs's camelCase field names (it is a built-in type).
  const raw =
    value?.kind === 'stringValue'
      ? value.stringValue
      : value?.kind === 'numberValue'
        ? String(value.numberValue)
        : undefined;
  const port = raw === undefined ? NaN : Number(raw);
  return Number.isInteger(port) && port >= 1 && port <= 65535 ? port : undefined;
}
