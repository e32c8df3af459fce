#!/usr/bin/env node
// npm's prepare step (after `npm install` / `npm ci` in a checkout): builds meshd
// (`npm run build`). A production install (`npm ci --omit=dev`) has no build tools
// (TypeScript, the Envoy .proto files of @grpc/grpc-js-xds): there it keeps the dist/ already
// built, and fails with a one-line reason if there is none.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const canBuild = ['typescript/package.json', '@grpc/grpc-js-xds/package.json'].every((m) => {
  try {
    require.resolve(m, { paths: [root] });
    return true;
  } catch {
    return false;
  }
});

if (!canBuild) {
  const built = ['dist/cli/main.js', 'dist/generated/envoy-protos.json'].every((f) =>
    fs.existsSync(path.join(root, f)),
  );
  if (!built) {
    console.error(
      'meshd: cannot build without the devDependencies, and dist/ is not built: run `npm ci` (without --omit=dev) first',
    );
    process.exit(1);
  }
  console.log('meshd: devDependencies not installed; using the dist/ already built');
  process.exit(0);
}
// npm_execpath is the npm running this script; plain `npm` when run by hand.
const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
try {
  execFileSync(npm[0], [...npm[1], 'run', 'build'], { cwd: root, stdio: 'inherit' });
} catch (err) {
  process.exit(typeof err.status === 'number' ? err.status : 1);
}
