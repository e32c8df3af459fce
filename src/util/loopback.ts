// Whether a listen address is loopback: only processes on this machine can connect to it. The App
// Mesh API accepts unsigned calls only there (src/api/auth.ts).
import * as net from 'node:net';

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** 127.0.0.0/8, ::1 (any spelling), IPv4-mapped ::ffff:127.x.y.z, and the name localhost; not 0.0.0.0 or ::. */
export function isLoopbackAddress(host: string): boolean {
  const address = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (address.toLowerCase() === 'localhost') return true;
  const family = net.isIP(address);
  if (family === 0) return false;
  return LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** A Host header naming a loopback address: 127.0.0.0/8, [::1] or localhost, with or without a port. */
export function loopbackHost(host: string | string[] | undefined): boolean {
  if (typeof host !== 'string') return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '');
  return name.toLowerCase() === 'localhost' || name === '::1' || /^127(\.\d{1,3}){3}$/.test(name);
}
