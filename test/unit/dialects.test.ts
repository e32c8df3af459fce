// The same mesh written as meshd YAML, as App Mesh CLI JSON and as App Mesh controller manifests
// must load into the same model: same resources, same names, same specs.
import * as path from 'node:path';
import { loadMesh } from '../../src/load/mesh-source';
import { formatProblem } from '../../src/load/problems';
import type { Resource } from '../../src/model/mesh-model';
import { RESOURCE_KINDS } from '../../src/model/common';
import { meshFolder } from '../helpers/mesh-text';

const FIXTURES = path.join(__dirname, '../fixtures/dialects');

/** A model as plain data, without where each resource was written. */
function modelOf(folder: string): Omit<Resource, 'source'>[] {
  const result = loadMesh([path.join(FIXTURES, folder)]);
  if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
  return result.model.resources.map(({ source: _source, ...rest }) => rest);
}

describe('three dialects, one model', () => {
  const native = modelOf('native');

  it('the native fixture has every kind of resource', () => {
    expect(new Set(native.map((r) => r.kind))).toEqual(new Set(RESOURCE_KINDS));
    expect(native).toHaveLength(20);
  });

  it.each(['aws-cli', 'k8s'])('%s gives the same model as native YAML', (dialect) => {
    expect(modelOf(dialect)).toEqual(native);
  });

  it('reads every dialect without errors or warnings; skipped Kubernetes kinds are info lines', () => {
    const result = loadMesh([path.join(FIXTURES, 'k8s')]);
    expect(result.problems.map((p) => `${p.severity}: ${p.message}`)).toEqual([
      'info: skipping Deployment/web: not an App Mesh resource',
      'info: skipping Service/web: not an App Mesh resource',
    ]);
    for (const dialect of ['native', 'aws-cli']) expect(loadMesh([path.join(FIXTURES, dialect)]).problems).toEqual([]);
  });

  it('mixes dialects in one mesh: a CLI JSON node and a manifest joining a native mesh', () => {
    const dir = meshFolder({
      'mesh.yaml': 'kind: Mesh\nname: m\n---\nkind: VirtualService\nmesh: m\nname: api\nspec: { provider: { virtualNode: { virtualNodeName: api_prod } } }\n',
      'client.json': '{ "virtualNodeName": "client", "spec": { "backends": [{ "virtualService": { "virtualServiceName": "api" } }] } }',
      'api.yaml':
        'apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata: { name: api, namespace: prod }\nspec:\n  listeners: [{ portMapping: { port: 80, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: api.prod } }\n',
    });
    const result = loadMesh([dir]);
    expect(result.problems.map(formatProblem)).toEqual([]);
    expect(result.ok && result.model.virtualNodes().map((n) => `${n.mesh}/${n.name}`)).toEqual(['m/api_prod', 'm/client']);
  });

  it('reads a kubectl List, as `kubectl get virtualnodes -o yaml` prints it', () => {
    const dir = meshFolder({
      'mesh.yaml': 'kind: Mesh\nname: m\n',
      'list.yaml':
        'apiVersion: v1\nkind: List\nitems:\n  - apiVersion: appmesh.k8s.aws/v1beta2\n    kind: VirtualNode\n    metadata: { name: a, namespace: ns }\n    spec: { awsName: alpha, meshRef: { name: m, uid: 1234 } }\n',
    });
    const result = loadMesh([dir]);
    expect(result.ok && result.model.virtualNodes().map((n) => n.name)).toEqual(['alpha']);
  });

  it('chooses a manifest mesh by the namespace selector when several meshes are defined', () => {
    const mesh = (name: string, label: string) => `apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: { name: ${name} }\nspec: { namespaceSelector: { matchLabels: { mesh: ${label} } } }\n`;
    const dir = meshFolder({
      'm.yaml': [
        mesh('blue', 'blue'),
        mesh('green', 'green'),
        'apiVersion: v1\nkind: Namespace\nmetadata: { name: team, labels: { mesh: green } }\n',
        'apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata: { name: a, namespace: team }\nspec: {}\n',
      ].join('---\n'),
    });
    const result = loadMesh([dir]);
    expect(result.ok && result.model.virtualNodes().map((n) => `${n.mesh}/${n.name}`)).toEqual(['green/a_team']);
  });
});
