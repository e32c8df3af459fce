#!/usr/bin/env node
// Benchmark: how fast meshd starts, each run a fresh process (as a user or an orchestrator
// starts it), with the built dist/:
//   serve: from spawning `node bin/meshd serve --mesh examples/quickstart/mesh` (free ports, a
//     fresh state folder) to its "meshd is serving" line on stdout;
//   render: `node bin/meshd render --node <id>` from spawn to exit (a whole CLI command);
//   protos: in a fresh `node`, require('dist/xds/protos') and encode one Listener (the time to
//     load the Envoy schema and build its first codec), measured inside that process.
// Prints the median (and min/max) of each, wall clock, and the CPU time where it can be read
// (steadier than wall clock on a busy machine); writes bench/results/startup.json.
// Options: --runs 10 --out <file> --quiet --root <another meshd checkout, built>
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./ports');

// --root measures another checkout's build (e.g. a copy of the previous commit) with this script.
let ROOT = path.resolve(__dirname, '..');
const meshd = () => path.join(ROOT, 'bin', 'meshd');
const mesh = () => path.join(ROOT, 'examples', 'quickstart', 'mesh');
const NODE_ID = 'mesh/apps/virtualNode/front';

function parseArgs(argv) {
  const o = { runs: 10, out: path.join(__dirname, 'results', 'startup.json'), quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--runs') {
      o.runs = Number(value());
      if (!Number.isInteger(o.runs) || o.runs < 1) throw new Error('--runs must be a positive integer');
    } else if (a === '--out') o.out = path.resolve(value());
    else if (a === '--root') o.root = path.resolve(value());
    else if (a === '--quiet') o.quiet = true;
    else if (a === '--help' || a === '-h') o.help = true;
    else throw new Error(`unknown argument: ${a}`);
  }
  return o;
}

/** CPU ms (user + system) a running process has used so far, from /proc (Linux); undefined elsewhere. */
function cpuMsOf(pid) {
  try {
    const fields = fs
      .readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ');
    // utime and stime are fields 14 and 15 of stat (12 and 13 after
    // the command name), in clock ticks (100 a second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

/**
 * One `meshd serve`: ms from spawn to the "meshd is serving" line (wall, and CPU it used); the process is then stopped.
 */
async function serveOnce(state) {
  const [xds, admin] = [await freePort(), await freePort()];
  const args = [
    meshd(),
    'serve',
    '--mesh',
    mesh(),
    '--xds-port',
    String(xds),
    '--admin-port',
    String(admin),
    '--statsd-port',
    '0',
    '--cloud-map-state',
    path.join(state, `cloud-map-${xds}.json`),
    '--rollout-state',
    path.join(state, `rollouts-${xds}.json`),
  ];
  const started = performance.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const ms = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('meshd is serving')) resolve({ wall: performance.now() - started, cpu: cpuMsOf(child.pid) });
    });
    exited.then(() =>
      reject(new Error(`meshd serve exited before serving: ${err.trim().split('\n').slice(-3).join(' | ')}`)),
    );
  });
  child.kill('SIGTERM');
  await exited;
  return ms;
}

/** One `meshd render`: ms from spawn to exit. */
function renderOnce() {
  const started = performance.now();
  const r = spawnSync(process.execPath, [meshd(), 'render', '--mesh', mesh(), '--node', NODE_ID, '--format', 'json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  const ms = performance.now() - started;
  if (r.status !== 0) throw new Error(`meshd render failed (${r.status}): ${r.stderr.trim()}`);
  return ms;
}

// Runs in a fresh node: the protos module's load and its first encode, timed from inside.
const protosProbe = () => `
const t0 = performance.now();
const { encodeResource } = require(${JSON.stringify(path.join(ROOT, 'dist', 'xds', 'protos.js'))});
const t1 = performance.now();
encodeResource('type.googleapis.com/envoy.config.listener.v3.Listener', { name: 'l', address: { socket_address: { address: '0.0.0.0', port_value: 15000 } } });
const t2 = performance.now();
const cpu = process.cpuUsage();
process.stdout.write(JSON.stringify({ requireMs: t1 - t0, firstEncodeMs: t2 - t1, totalMs: t2 - t0, processCpuMs: (cpu.user + cpu.system) / 1000 }));
`;

function protosOnce() {
  const r = spawnSync(process.execPath, ['-e', protosProbe()], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`protos probe failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout);
}

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const round = (v) => Math.round(v * 10) / 10;
  return { median: round(median), min: round(sorted[0]), max: round(sorted[sorted.length - 1]), runs: values.length };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.help) {
    console.log('usage: node bench/startup.js [--runs N] [--out file] [--quiet] [--root dir]');
    return;
  }
  if (o.root) ROOT = o.root;
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js')))
    throw new Error('dist/ is not built: run `npm run build` first');
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-startup-'));
  try {
    const serve = [];
    const render = [];
    const protos = [];
    for (let i = 0; i < o.runs; i++) {
      serve.push(await serveOnce(state));
      render.push(renderOnce());
      protos.push(protosOnce());
    }
    const result = {
      node: process.version,
      root: ROOT,
      serveToServingMs: stats(serve.map((s) => s.wall)),
      serveCpuToServingMs: serve.every((s) => s.cpu !== undefined) ? stats(serve.map((s) => s.cpu)) : undefined,
      renderMs: stats(render),
      protosRequireMs: stats(protos.map((p) => p.requireMs)),
      protosFirstEncodeMs: stats(protos.map((p) => p.firstEncodeMs)),
      protosTotalMs: stats(protos.map((p) => p.totalMs)),
      protosProcessCpuMs: stats(protos.map((p) => p.processCpuMs)),
    };
    fs.mkdirSync(path.dirname(o.out), { recursive: true });
    fs.writeFileSync(o.out, `${JSON.stringify(result, null, 2)}\n`);
    if (!o.quiet) {
      const row = (label, s) =>
        `  ${label.padEnd(44)} ${String(s.median).padStart(8)} ms  (min ${s.min}, max ${s.max}, ${s.runs} runs)`;
      console.log(`meshd startup (${ROOT}), median of ${o.runs} fresh processes (${process.version}):`);
      console.log(row('serve: spawn to "meshd is serving"', result.serveToServingMs));
      if (result.serveCpuToServingMs) console.log(row('  CPU time it used by then', result.serveCpuToServingMs));
      console.log(row('render --node: spawn to exit', result.renderMs));
      console.log(row('require dist/xds/protos', result.protosRequireMs));
      console.log(row('  then the first encode (a Listener)', result.protosFirstEncodeMs));
      console.log(row('  both', result.protosTotalMs));
      console.log(row('  CPU time of that whole process', result.protosProcessCpuMs));
      console.log(`written to ${path.relative(process.cwd(), o.out)}`);
    }
  } finally {
    fs.rmSync(state, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench/startup.js: ${err.message}`);
  process.exit(1);
});
