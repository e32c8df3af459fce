// Admin writes and DogStatsD intake against a stranger on the network, with a real `meshd serve`
// bound to this machine's own non-loopback address (so requests and datagrams really come from
// beyond loopback): a write needs the admin token, meshd refuses to start reachable without its
// credentials, and only connected proxies' datagrams move the telemetry canary analysis reads.
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { adminWriteAuth } from '../../src/admin/admin-auth';
import { startAdminServer } from '../../src/admin/http-server';
import { StreamRegistry } from '../../src/xds/stream-status';
import { AdsTestClient } from '../helpers/ads-client';
import { QUICKSTART_MESH } from '../helpers/mesh-text';
import { freePort, MESHD_BIN, startMeshd, tmpDir, waitFor, type RunningProcess } from '../helpers/processes';

/** This machine's first non-internal IPv4 address: requests to and from it are not loopback. */
const OWN_IP = Object.values(os.networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
const describeBeyondLoopback = OWN_IP ? describe : describe.skip;
if (!OWN_IP) console.warn('admin-auth.test: no non-loopback IPv4 address on this machine; skipped');
const IP = OWN_IP ?? '127.0.0.1';

const TOKEN = 'f'.repeat(24) + '0123456789abcdef0123456789abcdef';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request from OWN_IP (the source address is not loopback) to `host`. */
function request(
  host: string,
  port: number,
  method: string,
  pathName: string,
  headers: http.OutgoingHttpHeaders = {},
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path: pathName, headers, agent: false, localAddress: IP }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${pathName} timed out`)));
    req.end(body);
  });
}

function metric(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

function tokenFile(dir: string, token = TOKEN, mode = 0o600): string {
  const file = path.join(dir, 'admin-token');
  fs.writeFileSync(file, `${token}\n`, { mode });
  fs.chmodSync(file, mode);
  return file;
}

function meshCopy(dir: string): string {
  const file = path.join(dir, 'mesh.yaml');
  const source = fs.readdirSync(QUICKSTART_MESH).find((f) => f.endsWith('.yaml'))!;
  fs.copyFileSync(path.join(QUICKSTART_MESH, source), file);
  return file;
}

const ROLLOUT_START = ['start', '--route', 'color/color-split', '--primary', 'color-blue', '--canary', 'color-green'];

describeBeyondLoopback('admin writes from beyond loopback (a real meshd on a non-loopback address)', () => {
  let meshd: RunningProcess;
  let adminPort: number;
  let dir: string;

  beforeAll(async () => {
    dir = tmpDir('admin-auth-');
    adminPort = await freePort();
    meshd = startMeshd([
      'serve',
      '--mesh',
      meshCopy(dir),
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(await freePort()),
      '--admin-address',
      IP,
      '--admin-port',
      String(adminPort),
      '--admin-token-file',
      tokenFile(dir),
      '--api-credentials',
      'AKIDAPPMESH:appmesh-secret',
      '--cloud-map-credentials',
      'AKIDCLOUDMAP:cloudmap-secret',
      '--api-dir',
      path.join(dir, 'api'),
      '--cloud-map-state',
      path.join(dir, 'cm.json'),
      '--statsd-address',
      '127.0.0.1',
    ]);
    await waitFor('meshd to serve', () => (meshd.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
  });

  afterAll(async () => {
    await meshd.stop();
  });

  const cli = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [MESHD_BIN, 'rollout', ...args, '--admin', `${IP}:${adminPort}`], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });
  const rollouts = async () => JSON.parse((await request(IP, adminPort, 'GET', '/v1/rollouts')).body) as unknown[];

  it('a write without a token is 401 (WWW-Authenticate: Bearer), with a wrong one 403; neither changes anything', async () => {
    const body = JSON.stringify({ name: 'x', spec: { route: { virtualRouter: 'color', name: 'color-split' } } });
    const missing = await request(IP, adminPort, 'POST', '/v1/rollouts', { 'content-type': 'application/json' }, body);
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toMatch(/^Bearer\b/);
    expect(JSON.parse(missing.body)).toEqual({ error: expect.stringContaining('Authorization: Bearer') });
    const wrong = await request(
      IP,
      adminPort,
      'POST',
      '/v1/rollouts/apps/color-green/abort',
      { authorization: `Bearer ${TOKEN.replace(/f/g, 'e')}` },
      '',
    );
    expect(wrong.status).toBe(403);
    expect(JSON.parse(wrong.body)).toEqual({ error: expect.stringContaining('--admin-token-file') });
    // A token differing only in length, and another scheme, are refused the same way.
    expect((await request(IP, adminPort, 'POST', '/v1/rollouts', { authorization: `Bearer ${TOKEN}x` })).status).toBe(
      403,
    );
    expect((await request(IP, adminPort, 'POST', '/v1/rollouts', { authorization: `Basic ${TOKEN}` })).status).toBe(
      401,
    );
    // Reads stay open.
    expect(await rollouts()).toEqual([]);
    expect((await request(IP, adminPort, 'GET', '/v1/proxies')).status).toBe(200);
    const metrics = (await request(IP, adminPort, 'GET', '/metrics')).body;
    expect(metric(metrics, 'meshd_http_refused_total', { server: 'admin', reason: 'unauthenticated' })).toBe(2);
    expect(metric(metrics, 'meshd_http_refused_total', { server: 'admin', reason: 'forbidden' })).toBe(2);
  });

  it('meshd rollout without the token is refused (exit 1, naming --admin-token-file); with it, it starts and pauses', async () => {
    const refused = cli(ROLLOUT_START);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^meshd rollout start: .*--admin-token-file/);
    expect(await rollouts()).toEqual([]);

    const env = { MESHD_ADMIN_TOKEN_FILE: path.join(dir, 'admin-token') };
    const started = cli([...ROLLOUT_START, '--interval', '1h', '--format', 'json'], env);
    expect(started.stderr).toBe('');
    expect(started.status).toBe(0);
    expect(await rollouts()).toEqual([expect.objectContaining({ mesh: 'apps', name: 'color-green' })]);
    const paused = cli(['pause', 'color-green', '--admin-token-file', path.join(dir, 'admin-token')]);
    expect(paused.status).toBe(0);
    expect(await rollouts()).toEqual([expect.objectContaining({ phase: 'Paused' })]);
  });

  it('the Cloud Map API still wants its own SigV4 key: a bearer token does not open it', async () => {
    const answer = await request(
      IP,
      adminPort,
      'POST',
      '/',
      {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'Route53AutoNaming_v20170314.ListNamespaces',
        authorization: `Bearer ${TOKEN}`,
      },
      '{}',
    );
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(answer.body).toMatch(/Signature|Authentication/);
  });
});

describeBeyondLoopback('meshd serve refuses to start reachable without admin credentials', () => {
  const serve = async (extra: string[]) => {
    const dir = tmpDir('admin-auth-start-');
    return spawnSync(
      process.execPath,
      [
        MESHD_BIN,
        'serve',
        '--mesh',
        meshCopy(dir),
        '--xds-address',
        '127.0.0.1',
        '--xds-port',
        String(await freePort()),
        '--admin-address',
        IP,
        '--admin-port',
        String(await freePort()),
        '--api-dir',
        path.join(dir, 'api'),
        '--cloud-map-state',
        path.join(dir, 'cm.json'),
        ...extra.map((e) => e.replace('$DIR', dir)),
      ],
      { encoding: 'utf8', timeout: 15_000, env: { ...process.env, MESHD_STATSD_PORT: '0' } },
    );
  };

  it('without any credential: exit 2 and one line naming the flags', async () => {
    const result = await serve([]);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^meshd serve: the admin address ${IP.replace(/\./g, '\\.')} is not loopback: set --admin-token-file, --api-credentials, --cloud-map-credentials .*--insecure-admin`,
      ),
    );
  });

  it('with the token but an AWS API without its key: exit 2 naming that key only', async () => {
    const dir = tmpDir('admin-auth-token-');
    const result = await serve(['--admin-token-file', tokenFile(dir), '--api-credentials', 'AKID:secret']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/is not loopback: set --cloud-map-credentials \(/);
  });

  it('a token file others can read, or a short token: exit 2 with the fix', async () => {
    const open = await serve(['--admin-token-file', tokenFile(tmpDir('admin-auth-644-'), TOKEN, 0o644)]);
    expect(open.status).toBe(2);
    expect(open.stderr).toMatch(
      /--admin-token-file: the admin token file .* can be read by others \(mode 644\): chmod 600 /,
    );
    const short = await serve(['--admin-token-file', tokenFile(tmpDir('admin-auth-short-'), 'short-token')]);
    expect(short.status).toBe(2);
    expect(short.stderr).toMatch(/has 11 characters; it needs at least 32/);
  });

  it('--insecure-admin starts with a warning; writes without their credential are still refused, reads served', async () => {
    const dir = tmpDir('admin-auth-insecure-');
    const adminPort = await freePort();
    const meshd = startMeshd([
      'serve',
      '--mesh',
      meshCopy(dir),
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(await freePort()),
      '--admin-address',
      IP,
      '--admin-port',
      String(adminPort),
      '--api-dir',
      path.join(dir, 'api'),
      '--cloud-map-state',
      path.join(dir, 'cm.json'),
      '--insecure-admin',
    ]);
    try {
      await waitFor('meshd to serve', () => (meshd.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
      expect(meshd.stderr()).toMatch(/--insecure-admin: the admin address .* is not loopback and --admin-token-file/);
      const write = await request(IP, adminPort, 'POST', '/v1/rollouts/apps/x/pause', {}, '');
      expect(write.status).toBe(403);
      expect(JSON.parse(write.body)).toEqual({ error: expect.stringContaining('--admin-token-file') });
      const cloudMap = await request(
        IP,
        adminPort,
        'POST',
        '/',
        {
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': 'Route53AutoNaming_v20170314.CreateHttpNamespace',
        },
        JSON.stringify({ Name: 'stranger' }),
      );
      expect(cloudMap.status).toBe(403);
      expect(JSON.parse(cloudMap.body)).toMatchObject({ __type: 'ForbiddenException' });
      const contents = await request(IP, adminPort, 'GET', '/v1/cloud-map');
      expect(contents.status).toBe(200);
      expect(contents.body).not.toContain('stranger');
    } finally {
      await meshd.stop();
    }
  });
});

interface Telemetry {
  statsd: { dropped: { datagrams: Record<string, number> } };
  virtualNodes: { virtualNode: string; totals: { requests: number } }[];
}

describeBeyondLoopback(
  'DogStatsD beyond loopback reads only connected proxies (default --statsd-allow connected)',
  () => {
    let meshd: RunningProcess;
    let adminPort: number;
    let xdsPort: number;
    let statsdPort: number;
    const sockets: dgram.Socket[] = [];

    beforeAll(async () => {
      const dir = tmpDir('statsd-allow-');
      const mesh = path.join(dir, 'mesh.yaml');
      fs.writeFileSync(
        mesh,
        [
          'kind: Mesh\nname: m\nspec: {}\n',
          ...['a', 'b'].map(
            (n) =>
              `kind: VirtualNode\nmesh: m\nname: ${n}\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }\n`,
          ),
        ].join('---\n'),
      );
      adminPort = await freePort();
      xdsPort = await freePort();
      meshd = startMeshd([
        'serve',
        '--mesh',
        mesh,
        '--xds-address',
        '127.0.0.1',
        '--xds-port',
        String(xdsPort),
        '--admin-port',
        String(adminPort),
        '--statsd-address',
        IP,
        '--cloud-map-state',
        path.join(dir, 'cm.json'),
      ]);
      const banner = await waitFor('meshd to serve', () =>
        meshd.stdout().includes('xDS (ADS gRPC)') ? meshd.stdout() : undefined,
      );
      statsdPort = Number(
        new RegExp(`udp://${IP.replace(/\./g, '\\.')}:(\\d+) \\(senders: connected;`).exec(banner)![1],
      );
    });

    afterAll(async () => {
      sockets.forEach((s) => s.close());
      await meshd.stop();
    });

    /** Sends `n` datagrams reporting one 2xx response each to node b, from `source`. */
    const send = async (source: string, n: number) => {
      const socket = dgram.createSocket('udp4');
      sockets.push(socket);
      await new Promise<void>((resolve) => socket.bind(0, source, () => resolve()));
      const line =
        'envoy.cluster.upstream_rq_xx:1|c|#envoy.response_code_class:2,envoy.cluster_name:cds_egress_m_b_http_8080';
      for (let i = 0; i < n; i++)
        await new Promise<void>((resolve, reject) =>
          socket.send(line, statsdPort, IP, (err) => (err ? reject(err) : resolve())),
        );
    };
    const telemetry = async () =>
      JSON.parse(
        await new Promise<string>((resolve, reject) =>
          http
            .get({ host: '127.0.0.1', port: adminPort, path: '/v1/telemetry' }, (res) => {
              let text = '';
              res.on('data', (d: Buffer) => (text += d.toString()));
              res.on('end', () => resolve(text));
            })
            .on('error', reject),
        ),
      ) as Telemetry;
    const requestsToB = (t: Telemetry) => t.virtualNodes.find((n) => n.virtualNode === 'b')?.totals.requests ?? 0;
    const droppedForSource = async (n: number) =>
      waitFor(`${n} datagrams dropped for their source`, async () => {
        const t = await telemetry();
        return t.statsd.dropped.datagrams.source === n ? t : undefined;
      });

    it('drops datagrams from a source no proxy is connected from, and reads those from a connected proxy', async () => {
      // Nobody connected: neither a stranger (this machine's address) nor 127.0.0.1 moves the numbers.
      await send(IP, 5);
      await send('127.0.0.1', 5);
      expect(requestsToB(await droppedForSource(10))).toBe(0);
      expect(meshd.stderr()).toMatch(/statsd: dropped \d+ datagram\(s\) from addresses --statsd-allow does not allow/);

      // A proxy connects over ADS from 127.0.0.1: its address's datagrams count, the stranger's still do not.
      const proxy = new AdsTestClient(xdsPort);
      try {
        proxy.send({
          node: { id: 'mesh/m/virtualNode/a', cluster: 'a' },
          type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
          resource_names: [],
        });
        await proxy.next(5000);
        await new Promise((resolve) => setTimeout(resolve, 150)); // past the peers' 100 ms cache
        await send('127.0.0.1', 3);
        await waitFor('the connected proxy to count', async () =>
          requestsToB(await telemetry()) === 3 ? true : undefined,
        );
        await send(IP, 4);
        expect(requestsToB(await droppedForSource(14))).toBe(3);
      } finally {
        proxy.close();
      }
      // Gone again: its address no longer counts.
      await waitFor('the stream to close', async () => {
        const t = await new Promise<string>((resolve) =>
          http.get({ host: '127.0.0.1', port: adminPort, path: '/v1/proxies' }, (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve(text));
          }),
        );
        return (JSON.parse(t) as unknown[]).length === 0 ? true : undefined;
      });
      await new Promise((resolve) => setTimeout(resolve, 150));
      await send('127.0.0.1', 2);
      expect(requestsToB(await droppedForSource(16))).toBe(3);
    });
  },
);

describe('admin writes on loopback (a real admin server, in process)', () => {
  /** An admin server whose rollouts answer 200 to whatever reaches them, and count it. */
  const serve = async (token?: string) => {
    let reached = 0;
    const server = await startAdminServer(
      '127.0.0.1',
      0,
      {
        streams: new StreamRegistry(),
        configOf: () => ({ ok: false, error: 'none' }),
        readiness: () => ({ ready: true }),
        metrics: () => '',
        rollouts: {
          answer: () => {
            reached++;
            return Promise.resolve({ status: 200, body: { ok: true } });
          },
        },
      },
      { writeAuth: adminWriteAuth(token, true) },
    );
    return { server, reached: () => reached };
  };
  const post = (port: number, headers: http.OutgoingHttpHeaders) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/v1/rollouts/apps/x/abort', headers, agent: false },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end('');
    });

  it('without a token: a local write is accepted, one naming another Host (DNS rebinding) or from another web page is not', async () => {
    const { server, reached } = await serve();
    try {
      expect(await post(server.port, {})).toBe(200);
      expect(await post(server.port, { host: 'localhost:1' })).toBe(200);
      expect(await post(server.port, { host: 'rebound.example:18001' })).toBe(403);
      expect(await post(server.port, { origin: 'https://evil.example' })).toBe(403);
      // meshd's own console: the page's origin is the admin address the request went to.
      const self = `127.0.0.1:${server.port}`;
      expect(await post(server.port, { host: self, origin: `http://${self}` })).toBe(200);
      // Another local page (another port, https, an opaque origin), or a rebound name with a matching Origin.
      expect(await post(server.port, { host: self, origin: `http://127.0.0.1:${server.port + 1}` })).toBe(403);
      expect(await post(server.port, { host: self, origin: `https://${self}` })).toBe(403);
      expect(await post(server.port, { host: self, origin: 'null' })).toBe(403);
      expect(await post(server.port, { host: 'rebound.example:1', origin: 'http://rebound.example:1' })).toBe(403);
      expect(reached()).toBe(3);
    } finally {
      await server.close();
    }
  });

  it('with a token, loopback writes need it too', async () => {
    const { server, reached } = await serve(TOKEN);
    try {
      expect(await post(server.port, {})).toBe(401);
      expect(await post(server.port, { authorization: 'Bearer not-the-token' })).toBe(403);
      expect(await post(server.port, { authorization: `bearer ${TOKEN}` })).toBe(200);
      expect(reached()).toBe(1);
    } finally {
      await server.close();
    }
  });
});
