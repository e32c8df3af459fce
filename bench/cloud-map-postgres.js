#!/usr/bin/env node
// Cloud Map registrations on the fleet's store (PostgreSQL) beside the file store, in process, through the code
// `meshd serve` runs (the built dist/): each store is filled with FILL instances, then BURST RegisterInstance calls
// (real AWS JSON request bodies through the store's handler), CONCURRENCY in flight at once, as a fleet of
// registering tasks would send them.
//
// - postgres (R replicas): R stores on one database of a throwaway cluster (bench/pg-cluster.js, fsync on by
//   default), each with its shared registry following the log (src/store/postgres/cloud-map.ts); the burst's calls
//   are spread over the R replicas' handlers, so every replica also applies the others' changes, as in a fleet.
// - file: the file mode (openRegistryStore: the state file and its journal, fdatasync per write) and cloudMapHandler.
//
// Reported per store: registrations per second over the burst (from the first call to the last answer), each call's
// time from call to answer (p50, p99, max), and the event loop's delay during the burst (perf_hooks
// monitorEventLoopDelay at 1 ms, its period taken off: p99 and max), the stall every proxy stream and admin request of
// the process would see; beside it the same measure over an idle second just before (the machine's floor: on a busy
// machine a process waits for a core). Targets for the fleet's store: >= 1,000 registrations/s, event-loop delay
// p99 < 20 ms.
// Writes bench/results/cloud-map-postgres.json.
//
// CLI: node bench/cloud-map-postgres.js [--fill 5000] [--burst 5000] [--concurrency 100] [--replicas 1,3]
//        [--fsync on|off] [--file on|off (the file store beside)] [--url postgres://… (an existing server: a
//        database is created on it)]
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { startCluster } = require('./pg-cluster');

const DIST = path.join(__dirname, '..', 'dist');
const TARGET = 'Route53AutoNaming_v20170314.';

const USAGE =
  'usage: node bench/cloud-map-postgres.js [--fill N] [--burst N] [--concurrency N] [--replicas 1,3] [--fsync on|off] [--file on|off] [--url postgres://…]';

function options(argv) {
  const known = new Set(['fill', 'burst', 'concurrency', 'replicas', 'fsync', 'url', 'file', 'help']);
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z]+)$/.exec(argv[i]);
    if (!m || !known.has(m[1])) throw new Error(`unknown option '${argv[i]}'`);
    if (m[1] === 'help') {
      out.help = true;
      continue;
    }
    if (i + 1 >= argv.length) throw new Error(`--${m[1]} needs a value`);
    out[m[1]] = argv[++i];
  }
  const count = (name, fallback, min) => {
    if (out[name] === undefined) return fallback;
    const n = Number(out[name]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got '${out[name]}'`);
    return n;
  };
  const replicas = (out.replicas ?? '1,3').split(',').map((r) => {
    const n = Number(r);
    if (!Number.isInteger(n) || n < 1 || n > 10) throw new Error(`--replicas takes counts from 1 to 10, got '${r}'`);
    return n;
  });
  if (out.fsync !== undefined && out.fsync !== 'on' && out.fsync !== 'off')
    throw new Error(`--fsync is on or off, got '${out.fsync}'`);
  if (out.file !== undefined && out.file !== 'on' && out.file !== 'off')
    throw new Error(`--file is on or off, got '${out.file}'`);
  if (out.url !== undefined && !/^postgres(ql)?:\/\//.test(out.url)) throw new Error('--url must be a postgres:// URL');
  return {
    help: out.help === true,
    fill: count('fill', 5000, 0),
    burst: count('burst', 5000, 1),
    concurrency: count('concurrency', 100, 1),
    replicas,
    fsync: out.fsync !== 'off',
    file: out.file !== 'off',
    url: out.url,
  };
}

function request(operation, input) {
  return {
    method: 'POST',
    path: '/',
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': `${TARGET}${operation}` },
    body: Buffer.from(JSON.stringify(input)),
  };
}

/** A task's registration: its address and port, and a few labels. */
function registration(serviceId, i) {
  return request('RegisterInstance', {
    ServiceId: serviceId,
    InstanceId: `task-${i}`,
    CreatorRequestId: `req-${i}`,
    Attributes: {
      AWS_INSTANCE_IPV4: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      AWS_INSTANCE_PORT: '8080',
      'ECS_CLUSTER_NAME': 'bench',
      'ECS_TASK_DEFINITION_FAMILY': 'orders',
      version: 'v2',
      zone: `zone-${i % 3}`,
    },
  });
}

async function ok(answer, what) {
  const a = await answer;
  if (a.status !== 200) throw new Error(`${what}: ${a.status} ${JSON.stringify(a.body)}`);
  return a.body;
}

/** A namespace and a service on `handler`; the service's id. */
async function makeService(handler) {
  const ns = await ok(handler(request('CreateHttpNamespace', { Name: 'bench.local' })), 'CreateHttpNamespace');
  const op = await ok(handler(request('GetOperation', { OperationId: ns.OperationId })), 'GetOperation');
  const made = await ok(
    handler(request('CreateService', { Name: 'orders', NamespaceId: op.Operation.Targets.NAMESPACE })),
    'CreateService',
  );
  return made.Service.Id;
}

/** `count` calls, `concurrency` in flight, call i on handlers[i % n]; each call's ms, and the whole run's. */
async function drive(handlers, count, concurrency, makeRequest) {
  const times = new Array(count);
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const t = performance.now();
      await ok(handlers[i % handlers.length](makeRequest(i)), `call ${i}`);
      times[i] = performance.now() - t;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { times, ms: performance.now() - started };
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Fills, then times the burst while the event loop's delay is sampled. */
async function measure(handlers, opts) {
  const serviceId = await makeService(handlers[0]);
  const fillStarted = performance.now();
  await drive(handlers, opts.fill, opts.concurrency, (i) => registration(serviceId, i));
  const fillSeconds = (performance.now() - fillStarted) / 1000;
  // The machine's own floor first: the same measure over a second of doing nothing.
  const idle = loopDelay();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const idleDelay = idle.stop();
  const delay = loopDelay();
  const burst = await drive(handlers, opts.burst, opts.concurrency, (i) => registration(serviceId, opts.fill + i));
  const burstDelay = delay.stop();
  return {
    serviceId,
    fillSeconds: +fillSeconds.toFixed(2),
    registrationsPerSecond: Math.round(opts.burst / (burst.ms / 1000)),
    callMs: {
      p50: +percentile(burst.times, 50).toFixed(1),
      p99: +percentile(burst.times, 99).toFixed(1),
      max: +Math.max(...burst.times).toFixed(1),
    },
    eventLoopDelayMs: burstDelay,
    idleEventLoopDelayMs: idleDelay,
  };
}

const RESOLUTION_MS = 1;

/**
 * The event loop's delay while it runs: how late a 1 ms timer fires (monitorEventLoopDelay records the time between
 * two firings, the timer's own period included, which is taken off here). p99 and max, in ms.
 */
function loopDelay() {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  return {
    stop() {
      h.disable();
      const late = (ns) => +Math.max(0, ns / 1e6 - RESOLUTION_MS).toFixed(1);
      return { p99: late(h.percentile(99)), max: late(h.max) };
    },
  };
}

async function runPostgres(url, replicaCount, opts) {
  const { openPostgresStore } = require(path.join(DIST, 'store', 'postgres', 'index.js'));
  const { followCloudMap } = require(path.join(DIST, 'store', 'postgres', 'cloud-map.js'));
  const replicas = [];
  try {
    for (let i = 0; i < replicaCount; i++) {
      const store = await openPostgresStore({
        url,
        replicaId: `bench-${i}`,
        replicaInfo: () => ({ xdsAddress: '-', adminAddress: '-', meshHash: '-', proxies: [], version: 'bench' }),
      });
      const shared = followCloudMap(store);
      await store.start();
      replicas.push({ store, shared, handler: shared.handler({ onFailure: (m) => console.error(m) }) });
    }
    const result = await measure(
      replicas.map((r) => r.handler),
      opts,
    );
    // Every replica holds every registration once it has applied the log.
    await Promise.all(replicas.map((r) => r.store.log.catchUp()));
    const counts = replicas.map((r) => r.shared.registry.instanceCount(result.serviceId));
    if (counts.some((n) => n !== opts.fill + opts.burst))
      throw new Error(`replicas hold ${counts.join(', ')} instances, not ${opts.fill + opts.burst}`);
    return result;
  } finally {
    for (const r of replicas) await r.store.close();
  }
}

async function runFile(opts) {
  const { openRegistryStore } = require(path.join(DIST, 'discovery', 'cloud-map', 'state-file.js'));
  const { cloudMapHandler } = require(path.join(DIST, 'discovery', 'cloud-map', 'http.js'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-bench-cm-'));
  const { registry, store } = openRegistryStore(path.join(dir, 'cloud-map.json'));
  try {
    const handler = cloudMapHandler(registry, { onFailure: (m) => console.error(m) });
    // Each call on its own turn of the event loop, as requests arriving over HTTP are (the handler is synchronous).
    const result = await measure([(req) => new Promise((resolve) => setImmediate(() => resolve(handler(req))))], opts);
    if (registry.instanceCount(result.serviceId) !== opts.fill + opts.burst) throw new Error('file store lost writes');
    return result;
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  let opts;
  try {
    opts = options(process.argv.slice(2));
  } catch (err) {
    console.error(`cloud-map-postgres: ${err.message}\n${USAGE}`);
    process.exit(2);
  }
  if (opts.help) {
    console.log(USAGE);
    return;
  }
  if (!fs.existsSync(path.join(DIST, 'store', 'postgres', 'cloud-map.js')))
    throw new Error('dist/ has no store/postgres/cloud-map.js: run `npm run build` first');
  const cluster = opts.url ? undefined : await startCluster({ fsync: opts.fsync });
  // Interrupted: the throwaway cluster goes too.
  for (const signal of ['SIGINT', 'SIGTERM'])
    process.once(signal, () => {
      cluster?.stop();
      process.exit(130);
    });
  const rows = [];
  try {
    let n = 0;
    const database = async () => {
      const name = `meshd_bench_${process.pid}_${++n}`;
      if (cluster) return cluster.createDatabase(name);
      const { Client } = require('pg');
      const client = new Client({ connectionString: opts.url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      const u = new URL(opts.url);
      u.pathname = `/${name}`;
      return u.toString();
    };
    if (opts.file) rows.push({ store: 'file (state file + journal)', ...(await runFile(opts)) });
    for (const count of opts.replicas) {
      const url = await database();
      rows.push({ store: `postgres, ${count} replica(s)`, ...(await runPostgres(url, count, opts)) });
    }
  } finally {
    cluster?.stop();
  }
  console.log(
    `Cloud Map registrations: ${opts.fill} instances registered first, then ${opts.burst} more, ${opts.concurrency} in flight` +
      ` (PostgreSQL fsync ${opts.url ? 'as the server has it' : opts.fsync ? 'on' : 'off'}; ${os.cpus().length} cores)`,
  );
  console.table(
    Object.fromEntries(
      rows.map((r) => [
        r.store,
        {
          'registrations/s': r.registrationsPerSecond,
          'call p50 ms': r.callMs.p50,
          'call p99 ms': r.callMs.p99,
          'call max ms': r.callMs.max,
          'loop delay p99 ms': r.eventLoopDelayMs.p99,
          'loop delay max ms': r.eventLoopDelayMs.max,
          'idle loop p99 ms': r.idleEventLoopDelayMs.p99,
          'fill s': r.fillSeconds,
        },
      ]),
    ),
  );
  const result = {
    at: new Date().toISOString(),
    ...opts,
    help: undefined,
    url: opts.url ? '(given)' : undefined,
    rows,
  };
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, 'results', 'cloud-map-postgres.json'), JSON.stringify(result, null, 2) + '\n');
}

main().catch((err) => {
  console.error(`cloud-map-postgres: ${err.message}`);
  process.exit(1);
});
