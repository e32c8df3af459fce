// The mesh store of a fleet (src/store/postgres/mesh-store.ts) against a real, throwaway PostgreSQL: two or three
// replicas in this process, each with its own copy of the mesh files (a checkout in a folder of its own), sharing one
// database. What one replica writes, the others serve; a stale If-Match is refused whichever replica gets it; of
// concurrent creates of one name one wins; a write while PostgreSQL is down is refused (503) and never appears; the
// files' resources are read-only and win over the store's; a rollout's weights on a route of the read-only files are
// an override every replica applies at load; the real AWS SDK drives it over HTTP.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CreateMeshCommand,
  CreateRouteCommand,
  CreateVirtualNodeCommand,
  CreateVirtualRouterCommand,
  DeleteVirtualNodeCommand,
  DeleteVirtualRouterCommand,
  DescribeRouteCommand,
  DescribeVirtualNodeCommand,
  ListVirtualNodesCommand,
  UpdateVirtualNodeCommand,
} from '@aws-sdk/client-app-mesh';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres';
import { PostgresMeshStore, resourceRowKey } from '../../src/store/postgres/mesh-store';
import type { LoadedMesh, ResourceKey } from '../../src/store/types';
import type { Route } from '../../src/model/route';
import { startApiServer, type ApiServer } from '../helpers/app-mesh-api-server';
import { describeWithPostgres, type PostgresCluster } from '../helpers/postgres';
import { tmpDir, waitFor } from '../helpers/processes';

const USER_MESH = `
kind: Mesh
name: shop
spec: {}
---
kind: VirtualNode
mesh: shop
name: web
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
  serviceDiscovery: { dns: { hostname: web.shop.local } }
---
kind: VirtualNode
mesh: shop
name: web-canary
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
  serviceDiscovery: { dns: { hostname: web-canary.shop.local } }
---
kind: VirtualRouter
mesh: shop
name: front
spec:
  listeners: [{ portMapping: { port: 80, protocol: http } }]
---
kind: Route
mesh: shop
virtualRouter: front
name: split
spec:
  httpRoute:
    match: { prefix: / }
    action:
      weightedTargets:
        - { virtualNode: web, weight: 100 }   # primary
        - { virtualNode: web-canary, weight: 0 }
`;

const node = (name: string, port = 9090) => ({
  listeners: [{ portMapping: { port, protocol: 'http' as const } }],
  serviceDiscovery: { dns: { hostname: `${name}.shop.local` } },
});

function routeSpec(target: string, weight = 1) {
  return { httpRoute: { match: { prefix: '/' }, action: { weightedTargets: [{ virtualNode: target, weight }] } } };
}

interface Replica {
  readonly name: string;
  readonly meshDir: string;
  readonly pg: PostgresStore;
  readonly store: PostgresMeshStore;
  /** Each mesh the store announced, with its reason. */
  readonly heard: { mesh: LoadedMesh; reason: string }[];
  readonly errors: string[];
}

const VN = (name: string): ResourceKey => ({ kind: 'VirtualNode', mesh: 'shop', name });

/** The weights the served mesh gives the route front/split. */
function splitWeights(mesh: LoadedMesh | undefined): number[] | undefined {
  const route = mesh?.model.resources.find((r) => r.kind === 'Route' && r.name === 'split') as Route | undefined;
  return route?.spec.httpRoute?.action.weightedTargets.map((t) => t.weight);
}

describeWithPostgres('the mesh store of a fleet on PostgreSQL', (cluster) => {
  let pgCluster: PostgresCluster;
  let url: string;
  let dir: string;
  let databases = 0;
  const replicas: Replica[] = [];

  async function replica(name: string, options: { maxResourcesPerMesh?: number; files?: string } = {}) {
    const meshDir = path.join(dir, name, 'mesh');
    fs.mkdirSync(meshDir, { recursive: true });
    fs.writeFileSync(path.join(meshDir, 'shop.yaml'), options.files ?? USER_MESH);
    const pg = await openPostgresStore({
      url,
      replicaId: name,
      replicaInfo: () => ({ xdsAddress: '', adminAddress: '', meshHash: '', proxies: [], version: '' }),
      changeLog: { pollMs: 200 },
    });
    const errors: string[] = [];
    const store = new PostgresMeshStore({
      log: pg.log,
      paths: [meshDir],
      onError: (m) => errors.push(m),
      ...(options.maxResourcesPerMesh !== undefined ? { maxResourcesPerMesh: options.maxResourcesPerMesh } : {}),
    });
    await pg.start();
    const loaded = store.load();
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    const heard: Replica['heard'] = [];
    store.onChange((mesh, reason) => heard.push({ mesh, reason }));
    const r = { name, meshDir, pg, store, heard, errors };
    replicas.push(r);
    return r;
  }

  beforeAll(() => {
    pgCluster = cluster();
  });
  beforeEach(async () => {
    dir = tmpDir('pg-mesh-store-');
    databases += 1;
    url = await pgCluster.createDatabase(`mesh_store_${databases}`);
  });
  afterEach(async () => {
    for (const r of replicas.splice(0)) await r.pg.close();
  });

  test('a resource created on one replica is served by the others: get, list, their announced mesh, one hash', async () => {
    const [a, b] = [await replica('a'), await replica('b')];
    await a.store.settled();
    await b.store.settled();
    const created = await a.store.create(VN('api'), node('api'), [{ key: 'team', value: 'blue' }]);
    expect(created).toMatchObject({ ok: true, resource: { version: 1 } });
    const uid = created.ok ? created.resource.uid : '';

    const seen = await waitFor('B to have the node', () => b.store.get(VN('api')));
    expect(seen).toMatchObject({ uid, version: 1, tags: [{ key: 'team', value: 'blue' }], spec: node('api') });
    expect((await b.store.list({ kind: 'VirtualNode', mesh: 'shop' }))?.map((r) => r.key.name)).toEqual([
      'api',
      'web',
      'web-canary',
    ]);
    const announced = await waitFor('B to announce the mesh with it', () =>
      b.heard.find((h) => h.mesh.model.virtualNode('shop', 'api')),
    );
    expect(announced.reason).toContain('another replica');
    // Checkouts in different folders, one store: one mesh hash.
    expect(b.store.meshHash).toBe(a.store.meshHash);
    // The files' resources have one uid on every replica (written to the store once).
    const webA = await a.store.get(VN('web'));
    await waitFor('the files metadata to be shared', async () =>
      (await b.store.get(VN('web')))?.uid === webA?.uid ? true : undefined,
    );
    // A replica started later reads it all from the store.
    const c = await replica('c');
    expect(await c.store.get(VN('api'))).toMatchObject({ uid, version: 1 });
    expect((await c.store.get(VN('web')))?.uid).toBe(webA?.uid);
    expect(c.store.meshHash).toBe(a.store.meshHash);
    // A delete on B is gone from A.
    expect(await b.store.delete(VN('api'))).toMatchObject({ ok: true });
    await waitFor('A to lose it', async () => ((await a.store.get(VN('api'))) === undefined ? true : undefined));
    await waitFor('A to announce the mesh without it', () =>
      a.heard.find((h) => !h.mesh.model.virtualNode('shop', 'api')),
    );
    expect([a, b, c].flatMap((r) => r.errors)).toEqual([]);
  });

  test('a stale If-Match update is refused whichever replica receives it; of two based on one version one passes', async () => {
    const [a, b, c] = [await replica('a'), await replica('b'), await replica('c')];
    await a.store.create(VN('api'), node('api'), []);
    await waitFor('B and C to have it', async () =>
      (await b.store.get(VN('api'))) && (await c.store.get(VN('api'))) ? true : undefined,
    );
    // Two updates based on version 1, at once, on two replicas.
    const results = await Promise.all([
      a.store.update(VN('api'), node('api', 9101), { expectedVersion: 1 }),
      b.store.update(VN('api'), node('api', 9102), { expectedVersion: 1 }),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok).map((r) => !r.ok && r.refusal.code)).toEqual(['version_mismatch']);
    // C, which may not have heard of version 2 yet, refuses an update based on version 1 all the same.
    const stale = await c.store.update(VN('api'), node('api', 9103), { expectedVersion: 1 });
    expect(stale).toMatchObject({ ok: false, refusal: { code: 'version_mismatch' } });
    const winner = results.find((r) => r.ok)!;
    for (const r of [a, b, c])
      expect(await r.store.get(VN('api'))).toMatchObject({ version: 2, spec: winner.ok && winner.resource.spec });
  });

  test('concurrent creates of one name on three replicas: exactly one wins, the others are told it exists', async () => {
    const rs = [await replica('a'), await replica('b'), await replica('c')];
    const results = await Promise.all(rs.map((r, i) => r.store.create(VN('api'), node('api', 9100 + i), [])));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok).map((r) => !r.ok && r.refusal.code)).toEqual(['exists', 'exists']);
    const winner = results.find((r) => r.ok)!;
    for (const r of rs)
      await waitFor(`${r.name} to serve the winner`, async () =>
        (await r.store.get(VN('api')))?.uid === (winner.ok && winner.resource.uid) ? true : undefined,
      );
  });

  test('a write while PostgreSQL is down answers 503 ServiceUnavailableException and never appears', async () => {
    const [a, b] = [await replica('a'), await replica('b')];
    const api: ApiServer<PostgresMeshStore> = await startApiServer({}, a.store);
    try {
      await a.store.settled();
      const heardBefore = a.heard.length;
      await pgCluster.stopServer();
      let refusal: unknown;
      try {
        await api.client.send(
          new CreateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'lost', spec: node('lost') }),
        );
      } catch (err) {
        refusal = err;
      }
      expect(refusal).toMatchObject({
        name: 'ServiceUnavailableException',
        $metadata: { httpStatusCode: 503 },
        message: expect.stringMatching(/PostgreSQL.*nothing was changed/s),
      });
      // Nothing changed here either, meanwhile: not served, not announced.
      expect(await a.store.get(VN('lost'))).toBeUndefined();
      expect(a.store.currentModel()?.virtualNode('shop', 'lost')).toBeUndefined();
      await pgCluster.startServer();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(a.heard.slice(heardBefore).some((h) => h.mesh.model.virtualNode('shop', 'lost'))).toBe(false);
      // After the restart: absent everywhere, in the database too; and writes pass again.
      const rows = await pgCluster.query(
        'SELECT key FROM meshd_resources WHERE key = $1',
        [resourceRowKey(VN('lost'))],
        url.slice(url.lastIndexOf('/') + 1),
      );
      expect(rows).toEqual([]);
      await waitFor(
        'a write to pass again',
        async () => ((await a.store.create(VN('after'), node('after'), [])).ok ? true : undefined),
        20000,
        200,
      );
      await waitFor('B to have it', () => b.store.get(VN('after')));
      expect(await b.store.get(VN('lost'))).toBeUndefined();
      expect(await a.store.get(VN('lost'))).toBeUndefined();
    } finally {
      await api.close();
    }
  });

  test("the files' resources are read-only through the store, and win over a resource the store holds", async () => {
    const [a, b] = [await replica('a'), await replica('b')];
    const file = path.join(a.meshDir, 'shop.yaml');
    for (const result of [
      await a.store.update(VN('web'), node('web')),
      await a.store.delete(VN('web')),
      await a.store.tag(VN('web'), { set: [{ key: 'a', value: 'b' }], remove: [] }, 50),
    ])
      expect(result).toMatchObject({
        ok: false,
        refusal: { code: 'read_only', message: expect.stringContaining(`${file}:6`) },
      });
    expect(await a.store.create(VN('web'), node('web'), [])).toMatchObject({
      ok: false,
      refusal: { code: 'exists', message: expect.stringContaining(file) },
    });
    // The store holds a node; then B's files define it too: B serves the file's, read-only, and the mesh stays valid.
    expect(await a.store.create(VN('api'), node('api', 9200), [])).toMatchObject({ ok: true });
    await waitFor('B to have it', () => b.store.get(VN('api')));
    fs.appendFileSync(
      path.join(b.meshDir, 'shop.yaml'),
      '---\nkind: VirtualNode\nmesh: shop\nname: api\nspec:\n  listeners: [{ portMapping: { port: 9300, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: api.shop.local } }\n',
    );
    const loaded = b.store.load();
    expect(loaded.ok).toBe(true);
    expect(loaded.problems).toContainEqual(
      expect.objectContaining({
        severity: 'warning',
        location: expect.objectContaining({ file: 'postgres:/shop/virtual-nodes/api.yaml' }),
        message: expect.stringContaining('which wins'),
      }),
    );
    expect(b.store.currentModel()?.virtualNode('shop', 'api')?.spec.listeners?.[0]?.portMapping.port).toBe(9300);
    expect(await b.store.update(VN('api'), node('api', 9201))).toMatchObject({
      ok: false,
      refusal: { code: 'read_only' },
    });
    // A, whose files do not define it, still owns it through the store.
    expect(await a.store.update(VN('api'), node('api', 9202))).toMatchObject({ ok: true, resource: { version: 2 } });
  });

  test('a resource handed over from the files to the store keeps its uid, one version up, on every replica', async () => {
    const legacy = `${USER_MESH}---\nkind: VirtualNode\nmesh: shop\nname: legacy\nspec:\n  listeners: [{ portMapping: { port: 7070, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: legacy.shop.local } }\n`;
    const [a, b] = [await replica('a', { files: legacy }), await replica('b', { files: legacy })];
    await a.store.settled();
    await b.store.settled();
    const before = await a.store.get(VN('legacy'));
    expect((await b.store.get(VN('legacy')))?.uid).toBe(before!.uid);
    // The files stop defining it (a Git change synced to every replica), then the API creates it.
    for (const r of [a, b]) {
      fs.writeFileSync(path.join(r.meshDir, 'shop.yaml'), USER_MESH);
      expect(r.store.load().ok).toBe(true);
    }
    const created = await b.store.create(VN('legacy'), node('legacy', 7070), []);
    expect(created).toMatchObject({ ok: true, resource: { uid: before!.uid, version: before!.version + 1 } });
    await waitFor('A to have it from the store', async () => {
      const r = await a.store.get(VN('legacy'));
      return r?.version === before!.version + 1 ? r : undefined;
    });
    expect((await a.store.get(VN('legacy')))?.uid).toBe(before!.uid);
    expect(await a.store.update(VN('legacy'), node('legacy', 7071))).toMatchObject({ ok: true });
  });

  test('a write the mesh would not take is refused and changes nothing; deletes in use; the resource limit', async () => {
    const [a, b] = [await replica('a', { maxResourcesPerMesh: 7 }), await replica('b')];
    const api: ApiServer<PostgresMeshStore> = await startApiServer({}, a.store);
    try {
      await api.client.send(
        new CreateVirtualRouterCommand({
          meshName: 'shop',
          virtualRouterName: 'vr',
          spec: { listeners: [{ portMapping: { port: 81, protocol: 'http' } }] },
        }),
      );
      await expect(
        api.client.send(
          new CreateRouteCommand({
            meshName: 'shop',
            virtualRouterName: 'vr',
            routeName: 'r',
            spec: routeSpec('ghost'),
          }),
        ),
      ).rejects.toMatchObject({
        name: 'BadRequestException',
        message: expect.stringMatching(/postgres:\/shop\/routes\/vr\/r\.yaml|ghost/),
      });
      await api.client.send(
        new CreateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'api', spec: node('api') }),
      );
      await api.client.send(
        new CreateRouteCommand({ meshName: 'shop', virtualRouterName: 'vr', routeName: 'r', spec: routeSpec('api') }),
      );
      await expect(
        api.client.send(new DeleteVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'api' })),
      ).rejects.toMatchObject({ name: 'ResourceInUseException', message: expect.stringContaining('Route/vr/r') });
      await expect(
        api.client.send(new DeleteVirtualRouterCommand({ meshName: 'shop', virtualRouterName: 'vr' })),
      ).rejects.toMatchObject({ name: 'ResourceInUseException' });
      // The files hold 4 resources besides the mesh, the API 3: the 8th is over the limit of 7.
      await expect(
        api.client.send(
          new CreateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'more', spec: node('more') }),
        ),
      ).rejects.toMatchObject({ name: 'LimitExceededException', message: expect.stringContaining('already holds 7') });
      await waitFor('B to have the route', () => b.store.get({ kind: 'Route', mesh: 'shop', parent: 'vr', name: 'r' }));
      expect(await b.store.get({ kind: 'Route', mesh: 'shop', parent: 'vr', name: 'ghost' })).toBeUndefined();
      expect(await b.store.get(VN('more'))).toBeUndefined();
    } finally {
      await api.close();
    }
  });

  test("a rollout's weights on a route of the read-only files: an override every replica applies at load, gone when cleared", async () => {
    const [a, b] = [await replica('a'), await replica('b')];
    const before = fs.readFileSync(path.join(b.meshDir, 'shop.yaml'), 'utf8');
    /** A rollout's step on replica `r`, written where r's own files have the weights (checkouts differ by folder). */
    const edit = (
      r: Replica,
      from: [number, number],
      to: [number, number],
      fence?: { holder: string; term: number },
    ) => {
      const served = r.store.load();
      if (!served.ok) throw new Error('not loaded');
      const route = served.model.resources.find((x) => x.name === 'split')!;
      const at = (i: number) =>
        served.whereWritten(route, ['spec', 'httpRoute', 'action', 'weightedTargets', i, 'weight'])!;
      const identity = [{ at: served.whereWritten(route, ['name'])!, value: 'split' }];
      const edits = [
        { at: at(0), expected: from[0], value: to[0] },
        { at: at(1), expected: from[1], value: to[1] },
      ];
      return r.store.editRouteWeights(edits, identity, fence);
    };

    expect(await edit(a, [100, 0], [90, 10])).toEqual({ ok: true });
    await waitFor('B to serve 90/10', () =>
      b.heard.some((h) => splitWeights(h.mesh)?.join() === '90,10') ? true : undefined,
    );
    expect(splitWeights(b.store.load() as LoadedMesh)).toEqual([90, 10]);
    expect(b.store.meshHash).toBe(a.store.meshHash);
    // The files are not written: the override lives in the store, and keeps the file's comments when applied.
    expect(fs.readFileSync(path.join(b.meshDir, 'shop.yaml'), 'utf8')).toBe(before);
    expect(fs.readFileSync(path.join(a.meshDir, 'shop.yaml'), 'utf8')).toBe(before);
    // A replica started now applies it at its first load.
    const c = await replica('c');
    expect(splitWeights(c.store.load() as LoadedMesh)).toEqual([90, 10]);
    // The next step, from B; a step from a stale view (expecting 100/0) is a conflict.
    expect(await edit(b, [90, 10], [50, 50])).toEqual({ ok: true });
    expect(await edit(a, [100, 0], [80, 20])).toMatchObject({
      ok: false,
      conflict: true,
    });
    // A deposed leader's fence is refused: nothing changes.
    expect(await edit(a, [50, 50], [0, 100], { holder: 'a', term: 42 })).toMatchObject({
      ok: false,
      conflict: false,
      error: expect.stringContaining('no longer leads'),
    });
    await waitFor('C to serve 50/50', () =>
      c.heard.some((h) => splitWeights(h.mesh)?.join() === '50,50') ? true : undefined,
    );
    expect(a.store.routeWeights()).toHaveLength(1);
    // Back to the file's own weights: the override is removed everywhere.
    expect(await edit(c, [50, 50], [100, 0])).toEqual({ ok: true });
    for (const r of [a, b, c]) {
      await waitFor(`${r.name} to drop the override`, () => (r.store.routeWeights().length === 0 ? true : undefined));
      expect(splitWeights(r.store.load() as LoadedMesh)).toEqual([100, 0]);
    }
    const rows = await pgCluster.query('SELECT key FROM meshd_route_weights', [], url.slice(url.lastIndexOf('/') + 1));
    expect(rows).toEqual([]);
    // clearRouteWeights removes one set explicitly.
    expect(await edit(a, [100, 0], [70, 30])).toEqual({ ok: true });
    await waitFor('B to have it', () => (b.store.routeWeights().length === 1 ? true : undefined));
    expect(await b.store.clearRouteWeights('shop', 'front', 'split')).toEqual({ ok: true });
    await waitFor('A to serve the file again', () =>
      a.heard.some((h, i) => i > 0 && splitWeights(h.mesh)?.join() === '100,0') && a.store.routeWeights().length === 0
        ? true
        : undefined,
    );
  });

  test("a rollout's weights on a route of the store update its spec (version up), as FileStore does", async () => {
    const [a, b] = [await replica('a'), await replica('b')];
    await a.store.create(
      { kind: 'Route', mesh: 'shop', parent: 'front', name: 'api-split' },
      {
        httpRoute: {
          match: { prefix: '/api' },
          action: {
            weightedTargets: [
              { virtualNode: 'web', weight: 100 },
              { virtualNode: 'web-canary', weight: 0 },
            ],
          },
        },
      },
      [],
    );
    const served = a.store.load();
    if (!served.ok) throw new Error('not loaded');
    const route = served.model.resources.find((r) => r.name === 'api-split')!;
    expect(a.store.ownsFile(route.source.file)).toBe(true);
    const at = (i: number) =>
      served.whereWritten(route, ['spec', 'httpRoute', 'action', 'weightedTargets', i, 'weight'])!;
    expect(at(0).file).toBe('postgres:/shop/routes/front/api-split.yaml');
    const result = await a.store.editRouteWeights(
      [
        { at: at(0), expected: 100, value: 75 },
        { at: at(1), expected: 0, value: 25 },
      ],
      [{ at: served.whereWritten(route, ['name'])!, value: 'api-split' }],
    );
    expect(result).toEqual({ ok: true });
    const key = { kind: 'Route' as const, mesh: 'shop', parent: 'front', name: 'api-split' };
    const seen = await waitFor('B to see version 2', async () => {
      const r = await b.store.get(key);
      return r?.version === 2 ? r : undefined;
    });
    expect(seen.spec).toMatchObject({ httpRoute: { action: { weightedTargets: [{ weight: 75 }, { weight: 25 }] } } });
    expect(a.store.routeWeights()).toEqual([]);
  });

  test('rows of the store that meshd did not write are left out and reported; the mesh is served without them', async () => {
    const a = await replica('a');
    await a.store.create(VN('api'), node('api'), []);
    const db = url.slice(url.lastIndexOf('/') + 1);
    // A hand-made row under a key that does not match it, a row that is not a resource, a weights row of nothing.
    await pgCluster.query(
      `INSERT INTO meshd_resources (key, row, seq) VALUES
         ($1, $2::jsonb, 0), ('VirtualNode/shop//junk', '"junk"'::jsonb, 0)`,
      [
        resourceRowKey(VN('other')),
        JSON.stringify({
          key: VN('elsewhere'),
          spec: node('x'),
          tags: [],
          version: 1,
          uid: 'u',
          createdAt: 1,
          lastUpdatedAt: 1,
        }),
      ],
      db,
    );
    await pgCluster.query(
      `INSERT INTO meshd_route_weights (key, row, seq) VALUES ('shop/front/split', '{"mesh": "shop"}'::jsonb, 0),
         ('shop/front/other', $1::jsonb, 0), ('shop/front/not-split', $2::jsonb, 0)`,
      [
        // Well formed, but its file is outside the mesh folder: never read into the mesh.
        JSON.stringify({
          mesh: 'shop',
          router: 'front',
          route: 'other',
          root: 0,
          file: '../../outside.yaml',
          edits: [],
          identity: [],
        }),
        // Well formed, but under the key of another route.
        JSON.stringify({
          mesh: 'shop',
          router: 'front',
          route: 'split',
          root: 0,
          file: 'shop.yaml',
          edits: [],
          identity: [],
        }),
      ],
      db,
    );
    const b = await replica('b');
    expect(b.errors.sort()).toEqual([
      expect.stringContaining('resource row VirtualNode/shop//junk is not a resource meshd wrote'),
      expect.stringContaining(`resource row ${resourceRowKey(VN('other'))} is not a resource meshd wrote`),
      expect.stringContaining('route weights row shop/front/not-split is not one meshd wrote'),
      expect.stringContaining('route weights row shop/front/other is not one meshd wrote'),
      expect.stringContaining('route weights row shop/front/split is not one meshd wrote'),
    ]);
    expect((await b.store.list({ kind: 'VirtualNode', mesh: 'shop' }))?.map((r) => r.key.name)).toEqual([
      'api',
      'web',
      'web-canary',
    ]);
    expect(b.store.meshHash).toBe(a.store.meshHash);
    // A mesh path that would read as one of the store's virtual files is refused.
    expect(() => new PostgresMeshStore({ log: a.pg.log, paths: ['postgres:/shop'] })).toThrow(
      "the mesh path postgres:/shop starts with postgres:/, which names the store's resources",
    );
  });

  test('the real AWS SDK over HTTP: created on one replica, described and updated on another, stale If-Match refused', async () => {
    const [a, b] = [await replica('a', { files: '' }), await replica('b', { files: '' })];
    const [apiA, apiB] = [await startApiServer({}, a.store), await startApiServer({}, b.store)];
    try {
      await apiA.client.send(new CreateMeshCommand({ meshName: 'shop', spec: {} }));
      await waitFor('B to have the mesh', () => b.store.get({ kind: 'Mesh', mesh: 'shop', name: 'shop' }));
      const created = await apiB.client.send(
        new CreateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'api', spec: node('api') }),
      );
      const described = await waitFor('A to describe it', () =>
        apiA.client
          .send(new DescribeVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'api' }))
          .catch(() => undefined),
      );
      expect(described.virtualNode?.metadata).toMatchObject({ uid: created.virtualNode!.metadata!.uid, version: 1 });
      const updated = await apiA.client.send(
        new UpdateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'api', spec: node('api', 9999) }),
      );
      expect(updated.virtualNode?.metadata?.version).toBe(2);
      const stale = await apiB.request(
        'PUT',
        '/v20190125/meshes/shop/virtualNodes/api',
        JSON.stringify({ spec: node('api', 9998) }),
        { 'if-match': '"1"' },
      );
      expect(stale.status).toBe(409);
      expect(stale.body).toMatchObject({ __type: 'ConflictException', message: expect.stringContaining('version 2') });
      const listed = await waitFor('B to list version 2', async () => {
        const l = await apiB.client.send(new ListVirtualNodesCommand({ meshName: 'shop' }));
        return l.virtualNodes?.[0]?.version === 2 ? l : undefined;
      });
      expect(listed.virtualNodes?.map((n) => n.virtualNodeName)).toEqual(['api']);
      await expect(
        apiB.client.send(new DescribeRouteCommand({ meshName: 'shop', virtualRouterName: 'x', routeName: 'y' })),
      ).rejects.toMatchObject({ name: 'NotFoundException' });
    } finally {
      await apiA.close();
      await apiB.close();
    }
  });
});
