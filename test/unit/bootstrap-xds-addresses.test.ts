// meshd's xDS addresses in a proxy's bootstrap: one host:port or a fleet of replicas, each item
// checked with a message that names it, rendered as one endpoint each in the meshd_xds cluster.
// (test/e2e/bootstrap.test.ts holds render-bootstrap.sh to the same rules and bytes.)
import { parse } from 'yaml';
import { renderBootstrap, type BootstrapParams } from '../../src/bootstrap/render';
import { fillTemplate } from '../../src/bootstrap/template';
import { isDnsName, isIpv4, isIpv6, parseXdsAddresses, type XdsAddress } from '../../src/bootstrap/xds-addresses';

const parsed = (text: string): XdsAddress[] => {
  const r = parseXdsAddresses(text, '--xds-address');
  if ('error' in r) throw new Error(r.error);
  return r;
};
const refused = (text: string): string => {
  const r = parseXdsAddresses(text, '--xds-address');
  if (!('error' in r)) throw new Error(`'${text}' was accepted`);
  return r.error;
};

describe('parseXdsAddresses', () => {
  it('reads one address as before: a name, an IPv4 address, an IPv6 address in brackets', () => {
    expect(parsed('meshd:18000')).toEqual([{ host: 'meshd', port: 18000, isName: true }]);
    expect(parsed('127.0.0.1:18000')).toEqual([{ host: '127.0.0.1', port: 18000, isName: false }]);
    expect(parsed('[::1]:18000')).toEqual([{ host: '::1', port: 18000, isName: false }]);
  });

  it('reads a fleet, in order, blanks around items left out, ports without leading zeros', () => {
    expect(parsed(' 10.0.0.1:18000 ,meshd-b.internal:018000,[fd00::3]:9 ')).toEqual([
      { host: '10.0.0.1', port: 18000, isName: false },
      { host: 'meshd-b.internal', port: 18000, isName: true },
      { host: 'fd00::3', port: 9, isName: false },
    ]);
    expect(parsed(Array.from({ length: 16 }, (_, i) => `m${i}:1`).join(','))).toHaveLength(16);
  });

  it('refuses a bad item with a message naming it and its place', () => {
    expect(refused('meshd')).toBe("--xds-address must be host:port, got 'meshd'");
    expect(refused('a:1,meshd,c:1')).toBe("--xds-address: address 2 of 3 must be host:port, got 'meshd'");
    expect(refused('a:1,b:0')).toBe("--xds-address: address 2 of 2 must have a port from 1 to 65535, got 'b:0'");
    expect(refused('a:65536')).toBe("--xds-address must have a port from 1 to 65535, got 'a:65536'");
    expect(refused('a:1,,b:1')).toBe(
      '--xds-address: address 2 of 3 is empty; separate host:port addresses with single commas',
    );
    expect(refused('::1:18000')).toBe(
      "--xds-address must put an IPv6 address in brackets, as [::1]:18000, got '::1:18000'",
    );
    expect(refused('[meshd]:1')).toBe("--xds-address must hold an IPv6 address inside the brackets, got '[meshd]:1'");
    expect(refused('mesh d:1')).toBe(
      "--xds-address must have an IP address or a DNS name before the port, got 'mesh d:1'",
    );
    expect(refused('1.2.3.999:1')).toBe(
      "--xds-address must have an IP address or a DNS name before the port, got '1.2.3.999:1'",
    );
  });

  it('refuses the same replica twice, and more than 16', () => {
    expect(refused('A.b:1,c:1,a.B.:0001')).toBe("--xds-address: address 3 of 3 repeats address 1: 'a.B.:0001'");
    expect(refused('[FD00::1]:1,[fd00::1]:1')).toBe("--xds-address: address 2 of 2 repeats address 1: '[fd00::1]:1'");
    expect(refused(Array.from({ length: 17 }, (_, i) => `m${i}:1`).join(','))).toBe(
      '--xds-address lists 17 addresses; at most 16 are allowed',
    );
  });

  it('tells IP addresses from names as Envoy must (a STATIC cluster takes IPs only)', () => {
    expect(['0.0.0.0', '255.255.255.255', '10.0.0.1'].every(isIpv4)).toBe(true);
    expect(['256.0.0.1', '1.2.3', '1.2.3.4.5', '1.2.3.0004', 'a.b.c.d'].some(isIpv4)).toBe(false);
    // Leading zeros: Envoy's parser refuses them, its DNS resolver reads 010 as 10, others as 8.
    expect(['01.2.3.4', '1.2.3.04', '0177.0.0.010', '1.00.2.3'].some(isIpv4)).toBe(false);
    expect(['0.0.0.0', '10.0.0.1', '100.200.250.255'].every(isIpv4)).toBe(true);
    expect(['::ffff:01.2.3.4', '::1.2.3.00'].some(isIpv6)).toBe(false);
    expect(['::', '::1', 'fd00::3', '1:2:3:4:5:6:7:8', '::ffff:10.0.0.1', '1::2:3:4:5:6:7'].every(isIpv6)).toBe(true);
    expect(
      ['1:2:3:4:5:6:7:8:9', '1::2::3', ':::', '12345::', 'fe80::1%eth0', '::1.2.3', '1:2:3:4:5:6:7::8:9', 'g::1'].some(
        isIpv6,
      ),
    ).toBe(false);
    expect(['meshd', 'meshd-a.mesh.internal', 'x.', '_srv.a', 'a'.repeat(63)].every(isDnsName)).toBe(true);
    expect(['-a', 'a-', 'a..b', '.', '', '1.2.3.4', '123', 'a'.repeat(64), 'a b', 'a/b'].some(isDnsName)).toBe(false);
  });
});

describe('the meshd_xds cluster', () => {
  const params = (xds: string): BootstrapParams => ({
    nodeId: 'mesh/apps/virtualNode/front',
    node: { mesh: 'apps', type: 'virtualNode', name: 'front' },
    cluster: 'front',
    xds: parsed(xds),
    ads: 'sotw',
    adminAddress: '127.0.0.1',
    adminPort: 9901,
    ingressPort: 15000,
    egressPort: 15001,
    initialFetchTimeoutSeconds: 0,
    statsTags: false,
    notes: [],
  });
  const cluster = (xds: string) => {
    const doc = parse(renderBootstrap(params(xds)));
    return doc.static_resources.clusters.find((c: { name: string }) => c.name === 'meshd_xds');
  };

  it('has one endpoint per address, STATIC for IP addresses only, STRICT_DNS with a name among them', () => {
    const ips = cluster('10.0.0.1:18000,[fd00::2]:18001');
    expect(ips.type).toBe('STATIC');
    expect(ips.load_assignment.endpoints).toEqual([
      {
        lb_endpoints: [
          { endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 18000 } } } },
          { endpoint: { address: { socket_address: { address: 'fd00::2', port_value: 18001 } } } },
        ],
      },
    ]);
    expect(cluster('10.0.0.1:18000,meshd:18000').type).toBe('STRICT_DNS');
    expect(cluster('meshd.fleet.internal:18000').type).toBe('STRICT_DNS');
  });

  it('ejects a replica on consecutive connect failures or gateway errors, and probes idle connections', () => {
    const c = cluster('meshd:18000');
    expect(c.connect_timeout).toBe('1s');
    expect(c.outlier_detection.consecutive_gateway_failure).toBe(2);
    expect(c.outlier_detection.enforcing_consecutive_gateway_failure).toBe(100);
    expect(c.outlier_detection.max_ejection_percent).toBe(100);
    expect(c.upstream_connection_options.tcp_keepalive.keepalive_time).toBe(5);
  });
});

describe('the template language: YAML lines', () => {
  it('puts them in as they are, each line after the first indented like the placeholder line', () => {
    expect(fillTemplate('list:\n  {{ITEMS}}\nend: {{N}}', { ITEMS: { yaml: '- a: 1\n- b: "x"' }, N: 2 })).toBe(
      'list:\n  - a: 1\n  - b: "x"\nend: 2',
    );
    // A string is still one JSON string, whatever it holds.
    expect(fillTemplate('v: {{S}}', { S: 'a\nb' })).toBe('v: "a\\nb"');
  });

  it("fills values holding the template's braces as text, and still refuses braces the template itself cannot read", () => {
    expect(fillTemplate('v: {{S}}\nw: {{T}}', { S: 'a{{T}}', T: '{{' })).toBe('v: "a{{T}}"\nw: "{{"');
    expect(() => fillTemplate('v: {{S}} {{lower}}', { S: 'x' })).toThrow("cannot read 'v: {{S}} {{lower}}'");
  });
});
