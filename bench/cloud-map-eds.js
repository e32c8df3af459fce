#!/usr/bin/env node
// Cloud Map registration → EDS: how long from a RegisterInstance call to every connected
// caller holding (and having ACKed) the new endpoint. A `meshd serve` process with a mesh of
// 10 caller nodes that each call a Cloud Map-discovered service; N Envoy-like ADS streams
// (bench/ads-load.js, in this process) spread over those 10 node ids; then REGISTRATIONS
// instances registered one after the other through the AWS JSON API on the admin port.
//
// Reported per N: the API call's own time (meshd answers after the registry file is written
// and fsynced) and the time until the last of the N streams received its EDS update.
// Prints a table; writes bench/results/cloud-map-eds.json. The target: ≤ 100 ms.
//
// CLI: node bench/cloud-map-eds.js [--streams 1,100,1000] [--registrations 30]
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startLoad } = require('./ads-load');
const { CALLERS, cloudMap, meshYaml, waitReady } = require('./cloud-map-client');
const { freePort } = require('./ports');
const { percentile } = require('./processes');
const { TypeUrl } = require('../dist/xds/type-urls');

const MESHD = path.join(__dirname, '..', 'bin', 'meshd');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}

async function measure(streams, registrations) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-bench-cloud-map-'));
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), meshYaml());
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
      path.join(dir, 'cloud-map.json'),
      '--statsd-port',
      '0',
      '--log-level',
      'warn',
    ],
    { stdio: 'ignore' },
  );
  try {
    await waitReady(adminPort);
    const { OperationId } = await cloudMap(adminPort, 'CreateHttpNamespace', { Name: 'cm.local' });
    const { Operation } = await cloudMap(adminPort, 'GetOperation', { OperationId });
    const { Service } = await cloudMap(adminPort, 'CreateService', {
      Name: 'orders',
      NamespaceId: Operation.Targets.NAMESPACE,
      HealthCheckCustomConfig: {},
    });

    // Each registration adds one endpoint; a stream is done when its EDS update holds that many.
    let waiting;
    const onResponse = (res, stream) => {
      if (!waiting || res.type_url !== TypeUrl.Endpoint || stream.gotEds === waiting.round) return;
      stream.gotEds = waiting.round;
      if (++waiting.count === streams) waiting.resolve(performance.now());
    };
    const nodeIds = Array.from({ length: CALLERS }, (_, i) => `mesh/cm/virtualNode/caller-${i}`);
    const load = startLoad({ target: `127.0.0.1:${xdsPort}`, nodeIds, streams, perConnection: 10, onResponse });
    await load.allAcked;

    const api = [];
    const eds = [];
    for (let round = 1; round <= registrations; round++) {
      const allGot = new Promise((resolve) => (waiting = { round, count: 0, resolve }));
      const start = performance.now();
      await cloudMap(adminPort, 'RegisterInstance', {
        ServiceId: Service.Id,
        InstanceId: `i-${round}`,
        Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: String(1000 + round) },
      });
      api.push(performance.now() - start);
      eds.push((await allGot) - start);
    }
    load.close();
    const row = (values) => ({
      p50: +percentile(values, 50).toFixed(1),
      p99: +percentile(values, 99).toFixed(1),
      max: +Math.max(...values).toFixed(1),
    });
    return { streams, callers: CALLERS, registrations, apiMs: row(api), registerToAllEdsMs: row(eds) };
  } finally {
    meshd.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const sizes = String(arg('streams', '1,100,1000')).split(',').map(Number);
  const registrations = Number(arg('registrations', 30));
  const results = [];
  for (const streams of sizes) results.push(await measure(streams, registrations));
  console.log('streams  RegisterInstance answered (p50/p99/max ms)  all streams hold the endpoint (p50/p99/max ms)');
  for (const r of results) {
    const f = (x) => `${x.p50} / ${x.p99} / ${x.max}`.padEnd(44);
    console.log(
      `${String(r.streams).padStart(7)}  ${f(r.apiMs)}  ${r.registerToAllEdsMs.p50} / ${r.registerToAllEdsMs.p99} / ${r.registerToAllEdsMs.max}`,
    );
  }
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(
    path.join(__dirname, 'results', 'cloud-map-eds.json'),
    JSON.stringify({ at: new Date().toISOString(), target: 'register → EDS ≤ 100 ms', results }, null, 2),
  );
}

main().catch((err) => {
  console.error(`cloud-map-eds: ${err.message}`);
  process.exit(1);
});
