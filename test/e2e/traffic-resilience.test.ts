// Resilience end to end on a real Envoy sidecar configured by meshd: App Mesh retry policies
// (the user's and App Mesh's default one), per-request and per-retry timeouts, outlier
// detection and active health checks on the caller's egress clusters. Upstreams are test apps
// told at run time to fail, stall or fail their health check; each counts what it saw.
import { describeWithEnvoy } from '../helpers/envoy';
import { answeredBy, startSidecar, targetNodeYaml, type Sidecar } from '../helpers/sidecar-harness';
import { startHttpUpstream, type HttpUpstream } from '../helpers/upstreams';
import { waitFor } from '../helpers/processes';

const MESH = 'resilience';
const NODE_ID = `mesh/${MESH}/virtualNode/client`;
const SERVICE = 'svc.resilience.local';

const NAMES = ['retry', 'pertry', 'slow', 'plain', 'flaky', 'hc-good', 'hc-bad'] as const;
type Name = (typeof NAMES)[number];

const HEALTH_CHECK =
  'healthCheck: { protocol: http, path: /health, intervalMillis: 5000, timeoutMillis: 2000, healthyThreshold: 2, unhealthyThreshold: 2 }';
const OUTLIER_DETECTION =
  'outlierDetection: { maxServerErrors: 3, interval: { value: 10, unit: s }, baseEjectionDuration: { value: 60, unit: s }, maxEjectionPercent: 100 }';

function route(name: string, priority: number, body: string): string {
  return `kind: Route\nmesh: ${MESH}\nvirtualRouter: svc\nname: ${name}\nspec:\n  priority: ${priority}\n  httpRoute:\n${body}`;
}

function meshYaml(u: Record<Name, HttpUpstream>): string {
  const target = (n: Name) => `    action: { weightedTargets: [{ virtualNode: ${n}, weight: 1 }] }\n`;
  return [
    `kind: Mesh\nname: ${MESH}\nspec: { egressFilter: { type: DROP_ALL } }\n`,
    `kind: VirtualNode\nmesh: ${MESH}\nname: client\nspec:\n  backends: [{ virtualService: { virtualServiceName: ${SERVICE} } }]\n`,
    ...(['retry', 'pertry', 'slow', 'plain'] as const).map((n) => targetNodeYaml(MESH, n, u[n].port)),
    targetNodeYaml(MESH, 'flaky', u.flaky.port, 'http', OUTLIER_DETECTION),
    targetNodeYaml(MESH, 'hc-good', u['hc-good'].port, 'http', HEALTH_CHECK),
    targetNodeYaml(MESH, 'hc-bad', u['hc-bad'].port, 'http', HEALTH_CHECK),
    `kind: VirtualRouter\nmesh: ${MESH}\nname: svc\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n`,
    route(
      'user-retry',
      1,
      `    match: { prefix: /retry }\n    retryPolicy: { maxRetries: 2, perRetryTimeout: { value: 2, unit: s }, httpRetryEvents: [server-error] }\n${target('retry')}`,
    ),
    route(
      'per-try',
      2,
      `    match: { prefix: /per-try }\n    retryPolicy: { maxRetries: 1, perRetryTimeout: { value: 1000, unit: ms }, httpRetryEvents: [gateway-error] }\n${target('pertry')}`,
    ),
    route(
      'per-try-stream-error',
      0,
      `    match: { prefix: /stalled-retry }\n    retryPolicy: { maxRetries: 1, perRetryTimeout: { value: 1000, unit: ms }, httpRetryEvents: [stream-error] }\n${target('pertry')}`,
    ),
    route(
      'slow',
      3,
      `    match: { prefix: /slow }\n    timeout: { perRequest: { value: 1, unit: s } }\n${target('slow')}`,
    ),
    route('outlier', 4, `    match: { prefix: /outlier }\n${target('flaky')}`),
    route(
      'hc',
      5,
      `    match: { prefix: /hc }\n    action: { weightedTargets: [{ virtualNode: hc-good, weight: 50 }, { virtualNode: hc-bad, weight: 50 }] }\n`,
    ),
    route('default', 100, `    match: { prefix: / }\n${target('plain')}`),
    `kind: VirtualService\nmesh: ${MESH}\nname: ${SERVICE}\nspec: { provider: { virtualRouter: { virtualRouterName: svc } } }\n`,
  ].join('---\n');
}

describeWithEnvoy(
  'traffic resilience: retries, timeouts, outlier detection, health checks on a real Envoy',
  (envoyBin) => {
    const u = {} as Record<Name, HttpUpstream>;
    let sidecar: Sidecar;
    const cluster = (n: Name) => `cds_egress_${MESH}_${n}_http_${u[n].port}`;
    const get = (path: string) => sidecar.request(SERVICE, { path });
    /** The `health_flags` Envoy's admin /clusters shows for the (only) host of a target's cluster. */
    const healthFlags = async (n: Name) => {
      const line = (await sidecar.admin('/clusters'))
        .split('\n')
        .find((l) => l.startsWith(`${cluster(n)}::`) && l.includes('::health_flags::'));
      return line?.split('::health_flags::')[1]?.trim();
    };

    beforeAll(async () => {
      for (const n of NAMES) u[n] = await startHttpUpstream(n);
      // Failing its health check before Envoy ever sees it: Envoy's first probe already fails.
      u['hc-bad'].setHealthy(false);
      sidecar = await startSidecar({ envoyBin, meshYaml: meshYaml(u), nodeId: NODE_ID, ready: { host: SERVICE } });
    }, 60000);

    afterAll(async () => {
      await sidecar?.stop();
      for (const n of NAMES) await u[n]?.close();
    });

    beforeEach(() => {
      for (const n of NAMES) {
        if (n === 'hc-bad' || n === 'hc-good') continue; // their health state carries across the health-check tests
        u[n].reset();
      }
    });

    describe('a user retry policy (maxRetries 2, server-error)', () => {
      it('turns fail, fail, succeed into one success', async () => {
        u.retry.failNext(2, 500);
        const r = await get('/retry/a');
        expect(answeredBy(r)).toBe('retry');
        expect(u.retry.requests).toHaveLength(3);
      });

      it('gives up after maxRetries: the client gets the last failure, the upstream saw 1 + 2 attempts', async () => {
        const before = (await sidecar.stat(`cluster.${cluster('retry')}.upstream_rq_retry_limit_exceeded`)) ?? 0;
        u.retry.failNext(10, 502);
        const r = await get('/retry/b');
        expect(r.status).toBe(502);
        expect(u.retry.requests).toHaveLength(3);
        expect(await sidecar.stat(`cluster.${cluster('retry')}.upstream_rq_retry_limit_exceeded`)).toBe(before + 1);
      });

      it('does not retry a status outside its events (409 is client-error)', async () => {
        u.retry.failNext(1, 409);
        expect((await get('/retry/c')).status).toBe(409);
        expect(u.retry.requests).toHaveLength(1);
      });
    });

    describe('perRetryTimeout (1000 ms, gateway-error, maxRetries 1)', () => {
      it('retries a gateway error (502) under the same policy', async () => {
        u.pertry.failNext(1, 502);
        expect(answeredBy(await get('/per-try'))).toBe('pertry');
        expect(u.pertry.requests).toHaveLength(2);
      });

      it('cuts each attempt that stalls past it: 504 instead of waiting for the upstream (or the 15 s route timeout)', async () => {
        const before = (await sidecar.stat(`cluster.${cluster('pertry')}.upstream_rq_per_try_timeout`)) ?? 0;
        u.pertry.stallNext(5, 8000); // would answer 200 after 8 s
        const r = await get('/per-try');
        expect(r.status).toBe(504);
        expect(r.body).toBe('upstream request timeout');
        expect(await sidecar.stat(`cluster.${cluster('pertry')}.upstream_rq_per_try_timeout`)).toBe(before + 2);
        // gateway-error includes Envoy's reset condition (App Mesh's API reference), which retries
        // an attempt cut by the per-try timeout: 1 + maxRetries (1) attempts, both cut.
        expect(u.pertry.requests).toHaveLength(2);
      });

      it('does not retry an attempt cut by the per-try timeout when the policy lists only stream-error (refused stream)', async () => {
        u.pertry.stallNext(1, 8000);
        const r = await get('/stalled-retry');
        expect(r.status).toBe(504);
        expect(u.pertry.requests).toHaveLength(1);
      });
    });

    describe('a route timeout (perRequest 1 s)', () => {
      it('lets an answer within the timeout through', async () => {
        u.slow.stallNext(1, 200);
        expect(answeredBy(await get('/slow'))).toBe('slow');
      });

      it('answers 504 when the upstream stalls past it, without waiting for the upstream', async () => {
        // The upstream would answer 200 after 8 s; the client (20 s patience) must get Envoy's 504 instead.
        u.slow.stallNext(1, 8000);
        const r = await get('/slow');
        expect(r.status).toBe(504);
        expect(r.body).toBe('upstream request timeout');
        // A route timeout ends the request: no retry (the default policy does not retry timeouts).
        expect(u.slow.requests).toHaveLength(1);
      });
    });

    describe("App Mesh's default retry policy on a route without one", () => {
      it('retries a 503 once: the client gets 200 and the upstream saw 2 requests', async () => {
        u.plain.failNext(1, 503);
        const r = await get('/default');
        expect(answeredBy(r)).toBe('plain');
        expect(u.plain.requests).toHaveLength(2);
      });

      it('stops after 2 retries (3 attempts) of a 503', async () => {
        u.plain.failNext(10, 503);
        expect((await get('/default')).status).toBe(503);
        expect(u.plain.requests).toHaveLength(3);
      });

      it('does not retry a 500 (only 503 among the status codes)', async () => {
        u.plain.failNext(1, 500);
        expect((await get('/default')).status).toBe(500);
        expect(u.plain.requests).toHaveLength(1);
      });
    });

    describe('outlier detection (maxServerErrors 3) on the target listener', () => {
      it('ejects the host after 3 consecutive 5xx', async () => {
        const stat = (s: string) => sidecar.stat(`cluster.${cluster('flaky')}.outlier_detection.${s}`);
        expect(answeredBy(await get('/outlier'))).toBe('flaky');
        expect(await stat('ejections_active')).toBe(0);
        u.flaky.failAll(500); // 500: not retried by the default policy, so each request is one upstream 5xx
        for (let i = 0; i < 2; i++) expect((await get('/outlier')).status).toBe(500);
        expect(await stat('ejections_enforced_total')).toBe(0); // 2 errors are not 3
        expect((await get('/outlier')).status).toBe(500);
        await waitFor(
          'the host to be ejected',
          async () => ((await stat('ejections_enforced_total')) === 1 ? true : undefined),
          5000,
        );
        expect(await stat('ejections_active')).toBe(1);
        expect(await stat('ejections_enforced_consecutive_5xx')).toBe(1);
        expect(await healthFlags('flaky')).toContain('failed_outlier_check');
        // One host per target cluster (DNS LOADBALANCER): with it ejected the cluster is below
        // Envoy's panic threshold, so Envoy still sends it traffic rather than failing requests.
      });
    });

    describe('an active health check (every 5 s, thresholds 2) on weighted targets', () => {
      // Each weighted target is its own single-host cluster. Envoy marks a failing host
      // failed_active_hc, but a cluster whose only host is unhealthy is 0% healthy, below the
      // default 50% panic threshold, so Envoy load-balances over all its hosts anyway ("panic
      // mode", counted in lb_healthy_panic): the weighted route keeps sending that target its
      // share. What a user sees is the admin state and health-check stats, asserted here.
      const hcStat = (n: Name, s: string) => sidecar.stat(`cluster.${cluster(n)}.${s}`);

      it('marks the target whose health path fails as failed_active_hc, and only that one', async () => {
        await waitFor(
          'hc-bad to fail its first health check',
          async () => ((await hcStat('hc-bad', 'health_check.failure')) ?? 0) >= 1 || undefined,
          10000,
        );
        await waitFor(
          'hc-good to pass its first health check',
          async () => ((await hcStat('hc-good', 'health_check.success')) ?? 0) >= 1 || undefined,
          10000,
        );
        expect(await healthFlags('hc-bad')).toBe('/failed_active_hc');
        expect(await healthFlags('hc-good')).toBe('healthy');
        expect(await hcStat('hc-bad', 'membership_healthy')).toBe(0);
        expect(await hcStat('hc-good', 'membership_healthy')).toBe(1);
        expect(u['hc-bad'].healthChecks).toBeGreaterThanOrEqual(1);
      });

      it('keeps answering through the unhealthy target in panic mode (no outage), counting lb_healthy_panic', async () => {
        const seen: Record<string, number> = {};
        for (let i = 0; i < 40; i++) {
          const by = answeredBy(await get('/hc'));
          seen[by] = (seen[by] ?? 0) + 1;
        }
        expect(Object.keys(seen).sort()).toEqual(['hc-bad', 'hc-good']);
        expect(await hcStat('hc-bad', 'lb_healthy_panic')).toBe(seen['hc-bad']);
        expect(await hcStat('hc-good', 'lb_healthy_panic')).toBe(0);
      });

      it('puts the target back once its health path passes healthyThreshold (2) checks in a row', async () => {
        const successesBefore = (await hcStat('hc-bad', 'health_check.success')) ?? 0;
        u['hc-bad'].setHealthy(true);
        // Envoy probes every interval (5 s); meshd sets no_traffic_interval
        // to the same value, so this holds with or without traffic.
        await waitFor(
          'hc-bad to be healthy again',
          async () => ((await healthFlags('hc-bad')) === 'healthy' ? true : undefined),
          30000,
          250,
        );
        expect(await hcStat('hc-bad', 'health_check.success')).toBeGreaterThanOrEqual(successesBefore + 2);
        expect(await hcStat('hc-bad', 'membership_healthy')).toBe(1);
        const panics = await hcStat('hc-bad', 'lb_healthy_panic');
        for (let i = 0; i < 10; i++) expect((await get('/hc')).status).toBe(200);
        expect(await hcStat('hc-bad', 'lb_healthy_panic')).toBe(panics);
      }, 45000);

      it('takes a healthy target out at its next check once its health path answers 503', async () => {
        // Envoy ignores unhealthy_threshold when a health check gets a definite non-200 answer
        // (only timeouts and connection failures count towards it), so one failed probe is enough.
        expect(await healthFlags('hc-good')).toBe('healthy');
        const failuresBefore = (await hcStat('hc-good', 'health_check.failure')) ?? 0;
        u['hc-good'].setHealthy(false);
        await waitFor(
          'hc-good to be marked failed_active_hc',
          async () => ((await healthFlags('hc-good')) === '/failed_active_hc' ? true : undefined),
          20000,
          250,
        );
        expect(await hcStat('hc-good', 'health_check.failure')).toBe(failuresBefore + 1);
        expect(await hcStat('hc-good', 'membership_healthy')).toBe(0);
      }, 30000);
    });
  },
);
