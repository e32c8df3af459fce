#!/usr/bin/env node
// Generates TypeScript types for the Envoy protos meshd loads (protos/envoy-protos.txt)
// into src/generated (git-ignored), so the compiler output is type-checked against Envoy.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const { includeDirs, protoFiles } = require('../protos');
const out = path.join(root, 'src', 'generated');

fs.rmSync(out, { recursive: true, force: true });
const bin = require.resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');
// File names go first: yargs would read them as more include dirs after -I.
execFileSync(
  process.execPath,
  [
    bin,
    ...protoFiles,
    '--keepCase',
    '--longs',
    'String',
    '--enums',
    'String',
    '--defaults',
    '--oneofs',
    '--grpcLib',
    '@grpc/grpc-js',
    '-O',
    out,
    ...includeDirs.flatMap((dir) => ['-I', dir]),
  ],
  { stdio: 'inherit', cwd: root },
);

// The per-file aggregate modules (ads.ts, listener.ts, …) describe proto-loader package
// objects, which meshd does not use; they also trip the strict unused-locals checks.
for (const file of fs.readdirSync(out)) {
  if (file.endsWith('.ts')) fs.rmSync(path.join(out, file));
}
