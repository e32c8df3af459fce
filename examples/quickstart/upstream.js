#!/usr/bin/env node
// A tiny upstream app for the quickstart: answers every request with its own name.
// usage: node upstream.js <name> <port>
'use strict';
const http = require('node:http');
const [name, port] = process.argv.slice(2);
if (!name || !port) {
  process.stderr.write('usage: node upstream.js <name> <port>\n');
  process.exit(2);
}
http
  .createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-served-by': name });
    res.end(`${name}\n`);
  })
  .listen(Number(port), '127.0.0.1', () => process.stdout.write(`${name} listening on 127.0.0.1:${port}\n`));
