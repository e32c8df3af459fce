#!/usr/bin/env node
// A fleet's Cloud Map registration → EDS on every replica: how long from a RegisterInstance call
// (sent to the replicas in turn) until every Envoy-like ADS stream connected to ANY replica holds
// and has ACKed the new endpoint. Three `meshd serve --store` replicas on one throwaway PostgreSQL
// (bench/pg-cluster.js, fsync on), N streams spread over them (bench/ads-load.js), 10 caller nodes
// of a Cloud Map-discovered service, as bench/cloud-map-eds.js does for one meshd on its file
// store; that single meshd, with all N streams, runs beside it as the baseline.
//
// The write path in a fleet: the receiving replica checks the registration, commits it with the
// change log's sequence (one transaction holding the fleet's write lock), NOTIFY wakes the others,
// each reads the change and pushes EDS. Reported: the API call's own time and the time until the
// last stream (on every replica) holds the endpoint, p50/p99/max (ms). Writes
// bench/results/fleet-eds.json.
//
// CLI: node bench/fleet-eds.js [--streams 30,300] [--registrations 50] [--replicas 3]
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startLoad } = require('./ads-load');
const { startCluster } = require('./pg-cluster');
const { CALLERS, cloudMap, meshYaml, waitReady } = require('./cloud-map-client');
const { freePort } = require('./ports');
const { percentile } = require('./processes');
const { TypeUrl } = require('../dist/xds/type-urls');

const MESHD = path.join(__dirname, '..', 'bin', 'meshd');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}

/** `replicas` meshd processes (on `store` when given, else one on its file store), N streams over them. */
async function measure({ streams, registrations, replicas, store }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-bench-fleet-'));
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), meshYaml());
  const nodes = [];
  try {
    for (let r = 0; r < replicas; r++) {
      const [xdsPort, adminPort] = [await freePort(), await freePort()];
      const child = spawn(
        process.execPath,
        [
          MESHD,
          'serve',
          '--mesh',
          path.join(dir, 'mesh.yaml'),
          ...(store ? ['--store', store, '--replica-id', `bench-${r}`] : []),
          '--xds-address',
          '127.0.0.1',
          '--xds-port',
          String(xdsPort),
          '--admin-port',
          String(adminPort),
          '--cloud-map-state',
          path.join(dir, `cloud-map-${r}.json`),
          '--rollout-state',
          path.join(dir, `rollouts-${r}.json`),
          '--statsd-port',
          '0',
          '--log-level',
          'warn',
        ],
        { stdio: 'ignore' },
      );
      nodes.push({ child, xdsPort, adminPort });
    }
    for (const n of nodes) await waitReady(n.adminPort, 400);
    const admin = nodes[0].adminPort;
    const { OperationId } = await cloudMap(admin, 'CreateHttpNamespace', { Name: 'cm.local' });
    const { Operation } = await cloudMap(admin, 'GetOperation', { OperationId });
    const { Service } = await cloudMap(admin, 'CreateService', {
      Name: 'orders',
      NamespaceId: Operation.Targets.NAMESPACE,
      HealthCheckCustomConfig: {},
    });

    let waiting;
    const onResponse = (res, stream) => {
      if (!waiting || res.type_url !== TypeUrl.Endpoint || stream.gotEds === waiting.round) return;
      // Only the update that holds this round's endpoint counts (the address is unique to it).
      if (
        !res.resources.some((r) =>
          Buffer.from(r.value).includes(Buffer.from(`10.0.${waiting.round >> 8}.${waiting.round & 255}`)),
        )
      )
        return;
      stream.gotEds = waiting.round;
      if (++waiting.count === streams) waiting.resolve(performance.now());
    };
    const nodeIds = Array.from({ length: CALLERS }, (_, i) => `mesh/cm/virtualNode/caller-${i}`);
    const loads = nodes.map((n, i) =>
      startLoad({
        target: `127.0.0.1:${n.xdsPort}`,
        nodeIds,
        streams: Math.floor(streams / replicas) + (i < streams % replicas ? 1 : 0),
        perConnection: 10,
        onResponse,
      }),
    );
    await Promise.all(loads.map((l) => l.allAcked));

    const api = [];
    const eds = [];
    for (let round = 1; round <= registrations; round++) {
      const allGot = new Promise((resolve) => (waiting = { round, count: 0, resolve }));
      const start = performance.now();
      await cloudMap(nodes[round % replicas].adminPort, 'RegisterInstance', {
        ServiceId: Service.Id,
        InstanceId: `i-${round}`,
        Attributes: { AWS_INSTANCE_IPV4: `10.0.${round >> 8}.${round & 255}`, AWS_INSTANCE_PORT: '8080' },
      });
      api.push(performance.now() - start);
      eds.push((await allGot) - start);
    }
    for (const l of loads) l.close();
    const row = (values) => ({
      p50: +percentile(values, 50).toFixed(1),
      p99: +percentile(values, 99).toFixed(1),
      max: +Math.max(...values).toFixed(1),
    });
    return {
      store: store ? 'postgres' : 'file',
      replicas,
      streams,
      registrations,
      apiMs: row(api),
      registerToAllEdsMs: row(eds),
    };
  } finally {
    for (const n of nodes) n.child.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const sizes = String(arg('streams', '30,300')).split(',').map(Number);
  const registrations = Number(arg('registrations', 50));
  const replicas = Number(arg('replicas', 3));
  const cluster = await startCluster({ fsync: true });
  const results = [];
  try {
    for (const streams of sizes) {
      results.push(await measure({ streams, registrations, replicas: 1 }));
      const url = await cluster.createDatabase(`fleet_eds_${streams}`);
      results.push(await measure({ streams, registrations, replicas, store: url }));
    }
  } finally {
    await cluster.stop();
  }
  console.log(
    'store     replicas  streams  RegisterInstance answered (p50/p99/max ms)  every stream holds it (p50/p99/max ms)',
  );
  for (const r of results) {
    const f = (x) => `${x.p50} / ${x.p99} / ${x.max}`;
    console.log(
      `${r.store.padEnd(9)} ${String(r.replicas).padStart(8)} ${String(r.streams).padStart(8)}  ${f(r.apiMs).padEnd(44)}  ${f(r.registerToAllEdsMs)}`,
    );
  }
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(
    path.join(__dirname, 'results', 'fleet-eds.json'),
    JSON.stringify({ at: new Date().toISOString(), results }, null, 2),
  );
}

main().catch((err) => {
  console.error(`fleet-eds: ${err.message}`);
  process.exit(1);
});
