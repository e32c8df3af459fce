// The embedded store behind the App Mesh API, driven with the real @aws-sdk/client-app-mesh: the
// API's resources as files (one per resource, with their metadata), the user's files read-only,
// every write checked against the whole mesh it would make, versions that survive a restart, hand
// edits and hand-overs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CreateMeshCommand,
  CreateRouteCommand,
  CreateVirtualNodeCommand,
  CreateVirtualRouterCommand,
  DeleteMeshCommand,
  DeleteVirtualNodeCommand,
  DeleteVirtualRouterCommand,
  DescribeRouteCommand,
  DescribeVirtualNodeCommand,
  ListVirtualNodesCommand,
  TagResourceCommand,
  UpdateRouteCommand,
  UpdateVirtualNodeCommand,
} from '@aws-sdk/client-app-mesh';
import { FileStore } from '../../src/store/file-store';
import { startApiServer, type ApiServer } from '../helpers/app-mesh-api-server';
import { tmpDir } from '../helpers/processes';

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
`;

const node = (name: string, port = 9090) => ({
  listeners: [{ portMapping: { port, protocol: 'http' as const } }],
  serviceDiscovery: { dns: { hostname: `${name}.shop.local` } },
});

function routeSpec(target: string, weight = 1) {
  return { httpRoute: { match: { prefix: '/' }, action: { weightedTargets: [{ virtualNode: target, weight }] } } };
}

/** Every file under a folder, with its bytes. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out[path.relative(dir, full)] = fs.readFileSync(full, 'utf8');
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

describe('the files-backed store through the App Mesh API', () => {
  let dir: string;
  let meshDir: string;
  let apiDir: string;
  let server: ApiServer<FileStore>;

  const openStore = () => {
    const store = new FileStore({ paths: [meshDir], apiDir, metadataPath: path.join(dir, 'state', 'meta.json') });
    const loaded = store.load();
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    return store;
  };

  beforeEach(async () => {
    dir = tmpDir('file-store-');
    meshDir = path.join(dir, 'mesh');
    apiDir = path.join(meshDir, '.meshd-api');
    fs.mkdirSync(meshDir);
    fs.writeFileSync(path.join(meshDir, 'shop.yaml'), USER_MESH);
    server = await startApiServer({}, openStore());
  });
  afterEach(() => server.close());

  test('a created resource is one meshd YAML file in the API folder, with its uid and version, and outlives a restart', async () => {
    const created = await server.client.send(
      new CreateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'api', spec: node('api') }),
    );
    expect(created.virtualNode?.metadata?.version).toBe(1);
    const file = path.join(apiDir, 'shop', 'virtual-nodes', 'api.yaml');
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain('kind: VirtualNode');
    expect(text).toContain(`uid: ${created.virtualNode!.metadata!.uid}`);
    expect(server.store.currentModel()!.resources.map((r) => `${r.kind}/${r.name}`)).toContain('VirtualNode/api');

    const updated = await server.client.send(
      new UpdateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'api', spec: node('api', 9191) }),
    );
    expect(updated.virtualNode?.metadata?.version).toBe(2);

    // A restart: a new store over the same files.
    const again = openStore();
    const after = await again.get({ kind: 'VirtualNode', mesh: 'shop', name: 'api' });
    expect(after).toMatchObject({ version: 2, uid: created.virtualNode!.metadata!.uid });
    expect(after!.createdAt).toBe(created.virtualNode!.metadata!.createdAt!.getTime());
    // The user's node has a uid and version too, and keeps them across the restart.
    const web = await server.store.get({ kind: 'VirtualNode', mesh: 'shop', name: 'web' });
    expect((await again.get({ kind: 'VirtualNode', mesh: 'shop', name: 'web' }))?.uid).toBe(web!.uid);
  });

  test("a resource of the user's files is read-only through the API, and the refusal names the file", async () => {
    const before = snapshot(meshDir);
    for (const send of [
      () =>
        server.client.send(
          new UpdateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'web', spec: node('web') }),
        ),
      () => server.client.send(new DeleteVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'web' })),
      () =>
        server.client.send(
          new TagResourceCommand({
            resourceArn: 'arn:aws:appmesh:us-east-1:123456789012:mesh/shop/virtualNode/web',
            tags: [{ key: 'a', value: 'b' }],
          }),
        ),
    ]) {
      await expect(send()).rejects.toMatchObject({
        name: 'ForbiddenException',
        message: expect.stringContaining(`${path.join(meshDir, 'shop.yaml')}:6`),
      });
    }
    await expect(
      server.client.send(new CreateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'web', spec: node('web') })),
    ).rejects.toMatchObject({ name: 'ConflictException', message: expect.stringContaining('shop.yaml') });
    expect(snapshot(meshDir)).toEqual(before);
  });

  test('a write that would break a cross-reference is refused and changes nothing; deletes in use are refused', async () => {
    await server.client.send(
      new CreateVirtualRouterCommand({
        meshName: 'shop',
        virtualRouterName: 'vr',
        spec: { listeners: [{ portMapping: { port: 80, protocol: 'http' } }] },
      }),
    );
    const before = snapshot(meshDir);
    await expect(
      server.client.send(
        new CreateRouteCommand({ meshName: 'shop', virtualRouterName: 'vr', routeName: 'r', spec: routeSpec('ghost') }),
      ),
    ).rejects.toMatchObject({ name: 'BadRequestException', message: expect.stringMatching(/ghost/) });
    expect(snapshot(meshDir)).toEqual(before);

    await server.client.send(
      new CreateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'api', spec: node('api') }),
    );
    await server.client.send(
      new CreateRouteCommand({ meshName: 'shop', virtualRouterName: 'vr', routeName: 'r', spec: routeSpec('api') }),
    );
    const full = snapshot(meshDir);
    await expect(
      server.client.send(new DeleteVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'api' })),
    ).rejects.toMatchObject({
      name: 'ResourceInUseException',
      message: expect.stringContaining('Route/vr/r'),
    });
    await expect(
      server.client.send(new DeleteVirtualRouterCommand({ meshName: 'shop', virtualRouterName: 'vr' })),
    ).rejects.toMatchObject({
      name: 'ResourceInUseException',
    });
    await expect(server.client.send(new DeleteMeshCommand({ meshName: 'shop' }))).rejects.toMatchObject({
      name: 'ForbiddenException', // the mesh is the user's
    });
    expect(snapshot(meshDir)).toEqual(full);
  });

  test('If-Match: of two updates based on one version, one passes', async () => {
    await server.client.send(
      new CreateVirtualRouterCommand({
        meshName: 'shop',
        virtualRouterName: 'vr',
        spec: { listeners: [{ portMapping: { port: 80, protocol: 'http' } }] },
      }),
    );
    await server.client.send(
      new CreateRouteCommand({ meshName: 'shop', virtualRouterName: 'vr', routeName: 'r', spec: routeSpec('web') }),
    );
    const target = '/v20190125/meshes/shop/virtualRouter/vr/routes/r';
    const answers = await Promise.all(
      [2, 3, 4].map((weight) =>
        server.request('PUT', target, JSON.stringify({ spec: routeSpec('web', weight) }), { 'if-match': '"1"' }),
      ),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409]);
    const now = await server.client.send(
      new DescribeRouteCommand({ meshName: 'shop', virtualRouterName: 'vr', routeName: 'r' }),
    );
    expect(now.route?.metadata?.version).toBe(2);
    await server.client.send(
      new UpdateRouteCommand({ meshName: 'shop', virtualRouterName: 'vr', routeName: 'r', spec: routeSpec('web', 7) }),
    );
  });

  test('a hand edit of an API file is a new version; a file moved into the API folder is handed over', async () => {
    const created = await server.client.send(
      new CreateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'api', spec: node('api') }),
    );
    const file = path.join(apiDir, 'shop', 'virtual-nodes', 'api.yaml');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('port: 9090', 'port: 9393'));
    expect(server.store.load().ok).toBe(true);
    const edited = await server.client.send(
      new DescribeVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'api' }),
    );
    expect(edited.virtualNode?.metadata).toMatchObject({ version: 2, uid: created.virtualNode!.metadata!.uid });
    expect(edited.virtualNode?.spec?.listeners?.[0]?.portMapping?.port).toBe(9393);
    expect(fs.readFileSync(file, 'utf8')).toContain('version: 2');

    // Hand over the user's node `web`: its file (one resource) moves into the API folder.
    const web = await server.store.get({ kind: 'VirtualNode', mesh: 'shop', name: 'web' });
    fs.writeFileSync(path.join(meshDir, 'shop.yaml'), USER_MESH.split('---')[0]!);
    fs.writeFileSync(path.join(apiDir, 'web.yaml'), 'kind: VirtualNode' + USER_MESH.split('kind: VirtualNode')[1]);
    expect(server.store.load().ok).toBe(true);
    const handed = await server.client.send(
      new UpdateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'web', spec: node('web', 8181) }),
    );
    expect(handed.virtualNode?.metadata?.uid).toBe(web!.uid);
    expect(handed.virtualNode?.metadata?.version).toBe(web!.version + 2);
    const listed = await server.client.send(new ListVirtualNodesCommand({ meshName: 'shop' }));
    expect(listed.virtualNodes?.map((n) => n.virtualNodeName)).toEqual(['api', 'web']);
  });

  test('a configured limit of resources per mesh answers LimitExceededException, and nothing is written', async () => {
    await server.close();
    const store = new FileStore({
      paths: [meshDir],
      apiDir,
      metadataPath: path.join(dir, 'state', 'meta.json'),
      maxResourcesPerMesh: 2,
    });
    expect(store.load().ok).toBe(true);
    server = await startApiServer({}, store);
    await server.client.send(
      new CreateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'api', spec: node('api') }),
    );
    const before = snapshot(meshDir);
    await expect(
      server.client.send(
        new CreateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'more', spec: node('more') }),
      ),
    ).rejects.toMatchObject({
      name: 'LimitExceededException',
      $metadata: { httpStatusCode: 400 },
      message: expect.stringContaining('already holds 2 resources'),
    });
    expect(snapshot(meshDir)).toEqual(before);
  });

  test('a hand-over seen as two reloads (the file gone, then in the API folder) keeps the uid', async () => {
    const web = await server.store.get({ kind: 'VirtualNode', mesh: 'shop', name: 'web' });
    fs.writeFileSync(path.join(meshDir, 'shop.yaml'), USER_MESH.split('---')[0]!);
    expect(server.store.load().ok).toBe(true);
    expect(await server.store.get({ kind: 'VirtualNode', mesh: 'shop', name: 'web' })).toBeUndefined();
    fs.mkdirSync(apiDir); // no API write has made it yet
    fs.writeFileSync(path.join(apiDir, 'web.yaml'), 'kind: VirtualNode' + USER_MESH.split('kind: VirtualNode')[1]);
    expect(server.store.load().ok).toBe(true);
    const handed = await server.store.get({ kind: 'VirtualNode', mesh: 'shop', name: 'web' });
    expect(handed).toMatchObject({ uid: web!.uid, version: web!.version + 1 });
    // The file now carries its metadata, so a restart keeps both.
    expect(fs.readFileSync(path.join(apiDir, 'web.yaml'), 'utf8')).toContain(`uid: ${web!.uid}`);
    expect(await openStore().get({ kind: 'VirtualNode', mesh: 'shop', name: 'web' })).toMatchObject({
      uid: web!.uid,
      version: web!.version + 1,
    });
  });

  test('an empty mesh folder is an empty mesh the API can fill, starting with CreateMesh', async () => {
    await server.close();
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    const store = new FileStore({
      paths: [empty],
      apiDir: path.join(empty, '.meshd-api'),
      metadataPath: path.join(dir, 'state', 'meta.json'),
    });
    const loaded = store.load();
    expect(loaded.ok).toBe(true);
    expect(loaded.problems.map((p) => p.message)).toEqual([
      'the mesh is empty: there are no mesh files (.yaml, .yml, .json) yet, so no proxy gets any configuration until files or App Mesh API calls add resources',
    ]);
    server = await startApiServer({}, store);
    const made = await server.client.send(new CreateMeshCommand({ meshName: 'fresh' }));
    expect(made.mesh?.metadata?.version).toBe(1);
    expect(fs.existsSync(path.join(empty, '.meshd-api', 'fresh', 'mesh.yaml'))).toBe(true);
  });

  test('a symbolic link in the API folder (a file, or a folder on the way) is never written through', async () => {
    await server.client.send(
      new CreateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'api', spec: node('api') }),
    );
    // The API's file of node api replaced by a link to a file of the user's, outside the folder.
    const file = path.join(apiDir, 'shop', 'virtual-nodes', 'api.yaml');
    const outside = path.join(dir, 'outside.yaml');
    fs.writeFileSync(outside, fs.readFileSync(file, 'utf8'));
    fs.rmSync(file);
    fs.symlinkSync(outside, file);
    expect(server.store.load().ok).toBe(true);
    const before = fs.readFileSync(outside, 'utf8');
    await expect(
      server.client.send(
        new UpdateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'api', spec: node('api', 9999) }),
      ),
    ).rejects.toMatchObject({ name: 'BadRequestException', message: expect.stringContaining('is a symbolic link') });
    expect(fs.readFileSync(outside, 'utf8')).toBe(before);

    // A folder on the way that leads elsewhere: a create there is refused, and nothing appears outside.
    const elsewhere = path.join(dir, 'elsewhere');
    fs.mkdirSync(elsewhere);
    fs.symlinkSync(elsewhere, path.join(apiDir, 'shop', 'virtual-routers'));
    await expect(
      server.client.send(
        new CreateVirtualRouterCommand({
          meshName: 'shop',
          virtualRouterName: 'vr',
          spec: { listeners: [{ portMapping: { port: 80, protocol: 'http' } }] },
        }),
      ),
    ).rejects.toMatchObject({ name: 'BadRequestException', message: expect.stringContaining('leads outside') });
    expect(fs.readdirSync(elsewhere)).toEqual([]);
  });

  test('a file in the API folder that is not one meshd YAML resource is read-only and never rewritten', async () => {
    fs.mkdirSync(apiDir);
    const k8s = path.join(apiDir, 'node.yaml');
    const k8sText =
      'apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata: { name: k8s-node, namespace: shop }\n' +
      'spec:\n  awsName: k8s-node\n  meshRef: { name: shop }\n  listeners: [{ portMapping: { port: 80, protocol: http } }]\n' +
      '  serviceDiscovery: { dns: { hostname: k8s.shop.local } }\n';
    fs.writeFileSync(k8s, k8sText);
    const two = path.join(apiDir, 'two.yaml');
    const twoText =
      USER_MESH.split('---')[1]!.replace('name: web', 'name: two-a') +
      '---\n' +
      USER_MESH.split('---')[1]!.replace('name: web', 'name: two-b');
    fs.writeFileSync(two, twoText);
    const loaded = server.store.load();
    expect(loaded.ok ? [] : loaded.problems.map((p) => p.message)).toEqual([]);
    expect(fs.readFileSync(k8s, 'utf8')).toBe(k8sText);
    expect(fs.readFileSync(two, 'utf8')).toBe(twoText);
    for (const name of ['k8s-node', 'two-a'])
      await expect(
        server.client.send(new UpdateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: name, spec: node(name) })),
      ).rejects.toMatchObject({ name: 'ForbiddenException' });
  });

  test('metadata is never written back through a link; a copied file gets a uid of its own', async () => {
    fs.mkdirSync(apiDir);
    const outside = path.join(dir, 'victim.yaml');
    const victim = '# mine\nkind: VirtualNode\nmesh: shop\nname: linked\nspec: {}\n';
    fs.writeFileSync(outside, victim);
    fs.symlinkSync(outside, path.join(apiDir, 'linked.yaml'));
    expect(server.store.load().ok).toBe(true);
    expect(fs.readFileSync(outside, 'utf8')).toBe(victim);

    const made = await server.client.send(
      new CreateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'orig', spec: node('orig') }),
    );
    const file = path.join(apiDir, 'shop', 'virtual-nodes', 'orig.yaml');
    fs.writeFileSync(path.join(apiDir, 'copy.yaml'), fs.readFileSync(file, 'utf8').replace('name: orig', 'name: copy'));
    expect(server.store.load().ok).toBe(true);
    const copy = await server.store.get({ kind: 'VirtualNode', mesh: 'shop', name: 'copy' });
    expect(copy?.uid).not.toBe(made.virtualNode!.metadata!.uid);
    expect(fs.readFileSync(path.join(apiDir, 'copy.yaml'), 'utf8')).toContain(`uid: ${copy!.uid}`);
  });

  test('a hand edit taken in by a write of another resource keeps its new version on disk', async () => {
    for (const name of ['x', 'y'])
      await server.client.send(
        new CreateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: name, spec: node(name) }),
      );
    const x = path.join(apiDir, 'shop', 'virtual-nodes', 'x.yaml');
    fs.writeFileSync(x, fs.readFileSync(x, 'utf8').replace('port: 9090', 'port: 9555'));
    // Before any reload, a write of y loads the mesh with x's edit in it.
    await server.client.send(
      new UpdateVirtualNodeCommand({ meshName: 'shop', virtualNodeName: 'y', spec: node('y', 9191) }),
    );
    expect((await server.store.get({ kind: 'VirtualNode', mesh: 'shop', name: 'x' }))?.version).toBe(2);
    expect(server.store.load().ok).toBe(true);
    expect((await server.store.get({ kind: 'VirtualNode', mesh: 'shop', name: 'x' }))?.version).toBe(2);
  });

  test('the API folder may not be a mesh path, hold one, or sit in a mesh folder outside a dot folder', () => {
    const options = (apiDirOf: string) => ({
      paths: [meshDir],
      apiDir: apiDirOf,
      metadataPath: path.join(dir, 'm.json'),
    });
    expect(() => new FileStore(options(meshDir))).toThrow(/is, or holds, the mesh path/);
    expect(() => new FileStore(options(dir))).toThrow(/is, or holds, the mesh path/);
    expect(() => new FileStore(options(path.join(meshDir, 'api')))).toThrow(/inside the mesh folder/);
    expect(() => new FileStore(options(path.join(meshDir, '.api', 'deeper')))).not.toThrow();
    expect(() => new FileStore(options(path.join(dir, 'elsewhere')))).not.toThrow();
  });
});

describe('the state file of the files-backed store', () => {
  const web = { kind: 'VirtualNode' as const, mesh: 'shop', name: 'web' };
  const stateVersion = (file: string): number | undefined =>
    fs.existsSync(file)
      ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { resources: Record<string, { version: number }> }).resources[
          'shop/VirtualNode/web'
        ]?.version
      : undefined;

  it('is written after the load that changed it (its pushes go first), and before anything reads the version', async () => {
    const dir = tmpDir('file-store-state-');
    const meshFile = path.join(dir, 'mesh', 'shop.yaml');
    fs.mkdirSync(path.dirname(meshFile));
    fs.writeFileSync(meshFile, USER_MESH);
    const stateFile = path.join(dir, 'meta.json');
    const store = new FileStore({
      paths: [path.dirname(meshFile)],
      apiDir: path.join(dir, 'api'),
      metadataPath: stateFile,
    });
    expect(store.load().ok).toBe(true);
    expect(fs.existsSync(stateFile)).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(stateVersion(stateFile)).toBe(1);

    // A hand edit: version 2, which no read sees before the state file holds it.
    fs.writeFileSync(meshFile, USER_MESH.replace('port: 8080', 'port: 8081'));
    expect(store.load([meshFile]).ok).toBe(true);
    expect(stateVersion(stateFile)).toBe(1);
    const read = store.get(web);
    expect(stateVersion(stateFile)).toBe(2);
    expect((await read)?.version).toBe(2);
  });
});
