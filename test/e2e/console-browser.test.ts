// The browser helper the console's tests stand on (helpers/browser.ts): headless Chromium starts and
// renders a page, axe-core reports a page's accessibility faults by impact (and none on a clean page),
// and the main-thread measure sees work the page does. Nothing of meshd here.
import type { Page } from 'puppeteer-core';
import {
  describeWithBrowser,
  launchBrowser,
  mainThreadMs,
  pageWeight,
  runAxe,
  seriousViolations,
  type RunningBrowser,
} from '../helpers/browser';

const page = (html: string) => `data:text/html;charset=utf-8,${encodeURIComponent(html)}`;

describeWithBrowser('browser helper: headless Chromium, axe-core and main-thread time', (chromium) => {
  let running: RunningBrowser | undefined;
  let tab: Page;

  beforeAll(async () => {
    running = await launchBrowser(chromium);
    tab = await running.newPage();
  }, 30000);

  afterAll(async () => {
    await running?.close();
  });

  it('renders a page and reads its DOM', async () => {
    await tab.goto(page('<!doctype html><html lang="en"><title>t</title><main><h1 id="h">hello</h1></main></html>'));
    expect(await tab.$eval('#h', (e) => e.textContent)).toBe('hello');
    const weight = await pageWeight(tab);
    expect(weight.domNodes).toBeGreaterThan(0);
    expect(weight.jsHeapMiB).toBeGreaterThan(0);
  });

  it('finds no serious violation on a clean page, and names the serious ones of a faulty page', async () => {
    await tab.goto(
      page('<!doctype html><html lang="en"><title>clean</title><main><h1>ok</h1><button>Go</button></main></html>'),
    );
    expect(seriousViolations(await runAxe(tab))).toEqual([]);

    // A button without a name and an image without alt text: both critical for axe.
    await tab.goto(
      page(
        '<!doctype html><html lang="en"><title>faulty</title><main><button></button><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></main></html>',
      ),
    );
    const serious = seriousViolations(await runAxe(tab));
    expect(serious).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^critical: button-name /),
        expect.stringMatching(/^critical: image-alt /),
      ]),
    );
  });

  it('measures main-thread time: a 300 ms busy loop costs at least 250 ms, an idle wait much less', async () => {
    await tab.goto(page('<!doctype html><html lang="en"><title>busy</title></html>'));
    const busy = await mainThreadMs(tab, () =>
      tab.evaluate('{ const end = performance.now() + 300; while (performance.now() < end); }'),
    );
    const idle = await mainThreadMs(tab, () => new Promise((r) => setTimeout(r, 300)));
    process.stdout.write(`main thread: busy loop ${busy.toFixed(1)} ms, idle wait ${idle.toFixed(1)} ms\n`);
    expect(busy).toBeGreaterThanOrEqual(250);
    expect(idle).toBeLessThan(busy);
  });
});
