// Workload identities (src/compile/identity.ts) and the Mesh's meshd extension they read
// (spec.meshd: mesh-wide mTLS and the SPIFFE trust domain), in the dialects that carry it.
import * as path from 'node:path';
import {
  certificateDnsName,
  MANAGED_IDENTITY_SECRET,
  MANAGED_TRUST_SECRET,
  SPIRE_SDS_CLUSTER,
  spiffeIdOf,
  workloadIdentity,
} from '../../src/compile/identity';
import { formatProblem } from '../../src/load/problems';
import { loadMesh } from '../../src/load/mesh-source';
import { meshFolder } from '../helpers/mesh-text';

const NODES = `kind: VirtualNode
name: dns-node
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
  serviceDiscovery: { dns: { hostname: api.apps.internal } }
---
kind: VirtualNode
name: map-node
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
  serviceDiscovery: { awsCloudMap: { namespaceName: apps.local, serviceName: orders } }
---
kind: VirtualNode
name: caller
spec: {}
---
kind: VirtualGateway
name: edge
spec:
  listeners: [{ portMapping: { port: 8088, protocol: http } }]
`;

function load(files: Record<string, string>) {
  const dir = meshFolder(files);
  return { dir, result: loadMesh([dir]) };
}

describe('workload identities', () => {
  it('names the managed secrets and the SPIRE cluster as the other layers expect them', () => {
    expect([MANAGED_IDENTITY_SECRET, MANAGED_TRUST_SECRET, SPIRE_SDS_CLUSTER]).toEqual([
      'meshd/identity',
      'meshd/trust-bundle',
      'static_cluster_sds_unix_socket',
    ]);
    expect(spiffeIdOf('example.org', 'apps', 'virtualGateway', 'edge')).toBe(
      'spiffe://example.org/mesh/apps/virtualGateway/edge',
    );
  });

  it("gives a node its mesh's trust domain and the names of its service discovery; a gateway no names; an unknown proxy nothing", () => {
    const { result } = load({
      'm.yaml': `kind: Mesh\nname: apps\nspec: { meshd: { mtls: STRICT, trustDomain: prod.example.org } }\n---\n${NODES}`,
    });
    if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
    const m = result.model;
    expect(workloadIdentity(m, 'mesh/apps/virtualNode/dns-node')).toEqual({
      spiffeId: 'spiffe://prod.example.org/mesh/apps/virtualNode/dns-node',
      dnsNames: ['api.apps.internal'],
    });
    expect(workloadIdentity(m, 'arn:aws:appmesh:eu-west-1:111122223333:mesh/apps/virtualNode/map-node')).toEqual({
      spiffeId: 'spiffe://prod.example.org/mesh/apps/virtualNode/map-node',
      dnsNames: ['orders.apps.local'],
    });
    expect(workloadIdentity(m, 'mesh/apps/virtualNode/caller')?.dnsNames).toEqual([]);
    expect(workloadIdentity(m, 'mesh/apps/virtualGateway/edge')).toEqual({
      spiffeId: 'spiffe://prod.example.org/mesh/apps/virtualGateway/edge',
      dnsNames: [],
    });
    expect(workloadIdentity(m, 'mesh/apps/virtualNode/nobody')).toBeUndefined();
    expect(workloadIdentity(m, 'mesh/other/virtualNode/dns-node')).toBeUndefined();
    expect(workloadIdentity(m, 'not a node id')).toBeUndefined();
  });

  it('defaults the trust domain to meshd.local', () => {
    const { result } = load({ 'm.yaml': `kind: Mesh\nname: apps\n---\n${NODES}` });
    if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
    expect(workloadIdentity(result.model, 'mesh/apps/virtualNode/caller')?.spiffeId).toBe(
      'spiffe://meshd.local/mesh/apps/virtualNode/caller',
    );
  });
});

describe("the Mesh's meshd extension", () => {
  it('refuses a trust domain that is not a SPIFFE trust domain, naming the file, line and field', () => {
    const { dir, result } = load({
      'm.yaml': `kind: Mesh\nname: apps\nspec:\n  meshd:\n    mtls: STRICT\n    trustDomain: Prod.Example.org\n`,
    });
    expect(!result.ok && result.problems.map(formatProblem)).toEqual([
      `${path.join(dir, 'm.yaml')}:6:18: error: Mesh/apps: must be a SPIFFE trust domain: lowercase letters, digits, '.', '-' and '_' only, got "Prod.Example.org" (spec.meshd.trustDomain)`,
    ]);
  });

  it('refuses an unknown mTLS mode', () => {
    const { result } = load({ 'm.yaml': `kind: Mesh\nname: apps\nspec: { meshd: { mtls: ON } }\n` });
    expect(!result.ok && result.problems.map((p) => `${p.field}: ${p.message}`)).toEqual([
      expect.stringMatching(/^spec\.meshd\.mtls: .*STRICT.*PERMISSIVE.*DISABLED/),
    ]);
  });

  it('is read from a Kubernetes Mesh manifest (spec.meshd), and checked there too', () => {
    const mesh = (td: string) => `apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: { name: apps }
spec:
  meshd: { mtls: PERMISSIVE, trustDomain: ${td} }
`;
    const good = load({ 'mesh.yaml': mesh('k8s.example') }).result;
    if (!good.ok) throw new Error(good.problems.map(formatProblem).join('\n'));
    expect(good.model.mesh('apps')?.spec.meshd).toEqual({ mtls: 'PERMISSIVE', trustDomain: 'k8s.example' });
    const bad = load({ 'mesh.yaml': mesh('"bad domain"') }).result;
    expect(!bad.ok && bad.problems.map((p) => `${p.location.line} ${p.field}`)).toEqual(['5 spec.meshd.trustDomain']);
  });

  it("is refused where only App Mesh's own fields can be written (CloudFormation, the AWS CLI's JSON)", () => {
    const cfn = load({
      't.yaml': `AWSTemplateFormatVersion: '2010-09-09'
Resources:
  Mesh:
    Type: AWS::AppMesh::Mesh
    Properties:
      MeshName: apps
      Spec:
        Meshd: { Mtls: STRICT }
`,
    }).result;
    expect(!cfn.ok && cfn.problems.map((p) => `${p.location.line} ${p.field}: ${p.message}`)).toEqual([
      "8 Resources.Mesh.Properties.Spec.Meshd: is meshd's own extension, not an App Mesh field, and this format carries only App Mesh's (its tools refuse it); declare the Mesh in a native mesh file or a Kubernetes manifest",
    ]);
    const cli = load({
      'm.json': JSON.stringify({ mesh: { meshName: 'apps', spec: { meshd: { mtls: 'STRICT' } } } }),
    }).result;
    expect(!cli.ok && cli.problems.map((p) => p.field)).toEqual(['mesh.spec.meshd']);
  });
});

describe('certificateDnsName: what a workload certificate may carry of a service-discovery name', () => {
  it.each([
    ['Front.Apps.svc.cluster.local.', 'front.apps.svc.cluster.local'],
    ['10.0.0.7', '10.0.0.7'],
    ['*.svc.cluster.local', undefined],
    ['my_service.local', undefined],
    ['a..b', undefined],
    ['.', undefined],
    [`${'a'.repeat(64)}.local`, undefined],
  ])('%s → %s', (name, expected) => {
    expect(certificateDnsName(name)).toBe(expected);
  });
});
