// The benchmark mesh (a helper, not a bench): S services, each with two versions.
//
// Service i has:
//   - virtual nodes `svc-<i>-v1` (found by DNS: a STRICT_DNS cluster for its callers) and
//     `svc-<i>-v2` (found through Cloud Map, one declared instance: an EDS cluster), both
//     listening on HTTP 8080;
//   - a virtual router `svc-<i>` and its route `svc-<i>`, splitting v1/v2 by weight;
//   - a virtual service `svc-<i>.<mesh>.local` provided by the router.
// Each virtual node calls B backends: the shared service svc-0 (every mesh has its auth or
// config service that everyone calls) and the services after its own, svc-<i+1>...; svc-0's
// own nodes call svc-1..svc-B. So a change to svc-0's route reaches every sidecar but svc-0's
// own, and a change to any other service's route reaches its 2(B-1) callers.
//
// One file per service (its nodes, router, route, service and Cloud Map seed), so changing a
// route rewrites one small file, as a person editing the mesh would.
//
// Dialects (`dialect`): the same mesh (the same names, so the same node ids and clusters) written
//   native: meshd YAML, svc-<i>.yaml;
//   k8s: App Mesh controller manifests (appmesh.k8s.aws/v1beta2, names given by spec.awsName), svc-<i>.yaml,
//     the route inside its VirtualRouter manifest;
//   cli-json: one `aws appmesh create-* --cli-input-json` file per resource (the form that command takes),
//     svc-<i>-<resource>.json, so a route change rewrites svc-<i>-route.json;
//   cloudformation: one template (a stack) per service, svc-<i>.yaml;
//   terraform: one `terraform show -json` state per service, svc-<i>.json.
// The Cloud Map instances: meshd's own `kind: CloudMapService` documents, which every dialect reads
// beside it; in the service's file for native, in one cloud-map.yaml for the other dialects.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const SHARED = 0;

/** The services a node of service i calls (indexes), B of them. */
function backendsOf(i, services, backends) {
  const out = [];
  const add = (j) => j !== i && !out.includes(j) && out.length < backends && out.push(j);
  add(SHARED);
  for (let k = 1; out.length < Math.min(backends, services - 1); k++) add((i + k) % services);
  return out;
}

const serviceName = (i, mesh) => `svc-${i}.${mesh}.local`;

/** The YAML of one service's file, with the route's v1/v2 weights. */
function serviceYaml(i, { services, backends, mesh }, weights = [90, 10]) {
  const calls = backendsOf(i, services, backends)
    .map((j) => `    - virtualService: { virtualServiceName: ${serviceName(j, mesh)} }\n`)
    .join('');
  const node = (version, discovery) =>
    `kind: VirtualNode\nmesh: ${mesh}\nname: svc-${i}-${version}\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: ${discovery}\n  backends:\n${calls}`;
  return [
    node('v1', `{ dns: { hostname: svc-${i}-v1.${mesh}.local } }`),
    node('v2', `{ awsCloudMap: { namespaceName: ${mesh}.local, serviceName: svc-${i}-v2 } }`),
    `kind: VirtualRouter\nmesh: ${mesh}\nname: svc-${i}\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n`,
    routeYaml(i, mesh, weights),
    `kind: VirtualService\nmesh: ${mesh}\nname: ${serviceName(i, mesh)}\nspec: { provider: { virtualRouter: { virtualRouterName: svc-${i} } } }\n`,
    seedYaml(i, mesh),
  ].join('---\n');
}

function routeYaml(i, mesh, [v1, v2]) {
  return `kind: Route\nmesh: ${mesh}\nvirtualRouter: svc-${i}\nname: svc-${i}\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action: { weightedTargets: [{ virtualNode: svc-${i}-v1, weight: ${v1} }, { virtualNode: svc-${i}-v2, weight: ${v2} }] }\n    retryPolicy: { maxRetries: 2, perRetryTimeout: { unit: ms, value: 500 }, httpRetryEvents: [server-error] }\n`;
}

const DIALECTS = ['native', 'k8s', 'cli-json', 'cloudformation', 'terraform'];

/** The CloudMapService document of service i's v2 node. */
function seedYaml(i, mesh) {
  return `kind: CloudMapService\nnamespace: ${mesh}.local\nname: svc-${i}-v2\ninstances:\n  - id: svc-${i}-v2-a\n    attributes: { AWS_INSTANCE_IPV4: 10.${(i >> 8) & 255}.${i & 255}.2, AWS_INSTANCE_PORT: 8080 }\n`;
}

/** Service i's route spec in App Mesh terms, with the given v1/v2 weights. */
function routeSpec(i, [v1, v2]) {
  return {
    httpRoute: {
      match: { prefix: '/' },
      action: {
        weightedTargets: [
          { virtualNode: `svc-${i}-v1`, weight: v1 },
          { virtualNode: `svc-${i}-v2`, weight: v2 },
        ],
      },
      retryPolicy: { maxRetries: 2, perRetryTimeout: { unit: 'ms', value: 500 }, httpRetryEvents: ['server-error'] },
    },
  };
}

/** Service i's resources in App Mesh terms (as the API and the CLI write them). */
function appMeshResources(i, { services, backends, mesh }, [v1, v2]) {
  const node = (version, serviceDiscovery) => ({
    virtualNodeName: `svc-${i}-${version}`,
    spec: {
      listeners: [{ portMapping: { port: 8080, protocol: 'http' } }],
      serviceDiscovery,
      backends: backendsOf(i, services, backends).map((j) => ({
        virtualService: { virtualServiceName: serviceName(j, mesh) },
      })),
    },
  });
  return {
    v1: node('v1', { dns: { hostname: `svc-${i}-v1.${mesh}.local` } }),
    v2: node('v2', { awsCloudMap: { namespaceName: `${mesh}.local`, serviceName: `svc-${i}-v2` } }),
    router: { virtualRouterName: `svc-${i}`, spec: { listeners: [{ portMapping: { port: 8080, protocol: 'http' } }] } },
    route: { virtualRouterName: `svc-${i}`, routeName: `svc-${i}`, spec: routeSpec(i, [v1, v2]) },
    service: {
      virtualServiceName: serviceName(i, mesh),
      spec: { provider: { virtualRouter: { virtualRouterName: `svc-${i}` } } },
    },
  };
}

const json = (value) => `${JSON.stringify(value, null, 2)}\n`;

/** App Mesh controller manifests of service i (names set by awsName: the same as the other dialects'). */
function k8sYaml(i, opts, weights) {
  const { mesh } = opts;
  const r = appMeshResources(i, opts, weights);
  const head = (kind, name) =>
    `apiVersion: appmesh.k8s.aws/v1beta2\nkind: ${kind}\nmetadata:\n  name: ${name}\n  namespace: ${mesh}\nspec:\n`;
  const calls = r.v1.spec.backends
    .map(
      (b) =>
        `    - virtualService:\n        virtualServiceRef: { name: ${b.virtualService.virtualServiceName.split('.')[0]} }\n`,
    )
    .join('');
  const node = (version, discovery) =>
    `${head('VirtualNode', `svc-${i}-${version}`)}  awsName: svc-${i}-${version}\n  podSelector:\n    matchLabels: { app: svc-${i}, version: ${version} }\n  listeners:\n    - portMapping: { port: 8080, protocol: http }\n  serviceDiscovery:\n    ${discovery}\n  backends:\n${calls}`;
  const [v1, v2] = weights;
  return [
    node('v1', `dns: { hostname: svc-${i}-v1.${mesh}.local }`),
    node('v2', `awsCloudMap: { namespaceName: ${mesh}.local, serviceName: svc-${i}-v2 }`),
    `${head('VirtualRouter', `svc-${i}`)}  awsName: svc-${i}\n  listeners:\n    - portMapping: { port: 8080, protocol: http }\n  routes:\n    - name: svc-${i}\n      httpRoute:\n        match: { prefix: / }\n        action:\n          weightedTargets:\n            - virtualNodeRef: { name: svc-${i}-v1 }\n              weight: ${v1}\n            - virtualNodeRef: { name: svc-${i}-v2 }\n              weight: ${v2}\n        retryPolicy:\n          maxRetries: 2\n          perRetryTimeout: { unit: ms, value: 500 }\n          httpRetryEvents: [server-error]\n`,
    `${head('VirtualService', `svc-${i}`)}  awsName: ${serviceName(i, mesh)}\n  provider:\n    virtualRouter:\n      virtualRouterRef: { name: svc-${i} }\n`,
  ].join('---\n');
}

/** CloudFormation's names for App Mesh's fields: each key with its first letter capitalized (and a few spelt out). */
function pascal(value) {
  if (Array.isArray(value)) return value.map(pascal);
  if (value === null || typeof value !== 'object') return value;
  const name = (k) => ({ dns: 'DNS', awsCloudMap: 'AWSCloudMap' })[k] ?? k[0].toUpperCase() + k.slice(1);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [name(k), pascal(v)]));
}

/** Service i's stack: one template of its App Mesh resources. */
function cloudFormationYaml(i, opts, weights) {
  const r = appMeshResources(i, opts, weights);
  const resource = (type, names, spec) => ({
    Type: `AWS::AppMesh::${type}`,
    Properties: { MeshName: opts.mesh, ...names, Spec: pascal(spec) },
  });
  return json({
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `bench service svc-${i}`,
    Resources: {
      NodeV1: resource('VirtualNode', { VirtualNodeName: r.v1.virtualNodeName }, r.v1.spec),
      NodeV2: resource('VirtualNode', { VirtualNodeName: r.v2.virtualNodeName }, r.v2.spec),
      Router: resource('VirtualRouter', { VirtualRouterName: r.router.virtualRouterName }, r.router.spec),
      Route: resource(
        'Route',
        { VirtualRouterName: r.route.virtualRouterName, RouteName: r.route.routeName },
        r.route.spec,
      ),
      Service: resource('VirtualService', { VirtualServiceName: r.service.virtualServiceName }, r.service.spec),
    },
  });
}

/** terraform's nested blocks: every mapping a list of one block, keys in snake_case. */
function tfBlocks(value) {
  if (Array.isArray(value)) return value.map(tfBlocks);
  if (value === null || typeof value !== 'object') return value;
  const snake = (k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => {
      const key = { listeners: 'listener', backends: 'backend', weightedTargets: 'weighted_target' }[k] ?? snake(k);
      if (Array.isArray(v)) return [key, v.every((x) => typeof x !== 'object') ? v : v.map(tfBlocks)];
      return [key, typeof v === 'object' && v !== null ? [tfBlocks(v)] : v];
    }),
  );
}

/** Service i's state as `terraform show -json` prints it. */
function terraformJson(i, opts, weights) {
  const r = appMeshResources(i, opts, weights);
  const resource = (type, name, values) => ({
    address: `${type}.${name}`,
    mode: 'managed',
    type,
    name,
    provider_name: 'registry.terraform.io/hashicorp/aws',
    schema_version: 1,
    values: { mesh_name: opts.mesh, ...values, tags: null, tags_all: {} },
    sensitive_values: {},
  });
  return json({
    format_version: '1.0',
    terraform_version: '1.9.8',
    values: {
      root_module: {
        resources: [
          resource('aws_appmesh_virtual_node', 'v1', { name: r.v1.virtualNodeName, spec: [tfBlocks(r.v1.spec)] }),
          resource('aws_appmesh_virtual_node', 'v2', { name: r.v2.virtualNodeName, spec: [tfBlocks(r.v2.spec)] }),
          resource('aws_appmesh_virtual_router', 'router', {
            name: r.router.virtualRouterName,
            spec: [tfBlocks(r.router.spec)],
          }),
          resource('aws_appmesh_route', 'route', {
            name: r.route.routeName,
            virtual_router_name: r.route.virtualRouterName,
            spec: [tfBlocks(r.route.spec)],
          }),
          resource('aws_appmesh_virtual_service', 'service', {
            name: r.service.virtualServiceName,
            spec: [tfBlocks(r.service.spec)],
          }),
        ],
      },
    },
  });
}

/** The files (name → text) of service i in a dialect; the first holds its route. */
function serviceFiles(dialect, i, opts, weights = [90, 10]) {
  const { mesh } = opts;
  switch (dialect) {
    case 'native':
      return { [`svc-${i}.yaml`]: serviceYaml(i, opts, weights) };
    case 'k8s':
      return { [`svc-${i}.yaml`]: k8sYaml(i, opts, weights) };
    case 'cloudformation':
      return { [`svc-${i}.yaml`]: cloudFormationYaml(i, opts, weights) };
    case 'terraform':
      return { [`svc-${i}.json`]: terraformJson(i, opts, weights) };
    case 'cli-json': {
      const r = appMeshResources(i, opts, weights);
      const withMesh = (v) => json({ meshName: mesh, ...v });
      return {
        [`svc-${i}-route.json`]: withMesh(r.route),
        [`svc-${i}-node-v1.json`]: withMesh(r.v1),
        [`svc-${i}-node-v2.json`]: withMesh(r.v2),
        [`svc-${i}-router.json`]: withMesh(r.router),
        [`svc-${i}-service.json`]: withMesh(r.service),
      };
    }
    default:
      throw new Error(`unknown dialect ${dialect} (${DIALECTS.join(', ')})`);
  }
}

/** The mesh's own file in a dialect. */
function meshFile(dialect, mesh) {
  switch (dialect) {
    case 'native':
      return ['mesh.yaml', `kind: Mesh\nname: ${mesh}\nspec: { egressFilter: { type: DROP_ALL } }\n`];
    case 'k8s':
      return [
        'mesh.yaml',
        `apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata:\n  name: ${mesh}\nspec:\n  egressFilter:\n    type: DROP_ALL\n`,
      ];
    case 'cli-json':
      return ['mesh.json', json({ meshName: mesh, spec: { egressFilter: { type: 'DROP_ALL' } } })];
    case 'cloudformation':
      return [
        'mesh.yaml',
        json({
          AWSTemplateFormatVersion: '2010-09-09',
          Resources: {
            Mesh: {
              Type: 'AWS::AppMesh::Mesh',
              Properties: { MeshName: mesh, Spec: { EgressFilter: { Type: 'DROP_ALL' } } },
            },
          },
        }),
      ];
    case 'terraform':
      return [
        'mesh.json',
        json({
          format_version: '1.0',
          terraform_version: '1.9.8',
          values: {
            root_module: {
              resources: [
                {
                  address: 'aws_appmesh_mesh.mesh',
                  mode: 'managed',
                  type: 'aws_appmesh_mesh',
                  name: 'mesh',
                  provider_name: 'registry.terraform.io/hashicorp/aws',
                  schema_version: 1,
                  values: { name: mesh, spec: [{ egress_filter: [{ type: 'DROP_ALL' }] }], tags: null, tags_all: {} },
                  sensitive_values: {},
                },
              ],
            },
          },
        }),
      ];
    default:
      throw new Error(`unknown dialect ${dialect} (${DIALECTS.join(', ')})`);
  }
}

/**
 * Writes the mesh into a new temp folder (or `dir`) and returns a handle:
 *   dir, files, nodeIds (every virtual node's id), callersOf(i) (node ids whose proxies a change of
 *   service i's route reaches), setWeights(i, [v1, v2]) (rewrites the file of service i's route).
 */
function writeMesh({ services, backends = 5, mesh = 'bench', dir, dialect = 'native' } = {}) {
  if (!(services >= 2)) throw new Error('writeMesh: at least 2 services');
  if (!DIALECTS.includes(dialect)) throw new Error(`writeMesh: unknown dialect ${dialect} (${DIALECTS.join(', ')})`);
  const opts = { services, backends, mesh };
  const folder = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), `meshd-bench-s${services}-`));
  fs.mkdirSync(folder, { recursive: true });
  const [meshName, meshText] = meshFile(dialect, mesh);
  fs.writeFileSync(path.join(folder, meshName), meshText);
  for (let i = 0; i < services; i++)
    for (const [name, text] of Object.entries(serviceFiles(dialect, i, opts)))
      fs.writeFileSync(path.join(folder, name), text);
  if (dialect !== 'native') {
    const seeds = [];
    for (let i = 0; i < services; i++) seeds.push(seedYaml(i, mesh));
    fs.writeFileSync(path.join(folder, 'cloud-map.yaml'), seeds.join('---\n'));
  }
  const routeFileName = (i) => Object.keys(serviceFiles(dialect, i, opts))[0];
  const idOf = (i, version) => `mesh/${mesh}/virtualNode/svc-${i}-${version}`;
  const nodeIds = [];
  for (let i = 0; i < services; i++) nodeIds.push(idOf(i, 'v1'), idOf(i, 'v2'));
  return {
    dir: folder,
    mesh,
    dialect,
    services,
    backends,
    nodeIds,
    routeFile: (i) => path.join(folder, routeFileName(i)),
    callersOf(i) {
      const ids = [];
      for (let j = 0; j < services; j++)
        if (backendsOf(j, services, backends).includes(i)) ids.push(idOf(j, 'v1'), idOf(j, 'v2'));
      return ids;
    },
    /** The egress cluster name (as meshd names it) a route to svc-<i>-<version> uses. */
    targetCluster: (i, version) => `cds_egress_${mesh}_svc-${i}-${version}_http_8080`,
    serviceYaml: (i, weights) => serviceYaml(i, opts, weights),
    setWeights(i, weights) {
      const name = routeFileName(i);
      fs.writeFileSync(path.join(folder, name), serviceFiles(dialect, i, opts, weights)[name]);
    },
    remove: () => fs.rmSync(folder, { recursive: true, force: true }),
  };
}

/** The weights of the k-th change (k = 1, 2, ...): every change differs from the one before. */
function weightsOfChange(k) {
  const v2 = 10 + (k % 80);
  return [100 - v2, v2];
}

module.exports = { writeMesh, backendsOf, weightsOfChange, routeSpec, SHARED, DIALECTS };
