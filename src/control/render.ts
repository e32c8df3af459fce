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
  [TypeUrl.Secret]: 'secrets',
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
    // A proxy served no secrets shows no secrets section (as before meshd served any).
    if (typeUrl === TypeUrl.Secret && resourcesOf(snapshot, typeUrl).resources.size === 0) continue;
    out[SECTION[typeUrl]] = [...resourcesOf(snapshot, typeUrl).resources.values()].map((r) =>
      typeUrl === TypeUrl.Secret ? redactSecret(decodeAny(r.any).resource) : decodeAny(r.any).resource,
    );
  }
  return out;
}

/** A secret as Envoy's /config_dump shows it: private keys replaced by `[redacted]`, certificates kept. */
function redactSecret(secret: Record<string, unknown>): Record<string, unknown> {
  const tls = secret.tls_certificate as Record<string, unknown> | undefined;
  if (!tls || !('private_key' in tls)) return secret;
  return { ...secret, tls_certificate: { ...tls, private_key: { inline_string: '[redacted]' } } };
}

/**
 * YAML for Envoy, whose parser follows YAML 1.1: strings such as `yes`, `on` or `off` are
 * quoted so that they stay strings instead of becoming booleans.
 */
export function toEnvoyYaml(value: unknown): string {
  return stringify(value, { version: '1.1', aliasDuplicateObjects: false });
}

/** The sections `--type` picks from, in the words of `istioctl proxy-config`. */
export const CONFIG_SECTIONS = ['clusters', 'listeners', 'routes', 'endpoints', 'secrets'] as const;
export type ConfigSection = (typeof CONFIG_SECTIONS)[number];

export function isConfigSection(value: string): value is ConfigSection {
  return (CONFIG_SECTIONS as readonly string[]).includes(value);
}

/** Which part of a proxy's configuration to print: one section, and/or the resources of one name. */
export interface ConfigFilter {
  readonly type?: ConfigSection;
  readonly name?: string;
}

/** A resource's xDS name: an endpoint assignment goes by its cluster's name. */
function resourceName(resource: unknown): string | undefined {
  if (typeof resource !== 'object' || resource === null) return undefined;
  const r = resource as { name?: unknown; cluster_name?: unknown };
  const name = r.name ?? r.cluster_name;
  return typeof name === 'string' ? name : undefined;
}

/** `a, b, c` for a message, at most `max` of them. */
function someNames(names: string[], max = 10): string {
  if (names.length === 0) return 'none';
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/**
 * The sections (`{clusters: [...], ...}`, as renderProxyConfig and renderSnapshot give them) that
 * a filter keeps: with a type, that section alone (empty when the proxy has none: meshd serves no
 * secrets, Envoy reads certificates from files or an SDS agent); with a name, the resources of
 * that name. A name that matches nothing is an error naming what there is.
 */
export function filterConfig(
  config: Record<string, unknown[]>,
  filter: ConfigFilter,
): { ok: true; config: Record<string, unknown[]> } | { ok: false; error: string } {
  const sections = filter.type ? { [filter.type]: config[filter.type] ?? [] } : config;
  if (filter.name === undefined) return { ok: true, config: sections };
  const out: Record<string, unknown[]> = {};
  for (const [section, resources] of Object.entries(sections)) {
    const matching = resources.filter((r) => resourceName(r) === filter.name);
    if (matching.length > 0) out[section] = matching;
  }
  if (Object.keys(out).length > 0) return { ok: true, config: out };
  const names = [
    ...new Set(
      Object.values(sections).flatMap((list) => list.map(resourceName).filter((n): n is string => n !== undefined)),
    ),
  ];
  return {
    ok: false,
    error: `no resource named '${filter.name}' among this node's ${filter.type ?? 'resources'} (${someNames(names)})`,
  };
}

/** The filter from `--type` and `--name`, or a usage message naming the valid types. */
export function configFilterOf(
  type: string | undefined,
  name: string | undefined,
): { ok: true; filter: ConfigFilter } | { ok: false; error: string } {
  if (type !== undefined && !isConfigSection(type))
    return { ok: false, error: `--type must be one of ${CONFIG_SECTIONS.join(', ')}, got '${type}'` };
  if (name !== undefined && name === '') return { ok: false, error: '--name needs a resource name' };
  return { ok: true, filter: { ...(type !== undefined ? { type } : {}), ...(name !== undefined ? { name } : {}) } };
}
