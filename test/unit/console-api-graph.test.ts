// The graph GET /v1/mesh serves (src/admin/mesh-graph.ts): the colorapp example's nodes and
// edges, a route's weights as percents of its total, backends, gateway routes, and each
// element's origin (a user's file, the App Mesh API's folder, a Kubernetes object).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { meshGraph } from '../../src/admin/mesh-graph';
import { consoleOriginOf } from '../../src/control/console-state';
import { loadMesh } from '../../src/load/mesh-source';
import { MeshModel, type Resource } from '../../src/model/mesh-model';

const COLORAPP = path.resolve(__dirname, '../../examples/colorapp/mesh');

function colorapp(): MeshModel {
  const result = loadMesh([COLORAPP]);
  if (!result.ok) throw new Error(`colorapp does not load: ${JSON.stringify(result.problems)}`);
  return result.model;
}

function loadText(text: string): MeshModel {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-graph-'));
  try {
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), text);
    const result = loadMesh([dir]);
    if (!result.ok) throw new Error(`the mesh does not load: ${JSON.stringify(result.problems)}`);
    return result.model;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('the mesh graph of GET /v1/mesh', () => {
  it("colorapp: a gateway, two services, a router and three nodes; Mesh and routes aren't nodes", () => {
    const graph = meshGraph(colorapp());
    expect(graph.nodes.map((n) => n.id).sort()).toEqual([
      'colorapp/VirtualGateway/ingress-gw',
      'colorapp/VirtualNode/color-blue',
      'colorapp/VirtualNode/color-green',
      'colorapp/VirtualNode/front',
      'colorapp/VirtualRouter/color',
      'colorapp/VirtualService/color.colorapp.local',
      'colorapp/VirtualService/front.colorapp.local',
    ]);
    const front = graph.nodes.find((n) => n.id === 'colorapp/VirtualNode/front')!;
    expect(front).toMatchObject({
      kind: 'VirtualNode',
      mesh: 'colorapp',
      name: 'front',
      origin: 'file',
      nodeId: 'mesh/colorapp/virtualNode/front',
      trafficNodes: ['colorapp/VirtualNode/front'],
    });
    expect(front.source).toMatch(/examples\/colorapp\/mesh\/nodes\.yaml:\d+:\d+$/);
    const gateway = graph.nodes.find((n) => n.kind === 'VirtualGateway')!;
    expect(gateway.nodeId).toBe('mesh/colorapp/virtualGateway/ingress-gw');
    expect(gateway.trafficNodes).toEqual([]);
    // Services and routers have no Envoy of their own.
    expect(graph.nodes.find((n) => n.kind === 'VirtualRouter')!.nodeId).toBeUndefined();
  });

  it('colorapp: the edges gateway → service → router → nodes, and front → its backend service', () => {
    const graph = meshGraph(colorapp());
    const edges = graph.edges.map((e) => `${e.kind} ${e.from} -> ${e.to}`).sort();
    expect(edges).toEqual([
      'backend colorapp/VirtualNode/front -> colorapp/VirtualService/color.colorapp.local',
      'gateway-route colorapp/VirtualGateway/ingress-gw -> colorapp/VirtualService/color.colorapp.local',
      'provider colorapp/VirtualService/color.colorapp.local -> colorapp/VirtualRouter/color',
      'provider colorapp/VirtualService/front.colorapp.local -> colorapp/VirtualNode/front',
      'route-target colorapp/VirtualRouter/color -> colorapp/VirtualNode/color-blue',
      'route-target colorapp/VirtualRouter/color -> colorapp/VirtualNode/color-green',
    ]);
    const blue = graph.edges.find((e) => e.to === 'colorapp/VirtualNode/color-blue')!;
    expect(blue).toEqual({
      id: 'colorapp/Route/color/color-split->colorapp/VirtualNode/color-blue',
      from: 'colorapp/VirtualRouter/color',
      to: 'colorapp/VirtualNode/color-blue',
      kind: 'route-target',
      resource: 'colorapp/Route/color/color-split',
      weight: 100,
      percent: 100,
    });
    const gatewayRoute = graph.edges.find((e) => e.kind === 'gateway-route')!;
    expect(gatewayRoute.resource).toBe('colorapp/GatewayRoute/ingress-gw/color');
    expect(gatewayRoute.id).toBe(
      'colorapp/GatewayRoute/ingress-gw/color->colorapp/VirtualService/color.colorapp.local',
    );
    // Edge ids are unique: the console keys its elements by them.
    expect(new Set(graph.edges.map((e) => e.id)).size).toBe(graph.edges.length);
  });

  it("colorapp: a router's and its service's traffic nodes are the route's targets", () => {
    const graph = meshGraph(colorapp());
    const targets = ['colorapp/VirtualNode/color-blue', 'colorapp/VirtualNode/color-green'];
    expect(graph.nodes.find((n) => n.id === 'colorapp/VirtualRouter/color')!.trafficNodes).toEqual(targets);
    expect(graph.nodes.find((n) => n.id === 'colorapp/VirtualService/color.colorapp.local')!.trafficNodes).toEqual(
      targets,
    );
    expect(graph.nodes.find((n) => n.id === 'colorapp/VirtualService/front.colorapp.local')!.trafficNodes).toEqual([
      'colorapp/VirtualNode/front',
    ]);
  });

  it("a route's weights 30 and 10 are 75% and 25% of its total; several routes of one router, several backends", () => {
    const model = loadText(`
kind: Mesh
name: m
spec: {}
---
kind: VirtualNode
mesh: m
name: a
spec:
  listeners: [{ portMapping: { port: 80, protocol: http } }]
  serviceDiscovery: { dns: { hostname: a } }
  backends:
    - virtualService: { virtualServiceName: s1 }
    - virtualService: { virtualServiceName: s2 }
---
kind: VirtualNode
mesh: m
name: b
spec: { listeners: [{ portMapping: { port: 80, protocol: http } }], serviceDiscovery: { dns: { hostname: b } } }
---
kind: VirtualNode
mesh: m
name: c
spec: { listeners: [{ portMapping: { port: 80, protocol: http } }], serviceDiscovery: { dns: { hostname: c } } }
---
kind: VirtualRouter
mesh: m
name: r
spec: { listeners: [{ portMapping: { port: 80, protocol: http } }] }
---
kind: Route
mesh: m
virtualRouter: r
name: main
spec:
  httpRoute:
    match: { prefix: / }
    action: { weightedTargets: [{ virtualNode: b, weight: 30 }, { virtualNode: c, weight: 10 }] }
---
kind: Route
mesh: m
virtualRouter: r
name: third
spec:
  httpRoute:
    match: { prefix: /x }
    action: { weightedTargets: [{ virtualNode: c, weight: 3 }, { virtualNode: b, weight: 0 }, { virtualNode: a, weight: 3 }] }
---
kind: VirtualService
mesh: m
name: s1
spec: { provider: { virtualRouter: { virtualRouterName: r } } }
---
kind: VirtualService
mesh: m
name: s2
spec: { provider: { virtualNode: { virtualNodeName: b } } }
`);
    const graph = meshGraph(model);
    const targets = graph.edges
      .filter((e) => e.kind === 'route-target')
      .map((e) => `${e.resource} ${e.to} ${e.weight} ${e.percent}`)
      .sort();
    expect(targets).toEqual([
      'm/Route/r/main m/VirtualNode/b 30 75',
      'm/Route/r/main m/VirtualNode/c 10 25',
      'm/Route/r/third m/VirtualNode/a 3 50',
      'm/Route/r/third m/VirtualNode/b 0 0',
      'm/Route/r/third m/VirtualNode/c 3 50',
    ]);
    expect(graph.edges.filter((e) => e.kind === 'backend').map((e) => e.to)).toEqual([
      'm/VirtualService/s1',
      'm/VirtualService/s2',
    ]);
    // The router's traffic nodes: every target of every route, once.
    expect(graph.nodes.find((n) => n.id === 'm/VirtualRouter/r')!.trafficNodes).toEqual([
      'm/VirtualNode/a',
      'm/VirtualNode/b',
      'm/VirtualNode/c',
    ]);
    expect(graph.nodes.find((n) => n.id === 'm/VirtualService/s2')!.trafficNodes).toEqual(['m/VirtualNode/b']);
  });

  it('origin: a Kubernetes virtual file is kubernetes, a file the store owns is api, any other file is file', () => {
    const node = (name: string, file: string): Resource => ({
      kind: 'VirtualNode',
      mesh: 'm',
      name,
      source: { file, line: 1, col: 1 },
      spec: {},
    });
    const model = new MeshModel([
      { kind: 'Mesh', mesh: 'm', name: 'm', source: { file: 'mesh.yaml', line: 1, col: 1 }, spec: {} } as Resource,
      node('from-k8s', 'k8s:/virtualnodes/shop/from-k8s'),
      node('from-api', '/srv/mesh/.meshd-api/m/virtual-nodes/from-api.yaml'),
      node('from-file', 'mesh/nodes.yaml'),
    ]);
    const graph = meshGraph(model, (file) => consoleOriginOf(file, (f) => f.includes('/.meshd-api/')));
    const origin = Object.fromEntries(graph.nodes.map((n) => [n.name, n.origin]));
    expect(origin).toEqual({ 'from-api': 'api', 'from-file': 'file', 'from-k8s': 'kubernetes' });
    expect(graph.nodes.find((n) => n.name === 'from-k8s')!.source).toBe('k8s:/virtualnodes/shop/from-k8s:1:1');
  });
});
