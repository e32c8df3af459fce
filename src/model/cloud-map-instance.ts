// A Cloud Map service instance as meshd sees it, and what its AWS_* attributes mean for the
// address and port Envoy is sent. Shared by the registries that hold instances (discovery/) and
// the compiler that reads them (compile/), so it lives below both.
import type { IP_PREFERENCES } from './shapes';

export const IPV4 = 'AWS_INSTANCE_IPV4';
export const IPV6 = 'AWS_INSTANCE_IPV6';
export const PORT = 'AWS_INSTANCE_PORT';
export const CNAME = 'AWS_INSTANCE_CNAME';
export const INIT_HEALTH = 'AWS_INIT_HEALTH_STATUS';

/**
 * What a custom health check can be set to: by the API,
 * AWS_INIT_HEALTH_STATUS, `meshd register --health` and the mesh files.
 */
export const CUSTOM_HEALTH_STATUSES = ['HEALTHY', 'UNHEALTHY'] as const;
export type CustomHealthStatus = (typeof CUSTOM_HEALTH_STATUSES)[number];
/** UNKNOWN is what a service without a custom health check reports. */
export type HealthStatus = CustomHealthStatus | 'UNKNOWN';

/** One registered instance: its id, its attributes and its health. */
export interface DiscoveredInstance {
  readonly id: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly health: HealthStatus;
}

/** An AWS_INSTANCE_PORT value as a port number from 1 to 65535, or undefined when it is none. */
export function parsePort(text: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

type IpPreference = (typeof IP_PREFERENCES)[number];

/**
 * The address Envoy is sent for an instance, by the node's IP preference (APP-MESH-FACTS.md):
 * a PREFERRED family falls back to the other, an ONLY family yields nothing without it, and
 * with no preference IPv4 comes first.
 */
export function instanceAddress(
  attributes: Readonly<Record<string, string>>,
  preference: IpPreference | undefined,
): string | undefined {
  const ipv4 = attributes[IPV4];
  const ipv6 = attributes[IPV6];
  switch (preference) {
    case 'IPv4_ONLY':
      return ipv4;
    case 'IPv6_ONLY':
      return ipv6;
    case 'IPv6_PREFERRED':
      return ipv6 ?? ipv4;
    default:
      return ipv4 ?? ipv6;
  }
}

/** AWS_INSTANCE_PORT when the instance registered one, else the port of the listener being called. */
export function instancePort(attributes: Readonly<Record<string, string>>, listenerPort: number): number {
  const port = attributes[PORT];
  return (port !== undefined ? parsePort(port) : undefined) ?? listenerPort;
}
