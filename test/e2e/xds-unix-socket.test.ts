// meshd's xDS server on a Unix socket (the transport a SPIRE agent's SDS uses) and serving
// SecretDiscoveryService (StreamSecrets, DeltaSecrets), with real grpc-js clients over `unix:`:
// the socket's file mode, its removal on close, a stale socket replaced but a live one or a
// regular file never, one client's streams not counted against another's connection, and an SDS
// stream that serves secrets only.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeResource } from '../../src/xds/protos';
import { startXdsServer, type XdsServer, type XdsServerOptions } from '../../src/xds/server';
import { buildSnapshot, makeResource, SnapshotCache } from '../../src/xds/snapshot-cache';
import { TypeUrl } from '../../src/xds/type-urls';
import { AdsTestClient, DeltaTestClient, type ClientOptions } from '../helpers/ads-client';

const NODE = { id: 'workload-a' };
const QUIET = { debug: () => {}, info: () => {}, warn: () => {} };
const SECRET = 'spiffe://example.org/front';
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function snapshot() {
  const secret = encodeResource(TypeUrl.Secret, {
    name: SECRET,
    validation_context: { trusted_ca: { inline_string: PEM } },
  });
  const cluster = encodeResource(TypeUrl.Cluster, { name: 'c' });
  return buildSnapshot(
    new Map([
      [TypeUrl.Secret, [makeResource(TypeUrl.Secret, SECRET, secret)]],
      [TypeUrl.Cluster, [makeResource(TypeUrl.Cluster, 'c', cluster)]],
    ]),
  );
}

describe('xDS server on a Unix socket', () => {
  let dir: string;
  let socketPath: string;
  const servers: XdsServer[] = [];
  const clients: { close(): void }[] = [];

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-xds-sock-'));
    socketPath = path.join(dir, 'agent.sock');
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(servers.splice(0).map((s) => s.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function start(opts: Partial<XdsServerOptions> = {}): Promise<XdsServer> {
    const cache = new SnapshotCache();
    cache.set('any', snapshot());
    const server = await startXdsServer({
      socketPath,
      cache,
      log: QUIET,
      hooks: { nodeKey: () => 'any' },
      ...opts,
    });
    servers.push(server);
    return server;
  }

  // Each client its own connection (grpc-js otherwise shares one per target).
  const own: ClientOptions['channelOptions'] = { 'grpc.use_local_subchannel_pool': 1 };

  function ads(opts: ClientOptions = {}) {
    const c = new AdsTestClient(`unix:${socketPath}`, { channelOptions: own, ...opts });
    clients.push(c);
    return c;
  }

  it('serves ADS over the socket, made mode 0600, and removes the socket file on close', async () => {
    const server = await start();
    expect(server.socketPath).toBe(socketPath);
    const stats = fs.statSync(socketPath);
    expect(stats.isSocket()).toBe(true);
    expect(stats.mode & 0o777).toBe(0o600);
    const c = ads();
    c.send({ node: NODE, type_url: TypeUrl.Cluster });
    expect((await c.next(5000)).resources).toHaveLength(1);
    await server.close();
    servers.length = 0;
    expect(fs.existsSync(socketPath)).toBe(false);
  });

  it('makes the socket the mode asked for (0660: the group may connect)', async () => {
    await start({ socketMode: 0o660 });
    expect(fs.statSync(socketPath).mode & 0o777).toBe(0o660);
  });

  it('replaces a socket file left by a process that died (nothing listens on it)', async () => {
    // A process that binds the socket and is killed: its socket file stays, nobody behind it.
    const child = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => { console.log('up'); })`,
    ]);
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(fs.statSync(socketPath).isSocket()).toBe(true);
    await start();
    const c = ads();
    c.send({ node: NODE, type_url: TypeUrl.Cluster });
    expect((await c.next(5000)).resources).toHaveLength(1);
  });

  it('refuses a socket another server answers on, leaving it alone', async () => {
    const other = net.createServer();
    await new Promise<void>((resolve) => other.listen(socketPath, resolve));
    try {
      await expect(start()).rejects.toThrow(`xDS socket ${socketPath} is already in use`);
      const probe = net.connect(socketPath);
      await new Promise<void>((resolve, reject) => probe.once('connect', resolve).once('error', reject));
      probe.destroy();
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });

  it('refuses a path that holds a regular file, leaving the file alone', async () => {
    fs.writeFileSync(socketPath, 'precious');
    await expect(start()).rejects.toThrow('exists and is not a socket');
    expect(fs.readFileSync(socketPath, 'utf8')).toBe('precious');
  });

  it("does not count one client's streams against another's connection", async () => {
    await start({ limits: { maxStreamsPerConnection: 1 } });
    const a = ads();
    const b = ads();
    a.send({ node: NODE, type_url: TypeUrl.Cluster });
    expect((await a.next(5000)).resources).toHaveLength(1);
    b.send({ node: NODE, type_url: TypeUrl.Cluster });
    expect((await b.next(5000)).resources).toHaveLength(1);
    // The bound still holds on one connection: two clients sharing grpc-js's global pool share one.
    const shared1 = new AdsTestClient(`unix:${socketPath}`);
    const shared2 = new AdsTestClient(`unix:${socketPath}`);
    clients.push(shared1, shared2);
    shared1.send({ node: NODE, type_url: TypeUrl.Cluster });
    expect((await shared1.next(5000)).resources).toHaveLength(1);
    shared2.send({ node: NODE, type_url: TypeUrl.Cluster });
    expect((await shared2.finished()).code).toBe(8); // RESOURCE_EXHAUSTED
  });

  it('refuses host/port and socketPath together', async () => {
    await expect(start({ host: '127.0.0.1', port: 0 })).rejects.toThrow('either socketPath or host and port');
  });
});

describe('SecretDiscoveryService', () => {
  let dir: string;
  let socketPath: string;
  let server: XdsServer;
  const clients: { close(): void }[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-sds-'));
    socketPath = path.join(dir, 'agent.sock');
    const cache = new SnapshotCache();
    cache.set('any', snapshot());
    server = await startXdsServer({
      socketPath,
      services: ['sds'],
      cache,
      log: QUIET,
      hooks: { nodeKey: () => 'any' },
    });
  });

  afterAll(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const target = () => `unix:${socketPath}`;
  function track<T extends { close(): void }>(c: T): T {
    clients.push(c);
    return c;
  }

  it('StreamSecrets serves the secret asked for by name', async () => {
    const c = track(new AdsTestClient(target(), { service: 'sds' }));
    c.send({ node: NODE, type_url: TypeUrl.Secret, resource_names: [SECRET] });
    const res = await c.next(5000);
    expect(res.type_url).toBe(TypeUrl.Secret);
    expect(res.resources).toHaveLength(1);
    expect(res.resources[0]!.type_url).toBe(TypeUrl.Secret);
  });

  it('DeltaSecrets serves the secret asked for by name', async () => {
    const c = track(new DeltaTestClient(target(), { service: 'sds' }));
    c.send({ node: NODE, type_url: TypeUrl.Secret, resource_names_subscribe: [SECRET] });
    const res = await c.next(5000);
    expect(res.resources.map((r) => r.name)).toEqual([SECRET]);
  });

  it('an SDS stream asking for another type is ended INVALID_ARGUMENT, sent nothing', async () => {
    const c = track(new AdsTestClient(target(), { service: 'sds' }));
    c.send({ node: NODE, type_url: TypeUrl.Cluster });
    const status = await c.finished();
    expect(status.code).toBe(3);
    expect(status.details).toContain('serves only SDS');
    expect(c.received).toHaveLength(0);
  });

  it('a server with only SDS does not answer ADS (UNIMPLEMENTED)', async () => {
    const c = track(new AdsTestClient(target()));
    c.send({ node: NODE, type_url: TypeUrl.Cluster });
    expect((await c.finished()).code).toBe(12);
  });
});
