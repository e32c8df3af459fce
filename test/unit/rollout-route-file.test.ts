// editWeights (src/rollout/route-file.ts) rewrites a route's weights in the user's own mesh file.
// Each case is a mesh written as a template with {{w0}} and {{w1}} where the two weights go: the
// file is loaded with the real loader, the weights' places come from result.whereWritten, and the
// file after the edit must be the same template with the new weights, byte for byte (comments,
// spacing, quoting, key order and the other documents untouched).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadMesh } from '../../src/load/mesh-source';
import { routeKindOf } from '../../src/model/route';
import { editWeights, type IdentityCheck, type WeightEdit } from '../../src/rollout/route-file';
import { tmpDir } from '../helpers/processes';

interface Case {
  readonly title: string;
  readonly file: string;
  /** The mesh, with {{w0}} and {{w1}} where the route's two weights are written. */
  readonly template: string;
  readonly mesh: string;
  readonly router: string;
  readonly route: string;
}

const fill = (template: string, [w0, w1]: readonly [number, number]) =>
  template.replace('{{w0}}', String(w0)).replace('{{w1}}', String(w1));

const NATIVE = `# The shop mesh, written by hand.
kind: Mesh
name: shop
---
# a document holding nothing but this comment
---
kind: VirtualNode   # the primary
mesh: shop
name: web-v1
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
  serviceDiscovery: { dns: { hostname: web-v1.local } }
---

kind: VirtualNode
mesh: shop
name: web-v2
spec:
  # block style here
  listeners:
    - portMapping:
        port: 8080
        protocol: http
  serviceDiscovery:
    dns:
      hostname: "web-v2.local"
---
---
kind: VirtualRouter
mesh: shop
name: web
spec: { listeners: [ { portMapping: { port: 8080, protocol: http } } ] }
---
kind: VirtualService
mesh: shop
name: web.shop.local
spec: { provider: { virtualRouter: { virtualRouterName: web } } }
---
kind: Route
virtualRouter: web
name: api      # a flow-style neighbour that must not change
mesh: shop
spec: { priority: 1, httpRoute: { match: { prefix: /api }, action: { weightedTargets: [ { virtualNode: web-v1, weight: 10 }, {virtualNode: web-v2, weight: 90} ] } } }
---
# the route the rollout moves
kind: Route
mesh: shop
virtualRouter: web
name: split
spec:
  priority: 2
  httpRoute:
    match: { prefix: / }   # everything else
    action:
      weightedTargets:
        - virtualNode: web-v1
          weight:   {{w0}}    # primary
        - { weight: {{w1}}, virtualNode: web-v2 }   # canary, weight first
...
`;

const AWS_CLI = `{
  "meshName": "shop",
  "virtualRouterName": "web",
  "routeName": "split",
  "spec": {
    "priority": 2,
    "httpRoute": {
      "match": { "prefix": "/" },
      "action": {
        "weightedTargets": [
          { "virtualNode": "web-v1",   "weight": {{w0}} },
          {
            "weight":{{w1}},
            "virtualNode": "web-v2"
          }
        ]
      }
    }
  }
}
`;

const AWS_CLI_REST = {
  'mesh.json': '{ "meshName": "shop", "spec": {} }\n',
  'node-v1.json':
    '{"meshName":"shop","virtualNodeName":"web-v1","spec":{"listeners":[{"portMapping":{"port":8080,"protocol":"http"}}],"serviceDiscovery":{"dns":{"hostname":"web-v1.local"}}}}\n',
  'node-v2.json':
    '{"meshName":"shop","virtualNodeName":"web-v2","spec":{"listeners":[{"portMapping":{"port":8080,"protocol":"http"}}],"serviceDiscovery":{"dns":{"hostname":"web-v2.local"}}}}\n',
  'router.json':
    '{"meshName":"shop","virtualRouterName":"web","spec":{"listeners":[{"portMapping":{"port":8080,"protocol":"http"}}]}}\n',
};

const K8S_NODE = (name: string) => `apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata:
  name: ${name}
  namespace: shop
spec:
  podSelector: { matchLabels: { app: web, version: ${name} } }
  listeners:
    - portMapping: { port: 8080, protocol: http }
  serviceDiscovery: { dns: { hostname: ${name}.shop.svc.cluster.local } }
`;

const K8S = `apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: { name: shop }   # the only mesh
spec:
  namespaceSelector: { matchLabels: { mesh: shop } }
---
${K8S_NODE('web-v1')}---
${K8S_NODE('web-v2')}---
apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata:
  name: web
  namespace: shop
spec:
  listeners:
    - portMapping: { port: 8080, protocol: http }
  routes:
    - name: api
      priority: 1
      httpRoute:
        match: { prefix: /api }
        action:
          weightedTargets: [{ virtualNodeRef: { name: web-v1 }, weight: 100 }]
    - name: split
      priority: 2
      httpRoute:
        match:
          prefix: /
        action:
          weightedTargets:
            # the primary, then the canary
            - virtualNodeRef: { name: web-v1 }
              weight: {{w0}}
            - virtualNodeARN: arn:aws:appmesh:eu-west-1:111122223333:mesh/shop/virtualNode/web-v2_shop
              weight: {{w1}}   # canary
`;

const K8S_LIST = `# kubectl get -o yaml prints a List
apiVersion: v1
kind: List
metadata: { resourceVersion: "" }
items:
  - apiVersion: appmesh.k8s.aws/v1beta2
    kind: Mesh
    metadata: { name: shop }
    spec: { namespaceSelector: { matchLabels: { mesh: shop } } }
  - apiVersion: appmesh.k8s.aws/v1beta2
    kind: VirtualNode
    metadata: { name: web-v1, namespace: shop }
    spec:
      listeners: [{ portMapping: { port: 8080, protocol: http } }]
      serviceDiscovery: { dns: { hostname: web-v1.shop.svc.cluster.local } }
  - apiVersion: appmesh.k8s.aws/v1beta2
    kind: VirtualNode
    metadata: { name: web-v2, namespace: shop }
    spec:
      listeners: [{ portMapping: { port: 8080, protocol: http } }]
      serviceDiscovery: { dns: { hostname: web-v2.shop.svc.cluster.local } }
  - apiVersion: appmesh.k8s.aws/v1beta2
    kind: VirtualRouter
    metadata: { name: web, namespace: shop }
    spec:
      listeners: [{ portMapping: { port: 8080, protocol: http } }]
      routes:
        - name: split
          httpRoute: { match: { prefix: / }, action: { weightedTargets: [{ virtualNodeRef: { name: web-v1 }, weight: {{w0}} }, { virtualNodeRef: { name: web-v2 }, weight: {{w1}} }] } }
`;

const CASES: readonly Case[] = [
  {
    title: 'native YAML (comments, block and flow styles, empty documents)',
    file: 'shop.yaml',
    template: NATIVE,
    mesh: 'shop',
    router: 'web',
    route: 'split',
  },
  { title: 'App Mesh CLI JSON', file: 'route.json', template: AWS_CLI, mesh: 'shop', router: 'web', route: 'split' },
  {
    title: 'a Kubernetes VirtualRouter with inline routes',
    file: 'shop.yaml',
    template: K8S,
    mesh: 'shop',
    router: 'web_shop',
    route: 'split',
  },
  {
    title: 'a Kubernetes List',
    file: 'list.yaml',
    template: K8S_LIST,
    mesh: 'shop',
    router: 'web_shop',
    route: 'split',
  },
];

/** Writes the case into a fresh folder (with the other CLI JSON files for the JSON case); returns the route's file. */
function writeCase(c: Case, weights: readonly [number, number], mode?: number): { dir: string; file: string } {
  const dir = tmpDir('route-file-');
  if (c.file.endsWith('.json'))
    for (const [name, text] of Object.entries(AWS_CLI_REST)) fs.writeFileSync(path.join(dir, name), text);
  const file = path.join(dir, c.file);
  fs.writeFileSync(file, fill(c.template, weights));
  if (mode !== undefined) fs.chmodSync(file, mode);
  return { dir, file };
}

/** Loads the folder and returns the route's weights and an edit per weight to `values`. */
function load(
  c: Case,
  dir: string,
  values?: readonly [number, number],
): { weights: number[]; edits: WeightEdit[]; identity: IdentityCheck[] } {
  const result = loadMesh([dir]);
  if (!result.ok) throw new Error(`the mesh does not load: ${result.problems.map((p) => p.message).join('; ')}`);
  const route = result.model.routesOf(c.mesh, c.router).find((r) => r.name === c.route);
  if (!route) throw new Error(`no Route/${c.router}/${c.route}`);
  const { kind, action } = routeKindOf(route.spec);
  expect(kind).toBe('httpRoute');
  const weights = action.weightedTargets.map((t) => t.weight);
  const edits = weights.map((weight, i) => {
    const at = result.whereWritten(route, ['spec', 'httpRoute', 'action', 'weightedTargets', i, 'weight']);
    if (!at) throw new Error(`whereWritten knows no place for weight ${i}`);
    return { at, expected: weight, value: values?.[i] ?? weight };
  });
  // What the rollout controller checks too: the document still holds this route's name.
  const nameAt = result.whereWritten(route, ['name']);
  if (!nameAt) throw new Error('whereWritten knows no place for the name');
  return { weights, edits, identity: [{ at: nameAt, value: route.name }] };
}

const filesIn = (dir: string) => fs.readdirSync(dir).sort();

describe.each(CASES)('editWeights in $title', (c) => {
  it('changes only the digits of the two weights, and the reloaded mesh serves the new ones', () => {
    const { dir, file } = writeCase(c, [90, 10]);
    const before = filesIn(dir);
    const { weights, edits } = load(c, dir, [30, 70]);
    expect(weights).toEqual([90, 10]);
    expect(edits.every((e) => e.at.file === file)).toBe(true);

    expect(editWeights(edits)).toEqual({ ok: true });
    expect(fs.readFileSync(file, 'utf8')).toBe(fill(c.template, [30, 70]));
    expect(load(c, dir).weights).toEqual([30, 70]);
    expect(filesIn(dir)).toEqual(before); // no temp file left behind
  });

  it('changes the number of digits (100 / 0 and back) without touching what follows', () => {
    const { dir, file } = writeCase(c, [90, 10]);
    expect(editWeights(load(c, dir, [0, 100]).edits)).toEqual({ ok: true });
    expect(fs.readFileSync(file, 'utf8')).toBe(fill(c.template, [0, 100]));
    expect(editWeights(load(c, dir, [100, 0]).edits)).toEqual({ ok: true });
    expect(fs.readFileSync(file, 'utf8')).toBe(fill(c.template, [100, 0]));
    expect(load(c, dir).weights).toEqual([100, 0]);
  });

  it('refuses a stale edit (the file was edited by hand since it was loaded) and leaves the file as the user left it', () => {
    const { dir, file } = writeCase(c, [90, 10]);
    const before = filesIn(dir);
    const { edits } = load(c, dir, [80, 20]);
    const byHand = fill(c.template, [50, 50]);
    fs.writeFileSync(file, byHand);

    const result = editWeights(edits);
    expect(result).toMatchObject({ ok: false, conflict: true });
    expect(!result.ok && result.error).toContain(file);
    expect(fs.readFileSync(file, 'utf8')).toBe(byHand);
    expect(filesIn(dir)).toEqual(before);
  });

  it('applies all the edits or none: one stale weight leaves the other unchanged too', () => {
    const { dir, file } = writeCase(c, [90, 10]);
    const { edits } = load(c, dir, [80, 20]);
    const byHand = fill(c.template, [90, 5]); // the first weight still matches, the second does not
    fs.writeFileSync(file, byHand);
    expect(editWeights(edits)).toMatchObject({ ok: false, conflict: true });
    expect(fs.readFileSync(file, 'utf8')).toBe(byHand);
  });

  it('keeps the file mode', () => {
    const { dir, file } = writeCase(c, [90, 10], 0o640);
    expect(editWeights(load(c, dir, [70, 30]).edits)).toEqual({ ok: true });
    expect(fs.readFileSync(file, 'utf8')).toBe(fill(c.template, [70, 30]));
    expect((fs.statSync(file).mode & 0o7777).toString(8)).toBe('640');
  });
});

describe('editWeights', () => {
  const native = CASES[0]!;

  // 664 and 666 have bits that the usual umask (022) takes away from a newly created file.
  it.each(['600', '664', '666'])('keeps the file mode %s whatever the umask', (octal) => {
    const { dir, file } = writeCase(native, [90, 10], parseInt(octal, 8));
    expect(editWeights(load(native, dir, [70, 30]).edits)).toEqual({ ok: true });
    expect(fs.readFileSync(file, 'utf8')).toBe(fill(native.template, [70, 30]));
    expect((fs.statSync(file).mode & 0o7777).toString(8)).toBe(octal);
  });

  it('keeps CRLF line endings', () => {
    const crlf = { ...native, template: native.template.replace(/\n/g, '\r\n') };
    const { dir, file } = writeCase(crlf, [90, 10]);
    expect(editWeights(load(crlf, dir, [60, 40]).edits)).toEqual({ ok: true });
    expect(fs.readFileSync(file, 'utf8')).toBe(fill(crlf.template, [60, 40]));
  });

  it('refuses the edit when a document was added above the route since it was loaded', () => {
    const { dir, file } = writeCase(native, [90, 10]);
    const { edits } = load(native, dir, [80, 20]);
    fs.writeFileSync(
      file,
      `kind: VirtualService\nmesh: shop\nname: extra.shop.local\n---\n${fill(native.template, [90, 10])}`,
    );
    // The edit points at the old document number, now Route/web/api (whose weights differ): it must not land there.
    const result = editWeights(edits);
    expect(result.ok).toBe(false);
    expect(fs.readFileSync(file, 'utf8')).toBe(
      `kind: VirtualService\nmesh: shop\nname: extra.shop.local\n---\n${fill(native.template, [90, 10])}`,
    );
  });

  it('does not edit another route when a document was added above the route by hand and the mesh was not reloaded', () => {
    // Two routes with the same split: the weights alone cannot tell them apart.
    const route = (name: string, prefix: string, w: string) =>
      `kind: Route\nmesh: shop\nvirtualRouter: web\nname: ${name}\nspec: { httpRoute: { match: { prefix: ${prefix} }, action: { weightedTargets: [{ virtualNode: web-v1, weight: ${w} }, { virtualNode: web-v2, weight: 10 }] } } }\n`;
    const head = native.template.slice(0, native.template.indexOf('---\nkind: VirtualRouter'));
    const router =
      'kind: VirtualRouter\nmesh: shop\nname: web\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n';
    const twoRoutes: Case = {
      ...native,
      route: 'split',
      template: `${head}---\n${router}---\n${route('api', '/api', '90')}---\n${route('split', '/', '{{w0}}')}`,
    };
    const { dir, file } = writeCase(twoRoutes, [90, 10]);
    const { edits, identity } = load(twoRoutes, dir, [0, 100]);
    // By hand: a service is added above the routes, so each route is one document further down.
    const service =
      'kind: VirtualService\nmesh: shop\nname: web.shop.local\nspec: { provider: { virtualRouter: { virtualRouterName: web } } }\n';
    const byHand = `${head}---\n${router}---\n${service}---\n${route('api', '/api', '90')}---\n${route('split', '/', '90')}`;
    fs.writeFileSync(file, byHand);
    const result = editWeights(edits, identity);
    expect(fs.readFileSync(file, 'utf8')).toBe(byHand); // Route/web/api keeps 90 / 10
    expect(result).toMatchObject({ ok: false, conflict: true });
  });

  it('reports a file that cannot be read as an error that is not a conflict', () => {
    const { dir, file } = writeCase(native, [90, 10]);
    const { edits } = load(native, dir, [80, 20]);
    fs.rmSync(file);
    const result = editWeights(edits);
    expect(result).toMatchObject({ ok: false, conflict: false });
    expect(!result.ok && result.error).toContain('cannot read');
  });

  it('refuses edits spread over several files, changing neither', () => {
    const a = writeCase(native, [90, 10]);
    const b = writeCase(native, [90, 10]);
    const edits = [load(native, a.dir, [80, 20]).edits[0]!, load(native, b.dir, [80, 20]).edits[1]!];
    expect(editWeights(edits)).toMatchObject({ ok: false, conflict: false });
    expect(fs.readFileSync(a.file, 'utf8')).toBe(fill(native.template, [90, 10]));
    expect(fs.readFileSync(b.file, 'utf8')).toBe(fill(native.template, [90, 10]));
  });

  it('writes through a symlinked mesh file: the link stays a link and its target gets the new weights', () => {
    const real = writeCase(native, [90, 10]);
    const dir = tmpDir('route-file-link-');
    const link = path.join(dir, 'shop.yaml');
    fs.symlinkSync(real.file, link);
    const { edits } = load(native, link, [70, 30]);
    expect(editWeights(edits)).toEqual({ ok: true });
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(real.file, 'utf8')).toBe(fill(native.template, [70, 30]));
  });
});
