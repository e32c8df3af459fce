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
const fileOf = (i) => `svc-${i}.yaml`;

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
    `kind: CloudMapService\nnamespace: ${mesh}.local\nname: svc-${i}-v2\ninstances:\n  - id: svc-${i}-v2-a\n    attributes: { AWS_INSTANCE_IPV4: 10.${(i >> 8) & 255}.${i & 255}.2, AWS_INSTANCE_PORT: 8080 }\n`,
  ].join('---\n');
}

function routeYaml(i, mesh, [v1, v2]) {
  return `kind: Route\nmesh: ${mesh}\nvirtualRouter: svc-${i}\nname: svc-${i}\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action: { weightedTargets: [{ virtualNode: svc-${i}-v1, weight: ${v1} }, { virtualNode: svc-${i}-v2, weight: ${v2} }] }\n    retryPolicy: { maxRetries: 2, perRetryTimeout: { unit: ms, value: 500 }, httpRetryEvents: [server-error] }\n`;
}

/**
 * Writes the mesh into a new temp folder (or `dir`) and returns a handle:
 *   dir, files, nodeIds (every virtual node's id), callersOf(i) (node ids whose proxies a change of
 *   service i's route reaches), setWeights(i, [v1, v2]) (rewrites service i's file).
 */
function writeMesh({ services, backends = 5, mesh = 'bench', dir } = {}) {
  if (!(services >= 2)) throw new Error('writeMesh: at least 2 services');
  const opts = { services, backends, mesh };
  const folder = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), `meshd-bench-s${services}-`));
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(
    path.join(folder, 'mesh.yaml'),
    `kind: Mesh\nname: ${mesh}\nspec: { egressFilter: { type: DROP_ALL } }\n`,
  );
  for (let i = 0; i < services; i++) fs.writeFileSync(path.join(folder, fileOf(i)), serviceYaml(i, opts));
  const idOf = (i, version) => `mesh/${mesh}/virtualNode/svc-${i}-${version}`;
  const nodeIds = [];
  for (let i = 0; i < services; i++) nodeIds.push(idOf(i, 'v1'), idOf(i, 'v2'));
  return {
    dir: folder,
    mesh,
    services,
    backends,
    nodeIds,
    routeFile: (i) => path.join(folder, fileOf(i)),
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
      fs.writeFileSync(path.join(folder, fileOf(i)), serviceYaml(i, opts, weights));
    },
    remove: () => fs.rmSync(folder, { recursive: true, force: true }),
  };
}

/** The weights of the k-th change (k = 1, 2, ...): every change differs from the one before. */
function weightsOfChange(k) {
  const v2 = 10 + (k % 80);
  return [100 - v2, v2];
}

module.exports = { writeMesh, backendsOf, weightsOfChange, SHARED };
