// meshd's xDS addresses for a proxy's bootstrap: one host:port, or several separated by commas
// (a fleet of replicas), each host an IPv4 address, an [IPv6] address in brackets, or a DNS
// name. envoy-bootstrap/render-bootstrap.sh applies the same rules in sh and awk, with the same
// messages (test/e2e/bootstrap.test.ts holds the two together), so both are written step by step
// rather than with Node's own address parsers.

/** At most this many addresses: a fleet is a few replicas, and each is one endpoint Envoy keeps. */
export const MAX_XDS_ADDRESSES = 16;

export interface XdsAddress {
  /** An IP address (IPv6 without its brackets) or a DNS name. */
  host: string;
  port: number;
  /** True when host is a DNS name, which Envoy resolves (every A record becomes an endpoint). */
  isName: boolean;
}

const IPV4 = /^[0-9]{1,3}(\.[0-9]{1,3}){3}$/;
const DNS_LABEL = '[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
const DNS_NAME = new RegExp(`^${DNS_LABEL}(\\.${DNS_LABEL})*\\.?$`);

/**
 * Dotted quad with every part from 0 to 255, written without leading zeros: Envoy's address
 * parser (inet_pton) refuses `01.2.3.4`, and a resolver may read `010` as octal, so such a
 * text is neither an address nor a name here (Go's net.ParseIP, App Mesh's, refused it too).
 */
export function isIpv4(text: string): boolean {
  return IPV4.test(text) && text.split('.').every((part) => Number(part) <= 255 && !/^0[0-9]/.test(part));
}

/**
 * A port written in decimal digits (leading zeros allowed, as the sh renderer's awk reads them), 1 to 65535;
 * undefined for anything else.
 */
export function parsePort(text: string): number | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const digits = text.replace(/^0+/, '');
  const port = Number(digits || '0');
  return digits.length > 5 || port < 1 || port > 65535 ? undefined : port;
}

/** Eight groups of 1 to 4 hex digits, or fewer with one `::`; the last two may be an IPv4 address. */
export function isIpv6(text: string): boolean {
  if (!/^[0-9A-Fa-f:.]+$/.test(text) || !text.includes(':')) return false;
  const halves = text.split('::');
  if (halves.length > 2) return false;
  let groups = 0;
  for (const [i, half] of halves.entries()) {
    if (half === '') continue;
    const parts = half.split(':');
    for (const [j, part] of parts.entries()) {
      const last = i === halves.length - 1 && j === parts.length - 1;
      if (last && part.includes('.')) {
        if (!isIpv4(part)) return false;
        groups += 2;
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(part)) groups += 1;
      else return false;
    }
  }
  return halves.length === 2 ? groups <= 7 : groups === 8;
}

/** A DNS name: labels of letters, digits, '-' and '_', up to 253 characters; not all digits and dots. */
export function isDnsName(text: string): boolean {
  return text.length <= 253 && DNS_NAME.test(text) && !/^[0-9.]+$/.test(text);
}

/**
 * Parses `host:port[,host:port…]`. `source` names the flag or variable in errors; an error is
 * one line that names the bad item. Blanks around each item are left out.
 */
export function parseXdsAddresses(text: string, source: string): XdsAddress[] | { error: string } {
  const items = text.split(',').map((item) => item.replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, ''));
  if (items.length > MAX_XDS_ADDRESSES)
    return { error: `${source} lists ${items.length} addresses; at most ${MAX_XDS_ADDRESSES} are allowed` };
  const out: XdsAddress[] = [];
  const seen = new Map<string, string>();
  for (const [i, item] of items.entries()) {
    const where = items.length > 1 ? `${source}: address ${i + 1} of ${items.length}` : source;
    if (item === '') return { error: `${where} is empty; separate host:port addresses with single commas` };
    const m = /^(\[[^\]]*\]|[^:]*):([0-9]+)$/.exec(item);
    if (!m || m[1] === '') {
      if (!item.startsWith('[') && (item.match(/:/g) ?? []).length > 1)
        return { error: `${where} must put an IPv6 address in brackets, as [::1]:18000, got '${item}'` };
      return { error: `${where} must be host:port, got '${item}'` };
    }
    const port = parsePort(m[2]!);
    if (port === undefined) return { error: `${where} must have a port from 1 to 65535, got '${item}'` };
    const hostText = m[1]!;
    let host: string;
    let isName = false;
    if (hostText.startsWith('[')) {
      host = hostText.slice(1, -1);
      if (!isIpv6(host)) return { error: `${where} must hold an IPv6 address inside the brackets, got '${item}'` };
    } else if (isIpv4(hostText)) {
      host = hostText;
    } else if (isDnsName(hostText)) {
      host = hostText;
      isName = true;
    } else {
      return { error: `${where} must have an IP address or a DNS name before the port, got '${item}'` };
    }
    const key = `${host.toLowerCase().replace(/\.$/, '')}:${port}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) return { error: `${where} repeats ${earlier}: '${item}'` };
    seen.set(key, `address ${i + 1}`);
    out.push({ host, port, isName });
  }
  return out;
}
