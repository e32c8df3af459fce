#!/usr/bin/env node
// `npm run demo` and `npm start`: runs `npm run build` only when dist/ is older than what it is
// built from (src/, the protos, the generator scripts, tsconfig.json, package-lock.json, and the
// web console's sources under console/ with scripts/build-console.js), or misses a file;
// otherwise returns at once (the build takes 10 s or more). `npm run build` itself stays
// unconditional.
//
// Stale means: some input is newer than the oldest of the outputs that must exist (dist/<x>.js
// for each src/<x>.ts, the protos descriptor, and the console's dist/console/app.js). tsc and
// esbuild write every output on each build, so after a build they are all newer than every
// input; a file edited since is newer than them.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const GENERATED = path.join('src', 'generated');
/** What the build reads, besides src/ (its generated/ folder is the build's own output). */
const INPUTS = [
  'protos',
  'scripts/gen-types.js',
  'scripts/gen-descriptor.js',
  'tsconfig.json',
  'package-lock.json',
  'console/src',
  'console/index.html',
  'console/app.css',
  'console/tsconfig.json',
  'scripts/build-console.js',
];

/** The files under `rel` (a file or a folder), as paths relative to `root`. */
function filesUnder(root, rel) {
  const full = path.join(root, rel);
  if (!fs.existsSync(full)) return [];
  if (!fs.statSync(full).isDirectory()) return [rel];
  return fs
    .readdirSync(full, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath ?? e.path, e.name)));
}

/** Why `root`'s dist/ must be built again, or undefined when it is current. */
function staleness(root) {
  const mtime = (rel) => fs.statSync(path.join(root, rel)).mtimeMs;
  const sources = filesUnder(root, 'src').filter((f) => !f.startsWith(GENERATED + path.sep));
  const outputs = [
    ...sources
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
      .map((f) => path.join('dist', path.relative('src', f)).replace(/\.ts$/, '.js')),
    path.join('dist', 'generated', 'envoy-protos.json'),
    path.join('src', 'generated', 'envoy-protos.json'),
    path.join('dist', 'console', 'app.js'),
  ];
  const missing = outputs.find((f) => !fs.existsSync(path.join(root, f)));
  if (missing) return `${missing} is missing`;
  const built = Math.min(...outputs.map(mtime));
  const newer = [...sources, ...INPUTS.flatMap((i) => filesUnder(root, i))].find((f) => mtime(f) > built);
  return newer ? `${newer} changed since the last build` : undefined;
}

function main() {
  const root = path.resolve(__dirname, '..');
  const why = staleness(root);
  if (why === undefined) return;
  try {
    require.resolve('typescript/package.json', { paths: [root] });
  } catch {
    // A production install (`npm ci --omit=dev`) cannot build: it runs the dist/ it has.
    process.stderr.write(`meshd: not rebuilding (${why}): the devDependencies are not installed\n`);
    if (!fs.existsSync(path.join(root, 'dist/cli/main.js'))) process.exit(1);
    return;
  }
  process.stderr.write(`building meshd (${why})…\n`);
  // npm_execpath is the npm running this script; plain `npm` when run by hand.
  const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
  try {
    execFileSync(npm[0], [...npm[1], 'run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  } catch (err) {
    process.exit(typeof err.status === 'number' ? err.status : 1);
  }
}

module.exports = { staleness, filesUnder, INPUTS };
if (require.main === module) main();
