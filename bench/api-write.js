#!/usr/bin/env node
// App Mesh API write → every affected proxy ACKed: how long from an UpdateRoute call on meshd's
// admin port until the last of N connected ADS streams has ACKed the route configuration carrying
// the new weights. The mesh is bench/mesh-gen.js's with S = 500 services, i.e. 1,000 virtual nodes
// (5,000 resources) in the user's files, except for the route of the shared service svc-0, which is
// created through the App Mesh API (so it is the API's, in <mesh folder>/.meshd-api/); a change of
// that route reaches every proxy but svc-0's own. N Envoy-like streams (bench/ads-load.js, in its
// own process, so that the bench's clock reads the API's answer on time) are spread over the node
// ids it reaches; then WRITES UpdateRoute calls one after the other (raw restJson, unsigned: meshd
// on loopback takes any credentials), each with new weights.
//
// Each write is checked by meshd as a file would be (the whole mesh it makes is loaded and
// validated), written atomically to its file, compiled and pushed. Reported per N: the call's own
// time (meshd answers once the file is written; the store hands the new mesh to the compiler on the
// event loop's next turn, after the answer) and the time until every stream ACKed
// the new route configuration (found by the new weighted cluster's encoded bytes): p50, p99, max
// (ms). Prints a table; writes bench/results/api-write.json.
//
// CLI: node bench/api-write.js [--services 500] [--streams 100,1000] [--writes 100] [--out file.json]
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const { requestJson, waitReady } = require('./http-json');
const os = require('node:os');
const path = require('node:path');
const { writeMesh, weightsOfChange, routeSpec, SHARED } = require('./mesh-gen');
const { freePort } = require('./ports');
const { percentile, preciseNow, startJsonLineProcess } = require('./processes');

const MESHD = path.join(__dirname, '..', 'bin', 'meshd');
const LOAD = path.join(__dirname, 'ads-load.js');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}

/** The bytes of a weighted cluster { name, weight: { value } } as protobuf writes them (see propagation.js). */
function weightNeedle(cluster, weight) {
  if (cluster.length > 127 || weight > 127) throw new Error('weightNeedle: one-byte lengths and weights only');
  return Buffer.concat([
    Buffer.from([0x0a, cluster.length]),
    Buffer.from(cluster),
    Buffer.from([0x12, 0x02, 0x08, weight]),
  ]);
}

/** One App Mesh API call (restJson); resolves with the parsed answer, rejects on anything but 200. */
function appMesh(port, method, target, input) {
  const body = input === undefined ? undefined : JSON.stringify(input);
  const options = {
    host: '127.0.0.1',
    port,
    path: target,
    method,
    // A connection each: a kept-alive one may be closed by meshd while the streams connect.
    agent: false,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
  };
  return requestJson(options, body, `${method} ${target}`);
}

async function measure({ services, streams, writes }) {
  const mesh = writeMesh({ services });
  const i = SHARED;
  // svc-0's file without its route: the route is created through the API below.
  const docs = mesh.serviceYaml(i, [90, 10]).split('---\n');
  fs.writeFileSync(mesh.routeFile(i), docs.filter((d) => !d.startsWith('kind: Route\n')).join('---\n'));
  // meshd's state (Cloud Map registry, rollouts, the metadata of file-defined resources) apart from the mesh.
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-bench-api-state-'));
  const [xdsPort, adminPort] = [await freePort(), await freePort()];
  const meshd = spawn(
    process.execPath,
    [
      MESHD,
      'serve',
      '--mesh',
      mesh.dir,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(xdsPort),
      '--admin-port',
      String(adminPort),
      '--cloud-map-state',
      path.join(state, 'cloud-map.json'),
      '--rollout-state',
      path.join(state, 'rollouts.json'),
      '--statsd-port',
      '0',
      '--log-level',
      'error',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  let load;
  try {
    await waitReady(adminPort, 1200);
    const target = `/v20190125/meshes/${mesh.mesh}/virtualRouter/svc-${i}/routes`;
    await appMesh(adminPort, 'PUT', target, { routeName: `svc-${i}`, spec: routeSpec(i, [90, 10]) });

    const nodeIds = mesh.callersOf(i);
    load = startJsonLineProcess('the load generator', process.execPath, [
      LOAD,
      '--xds',
      `127.0.0.1:${xdsPort}`,
      '--nodes',
      nodeIds.join(','),
      '--streams',
      String(streams),
      '--per-connection',
      '10',
    ]);
    await load.event('all-acked', 300000);

    const api = [];
    const acked = [];
    let version;
    for (let k = 1; k <= writes; k++) {
      const weights = weightsOfChange(k);
      const id = `w${k}`;
      load.send(`arm ${id} ${weightNeedle(mesh.targetCluster(i, 'v2'), weights[1]).toString('hex')}`);
      await load.event('armed', 10000, (e) => e.id === id);
      const start = preciseNow();
      const answer = await appMesh(adminPort, 'PUT', `${target}/svc-${i}`, { spec: routeSpec(i, weights) });
      api.push(preciseNow() - start);
      const done = await load
        .event('change-acked', 60000, (e) => e.id === id)
        .catch((err) => {
          throw new Error(`write ${k} did not reach every stream: ${err.message}`);
        });
      acked.push(done.lastAt - start);
      version = answer.metadata.version;
    }
    const row = (values) => ({
      p50: +percentile(values, 50).toFixed(1),
      p99: +percentile(values, 99).toFixed(1),
      max: +Math.max(...values).toFixed(1),
    });
    return {
      virtualNodes: mesh.nodeIds.length,
      streams,
      affectedNodeIds: nodeIds.length,
      writes,
      finalVersion: version,
      apiAnswerMs: row(api),
      writeToAllAckedMs: row(acked),
    };
  } finally {
    await load?.stop();
    meshd.kill('SIGTERM');
    await new Promise((resolve) => (meshd.exitCode !== null ? resolve() : meshd.once('exit', resolve)));
    mesh.remove();
    fs.rmSync(state, { recursive: true, force: true });
  }
}

/** The options, checked: a bad one ends the bench in one line with exit 2, before anything starts. */
function options() {
  const services = Number(arg('services', 500));
  const sizes = String(arg('streams', '100,1000')).split(',').map(Number);
  const writes = Number(arg('writes', 100));
  const out = arg('out', path.join(__dirname, 'results', 'api-write.json'));
  const bad = !(Number.isInteger(services) && services >= 2)
    ? '--services must be a whole number, at least 2'
    : !sizes.every((n) => Number.isInteger(n) && n > 0)
      ? '--streams must list positive whole numbers (100,1000)'
      : !(Number.isInteger(writes) && writes > 0 && writes <= 1000)
        ? '--writes must be a whole number from 1 to 1000'
        : undefined;
  if (bad) {
    console.error(`api-write: ${bad}`);
    process.exit(2);
  }
  return { services, sizes, writes, out };
}

async function main() {
  const { services, sizes, writes, out } = options();
  const results = [];
  for (const streams of sizes) results.push(await measure({ services, streams, writes }));
  console.log(
    `virtual nodes ${results[0].virtualNodes}, ${writes} UpdateRoute calls one after the other, each reaching every stream`,
  );
  console.log('streams  UpdateRoute answered (p50/p99/max ms)  every stream ACKed it (p50/p99/max ms)');
  for (const r of results) {
    const f = (x) => `${x.p50} / ${x.p99} / ${x.max}`;
    console.log(`${String(r.streams).padStart(7)}  ${f(r.apiAnswerMs).padEnd(38)}  ${f(r.writeToAllAckedMs)}`);
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), results }, null, 2));
  console.log(`results: ${path.relative(process.cwd(), out)}`);
}

main().catch((err) => {
  console.error(`api-write: ${err.message}`);
  process.exit(1);
});
