#!/usr/bin/env node
// meshd's own xDS server (dist/xds/server.js: the sessions, snapshot cache and limits `meshd
// serve` runs) serving the states bench/precompiled.js dumps, without the rest of meshd (no
// file watching, reloading or compiling): what the xDS layer alone costs, and, with --tls, what
// TLS on the xDS channel adds to it. Same CLI as bare-grpc.js, which serves the same dump.
//
// CLI: node bench/peers/meshd-xds.js --dump <file> --port <port> [--address 127.0.0.1]
//        [--tls <dir>]   (dir holds server.crt, server.key and ca.crt: bench/tls-ca.js writes them)
// stdout: {"event":"listening",...} once serving, {"event":"applied","state":k,...} per apply.
// stdin: `apply <k>`, `exit`.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { startXdsServer } = require('../../dist/xds/server');
const { SnapshotCache } = require('../../dist/xds/snapshot-cache');
const { resourceSet } = require('../../dist/xds/resources');
const { readLines } = require('../processes');

function parseArgs(argv) {
  const o = { address: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dump') o.dump = argv[++i];
    else if (a === '--port') o.port = Number(argv[++i]);
    else if (a === '--address') o.address = argv[++i];
    else if (a === '--tls') o.tls = argv[++i];
    else throw new Error(`unknown argument: ${a}`);
  }
  if (!o.dump || !Number.isInteger(o.port))
    throw new Error('usage: meshd-xds.js --dump <file> --port <port> [--address 127.0.0.1] [--tls <dir>]');
  return o;
}

/** Every state as the snapshots it gives each node it changes (state 0: every node). */
function snapshotsOf(dump) {
  const resources = dump.resources.map((r) => ({
    name: r.name,
    version: r.version,
    any: Buffer.from(r.any, 'base64'),
  }));
  const types = new Map(); // node → Map(type → ResourceSet), the latest
  return dump.states.map((state) => {
    const changed = new Map();
    for (const [nodeId, byType] of Object.entries(state.nodes)) {
      const now = new Map(types.get(nodeId) ?? []);
      for (const [typeUrl, set] of Object.entries(byType))
        now.set(typeUrl, resourceSet(set.resources.map((i) => resources[i])));
      types.set(nodeId, now);
      changed.set(nodeId, now);
    }
    return changed;
  });
}

async function main() {
  let opts;
  let states;
  try {
    opts = parseArgs(process.argv.slice(2));
    states = snapshotsOf(JSON.parse(fs.readFileSync(opts.dump, 'utf8')));
  } catch (err) {
    process.stderr.write(`meshd-xds: ${err.message}\n`);
    process.exit(1);
  }
  const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
  const cache = new SnapshotCache();
  const set = (k) => {
    for (const [nodeId, types] of states[k]) cache.set(nodeId, { types, detectedAt: Date.now() });
  };
  set(0);
  const tls = opts.tls && {
    certificateChainPem: fs.readFileSync(path.join(opts.tls, 'server.crt'), 'utf8'),
    privateKeyPem: fs.readFileSync(path.join(opts.tls, 'server.key'), 'utf8'),
    trustedCaPem: fs.readFileSync(path.join(opts.tls, 'ca.crt'), 'utf8'),
  };
  const quiet = { debug() {}, info() {}, warn() {} };
  const server = await startXdsServer({
    host: opts.address,
    port: opts.port,
    cache,
    log: quiet,
    hooks: { nodeKey: (node) => node.id },
    ...(tls ? { tls } : {}),
  });
  emit({ event: 'listening', port: server.port, nodes: states[0].size, states: states.length, tls: Boolean(tls) });
  const exit = () => server.close().then(() => process.exit(0));
  readLines(
    process.stdin,
    (line) => {
      const [command, arg] = line.split(/\s+/);
      if (command === 'apply' && /^\d+$/.test(arg ?? '') && states[Number(arg)] && arg !== '0') {
        set(Number(arg));
        emit({ event: 'applied', state: Number(arg), nodes: states[Number(arg)].size });
      } else if (command === 'exit') exit();
      else if (line) emit({ event: 'error', message: `unknown command: ${line}` });
    },
    exit,
  );
  process.on('SIGTERM', exit);
}

main().catch((err) => {
  process.stderr.write(`meshd-xds: ${err.message}\n`);
  process.exit(1);
});
