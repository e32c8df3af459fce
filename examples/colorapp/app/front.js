#!/usr/bin/env node
// The front service: GET /color asks the color service which color it is and answers with it.
// Env: PORT (9080), HOST (0.0.0.0), COLOR_SERVICE (color.colorapp.local:8080), and
// EGRESS_PROXY (host:port of the Envoy sidecar's egress listener, e.g. 127.0.0.1:15001).
// With EGRESS_PROXY the request goes there, naming the service in the Host header (meshd's
// explicit mode); without it the request goes to the service's name itself, and the sidecar
// catches it only if App Mesh's iptables rules are in place (transparent mode).
'use strict';
const http = require('node:http');

const port = Number(process.env.PORT || 9080);
const host = process.env.HOST || '0.0.0.0';
const service = process.env.COLOR_SERVICE || 'color.colorapp.local:8080';
const proxy = process.env.EGRESS_PROXY;

function split(hostPort) {
  const i = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
}

function askColor(done) {
  const target = split(proxy || service);
  const req = http.get(
    { host: target.host, port: target.port, path: '/', headers: { host: service }, agent: false, timeout: 20000 },
    (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => done(null, res.statusCode, body.trim()));
    },
  );
  req.on('timeout', () => req.destroy(new Error('timed out')));
  req.on('error', (err) => done(err));
}

http
  .createServer((req, res) => {
    if (req.url !== '/color') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('try GET /color\n');
    }
    askColor((err, status, body) => {
      if (err) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        return res.end(`cannot reach ${service}: ${err.message}\n`);
      }
      // The mesh's answer when it is not the color service's (e.g. Envoy's 503) says so.
      res.writeHead(status === 200 ? 200 : 502, { 'content-type': 'text/plain' });
      res.end(status === 200 ? `${body}\n` : `${service} answered ${status}: ${body}\n`);
    });
  })
  .listen(port, host, () =>
    console.log(`front listening on ${host}:${port}, calling ${service}${proxy ? ` through ${proxy}` : ''}`),
  );
