import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadMesh, MAX_MESH_FILE_BYTES } from '../../src/load/mesh-source';
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
    expect(
      result.model.routesOf('apps', 'color').map((r) => r.spec.httpRoute?.action.weightedTargets.map((t) => t.weight)),
    ).toEqual([[100, 0]]);
  });

  it('reads every document of a multi-document file and files in nested folders', () => {
    const dir = meshFolder({
      'a.yaml': `${MESH}---\n${NODE('one')}`,
      'sub/b.yml': NODE('two'),
      'notes.txt': 'not a mesh file',
    });
    const result = loadMesh([dir]);
    expect(result.ok && result.model.virtualNodes().map((n) => n.name)).toEqual(['one', 'two']);
  });

  it('reports every problem of every file at once, sorted by file and line', () => {
    const bad = `kind: VirtualNode\nmesh: apps\nname: bad\nspec:\n  listeners: [{ portMapping: { port: 70000, protocol: htp } }]\n  serviceDiscovery: { dns: { hostname: bad.local } }\n  colour: blue\n`;
    expect(
      problemsOf({
        'a.yaml': `${MESH}---\n${bad}`,
        'b.yaml':
          'kind: VirtualService\nmesh: apps\nname: s\nspec: { provider: { virtualNode: { virtualNodeName: nowhere } } }\n',
      }),
    ).toEqual([
      './a.yaml:8:38: error: VirtualNode/bad: must be a whole number from 1 to 65535, got 70000 (spec.listeners[0].portMapping.port)',
      './a.yaml:8:55: error: VirtualNode/bad: must be one of http, http2, grpc, tcp, got "htp" (spec.listeners[0].portMapping.protocol)',
      "./a.yaml:10:11: error: VirtualNode/bad: unknown field 'colour'; expected one of: listeners, serviceDiscovery, backends, backendDefaults, logging (spec.colour)",
      "./b.yaml:4:53: error: VirtualService/s: virtual node 'nowhere' is not defined in mesh 'apps' (spec.provider.virtualNode.virtualNodeName)",
    ]);
  });

  it('does not report a reference to a resource that is itself invalid', () => {
    const node = NODE('one').replace('port: 8080', 'port: -1');
    const service =
      'kind: VirtualService\nmesh: apps\nname: s\nspec: { provider: { virtualNode: { virtualNodeName: one } } }\n';
    expect(problemsOf({ 'm.yaml': `${MESH}---\n${node}---\n${service}` })).toEqual([
      './m.yaml:8:38: error: VirtualNode/one: must be a whole number from 1 to 65535, got -1 (spec.listeners[0].portMapping.port)',
    ]);
  });

  it('warns about legal but suspicious things without failing', () => {
    const caller =
      'kind: VirtualNode\nmesh: apps\nname: caller\nspec: { backends: [{ virtualService: { virtualServiceName: s } }] }\n';
    const result = loadMesh([
      meshFolder({
        'm.yaml': `${MESH}---\n${NODE('lonely')}---\n${caller}---\nkind: VirtualService\nmesh: apps\nname: s\n`,
      }),
    ]);
    expect(result.ok).toBe(true);
    expect(result.problems.map((p) => `${p.severity}: ${p.resource}: ${p.message}`)).toEqual([
      'warning: VirtualNode/lonely: no virtual service reaches this node: no service names it as provider and no route targets it',
      "warning: VirtualNode/caller: virtual service 's' has no provider, so requests to it will fail",
    ]);
  });

  it("warns that a gateway's gRPC health check is not answered by the gateway, and accepts the http one it answers", () => {
    const hc = (protocol: string, extra = '') =>
      `healthCheck: { protocol: ${protocol},${extra} healthyThreshold: 2, unhealthyThreshold: 2, intervalMillis: 5000, timeoutMillis: 2000 }`;
    const gateway = (name: string, listener: string) =>
      `kind: VirtualGateway\nmesh: apps\nname: ${name}\nspec:\n  listeners:\n    - portMapping: { port: 8443, protocol: ${listener} }\n`;
    const result = loadMesh([
      meshFolder({
        'm.yaml': `${MESH}---\n${gateway('grpc-gw', 'grpc')}      ${hc('grpc')}\n---\n${gateway('http-gw', 'http')}      ${hc('http', ' path: /ping,')}\n`,
      }),
    ]);
    expect(result.ok).toBe(true);
    expect(result.problems.map((p) => `${p.severity}: ${p.resource}: ${p.message}`)).toEqual([
      "warning: VirtualGateway/grpc-gw: meshd's gateway does not answer the gRPC health-checking protocol; probe the port over TCP, or use an http or http2 check with a path, which the gateway answers itself",
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

describe('class: a mesh file that would hold the event loop (huge, or a FIFO that never ends)', () => {
  it('a file over MAX_MESH_FILE_BYTES is a finding, read no further', () => {
    const dir = meshFolder({ 'mesh.yaml': 'kind: Mesh\nname: apps\n' });
    const huge = path.join(dir, 'huge.yaml');
    fs.writeFileSync(huge, '');
    fs.truncateSync(huge, MAX_MESH_FILE_BYTES + 1); // sparse: no 16 MiB written
    const result = loadMesh([dir]);
    expect(result.ok).toBe(false);
    expect(result.problems.map(formatProblem)).toContain(
      `${huge}:1:1: error: file is ${MAX_MESH_FILE_BYTES + 1} bytes; a mesh file may be at most ${MAX_MESH_FILE_BYTES} bytes (split the mesh over several files)`,
    );
  });

  it('a FIFO named as a mesh file is a finding; the load does not wait on it', () => {
    const dir = meshFolder({});
    const fifo = path.join(dir, 'pipe.yaml');
    const made = spawnSync('mkfifo', [fifo]);
    if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr}`);
    const result = loadMesh([fifo]);
    expect(result.problems.map(formatProblem)).toEqual([
      `${fifo}:1:1: error: not a regular file; a mesh file must be a file`,
    ]);
  });
});

describe("overlay files that yield to the user's (a fleet's store)", () => {
  const store = (name: string) => `postgres:/apps/virtual-nodes/${name}.yaml`;
  const isStore = (file: string) => file.startsWith('postgres:/');

  it("a resource both define is the file's, with a warning at the store's copy; without 'yields' it is an error", () => {
    const dir = meshFolder({ 'mesh.yaml': `${MESH}---\n${NODE('web', 8080)}` });
    const overlay = new Map([
      [store('web'), NODE('web', 9090)],
      [store('api'), NODE('api')],
    ]);
    const result = loadMesh([dir], { overlay, yields: isStore });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const web = result.model.virtualNode('apps', 'web')!;
    expect(web.source.file).toBe(path.join(dir, 'mesh.yaml'));
    expect(web.spec.listeners?.[0]?.portMapping.port).toBe(8080);
    expect(result.model.virtualNode('apps', 'api')?.source.file).toBe(store('api'));
    expect(result.problems.filter((p) => p.message.includes('also defined')).map(formatProblem)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${store('web')}:\\d+:\\d+: warning: VirtualNode/web: also defined in ${dir}/mesh.yaml:\\d+, which wins`,
        ),
      ),
    ]);
    const strict = loadMesh([dir], { overlay });
    expect(strict.ok).toBe(false);
    expect(strict.problems.map(formatProblem).join('\n')).toContain('already defined');
  });
});
