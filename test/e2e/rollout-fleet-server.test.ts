// The rollouts of `meshd serve --store postgres://…` as MeshServer wires them (src/control/mesh-server.ts): two
// replicas in this process on one real PostgreSQL database (the harness's throwaway cluster), each serving its own
// copy of the same mesh file. The leader starts a rollout; the other replica shows it from the store and refuses to
// change it; when the leader closes, the other takes it over from the stored state. The rollout waits on a
// confirm-rollout hook that always says no (nothing listens on its port), so it never writes the route: what routes
// a fleet's weights through the store is the mesh store's part, tested with it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MeshServer } from '../../src/control/mesh-server';
import { routeKindOf } from '../../src/model/route';
import { resolveSettings } from '../../src/model/rollout';
import type { Clock } from '../../src/rollout/clock';
import type { TelemetryReader } from '../../src/telemetry';
import { createLogger } from '../../src/util/log';
import { describeWithPostgres } from '../helpers/postgres';
import { tmpDir, waitFor } from '../helpers/processes';

const MESH = [
  'kind: Mesh\nname: apps\n',
  'kind: VirtualNode\nmesh: apps\nname: web-v1\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: web-v1.local } }\n',
  'kind: VirtualNode\nmesh: apps\nname: web-v2\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: web-v2.local } }\n',
  'kind: VirtualRouter\nmesh: apps\nname: web\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n',
  `kind: Route\nmesh: apps\nvirtualRouter: web\nname: split\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action:\n      weightedTargets:\n        - { virtualNode: web-v1, weight: 100 }\n        - { virtualNode: web-v2, weight: 0 }\n`,
].join('---\n');

const SETTINGS = resolveSettings({
  route: { virtualRouter: 'web', name: 'split' },
  primary: 'web-v1',
  canary: 'web-v2',
  analysis: { interval: '1h', webhooks: [{ name: 'go', type: 'confirm-rollout', url: 'http://127.0.0.1:9/' }] },
} as Parameters<typeof resolveSettings>[0]);

interface Replica {
  readonly server: MeshServer;
  readonly log: string[];
}

const servers: MeshServer[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

/** Time that moves only when the test says (both replicas' rollout timers are set on it). */
class ManualClock implements Clock {
  private at = Date.parse('2026-06-01T12:00:00.000Z');
  private nextId = 1;
  readonly timers = new Map<number, { due: number; callback: () => void }>();
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
    let first: [number, { due: number; callback: () => void }] | undefined;
    for (const t of this.timers) if (!first || t[1].due < first[1].due) first = t;
    if (!first) return false;
    this.timers.delete(first[0]);
    this.at = Math.max(this.at, first[1].due);
    first[1].callback();
    return true;
  }
}

/** The canary's traffic: healthy (synthetic input; real DogStatsD is the telemetry suites' part). */
const healthyCanary: TelemetryReader = {
  summary: (_mesh, _node, windowMs) => ({
    requests: 200,
    errors: 0,
    successRate: 100,
    p50Ms: 5,
    p99Ms: 20,
    windowMs,
    ratePerSecond: 200 / (windowMs / 1000),
  }),
};

/** The weights Route/web/split is served with on `server`, e.g. "50/50". */
function servedSplit(server: MeshServer): string | undefined {
  const route = server
    .currentModel()
    ?.routesOf('apps', 'web')
    .find((r) => r.name === 'split');
  return (
    route &&
    routeKindOf(route.spec)
      .action.weightedTargets.map((t) => t.weight)
      .join('/')
  );
}

async function replica(url: string, id: string, mesh = MESH, clock?: Clock): Promise<Replica> {
  const dir = tmpDir('rollout-fleet-server-');
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), mesh);
  const log: string[] = [];
  const server = await MeshServer.open({
    paths: [path.join(dir, 'mesh.yaml')],
    log: createLogger({ write: (line) => void log.push(line) }),
    xds: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    statsd: { host: '127.0.0.1', port: 0 },
    cloudMap: { statePath: path.join(dir, 'cloud-map.json') },
    rollouts: {
      statePath: path.join(dir, 'rollouts.json'),
      ...(clock ? { clock, telemetry: healthyCanary } : {}),
    },
    fleet: { url, replicaId: id, advertise: { xds: `${id}:18000`, admin: `${id}:18001` } },
  });
  servers.push(server);
  await server.start();
  return { server, log };
}

describeWithPostgres('meshd serve in a fleet: the rollouts', (pg) => {
  it('the leader runs them; another replica shows them, refuses commands naming the leader, and takes over', async () => {
    const url = await pg().createDatabase(`rollout_fleet_server_${process.pid}`);
    const a = await replica(url, 'replica-a');
    await waitFor('replica-a to lead', () => (a.server.rollouts.acting ? true : undefined), 30_000);
    const b = await replica(url, 'replica-b');

    expect(await b.server.rollouts.start('apps', 'canary', SETTINGS)).toEqual({
      ok: false,
      status: 503,
      error:
        'this replica (replica-b) does not lead the fleet, and only the leader changes rollouts: send it to the leader, replica replica-a (admin API replica-a:18001)',
    });
    expect(await a.server.rollouts.start('apps', 'canary', SETTINGS)).toMatchObject({ ok: true });
    const shown = await waitFor('replica-b to show the rollout', () =>
      b.server.rollouts.get('apps', 'canary')?.events.some((e) => e.message.startsWith('waiting for approval'))
        ? b.server.rollouts.get('apps', 'canary')
        : undefined,
    );
    expect(shown).toMatchObject({ phase: 'Initializing', source: 'api', expected: { primary: 100, canary: 0 } });
    expect(await b.server.rollouts.command('apps', 'canary', 'pause')).toMatchObject({ ok: false, status: 503 });
    expect(b.server.rollouts.get('apps', 'canary')?.phase).toBe('Initializing');

    await a.server.close();
    await waitFor('replica-b to lead', () => (b.server.rollouts.acting ? true : undefined), 30_000);
    expect(b.log.join('')).toContain('rollouts: replica replica-b leads now and carries on 1 running rollout(s)');
    const paused = await b.server.rollouts.command('apps', 'canary', 'pause');
    expect(paused).toMatchObject({ ok: true, rollout: { phase: 'Paused' } });
  });

  it("a declared rollout's steps go through the store's route weights; the next leader finishes it", async () => {
    const url = await pg().createDatabase(`rollout_fleet_server_steps_${process.pid}`);
    const rollout =
      'kind: Rollout\nmesh: apps\nname: canary\nspec:\n  route: { virtualRouter: web, name: split }\n  primary: web-v1\n  canary: web-v2\n  analysis: { interval: 1s, stepWeight: 50, maxWeight: 50 }\n';
    const clock = new ManualClock();
    const a = await replica(url, 'replica-a', `${MESH}---\n${rollout}`, clock);
    await waitFor('replica-a to lead', () => (a.server.rollouts.acting ? true : undefined), 30_000);
    const b = await replica(url, 'replica-b', `${MESH}---\n${rollout}`, clock);
    // The first step: 50/50, written by replica-a to the store and served by both replicas.
    await waitFor('the first step to be due', () => (clock.timers.size > 0 ? true : undefined), 30_000);
    clock.next();
    await waitFor('both replicas to serve 50/50', () =>
      servedSplit(a.server) === '50/50' && servedSplit(b.server) === '50/50' ? true : undefined,
    );
    await a.server.rollouts.settled();
    await waitFor('the step to be stored', () =>
      b.server.rollouts.get('apps', 'canary')?.expected.canary === 50 ? true : undefined,
    );
    await a.server.close();

    await waitFor('replica-b to lead', () => (b.server.rollouts.acting ? true : undefined), 30_000);
    await waitFor("replica-b's next check to be set", () => (clock.timers.size > 0 ? true : undefined), 30_000);
    clock.next();
    await waitFor('replica-b to promote the canary', () =>
      b.server.rollouts.get('apps', 'canary')?.phase === 'Succeeded' && servedSplit(b.server) === '0/100'
        ? true
        : undefined,
    );
    const events = b.server.rollouts.get('apps', 'canary')!.events.map((e) => e.message);
    expect(events.filter((m) => /advancing web-v2 to|promoted/.test(m))).toEqual([
      'advancing web-v2 to 50%',
      expect.stringMatching(/promoted: all traffic to web-v2$/),
    ]);
    expect(events).toContain('replica replica-b leads now: carrying on at canary weight 50%, next check in 1s');
  });
});
