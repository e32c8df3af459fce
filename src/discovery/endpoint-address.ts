// Addresses that are never a workload's: an endpoint there sends a proxy's traffic nowhere, to
// every host at once, or to the host's own link (where the cloud metadata service answers at
// 169.254.169.254). The Cloud Map API and the mesh files' CloudMapService instances refuse them
// unless the operator allows any address (meshd serve --cloud-map-allow-any-address). Loopback
// stays allowed: on a laptop every workload is on 127.0.0.1.
import * as net from 'node:net';

/** Why `address` (IPv4 or IPv6 text) is never a workload's address, or undefined when it may be one. */
export function forbiddenAddressReason(address: string): string | undefined {
  if (net.isIPv4(address)) return ipv4Reason(parseIpv4(address));
  if (!net.isIPv6(address)) return undefined; // not an address at all: the attribute rules say so
  // A zone id (fe80::1%eth0) only means something for link-scoped addresses.
  if (address.includes('%')) return 'scoped to one link (it has a zone id)';
  const bytes = parseIpv6(address);
  if (bytes === undefined) return undefined;
  if (bytes.every((b) => b === 0)) return 'unspecified (::)';
  if (bytes[0] === 0xff) return 'multicast (ff00::/8)';
  if (bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0x80) return 'link-local (fe80::/10)';
  // IPv6 forms that carry an IPv4 address, which is what the packets end up going to.
  const embedded = embeddedIpv4(bytes);
  if (embedded) {
    const reason = ipv4Reason(embedded.ipv4);
    if (reason) return `${embedded.form} of an address that is ${reason}`;
  }
  return undefined;
}

function ipv4Reason([a, b, c, d]: readonly number[]): string | undefined {
  if (a === 0) return 'unspecified ("this network", 0.0.0.0/8)';
  if (a === 255 && b === 255 && c === 255 && d === 255) return 'the broadcast address (255.255.255.255)';
  if (a! >= 224 && a! <= 239) return 'multicast (224.0.0.0/4)';
  if (a === 169 && b === 254) return 'link-local (169.254.0.0/16, where the cloud metadata service answers)';
  return undefined;
}

function parseIpv4(text: string): number[] {
  return text.split('.').map(Number);
}

/** The 16 bytes of an IPv6 address that net.isIPv6 accepted (no zone id), or undefined. */
function parseIpv6(text: string): number[] | undefined {
  let head = text;
  let tail: number[] = [];
  // A trailing dotted IPv4 part (::ffff:1.2.3.4) stands for the last two groups.
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    if (!net.isIPv4(last)) return undefined;
    tail = parseIpv4(last);
    head = text.slice(0, lastColon + 1);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const double = head.indexOf('::');
  let words: number[];
  const tailWords = tail.length === 4 ? 2 : 0;
  if (double >= 0) {
    const left = groups(head.slice(0, double));
    const right = groups(head.slice(double + 2));
    const missing = 8 - tailWords - left.length - right.length;
    if (missing < 0) return undefined;
    words = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    words = groups(head);
  }
  if (words.length + tailWords !== 8 || words.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffff))
    return undefined;
  return [...words.flatMap((w) => [w >> 8, w & 0xff]), ...tail];
}

/** The IPv4 address an IPv6 address stands for, in the forms that route to it. */
function embeddedIpv4(bytes: readonly number[]): { form: string; ipv4: number[] } | undefined {
  const prefixIs = (prefix: readonly number[]) => prefix.every((b, i) => bytes[i] === b);
  const zeros = (n: number) => new Array<number>(n).fill(0);
  const ipv4 = bytes.slice(12);
  if (prefixIs([...zeros(10), 0xff, 0xff])) return { form: 'an IPv4-mapped form (::ffff:0:0/96)', ipv4 };
  if (prefixIs([...zeros(8), 0xff, 0xff, 0, 0])) return { form: 'an IPv4-translated form (::ffff:0:0:0/96)', ipv4 };
  // NAT64's well-known prefix: a NAT64 gateway sends these to the IPv4 address.
  if (prefixIs([0x00, 0x64, 0xff, 0x9b, ...zeros(8)])) return { form: 'a NAT64 form (64:ff9b::/96)', ipv4 };
  // The deprecated IPv4-compatible form (::a.b.c.d); :: and ::1 are not IPv4 addresses.
  if (prefixIs(zeros(12)) && !(ipv4[0] === 0 && ipv4[1] === 0 && ipv4[2] === 0 && ipv4[3]! <= 1))
    return { form: 'an IPv4-compatible form (::/96)', ipv4 };
  return undefined;
}
