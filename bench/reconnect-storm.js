#!/usr/bin/env node
// Benchmark: 1,000 raw ADS clients at once against a real `meshd serve` process (issue: "1,000
// raw clients connected at once (a reconnect storm) all reach SYNCED; report the time").
// For SotW and for Delta:
//   connect: the load generator (bench/ads-load.js, its own process) opens 1,000 streams over
//     100 HTTP/2 connections at once; time from opening them to meshd's /metrics showing every
//     stream with CDS, EDS, LDS and RDS SYNCED;
//   restart: meshd is killed (SIGKILL) and started again on the same ports; the clients
//     reconnect at once reporting the versions they hold; time from the new process being
//     spawned to every stream back (all four types subscribed) and to all SYNCED, and how many
//     responses the restarted meshd sent (nothing changed, so it should send none).
// Also meshd's RSS, CPU time and event-loop delay (measured by a preloaded probe, not by meshd).
// Prints a table; writes bench/results/reconnect-storm.json.
// Options: --streams N (1000) --per-connection K (10) --nodes M (virtual nodes in the mesh, 10)
//          --protocols sotw,delta --cpu-prof (meshd writes .cpuprofile files into bench/results/)
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { stormMeshYaml } = require('./ads-load');
const { freePort } = require('./ports');
const { killAll, sleep, startJsonLineProcess, procStats, loopDelay } = require('./processes');

const PROBE = path.join(__dirname, 'event-loop-probe.js');

const ROOT = path.resolve(__dirname, '..');
const MESHD = path.join(ROOT, 'bin', 'meshd');
const LOAD = path.join(__dirname, 'ads-load.js');
const TYPES = ['CDS', 'EDS', 'LDS', 'RDS'];
const SYNC_TIMEOUT_MS = 30000;

function parseArgs(argv) {
  const o = { streams: 1000, perConnection: 10, nodes: 10, protocols: ['sotw', 'delta'], cpuProf: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--streams') o.streams = Number(argv[++i]);
    else if (a === '--per-connection') o.perConnection = Number(argv[++i]);
    else if (a === '--nodes') o.nodes = Number(argv[++i]);
    else if (a === '--protocols') o.protocols = argv[++i].split(',');
    else if (a === '--cpu-prof') o.cpuProf = true;
    else throw new Error(`unknown argument: ${a}`);
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// meshd, HTTP

function startMeshd(ctx, label) {
  const args = ['--require', PROBE];
  if (ctx.cpuProf)
    args.push(
      '--cpu-prof',
      '--cpu-prof-dir',
      path.join(__dirname, 'results'),
      '--cpu-prof-name',
      `meshd-${label}.cpuprofile`,
    );
  args.push(
    MESHD,
    'serve',
    '--mesh',
    ctx.meshFile,
    '--xds-address',
    '127.0.0.1',
    '--xds-port',
    String(ctx.xdsPort),
    '--admin-port',
    String(ctx.adminPort),
    '--statsd-port',
    '0',
  );
  const spawnedAt = Date.now();
  // { child, exited, output() (its log), stderr(), ... } (bench/processes.js), and when it was spawned.
  return {
    ...startJsonLineProcess('meshd', process.execPath, args, {
      env: { ...process.env, MESHD_BENCH_LOOP_FILE: ctx.loopFile },
    }),
    spawnedAt,
  };
}

function httpGet(port, pathName) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathName, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timed out')));
  });
}

/** The samples of a Prometheus text exposition: [{ name, labels, value }]. */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** What /metrics says about the streams: connected, per type and state, pushes. */
function xdsSummary(text) {
  const samples = parseMetrics(text);
  const sum = (name, filter = () => true) =>
    samples.filter((s) => s.name === name && filter(s.labels)).reduce((a, s) => a + s.value, 0);
  const states = {};
  for (const s of samples.filter((x) => x.name === 'meshd_xds_resource_types')) {
    states[s.labels.type] ??= {};
    states[s.labels.type][s.labels.state] = s.value;
  }
  return { connected: sum('meshd_xds_connected_streams'), states, pushes: sum('meshd_xds_pushes_total') };
}

const countOf = (summary, type, state) =>
  state ? (summary.states[type]?.[state] ?? 0) : Object.values(summary.states[type] ?? {}).reduce((a, b) => a + b, 0);
/** Every stream is connected and subscribed to the four types. */
const allBack = (s, n) => s.connected === n && TYPES.every((t) => countOf(s, t) === n);
/** …and every one of those is SYNCED. */
const allSynced = (s, n) => allBack(s, n) && TYPES.every((t) => countOf(s, t, 'SYNCED') === n);

/**
 * Polls /metrics (every 20 ms) until every stream is back and until all are SYNCED, or the
 * timeout (or `afterBackMs` after all were back). Returns the times these were first seen and
 * the slowest admin answer (a sign of event-loop stalls).
 */
async function pollUntilSynced(port, n, timeoutMs = SYNC_TIMEOUT_MS, afterBackMs = 5000) {
  let deadline = Date.now() + timeoutMs;
  let firstAnswerAt;
  let backAt;
  let syncedAt;
  let maxAdminMs = 0;
  let last;
  while (Date.now() < deadline) {
    const start = Date.now();
    try {
      last = xdsSummary(await httpGet(port, '/metrics'));
      const now = Date.now();
      firstAnswerAt ??= now;
      maxAdminMs = Math.max(maxAdminMs, now - start);
      if (allBack(last, n) && backAt === undefined) {
        backAt = now;
        deadline = Math.min(deadline, now + afterBackMs);
      }
      if (allSynced(last, n)) {
        syncedAt = now;
        break;
      }
    } catch {
      /* meshd not listening yet */
    }
    await sleep(20);
  }
  return { firstAnswerAt, backAt, syncedAt, maxAdminMs, last };
}

// ---------------------------------------------------------------------------------------------
// The load generator, as a child process

/**
 * bench/ads-load.js with --reconnect: its JSON-line events (waited for
 * SYNC_TIMEOUT_MS by default), `stats` and `stop` (bench/processes.js).
 */
function startLoadProcess(ctx, protocol) {
  const args = [
    LOAD,
    '--xds',
    `127.0.0.1:${ctx.xdsPort}`,
    '--mesh',
    ctx.meshFile,
    '--streams',
    String(ctx.streams),
    '--per-connection',
    String(ctx.perConnection),
    '--reconnect',
  ];
  if (protocol === 'delta') args.push('--delta');
  const load = startJsonLineProcess('the load generator', process.execPath, args);
  return {
    ...load,
    event: (name, timeoutMs = SYNC_TIMEOUT_MS, filter) => load.event(name, timeoutMs, filter),
    /** Its counters, asked for now. */
    stats() {
      const after = Date.now();
      load.send('stats');
      return load.event('stats', 5000, (e) => e.at >= after);
    },
  };
}

// ---------------------------------------------------------------------------------------------

async function run(ctx, protocol) {
  const rows = [];
  // connect storm
  let meshd = startMeshd(ctx, `${protocol}-connect`);
  while (!meshd.output().includes('meshd is serving')) {
    if (meshd.child.exitCode !== null) throw new Error(`meshd exited: ${meshd.stderr()}`);
    await sleep(20);
  }
  await loopDelay(meshd.child.pid, ctx.loopFile); // reset
  const cpuBefore = procStats(meshd.child.pid).cpuMs;
  const load = startLoadProcess(ctx, protocol);
  const opening = await load.event('opening');
  const connect = await pollUntilSynced(ctx.adminPort, ctx.streams);
  if (!connect.syncedAt)
    throw new Error(
      `${protocol}: not all ${ctx.streams} streams SYNCED within ${SYNC_TIMEOUT_MS} ms: ${JSON.stringify(connect.last)}`,
    );
  const acked = await load.event('all-acked');
  const loop1 = await loopDelay(meshd.child.pid, ctx.loopFile);
  const p1 = procStats(meshd.child.pid);
  rows.push({
    protocol,
    phase: 'connect',
    streams: ctx.streams,
    backMs: connect.backAt - opening.at,
    syncedMs: connect.syncedAt - opening.at,
    clientAckedMs: acked.ms,
    pushes: connect.last.pushes,
    meshdCpuMs: p1.cpuMs - cpuBefore,
    rssMb: p1.rssMb,
    peakRssMb: p1.peakRssMb,
    maxLoopDelayMs: loop1?.maxMs ?? null,
    p99LoopDelayMs: loop1?.p99Ms ?? null,
    maxAdminMs: connect.maxAdminMs,
  });

  // restart storm: kill meshd, wait until every client noticed, start it again on the same ports
  meshd.child.kill('SIGKILL');
  await meshd.exited;
  await load.event('all-disconnected');
  meshd = startMeshd(ctx, `${protocol}-restart`);
  const restart = await pollUntilSynced(ctx.adminPort, ctx.streams);
  const loop2 = await loopDelay(meshd.child.pid, ctx.loopFile);
  const p2 = procStats(meshd.child.pid);
  const stats = await load.stats();
  const restartSummary = restart.last ?? { pushes: null, states: {} };
  rows.push({
    protocol,
    phase: 'restart',
    streams: ctx.streams,
    backMs: restart.backAt ? restart.backAt - meshd.spawnedAt : null,
    syncedMs: restart.syncedAt ? restart.syncedAt - meshd.spawnedAt : null,
    adminUpMs: restart.firstAnswerAt ? restart.firstAnswerAt - meshd.spawnedAt : null,
    pushes: restartSummary.pushes,
    clientResponses: stats.responsesSinceReopen,
    meshdCpuMs: p2.cpuMs,
    rssMb: p2.rssMb,
    peakRssMb: p2.peakRssMb,
    maxLoopDelayMs: loop2?.maxMs ?? null,
    p99LoopDelayMs: loop2?.p99Ms ?? null,
    maxAdminMs: restart.maxAdminMs,
    ...(restart.syncedAt ? {} : { notSynced: restartSummary.states }),
  });
  await load.stop();
  meshd.child.kill('SIGTERM');
  await meshd.exited;
  return rows;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-bench-storm-'));
  const ctx = {
    ...opts,
    meshFile: path.join(dir, 'mesh.yaml'),
    loopFile: path.join(dir, 'loop.json'),
    xdsPort: await freePort(),
    adminPort: await freePort(),
  };
  fs.writeFileSync(ctx.meshFile, stormMeshYaml(opts.nodes));
  fs.mkdirSync(path.join(__dirname, 'results'), { recursive: true });

  const rows = [];
  for (const protocol of opts.protocols) rows.push(...(await run(ctx, protocol)));

  console.log(
    `reconnect storm: ${opts.streams} ADS streams over ${Math.ceil(opts.streams / opts.perConnection)} connections, ${opts.nodes} node ids; ` +
      'backMs/syncedMs: from opening the streams (connect) or spawning the new meshd (restart) to every stream subscribed / all SYNCED',
  );
  console.table(rows.map(({ notSynced, ...r }) => r));
  for (const r of rows)
    if (r.syncedMs === null)
      console.log(
        `${r.protocol} ${r.phase}: not all SYNCED (gave up 5 s after every stream was back); states: ${JSON.stringify(r.notSynced)}`,
      );
  const out = path.join(__dirname, 'results', 'reconnect-storm.json');
  fs.writeFileSync(
    out,
    `${JSON.stringify({ node: process.version, cpus: os.cpus().length, streams: opts.streams, perConnection: opts.perConnection, meshNodes: opts.nodes, rows }, null, 2)}\n`,
  );
  console.log(`written to ${path.relative(process.cwd(), out)}`);
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err.stack ?? err);
  killAll();
  process.exit(1);
});
