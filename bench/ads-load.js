#!/usr/bin/env node
// ADS load generator: N raw ADS streams against a meshd xDS port, each behaving like an Envoy
// sidecar. Used by bench/reconnect-storm.js and test/e2e/reconnect-storm.test.ts; not a bench on
// its own (bench/run.js skips it).
//
// Each stream (State of the World, StreamAggregatedResources):
//   CDS wildcard → ACK; EDS for the EDS clusters it got (if any) → ACK; LDS wildcard → ACK;
//   RDS for the route config names its listeners name → ACK; and it ACKs every later push,
//   following subscription changes the way Envoy does.
// With --delta (DeltaAggregatedResources): the same order, wildcard subscriptions for CDS and
// LDS, names for EDS and RDS, ACKs by response_nonce.
// With --reconnect, a stream that ends (meshd killed or restarted) opens again at once and
// reports what it holds: SotW version_info per type, Delta initial_resource_versions. A meshd
// that has the same content then has nothing to send.
//
// Streams are spread over separate HTTP/2 connections (one grpc.Client with its own
// subchannel pool each), --per-connection streams on each (default 10).
//
// Watching for one change (bench/propagation.js): `arm(id, needle)` makes every stream look
// for the first response whose resources contain the bytes `needle` (say, a route's new
// weighted cluster, encoded); the time each stream has ACKed it is noted, and once every stream
// has, a `change-acked` event gives the first and the last of those times. Times are
// `performance.timeOrigin + performance.now()` (ms since the epoch, sub-ms), comparable across
// processes on one machine.
//
// CLI: node bench/ads-load.js --xds 127.0.0.1:18000 (--mesh <dir|file>... | --nodes id,id)
//        [--streams 1000] [--per-connection 10] [--delta] [--reconnect] [--retry-ms 100]
//        [--tls-ca <file> --tls-name <name>]  (TLS, trusting that CA, the server's certificate being for that name)
//   prints one JSON line per event on stdout: opening, all-acked, all-disconnected, armed,
//   change-acked, stats. Reads commands on stdin, one a line: `stats` (prints a stats line),
//   `arm <id> <needle as hex>` (prints `armed`), `exit` (closes every stream and exits).
//   Exits on SIGTERM/SIGINT too.
// In-process: const { startLoad } = require('./ads-load'); const load = startLoad({...});
//   await load.allAcked; load.stats(); load.close();
'use strict';
const grpc = require('@grpc/grpc-js');
const path = require('node:path');
const { adsServiceDefinition, decodeResource } = require('../dist/xds/protos');
const { readLines } = require('./processes');
const { TypeUrl } = require('../dist/xds/type-urls');

const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.Endpoint;
const LDS = TypeUrl.Listener;
const RDS = TypeUrl.Route;
const ORDER = [CDS, EDS, LDS, RDS];
const SHORT = { [CDS]: 'CDS', [EDS]: 'EDS', [LDS]: 'LDS', [RDS]: 'RDS' };

// ---------------------------------------------------------------------------------------------
// What a stream needs from the resources it receives: the EDS names of its clusters and the
// route config names of its listeners. Decoded once per content (see `cached`), shared by streams.

const decoded = new Map();

function cached(key, compute) {
  if (!decoded.has(key)) decoded.set(key, compute());
  return decoded.get(key);
}

/** The EDS service name of a cluster, or null if it is not an EDS cluster. */
function edsNameOf(bytes) {
  const c = decodeResource(CDS, bytes);
  return c.type === 'EDS' ? c.eds_cluster_config?.service_name || c.name : null;
}

/** Every `rds.route_config_name` in a listener (HttpConnectionManager typed_configs, expanded as '@type' objects). */
function routeNamesOf(bytes) {
  const names = new Set();
  const walk = (v) => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (!v || typeof v !== 'object') return;
    if (v.rds && typeof v.rds.route_config_name === 'string') names.add(v.rds.route_config_name);
    for (const child of Object.values(v)) walk(child);
  };
  walk(decodeResource(LDS, bytes));
  return [...names];
}

/** Wall-clock ms with sub-ms precision, comparable between processes. */
const preciseNow = () => performance.timeOrigin + performance.now();

const sameSet = (a, b) => a.length === b.length && a.every((x) => b.includes(x));
const sorted = (it) => [...it].sort();

// ---------------------------------------------------------------------------------------------

class Stats {
  constructor() {
    this.opened = 0; // calls started (first connection and reconnections)
    this.open = 0; // calls currently open (started, not ended)
    this.responses = 0;
    this.responsesByType = {};
    this.responsesSinceReopen = 0;
    this.requests = 0;
    this.errors = 0;
    this.errorCodes = {};
    this.reopens = 0;
  }
}

class BaseStream {
  constructor(load, channel, nodeId, index) {
    this.load = load;
    this.channel = channel;
    this.node = { id: nodeId, cluster: nodeId.slice(nodeId.lastIndexOf('/') + 1), user_agent_name: 'envoy' };
    this.index = index;
    this.call = undefined;
    this.closed = false;
    /** type URL → per-type state; created when the type is first requested. */
    this.types = new Map();
    this.ackedAllAt = undefined;
  }

  open() {
    const reopen = this.call !== undefined;
    const stats = this.load.statsData;
    stats.opened++;
    stats.open++;
    if (reopen) stats.reopens++;
    // waitForReady: while meshd is down the call waits for the channel (which retries every
    // --retry-ms) instead of failing at once.
    const call = this.channel[this.method](new grpc.Metadata({ waitForReady: true }));
    this.call = call;
    let ended = false;
    const onEnd = (status) => {
      if (ended) return;
      ended = true;
      stats.open--;
      if (this.closed) return;
      if (status.code !== grpc.status.OK) {
        stats.errors++;
        stats.errorCodes[status.code] = (stats.errorCodes[status.code] ?? 0) + 1;
      }
      this.load.streamEnded(this);
      if (this.load.opts.reconnect) setImmediate(() => !this.closed && this.open());
    };
    call.on('data', (res) => {
      if (this.call !== call) return;
      stats.responses++;
      stats.responsesSinceReopen++;
      const short = SHORT[res.type_url] ?? res.type_url;
      stats.responsesByType[short] = (stats.responsesByType[short] ?? 0) + 1;
      this.onResponse(res);
      this.load.watchChange(this, res);
      this.load.opts.onResponse(res, this);
      this.checkAcked();
    });
    call.on('error', () => undefined); // the status says it all
    call.on('status', (status) => onEnd(status));
    if (reopen) this.resume();
    else this.request(CDS, []);
  }

  send(msg) {
    this.load.statsData.requests++;
    this.call.write(msg);
  }

  typeState(typeUrl) {
    let s = this.types.get(typeUrl);
    if (!s) {
      s = this.newTypeState(typeUrl);
      this.types.set(typeUrl, s);
    }
    return s;
  }

  /** After a response: request EDS for the EDS clusters, then LDS, then RDS for the listeners' routes. */
  followSubscriptions() {
    const cds = this.types.get(CDS);
    if (!cds?.received) return;
    const edsNames = this.edsNames();
    const eds = this.types.get(EDS);
    if (eds ? !sameSet(eds.names, edsNames) : edsNames.length > 0) this.request(EDS, edsNames);
    const clustersWarm = edsNames.length === 0 || (this.types.get(EDS)?.received && !this.types.get(EDS).pending);
    if (!this.types.has(LDS) && clustersWarm) this.request(LDS, []);
    const lds = this.types.get(LDS);
    if (!lds?.received) return;
    const rdsNames = this.routeNames();
    const rds = this.types.get(RDS);
    if (rds ? !sameSet(rds.names, rdsNames) : rdsNames.length > 0) this.request(RDS, rdsNames);
  }

  /** Every subscribed type has been answered and ACKed (client side; the first time only). */
  checkAcked() {
    if (this.ackedAllAt !== undefined) return;
    const lds = this.types.get(LDS);
    if (!lds?.received) return;
    for (const s of this.types.values()) if (s.pending || !s.received) return;
    this.ackedAllAt = Date.now();
    this.load.streamAcked(this);
  }

  close() {
    this.closed = true;
    this.call?.cancel();
  }
}

/** State of the World (StreamAggregatedResources). */
class SotwStream extends BaseStream {
  get method() {
    return 'StreamAggregatedResources';
  }

  newTypeState(typeUrl) {
    // version/nonce: of the last response (all are ACKed); names: the subscription; pending: asked, not answered yet.
    return { typeUrl, names: [], version: '', nonce: '', received: false, pending: false, clusters: [], routes: [] };
  }

  request(typeUrl, names) {
    const s = this.typeState(typeUrl);
    s.names = sorted(names);
    s.pending = true;
    this.send({
      node: this.node,
      type_url: typeUrl,
      version_info: s.version,
      response_nonce: s.nonce,
      resource_names: s.names,
    });
  }

  /** A new stream reports every subscription with the version it holds (Envoy does the same). */
  resume() {
    for (const typeUrl of ORDER) {
      const s = this.types.get(typeUrl);
      if (!s) continue;
      s.nonce = '';
      this.send({ node: this.node, type_url: typeUrl, version_info: s.version, resource_names: s.names });
    }
  }

  onResponse(res) {
    const s = this.typeState(res.type_url);
    s.version = res.version_info;
    s.nonce = res.nonce;
    s.received = true;
    s.pending = false;
    // A SotW version names the content of the node's whole set: decode each (node, version) once.
    if (res.type_url === CDS)
      s.clusters = cached(`cds|${this.node.id}|${res.version_info}`, () =>
        res.resources.map((any) => edsNameOf(any.value)).filter((n) => n !== null),
      );
    if (res.type_url === LDS)
      s.routes = cached(`lds|${this.node.id}|${res.version_info}`, () => [
        ...new Set(res.resources.flatMap((any) => routeNamesOf(any.value))),
      ]);
    this.send({
      node: this.node,
      type_url: res.type_url,
      version_info: res.version_info,
      response_nonce: res.nonce,
      resource_names: s.names,
    });
    this.followSubscriptions();
  }

  edsNames() {
    return sorted(new Set(this.types.get(CDS)?.clusters ?? []));
  }

  routeNames() {
    return sorted(this.types.get(LDS)?.routes ?? []);
  }
}

/** Incremental (DeltaAggregatedResources). */
class DeltaStream extends BaseStream {
  get method() {
    return 'DeltaAggregatedResources';
  }

  newTypeState(typeUrl) {
    // held: name → version the client has; info: name → what it names (EDS name / route names).
    return { typeUrl, names: [], wildcard: false, held: new Map(), info: new Map(), received: false, pending: false };
  }

  request(typeUrl, names) {
    const s = this.typeState(typeUrl);
    const first = !s.requested;
    s.requested = true;
    s.pending = true;
    if (first) {
      s.wildcard = names.length === 0;
      s.names = sorted(names);
      this.send({ node: this.node, type_url: typeUrl, resource_names_subscribe: s.names });
      return;
    }
    const want = sorted(names);
    const subscribe = want.filter((n) => !s.names.includes(n));
    const unsubscribe = s.names.filter((n) => !want.includes(n));
    s.names = want;
    for (const n of unsubscribe) {
      s.held.delete(n);
      s.info.delete(n);
    }
    // Only new names get an answer; a pure unsubscription is not answered.
    s.pending = subscribe.length > 0;
    this.send({
      node: this.node,
      type_url: typeUrl,
      resource_names_subscribe: subscribe,
      resource_names_unsubscribe: unsubscribe,
    });
  }

  /** A new stream subscribes again, reporting the versions it holds. */
  resume() {
    for (const typeUrl of ORDER) {
      const s = this.types.get(typeUrl);
      if (!s) continue;
      this.send({
        node: this.node,
        type_url: typeUrl,
        resource_names_subscribe: s.wildcard ? [] : s.names,
        initial_resource_versions: Object.fromEntries(s.held),
      });
    }
  }

  onResponse(res) {
    const s = this.typeState(res.type_url);
    s.received = true;
    s.pending = false;
    for (const r of res.resources) {
      s.held.set(r.name, r.version);
      const bytes = r.resource?.value;
      // A Delta resource version names its content: decode each (name, version) once.
      if (res.type_url === CDS && bytes)
        s.info.set(
          r.name,
          cached(`c|${r.name}|${r.version}`, () => edsNameOf(bytes)),
        );
      if (res.type_url === LDS && bytes)
        s.info.set(
          r.name,
          cached(`l|${r.name}|${r.version}`, () => routeNamesOf(bytes)),
        );
    }
    for (const name of res.removed_resources) {
      s.held.delete(name);
      s.info.delete(name);
    }
    this.send({ node: this.node, type_url: res.type_url, response_nonce: res.nonce });
    this.followSubscriptions();
  }

  edsNames() {
    return sorted(new Set([...(this.types.get(CDS)?.info.values() ?? [])].filter((n) => n !== null)));
  }

  routeNames() {
    return sorted(new Set([...(this.types.get(LDS)?.info.values() ?? [])].flat()));
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Opens the streams at once and returns a handle:
 *   allAcked: resolves when every stream got and ACKed a response for each type it subscribed to;
 *   stats(): counters; close(): cancels every stream and closes the channels.
 * opts: target ('host:port'), nodeIds (cycled over), streams, perConnection, delta, reconnect,
 *       retryMs, onEvent(event) for events (opening, all-acked, all-disconnected),
 *       onResponse(response, stream) after each response is handled (and ACKed).
 */
function startLoad(opts) {
  const o = {
    streams: 1000,
    perConnection: 10,
    delta: false,
    reconnect: false,
    retryMs: 100,
    onEvent: () => undefined,
    onResponse: () => undefined,
    ...opts,
  };
  if (!o.target) throw new Error('startLoad: target (host:port) is required');
  if (!o.nodeIds?.length) throw new Error('startLoad: nodeIds must name at least one node id');
  const Client = grpc.makeGenericClientConstructor(adsServiceDefinition(), 'AggregatedDiscoveryService');
  // TLS (o.tlsCa: the CA file to trust; o.tlsName: the name the server's certificate is for), no client certificate.
  const credentials = o.tlsCa
    ? grpc.credentials.createSsl(require('node:fs').readFileSync(o.tlsCa))
    : grpc.credentials.createInsecure();
  const tlsName =
    o.tlsCa && o.tlsName ? { 'grpc.ssl_target_name_override': o.tlsName, 'grpc.default_authority': o.tlsName } : {};
  const connections = Math.ceil(o.streams / o.perConnection);
  const channels = Array.from(
    { length: connections },
    () =>
      new Client(o.target, credentials, {
        ...tlsName,
        // Its own subchannel pool: a separate HTTP/2 connection per client, as separate Envoys have.
        'grpc.use_local_subchannel_pool': 1,
        'grpc.initial_reconnect_backoff_ms': o.retryMs,
        'grpc.max_reconnect_backoff_ms': o.retryMs,
        'grpc.max_receive_message_length': -1,
      }),
  );
  const statsData = new Stats();
  let acked = 0;
  let resolveAcked;
  const allAcked = new Promise((resolve) => (resolveAcked = resolve));
  let openedAt;
  let closing = false;
  const endedInRound = new Map();
  /** The change being watched for (see arm): id, needle, how many streams have ACKed it, first and last time. */
  let change;

  const load = {
    opts: o,
    statsData,
    /** After a response is ACKed: does it carry the watched change? */
    watchChange(stream, res) {
      if (!change || stream.changeSeen === change.id) return;
      const carries = res.resources.some((r) => (r.value ?? r.resource?.value)?.indexOf(change.needle) >= 0);
      if (!carries) return;
      const at = preciseNow();
      stream.changeSeen = change.id;
      change.firstAt ??= at;
      change.lastAt = at;
      if (++change.acked === o.streams) {
        const { id, firstAt, lastAt } = change;
        change = undefined;
        o.onEvent({ event: 'change-acked', id, streams: o.streams, firstAt, lastAt });
      }
    },
    streamAcked() {
      if (++acked === o.streams) {
        const at = Date.now();
        const event = { event: 'all-acked', streams: o.streams, ms: at - openedAt, at };
        o.onEvent(event);
        resolveAcked(event);
      }
    },
    /** A stream ended (not by close()): once every stream ended once more, that is a disconnection round. */
    streamEnded(stream) {
      stream.ends = (stream.ends ?? 0) + 1;
      endedInRound.set(stream.ends, (endedInRound.get(stream.ends) ?? 0) + 1);
      if (endedInRound.get(stream.ends) === o.streams && !closing) {
        statsData.responsesSinceReopen = 0;
        o.onEvent({
          event: 'all-disconnected',
          round: stream.ends,
          at: Date.now(),
          errors: statsData.errors,
          errorCodes: { ...statsData.errorCodes },
        });
      }
    },
  };

  const Stream = o.delta ? DeltaStream : SotwStream;
  const streams = Array.from(
    { length: o.streams },
    (_, i) => new Stream(load, channels[Math.floor(i / o.perConnection)], o.nodeIds[i % o.nodeIds.length], i),
  );
  openedAt = Date.now();
  o.onEvent({ event: 'opening', protocol: o.delta ? 'delta' : 'sotw', streams: o.streams, connections, at: openedAt });
  for (const s of streams) s.open();

  return {
    allAcked,
    connections,
    /**
     * Watches for a change: a `change-acked` event follows once every stream has ACKed a response containing `needle`.
     */
    arm(id, needle) {
      change = { id, needle, acked: 0, firstAt: undefined, lastAt: undefined };
    },

    stats: () => ({
      event: 'stats',
      at: Date.now(),
      streams: o.streams,
      acked,
      ...JSON.parse(JSON.stringify(statsData)),
    }),
    close() {
      closing = true;
      for (const s of streams) s.close();
      for (const c of channels) c.close();
    },
  };
}

/** The node ids of a mesh's virtual nodes (mesh/M/virtualNode/N), from mesh files or folders. */
function virtualNodeIds(paths) {
  const { loadMesh } = require('../dist/load/mesh-source');
  const result = loadMesh(paths);
  if (!result.ok) throw new Error(`the mesh is invalid: ${result.problems.map((p) => p.message).join('; ')}`);
  return result.model.virtualNodes().map((n) => `mesh/${n.mesh}/virtualNode/${n.name}`);
}

/**
 * A generated mesh of `nodes` virtual nodes: most found through Cloud Map (EDS clusters), every
 * third by DNS; each calls a router (90/10 split between two nodes) and the next node, so every
 * proxy subscribes to CDS, EDS, LDS and RDS.
 */
function stormMeshYaml(nodes = 10, mesh = 'storm') {
  const routers = Math.max(1, Math.floor(nodes / 2));
  const docs = [`kind: Mesh\nname: ${mesh}\nspec: { egressFilter: { type: DROP_ALL } }\n`];
  for (let i = 0; i < nodes; i++) {
    const discovery =
      i % 3 === 2
        ? `{ dns: { hostname: node-${i}.${mesh}.local } }`
        : `{ awsCloudMap: { namespaceName: ${mesh}.local, serviceName: node-${i} } }`;
    docs.push(
      `kind: VirtualNode\nmesh: ${mesh}\nname: node-${i}\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: ${discovery}\n  backends:\n    - virtualService: { virtualServiceName: svc-${i % routers}.${mesh}.local }\n    - virtualService: { virtualServiceName: node-${(i + 1) % nodes}.${mesh}.local }\n`,
    );
    docs.push(
      `kind: VirtualService\nmesh: ${mesh}\nname: node-${i}.${mesh}.local\nspec: { provider: { virtualNode: { virtualNodeName: node-${i} } } }\n`,
    );
  }
  for (let r = 0; r < routers; r++) {
    const [a, b] = [(2 * r) % nodes, (2 * r + 1) % nodes];
    docs.push(
      `kind: VirtualRouter\nmesh: ${mesh}\nname: router-${r}\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n`,
    );
    docs.push(
      `kind: Route\nmesh: ${mesh}\nvirtualRouter: router-${r}\nname: split\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action: { weightedTargets: [{ virtualNode: node-${a}, weight: 90 }, { virtualNode: node-${b}, weight: 10 }] }\n    retryPolicy: { maxRetries: 2, perRetryTimeout: { unit: ms, value: 500 }, httpRetryEvents: [server-error] }\n`,
    );
    docs.push(
      `kind: VirtualService\nmesh: ${mesh}\nname: svc-${r}.${mesh}.local\nspec: { provider: { virtualRouter: { virtualRouterName: router-${r} } } }\n`,
    );
  }
  return docs.join('---\n');
}

module.exports = { startLoad, virtualNodeIds, stormMeshYaml, TYPE_NAMES: SHORT };

// ---------------------------------------------------------------------------------------------
// CLI

function parseArgs(argv) {
  const out = { mesh: [], nodes: [], streams: 1000, perConnection: 10, delta: false, reconnect: false, retryMs: 100 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--xds') out.target = value();
    else if (a === '--mesh') out.mesh.push(value());
    else if (a === '--nodes') out.nodes.push(...value().split(',').filter(Boolean));
    else if (a === '--streams') out.streams = Number(value());
    else if (a === '--per-connection') out.perConnection = Number(value());
    else if (a === '--delta') out.delta = true;
    else if (a === '--reconnect') out.reconnect = true;
    else if (a === '--retry-ms') out.retryMs = Number(value());
    else if (a === '--tls-ca') out.tlsCa = value();
    else if (a === '--tls-name') out.tlsName = value();
    else if (a === '--help' || a === '-h') out.help = true;
    else throw new Error(`unknown argument: ${a}`);
  }
  return out;
}

function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
    if (args.help) {
      process.stdout.write(
        `usage: node bench/ads-load.js --xds host:port (--mesh <path>... | --nodes id,id) [--streams N] [--per-connection K] [--delta] [--reconnect] [--retry-ms ms] [--tls-ca <ca file> --tls-name <server name>]\n`,
      );
      return;
    }
    if (!args.target) throw new Error('--xds host:port is required');
    if (args.mesh.length) args.nodes.push(...virtualNodeIds(args.mesh.map((p) => path.resolve(p))));
    if (!args.nodes.length) throw new Error('name the node ids with --mesh <path> or --nodes id,id');
    for (const k of ['streams', 'perConnection', 'retryMs'])
      if (!(Number.isInteger(args[k]) && args[k] > 0)) throw new Error(`--${k} must be a positive integer`);
  } catch (err) {
    process.stderr.write(`ads-load: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
  grpc.setLogVerbosity(grpc.logVerbosity.NONE);
  const load = startLoad({
    target: args.target,
    nodeIds: args.nodes,
    streams: args.streams,
    perConnection: args.perConnection,
    delta: args.delta,
    reconnect: args.reconnect,
    retryMs: args.retryMs,
    tlsCa: args.tlsCa,
    tlsName: args.tlsName,
    onEvent: emit,
  });
  const exit = () => {
    load.close();
    // grpc-js may keep timers a moment after close; the events are all written.
    setTimeout(() => process.exit(0), 50).unref();
  };
  process.on('SIGTERM', exit);
  process.on('SIGINT', exit);
  readLines(
    process.stdin,
    (line) => {
      const [command, ...rest] = line.split(/\s+/);
      if (line === 'stats') emit(load.stats());
      else if (line === 'exit') exit();
      else if (command === 'arm' && rest.length === 2 && /^([0-9a-f]{2})+$/i.test(rest[1])) {
        load.arm(rest[0], Buffer.from(rest[1], 'hex'));
        emit({ event: 'armed', id: rest[0] });
      } else if (line) emit({ event: 'error', message: `unknown command: ${line}` });
    },
    exit,
  );
}

if (require.main === module) main();
