#!/usr/bin/env node
// Writes docs/cli.md, the command-line reference, from the built command definitions (dist/cli/),
// the ones that parse the flags and print --help. Run by `npm run docs` after a build.
const fs = require('node:fs');
const path = require('node:path');
const { COMMANDS } = require('../dist/cli/main');
const { CLI_REFERENCE_FILE, cliReference } = require('../dist/cli/reference');

const file = path.join(__dirname, '..', CLI_REFERENCE_FILE);
fs.mkdirSync(path.dirname(file), { recursive: true });
fs.writeFileSync(file, cliReference(COMMANDS.map((c) => c.spec)));
console.log(`wrote ${CLI_REFERENCE_FILE}`);
