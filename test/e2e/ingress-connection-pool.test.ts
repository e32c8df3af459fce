// A virtual-node listener's connectionPool and timeout act at the callee's ingress: the
// callee (app on 127.0.0.1 inside its namespace, App Mesh's ingress capture rule sending the
// app's ports to its Envoy on 15000) is called from the root namespace at <ns ip>:<port>,
// as any client would. The app holds /hold requests until the test releases them, so
// "busy" is a state the test controls, not a matter of timing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeWithNetns, readableTmpDir, removeReadableTmpDirs } from '../helpers/netns';
import { waitFor } from '../helpers/processes';
import {
  envoyStats,
  request,
  startCallee,
  startMeshdForNetns,
  type Callee,
  type HttpResult,
  type MeshdForNetns,
} from '../helpers/sidecars';

const MESH = 'pool';
const POOLED_PORT = 8080; // connectionPool: at most 1 connection to the app, 1 request waiting
const TIMED_PORT = 8081; // timeout.http.perRequest: 1 s
const INGRESS_CLUSTER = `cds_ingress_${MESH}_callee_http_${POOLED_PORT}`;

function meshYaml(calleeIp: string): string {
  return `kind: Mesh
name: ${MESH}
---
kind: VirtualNode
mesh: ${MESH}
name: callee
spec:
  listeners:
    - portMapping: { port: ${POOLED_PORT}, protocol: http }
      connectionPool: { http: { maxConnections: 1, maxPendingRequests: 1 } }
    - portMapping: { port: ${TIMED_PORT}, protocol: http }
      timeout: { http: { perRequest: { unit: s, value: 1 } } }
  serviceDiscovery: { dns: { hostname: ${calleeIp} } }
`;
}

describeWithNetns(
  'ingress connectionPool and timeout: enforced by the callee sidecar in front of its app',
  (envoyBin) => {
    let meshd: MeshdForNetns;
    let callee: Callee;

    const call = (port: number, p = '/', timeoutMs = 10000): Promise<HttpResult> =>
      request({ host: callee.ns.nsIp, port, path: p, timeoutMs });
    /** A request left running while the test goes on: never an unhandled rejection. */
    const inFlight = (port: number, p: string): Promise<HttpResult | Error> =>
      call(port, p, 30000).catch((err: Error) => err);
    const held = async () => Number(await callee.control('held'));
    const clusterStat = async (name: string) =>
      (await envoyStats(callee.sidecar.adminHost, callee.sidecar.adminPort, `cluster.${INGRESS_CLUSTER}.`))[
        `cluster.${INGRESS_CLUSTER}.${name}`
      ];

    beforeAll(async () => {
      const meshFile = path.join(readableTmpDir(), 'mesh.yaml');
      fs.writeFileSync(meshFile, meshYaml('127.0.0.1'));
      meshd = await startMeshdForNetns(meshFile);
      callee = await startCallee({
        envoyBin,
        nodeId: `mesh/${MESH}/virtualNode/callee`,
        xdsPort: meshd.xdsPort,
        appName: 'callee',
        appPorts: [POOLED_PORT, TIMED_PORT],
        beforeSidecar: (ns) => fs.writeFileSync(meshFile, meshYaml(ns.nsIp)),
        // One worker: Envoy enforces max_connections per cluster but lets each worker's
        // connection pool open one connection even at the limit, so with N workers up to N
        // requests can reach the app at once. One worker makes "1 connection" exact.
        concurrency: 1,
      });
      await waitFor(
        'the callee ingress to serve',
        async () => ((await call(POOLED_PORT).catch(() => undefined))?.status === 200 ? true : undefined),
        20000,
        100,
      );
    });

    afterEach(async () => {
      await callee?.control('release').catch(() => undefined);
    });

    afterAll(async () => {
      await callee?.destroy();
      await meshd?.stop();
      removeReadableTmpDirs();
    });

    it('serves requests within the limits', async () => {
      for (let i = 0; i < 10; i++)
        expect(await call(POOLED_PORT)).toMatchObject({ status: 200, body: `callee:${POOLED_PORT}` });
    });

    it('answers 503 x-envoy-overloaded once one request is in flight and one is waiting, then serves both', async () => {
      await callee.control('arm');
      const overflowBefore = (await clusterStat('upstream_rq_pending_overflow')) ?? 0;

      // 1st: reaches the app and is held there (the one connection is busy).
      const first = inFlight(POOLED_PORT, '/hold/1');
      await waitFor('the app to hold the first request', async () => ((await held()) === 1 ? true : undefined));

      // 2nd: must wait in Envoy for the connection (pending). Without the circuit breaker it
      // would open a second connection and be held by the app instead.
      const second = inFlight(POOLED_PORT, '/hold/2');
      const where = await waitFor('the second request to be pending in Envoy or held by the app', async () => {
        if ((await held()) >= 2) return 'held by the app: Envoy opened a second connection to the app';
        return (await clusterStat('upstream_rq_pending_active')) === 1 ? 'pending' : undefined;
      });
      expect(where).toBe('pending');

      // 3rd: no room left. Settles as soon as Envoy answers, or is seen held by the app.
      let third: HttpResult | Error | undefined;
      const thirdDone = inFlight(POOLED_PORT, '/hold/3').then((r) => (third = r));
      const outcome = await waitFor('the third request to be answered or held', async () => {
        if (third) return third;
        return (await held()) >= 2 ? 'held by the app' : undefined;
      });
      expect(outcome).toMatchObject({ status: 503, headers: { 'x-envoy-overloaded': 'true' } });
      expect(await clusterStat('upstream_rq_pending_overflow')).toBeGreaterThan(overflowBefore);

      await callee.control('release');
      await expect(first).resolves.toMatchObject({ status: 200, body: `callee:${POOLED_PORT}` });
      await expect(second).resolves.toMatchObject({ status: 200, body: `callee:${POOLED_PORT}` });
      await thirdDone;
    });

    it('serves again once the held requests are done', async () => {
      for (let i = 0; i < 5; i++)
        expect(await call(POOLED_PORT)).toMatchObject({ status: 200, body: `callee:${POOLED_PORT}` });
    });

    it('answers 504 when the app does not answer within the listener perRequest timeout', async () => {
      await callee.control('arm');
      // The client waits 10 s: well past the listener's 1 s, well short of the 15 s default.
      const r = await call(TIMED_PORT, '/hold', 10000).catch((err: Error) => err.message);
      expect(r).toMatchObject({ status: 504, body: 'upstream request timeout' });
    });

    it('answers quick requests on the timed listener', async () => {
      expect(await call(TIMED_PORT)).toMatchObject({ status: 200, body: `callee:${TIMED_PORT}` });
    });
  },
);
