#!/usr/bin/env node
// Compiles the Envoy protos meshd loads (protos/envoy-protos.txt) into one protobufjs JSON
// descriptor, which src/xds/protos.ts loads at run time with Root.fromJSON: the production
// install then needs neither the .proto files nor @grpc/grpc-js-xds (their source, a
// devDependency). Written next to the generated types, src/generated/ (git-ignored), for the
// tests that run the TypeScript, and to dist/generated/ for the built meshd. Run by
// `npm run build` after gen-types.js, which empties src/generated/.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { descriptorJson } = require('../protos');

const root = path.resolve(__dirname, '..');
const json = descriptorJson();
for (const dir of ['src/generated', 'dist/generated']) {
  fs.mkdirSync(path.join(root, dir), { recursive: true });
  fs.writeFileSync(path.join(root, dir, 'envoy-protos.json'), json);
}
