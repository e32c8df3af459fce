#!/usr/bin/env node
// `npm run bench`: every benchmark in this folder, one after the other.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

for (const file of fs.readdirSync(__dirname).filter((f) => f.endsWith('.js') && f !== 'run.js').sort()) {
  console.log(`\n== ${file}`);
  execFileSync(process.execPath, [path.join(__dirname, file)], { stdio: 'inherit' });
}
