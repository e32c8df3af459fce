// What the web console reads of rollouts: each event carries the canary's percent after it
// (`canaryWeight`, the weight chart's y: 0 at the start, 10 after the first step), a stored record of an older meshd
// (events without it) is still accepted, and every change of a rollout reaches the console's change listeners.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MeshServer } from '../../src/control/mesh-server';
import { createLogger } from '../../src/util/log';
import { checkRolloutRecord } from '../../src/rollout/records';
import { tmpDir, waitFor } from '../helpers/processes';

const node = (name: string) =>
  `kind: VirtualNode\nmesh: apps\nname: ${name}\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: ${name}.local } }\n`;

const MESH = [
  'kind: Mesh\nname: apps\n',
  node('web-v1'),
  node('web-v2'),
  'kind: VirtualRouter\nmesh: apps\nname: web\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n',
  `kind: Route\nmesh: apps\nvirtualRouter: web\nname: split\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action:\n      weightedTargets:\n        - { virtualNode: web-v1, weight: 100 }\n        - { virtualNode: web-v2, weight: 0 }\n`,
  'kind: Rollout\nmesh: apps\nname: canary\nspec:\n  route: { virtualRouter: web, name: split }\n  primary: web-v1\n  canary: web-v2\n  analysis: { interval: 1h, stepWeight: 10, maxWeight: 50 }\n',
].join('---\n');

describe('rollouts as the web console reads them', () => {
  let server: MeshServer | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("each event carries canaryWeight; a change reaches the console's listeners; old records still load", async () => {
    const file = path.join(tmpDir('console-rollout-'), 'mesh.yaml');
    fs.writeFileSync(file, MESH);
    server = await MeshServer.open({
      paths: [file],
      log: createLogger({ write: () => undefined }),
      watch: { debounceMs: 10 },
      cloudMap: { statePath: path.join(tmpDir('console-rollout-cm-'), 'cloud-map.json') },
      rollouts: { statePath: path.join(tmpDir('console-rollout-state-'), 'rollouts.json') },
      xds: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
    });
    const heard: string[] = [];
    server.console.onChange((event) => heard.push(event));
    await server.start();
    await server.rollouts.settled();
    // The rollout starts at the route's 0% and makes its first step (to 10%) at once: each event carries the weight
    // after it, not the record's weight of now.
    const stepped = await waitFor('the first step', () => {
      const r = server!.rollouts.get('apps', 'canary');
      return r && r.events.some((e) => e.message.startsWith('advancing web-v2 to 10%')) ? r : undefined;
    });
    expect(stepped.events.map((e) => [e.message.split(':')[0], e.canaryWeight])).toEqual([
      ['rollout started', 0],
      ['advancing web-v2 to 10%', 10],
    ]);
    expect(heard).toContain('rollouts');

    heard.length = 0;
    const paused = await server.rollouts.command('apps', 'canary', 'pause');
    expect(paused.ok).toBe(true);
    const record = server.rollouts.get('apps', 'canary')!;
    const last = record.events[record.events.length - 1]!;
    expect(typeof last.canaryWeight).toBe('number');
    expect(last.canaryWeight).toBe(record.canaryWeight);
    expect(heard).toContain('rollouts');

    // A record saved by a meshd from before canaryWeight: accepted as it is.
    const old = JSON.parse(JSON.stringify(record)) as { events: { canaryWeight?: number }[] };
    for (const e of old.events) delete e.canaryWeight;
    expect(checkRolloutRecord(old)).toBeUndefined();
  });
});
