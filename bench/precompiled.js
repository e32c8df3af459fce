// The baselines' input (a helper, not a bench): meshd's own compiled resources for every state
// a propagation run goes through, so the baseline servers push exactly the bytes meshd pushes.
//
// Dump format (JSON; read by bench/peers/bare-grpc.js and bench/peers/go-control-plane):
//   { resources: [{ typeUrl, name, version, any: <base64 google.protobuf.Any> }],
//     states: [{ nodes: { <node id>: { <type url>: { version, resources: [<index>] } } } }] }
// State 0 holds every node and type; state k holds only the node types that changed from k-1.
'use strict';
const fs = require('node:fs');
const { LoadCache, loadMesh } = require('../dist/load/mesh-source');
const { offlineRegistry } = require('../dist/control/offline-registry');
const { MeshController } = require('../dist/control/mesh-controller');
const { SnapshotCache } = require('../dist/xds/snapshot-cache');

const QUIET = { info() {}, warn() {}, error() {}, debug() {} };

/** A proxy's node as an Envoy sidecar with the default ports sends it. */
const envoyNode = (id) => ({ id, metadata: { fields: {} }, user_agent_name: 'envoy' });

/** Loads the generated mesh, through `cache` (a LoadCache kept from load to load, as `meshd serve` does), or throws. */
function loadGenerated(dir, cache) {
  const result = loadMesh([dir], { cache });
  if (!result.ok) throw new Error(`the generated mesh is invalid: ${result.problems[0].message}`);
  return result;
}

/** serve's controller for a loaded mesh: its Cloud Map seeds in a registry in memory, and a snapshot cache. */
function controllerFor(loaded) {
  const registry = offlineRegistry(loaded.cloudMapSeeds);
  if (!registry.ok) throw new Error(`the generated Cloud Map seeds are invalid: ${registry.problems[0].message}`);
  const snapshots = new SnapshotCache();
  return { snapshots, controller: new MeshController(snapshots, registry.registry, QUIET) };
}

/**
 * Compiles `mesh` (a bench/mesh-gen.js handle) for every node, then applies each change
 * ({ service, weights }) to its files in turn, and returns the dump. The mesh files are left
 * as they were at the start.
 */
function precompile(mesh, changes) {
  const loadCache = new LoadCache();
  const first = loadGenerated(mesh.dir, loadCache);
  const { snapshots: cache, controller } = controllerFor(first);
  controller.setModel(first.model);
  const keys = mesh.nodeIds.map((id) => [id, controller.nodeKey(envoyNode(id))]);

  const resources = [];
  const indexOf = new Map();
  const held = new Map(); // node id → type url → version last put in a state
  const state = () => {
    const nodes = {};
    for (const [id, key] of keys) {
      const snapshot = cache.get(key);
      if (!snapshot) throw new Error(`${id} did not compile`);
      const before = held.get(id) ?? new Map();
      held.set(id, before);
      for (const [typeUrl, set] of snapshot.types) {
        if (before.get(typeUrl) === set.version) continue;
        before.set(typeUrl, set.version);
        const list = [...set.resources.values()].map((r) => {
          if (!indexOf.has(r.any)) {
            indexOf.set(r.any, resources.length);
            resources.push({ typeUrl, name: r.name, version: r.version, any: r.any.toString('base64') });
          }
          return indexOf.get(r.any);
        });
        (nodes[id] ??= {})[typeUrl] = { version: set.version, resources: list };
      }
    }
    return { nodes };
  };

  const originals = new Map();
  const states = [state()];
  try {
    for (const { service, weights } of changes) {
      if (!originals.has(service)) originals.set(service, fs.readFileSync(mesh.routeFile(service)));
      mesh.setWeights(service, weights);
      controller.setModel(loadGenerated(mesh.dir, loadCache).model);
      states.push(state());
    }
  } finally {
    for (const [service, bytes] of originals) fs.writeFileSync(mesh.routeFile(service), bytes);
  }
  return { resources, states };
}

module.exports = { precompile, envoyNode, loadGenerated, controllerFor };
