// Where the Envoy protos come from and which ones meshd loads (envoy-protos.txt). Build time
// only: scripts/gen-types.js generates the TypeScript types from them and
// scripts/gen-descriptor.js compiles them into the descriptor meshd loads at run time
// (src/xds/protos.ts), so the types and the codecs always describe the same schema.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

// The Envoy data-plane API, xds, googleapis and protoc-gen-validate, as vendored by the
// pinned @grpc/grpc-js-xds (a devDependency: see package.json).
const deps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const includeDirs = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(deps, d));
const protoFiles = fs
  .readFileSync(path.join(__dirname, 'envoy-protos.txt'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

/**
 * The protos parsed and resolved by @grpc/proto-loader's own loader (keepCase: field names as
 * in the .proto files), exactly as proto-loader-gen-types reads them for the generated types.
 */
function loadRoot() {
  // proto-loader's index registers the well-known protos (descriptor.proto, …) Envoy's import.
  require('@grpc/proto-loader');
  const { loadProtosWithOptionsSync } = require('@grpc/proto-loader/build/src/util');
  return loadProtosWithOptionsSync(protoFiles, { includeDirs, keepCase: true });
}

/** The descriptor meshd loads at run time: protobufjs JSON (Root.toJSON) of loadRoot(), comments left out. */
function descriptorJson() {
  return `${JSON.stringify(loadRoot().toJSON({ keepComments: false }))}\n`;
}

module.exports = { includeDirs, protoFiles, loadRoot, descriptorJson };
