#!/usr/bin/env node
// Writes schema/meshd.schema.json (the JSON Schema of meshd YAML) from the built loader, so the
// schema editors use and the validator meshd runs come from one source.
const fs = require('node:fs');
const path = require('node:path');
const { nativeJsonSchema } = require('../dist/load/native-schema');

const file = path.join(__dirname, '..', 'schema', 'meshd.schema.json');
fs.mkdirSync(path.dirname(file), { recursive: true });
fs.writeFileSync(file, `${JSON.stringify(nativeJsonSchema(), null, 2)}\n`);
