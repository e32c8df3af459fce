// The same mesh written as meshd YAML, as App Mesh CLI JSON, as App Mesh controller manifests and
// as CloudFormation templates must load into the same model: same resources, same names, same specs.
import * as path from 'node:path';
import { compileProxy } from '../../src/compile';
import { offlineRegistry } from '../../src/control/offline-registry';
import { renderProxyConfig, toEnvoyYaml } from '../../src/control/render';
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

/** What `meshd render` prints for every node and gateway of a fixture folder, by node id. */
function renderAll(folder: string): Map<string, string> {
  const loaded = loadMesh([path.join(FIXTURES, folder)]);
  if (!loaded.ok) throw new Error(loaded.problems.map(formatProblem).join('\n'));
  const cloudMap = offlineRegistry(loaded.cloudMapSeeds);
  if (!cloudMap.ok) throw new Error(cloudMap.problems.map((p) => p.message).join('\n'));
  const ids = [
    ...loaded.model.virtualNodes().map((n) => `mesh/${n.mesh}/virtualNode/${n.name}`),
    ...loaded.model.virtualGateways().map((g) => `mesh/${g.mesh}/virtualGateway/${g.name}`),
  ];
  const out = new Map<string, string>();
  for (const id of ids) {
    const result = compileProxy(loaded.model, cloudMap.registry, id, { ingressPort: 15000, egressPort: 15001 });
    if (!result.ok) throw new Error(result.error);
    out.set(id, toEnvoyYaml(renderProxyConfig(result.config)));
  }
  return out;
}

/**
 * Terraform cannot leave a boolean unset (the provider sends `enforce` and `invert` always, true and
 * false unless set) nor keep the order of a set (it prints retry events sorted): its model is
 * compared with App Mesh's defaults written out and set-valued lists sorted, on both sides.
 */
function withTerraformSpelling(resources: Omit<Resource, 'source'>[]): unknown {
  const SETS = new Set([
    'httpRetryEvents',
    'tcpRetryEvents',
    'grpcRetryEvents',
    'ports',
    'exact',
    'certificateAuthorityArns',
  ]);
  const walk = (v: unknown, key?: string): unknown => {
    if (Array.isArray(v)) {
      if (SETS.has(key!) && v.every((x) => typeof x !== 'object')) return [...v].sort();
      const items = v.map((x) => walk(x));
      return key === 'headers' || key === 'metadata' ? items.map((h) => ({ invert: false, ...(h as object) })) : items;
    }
    if (v === null || typeof v !== 'object') return v;
    const out: Record<string, unknown> = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return key === 'clientPolicy' && out.tls ? { ...out, tls: { enforce: true, ...(out.tls as object) } } : out;
  };
  return resources.map((r) => walk(r));
}

/** Every dialect folder under test/fixtures/dialects besides native; each holds the same mesh. */
const OTHER_DIALECTS = ['aws-cli', 'k8s', 'cloudformation', 'terraform'];

describe('every dialect, one model', () => {
  const native = modelOf('native');

  it('the native fixture has every kind of resource', () => {
    expect(new Set(native.map((r) => r.kind))).toEqual(new Set(RESOURCE_KINDS));
    expect(native).toHaveLength(20);
  });

  it.each(OTHER_DIALECTS.filter((d) => d !== 'terraform'))('%s gives the same model as native YAML', (dialect) => {
    expect(modelOf(dialect)).toEqual(native);
  });

  it('terraform gives the same model as native YAML, but for what Terraform cannot say (unset booleans, the order of sets)', () => {
    expect(withTerraformSpelling(modelOf('terraform'))).toEqual(withTerraformSpelling(native));
  });

  it.each(OTHER_DIALECTS)('%s renders byte-identical Envoy configuration for every node and gateway', (dialect) => {
    const expected = renderAll('native');
    expect(expected.size).toBeGreaterThanOrEqual(6);
    const actual = renderAll(dialect);
    expect([...actual.keys()]).toEqual([...expected.keys()]);
    for (const [id, text] of expected) expect(`${id}\n${actual.get(id)}`).toBe(`${id}\n${text}`);
  });

  it('reads every dialect without errors or warnings; skipped Kubernetes kinds are info lines', () => {
    const result = loadMesh([path.join(FIXTURES, 'k8s')]);
    expect(result.problems.map((p) => `${p.severity}: ${p.message}`)).toEqual([
      'info: skipping Deployment/web: not an App Mesh resource',
      'info: skipping Service/web: not an App Mesh resource',
    ]);
    for (const dialect of ['native', 'aws-cli']) expect(loadMesh([path.join(FIXTURES, dialect)]).problems).toEqual([]);
    expect(loadMesh([path.join(FIXTURES, 'cloudformation')]).problems.map(formatProblem)).toEqual([
      `${path.join(FIXTURES, 'cloudformation/shop.yaml')}:341:5: info: skipping AWS::ECS::TaskDefinition/WebTaskDefinition: not an App Mesh resource`,
    ]);
  });

  it('reads the Terraform state with one info line per other resource, and seeds its Cloud Map service', () => {
    const result = loadMesh([path.join(FIXTURES, 'terraform')]);
    expect(result.problems.map((p) => `${p.severity}: ${p.message}`)).toEqual([
      'info: skipping data.aws_caller_identity.current: a data source reads a resource, it does not declare one',
      'info: skipping module.edge.aws_lb.edge: meshd reads aws_appmesh_* and aws_service_discovery_* resources',
    ]);
    expect(result.ok && result.cloudMapSeeds.map((s) => s.seed)).toEqual([
      { namespace: 'shop.local', service: 'catalog', instances: [] },
    ]);
  });

  it('mixes dialects in one mesh: a CLI JSON node and a manifest joining a native mesh', () => {
    const dir = meshFolder({
      'mesh.yaml':
        'kind: Mesh\nname: m\n---\nkind: VirtualService\nmesh: m\nname: api\nspec: { provider: { virtualNode: { virtualNodeName: api_prod } } }\n',
      'client.json':
        '{ "virtualNodeName": "client", "spec": { "backends": [{ "virtualService": { "virtualServiceName": "api" } }] } }',
      'api.yaml':
        'apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualNode\nmetadata: { name: api, namespace: prod }\nspec:\n  listeners: [{ portMapping: { port: 80, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: api.prod } }\n',
    });
    const result = loadMesh([dir]);
    expect(result.problems.map(formatProblem)).toEqual([]);
    expect(result.ok && result.model.virtualNodes().map((n) => `${n.mesh}/${n.name}`)).toEqual([
      'm/api_prod',
      'm/client',
    ]);
  });

  it("maps the controller's ACM spellings (certificateARN, certificateAuthorityARNs) to the API's", () => {
    const dir = meshFolder({
      'mesh.yaml': 'kind: Mesh\nname: m\n',
      'gw.yaml':
        'apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualGateway\nmetadata: { name: gw, namespace: ns }\nspec:\n  meshRef: { name: m, uid: u }\n  listeners: [{ portMapping: { port: 443, protocol: http }, tls: { mode: STRICT, certificate: { acm: { certificateARN: arn:c } } } }]\n  backendDefaults: { clientPolicy: { tls: { validation: { trust: { acm: { certificateAuthorityARNs: [arn:ca] } } } } } }\n',
    });
    const result = loadMesh([dir]);
    const gateway = result.ok ? result.model.virtualGateways()[0] : undefined;
    expect(JSON.stringify(gateway?.spec)).toContain('"acm":{"certificateArn":"arn:c"}');
    expect(JSON.stringify(gateway?.spec)).toContain('"acm":{"certificateAuthorityArns":["arn:ca"]}');
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
    const mesh = (name: string, label: string) =>
      `apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: { name: ${name} }\nspec: { namespaceSelector: { matchLabels: { mesh: ${label} } } }\n`;
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
