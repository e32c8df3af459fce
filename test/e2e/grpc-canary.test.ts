// gRPC canary analysis end to end: meshd serving over ADS, a real Envoy sidecar sending its stats
// to meshd over DogStatsD, two real grpc-js servers (primary and canary, each a virtual node with a
// grpc listener) and a real grpc-js client calling through the sidecar in a loop. A gRPC failure
// travels inside HTTP 200 (grpc-js answers a failed unary call trailers-only), so only the
// grpc_stats filter meshd compiles into the egress connection manager lets the rollout see it.
//
// App Mesh's default retry policy retries UNAVAILABLE twice on the same cluster: a canary that
// always answers UNAVAILABLE is called three times per client call, and its caller still gets one
// UNAVAILABLE, which meshd counts once. Intervals are 2 s, and Envoy flushes its stats every 200 ms.
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { describeWithEnvoy } from '../helpers/envoy';
import { getOk, tmpDir, waitFor } from '../helpers/processes';
import { untilRolloutPhase } from '../helpers/rollout-status';
import { startSidecar, targetNodeYaml, type Sidecar } from '../helpers/sidecar-harness';
import {
  GrpcEgressClient,
  grpcReady,
  startGrpcUpstream,
  type GrpcResult,
  type GrpcUpstream,
} from '../helpers/upstreams';

const MESH = 'rpc';
const NODE_ID = `mesh/${MESH}/virtualNode/client`;
const SERVICE = 'api.rpc.local';
const ROUTER_PORT = 8080;
const AUTHORITY = `${SERVICE}:${ROUTER_PORT}`;
/** More calls than a rollout here makes (about 100 a second for under a minute, three attempts each). */
const FOREVER = 50_000;

interface RolloutOptions {
  /** YAML for analysis.grpcFailureCodes; left out: the default list. */
  grpcFailureCodes?: string;
}

function rolloutYaml(o: RolloutOptions): string {
  return `kind: Rollout
mesh: ${MESH}
name: api
spec:
  route: { virtualRouter: api, name: main }
  primary: api-v1
  canary: api-v2
  analysis:
    interval: 2s
    stepWeight: 20
    maxWeight: 60
    threshold: 2
    minRequests: 5
    metrics:
      - name: request-success-rate
        thresholdRange: { min: 95 }
${o.grpcFailureCodes !== undefined ? `    grpcFailureCodes: ${o.grpcFailureCodes}\n` : ''}`;
}

function meshYaml(v1: GrpcUpstream, v2: GrpcUpstream, rollout?: RolloutOptions): string {
  return [
    `kind: Mesh\nname: ${MESH}\nspec: {}\n`,
    `kind: VirtualNode\nmesh: ${MESH}\nname: client\nspec:\n  backends: [{ virtualService: { virtualServiceName: ${SERVICE} } }]\n`,
    targetNodeYaml(MESH, 'api-v1', v1.port, 'grpc'),
    targetNodeYaml(MESH, 'api-v2', v2.port, 'grpc'),
    `kind: VirtualRouter\nmesh: ${MESH}\nname: api\nspec: { listeners: [{ portMapping: { port: ${ROUTER_PORT}, protocol: grpc } }] }\n`,
    `kind: Route
mesh: ${MESH}
virtualRouter: api
name: main
spec:
  grpcRoute:
    match: { serviceName: meshd.traffic.Colors }
    action:
      weightedTargets:
        - virtualNode: api-v1
          weight: 100
        - virtualNode: api-v2
          weight: 0
`,
    `kind: VirtualService\nmesh: ${MESH}\nname: ${SERVICE}\nspec: { provider: { virtualRouter: { virtualRouterName: api } } }\n`,
    ...(rollout ? [rolloutYaml(rollout)] : []),
  ].join('---\n');
}

/** Who answered a call: the server's name, or the status and the server that failed it (details name it). */
function answeredBy(r: GrpcResult): string {
  return r.ok ? r.answer.server : `${r.details.split(' ')[0]} ${grpc.status[r.code]}`;
}

/** gRPC calls at a steady pace through the sidecar, each remembered with when it ended and who answered. */
class CallLoop {
  readonly answers: { at: number; by: string }[] = [];
  private running = true;
  private readonly workers: Promise<void>[];
  private readonly client: GrpcEgressClient;

  constructor(sidecar: Sidecar, concurrency = 2, pauseMs = 15) {
    this.client = new GrpcEgressClient(sidecar.egressPort, AUTHORITY);
    this.workers = Array.from({ length: concurrency }, async () => {
      while (this.running) {
        const r = await this.client.call('Colors', 'Pick', {}, 5000);
        this.answers.push({ at: Date.now(), by: answeredBy(r) });
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    });
  }

  count(by: string): number {
    return this.answers.filter((a) => a.by === by).length;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
    this.client.close();
  }
}

interface NodeTraffic {
  mesh: string;
  virtualNode: string;
  requests: number;
  errors: number;
  grpc?: { calls: number; statuses: Record<string, number>; errors5xx: number };
}

describeWithEnvoy('gRPC canary analysis: gRPC failures inside HTTP 200, seen through grpc_stats', (envoyBin) => {
  let v1: GrpcUpstream;
  let v2: GrpcUpstream;
  let sidecar: Sidecar | undefined;
  let load: CallLoop | undefined;

  beforeEach(async () => {
    v1 = await startGrpcUpstream('api-v1');
    v2 = await startGrpcUpstream('api-v2');
  });

  afterEach(async () => {
    await load?.stop();
    await sidecar?.stop();
    await v1.close();
    await v2.close();
    [load, sidecar] = [undefined, undefined];
  });

  const start = async () => {
    const state = path.join(tmpDir('grpc-canary-state-'), 'rollouts.json');
    sidecar = await startSidecar({
      envoyBin,
      meshYaml: meshYaml(v1, v2),
      nodeId: NODE_ID,
      ready: grpcReady(AUTHORITY),
      dogStatsd: true,
      bootstrapArgs: ['--stats-flush-interval', '200ms'],
      meshdArgs: ['--rollout-state', state],
    });
    v1.reset();
    v2.reset();
    return sidecar;
  };

  const untilEnded = (s: Sidecar) => untilRolloutPhase(s, ['Succeeded', 'Failed', 'Paused']);

  const traffic = async (s: Sidecar, node: string): Promise<NodeTraffic | undefined> => {
    const body = JSON.parse(await getOk(s.meshdAdminPort, '/v1/telemetry?window=15m')) as {
      virtualNodes: NodeTraffic[];
    };
    return body.virtualNodes.find((n) => n.mesh === MESH && n.virtualNode === node);
  };

  /**
   * meshd and Envoy with the mesh, then a canary failing every call with `code` (trailers-only) from then on, the
   * rollout added under the client's load, and its end; the load stops `settleMs` after it.
   */
  const rollOutFailingCanary = async (code: grpc.status, rollout: RolloutOptions, settleMs = 0) => {
    const s = await start();
    // After start (which resets the servers): every call the canary gets from now on fails, trailers-only.
    v2.failNext(FOREVER, code);
    const calls = new CallLoop(s);
    load = calls;
    await s.reloadMesh(meshYaml(v1, v2, rollout));
    const done = await untilEnded(s);
    if (settleMs > 0) await new Promise((resolve) => setTimeout(resolve, settleMs));
    await calls.stop();
    return { s, done, calls };
  };

  test('a canary answering gRPC UNAVAILABLE in HTTP 200 is rolled back; meshd counts each call once despite the retries', async () => {
    const { s, done, calls } = await rollOutFailingCanary(grpc.status.UNAVAILABLE, {}, 800);

    expect(done.phase).toBe('Failed');
    expect(done.failedChecks).toBe(2);
    const messages = done.events.map((e) => e.message).join('\n');
    // No 5xx at all: the analysis failed on the gRPC status alone.
    expect(messages).toMatch(
      /check 1 of 2 failed: success rate [0-9.]+% over the last 2s \(0 HTTP 5xx of [0-9.]+ requests; gRPC UNAVAILABLE [0-9.]+ of [0-9.]+ calls\), below the minimum 95%/,
    );
    expect(messages).toMatch(/rolling back after 2 failed check\(s\)/);
    // The client saw the canary's UNAVAILABLE; the primary never failed.
    const failed = calls.count('api-v2 UNAVAILABLE');
    expect(failed).toBeGreaterThan(5);
    expect(calls.answers.filter((a) => !['api-v1', 'api-v2 UNAVAILABLE'].includes(a.by))).toEqual([]);
    // App Mesh's default retry policy: each failing call reached the canary three times...
    expect(v2.calls.length).toBe(3 * failed);
    // ...and meshd counted it once, as UNAVAILABLE, and as a 2xx (no 5xx): what the caller got.
    const seen = await waitFor('meshd to count every call the canary failed', async () => {
      const t = await traffic(s, 'api-v2');
      return t?.grpc?.statuses.UNAVAILABLE === failed && t.requests === failed ? t : undefined;
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await traffic(s, 'api-v2'))}`);
    });
    expect(seen.requests).toBe(failed);
    expect(seen.errors).toBe(0);
    expect(seen.grpc).toMatchObject({ calls: failed, errors5xx: 0, statuses: { OK: 0, UNAVAILABLE: failed } });
    // The primary's calls all ended OK.
    // The primary's calls all ended OK (the readiness probes' calls are among them too).
    const primary = await waitFor("meshd to count the primary's calls", async () => {
      const t = await traffic(s, 'api-v1');
      return (t?.grpc?.statuses.OK ?? 0) >= calls.count('api-v1') ? t : undefined;
    });
    expect(primary.grpc?.calls).toBe(primary.grpc?.statuses.OK);
    expect(primary.errors).toBe(0);
  }, 90000);

  test('with grpcFailureCodes: [] the same canary counts as healthy and is promoted: only 5xx fail then', async () => {
    const { done, calls } = await rollOutFailingCanary(grpc.status.UNAVAILABLE, { grpcFailureCodes: '[]' });
    expect(done.phase).toBe('Succeeded');
    expect(done.failedChecks).toBe(0);
    expect(calls.count('api-v2 UNAVAILABLE')).toBeGreaterThan(5);
  }, 90000);

  test('a custom list: a canary failing with NOT_FOUND (not retried, not failing by default) is rolled back', async () => {
    const { done, calls } = await rollOutFailingCanary(grpc.status.NOT_FOUND, {
      grpcFailureCodes: '[NOT_FOUND, UNAVAILABLE]',
    });
    expect(done.phase).toBe('Failed');
    expect(done.events.map((e) => e.message).join('\n')).toMatch(
      /success rate [0-9.]+% over the last 2s \(0 HTTP 5xx of [0-9.]+ requests; gRPC NOT_FOUND [0-9.]+ of [0-9.]+ calls\), below the minimum 95%/,
    );
    // Not a status the default retry policy retries: one attempt per call.
    expect(v2.calls.length).toBe(calls.count('api-v2 NOT_FOUND'));
  }, 90000);

  test("a canary that cannot be reached is rolled back: Envoy's own 503 is also UNAVAILABLE, and meshd keeps both counts", async () => {
    const s = await start();
    // The canary's server goes away: its sidecar-less endpoint refuses connections, and the caller's
    // Envoy answers each call itself (after its retries): HTTP 503, turned into gRPC UNAVAILABLE.
    await v2.close();
    load = new CallLoop(s);
    await s.reloadMesh(meshYaml(v1, v2, {}));
    const done = await untilEnded(s);
    await load.stop();
    expect(done.phase).toBe('Failed');
    const failed = load.count('upstream UNAVAILABLE');
    expect(failed).toBeGreaterThan(5);
    expect(done.events.map((e) => e.message).join('\n')).toMatch(
      /success rate 0% over the last 2s \(([0-9]+) HTTP 5xx of \1 requests; gRPC UNAVAILABLE \1 of \1 calls\), below the minimum 95%/,
    );
    // Each such call is one 5xx of a gRPC listener and one UNAVAILABLE: counted once by the analysis.
    const t = await waitFor('meshd to count every unreachable call', async () => {
      const n = await traffic(s, 'api-v2');
      return n?.requests === failed && n.grpc?.statuses.UNAVAILABLE === failed ? n : undefined;
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${failed} failed, ${JSON.stringify(await traffic(s, 'api-v2'))}`);
    });
    expect(t).toMatchObject({ requests: failed, errors: failed, grpc: { calls: failed, errors5xx: failed } });
  }, 90000);

  test('a healthy gRPC canary is promoted', async () => {
    const s = await start();
    load = new CallLoop(s);
    await s.reloadMesh(meshYaml(v1, v2, {}));
    const done = await untilEnded(s);
    await load.stop();
    expect(done.phase).toBe('Succeeded');
    expect(done.failedChecks).toBe(0);
    expect(load.count('api-v2')).toBeGreaterThan(5);
    const t = await traffic(s, 'api-v2');
    expect(t?.grpc?.statuses.OK).toBeGreaterThan(5);
  }, 90000);
});
