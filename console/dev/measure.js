#!/usr/bin/env node
// Development only (not shipped): loads the console against console/dev/fixture.js in headless Chromium and
// prints what it costs: the first view (performance mark meshd:first-view, ms since navigation), the main-thread
// time of telemetry updates (meshd:update:telemetry measures) with 1 and with 100 changed virtual nodes, and of
// a mesh event (a full re-render); then runs axe-core on each view of a small mesh. Needs `npm run build` first.
//   node console/dev/measure.js [N=1000]
'use strict';
const path = require('node:path');
const puppeteer = require('puppeteer-core');
const { start } = require('./fixture');

const AXE = path.resolve(__dirname, '../../node_modules/axe-core/axe.min.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function post(port, p) {
  await fetch(`http://127.0.0.1:${port}${p}`, { method: 'POST' });
}

const stats = (xs) => {
  if (xs.length === 0) return { n: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const q = (f) => s[Math.min(s.length - 1, Math.floor(f * s.length))];
  return { n: s.length, median: +q(0.5).toFixed(2), p90: +q(0.9).toFixed(2), max: +s[s.length - 1].toFixed(2) };
};

async function measures(page, name) {
  return page.evaluate((n) => performance.getEntriesByName(n).map((e) => e.duration), name);
}

async function perf(browser, n) {
  const { server, port, mesh } = await start(n, 0);
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  const t0 = Date.now();
  await page.goto(`http://127.0.0.1:${port}/ui/`);
  await page.waitForSelector('body[data-ready=true]', { timeout: 60000 });
  const firstView = await page.evaluate(() => performance.getEntriesByName('meshd:first-view')[0].startTime);
  // Until the browser has painted it too (two animation frames after the mark).
  const painted = await page.evaluate(
    () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now())))),
  );
  const phases = await page.evaluate(() =>
    Object.fromEntries(
      [
        ...performance.getEntriesByType('measure').filter((e) => e.name.startsWith('meshd:graph:')),
        ...performance.getEntriesByType('resource').filter((e) => /app\.js|v1\/mesh$/.test(e.name)),
      ].map((e) => [e.name.replace(/^http:\/\/[^/]+/, ''), `${e.startTime.toFixed(0)}+${e.duration.toFixed(0)}`]),
    ),
  );
  const counts = await page.evaluate(() => ({
    nodes: document.querySelectorAll('g.node').length,
    edges: document.querySelectorAll('g.edge').length,
    dom: document.getElementsByTagName('*').length,
  }));
  await page.waitForSelector('[data-testid=connection][data-state=live]');
  const result = {
    phases,
    elements: mesh.nodes.length,
    edges: mesh.edges.length,
    counts,
    firstViewMs: +firstView.toFixed(1),
    paintedMs: +painted.toFixed(1),
    wallMs: Date.now() - t0,
  };
  for (const changes of [1, 100]) {
    await page.evaluate(() => performance.clearMeasures('meshd:update:telemetry'));
    for (let i = 0; i < 20; i++) {
      await post(port, `/dev/tick?changes=${changes}`);
      await sleep(120);
    }
    await sleep(300);
    result[`telemetry${changes}`] = stats(await measures(page, 'meshd:update:telemetry'));
  }
  // The DOM shows a changed number: one edge's data-rps after a tick (a sanity check of the direct updates).
  result.sample = await page.evaluate(() => {
    const e = document.querySelector('g.edge[data-kind=route-target]');
    return e ? { rps: e.getAttribute('data-rps'), health: e.getAttribute('data-health'), text: e.textContent } : null;
  });
  // Keyboard: Tab from the first node walks the elements in order, whether they were in the DOM or not.
  await page.$eval('g.node', (e) => e.focus());
  const walked = [];
  for (let i = 0; i < 60; i++) {
    walked.push(await page.evaluate(() => document.activeElement?.getAttribute('data-id')));
    await page.keyboard.press('Tab');
  }
  result.tabWalk = { steps: walked.length, distinct: new Set(walked).size, last: walked[walked.length - 1] };
  // Panning down the mesh by drags: the DOM is rebuilt when the view leaves what was rendered.
  await page.evaluate(() => performance.clearMeasures('meshd:graph:region'));
  await page.mouse.move(700, 600);
  for (let i = 0; i < 10; i++) {
    await page.mouse.down();
    await page.mouse.move(700, 150, { steps: 5 });
    await page.mouse.up();
    await page.mouse.move(700, 600);
  }
  result.panRegion = stats(await measures(page, 'meshd:graph:region'));
  result.domAfterPan = await page.evaluate(() => document.querySelectorAll('g.node, g.edge').length);
  for (let i = 0; i < 3; i++) {
    await post(port, '/dev/mesh');
    await sleep(1500);
  }
  result.mesh = stats(await measures(page, 'meshd:update:mesh'));
  await page.close();
  server.close();
  return result;
}

async function axe(browser) {
  const { server, port } = await start(12, 0);
  const page = await browser.newPage();
  // axe is injected as an inline script, which the console's Content-Security-Policy would refuse.
  await page.setBypassCSP(true);
  await page.setViewport({ width: 1400, height: 900 });
  await page.goto(`http://127.0.0.1:${port}/ui/`);
  await page.waitForSelector('body[data-ready=true]');
  await page.addScriptTag({ path: AXE });
  const out = {};
  const run = async (label) => {
    const r = await page.evaluate(async () => {
      const res = await window.axe.run(document, { resultTypes: ['violations'] });
      return res.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        nodes: v.nodes.length,
        help: v.help,
        target: v.nodes[0]?.target.join(' '),
      }));
    });
    out[label] = r;
  };
  await run('graph');
  await page.$eval('g.node[data-kind=VirtualRouter]', (e) => e.focus());
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-testid=details] pre.yaml');
  await run('graph+details');
  for (const view of ['proxies', 'rollouts', 'problems']) {
    await page.click(`button[role=tab][data-view=${view}]`);
    await page.waitForSelector(`[data-testid=view-${view}]`);
    await run(view);
  }
  out.contract = await contract(page);
  // A rollout action without the token: the 401's text in [role=alert].
  await page.click(`button[role=tab][data-view=rollouts]`);
  await page.click('button[data-action=pause]');
  await page.waitForFunction(() => document.querySelector('[data-testid=rollout] [role=alert]')?.textContent);
  out.alert401 = await page.$eval('[data-testid=rollout] [role=alert]', (e) => e.textContent);
  await page.close();
  server.close();
  return out;
}

/** The DOM contract of COMMON29.md / docs/console.md, checked on the small fixture: failures are listed. */
async function contract(page) {
  const failed = [];
  const check = async (what, fn, ...args) => {
    try {
      if (!(await page.evaluate(fn, ...args))) failed.push(what);
    } catch (err) {
      failed.push(`${what}: ${err.message}`);
    }
  };
  const tab = (view) => page.click(`button[role=tab][data-view=${view}]`);
  await tab('graph');
  await check(
    'graph nodes',
    () =>
      document.querySelectorAll(
        '[data-testid=graph] svg g.node[data-id][data-kind][tabindex="0"][role=button][aria-label]',
      ).length > 10,
  );
  await check('route-target edge', () => {
    const e = document.querySelector('g.edge[data-kind=route-target]');
    return (
      e &&
      e.dataset.weight &&
      e.dataset.from &&
      e.dataset.to &&
      /^\d+%/.test(e.textContent) &&
      /rps|no traffic/.test(e.textContent) &&
      ['healthy', 'degraded', 'failing', 'idle'].includes(e.dataset.health)
    );
  });
  await check('idle edge has empty data-rps', () =>
    [...document.querySelectorAll('g.edge[data-health=idle]')].every((e) => e.dataset.rps === ''),
  );
  await check('problems tab counts errors', () =>
    /1 error/.test(document.querySelector('button[data-view=problems]').textContent),
  );
  // Keyboard: ArrowRight from the selected tab opens the next view.
  await page.focus('button[role=tab][data-view=graph]');
  await page.keyboard.press('ArrowRight');
  await check(
    'arrow key opens proxies',
    () => document.querySelector('[data-testid=view-proxies]') && document.activeElement.dataset.view === 'proxies',
  );
  await check('proxy rows', () => {
    const rows = document.querySelectorAll('[data-testid=proxies] table tbody tr[data-node-id]');
    const nacked = document.querySelector('tr[data-node-id="mesh/apps/virtualNode/node-3"]');
    const problem = document.querySelector('tr[data-node-id="mesh/apps/virtualNode/node-7"] td.problem');
    return (
      rows.length === 12 &&
      /NACKED/.test(nacked.textContent) &&
      /duplicate name/.test(nacked.querySelector('td.nack').textContent) &&
      /not in the mesh/.test(problem.textContent) &&
      /SYNCED/.test(rows[0].textContent)
    );
  });
  await tab('problems');
  await check('problems list', () => {
    const li = document.querySelectorAll('[data-testid=problems] li[data-severity]');
    return (
      li.length === 2 &&
      li[0].dataset.severity === 'error' &&
      li[0].textContent.startsWith('mesh/route.yaml:12:9: error:')
    );
  });
  await tab('rollouts');
  await check('rollout panel', () => {
    const r = document.querySelector('[data-testid=rollout][data-rollout="apps/node-0"][data-phase=Progressing]');
    const b = (a) => r.querySelector(`button[data-action=${a}]`);
    const events = r.querySelectorAll('ol.events li');
    return (
      r &&
      !b('pause').disabled &&
      b('resume').disabled &&
      b('pause').textContent === 'Pause' &&
      r.querySelector('svg.weight-chart title') &&
      r.querySelector('svg.weight-chart desc') &&
      r.querySelector('table.checks tbody tr') &&
      events.length === 5 &&
      /canary weight to 30/.test(events[0].textContent) &&
      document.querySelector('input[name=admin-token]') &&
      document.querySelector('label[for=admin-token]')
    );
  });
  await tab('graph');
  await page.$eval('g.node[data-kind=VirtualNode]', (e) => e.focus());
  await page.keyboard.press('Enter');
  // (the details of the element opened before may still be shown until these arrive)
  await page.waitForFunction(
    () => document.querySelector('[data-testid=details] .kind')?.textContent === 'VirtualNode',
  );
  await check('details', () => {
    const d = document.querySelector('[data-testid=details]');
    return (
      /VirtualNode/.test(d.querySelector('.kind').textContent) &&
      d.querySelector('.source').textContent.includes('.yaml:1:1') &&
      d.querySelector('details pre.envoy') &&
      !d.querySelector('details').open &&
      d.querySelector('ul.serving li')
    );
  });
  await page.$eval('g.node[data-kind=VirtualService]', (e) => e.focus());
  await page.keyboard.press(' ');
  await page.waitForFunction(() => document.querySelector('[data-testid=details] .source')?.textContent === 'API');
  return failed;
}

async function main() {
  const n = Number(process.argv[2] ?? 1000);
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless=new'],
  });
  try {
    const result = await perf(browser, n);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    if (process.argv.includes('--no-axe')) return;
    process.stdout.write(`axe: ${JSON.stringify(await axe(browser), null, 2)}\n`);
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
