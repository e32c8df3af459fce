#!/usr/bin/env node
// Benchmark: loading and compiling the generated mesh (bench/mesh-gen.js) of S services
// (2S virtual nodes), in process, through the same code `meshd serve` runs:
//   cold: loadMesh (read + parse + validate every file), then every proxy compiled and encoded
//     into xDS resources (MeshController, as when every sidecar connects);
//   one route change: a route's weights written to its file, then the reload (loadMesh) and the
//     incremental compile (MeshController.setModel with every proxy connected: what meshd does
//     before pushing), for a leaf service's route (reaching its callers) and for the shared
//     svc-0's (reaching every proxy but its own).
// Prints a table; writes bench/results/compile.json.
// Options: --services 10,100,1000 --backends 5 --runs 11 --dialects native,k8s,cli-json,cloudformation,terraform
//   (or --dialect <one>; native by default: the mesh written in each, see bench/mesh-gen.js) --out <file> --quiet
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { writeMesh, weightsOfChange, SHARED, DIALECTS } = require('./mesh-gen');
const { envoyNode, loadGenerated, controllerFor } = require('./precompiled');
const { percentile } = require('./processes');
const { LoadCache } = require('../dist/load/mesh-source');

function parseArgs(argv) {
  const o = {
    services: [10, 100, 1000],
    backends: 5,
    runs: 11,
    dialects: ['native'],
    out: path.join(__dirname, 'results', 'compile.json'),
    quiet: false,
    // Past the loader's 3 s window (RACY_FILE_MS) for files written in the same clock tick.
    settleMs: 3_500,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const int = (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a} must be a positive integer`);
      return n;
    };
    if (a === '--services') o.services = value().split(',').map(int);
    else if (a === '--backends') o.backends = int(value());
    else if (a === '--runs') o.runs = int(value());
    else if (a === '--dialect' || a === '--dialects') {
      o.dialects = value().split(',');
      const unknown = o.dialects.filter((d) => !DIALECTS.includes(d));
      if (unknown.length > 0) throw new Error(`${a}: unknown dialect ${unknown.join(', ')} (${DIALECTS.join(', ')})`);
    } else if (a === '--out') o.out = path.resolve(value());
    else if (a === '--quiet') o.quiet = true;
    else if (a === '--settle-ms') {
      o.settleMs = Number(value());
      if (!Number.isInteger(o.settleMs) || o.settleMs < 0) throw new Error(`${a} must be a whole number of ms`);
    } else if (a === '--help' || a === '-h') o.help = true;
    else throw new Error(`unknown argument: ${a}`);
  }
  if (o.services.some((s) => s < 2)) throw new Error('--services: at least 2');
  return o;
}

const now = () => performance.now();
const round = (v) => Math.round(v * 10) / 10;

/** Sleeps without a timer turn (the bench is synchronous in between). */
function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function measure(services, backends, runs, dialect, settleMs) {
  const mesh = writeMesh({ services, backends, dialect });
  // A deployed mesh's files are older than the loader's window for same-tick rewrites
  // (RACY_FILE_MS): a reload then reads only what changed, as it does for a user.
  sleepMs(settleMs);
  try {
    // As `meshd serve` loads: one cache from load to load.
    const cache = new LoadCache();
    let t = now();
    const first = loadGenerated(mesh.dir, cache);
    const loadMs = now() - t;
    const { snapshots, controller } = controllerFor(first);
    t = now();
    controller.setModel(first.model);
    const keys = mesh.nodeIds.map((id) => controller.nodeKey(envoyNode(id)));
    const compileMs = now() - t;
    // Which proxies a change reached: the cache tells watchers of the snapshots that changed.
    let reached = 0;
    for (const key of keys) snapshots.watch(key, () => reached++);

    const rows = [
      {
        dialect,
        services,
        virtualNodes: mesh.nodeIds.length,
        resources: first.model.resources.length,
        phase: 'cold',
        proxiesCompiled: keys.length,
        reloadMs: round(loadMs),
        compileMs: round(compileMs),
        compileMaxMs: null,
      },
    ];
    const leaf = Math.floor(services / 2);
    for (const [label, service] of [
      [`change svc-${leaf}'s route`, leaf],
      [`change svc-${SHARED}'s route (shared)`, SHARED],
    ]) {
      const reloadMs = [];
      const setModelMs = [];
      const reachedPerRun = [];
      for (let k = 1; k <= runs; k++) {
        reached = 0;
        mesh.setWeights(service, weightsOfChange(k));
        t = now();
        const next = loadGenerated(mesh.dir, cache);
        reloadMs.push(now() - t);
        t = now();
        controller.setModel(next.model);
        setModelMs.push(now() - t);
        reachedPerRun.push(reached);
      }
      rows.push({
        dialect,
        services,
        virtualNodes: mesh.nodeIds.length,
        resources: first.model.resources.length,
        phase: label,
        // The fewest and the most proxies one change reached (a change that reached none shows as 0).
        proxiesChanged: Math.min(...reachedPerRun),
        proxiesChangedMax: Math.max(...reachedPerRun),
        reloadMs: round(percentile(reloadMs, 50)),
        compileMs: round(percentile(setModelMs, 50)),
        compileMaxMs: round(Math.max(...setModelMs)),
      });
    }
    return rows;
  } finally {
    mesh.remove();
  }
}

/** Issue 26's targets, for the rows that measure them. */
function targetLines(rows) {
  const verdict = (ok) => (ok ? 'met' : 'missed');
  const lines = [];
  for (const r of rows) {
    if (r.phase === 'cold') {
      if (r.virtualNodes === 5000) {
        const ms = round(r.reloadMs + r.compileMs);
        lines.push(
          `cold load + compile of every proxy, 5,000 nodes (${r.dialect}) ≤ 1,000 ms: ${ms} ms (${verdict(ms <= 1000)})`,
        );
      }
      continue;
    }
    const shared = r.phase.includes('(shared)');
    const total = round(r.reloadMs + r.compileMs);
    if (r.virtualNodes === 2000 && shared)
      lines.push(
        `shared route change, 2,000 nodes (${r.dialect}): reload + recompile + encode ≤ 50 ms: ${total} ms (${verdict(total <= 50)})`,
      );
    if (r.virtualNodes === 2000 && !shared)
      lines.push(
        `leaf route change, 2,000 nodes (${r.dialect}): recompile max ≤ 10 ms: ${r.compileMaxMs} ms (${verdict(r.compileMaxMs <= 10)})`,
      );
    if (r.virtualNodes === 5000 && !shared)
      lines.push(
        `one-route change, 5,000 nodes (${r.dialect}), reload included ≤ 50 ms: ${total} ms (${verdict(total <= 50)})`,
      );
  }
  return lines;
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`compile: ${err.message}`);
    process.exit(2);
  }
  if (opts.help) {
    console.log(
      `usage: node bench/compile.js [--services 10,100,1000] [--backends 5] [--runs 11] [--dialects ${DIALECTS.join(',')}] [--out file] [--settle-ms 3500] [--quiet]`,
    );
    return;
  }
  const rows = opts.dialects.flatMap((d) =>
    opts.services.flatMap((s) => measure(s, opts.backends, opts.runs, d, opts.settleMs)),
  );
  const targets = targetLines(rows);
  if (!opts.quiet) {
    console.log(
      `compile: generated meshes (${opts.backends} backends a node); cold: load every file, then compile and encode every proxy; ` +
        `a route change: reload (median) and incremental compile (median and max over ${opts.runs} changes), and how many proxies' snapshots changed`,
    );
    console.table(rows);
    for (const line of targets) console.log(line);
  }
  fs.mkdirSync(path.dirname(opts.out), { recursive: true });
  fs.writeFileSync(
    opts.out,
    `${JSON.stringify({ node: process.version, cpus: os.cpus().length, backends: opts.backends, runs: opts.runs, rows, targets }, null, 2)}\n`,
  );
  console.log(`written to ${path.relative(process.cwd(), opts.out)}`);
}

main();
