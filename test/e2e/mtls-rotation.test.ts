// Certificate rotation under traffic, with real Envoys and a real `meshd serve`: a mesh with
// `spec.meshd.mtls: STRICT`, a callee and a caller each in a network namespace with App Mesh's
// capture rules and its sidecar, and a steady request loop from the caller's app to the callee
// that keeps opening new connections (a TCP route makes every connection a new mTLS handshake
// between the two Envoys). First the workload certificates (60 s life) are renewed again and
// again; then the CA is rotated: new bundle first, certificates reissued by the new root, the
// old root dropped at the overlap's end. No request may fail through any of it.
//
// meshd serves workload certificates only on a loopback xDS address (or with --xds-tls): it
// listens on 127.0.0.1, and a forwarder on the root namespace's address on the namespaces'
// bridge carries the sidecars' xDS connections to it.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import {
  createBridgeNetwork,
  createNetns,
  describeWithNetns,
  readableTmpDir,
  removeReadableTmpDirs,
  type BridgeNetwork,
  type Netns,
  type NetnsProcess,
} from '../helpers/netns';
import { freePort, startMeshd, waitFor, type RunningProcess } from '../helpers/processes';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import {
  APP_JS,
  envoyStats,
  FIXTURES,
  request,
  sslCounter,
  startSidecarInNetns,
  type NsSidecar,
} from '../helpers/sidecars';

const MESH = 'rot';
const HTTP_PORT = 8080;
const TCP_PORT = 9090;
const HTTP_SERVICE = 'http.rot.local';
const TCP_SERVICE = 'tcp.rot.local';
const LOAD_CLIENT = path.join(FIXTURES, 'load-client.js');
const EVERY_MS = 100;
/** Phase 1: how long the loop runs through certificate renewals (60 s certificates). */
const RENEWAL_PHASE_MS = 180_000;
const OVERLAP = '40s';
/** How long the callee's control stream lags at the CA rotation (meshd's bundle-first delay is 5 s). */
const LAG_MS = 2500;

function meshYaml(calleeIp: string): string {
  return `kind: Mesh
name: ${MESH}
spec: { meshd: { mtls: STRICT } }
---
kind: VirtualNode
mesh: ${MESH}
name: callee
spec:
  listeners:
    - portMapping: { port: ${HTTP_PORT}, protocol: http }
    - portMapping: { port: ${TCP_PORT}, protocol: tcp }
  serviceDiscovery: { dns: { hostname: ${calleeIp} } }
---
kind: VirtualRouter
mesh: ${MESH}
name: http
spec: { listeners: [{ portMapping: { port: ${HTTP_PORT}, protocol: http } }] }
---
kind: Route
mesh: ${MESH}
virtualRouter: http
name: to-callee
spec:
  httpRoute:
    match: { prefix: / }
    action: { weightedTargets: [{ virtualNode: callee, weight: 1, port: ${HTTP_PORT} }] }
---
kind: VirtualService
mesh: ${MESH}
name: ${HTTP_SERVICE}
spec: { provider: { virtualRouter: { virtualRouterName: http } } }
---
kind: VirtualRouter
mesh: ${MESH}
name: tcp
spec: { listeners: [{ portMapping: { port: ${TCP_PORT}, protocol: tcp } }] }
---
kind: Route
mesh: ${MESH}
virtualRouter: tcp
name: to-callee
spec:
  tcpRoute:
    action: { weightedTargets: [{ virtualNode: callee, weight: 1, port: ${TCP_PORT} }] }
---
kind: VirtualService
mesh: ${MESH}
name: ${TCP_SERVICE}
spec: { provider: { virtualRouter: { virtualRouterName: tcp } } }
---
kind: VirtualNode
mesh: ${MESH}
name: caller
spec:
  backends:
    - virtualService: { virtualServiceName: ${HTTP_SERVICE} }
    - virtualService: { virtualServiceName: ${TCP_SERVICE} }
`;
}

interface CertInfo {
  serial_number: string;
  subject_alt_names?: { uri?: string; dns?: string }[];
}
interface CertsDump {
  certificates: { ca_cert?: CertInfo[]; cert_chain?: CertInfo[] }[];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;
const normSerial = (s: string) => s.toLowerCase().replace(/^0+/, '');

/** What an Envoy holds now (/certs): its identity certificates' serials and the distinct roots it trusts. */
async function certsOf(sidecar: NsSidecar): Promise<{ leaves: string[]; roots: string[][] }> {
  const r = await request({ host: sidecar.adminHost, port: sidecar.adminPort, path: '/certs' });
  const dump = JSON.parse(r.body) as CertsDump;
  const leaves = dump.certificates
    .map((c) => c.cert_chain?.[0])
    .filter((c): c is CertInfo => Boolean(c?.subject_alt_names?.some((s) => s.uri?.startsWith('spiffe://'))))
    .map((c) => normSerial(c.serial_number));
  const roots = dump.certificates
    .filter((c) => c.ca_cert?.length)
    .map((c) => [...new Set(c.ca_cert!.map((x) => normSerial(x.serial_number)))].sort());
  return { leaves, roots };
}

/** The managed secrets as Envoy holds them (config_dump): the identity chain and the trust bundle, parsed. */
async function secretsOf(
  sidecar: NsSidecar,
): Promise<{ leaf?: crypto.X509Certificate; bundle: crypto.X509Certificate[] }> {
  const r = await request({
    host: sidecar.adminHost,
    port: sidecar.adminPort,
    path: '/config_dump?resource=dynamic_active_secrets',
  });
  const dump = JSON.parse(r.body) as {
    configs: {
      name: string;
      secret: {
        tls_certificate?: { certificate_chain?: { inline_bytes?: string } };
        validation_context?: { trusted_ca?: { inline_bytes?: string } };
      };
    }[];
  };
  const pems = (b64: string | undefined) =>
    (
      Buffer.from(b64 ?? '', 'base64')
        .toString()
        .match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []
    ).map((p) => new crypto.X509Certificate(p));
  const identity = dump.configs.find((c) => c.name === 'meshd/identity');
  const trust = dump.configs.find((c) => c.name === 'meshd/trust-bundle');
  return {
    leaf: pems(identity?.secret.tls_certificate?.certificate_chain?.inline_bytes)[0],
    bundle: pems(trust?.secret.validation_context?.trusted_ca?.inline_bytes),
  };
}

function post(port: number, pathName: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathName, method: 'POST', agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error(`POST ${pathName} timed out`)));
    req.end();
  });
}

interface LoadResult {
  failures: Record<string, unknown>[];
  summary: { sent: Record<string, number>; ok: Record<string, number>; failed: number };
}

describeWithNetns('mTLS certificate and CA rotation under a steady request loop', (envoyBin) => {
  let bridge: BridgeNetwork;
  let meshd: RunningProcess;
  let adminPort: number;
  /** Each sidecar's path to meshd's xDS port: the test can hold one to make that proxy lag. */
  const xdsPaths: TcpProxy[] = [];
  const namespaces: Netns[] = [];
  let calleeNs: Netns;
  let callerNs: Netns;
  let callee: NsSidecar;
  let caller: NsSidecar;
  const sidecars = () => ({ callee, caller });
  const loads = new Set<NetnsProcess>();

  /** Runs the load client in the caller's namespace for `durationMs`; resolves when it is done. */
  function startLoad(durationMs: number): { proc: NetnsProcess; done: Promise<LoadResult> } {
    const proc = callerNs.spawn(process.execPath, [
      LOAD_CLIENT,
      calleeNs.nsIp,
      String(HTTP_PORT),
      HTTP_SERVICE,
      String(TCP_PORT),
      String(durationMs),
      String(EVERY_MS),
    ]);
    const done = new Promise<LoadResult>((resolve, reject) => {
      proc.child.once('exit', () => {
        const lines = proc
          .output()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        const summary = lines.find((l) => l.done) as LoadResult['summary'] | undefined;
        if (!summary) return reject(new Error(`the load client ended without a summary:\n${proc.output()}`));
        resolve({ failures: lines.filter((l) => !l.done), summary });
      });
    });
    loads.add(proc);
    void done.catch(() => undefined).finally(() => loads.delete(proc));
    return { proc, done };
  }

  function report(what: string, r: LoadResult, handshakes: number): void {
    const total = Object.values(r.summary.sent).reduce((a, b) => a + b, 0);
    // Printed so a failing run says what failed and when (t: ms since the loop started).
    console.log(
      `${what}: ${total} requests ${JSON.stringify(r.summary.sent)}, ${handshakes} mTLS handshakes at the callee, ${r.summary.failed} failed${
        r.failures.length ? `:\n${r.failures.map((f) => JSON.stringify(f)).join('\n')}` : ''
      }`,
    );
  }

  /** mTLS handshakes the callee's Envoy completed on its listeners (each a new connection from the caller). */
  const calleeHandshakes = async () =>
    sslCounter(await envoyStats(callee.adminHost, callee.adminPort, 'ssl.handshake'), 'listener', 'handshake');

  const ca = async () =>
    JSON.parse((await request({ host: '127.0.0.1', port: adminPort, path: '/v1/ca' })).body) as {
      trustBundle: string;
      phase?: unknown;
    };

  beforeAll(async () => {
    bridge = await createBridgeNetwork();
    const meshFile = path.join(readableTmpDir(), 'mesh.yaml');
    fs.writeFileSync(meshFile, meshYaml('127.0.0.1'));
    const xdsPort = await freePort();
    adminPort = await freePort();
    meshd = startMeshd([
      'serve',
      '--mesh',
      meshFile,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(xdsPort),
      '--admin-port',
      String(adminPort),
      '--workload-cert-ttl',
      '1m',
      '--ca-rotation-overlap',
      OVERLAP,
    ]);
    await waitFor('meshd to start serving', () => {
      if (meshd.child.exitCode !== null) throw new Error(`meshd exited: ${meshd.stderr()}`);
      return meshd.stdout().includes('xDS (ADS gRPC)') ? true : undefined;
    });
    const calleeXds = await startTcpProxy('127.0.0.1', xdsPort, { listenHost: bridge.hostIp });
    xdsPaths.push(calleeXds);
    const callerXds = await startTcpProxy('127.0.0.1', xdsPort, { listenHost: bridge.hostIp });
    xdsPaths.push(callerXds);

    calleeNs = await createNetns({ bridge });
    namespaces.push(calleeNs);
    callerNs = await createNetns({ bridge });
    namespaces.push(callerNs);
    fs.writeFileSync(meshFile, meshYaml(calleeNs.nsIp));
    calleeNs.setHosts({});
    calleeNs.installAppMeshRules({ appPorts: [HTTP_PORT, TCP_PORT], egress: false });
    const app = calleeNs.spawn(process.execPath, [APP_JS, 'callee', '9000', String(HTTP_PORT), String(TCP_PORT)]);
    await app.waitForOutput('app callee listening');
    callerNs.setHosts({});
    callerNs.installAppMeshRules({ appPorts: [] });

    await waitFor(
      'meshd to serve the callee address',
      async () =>
        (
          await request({
            host: '127.0.0.1',
            port: adminPort,
            path: `/v1/config/${encodeURIComponent(`mesh/${MESH}/virtualNode/caller`)}`,
          })
        ).body.includes(calleeNs.nsIp)
          ? true
          : undefined,
      15000,
      50,
    );
    // Both start without their secrets and wait for them: LIVE once SDS delivered them.
    [callee, caller] = await Promise.all([
      startSidecarInNetns(calleeNs, envoyBin, `mesh/${MESH}/virtualNode/callee`, calleeXds.port, { concurrency: 1 }),
      startSidecarInNetns(callerNs, envoyBin, `mesh/${MESH}/virtualNode/caller`, callerXds.port, { concurrency: 1 }),
    ]);
    // Traffic flows on every kind before the loop is judged.
    await waitFor(
      'a round of requests through both sidecars to succeed',
      async () => {
        const r = await startLoad(700).done;
        return r.summary.failed === 0 ? true : undefined;
      },
      30000,
      500,
    );
  }, 90_000);

  afterAll(async () => {
    for (const p of xdsPaths) p.restore();
    await Promise.all([...loads].map((l) => l.stop()));
    await Promise.all([callee?.stop(), caller?.stop()]);
    for (const ns of namespaces) await ns.destroy();
    await bridge?.destroy();
    await Promise.all(xdsPaths.map((p) => p.close()));
    await meshd?.stop();
    removeReadableTmpDirs();
  });

  it(
    'renews 60 s certificates again and again with no failed request',
    async () => {
      const handshakesBefore = await calleeHandshakes();
      const load = startLoad(RENEWAL_PHASE_MS);
      const seen = { callee: new Set<string>(), caller: new Set<string>() };
      let finished = false;
      void load.done.finally(() => (finished = true));
      while (!finished) {
        for (const [name, sidecar] of Object.entries(sidecars()) as [keyof typeof seen, NsSidecar][]) {
          const { leaves } = await certsOf(sidecar).catch(() => ({ leaves: [] as string[] }));
          for (const serial of leaves) seen[name].add(serial);
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
      const result = await load.done;
      const handshakes = (await calleeHandshakes()) - handshakesBefore;
      report('certificate renewals', result, handshakes);
      console.log(
        `identity certificates seen in /certs: callee ${seen.callee.size}, caller ${seen.caller.size} (${
          RENEWAL_PHASE_MS / 1000
        } s)`,
      );
      expect(result.failures).toEqual([]);
      expect(result.summary.failed).toBe(0);
      expect(Object.values(result.summary.ok).reduce((a, b) => a + b, 0)).toBeGreaterThan(
        RENEWAL_PHASE_MS / EVERY_MS / 2,
      );
      // At least two rotations each: three distinct certificates.
      // Every TCP request was a new connection, so a new handshake with the certificates of the moment.
      expect(handshakes).toBeGreaterThanOrEqual(result.summary.ok.tcp ?? 0);
      expect(seen.callee.size).toBeGreaterThanOrEqual(3);
      expect(seen.caller.size).toBeGreaterThanOrEqual(3);
    },
    RENEWAL_PHASE_MS + 60_000,
  );

  it('rotates the CA (bundle first, certificates by the new root, old root dropped) with no failed request', async () => {
    const overlapMs = 40_000;
    const handshakesBefore = await calleeHandshakes();
    const load = startLoad(overlapMs + 25_000);
    let rotatedAt = Date.now();
    // The requests' fate is judged first, whatever the checks of the steps below found.
    let stepFailed: unknown;
    try {
      await new Promise((r) => setTimeout(r, 3000));
      const oldRoot = new crypto.X509Certificate((await ca()).trustBundle);
      for (const sidecar of Object.values(sidecars())) {
        const s = await secretsOf(sidecar);
        expect(s.bundle.map((c) => c.serialNumber)).toEqual([oldRoot.serialNumber]);
        expect(s.leaf?.checkIssued(oldRoot)).toBe(true);
      }

      // The callee's control stream lags: what meshd sends it is held for a while, as for a proxy
      // on a slow or busy link. Its peers must not present certificates by the new root before it
      // trusts that root (meshd sends the bundle first and reissues certificates BUNDLE_FIRST_MS later).
      xdsPaths[0]!.blackhole();
      try {
        expect(await post(adminPort, '/v1/ca/rotate')).toMatchObject({ status: 200 });
        rotatedAt = Date.now();
        await new Promise((r) => setTimeout(r, LAG_MS));
      } finally {
        xdsPaths[0]!.restore();
      }
      const bundle = (await ca()).trustBundle.match(PEM_CERT)!;
      const newRoot = new crypto.X509Certificate(bundle[0]!);
      expect(newRoot.serialNumber).not.toBe(oldRoot.serialNumber);
      expect(bundle).toHaveLength(2);
      const both = [newRoot.serialNumber, oldRoot.serialNumber].map(normSerial).sort();

      // During the overlap: every Envoy trusts both roots, then holds a certificate by the new one.
      for (const [name, sidecar] of Object.entries(sidecars())) {
        await waitFor(
          `${name} to trust both roots (/certs)`,
          async () => {
            const { roots } = await certsOf(sidecar);
            return roots.length > 0 && roots.every((r) => r.join() === both.join()) ? true : undefined;
          },
          20000,
          200,
        );
        await waitFor(
          `${name} to hold a certificate issued by the new root`,
          async () => ((await secretsOf(sidecar)).leaf?.checkIssued(newRoot) ? true : undefined),
          20000,
          200,
        );
      }
      // Still within the overlap: the re-issue happened while both roots were trusted.
      expect(Date.now() - rotatedAt).toBeLessThan(overlapMs);

      // The overlap's end: the old root leaves every Envoy's bundle.
      for (const [name, sidecar] of Object.entries(sidecars()))
        await waitFor(
          `${name} to trust only the new root once the overlap ended`,
          async () => {
            const { roots } = await certsOf(sidecar);
            return roots.length > 0 && roots.every((r) => r.join() === normSerial(newRoot.serialNumber))
              ? true
              : undefined;
          },
          overlapMs + 20_000,
          500,
        );
      expect((await secretsOf(caller)).bundle.map((c) => c.serialNumber)).toEqual([newRoot.serialNumber]);
    } catch (err) {
      stepFailed = err;
    }

    const result = await load.done;
    const handshakes = (await calleeHandshakes()) - handshakesBefore;
    report('CA rotation', result, handshakes);
    expect(result.failures).toEqual([]);
    expect(result.summary.failed).toBe(0);
    if (stepFailed) throw stepFailed;
    // The loop ran on past the overlap's end.
    expect(Date.now() - rotatedAt).toBeGreaterThan(overlapMs);
    expect(handshakes).toBeGreaterThanOrEqual(result.summary.ok.tcp ?? 0);
  }, 120_000);
});
