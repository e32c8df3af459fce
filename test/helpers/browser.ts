// Headless Chromium for the web console's tests (puppeteer-core drives Debian's `chromium`, found at
// /usr/bin/chromium or MESHD_CHROMIUM). Without it a suite is skipped with the reason, or fails under
// MESHD_REQUIRE_ENVOY=1 (CI), as with Envoy (helpers/envoy.ts describeIfAvailable). Every browser is closed in
// afterAll, and a watchdog kills it when the jest worker dies first.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page, PuppeteerNode } from 'puppeteer-core';
import { describeIfAvailable } from './envoy';
import { tmpDir } from './processes';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

/** The Chromium binary the tests run, or undefined when there is none. */
export function findChromium(): string | undefined {
  const candidate = process.env.MESHD_CHROMIUM || DEFAULT_CHROMIUM;
  try {
    fs.accessSync(candidate, fs.constants.X_OK);
    return candidate;
  } catch {
    return undefined;
  }
}

export const NO_CHROMIUM = `no Chromium at ${process.env.MESHD_CHROMIUM || DEFAULT_CHROMIUM} (apt-get install chromium, or set MESHD_CHROMIUM)`;

/** `describe` for suites that drive a browser: skipped without Chromium, failed under MESHD_REQUIRE_ENVOY=1. */
export function describeWithBrowser(name: string, body: (chromium: string) => void): void {
  const chromium = findChromium();
  describeIfAvailable(name, 'a headless Chromium', chromium ? undefined : NO_CHROMIUM, () => body(chromium!));
}

let puppeteerModule: PuppeteerNode | undefined;

/**
 * puppeteer-core, loaded. It ships only as ES modules, which jest (CommonJS, no --experimental-vm-modules) and
 * Node 20's require cannot load; esbuild (the console's bundler) turns it into one CommonJS file in this test
 * process's temp folder first (half a second).
 */
function puppeteer(): PuppeteerNode {
  if (puppeteerModule) return puppeteerModule;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esbuild = require('esbuild') as typeof import('esbuild');
  const outfile = path.join(tmpDir('puppeteer-'), 'puppeteer-core.cjs');
  esbuild.buildSync({
    entryPoints: [require.resolve('puppeteer-core')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile,
    logLevel: 'error',
  });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded = require(outfile) as { default: PuppeteerNode };
  puppeteerModule = loaded.default;
  return puppeteerModule;
}

/** Kills `pid` once this process is gone (a detached shell polling for it), as helpers/kube.ts does. */
function watchdog(pid: number): ChildProcess {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${pid} 2>/dev/null`;
  const child = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  child.unref();
  return child;
}

export interface RunningBrowser {
  readonly browser: Browser;
  /** A new page (tab) with a viewport big enough for the console's graph. */
  newPage(): Promise<Page>;
  /** Closes the browser (kills it when it does not close within 5 s) and its watchdog; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Starts headless Chromium. Call `close()` in afterAll (it is safe when the launch failed half-way); a
 * watchdog kills Chromium if this process dies without closing it.
 */
export async function launchBrowser(chromium = findChromium()): Promise<RunningBrowser> {
  if (!chromium) throw new Error(NO_CHROMIUM);
  // No crash reporter: Chromium would otherwise keep its crash-report database in ~/.config/chromium, outside the
  // test's temporary directory (HOME and XDG_CONFIG_HOME point there too, for anything else it writes).
  const args = [
    '--headless=new',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--no-first-run',
    '--disable-breakpad',
    '--disable-crash-reporter',
  ];
  // Chromium refuses to run as root inside its sandbox.
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  const home = tmpDir('chromium-');
  const browser = await puppeteer().launch({
    executablePath: chromium,
    headless: true,
    args,
    userDataDir: path.join(home, 'profile'),
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config') },
    defaultViewport: { width: 1400, height: 900 },
  });
  const pid = browser.process()?.pid;
  const guard = pid === undefined ? undefined : watchdog(pid);
  let closed = false;
  return {
    browser,
    newPage: () => browser.newPage(),
    close: async () => {
      if (closed) return;
      closed = true;
      const proc = browser.process();
      const timer = setTimeout(() => proc?.kill('SIGKILL'), 5000);
      try {
        await browser.close();
      } catch {
        proc?.kill('SIGKILL');
      } finally {
        clearTimeout(timer);
        guard?.kill('SIGKILL');
      }
    },
  };
}

export interface AxeViolation {
  id: string;
  impact: 'minor' | 'moderate' | 'serious' | 'critical' | null;
  help: string;
  helpUrl: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

const AXE_SOURCE = path.resolve(__dirname, '../../node_modules/axe-core/axe.min.js');

/** One line per violation and element: what the failure message and the printout show. */
export function describeViolations(violations: readonly AxeViolation[]): string[] {
  return violations.flatMap((v) =>
    v.nodes.map((n) => `${v.impact ?? 'unknown'}: ${v.id} (${v.help}) at ${n.target.join(' ')}`),
  );
}

/**
 * Runs axe-core on the page as it is now and answers its violations. The caller fails on serious and
 * critical ones (`seriousViolations`); the rest are printed here, for whoever reads the test's output.
 */
export async function runAxe(page: Page, label = page.url()): Promise<AxeViolation[]> {
  const present = await page.evaluate('typeof window.axe === "object"');
  // Evaluated over CDP rather than added as a <script>: the console's Content-Security-Policy refuses inline scripts.
  if (!present) await page.evaluate(fs.readFileSync(AXE_SOURCE, 'utf8'));
  const violations = (await page.evaluate(
    'window.axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) })))',
  )) as AxeViolation[];
  const minor = violations.filter((v) => !isSerious(v));
  if (minor.length > 0)
    process.stdout.write(
      `axe on ${label}: minor or moderate findings:\n${describeViolations(minor)
        .map((l) => `  ${l}\n`)
        .join('')}`,
    );
  return violations;
}

function isSerious(v: AxeViolation): boolean {
  return v.impact === 'serious' || v.impact === 'critical';
}

/** The serious and critical violations, as lines: what a test expects to be `[]`. */
export function seriousViolations(violations: readonly AxeViolation[]): string[] {
  return describeViolations(violations.filter(isSerious));
}

/**
 * The main thread's busy time (CDP Performance.getMetrics TaskDuration, in ms) while `action` runs and
 * until `settled` resolves: what one update costs the page, scripting, style, layout and paint included.
 */
export async function mainThreadMs(
  page: Page,
  action: () => Promise<unknown>,
  settled: () => Promise<unknown> = async () => undefined,
): Promise<number> {
  const cdp = await page.createCDPSession();
  try {
    await cdp.send('Performance.enable');
    const taskSeconds = async () => {
      const { metrics } = await cdp.send('Performance.getMetrics');
      return metrics.find((m) => m.name === 'TaskDuration')?.value ?? 0;
    };
    const before = await taskSeconds();
    await action();
    await settled();
    const after = await taskSeconds();
    return (after - before) * 1000;
  } finally {
    await cdp.detach().catch(() => undefined);
  }
}

/** The page's JavaScript heap in use (MiB) and its DOM node count, from CDP Performance.getMetrics. */
export async function pageWeight(page: Page): Promise<{ jsHeapMiB: number; domNodes: number }> {
  const cdp = await page.createCDPSession();
  try {
    await cdp.send('Performance.enable');
    const { metrics } = await cdp.send('Performance.getMetrics');
    const value = (name: string) => metrics.find((m) => m.name === name)?.value ?? NaN;
    return { jsHeapMiB: value('JSHeapUsedSize') / (1024 * 1024), domNodes: value('Nodes') };
  } finally {
    await cdp.detach().catch(() => undefined);
  }
}

/** The durations (ms) of the page's `performance.measure` entries whose names start with `prefix`. */
export async function measures(page: Page, prefix: string): Promise<{ name: string; duration: number }[]> {
  return (await page.evaluate(
    `performance.getEntriesByType('measure').filter((e) => e.name.startsWith(${JSON.stringify(prefix)})).map((e) => ({ name: e.name, duration: e.duration }))`,
  )) as { name: string; duration: number }[];
}

/** When the mark `name` was set, in ms since navigation start; undefined until it is. */
export async function markTime(page: Page, name: string): Promise<number | undefined> {
  return (await page.evaluate(`(performance.getEntriesByName(${JSON.stringify(name)}, 'mark')[0] || {}).startTime`)) as
    number | undefined;
}
