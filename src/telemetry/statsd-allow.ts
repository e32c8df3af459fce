// Who may report traffic over DogStatsD (`--statsd-allow`): anyone (`any`), the addresses of the
// proxies connected over ADS now (`connected`), listed networks (CIDRs), or `connected` and
// networks together. Canary analysis acts on these numbers, so a stranger who can send UDP to the
// port must not be able to steer it. UDP has no handshake: a sender on the same network can still
// forge a source address; this keeps out everyone else.
import * as net from 'node:net';

export type StatsdAllow =
  { readonly any: true } | { readonly any: false; readonly connected: boolean; readonly networks: readonly string[] };

export const STATSD_ALLOW_ANY: StatsdAllow = { any: true };
export const STATSD_ALLOW_CONNECTED: StatsdAllow = { any: false, connected: true, networks: [] };

/** `any`, or `connected` and/or CIDRs (`10.0.0.0/8`, `fd00::/64`; an address alone: /32 or /128), comma-separated. */
export function parseStatsdAllow(items: readonly string[]): StatsdAllow | { error: string } {
  const parts = items
    .flatMap((i) => i.split(','))
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) return { error: 'must be any, connected or a list of CIDRs such as 10.0.0.0/8' };
  if (parts.includes('any')) {
    if (parts.length > 1) return { error: "'any' cannot be combined with anything else" };
    return STATSD_ALLOW_ANY;
  }
  let connected = false;
  const networks: string[] = [];
  for (const part of parts) {
    if (part === 'connected') {
      connected = true;
      continue;
    }
    if (parseCidr(part) === undefined)
      return {
        error: `'${part.slice(0, 80)}' is not any, connected or a CIDR such as 10.0.0.0/8 or fd00::/64`,
      };
    networks.push(part);
  }
  return { any: false, connected, networks };
}

function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefixText, extra] = text.split('/');
  if (extra !== undefined) return undefined;
  const version = net.isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** An IP address as meshd compares them: IPv4-mapped IPv6 (`::ffff:10.0.0.1`) as IPv4, IPv6 lower-case. */
export function normalizeIp(address: string): string {
  const lower = address.toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower);
  return mapped ? mapped[1]! : lower;
}

/** The IP of a gRPC peer string (`ip:port`, `[ipv6]:port`), normalised; undefined when it is none. */
export function peerIp(peer: string): string | undefined {
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(peer);
  const address = bracketed ? bracketed[1]! : peer.replace(/:\d+$/, '');
  return net.isIP(address) !== 0 ? normalizeIp(address) : undefined;
}

/**
 * The predicate the statsd server asks about each datagram's source address; `connected` gives the
 * (normalised) addresses of the proxies connected now.
 */
export function statsdSourceCheck(
  allow: StatsdAllow,
  connected: () => ReadonlySet<string>,
): (address: string) => boolean {
  if (allow.any) return () => true;
  const list = new net.BlockList();
  for (const n of allow.networks) {
    const c = parseCidr(n)!;
    list.addSubnet(c.address, c.prefix, c.family);
  }
  const listed = allow.networks.length > 0;
  return (address) => {
    const ip = normalizeIp(address);
    const version = net.isIP(ip);
    if (version === 0) return false;
    if (listed && list.check(ip, version === 4 ? 'ipv4' : 'ipv6')) return true;
    return allow.connected && connected().has(ip);
  };
}

/** What --statsd-allow says, for the log and the banner. */
export function describeStatsdAllow(allow: StatsdAllow): string {
  if (allow.any) return 'any';
  return [...(allow.connected ? ['connected'] : []), ...allow.networks].join(',');
}
