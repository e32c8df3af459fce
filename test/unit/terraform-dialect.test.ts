// The Terraform dialect beyond the shop fixture (test/unit/dialects.test.ts): a saved plan, and
// the parts of the provider's mapping a state of the shop mesh does not show.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compileProxy } from '../../src/compile';
import { offlineRegistry } from '../../src/control/offline-registry';
import { renderProxyConfig, toEnvoyYaml } from '../../src/control/render';
import { loadMesh } from '../../src/load/mesh-source';
import { formatProblem } from '../../src/load/problems';
import { meshFolder } from '../helpers/mesh-text';

const PLAN = path.join(__dirname, '../fixtures/terraform-plan');

const state = (resources: object[]) =>
  JSON.stringify(
    { format_version: '1.0', terraform_version: '1.9.8', values: { root_module: { resources } } },
    null,
    2,
  );
const resource = (type: string, name: string, values: object) => ({
  address: `${type}.${name}`,
  mode: 'managed',
  type,
  name,
  provider_name: 'registry.terraform.io/hashicorp/aws',
  schema_version: 1,
  values,
});

describe('terraform show -json of a saved plan', () => {
  const result = loadMesh([PLAN]);

  it('reads planned_values (the mesh after apply) and not prior_state', () => {
    expect(result.problems.filter((p) => p.severity === 'error').map(formatProblem)).toEqual([]);
    expect(result.ok && result.model.resources.map((r) => `${r.mesh}/${r.kind}/${r.name}`)).toEqual([
      'apps/Mesh/apps',
      'apps/Route/catalog',
      'apps/VirtualNode/catalog',
      'apps/VirtualNode/front',
      'apps/VirtualRouter/catalog',
      'apps/VirtualService/catalog.apps.local',
      'ops/Mesh/ops',
      'ops/VirtualNode/probe',
      'ops/VirtualService/status.ops.local',
    ]); // no VirtualNode/legacy: the plan destroys it, and only prior_state still has it
  });

  it("takes a mesh_name not known until apply (mesh_name = aws_appmesh_mesh.ops.id) from the configuration: the mesh's planned name", () => {
    expect(result.ok && result.model.virtualNodes().map((n) => `${n.mesh}/${n.name}`)).toEqual([
      'apps/catalog',
      'apps/front',
      'ops/probe',
    ]);
  });

  it('without the configuration, takes the only mesh (or --mesh-name) for a mesh_name not known yet', () => {
    const plan = JSON.parse(fs.readFileSync(path.join(PLAN, 'plan.json'), 'utf8')) as {
      configuration?: unknown;
      planned_values: { root_module: { child_modules?: unknown } };
    };
    delete plan.configuration;
    delete plan.planned_values.root_module.child_modules; // the second mesh
    const only = loadMesh([meshFolder({ 'plan.json': JSON.stringify(plan) })]);
    expect(only.ok && only.model.virtualNodes().map((n) => `${n.mesh}/${n.name}`)).toEqual([
      'apps/catalog',
      'apps/front',
    ]);
  });

  it('leaves unknown and null attributes unset: no port on a weighted target, no invert on a header', () => {
    const route = result.ok ? result.model.resources.find((r) => r.kind === 'Route') : undefined;
    expect(route?.spec).toEqual({
      httpRoute: {
        match: { prefix: '/', headers: [{ name: 'x-debug', match: { exact: '1' } }] },
        action: { weightedTargets: [{ virtualNode: 'catalog', weight: 100 }] },
      },
    });
  });

  it('seeds the Cloud Map registry with the planned namespace, service and instance (ids not known yet: the only ones in the file)', () => {
    expect(result.ok && result.cloudMapSeeds.map((s) => s.seed)).toEqual([
      {
        namespace: 'apps.local',
        service: 'catalog',
        instances: [{ id: 'catalog-1', attributes: { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: '9080' } }],
      },
    ]);
  });

  it('makes the planned instance an endpoint of the node that calls its service (meshd render)', () => {
    if (!result.ok) throw new Error('plan did not load');
    const cloudMap = offlineRegistry(result.cloudMapSeeds);
    if (!cloudMap.ok) throw new Error(cloudMap.problems.map((p) => p.message).join('\n'));
    const front = compileProxy(result.model, cloudMap.registry, 'mesh/apps/virtualNode/front', {
      ingressPort: 15000,
      egressPort: 15001,
    });
    if (!front.ok) throw new Error(front.error);
    expect(toEnvoyYaml(renderProxyConfig(front.config))).toMatch(/address: 127\.0\.0\.1\n\s+port_value: 9080\n/);
  });
});

describe("the provider's mapping", () => {
  it('sends what the expand functions send: 0 and "" as unset, an empty gRPC match, maps as key/value lists', () => {
    const dir = meshFolder({
      'state.json': state([
        resource('aws_appmesh_mesh', 'm', {
          name: 'm',
          spec: [{ egress_filter: [{ type: '' }], service_discovery: [] }],
          tags: { team: 'shop' },
          tags_all: { team: 'shop', env: 'prod' },
        }),
        resource('aws_appmesh_virtual_node', 'n', {
          mesh_name: 'm',
          name: 'n',
          spec: [
            {
              listener: [{ port_mapping: [{ port: 50051, protocol: 'grpc' }], health_check: [], timeout: [] }],
              service_discovery: [
                {
                  aws_cloud_map: [
                    { namespace_name: 'm.local', service_name: 'n', attributes: { stage: 'blue', version: 'v2' } },
                  ],
                  dns: [],
                },
              ],
            },
          ],
        }),
        resource('aws_appmesh_virtual_router', 'r', {
          mesh_name: 'm',
          name: 'r',
          spec: [{ listener: [{ port_mapping: [{ port: 50051, protocol: 'grpc' }] }] }],
        }),
        resource('aws_appmesh_route', 'rt', {
          mesh_name: 'm',
          name: 'rt',
          virtual_router_name: 'r',
          spec: [
            {
              priority: 0,
              grpc_route: [
                {
                  match: [],
                  action: [
                    {
                      weighted_target: [
                        { virtual_node: 'n', weight: 0, port: 0 },
                        { virtual_node: 'n', weight: 1, port: 50051 },
                      ],
                    },
                  ],
                  retry_policy: [],
                  timeout: [],
                },
              ],
              http_route: [],
              http2_route: [],
              tcp_route: [],
            },
          ],
        }),
      ]),
    });
    const result = loadMesh([dir]);
    expect(result.problems.filter((p) => p.severity === 'error').map(formatProblem)).toEqual([]);
    if (!result.ok) return;
    const [mesh, node, route] = ['Mesh', 'VirtualNode', 'Route'].map((kind) =>
      result.model.resources.find((r) => r.kind === kind),
    );
    expect(mesh!.spec).toEqual({}); // egress_filter without a type and an empty service_discovery are not sent
    expect(node!.spec).toEqual({
      listeners: [{ portMapping: { port: 50051, protocol: 'grpc' } }],
      serviceDiscovery: {
        awsCloudMap: {
          namespaceName: 'm.local',
          serviceName: 'n',
          attributes: [
            { key: 'stage', value: 'blue' },
            { key: 'version', value: 'v2' },
          ],
        },
      },
    });
    expect(route!.spec).toEqual({
      grpcRoute: {
        match: {},
        action: {
          weightedTargets: [
            { virtualNode: 'n', weight: 0 },
            { virtualNode: 'n', weight: 1, port: 50051 },
          ],
        },
      },
    });
  });

  it('names fields the way Terraform does, with the resource address, and points at them in the JSON', () => {
    const dir = meshFolder({
      'm.yaml': 'kind: Mesh\nname: m\n',
      'state.json': state([
        resource('aws_appmesh_virtual_router', 'r', {
          mesh_name: 'm',
          name: 'r',
          spec: [{ listener: [{ port_mapping: [{ port: 80, protocol: 'udp' }] }] }],
        }),
      ]),
    });
    const result = loadMesh([dir]);
    expect(result.problems.map((p) => formatProblem(p).replace(dir + path.sep, ''))).toEqual([
      'state.json:24:37: error: VirtualRouter/r: must be one of http, http2, grpc, tcp, got "udp" (aws_appmesh_virtual_router.r.spec[0].listener[0].port_mapping[0].protocol)',
    ]);
  });
});
