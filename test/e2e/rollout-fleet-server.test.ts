// The rollouts of `meshd serve --store postgres://…` as MeshServer wires them (src/control/mesh-server.ts): two
// replicas in this process on one real PostgreSQL database (the harness's throwaway cluster), each serving its own
// copy of the same mesh file. The leader starts a rollout; the other replica shows it from the store and refuses to
// change it; when the leader closes, the other takes it over from the stored state. The rollout waits on a
// confirm-rollout hook that always says no (nothing listens on its port), so it never writes the route: what routes
// a fleet's weights through the store is the mesh store's part, tested with it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MeshServer } from '../../src/control/mesh-server';
import { resolveSettings } from '../../src/model/rollout';
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

async function replica(url: string, id: string): Promise<Replica> {
  const dir = tmpDir('rollout-fleet-server-');
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), MESH);
  const log: string[] = [];
  const server = await MeshServer.open({
    paths: [path.join(dir, 'mesh.yaml')],
    log: createLogger({ write: (line) => void log.push(line) }),
    xds: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    statsd: { host: '127.0.0.1', port: 0 },
    cloudMap: { statePath: path.join(dir, 'cloud-map.json') },
    rollouts: { statePath: path.join(dir, 'rollouts.json') },
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
});
