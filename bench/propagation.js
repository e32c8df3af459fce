#!/usr/bin/env node
// Benchmark: how fast one route change reaches N sidecars, meshd side by side with two
// baselines serving the same compiled resources to the same load generator:
//   meshd             `meshd serve` on the generated mesh's files; a change is a write of the
//                     route's file (the time includes noticing the write, reloading, compiling
//                     and pushing);
//   bare-grpc         a bare @grpc/grpc-js server writing pre-encoded responses
//                     (bench/peers/bare-grpc.js): the floor for Node;
//   go-control-plane  go-control-plane's snapshot cache and server (bench/peers/go-control-plane,
//                     built here with `go build`); a change is SetSnapshot of precomputed snapshots;
//   meshd-xds,        meshd's own xDS server alone (bench/peers/meshd-xds.js: its sessions, cache
//   meshd-xds-tls     and limits, no reloading or compiling) serving the same precomputed states,
//                     in plaintext and over TLS (a throwaway CA from bench/tls-ca.js, which the
//                     load generator trusts): the two side by side show what TLS on the xDS
//                     channel costs the cold connect storm and propagation. Not in the default list.
// The baselines get meshd's own compiled bytes for every state (bench/precompiled.js), and a
// change is a command on their stdin.
//
// For each server, protocol (SotW, Delta) and N (streams):
//   cold: the load generator (bench/ads-load.js, its own process) opens N streams, spread over
//     the node ids of every proxy the change reaches; time until every stream has ACKed its
//     whole configuration;
//   change: `--changes` times, svc-0's route weights change (svc-0 is called by every node,
//     bench/mesh-gen.js); time from the write (or the command) to the last stream ACKing a route
//     configuration that carries the new weight (p50, p99, max), and to the first;
//   memory: the server's RSS before the streams, with them, and per stream;
//   CPU: the server's CPU time per change; event loop: the Node servers' longest event-loop
//     block during the connect storm and during the changes (bench/event-loop-probe.js).
// Prints a table and the targets; writes bench/results/propagation.json.
//
// Options: --streams 100,1000,5000 --services 100 --backends 5 --changes 20
//          --servers meshd,bare-grpc,go-control-plane (also meshd-xds, meshd-xds-tls) --protocols sotw,delta
//          --per-connection 10 --load-processes 1 (split the streams over K load generators)
//          --gap-ms 150 --out <file> --cpu-prof (meshd writes .cpuprofile files
//          into bench/results/) --quiet (no table)
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { writeMesh, weightsOfChange, SHARED } = require('./mesh-gen');
const { precompile } = require('./precompiled');
const { freePort } = require('./ports');
const { killAll, sleep, preciseNow, startJsonLineProcess, procStats, percentile, loopDelay } = require('./processes');

const ROOT = path.resolve(__dirname, '..');
const MESHD = path.join(ROOT, 'bin', 'meshd');
const LOAD = path.join(__dirname, 'ads-load.js');
const BARE = path.join(__dirname, 'peers', 'bare-grpc.js');
const MESHD_XDS = path.join(__dirname, 'peers', 'meshd-xds.js');
const { makeTlsDir } = require('./tls-ca');
const GO_PEER_SOURCE = path.join(__dirname, 'peers', 'go-control-plane');
const SERVERS = ['meshd', 'bare-grpc', 'go-control-plane'];
/** Servers --servers may name beyond the default ones. */
const EXTRA_SERVERS = ['meshd-xds', 'meshd-xds-tls'];
/** Preloaded into the Node servers (meshd, bare-grpc): their event-loop delay, read by loopDelay(). */
const PROBE = path.join(__dirname, 'event-loop-probe.js');

function parseArgs(argv) {
  const o = {
    streams: [100, 1000, 5000],
    services: 100,
    backends: 5,
    changes: 20,
    servers: SERVERS,
    protocols: ['sotw', 'delta'],
    perConnection: 10,
    loadProcesses: 1,
    gapMs: 150,
    out: path.join(__dirname, 'results', 'propagation.json'),
    cpuProf: false,
    quiet: false,
  };
  const list = (v) => {
    const items = v.split(',').filter(Boolean);
    if (items.length === 0) throw new Error(`a list must name at least one item, not '${v}'`);
    return items;
  };
  const int = (name, v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--streams') o.streams = list(value()).map((v) => int(a, v));
    else if (a === '--services') o.services = int(a, value());
    else if (a === '--backends') o.backends = int(a, value());
    else if (a === '--changes') o.changes = int(a, value());
    else if (a === '--servers') o.servers = list(value());
    else if (a === '--protocols') o.protocols = list(value());
    else if (a === '--per-connection') o.perConnection = int(a, value());
    else if (a === '--load-processes') o.loadProcesses = int(a, value());
    else if (a === '--gap-ms') o.gapMs = int(a, value());
    else if (a === '--out') o.out = path.resolve(value());
    else if (a === '--cpu-prof') o.cpuProf = true;
    else if (a === '--quiet') o.quiet = true;
    else if (a === '--help' || a === '-h') o.help = true;
    else throw new Error(`unknown argument: ${a}`);
  }
  for (const s of o.servers)
    if (![...SERVERS, ...EXTRA_SERVERS].includes(s))
      throw new Error(`unknown server '${s}' (${[...SERVERS, ...EXTRA_SERVERS].join(', ')})`);
  for (const p of o.protocols)
    if (!['sotw', 'delta'].includes(p)) throw new Error(`unknown protocol '${p}' (sotw, delta)`);
  if (o.services < 2) throw new Error('--services must be at least 2');
  return o;
}

/**
 * The bytes of a route's weighted cluster { name: cluster, weight: { value: weight } } as
 * protobuf writes them (fields in number order): what a route configuration carrying the new
 * weight contains, whichever server encoded it.
 */
function weightNeedle(cluster, weight) {
  if (cluster.length > 127 || weight > 127) throw new Error('weightNeedle: one-byte lengths and weights only');
  return Buffer.concat([
    Buffer.from([0x0a, cluster.length]),
    Buffer.from(cluster),
    Buffer.from([0x12, 0x02, 0x08, weight]),
  ]);
}

/** Builds the go-control-plane peer (dependencies from the Go module proxy, pinned in its go.sum). */
function buildGoPeer() {
  const out = path.join(os.tmpdir(), 'meshd-bench-go-control-plane-peer');
  try {
    execFileSync('go', ['build', '-o', out, '.'], { cwd: GO_PEER_SOURCE, stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (err) {
    const why =
      err.code === 'ENOENT'
        ? 'Go is not installed (no `go` on PATH)'
        : `go build failed (${err.message.split('\n')[0]})`;
    throw new Error(
      `cannot build the go-control-plane baseline in ${path.relative(process.cwd(), GO_PEER_SOURCE)}: ${why}; install Go, or leave it out with --servers meshd,bare-grpc`,
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The servers: start() resolves once it serves state 0; apply(k) makes state k (k = 1, 2, ...).

async function startMeshd(ctx, label) {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-bench-state-'));
  ctx.mesh.setWeights(SHARED, [90, 10]); // state 0, as precompiled
  const [xdsPort, adminPort] = [await freePort(), await freePort()];
  const node = [
    '--require',
    PROBE,
    ...(ctx.cpuProf
      ? [
          '--cpu-prof',
          '--cpu-prof-dir',
          path.join(__dirname, 'results'),
          '--cpu-prof-name',
          `meshd-${label}.cpuprofile`,
        ]
      : []),
  ];
  const args = [
    ...node,
    MESHD,
    'serve',
    '--mesh',
    ctx.mesh.dir,
    '--xds-address',
    '127.0.0.1',
    '--xds-port',
    String(xdsPort),
    '--admin-port',
    String(adminPort),
    '--statsd-port',
    '0',
  ];
  const env = {
    ...process.env,
    MESHD_CLOUD_MAP_STATE: path.join(state, 'cloud-map.json'),
    MESHD_ROLLOUT_STATE: path.join(state, 'rollouts.json'),
    MESHD_BENCH_LOOP_FILE: ctx.loopFile,
  };
  const proc = startJsonLineProcess('meshd', process.execPath, args, { env });
  for (let waited = 0; !proc.output().includes('meshd is serving'); waited += 20) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null || waited > 60000) {
      proc.child.kill('SIGKILL');
      throw new Error(`meshd did not start: ${proc.stderr().trim() || proc.output().trim()}`);
    }
    await sleep(20);
  }
  return {
    pid: proc.child.pid,
    port: xdsPort,
    loopFile: ctx.loopFile,
    apply: (k) => ctx.mesh.setWeights(SHARED, weightsOfChange(k)),
    async stop() {
      proc.child.kill('SIGTERM');
      const timer = setTimeout(() => proc.child.kill('SIGKILL'), 5000);
      await proc.exited;
      clearTimeout(timer);
      fs.rmSync(state, { recursive: true, force: true });
    },
  };
}

/** A baseline; `probed`: a Node process, preloaded with the event-loop probe. */
async function startPeer(ctx, label, command, args, probed, tls) {
  const port = await freePort();
  const proc = startJsonLineProcess(label, command, [...args, '--dump', ctx.dumpFile, '--port', String(port)], {
    env: { ...process.env, MESHD_BENCH_LOOP_FILE: ctx.loopFile },
  });
  await proc.event('listening', 120000);
  return {
    pid: proc.child.pid,
    port,
    loopFile: probed ? ctx.loopFile : undefined,
    tls,
    apply: (k) => proc.send(`apply ${k}`),
    stop: () => proc.stop(),
  };
}

const START = {
  meshd: startMeshd,
  'bare-grpc': (ctx) => startPeer(ctx, 'bare-grpc', process.execPath, ['--require', PROBE, BARE], true),
  'go-control-plane': (ctx) => startPeer(ctx, 'go-control-plane', ctx.goPeer, [], false),
  'meshd-xds': (ctx) => startPeer(ctx, 'meshd-xds', process.execPath, ['--require', PROBE, MESHD_XDS], true),
  'meshd-xds-tls': (ctx) => {
    ctx.tls ??= makeTlsDir();
    return startPeer(
      ctx,
      'meshd-xds-tls',
      process.execPath,
      ['--require', PROBE, MESHD_XDS, '--tls', ctx.tls.dir],
      true,
      ctx.tls,
    );
  },
};

// ---------------------------------------------------------------------------------------------

/**
 * The load generators of one run: `--load-processes` processes (bench/ads-load.js) sharing the
 * streams, driven as one: an event is awaited from each; a change's first ACK is the earliest
 * of theirs, its last the latest.
 */
function startLoad(ctx, port, protocol, streams, tls) {
  const shares = Array.from(
    { length: ctx.loadProcesses },
    (_, i) => Math.floor(streams / ctx.loadProcesses) + (i < streams % ctx.loadProcesses ? 1 : 0),
  ).filter((n) => n > 0);
  const loads = shares.map((share) => {
    const args = [
      LOAD,
      '--xds',
      `127.0.0.1:${port}`,
      '--nodes',
      ctx.nodeIds.join(','),
      '--streams',
      String(share),
      '--per-connection',
      String(ctx.perConnection),
      ...(protocol === 'delta' ? ['--delta'] : []),
      ...(tls ? ['--tls-ca', tls.caFile, '--tls-name', tls.serverName] : []),
    ];
    return startJsonLineProcess('the load generator', process.execPath, args);
  });
  const all = (fn) => Promise.all(loads.map(fn));
  return {
    async allAcked() {
      const events = await all((l) => l.event('all-acked', 300000));
      return { ms: Math.max(...events.map((e) => e.ms)) };
    },
    async change(id, needleHex, apply) {
      for (const l of loads) l.send(`arm ${id} ${needleHex}`);
      await all((l) => l.event('armed', 10000, (e) => e.id === id));
      const writtenAt = preciseNow();
      apply();
      const done = await all((l) => l.event('change-acked', 60000, (e) => e.id === id));
      return {
        firstMs: Math.min(...done.map((e) => e.firstAt)) - writtenAt,
        lastMs: Math.max(...done.map((e) => e.lastAt)) - writtenAt,
      };
    },
    stop: () => all((l) => l.stop()),
  };
}

/** The server's worst event-loop delay since the last call (Node servers only; null for Go, which has none). */
async function loopMaxMs(running) {
  if (!running.loopFile) return null;
  return (await loopDelay(running.pid, running.loopFile))?.maxMs ?? null;
}

async function measure(ctx, server, protocol, streams) {
  const label = `${server}-${protocol}-${streams}`;
  const running = await START[server](ctx, `${protocol}-${streams}`);
  await sleep(300);
  const idle = procStats(running.pid);
  await loopMaxMs(running); // from here on: the connect storm
  const load = startLoad(ctx, running.port, protocol, streams, running.tls);
  try {
    const acked = await load.allAcked();
    const loopColdMs = await loopMaxMs(running);
    await sleep(500); // let the server settle before reading its memory
    const connected = procStats(running.pid);
    await loopMaxMs(running); // from here on: the changes
    const lastMs = [];
    const firstMs = [];
    for (let k = 1; k <= ctx.changes; k++) {
      const needle = weightNeedle(ctx.mesh.targetCluster(SHARED, 'v2'), weightsOfChange(k)[1]).toString('hex');
      const times = await load
        .change(String(k), needle, () => running.apply(k))
        .catch((err) => {
          throw new Error(`${label}: change ${k} did not reach every stream: ${err.message}`);
        });
      lastMs.push(times.lastMs);
      firstMs.push(times.firstMs);
      await sleep(ctx.gapMs);
    }
    const loopChangeMs = await loopMaxMs(running);
    const after = procStats(running.pid);
    const ms = (v) => (v === null ? null : Math.round(v * 10) / 10);
    return {
      server,
      protocol,
      streams,
      coldMs: acked.ms,
      changes: ctx.changes,
      p50Ms: ms(percentile(lastMs, 50)),
      p99Ms: ms(percentile(lastMs, 99)),
      maxMs: ms(Math.max(...lastMs)),
      firstAckP50Ms: ms(percentile(firstMs, 50)),
      cpuMsPerChange: Math.round((after.cpuMs - connected.cpuMs) / ctx.changes),
      loopMaxColdMs: loopColdMs,
      loopMaxChangeMs: loopChangeMs,
      rssIdleMb: idle.rssMb,
      rssMb: connected.rssMb,
      peakRssMb: after.peakRssMb,
      kbPerStream: Math.round(((connected.rssMb - idle.rssMb) * 1024 * 10) / streams) / 10,
    };
  } finally {
    await load.stop();
    await running.stop();
  }
}

/** meshd's figures over each baseline's, for the same protocol and N. */
function ratios(rows) {
  const out = [];
  for (const r of rows.filter((x) => x.server === 'meshd')) {
    for (const base of rows.filter(
      (x) => x.server !== 'meshd' && x.protocol === r.protocol && x.streams === r.streams,
    )) {
      const ratio = (a, b) => (a === null || !b ? null : Math.round((a / b) * 100) / 100);
      out.push({
        protocol: r.protocol,
        streams: r.streams,
        baseline: base.server,
        p50: ratio(r.p50Ms, base.p50Ms),
        p99: ratio(r.p99Ms, base.p99Ms),
        max: ratio(r.maxMs, base.maxMs),
        firstAck: ratio(r.firstAckP50Ms, base.firstAckP50Ms),
        cpu: ratio(r.cpuMsPerChange, base.cpuMsPerChange),
        cold: ratio(r.coldMs, base.coldMs),
        rss: ratio(r.rssMb, base.rssMb),
      });
    }
  }
  return out;
}

/** TLS over plaintext for meshd's xDS server alone (meshd-xds-tls / meshd-xds), for the same protocol and N. */
function tlsRatios(rows) {
  const out = [];
  for (const t of rows.filter((x) => x.server === 'meshd-xds-tls')) {
    const p = rows.find((x) => x.server === 'meshd-xds' && x.protocol === t.protocol && x.streams === t.streams);
    if (!p) continue;
    const ratio = (a, b) => (a === null || !b ? null : Math.round((a / b) * 100) / 100);
    out.push({
      protocol: t.protocol,
      streams: t.streams,
      cold: ratio(t.coldMs, p.coldMs),
      p50: ratio(t.p50Ms, p.p50Ms),
      p99: ratio(t.p99Ms, p.p99Ms),
      cpu: ratio(t.cpuMsPerChange, p.cpuMsPerChange),
      loopCold: ratio(t.loopMaxColdMs, p.loopMaxColdMs),
      rss: ratio(t.rssMb, p.rssMb),
    });
  }
  return out;
}

function targets(rows) {
  const lines = [];
  const verdict = (ok) => (ok ? 'met' : 'missed');
  for (const r of rows.filter((x) => x.server === 'meshd' && x.streams === 1000)) {
    const go = rows.find((x) => x.server === 'go-control-plane' && x.protocol === r.protocol && x.streams === 1000);
    const vsGo = go ? `; go-control-plane ${go.p99Ms} ms: ${verdict(r.p99Ms <= go.p99Ms)}` : '';
    lines.push(
      `one route change to 1,000 sidecars (${r.protocol}), p99 ≤ 100 ms: ${r.p99Ms} ms (${verdict(r.p99Ms <= 100)})${vsGo}`,
      `first ACK (${r.protocol}), p50 ≤ 20 ms: ${r.firstAckP50Ms} ms (${verdict(r.firstAckP50Ms <= 20)})`,
      `event loop (${r.protocol}), longest block ≤ 50 ms: ${r.loopMaxChangeMs} ms during the changes (${verdict(r.loopMaxChangeMs <= 50)}), ${r.loopMaxColdMs} ms during the connect storm (${verdict(r.loopMaxColdMs <= 50)})`,
    );
    if (go)
      lines.push(
        `cold connect of 1,000 streams (${r.protocol}) ≤ go-control-plane: ${r.coldMs} ms vs ${go.coldMs} ms (${verdict(r.coldMs <= go.coldMs)})`,
      );
  }
  for (const r of rows.filter((x) => x.server === 'meshd' && x.streams >= 10000)) {
    lines.push(
      `${r.streams.toLocaleString('en')} streams (${r.protocol}) on one meshd, RSS ≤ 100 KB a stream above idle: ${r.kbPerStream} KB (${verdict(r.kbPerStream <= 100)}); a route change p99 ${r.p99Ms} ms`,
    );
  }
  return lines;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`propagation: ${err.message}`);
    process.exit(2);
  }
  if (opts.help) {
    console.log(
      'usage: node bench/propagation.js [--streams 100,1000,5000] [--services 100] [--backends 5] [--changes 20] [--servers meshd,bare-grpc,go-control-plane (also: meshd-xds,meshd-xds-tls)] [--protocols sotw,delta] [--per-connection 10] [--load-processes 1] [--gap-ms 150] [--out file] [--cpu-prof] [--quiet]',
    );
    return;
  }
  const mesh = writeMesh({ services: opts.services, backends: opts.backends });
  const dumpFile = path.join(mesh.dir, '..', `${path.basename(mesh.dir)}-dump.json`);
  let ctx;
  try {
    const changes = Array.from({ length: opts.changes }, (_, i) => ({
      service: SHARED,
      weights: weightsOfChange(i + 1),
    }));
    const started = Date.now();
    fs.writeFileSync(dumpFile, JSON.stringify(precompile(mesh, changes)));
    const precompileMs = Date.now() - started;
    const loopFile = path.join(mesh.dir, '..', `${path.basename(mesh.dir)}-loop.json`);
    ctx = { ...opts, mesh, dumpFile, loopFile, nodeIds: mesh.callersOf(SHARED) };
    if (opts.servers.includes('go-control-plane')) ctx.goPeer = buildGoPeer();

    const rows = [];
    for (const streams of opts.streams) {
      for (const protocol of opts.protocols) {
        for (const server of opts.servers) rows.push(await measure(ctx, server, protocol, streams));
      }
    }
    const result = {
      node: process.version,
      cpus: os.cpus().length,
      mesh: {
        services: opts.services,
        virtualNodes: 2 * opts.services,
        backends: opts.backends,
        nodeIdsServed: ctx.nodeIds.length,
      },
      perConnection: opts.perConnection,
      precompileMs,
      rows,
      ratios: ratios(rows),
      tlsRatios: tlsRatios(rows),
      targets: targets(rows),
    };
    if (!opts.quiet) {
      console.log(
        `propagation: ${opts.services} services (${2 * opts.services} virtual nodes, ${opts.backends} backends each); the streams are spread over the ${ctx.nodeIds.length} node ids a change of svc-${SHARED}'s route reaches; ` +
          `${opts.changes} changes each; p50/p99/maxMs: from the write (meshd) or the command (baselines) to the last stream's ACK of the new route; firstAckP50Ms: to the first`,
      );
      console.table(rows);
      if (result.ratios.length > 0) {
        console.log('meshd / baseline (below 1: meshd is faster or smaller)');
        console.table(result.ratios);
      }
      if (result.tlsRatios.length > 0) {
        console.log("meshd's xDS server over TLS / in plaintext (above 1: TLS costs that much more)");
        console.table(result.tlsRatios);
      }
      for (const line of result.targets) console.log(line);
    }
    fs.mkdirSync(path.dirname(opts.out), { recursive: true });
    fs.writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`written to ${path.relative(process.cwd(), opts.out)}`);
  } finally {
    mesh.remove();
    if (ctx?.tls) fs.rmSync(ctx.tls.dir, { recursive: true, force: true });
    fs.rmSync(dumpFile, { force: true });
    fs.rmSync(path.join(mesh.dir, '..', `${path.basename(mesh.dir)}-loop.json`), { force: true });
  }
}

main().catch((err) => {
  console.error(`propagation: ${err.message}`);
  killAll();
  process.exit(1);
});
