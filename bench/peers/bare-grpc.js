#!/usr/bin/env node
// Baseline (a) of bench/propagation.js: a bare @grpc/grpc-js ADS server pushing pre-encoded
// bytes, the floor for an xDS server on Node. It serves the dump bench/precompiled.js writes
// (meshd's own compiled resources), with every response of every state encoded before it
// listens, so a push is one write of ready bytes per stream: no compiling, no versioning, no
// per-stream encoding.
//
// It serves exactly what the bench's load generator asks for, and no more: on the first request
// of a type it sends the node's whole set of that type (the load generator subscribes to every
// name it is told of); later requests (ACKs, NACKs, changed subscriptions) get no answer. On
// `apply <k>` it sends each stream of a changed node the changed types (SotW: the whole set;
// Delta: the resources that changed and the names removed).
//
// CLI: node bench/peers/bare-grpc.js --dump <file> --port <port> [--address 127.0.0.1]
// stdout: {"event":"listening",...} once serving, {"event":"applied","state":k,...} per apply.
// stdin: `apply <k>`, `exit`.
'use strict';
const fs = require('node:fs');
const grpc = require('@grpc/grpc-js');
const { adsServiceDefinition } = require('../../dist/xds/protos');
const { encodeDiscoveryResponse, encodeDeltaDiscoveryResponse } = require('../../dist/xds/wire');
const { readLines } = require('../processes');

function parseArgs(argv) {
  const o = { address: '127.0.0.1' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dump') o.dump = argv[++i];
    else if (a === '--port') o.port = Number(argv[++i]);
    else if (a === '--address') o.address = argv[++i];
    else throw new Error(`unknown argument: ${a}`);
  }
  if (!o.dump || !Number.isInteger(o.port))
    throw new Error('usage: bare-grpc.js --dump <file> --port <port> [--address 127.0.0.1]');
  return o;
}

/**
 * Every response of every state, encoded: for each state k, node and changed type,
 * { sotw: DiscoveryResponse, delta: DeltaDiscoveryResponse of the changes from k-1,
 *   deltaFull: DeltaDiscoveryResponse of the whole set }.
 */
function encodeStates(dump) {
  const resources = dump.resources.map((r) => ({
    name: r.name,
    version: r.version,
    any: Buffer.from(r.any, 'base64'),
  }));
  const held = new Map(); // node → type → Map(name → resource)
  return dump.states.map((state, k) => {
    const nodes = new Map();
    for (const [nodeId, types] of Object.entries(state.nodes)) {
      const byType = new Map();
      const before = held.get(nodeId) ?? new Map();
      held.set(nodeId, before);
      for (const [typeUrl, set] of Object.entries(types)) {
        const list = set.resources.map((i) => resources[i]);
        const old = before.get(typeUrl) ?? new Map();
        const now = new Map(list.map((r) => [r.name, r]));
        before.set(typeUrl, now);
        const nonce = String(k);
        byType.set(typeUrl, {
          sotw: encodeDiscoveryResponse(set.version, typeUrl, nonce, list),
          delta: encodeDeltaDiscoveryResponse(
            set.version,
            typeUrl,
            nonce,
            list.filter((r) => old.get(r.name)?.version !== r.version),
            [...old.keys()].filter((n) => !now.has(n)),
          ),
          deltaFull: encodeDeltaDiscoveryResponse(set.version, typeUrl, nonce, list, []),
        });
      }
      nodes.set(nodeId, byType);
    }
    return nodes;
  });
}

function main() {
  let opts;
  let states;
  try {
    opts = parseArgs(process.argv.slice(2));
    states = encodeStates(JSON.parse(fs.readFileSync(opts.dump, 'utf8')));
  } catch (err) {
    process.stderr.write(`bare-grpc: ${err.message}\n`);
    process.exit(1);
  }
  const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
  // What each node is served now: type → encoded responses (the state that last changed it).
  const current = new Map(states[0]);
  const streamsOf = new Map(); // node id → Set of { call, delta, subscribed: Set<type> }

  const serve = (delta) => (call) => {
    const stream = { call, delta, subscribed: new Set(), nodeId: undefined };
    call.on('data', (req) => {
      if (stream.nodeId === undefined) {
        stream.nodeId = req.node?.id ?? '';
        if (!streamsOf.has(stream.nodeId)) streamsOf.set(stream.nodeId, new Set());
        streamsOf.get(stream.nodeId).add(stream);
      }
      if (stream.subscribed.has(req.type_url)) return;
      stream.subscribed.add(req.type_url);
      const encoded = current.get(stream.nodeId)?.get(req.type_url);
      if (encoded) call.write(delta ? encoded.deltaFull : encoded.sotw);
    });
    const end = () => streamsOf.get(stream.nodeId)?.delete(stream);
    call.on('end', () => {
      end();
      call.end();
    });
    call.on('error', end);
    call.on('cancelled', end);
  };

  const apply = (k) => {
    const changed = states[k];
    if (!changed || k === 0) return emit({ event: 'error', message: `no state ${k}` });
    for (const [nodeId, byType] of changed) {
      const served = new Map(current.get(nodeId));
      for (const [typeUrl, encoded] of byType) served.set(typeUrl, encoded);
      current.set(nodeId, served);
      for (const stream of streamsOf.get(nodeId) ?? []) {
        for (const [typeUrl, encoded] of byType)
          if (stream.subscribed.has(typeUrl)) stream.call.write(stream.delta ? encoded.delta : encoded.sotw);
      }
    }
    emit({ event: 'applied', state: k, nodes: changed.size });
  };

  const server = new grpc.Server({ 'grpc.max_concurrent_streams': 1 << 20 });
  const ads = adsServiceDefinition();
  server.addService(ads, { StreamAggregatedResources: serve(false), DeltaAggregatedResources: serve(true) });
  server.bindAsync(`${opts.address}:${opts.port}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      process.stderr.write(`bare-grpc: cannot listen on ${opts.address}:${opts.port}: ${err.message}\n`);
      process.exit(1);
    }
    emit({ event: 'listening', port, nodes: states[0].size, states: states.length });
  });

  const exit = () => {
    server.forceShutdown();
    process.exit(0);
  };
  readLines(
    process.stdin,
    (line) => {
      const [command, arg] = line.split(/\s+/);
      if (command === 'apply' && /^\d+$/.test(arg ?? '')) apply(Number(arg));
      else if (command === 'exit') exit();
      else if (line) emit({ event: 'error', message: `unknown command: ${line}` });
    },
    exit,
  );
  process.on('SIGTERM', exit);
}

main();
