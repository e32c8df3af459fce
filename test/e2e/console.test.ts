// The web console (GET /ui/ on meshd's admin port) in a real headless Chromium, against a real meshd
// serving a copy of examples/colorapp with real Envoy sidecars (front, color-blue, color-green and the
// ingress-gw gateway) whose DogStatsD goes to meshd, and a load loop through front's egress and the gateway.
// What a user sees: every element of the mesh in the graph; an edit of the route file moving the edges'
// weights and live rates; a rollout paused from its button, the file keeping the paused weights; a
// broken file's error in Problems and gone once fixed; a proxy's NACK in the proxies view; the keyboard
// reaching everything; the mouse wheel zooming; in a fleet (the API answered by the page's interception), other
// replicas' proxies, and a Kubernetes source in words; no serious accessibility fault. With MESHD_SCREENSHOTS_DIR set
// it saves the screenshots docs/images holds (scripts/console-screenshots).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { Page } from 'puppeteer-core';
import { parseAllDocuments } from 'yaml';
import {
  findChromium,
  launchBrowser,
  NO_CHROMIUM,
  runAxe,
  seriousViolations,
  type RunningBrowser,
} from '../helpers/browser';
import { describeIfAvailable, findEnvoy, NO_ENVOY } from '../helpers/envoy';
import { freePorts, getOk, startMeshd, tmpDir, waitFor, type RunningProcess } from '../helpers/processes';
import { startSidecarOnHost, type HostSidecar } from '../helpers/sidecars';
import { startHttpUpstream, type HttpUpstream } from '../helpers/upstreams';

const EXAMPLE = path.resolve(__dirname, '../../examples/colorapp');
const MESH = 'colorapp';
const ROUTE_FILE = 'color-route.yaml';
const NODES_FILE = 'nodes.yaml';
const ROLLOUT = `${MESH}/color`;
/** How long an edit may take to show in the console (the figure): a timeout, not a measure. */
const SHOWS_WITHIN_MS = 3000;
const SCREENSHOTS = process.env.MESHD_SCREENSHOTS_DIR;

/** The graph's ids of the mesh's elements (Meshes, Routes and GatewayRoutes are not nodes), from the files. */
function graphIds(meshDir: string): { id: string; kind: string; name: string }[] {
  const kinds = new Set(['VirtualGateway', 'VirtualService', 'VirtualRouter', 'VirtualNode']);
  const out: { id: string; kind: string; name: string }[] = [];
  for (const file of fs.readdirSync(meshDir)) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(meshDir, file), 'utf8'))) {
      const r = doc.toJSON() as { kind?: string; mesh?: string; name?: string } | null;
      if (r?.kind && kinds.has(r.kind)) out.push({ id: `${r.mesh}/${r.kind}/${r.name}`, kind: r.kind, name: r.name! });
    }
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The route file's weights of color-blue and color-green. */
function fileWeights(meshDir: string): { blue: number; green: number } {
  const text = fs.readFileSync(path.join(meshDir, ROUTE_FILE), 'utf8');
  const weight = (node: string) => Number(new RegExp(`virtualNode: ${node}, weight: (\\d+)`).exec(text)?.[1]);
  return { blue: weight('color-blue'), green: weight('color-green') };
}

function setFileWeights(meshDir: string, blue: number, green: number): void {
  const file = path.join(meshDir, ROUTE_FILE);
  const text = fs.readFileSync(file, 'utf8');
  const edited = text
    .replace(/virtualNode: color-blue, weight: \d+/, `virtualNode: color-blue, weight: ${blue}`)
    .replace(/virtualNode: color-green, weight: \d+/, `virtualNode: color-green, weight: ${green}`);
  if (edited === text && (fileWeights(meshDir).blue !== blue || fileWeights(meshDir).green !== green))
    throw new Error(`could not edit the weights in ${file}:\n${text}`);
  fs.writeFileSync(file, edited);
}

/** Requests through front's egress (to the color service) and through the gateway (/color), each worker in turn. */
class LoadLoop {
  readonly answers = new Map<string, number>();
  private running = true;
  private readonly workers: Promise<void>[];

  constructor(targets: { port: number; host: string; path: string }[]) {
    this.workers = targets.flatMap((t) => [this.work(t), this.work(t)]);
  }

  private async work(t: { port: number; host: string; path: string }): Promise<void> {
    while (this.running) {
      const by = await new Promise<string>((resolve) => {
        const req = http.get(
          { host: '127.0.0.1', port: t.port, path: t.path, headers: { host: t.host }, agent: false },
          (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => {
              try {
                resolve(`${res.statusCode} ${(JSON.parse(body) as { server: string }).server}`);
              } catch {
                resolve(`${res.statusCode} envoy`);
              }
            });
          },
        );
        req.on('error', (err) => resolve(`error ${err.message}`));
        req.setTimeout(3000, () => req.destroy(new Error('timeout')));
      });
      this.answers.set(by, (this.answers.get(by) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.workers);
  }
}

interface RouteEdge {
  to: string;
  weight: string | undefined;
  rps: string | undefined;
  text: string;
}

/** The route-target edges the graph shows now. */
async function routeEdges(page: Page): Promise<Record<string, RouteEdge>> {
  const edges = (await page.evaluate(`[...document.querySelectorAll('g.edge[data-kind="route-target"]')].map((e) => ({
    to: e.dataset.to, weight: e.dataset.weight, rps: e.dataset.rps, text: e.textContent }))`)) as RouteEdge[];
  return Object.fromEntries(edges.map((e) => [e.to.split('/').at(-1)!, e]));
}

const rps = (e: RouteEdge | undefined) => (e?.rps ? Number(e.rps) : 0);

/** Polls the page until `check` answers a value; the timeout's message shows what was seen last. */
async function until<T>(page: Page, what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  let last: unknown;
  return waitFor(
    what,
    async () => {
      const value = await check();
      last = value;
      return value;
    },
    timeoutMs,
    100,
  ).catch(async (err: Error) => {
    const seen = await page
      .evaluate(`document.querySelector('main, body').innerText.slice(0, 2000)`)
      .catch(() => '(page gone)');
    throw new Error(`${err.message}\nlast check: ${JSON.stringify(last)}\npage text:\n${String(seen)}`);
  });
}

async function openView(page: Page, view: 'graph' | 'proxies' | 'rollouts' | 'problems'): Promise<void> {
  await page.click(`nav button[role=tab][data-view=${view}]`);
  await page.waitForSelector(`[data-testid=view-${view}]`, { timeout: 5000 });
}

async function screenshot(page: Page, name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, name) as `${string}.png` });
  process.stdout.write(`screenshot: ${path.join(SCREENSHOTS, name)}\n`);
}

interface RolloutBody {
  phase: string;
  canaryWeight: number;
}

const envoy = findEnvoy();
const chromium = findChromium();

describeIfAvailable(
  'web console: the colorapp mesh with real Envoys, in headless Chromium',
  'a real Envoy and a headless Chromium',
  !envoy ? NO_ENVOY : !chromium ? NO_CHROMIUM : undefined,
  () => {
    const envoyBin = envoy!;
    const chromiumBin = chromium!;
    let meshDir: string;
    let adminPort: number;
    let meshd: RunningProcess | undefined;
    const sidecars: HostSidecar[] = [];
    const upstreams: HttpUpstream[] = [];
    let load: LoadLoop | undefined;
    let running: RunningBrowser | undefined;
    let page: Page;
    const pageErrors: string[] = [];

    const admin = async <T>(pathAndQuery: string) => JSON.parse(await getOk(adminPort, pathAndQuery)) as T;
    const logs = () =>
      `--- meshd stderr ---\n${meshd?.stderr().slice(-4000) ?? ''}\n--- load ---\n${JSON.stringify([...(load?.answers ?? [])])}`;

    beforeAll(async () => {
      // A copy of the example as `npm run demo` serves it (local/nodes.yaml: everything on 127.0.0.1), with
      // the apps' and the gateway's ports moved to free ones.
      const dir = tmpDir('console-colorapp-');
      meshDir = path.join(dir, 'mesh');
      fs.mkdirSync(meshDir);
      for (const f of ['mesh.yaml', ROUTE_FILE, 'gateway.yaml'])
        fs.copyFileSync(path.join(EXAMPLE, 'mesh', f), path.join(meshDir, f));
      fs.copyFileSync(path.join(EXAMPLE, 'local', NODES_FILE), path.join(meshDir, NODES_FILE));
      const [front, blue, green] = [
        await startHttpUpstream('front'),
        await startHttpUpstream('color-blue'),
        await startHttpUpstream('color-green'),
      ];
      upstreams.push(front, blue, green);
      const [xdsPort, meshdAdmin, gatewayPort] = (await freePorts(3)) as [number, number, number];
      adminPort = meshdAdmin;
      const nodes = path.join(meshDir, NODES_FILE);
      fs.writeFileSync(
        nodes,
        fs
          .readFileSync(nodes, 'utf8')
          .replace('port: 9080,', `port: ${front.port},`)
          .replace('port: 9081,', `port: ${blue.port},`)
          .replace('port: 9082,', `port: ${green.port},`),
      );
      const gateway = path.join(meshDir, 'gateway.yaml');
      fs.writeFileSync(gateway, fs.readFileSync(gateway, 'utf8').replace('port: 8000,', `port: ${gatewayPort},`));

      meshd = startMeshd([
        'serve',
        '--mesh',
        meshDir,
        '--xds-address',
        '127.0.0.1',
        '--xds-port',
        String(xdsPort),
        '--admin-port',
        String(adminPort),
        '--watch-interval-ms',
        '200',
      ]);
      await waitFor('meshd to serve', () => {
        if (meshd!.child.exitCode !== null) throw new Error(`meshd exited: ${meshd!.stderr()}`);
        return meshd!.stdout().includes('xDS (ADS gRPC)') ? true : undefined;
      });
      const statsdPort = (await admin<{ statsd: { port: number } }>('/v1/telemetry')).statsd.port;
      const statsArgs = [
        '--dog-statsd',
        '--statsd-address',
        '127.0.0.1',
        '--statsd-port',
        String(statsdPort),
        '--stats-flush-interval',
        '200ms',
      ];
      for (const node of [
        'virtualNode/front',
        'virtualNode/color-blue',
        'virtualNode/color-green',
        'virtualGateway/ingress-gw',
      ])
        sidecars.push(
          await startSidecarOnHost(envoyBin, `mesh/${MESH}/${node}`, xdsPort, { bootstrapArgs: statsArgs }),
        );
      load = new LoadLoop([
        { port: sidecars[0]!.egressPort, host: 'color.colorapp.local:8080', path: '/' },
        { port: gatewayPort, host: `127.0.0.1:${gatewayPort}`, path: '/color' },
      ]);
      // Traffic flows both ways in before the browser looks.
      await waitFor(
        'color-blue to answer through front and the gateway',
        () => ((load!.answers.get('200 color-blue') ?? 0) >= 10 ? true : undefined),
        30000,
        100,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${logs()}`);
      });

      running = await launchBrowser(chromiumBin);
      page = await running.newPage();
      // Uncaught errors, console errors, and failed requests of the console's own (the browser's automatic
      // /favicon.ico is not the console's: meshd serves none).
      page.on('pageerror', (err) => pageErrors.push(String(err)));
      page.on('console', (m) => {
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
      });
      page.on('response', (r) => {
        if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico')
          pageErrors.push(`HTTP ${r.status()} for ${r.url()}`);
      });
    }, 120000);

    afterAll(async () => {
      await running?.close();
      await load?.stop();
      for (const s of sidecars) await s.stop();
      await meshd?.stop();
      for (const u of upstreams) await u.close();
    });

    it('shows every virtual gateway, service, router and node of the mesh as a graph node with a name in words', async () => {
      await page.goto(`http://127.0.0.1:${adminPort}/ui/`, { waitUntil: 'domcontentloaded' });
      await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
      const expected = graphIds(meshDir);
      expect(expected.map((n) => n.kind)).toEqual(
        expect.arrayContaining(['VirtualGateway', 'VirtualRouter', 'VirtualService', 'VirtualNode']),
      );
      const shown = (await page.evaluate(`[...document.querySelectorAll('[data-testid=graph] svg g.node')].map((e) => ({
      id: e.dataset.id, kind: e.dataset.kind, tabindex: e.getAttribute('tabindex'), role: e.getAttribute('role'),
      label: e.getAttribute('aria-label') }))`)) as {
        id: string;
        kind: string;
        tabindex: string;
        role: string;
        label: string;
      }[];
      expect(shown.map((n) => n.id).sort()).toEqual(expected.map((n) => n.id));
      for (const n of expected) {
        const s = shown.find((x) => x.id === n.id)!;
        expect({
          id: n.id,
          kind: s.kind,
          tabindex: s.tabindex,
          role: s.role,
          named: s.label?.includes(n.name) ?? false,
        }).toEqual({
          id: n.id,
          kind: n.kind,
          tabindex: '0',
          role: 'button',
          named: true,
        });
      }
      // front and the gateway both send to the router, and the router to blue and green.
      const edges = await routeEdges(page);
      expect(Object.keys(edges).sort()).toEqual(['color-blue', 'color-green']);
    });

    it('the mouse wheel over the graph zooms it', async () => {
      const transform = () =>
        page.$eval('[data-testid=graph] svg > g', (g) => g.getAttribute('transform')) as Promise<string | null>;
      const box = (await (await page.$('[data-testid=graph] svg'))!.boundingBox())!;
      const before = await transform();
      await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
      await page.mouse.wheel({ deltaY: -300 });
      const after = await until(
        page,
        'the graph to zoom',
        async () => {
          const t = await transform();
          return t !== before ? t : undefined;
        },
        2000,
      );
      const scale = (t: string | null) => Number(/scale\(([\d.]+)\)/.exec(t ?? '')?.[1]);
      expect(scale(after)).toBeGreaterThan(scale(before));
      // Back to the whole mesh for the tests that read it.
      await page.click('[data-testid=graph] .graph-tools button[title^=Fit]');
    });

    it('an edit of the route file to 50/50 moves the edge weights and the live rates within 3 s', async () => {
      // Before: 100/0 as in the example, and the blue edge shows the load's traffic.
      await until(
        page,
        "the blue edge's live rate",
        async () => {
          const e = await routeEdges(page);
          return e['color-blue']?.weight === '100' && e['color-green']?.weight === '0' && rps(e['color-blue']) > 0
            ? e
            : undefined;
        },
        15000,
      );
      const routeFile = path.join(meshDir, ROUTE_FILE);
      const original = fs.readFileSync(routeFile, 'utf8');
      // Tag the drawn elements: a weight edit keeps the layout and the drawn graph (only the weights change in place),
      // so the same elements, at the same places, show the new weights; a re-layout would draw new ones.
      const drawn = `[...document.querySelectorAll('[data-testid=graph] g.node, [data-testid=graph] g.edge')]`;
      const tagged = (await page.evaluate(
        `${drawn}.map((e) => { e.__drawnBefore = true; return e.getAttribute('data-id') + ' ' + (e.getAttribute('transform') ?? ''); })`,
      )) as string[];
      try {
        setFileWeights(meshDir, 50, 50);
        await fiftyFifty();
        const after = (await page.evaluate(
          `${drawn}.filter((e) => e.__drawnBefore).map((e) => e.getAttribute('data-id') + ' ' + (e.getAttribute('transform') ?? ''))`,
        )) as string[];
        expect(after).toEqual(tagged);
        expect(await page.$eval('[data-testid=graph] svg', (e) => e.getAttribute('data-update'))).toBe('patch');
        const green = await page.$eval('g.edge[data-kind="route-target"][data-to$="/color-green"]', (e) =>
          e.getAttribute('aria-label'),
        );
        expect(green).toContain('weight 50%');
      } finally {
        fs.writeFileSync(routeFile, original);
      }
    });

    async function fiftyFifty(): Promise<void> {
      const after = await until(
        page,
        'the edges to show 50/50 and traffic to green',
        async () => {
          const e = await routeEdges(page);
          return e['color-blue']?.weight === '50' && e['color-green']?.weight === '50' && rps(e['color-green']) > 0
            ? e
            : undefined;
        },
        SHOWS_WITHIN_MS,
      );
      // Shown in words too, not only in attributes.
      expect(after['color-green']!.text).toContain('50%');
      expect(after['color-green']!.text).toMatch(/\d+\.\d rps/);
      // Health as a glyph and a word in the edge's visible text (textContent, not aria-label): never colour only.
      for (const e of [after['color-green']!, after['color-blue']!])
        expect(e.text).toMatch(/[✓!✗–] (healthy|degraded|failing|idle)/);
      await screenshot(page, 'console-graph.png');
    }

    it("a rollout's Pause button pauses it, and the route file keeps the paused weights", async () => {
      setFileWeights(meshDir, 100, 0);
      await until(
        page,
        'the edges back at 100/0',
        async () => {
          const e = await routeEdges(page);
          return e['color-blue']?.weight === '100' && e['color-green']?.weight === '0' ? true : undefined;
        },
        SHOWS_WITHIN_MS,
      );
      fs.writeFileSync(
        path.join(meshDir, 'rollout.yaml'),
        `kind: Rollout
mesh: ${MESH}
name: color
spec:
  route: { virtualRouter: color, name: color-split }
  primary: color-blue
  canary: color-green
  analysis: { interval: 3s, stepWeight: 10, maxWeight: 50, threshold: 5, minRequests: 1 }
`,
      );
      // The canary at 20 % or more on the graph: the docs' picture of a canary.
      await until(
        page,
        'the rollout to move 20% to the canary on the graph',
        async () => {
          const e = await routeEdges(page);
          return Number(e['color-green']?.weight ?? 0) >= 20 ? true : undefined;
        },
        30000,
      );
      await screenshot(page, 'console-canary.png');

      await openView(page, 'rollouts');
      const card = `[data-testid=rollout][data-rollout="${ROLLOUT}"]`;
      await page.waitForSelector(`${card} button[data-action=pause]:not([disabled])`, { timeout: 5000 });
      await page.click(`${card} button[data-action=pause]`);
      await page.waitForSelector(`${card}[data-phase="Paused"]`, { timeout: 5000 });

      const status = await admin<RolloutBody>(`/v1/rollouts/${ROLLOUT}`);
      expect(status.phase).toBe('Paused');
      // The file holds the weights the rollout had reached; two intervals later it still does.
      await waitFor(
        'the route file to hold the paused weights',
        () => {
          const w = fileWeights(meshDir);
          return w.green === status.canaryWeight && w.blue === 100 - status.canaryWeight ? true : undefined;
        },
        5000,
        100,
      );
      await new Promise((r) => setTimeout(r, 6500));
      expect(fileWeights(meshDir)).toEqual({ blue: 100 - status.canaryWeight, green: status.canaryWeight });
      expect((await admin<RolloutBody>(`/v1/rollouts/${ROLLOUT}`)).phase).toBe('Paused');

      const shown = (await page.evaluate(`(() => { const c = document.querySelector(${JSON.stringify(card)}); return {
      phase: c.dataset.phase,
      disabled: Object.fromEntries([...c.querySelectorAll('button[data-action]')].map((b) => [b.dataset.action, b.disabled])),
      chart: !!c.querySelector('svg.weight-chart'), events: c.querySelectorAll('ol.events li').length }; })()`)) as {
        phase: string;
        disabled: Record<string, boolean>;
        chart: boolean;
        events: number;
      };
      expect(shown).toMatchObject({ phase: 'Paused', disabled: { pause: true, resume: false }, chart: true });
      expect(shown.events).toBeGreaterThan(0);
      await screenshot(page, 'console-rollout.png');
    }, 90000);

    it("a broken file's error shows in Problems, and goes once the file is fixed", async () => {
      await openView(page, 'problems');
      const file = path.join(meshDir, ROUTE_FILE);
      const good = fs.readFileSync(file, 'utf8');
      try {
        await brokenAndFixed(file, good);
      } finally {
        fs.writeFileSync(file, good);
      }
    });

    async function brokenAndFixed(file: string, good: string): Promise<void> {
      fs.writeFileSync(file, good.replace('virtualNode: color-green,', 'virtualNode: color-purple,'));
      const errors = `[data-testid=problems] li[data-severity=error]`;
      const shown = await until(
        page,
        'the error in Problems',
        async () => {
          const lines = (await page.evaluate(
            `[...document.querySelectorAll(${JSON.stringify(errors)})].map((l) => l.textContent.trim())`,
          )) as string[];
          return lines.length > 0 ? lines : undefined;
        },
        SHOWS_WITHIN_MS,
      );
      expect(shown.join('\n')).toContain('color-purple');
      expect(shown.join('\n')).toMatch(new RegExp(`${ROUTE_FILE}:\\d+:\\d+`));
      const problems = await admin<{ problems: { text: string; severity: string }[] }>('/v1/problems');
      expect(shown).toEqual(problems.problems.filter((p) => p.severity === 'error').map((p) => p.text.trim()));
      // The tab counts them.
      expect(await page.$eval('nav button[role=tab][data-view=problems]', (b) => b.textContent)).toContain(
        String(shown.length),
      );
      await screenshot(page, 'console-problems.png');

      fs.writeFileSync(file, good);
      await until(
        page,
        'the error to go',
        async () => {
          const text = (await page.evaluate(`document.querySelector('[data-testid=problems]').textContent`)) as string;
          const left = (await page.evaluate(`document.querySelectorAll(${JSON.stringify(errors)}).length`)) as number;
          return left === 0 && text.includes('No problems') ? true : undefined;
        },
        SHOWS_WITHIN_MS,
      );
    }

    it("a proxy's NACK shows with Envoy's message in the proxies view", async () => {
      // A listener certificate Envoy cannot read: meshd accepts the mesh, color-green's Envoy rejects its LDS.
      const nodes = path.join(meshDir, NODES_FILE);
      const good = fs.readFileSync(nodes, 'utf8');
      const greenAt = good.indexOf('name: color-green');
      const bad =
        good.slice(0, greenAt) +
        good
          .slice(greenAt)
          .replace(
            /listeners: \[\{ portMapping: (\{[^}]*\}) \}\]/,
            'listeners: [{ portMapping: $1, tls: { mode: STRICT, certificate: { file: { certificateChain: /nonexistent/cert.pem, privateKey: /nonexistent/key.pem } } } }]',
          );
      expect(bad).not.toBe(good);
      try {
        fs.writeFileSync(nodes, bad);
        await nackShown();
      } finally {
        fs.writeFileSync(nodes, good);
      }
    });

    async function nackShown(): Promise<void> {
      await openView(page, 'proxies');
      const row = `[data-testid=proxies] table tbody tr[data-node-id="mesh/${MESH}/virtualNode/color-green"]`;
      const seen = await until(
        page,
        "color-green's NACK in the proxies view",
        async () => {
          const r =
            (await page.evaluate(`(() => { const r = document.querySelector(${JSON.stringify(row)}); return r && {
          text: r.textContent, nack: (r.querySelector('td.nack') || {}).textContent || '' }; })()`)) as {
              text: string;
              nack: string;
            } | null;
          return r && r.text.includes('NACKED') && r.nack !== '' ? r : undefined;
        },
        15000,
      );
      expect(seen.nack).toMatch(/\/nonexistent\/(cert|key)\.pem/);
      const proxies =
        await admin<{ nodeId: string; types: Record<string, { lastNack: { message: string } | null }> }[]>(
          '/v1/proxies',
        );
      const lds = proxies.find((p) => p.nodeId === `mesh/${MESH}/virtualNode/color-green`)!.types.LDS!;
      expect(seen.nack).toContain(lds.lastNack!.message.slice(0, 40));
    }

    it('the keyboard reaches the tabs, the graph toolbar and nodes, the details, the admin token and the rollout buttons', async () => {
      // From the top of a freshly loaded page (after a blur, Chromium would carry on from the element that had the
      // focus), Tab through and note what gets the focus.
      await page.goto(page.url().replace(/#.*$/, ''), { waitUntil: 'load' });
      await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
      await openView(page, 'graph');
      await page.reload({ waitUntil: 'load' });
      await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
      const focused = async () =>
        (await page.evaluate(`(() => { const e = document.activeElement; if (!e || e === document.body) return '';
        if (e.matches('button[role=tab]')) return 'tab:' + e.dataset.view;
        if (e.matches('g.node')) return 'node:' + e.dataset.id;
        if (e.matches('[data-testid=rollout] button[data-action]')) return 'rollout:' + e.dataset.action;
        if (e.matches('.graph-tools button')) return 'tool:' + e.textContent.trim();
        if (e.matches('[data-testid=details] button')) return 'details:' + e.textContent.trim();
        if (e.matches('input[name=admin-token]')) return 'input:admin-token';
        return e.tagName.toLowerCase(); })()`)) as string;
      const reached: string[] = [];
      for (let i = 0; i < 60 && !reached.some((r) => r.startsWith('node:')); i++) {
        await page.keyboard.press('Tab');
        reached.push(await focused());
      }
      const node = reached.find((r) => r.startsWith('node:'));
      expect(node).toBeDefined();
      // The graph's toolbar (zoom in, zoom out, Fit) comes before its elements.
      expect(reached).toEqual(expect.arrayContaining(['tool:+', 'tool:−', 'tool:Fit']));
      // Tab reaches the tab list; every tab is reached by Tab, or by the arrow keys from there (a tab list with a
      // roving tabindex, as WAI-ARIA's pattern has it).
      const firstTab = reached.find((r) => r.startsWith('tab:'));
      expect(firstTab).toBeDefined();
      const tabs = new Set(reached.filter((r) => r.startsWith('tab:')));
      await page.focus(`nav button[role=tab][data-view=${firstTab!.slice('tab:'.length)}]`);
      for (let i = 0; i < 4; i++) {
        await page.keyboard.press('ArrowRight');
        tabs.add(await focused());
      }
      expect([...tabs].filter((t) => t.startsWith('tab:')).sort()).toEqual([
        'tab:graph',
        'tab:problems',
        'tab:proxies',
        'tab:rollouts',
      ]);
      // Back to the node the Tab key reached: Enter opens its details.
      await openView(page, 'graph');
      // An SVG element: puppeteer's page.focus takes HTML elements only.
      await page.evaluate(`document.querySelector('g.node[data-id="${node!.slice('node:'.length)}"]').focus()`);
      await page.keyboard.press('Enter');
      await page.waitForSelector('[data-testid=details]', { visible: true, timeout: 5000 });
      const id = node!.slice('node:'.length);
      const details = (await page.$eval('[data-testid=details]', (d) => d.textContent)) as string;
      expect(details).toContain(id.split('/').at(-1));
      // From the node, Tab reaches the details panel's Close button (past the graph's other elements).
      await page.evaluate(`document.querySelector('g.node[data-id="${id}"]').focus()`);
      const toClose: string[] = [];
      for (let i = 0; i < 80 && !toClose.includes('details:Close'); i++) {
        await page.keyboard.press('Tab');
        toClose.push(await focused());
      }
      expect(toClose).toContain('details:Close');

      // The rollout view: Tab reaches the paused rollout's buttons (Resume, Abort, Promote are enabled).
      await page.focus('nav button[role=tab][data-view=rollouts]');
      await page.keyboard.press('Enter');
      await page.waitForSelector('[data-testid=view-rollouts]', { timeout: 5000 });
      const buttons: string[] = [];
      for (let i = 0; i < 40 && !buttons.includes('rollout:abort'); i++) {
        await page.keyboard.press('Tab');
        buttons.push(await focused());
      }
      expect(buttons).toEqual(expect.arrayContaining(['input:admin-token', 'rollout:resume', 'rollout:abort']));
    });

    it('axe-core finds no serious or critical violation on any view', async () => {
      const found: Record<string, string[]> = {};
      for (const view of ['graph', 'proxies', 'rollouts', 'problems'] as const) {
        await openView(page, view);
        found[view] = seriousViolations(await runAxe(page, `the console's ${view} view`));
      }
      expect(found).toEqual({ graph: [], proxies: [], rollouts: [], problems: [] });
    });

    it('in a fleet, lists the proxies of other replicas; refetches proxies on hello; names Kubernetes sources', async () => {
      // A page of its own whose admin API answers as one replica (r1) of a fleet would, and whose proxies answer
      // is stale at first (empty: as if the proxies connected between the first fetch and the stream's start).
      const other = `mesh/${MESH}/virtualNode/elsewhere`;
      const local = (await admin<{ nodeId: string }[]>('/v1/proxies')).map((p) => p.nodeId);
      const generations = await admin<{ generation: number }>('/v1/mesh');
      const k8s = await running!.newPage();
      try {
        let proxiesAnswers = 0;
        await k8s.setRequestInterception(true);
        k8s.on('request', (req) => {
          const url = new URL(req.url());
          const json = (body: unknown) =>
            void req.respond({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
          if (url.pathname === '/v1/events')
            void req.respond({
              status: 200,
              contentType: 'text/event-stream',
              body: `retry: 600000\nevent: hello\ndata: ${JSON.stringify({ mesh: generations.generation, fleet: true })}\n\n`,
            });
          else if (url.pathname === '/v1/proxies' && proxiesAnswers++ === 0) json([]);
          else if (url.pathname === '/v1/replicas')
            json({
              replicaId: 'r1',
              replicas: [
                { id: 'r1', self: true, alive: true, proxies: local },
                { id: 'r2', self: false, alive: true, proxies: [other] },
              ],
            });
          else if (url.pathname.startsWith('/v1/mesh/resources/'))
            json({
              id: `${MESH}/VirtualNode/color-blue`,
              kind: 'VirtualNode',
              mesh: MESH,
              name: 'color-blue',
              source: 'k8s:/virtualnodes/apps/color-blue:1:1',
              origin: 'kubernetes',
              yaml: 'kind: VirtualNode\n',
              envoy: null,
              proxies: [],
            });
          else void req.continue();
        });
        await k8s.goto(`http://127.0.0.1:${adminPort}/ui/#proxies`, { waitUntil: 'domcontentloaded' });
        await k8s.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
        const rows = await until(
          k8s,
          "the local proxies (after hello) and r2's proxy",
          async () => {
            const r = (await k8s.evaluate(`[...document.querySelectorAll('[data-testid=proxies] tbody tr')].map((tr) =>
              ({ id: tr.dataset.nodeId, replica: tr.querySelector('td.replica')?.textContent, text: tr.textContent }))`)) as {
              id: string;
              replica: string;
              text: string;
            }[];
            return r.length === local.length + 1 ? r : undefined;
          },
          5000,
        );
        for (const id of local) expect(rows.find((r) => r.id === id)?.replica).toBe('r1');
        const remote = rows.find((r) => r.id === other)!;
        expect(remote.replica).toBe('replica r2');
        expect(remote.text).toContain('connected to replica r2');

        await k8s.click('nav button[role=tab][data-view=graph]');
        await k8s.waitForSelector('g.node[data-kind=VirtualNode]', { timeout: 5000 });
        await k8s.evaluate(`document.querySelector('g.node[data-kind=VirtualNode]').focus()`);
        await k8s.keyboard.press('Enter');
        await k8s.waitForSelector('[data-testid=details] dd.source', { timeout: 5000 });
        expect(await k8s.$eval('[data-testid=details] dd.source', (d) => d.textContent)).toBe(
          'Kubernetes: virtualnodes/apps/color-blue',
        );
      } finally {
        await k8s.close();
      }
    });

    it('logged no error in the page', () => {
      expect(pageErrors).toEqual([]);
    });
  },
);
