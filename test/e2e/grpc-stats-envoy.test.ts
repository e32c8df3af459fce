// What the grpc_stats filter meshd compiles (compile/grpc-stats.ts) makes of the statuses a
// server sends, on a real Envoy: the stat is named after the grpc-status text, whatever it is
// (so a hostile upstream makes counters in its callers' Envoys); gRPC-Web is not counted by it;
// and the stats matcher docs/telemetry.md gives as the mitigation keeps the 17 statuses and
// drops the rest. The "server" is a second listener of the same Envoy answering with a
// direct_response and a grpc-status header (a trailers-only answer, as a gRPC server that fails
// a call before any message sends it): a stand-in for a gRPC server, enough for the filter,
// which reads only that header.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { grpcStatsFilter } from '../../src/compile/grpc-stats';
import { describeWithEnvoy, startEnvoy, type RunningEnvoy } from '../helpers/envoy';
import { freePorts, waitFor } from '../helpers/processes';

// The cluster of a node named `a.b`: a dotted name, cut by Envoy's tag extraction.
const CLUSTER = 'cds_egress_m_a.b_grpc_80';
// As docs/telemetry.md gives it.
const MATCHER = String.raw`^cluster\..+\.grpc(-web)?\.([0-9]*[^0-9].*|0[0-9]+|1[7-9]|[2-9][0-9]|[0-9]{3,})$`;

function bootstrap(ports: { client: number; server: number; admin: number }, matcher: boolean): string {
  const answers = ['0', '14', '16', '17', '99', '014', 'abc', 'x.y'].map((status) => ({
    match: { prefix: '/', headers: [{ name: 'x-status', string_match: { exact: status } }] },
    direct_response: { status: 200 },
    response_headers_to_add: [
      { header: { key: 'grpc-status', value: status } },
      { header: { key: 'content-type', value: 'application/grpc' } },
    ],
  }));
  const hcm = (name: string, routes: unknown[], filters: unknown[]) => ({
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      stat_prefix: name,
      route_config: { virtual_hosts: [{ name, domains: ['*'], routes }] },
      http_filters: [
        ...filters,
        {
          name: 'envoy.filters.http.router',
          typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
        },
      ],
    },
  });
  const address = (port: number) => ({ socket_address: { address: '127.0.0.1', port_value: port } });
  return JSON.stringify({
    admin: { address: address(ports.admin) },
    ...(matcher
      ? { stats_config: { stats_matcher: { exclusion_list: { patterns: [{ safe_regex: { regex: MATCHER } }] } } } }
      : {}),
    static_resources: {
      listeners: [
        {
          name: 'client',
          address: address(ports.client),
          filter_chains: [
            { filters: [hcm('client', [{ match: { prefix: '/' }, route: { cluster: CLUSTER } }], [grpcStatsFilter])] },
          ],
        },
        { name: 'server', address: address(ports.server), filter_chains: [{ filters: [hcm('server', answers, [])] }] },
      ],
      clusters: [
        {
          name: CLUSTER,
          type: 'STATIC',
          load_assignment: {
            cluster_name: CLUSTER,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: address(ports.server) } }] }],
          },
        },
      ],
    },
  });
}

describeWithEnvoy('grpc_stats on a real Envoy: stat names come from the server (stand-in gRPC server)', (envoyBin) => {
  let envoy: RunningEnvoy | undefined;
  afterEach(async () => {
    await envoy?.stop();
    envoy = undefined;
  });

  /** Starts Envoy, makes one call per status (and gRPC-Web ones), and returns the filter's counters. */
  async function grpcCounters(matcher: boolean): Promise<Map<string, number>> {
    const [client, server, admin] = (await freePorts(3)) as [number, number, number];
    envoy = startEnvoy(envoyBin, bootstrap({ client, server, admin }, matcher), admin);
    await waitFor('Envoy ready', async () => ((await fetch(`http://127.0.0.1:${admin}/ready`)).ok ? true : undefined));
    const call = async (status: string, contentType: string) => {
      const r = await fetch(`http://127.0.0.1:${client}/pkg.Svc/Method`, {
        method: 'POST',
        headers: { 'content-type': contentType, 'x-status': status },
      });
      await r.arrayBuffer();
      expect(r.status).toBe(200);
    };
    for (const status of ['0', '14', '16', '17', '99', '014', 'abc', 'x.y']) await call(status, 'application/grpc');
    for (const status of ['14', 'abc']) await call(status, 'application/grpc-web');
    await call('14', 'application/grpc-web+proto');
    const text = await (await fetch(`http://127.0.0.1:${admin}/stats?filter=grpc`)).text();
    const prefix = `cluster.${CLUSTER}.`;
    return new Map(
      text
        .split('\n')
        .filter((l) => l.startsWith(prefix) && /^[^:]+: \d+$/.test(l))
        .map((l) => [l.slice(prefix.length, l.indexOf(':')), Number(l.slice(l.indexOf(':') + 2))] as const)
        .filter(([name]) => name.startsWith('grpc')),
    );
  }

  it('names a stat after any status text a server sends, and counts no gRPC-Web call', async () => {
    const counters = await grpcCounters(false);
    // One counter per text: what a hostile upstream can grow in its callers' Envoys.
    for (const status of ['0', '14', '16', '17', '99', '014', 'abc']) expect(counters.get(`grpc.${status}`)).toBe(1);
    // A dotted status becomes more name parts (meshd does not count it).
    expect(counters.get('grpc.x.y')).toBe(1);
    expect(counters.get('grpc.total')).toBe(8);
    expect(counters.get('grpc.failure')).toBe(7);
    // application/grpc-web is not gRPC to grpc_stats: no `grpc-web.` stat, and no `grpc.` count either.
    expect([...counters.keys()].filter((name) => name.startsWith('grpc-web'))).toEqual([]);
  });

  it('with the documented stats matcher, keeps the statuses 0 to 16 and makes no other', async () => {
    const docs = fs.readFileSync(path.join(__dirname, '../../docs/telemetry.md'), 'utf8');
    expect(docs).toContain(`regex: '${MATCHER}'`);
    const counters = await grpcCounters(true);
    expect(Object.fromEntries(counters)).toEqual({ 'grpc.0': 1, 'grpc.14': 1, 'grpc.16': 1 });
  });
});
