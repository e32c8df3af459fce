// MeshController with a time slice, as `meshd serve` runs it: a change that reaches many
// proxies is compiled a slice at a time, each proxy pushed as soon as it is ready; a proxy
// that connects is compiled on a later turn, not inside its request; and whatever happens
// meanwhile, every proxy ends up served exactly what a full compile of the newest mesh gives.
// Also a SotW client reconnecting to a meshd that has not compiled its proxy yet: the version
// it reports is compared once the snapshot is there, so it is not sent what it holds.
import * as compiler from '../../src/compile';
import { MeshController } from '../../src/control/mesh-controller';
import { CloudMapRegistry } from '../../src/discovery/cloud-map/registry';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LoadCache, loadMesh } from '../../src/load/mesh-source';
import type { MeshModel } from '../../src/model/mesh-model';
import { startXdsServer } from '../../src/xds/server';
import { SnapshotCache, type Snapshot } from '../../src/xds/snapshot-cache';
import { TypeUrl } from '../../src/xds/type-urls';
import { AdsTestClient } from '../helpers/ads-client';
import { meshFolder } from '../helpers/mesh-text';

const QUIET = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const CALLERS = Array.from({ length: 12 }, (_, i) => `caller-${i}`);
const nodeId = (name: string) => `mesh/apps/virtualNode/${name}`;
const envoyNode = (name: string) => ({ id: nodeId(name), metadata: { fields: {} }, user_agent_name: 'envoy' }) as never;

const FIXTURE = meshFolder({});
const FIXTURE_LOADS = new LoadCache();

/**
 * One router-provided service (nodes a and b, split by weight) and twelve callers of it; with
 * `caller0CallsT`, caller-0 calls a second service, t.apps.local (node a alone), instead.
 */
function meshWithWeights(a: number, b: number, caller0CallsT = false): MeshModel {
  const node = (name: string, backend = '') =>
    `kind: VirtualNode\nmesh: apps\nname: ${name}\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: ${name}.local } }\n${backend}`;
  const caller = (service: string) => `  backends: [{ virtualService: { virtualServiceName: ${service} } }]\n`;
  const docs = [
    'kind: Mesh\nname: apps\n',
    node('a'),
    node('b'),
    ...CALLERS.map((name, i) => node(name, caller(i === 0 && caller0CallsT ? 't.apps.local' : 's.apps.local'))),
    'kind: VirtualService\nmesh: apps\nname: t.apps.local\nspec: { provider: { virtualNode: { virtualNodeName: a } } }\n',
    'kind: VirtualRouter\nmesh: apps\nname: r\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n',
    'kind: VirtualService\nmesh: apps\nname: s.apps.local\nspec: { provider: { virtualRouter: { virtualRouterName: r } } }\n',
    `kind: Route\nmesh: apps\nvirtualRouter: r\nname: one\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action: { weightedTargets: [{ virtualNode: a, weight: ${a} }, { virtualNode: b, weight: ${b} }] }\n`,
  ];
  // One file a resource, loaded through one cache, as `meshd serve` reloads: an unchanged file is not read as a change.
  docs.forEach((doc, i) => fs.writeFileSync(path.join(FIXTURE, `${i}.yaml`), doc));
  const result = loadMesh([FIXTURE], { cache: FIXTURE_LOADS });
  if (!result.ok) throw new Error(`fixture mesh is invalid: ${result.problems[0]?.message}`);
  return result.model;
}

/** Each type's resources by name and version: what a snapshot serves, exactly. */
function wire(snapshot: Snapshot | undefined): string {
  if (!snapshot) return 'nothing';
  return JSON.stringify(
    [...snapshot.types].map(([type, set]) => [type, [...set.resources.values()].map((r) => `${r.name} ${r.version}`)]),
  );
}

/** What a full compile of `model` serves each caller, from a controller without a slice. */
function fullCompile(model: MeshModel): Map<string, string> {
  const cache = new SnapshotCache();
  const controller = new MeshController(cache, new CloudMapRegistry(), QUIET);
  controller.setModel(model);
  return new Map(CALLERS.map((name) => [name, wire(cache.get(controller.nodeKey(envoyNode(name))))]));
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** A controller compiling one proxy a turn (a slice of 0 ms), with every caller connected and compiled. */
async function slicedController(model: MeshModel) {
  const cache = new SnapshotCache();
  const controller = new MeshController(cache, new CloudMapRegistry(), QUIET, { sliceMs: 0 });
  controller.setModel(model);
  const keys = new Map(CALLERS.map((name) => [name, controller.nodeKey(envoyNode(name))]));
  while (controller.compiling) await nextTurn();
  const served = () => new Map(CALLERS.map((name) => [name, wire(cache.get(keys.get(name)!))]));
  return { cache, controller, keys, served };
}

describe('MeshController with a time slice', () => {
  const before = meshWithWeights(90, 10);
  const after = meshWithWeights(50, 50);
  const between = meshWithWeights(70, 30);

  it('compiles a connecting proxy on a later turn, not inside its request', async () => {
    const cache = new SnapshotCache();
    const controller = new MeshController(cache, new CloudMapRegistry(), QUIET, { sliceMs: 1000 });
    controller.setModel(before);
    const key = controller.nodeKey(envoyNode('caller-0'));
    expect(cache.get(key)).toBeUndefined();
    await nextTurn();
    expect(wire(cache.get(key))).toBe(fullCompile(before).get('caller-0'));
  });

  it('pushes the first proxy a change reaches before setModel returns, then one more a turn, until all have it', async () => {
    const { cache, controller, keys, served } = await slicedController(before);
    const old = fullCompile(before);
    const expected = fullCompile(after);
    const pushed: string[] = [];
    for (const [name, key] of keys) cache.watch(key, () => pushed.push(name));

    controller.setModel(after);
    expect(pushed).toEqual([CALLERS[0]]);
    for (let turn = 1; turn < CALLERS.length; turn++) {
      // Until its turn, a proxy keeps serving what it had: never anything in between.
      for (const name of CALLERS.slice(turn)) expect(served().get(name)).toBe(old.get(name));
      await nextTurn();
      expect(pushed).toEqual(CALLERS.slice(0, turn + 1));
    }
    expect(controller.compiling).toBe(false);
    expect(served()).toEqual(expected);
  });

  it('a mesh replaced while a pass is under way: every proxy ends on the newest, none is left on the one in between', async () => {
    const { controller, served } = await slicedController(before);
    controller.setModel(between);
    await nextTurn();
    await nextTurn();
    controller.setModel(after);
    while (controller.compiling) await nextTurn();
    expect(served()).toEqual(fullCompile(after));
  });

  it('without a time slice, setModel compiles every proxy it reaches before it returns', () => {
    const cache = new SnapshotCache();
    const controller = new MeshController(cache, new CloudMapRegistry(), QUIET);
    controller.setModel(before);
    const keys = CALLERS.map((name) => controller.nodeKey(envoyNode(name)));
    controller.setModel(after);
    expect(controller.compiling).toBe(false);
    const expected = fullCompile(after);
    expect(new Map(CALLERS.map((name, i) => [name, wire(cache.get(keys[i]!))]))).toEqual(expected);
  });

  it("a proxy that stopped calling a service is no longer compiled for that service's changes", () => {
    const cache = new SnapshotCache();
    const controller = new MeshController(cache, new CloudMapRegistry(), QUIET);
    controller.setModel(before);
    for (const name of CALLERS) controller.nodeKey(envoyNode(name));
    controller.setModel(meshWithWeights(90, 10, true));
    const spy = jest.spyOn(compiler, 'compileProxy');
    try {
      controller.setModel(meshWithWeights(50, 50, true));
      const compiled = spy.mock.calls.map((call) => call[2]);
      expect(compiled).not.toContain(nodeId('caller-0'));
      expect(compiled).toContain(nodeId('caller-1'));
    } finally {
      spy.mockRestore();
    }
  });

  it('a proxy whose serving throws (a meshd bug) is reported, and the proxies after it are still compiled', async () => {
    const { cache, controller, keys, served } = await slicedController(before);
    // A watcher that throws stands for any failure past the compile (encoding, a stream's push).
    cache.watch(keys.get('caller-1')!, () => {
      throw new Error('boom');
    });
    controller.setModel(after);
    while (controller.compiling) await nextTurn();
    const expected = fullCompile(after);
    for (const name of CALLERS.filter((n) => n !== 'caller-1')) expect(served().get(name)).toBe(expected.get(name));
    expect(cache.problem(keys.get('caller-1')!)).toMatch(/internal error: boom/);
  });

  it('compileAll compiles every waiting proxy at once', async () => {
    const { controller, served } = await slicedController(before);
    controller.setModel(after);
    controller.compileAll();
    expect(controller.compiling).toBe(false);
    expect(served()).toEqual(fullCompile(after));
  });
});

describe('a SotW client reconnecting before its proxy is compiled', () => {
  it('is sent nothing when the version it reports is what it would be sent', async () => {
    const model = meshWithWeights(90, 10);
    const open = async () => {
      const cache = new SnapshotCache();
      const controller = new MeshController(cache, new CloudMapRegistry(), QUIET, { sliceMs: 10 });
      controller.setModel(model);
      return startXdsServer({ host: '127.0.0.1', port: 0, cache, hooks: controller, log: QUIET });
    };
    const node = { id: nodeId('caller-0'), cluster: 'caller-0' };
    const first = await open();
    const client = new AdsTestClient(first.port);
    client.send({ node, type_url: TypeUrl.Cluster });
    const held = await client.next();
    client.close();
    await first.close();

    // A restarted meshd: nothing compiled yet when the request arrives.
    const second = await open();
    const again = new AdsTestClient(second.port);
    try {
      again.send({ node, type_url: TypeUrl.Cluster, version_info: held.version_info });
      expect(await again.quietFor(300)).toBe(true);
      const status = second.streams.list()[0]!.types.get(TypeUrl.Cluster)!;
      expect(status.ackedVersion).toBe(held.version_info);

      // One that reports something else is sent the whole set.
      const stale = new AdsTestClient(second.port);
      try {
        stale.send({ node, type_url: TypeUrl.Cluster, version_info: 'not-what-it-would-get' });
        expect((await stale.next()).version_info).toBe(held.version_info);
      } finally {
        stale.close();
      }
    } finally {
      again.close();
      await second.close();
    }
  });
});

describe('MeshController.precompile (before proxies connect, as `meshd serve` starts)', () => {
  const before = meshWithWeights(90, 10);
  const after = meshWithWeights(50, 50);
  const nodes = ['a', 'b', ...CALLERS];

  it('compiles every node with the default settings: a proxy connecting later is served at once, as a full compile gives', () => {
    const cache = new SnapshotCache();
    const controller = new MeshController(cache, new CloudMapRegistry(), QUIET, { sliceMs: 1000 });
    controller.setModel(before);
    expect(controller.precompile(60_000, 60_000)).toBe(nodes.length);
    const key = controller.nodeKey(envoyNode('caller-3'));
    // No turn of the event loop has passed: the snapshot was there before the proxy came.
    expect(wire(cache.get(key))).toBe(fullCompile(before).get('caller-3'));
    controller.close();
  });

  it('stops at its time budget, and what it did not reach is compiled when its proxy connects', async () => {
    const cache = new SnapshotCache();
    const controller = new MeshController(cache, new CloudMapRegistry(), QUIET, { sliceMs: 1000 });
    controller.setModel(before);
    expect(controller.precompile(0, 60_000)).toBe(0);
    const key = controller.nodeKey(envoyNode('caller-3'));
    expect(cache.get(key)).toBeUndefined();
    await nextTurn();
    expect(wire(cache.get(key))).toBe(fullCompile(before).get('caller-3'));
    controller.close();
  });

  it('forgets a snapshot no proxy claimed within the grace period, and no change compiles it again', async () => {
    const cache = new SnapshotCache();
    const controller = new MeshController(cache, new CloudMapRegistry(), QUIET);
    controller.setModel(before);
    controller.precompile(60_000, 1);
    const claimed = controller.nodeKey(envoyNode('caller-0'));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(cache.keys()).toEqual([claimed]);
    const spy = jest.spyOn(compiler, 'compileProxy');
    try {
      controller.setModel(after);
      expect(spy.mock.calls.map((call) => call[2])).toEqual([nodeId('caller-0')]);
    } finally {
      spy.mockRestore();
    }
    expect(wire(cache.get(claimed))).toBe(fullCompile(after).get('caller-0'));
  });

  it('a change forgets the precompiled nodes it reaches, compiling none of them; their proxies get the new mesh', async () => {
    const cache = new SnapshotCache();
    const controller = new MeshController(cache, new CloudMapRegistry(), QUIET, { sliceMs: 1000 });
    controller.setModel(before);
    controller.precompile(60_000, 60_000);
    const spy = jest.spyOn(compiler, 'compileProxy');
    try {
      controller.setModel(after);
      while (controller.compiling) await nextTurn();
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
    const key = controller.nodeKey(envoyNode('caller-5'));
    await nextTurn();
    expect(wire(cache.get(key))).toBe(fullCompile(after).get('caller-5'));
    controller.close();
  });

  it('says nothing of a node that fails to compile until a proxy of it connects, then logs it once', async () => {
    const errors: string[] = [];
    const log = { ...QUIET, error: (_: unknown, message: string) => errors.push(message) };
    const cache = new SnapshotCache();
    const controller = new MeshController(cache, new CloudMapRegistry(), log as never, { sliceMs: 1000 });
    controller.setModel(before);
    const spy = jest
      .spyOn(compiler, 'compileProxy')
      .mockImplementation(() => ({ ok: false, error: 'cannot compile: made to fail' }));
    try {
      controller.precompile(60_000, 60_000);
      expect(errors).toEqual([]);
      const key = controller.nodeKey(envoyNode('caller-2'));
      await nextTurn();
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain('made to fail');
      expect(cache.problem(key)).toContain('made to fail');
    } finally {
      spy.mockRestore();
      controller.close();
    }
  });

  it('is claimed by a proxy naming its node by ARN, as by its resource path', () => {
    const cache = new SnapshotCache();
    const controller = new MeshController(cache, new CloudMapRegistry(), QUIET, { sliceMs: 1000 });
    controller.setModel(before);
    controller.precompile(60_000, 60_000);
    const arn = { id: `arn:aws:appmesh:eu-west-1:111122223333:${nodeId('caller-4')}`, metadata: { fields: {} } };
    const key = controller.nodeKey(arn as never);
    expect(wire(cache.get(key))).toBe(fullCompile(before).get('caller-4'));
    controller.close();
  });

  it("is not what meshd shows as a connected proxy's configuration: a proxy of that node with other ports is", async () => {
    const cache = new SnapshotCache();
    const controller = new MeshController(cache, new CloudMapRegistry(), QUIET, { sliceMs: 1000 });
    controller.setModel(before);
    controller.precompile(60_000, 60_000);
    const port = (value: string) => ({ kind: 'stringValue', stringValue: value });
    const otherPorts = {
      id: nodeId('caller-6'),
      metadata: { fields: { APPMESH_ENVOY_INGRESS_PORT: port('16000'), APPMESH_ENVOY_EGRESS_PORT: port('16001') } },
    };
    const key = controller.nodeKey(otherPorts as never);
    await nextTurn();
    expect(cache.get(key)).toBeDefined();
    expect(controller.servedSnapshot(nodeId('caller-6'))).toBe(cache.get(key));
    controller.close();
  });
});
