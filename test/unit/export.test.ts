// meshd export's writers, its --out folder and its bad usage (the round trip is export-round-trip.test.ts).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { load as parseYaml, loadAll } from 'js-yaml';
import { exportMesh, writeExportFolder, type ExportFormat } from '../../src/export';
import { pathSegment } from '../../src/export/exported';
import { loadMesh } from '../../src/load/mesh-source';
import { formatProblem } from '../../src/load/problems';
import { meshFolder } from '../helpers/mesh-text';

const ROOT = path.resolve(__dirname, '../..');
const MESHD = path.join(ROOT, 'bin/meshd');

const MESH = `
kind: Mesh
name: Shop_Main
spec: {}
---
kind: VirtualNode
mesh: Shop_Main
name: Web_v1
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
  serviceDiscovery: { dns: { hostname: web.shop.local } }
  backends: [{ virtualService: { virtualServiceName: api.shop.local } }]
---
kind: VirtualNode
mesh: Shop_Main
name: api
spec:
  listeners: [{ portMapping: { port: 9000, protocol: http } }]
  serviceDiscovery: { dns: { hostname: api.shop.local } }
---
kind: VirtualRouter
mesh: Shop_Main
name: api
spec: { listeners: [{ portMapping: { port: 9000, protocol: http } }] }
---
kind: Route
mesh: Shop_Main
virtualRouter: api
name: all
spec:
  httpRoute:
    match: { prefix: / }
    action: { weightedTargets: [{ virtualNode: api, weight: 1 }] }
---
kind: VirtualService
mesh: Shop_Main
name: api.shop.local
spec: { provider: { virtualRouter: { virtualRouterName: api } } }
`;

function exported(text: string, format: ExportFormat) {
  const loaded = loadMesh([meshFolder({ 'mesh.yaml': text })]);
  if (!loaded.ok) throw new Error(loaded.problems.map(formatProblem).join('\n'));
  return exportMesh({ model: loaded.model, cloudMapSeeds: loaded.cloudMapSeeds.map((s) => s.seed) }, format);
}

function filesOf(text: string, format: ExportFormat): Map<string, string> {
  const result = exported(text, format);
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return new Map(result.files.map((f) => [f.path, f.text]));
}

describe('export writers', () => {
  it('escape names that are not safe as a path segment', () => {
    expect(pathSegment('color-blue_v1.local')).toBe('color-blue_v1.local');
    expect(pathSegment('a/b c')).toBe('a%2Fb%20c');
    expect(pathSegment('..')).toBe('%2E.');
    expect(pathSegment('.hidden')).toBe('%2Ehidden');
    expect(pathSegment('a+b')).toBe('a%2Bb');
  });

  it('yaml: one file per resource, routes under their router', () => {
    const files = filesOf(MESH, 'yaml');
    expect([...files.keys()]).toEqual([
      'Shop_Main/mesh.yaml',
      'Shop_Main/routes/api/all.yaml',
      'Shop_Main/virtual-nodes/Web_v1.yaml',
      'Shop_Main/virtual-nodes/api.yaml',
      'Shop_Main/virtual-routers/api.yaml',
      'Shop_Main/virtual-services/api.shop.local.yaml',
    ]);
    expect(parseYaml(files.get('Shop_Main/routes/api/all.yaml')!)).toEqual({
      kind: 'Route',
      mesh: 'Shop_Main',
      virtualRouter: 'api',
      name: 'all',
      spec: { httpRoute: { match: { prefix: '/' }, action: { weightedTargets: [{ virtualNode: 'api', weight: 1 }] } } },
    });
  });

  it('cli-json: create-* input, numbered in the order App Mesh needs them created', () => {
    const files = filesOf(MESH, 'cli-json');
    expect([...files.keys()]).toEqual([
      'Shop_Main/1-mesh.json',
      'Shop_Main/2-virtual-node-Web_v1.json',
      'Shop_Main/2-virtual-node-api.json',
      'Shop_Main/3-virtual-router-api.json',
      'Shop_Main/4-route-api+all.json',
      'Shop_Main/5-virtual-service-api.shop.local.json',
    ]);
    expect(JSON.parse(files.get('Shop_Main/1-mesh.json')!)).toEqual({ meshName: 'Shop_Main', spec: {} });
    expect(Object.keys(JSON.parse(files.get('Shop_Main/4-route-api+all.json')!))).toEqual([
      'meshName',
      'virtualRouterName',
      'routeName',
      'spec',
    ]);
  });

  it('k8s: Kubernetes names, awsName, refs to manifests, routes inside their router', () => {
    const files = filesOf(MESH, 'k8s');
    const paths = [...files.keys()];
    expect(paths[0]).toMatch(/^shop-main-[0-9a-f]{8}\/0-namespace\.yaml$/);
    const namespace = paths[0]!.split('/')[0]!;
    const docs = paths.map((p) => parseYaml(files.get(p)!) as Record<string, any>);
    const web = docs.find((d) => d.kind === 'VirtualNode' && d.spec.awsName === 'Web_v1')!;
    expect(web.metadata.name).toMatch(/^web-v1-[0-9a-f]{8}$/);
    expect(web.metadata.namespace).toBe(namespace);
    expect(web.spec.backends).toEqual([{ virtualService: { virtualServiceRef: { name: 'api.shop.local' } } }]);
    const router = docs.find((d) => d.kind === 'VirtualRouter')!;
    expect(router.spec.routes).toEqual([
      {
        name: 'all',
        httpRoute: {
          match: { prefix: '/' },
          action: { weightedTargets: [{ virtualNodeRef: { name: 'api' }, weight: 1 }] },
        },
      },
    ]);
    const service = docs.find((d) => d.kind === 'VirtualService')!;
    expect(service.spec.provider).toEqual({ virtualRouter: { virtualRouterRef: { name: 'api' } } });
    const mesh = docs.find((d) => d.kind === 'Mesh')!;
    expect(mesh.spec.awsName).toBe('Shop_Main');
    expect(docs[0]!.metadata.labels.mesh).toBe(mesh.metadata.name);
  });

  it("k8s: the controller's spellings of ARNs and a mesh's service discovery, read back to the same specs", () => {
    const text = `
kind: Mesh
name: apps
spec: { serviceDiscovery: { ipPreference: IPv6_PREFERRED } }
---
kind: VirtualNode
name: web
spec:
  listeners:
    - portMapping: { port: 8080, protocol: http }
      tls:
        mode: STRICT
        certificate: { acm: { certificateArn: "arn:aws:acm:us-east-1:111122223333:certificate/abc" } }
  serviceDiscovery: { dns: { hostname: web.apps.local } }
  backendDefaults:
    clientPolicy:
      tls:
        validation:
          trust:
            acm: { certificateAuthorityArns: ["arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/abc"] }
`;
    const files = filesOf(text, 'k8s');
    const docs = [...files.values()].map((t) => parseYaml(t) as Record<string, any>);
    expect(docs.find((d) => d.kind === 'Mesh')!.spec.meshServiceDiscovery).toEqual({ ipPreference: 'IPv6_PREFERRED' });
    const node = docs.find((d) => d.kind === 'VirtualNode')!;
    expect(node.spec.listeners[0].tls.certificate.acm).toEqual({
      certificateARN: 'arn:aws:acm:us-east-1:111122223333:certificate/abc',
    });
    expect(node.spec.backendDefaults.clientPolicy.tls.validation.trust.acm).toEqual({
      certificateAuthorityARNs: ['arn:aws:acm-pca:us-east-1:111122223333:certificate-authority/abc'],
    });
    const original = loadMesh([meshFolder({ 'mesh.yaml': text })]);
    const back = loadMesh([meshFolder(Object.fromEntries([...files].map(([p, t]) => [p, t])))], { strict: true });
    if (!original.ok || !back.ok) throw new Error('not valid');
    const plain = (r: typeof original.model.resources) => r.map(({ source: _s, ...rest }) => rest);
    expect(plain(back.model.resources)).toEqual(plain(original.model.resources));
  });

  it('k8s: a spec the controller refuses is an error naming resource and field', () => {
    const result = exported(MESH.replace('match: { prefix: / }', 'match: { port: 9000 }'), 'k8s');
    expect(result).toEqual({
      ok: false,
      errors: [
        "Route/api/all (mesh Shop_Main): cannot be written as a Kubernetes manifest: spec.httpRoute.match: must set 'prefix' or 'path': the App Mesh controller's webhook requires it in a Kubernetes manifest",
      ],
    });
  });
});

describe('export --out', () => {
  const files = [
    { path: 'm/mesh.yaml', text: 'kind: Mesh\nname: m\n' },
    { path: 'm/virtual-nodes/a.yaml', text: 'a\n' },
  ];
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-export-out-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('creates a missing folder, or fills an empty one, leaving no temporary folder', () => {
    writeExportFolder(path.join(dir, 'new'), files, false);
    expect(fs.readFileSync(path.join(dir, 'new/m/virtual-nodes/a.yaml'), 'utf8')).toBe('a\n');
    fs.mkdirSync(path.join(dir, 'empty'));
    writeExportFolder(path.join(dir, 'empty'), files, false);
    expect(fs.readdirSync(dir).sort()).toEqual(['empty', 'new']);
  });

  it('refuses a folder that is not empty without force', () => {
    fs.writeFileSync(path.join(dir, 'x.yaml'), 'old\n');
    expect(() => writeExportFolder(dir, files, false)).toThrow(/is not empty; give --force/);
    expect(fs.readdirSync(dir)).toEqual(['x.yaml']);
  });

  it('with force, replaces the mesh files, removes stale ones, and leaves dot files and other files', () => {
    fs.mkdirSync(path.join(dir, '.git'));
    fs.writeFileSync(path.join(dir, '.git/config.json'), '{}');
    fs.writeFileSync(path.join(dir, 'README.md'), 'hi\n');
    fs.mkdirSync(path.join(dir, 'm/virtual-nodes'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'm/virtual-nodes/gone.yaml'), 'stale\n');
    fs.writeFileSync(path.join(dir, 'm/virtual-nodes/a.yaml'), 'old\n');
    writeExportFolder(dir, files, true);
    expect(fs.readFileSync(path.join(dir, 'm/virtual-nodes/a.yaml'), 'utf8')).toBe('a\n');
    expect(fs.existsSync(path.join(dir, 'm/virtual-nodes/gone.yaml'))).toBe(false);
    expect(fs.readFileSync(path.join(dir, '.git/config.json'), 'utf8')).toBe('{}');
    expect(fs.readFileSync(path.join(dir, 'README.md'), 'utf8')).toBe('hi\n');
  });
});

describe('meshd export (bin/meshd)', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [MESHD, 'export', ...args], { encoding: 'utf8' });

  it('prints the mesh as one YAML stream without --out', () => {
    const mesh = meshFolder({ 'mesh.yaml': MESH });
    const r = run('--mesh', mesh, '--format', 'cli-json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('--- # '))).toHaveLength(6);
    expect(loadAll(r.stdout)).toHaveLength(6);
  });

  it.each([
    [['--format', 'json'], "--format must be yaml, cli-json, k8s, got 'json'"],
    [['--force'], '--force goes with --out'],
  ])('%j is a usage error', (args, message) => {
    const r = run('--mesh', meshFolder({ 'mesh.yaml': MESH }), ...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`meshd export: ${message}\n`);
  });

  it("reads the App Mesh API's folder beside the mesh path too, and writes no metadata", () => {
    const mesh = meshFolder({ 'mesh.yaml': MESH });
    const apiFile = path.join(mesh, '.meshd-api', 'Shop_Main', 'virtual-nodes', 'from-api.yaml');
    fs.mkdirSync(path.dirname(apiFile), { recursive: true });
    fs.writeFileSync(
      apiFile,
      'kind: VirtualNode\nmesh: Shop_Main\nname: from-api\nspec: {}\nmetadata: { uid: u-1, version: 3, createdAt: 2026-12-01T00:00:00.000Z, lastUpdatedAt: 2026-12-02T00:00:00.000Z }\n',
    );
    const r = run('--mesh', mesh);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('--- # Shop_Main/virtual-nodes/from-api.yaml');
    expect(r.stdout).not.toContain('metadata');
    const elsewhere = run('--mesh', mesh, '--api-dir', path.join(mesh, 'nowhere'));
    expect(elsewhere.stdout).not.toContain('from-api');
  });

  it('without --mesh is a usage error', () => {
    const r = run();
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('meshd export: name the mesh with --mesh <file|folder>\n');
  });

  it('refuses a folder that is not empty, and writes nothing for an invalid mesh', () => {
    const mesh = meshFolder({ 'mesh.yaml': MESH });
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-export-cli-'));
    try {
      fs.writeFileSync(path.join(out, 'keep.yaml'), 'x: 1\n');
      const r = run('--mesh', mesh, '--out', out);
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(`meshd export: --out ${out} is not empty; give --force to replace the mesh files in it\n`);
      const bad = meshFolder({ 'mesh.yaml': MESH.replace('virtualNode: api,', 'virtualNode: ghost,') });
      const target = path.join(out, 'new');
      const r2 = run('--mesh', bad, '--out', target);
      expect(r2.status).toBe(1);
      expect(r2.stderr).toMatch(/virtual node 'ghost' is not defined/);
      expect(fs.existsSync(target)).toBe(false);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
