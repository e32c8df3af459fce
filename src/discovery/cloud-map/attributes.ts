// Instance attributes: the rules RegisterInstance enforces (AWS's documented limits and the
// AWS_* attributes a service's DNS records require), the addresses that are never a workload's,
// and the address and port Envoy is sent.
import * as net from 'node:net';
import {
  CNAME,
  CUSTOM_HEALTH_STATUSES,
  INIT_HEALTH,
  IPV4,
  IPV6,
  PORT,
  parsePort,
} from '../../model/cloud-map-instance';
import { forbiddenAddressReason } from '../endpoint-address';
import type { ServiceRecord } from './records';

/** The attributes AWS defines (RegisterInstance); every other one is a custom attribute. */
const RESERVED = new Set([IPV4, IPV6, PORT, CNAME, INIT_HEALTH, 'AWS_ALIAS_DNS_NAME', 'AWS_EC2_INSTANCE_ID']);

// RegisterInstance's documented limits: up to 30 custom attributes, a name of at most 255
// characters, a value of at most 1,024, all keys and values together at most 5,000. The
// patterns allow printable ASCII only, so characters and bytes are the same thing here.
export const MAX_CUSTOM_ATTRIBUTES = 30;
export const MAX_KEY_LENGTH = 255;
export const MAX_VALUE_LENGTH = 1024;
export const MAX_TOTAL_LENGTH = 5000;
const KEY = /^[a-zA-Z0-9!-~]+$/;
const VALUE = /^([a-zA-Z0-9!-~][ \ta-zA-Z0-9!-~]*)?[a-zA-Z0-9!-~]?$/;

export interface AttributePolicy {
  /** Accept endpoint addresses that are never a workload's (meshd serve --cloud-map-allow-any-address). */
  readonly allowAnyAddress?: boolean;
}

/** Why an attribute set breaks AWS's size limits, or undefined; the first thing checked, before any value is read. */
export function attributeLimitProblem(attributes: Readonly<Record<string, string>>): string | undefined {
  const keys = Object.keys(attributes);
  const custom = keys.filter((k) => !RESERVED.has(k)).length;
  if (custom > MAX_CUSTOM_ATTRIBUTES)
    return `an instance has at most ${MAX_CUSTOM_ATTRIBUTES} custom attributes, got ${custom}`;
  let total = 0;
  for (const key of keys) {
    const value = attributes[key];
    if (typeof value !== 'string') return `attribute ${clip(key)} must be a string`;
    if (key.length > MAX_KEY_LENGTH)
      return `attribute name '${clip(key)}' is ${key.length} characters long; at most ${MAX_KEY_LENGTH} are allowed`;
    if (value.length > MAX_VALUE_LENGTH)
      return `attribute ${key}: the value is ${value.length} characters long; at most ${MAX_VALUE_LENGTH} are allowed`;
    total += key.length + value.length;
  }
  if (total > MAX_TOTAL_LENGTH)
    return `the attributes' names and values total ${total} characters; at most ${MAX_TOTAL_LENGTH} are allowed`;
  return undefined;
}

/**
 * Why `attribute` (AWS_INSTANCE_IPV4 or AWS_INSTANCE_IPV6) cannot be
 * `address`, or undefined: the check the API and the mesh files share.
 */
export function addressProblem(attribute: string, address: string, policy: AttributePolicy = {}): string | undefined {
  if (policy.allowAnyAddress) return undefined;
  const reason = forbiddenAddressReason(address);
  return (
    reason &&
    `${attribute} '${address}' is ${reason}, never a workload's address (meshd serve --cloud-map-allow-any-address accepts it)`
  );
}

/**
 * For mesh files read without a running meshd (validate): each
 * declared instance address that `serve` refuses by default.
 */
export function seedAddressWarnings(
  instances: readonly (Readonly<Record<string, string>> | undefined)[],
): { index: number; attribute: string; message: string }[] {
  return instances.flatMap((attributes, index) =>
    [IPV4, IPV6].flatMap((attribute) => {
      const value = attributes && own(attributes, attribute);
      const problem = value !== undefined && net.isIP(value) !== 0 ? addressProblem(attribute, value) : undefined;
      return problem ? [{ index, attribute, message: `meshd serve refuses this instance: ${problem}` }] : [];
    }),
  );
}

/** Why these attributes cannot be registered in this service, or undefined when they can. */
export function attributeProblem(
  attributes: Readonly<Record<string, string>>,
  service: ServiceRecord,
  policy: AttributePolicy = {},
): string | undefined {
  return attributeRefusal(attributes, service, policy)?.message;
}

/** attributeProblem, saying which kind of rule refused them: a size limit, an address, or another rule. */
export function attributeRefusal(
  attributes: Readonly<Record<string, string>>,
  service: ServiceRecord,
  policy: AttributePolicy = {},
): { kind: 'attribute_limit' | 'address' | 'other'; message: string } | undefined {
  const limit = attributeLimitProblem(attributes);
  if (limit) return { kind: 'attribute_limit', message: limit };
  const forbidden = forbiddenAddressProblem(attributes, policy);
  if (forbidden) return { kind: 'address', message: forbidden };
  const other = otherAttributeProblem(attributes, service);
  return other === undefined ? undefined : { kind: 'other', message: other };
}

function forbiddenAddressProblem(
  attributes: Readonly<Record<string, string>>,
  policy: AttributePolicy,
): string | undefined {
  const ipv4 = own(attributes, IPV4);
  const ipv6 = own(attributes, IPV6);
  return (
    (ipv4 !== undefined && net.isIPv4(ipv4) ? addressProblem(IPV4, ipv4, policy) : undefined) ??
    (ipv6 !== undefined && net.isIPv6(ipv6) ? addressProblem(IPV6, ipv6, policy) : undefined)
  );
}

function otherAttributeProblem(
  attributes: Readonly<Record<string, string>>,
  service: ServiceRecord,
): string | undefined {
  for (const key of Object.keys(attributes)) {
    const value = attributes[key]!;
    if (!KEY.test(key)) return `attribute name '${clip(key)}' must be printable ASCII characters without spaces`;
    if (!VALUE.test(value))
      return `attribute ${key}: '${clip(value)}' must be printable ASCII characters, not starting with a space`;
  }

  const ipv4 = own(attributes, IPV4);
  const ipv6 = own(attributes, IPV6);
  const port = own(attributes, PORT);
  if (ipv4 !== undefined && !net.isIPv4(ipv4)) return `${IPV4} must be an IPv4 address, got '${ipv4}'`;
  if (ipv6 !== undefined && !net.isIPv6(ipv6)) return `${IPV6} must be an IPv6 address, got '${ipv6}'`;
  if (port !== undefined && parsePort(port) === undefined)
    return `${PORT} must be a port number from 1 to 65535, got '${port}'`;
  const health = own(attributes, INIT_HEALTH);
  if (health !== undefined && !(CUSTOM_HEALTH_STATUSES as readonly string[]).includes(health))
    return `${INIT_HEALTH} must be HEALTHY or UNHEALTHY, got '${health}'`;

  // The records the service's DNS configuration asks for need their values (RegisterInstance's rules).
  for (const record of service.dnsConfig?.dnsRecords ?? []) {
    if (record.type === 'A' && ipv4 === undefined)
      return `service ${service.name} has an A record, so ${IPV4} is required`;
    if (record.type === 'AAAA' && ipv6 === undefined)
      return `service ${service.name} has an AAAA record, so ${IPV6} is required`;
    if (record.type === 'CNAME' && own(attributes, CNAME) === undefined)
      return `service ${service.name} has a CNAME record, so ${CNAME} is required`;
    if (record.type === 'SRV' && (port === undefined || (ipv4 === undefined && ipv6 === undefined))) {
      return `service ${service.name} has an SRV record, so ${PORT} and ${IPV4} or ${IPV6} are required`;
    }
  }
  return undefined;
}

/** An attribute's value if the instance has it (never one of Object.prototype's members). */
function own(attributes: Readonly<Record<string, string>>, key: string): string | undefined {
  return Object.hasOwn(attributes, key) ? attributes[key] : undefined;
}

function clip(text: string, max = 64): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}
