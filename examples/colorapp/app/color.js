#!/usr/bin/env node
// The color service: answers every request with its color (COLOR), on PORT.
// Env: COLOR (blue), PORT (9081), HOST (0.0.0.0).
'use strict';
const http = require('node:http');

const color = process.env.COLOR || 'blue';
const port = Number(process.env.PORT || 9081);
const host = process.env.HOST || '0.0.0.0';

http
  .createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-color': color });
    res.end(`${color}\n`);
  })
  .listen(port, host, () => console.log(`color ${color} listening on ${host}:${port}`));
