// meshd's mTLS by default, with real Envoys and certificates no one wrote to disk: a mesh with
// `spec.meshd: { mtls: STRICT }`, a callee in a network namespace (App Mesh's capture rules
// sending its port to its Envoy) and callers as Envoys on the host. meshd's xDS listens on
// loopback, where it serves workload certificates as SDS secrets (meshd/identity,
// meshd/trust-bundle); the callee's namespace reaches it through a TCP relay on its veth.
// Each case is judged by what a user sees (the answer through the caller) and by Envoy's own
// ssl stats, which say why a handshake failed.
//
// Also App Mesh's ACM walkthrough (howto-k8s-tls-acm) in the same meshd: listeners with an ACM
// certificate, callers whose client policy trusts an ACM Private CA; both map to meshd's CA.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { envoyValidate } from '../helpers/envoy';
import { describeWithNetns, readableTmpDir, removeReadableTmpDirs } from '../helpers/netns';
import { freePort, MESHD_BIN, waitFor } from '../helpers/processes';
import {
  envoyStats,
  sslCounter,
  relayXdsToNetns,
  request,
  startCallee,
  startMeshdForNetns,
  startSidecarOnHost,
  type Callee,
  type HostSidecar,
  type HttpResult,
  type MeshdForNetns,
} from '../helpers/sidecars';

const MESH = 'mtls';
const TRUST_DOMAIN = 'meshd.local'; // the default
const PORT = 8080;
const SERVICE = 'callee.mtls.local';
const CALLEE_ID = `spiffe://${TRUST_DOMAIN}/mesh/${MESH}/virtualNode/callee`;
// Any ACM Private CA ARN means meshd's CA (docs/identity.md).
const PCA_ARN = 'arn:aws:acm-pca:us-west-2:111122223333:certificate-authority/0b1a2c3d-example';
const ACM_TRUST = `{ acm: { certificateAuthorityArns: ["${PCA_ARN}"] } }`;

// howto-k8s-tls-acm, in meshd's file format (its names, one colorteller).
const ACM_MESH = 'howto-k8s-tls-acm';
const ACM_PORT = 9080;
const ACM_SERVICE = 'colorteller.howto-k8s-tls-acm.svc.cluster.local';
const ACM_CERT_ARN = 'arn:aws:acm:us-west-2:111122223333:certificate/8d2a3b4c-example';

interface IssuedFiles {
  chain: string;
  key: string;
}

function caller(name: string, tls?: string, mesh = MESH, service = SERVICE): string {
  const backend = tls
    ? `{ virtualService: { virtualServiceName: ${service}, clientPolicy: { tls: ${tls} } } }`
    : `{ virtualService: { virtualServiceName: ${service} } }`;
  return `---
kind: VirtualNode
mesh: ${mesh}
name: ${name}
spec: { backends: [${backend}] }
`;
}

const fileCert = (f: IssuedFiles) => `{ file: { certificateChain: ${f.chain}, privateKey: ${f.key} } }`;

/**
 * The ingress gateway's listener port (howto-ingress-gateway's first stage, in the ACM mesh): a
 * free port of the host, where the gateway Envoy runs.
 */
let gatewayPort = 8088;

function meshYaml(calleeIp: string, acmIp: string, files?: { otherMesh: IssuedFiles; ownMesh: IssuedFiles }): string {
  return `kind: Mesh
name: ${MESH}
spec: { meshd: { mtls: STRICT } }
---
kind: VirtualNode
mesh: ${MESH}
name: callee
spec:
  listeners: [{ portMapping: { port: ${PORT}, protocol: http } }]
  serviceDiscovery: { dns: { hostname: ${calleeIp} } }
---
kind: VirtualService
mesh: ${MESH}
name: ${SERVICE}
spec: { provider: { virtualNode: { virtualNodeName: callee } } }
${caller('plain')}${caller('no-cert', `{ validation: { trust: ${ACM_TRUST} } }`)}${caller(
    'wrong-server-san',
    `{ validation: { trust: ${ACM_TRUST}, subjectAlternativeNames: { match: { exact: ["spiffe://${TRUST_DOMAIN}/mesh/${MESH}/virtualNode/someone-else"] } } } }`,
  )}${
    files
      ? `${caller('other-mesh-cert', `{ certificate: ${fileCert(files.otherMesh)}, validation: { trust: ${ACM_TRUST} } }`)}${caller(
          'own-mesh-cert',
          `{ certificate: ${fileCert(files.ownMesh)}, validation: { trust: ${ACM_TRUST} } }`,
        )}`
      : ''
  }---
kind: Mesh
name: other
spec: { meshd: { mtls: STRICT } }
---
kind: VirtualNode
mesh: other
name: x
spec: {}
---
kind: Mesh
name: ${ACM_MESH}
---
kind: VirtualNode
mesh: ${ACM_MESH}
name: colorteller-white
spec:
  listeners:
    - portMapping: { port: ${ACM_PORT}, protocol: http }
      healthCheck: { protocol: http, path: /ping, healthyThreshold: 2, unhealthyThreshold: 2, timeoutMillis: 2000, intervalMillis: 5000 }
      tls:
        mode: STRICT
        certificate: { acm: { certificateArn: "${ACM_CERT_ARN}" } }
  serviceDiscovery: { dns: { hostname: ${acmIp} } }
---
kind: VirtualRouter
mesh: ${ACM_MESH}
name: colorteller
spec: { listeners: [{ portMapping: { port: ${ACM_PORT}, protocol: http } }] }
---
kind: Route
mesh: ${ACM_MESH}
virtualRouter: colorteller
name: colorteller-route
spec:
  httpRoute:
    match: { prefix: / }
    action: { weightedTargets: [{ virtualNode: colorteller-white, weight: 1 }] }
---
kind: VirtualService
mesh: ${ACM_MESH}
name: ${ACM_SERVICE}
spec: { provider: { virtualRouter: { virtualRouterName: colorteller } } }
---
kind: VirtualNode
mesh: ${ACM_MESH}
name: front
spec:
  backendDefaults:
    clientPolicy:
      tls:
        validation:
          trust: ${ACM_TRUST}
  backends: [{ virtualService: { virtualServiceName: ${ACM_SERVICE} } }]
${caller('nopolicy', undefined, ACM_MESH, ACM_SERVICE)}---
kind: VirtualGateway
mesh: ${ACM_MESH}
name: ingress-gw
spec: { listeners: [{ portMapping: { port: ${gatewayPort}, protocol: http } }] }
---
kind: GatewayRoute
mesh: ${ACM_MESH}
virtualGateway: ingress-gw
name: gateway-route-color
spec:
  httpRoute:
    match: { prefix: /color }
    action: { target: { virtualService: { virtualServiceName: ${ACM_SERVICE} } } }
`;
}

const CALLERS = [
  ['plain', MESH],
  ['no-cert', MESH],
  ['wrong-server-san', MESH],
  ['other-mesh-cert', MESH],
  ['own-mesh-cert', MESH],
  ['front', ACM_MESH],
  ['nopolicy', ACM_MESH],
] as const;
type CallerName = (typeof CALLERS)[number][0];

/** Envoy's /certs: what each TLS context holds, and where it came from (`<inline>` for SDS). */
interface EnvoyCerts {
  certificates: Array<{
    ca_cert: Array<{ path: string; subject_alt_names?: Array<{ uri?: string; dns?: string }> }>;
    cert_chain: Array<{ path: string; subject_alt_names?: Array<{ uri?: string; dns?: string }> }>;
  }>;
}

interface DynamicSecret {
  name: string;
  secret: {
    tls_certificate?: { certificate_chain?: { inline_bytes?: string }; private_key?: unknown };
    validation_context?: { trusted_ca?: { inline_bytes?: string } };
  };
}

describeWithNetns('mesh-wide mTLS (spec.meshd.mtls: STRICT) and ACM sources, served by meshd over SDS', (envoyBin) => {
  let meshd: MeshdForNetns;
  let callee: Callee;
  let acmCallee: Callee;
  const relays: Array<{ close(): Promise<void> }> = [];
  const callers = new Map<CallerName, HostSidecar>();
  let meshFile: string;
  let bundlePem: string;
  let gateway: HostSidecar;

  async function via(name: CallerName, service = SERVICE): Promise<HttpResult> {
    const sidecar = callers.get(name)!;
    return waitFor(
      `caller ${name} to have a route to ${service}`,
      async () => {
        const r = await request({ host: '127.0.0.1', port: sidecar.egressPort, headers: { host: service } }).catch(
          () => undefined,
        );
        return r && r.status !== 404 ? r : undefined;
      },
      20000,
      50,
    );
  }

  /** A callee's ingress TLS stats: handshakes and why handshakes failed. */
  const calleeSsl = async (c: Callee = callee) => {
    const stats = await envoyStats(c.sidecar.adminHost, c.sidecar.adminPort, 'ssl');
    return {
      handshakes: sslCounter(stats, 'listener', 'handshake'),
      // Handshakes that succeeded without a client certificate (allowed only without validation).
      noClientCert: sslCounter(stats, 'listener', 'no_certificate'),
      errors: sslCounter(stats, 'listener', 'connection_error'),
      noCert: sslCounter(stats, 'listener', 'fail_verify_no_cert'),
      badSan: sslCounter(stats, 'listener', 'fail_verify_san'),
      badCert: sslCounter(stats, 'listener', 'fail_verify_error'),
    };
  };

  /** A caller's TLS stats on its egress clusters. */
  const callerSsl = async (name: CallerName) => {
    const stats = await envoyStats('127.0.0.1', callers.get(name)!.adminPort, 'ssl');
    return {
      handshakes: sslCounter(stats, 'cluster', 'handshake'),
      badSan: sslCounter(stats, 'cluster', 'fail_verify_san'),
    };
  };

  const adminJson = async <T>(host: string, port: number, p: string): Promise<T> => {
    const r = await request({ host, port, path: p });
    if (r.status !== 200) throw new Error(`GET ${p} from ${host}:${port}: ${r.status} ${r.body}`);
    return JSON.parse(r.body) as T;
  };

  /**
   * Requests through `name` until `counter` (an Envoy ssl stat) has moved past its value before:
   * every answer on the way must be a refusal (503, never the app's), and the stat says why.
   */
  async function expectRefused(name: CallerName, counter: () => Promise<number>): Promise<void> {
    const before = await counter();
    let last: HttpResult | undefined;
    const outcome = await waitFor(
      `a request through ${name} to be refused and counted`,
      async () => {
        last = await via(name);
        // A request served ends the wait at once: the case failed.
        if (last.status !== 503 || last.body.includes('callee:')) return 'served';
        return (await counter()) > before ? 'refused and counted' : undefined;
      },
      20000,
      200,
    ).catch((err: Error) => `${err.message}; the stat stayed at ${before}`);
    expect({ outcome, last }).toMatchObject({ outcome: 'refused and counted', last: { status: 503 } });
  }

  /** Requests through `name` until one is served (a cluster still warming may answer 503 first). */
  const expectServed = (name: CallerName, service: string, body: string) =>
    waitFor(
      `${name} to be served by ${service}`,
      async () => {
        const r = await via(name, service);
        return r.status === 200 && r.body === body ? r : undefined;
      },
      20000,
      100,
    );

  /** A certificate and key from meshd's CA for `node` (POST /v1/ca/issue), as files for a `file` source. */
  async function issue(node: string, dir: string): Promise<IssuedFiles> {
    const res = await fetch(`http://127.0.0.1:${meshd.adminPort}/v1/ca/issue`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ node }),
    });
    const body = (await res.json()) as { certificateChain: string; privateKey: string };
    if (res.status !== 201) throw new Error(`issue ${node}: ${res.status} ${JSON.stringify(body)}`);
    const base = node.replace(/\//g, '_');
    const files = { chain: path.join(dir, `${base}.pem`), key: path.join(dir, `${base}.key`) };
    fs.writeFileSync(files.chain, body.certificateChain);
    fs.writeFileSync(files.key, body.privateKey, { mode: 0o600 });
    return files;
  }

  beforeAll(async () => {
    gatewayPort = await freePort();
    const dir = readableTmpDir();
    meshFile = path.join(dir, 'mesh.yaml');
    // The callees' addresses are known once their namespaces exist: meshd starts on placeholders
    // and the file is rewritten (meshd watches it).
    fs.writeFileSync(meshFile, meshYaml('127.0.0.1', '127.0.0.1'));
    meshd = await startMeshdForNetns(meshFile, { xdsAddress: '127.0.0.1' });
    bundlePem = (await request({ host: '127.0.0.1', port: meshd.adminPort, path: '/v1/ca/bundle.pem' })).body;
    expect(bundlePem).toContain('BEGIN CERTIFICATE');
    const files = {
      otherMesh: await issue('mesh/other/virtualNode/x', dir),
      ownMesh: await issue(`mesh/${MESH}/virtualNode/friend`, dir),
    };
    let calleeIp = '127.0.0.1';
    callee = await startCallee({
      envoyBin,
      nodeId: `mesh/${MESH}/virtualNode/callee`,
      xdsPort: meshd.xdsPort,
      appName: 'callee',
      appPorts: [PORT],
      beforeSidecar: async (ns) => {
        calleeIp = ns.nsIp;
        fs.writeFileSync(meshFile, meshYaml(calleeIp, '127.0.0.1', files));
        relays.push(await relayXdsToNetns(ns, meshd.xdsPort));
      },
    });
    acmCallee = await startCallee({
      envoyBin,
      nodeId: `mesh/${ACM_MESH}/virtualNode/colorteller-white`,
      xdsPort: meshd.xdsPort,
      appName: 'white',
      appPorts: [ACM_PORT],
      beforeSidecar: async (ns) => {
        fs.writeFileSync(meshFile, meshYaml(calleeIp, ns.nsIp, files));
        relays.push(await relayXdsToNetns(ns, meshd.xdsPort));
      },
    });
    await waitFor(
      'meshd to serve both callee addresses',
      async () => {
        const body = (
          await request({
            host: '127.0.0.1',
            port: meshd.adminPort,
            path: `/v1/config/${encodeURIComponent(`mesh/${ACM_MESH}/virtualNode/front`)}`,
          })
        ).body;
        const other = (
          await request({
            host: '127.0.0.1',
            port: meshd.adminPort,
            path: `/v1/config/${encodeURIComponent(`mesh/${MESH}/virtualNode/own-mesh-cert`)}`,
          })
        ).body;
        return body.includes(acmCallee.ns.nsIp) && other.includes(callee.ns.nsIp) ? true : undefined;
      },
      15000,
      50,
    );
    for (const [name, mesh] of CALLERS)
      callers.set(name, await startSidecarOnHost(envoyBin, `mesh/${mesh}/virtualNode/${name}`, meshd.xdsPort));
    gateway = await startSidecarOnHost(envoyBin, `mesh/${ACM_MESH}/virtualGateway/ingress-gw`, meshd.xdsPort);
    // Every caller trusts meshd's bundle: once each holds it, no case is judged on a warming cluster.
    for (const [name, port] of [
      ...[...callers].map(([n, c]) => [n, c.adminPort] as const),
      ['gateway', gateway.adminPort] as const,
    ])
      await waitFor(
        `${name} to hold meshd/trust-bundle`,
        async () =>
          (
            await request({ host: '127.0.0.1', port, path: '/config_dump?resource=dynamic_active_secrets' })
          ).body.includes('"meshd/trust-bundle"')
            ? true
            : undefined,
        20000,
        100,
      );
    await waitFor(
      'the callee to accept mTLS from a caller with no client policy',
      async () => ((await via('plain')).status === 200 ? true : undefined),
      30000,
      100,
    ).catch(async (err: Error) => {
      const r = await via('plain').catch((e: Error) => e.message);
      throw new Error(`${err.message}; last answer: ${JSON.stringify(r)}\nmeshd: ${meshd.meshd.stderr()}`);
    });
  }, 120000);

  afterAll(async () => {
    await Promise.all([...callers.values(), ...(gateway ? [gateway] : [])].map((c) => c.stop()));
    await callee?.destroy();
    await acmCallee?.destroy();
    await Promise.all(relays.map((r) => r.close()));
    await meshd?.stop();
    removeReadableTmpDirs();
  });

  describe('mTLS by default', () => {
    it('a caller with no client policy reaches the callee over mutual TLS', async () => {
      for (let i = 0; i < 3; i++) expect(await via('plain')).toMatchObject({ status: 200, body: `callee:${PORT}` });
      const calleeStats = await calleeSsl();
      // Only this caller has talked to the callee yet (beforeAll): its handshakes are these.
      expect(calleeStats.handshakes).toBeGreaterThan(0);
      expect((await callerSsl('plain')).handshakes).toBeGreaterThan(0);
      // Mutual: every handshake came with a client certificate, and each was verified.
      expect(calleeStats.noClientCert).toBe(0);
      expect(calleeStats.noCert + calleeStats.badSan + calleeStats.badCert + calleeStats.errors).toBe(0);
    });

    it.each([
      ['caller', 'plain', `spiffe://${TRUST_DOMAIN}/mesh/${MESH}/virtualNode/plain`],
      ['callee', 'callee', CALLEE_ID],
    ] as const)(
      'the %s holds meshd/identity (its SPIFFE ID) and meshd/trust-bundle from SDS, never from a file',
      async (_role, name, spiffeId) => {
        const [host, port] =
          name === 'callee'
            ? [callee.sidecar.adminHost, callee.sidecar.adminPort]
            : ['127.0.0.1', callers.get(name)!.adminPort];
        const dump = await adminJson<{ configs: DynamicSecret[] }>(
          host,
          port,
          '/config_dump?resource=dynamic_active_secrets',
        );
        const byName = new Map(dump.configs.map((s) => [s.name, s.secret]));
        expect([...byName.keys()].sort()).toEqual(['meshd/identity', 'meshd/trust-bundle']);
        const identity = byName.get('meshd/identity')!.tls_certificate!;
        expect(Buffer.from(identity.certificate_chain!.inline_bytes!, 'base64').toString()).toContain(
          'BEGIN CERTIFICATE',
        );
        const trusted = byName.get('meshd/trust-bundle')!.validation_context!.trusted_ca!.inline_bytes!;
        expect(Buffer.from(trusted, 'base64').toString().trim()).toBe(bundlePem.trim());

        // /certs: the certificate in use carries the proxy's SPIFFE ID and came inline (SDS), not from a path.
        const certs = await adminJson<EnvoyCerts>(host, port, '/certs');
        const chains = certs.certificates.flatMap((c) => c.cert_chain);
        const own = chains.filter((c) => c.subject_alt_names?.some((s) => s.uri === spiffeId));
        expect(own.length).toBeGreaterThan(0);
        for (const c of chains) expect(c.path).toBe('<inline>');
        for (const c of certs.certificates.flatMap((x) => x.ca_cert)) expect(c.path).toBe('<inline>');
        // Nothing in its TLS configuration names a file.
        const all = await request({ host, port, path: '/config_dump' });
        expect(all.body).not.toMatch(/"filename"/);
      },
    );

    it('refuses a client without a certificate (its explicit client policy has trust but no certificate)', async () => {
      await expectRefused('no-cert', async () => (await calleeSsl()).noCert);
    });

    it("refuses a client whose certificate (from meshd's CA) names another mesh's SPIFFE ID", async () => {
      const before = await calleeSsl();
      await expectRefused('other-mesh-cert', async () => (await calleeSsl()).badSan);
      // The same CA, so not a chain failure: the SPIFFE ID alone was refused.
      expect((await calleeSsl()).badCert).toBe(before.badCert);
    });

    it("serves a client whose file certificate from meshd's CA names a node of the callee's mesh", async () => {
      await expectServed('own-mesh-cert', SERVICE, `callee:${PORT}`);
    });

    it("is refused by a caller that expects another SPIFFE ID than the callee's", async () => {
      await expectRefused('wrong-server-san', async () => (await callerSsl('wrong-server-san')).badSan);
    });
  });

  describe('App Mesh howto-k8s-tls-acm: ACM certificate and ACM Private CA trust', () => {
    const RENDERED = [
      [`mesh/${ACM_MESH}/virtualNode/colorteller-white`, ['meshd/identity']],
      [`mesh/${ACM_MESH}/virtualNode/front`, ['meshd/trust-bundle']],
      [`mesh/${ACM_MESH}/virtualNode/nopolicy`, ['meshd/trust-bundle']],
      [`mesh/${ACM_MESH}/virtualGateway/ingress-gw`, ['meshd/trust-bundle']],
      [`mesh/${MESH}/virtualNode/callee`, ['meshd/identity', 'meshd/trust-bundle']],
      [`mesh/${MESH}/virtualNode/plain`, ['meshd/identity', 'meshd/trust-bundle']],
    ] as const;
    const HOSTNAMES = 'Kubernetes DNS names';
    // The running mesh's hostnames are the namespaces' IPs: a DNS cluster to an IP whose secrets
    // come over ADS once crashed Envoy 1.40's validate mode (static-bootstrap.ts).
    const IPS = "this run's IP addresses";

    it.each(RENDERED.flatMap(([node, secrets]) => [HOSTNAMES, IPS].map((form) => [node, form, secrets] as const)))(
      '`meshd render --static` of %s (hostnames: %s; SDS secrets %j) passes envoy --mode validate',
      (node, form, secrets) => {
        let file = meshFile;
        if (form === HOSTNAMES) {
          file = path.join(readableTmpDir(), 'walkthrough.yaml');
          fs.writeFileSync(
            file,
            meshYaml(`callee.${MESH}.svc.cluster.local`, `colorteller-white.${ACM_MESH}.svc.cluster.local`),
          );
        }
        const yaml = execFileSync(process.execPath, [MESHD_BIN, 'render', '--mesh', file, '--node', node, '--static'], {
          encoding: 'utf8',
        });
        // Only the secrets the node needs: an ACM listener without validation asks no client certificate.
        expect([...new Set(yaml.match(/meshd\/(identity|trust-bundle)/g))].sort()).toEqual(secrets);
        const result = envoyValidate(envoyBin, yaml);
        expect(result.ok ? 'OK' : result.output).toBe('OK');
      },
    );

    it.each([['front'], ['nopolicy']] as const)(
      '%s reaches colorteller-white over TLS with the certificate meshd issued for its ACM ARN',
      async (name) => {
        const before = await calleeSsl(acmCallee);
        await expectServed(name, ACM_SERVICE, `white:${ACM_PORT}`);
        expect((await calleeSsl(acmCallee)).handshakes).toBeGreaterThan(before.handshakes);
        expect((await callerSsl(name)).handshakes).toBeGreaterThan(0);
      },
    );

    it('the ingress gateway (howto-ingress-gateway, first stage) reaches colorteller-white over TLS', async () => {
      const before = await calleeSsl(acmCallee);
      const r = await waitFor(
        'the gateway to route /color',
        async () => {
          const res = await request({ host: '127.0.0.1', port: gatewayPort, path: '/color' }).catch(() => undefined);
          return res && res.status !== 404 ? res : undefined;
        },
        20000,
        50,
      );
      expect(r).toMatchObject({ status: 200, body: `white:${ACM_PORT}` });
      expect((await calleeSsl(acmCallee)).handshakes).toBeGreaterThan(before.handshakes);
      const stats = await envoyStats('127.0.0.1', gateway.adminPort, 'ssl');
      expect(sslCounter(stats, 'cluster', 'handshake')).toBeGreaterThan(0);
    });

    it("colorteller-white's certificate carries its DNS name (App Mesh's requirement) and came from SDS", async () => {
      const certs = await adminJson<EnvoyCerts>(acmCallee.sidecar.adminHost, acmCallee.sidecar.adminPort, '/certs');
      const chains = certs.certificates.flatMap((c) => c.cert_chain);
      expect(chains.length).toBeGreaterThan(0);
      for (const c of chains) {
        expect(c.path).toBe('<inline>');
        expect(c.subject_alt_names).toEqual(
          expect.arrayContaining([
            { dns: acmCallee.ns.nsIp },
            { uri: `spiffe://${TRUST_DOMAIN}/mesh/${ACM_MESH}/virtualNode/colorteller-white` },
          ]),
        );
      }
    });
  });
});
