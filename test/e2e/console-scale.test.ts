// The web console on a large mesh: bench/mesh-gen.js's mesh of 500 services (1,000 virtual nodes, 500
// routers and 500 virtual services: 2,000 graph nodes) served by a real meshd, opened in headless
// Chromium, with synthetic DogStatsD traffic for every virtual node (the lines Envoy's sink sends) so each
// telemetry tick carries 1,000 rates. Measures, and prints, never asserts: the first view (navigation start
// to the app's `meshd:first-view` mark), the main thread's time for one edge update (one route's weights
// changed in its file, until the edge shows them; once before Fit, of a route whose edges are culled, and once
// after Fit, with every element in the DOM), the JSON parse of /v1/mesh, and the telemetry ticks. Asserts only what
// a user would see: every element of the mesh is in the graph once Fit shows the whole mesh (above 1,500 elements
// only those near the view are in the DOM), and the edited edges show their new weights (the culled one once Fit
// has brought it into the DOM).
import * as dgram from 'node:dgram';
import * as path from 'node:path';
import type { Page } from 'puppeteer-core';
import {
  findChromium,
  launchBrowser,
  mainThreadMs,
  markTime,
  measures,
  NO_CHROMIUM,
  pageWeight,
  type RunningBrowser,
} from '../helpers/browser';
import { describeIfAvailable } from '../helpers/envoy';
import { freePorts, getOk, startMeshd, tmpDir, waitFor, type RunningProcess } from '../helpers/processes';

const ROOT = path.resolve(__dirname, '../..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { writeMesh } = require(path.join(ROOT, 'bench/mesh-gen.js')) as {
  writeMesh(opts: { services: number; backends?: number; dir?: string; mesh?: string }): {
    dir: string;
    mesh: string;
    setWeights(i: number, weights: [number, number]): void;
    targetCluster(i: number, version: 'v1' | 'v2'): string;
  };
};

const SERVICES = Number(process.env.MESHD_CONSOLE_SCALE_SERVICES ?? 500);
/** The service whose route the test edits. */
const EDITED = 7;

/** DogStatsD lines for every virtual node's callers (what Envoy's sink would send), in datagrams under 8 KiB. */
function trafficDatagrams(clusterOf: (i: number, v: 'v1' | 'v2') => string, tick: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < SERVICES; i++)
    for (const v of ['v1', 'v2'] as const) {
      const n = 5 + ((i + tick) % 20);
      lines.push(
        `envoy.cluster.upstream_rq_xx:${n}|c|#envoy.response_code_class:2,envoy.cluster_name:${clusterOf(i, v)}`,
        `envoy.cluster.upstream_rq_xx:${tick % 3 === 0 ? 1 : 0}|c|#envoy.response_code_class:5,envoy.cluster_name:${clusterOf(i, v)}`,
      );
    }
  const out: string[] = [];
  let current = '';
  for (const line of lines) {
    if (current.length + line.length + 1 > 8000) {
      out.push(current);
      current = '';
    }
    current += current ? `\n${line}` : line;
  }
  if (current) out.push(current);
  return out;
}

/**
 * Runs a route edit under mainThreadMs until `settled` (given how many meshd:update:mesh measures there were before)
 * resolves, and answers the figure line: the main thread's time, the page's own measures taken meanwhile (the update,
 * the parse of /v1/mesh, the graph's work) and the telemetry ticks that landed in that time.
 */
async function timedEdit(
  page: Page,
  label: string,
  edit: () => Promise<unknown>,
  settled: (meshUpdatesBefore: number) => Promise<unknown>,
): Promise<string> {
  const names = ['meshd:update:mesh', 'meshd:parse:/v1/mesh', 'meshd:graph:', 'meshd:update:telemetry'] as const;
  const before = await Promise.all(names.map(async (n) => (await measures(page, n)).length));
  const ms = await mainThreadMs(page, edit, () => settled(before[0]!));
  const [updates, parses, graph, ticks] = await Promise.all(
    names.map(async (n, i) => (await measures(page, n)).slice(before[i])),
  );
  const durations = (list: typeof updates) =>
    list!.map((u) => `${u.duration.toFixed(1)} ms`).join(', ') || '(no measure)';
  return (
    `  one route edit ${label}: main thread ${ms.toFixed(0)} ms; ` +
    `meshd:update:mesh ${durations(updates)}; JSON parse of /v1/mesh ${durations(parses)}; ` +
    `of which ${graph!.map((u) => `${u.name.slice('meshd:graph:'.length)} ${u.duration.toFixed(1)} ms`).join(', ')}; ` +
    `the main thread's time includes ${ticks!.length} telemetry ticks meanwhile ` +
    `(${ticks!.reduce((a, t) => a + t.duration, 0).toFixed(1)} ms of meshd:update:telemetry)`
  );
}

const chromium = findChromium();

describeIfAvailable(
  `web console at scale: ${2 * SERVICES} virtual nodes in headless Chromium (figures printed, not asserted)`,
  'a headless Chromium',
  chromium ? undefined : NO_CHROMIUM,
  () => {
    let meshd: RunningProcess | undefined;
    let running: RunningBrowser | undefined;
    let page: Page;
    let adminPort: number;
    let gen: ReturnType<typeof writeMesh>;
    let feeder: NodeJS.Timeout | undefined;
    const socket = dgram.createSocket('udp4');
    const figures: string[] = [];

    beforeAll(async () => {
      gen = writeMesh({ services: SERVICES, dir: path.join(tmpDir('console-scale-'), 'mesh') });
      const [xdsPort, admin] = (await freePorts(2)) as [number, number];
      adminPort = admin;
      meshd = startMeshd([
        'serve',
        '--mesh',
        gen.dir,
        '--xds-address',
        '127.0.0.1',
        '--xds-port',
        String(xdsPort),
        '--admin-port',
        String(adminPort),
      ]);
      await waitFor(
        'meshd to serve the large mesh',
        () => {
          if (meshd!.child.exitCode !== null) throw new Error(`meshd exited: ${meshd!.stderr()}`);
          return meshd!.stdout().includes('xDS (ADS gRPC)') ? true : undefined;
        },
        120000,
        100,
      );
      const statsdPort = (JSON.parse(await getOk(adminPort, '/v1/telemetry')) as { statsd: { port: number } }).statsd
        .port;
      let tick = 0;
      const feed = () => {
        for (const d of trafficDatagrams((i, v) => gen.targetCluster(i, v), tick++))
          socket.send(d, statsdPort, '127.0.0.1');
      };
      feed();
      feeder = setInterval(feed, 500);
      running = await launchBrowser(chromium!);
      page = await running.newPage();
    }, 180000);

    afterAll(async () => {
      if (feeder) clearInterval(feeder);
      socket.close();
      await running?.close();
      await meshd?.stop();
      if (figures.length > 0)
        process.stdout.write(`console at scale (${2 * SERVICES} virtual nodes):\n${figures.join('\n')}\n`);
    });

    it('shows every element of the mesh; reports the first view time', async () => {
      const started = Date.now();
      await page.goto(`http://127.0.0.1:${adminPort}/ui/`, { waitUntil: 'domcontentloaded' });
      await page.waitForSelector('body[data-ready="true"]', { timeout: 60000 });
      const wall = Date.now() - started;
      const firstView = await markTime(page, 'meshd:first-view');
      figures.push(
        `  first view: ${firstView === undefined ? 'no meshd:first-view mark' : `${firstView.toFixed(0)} ms`} after navigation start (${wall} ms from goto to body[data-ready])`,
      );
      const body = await getOk(adminPort, '/v1/mesh');
      figures.push(`  GET /v1/mesh: ${(Buffer.byteLength(body) / 1048576).toFixed(2)} MiB of JSON`);
      const weight = await pageWeight(page);
      figures.push(
        `  page: ${weight.jsHeapMiB.toFixed(1)} MiB of JavaScript heap in use, ${weight.domNodes} DOM nodes`,
      );
      // One route edit before Fit, of a route whose edges are culled (not in the DOM): the first from the end.
      const routeEdge = (i: number) =>
        `g.edge[data-kind="route-target"][data-to="${gen.mesh}/VirtualNode/svc-${i}-v2"]`;
      let culled = SERVICES - 1;
      while (culled > 0 && (await page.$(routeEdge(culled)))) culled--;
      expect(culled).not.toBe(EDITED);
      figures.push(
        await timedEdit(
          page,
          'before Fit (culled), from the write to the update applied',
          async () => gen.setWeights(culled, [30, 70]),
          (before) =>
            waitFor(
              'the new mesh to be applied',
              async () => ((await measures(page, 'meshd:update:mesh')).length > before ? true : undefined),
              30000,
              50,
            ),
        ),
      );
      // Above 1,500 elements the graph keeps only those near the view in the DOM. Fit (what a user presses to see
      // the whole mesh) puts the view around all of them: then every element is there to count.
      await page.click('[data-testid=graph] .graph-tools button[title^=Fit]');
      const ids = new Set(
        (await page.evaluate(`[...document.querySelectorAll('g.node[data-id]')].map((e) => e.dataset.id)`)) as string[],
      );
      // Garbage collected first: the heap figure is then what the page holds, not what it has yet to collect.
      const cdp = await page.createCDPSession();
      await cdp.send('HeapProfiler.collectGarbage');
      await cdp.detach();
      const fitted = await pageWeight(page);
      figures.push(
        `  after Fit (the whole mesh in the DOM): ${fitted.domNodes} DOM nodes, ${fitted.jsHeapMiB.toFixed(1)} MiB heap (after a GC)`,
      );
      const m = gen.mesh;
      const missing: string[] = [];
      for (let i = 0; i < SERVICES; i++)
        for (const id of [
          `${m}/VirtualNode/svc-${i}-v1`,
          `${m}/VirtualNode/svc-${i}-v2`,
          `${m}/VirtualRouter/svc-${i}`,
          `${m}/VirtualService/svc-${i}.${m}.local`,
        ])
          if (!ids.has(id)) missing.push(id);
      expect({ shown: ids.size, missing: missing.slice(0, 10) }).toEqual({ shown: 4 * SERVICES, missing: [] });
      // The edit made while culled shows once the edge is rendered (the model drawn from was updated, not only the
      // DOM): its weight and its accessible name (the whole mesh is too small to read: no visible text at this scale).
      const [w, label] = await page.$eval(routeEdge(culled), (e) => [
        e.getAttribute('data-weight'),
        e.getAttribute('aria-label'),
      ]);
      expect(w).toBe('70');
      expect(label).toContain('weight 70%');
    }, 180000);

    it('reports the main-thread cost of one edge update (a route weight changed in its file)', async () => {
      // The whole mesh is in view since Fit (the test before): the edited edge is in the DOM, before and after the
      // edit (a new mesh keeps the user's view).
      const edge = `g.edge[data-kind="route-target"][data-to="${gen.mesh}/VirtualNode/svc-${EDITED}-v2"]`;
      const weight = () => page.$eval(edge, (e) => e.getAttribute('data-weight'));
      expect(await weight()).toBe('10');
      figures.push(
        await timedEdit(
          page,
          'after Fit (all in the DOM), from the write to the edge showing it',
          async () => gen.setWeights(EDITED, [50, 50]),
          () =>
            waitFor(
              'the edge to show the new weight',
              async () => ((await weight()) === '50' ? true : undefined),
              30000,
              50,
            ),
        ),
      );
      expect(await weight()).toBe('50');
    }, 60000);

    it('reports the main-thread cost of telemetry ticks (1,000 rates each)', async () => {
      const before = (await measures(page, 'meshd:update:telemetry')).length;
      const ms = await mainThreadMs(page, () => new Promise((r) => setTimeout(r, 5000)));
      const ticks = (await measures(page, 'meshd:update:telemetry')).slice(before);
      const durations = ticks.map((t) => t.duration).sort((a, b) => a - b);
      figures.push(
        `  telemetry: ${ticks.length} ticks in 5 s, main thread ${ms.toFixed(0)} ms in all; meshd:update:telemetry ` +
          (durations.length
            ? `median ${durations[Math.floor(durations.length / 2)]!.toFixed(1)} ms, max ${durations.at(-1)!.toFixed(1)} ms`
            : '(no measure)'),
      );
      // Live numbers reached the graph: some route-target edge shows a rate.
      const withRate = (await page.evaluate(
        `[...document.querySelectorAll('g.edge[data-kind="route-target"]')].filter((e) => e.dataset.rps).length`,
      )) as number;
      expect(withRate).toBeGreaterThan(0);
    }, 60000);
  },
);
