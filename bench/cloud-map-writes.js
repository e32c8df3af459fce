#!/usr/bin/env node
// Cloud Map writes on a large registry: does one registration cost more when the registry is
// big, and does it stall meshd's event loop for everyone else? A real `meshd serve` is filled
// with N instances (each with ~4 KB of attributes, so N=3,500 is a ~15 MB registry), then
// WRITES more registrations are made one after the other through the AWS JSON API while
// another client polls GET /healthz every few ms.
//
// Reported: the RegisterInstance call's own time (meshd answers once the change is durable),
// the /healthz latency during those writes (an event-loop stall shows here), the time the fill
// took, and the size of the registry files on disk. Prints a table; writes
// bench/results/cloud-map-writes.json.
//
// --fill api (default) registers the N instances through the API; --fill file writes them into
// the state file before meshd starts (the old whole-file store takes minutes to fill by API).
//
// CLI: node bench/cloud-map-writes.js [--instances 3500] [--writes 200] [--fill api|file]
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./ports');
const { waitReady } = require('./http-json');
const { percentile } = require('./processes');

const MESHD = path.join(__dirname, '..', 'bin', 'meshd');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}

const MESH = [
  `kind: Mesh\nname: cm\n`,
  `kind: VirtualNode\nmesh: cm\nname: orders\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { awsCloudMap: { namespaceName: cm.local, serviceName: orders } }\n`,
  `kind: VirtualService\nmesh: cm\nname: orders.cm.local\nspec: { provider: { virtualNode: { virtualNodeName: orders } } }\n`,
  `kind: VirtualNode\nmesh: cm\nname: caller\nspec:\n  backends: [{ virtualService: { virtualServiceName: orders.cm.local } }]\n`,
].join('---\n');

/** ~4 KB of attributes, like an instance with a few labels and some metadata. */
function attributesOf(i) {
  const attributes = {
    AWS_INSTANCE_IPV4: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    AWS_INSTANCE_PORT: '8080',
  };
  for (let k = 0; k < 8; k++) attributes[`meta-${k}`] = `${i}-${k}-`.padEnd(480, 'x');
  return attributes;
}

/** One request; resolves with { status, text, ms }. */
function request(port, method, pathName, headers, body) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = http.request({ host: '127.0.0.1', port, path: pathName, method, agent: false, headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text, ms: performance.now() - start }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function cloudMap(port, operation, input) {
  const answer = await request(
    port,
    'POST',
    '/',
    { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `Route53AutoNaming_v20170314.${operation}` },
    JSON.stringify(input),
  );
  if (answer.status !== 200) throw new Error(`${operation}: ${answer.status} ${answer.text}`);
  return { ...JSON.parse(answer.text), ms: answer.ms };
}

const row = (values) => ({
  n: values.length,
  mean: +(values.reduce((a, b) => a + b, 0) / values.length).toFixed(1),
  p50: +percentile(values, 50).toFixed(1),
  p99: +percentile(values, 99).toFixed(1),
  max: +Math.max(...values).toFixed(1),
});

/** The state file meshd would have written after N registrations (for --fill file). */
function stateFileWith(instances) {
  const now = Date.now() / 1000;
  const ns = {
    id: 'ns-benchbenchbenchbe',
    arn: 'arn:aws:servicediscovery:us-east-1:000000000000:namespace/ns-benchbenchbenchbe',
    name: 'cm.local',
    type: 'HTTP',
    createDate: now,
  };
  const service = {
    id: 'srv-benchbenchbenchb',
    arn: 'arn:aws:servicediscovery:us-east-1:000000000000:service/srv-benchbenchbenchb',
    name: 'orders',
    namespaceId: ns.id,
    healthCheckCustomConfig: {},
    createDate: now,
    revision: instances + 1,
  };
  const records = Array.from({ length: instances }, (_, i) => ({
    id: `i-${i}`,
    serviceId: service.id,
    attributes: attributesOf(i),
    health: 'HEALTHY',
    createDate: now,
  }));
  return {
    format: 'meshd-cloud-map/v1',
    namespaces: [ns],
    services: [service],
    instances: records,
    operations: [],
    appliedSeeds: [],
  };
}

function filesSize(dir) {
  return fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('cloud-map'))
    .reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
}

async function main() {
  const instances = Number(arg('instances', 3500));
  const writes = Number(arg('writes', 200));
  const fill = arg('fill', 'api');
  if (!['api', 'file'].includes(fill)) throw new Error('--fill is api or file');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-bench-cloud-map-writes-'));
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), MESH);
  const state = path.join(dir, 'cloud-map.json');
  if (fill === 'file') fs.writeFileSync(state, JSON.stringify(stateFileWith(instances), null, 2) + '\n');
  const [xdsPort, adminPort] = [await freePort(), await freePort()];
  const meshd = spawn(
    process.execPath,
    [
      MESHD,
      'serve',
      '--mesh',
      path.join(dir, 'mesh.yaml'),
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(xdsPort),
      '--admin-port',
      String(adminPort),
      '--cloud-map-state',
      state,
      '--statsd-port',
      '0',
      '--log-level',
      'warn',
    ],
    { stdio: 'ignore' },
  );
  try {
    await waitReady(adminPort, 600);
    let serviceId;
    let fillMs = 0;
    if (fill === 'api') {
      const { OperationId } = await cloudMap(adminPort, 'CreateHttpNamespace', { Name: 'cm.local' });
      const { Operation } = await cloudMap(adminPort, 'GetOperation', { OperationId });
      serviceId = (
        await cloudMap(adminPort, 'CreateService', {
          Name: 'orders',
          NamespaceId: Operation.Targets.NAMESPACE,
          HealthCheckCustomConfig: {},
        })
      ).Service.Id;
      const start = performance.now();
      for (let i = 0; i < instances; i++)
        await cloudMap(adminPort, 'RegisterInstance', {
          ServiceId: serviceId,
          InstanceId: `i-${i}`,
          Attributes: attributesOf(i),
        });
      fillMs = performance.now() - start;
    } else {
      serviceId = stateFileWith(0).services[0].id;
    }

    // The victim: /healthz every 5 ms (one at a time) while the writes run.
    const healthz = [];
    let writing = true;
    const poller = (async () => {
      while (writing) {
        healthz.push((await request(adminPort, 'GET', '/healthz', {})).ms);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const register = [];
    for (let w = 0; w < writes; w++) {
      const i = instances + w;
      register.push(
        (
          await cloudMap(adminPort, 'RegisterInstance', {
            ServiceId: serviceId,
            InstanceId: `i-${i}`,
            Attributes: attributesOf(i),
          })
        ).ms,
      );
    }
    writing = false;
    await poller;

    const result = {
      at: new Date().toISOString(),
      instances,
      writes,
      fill,
      fillSeconds: +(fillMs / 1000).toFixed(1),
      registryBytesOnDisk: filesSize(dir),
      registerMs: row(register),
      healthzDuringWritesMs: row(healthz),
    };
    const f = (r) => `mean ${r.mean}  p50 ${r.p50}  p99 ${r.p99}  max ${r.max}  (n=${r.n})`;
    console.log(
      `registry: ${instances} instances (${(result.registryBytesOnDisk / 1e6).toFixed(1)} MB on disk${fill === 'api' ? `, filled through the API in ${result.fillSeconds} s` : ', written before start'})`,
    );
    console.log(`RegisterInstance answered (ms):   ${f(result.registerMs)}`);
    console.log(`GET /healthz during writes (ms):  ${f(result.healthzDuringWritesMs)}`);
    fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
    fs.writeFileSync(path.join(__dirname, 'results', 'cloud-map-writes.json'), JSON.stringify(result, null, 2) + '\n');
  } finally {
    meshd.kill('SIGTERM');
    await new Promise((r) => (meshd.exitCode !== null ? r() : meshd.once('exit', r)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`cloud-map-writes: ${err.message}`);
  process.exit(1);
});
