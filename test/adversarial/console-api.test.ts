// Attacks on the web console's endpoints of the admin server: paths that try to leave the
// console's folder, more event streams than the bound, a reader that never reads, malformed and
// unknown resource ids, methods other than GET, and a close() with streams open. The admin
// server runs in this process on a fixed model (colorapp) and a temporary console folder.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { EventHub } from '../../src/admin/event-stream';
import { startAdminServer, type AdminServer, type AdminSources } from '../../src/admin/http-server';
import { loadMesh } from '../../src/load/mesh-source';
import type { MeshModel } from '../../src/model/mesh-model';
import { StreamRegistry } from '../../src/xds/stream-status';
import { waitFor } from '../helpers/processes';

/** What the files outside the console's folder hold: no answer may carry it. */
const SECRET = 'the-content-of-a-file-outside-the-console';
const COLORAPP = path.resolve(__dirname, '../../examples/colorapp/mesh');

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Sends `target` as given (no normalisation by a URL parser) and reads the whole answer. */
function request(port: number, method: string, target: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${target} timed out`)));
    req.end();
  });
}

/**
 * Opens GET /v1/events on a raw socket (from `localAddress` when given); resolves with the socket once the status
 * line is in.
 */
function openStream(
  port: number,
  read = true,
  localAddress?: string,
): Promise<{ socket: net.Socket; status: number; data: () => string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
    let data = '';
    let settled = false;
    socket.on('error', () => undefined);
    socket.on('data', (d) => {
      data += d.toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (status && !settled) {
        settled = true;
        if (!read) socket.pause();
        resolve({ socket, status: Number(status[1]), data: () => data });
      }
    });
    socket.on('close', () => {
      if (!settled) reject(new Error('closed before answering'));
    });
    socket.write('GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  });
}

function colorapp(): MeshModel {
  const result = loadMesh([COLORAPP]);
  if (!result.ok) throw new Error('colorapp does not load');
  return result.model;
}

function sources(model: MeshModel, telemetryBody: () => unknown = () => ({ nodes: [] })): AdminSources {
  return {
    streams: new StreamRegistry(),
    configOf: (nodeId) => ({ ok: true, config: { nodeId } }),
    readiness: () => ({ ready: true }),
    metrics: () => '',
    telemetry: { report: () => ({ ok: true, body: telemetryBody() }) },
    meshHash: () => 'feed',
    console: {
      served: () => ({ generation: 1, model }),
      originOf: () => 'file',
      readersOf: () => new Set(),
      yamlOf: (r) => `kind: ${r.kind}\n`,
      problems: () => ({ generation: 1, valid: true, checkedAt: null, problems: [] }),
      onChange: () => undefined,
    },
  };
}

describe('the web console endpoints under attack', () => {
  const model = colorapp();
  let consoleDir: string;
  let outside: string;
  let admin: AdminServer;

  beforeAll(async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-console-adv-'));
    consoleDir = path.join(root, 'console');
    outside = path.join(root, 'secret.txt');
    fs.mkdirSync(path.join(consoleDir, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(consoleDir, 'index.html'), '<!doctype html><title>meshd</title>');
    fs.writeFileSync(path.join(consoleDir, 'app.js'), 'console.log(1)');
    fs.writeFileSync(path.join(consoleDir, 'sub', 'x.css'), 'body{}');
    fs.writeFileSync(outside, SECRET);
    fs.writeFileSync(path.join(root, 'secret.js'), SECRET);
    fs.symlinkSync(path.join(root, 'secret.js'), path.join(consoleDir, 'link.js'));
    fs.symlinkSync(root, path.join(consoleDir, 'up'));
    admin = await startAdminServer('127.0.0.1', 0, sources(model), {
      consoleDir,
      // One address may hold 8 by default; the bound in all is tested here from one address.
      events: { maxStreams: 32, maxStreamsPerAddress: 32 },
    });
  });

  afterAll(async () => {
    await admin.close();
    fs.rmSync(path.dirname(consoleDir), { recursive: true, force: true });
  });

  it("serves the console's files with the contract's headers", async () => {
    const app = await request(admin.port, 'GET', '/ui/app.js');
    expect(app.status).toBe(200);
    expect(app.body).toBe('console.log(1)');
    expect(app.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(app.headers['content-security-policy']).toBe(
      "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; " +
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
    expect(app.headers['x-content-type-options']).toBe('nosniff');
    expect(app.headers['cache-control']).toBe('no-cache');
    expect((await request(admin.port, 'GET', '/ui/sub/x.css')).status).toBe(200);
    const index = await request(admin.port, 'GET', '/ui/');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
  });

  it('a console 404 carries the same headers as a file (CSP, nosniff, no-cache)', async () => {
    const missing = await request(admin.port, 'GET', '/ui/nothing-here.js');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toEqual({ error: expect.any(String) });
    expect(missing.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(missing.headers['x-content-type-options']).toBe('nosniff');
    expect(missing.headers['cache-control']).toBe('no-cache');
  });

  it.each([
    '/ui/../secret.txt',
    '/ui/..%2Fsecret.txt',
    '/ui/%2e%2e%2fsecret.txt',
    '/ui/%2E%2E/secret.txt',
    '/ui/sub/..%2F..%2Fsecret.txt',
    '/ui/..%5Csecret.txt',
    '/ui/sub%5C..%5C..%5Csecret.txt',
    '/ui/app.js%00.html',
    '/ui/%00',
    '/ui//etc/passwd',
    '/ui/%2Fetc%2Fpasswd',
    '/ui/link.js',
    '/ui/up/secret.js',
    '/ui/sub',
    '/ui/sub/',
    '/ui/%',
    '/ui/%E0%A4%A',
    '/ui/index.html/',
    '/ui/./app.js%2F',
  ])('%s does not leave the folder nor serve a directory', async (target) => {
    const answer = await request(admin.port, 'GET', target);
    expect(answer.body).not.toContain(SECRET);
    expect(answer.status).not.toBe(200);
    expect(answer.status).toBeGreaterThanOrEqual(400);
  });

  it('a folder without index.html answers 503 with how to build it', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-console-empty-'));
    const other = await startAdminServer('127.0.0.1', 0, sources(model), { consoleDir: empty });
    try {
      const answer = await request(other.port, 'GET', '/ui/app.js');
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.body)).toEqual({ error: 'the console is not built: run npm run build' });
      expect(answer.headers['content-security-policy']).toContain("default-src 'self'");
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
      expect(answer.headers['cache-control']).toBe('no-cache');
    } finally {
      await other.close();
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it.each([
    ['/v1/mesh/resources/%E0%A4%A', 400],
    ['/v1/mesh/resources/colorapp/VirtualNode/%', 400],
    ['/v1/mesh/resources/', 404],
    ['/v1/mesh/resources/colorapp', 404],
    ['/v1/mesh/resources/colorapp/VirtualNode/front/extra', 404],
    ['/v1/mesh/resources/colorapp/VirtualNode/front%00', 404],
    ['/v1/mesh/resources/__proto__', 404],
    ['/v1/mesh/resources/colorapp/constructor/toString', 404],
    ['/v1/mesh/resources/ + 2,000 segments', 404],
  ])('GET %s answers %i with a JSON error', async (target, status) => {
    const long = target.endsWith('2,000 segments');
    const answer = await request(admin.port, 'GET', long ? `/v1/mesh/resources/${'a/'.repeat(2000)}` : target);
    expect(answer.status).toBe(status);
    expect(JSON.parse(answer.body)).toEqual({ error: expect.any(String) });
  });

  it('a resource id with each segment percent-encoded is found', async () => {
    const answer = await request(
      admin.port,
      'GET',
      '/v1/mesh/resources/colorapp/VirtualService/color.colorapp%2Elocal',
    );
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ id: 'colorapp/VirtualService/color.colorapp.local' });
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH'])('%s on the console endpoints answers 405', async (method) => {
    for (const target of ['/v1/mesh', '/v1/mesh/resources/colorapp/VirtualNode/front', '/v1/problems', '/v1/events'])
      expect((await request(admin.port, method, target)).status).toBe(405);
    expect((await request(admin.port, method, '/ui/app.js')).status).toBe(405);
  });

  it('the 33rd event stream gets 503; once one closes, a new one is taken', async () => {
    const open = [];
    try {
      for (let i = 0; i < 32; i++) {
        const s = await openStream(admin.port);
        expect(s.status).toBe(200);
        open.push(s);
      }
      const refused = await request(admin.port, 'GET', '/v1/events');
      expect(refused.status).toBe(503);
      expect(JSON.parse(refused.body)).toEqual({ error: expect.stringContaining('at most 32') });
      open.pop()!.socket.destroy();
      const again = await waitFor('a stream to be taken again', async () => {
        const s = await openStream(admin.port);
        if (s.status === 200) return s;
        s.socket.destroy();
        return undefined;
      });
      open.push(again);
    } finally {
      for (const s of open) s.socket.destroy();
    }
  });

  it('close() ends the open event streams', async () => {
    const other = await startAdminServer('127.0.0.1', 0, sources(model), { consoleDir });
    const s = await openStream(other.port);
    expect(s.status).toBe(200);
    const ended = new Promise<void>((resolve) => s.socket.on('close', () => resolve()));
    await other.close();
    await ended;
  });

  it('one address may hold 8 streams: the 9th gets 503, another address still gets one', async () => {
    const other = await startAdminServer('127.0.0.1', 0, sources(model), { consoleDir });
    const open = [];
    try {
      for (let i = 0; i < 8; i++) {
        const s = await openStream(other.port);
        expect(s.status).toBe(200);
        open.push(s);
      }
      const refused = await openStream(other.port);
      open.push(refused);
      expect(refused.status).toBe(503);
      await waitFor('the whole refusal', () => (refused.data().includes('}') ? true : undefined));
      const body = refused.data().slice(refused.data().indexOf('{'));
      expect(JSON.parse(body.slice(0, body.lastIndexOf('}') + 1))).toEqual({
        error: expect.stringContaining('at most 8 from one address'),
      });
      // Linux answers every 127.0.0.0/8 address on loopback: a second client.
      const elsewhere = await openStream(other.port, true, '127.0.0.2');
      open.push(elsewhere);
      expect(elsewhere.status).toBe(200);
    } finally {
      for (const s of open) s.socket.destroy();
      await other.close();
    }
  });

  it('a stream is ended after its lifetime (the response ends, the connection closes) and its place is free', async () => {
    const other = await startAdminServer('127.0.0.1', 0, sources(model), {
      consoleDir,
      events: { maxStreamMs: 300, maxStreams: 1 },
    });
    try {
      const s = await openStream(other.port);
      expect(s.status).toBe(200);
      await new Promise<void>((resolve) => s.socket.on('close', () => resolve()));
      // The last chunk of a chunked response: the server ended the stream, it did not just drop the connection.
      expect(s.data()).toContain('event: hello');
      expect(s.data()).toMatch(/\r\n0\r\n\r\n$/);
      const again = await openStream(other.port);
      again.socket.destroy();
      expect(again.status).toBe(200);
    } finally {
      await other.close();
    }
  });
});

describe('a reader that never reads', () => {
  it('is cut once more than 1 MiB waits unsent, and the stream it held is free again', async () => {
    const big = { padding: 'x'.repeat(256 * 1024) };
    const admin = await startAdminServer(
      '127.0.0.1',
      0,
      sources(colorapp(), () => big),
      {
        consoleDir: os.tmpdir(),
        events: { telemetryMs: 5, maxStreams: 1 },
      },
    );
    try {
      const slow = await openStream(admin.port, false);
      expect(slow.status).toBe(200);
      // The only stream is held: another is refused until the slow one is cut.
      expect((await request(admin.port, 'GET', '/v1/events')).status).toBe(503);
      const next = await waitFor(
        'the slow reader to be cut',
        async () => {
          const s = await openStream(admin.port);
          if (s.status === 200) return s;
          s.socket.destroy();
          return undefined;
        },
        20_000,
        100,
      );
      next.socket.destroy();
      slow.socket.destroy();
    } finally {
      await admin.close();
    }
  });
});

describe('a reader that never reads, against the hub alone', () => {
  it('is cut just past 1 MiB unsent, not before (what waits unsent is counted once)', async () => {
    const responses: http.ServerResponse[] = [];
    const frame = { padding: 'x'.repeat(64 * 1024) };
    let most = 0;
    const hub = new EventHub(
      {
        hello: () => ({ mesh: 1, problems: 1, fleet: false }),
        // Read before each telemetry write: the most that waited unsent while the stream was still open.
        telemetry: () => {
          for (const r of responses) if (!r.destroyed) most = Math.max(most, r.writableLength);
          return frame;
        },
      },
      { telemetryMs: 5 },
    );
    const server = http.createServer((req, res) => {
      responses.push(res);
      hub.open(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const slow = await openStream(port, false);
      await waitFor('the slow reader to be cut', () => (hub.size === 0 ? true : undefined), 20_000, 20);
      slow.socket.destroy();
      // Cut by the write that found more than 1 MiB waiting: at least 1 MiB had piled up, at most a frame more.
      expect(most).toBeGreaterThan(1024 * 1024);
      expect(most).toBeLessThan(1024 * 1024 + 2 * 70 * 1024);
    } finally {
      hub.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('the event hub alone', () => {
  it('runs no timer without a listener, and stops them when the last one leaves; writes after a close are dropped', async () => {
    const hub = new EventHub(
      { hello: () => ({ mesh: 1, problems: 1, fleet: false }), telemetry: () => ({}), proxiesFingerprint: () => '' },
      { telemetryMs: 10, coalesceMs: 10 },
    );
    const server = http.createServer((req, res) => hub.open(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as net.AddressInfo).port;
    try {
      expect(hub.timersRunning).toBe(false);
      hub.changed('rollouts');
      expect(hub.timersRunning).toBe(false);
      const a = await openStream(port);
      const b = await openStream(port);
      expect(hub.timersRunning).toBe(true);
      await waitFor('telemetry', () => (a.data().includes('event: telemetry') ? true : undefined));
      hub.changed('rollouts');
      hub.changed('rollouts');
      await waitFor('rollouts', () => (a.data().includes('event: rollouts') ? true : undefined));
      // Two changes in one period are one event: wait several periods (telemetry ticks prove time passed).
      const ticks = a.data().split('event: telemetry').length;
      await waitFor('more telemetry', () => (a.data().split('event: telemetry').length > ticks + 3 ? true : undefined));
      expect(a.data().split('event: rollouts').length - 1).toBe(1);
      a.socket.destroy();
      await waitFor('one listener left', () => (hub.size === 1 ? true : undefined));
      expect(hub.timersRunning).toBe(true);
      b.socket.destroy();
      await waitFor('no listener left', () => (hub.size === 0 ? true : undefined));
      expect(hub.timersRunning).toBe(false);
      hub.publish('mesh', 2);
      hub.changed('proxies');
      expect(hub.timersRunning).toBe(false);
    } finally {
      hub.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('the event hub closing', () => {
  it('close() ends every stream (each gets the end of its response) and stops the timers', async () => {
    const hub = new EventHub(
      { hello: () => ({ mesh: 1, problems: 1, fleet: false }), telemetry: () => ({}), proxiesFingerprint: () => '' },
      { telemetryMs: 10, coalesceMs: 10 },
    );
    const server = http.createServer((req, res) => hub.open(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const a = await openStream(port);
      const b = await openStream(port);
      await waitFor('both streams', () => (hub.size === 2 ? true : undefined));
      expect(hub.timersRunning).toBe(true);
      const ended = [a, b].map((s) => new Promise<void>((resolve) => s.socket.on('close', () => resolve())));
      hub.close();
      expect(hub.size).toBe(0);
      expect(hub.timersRunning).toBe(false);
      // The HTTP server stays up: only the hub's close() can end these streams.
      await Promise.all(ended);
      for (const s of [a, b]) expect(s.data()).toMatch(/\r\n0\r\n\r\n$/);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('proxies events', () => {
  it('a reload that only changes why a proxy gets nothing (its configProblem) sends a proxies event', async () => {
    const base = sources(colorapp());
    base.streams.add({
      streamId: 1,
      protocol: 'sotw',
      nodeId: 'mesh/colorapp/virtualNode/front',
      nodeCluster: 'front',
      nodeKey: 'colorapp/front',
      client: 'envoy',
      peer: '127.0.0.1:1',
      connectedAt: new Date(0).toISOString(),
      types: new Map(),
    });
    let problem: string | undefined = 'no such virtual node';
    const admin = await startAdminServer(
      '127.0.0.1',
      0,
      { ...base, proxyProblems: { problem: () => problem } },
      { consoleDir: os.tmpdir(), events: { coalesceMs: 10 } },
    );
    try {
      const s = await openStream(admin.port);
      await waitFor('hello', () => (s.data().includes('event: hello') ? true : undefined));
      // Same streams, same sync states: only the reason changes.
      problem = 'the mesh it names is not served';
      await waitFor('a proxies event', () => (s.data().includes('event: proxies') ? true : undefined), 5000);
      s.socket.destroy();
    } finally {
      await admin.close();
    }
  });
});
