// DNS host names as certificates carry them (RFC 1123): what meshd's CA accepts in a certificate and what the
// compiler lets a node's service-discovery name become.
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** Whether `name` is a host name: dot-separated RFC 1123 labels (letters, digits, inner hyphens), ≤ 253 characters. */
export function isHostName(name: string): boolean {
  return name.length <= 253 && name.split('.').every((label) => DNS_LABEL.test(label));
}
