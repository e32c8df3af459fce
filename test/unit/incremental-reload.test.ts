// Incremental reload, on real mesh files in a temp folder: a load with a LoadCache reuses the
// resources of documents that did not change (and still reports exactly what a fresh load
// reports), MeshModel.changedKeys names what a reload changed, and MeshController recompiles
// and pushes only the proxies a change reaches, while every proxy keeps being served exactly
// what a full compile of the current mesh gives.
import * as fc from 'fast-check';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as compiler from '../../src/compile';
import { ResourceEncoder } from '../../src/control/encode';
import type { MeshController } from '../../src/control/mesh-controller';
import { MeshServer } from '../../src/control/mesh-server';
import { proxySettingsOf } from '../../src/control/proxy-settings';
import { renderSnapshot } from '../../src/control/render';
import type { CloudMapRegistry } from '../../src/discovery/cloud-map/registry';
import type { Node__Output } from '../../src/generated/envoy/config/core/v3/Node';
import { LoadCache, loadMesh, type LoadResult } from '../../src/load/mesh-source';
import { formatProblem } from '../../src/load/problems';
import { resourceKey, type MeshModel, type Resource } from '../../src/model/mesh-model';
import { meshHash } from '../../src/store/mesh-hash';
import { canonicalJson } from '../../src/util/canonical-json';
import type { Snapshot, SnapshotCache } from '../../src/xds/snapshot-cache';
import { meshFolder } from '../helpers/mesh-text';
import { tmpDir } from '../helpers/processes';

type OkLoad = Extract<LoadResult, { ok: true }>;

function expectLoaded(result: LoadResult): OkLoad {
  if (!result.ok) throw new Error(`the mesh did not load:\n${result.problems.map(formatProblem).join('\n')}`);
  return result;
}

/** The model's resources by key. */
function byKey(model: MeshModel): Map<string, Resource> {
  return new Map(model.resources.map((r) => [resourceKey(r), r]));
}

// ---- small meshes for the loader and changedKeys ----

const MESH = 'kind: Mesh\nname: apps\n';
const NODE = (name: string, port = 8080, mesh = 'mesh: apps\n') =>
  `kind: VirtualNode\n${mesh}name: ${name}\nspec:\n  listeners: [{ portMapping: { port: ${port}, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: ${name}.local } }\n`;
const ROUTER =
  'kind: VirtualRouter\nmesh: apps\nname: r\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n';
const SERVICE =
  'kind: VirtualService\nmesh: apps\nname: s.apps.local\nspec: { provider: { virtualRouter: { virtualRouterName: r } } }\n';
const ROUTE = (name: string, a: number, b: number, prefix = '/') =>
  `kind: Route\nmesh: apps\nvirtualRouter: r\nname: ${name}\nspec:\n  httpRoute:\n    match: { prefix: ${prefix} }\n    action: { weightedTargets: [{ virtualNode: a, weight: ${a} }, { virtualNode: b, weight: ${b} }] }\n`;
const CALLER =
  'kind: VirtualNode\nmesh: apps\nname: caller\nspec: { backends: [{ virtualService: { virtualServiceName: s.apps.local } }] }\n';

/** A mesh of one router-provided service (nodes a and b behind route r/one), a caller and a node nothing reaches. */
function smallMesh(): Record<string, string> {
  return {
    'mesh.yaml': MESH,
    'nodes.yaml': `${NODE('a')}---\n${NODE('b')}`,
    'lonely.yaml': NODE('lonely'),
    'router.yaml': `${ROUTER}---\n${SERVICE}`,
    'route-one.yaml': ROUTE('one', 50, 50),
    'caller.yaml': CALLER,
  };
}

describe('LoadCache: a reload reuses what did not change', () => {
  it('gives the very same resource objects when no file changed, even if one was rewritten with the same text', () => {
    const dir = meshFolder(smallMesh());
    const cache = new LoadCache();
    const first = byKey(expectLoaded(loadMesh([dir], { cache })).model);
    fs.writeFileSync(path.join(dir, 'nodes.yaml'), fs.readFileSync(path.join(dir, 'nodes.yaml')));
    const second = byKey(expectLoaded(loadMesh([dir], { cache })).model);
    expect([...second.keys()]).toEqual([...first.keys()]);
    expect(first.size).toBe(8);
    for (const [key, resource] of first)
      expect({ key, same: second.get(key) === resource }).toEqual({ key, same: true });
  });

  it("gives new objects only for the resources of the file that changed, and they carry the file's new content", () => {
    const dir = meshFolder(smallMesh());
    const cache = new LoadCache();
    const first = byKey(expectLoaded(loadMesh([dir], { cache })).model);
    fs.writeFileSync(path.join(dir, 'route-one.yaml'), ROUTE('one', 10, 90));
    const model = expectLoaded(loadMesh([dir], { cache })).model;
    const second = byKey(model);
    const renewed = [...second].filter(([key, r]) => first.get(key) !== r).map(([key]) => key);
    expect(renewed).toEqual(['apps/Route/r/one']);
    expect(model.routesOf('apps', 'r')[0]!.spec.httpRoute!.action.weightedTargets.map((t) => t.weight)).toEqual([
      10, 90,
    ]);
  });

  it('loads a document once its error is fixed, and fails again when it breaks again', () => {
    const files = smallMesh();
    const dir = meshFolder({ ...files, 'lonely.yaml': NODE('lonely', 70000) });
    const cache = new LoadCache();
    const broken = loadMesh([dir], { cache });
    expect(!broken.ok && broken.problems.map((p) => p.message)).toEqual([
      'must be a whole number from 1 to 65535, got 70000',
    ]);
    // Loading it again unchanged still reports it: a document that did not decode is not remembered as a resource.
    expect(loadMesh([dir], { cache }).ok).toBe(false);

    fs.writeFileSync(path.join(dir, 'lonely.yaml'), NODE('lonely', 8081));
    const fixed = expectLoaded(loadMesh([dir], { cache }));
    expect(fixed.model.virtualNode('apps', 'lonely')!.spec.listeners![0]!.portMapping.port).toBe(8081);

    fs.writeFileSync(path.join(dir, 'lonely.yaml'), NODE('lonely', 0));
    const again = loadMesh([dir], { cache });
    expect(!again.ok && again.problems.map((p) => p.message)).toEqual([
      'must be a whole number from 1 to 65535, got 0',
    ]);
  });

  it('forgets a file removed from the folder: its resources leave the model', () => {
    const dir = meshFolder(smallMesh());
    const cache = new LoadCache();
    const first = expectLoaded(loadMesh([dir], { cache })).model;
    expect(first.virtualNode('apps', 'lonely')).toBeDefined();
    fs.rmSync(path.join(dir, 'lonely.yaml'));
    const second = expectLoaded(loadMesh([dir], { cache })).model;
    expect(second.virtualNode('apps', 'lonely')).toBeUndefined();
    expect(second.resources.map(resourceKey)).toEqual(
      first.resources.map(resourceKey).filter((k) => k !== 'apps/VirtualNode/lonely'),
    );
    expect([...cache.files.keys()].map((f) => path.basename(f)).sort()).toEqual([
      'caller.yaml',
      'mesh.yaml',
      'nodes.yaml',
      'route-one.yaml',
      'router.yaml',
    ]);
  });

  it('reports a document that names no mesh once a second mesh is defined, instead of reusing its resource', () => {
    const dir = meshFolder({ ...smallMesh(), 'lonely.yaml': NODE('lonely', 8080, '') });
    const cache = new LoadCache();
    const first = expectLoaded(loadMesh([dir], { cache }));
    const lonely = first.model.virtualNode('apps', 'lonely')!;
    expect(lonely).toBeDefined();

    fs.writeFileSync(path.join(dir, 'other-mesh.yaml'), 'kind: Mesh\nname: other\n');
    const cached = loadMesh([dir], { cache });
    const fresh = loadMesh([dir]);
    expect(cached.ok).toBe(false);
    expect(
      cached.problems.map((p) => `${path.basename(p.location.file)}:${p.location.line}: ${p.severity}: ${p.message}`),
    ).toEqual([
      'lonely.yaml:1: error: names no mesh and 2 meshes are defined (apps, other); name one here or pass --mesh-name',
    ]);
    expect(cached.problems).toEqual(fresh.problems);

    // With the second mesh gone, the default mesh is what it was: the document loads (as the same resource) again.
    fs.rmSync(path.join(dir, 'other-mesh.yaml'));
    const back = expectLoaded(loadMesh([dir], { cache }));
    expect(back.model.virtualNode('apps', 'lonely')).toBe(lonely);
  });

  it('reports exactly the problems (errors, warnings, infos) a load without a cache reports', () => {
    const configMap = 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings }\ndata: { a: b }\n';
    const noProvider = 'kind: VirtualService\nmesh: apps\nname: nobody.apps.local\n';
    const callsNobody =
      'kind: VirtualNode\nmesh: apps\nname: hopeful\nspec: { backends: [{ virtualService: { virtualServiceName: nobody.apps.local } }] }\n';
    const dir = meshFolder({ ...smallMesh(), 'other.yaml': `${configMap}---\n${noProvider}---\n${callsNobody}` });
    const cache = new LoadCache();
    const sameAsFresh = () => {
      const cached = loadMesh([dir], { cache });
      const fresh = loadMesh([dir]);
      expect(cached.ok).toBe(fresh.ok);
      expect(cached.problems).toEqual(fresh.problems);
      return cached;
    };

    const first = sameAsFresh();
    expect(first.problems.map((p) => `${p.severity}: ${p.message}`)).toEqual([
      'warning: no virtual service reaches this node: no service names it as provider and no route targets it',
      'info: skipping ConfigMap/settings: not an App Mesh resource',
      "warning: virtual service 'nobody.apps.local' has no provider, so requests to it will fail",
    ]);
    expect(sameAsFresh().problems).toEqual(first.problems); // every document now comes from the cache

    // An error in one file, next to cached documents with warnings.
    fs.writeFileSync(
      path.join(dir, 'route-one.yaml'),
      ROUTE('one', 50, 50).replace('virtualNode: b', 'virtualNode: nobody'),
    );
    expect(
      sameAsFresh()
        .problems.filter((p) => p.severity === 'error')
        .map((p) => p.message),
    ).toEqual(["virtual node 'nobody' is not defined in mesh 'apps'"]);
    expect(sameAsFresh().ok).toBe(false);

    // A decode error (not only a reference error), loaded twice.
    fs.writeFileSync(
      path.join(dir, 'route-one.yaml'),
      ROUTE('one', 50, 50).replace('prefix: /', 'prefix: /\n    colour: blue'),
    );
    expect(sameAsFresh().ok).toBe(false);
    expect(sameAsFresh().ok).toBe(false);

    fs.writeFileSync(path.join(dir, 'route-one.yaml'), ROUTE('one', 50, 50));
    expect(sameAsFresh().problems).toEqual(first.problems);
  });
});

// ---- every dialect: the bench's mesh, edited at random ----

interface GeneratedMesh {
  readonly dir: string;
  routeFile(i: number): string;
  setWeights(i: number, weights: readonly [number, number]): void;
  remove(): void;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const meshGen = require(path.resolve(__dirname, '../../bench/mesh-gen.js')) as {
  DIALECTS: readonly string[];
  writeMesh(options: { services: number; dialect: string; dir?: string }): GeneratedMesh;
};

/** The hash as it was defined before it was made incremental: SHA-256 of the canonical JSON, whole. */
function wholeMeshHash(result: OkLoad): string {
  const resources = result.model.resources.map(({ source: _source, ...served }) => served);
  const seeds = result.cloudMapSeeds.map((s) => s.seed);
  const rollouts = result.rollouts.map((r) => ({ mesh: r.mesh, name: r.name, settings: r.settings }));
  return createHash('sha256').update(canonicalJson({ resources, seeds, rollouts })).digest('hex').slice(0, 16);
}

/** Every mesh file's text, by path. */
function fileTexts(dir: string): Map<string, string> {
  return new Map(
    fs.readdirSync(dir).map((name) => [path.join(dir, name), fs.readFileSync(path.join(dir, name), 'utf8')]),
  );
}

describe.each(meshGen.DIALECTS.map((dialect) => ({ dialect })))('LoadCache in the $dialect dialect', ({ dialect }) => {
  const SERVICES = 40; // past one chunk of the mesh hash's kept states

  type Edit =
    | { kind: 'weights'; service: number; v2: number }
    | { kind: 'break'; service: number }
    | { kind: 'remove'; service: number }
    | { kind: 'restore'; service: number }
    | { kind: 'touch'; service: number }
    | { kind: 'egress' }
    | { kind: 'rename'; service: number };
  const service = fc.integer({ min: 0, max: SERVICES - 1 });
  const edit: fc.Arbitrary<Edit> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({ kind: fc.constant('weights' as const), service, v2: fc.integer({ min: 0, max: 100 }) }),
    },
    fc.record({ kind: fc.constant('break' as const), service }),
    fc.record({ kind: fc.constant('remove' as const), service }),
    fc.record({ kind: fc.constant('restore' as const), service }),
    fc.record({ kind: fc.constant('touch' as const), service }),
    fc.constant({ kind: 'egress' as const }),
    fc.record({ kind: fc.constant('rename' as const), service }),
  );

  it('reports exactly what a fresh load reports, keeps unchanged resources and route lists the same objects, and hashes as the whole text does', () => {
    const mesh = meshGen.writeMesh({ services: SERVICES, dialect, dir: tmpDir(`reload-${dialect}-`) });
    const original = new Map([...fileTexts(mesh.dir)]);
    try {
      fc.assert(
        fc.property(
          fc.array(fc.array(edit, { minLength: 1, maxLength: 3 }), { minLength: 4, maxLength: 8 }),
          (reloads) => {
            // Each run starts from the generated mesh and a new cache.
            for (const name of fs.readdirSync(mesh.dir)) fs.rmSync(path.join(mesh.dir, name));
            for (const [file, text] of original) fs.writeFileSync(file, text);
            const cache = new LoadCache();
            let before: { load: OkLoad; texts: Map<string, string> } | undefined;
            for (const edits of [[], ...reloads]) {
              for (const e of edits) {
                if (e.kind === 'egress') {
                  // The mesh's egress filter, flipped: every resource looks its mesh up.
                  const meshFile = [...original.keys()].find((f) => /\/mesh\.(yaml|json)$/.test(f))!;
                  const text = fs.readFileSync(meshFile, 'utf8');
                  fs.writeFileSync(
                    meshFile,
                    text.includes('DROP_ALL')
                      ? text.replace('DROP_ALL', 'ALLOW_ALL')
                      : text.replace('ALLOW_ALL', 'DROP_ALL'),
                  );
                  continue;
                }
                const file = mesh.routeFile(e.service);
                if (e.kind === 'rename') {
                  // The service's name (its awsName in Kubernetes, where its callers' refs follow it).
                  if (fs.existsSync(file))
                    fs.writeFileSync(
                      file,
                      fs
                        .readFileSync(file, 'utf8')
                        .replaceAll(`svc-${e.service}.bench.local`, `svc-${e.service}-b.bench.local`),
                    );
                  continue;
                }
                if (e.kind === 'weights') mesh.setWeights(e.service, [100 - e.v2, e.v2]);
                else if (e.kind === 'break') mesh.setWeights(e.service, [-5, 105]);
                else if (e.kind === 'remove') fs.rmSync(file, { force: true });
                else if (e.kind === 'restore') fs.writeFileSync(file, original.get(file)!);
                else if (fs.existsSync(file)) fs.writeFileSync(file, fs.readFileSync(file));
              }
              const cached = loadMesh([mesh.dir], { cache });
              const fresh = loadMesh([mesh.dir]);
              expect(cached.problems).toEqual(fresh.problems);
              expect(cached.ok).toBe(fresh.ok);
              if (!cached.ok || !fresh.ok) continue;
              expect(cached.model.resources).toEqual(fresh.model.resources);
              const seeds = (load: OkLoad) =>
                load.cloudMapSeeds.map((s) => ({ label: s.label, seed: s.seed, at: s.locate([]) }));
              expect(seeds(cached)).toEqual(seeds(fresh));
              expect(meshHash(cached)).toBe(wholeMeshHash(cached));
              expect(meshHash(fresh)).toBe(meshHash(cached));

              const texts = fileTexts(mesh.dir);
              if (before) {
                const previous = before;
                // A resource of a file whose text did not change, and that reads the same, is the same object.
                const renewed = cached.model.resources.filter((r) => {
                  const old = previous.load.model.resourceAt(resourceKey(r));
                  return (
                    old !== undefined &&
                    old !== r &&
                    previous.texts.get(r.source.file) === texts.get(r.source.file) &&
                    JSON.stringify(old) === JSON.stringify(r)
                  );
                });
                expect(renewed.map(resourceKey)).toEqual([]);
                // A router whose routes are the same objects answers routesOf with the same list.
                for (const r of cached.model.resources) {
                  if (r.kind !== 'VirtualRouter') continue;
                  const [was, now] = [
                    previous.load.model.routesOf(r.mesh, r.name),
                    cached.model.routesOf(r.mesh, r.name),
                  ];
                  if (was.length > 0 && was.length === now.length && was.every((x, i) => now[i] === x))
                    expect(now).toBe(was);
                }
                // changedKeys names exactly the look-ups whose answer is another object.
                const changed = previous.load.model.changedKeys(cached.model);
                for (const r of [...previous.load.model.resources, ...cached.model.resources]) {
                  const key = resourceKey(r);
                  const same = previous.load.model.resourceAt(key) === cached.model.resourceAt(key);
                  expect({ key, changed: changed.has(key) }).toEqual({ key, changed: !same });
                }
              }
              before = { load: cached, texts };
            }
          },
        ),
        { numRuns: 8 },
      );
    } finally {
      mesh.remove();
    }
  });
});

describe('MeshModel.changedKeys after a reload with a LoadCache', () => {
  function reloader(files: Record<string, string>) {
    const dir = meshFolder(files);
    const cache = new LoadCache();
    let model = expectLoaded(loadMesh([dir], { cache })).model;
    return {
      dir,
      /** Writes (or, with undefined, removes) files, reloads and returns the keys that changed. */
      change(edits: Record<string, string | undefined>): string[] {
        for (const [name, text] of Object.entries(edits)) {
          if (text === undefined) fs.rmSync(path.join(dir, name));
          else fs.writeFileSync(path.join(dir, name), text);
        }
        const next = expectLoaded(loadMesh([dir], { cache })).model;
        const changed = model.changedKeys(next);
        model = next;
        return [...changed].sort();
      },
    };
  }

  it('is empty when nothing changed', () => {
    expect(reloader(smallMesh()).change({})).toEqual([]);
  });

  it("names a route whose weights changed and its router's route list, and nothing else", () => {
    expect(reloader(smallMesh()).change({ 'route-one.yaml': ROUTE('one', 0, 100) })).toEqual([
      'apps/Route/r/*',
      'apps/Route/r/one',
    ]);
  });

  it('names a virtual node that was removed', () => {
    expect(reloader(smallMesh()).change({ 'lonely.yaml': undefined })).toEqual(['apps/VirtualNode/lonely']);
  });

  it("names the router's route list when a second route is added, and again when it is removed", () => {
    const mesh = reloader(smallMesh());
    expect(mesh.change({ 'route-two.yaml': ROUTE('two', 100, 0, '/two') })).toEqual([
      'apps/Route/r/*',
      'apps/Route/r/two',
    ]);
    expect(mesh.change({ 'route-two.yaml': undefined })).toEqual(['apps/Route/r/*', 'apps/Route/r/two']);
  });

  it('names the mesh when its spec changed', () => {
    expect(
      reloader(smallMesh()).change({ 'mesh.yaml': `${MESH}spec: { egressFilter: { type: ALLOW_ALL } }\n` }),
    ).toEqual(['apps/Mesh/apps']);
  });
});

// ---- a served mesh: 4 services and their proxies ----
//
// Service i (s<i>.apps.local) has nodes s<i>-v1 (DNS) and s<i>-v2 (Cloud Map: an EDS cluster for
// its callers), a router s<i> and its route s<i> (in a file of its own) splitting v1/v2 by
// weight. The Cloud Map instances are declared in seeds.yaml, apart, so that changing one changes
// no resource of the model (only the registry). extra.apps.local starts with no
// provider; later a router provides it, and later still that router gets a route.
//
//   s0 → s1, s2     s1 → s2     s2 → s3     s3 → extra
//
// So: callers of s1 are s0's nodes; of s2, s0's and s1's; of s3, s2's; of extra, s3's; s0 has none.
// A virtual gateway gw (gateway.yaml) has one gateway route, to s3 at first.

const SERVICES = 4;
const CALLS: readonly (readonly string[])[] = [['s1', 's2'], ['s2'], ['s3'], ['extra']];
const NODE_IDS = Array.from({ length: SERVICES }, (_, i) => [
  `mesh/apps/virtualNode/s${i}-v1`,
  `mesh/apps/virtualNode/s${i}-v2`,
]).flat();
/** Every proxy: the sidecars and the gateway. */
const ALL_IDS = () => [...NODE_IDS, GATEWAY_ID].sort();
const idsOf = (...services: number[]) =>
  services.flatMap((i) => [`mesh/apps/virtualNode/s${i}-v1`, `mesh/apps/virtualNode/s${i}-v2`]).sort();

type ExtraStage = 'no provider' | 'router, no route' | 'router and route';

interface MeshState {
  egress: 'DROP_ALL' | 'ALLOW_ALL';
  /** The mesh's meshd extension: mesh-wide mTLS. */
  mtls: 'DISABLED' | 'STRICT' | 'PERMISSIVE';
  /** Route s<i>'s weight for v2 (v1 gets the rest of 100). */
  v2Weight: number[];
  /** Listener port of s<i>-v1. */
  v1Port: number[];
  /** Listener port of router s<i>: the port its callers address s<i> on (so their egress listener captures it). */
  routerPort: number[];
  /** Last octet of s<i>-v2's one Cloud Map instance. */
  instanceHost: number[];
  extra: ExtraStage;
  /** The service gw's gateway route sends to. */
  gatewayTarget: string;
  /** s<i>-v1 originates TLS to its backends (so callers of one service differ in client policy). */
  clientTls: boolean[];
  /** s<i>-v2 calls only its last backend (so callers of one service differ in their backends). */
  fewerBackends: boolean[];
}

const initialState = (): MeshState => ({
  egress: 'DROP_ALL',
  mtls: 'DISABLED',
  v2Weight: Array(SERVICES).fill(10),
  v1Port: Array(SERVICES).fill(8080),
  routerPort: Array(SERVICES).fill(8080),
  instanceHost: Array(SERVICES).fill(2),
  extra: 'no provider',
  gatewayTarget: 's3',
  clientTls: Array(SERVICES).fill(false),
  fewerBackends: Array(SERVICES).fill(false),
});

const GATEWAY_ID = 'mesh/apps/virtualGateway/gw';
const gatewayYaml = (s: MeshState) =>
  `kind: VirtualGateway\nmesh: apps\nname: gw\nspec: { listeners: [{ portMapping: { port: 8000, protocol: http } }] }\n---\n` +
  `kind: GatewayRoute\nmesh: apps\nvirtualGateway: gw\nname: in\nspec:\n  httpRoute:\n    match: { prefix: /in }\n    action: { target: { virtualService: { virtualServiceName: ${s.gatewayTarget}.apps.local } } }\n`;

const meshYaml = (s: MeshState) =>
  `kind: Mesh\nname: apps\nspec: { egressFilter: { type: ${s.egress} }${s.mtls === 'DISABLED' ? '' : `, meshd: { mtls: ${s.mtls} }`} }\n`;

const CLIENT_TLS =
  '  backendDefaults: { clientPolicy: { tls: { validation: { trust: { file: { certificateChain: /certs/ca.pem } } } } } }\n';

function serviceYaml(i: number, s: MeshState): string {
  const backendsOf = (names: readonly string[]) =>
    names.map((b) => `    - virtualService: { virtualServiceName: ${b}.apps.local }\n`).join('');
  const node = (version: string, port: number, discovery: string) =>
    `kind: VirtualNode\nmesh: apps\nname: s${i}-${version}\nspec:\n  listeners: [{ portMapping: { port: ${port}, protocol: http } }]\n  serviceDiscovery: ${discovery}\n` +
    (version === 'v1' && s.clientTls[i] ? CLIENT_TLS : '') +
    `  backends:\n${backendsOf(version === 'v2' && s.fewerBackends[i] ? CALLS[i]!.slice(-1) : CALLS[i]!)}`;
  return [
    node('v1', s.v1Port[i]!, `{ dns: { hostname: s${i}-v1.apps.local } }`),
    node('v2', 8080, `{ awsCloudMap: { namespaceName: apps.local, serviceName: s${i}-v2 } }`),
    `kind: VirtualRouter\nmesh: apps\nname: s${i}\nspec: { listeners: [{ portMapping: { port: ${s.routerPort[i]!}, protocol: http } }] }\n`,
    `kind: VirtualService\nmesh: apps\nname: s${i}.apps.local\nspec: { provider: { virtualRouter: { virtualRouterName: s${i} } } }\n`,
  ].join('---\n');
}

const routeYaml = (i: number, s: MeshState) =>
  `kind: Route\nmesh: apps\nvirtualRouter: s${i}\nname: s${i}\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action: { weightedTargets: [{ virtualNode: s${i}-v1, weight: ${100 - s.v2Weight[i]!} }, { virtualNode: s${i}-v2, weight: ${s.v2Weight[i]!} }] }\n`;

const seedsYaml = (s: MeshState) =>
  s.instanceHost
    .map(
      (host, i) =>
        `kind: CloudMapService\nnamespace: apps.local\nname: s${i}-v2\ninstances:\n  - id: s${i}-v2-a\n    attributes: { AWS_INSTANCE_IPV4: 10.0.${i}.${host}, AWS_INSTANCE_PORT: 8080 }\n`,
    )
    .join('---\n');

function extraYaml(s: MeshState): string {
  const provider =
    s.extra === 'no provider' ? '' : 'spec: { provider: { virtualRouter: { virtualRouterName: extra } } }\n';
  return `kind: VirtualRouter\nmesh: apps\nname: extra\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n---\nkind: VirtualService\nmesh: apps\nname: extra.apps.local\n${provider}`;
}
const EXTRA_ROUTE =
  'kind: Route\nmesh: apps\nvirtualRouter: extra\nname: extra\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action: { weightedTargets: [{ virtualNode: s0-v1, weight: 1 }] }\n';

/** Every file of the mesh in state `s` (undefined: the file must not exist). */
function meshFiles(s: MeshState): Record<string, string | undefined> {
  const files: Record<string, string | undefined> = {
    'mesh.yaml': meshYaml(s),
    'seeds.yaml': seedsYaml(s),
    'extra.yaml': extraYaml(s),
    'gateway.yaml': gatewayYaml(s),
  };
  for (let i = 0; i < SERVICES; i++) {
    files[`s${i}.yaml`] = serviceYaml(i, s);
    files[`s${i}-route.yaml`] = routeYaml(i, s);
  }
  files['extra-route.yaml'] = s.extra === 'router and route' ? EXTRA_ROUTE : undefined;
  return files;
}

/** A proxy's node as an Envoy sidecar with the default ports sends it. */
const envoyNode = (id: string): Node__Output => ({
  id,
  cluster: '',
  metadata: { fields: {} },
  locality: null,
  user_agent_name: 'envoy',
  extensions: [],
  client_features: [],
  listening_addresses: [],
  dynamic_parameters: {},
});

/** What a snapshot serves, exactly: each type's resources by name, each with its version (a hash of its bytes). */
function wire(snapshot: Snapshot): string {
  const types = [...snapshot.types].map(([type, set]) => [
    type,
    [...set.resources.values()].map((r) => `${r.name} ${r.version}`),
  ]);
  return JSON.stringify(types.sort());
}

const servers: MeshServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

/**
 * `meshd serve` itself (src/control/mesh-server.ts), in-process and without its servers: the mesh
 * files in a temp folder, reloaded by MeshServer.reload as its watcher would, and every node's
 * proxy connected to its snapshot cache.
 */
class ServedMesh {
  readonly state = initialState();
  private readonly keys = new Map<string, string>();
  private pushes: string[] = [];
  private compiles: string[] = [];
  model!: MeshModel;

  /** The mesh folder, and the server's error lines (the node ids it cannot serve). */
  private constructor(
    readonly server: MeshServer,
    readonly dir: string,
    readonly errors: string[],
  ) {
    this.writeFiles();
    this.reload();
    for (const id of [...NODE_IDS, GATEWAY_ID]) this.connect(id);
  }

  static async create(): Promise<ServedMesh> {
    const dir = meshFolder({});
    const errors: string[] = [];
    const server = await MeshServer.open({
      paths: [dir],
      log: {
        debug: () => {},
        info: () => {},
        warn: () => {},
        error: (...args: unknown[]) => void errors.push(String(args[args.length - 1])),
      },
      cloudMap: { statePath: path.join(tmpDir('incremental-cloud-map-'), 'cloud-map.json') },
      rollouts: { statePath: path.join(tmpDir('incremental-rollouts-'), 'rollouts.json') },
    });
    servers.push(server);
    return new ServedMesh(server, dir, errors);
  }

  get registry(): CloudMapRegistry {
    return this.server.cloudMap.registry;
  }

  get controller(): MeshController {
    return this.server.controller;
  }

  private get cache(): SnapshotCache {
    return this.server.snapshots;
  }

  /** Connects the proxy of a node id (as its first xDS request does) and counts what it is pushed from then on. */
  connect(id: string): void {
    this.countingCompiles(() => {
      const key = this.controller.nodeKey(envoyNode(id));
      this.keys.set(id, key);
      this.cache.watch(key, () => this.pushes.push(id));
    });
  }

  /**
   * Runs `work`, noting the node id of every compile the controller makes meanwhile (the
   * controller calls the module's export, so a spy sees it). `meshd serve` compiles a time slice
   * at a time; the proxies still waiting are compiled before looking.
   */
  private countingCompiles(work: () => void): void {
    const spy = jest.spyOn(compiler, 'compileProxy');
    try {
      work();
      this.controller.compileAll();
      this.compiles.push(...spy.mock.calls.map((call) => call[2]));
    } finally {
      spy.mockRestore();
    }
  }

  /** Writes the files whose text differs from the state's (all of them with `all`). */
  writeFiles(all = false): void {
    for (const [name, text] of Object.entries(meshFiles(this.state))) {
      const file = path.join(this.dir, name);
      const now = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
      if (text === undefined) {
        if (now !== undefined) fs.rmSync(file);
      } else if (all || now !== text) fs.writeFileSync(file, text);
    }
  }

  /** Loads the folder and serves the model with its seeds, as `meshd serve` does on a change. */
  reload(): MeshModel {
    let served = false;
    this.countingCompiles(() => (served = this.server.reload()));
    if (!served) throw new Error(`the mesh was not served:\n${this.errors.join('\n')}`);
    this.model = this.server.currentModel()!;
    return this.model;
  }

  /** Applies an edit to the state, writes the files it changed and reloads. */
  edit(change: (s: MeshState) => void): void {
    change(this.state);
    this.writeFiles();
    this.reload();
  }

  /** The node ids whose proxy was pushed a new snapshot since the last call, once per push. */
  takePushes(): string[] {
    const out = [...this.pushes].sort();
    this.pushes = [];
    return out;
  }

  /** The node ids the controller compiled since the last call. */
  takeCompiles(): string[] {
    const out = [...this.compiles].sort();
    this.compiles = [];
    return out;
  }

  servedTo(id: string): Snapshot {
    const snapshot = this.servedOrNot(id);
    if (!snapshot) throw new Error(`${id} is served nothing`);
    return snapshot;
  }

  servedOrNot(id: string): Snapshot | undefined {
    return this.cache.get(this.keys.get(id)!);
  }

  /** The names of the resources of one section the proxy is served. */
  servedNames(id: string, section: 'clusters' | 'listeners' | 'routes'): string[] {
    return renderSnapshot(this.servedTo(id))[section]!.map((r) => (r as { name: string }).name);
  }

  /** The endpoints (ClusterLoadAssignment) of one cluster the proxy is served, as JSON. */
  servedEndpoints(id: string, cluster: string): string {
    return JSON.stringify(
      renderSnapshot(this.servedTo(id)).endpoints!.find(
        (e) => (e as { cluster_name: string }).cluster_name === cluster,
      ),
    );
  }

  /** What a compile from scratch of the current model and registry gives the proxy. */
  freshFor(id: string): Snapshot {
    const result = compiler.compileProxy(this.model, this.registry, id, proxySettingsOf(envoyNode(id)));
    if (!result.ok) throw new Error(result.error);
    return new ResourceEncoder().snapshot(result.config);
  }

  /**
   * Every proxy is served exactly what a full compile gives, and no compile failed; returns what each is served (wire).
   */
  expectNoStaleProxy(ids = NODE_IDS): Map<string, string> {
    expect(this.errors).toEqual([]);
    const out = new Map<string, string>();
    for (const id of ids) {
      const [served, fresh] = [this.servedTo(id), this.freshFor(id)];
      // The readable difference first, if any; then the exact one (the same bytes).
      if (wire(served) !== wire(fresh))
        expect({ id, ...renderSnapshot(served) }).toEqual({ id, ...renderSnapshot(fresh) });
      expect({ id, served: wire(served) }).toEqual({ id, served: wire(fresh) });
      out.set(id, wire(fresh));
    }
    return out;
  }
}

describe('MeshController: a reload recompiles and pushes only what it reaches', () => {
  it('serves every proxy on the first load', async () => {
    const mesh = await ServedMesh.create();
    expect(mesh.takeCompiles()).toEqual(ALL_IDS());
    mesh.expectNoStaleProxy(ALL_IDS());
    // The EDS cluster of s2-v2 for its callers holds the declared instance.
    expect(mesh.servedEndpoints('mesh/apps/virtualNode/s1-v1', 'cds_egress_apps_s2-v2_http_8080')).toContain(
      '"10.0.2.2"',
    );
  });

  it('a reload with no change (a file rewritten with the same text) compiles and pushes nothing', async () => {
    const mesh = await ServedMesh.create();
    mesh.takePushes();
    mesh.takeCompiles();
    mesh.writeFiles(true);
    mesh.reload();
    expect(mesh.takeCompiles()).toEqual([]);
    expect(mesh.takePushes()).toEqual([]);
    mesh.expectNoStaleProxy();
  });

  it("a route's new weights reach exactly the callers of its service", async () => {
    const mesh = await ServedMesh.create();
    mesh.takePushes();
    mesh.takeCompiles();

    mesh.edit((s) => (s.v2Weight[2] = 60));
    expect(mesh.takeCompiles()).toEqual(idsOf(0, 1));
    expect(mesh.takePushes()).toEqual(idsOf(0, 1));
    mesh.expectNoStaleProxy();

    // s3's callers, and the gateway whose gateway route targets s3.
    mesh.edit((s) => (s.v2Weight[3] = 0));
    expect(mesh.takeCompiles()).toEqual([...idsOf(2), GATEWAY_ID].sort());
    expect(mesh.takePushes()).toEqual([...idsOf(2), GATEWAY_ID].sort());
    mesh.expectNoStaleProxy(ALL_IDS());

    // Nobody calls s0: its route changes nothing any proxy is served.
    mesh.edit((s) => (s.v2Weight[0] = 70));
    expect(mesh.takeCompiles()).toEqual([]);
    expect(mesh.takePushes()).toEqual([]);
    mesh.expectNoStaleProxy();
  });

  it("a gateway route's new target reaches the gateway alone; from then on that target's route reaches the gateway, and the old one's no longer does", async () => {
    const mesh = await ServedMesh.create();
    mesh.takePushes();
    mesh.takeCompiles();

    mesh.edit((s) => (s.gatewayTarget = 's0'));
    expect(mesh.takeCompiles()).toEqual([GATEWAY_ID]);
    expect(mesh.takePushes()).toEqual([GATEWAY_ID]);
    mesh.expectNoStaleProxy(ALL_IDS());
    expect(mesh.servedNames(GATEWAY_ID, 'clusters')).toContain('cds_egress_apps_s0-v1_http_8080');

    // No sidecar calls s0: only the gateway runs its route.
    mesh.edit((s) => (s.v2Weight[0] = 70));
    expect(mesh.takePushes()).toEqual([GATEWAY_ID]);
    mesh.edit((s) => (s.v2Weight[3] = 0));
    expect(mesh.takePushes()).toEqual(idsOf(2));
    mesh.expectNoStaleProxy(ALL_IDS());
  });

  it('a new egress filter reaches every proxy, and setting it back reaches every proxy again', async () => {
    const mesh = await ServedMesh.create();
    mesh.takePushes();
    mesh.edit((s) => (s.egress = 'ALLOW_ALL'));
    expect(mesh.takePushes()).toEqual([...NODE_IDS].sort());
    mesh.expectNoStaleProxy();
    expect(mesh.servedNames('mesh/apps/virtualNode/s3-v2', 'clusters')).toContain('cds_egress_apps_mesh-allow-all');
    mesh.edit((s) => (s.egress = 'DROP_ALL'));
    expect(mesh.takePushes()).toEqual([...NODE_IDS].sort());
    mesh.expectNoStaleProxy();
  });

  it('a new mesh-wide mTLS mode reaches every proxy (the gateway too: its clusters originate mTLS), and turning it off reaches every proxy again', async () => {
    const mesh = await ServedMesh.create();
    mesh.takePushes();
    const managed = (id: string) =>
      JSON.stringify(renderSnapshot(mesh.servedTo(id)).clusters).includes('"meshd/identity"');
    mesh.edit((s) => (s.mtls = 'STRICT'));
    expect(mesh.takePushes()).toEqual(ALL_IDS());
    mesh.expectNoStaleProxy(ALL_IDS());
    expect(managed('mesh/apps/virtualNode/s1-v2')).toBe(true);
    expect(managed(GATEWAY_ID)).toBe(true);
    // STRICT to PERMISSIVE changes only the listeners of the nodes that have any: not a caller's clusters.
    mesh.edit((s) => (s.mtls = 'PERMISSIVE'));
    mesh.expectNoStaleProxy(ALL_IDS());
    expect(mesh.takePushes()).not.toContain(GATEWAY_ID);
    mesh.edit((s) => (s.mtls = 'DISABLED'));
    expect(mesh.takePushes()).toEqual(ALL_IDS());
    mesh.expectNoStaleProxy(ALL_IDS());
    expect(managed('mesh/apps/virtualNode/s1-v2')).toBe(false);
    expect(managed(GATEWAY_ID)).toBe(false);
  });

  it("a node's new listener port reaches the node itself and its service's callers (their cluster names its port)", async () => {
    const mesh = await ServedMesh.create();
    mesh.takePushes();
    mesh.edit((s) => (s.v1Port[2] = 9090));
    expect(mesh.takePushes()).toEqual(['mesh/apps/virtualNode/s2-v1', ...idsOf(0, 1)].sort());
    mesh.expectNoStaleProxy();
    const clusters = mesh.servedNames('mesh/apps/virtualNode/s1-v2', 'clusters');
    expect(clusters).toContain('cds_egress_apps_s2-v1_http_9090');
    expect(clusters).not.toContain('cds_egress_apps_s2-v1_http_8080');
  });

  it("a provider given to a backend service that had none, then a route for it, reach that service's callers", async () => {
    const mesh = await ServedMesh.create();
    mesh.takePushes();
    mesh.takeCompiles();

    // A router with no route yet: s3's proxies get a virtual host for the service (with no route in it).
    mesh.edit((s) => (s.extra = 'router, no route'));
    expect(mesh.takeCompiles()).toEqual(idsOf(3));
    expect(mesh.takePushes()).toEqual(idsOf(3));
    mesh.expectNoStaleProxy();
    expect(JSON.stringify(renderSnapshot(mesh.servedTo('mesh/apps/virtualNode/s3-v2')).routes)).toContain(
      '"domains":["extra.apps.local","extra.apps.local:8080"]',
    );

    // Its first route (a new file) brings s0-v1's cluster to s3's proxies.
    mesh.edit((s) => (s.extra = 'router and route'));
    expect(mesh.takeCompiles()).toEqual(idsOf(3));
    expect(mesh.takePushes()).toEqual(idsOf(3));
    mesh.expectNoStaleProxy();
    expect(mesh.servedNames('mesh/apps/virtualNode/s3-v1', 'clusters')).toContain('cds_egress_apps_s0-v1_http_8080');

    // The route's file removed: gone again from those proxies only.
    mesh.edit((s) => (s.extra = 'router, no route'));
    expect(mesh.takePushes()).toEqual(idsOf(3));
    mesh.expectNoStaleProxy();
  });

  it("a Cloud Map seed's new instance address reaches the proxies with that service's endpoints, though no resource of the model changed", async () => {
    const mesh = await ServedMesh.create();
    mesh.takePushes();
    mesh.takeCompiles();
    const before = mesh.model;
    mesh.edit((s) => (s.instanceHost[2] = 7));
    expect(before.changedKeys(mesh.model)).toEqual(new Set());
    expect(mesh.takeCompiles()).toEqual(idsOf(0, 1));
    expect(mesh.takePushes()).toEqual(idsOf(0, 1));
    mesh.expectNoStaleProxy();
    expect(mesh.servedEndpoints('mesh/apps/virtualNode/s0-v2', 'cds_egress_apps_s2-v2_http_8080')).toContain(
      '"10.0.2.7"',
    );
  });

  it('a proxy that stops calling a service no longer hears of its Cloud Map instances, and hears of them again once it calls it again', async () => {
    const mesh = await ServedMesh.create();
    const S0_V2 = 'mesh/apps/virtualNode/s0-v2';
    mesh.edit((s) => (s.fewerBackends[0] = true));
    mesh.takePushes();
    mesh.takeCompiles();
    // s1's instances now reach s0-v1 alone (s0-v2 calls only s2).
    mesh.edit((s) => (s.instanceHost[1] = 5));
    expect(mesh.takeCompiles()).toEqual(['mesh/apps/virtualNode/s0-v1']);
    expect(mesh.takePushes()).toEqual(['mesh/apps/virtualNode/s0-v1']);
    mesh.edit((s) => (s.fewerBackends[0] = false));
    expect(mesh.takePushes()).toEqual([S0_V2]);
    mesh.takeCompiles();
    mesh.edit((s) => (s.instanceHost[1] = 6));
    expect(mesh.takeCompiles()).toEqual(idsOf(0));
    expect(mesh.takePushes()).toEqual(idsOf(0));
    mesh.expectNoStaleProxy();
    expect(mesh.servedEndpoints(S0_V2, 'cds_egress_apps_s1-v2_http_8080')).toContain('"10.0.1.6"');
  });

  it('a route and a Cloud Map instance changed in one reload are pushed once, together', async () => {
    const mesh = await ServedMesh.create();
    mesh.takePushes();
    mesh.edit((s) => {
      s.v2Weight[2] = 35;
      s.instanceHost[2] = 9;
    });
    expect(mesh.takePushes()).toEqual(idsOf(0, 1));
    mesh.expectNoStaleProxy();
  });

  it('a proxy that connected before its node was defined is served once the node is added, and keeps its last configuration once it is removed', async () => {
    const mesh = await ServedMesh.create();
    const late = 'mesh/apps/virtualNode/late';
    mesh.connect(late);
    expect(mesh.servedOrNot(late)).toBeUndefined();
    expect(mesh.errors).toEqual([
      "node id 'mesh/apps/virtualNode/late' names virtual node 'late', which is not defined in mesh 'apps'; it gets no configuration until the mesh defines it",
    ]);
    mesh.errors.length = 0;
    mesh.takePushes();

    const lateYaml = `kind: VirtualNode\nmesh: apps\nname: late\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: late.apps.local } }\n  backends: [{ virtualService: { virtualServiceName: s1.apps.local } }]\n`;
    fs.writeFileSync(path.join(mesh.dir, 'late.yaml'), lateYaml);
    mesh.reload();
    expect(mesh.takePushes()).toEqual([late]);
    mesh.expectNoStaleProxy([...NODE_IDS, late]);
    const lastGood = wire(mesh.servedTo(late));

    fs.rmSync(path.join(mesh.dir, 'late.yaml'));
    mesh.reload();
    expect(mesh.errors).toEqual([
      "node id 'mesh/apps/virtualNode/late' names virtual node 'late', which is not defined in mesh 'apps'; it keeps its last good configuration",
    ]);
    expect(wire(mesh.servedTo(late))).toBe(lastGood);
    // A later reload that reaches it again does not log it again.
    mesh.edit((s) => (s.egress = 'ALLOW_ALL'));
    expect(mesh.errors).toHaveLength(1);
    expect(mesh.takePushes()).toEqual([...NODE_IDS].sort());
    mesh.errors.length = 0;
    mesh.expectNoStaleProxy();
  });

  it('after any sequence of edits, every proxy is served exactly what a full compile of the current mesh gives, and only changed proxies are pushed', async () => {
    type Edit =
      | { kind: 'weights'; service: number; v2: number }
      | { kind: 'egress' }
      | { kind: 'mtls'; mode: MeshState['mtls'] }
      | { kind: 'port'; service: number; port: number }
      | { kind: 'router port'; service: number; port: number }
      | { kind: 'instance'; service: number; host: number }
      | { kind: 'extra'; stage: ExtraStage }
      | { kind: 'gateway'; service: number }
      | { kind: 'client tls'; service: number }
      | { kind: 'fewer backends'; service: number }
      | { kind: 'rewrite all' };
    const service = fc.integer({ min: 0, max: SERVICES - 1 });
    const edit: fc.Arbitrary<Edit> = fc.oneof(
      fc.record({ kind: fc.constant('weights' as const), service, v2: fc.integer({ min: 0, max: 100 }) }),
      fc.constant({ kind: 'egress' as const }),
      fc.record({
        kind: fc.constant('mtls' as const),
        mode: fc.constantFrom<MeshState['mtls']>('DISABLED', 'STRICT', 'PERMISSIVE'),
      }),
      fc.record({ kind: fc.constant('port' as const), service, port: fc.constantFrom(8080, 8081, 9090) }),
      fc.record({ kind: fc.constant('router port' as const), service, port: fc.constantFrom(8080, 8082) }),
      fc.record({ kind: fc.constant('instance' as const), service, host: fc.integer({ min: 2, max: 4 }) }),
      fc.record({
        kind: fc.constant('extra' as const),
        stage: fc.constantFrom<ExtraStage>('no provider', 'router, no route', 'router and route'),
      }),
      fc.record({ kind: fc.constant('gateway' as const), service }),
      fc.record({ kind: fc.constant('client tls' as const), service }),
      fc.record({ kind: fc.constant('fewer backends' as const), service }),
      fc.constant({ kind: 'rewrite all' as const }),
    );
    const apply = (s: MeshState, e: Edit) => {
      if (e.kind === 'weights') s.v2Weight[e.service] = e.v2;
      else if (e.kind === 'egress') s.egress = s.egress === 'DROP_ALL' ? 'ALLOW_ALL' : 'DROP_ALL';
      else if (e.kind === 'mtls') s.mtls = e.mode;
      else if (e.kind === 'port') s.v1Port[e.service] = e.port;
      else if (e.kind === 'router port') s.routerPort[e.service] = e.port;
      else if (e.kind === 'instance') s.instanceHost[e.service] = e.host;
      else if (e.kind === 'extra') s.extra = e.stage;
      else if (e.kind === 'gateway') s.gatewayTarget = `s${e.service}`;
      else if (e.kind === 'client tls') s.clientTls[e.service] = !s.clientTls[e.service];
      else if (e.kind === 'fewer backends') s.fewerBackends[e.service] = !s.fewerBackends[e.service];
    };

    await fc.assert(
      // Each reload applies one to three edits at once, as one debounced reload of several saves would.
      fc.asyncProperty(
        fc.array(fc.array(edit, { minLength: 1, maxLength: 3 }), { minLength: 30, maxLength: 30 }),
        async (reloads) => {
          const mesh = await ServedMesh.create();
          let previous = mesh.expectNoStaleProxy(ALL_IDS());
          mesh.takePushes();
          for (const edits of reloads) {
            for (const e of edits) apply(mesh.state, e);
            mesh.writeFiles(edits.some((e) => e.kind === 'rewrite all'));
            mesh.reload();
            const now = mesh.expectNoStaleProxy(ALL_IDS());
            const changed = ALL_IDS().filter((id) => now.get(id) !== previous.get(id));
            expect(mesh.takePushes()).toEqual(changed);
            previous = now;
          }
        },
      ),
      { numRuns: 5 },
    );
  });
});
