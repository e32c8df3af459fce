// App Mesh's SPIRE convention end to end: `sds` certificate and trust sources compile to the
// Unix-socket SDS cluster (static_cluster_sds_unix_socket, which `meshd bootstrap
// --sds-socket-path` adds), and two real Envoys fetch their X.509-SVIDs and the trust bundle
// from that socket, then talk mutual TLS, checking each other's SPIFFE IDs.
//
// No SPIRE agent runs here: meshd's own SDS server bound to a Unix socket
// (test/helpers/sds-agent.ts) stands in for one, since both speak the same protocol (Envoy's
// SecretDiscoveryService over gRPC on a Unix socket) and serve the same secret names: each
// workload's SVID under its SPIFFE ID, the bundle under the trust domain's ID. meshd serve
// (plain xDS) serves the listeners and clusters, as in sidecar-tls.test.ts: the callee is a task
// in a network namespace (its Envoy runs as the proxy user, uid 1337, which reaches the socket
// through its group), the callers are Envoys on the host.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createCertificateAuthority, type CertificateAuthority } from '../helpers/certs';
import { describeWithNetns, PROXY_GID, readableTmpDir, removeReadableTmpDirs } from '../helpers/netns';
import { waitFor } from '../helpers/processes';
import { issueSvid, startSdsAgent, type SdsAgent, type Svid } from '../helpers/sds-agent';
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

const MESH = 'spire';
const PORT = 8080;
const SERVICE = 'callee.spire.local';
const TRUST_DOMAIN = 'spiffe://example.org';
const CALLEE_ID = `${TRUST_DOMAIN}/callee`;
const CALLER_ID = `${TRUST_DOMAIN}/caller`;
const INTRUDER_ID = `${TRUST_DOMAIN}/intruder`;

function meshYaml(calleeIp: string): string {
  const caller = (name: string, svid: string) => `---
kind: VirtualNode
mesh: ${MESH}
name: ${name}
spec:
  backends:
    - virtualService:
        virtualServiceName: ${SERVICE}
        clientPolicy:
          tls:
            certificate: { sds: { secretName: "${svid}" } }
            validation:
              trust: { sds: { secretName: "${TRUST_DOMAIN}" } }
              subjectAlternativeNames: { match: { exact: ["${CALLEE_ID}"] } }
`;
  return `kind: Mesh
name: ${MESH}
---
kind: VirtualNode
mesh: ${MESH}
name: callee
spec:
  listeners:
    - portMapping: { port: ${PORT}, protocol: http }
      tls:
        mode: STRICT
        certificate: { sds: { secretName: "${CALLEE_ID}" } }
        validation:
          trust: { sds: { secretName: "${TRUST_DOMAIN}" } }
          subjectAlternativeNames: { match: { exact: ["${CALLER_ID}"] } }
  serviceDiscovery: { dns: { hostname: ${calleeIp} } }
---
kind: VirtualService
mesh: ${MESH}
name: ${SERVICE}
spec: { provider: { virtualNode: { virtualNodeName: callee } } }
${caller('caller', CALLER_ID)}${caller('intruder', INTRUDER_ID)}`;
}

/** Envoy's /certs: the certificates of every TLS context it holds. */
interface EnvoyCert {
  serial_number: string;
  subject_alt_names?: { uri?: string; dns?: string }[];
}
interface EnvoyCerts {
  certificates: { ca_cert?: EnvoyCert[]; cert_chain?: EnvoyCert[] }[];
}

const serialOf = (file: string) =>
  new crypto.X509Certificate(fs.readFileSync(file)).serialNumber.toLowerCase().replace(/^0+/, '');
const normalSerial = (s: string) => s.toLowerCase().replace(/^0+/, '');

describeWithNetns(
  'SPIRE convention: sds sources fetched from a Unix-socket SDS server (a SPIRE agent stand-in), mTLS by SPIFFE ID',
  (envoyBin) => {
    let dir: string;
    let ca: CertificateAuthority;
    const svids: Record<string, Svid> = {};
    let agent: SdsAgent;
    let meshd: MeshdForNetns;
    let callee: Callee;
    const callers = new Map<'caller' | 'intruder', HostSidecar>();

    async function via(name: 'caller' | 'intruder'): Promise<HttpResult> {
      const sidecar = callers.get(name)!;
      return waitFor(
        `${name} to have a route to ${SERVICE}`,
        async () => {
          const r = await request({ host: '127.0.0.1', port: sidecar.egressPort, headers: { host: SERVICE } }).catch(
            () => undefined,
          );
          return r && r.status !== 404 ? r : undefined;
        },
        30000,
        50,
      );
    }

    const calleeSsl = async () => {
      const stats = await envoyStats(callee.sidecar.adminHost, callee.sidecar.adminPort, 'ssl');
      return {
        handshakes: sslCounter(stats, 'listener', 'handshake'),
        badSan: sslCounter(stats, 'listener', 'fail_verify_san'),
      };
    };

    async function certs(host: string, port: number): Promise<EnvoyCerts> {
      return JSON.parse((await request({ host, port, path: '/certs' })).body) as EnvoyCerts;
    }

    beforeAll(async () => {
      dir = readableTmpDir('spire-');
      ca = createCertificateAuthority(dir, 'example-org-ca');
      for (const [name, id] of [
        ['callee', CALLEE_ID],
        ['caller', CALLER_ID],
        ['intruder', INTRUDER_ID],
      ] as const)
        svids[name] = issueSvid(ca, dir, name, id);
      // The agent's socket: the proxy user's group may connect (as a SPIRE agent's socket is opened to the workloads).
      agent = await startSdsAgent({
        socketPath: path.join(dir, 'agent.sock'),
        trustDomainId: TRUST_DOMAIN,
        bundleFile: ca.certFile,
        svids: Object.values(svids),
        socketMode: 0o660,
        socketGroup: PROXY_GID,
      });
      const bootstrapArgs = ['--sds-socket-path', agent.socketPath];
      const meshFile = path.join(dir, 'mesh.yaml');
      fs.writeFileSync(meshFile, meshYaml('127.0.0.1'));
      meshd = await startMeshdForNetns(meshFile);
      callee = await startCallee({
        envoyBin,
        nodeId: `mesh/${MESH}/virtualNode/callee`,
        xdsPort: meshd.xdsPort,
        appName: 'callee',
        appPorts: [PORT],
        bootstrapArgs,
        beforeSidecar: (ns) => fs.writeFileSync(meshFile, meshYaml(ns.nsIp)),
      });
      await waitFor(
        'meshd to serve the callee address',
        async () =>
          (
            await request({
              host: '127.0.0.1',
              port: meshd.adminPort,
              path: `/v1/config/${encodeURIComponent(`mesh/${MESH}/virtualNode/caller`)}`,
            })
          ).body.includes(callee.ns.nsIp)
            ? true
            : undefined,
        15000,
        50,
      );
      for (const name of ['caller', 'intruder'] as const)
        callers.set(
          name,
          await startSidecarOnHost(envoyBin, `mesh/${MESH}/virtualNode/${name}`, meshd.xdsPort, { bootstrapArgs }),
        );
      // Each Envoy opens a stream on the agent's socket per secret it needs.
      const expected = ['callee', 'caller', 'intruder'].map((n) => `mesh/${MESH}/virtualNode/${n}`);
      await waitFor(
        'every Envoy to open SDS streams on the agent socket',
        () => {
          const nodes = new Set(agent.server.streams.list().map((s) => s.nodeId));
          return expected.every((n) => nodes.has(n)) ? true : undefined;
        },
        30000,
        100,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; streams: ${JSON.stringify(agent.server.streams.list().map((s) => s.nodeId))}`);
      });
      let last: HttpResult | string = 'no request yet';
      await waitFor(
        'the callee to answer the caller over mTLS',
        async () => {
          last = await request({
            host: '127.0.0.1',
            port: callers.get('caller')!.egressPort,
            headers: { host: SERVICE },
          })
            .then((r) => r)
            .catch((e: Error) => e.message);
          return typeof last !== 'string' && last.status === 200 ? true : undefined;
        },
        30000,
        100,
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}; last answer: ${JSON.stringify(last)}\ncallee Envoy:\n${callee.sidecar.logs()}`,
        );
      });
    }, 150_000);

    afterAll(async () => {
      await Promise.all([...callers.values()].map((c) => c.stop()));
      await callee?.destroy();
      await meshd?.stop();
      await agent?.close();
      removeReadableTmpDirs();
    });

    it('the caller reaches the callee over mutual TLS with certificates from the socket', async () => {
      expect(await via('caller')).toMatchObject({ status: 200, body: `callee:${PORT}` });
      // Envoy keeps the upstream connection: handshakes were made, on both sides, not necessarily just now.
      expect((await calleeSsl()).handshakes).toBeGreaterThan(0);
      const callerStats = await envoyStats('127.0.0.1', callers.get('caller')!.adminPort, 'ssl');
      const callerHandshakes = sslCounter(callerStats, 'cluster', 'handshake');
      expect(callerHandshakes).toBeGreaterThan(0);
    });

    it("each Envoy holds its own SVID and the trust domain's bundle, as the socket served them", async () => {
      const bundleSerial = serialOf(ca.certFile);
      const check = (got: EnvoyCerts, svid: Svid) => {
        const chains = got.certificates.flatMap((c) => c.cert_chain ?? []);
        const mine = chains.find((c) => normalSerial(c.serial_number) === serialOf(svid.certFile));
        expect(mine?.subject_alt_names).toEqual([{ uri: svid.spiffeId }]);
        const cas = got.certificates.flatMap((c) => c.ca_cert ?? []);
        expect(cas.map((c) => normalSerial(c.serial_number))).toContain(bundleSerial);
      };
      check(await certs(callee.sidecar.adminHost, callee.sidecar.adminPort), svids.callee!);
      check(await certs('127.0.0.1', callers.get('caller')!.adminPort), svids.caller!);
      // Every one of those came over the socket: the stand-in agent has the Envoys' SDS streams open.
      const nodes = new Set(agent.server.streams.list().map((s) => s.nodeId));
      expect(nodes).toEqual(
        new Set([
          `mesh/${MESH}/virtualNode/callee`,
          `mesh/${MESH}/virtualNode/caller`,
          `mesh/${MESH}/virtualNode/intruder`,
        ]),
      );
    });

    it('refuses a caller whose SVID holds another SPIFFE ID (same trust domain, same CA)', async () => {
      const before = await calleeSsl();
      const r = await via('intruder');
      expect(r.status).toBe(503);
      expect(r.body).not.toContain('callee:');
      expect((await calleeSsl()).badSan).toBeGreaterThan(before.badSan);
    });
  },
  { needs: ['openssl'] },
);
