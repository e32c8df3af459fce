#!/usr/bin/env node
// `npm run bench`: every benchmark, one after the other. (Other .js files here are helpers the
// benchmarks use, such as the ADS load generator ads-load.js, the mesh generator mesh-gen.js and
// the baselines under peers/, not benchmarks.)
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const BENCHES = [
  'startup.js',
  'validate-large-mesh.js',
  'compile.js',
  'propagation.js',
  'reconnect-storm.js',
  'cloud-map-eds.js',
  'cloud-map-writes.js',
  'cloud-map-postgres.js',
  'fleet-eds.js',
  'api-write.js',
];

for (const file of BENCHES) {
  console.log(`\n== ${file}`);
  execFileSync(process.execPath, [path.join(__dirname, file)], { stdio: 'inherit' });
}
