// --statsd-allow: what it accepts, and which source addresses a policy lets in (IPv4-mapped IPv6
// counted as the IPv4 address it is, both for a datagram's source and a proxy's gRPC peer).
import { normalizeIp, parseStatsdAllow, peerIp, statsdSourceCheck } from '../../src/telemetry/statsd-allow';

describe('--statsd-allow', () => {
  it('parses any, connected, CIDRs, and connected with CIDRs; refuses the rest naming the item', () => {
    expect(parseStatsdAllow(['any'])).toEqual({ any: true });
    expect(parseStatsdAllow(['connected'])).toEqual({ any: false, connected: true, networks: [] });
    expect(parseStatsdAllow(['connected,10.0.0.0/8', 'fd00::/64'])).toEqual({
      any: false,
      connected: true,
      networks: ['10.0.0.0/8', 'fd00::/64'],
    });
    expect(parseStatsdAllow(['any,connected'])).toEqual({ error: "'any' cannot be combined with anything else" });
    expect(parseStatsdAllow(['10.0.0.0/33'])).toEqual({ error: expect.stringContaining("'10.0.0.0/33'") });
    expect(parseStatsdAllow(['example.com'])).toEqual({ error: expect.stringContaining("'example.com'") });
    expect(parseStatsdAllow([''])).toEqual({ error: expect.stringContaining('must be any, connected') });
  });

  it('normalises IPv4-mapped IPv6 sources and peers', () => {
    expect(normalizeIp('::FFFF:10.1.2.3')).toBe('10.1.2.3');
    expect(normalizeIp('FD00::2')).toBe('fd00::2');
    expect(peerIp('[::ffff:10.1.2.3]:51234')).toBe('10.1.2.3');
    expect(peerIp('10.1.2.3:51234')).toBe('10.1.2.3');
    expect(peerIp('[fd00::2]:1')).toBe('fd00::2');
    expect(peerIp('unix:/tmp/x')).toBeUndefined();
  });

  it('connected lets in only the connected peers (whatever their spelling); CIDRs add networks', () => {
    const connected = new Set([peerIp('[::ffff:10.1.2.3]:5000')!]);
    const onlyConnected = statsdSourceCheck(parseStatsdAllow(['connected']) as never, () => connected);
    expect(onlyConnected('10.1.2.3')).toBe(true);
    expect(onlyConnected('::ffff:10.1.2.3')).toBe(true);
    expect(onlyConnected('10.1.2.4')).toBe(false);
    expect(onlyConnected('not an ip')).toBe(false);
    const networks = statsdSourceCheck(parseStatsdAllow(['192.168.0.0/16']) as never, () => connected);
    expect(networks('192.168.7.7')).toBe(true);
    expect(networks('::ffff:192.168.7.7')).toBe(true);
    expect(networks('10.1.2.3')).toBe(false);
  });
});
