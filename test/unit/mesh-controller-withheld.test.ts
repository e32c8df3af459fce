// A proxy whose configuration names meshd's certificates while meshd withholds them is told why
// (meshd status, /v1/proxies), whether its node was compiled when it connected or ahead of it (precompile,
// as `meshd serve` does at start: the path that used to leave the reason out).
import { MeshController } from '../../src/control/mesh-controller';
import { CloudMapRegistry } from '../../src/discovery/cloud-map/registry';
import { loadMesh } from '../../src/load/mesh-source';
import { SnapshotCache } from '../../src/xds/snapshot-cache';
import { meshFolder } from '../helpers/mesh-text';

const QUIET = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const REASON = 'the xDS port listens on 0.0.0.0 without authentication';
const envoyNode = (name: string) => ({ id: `mesh/m/virtualNode/${name}`, metadata: { fields: {} } }) as never;

function strictMesh() {
  const node = (name: string) =>
    `kind: VirtualNode\nmesh: m\nname: ${name}\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: ${name}.local } }\n`;
  const dir = meshFolder({
    'mesh.yaml': 'kind: Mesh\nname: m\nspec:\n  meshd: { mtls: STRICT }\n',
    'a.yaml': node('a'),
    'b.yaml': node('b'),
  });
  const result = loadMesh([dir]);
  if (!result.ok) throw new Error(`fixture mesh is invalid: ${result.problems[0]?.message}`);
  return result.model;
}

describe('MeshController: certificates withheld', () => {
  it.each([
    ['compiled when the proxy connects', false],
    ['compiled ahead of the proxy (precompile), then claimed', true],
  ])('%s: the proxy’s problem says they are withheld and why', (_name, precompiled) => {
    const cache = new SnapshotCache();
    const controller = new MeshController(cache, new CloudMapRegistry(), QUIET, { secretsWithheld: REASON });
    controller.setModel(strictMesh());
    if (precompiled) expect(controller.precompile(60_000, 60_000)).toBe(2);
    const key = controller.nodeKey(envoyNode('a'));
    expect(cache.get(key)).toBeDefined();
    expect(cache.problem(key)).toMatch(new RegExp(`uses meshd's certificates .* but they are withheld: ${REASON}`));
    controller.close();
  });
});
