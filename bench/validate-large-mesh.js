#!/usr/bin/env node
// Benchmark: validating a generated 5,000-resource mesh (issue 3's target: under 1 s).
// Writes the mesh to a temp folder as meshd YAML (50 files) and as Kubernetes manifests, then
// times loadMesh (read, parse, decode, cross-check) on each. Prints a table; writes bench/results/validate.json.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { loadMesh } = require('../dist/load/mesh-source');

const ROUTERS = 500;
const ROUTES_PER_ROUTER = 4;
const NODES = 1000; // two per router, shared by its routes
const RUNS = 7;

function nativeMesh() {
  const docs = ['kind: Mesh\nname: big\n'];
  for (let i = 0; i < NODES; i++) {
    docs.push(
      `kind: VirtualNode\nmesh: big\nname: node-${i}\nspec:\n  listeners:\n    - portMapping: { port: 8080, protocol: http }\n      healthCheck: { protocol: http, path: /health, healthyThreshold: 2, unhealthyThreshold: 2, intervalMillis: 5000, timeoutMillis: 2000 }\n  serviceDiscovery: { dns: { hostname: node-${i}.big.local } }\n  backends: [{ virtualService: { virtualServiceName: svc-${(i + 1) % ROUTERS}.big.local } }]\n`,
    );
  }
  for (let r = 0; r < ROUTERS; r++) {
    docs.push(
      `kind: VirtualService\nmesh: big\nname: svc-${r}.big.local\nspec: { provider: { virtualRouter: { virtualRouterName: router-${r} } } }\n`,
    );
    docs.push(
      `kind: VirtualRouter\nmesh: big\nname: router-${r}\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n`,
    );
    for (let k = 0; k < ROUTES_PER_ROUTER; k++) {
      docs.push(
        `kind: Route\nmesh: big\nvirtualRouter: router-${r}\nname: route-${k}\nspec:\n  priority: ${k}\n  httpRoute:\n    match: { prefix: /p${k}, headers: [{ name: x-v, match: { exact: v${k} } }] }\n    action: { weightedTargets: [{ virtualNode: node-${2 * r}, weight: 90 }, { virtualNode: node-${2 * r + 1}, weight: 10 }] }\n    retryPolicy: { maxRetries: 2, perRetryTimeout: { unit: ms, value: 500 }, httpRetryEvents: [server-error] }\n`,
      );
    }
  }
  // Each node's own service name, up to 5,000 resources.
  for (let i = 0; docs.length < 5000; i++) {
    docs.push(
      `kind: VirtualService\nmesh: big\nname: node-${i}.big.local\nspec: { provider: { virtualNode: { virtualNodeName: node-${i} } } }\n`,
    );
  }
  return docs;
}

function k8sMesh() {
  const docs = [
    'apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: { name: big }\nspec: { namespaceSelector: {} }\n',
  ];
  const meta = (kind, name) =>
    `apiVersion: appmesh.k8s.aws/v1beta2\nkind: ${kind}\nmetadata: { name: ${name}, namespace: ns }\n`;
  for (let i = 0; i < NODES; i++) {
    docs.push(
      `${meta('VirtualNode', `node-${i}`)}spec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: node-${i}.big.local } }\n  backends: [{ virtualService: { virtualServiceRef: { name: svc-${(i + 1) % ROUTERS} } } }]\n`,
    );
    docs.push(
      `${meta('VirtualService', `node-${i}`)}spec: { provider: { virtualNode: { virtualNodeRef: { name: node-${i} } } } }\n`,
    );
  }
  for (let r = 0; r < ROUTERS; r++) {
    const routes = Array.from(
      { length: ROUTES_PER_ROUTER },
      (_, k) =>
        `    - name: route-${k}\n      priority: ${k}\n      httpRoute:\n        match: { prefix: /p${k} }\n        action: { weightedTargets: [{ virtualNodeRef: { name: node-${2 * r} }, weight: 90 }, { virtualNodeRef: { name: node-${2 * r + 1} }, weight: 10 }] }\n`,
    ).join('');
    docs.push(
      `${meta('VirtualRouter', `router-${r}`)}spec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  routes:\n${routes}`,
    );
    docs.push(
      `${meta('VirtualService', `svc-${r}`)}spec: { provider: { virtualRouter: { virtualRouterRef: { name: router-${r} } } } }\n`,
    );
  }
  return docs;
}

function writeFolder(name, docs, files = 50) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `meshd-bench-${name}-`));
  const per = Math.ceil(docs.length / files);
  for (let f = 0; f * per < docs.length; f++)
    fs.writeFileSync(path.join(dir, `part-${f}.yaml`), docs.slice(f * per, (f + 1) * per).join('---\n'));
  return dir;
}

function time(dir) {
  const ms = [];
  let resources = 0;
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    const result = loadMesh([dir]);
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (!result.ok) throw new Error(`the generated mesh is invalid: ${result.problems[0].message}`);
    resources = result.model.resources.length;
  }
  ms.sort((a, b) => a - b);
  return {
    resources,
    runs: RUNS,
    medianMs: round(ms[Math.floor(RUNS / 2)]),
    minMs: round(ms[0]),
    maxMs: round(ms[RUNS - 1]),
  };
}

const round = (n) => Math.round(n * 10) / 10;

const rows = [
  { input: 'meshd YAML, 50 files', ...time(writeFolder('native', nativeMesh())) },
  { input: 'Kubernetes manifests, 50 files', ...time(writeFolder('k8s', k8sMesh())) },
];
console.log('validate a generated mesh (loadMesh: read + parse + decode + cross-check), target < 1000 ms');
console.table(rows);
const out = path.join(__dirname, 'results', 'validate.json');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, `${JSON.stringify({ node: process.version, cpus: os.cpus().length, rows }, null, 2)}\n`);
console.log(`written to ${path.relative(process.cwd(), out)}`);
