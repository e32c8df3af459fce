// Rules that belong to one dialect: what App Mesh's API took (meshd YAML, App Mesh CLI JSON) and
// what only the Kubernetes controller and API server did (its webhook's rules, pruning fields its
// CRDs do not know); and one mesh declared in several files (one per cluster).
import * as path from 'node:path';
import { compileProxy } from '../../src/compile';
import { offlineRegistry } from '../../src/control/offline-registry';
import { loadMesh, type LoadOptions } from '../../src/load/mesh-source';
import { formatProblem } from '../../src/load/problems';
import { meshFolder } from '../helpers/mesh-text';

/** Loads the files; the findings with the folder shortened to `./`, and the model when valid. */
function load(files: Record<string, string>, options: LoadOptions = {}) {
  const dir = meshFolder(files);
  const result = loadMesh([dir], options);
  return { result, lines: result.problems.map((p) => formatProblem(p).replaceAll(dir + path.sep, './')) };
}

const MESH = 'kind: Mesh\nname: apps\n';
/**
 * A node with two listeners, a router with two, the service it provides,
 * and a gateway with two listeners (howto-multiple-listeners).
 */
const TWO_LISTENERS = [
  MESH,
  'kind: VirtualNode\nname: teller\nspec:\n  listeners: [{ portMapping: { port: 5555, protocol: http } }, { portMapping: { port: 6666, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: teller.local } }\n',
  'kind: VirtualRouter\nname: food\nspec: { listeners: [{ portMapping: { port: 3333, protocol: http } }, { portMapping: { port: 4444, protocol: http } }] }\n',
  'kind: VirtualService\nname: food.apps.local\nspec: { provider: { virtualRouter: { virtualRouterName: food } } }\n',
  'kind: VirtualGateway\nname: edge\nspec: { listeners: [{ portMapping: { port: 1111, protocol: http } }, { portMapping: { port: 2222, protocol: http } }] }\n',
].join('---\n');

describe('port-only matches (App Mesh API) in meshd YAML and App Mesh CLI JSON', () => {
  const route = (name: string, port: number, target: number) =>
    `kind: Route\nvirtualRouter: food\nname: ${name}\nspec:\n  httpRoute:\n    match: { port: ${port} }\n    action: { weightedTargets: [{ virtualNode: teller, weight: 1, port: ${target} }] }\n`;

  it('meshd YAML: a route and a gateway route matching only a port load, and compile to prefix / on that port', () => {
    const gatewayRoute =
      'kind: GatewayRoute\nvirtualGateway: edge\nname: color\nspec:\n  httpRoute:\n    match: { port: 2222 }\n    action: { target: { virtualService: { virtualServiceName: food.apps.local }, port: 4444 } }\n';
    const { result, lines } = load({
      'm.yaml': [TWO_LISTENERS, route('fruit', 3333, 5555), route('veg', 4444, 6666), gatewayRoute].join('---\n'),
    });
    expect(lines).toEqual([]);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const registry = offlineRegistry([]);
    if (!registry.ok) throw new Error('no registry');
    const gateway = compileProxy(result.model, registry.registry, 'mesh/apps/virtualGateway/edge', {
      ingressPort: 15000,
      egressPort: 15001,
    });
    if (!gateway.ok) throw new Error(gateway.error);
    const routes = JSON.stringify(gateway.config);
    // The gateway route on 2222 matches every path; the hop's
    // route for food.apps.local:4444 (the router's veg route) too.
    expect(routes).toContain('"name":"color"');
    expect(routes).not.toMatch(/"prefix":"(?!\/")/); // every prefix is exactly "/"
  });

  it('meshd YAML: a match of neither prefix nor path nor port (a method) is prefix /, as App Mesh gave it', () => {
    const methodOnly =
      'kind: Route\nvirtualRouter: r\nname: gets\nspec:\n  httpRoute:\n    match: { method: GET }\n    action: { weightedTargets: [{ virtualNode: n, weight: 1 }] }\n';
    const node =
      'kind: VirtualNode\nname: n\nspec:\n  listeners: [{ portMapping: { port: 80, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: n.local } }\n';
    const router =
      'kind: VirtualRouter\nname: r\nspec: { listeners: [{ portMapping: { port: 80, protocol: http } }] }\n---\nkind: VirtualService\nname: r.apps.local\nspec: { provider: { virtualRouter: { virtualRouterName: r } } }\n';
    const grpcGateway =
      'kind: VirtualGateway\nname: g\nspec: { listeners: [{ portMapping: { port: 9999, protocol: grpc } }] }\n---\nkind: GatewayRoute\nvirtualGateway: g\nname: all\nspec: { grpcRoute: { match: {}, action: { target: { virtualService: { virtualServiceName: g.apps.local } } } } }\n---\n' +
      'kind: VirtualNode\nname: rpc\nspec:\n  listeners: [{ portMapping: { port: 7777, protocol: grpc } }]\n  serviceDiscovery: { dns: { hostname: rpc.local } }\n---\nkind: VirtualService\nname: g.apps.local\nspec: { provider: { virtualNode: { virtualNodeName: rpc } } }\n';
    const { lines } = load({ 'm.yaml': [MESH, node, router, methodOnly, grpcGateway].join('---\n') });
    expect(lines).toEqual([]);
  });

  it("App Mesh CLI JSON: howto-multiple-listeners' route and gateway route files load as written", () => {
    const fruitRoute = {
      meshName: 'apps',
      virtualRouterName: 'food',
      routeName: 'fruit',
      spec: {
        httpRoute: {
          action: { weightedTargets: [{ virtualNode: 'teller', weight: 1, port: 5555 }] },
          match: { port: 3333 },
        },
      },
    };
    const colorGatewayRoute = {
      meshName: 'apps',
      virtualGatewayName: 'edge',
      gatewayRouteName: 'color',
      spec: {
        httpRoute: {
          match: { port: 2222 },
          action: { target: { virtualService: { virtualServiceName: 'food.apps.local' }, port: 4444 } },
        },
      },
    };
    const { result, lines } = load({
      'm.yaml': TWO_LISTENERS,
      'fruit-route.json': JSON.stringify(fruitRoute),
      'color-gateway-route.json': JSON.stringify(colorGatewayRoute),
    });
    expect(lines).toEqual([]);
    expect(result.ok && result.model.routesOf('apps', 'food').map((r) => r.spec.httpRoute?.match)).toEqual([
      { port: 3333 },
    ]);
  });
});

describe('unknown fields of Kubernetes manifests', () => {
  const K8S_MESH = 'apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: { name: apps }\nspec: {}\n';
  // howto-k8s-mtls-sds-based: `mode` is no field of App Mesh's client policy TLS (nor of the controller's CRD).
  const NODE_WITH_MODE = [
    'apiVersion: appmesh.k8s.aws/v1beta2',
    'kind: VirtualNode',
    'metadata: { name: front, namespace: howto }',
    'spec:',
    '  listeners: [{ portMapping: { port: 8080, protocol: http } }]',
    '  serviceDiscovery: { dns: { hostname: front.howto.svc.cluster.local } }',
    '  backendDefaults:',
    '    clientPolicy:',
    '      tls:',
    '        mode: STRICT',
    '        enforce: true',
    '        validation: { trust: { sds: { secretName: "spiffe://howto.aws" } } }',
    '',
  ].join('\n');
  const WARNING =
    "./m.yaml:15:15: warning: VirtualNode/front_howto: unknown field 'mode'; expected one of: enforce, ports, certificate, validation; Kubernetes would prune it, so meshd ignores it (spec.backendDefaults.clientPolicy.tls.mode)";

  it('are a warning naming the field, and the rest is served without it', () => {
    const { result, lines } = load({ 'm.yaml': `${K8S_MESH}---\n${NODE_WITH_MODE}` });
    expect(lines).toContain(WARNING);
    expect(lines.filter((l) => l.includes(': error: '))).toEqual([]);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.model.virtualNode('apps', 'front_howto')?.spec.backendDefaults?.clientPolicy?.tls).toEqual({
      enforce: true,
      validation: { trust: { sds: { secretName: 'spiffe://howto.aws' } } },
    });
  });

  it('are an error with strict (kubectl --validate=strict), and nothing is served', () => {
    const { result, lines } = load({ 'm.yaml': `${K8S_MESH}---\n${NODE_WITH_MODE}` }, { strict: true });
    expect(result.ok).toBe(false);
    expect(lines).toEqual([
      "./m.yaml:15:15: error: VirtualNode/front_howto: unknown field 'mode'; expected one of: enforce, ports, certificate, validation; Kubernetes would prune it, and --strict refuses it (spec.backendDefaults.clientPolicy.tls.mode)",
    ]);
  });

  it('in an inline route are pruned like any other, with the misspelling suggestion kept', () => {
    const router = [
      'apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualRouter\nmetadata: { name: r, namespace: ns }\nspec:',
      '  listeners: [{ portMapping: { port: 80, protocol: http } }]',
      '  routes:',
      '    - name: all',
      '      priorty: 3',
      '      httpRoute: { match: { prefix: / }, action: { weightedTargets: [{ virtualNodeARN: "arn:aws:appmesh:r:1:mesh/apps/virtualNode/n", weight: 1 }] } }',
      '',
    ].join('\n');
    const node =
      'kind: VirtualNode\nmesh: apps\nname: n\nspec:\n  listeners: [{ portMapping: { port: 80, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: n.local } }\n';
    const { result, lines } = load({ 'm.yaml': `${MESH}---\n${node}---\n${router}` });
    expect(lines).toContain(
      "./m.yaml:18:16: warning: Route/r_ns/all: unknown field 'priorty'; did you mean 'priority'?; Kubernetes would prune it, so meshd ignores it (spec.routes[0].priorty)",
    );
    expect(
      result.ok && result.model.routesOf('apps', 'r_ns').map((r) => `${r.name}: priority ${r.spec.priority ?? 'none'}`),
    ).toEqual(['all: priority none']);
  });

  it('stay errors in meshd YAML and App Mesh CLI JSON, which App Mesh itself read', () => {
    const tls =
      '  backendDefaults: { clientPolicy: { tls: { mode: STRICT, validation: { trust: { file: { certificateChain: /ca.pem } } } } } }\n';
    const native = `${MESH}---\nkind: VirtualNode\nname: n\nspec:\n${tls}`;
    const cli = JSON.stringify({
      meshName: 'apps',
      virtualNodeName: 'j',
      spec: {
        backendDefaults: {
          clientPolicy: { tls: { mode: 'STRICT', validation: { trust: { file: { certificateChain: '/ca.pem' } } } } },
        },
      },
    });
    const { result, lines } = load({ 'm.yaml': native, 'n.json': cli });
    expect(result.ok).toBe(false);
    expect(lines.filter((l) => l.includes("unknown field 'mode'")).map((l) => l.split(': ').slice(1, 2)[0])).toEqual([
      'error',
      'error',
    ]);
    expect(lines.some((l) => l.includes('Kubernetes'))).toBe(false);
  });

  it('never drop __proto__ or constructor: they stay errors even in Kubernetes manifests', () => {
    const node = NODE_WITH_MODE.replace('        mode: STRICT', '        __proto__: { enforce: false }');
    const { result, lines } = load({ 'm.yaml': `${K8S_MESH}---\n${node}` });
    expect(result.ok).toBe(false);
    expect(lines).toEqual([
      "./m.yaml:15:20: error: VirtualNode/front_howto: unknown field '__proto__'; expected one of: enforce, ports, certificate, validation (spec.backendDefaults.clientPolicy.tls.__proto__)",
    ]);
  });
});

describe('a Mesh declared more than once', () => {
  const k8sCluster = (node: string) =>
    [
      'apiVersion: v1\nkind: Namespace\nmetadata: { name: hcc, labels: { mesh: apps } }\n',
      'apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: { name: apps }\nspec:\n  namespaceSelector: { matchLabels: { mesh: apps } }\n  egressFilter: { type: ALLOW_ALL }\n',
      `apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata: { name: ${node}, namespace: hcc }\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: ${node}.local } }\n`,
      `apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualService\nmetadata: { name: ${node}, namespace: hcc }\nspec: { provider: { virtualNode: { virtualNodeRef: { name: ${node} } } } }\n`,
    ].join('---\n');

  it('identically, once per cluster (howto-k8s-cross-cluster), is one mesh whose namespace selection still works', () => {
    const { result, lines } = load({ 'cluster1.yaml': k8sCluster('front'), 'cluster2.yaml': k8sCluster('color') });
    expect(lines).toEqual([]);
    expect(result.ok && result.model.resources.filter((r) => r.kind === 'Mesh').map((m) => [m.name, m.spec])).toEqual([
      ['apps', { egressFilter: { type: 'ALLOW_ALL' } }],
    ]);
    expect(result.ok && result.model.virtualNodes().map((n) => `${n.mesh}/${n.name}`)).toEqual([
      'apps/color_hcc',
      'apps/front_hcc',
    ]);
  });

  it('identically in three dialects, one with tags and its fields in another order, is one mesh: tags are no part of the model', () => {
    const native =
      'kind: Mesh\nname: apps\nspec: { serviceDiscovery: { ipPreference: IPv4_ONLY }, egressFilter: { type: ALLOW_ALL } }\n';
    const cli = JSON.stringify({
      meshName: 'apps',
      spec: { egressFilter: { type: 'ALLOW_ALL' }, serviceDiscovery: { ipPreference: 'IPv4_ONLY' } },
      tags: [{ key: 'team', value: 'a' }],
    });
    const k8s =
      'apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: { name: apps }\nspec: { egressFilter: { type: ALLOW_ALL }, meshServiceDiscovery: { ipPreference: IPv4_ONLY } }\n';
    const { result, lines } = load({ 'a.yaml': native, 'b.json': cli, 'c.yaml': k8s });
    expect(lines).toEqual([]);
    expect(result.ok && result.model.resources.length).toBe(1);
  });

  it('differently is an error at the second declaration naming the first, and nothing else about it', () => {
    const { result, lines } = load({
      'cluster1.yaml': k8sCluster('front'),
      'cluster2.yaml': k8sCluster('color').replace('ALLOW_ALL', 'DROP_ALL'),
    });
    expect(result.ok).toBe(false);
    expect(lines).toEqual([
      './cluster2.yaml:7:19: error: Mesh/apps: already defined at ./cluster1.yaml:5 with a different spec.egressFilter.type; every declaration of a mesh must be the same (metadata.name)',
    ]);
  });
});
