#!/usr/bin/env node
// Development only (not shipped): a stand-in for meshd's admin API that serves dist/console under /ui/ and a
// generated mesh of N virtual nodes (default 1,000: about 4,000 graph elements and 6,000 edges), with
// proxies, a rollout, problems, resource details and an event stream. `node console/dev/fixture.js [N] [PORT]`;
// POST /dev/tick?changes=K sends a telemetry event in which K virtual nodes' numbers changed, POST /dev/mesh a mesh
// event. console/dev/measure.js drives it in headless Chromium.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const DIST = path.resolve(__dirname, '../../dist/console');
const TOKEN = 'fixture-token';

/** A deterministic pseudo-random sequence. */
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function meshOf(n) {
  const M = 'apps';
  const id = (kind, name) => `${M}/${kind}/${name}`;
  const nodes = [];
  const edges = [];
  const services = 2 * n;
  const routers = Math.max(1, Math.round(n * 0.99));
  const gateways = Math.max(1, Math.round(n / 100));
  const vn = (i) => id('VirtualNode', `node-${i}`);
  for (let i = 0; i < n; i++)
    nodes.push({
      id: vn(i),
      kind: 'VirtualNode',
      mesh: M,
      name: `node-${i}`,
      source: `mesh/node-${i}.yaml:1:1`,
      origin: 'file',
      nodeId: `mesh/${M}/virtualNode/node-${i}`,
      trafficNodes: [vn(i)],
    });
  const targets = (k) => [k % n, (k + 1) % n];
  for (let k = 0; k < routers; k++) {
    const r = id('VirtualRouter', `router-${k}`);
    nodes.push({
      id: r,
      kind: 'VirtualRouter',
      mesh: M,
      name: `router-${k}`,
      source: `mesh/router-${k}.yaml:1:1`,
      origin: 'file',
      trafficNodes: targets(k).map(vn),
    });
    const route = `${M}/Route/router-${k}/route`;
    const [a, b] = targets(k);
    const wa = k % 3 === 0 ? 90 : 50;
    for (const [t, w] of [
      [a, wa],
      [b, 100 - wa],
    ])
      edges.push({
        id: `${route}->${vn(t)}`,
        from: r,
        to: vn(t),
        kind: 'route-target',
        resource: route,
        weight: w,
        percent: w,
      });
  }
  const providerOf = (j) => (j < services * 0.75 ? id('VirtualRouter', `router-${j % routers}`) : vn(j % n));
  const trafficOf = (j) => (j < services * 0.75 ? targets(j % routers).map(vn) : [vn(j % n)]);
  for (let j = 0; j < services; j++) {
    const s = id('VirtualService', `svc-${j}.apps.local`);
    nodes.push({
      id: s,
      kind: 'VirtualService',
      mesh: M,
      name: `svc-${j}.apps.local`,
      source: null,
      origin: 'api',
      trafficNodes: trafficOf(j),
    });
    edges.push({ id: `${s}->${providerOf(j)}`, from: s, to: providerOf(j), kind: 'provider' });
  }
  for (let g = 0; g < gateways; g++) {
    const gw = id('VirtualGateway', `gateway-${g}`);
    nodes.push({
      id: gw,
      kind: 'VirtualGateway',
      mesh: M,
      name: `gateway-${g}`,
      source: `mesh/gw-${g}.yaml:1:1`,
      origin: 'file',
      nodeId: `mesh/${M}/virtualGateway/gateway-${g}`,
      trafficNodes: [],
    });
    for (let k = 0; k < 20; k++) {
      const j = (g * 20 + k) % services;
      const s = id('VirtualService', `svc-${j}.apps.local`);
      edges.push({
        id: `${M}/GatewayRoute/gateway-${g}/gr-${k}->${s}`,
        from: gw,
        to: s,
        kind: 'gateway-route',
        resource: `${M}/GatewayRoute/gateway-${g}/gr-${k}`,
      });
    }
  }
  for (let i = 0; i < n; i++)
    for (const j of [(i * 2) % services, (i * 7 + 3) % services]) {
      const s = id('VirtualService', `svc-${j}.apps.local`);
      edges.push({ id: `${vn(i)}->${s}`, from: vn(i), to: s, kind: 'backend' });
    }
  return { generation: 1, meshHash: 'f1x7ure0ab12cd34', nodes, edges };
}

function telemetryOf(n, random) {
  const virtualNodes = [];
  for (let i = 0; i < n; i++) {
    if (i % 10 === 9) continue; // some without traffic: idle
    const requests = Math.round(random() * 500) + 10;
    const errors = i % 50 === 0 ? Math.round(requests * 0.1) : i % 20 === 0 ? Math.round(requests * 0.02) : 0;
    virtualNodes.push({
      mesh: 'apps',
      virtualNode: `node-${i}`,
      windowMs: 10000,
      requests,
      errors,
      successRate: ((requests - errors) / requests) * 100,
      ratePerSecond: requests / 10,
      p50Ms: 3,
      p99Ms: Math.round(random() * 80) + 5,
    });
  }
  return { window: '10s', windowMs: 10000, virtualNodes };
}

const now = Date.now();
const iso = (ago) => new Date(now - ago).toISOString();

function rollouts() {
  return [
    {
      mesh: 'apps',
      name: 'node-0',
      source: 'file',
      phase: 'Progressing',
      canaryWeight: 30,
      failedChecks: 1,
      settings: {
        route: { virtualRouter: 'router-0', name: 'route' },
        primary: 'node-0',
        canary: 'node-1',
        intervalMs: 30000,
        stepWeight: 10,
        maxWeight: 50,
        threshold: 5,
        minRequests: 20,
        metrics: [
          { name: 'request-success-rate', min: 99 },
          { name: 'request-duration', max: 500 },
        ],
        webhooks: [],
      },
      expected: { primary: 70, canary: 30 },
      startedAt: iso(120000),
      updatedAt: iso(10000),
      lastCheck: {
        at: iso(10000),
        ok: true,
        results: [
          { metric: 'request-count', value: 240, ok: true, message: '240 requests (minimum 20)' },
          { metric: 'request-success-rate', value: 99.6, ok: true, message: 'success rate 99.6% (minimum 99%)' },
          { metric: 'request-duration', value: 41, ok: true, message: 'p99 41 ms (maximum 500 ms)' },
        ],
      },
      events: [
        { at: iso(120000), type: 'Normal', message: 'started', canaryWeight: 0 },
        { at: iso(90000), type: 'Normal', message: 'advanced canary weight to 10', canaryWeight: 10 },
        { at: iso(60000), type: 'Warning', message: 'check failed: success rate 97% (minimum 99%)', canaryWeight: 10 },
        { at: iso(40000), type: 'Normal', message: 'advanced canary weight to 20', canaryWeight: 20 },
        { at: iso(10000), type: 'Normal', message: 'advanced canary weight to 30', canaryWeight: 30 },
      ],
      nextStepInMs: 20000,
    },
  ];
}

function proxies(n) {
  const list = [];
  for (let i = 0; i < Math.min(n, 50); i++) {
    const nacked = i === 3;
    const t = (state, lastNack = null) => ({
      state,
      targetVersion: '7',
      sentVersion: '7',
      ackedVersion: state === 'SYNCED' ? '7' : '6',
      lastNack,
    });
    list.push({
      nodeId: `mesh/apps/virtualNode/node-${i}`,
      cluster: 'apps',
      stream: i + 1,
      protocol: 'delta',
      client: 'envoy',
      peer: `10.0.0.${i}`,
      connectedAt: iso(60000),
      types: {
        Cluster: t('SYNCED'),
        ClusterLoadAssignment: t(i === 5 ? 'STALE' : 'SYNCED'),
        Listener: nacked ? t('NACKED', 'invalid listener: duplicate name') : t('SYNCED'),
        RouteConfiguration: t('SYNCED'),
      },
      configProblem: i === 7 ? 'virtual node node-7 is not in the mesh' : null,
    });
  }
  return list;
}

const problems = {
  generation: 3,
  valid: false,
  checkedAt: iso(5000),
  problems: [
    {
      severity: 'error',
      file: 'mesh/route.yaml',
      line: 12,
      col: 9,
      resource: 'Route/router-0/route',
      field: 'spec.httpRoute.action.weightedTargets[0].weight',
      message: 'must be from 0 to 100, got 120',
      text: 'mesh/route.yaml:12:9: error: Route/router-0/route: must be from 0 to 100, got 120 (spec.httpRoute.action.weightedTargets[0].weight)',
    },
    {
      severity: 'warning',
      file: 'mesh/node-3.yaml',
      line: 4,
      col: 3,
      resource: 'VirtualNode/node-3',
      field: 'spec.listeners',
      message: 'has no health check',
      text: 'mesh/node-3.yaml:4:3: warning: VirtualNode/node-3: has no health check (spec.listeners)',
    },
  ],
};

function start(n, port) {
  const mesh = meshOf(n);
  const random = rng(42);
  let telemetry = telemetryOf(n, random);
  const byId = new Map(mesh.nodes.map((x) => [x.id, x]));
  const streams = new Set();
  const types = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.map': 'application/json',
  };
  const json = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const send = (event, data) => {
    for (const s of streams) s.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://fixture');
    const p = url.pathname;
    if (p === '/ui') {
      res.writeHead(301, { location: '/ui/' });
      return res.end();
    }
    if (p.startsWith('/ui/')) {
      const file = p === '/ui/' ? 'index.html' : p.slice(4);
      if (file.includes('/') || file.includes('..') || !fs.existsSync(path.join(DIST, file)))
        return json(res, 404, { error: 'no such file' });
      res.writeHead(200, {
        'content-type': types[path.extname(file)] ?? 'application/octet-stream',
        'content-security-policy':
          "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        'cache-control': 'no-cache',
      });
      return res.end(fs.readFileSync(path.join(DIST, file)));
    }
    if (p === '/v1/mesh') return json(res, 200, mesh);
    if (p === '/v1/proxies') return json(res, 200, proxies(n));
    if (p === '/v1/rollouts') return json(res, 200, rollouts());
    if (p === '/v1/problems') return json(res, 200, problems);
    if (p === '/v1/telemetry') return json(res, 200, telemetry);
    if (p.startsWith('/v1/mesh/resources/')) {
      const id = p.slice('/v1/mesh/resources/'.length).split('/').map(decodeURIComponent).join('/');
      const node = byId.get(id);
      const [m, kind, ...rest] = id.split('/');
      if (!node && !['Route', 'GatewayRoute'].includes(kind)) return json(res, 404, { error: `no resource ${id}` });
      return json(res, 200, {
        id,
        kind,
        mesh: m,
        name: rest.join('/'),
        source: node?.source ?? null,
        origin: node?.origin ?? 'file',
        yaml: `kind: ${kind}\nmesh: ${m}\nname: ${rest[rest.length - 1]}\nspec: {}\n`,
        envoy: node?.nodeId
          ? {
              clusters: [],
              endpoints: [],
              listeners: [{ '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener', name: 'lds_ingress' }],
              routes: [],
            }
          : null,
        proxies: node?.nodeId ? proxies(n).filter((x) => x.nodeId === node.nodeId) : [],
      });
    }
    const action = /^\/v1\/rollouts\/([^/]+)\/([^/]+)\/(pause|resume|abort|promote)$/.exec(p);
    if (action && req.method === 'POST') {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
        return res.end(JSON.stringify({ error: 'this write needs the admin token (Authorization: Bearer <token>)' }));
      }
      return json(res, 200, rollouts()[0]);
    }
    if (p === '/v1/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(`event: hello\ndata: ${JSON.stringify({ mesh: 1, problems: 3 })}\n\n`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return undefined;
    }
    if (p === '/dev/tick' && req.method === 'POST') {
      // K virtual nodes' numbers change; the rest stay as they were.
      const k = Number(url.searchParams.get('changes') ?? '1');
      const list = telemetry.virtualNodes.map((v) => ({ ...v }));
      for (let c = 0; c < k && list.length; c++) {
        const v = list[Math.floor(random() * list.length)];
        v.requests += 10;
        v.ratePerSecond = v.requests / 10;
        v.p99Ms = Math.round(random() * 80) + 5;
        v.successRate = ((v.requests - v.errors) / v.requests) * 100;
      }
      telemetry = { ...telemetry, virtualNodes: list };
      send('telemetry', telemetry);
      return json(res, 200, { streams: streams.size });
    }
    if (p === '/dev/mesh' && req.method === 'POST') {
      send('mesh', { generation: 1 });
      return json(res, 200, { streams: streams.size });
    }
    return json(res, 404, { error: `no such endpoint: ${p}` });
  });
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () => resolve({ server, port: server.address().port, mesh, streams })),
  );
}

module.exports = { start, meshOf, TOKEN };
if (require.main === module) {
  const n = Number(process.argv[2] ?? 1000);
  start(n, Number(process.argv[3] ?? 0)).then(({ port, mesh }) =>
    process.stdout.write(
      `fixture: ${mesh.nodes.length} elements, ${mesh.edges.length} edges on http://127.0.0.1:${port}/ui/\n`,
    ),
  );
}
