import * as path from 'node:path';
import { loadMesh } from '../../src/load/mesh-source';
import { formatProblem } from '../../src/load/problems';
import { meshFolder, QUICKSTART_MESH } from '../helpers/mesh-text';

const MESH = 'kind: Mesh\nname: apps\n';
const NODE = (name: string, port = 8080) =>
  `kind: VirtualNode\nmesh: apps\nname: ${name}\nspec:\n  listeners: [{ portMapping: { port: ${port}, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: ${name}.local } }\n`;

/** Loads files and returns the formatted problems, with the temp folder shortened to `./`. */
function problemsOf(files: Record<string, string>): string[] {
  const dir = meshFolder(files);
  const result = loadMesh([dir]);
  if (result.ok) return [];
  return result.problems.map((p) => formatProblem(p).replaceAll(dir + path.sep, './'));
}

describe('loading native mesh YAML', () => {
  it('loads the bundled quickstart mesh', () => {
    const result = loadMesh([QUICKSTART_MESH]);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.model.virtualNodes().map((n) => n.name)).toEqual(['color-blue', 'color-green', 'front']);
    expect(result.model.routesOf('apps', 'color').map((r) => r.spec.httpRoute.action.weightedTargets.map((t) => t.weight))).toEqual([[100, 0]]);
  });

  it('reads every document of a multi-document file and files in nested folders', () => {
    const dir = meshFolder({ 'a.yaml': `${MESH}---\n${NODE('one')}`, 'sub/b.yml': NODE('two'), 'notes.txt': 'not a mesh file' });
    const result = loadMesh([dir]);
    expect(result.ok && result.model.virtualNodes().map((n) => n.name)).toEqual(['one', 'two']);
  });

  it('reports unparsable YAML with file, line and column, and yields no model', () => {
    expect(problemsOf({ 'm.yaml': `${MESH}---\nkind: VirtualNode\nname: a: b\n` })).toEqual([
      './m.yaml:5:7: error: invalid YAML: Nested mappings are not allowed in compact mappings',
    ]);
  });

  it('names an unknown kind and lists the known ones', () => {
    expect(problemsOf({ 'm.yaml': `${MESH}---\nkind: VirtualThing\nmesh: apps\nname: x\n` })).toEqual([
      './m.yaml:4:7: error: kind: must be one of Mesh, VirtualService, VirtualNode, VirtualRouter, Route, got "VirtualThing"',
    ]);
  });

  it('points at a route target that names no virtual node', () => {
    const route = `kind: VirtualRouter\nmesh: apps\nname: r\nspec:\n  listeners: [{ portMapping: { port: 80, protocol: http } }]\n---\nkind: Route\nmesh: apps\nvirtualRouter: r\nname: main\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action:\n      weightedTargets:\n        - { virtualNode: one, weight: 50 }\n        - { virtualNode: nowhere, weight: 50 }\n`;
    expect(problemsOf({ 'm.yaml': `${MESH}---\n${NODE('one')}---\n${route}` })).toEqual([
      "./m.yaml:27:26: error: Route/r/main: spec.httpRoute.action.weightedTargets[1].virtualNode: virtual node 'nowhere' is not defined in mesh 'apps'",
    ]);
  });

  it('reports field problems at the field, naming the resource and the field path', () => {
    const bad = `kind: VirtualNode\nmesh: apps\nname: bad\nspec:\n  listeners: [{ portMapping: { port: 70000, protocol: htp } }]\n  serviceDiscovery: { dns: { hostname: bad.local } }\n  colour: blue\n`;
    expect(problemsOf({ 'm.yaml': `${MESH}---\n${bad}` })).toEqual([
      './m.yaml:8:38: error: VirtualNode/bad: spec.listeners[0].portMapping.port: must be an integer from 1 to 65535, got 70000',
      './m.yaml:8:55: error: VirtualNode/bad: spec.listeners[0].portMapping.protocol: must be one of http, http2, grpc, tcp, got "htp"',
      './m.yaml:10:11: error: VirtualNode/bad: spec.colour: unknown field; expected one of: listeners, serviceDiscovery, backends',
    ]);
  });

  it('names missing required fields, and a provider that names two things', () => {
    const docs = [
      'kind: Route\nmesh: apps\nname: r1\nspec:\n  httpRoute: { match: { prefix: / } }\n',
      'kind: VirtualService\nmesh: apps\nname: s\nspec:\n  provider: { virtualNode: { virtualNodeName: a }, virtualRouter: { virtualRouterName: b } }\n',
    ];
    expect(problemsOf({ 'm.yaml': `${MESH}---\n${docs.join('---\n')}` })).toEqual([
      './m.yaml:4:1: error: Route/?/r1: virtualRouter: required field is missing',
      './m.yaml:8:14: error: Route/?/r1: spec.httpRoute.action: required field is missing',
      './m.yaml:14:13: error: VirtualService/s: spec.provider: must name exactly one of virtualNode, virtualRouter',
    ]);
  });

  it('reports a resource defined twice, with where the first one is', () => {
    expect(problemsOf({ 'a.yaml': `${MESH}---\n${NODE('one')}`, 'b.yaml': NODE('one') })).toEqual([
      "./b.yaml:3:7: error: VirtualNode/one: VirtualNode/one in mesh 'apps' is already defined at ./a.yaml:4",
    ]);
  });

  it('requires the mesh a resource lives in to be defined', () => {
    expect(problemsOf({ 'm.yaml': NODE('one') })).toEqual([
      "./m.yaml:2:7: error: VirtualNode/one: mesh 'apps' is not defined; add a document with kind: Mesh and name: apps",
    ]);
  });

  it('rejects a route whose weights add up to 0', () => {
    const route = `kind: VirtualRouter\nmesh: apps\nname: r\nspec:\n  listeners: [{ portMapping: { port: 80, protocol: http } }]\n---\nkind: Route\nmesh: apps\nvirtualRouter: r\nname: main\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action: { weightedTargets: [{ virtualNode: one, weight: 0 }] }\n`;
    expect(problemsOf({ 'm.yaml': `${MESH}---\n${NODE('one')}---\n${route}` })).toEqual([
      './m.yaml:24:32: error: Route/r/main: spec.httpRoute.action.weightedTargets: the weights add up to 0; at least one target needs a weight above 0',
    ]);
  });

  it('names a mesh path that does not exist', () => {
    const result = loadMesh(['/nonexistent/mesh-folder']);
    expect(!result.ok && result.problems.map(formatProblem)).toEqual([
      '/nonexistent/mesh-folder:1:1: error: mesh path does not exist; pass a mesh file or a folder of them',
    ]);
  });

  it('reports a folder without mesh files', () => {
    const dir = meshFolder({ 'README.md': '# nothing here' });
    const result = loadMesh([dir]);
    expect(!result.ok && result.problems.map((p) => p.message)).toEqual(['no mesh files (.yaml, .yml, .json) found']);
  });
});
