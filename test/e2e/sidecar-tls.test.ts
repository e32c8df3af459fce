// TLS and mutual TLS between two real sidecars, with certificates the test makes. The callee
// (app on 127.0.0.1 inside its namespace, App Mesh's ingress capture rule sending its ports
// to its Envoy on 15000) terminates TLS as its listeners' `tls` says; each caller is an Envoy
// in the root namespace in explicit mode whose backend clientPolicy.tls says how it
// originates TLS. The test talks plain HTTP to a caller's egress port, naming the service.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createTestPki, type TestPki } from '../helpers/certs';
import { describeWithNetns, readableTmpDir, removeReadableTmpDirs } from '../helpers/netns';
import { waitFor } from '../helpers/processes';
import {
  envoyStats,
  sslCounter,
  request,
  startCallee,
  startMeshdForNetns,
  startSidecarOnHost,
  type Callee,
  type HostSidecar,
  type HttpResult,
  type MeshdForNetns,
} from '../helpers/sidecars';

const MESH = 'tls';
const STRICT_PORT = 8080; // STRICT TLS, any client
const MUTUAL_PORT = 8443; // STRICT TLS, client certificate with SAN caller.tls.local required
const PERMISSIVE_PORT = 8081; // PERMISSIVE: TLS or plaintext
const STRICT_SERVICE = 'strict.tls.local';
const MUTUAL_SERVICE = 'mutual.tls.local';
const PERMISSIVE_SERVICE = 'permissive.tls.local';
const CALLEE_SAN = 'callee.tls.local';
const CALLER_SAN = 'caller.tls.local';

function file(chain: string, key?: string): string {
  return key
    ? `{ file: { certificateChain: ${chain}, privateKey: ${key} } }`
    : `{ file: { certificateChain: ${chain} } }`;
}

/** A backend entry; `tls` is the clientPolicy.tls body or undefined for plaintext. */
function backend(service: string, tls?: string): string {
  return tls
    ? `    - virtualService: { virtualServiceName: ${service}, clientPolicy: { tls: ${tls} } }`
    : `    - virtualService: { virtualServiceName: ${service} }`;
}

function router(name: string, service: string, port: number): string {
  return `---
kind: VirtualRouter
mesh: ${MESH}
name: ${name}
spec: { listeners: [{ portMapping: { port: ${port}, protocol: http } }] }
---
kind: Route
mesh: ${MESH}
virtualRouter: ${name}
name: to-callee
spec:
  httpRoute:
    match: { prefix: / }
    action: { weightedTargets: [{ virtualNode: callee, weight: 1, port: ${port} }] }
---
kind: VirtualService
mesh: ${MESH}
name: ${service}
spec: { provider: { virtualRouter: { virtualRouterName: ${name} } } }
`;
}

function caller(name: string, backends: string[]): string {
  return `---
kind: VirtualNode
mesh: ${MESH}
name: ${name}
spec:
  backends:
${backends.join('\n')}
`;
}

function meshYaml(pki: TestPki, calleeIp: string): string {
  const c = pki.certs;
  const trustMeshCa = `validation: { trust: ${file(pki.ca.certFile)}, subjectAlternativeNames: { match: { exact: [${CALLEE_SAN}] } } }`;
  const trustOtherCa = `validation: { trust: ${file(pki.untrustedCa.certFile)}, subjectAlternativeNames: { match: { exact: [${CALLEE_SAN}] } } }`;
  const expectOtherSan = `validation: { trust: ${file(pki.ca.certFile)}, subjectAlternativeNames: { match: { exact: [someone-else.tls.local] } } }`;
  return `kind: Mesh
name: ${MESH}
---
kind: VirtualNode
mesh: ${MESH}
name: callee
spec:
  listeners:
    - portMapping: { port: ${STRICT_PORT}, protocol: http }
      tls: { mode: STRICT, certificate: ${file(c.callee!.certFile, c.callee!.keyFile)} }
    - portMapping: { port: ${MUTUAL_PORT}, protocol: http }
      tls:
        mode: STRICT
        certificate: ${file(c.callee!.certFile, c.callee!.keyFile)}
        validation: { trust: ${file(pki.ca.certFile)}, subjectAlternativeNames: { match: { exact: [${CALLER_SAN}] } } }
    - portMapping: { port: ${PERMISSIVE_PORT}, protocol: http }
      tls: { mode: PERMISSIVE, certificate: ${file(c.callee!.certFile, c.callee!.keyFile)} }
  serviceDiscovery: { dns: { hostname: ${calleeIp} } }
${router('strict', STRICT_SERVICE, STRICT_PORT)}${router('mutual', MUTUAL_SERVICE, MUTUAL_PORT)}${router('permissive', PERMISSIVE_SERVICE, PERMISSIVE_PORT)}${caller(
    'plain',
    [backend(STRICT_SERVICE), backend(PERMISSIVE_SERVICE)],
  )}${caller('trusting', [backend(STRICT_SERVICE, `{ ${trustMeshCa} }`), backend(PERMISSIVE_SERVICE, `{ ${trustMeshCa} }`)])}${caller('wrong-ca', [backend(STRICT_SERVICE, `{ ${trustOtherCa} }`)])}${caller(
    'wrong-server-san',
    [backend(STRICT_SERVICE, `{ ${expectOtherSan} }`)],
  )}${caller('mutual', [backend(MUTUAL_SERVICE, `{ certificate: ${file(c.caller!.certFile, c.caller!.keyFile)}, ${trustMeshCa} }`)])}${caller(
    'no-cert',
    [backend(MUTUAL_SERVICE, `{ ${trustMeshCa} }`)],
  )}${caller('wrong-client-san', [backend(MUTUAL_SERVICE, `{ certificate: ${file(c.intruder!.certFile, c.intruder!.keyFile)}, ${trustMeshCa} }`)])}${caller(
    'untrusted-client',
    [backend(MUTUAL_SERVICE, `{ certificate: ${file(c.impostor!.certFile, c.impostor!.keyFile)}, ${trustMeshCa} }`)],
  )}`;
}

const CALLERS = [
  'plain',
  'trusting',
  'wrong-ca',
  'wrong-server-san',
  'mutual',
  'no-cert',
  'wrong-client-san',
  'untrusted-client',
] as const;
type CallerName = (typeof CALLERS)[number];

describeWithNetns(
  'sidecar TLS: listener tls terminates at the callee, clientPolicy.tls originates at the caller',
  (envoyBin) => {
    let pki: TestPki;
    let meshd: MeshdForNetns;
    let callee: Callee;
    const callers = new Map<CallerName, HostSidecar>();

    /**
     * GET through a caller once its Envoy has the route (not 404, not refused): that is the
     * answer a user of that caller sees.
     */
    async function via(name: CallerName, service: string): Promise<HttpResult> {
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

    /** The callee's TLS listener stats: handshakes and why handshakes failed. */
    const calleeSsl = async () => {
      const stats = await envoyStats(callee.sidecar.adminHost, callee.sidecar.adminPort, 'ssl');
      return {
        handshakes: sslCounter(stats, 'listener', 'handshake'),
        errors: sslCounter(stats, 'listener', 'connection_error'),
        noCert: sslCounter(stats, 'listener', 'fail_verify_no_cert'),
        badSan: sslCounter(stats, 'listener', 'fail_verify_san'),
        badCert: sslCounter(stats, 'listener', 'fail_verify_error'),
      };
    };

    /** A caller's TLS stats on its egress clusters: why it rejected the callee. */
    const callerSsl = async (name: CallerName) => {
      const stats = await envoyStats('127.0.0.1', callers.get(name)!.adminPort, 'ssl');
      return {
        badCert: sslCounter(stats, 'cluster', 'fail_verify_error'),
        badSan: sslCounter(stats, 'cluster', 'fail_verify_san'),
      };
    };

    // Envoy's 503 body does not say why: after the default retries it only reports the
    // latest reset reason ("remote connection failure"). The stats say why.
    const expectRefused = (r: HttpResult) => {
      expect(r.status).toBe(503);
      expect(r.body).not.toContain('callee:');
    };

    beforeAll(async () => {
      pki = createTestPki(
        { callee: [CALLEE_SAN], caller: [CALLER_SAN], intruder: ['intruder.tls.local'] },
        { impostor: [CALLER_SAN] },
      );
      const meshFile = path.join(readableTmpDir(), 'mesh.yaml');
      // The callee's address is only known once its namespace exists; meshd starts first on a
      // placeholder and the file is rewritten (meshd watches it).
      fs.writeFileSync(meshFile, meshYaml(pki, '127.0.0.1'));
      meshd = await startMeshdForNetns(meshFile);
      callee = await startCallee({
        envoyBin,
        nodeId: `mesh/${MESH}/virtualNode/callee`,
        xdsPort: meshd.xdsPort,
        appName: 'callee',
        appPorts: [STRICT_PORT, MUTUAL_PORT, PERMISSIVE_PORT],
        beforeSidecar: (ns) => fs.writeFileSync(meshFile, meshYaml(pki, ns.nsIp)),
      });
      await waitFor(
        'meshd to serve the callee address',
        async () =>
          (
            await request({
              host: '127.0.0.1',
              port: meshd.adminPort,
              path: `/v1/config/${encodeURIComponent(`mesh/${MESH}/virtualNode/trusting`)}`,
            })
          ).body.includes(callee.ns.nsIp)
            ? true
            : undefined,
        15000,
        50,
      );
      for (const name of CALLERS)
        callers.set(name, await startSidecarOnHost(envoyBin, `mesh/${MESH}/virtualNode/${name}`, meshd.xdsPort));
      // The callee's ingress must be up before any case is judged.
      await waitFor(
        'the callee ingress to accept TLS from the trusting caller',
        async () => ((await via('trusting', STRICT_SERVICE)).status === 200 ? true : undefined),
        20000,
        100,
      ).catch(async (err: Error) => {
        const r = await via('trusting', STRICT_SERVICE).catch((e: Error) => e.message);
        throw new Error(`${err.message}; last answer: ${JSON.stringify(r)}`);
      });
    });

    afterAll(async () => {
      await Promise.all([...callers.values()].map((c) => c.stop()));
      await callee?.destroy();
      await meshd?.stop();
      removeReadableTmpDirs();
    });

    describe('STRICT TLS listener', () => {
      it('serves a caller that trusts the mesh CA and expects the callee SAN', async () => {
        const r = await via('trusting', STRICT_SERVICE);
        expect(r).toMatchObject({ status: 200, body: `callee:${STRICT_PORT}` });
        expect((await calleeSsl()).handshakes).toBeGreaterThan(0);
      });

      it('refuses plaintext from a caller without clientPolicy.tls', async () => {
        const before = await calleeSsl();
        expectRefused(await via('plain', STRICT_SERVICE));
        expect((await calleeSsl()).errors).toBeGreaterThan(before.errors);
      });

      it('is refused by a caller that trusts only another CA', async () => {
        expectRefused(await via('wrong-ca', STRICT_SERVICE));
        expect((await callerSsl('wrong-ca')).badCert).toBeGreaterThan(0);
      });

      it('is refused by a caller that expects another SAN', async () => {
        expectRefused(await via('wrong-server-san', STRICT_SERVICE));
        expect((await callerSsl('wrong-server-san')).badSan).toBeGreaterThan(0);
      });
    });

    describe('mutual TLS listener (validation.trust + subjectAlternativeNames)', () => {
      it('serves a caller presenting a mesh-CA certificate with the expected SAN', async () => {
        expect(await via('mutual', MUTUAL_SERVICE)).toMatchObject({ status: 200, body: `callee:${MUTUAL_PORT}` });
      });

      it('refuses a caller without a client certificate', async () => {
        const before = await calleeSsl();
        expectRefused(await via('no-cert', MUTUAL_SERVICE));
        expect((await calleeSsl()).noCert).toBeGreaterThan(before.noCert);
      });

      it('refuses a caller whose certificate has another SAN', async () => {
        const before = await calleeSsl();
        expectRefused(await via('wrong-client-san', MUTUAL_SERVICE));
        expect((await calleeSsl()).badSan).toBeGreaterThan(before.badSan);
      });

      it('refuses a caller whose certificate (right SAN) comes from an untrusted CA', async () => {
        const before = await calleeSsl();
        expectRefused(await via('untrusted-client', MUTUAL_SERVICE));
        expect((await calleeSsl()).badCert).toBeGreaterThan(before.badCert);
      });
    });

    describe('PERMISSIVE TLS listener', () => {
      it('serves plaintext callers', async () => {
        expect(await via('plain', PERMISSIVE_SERVICE)).toMatchObject({
          status: 200,
          body: `callee:${PERMISSIVE_PORT}`,
        });
      });

      it('serves TLS callers over TLS', async () => {
        const before = await calleeSsl();
        expect(await via('trusting', PERMISSIVE_SERVICE)).toMatchObject({
          status: 200,
          body: `callee:${PERMISSIVE_PORT}`,
        });
        expect((await calleeSsl()).handshakes).toBeGreaterThan(before.handshakes);
      });
    });
  },
  { needs: ['openssl'] },
);
