// meshd's xDS server against a real Envoy, on what a user notices: Delta ADS moves traffic and
// removes clusters like SotW does; a configuration Envoy rejects is reported (admin API, `meshd
// status`) and not pushed again and again, while the last good one keeps serving; and a meshd
// crash and restart drops no request and makes Envoy apply nothing new.
import { spawnSync } from 'node:child_process';
import { createTestPki, type TestPki } from '../helpers/certs';
import { describeWithEnvoy } from '../helpers/envoy';
import { MESHD_BIN, tmpFile, waitFor } from '../helpers/processes';
import {
  answeredBy,
  startSidecar,
  targetNodeYaml,
  type ProxyTypeStatus,
  type Sidecar,
} from '../helpers/sidecar-harness';
import { startHttpUpstream, type HttpUpstream } from '../helpers/upstreams';

const MESH = 'xds';
const NODE_ID = `mesh/${MESH}/virtualNode/client`;
const SHOP = 'shop.xds.local';
const EXTRA = 'extra.xds.local';

interface ProxyEntry {
  nodeId: string;
  stream: number;
  protocol: 'sotw' | 'delta';
  client: string;
  types: Record<
    string,
    ProxyTypeStatus & {
      targetVersion: string | null;
      lastNack: { version: string; message: string; at: string } | null;
    }
  >;
}

interface MeshOptions {
  /** upstream name → weight on the shop router */
  shop: [HttpUpstream, number][];
  /** a second virtual service the client calls, served straight by its own node */
  extra?: HttpUpstream;
  /** YAML flow mapping for the client's own listener (port 9080), e.g. `{ mode: STRICT, ... }` */
  clientListenerTls?: string;
}

function meshYaml(o: MeshOptions): string {
  const backends = [SHOP, ...(o.extra ? [EXTRA] : [])].map((s) => `{ virtualService: { virtualServiceName: ${s} } }`);
  const listener = `{ portMapping: { port: 9080, protocol: http }${o.clientListenerTls ? `, tls: ${o.clientListenerTls}` : ''} }`;
  const docs = [
    `kind: Mesh\nname: ${MESH}\n`,
    `kind: VirtualNode\nmesh: ${MESH}\nname: client\nspec:\n  listeners: [${listener}]\n  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }\n  backends: [${backends.join(', ')}]\n`,
    ...o.shop.map(([u]) => targetNodeYaml(MESH, u.name, u.port)),
    `kind: VirtualRouter\nmesh: ${MESH}\nname: shop\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n`,
    `kind: Route\nmesh: ${MESH}\nvirtualRouter: shop\nname: split\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action:\n      weightedTargets:\n${o.shop
      .map(([u, w]) => `        - { virtualNode: ${u.name}, weight: ${w} }`)
      .join('\n')}\n`,
    `kind: VirtualService\nmesh: ${MESH}\nname: ${SHOP}\nspec: { provider: { virtualRouter: { virtualRouterName: shop } } }\n`,
    ...(o.extra
      ? [
          targetNodeYaml(MESH, o.extra.name, o.extra.port),
          `kind: VirtualService\nmesh: ${MESH}\nname: ${EXTRA}\nspec: { provider: { virtualNode: { virtualNodeName: ${o.extra.name} } } }\n`,
        ]
      : []),
  ];
  return docs.join('---\n');
}

async function proxyEntry(sidecar: Sidecar): Promise<ProxyEntry | undefined> {
  const proxies = JSON.parse(await sidecar.meshdAdmin('/v1/proxies')) as ProxyEntry[];
  return proxies.find((p) => p.nodeId === NODE_ID);
}

/** Who answered `n` sequential requests to a virtual service, counted. */
async function answers(sidecar: Sidecar, host: string, n = 20): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const who = answeredBy(await sidecar.request(host, { timeoutMs: 5000 }));
    counts[who] = (counts[who] ?? 0) + 1;
  }
  return counts;
}

/** Samples of a Prometheus metric from meshd's /metrics, as `{labels}` → value. */
async function meshdMetric(sidecar: Sidecar, name: string): Promise<Map<string, number>> {
  const text = await sidecar.meshdAdmin('/metrics');
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (m) out.set(m[1] ?? '', Number(m[2]));
  }
  return out;
}

const sum = (m: Map<string, number>, labelPart = '') =>
  [...m].filter(([labels]) => labels.includes(labelPart)).reduce((a, [, v]) => a + v, 0);

/** Envoy's xDS update counters: CDS, LDS and every RDS subscription. */
async function updateStats(sidecar: Sidecar): Promise<Record<string, number>> {
  const stats = await sidecar.stats(
    '(cluster_manager\\.cds|listener_manager\\.lds|\\.rds\\.[^.]+)\\.update_(success|rejected|attempt)$',
  );
  return Object.fromEntries([...stats].sort(([a], [b]) => (a < b ? -1 : 1)));
}

const failOnError = async <T>(sidecar: Sidecar | undefined, what: Promise<T>): Promise<T> =>
  what.catch((err: Error) => {
    throw new Error(`${err.message}\n${sidecar?.logs() ?? ''}`);
  });

// ------------------------------------------------------------------ 1. Delta ADS

describeWithEnvoy('xDS with a real Envoy: Delta ADS moves traffic and removes clusters', (envoyBin) => {
  let v1: HttpUpstream;
  let v2: HttpUpstream;
  let extra: HttpUpstream;
  let sidecar: Sidecar;

  beforeAll(async () => {
    v1 = await startHttpUpstream('v1');
    v2 = await startHttpUpstream('v2');
    extra = await startHttpUpstream('extra');
    sidecar = await startSidecar({
      envoyBin,
      ads: 'delta',
      nodeId: NODE_ID,
      meshYaml: meshYaml({
        shop: [
          [v1, 100],
          [v2, 0],
        ],
        extra,
      }),
      ready: { host: SHOP },
    });
  }, 60000);

  afterAll(async () => {
    await sidecar?.stop();
    for (const u of [v1, v2, extra]) await u?.close();
  });

  it('sends every request to v1 at 100/0, and reaches the second service', async () => {
    expect(await answers(sidecar, SHOP)).toEqual({ v1: 20 });
    expect(await answers(sidecar, EXTRA, 5)).toEqual({ extra: 5 });
  });

  it('moves every request to v2 once the mesh file says 0/100', async () => {
    await sidecar.updateMesh(
      meshYaml({
        shop: [
          [v1, 0],
          [v2, 100],
        ],
        extra,
      }),
    );
    expect(await answers(sidecar, SHOP)).toEqual({ v2: 20 });
  });

  it('shows the proxy on a Delta stream, every type SYNCED, in /v1/proxies and /metrics', async () => {
    const entry = await proxyEntry(sidecar);
    expect(entry).toMatchObject({ nodeId: NODE_ID, protocol: 'delta', client: 'envoy' });
    for (const type of ['CDS', 'LDS', 'RDS']) {
      expect({ type, state: entry!.types[type]?.state }).toEqual({ type, state: 'SYNCED' });
      expect(entry!.types[type]!.ackedVersion).toBe(entry!.types[type]!.targetVersion);
    }
    expect(await meshdMetric(sidecar, 'meshd_xds_connected_streams')).toEqual(
      new Map([['{protocol="delta",client="envoy"}', 1]]),
    );
    expect(sum(await meshdMetric(sidecar, 'meshd_xds_pushes_total'), 'protocol="delta"')).toBeGreaterThan(0);
    expect(sum(await meshdMetric(sidecar, 'meshd_xds_pushes_total'), 'protocol="sotw"')).toBe(0);
    expect(sum(await meshdMetric(sidecar, 'meshd_xds_nacks_total'))).toBe(0);
  });

  it('removes the cluster of a backend taken out of the mesh from Envoy, and the other service still answers', async () => {
    const extraCluster = `cds_egress_${MESH}_extra_http_${extra.port}`;
    expect(await sidecar.admin('/clusters')).toContain(`${extraCluster}::`);
    const removedBefore = (await sidecar.stat('cluster_manager.cluster_removed')) ?? 0;

    await sidecar.updateMesh(
      meshYaml({
        shop: [
          [v1, 0],
          [v2, 100],
        ],
      }),
    );
    await failOnError(
      sidecar,
      waitFor(
        'Envoy to drop the removed backend cluster',
        async () => (!(await sidecar.admin('/clusters')).includes(`${extraCluster}::`) ? true : undefined),
        15000,
        50,
      ),
    );
    expect((await sidecar.stat('cluster_manager.cluster_removed')) ?? 0).toBeGreaterThan(removedBefore);
    expect(await sidecar.stat('cluster_manager.cds.update_rejected')).toBe(0);

    expect(await answers(sidecar, SHOP)).toEqual({ v2: 20 });
    // The route to the removed service is gone too: Envoy itself answers 404.
    expect(await answers(sidecar, EXTRA, 3)).toEqual({ 'HTTP 404': 3 });
    const entry = await proxyEntry(sidecar);
    for (const type of ['CDS', 'LDS', 'RDS'])
      expect({ type, state: entry!.types[type]?.state }).toEqual({ type, state: 'SYNCED' });
  });
});

// ------------------------------------------------------------------ 2. NACK

describeWithEnvoy('xDS with a real Envoy: a configuration Envoy rejects (NACK)', (envoyBin) => {
  const BAD_TLS =
    '{ mode: STRICT, certificate: { file: { certificateChain: /nonexistent/cert.pem, privateKey: /nonexistent/key.pem } } }';
  let app: HttpUpstream;
  let sidecar: Sidecar;
  let pki: TestPki;
  let nack: { version: string; message: string };

  beforeAll(async () => {
    app = await startHttpUpstream('app');
    pki = createTestPki({ client: ['client.xds.local'] });
    sidecar = await startSidecar({
      envoyBin,
      nodeId: NODE_ID,
      meshYaml: meshYaml({ shop: [[app, 1]] }),
      ready: { host: SHOP },
    });
  }, 60000);

  afterAll(async () => {
    await sidecar?.stop();
    await app?.close();
  });

  it('meshd itself accepts the mesh (the certificate files are only read by Envoy)', () => {
    const file = tmpFile('bad-tls.yaml', meshYaml({ shop: [[app, 1]], clientListenerTls: BAD_TLS }));
    const r = spawnSync(process.execPath, [MESHD_BIN, 'validate', file], { encoding: 'utf8' });
    expect({ status: r.status, stdout: r.stdout }).toMatchObject({ status: 0 });
  });

  it("reports Envoy's rejection of the listener as NACKED, with Envoy's message naming the missing file", async () => {
    const ldsAckedBefore = (await proxyEntry(sidecar))!.types.LDS!.ackedVersion;
    await sidecar.reloadMesh(meshYaml({ shop: [[app, 1]], clientListenerTls: BAD_TLS }));
    const lds = await failOnError(
      sidecar,
      waitFor('meshd to report LDS NACKED', async () => {
        const t = (await proxyEntry(sidecar))?.types.LDS;
        return t?.state === 'NACKED' ? t : undefined;
      }),
    );
    expect(lds.lastNack).not.toBeNull();
    expect(lds.lastNack!.message).toMatch(/\/nonexistent\/(cert|key)\.pem/);
    expect(lds.lastNack!.version).toBe(lds.sentVersion);
    expect(lds.sentVersion).toBe(lds.targetVersion);
    // What Envoy holds is still the last version it accepted.
    expect(lds.ackedVersion).toBe(ldsAckedBefore);
    nack = { version: lds.lastNack!.version, message: lds.lastNack!.message };
    // Only the listener changed: the other types stay in sync.
    const types = (await proxyEntry(sidecar))!.types;
    for (const type of ['CDS', 'RDS']) expect({ type, state: types[type]?.state }).toEqual({ type, state: 'SYNCED' });
    expect(sum(await meshdMetric(sidecar, 'meshd_xds_nacks_total'), 'type="LDS"')).toBe(1);
  });

  it('prints the NACK under `meshd status`', () => {
    const r = spawnSync(process.execPath, [MESHD_BIN, 'status', '--admin', `127.0.0.1:${sidecar.meshdAdminPort}`], {
      encoding: 'utf8',
    });
    const line = r.stdout.split('\n').find((l) => l.startsWith(`${NODE_ID} LDS NACKED`));
    expect({ line, stderr: r.stderr }).toMatchObject({
      line: expect.stringContaining(`${NODE_ID} LDS NACKED version ${nack.version}: `),
    });
    expect(line).toMatch(/\/nonexistent\/(cert|key)\.pem/);
    // The message as Envoy gave it (status prints it on one line).
    expect(line).toContain(nack.message.replace(/\s+/g, ' ').trim().slice(0, 40));
  });

  it('does not push the rejected listener again (no NACK loop)', async () => {
    const pushesBefore = await meshdMetric(sidecar, 'meshd_xds_pushes_total');
    const nacksBefore = await meshdMetric(sidecar, 'meshd_xds_nacks_total');
    const rejectedBefore = await sidecar.stat('listener_manager.lds.update_rejected');
    expect(rejectedBefore).toBeGreaterThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await meshdMetric(sidecar, 'meshd_xds_pushes_total')).toEqual(pushesBefore);
    expect(await meshdMetric(sidecar, 'meshd_xds_nacks_total')).toEqual(nacksBefore);
    expect(await sidecar.stat('listener_manager.lds.update_rejected')).toBe(rejectedBefore);
    expect((await proxyEntry(sidecar))!.types.LDS!.state).toBe('NACKED');
  });

  it('keeps serving traffic through the last good configuration', async () => {
    expect(await answers(sidecar, SHOP)).toEqual({ app: 20 });
  });

  it('is SYNCED again once the mesh names certificate files that exist', async () => {
    const rejected = await sidecar.stat('listener_manager.lds.update_rejected');
    const accepted = (await sidecar.stat('listener_manager.lds.update_success')) ?? 0;
    const cert = pki.certs.client!;
    await sidecar.updateMesh(
      meshYaml({
        shop: [[app, 1]],
        clientListenerTls: `{ mode: STRICT, certificate: { file: { certificateChain: ${cert.certFile}, privateKey: ${cert.keyFile} } } }`,
      }),
    );
    const types = (await proxyEntry(sidecar))!.types;
    for (const type of ['CDS', 'LDS', 'RDS'])
      expect({ type, state: types[type]?.state }).toEqual({ type, state: 'SYNCED' });
    expect(types.LDS!.ackedVersion).toBe(types.LDS!.targetVersion);
    expect(types.LDS!.ackedVersion).not.toBe(nack.version);
    expect(await sidecar.stat('listener_manager.lds.update_success')).toBeGreaterThan(accepted);
    expect(await sidecar.stat('listener_manager.lds.update_rejected')).toBe(rejected);
    // The listener Envoy now runs terminates TLS with the new certificate.
    expect(await sidecar.admin('/config_dump?resource=dynamic_listeners')).toContain(cert.certFile);
    expect(await answers(sidecar, SHOP)).toEqual({ app: 20 });
  });
});

// ------------------------------------------------------------------ 3. meshd crash and restart

for (const ads of ['sotw', 'delta'] as const) {
  describeWithEnvoy(`xDS with a real Envoy: meshd killed and restarted under load (${ads})`, (envoyBin) => {
    let v1: HttpUpstream;
    let v2: HttpUpstream;
    let sidecar: Sidecar;
    /** meshd's and Envoy's view before the kill. */
    let ackedBefore: Record<string, string | null>;
    let envoyBefore: Record<string, number>;

    beforeAll(async () => {
      v1 = await startHttpUpstream('v1');
      v2 = await startHttpUpstream('v2');
      sidecar = await startSidecar({
        envoyBin,
        ads,
        nodeId: NODE_ID,
        meshYaml: meshYaml({
          shop: [
            [v1, 50],
            [v2, 50],
          ],
        }),
        ready: { host: SHOP },
        meshdArgs: ['--log-level', 'debug'],
      });
    }, 60000);

    afterAll(async () => {
      await sidecar?.stop();
      for (const u of [v1, v2]) await u?.close();
    });

    it('answers every request of a steady loop while meshd is SIGKILLed and restarted, and Envoy reconnects', async () => {
      const before = (await proxyEntry(sidecar))!;
      expect(before.protocol).toBe(ads);
      ackedBefore = Object.fromEntries(Object.entries(before.types).map(([type, t]) => [type, t.ackedVersion]));
      expect(Object.keys(ackedBefore)).toEqual(expect.arrayContaining(['CDS', 'LDS', 'RDS']));
      envoyBefore = await updateStats(sidecar);
      expect(Object.keys(envoyBefore).some((k) => /\.rds\..*\.update_success$/.test(k))).toBe(true);

      // One request every ~5 ms through the egress listener, for the whole period.
      const failures: string[] = [];
      let ok = 0;
      let okWhileDown = 0;
      let meshdDown = false;
      let running = true;
      const loop = (async () => {
        while (running) {
          const started = Date.now();
          try {
            const r = await sidecar.request(SHOP, { timeoutMs: 5000 });
            if (r.status === 200) {
              ok++;
              if (meshdDown) okWhileDown++;
            } else failures.push(`HTTP ${r.status}: ${r.body.slice(0, 200)}`);
          } catch (err) {
            failures.push((err as Error).message);
          }
          await new Promise((r) => setTimeout(r, Math.max(0, 5 - (Date.now() - started))));
        }
      })();

      try {
        await waitFor('some requests before the kill', () => (ok >= 20 ? true : undefined), 10000);
        meshdDown = true;
        await sidecar.restartMeshd({ kill: 'SIGKILL' });
        let seen: ProxyEntry | undefined;
        await failOnError(
          sidecar,
          waitFor(
            'Envoy to reconnect to the new meshd and subscribe to every type again',
            async () => {
              const e = (seen = await proxyEntry(sidecar));
              return e && Object.keys(ackedBefore).every((type) => e.types[type]) ? true : undefined;
            },
            30000,
            50,
          ).catch((err: Error) => {
            throw new Error(`${err.message}; last seen: ${JSON.stringify(seen)}`);
          }),
        );
        await waitFor('Envoy to report its control plane connected', async () =>
          (await sidecar.stat('control_plane.connected_state')) === 1 ? true : undefined,
        );
        meshdDown = false;
        // Keep the loop going a little after the reconnect, then stop it.
        const okAtReconnect = ok;
        await waitFor('more requests after the reconnect', () => (ok >= okAtReconnect + 20 ? true : undefined), 10000);
      } finally {
        running = false;
        await loop;
      }

      expect(failures).toEqual([]);
      expect(okWhileDown).toBeGreaterThan(0);
      expect(sidecar.meshd.stderr()).toContain(`proxy ${NODE_ID} connected (${ads} stream`);
    }, 90000);

    it('shows the reconnected proxy SYNCED at the very versions it held before the kill', async () => {
      let seen: ProxyEntry | undefined;
      const after = await waitFor(
        'the new meshd to report every type SYNCED',
        async () => {
          const e = (seen = await proxyEntry(sidecar));
          return e && Object.values(e.types).every((t) => t.state === 'SYNCED') ? e : undefined;
        },
        5000,
        50,
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}; before the kill, acked: ${JSON.stringify(ackedBefore)}; now: ${JSON.stringify(seen?.types)}`,
        );
      });
      expect(after.protocol).toBe(ads);
      expect(Object.fromEntries(Object.entries(after.types).map(([type, t]) => [type, t.ackedVersion]))).toEqual(
        ackedBefore,
      );
    });

    it('pushes nothing to the reconnected Envoy, which applies nothing new', async () => {
      // The new meshd sent nothing: Envoy already held its versions.
      expect(sum(await meshdMetric(sidecar, 'meshd_xds_pushes_total'))).toBe(0);
      expect(sum(await meshdMetric(sidecar, 'meshd_xds_nacks_total'))).toBe(0);
      // ... and Envoy applied (or rejected) nothing over the restart.
      const applied = (s: Record<string, number>) =>
        Object.fromEntries(Object.entries(s).filter(([k]) => /update_(success|rejected)$/.test(k)));
      expect(applied(await updateStats(sidecar))).toEqual(applied(envoyBefore));
      expect(await answers(sidecar, SHOP, 10)).toEqual({ v1: expect.any(Number), v2: expect.any(Number) });
    });

    it('keeps make-before-break on the first edit after the reconnect: a dropped target is unrouted before its cluster goes', async () => {
      const v1Cluster = `cds_egress_${MESH}_v1_http_${v1.port}`;
      expect(await sidecar.admin('/clusters')).toContain(`${v1Cluster}::`);
      // Concurrent requests while the edit lands: a route naming a cluster Envoy no longer has answers 503.
      const failures: string[] = [];
      let ok = 0;
      let running = true;
      const worker = async () => {
        while (running) {
          try {
            const r = await sidecar.request(SHOP, { timeoutMs: 5000 });
            if (r.status === 200) ok++;
            else failures.push(`HTTP ${r.status} ${r.body.slice(0, 100)}`);
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
      };
      const workers = Array.from({ length: 8 }, worker);
      const from = sidecar.meshd.stderr().length;
      try {
        await waitFor('some requests before the edit', () => (ok >= 20 ? true : undefined));
        await sidecar.reloadMesh(meshYaml({ shop: [[v2, 100]] }));
        await failOnError(
          sidecar,
          waitFor(
            'Envoy to drop the v1 cluster',
            async () => (!(await sidecar.admin('/clusters')).includes(`${v1Cluster}::`) ? true : undefined),
            15000,
            20,
          ),
        );
        const okAtRemoval = ok;
        await waitFor('more requests after the edit', () => (ok >= okAtRemoval + 50 ? true : undefined), 10000);
      } finally {
        running = false;
        await Promise.all(workers);
      }
      // meshd's own account (debug log): the route stopped naming v1 (RDS ACKed) before CDS removed it.
      const log = sidecar.meshd.stderr().slice(from).split('\n');
      const rdsAcked = log.findIndex((l) => /ACKed RDS version/.test(l));
      const cdsRemoval = log.findIndex((l) => /sent CDS version \S+ .*removed=[1-9]/.test(l));
      expect({ rdsAcked: rdsAcked >= 0, cdsRemoval: cdsRemoval >= 0 }).toEqual({ rdsAcked: true, cdsRemoval: true });
      const order =
        rdsAcked < cdsRemoval
          ? 'RDS ACKed, then CDS removal'
          : `CDS removal sent before the RDS ACK:\n${log.filter((l) => / (sent|ACKed) /.test(l)).join('\n')}`;
      expect(order).toBe('RDS ACKed, then CDS removal');
      expect(failures).toEqual([]);
      expect(await answers(sidecar, SHOP, 10)).toEqual({ v2: 10 });
    });
  });
}
