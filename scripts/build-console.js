#!/usr/bin/env node
// The web console (console/, docs/console.md): esbuild bundles console/src/main.tsx (Preact, JSX) into
// dist/console/app.js, minified, with its source map, for ES2020 browsers, and copies console/index.html and
// console/app.css beside it. The same sources give the same bytes (no timestamps, no absolute paths), so a
// rebuild changes nothing that did not change. `npm run build` runs it after tsc.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const ROOT = path.resolve(__dirname, '..');
const SRC = path.join(ROOT, 'console');
const OUT = path.join(ROOT, 'dist', 'console');

async function main() {
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: [path.join(SRC, 'src', 'main.tsx')],
    outfile: path.join(OUT, 'app.js'),
    bundle: true,
    format: 'iife',
    minify: true,
    sourcemap: true,
    // Paths in the map relative to the map, so the output does not depend on where the repository lives.
    sourceRoot: '',
    // node_modules may be a symbolic link (a git worktree's): name files by the path under the repository.
    preserveSymlinks: true,
    target: 'es2020',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  for (const file of ['index.html', 'app.css']) fs.copyFileSync(path.join(SRC, file), path.join(OUT, file));
}

main().catch((err) => {
  process.stderr.write(`build-console: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
