// Progressive canary rollouts end to end: meshd, a real Envoy sidecar reporting its stats to
// meshd over DogStatsD, two real upstream apps (primary and canary) and a load loop counting
// who answered. The rollout controller rewrites the route in the mesh file; the test watches
// the weights Envoy is actually running (its config_dump) and the traffic the loop sees.
// Intervals are shortened to 2 s, and Envoy flushes its stats every 200 ms.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeWithEnvoy } from '../helpers/envoy';
import { MESHD_BIN, tmpDir, waitFor } from '../helpers/processes';
import { rolloutStatus, untilRolloutPhase } from '../helpers/rollout-status';
import { answeredBy, startSidecar, targetNodeYaml, type Sidecar } from '../helpers/sidecar-harness';
import { startHttpUpstream, type HttpUpstream } from '../helpers/upstreams';

const MESH = 'shop';
const NODE_ID = `mesh/${MESH}/virtualNode/front`;
const SERVICE = 'cart.shop.local';

interface RolloutOptions {
  stepWeight: number;
  maxWeight: number;
  threshold: number;
  maxLatencyP99?: number;
}

function rolloutYaml(o: RolloutOptions): string {
  return `kind: Rollout
mesh: ${MESH}
name: cart
spec:
  route: { virtualRouter: cart, name: main }
  primary: cart-v1
  canary: cart-v2
  analysis:
    interval: 2s
    stepWeight: ${o.stepWeight}
    maxWeight: ${o.maxWeight}
    threshold: ${o.threshold}
    minRequests: 5
    metrics:
      - name: request-success-rate
        thresholdRange: { min: 95 }
      - name: request-duration
        thresholdRange: { max: ${o.maxLatencyP99 ?? 1000} }
`;
}

function meshYaml(v1: HttpUpstream, v2: HttpUpstream, rollout?: RolloutOptions): string {
  const docs = [
    `kind: Mesh\nname: ${MESH}\nspec: {}\n`,
    `kind: VirtualNode\nmesh: ${MESH}\nname: front\nspec:\n  backends: [{ virtualService: { virtualServiceName: ${SERVICE} } }]\n`,
    targetNodeYaml(MESH, 'cart-v1', v1.port),
    targetNodeYaml(MESH, 'cart-v2', v2.port),
    `kind: VirtualRouter\nmesh: ${MESH}\nname: cart\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n`,
    // Written the way people write routes: comments and a block list, which the rollout must keep.
    `kind: Route
mesh: ${MESH}
virtualRouter: cart
name: main
spec:
  httpRoute:
    match: { prefix: / }
    action:
      weightedTargets:
        # the version in production
        - virtualNode: cart-v1
          weight: 100   # primary
        # the new version
        - virtualNode: cart-v2
          weight: 0     # canary
`,
    `kind: VirtualService\nmesh: ${MESH}\nname: ${SERVICE}\nspec: { provider: { virtualRouter: { virtualRouterName: cart } } }\n`,
    ...(rollout ? [rolloutYaml(rollout)] : []),
  ];
  return docs.join('---\n');
}

/** Requests sent at a steady pace through the sidecar, each remembered with when it ended and who answered. */
class LoadLoop {
  readonly answers: { at: number; by: string }[] = [];
  private running = true;
  private readonly workers: Promise<void>[];

  constructor(sidecar: Sidecar, concurrency = 2, pauseMs = 15) {
    this.workers = Array.from({ length: concurrency }, async () => {
      while (this.running) {
        const r = await sidecar.request(SERVICE, { timeoutMs: 5000 }).catch(() => undefined);
        this.answers.push({ at: Date.now(), by: r ? answeredBy(r) : 'no answer' });
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    });
  }

  since(t: number): { at: number; by: string }[] {
    return this.answers.filter((a) => a.at >= t);
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }
}

/** The canary's weight in the route Envoy is running (from its config_dump), as a percentage. */
async function envoyCanaryWeight(sidecar: Sidecar): Promise<number | undefined> {
  const dump = JSON.parse(await sidecar.admin('/config_dump?resource=dynamic_route_configs')) as {
    configs: {
      route_config: {
        virtual_hosts: {
          routes: {
            route?: { weighted_clusters?: { clusters: { name: string; weight: number }[] }; cluster?: string };
          }[];
        }[];
      };
    }[];
  };
  for (const config of dump.configs) {
    for (const vhost of config.route_config.virtual_hosts) {
      for (const route of vhost.routes) {
        const clusters = route.route?.weighted_clusters?.clusters;
        if (clusters) {
          const total = clusters.reduce((sum, c) => sum + c.weight, 0);
          const canary = clusters.find((c) => c.name.includes('cart-v2'));
          return canary ? Math.round((100 * canary.weight) / total) : 0;
        }
        if (route.route?.cluster) return route.route.cluster.includes('cart-v2') ? 100 : 0;
      }
    }
  }
  return undefined;
}

/** Polls Envoy's route while a rollout runs: every distinct canary weight it served, with when it was first seen. */
class WeightWatch {
  readonly seen: { at: number; weight: number }[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(sidecar: Sidecar) {
    this.loop = (async () => {
      while (this.running) {
        const weight = await envoyCanaryWeight(sidecar).catch(() => undefined);
        if (weight !== undefined && this.seen.at(-1)?.weight !== weight) this.seen.push({ at: Date.now(), weight });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
  }

  weights(): number[] {
    return this.seen.map((s) => s.weight);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

function meshdCli(sidecar: Sidecar, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [MESHD_BIN, ...args, '--admin', `127.0.0.1:${sidecar.meshdAdminPort}`],
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describeWithEnvoy('canary rollouts driven by live Envoy telemetry', (envoyBin) => {
  let v1: HttpUpstream;
  let v2: HttpUpstream;
  let sidecar: Sidecar | undefined;
  let load: LoadLoop | undefined;
  let watch: WeightWatch | undefined;

  beforeEach(async () => {
    v1 = await startHttpUpstream('cart-v1');
    v2 = await startHttpUpstream('cart-v2');
  });

  afterEach(async () => {
    await load?.stop();
    await watch?.stop();
    await sidecar?.stop();
    await v1.close();
    await v2.close();
    [load, watch, sidecar] = [undefined, undefined, undefined];
  });

  /** meshd, Envoy and the mesh (the route at 100 / 0), with no rollout yet. */
  const start = async () => {
    const state = path.join(tmpDir('rollout-state-'), 'rollouts.json');
    sidecar = await startSidecar({
      envoyBin,
      meshYaml: meshYaml(v1, v2),
      nodeId: NODE_ID,
      ready: { host: SERVICE },
      dogStatsd: true,
      bootstrapArgs: ['--stats-flush-interval', '200ms'],
      meshdArgs: ['--rollout-state', state],
    });
    return sidecar;
  };

  const status = rolloutStatus;
  const untilPhase = untilRolloutPhase;

  test('a healthy canary is promoted step by step: Envoy runs each step and the traffic follows it', async () => {
    const s = await start();
    load = new LoadLoop(s);
    watch = new WeightWatch(s);
    // The user adds a Rollout to the running mesh.
    await s.reloadMesh(meshYaml(v1, v2, { stepWeight: 20, maxWeight: 60, threshold: 2 }));
    const done = await untilPhase(s, ['Succeeded', 'Failed', 'Paused']);
    // Waited for on the watch itself, so it has seen the last step before it stops.
    await waitFor('Envoy to run the promotion', () => (watch!.weights().at(-1) === 100 ? true : undefined));
    await watch.stop();
    const promotedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await load.stop();

    expect(done.phase).toBe('Succeeded');
    expect(done.failedChecks).toBe(0);
    // Every step, in order, reached Envoy: 0 → 20 → 40 → 60 → 100.
    expect(watch.weights()).toEqual([0, 20, 40, 60, 100]);
    // The traffic followed each step: the canary's share while Envoy ran a weight is near it.
    for (let i = 1; i < watch.seen.length - 1; i++) {
      const from = watch.seen[i]!.at + 300;
      const to = watch.seen[i + 1]!.at - 100;
      const answers = load.answers.filter((a) => a.at >= from && a.at <= to);
      const share = (100 * answers.filter((a) => a.by === 'cart-v2').length) / answers.length;
      expect(answers.length).toBeGreaterThan(30);
      expect(Math.abs(share - watch.seen[i]!.weight)).toBeLessThan(15);
    }
    const after = load.since(promotedAt);
    expect(after.length).toBeGreaterThan(5);
    expect(new Set(after.map((a) => a.by))).toEqual(new Set(['cart-v2']));
    // The route in the user's file now says so, with their comments where they were.
    const file = fs.readFileSync(s.meshFile, 'utf8');
    expect(file).toContain('- virtualNode: cart-v1\n          weight: 0   # primary');
    expect(file).toContain('- virtualNode: cart-v2\n          weight: 100     # canary');
    expect(file).toContain('# the version in production');
    expect(done.events.map((e) => e.message).join('\n')).toMatch(
      /advancing cart-v2 to 20%[\s\S]*to 40%[\s\S]*to 60%[\s\S]*promoted/,
    );
  }, 90000);

  test('a canary that starts failing at 30% is rolled back after `threshold` failed checks, and traffic returns to the primary', async () => {
    const s = await start();
    load = new LoadLoop(s);
    watch = new WeightWatch(s);
    const started = await meshdCli(s, [
      'rollout',
      'start',
      '--route',
      'cart/main',
      '--primary',
      'cart-v1',
      '--canary',
      'cart-v2',
      '--name',
      'cart',
      '--interval',
      '2s',
      '--step-weight',
      '10',
      '--max-weight',
      '50',
      '--threshold',
      '2',
      '--min-requests',
      '5',
      '--min-success-rate',
      '95',
    ]);
    expect(started).toMatchObject({ code: 0, stderr: '' });
    expect(started.stdout).toContain(`${MESH}/cart  Initializing`);

    // The canary breaks as soon as Envoy sends it 30%.
    await waitFor(
      'Envoy to run the 30% step',
      async () => ((await envoyCanaryWeight(s)) === 30 ? true : undefined),
      30000,
      50,
    );
    v2.failAll(500);
    const brokeAt = Date.now();
    const done = await untilPhase(s, ['Failed', 'Succeeded', 'Paused']);
    await waitFor('Envoy to run the rollback', () =>
      watch!.weights().length > 1 && watch!.weights().at(-1) === 0 ? true : undefined,
    );
    const rolledBackAt = Date.now();
    // Measured, not asserted (no timing asserts): the bound is threshold × interval = 4 s plus a step's reload.
    console.log(
      `rollout: canary failing at 30% → Envoy back at 100% primary after ${rolledBackAt - brokeAt} ms (threshold 2 × interval 2 s)`,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    await watch.stop();
    await load.stop();

    expect(done.phase).toBe('Failed');
    // Rolled back by exactly `threshold` (2) failed checks, at the weight where it broke: no step past 30%.
    expect(done.failedChecks).toBe(2);
    expect(watch.weights()).toEqual([0, 10, 20, 30, 0]);
    const messages = done.events.map((e) => e.message).join('\n');
    expect(messages).toMatch(/check 1 of 2 failed: success rate [0-9.]+% over the last 2s, below the minimum 95%/);
    expect(messages).toMatch(/rolling back after 2 failed check\(s\)/);
    // The canary's failures were seen by the client too, and after the rollback only the primary answers.
    expect(load.answers.some((a) => a.by === 'cart-v2 HTTP 500')).toBe(true);
    const after = load.since(rolledBackAt);
    expect(after.length).toBeGreaterThan(5);
    expect(new Set(after.map((a) => a.by))).toEqual(new Set(['cart-v1']));
    expect(fs.readFileSync(s.meshFile, 'utf8')).toContain('weight: 100   # primary');

    const shown = await meshdCli(s, ['rollout', 'status', 'cart']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`${MESH}/cart  Failed  cart-v2 0% / cart-v1 100%`);
  }, 90000);

  test('a slow canary fails the latency check and is rolled back', async () => {
    v2.delayAll(300);
    const s = await start();
    load = new LoadLoop(s, 4);
    await s.reloadMesh(meshYaml(v1, v2, { stepWeight: 20, maxWeight: 60, threshold: 2, maxLatencyP99: 100 }));
    const done = await untilPhase(s, ['Failed', 'Succeeded', 'Paused']);
    expect(done.phase).toBe('Failed');
    expect(done.failedChecks).toBe(2);
    const latency = done.lastCheck!.results.find((r) => r.metric === 'request-duration')!;
    expect(latency.ok).toBe(false);
    expect(latency.value).toBeGreaterThanOrEqual(300);
    expect(latency.message).toMatch(/p99 latency [0-9.]+ ms over the last 2s, above the maximum 100 ms/);
    // Its success rate was fine: only the latency failed it.
    expect(done.lastCheck!.results.find((r) => r.metric === 'request-success-rate')!.ok).toBe(true);
  }, 90000);

  test('an edit by hand pauses the rollout; resume carries on from the edit; a restarted meshd carries on; abort sends everything back', async () => {
    const s = await start();
    load = new LoadLoop(s);
    await s.reloadMesh(meshYaml(v1, v2, { stepWeight: 10, maxWeight: 90, threshold: 3 }));
    await waitFor(
      'the first step',
      async () => ((await status(s))?.canaryWeight === 10 ? true : undefined),
      30000,
      100,
    );

    // The user sets 50/50 themselves.
    const text = fs.readFileSync(s.meshFile, 'utf8');
    const edited = text
      .replace(/weight: \d+ {3}# primary/, 'weight: 50   # primary')
      .replace(/weight: \d+ {5}# canary/, 'weight: 50     # canary');
    expect(edited).not.toBe(text);
    await s.reloadMesh(edited);
    const paused = await untilPhase(s, ['Paused'], 15000);
    expect(paused.events.at(-1)!.message).toMatch(
      /Route\/cart\/main was edited by hand: it now gives cart-v1 50 and cart-v2 50, where the rollout had set \d+ and \d+/,
    );
    // Paused means paused: the file keeps the user's weights.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(fs.readFileSync(s.meshFile, 'utf8')).toBe(edited);

    const resumed = await meshdCli(s, ['rollout', 'resume', 'cart']);
    expect(resumed).toMatchObject({ code: 0, stderr: '' });
    expect(resumed.stdout).toContain('resumed at canary weight 50%');
    await waitFor(
      'the next step after the edit',
      async () => ((await status(s))?.canaryWeight === 60 ? true : undefined),
      30000,
      100,
    );

    // meshd goes away mid-rollout and comes back: the rollout carries on from where it was.
    await s.restartMeshd({ kill: 'SIGKILL' });
    const afterRestart = await status(s);
    expect(afterRestart?.phase).toBe('Progressing');
    expect(afterRestart?.canaryWeight).toBeGreaterThanOrEqual(60);
    await waitFor(
      'a step after the restart',
      async () => (((await status(s))?.canaryWeight ?? 0) > afterRestart!.canaryWeight ? true : undefined),
      30000,
      100,
    );
    expect((await status(s))!.events.map((e) => e.message).join('\n')).toContain('meshd restarted: carrying on');

    const aborted = await meshdCli(s, ['rollout', 'abort', `${MESH}/cart`]);
    expect(aborted.code).toBe(0);
    expect(aborted.stdout).toContain(`${MESH}/cart  Aborted  cart-v2 0% / cart-v1 100%`);
    await waitFor('Envoy to send everything to the primary', async () =>
      (await envoyCanaryWeight(s)) === 0 ? true : undefined,
    );
    const again = await meshdCli(s, ['rollout', 'resume', 'cart']);
    expect(again).toMatchObject({
      code: 1,
      stderr: `meshd rollout resume: rollout ${MESH}/cart has already ended (Aborted)\n`,
    });
  }, 120000);
});
