// Where the Envoy protos come from and which ones meshd loads (envoy-protos.txt).
// Used by the build (scripts/gen-types.js) and at run time (src/xds/protos.ts), so the
// generated types and the loaded codecs always describe the same schema.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

// The Envoy data-plane API, xds, googleapis and protoc-gen-validate, as vendored by the
// pinned @grpc/grpc-js-xds (see package.json).
const deps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const includeDirs = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(deps, d));
const protoFiles = fs.readFileSync(path.join(__dirname, 'envoy-protos.txt'), 'utf8')
  .split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

module.exports = { includeDirs, protoFiles };
