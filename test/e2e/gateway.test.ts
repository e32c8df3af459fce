// A virtual gateway end to end: a real meshd serving a mesh file, one real Envoy with the node id
// mesh/gw/virtualGateway/ingress, and real HTTP upstreams on loopback. A client talks to the
// gateway's own listener ports, as a load balancer in front of an App Mesh gateway would, and
// the test checks what a user of the gateway sees:
//  - a gateway route to a virtual service behind a weighted router follows the router's weights,
//    and follows a weight change made in the mesh file (hot reload);
//  - every App Mesh rewrite (default prefix → '/', prefix DISABLED, prefix value, exact path,
//    hostname DISABLED) as the upstream receives it: its path, query string and Host;
//  - hostname matches (exact and suffix; case and a ':port' ignored; 404 when none matches), and
//    that a lower priority number wins over a longer prefix;
//  - TLS termination with a test-made certificate (and mutual TLS), refusing plaintext;
//  - the listener's http health check path answered by the gateway itself;
//  - the hop cluster's stats under App Mesh's name (after the egress port).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { createTestPki, type Certificate, type TestPki } from '../helpers/certs';
import { describeWithEnvoy } from '../helpers/envoy';
import { removeReadableTmpDirs } from '../helpers/netns';
import { freePorts, MESHD_BIN } from '../helpers/processes';
import {
  answeredBy,
  httpRequest,
  startSidecar,
  targetNodeYaml,
  type HttpResult,
  type Sidecar,
} from '../helpers/sidecar-harness';
import { startHttpUpstream, type EchoBody, type HttpUpstream } from '../helpers/upstreams';

const MESH = 'gw';
const GATEWAY = 'ingress';
const NODE_ID = `mesh/${MESH}/virtualGateway/${GATEWAY}`;
const COLOR = `color.${MESH}.local`;
const GATEWAY_SAN = `gateway.${MESH}.local`;
/** The header the gateway tags a request with for its loopback hop; it must not leak to the app. */
const INTERNAL_TARGET_HEADER = 'x-meshd-gateway-target';

/** Upstreams behind node-provided services `<name>.gw.local`; color-v1/color-v2 sit behind the `color` router. */
const UPSTREAMS = ['color-v1', 'color-v2', 'echo', 'www', 'org', 'prio-a', 'prio-b'] as const;
type UpstreamName = (typeof UPSTREAMS)[number];
const serviceOf = (name: UpstreamName) => `${name}.${MESH}.local`;

/** The gateway's listener ports, picked free at run time. */
interface Ports {
  /** plain http: the weighted route, the rewrites, priorities, the health check */
  main: number;
  /** plain http: hostname-matched routes only */
  hosts: number;
  /** STRICT TLS */
  tls: number;
  /** STRICT TLS, client certificate from the test CA required */
  mtls: number;
}

interface MeshOptions {
  /** color router weights for color-v1 / color-v2 */
  weights: [number, number];
  /** priorities of the routes prio-wins (/prio → prio-a) and prio-loses (/prio/deep → prio-b) */
  priorities: [number, number];
}

const HEALTH_PATH = '/ping';

function meshYaml(ports: Ports, pki: TestPki, upstreams: Record<UpstreamName, HttpUpstream>, o: MeshOptions): string {
  const cert = `{ file: { certificateChain: ${pki.certs.gateway!.certFile}, privateKey: ${pki.certs.gateway!.keyFile} } }`;
  /** A gateway route on the listener `port`; `match` is the body of a YAML flow mapping. */
  const gatewayRoute = (
    name: string,
    r: { port: number; match: string; target: string; rewrite?: string; priority?: number },
  ) => `kind: GatewayRoute
mesh: ${MESH}
virtualGateway: ${GATEWAY}
name: ${name}
spec:
${r.priority !== undefined ? `  priority: ${r.priority}\n` : ''}  httpRoute:
    match: { ${r.match}, port: ${r.port} }
    action: { target: { virtualService: { virtualServiceName: ${r.target} } }${r.rewrite ? `, rewrite: ${r.rewrite}` : ''} }
`;
  const echo = serviceOf('echo');
  const docs = [
    `kind: Mesh\nname: ${MESH}\n`,
    ...UPSTREAMS.map((u) => targetNodeYaml(MESH, u, upstreams[u].port)),
    ...UPSTREAMS.filter((u) => !u.startsWith('color-')).map(
      (u) =>
        `kind: VirtualService\nmesh: ${MESH}\nname: ${serviceOf(u)}\nspec: { provider: { virtualNode: { virtualNodeName: ${u} } } }\n`,
    ),
    `kind: VirtualRouter\nmesh: ${MESH}\nname: color\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n`,
    `kind: Route\nmesh: ${MESH}\nvirtualRouter: color\nname: split\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action: { weightedTargets: [{ virtualNode: color-v1, weight: ${o.weights[0]} }, { virtualNode: color-v2, weight: ${o.weights[1]} }] }\n`,
    `kind: VirtualService\nmesh: ${MESH}\nname: ${COLOR}\nspec: { provider: { virtualRouter: { virtualRouterName: color } } }\n`,
    `kind: VirtualGateway
mesh: ${MESH}
name: ${GATEWAY}
spec:
  listeners:
    - portMapping: { port: ${ports.main}, protocol: http }
      healthCheck: { protocol: http, path: ${HEALTH_PATH}, healthyThreshold: 2, unhealthyThreshold: 2, timeoutMillis: 2000, intervalMillis: 5000 }
    - portMapping: { port: ${ports.hosts}, protocol: http }
    - portMapping: { port: ${ports.tls}, protocol: http }
      tls: { mode: STRICT, certificate: ${cert} }
    - portMapping: { port: ${ports.mtls}, protocol: http }
      tls: { mode: STRICT, certificate: ${cert}, validation: { trust: { file: { certificateChain: ${pki.ca.certFile} } } } }
`,
    // main listener
    gatewayRoute('color1', { port: ports.main, match: 'prefix: /color1', target: COLOR }),
    gatewayRoute('rw-keep', {
      port: ports.main,
      match: 'prefix: /keep',
      target: echo,
      rewrite: '{ prefix: { defaultPrefix: DISABLED } }',
    }),
    gatewayRoute('rw-value', {
      port: ports.main,
      match: 'prefix: /p/',
      target: echo,
      rewrite: '{ prefix: { value: /v2/ } }',
    }),
    gatewayRoute('rw-exact', {
      port: ports.main,
      match: 'path: { exact: /old }',
      target: echo,
      rewrite: '{ path: { exact: /new } }',
    }),
    gatewayRoute('rw-host', {
      port: ports.main,
      match: 'prefix: /host',
      target: echo,
      rewrite: '{ hostname: { defaultTargetHostname: DISABLED } }',
    }),
    // Both match /prio/deep. The winner has the shorter prefix
    // and the later name, so only its priority can make it win.
    gatewayRoute('prio-wins', {
      port: ports.main,
      match: 'prefix: /prio',
      target: serviceOf('prio-a'),
      priority: o.priorities[0],
    }),
    gatewayRoute('prio-loses', {
      port: ports.main,
      match: 'prefix: /prio/deep',
      target: serviceOf('prio-b'),
      priority: o.priorities[1],
    }),
    // Catch-all: without the health check answer, the probe path would reach echo.
    gatewayRoute('catch-all', { port: ports.main, match: 'prefix: /', target: echo }),
    // hosts listener: nothing but hostname matches
    gatewayRoute('host-exact', {
      port: ports.hosts,
      match: 'hostname: { exact: www.example.com }',
      target: serviceOf('www'),
    }),
    gatewayRoute('host-suffix', {
      port: ports.hosts,
      match: 'hostname: { suffix: .example.org }',
      target: serviceOf('org'),
    }),
    // TLS listeners
    gatewayRoute('tls', { port: ports.tls, match: 'prefix: /', target: echo }),
    gatewayRoute('mtls', { port: ports.mtls, match: 'prefix: /', target: echo }),
  ];
  return docs.join('---\n');
}

interface TlsClient {
  /** CA file the client trusts */
  ca: string;
  /** SNI and the name the client checks the server certificate against */
  servername?: string;
  /** client certificate for mutual TLS */
  cert?: Certificate;
}

interface HttpsResult extends HttpResult {
  /** the server certificate the client saw */
  peer: { subjectaltname?: string; issuer: { CN?: string } };
}

/** One HTTPS request to 127.0.0.1:<port>, verifying the server certificate against `client.ca`. */
function httpsRequest(port: number, client: TlsClient, path = '/', host = GATEWAY_SAN): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        headers: { host },
        agent: false,
        servername: client.servername ?? GATEWAY_SAN,
        ca: fs.readFileSync(client.ca),
        ...(client.cert
          ? { cert: fs.readFileSync(client.cert.certFile), key: fs.readFileSync(client.cert.keyFile) }
          : {}),
      },
      (res) => {
        const peer = (res.socket as TLSSocket).getPeerCertificate() as unknown as HttpsResult['peer'];
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, peer }));
      },
    );
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('HTTPS request timed out')));
    req.end();
  });
}

/** The echo body of a 200 answer. */
function echoed(r: HttpResult): EchoBody {
  if (r.status !== 200) throw new Error(`expected 200, got ${r.status}: ${r.body.slice(0, 300)}`);
  return JSON.parse(r.body) as EchoBody;
}

/** `n` requests, `concurrency` at a time; who answered each. */
async function spread(n: number, send: () => Promise<HttpResult>, concurrency = 16): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let left = n;
  const worker = async () => {
    while (left-- > 0) {
      const who = answeredBy(await send());
      counts.set(who, (counts.get(who) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return counts;
}

/** Sum of the Envoy listener TLS stats ending in `.ssl.<suffix>`. */
async function listenerSsl(gateway: Sidecar, suffix: string): Promise<number> {
  let sum = 0;
  for (const [name, value] of await gateway.stats('ssl'))
    if (name.startsWith('listener.') && name.endsWith(`.ssl.${suffix}`)) sum += value;
  return sum;
}

describeWithEnvoy('virtual gateway: gateway routes on a real Envoy', (envoyBin) => {
  const upstreams = {} as Record<UpstreamName, HttpUpstream>;
  let ports: Ports;
  let pki: TestPki;
  let gateway: Sidecar;
  const initial: MeshOptions = { weights: [50, 50], priorities: [10, 20] };
  const mesh = (o: Partial<MeshOptions> = {}) => meshYaml(ports, pki, upstreams, { ...initial, ...o });

  /** GET through the gateway's plain main listener, with the Host the client sends. */
  const get = (path: string, host = 'gateway.example.com') => httpRequest(ports.main, host, { path });

  beforeAll(async () => {
    for (const name of UPSTREAMS) upstreams[name] = await startHttpUpstream(name);
    // Distinct: two listeners of one gateway on one port make the mesh invalid.
    const [main, hosts, tls, mtls] = (await freePorts(4)) as [number, number, number, number];
    ports = { main, hosts, tls, mtls };
    pki = createTestPki(
      { gateway: [GATEWAY_SAN], client: ['client.example.com'] },
      { stranger: ['client.example.com'] },
    );
    gateway = await startSidecar({
      envoyBin,
      meshYaml: mesh(),
      nodeId: NODE_ID,
      // Every listener answers (each warms on its own route configuration).
      ready: async () => {
        const answers = await Promise.all([
          httpRequest(ports.main, 'gateway.example.com', { path: '/color1', timeoutMs: 3000 }),
          httpRequest(ports.hosts, 'www.example.com', { timeoutMs: 3000 }),
          httpsRequest(ports.tls, { ca: pki.ca.certFile }),
          httpsRequest(ports.mtls, { ca: pki.ca.certFile, cert: pki.certs.client }),
        ]);
        return answers.every((a) => a.status === 200);
      },
    });
  }, 60000);

  afterAll(async () => {
    await gateway?.stop();
    for (const u of Object.values(upstreams)) await u?.close();
    removeReadableTmpDirs();
  });

  beforeEach(() => {
    for (const u of Object.values(upstreams)) u.reset();
  });

  describe('a gateway route to a weighted router', () => {
    it('splits 50/50 between color-v1 and color-v2, and follows a change to 100/0', async () => {
      const N = 400;
      let started = performance.now();
      const even = await spread(N, () => get('/color1/paint'));
      console.log(
        `gateway 50/50: ${JSON.stringify(Object.fromEntries(even))} of ${N} in ${(performance.now() - started).toFixed(0)} ms`,
      );
      expect([...even.keys()].sort()).toEqual(['color-v1', 'color-v2']);
      for (const who of ['color-v1', 'color-v2']) {
        expect(even.get(who)!).toBeGreaterThanOrEqual(N * 0.4);
        expect(even.get(who)!).toBeLessThanOrEqual(N * 0.6);
      }

      started = performance.now();
      await gateway.updateMesh(mesh({ weights: [100, 0] }));
      const synced = performance.now() - started;
      const all = await spread(200, () => get('/color1/paint'));
      console.log(
        `gateway 100/0 (synced ${synced.toFixed(0)} ms after the file was written): ${JSON.stringify(Object.fromEntries(all))}`,
      );
      expect(Object.fromEntries(all)).toEqual({ 'color-v1': 200 });

      await gateway.updateMesh(mesh());
    });
  });

  describe('rewrites, as the upstream receives the request', () => {
    const cases: [
      what: string,
      path: string,
      host: string,
      expected: { server: UpstreamName; path: string; host: string },
    ][] = [
      [
        'default: the prefix becomes / and Host the target service',
        '/color1/x?q=1',
        'gateway.example.com',
        { server: 'color-v1', path: '/x?q=1', host: COLOR },
      ],
      [
        'default: the bare prefix becomes /',
        '/color1',
        'gateway.example.com',
        { server: 'color-v1', path: '/', host: COLOR },
      ],
      [
        'default: the bare prefix with a query',
        '/color1?q=1',
        'gateway.example.com',
        { server: 'color-v1', path: '/?q=1', host: COLOR },
      ],
      [
        'prefix defaultPrefix DISABLED keeps the path',
        '/keep/x?q=1',
        'gateway.example.com',
        { server: 'echo', path: '/keep/x?q=1', host: serviceOf('echo') },
      ],
      [
        'prefix value /v2/ replaces the prefix',
        '/p/x?q=1',
        'gateway.example.com',
        { server: 'echo', path: '/v2/x?q=1', host: serviceOf('echo') },
      ],
      [
        'exact path match rewritten to another exact path',
        '/old?q=1',
        'gateway.example.com',
        { server: 'echo', path: '/new?q=1', host: serviceOf('echo') },
      ],
      [
        'hostname defaultTargetHostname DISABLED keeps the client Host',
        '/host/x?q=1',
        'shop.example.com',
        { server: 'echo', path: '/x?q=1', host: 'shop.example.com' },
      ],
    ];

    beforeAll(async () => {
      // The color split is 100/0 for these cases, so color-v1 answers every one.
      await gateway.updateMesh(mesh({ weights: [100, 0] }));
    });
    afterAll(async () => {
      await gateway.updateMesh(mesh());
    });

    it.each(cases)('%s', async (_what, path, host, expected) => {
      const body = echoed(await get(path, host));
      expect({ server: body.server, path: body.path, host: body.headers.host }).toEqual(expected);
      expect(body.headers[INTERNAL_TARGET_HEADER]).toBeUndefined();
      expect(upstreams[expected.server].requests.map((r) => r.path)).toEqual([expected.path]);
    });

    it('does not let a client pick the target with the internal header', async () => {
      // The catch-all route sends /elsewhere to echo; the header names another service.
      const r = await httpRequest(ports.main, 'gateway.example.com', {
        path: '/elsewhere',
        headers: { [INTERNAL_TARGET_HEADER]: `${serviceOf('www')}:${upstreams.www.port}` },
      });
      expect(echoed(r)).toMatchObject({ server: 'echo', path: '/elsewhere' });
      expect(upstreams.www.requests).toHaveLength(0);
    });
  });

  describe('hostname matches and priority', () => {
    const hostCases: [host: string, expected: string][] = [
      ['www.example.com', 'www'],
      ['WWW.Example.COM', 'www'],
      ['www.example.com:8443', 'www'],
      ['shop.example.org', 'org'],
      ['a.b.EXAMPLE.ORG', 'org'],
      ['shop.example.org:80', 'org'],
      ['example.net', 'HTTP 404'],
      ['api.example.com', 'HTTP 404'],
      ['www.example.com.evil', 'HTTP 404'],
    ];

    it.each(hostCases)('Host %s → %s', async (host, expected) => {
      expect(answeredBy(await httpRequest(ports.hosts, host, { path: '/anything' }))).toBe(expected);
    });

    it('a Host matching no route reaches no upstream', async () => {
      expect((await httpRequest(ports.hosts, 'example.net', { path: '/anything' })).status).toBe(404);
      expect(UPSTREAMS.flatMap((u) => upstreams[u].requests)).toHaveLength(0);
    });

    it('the lower priority number wins when two routes match, whatever the prefix length or name', async () => {
      expect(answeredBy(await get('/prio/deep'))).toBe('prio-a');
      expect(answeredBy(await get('/prio/other'))).toBe('prio-a');
      // The losing route is real: with its priority the lower one, it wins.
      await gateway.updateMesh(mesh({ priorities: [20, 10] }));
      try {
        expect(answeredBy(await get('/prio/deep'))).toBe('prio-b');
        expect(answeredBy(await get('/prio/other'))).toBe('prio-a');
      } finally {
        await gateway.updateMesh(mesh());
      }
    });
  });

  describe('TLS termination at the gateway', () => {
    it('serves an HTTPS client that trusts the test CA, with the gateway certificate', async () => {
      const r = await httpsRequest(ports.tls, { ca: pki.ca.certFile }, '/tls/x?q=1');
      expect(r.peer.subjectaltname).toBe(`DNS:${GATEWAY_SAN}`);
      expect(r.peer.issuer.CN).toBe('mesh-ca');
      expect(echoed(r)).toMatchObject({ server: 'echo', path: '/tls/x?q=1' });
    });

    it('is not trusted by a client that trusts only another CA', async () => {
      await expect(httpsRequest(ports.tls, { ca: pki.untrustedCa.certFile })).rejects.toThrow(
        /self.signed|unable to (get|verify)/i,
      );
      expect(upstreams.echo.requests).toHaveLength(0);
    });

    it('is refused by a client that expects another server name', async () => {
      await expect(httpsRequest(ports.tls, { ca: pki.ca.certFile, servername: 'other.example.com' })).rejects.toThrow(
        /altnames|Hostname/i,
      );
    });

    it('refuses plaintext HTTP on the TLS port', async () => {
      const before = await listenerSsl(gateway, 'connection_error');
      await expect(httpRequest(ports.tls, GATEWAY_SAN, { path: '/', timeoutMs: 5000 })).rejects.toThrow();
      expect(await listenerSsl(gateway, 'connection_error')).toBeGreaterThan(before);
      expect(upstreams.echo.requests).toHaveLength(0);
    });

    it('mutual TLS: serves a client with a certificate from the trusted CA', async () => {
      expect(
        echoed(await httpsRequest(ports.mtls, { ca: pki.ca.certFile, cert: pki.certs.client }, '/m')),
      ).toMatchObject({ server: 'echo', path: '/m' });
    });

    it('mutual TLS: refuses a client without a certificate', async () => {
      const before = await listenerSsl(gateway, 'fail_verify_no_cert');
      await expect(httpsRequest(ports.mtls, { ca: pki.ca.certFile })).rejects.toThrow();
      expect(await listenerSsl(gateway, 'fail_verify_no_cert')).toBeGreaterThan(before);
      expect(upstreams.echo.requests).toHaveLength(0);
    });

    it('mutual TLS: refuses a client whose certificate comes from another CA', async () => {
      const before = await listenerSsl(gateway, 'fail_verify_error');
      await expect(httpsRequest(ports.mtls, { ca: pki.ca.certFile, cert: pki.certs.stranger })).rejects.toThrow();
      expect(await listenerSsl(gateway, 'fail_verify_error')).toBeGreaterThan(before);
      expect(upstreams.echo.requests).toHaveLength(0);
    });
  });

  describe('health check', () => {
    it('answers the listener health check path itself, without an upstream seeing it', async () => {
      const r = await get(HEALTH_PATH);
      expect(r.status).toBe(200);
      expect(r.headers['x-upstream']).toBeUndefined();
      expect(UPSTREAMS.map((u) => upstreams[u].requests.length + upstreams[u].healthChecks)).toEqual(
        UPSTREAMS.map(() => 0),
      );
      // Any other path on that listener still goes through the catch-all route to an upstream.
      expect(echoed(await get('/pong'))).toMatchObject({ server: 'echo', path: '/pong' });
      // A probe with a query string is the same probe.
      const probe = await get(`${HEALTH_PATH}?from=lb`);
      expect([probe.status, probe.headers['x-upstream']]).toEqual([200, undefined]);
    });
  });

  describe("the hop cluster's stat names (App Mesh's, for dashboards and alarms)", () => {
    // App Mesh named the hop after the egress port it leads to (15001 by default; this Envoy's
    // egress port is a free one), not after the listener's port. The first http listener (main)
    // keeps that name; the second (hosts) adds its own port.
    const hopRequests = (suffix: string) =>
      gateway.stat(`cluster.cds_ingress_${MESH}_${GATEWAY}_self_redirect_http_${suffix}.upstream_rq_total`);

    it('counts a request through the first http listener under cds_ingress_<mesh>_<gateway>_self_redirect_http_<egress port>', async () => {
      const before = (await hopRequests(String(gateway.egressPort))) ?? 0;
      expect(echoed(await get('/pong'))).toMatchObject({ server: 'echo' });
      expect(await hopRequests(String(gateway.egressPort))).toBeGreaterThanOrEqual(before + 1);
      expect(await hopRequests(String(ports.main))).toBeUndefined();
    });

    it('counts a request through a later http listener under the same name plus its listener port', async () => {
      const name = `${gateway.egressPort}_${ports.hosts}`;
      const before = (await hopRequests(name)) ?? 0;
      expect(answeredBy(await httpRequest(ports.hosts, 'www.example.com', { path: '/x' }))).toBe('www');
      expect(await hopRequests(name)).toBeGreaterThanOrEqual(before + 1);
      expect(await hopRequests(String(ports.hosts))).toBeUndefined();
    });
  });

  describe('meshd status', () => {
    it('lists the gateway, by its node id, running its latest configuration', async () => {
      const out = execFileSync(
        process.execPath,
        [MESHD_BIN, 'status', '--admin', `127.0.0.1:${gateway.meshdAdminPort}`],
        { encoding: 'utf8' },
      );
      const row = out.split('\n').find((l) => l.startsWith(NODE_ID));
      // CDS, EDS, LDS, RDS: no Cloud Map target here, so no EDS subscription.
      expect(row?.trim().split(/\s+/).slice(-4)).toEqual(['SYNCED', '-', 'SYNCED', 'SYNCED']);
    });
  });
});
