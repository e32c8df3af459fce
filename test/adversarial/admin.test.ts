// Adversarial tests of meshd's admin HTTP server (the admin API, the Cloud Map API on POST /,
// and the rollout API), against a real `meshd serve`: no request can take the process down,
// a handler's unexpected error answers 500 and is counted, bodies and connections are
// bounded, and client strings cannot forge log lines.
import * as http from 'node:http';
import * as net from 'node:net';
import { startAdminServer, type AdminSources } from '../../src/admin/http-server';
import { serverMetrics } from '../../src/admin/server-metrics';
import { MetricsRegistry } from '../../src/admin/metrics';
import { createLogger } from '../../src/util/log';
import { StreamRegistry } from '../../src/xds/stream-status';
import { AdsTestClient } from '../helpers/ads-client';
import { QUICKSTART_MESH } from '../helpers/mesh-text';
import { freePort, startMeshd, waitFor, type RunningProcess } from '../helpers/processes';
import { prng } from '../helpers/fuzz';

interface Answer {
  status: number;
  body: string;
}

/** Sends raw bytes as one HTTP request and reads until the server closes or `ms` pass; the status line's code, or 0. */
function rawRequest(port: number, bytes: Buffer | string, ms = 3000): Promise<Answer & { closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4), closed });
    };
    const timer = setTimeout(finish, ms);
    socket.on('data', (d) => (data += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.write(bytes);
  });
}

function request(
  port: number,
  method: string,
  pathName: string,
  headers: http.OutgoingHttpHeaders = {},
  body?: Buffer | string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: pathName, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${pathName} timed out`)));
    req.end(body);
  });
}

/**
 * The value of one series in Prometheus text, e.g.
 * `meshd_http_refused_total{reason="bad_request",server="admin"}`; 0 when absent.
 */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text
    .split('\n')
    .find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `) ? want.every((w) => l.includes(w)) : false));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const FRONT = 'mesh/apps/virtualNode/front';

describe('admin server under attack (a real meshd)', () => {
  let meshd: RunningProcess;
  let adminPort: number;
  let xdsPort: number;

  beforeAll(async () => {
    xdsPort = await freePort();
    adminPort = await freePort();
    meshd = startMeshd([
      'serve',
      '--mesh',
      QUICKSTART_MESH,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(xdsPort),
      '--admin-port',
      String(adminPort),
      '--admin-max-connections',
      '40',
      '--admin-idle-timeout-ms',
      '1500',
      '--admin-request-timeout-ms',
      '2000',
    ]);
    await waitFor('meshd to start', () => (meshd.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
  });

  afterAll(async () => {
    await meshd.stop();
  });

  const alive = async () => {
    expect(meshd.child.exitCode).toBeNull();
    expect(await request(adminPort, 'GET', '/healthz')).toEqual({ status: 200, body: 'ok\n' });
  };

  describe('class: a malformed percent-encoding in a path parameter', () => {
    it.each([
      ['a lone %', '%'],
      ['a truncated UTF-8 sequence', '%E0%A4%A'],
      ['a non-hex escape', '%zz'],
      ['an overlong UTF-8 byte', 'mesh%2Fapps%2FvirtualNode%2F%C0'],
      ['a UTF-16 surrogate', '%ED%A0%80'],
      ['3,000 lone %', '%'.repeat(3000)],
    ])('GET /v1/config/<%s> answers 400 and meshd lives', async (_what, param) => {
      const answer = await request(adminPort, 'GET', `/v1/config/${param}`);
      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body).error).toMatch(/malformed percent-encoding/);
      await alive();
    });

    it('a target starting // is a path, not a host: //x/v1/proxies is no endpoint', async () => {
      expect((await request(adminPort, 'GET', '//x/v1/proxies')).status).toBe(404);
      expect((await request(adminPort, 'GET', '/v1/proxies')).status).toBe(200);
    });

    it('a well-formed encoding still works', async () => {
      const answer = await request(adminPort, 'GET', `/v1/config/${encodeURIComponent(FRONT)}`);
      expect(answer.status).toBe(200);
    });
  });

  describe('class: a request target that new URL cannot parse', () => {
    it.each(['http://[::1', 'http://a b/', '*', 'http://', '//[', 'no-slash', 'http://%zz/x'])(
      'GET %s answers 4xx and meshd lives',
      async (target) => {
        const answer = await rawRequest(adminPort, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        expect(answer.status).toBeGreaterThanOrEqual(400);
        expect(answer.status).toBeLessThan(500);
        await alive();
      },
    );
  });

  describe('class: an endless request body', () => {
    it('is cut at the bound (413, the connection closed) and counted', async () => {
      const before = metric((await request(adminPort, 'GET', '/metrics')).body, 'meshd_http_refused_total', {
        reason: 'body_too_large',
      });
      for (const target of ['/', '/v1/rollouts']) {
        const socket = net.connect(adminPort, '127.0.0.1');
        let data = '';
        socket.on('data', (d) => (data += d.toString()));
        socket.on('error', () => undefined);
        let closed = false;
        socket.on('close', () => (closed = true));
        // A loopback Host: without --admin-token-file, a rollout write naming another host is refused before its body.
        socket.write(
          `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: Route53AutoNaming_v20170314.ListNamespaces\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
        );
        const chunk = Buffer.alloc(64 * 1024, 'a');
        let sent = 0;
        // Keep sending until the server answers (or 8 MB, far past the 1 MB bound).
        while (!data && sent < 8 * 1024 * 1024 && !socket.destroyed) {
          socket.write(`${chunk.length.toString(16)}\r\n`);
          socket.write(chunk);
          socket.write('\r\n');
          sent += chunk.length;
          await new Promise((r) => setImmediate(r));
        }
        // meshd answers 413 and closes; a client still sending when the close comes may get a
        // reset instead, which can discard the answer before it is read: either is a refusal.
        await waitFor('meshd to close the connection', () => (closed ? true : undefined), 15_000);
        if (data) expect(data).toMatch(/^HTTP\/1\.1 413/);
      }
      const after = metric((await request(adminPort, 'GET', '/metrics')).body, 'meshd_http_refused_total', {
        reason: 'body_too_large',
      });
      expect(after - before).toBe(2);
      await alive();
    });
  });

  describe('class: random paths, encodings and bodies (fuzz)', () => {
    it('a few thousand random requests: every one answered below 500, meshd alive, no handler error', async () => {
      const seed = Number(process.env.MESHD_FUZZ_SEED ?? 21);
      const random = prng(seed);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
      const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
      const pieces = [
        '/',
        '%',
        '%2F',
        '%00',
        '%C0%AF',
        '..',
        '.',
        '//',
        '?',
        '#',
        '&',
        '=',
        '__proto__',
        'constructor',
        'prototype',
        'v1',
        'config',
        'rollouts',
        'cloud-map',
        'telemetry',
        'proxies',
        '%E2%80%A8',
        '\u00e9',
        '%ff',
        'a'.repeat(200),
      ];
      const targets = [
        'Route53AutoNaming_v20170314.RegisterInstance',
        'Route53AutoNaming_v20170314.ListNamespaces',
        'Route53AutoNaming_v20170314.CreateHttpNamespace',
        'Route53AutoNaming_v20170314.DiscoverInstances',
        '__proto__',
        'constructor',
        '',
        'x'.repeat(5000),
      ];
      const bodies = [
        () => bytes(Math.floor(random() * 200)),
        () =>
          JSON.stringify({
            __proto__: { polluted: 1 },
            constructor: { prototype: {} },
            Attributes: { __proto__: 'x', AWS_INSTANCE_IPV4: '1.2.3.4' },
          }),
        () =>
          JSON.stringify({
            NamespaceName: pick(pieces),
            ServiceName: pick(pieces),
            InstanceId: pick(pieces),
            Attributes: { AWS_INSTANCE_PORT: pick(['80', '-1', '1e308', 'NaN', '99999']) },
          }),
        () =>
          JSON.stringify({ route: pick(pieces), mesh: pick(pieces), canary: 1e308, stepWeight: NaN, maxWeight: -1 }),
        () => '{"a":'.repeat(2000),
        () => JSON.stringify([pick(pieces)]),
        () => 'null',
      ];
      let bad = 0;
      const statuses = new Map<number, number>();
      for (let i = 0; i < 2500; i++) {
        const pathName = `/${Array.from({ length: 1 + Math.floor(random() * 5) }, () => pick(pieces)).join(random() < 0.5 ? '/' : '')}`;
        const method = pick(['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH']);
        const isCloudMap = method === 'POST' && random() < 0.5;
        const body = method === 'GET' || method === 'HEAD' ? undefined : pick(bodies)();
        let answer: Answer;
        try {
          answer = await request(
            adminPort,
            method,
            isCloudMap ? '/' : pathName.replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c)),
            isCloudMap ? { 'x-amz-target': pick(targets), 'content-type': 'application/x-amz-json-1.1' } : {},
            body,
          );
        } catch (err) {
          throw new Error(`request ${i} (seed ${seed}) ${method} ${pathName} failed: ${(err as Error).message}`);
        }
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (answer.status >= 500) bad++;
      }
      expect({ seed, bad, statuses: Object.fromEntries(statuses) }).toMatchObject({ bad: 0 });
      const metrics = (await request(adminPort, 'GET', '/metrics')).body;
      expect(metric(metrics, 'meshd_handler_errors_total', { server: 'admin' })).toBe(0);
      await alive();
    });

    it('a few hundred raw requests of random bytes leave meshd alive', async () => {
      const random = prng(4242);
      for (let i = 0; i < 300; i++) {
        const junk = Buffer.from(
          Array.from({ length: 1 + Math.floor(random() * 300) }, () => Math.floor(random() * 256)),
        );
        const prefix = random() < 0.5 ? 'GET ' : '';
        await rawRequest(adminPort, Buffer.concat([Buffer.from(prefix), junk, Buffer.from('\r\n\r\n')]), 300);
      }
      await alive();
    });
  });

  describe('class: connections that never finish or never speak', () => {
    it('over the connection limit, new connections are closed and counted; idle ones are closed; the port serves again', async () => {
      const before = metric((await request(adminPort, 'GET', '/metrics')).body, 'meshd_http_refused_total', {
        reason: 'connection_limit',
      });
      const sockets: net.Socket[] = [];
      let closedByServer = 0;
      for (let i = 0; i < 120; i++) {
        const s = net.connect(adminPort, '127.0.0.1');
        s.on('error', () => undefined);
        s.on('close', () => closedByServer++);
        sockets.push(s);
      }
      // Every one of them is closed by meshd: the extra ones at once, the idle ones after --admin-idle-timeout-ms.
      await waitFor(
        'meshd to close every silent connection',
        () => (closedByServer === sockets.length ? true : undefined),
        15_000,
      );
      await alive();
      const after = metric((await request(adminPort, 'GET', '/metrics')).body, 'meshd_http_refused_total', {
        reason: 'connection_limit',
      });
      // Idle ones may already be closing while the last ones connect, so not every one of the 80 extra need be dropped.
      expect(after - before).toBeGreaterThan(0);
    });

    it('a request whose headers dribble in is cut at the request timeout', async () => {
      const socket = net.connect(adminPort, '127.0.0.1');
      socket.on('error', () => undefined);
      let closed = false;
      socket.on('close', () => (closed = true));
      socket.write('GET /healthz HTTP/1.1\r\n');
      // One header byte every 200 ms keeps the idle timeout from firing; only the request deadline can cut it.
      const timer = setInterval(() => socket.write('X'), 200);
      try {
        await waitFor('meshd to cut the slow request', () => (closed ? true : undefined), 20_000);
      } finally {
        clearInterval(timer);
        socket.destroy();
      }
      await alive();
    });
  });

  describe('class: client strings in text logs', () => {
    it('a node id with a newline and terminal escapes cannot forge a log line', async () => {
      const forged = 'mesh/apps/virtualNode/front\n2026-01-01T00:00:00.000Z error forged line\u001b[2J\u2028';
      const client = new AdsTestClient(xdsPort);
      client.send({
        node: { id: forged, cluster: 'x' },
        type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
        resource_names: [],
      });
      await waitFor('the connect line', () => (meshd.stderr().includes('error forged line') ? true : undefined));
      client.close();
      const lines = meshd.stderr().split('\n');
      expect(lines.some((l) => l.startsWith('2026-01-01T00:00:00.000Z'))).toBe(false);
      expect(meshd.stderr()).not.toContain('\u001b');
      expect(meshd.stderr()).not.toContain('\u2028');
      expect(meshd.stderr()).toContain('front\\x0a2026-01-01T00:00:00.000Z error forged line\\x1b[2J\\u2028');
      await alive();
    });
  });
});

describe('class: a handler that fails unexpectedly (a real admin server, in process)', () => {
  it('answers 500 with a short message, logs the cause, counts it, and the server keeps serving', async () => {
    const registry = new MetricsRegistry();
    const lines: string[] = [];
    const log = createLogger({ write: (line) => lines.push(line) });
    const sources: AdminSources = {
      streams: new StreamRegistry(),
      configOf: () => {
        throw new Error('compiler bug: x is undefined');
      },
      readiness: () => ({ ready: true }),
      metrics: () => registry.render(),
      rollouts: { answer: async () => Promise.reject(new Error('rollout store exploded')) },
      cloudMap: {
        answer: () => {
          throw new TypeError("Cannot read properties of undefined (reading 'x')");
        },
        contents: () => ({}),
      },
    };
    const server = await startAdminServer('127.0.0.1', 0, sources, { observer: serverMetrics(registry, log) });
    try {
      const config = await request(server.port, 'GET', '/v1/config/mesh%2Fa%2FvirtualNode%2Fb');
      expect(config.status).toBe(500);
      expect(config.body).not.toContain('compiler bug');
      expect((await request(server.port, 'POST', '/v1/rollouts', {}, '{}')).status).toBe(500);
      expect(
        (
          await request(
            server.port,
            'POST',
            '/',
            { 'x-amz-target': 'Route53AutoNaming_v20170314.ListNamespaces' },
            '{}',
          )
        ).status,
      ).toBe(500);
      expect((await request(server.port, 'GET', '/healthz')).status).toBe(200);
      expect(metric(await registry.render(), 'meshd_handler_errors_total', { server: 'admin' })).toBe(3);
      expect(lines.join('')).toContain('compiler bug: x is undefined');
      expect(lines.join('')).toContain('rollout store exploded');
    } finally {
      await server.close();
    }
  });
});
