// RolloutController (src/rollout/controller.ts), driven by `meshd serve` itself: a real MeshServer
// (src/control/mesh-server.ts, in-process, its servers on free ports) serving a real mesh file in
// a temp folder with a route and a `kind: Rollout`, its real file watcher reloading the mesh after
// each write, a real state file (RolloutStore) and real local HTTP servers for the webhooks.
//
// Time is the test's: the rollouts run on a hand-driven clock (ManualClock), moved on to the next
// step only once meshd is quiet (its own writes reloaded, the rollouts' queued work done), so a
// rollout of 1s intervals takes milliseconds and no step races the watcher on a busy machine.
//
// The canary's traffic is synthetic input: a TelemetryReader that answers whatever each test sets.
// Real Envoy telemetry (DogStatsD from sidecars into src/telemetry/) is exercised by the e2e suites.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { MeshServer } from '../../src/control/mesh-server';
import { loadMesh } from '../../src/load/mesh-source';
import { watchMeshPaths } from '../../src/load/watcher';
import { createLogger } from '../../src/util/log';
import { routeKindOf } from '../../src/model/route';
import type { Clock } from '../../src/rollout/clock';
import type { Command } from '../../src/rollout/controller';
import { RolloutStore, type RolloutRecord } from '../../src/rollout/records';
import type { TelemetryReader, TrafficSummary } from '../../src/telemetry';
import { tmpDir, waitFor } from '../helpers/processes';

const MESH_NAME = 'apps';
const ROLLOUT_NAME = 'canary';
/** Real time allowed for what the steps wait on (the watcher, webhooks); a slow machine may take longer. */
const WAIT_MS = 30_000;

// ---- the mesh ----

const node = (name: string) =>
  `kind: VirtualNode\nmesh: apps\nname: ${name}\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: ${name}.local } }\n`;

/**
 * The shop mesh: Route/web/split sends `primary` percent to web-v1
 * and `canary` percent to web-v2; then the Rollout, if any.
 */
function meshText(primary: number, canary: number, rollout?: string): string {
  return [
    '# web-v1 serves; web-v2 is being rolled out\nkind: Mesh\nname: apps\n',
    node('web-v1'),
    node('web-v2'),
    'kind: VirtualRouter\nmesh: apps\nname: web\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n',
    'kind: VirtualService\nmesh: apps\nname: web.apps.local\nspec: { provider: { virtualRouter: { virtualRouterName: web } } }\n',
    `kind: Route\nmesh: apps\nvirtualRouter: web\nname: split\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action:\n      weightedTargets:\n        - { virtualNode: web-v1, weight: ${primary} }   # primary\n        - { virtualNode: web-v2, weight: ${canary} }   # canary\n`,
    ...(rollout === undefined ? [] : [rollout]),
  ].join('---\n');
}

/** A Rollout of Route/web/split from web-v1 to web-v2 with these analysis settings (written as a JSON flow mapping). */
function rolloutDoc(analysis: Record<string, unknown>): string {
  return `kind: Rollout\nmesh: apps\nname: ${ROLLOUT_NAME}\nspec:\n  route: { virtualRouter: web, name: split }\n  primary: web-v1\n  canary: web-v2\n  analysis: ${JSON.stringify(analysis)}\n`;
}

/** The route's weights as the file says now, e.g. "90/10" (web-v1/web-v2). */
function splitIn(file: string): string {
  const result = loadMesh([file]);
  if (!result.ok) throw new Error(`${file} does not load: ${result.problems.map((p) => p.message).join('; ')}`);
  const route = result.model.routesOf(MESH_NAME, 'web').find((r) => r.name === 'split')!;
  return routeKindOf(route.spec)
    .action.weightedTargets.map((t) => t.weight)
    .join('/');
}

// ---- the canary's traffic ----

class SyntheticTelemetry implements TelemetryReader {
  traffic: Omit<TrafficSummary, 'windowMs' | 'ratePerSecond'> = {
    requests: 200,
    errors: 0,
    successRate: 100,
    p50Ms: 5,
    p99Ms: 20,
  };
  readonly asked: string[] = [];

  summary(mesh: string, virtualNode: string, windowMs: number): TrafficSummary {
    this.asked.push(`${mesh}/${virtualNode}/${windowMs}`);
    return { ...this.traffic, windowMs, ratePerSecond: this.traffic.requests / (windowMs / 1000) };
  }
}

// ---- the clock ----

/** Time that moves only when the test says: the rollouts' timers fire in order as it moves. */
class ManualClock implements Clock {
  private at = Date.parse('2026-06-01T12:00:00.000Z');
  private nextId = 1;
  private readonly timers = new Map<number, { due: number; callback: () => void }>();

  now(): number {
    return this.at;
  }

  setTimeout(callback: () => void, ms: number): number {
    const id = this.nextId++;
    this.timers.set(id, { due: this.at + Math.max(0, ms), callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Moves to the earliest timer and fires it; false when none is set. */
  next(): boolean {
    const [id, timer] =
      [...this.timers].reduce<[number, { due: number; callback: () => void }] | undefined>(
        (min, t) => (!min || t[1].due < min[1].due ? t : min),
        undefined,
      ) ?? [];
    if (id === undefined || !timer) return false;
    this.timers.delete(id);
    this.at = Math.max(this.at, timer.due);
    timer.callback();
    return true;
  }

  /** Moves `ms` on, firing every timer due meanwhile, in order. */
  advance(ms: number): void {
    const end = this.at + ms;
    while ([...this.timers.values()].some((t) => t.due <= end)) this.next();
    this.at = end;
  }
}

// ---- meshd serve ----

interface Run {
  readonly file: string;
  readonly storePath: string;
  readonly telemetry: SyntheticTelemetry;
  readonly clock: ManualClock;
  readonly log: string[];
  server: MeshServer;
  /** Each split the route was served with, in order (a reload that did not change it adds nothing). */
  readonly served: string[];
  /** Reloads the watcher started (each reads the files anew). */
  reloads: number;
  /** The mesh file's text as the last reload read it. */
  loadedText: string;
  /** While true, the watcher's reloads are held back (meshd's write is not noticed yet); `pending` is the one held. */
  held: boolean;
  pending: (() => void) | undefined;
}

const runs: Run[] = [];
const servers: http.Server[] = [];

afterEach(async () => {
  for (const run of runs.splice(0)) await run.server.close();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function noteServed(run: Run): void {
  const model = run.server.currentModel();
  if (!model) return;
  const route = model.routesOf(MESH_NAME, 'web').find((r) => r.name === 'split');
  if (!route) return;
  const split = routeKindOf(route.spec)
    .action.weightedTargets.map((t) => t.weight)
    .join('/');
  if (run.served[run.served.length - 1] !== split) run.served.push(split);
}

/** Opens and starts a MeshServer on the run's mesh file, its real watcher wrapped so that a reload can be held back. */
async function serve(run: Omit<Run, 'server'> & { server?: MeshServer }): Promise<MeshServer> {
  const server = await MeshServer.open({
    paths: [run.file],
    log: createLogger({ write: (line) => void run.log.push(line) }),
    watch: { debounceMs: 10 },
    cloudMap: { statePath: path.join(tmpDir('rollout-cloud-map-'), 'cloud-map.json') },
    rollouts: { statePath: run.storePath, clock: run.clock, telemetry: run.telemetry },
    watchPaths: (paths, onChange, options) =>
      watchMeshPaths(
        paths,
        (changed, detectedAt) => {
          const reload = () => {
            run.pending = undefined;
            run.reloads += 1;
            run.loadedText = fs.readFileSync(run.file, 'utf8');
            onChange(changed, detectedAt);
            noteServed(run as Run);
          };
          if (run.held) run.pending = reload;
          else reload();
        },
        options,
      ),
  });
  run.server = server;
  run.loadedText = fs.readFileSync(run.file, 'utf8');
  await server.start();
  noteServed(run as Run);
  return server;
}

/** Starts meshd on a new mesh file (or on `reuse`'s file, state and clock, as a restarted meshd). */
async function start(
  text: string | undefined,
  reuse?: Pick<Run, 'file' | 'storePath' | 'telemetry'> & Partial<Pick<Run, 'clock'>>,
): Promise<Run> {
  const file = reuse?.file ?? path.join(tmpDir('rollout-mesh-'), 'mesh.yaml');
  if (text !== undefined) fs.writeFileSync(file, text);
  const run = {
    file,
    storePath: reuse?.storePath ?? path.join(tmpDir('rollout-state-'), 'rollouts.json'),
    telemetry: reuse?.telemetry ?? new SyntheticTelemetry(),
    clock: reuse?.clock ?? new ManualClock(),
    log: [] as string[],
    served: [] as string[],
    reloads: 0,
    loadedText: '',
    held: false,
    pending: undefined,
  } as Omit<Run, 'server'> as Run;
  runs.push(run);
  await serve(run);
  await run.server.rollouts.settled();
  return run;
}

/** Stops meshd (a restart follows with `start(undefined, run)`). */
async function stop(run: Run): Promise<void> {
  runs.splice(runs.indexOf(run), 1);
  await run.server.close();
}

/** The watcher's reload of what is in the file now: waited for (or, while reloads are held back, let through alone). */
async function reloadSeen(run: Run): Promise<void> {
  const before = run.reloads;
  if (run.held) {
    const pending = await waitFor('the watcher to notice the change', () => run.pending, WAIT_MS);
    pending();
  } else
    await waitFor(
      'the watcher to reload the mesh',
      () => (run.reloads > before && run.loadedText === fs.readFileSync(run.file, 'utf8') ? true : undefined),
      WAIT_MS,
    );
}

/** Rewrites the file as a user would, and waits for meshd to reload it and for the rollouts to take it in. */
async function editByHand(run: Run, text: string): Promise<void> {
  fs.writeFileSync(run.file, text);
  await reloadSeen(run);
  await run.server.rollouts.settled();
}

/** Holds the watcher's reloads back until release(). */
function holdReloads(run: Run): void {
  run.held = true;
}

function releaseReloads(run: Run): void {
  run.held = false;
  run.pending?.();
}

/**
 * meshd has nothing left to do but wait for its clock: its own writes
 * are reloaded (unless held back) and the rollouts' work is done.
 */
async function quiet(run: Run): Promise<boolean> {
  let done = false;
  await Promise.race([run.server.rollouts.settled().then(() => (done = true)), sleep(5)]);
  // Looked at once the work is done: a step that just ended may have written the file.
  // A store write's mesh is served on the event loop's next turn: not quiet until it is.
  return done && !run.server.store.announcing && (run.held || run.loadedText === fs.readFileSync(run.file, 'utf8'));
}

/** Waits for `check`, moving the clock to the next timer whenever meshd is quiet. */
async function until<T>(run: Run, what: string, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    if (!((await quiet(run)) && run.clock.next())) await sleep(5);
  }
}

const record = (run: Run): RolloutRecord | undefined => run.server.rollouts.get(MESH_NAME, ROLLOUT_NAME);
const messages = (run: Run): string[] => record(run)?.events.map((e) => e.message) ?? [];
const command = (run: Run, c: Command) => run.server.rollouts.command(MESH_NAME, ROLLOUT_NAME, c);

/** Waits for the rollout to reach `phase` (and anything else `also` asks). */
function phaseReached(
  run: Run,
  phase: RolloutRecord['phase'],
  also: (r: RolloutRecord) => boolean = () => true,
): Promise<RolloutRecord> {
  return until(run, `rollout phase ${phase}`, () => {
    const r = record(run);
    return r?.phase === phase && also(r) ? r : undefined;
  });
}

const servedSplit = (run: Run, split: string) =>
  until(run, `the route to be served at ${split}`, () =>
    run.served[run.served.length - 1] === split ? true : undefined,
  );

/** Resolves once the rollouts' queued work (a finished rollout's post-rollout hooks, say) is done. */
function settled(run: Run): Promise<void> {
  return run.server.rollouts.settled();
}

// ---- webhooks ----

interface HookCall {
  readonly path: string;
  readonly body: Record<string, unknown>;
  /** The route's split in the mesh file when the call came in. */
  readonly fileSplit: string;
}

interface HookServer {
  url(pathName: string): string;
  readonly calls: HookCall[];
  /** Status answered per path (200 when not set); 0: no answer at all (the request is held until the test ends). */
  readonly status: Record<string, number>;
  callsTo(pathName: string): HookCall[];
  /** Answers the requests held (status 0) on that path, and answers `code` from then on. */
  release(pathName: string, code: number): void;
}

async function hookServer(meshFile: () => string): Promise<HookServer> {
  const calls: HookCall[] = [];
  const status: Record<string, number> = {};
  const held: { path: string; res: http.ServerResponse }[] = [];
  const answer = (res: http.ServerResponse, pathName: string, code: number) => {
    res.writeHead(code, { 'content-type': 'text/plain' });
    res.end(code === 200 ? 'ok' : `no, ${pathName} says ${code}`);
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const pathName = req.url ?? '/';
      calls.push({ path: pathName, body: JSON.parse(body) as Record<string, unknown>, fileSplit: splitIn(meshFile()) });
      const code = status[pathName] ?? 200;
      if (code === 0) held.push({ path: pathName, res });
      else answer(res, pathName, code);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const { port } = server.address() as AddressInfo;
  return {
    url: (p) => `http://127.0.0.1:${port}${p}`,
    calls,
    status,
    callsTo: (p) => calls.filter((c) => c.path === p),
    release: (p, code) => {
      status[p] = code;
      for (const h of held.splice(0).filter((x) => x.path === p)) answer(h.res, p, code);
    },
  };
}

/** A run whose mesh file is known before the webhook server is needed. */
function meshFileOf(): { file: string; get: () => string } {
  const file = path.join(tmpDir('rollout-mesh-'), 'mesh.yaml');
  return { file, get: () => file };
}

async function startIn(file: string, text: string): Promise<Run> {
  fs.writeFileSync(file, text);
  return start(undefined, {
    file,
    storePath: path.join(tmpDir('rollout-state-'), 'rollouts.json'),
    telemetry: new SyntheticTelemetry(),
  });
}

// ---- the tests ----

describe('RolloutController: analysis and steps', () => {
  it('steps a healthy canary 10 → 20 → 30 (maxWeight 30), then promotes it; only the weights of the file change', async () => {
    const rollout = rolloutDoc({ interval: '1s', stepWeight: 10, maxWeight: 30 });
    const run = await start(meshText(100, 0, rollout));

    const done = await phaseReached(run, 'Succeeded');
    await servedSplit(run, '0/100');
    expect(run.served).toEqual(['100/0', '90/10', '80/20', '70/30', '0/100']);
    expect(fs.readFileSync(run.file, 'utf8')).toBe(meshText(0, 100, rollout));
    expect(done).toMatchObject({
      canaryWeight: 100,
      expected: { primary: 0, canary: 100 },
      failedChecks: 0,
      source: 'file',
    });

    const events = messages(run);
    for (const step of [
      'advancing web-v2 to 10%',
      'advancing web-v2 to 20%',
      'advancing web-v2 to 30%',
      'promoted: all traffic to web-v2',
    ]) {
      expect(events.filter((m) => m.includes(step))).toHaveLength(1);
    }
    expect(
      events.some((m) =>
        /^check passed \(200 request\(s\) over the last 1s, success rate 100% over the last 1s, p99 latency 20 ms/.test(
          m,
        ),
      ),
    ).toBe(true);
    // The canary's telemetry was read, over the analysis interval.
    expect(run.telemetry.asked).toContain('apps/web-v2/1000');
    expect(run.telemetry.asked.every((a) => a.startsWith('apps/web-v2/'))).toBe(true);
    // The state file says the same.
    expect(new RolloutStore(run.storePath).load()).toEqual([
      expect.objectContaining({ mesh: 'apps', name: 'canary', phase: 'Succeeded', canaryWeight: 100 }),
    ]);
    expect(run.log.some((l) => l.includes('rollout apps/canary: check passed') && l.includes('promoted'))).toBe(true);
  });

  it('rolls a failing canary back (success rate below min) after exactly `threshold` (2) failed checks', async () => {
    const rollout = rolloutDoc({
      interval: '1s',
      stepWeight: 10,
      maxWeight: 50,
      threshold: 2,
      metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 } }],
    });
    const run = await start(meshText(100, 0, rollout));
    await servedSplit(run, '90/10');
    run.telemetry.traffic = { requests: 100, errors: 10, successRate: 90, p50Ms: 5, p99Ms: 20 };

    const failed = await phaseReached(run, 'Failed');
    await servedSplit(run, '100/0');
    expect(run.served).toEqual(['100/0', '90/10', '100/0']);
    expect(failed).toMatchObject({ failedChecks: 2, canaryWeight: 0, expected: { primary: 100, canary: 0 } });
    expect(failed.lastCheck?.ok).toBe(false);
    expect(failed.lastCheck?.results).toContainEqual(
      expect.objectContaining({ metric: 'request-success-rate', value: 90, ok: false }),
    );

    const events = messages(run);
    expect(
      events.filter((m) =>
        m.startsWith('check 1 of 2 failed: success rate 90% over the last 1s, below the minimum 99%'),
      ),
    ).toHaveLength(1);
    expect(events.filter((m) => m.startsWith('check 2 of 2'))).toHaveLength(0);
    expect(events.filter((m) => m.startsWith('rolling back after 2 failed check(s): success rate 90%'))).toHaveLength(
      1,
    );
    expect(events.some((m) => m.includes('advancing web-v2 to 20%'))).toBe(false);
    expect(fs.readFileSync(run.file, 'utf8')).toBe(meshText(100, 0, rollout));
  });

  it('counts too few requests (below minRequests) as a failed check', async () => {
    const rollout = rolloutDoc({
      interval: '1s',
      threshold: 1,
      minRequests: 10,
      metrics: [{ name: 'request-success-rate', thresholdRange: { min: 99 } }],
    });
    const run = await start(meshText(100, 0, rollout));
    await servedSplit(run, '90/10');
    run.telemetry.traffic = { requests: 3, errors: 0, successRate: 100, p50Ms: 5, p99Ms: 20 };

    const failed = await phaseReached(run, 'Failed');
    await servedSplit(run, '100/0');
    expect(failed.lastCheck?.results).toEqual([
      expect.objectContaining({ metric: 'request-count', value: 3, ok: false }),
      expect.objectContaining({ metric: 'request-success-rate', value: 100, ok: true }),
    ]);
    expect(
      messages(run).some((m) =>
        m.startsWith(
          'rolling back after 1 failed check(s): only 3 request(s) reached the canary over the last 1s; at least 10 are needed',
        ),
      ),
    ).toBe(true);
  });

  it("pauses when the route is edited by hand, naming both splits; resume carries on from the file's weights", async () => {
    const rollout = rolloutDoc({ interval: '1s', stepWeight: 10, maxWeight: 50 });
    const run = await start(meshText(100, 0, rollout));
    await servedSplit(run, '90/10');
    await phaseReached(run, 'Progressing');

    await editByHand(run, meshText(60, 40, rollout));
    const paused = record(run)!;
    expect(paused.phase).toBe('Paused');
    expect(paused.nextStepAt).toBeUndefined(); // nothing more happens until a command
    const why = paused.events[paused.events.length - 1]!;
    expect(why.type).toBe('Warning');
    expect(why.message).toContain('Route/web/split was edited by hand');
    expect(why.message).toContain('it now gives web-v1 60 and web-v2 40, where the rollout had set 90 and 10');
    expect(run.log.some((l) => / warn +rollout apps\/canary: Route\/web\/split was edited by hand/.test(l))).toBe(true);
    expect(await command(run, 'pause')).toMatchObject({ ok: false, status: 409 });

    const resumed = await command(run, 'resume');
    expect(resumed).toMatchObject({
      ok: true,
      rollout: { phase: 'Progressing', canaryWeight: 40, expected: { primary: 60, canary: 40 } },
    });
    await phaseReached(run, 'Succeeded');
    await servedSplit(run, '0/100');
    expect(run.served).toEqual(['100/0', '90/10', '60/40', '50/50', '0/100']);
    expect(messages(run)).toContain('resumed at canary weight 40%');
  });

  it('abort of a rollout paused by an edit by hand writes over the edit: all traffic back to the primary', async () => {
    const rollout = rolloutDoc({ interval: '1s', stepWeight: 10, maxWeight: 50 });
    const run = await start(meshText(100, 0, rollout));
    await servedSplit(run, '90/10');
    await phaseReached(run, 'Progressing');
    await editByHand(run, meshText(60, 40, rollout));
    expect(record(run)!.phase).toBe('Paused');

    expect(await command(run, 'abort')).toMatchObject({
      ok: true,
      rollout: { phase: 'Aborted', expected: { primary: 100, canary: 0 } },
    });
    await servedSplit(run, '100/0');
    expect(messages(run)).not.toContain('could not be rewritten');
  });

  it('starts over from the primary when the rollout settings change mid-way, with no warning about the mesh', async () => {
    const before = rolloutDoc({ interval: '1s', stepWeight: 10, maxWeight: 50 });
    const run = await start(meshText(100, 0, before));
    await servedSplit(run, '80/20');
    const after = rolloutDoc({ interval: '1s', stepWeight: 25, maxWeight: 50 });
    // meshd writes 100/0 at once; the file watcher's reload of that write comes a little later (its debounce):
    // steps come and find their write not served yet.
    holdReloads(run);
    await editByHand(run, meshText(80, 20, after));
    for (let i = 0; i < 3; i++) {
      run.clock.advance(100);
      await settled(run);
    }
    expect(splitIn(run.file)).toBe('100/0');
    expect(run.served[run.served.length - 1]).toBe('80/20');
    releaseReloads(run);

    await phaseReached(run, 'Succeeded');
    await servedSplit(run, '0/100');
    expect(run.served.slice(run.served.indexOf('80/20'))).toEqual(['80/20', '100/0', '75/25', '50/50', '0/100']);
    expect(messages(run)).toContain('the rollout settings changed: starting the analysis again from the primary');
    // Nothing was wrong with the mesh: meshd's own write was simply not reloaded yet.
    expect(
      record(run)!
        .events.filter((e) => e.type === 'Warning')
        .map((e) => e.message),
    ).toEqual([]);
  });
});

describe('RolloutController: a route the App Mesh API owns', () => {
  it('steps it through the store: each weight written is a new version of the route, in its API file', async () => {
    const withoutRoute = (rollout?: string) =>
      meshText(100, 0, rollout)
        .split('---\n')
        .filter((doc) => !doc.startsWith('kind: Route'))
        .join('---\n');
    const run = await start(withoutRoute());
    // The store's writes are served at once, not by the watcher: noted as they are installed.
    run.server.store.onChange(() => noteServed(run));
    const route = {
      httpRoute: {
        match: { prefix: '/' },
        action: {
          weightedTargets: [
            { virtualNode: 'web-v1', weight: 100 },
            { virtualNode: 'web-v2', weight: 0 },
          ],
        },
      },
    };
    const created = await run.server.apiHandler({
      method: 'PUT',
      path: '/v20190125/meshes/apps/virtualRouter/web/routes',
      headers: {},
      body: Buffer.from(JSON.stringify({ routeName: 'split', spec: route })),
    });
    expect(created.status).toBe(200);
    await servedSplit(run, '100/0');

    const rollout = rolloutDoc({ interval: '1s', stepWeight: 10, maxWeight: 30 });
    await editByHand(run, withoutRoute(rollout));
    await phaseReached(run, 'Succeeded');
    await servedSplit(run, '0/100');
    expect(run.served).toEqual(['100/0', '90/10', '80/20', '70/30', '0/100']);
    // Four writes (10, 20, 30, then 100 percent): versions 2 to 5. The user's file is untouched.
    const stored = await run.server.store.get({ kind: 'Route', mesh: 'apps', parent: 'web', name: 'split' });
    expect(stored).toMatchObject({ version: 5 });
    const apiFile = path.join(path.dirname(run.file), '.meshd-api', 'apps', 'routes', 'web', 'split.yaml');
    expect(fs.readFileSync(apiFile, 'utf8')).toMatch(/weight: 100\n[^]*version: 5\n/);
    expect(fs.readFileSync(run.file, 'utf8')).toBe(withoutRoute(rollout));
  });
});

describe('RolloutController: commands', () => {
  // interval 1m: after the first step (to 10%) nothing moves on its own during the test.
  const slow = rolloutDoc({ interval: '1m', stepWeight: 10, maxWeight: 50 });

  it('abort sends all traffic back to the primary (Aborted); then every command answers 409', async () => {
    const run = await start(meshText(100, 0, slow));
    await servedSplit(run, '90/10');
    await phaseReached(run, 'Progressing');

    const aborted = await command(run, 'abort');
    expect(aborted).toMatchObject({ ok: true, rollout: { phase: 'Aborted', canaryWeight: 0 } });
    await servedSplit(run, '100/0');
    expect(fs.readFileSync(run.file, 'utf8')).toBe(meshText(100, 0, slow));
    expect(messages(run)).toContain('aborted by meshd rollout abort: all traffic back to the primary');
    for (const c of ['pause', 'resume', 'abort', 'promote'] as const) {
      expect(await command(run, c)).toEqual({
        ok: false,
        status: 409,
        error: 'rollout apps/canary has already ended (Aborted)',
      });
    }
    expect(splitIn(run.file)).toBe('100/0');
  });

  it('promote sends all traffic to the canary (Succeeded); then every command answers 409', async () => {
    const run = await start(meshText(100, 0, slow));
    await servedSplit(run, '90/10');
    await phaseReached(run, 'Progressing');

    expect(await command(run, 'promote')).toMatchObject({
      ok: true,
      rollout: { phase: 'Succeeded', canaryWeight: 100 },
    });
    await servedSplit(run, '0/100');
    expect(fs.readFileSync(run.file, 'utf8')).toBe(meshText(0, 100, slow));
    for (const c of ['pause', 'resume', 'abort', 'promote'] as const) {
      expect(await command(run, c)).toMatchObject({ ok: false, status: 409 });
    }
    expect(splitIn(run.file)).toBe('0/100');
  });

  it('pause holds a running rollout and resume carries on; an unknown rollout answers 404', async () => {
    const run = await start(meshText(100, 0, rolloutDoc({ interval: '1s', stepWeight: 10, maxWeight: 30 })));
    await servedSplit(run, '90/10');
    await phaseReached(run, 'Progressing');
    expect(await command(run, 'pause')).toMatchObject({
      ok: true,
      rollout: { phase: 'Paused', pausedFrom: 'Progressing' },
    });
    expect(record(run)!.nextStepAt).toBeUndefined();
    expect(await command(run, 'resume')).toMatchObject({
      ok: true,
      rollout: { phase: 'Progressing', canaryWeight: 10 },
    });
    await phaseReached(run, 'Succeeded');
    expect(await run.server.rollouts.command(MESH_NAME, 'nothing', 'abort')).toMatchObject({ ok: false, status: 404 });
  });

  it('abort right after a step, before the mesh was reloaded, still sends all traffic back to the primary', async () => {
    const run = await start(meshText(100, 0, slow));
    holdReloads(run); // the watcher has not noticed meshd's own write yet
    await until(run, 'the first step to be written', () => (splitIn(run.file) === '90/10' ? true : undefined));
    expect(run.served).toEqual(['100/0']);

    expect(await command(run, 'abort')).toMatchObject({ ok: true, rollout: { phase: 'Aborted' } });
    expect(splitIn(run.file)).toBe('100/0');
    releaseReloads(run);
    await reloadSeen(run);
    expect(run.served[run.served.length - 1]).toBe('100/0');
  });
});

describe('RolloutController: the mesh file', () => {
  it('forgets a rollout whose document is removed from the file, and leaves the weights as they are', async () => {
    const run = await start(meshText(100, 0, rolloutDoc({ interval: '1s', stepWeight: 10, maxWeight: 50 })));
    await servedSplit(run, '90/10');
    await phaseReached(run, 'Progressing');

    await editByHand(run, meshText(90, 10));
    expect(run.server.rollouts.list()).toEqual([]);
    expect(new RolloutStore(run.storePath).load()).toEqual([]);
    expect(
      run.log.some((l) => l.includes('rollout apps/canary: removed from the mesh files; stopped with web-v2 at 10')),
    ).toBe(true);
    // Two intervals later the route is still where the rollout left it.
    run.clock.advance(2500);
    await settled(run);
    expect(fs.readFileSync(run.file, 'utf8')).toBe(meshText(90, 10));
    expect(run.served).toEqual(['100/0', '90/10']);
  });

  it('ends a rollout whose route already sends everything to the canary as Succeeded, without touching the file', async () => {
    const text = meshText(0, 100, rolloutDoc({ interval: '1s' }));
    const run = await start(text);
    const mtime = fs.statSync(run.file).mtimeMs;
    const done = record(run)!;
    expect(done.phase).toBe('Succeeded');
    expect(done.events.map((e) => e.message)).toEqual([
      'the canary web-v2 already gets all traffic on the route; nothing to roll out',
    ]);
    await settled(run);
    expect(fs.readFileSync(run.file, 'utf8')).toBe(text);
    expect(fs.statSync(run.file).mtimeMs).toBe(mtime);
    expect(run.telemetry.asked).toEqual([]);
  });

  it('picks up a Progressing rollout after a restart and carries on after one interval', async () => {
    const first = await start(meshText(100, 0, rolloutDoc({ interval: '1s', stepWeight: 10, maxWeight: 30 })));
    await servedSplit(first, '90/10');
    await phaseReached(first, 'Progressing');
    await stop(first);
    expect(splitIn(first.file)).toBe('90/10');

    // A new meshd: the same mesh file and state file.
    const beforeStart = first.clock.now();
    const second = await start(undefined, first);
    const carried = record(second)!;
    expect(carried).toMatchObject({ phase: 'Progressing', canaryWeight: 10, failedChecks: 0 });
    expect(carried.nextStepAt).toBeGreaterThanOrEqual(beforeStart + 1000);
    expect(carried.events[carried.events.length - 1]!.message).toBe(
      'meshd restarted: carrying on at canary weight 10% after 1s of fresh telemetry',
    );
    expect(splitIn(second.file)).toBe('90/10'); // no step before a whole interval of fresh telemetry

    await phaseReached(second, 'Succeeded');
    await servedSplit(second, '0/100');
    expect(second.served).toEqual(['90/10', '80/20', '70/30', '0/100']);
    // The events from before the restart are kept.
    expect(messages(second).filter((m) => m.includes('advancing web-v2 to 10%'))).toHaveLength(1);
  });

  it('forgets a restored rollout whose document was removed while meshd was stopped, without a further step', async () => {
    const first = await start(meshText(100, 0, rolloutDoc({ interval: '1s', stepWeight: 10, maxWeight: 30 })));
    await servedSplit(first, '90/10');
    await phaseReached(first, 'Progressing');
    await stop(first);

    fs.writeFileSync(first.file, meshText(90, 10)); // the user stops the rollout: no Rollout document any more
    const second = await start(undefined, first);
    expect(second.server.rollouts.list()).toEqual([]);
    second.clock.advance(2500); // two intervals
    await settled(second);
    expect(fs.readFileSync(second.file, 'utf8')).toBe(meshText(90, 10));
  });

  it('pauses a restored rollout whose route was edited while meshd was stopped', async () => {
    const rollout = rolloutDoc({ interval: '1s', stepWeight: 10, maxWeight: 30 });
    const first = await start(meshText(100, 0, rollout));
    await servedSplit(first, '90/10');
    await phaseReached(first, 'Progressing');
    await stop(first);

    fs.writeFileSync(first.file, meshText(75, 25, rollout));
    const second = await start(undefined, first);
    const paused = record(second)!;
    expect(paused.phase).toBe('Paused');
    expect(paused.events[paused.events.length - 1]!.message).toContain(
      'Route/web/split was edited by hand while meshd was stopped: it now gives web-v1 75 and web-v2 25, where the rollout had set 90 and 10',
    );
  });
});

describe('RolloutController: webhooks', () => {
  it('counts a pre-rollout webhook answering 500 as a failed check, and rolls back at the threshold', async () => {
    const mesh = meshFileOf();
    const hooks = await hookServer(mesh.get);
    hooks.status['/pre'] = 500;
    const rollout = rolloutDoc({
      interval: '1s',
      threshold: 2,
      webhooks: [{ name: 'gate', type: 'pre-rollout', url: hooks.url('/pre') }],
    });
    const run = await startIn(mesh.file, meshText(100, 0, rollout));

    const failed = await phaseReached(run, 'Failed');
    await settled(run);
    expect(failed.failedChecks).toBe(2);
    expect(hooks.callsTo('/pre')).toHaveLength(2);
    expect(hooks.callsTo('/pre')[0]!.body).toEqual({
      name: 'canary',
      namespace: 'apps',
      phase: 'Initializing',
      type: 'pre-rollout',
      metadata: {},
    });
    const events = messages(run);
    expect(events).toContain('check 1 of 2 failed: pre-rollout webhook gate: answered 500: no, /pre says 500');
    expect(
      events.some((m) => m.startsWith('rolling back after 2 failed check(s): pre-rollout webhook gate: answered 500')),
    ).toBe(true);
    // The canary never got any traffic.
    expect(run.served).toEqual(['100/0']);
    expect(fs.readFileSync(run.file, 'utf8')).toBe(meshText(100, 0, rollout));
  });

  it('holds the rollout at Initializing while confirm-rollout says no', async () => {
    const mesh = meshFileOf();
    const hooks = await hookServer(mesh.get);
    hooks.status['/start'] = 403;
    const run = await startIn(
      mesh.file,
      meshText(
        100,
        0,
        rolloutDoc({ interval: '1s', webhooks: [{ name: 'go', type: 'confirm-rollout', url: hooks.url('/start') }] }),
      ),
    );

    await until(run, 'two refusals', () => (hooks.callsTo('/start').length >= 2 ? true : undefined));
    expect(record(run)!.phase).toBe('Initializing');
    expect(splitIn(run.file)).toBe('100/0');
    expect(messages(run)).toContain(
      'waiting for approval to start: confirm-rollout webhook go: answered 403: no, /start says 403',
    );
    hooks.status['/start'] = 200;
    await servedSplit(run, '90/10');
    expect(record(run)!.phase).toBe('Progressing');
  });

  it('records each webhook call in the timeline: a yes with its status, a no once (in the event it causes)', async () => {
    const mesh = meshFileOf();
    const hooks = await hookServer(mesh.get);
    hooks.status['/start'] = 403;
    // The rollback hook says no (its usual answer): no rollback.
    hooks.status['/stop'] = 404;
    const run = await startIn(
      mesh.file,
      meshText(
        100,
        0,
        rolloutDoc({
          interval: '1s',
          stepWeight: 10,
          maxWeight: 50,
          webhooks: [
            { name: 'go', type: 'confirm-rollout', url: hooks.url('/start') },
            { name: 'load', type: 'rollout', url: hooks.url('/load') },
            { name: 'stop', type: 'rollback', url: hooks.url('/stop') },
            { name: 'chat', type: 'event', url: hooks.url('/chat') },
          ],
        }),
      ),
    );
    await until(run, 'a refusal', () => (hooks.callsTo('/start').length >= 1 ? true : undefined));
    hooks.status['/start'] = 200;
    await servedSplit(run, '90/10');
    await until(run, 'a check with the rollout hook', () => (hooks.callsTo('/load').length >= 1 ? true : undefined));
    await until(run, 'the next step', () => (run.served.includes('80/20') ? true : undefined));
    const events = record(run)!.events;
    const said = events.map((e) => e.message);
    // The refusal is said once, in the wait it caused; the yes is an event of its own, at the weight of then.
    expect(said.filter((m) => m.includes('answered 403'))).toEqual([
      'waiting for approval to start: confirm-rollout webhook go: answered 403: no, /start says 403',
    ]);
    expect(events.find((e) => e.message === 'confirm-rollout webhook go: ok (HTTP 200)')).toMatchObject({
      canaryWeight: 0,
    });
    const load = events.filter((e) => e.message === 'rollout webhook load: ok (HTTP 200)');
    expect(load.length).toBeGreaterThanOrEqual(1);
    expect(load[0]!.canaryWeight).toBe(10);
    // Each call comes before the step it allowed.
    expect(said.indexOf('rollout webhook load: ok (HTTP 200)')).toBeLessThan(
      said.findIndex((m) => m.includes('advancing web-v2 to 20%')),
    );
    // A call's record is marked with its hook; a rollback hook's no (its usual answer, no rollback) is not recorded.
    expect(load[0]!.webhook).toBe('load');
    expect(hooks.callsTo('/stop').length).toBeGreaterThanOrEqual(1);
    expect(said.filter((m) => m.includes('webhook stop'))).toEqual([]);
    // The event hook hears of the rollout's events, not of the other hooks' calls.
    await until(run, 'the event hook to hear of the step', () =>
      hooks.callsTo('/chat').some((c) => JSON.stringify(c).includes('advancing web-v2 to 20%')) ? true : undefined,
    );
    expect(hooks.callsTo('/chat').filter((c) => JSON.stringify(c).includes('webhook load: ok'))).toEqual([]);
  });

  it("resumes a rollout paused before its first step from the file's weights", async () => {
    const mesh = meshFileOf();
    const hooks = await hookServer(mesh.get);
    hooks.status['/start'] = 403;
    const rollout = rolloutDoc({
      interval: '1s',
      stepWeight: 10,
      maxWeight: 50,
      webhooks: [{ name: 'go', type: 'confirm-rollout', url: hooks.url('/start') }],
    });
    const run = await startIn(mesh.file, meshText(100, 0, rollout));
    await until(run, 'a refusal', () => (hooks.callsTo('/start').length >= 1 ? true : undefined));

    await editByHand(run, meshText(60, 40, rollout));
    expect(record(run)).toMatchObject({ phase: 'Paused', pausedFrom: 'Initializing' });
    hooks.status['/start'] = 200;
    expect(await command(run, 'resume')).toMatchObject({ ok: true, rollout: { canaryWeight: 40 } });
    expect(messages(run)).toContain('resumed at canary weight 40%');

    await until(run, 'a step after the resume', () => (run.served.length > 2 ? true : undefined));
    // From 40%, the next step is 50%, not back to the first step's 10%.
    expect(run.served.slice(0, 3)).toEqual(['100/0', '60/40', '50/50']);
  });

  it('never overwrites an edit by hand made while a step waits for its webhook', async () => {
    const mesh = meshFileOf();
    const hooks = await hookServer(mesh.get);
    hooks.status['/slow'] = 0;
    const rollout = rolloutDoc({
      interval: '1s',
      stepWeight: 10,
      maxWeight: 50,
      webhooks: [{ name: 'load', type: 'rollout', url: hooks.url('/slow'), timeout: '1m' }],
    });
    const run = await startIn(mesh.file, meshText(100, 0, rollout));
    await servedSplit(run, '90/10');
    await until(run, 'the rollout webhook to be called', () => (hooks.callsTo('/slow').length > 0 ? true : undefined));

    // While the step waits for the webhook: reloaded, then the webhook answers.
    // (The rollouts' work waits for the step, so it is awaited after the release.)
    fs.writeFileSync(run.file, meshText(60, 40, rollout));
    await reloadSeen(run);
    hooks.release('/slow', 200);
    await settled(run);
    await until(run, 'the step to end', () =>
      record(run)!.phase === 'Paused' || splitIn(run.file) !== '60/40' ? true : undefined,
    );
    expect(fs.readFileSync(run.file, 'utf8')).toBe(meshText(60, 40, rollout));
    expect(record(run)!.phase).toBe('Paused');
  });

  it('aborts at once while a rollout webhook has not answered yet', async () => {
    const mesh = meshFileOf();
    const hooks = await hookServer(mesh.get);
    hooks.status['/slow'] = 0; // a load test that takes its time (the hook's timeout is 5m)
    const run = await startIn(
      mesh.file,
      meshText(
        100,
        0,
        rolloutDoc({
          interval: '1s',
          stepWeight: 10,
          maxWeight: 50,
          webhooks: [{ name: 'load', type: 'rollout', url: hooks.url('/slow'), timeout: '5m' }],
        }),
      ),
    );
    await servedSplit(run, '90/10');
    await until(run, 'the rollout webhook to be called', () => (hooks.callsTo('/slow').length > 0 ? true : undefined));

    let answer: Awaited<ReturnType<typeof command>> | undefined;
    void command(run, 'abort').then((a) => (answer = a));
    await waitFor('meshd rollout abort to answer while the webhook is still out', () => answer, 10_000);
    expect(answer).toMatchObject({ ok: true, rollout: { phase: 'Aborted' } });
    await servedSplit(run, '100/0');
  });

  it('holds the rollout in WaitingPromotion while confirm-promotion answers 403, and promotes once it answers 200', async () => {
    const mesh = meshFileOf();
    const hooks = await hookServer(mesh.get);
    hooks.status['/approve'] = 403;
    const run = await startIn(
      mesh.file,
      meshText(
        100,
        0,
        rolloutDoc({
          interval: '1s',
          stepWeight: 50,
          maxWeight: 50,
          webhooks: [{ name: 'approve', type: 'confirm-promotion', url: hooks.url('/approve') }],
        }),
      ),
    );

    await phaseReached(run, 'WaitingPromotion');
    await until(run, 'a second refusal', () => (hooks.callsTo('/approve').length >= 2 ? true : undefined));
    expect(record(run)!.phase).toBe('WaitingPromotion');
    expect(run.served).toEqual(['100/0', '50/50']);
    expect(
      messages(run).some((m) =>
        m.includes(
          'waiting for approval to promote: confirm-promotion webhook approve: answered 403: no, /approve says 403',
        ),
      ),
    ).toBe(true);

    hooks.status['/approve'] = 200;
    await phaseReached(run, 'Succeeded');
    await servedSplit(run, '0/100');
    expect(run.served).toEqual(['100/0', '50/50', '0/100']);
  });

  it("calls post-rollout once, after the promotion is written, with Flagger's payload", async () => {
    const mesh = meshFileOf();
    const hooks = await hookServer(mesh.get);
    const metadata = { team: 'shop', channel: '#deploys' };
    const run = await startIn(
      mesh.file,
      meshText(
        100,
        0,
        rolloutDoc({
          interval: '1s',
          stepWeight: 50,
          maxWeight: 50,
          webhooks: [{ name: 'done', type: 'post-rollout', url: hooks.url('/done'), metadata }],
        }),
      ),
    );

    await phaseReached(run, 'Succeeded');
    await settled(run);
    expect(hooks.callsTo('/done')).toEqual([
      {
        path: '/done',
        body: { name: 'canary', namespace: 'apps', phase: 'Succeeded', type: 'post-rollout', metadata },
        fileSplit: '0/100',
      },
    ]);
    expect(hooks.calls).toHaveLength(1);
  });

  it('rolls back when a rollback webhook answers 200', async () => {
    const mesh = meshFileOf();
    const hooks = await hookServer(mesh.get);
    hooks.status['/stop'] = 404;
    const run = await startIn(
      mesh.file,
      meshText(
        100,
        0,
        rolloutDoc({
          interval: '1s',
          stepWeight: 10,
          maxWeight: 50,
          webhooks: [{ name: 'stop', type: 'rollback', url: hooks.url('/stop') }],
        }),
      ),
    );
    await servedSplit(run, '80/20');
    hooks.status['/stop'] = 200;

    await phaseReached(run, 'Failed');
    await servedSplit(run, '100/0');
    expect(messages(run)).toContain('rolling back: the rollback webhook stop asked for it');
  });

  it("calls a Flagger load-test webhook written without a type at each check, as Flagger does (type 'rollout')", async () => {
    const mesh = meshFileOf();
    const hooks = await hookServer(mesh.get);
    // As in Flagger's docs: no `type`, which Flagger reads as 'rollout'.
    const rollout = rolloutDoc({
      interval: '1s',
      stepWeight: 50,
      maxWeight: 50,
      webhooks: [
        {
          name: 'load-test',
          url: hooks.url('/load'),
          timeout: '5s',
          metadata: { cmd: 'hey -z 1m -q 10 -c 2 http://web-v2.local:8080/' },
        },
      ],
    });
    fs.writeFileSync(mesh.file, meshText(100, 0, rollout));
    const loaded = loadMesh([mesh.file]);
    expect(loaded.problems.filter((p) => p.severity === 'error').map((p) => p.message)).toEqual([]);

    const run = await start(undefined, {
      file: mesh.file,
      storePath: path.join(tmpDir('rollout-state-'), 'rollouts.json'),
      telemetry: new SyntheticTelemetry(),
    });
    await phaseReached(run, 'Succeeded');
    expect(hooks.callsTo('/load').length).toBeGreaterThanOrEqual(1);
    expect(hooks.callsTo('/load')[0]!.body).toMatchObject({
      type: 'rollout',
      metadata: { cmd: 'hey -z 1m -q 10 -c 2 http://web-v2.local:8080/' },
    });
  });
});
