// The resources a proxy is served, in readable form: each one encoded exactly as it goes on
// the wire and decoded back, so what is shown is what Envoy gets.
import { stringify } from 'yaml';
import type { ProxyConfig } from '../compile/proxy-config';
import { decodeAny, encodeResource, resourceAsAnyJson } from '../xds/protos';
import { resourcesOf, type Snapshot } from '../xds/resources';
import { TypeUrl } from '../xds/type-urls';
import { resourcesByType } from './encode';

const SECTION: Record<TypeUrl, string> = {
  [TypeUrl.Cluster]: 'clusters',
  [TypeUrl.Endpoint]: 'endpoints',
  [TypeUrl.Listener]: 'listeners',
  [TypeUrl.Route]: 'routes',
};

export function renderProxyConfig(config: ProxyConfig): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const [typeUrl, list] of resourcesByType(config)) {
    out[SECTION[typeUrl]] = list.map(({ resource }) => resourceAsAnyJson(typeUrl, encodeResource(typeUrl, resource)));
  }
  return out;
}

/** The same form for a snapshot the xDS server holds: the very bytes a proxy was served. */
export function renderSnapshot(snapshot: Snapshot): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const typeUrl of Object.values(TypeUrl)) {
    out[SECTION[typeUrl]] = [...resourcesOf(snapshot, typeUrl).resources.values()].map((r) => decodeAny(r.any).resource);
  }
  return out;
}

/**
 * YAML for Envoy, whose parser follows YAML 1.1: strings such as `yes`, `on` or `off` are
 * quoted so that they stay strings instead of becoming booleans.
 */
export function toEnvoyYaml(value: unknown): string {
  return stringify(value, { version: '1.1', aliasDuplicateObjects: false });
}
