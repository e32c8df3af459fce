// A well-behaved proxy in its own process, for starvation checks: a Delta ADS stream for the
// quickstart's front node, wildcard on CDS, EDS, LDS and RDS, ACKing every response as Envoy
// does. It does not share an event loop with the attacker (the test process), so the push
// latency it measures is meshd's.
//
//   node test/helpers/xds-victim.js <xds-port> <admin-port> <mesh-file>
// stdin commands, one per line; stdout: one JSON event per line.
//   edit     → flips the color route's weights in <mesh-file>; {"event":"push","ms":N} once the
//              RDS response that carries the change arrives
//   healthz  → {"event":"healthz","ms":N}
// Also: {"event":"synced"} after the first RDS response; {"event":"ended","code":N} if the stream ends.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const readline = require('node:readline');
const grpc = require('@grpc/grpc-js');
const { adsServiceDefinition } = require(path.resolve(__dirname, '../../dist/xds/protos'));

const [xdsPort, adminPort, meshFile] = process.argv.slice(2);
const NODE = { id: 'mesh/apps/virtualNode/front', cluster: 'front' };
const TYPES = {
  cds: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  eds: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  lds: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  rds: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
};
const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

const original = fs.readFileSync(meshFile, 'utf8');
let blue = 100;
/** Resolves the pending edit when its RDS response arrives. */
let waiting;

const Client = grpc.makeGenericClientConstructor(adsServiceDefinition(), 'AggregatedDiscoveryService');
const client = new Client(`127.0.0.1:${xdsPort}`, grpc.credentials.createInsecure(), {
  'grpc.use_local_subchannel_pool': 1,
  'grpc.max_receive_message_length': -1,
});
const call = client.DeltaAggregatedResources();
let synced = false;
call.on('data', (res) => {
  call.write({ node: NODE, type_url: res.type_url, response_nonce: res.nonce });
  if (res.type_url !== TYPES.rds) return;
  if (!synced) {
    synced = true;
    emit({ event: 'synced' });
  }
  if (waiting) {
    const { t0 } = waiting;
    waiting = undefined;
    emit({ event: 'push', ms: Date.now() - t0 });
  }
});
call.on('error', () => undefined);
call.on('status', (s) => emit({ event: 'ended', code: s.code, details: s.details }));
for (const type_url of Object.values(TYPES)) call.write({ node: NODE, type_url });

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'edit') {
    blue = blue === 100 ? 50 : 100;
    const text = original
      .replace('{ virtualNode: color-blue, weight: 100 }', `{ virtualNode: color-blue, weight: ${blue} }`)
      .replace('{ virtualNode: color-green, weight: 0 }', `{ virtualNode: color-green, weight: ${100 - blue} }`);
    waiting = { t0: Date.now() };
    fs.writeFileSync(meshFile, text);
  } else if (line === 'healthz') {
    const t0 = Date.now();
    http
      .get({ host: '127.0.0.1', port: Number(adminPort), path: '/healthz', agent: false }, (res) => {
        res.resume();
        res.on('end', () => emit({ event: 'healthz', ms: Date.now() - t0, status: res.statusCode }));
      })
      .on('error', (err) => emit({ event: 'healthz', error: err.message }));
  } else if (line === 'exit') {
    call.cancel();
    client.close();
    process.exit(0);
  }
});
