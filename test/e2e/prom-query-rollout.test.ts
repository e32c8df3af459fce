// Canary rollouts judged by Prometheus, end to end: a real Envoy sidecar (the caller, `front`)
// with traffic, two real upstream apps (primary cart-v1, canary cart-v2), a real Prometheus
// (Debian's) scraping the Envoy's admin /stats/prometheus every second, and meshd serve
// --prometheus-url. meshd gets no DogStatsD at all: the rollout's metrics are PromQL queries,
// the very templates docs/prometheus.md gives for request-success-rate and request-duration,
// reading the caller's egress cluster to the canary (cds_egress_<mesh>_<node>_<proto>_<port>).
// Intervals are short (2 s checks over a 5 s metric window, 1 s scrapes, Envoy's stats flushed
// every second so its latency histograms reach Prometheus).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { renderQuery } from '../../src/rollout/prometheus';
import { freePort, tmpDir } from '../helpers/processes';
import { untilRolloutPhase } from '../helpers/rollout-status';
import { describeWithEnvoyAndPrometheus, startPrometheus, type RunningPrometheus } from '../helpers/prometheus';
import { answeredBy, startSidecar, targetNodeYaml, type Sidecar } from '../helpers/sidecar-harness';
import { startHttpUpstream, type HttpUpstream } from '../helpers/upstreams';

const MESH = 'shop';
const NODE_ID = `mesh/${MESH}/virtualNode/front`;
const SERVICE = 'cart.shop.local';

/** docs/prometheus.md's templates, read from the doc itself so the doc and the test cannot drift apart. */
function docQuery(heading: string): string {
  const doc = fs.readFileSync(path.join(__dirname, '../../docs/prometheus.md'), 'utf8');
  const at = doc.indexOf(heading);
  if (at === -1) throw new Error(`docs/prometheus.md has no '${heading}'`);
  const block = /```promql\n([\s\S]*?)```/.exec(doc.slice(at));
  if (!block) throw new Error(`docs/prometheus.md has no promql block after '${heading}'`);
  return block[1]!.trim();
}

const SUCCESS_RATE = docQuery('### Success rate');
/** The page's first example: an error-rate metric, written in a Rollout's YAML. */
const ERROR_RATE = (() => {
  const doc = fs.readFileSync(path.join(__dirname, '../../docs/prometheus.md'), 'utf8');
  const yaml = /```yaml\n(kind: Rollout[\s\S]*?)```/.exec(doc)![1]!;
  const rollout = loadYaml(yaml) as { spec: { analysis: { metrics: { query: string }[] } } };
  return rollout.spec.analysis.metrics[0]!.query;
})();
const DURATION = docQuery('### Request duration');

/** A YAML block scalar holding `text`, indented for a metric's `query:`. */
const block = (text: string) => `|\n${text.replace(/^/gm, '          ')}`;

function rolloutYaml(): string {
  return `kind: Rollout
mesh: ${MESH}
name: cart
spec:
  route: { virtualRouter: cart, name: main }
  primary: cart-v1
  canary: cart-v2
  analysis:
    interval: 2s
    stepWeight: 25
    maxWeight: 50
    threshold: 3
    metrics:
      - name: success-rate
        interval: 5s
        thresholdRange: { min: 95 }
        query: ${block(SUCCESS_RATE)}
      - name: p99-latency
        interval: 5s
        thresholdRange: { max: 1000 }
        query: ${block(DURATION)}
`;
}

function meshYaml(v1: HttpUpstream, v2: HttpUpstream, withRollout: boolean): string {
  return [
    `kind: Mesh\nname: ${MESH}\nspec: {}\n`,
    `kind: VirtualNode\nmesh: ${MESH}\nname: front\nspec:\n  backends: [{ virtualService: { virtualServiceName: ${SERVICE} } }]\n`,
    targetNodeYaml(MESH, 'cart-v1', v1.port),
    targetNodeYaml(MESH, 'cart-v2', v2.port),
    `kind: VirtualRouter\nmesh: ${MESH}\nname: cart\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n`,
    `kind: Route\nmesh: ${MESH}\nvirtualRouter: cart\nname: main\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action:\n      weightedTargets:\n        - virtualNode: cart-v1\n          weight: 100\n        - virtualNode: cart-v2\n          weight: 0\n`,
    `kind: VirtualService\nmesh: ${MESH}\nname: ${SERVICE}\nspec: { provider: { virtualRouter: { virtualRouterName: cart } } }\n`,
    ...(withRollout ? [rolloutYaml()] : []),
  ].join('---\n');
}

/** Requests through the sidecar at a steady pace, each remembered with who answered. */
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

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }
}

describeWithEnvoyAndPrometheus('canary rollouts judged by PromQL queries to a real Prometheus', (bins) => {
  let v1: HttpUpstream;
  let v2: HttpUpstream;
  let sidecar: Sidecar | undefined;
  let prometheus: RunningPrometheus | undefined;
  let load: LoadLoop | undefined;

  beforeEach(async () => {
    v1 = await startHttpUpstream('cart-v1');
    v2 = await startHttpUpstream('cart-v2');
  });

  afterEach(async () => {
    await load?.stop();
    await sidecar?.stop();
    await prometheus?.stop();
    await v1.close();
    await v2.close();
    [load, sidecar, prometheus] = [undefined, undefined, undefined];
  });

  /** Prometheus's port first (meshd is told its URL), then meshd and Envoy, then Prometheus scraping that Envoy. */
  const start = async () => {
    const port = await freePort();
    const state = path.join(tmpDir('prom-rollout-state-'), 'rollouts.json');
    sidecar = await startSidecar({
      envoyBin: bins.envoy,
      meshYaml: meshYaml(v1, v2, false),
      nodeId: NODE_ID,
      ready: { host: SERVICE },
      // Histograms reach /stats/prometheus at each flush (Envoy's default: every 5 s).
      bootstrapArgs: ['--stats-flush-interval', '1s'],
      meshdArgs: ['--rollout-state', state, '--prometheus-url', `http://127.0.0.1:${port}`],
    });
    prometheus = await startPrometheus(bins.prometheus, [{ job: 'front', address: `127.0.0.1:${sidecar.adminPort}` }], {
      port,
    });
    // The first scrapes are in: the caller's cluster stats are there (at 0) before the canary gets any traffic.
    await prometheus.waitForSeries(
      `envoy_cluster_upstream_rq_completed{envoy_cluster_name=~"cds_egress_${MESH}_cart-v2_.*"}`,
    );
    return sidecar;
  };

  /** Prometheus's log joins meshd's and Envoy's when the rollout does not end in time. */
  const untilEnded = (s: Sidecar) =>
    untilRolloutPhase(s, ['Succeeded', 'Failed', 'Paused']).catch((err: Error) => {
      throw new Error(`${err.message}\n${prometheus?.logs() ?? ''}`);
    });

  test('a healthy canary is promoted on the values Prometheus computes from Envoy’s own stats', async () => {
    const s = await start();
    load = new LoadLoop(s);
    const began = Date.now();
    await s.reloadMesh(meshYaml(v1, v2, true));
    const done = await untilEnded(s);
    console.log(
      `prom-query rollout: healthy canary ${done.phase} after ${Date.now() - began} ms with ${done.failedChecks} failed check(s); last check: ${done.lastCheck?.results.map((r) => r.message).join('; ')}`,
    );
    expect(done.phase).toBe('Succeeded');
    const messages = done.events.map((e) => e.message).join('\n');
    expect(messages).toMatch(/advancing cart-v2 to 25%[\s\S]*advancing cart-v2 to 50%[\s\S]*promoted/);
    // The checks that passed were Prometheus's numbers: a 100% success rate, a p99 in milliseconds.
    const results = done.lastCheck!.results;
    expect(results.map((r) => r.metric)).toEqual(['success-rate', 'p99-latency']);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(results[0]!.value).toBe(100);
    expect(results[1]!.value).toBeGreaterThan(0);
    expect(results[1]!.value).toBeLessThan(1000);
    expect(fs.readFileSync(s.meshFile, 'utf8')).toMatch(/virtualNode: cart-v2\n\s+weight: 100/);
    // Prometheus itself agrees the canary answered (the caller's egress cluster to cart-v2 saw 2xx).
    const seen = await prometheus!.query(
      `sum(envoy_cluster_upstream_rq_xx{envoy_cluster_name=~"cds_egress_${MESH}_cart-v2_http_[0-9]+",envoy_response_code_class="2"})`,
    );
    expect(Number((seen.result as { value: [number, string] }[])[0]!.value[1])).toBeGreaterThan(0);
    // The page's error-rate example, filled in as meshd fills it in, is one value too: no 5xx, 0 %.
    const errors = await prometheus!.query(
      renderQuery(ERROR_RATE, { mesh: MESH, primary: 'cart-v1', canary: 'cart-v2', intervalMs: 10_000 }),
    );
    expect(errors.result).toEqual([{ metric: {}, value: [expect.any(Number), '0'] }]);
    // Every quote and a backslash, filled in as meshd fills them in, still make a query Prometheus parses, in "…"
    // and in '…' (it refuses \' inside "…" and \" inside '…'; meshd writes quotes as \x22 \x27 \x60).
    const quoted = await prometheus!.query(
      renderQuery(`up{job="{{ target }}"} or up{job='{{ canary }}'}`, {
        mesh: MESH,
        primary: 'cart-v1',
        canary: `a"b'c\`d\\e`,
        intervalMs: 10_000,
      }),
    );
    expect(quoted.result).toEqual([]);
  }, 90_000);

  test('a canary answering 500s is rolled back by `threshold` failed checks, each saying what Prometheus returned', async () => {
    v2.failAll(500);
    const s = await start();
    load = new LoadLoop(s);
    await s.reloadMesh(meshYaml(v1, v2, true));
    const done = await untilEnded(s);
    console.log(
      `prom-query rollout: failing canary ${done.phase} with ${done.failedChecks} failed check(s); events: ${done.events.map((e) => e.message).join(' | ')}`,
    );
    expect(done.phase).toBe('Failed');
    expect(done.failedChecks).toBe(3);
    expect(done.canaryWeight).toBe(0);
    const messages = done.events.map((e) => e.message).join('\n');
    // The canary never got past its first step, and the reason is the query's value against its range.
    expect(messages).not.toMatch(/advancing cart-v2 to 50%/);
    expect(messages).toMatch(/check [123] of 3 failed: metric success-rate 0, below the minimum 95/);
    expect(messages).toMatch(/rolling back after 3 failed check\(s\)/);
    expect(fs.readFileSync(s.meshFile, 'utf8')).toMatch(/virtualNode: cart-v1\n\s+weight: 100/);
    await load.stop();
    expect(load.answers.some((a) => a.by === 'cart-v2 HTTP 500')).toBe(true);
  }, 90_000);
});
