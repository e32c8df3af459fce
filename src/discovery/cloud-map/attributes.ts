// Instance attributes: the rules RegisterInstance enforces (AWS's documented limits and the
// AWS_* attributes a service's DNS records require), and the address and port Envoy is sent.
import * as net from 'node:net';
import type { IP_PREFERENCES } from '../../model/shapes';
import { CUSTOM_HEALTH_STATUSES, type ServiceRecord } from './records';

export const IPV4 = 'AWS_INSTANCE_IPV4';
export const IPV6 = 'AWS_INSTANCE_IPV6';
export const PORT = 'AWS_INSTANCE_PORT';
export const CNAME = 'AWS_INSTANCE_CNAME';
export const INIT_HEALTH = 'AWS_INIT_HEALTH_STATUS';

const MAX_ATTRIBUTES = 30;
const MAX_TOTAL_BYTES = 5000;
const KEY = /^[a-zA-Z0-9!-~]{1,255}$/;
const VALUE = /^([a-zA-Z0-9!-~][ \ta-zA-Z0-9!-~]*)?[a-zA-Z0-9!-~]?$/;

/** Why these attributes cannot be registered in this service, or undefined when they can. */
export function attributeProblem(attributes: Readonly<Record<string, string>>, service: ServiceRecord): string | undefined {
  const keys = Object.keys(attributes);
  if (keys.length > MAX_ATTRIBUTES) return `an instance has at most ${MAX_ATTRIBUTES} attributes, got ${keys.length}`;
  let bytes = 0;
  for (const key of keys) {
    const value = attributes[key]!;
    if (typeof value !== 'string') return `attribute ${key} must be a string`;
    if (!KEY.test(key)) return `attribute name '${key}' must be 1 to 255 printable ASCII characters without spaces`;
    if (value.length > 1024 || !VALUE.test(value)) return `attribute ${key}: '${value}' must be at most 1024 printable ASCII characters, not starting with a space`;
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  if (bytes > MAX_TOTAL_BYTES) return `the attributes total ${bytes} bytes; at most ${MAX_TOTAL_BYTES} are allowed`;

  const ipv4 = attributes[IPV4];
  const ipv6 = attributes[IPV6];
  const port = attributes[PORT];
  if (ipv4 !== undefined && !net.isIPv4(ipv4)) return `${IPV4} must be an IPv4 address, got '${ipv4}'`;
  if (ipv6 !== undefined && !net.isIPv6(ipv6)) return `${IPV6} must be an IPv6 address, got '${ipv6}'`;
  if (port !== undefined && parsePort(port) === undefined) return `${PORT} must be a port number from 1 to 65535, got '${port}'`;
  const health = attributes[INIT_HEALTH];
  if (health !== undefined && !(CUSTOM_HEALTH_STATUSES as readonly string[]).includes(health)) return `${INIT_HEALTH} must be HEALTHY or UNHEALTHY, got '${health}'`;

  // The records the service's DNS configuration asks for need their values (RegisterInstance's rules).
  for (const record of service.dnsConfig?.dnsRecords ?? []) {
    if (record.type === 'A' && ipv4 === undefined) return `service ${service.name} has an A record, so ${IPV4} is required`;
    if (record.type === 'AAAA' && ipv6 === undefined) return `service ${service.name} has an AAAA record, so ${IPV6} is required`;
    if (record.type === 'CNAME' && attributes[CNAME] === undefined) return `service ${service.name} has a CNAME record, so ${CNAME} is required`;
    if (record.type === 'SRV' && (port === undefined || (ipv4 === undefined && ipv6 === undefined))) {
      return `service ${service.name} has an SRV record, so ${PORT} and ${IPV4} or ${IPV6} are required`;
    }
  }
  return undefined;
}

function parsePort(text: string): number | undefined {
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
export function instanceAddress(attributes: Readonly<Record<string, string>>, preference: IpPreference | undefined): string | undefined {
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
