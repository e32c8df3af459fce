// App Mesh's API on the admin port: the admin server (src/admin/http-server.ts) sends every
// /v20190125/ request to its appMesh source, bounds the body, and survives a failing handler;
// api/auth.ts checks SigV4 before the handler and the store see anything. Driven by the real
// @aws-sdk/client-app-mesh and by raw requests, over the in-memory store (the files-backed store
// is the lead's; the wiring is the same).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  AppMeshClient,
  CreateMeshCommand,
  DeleteMeshCommand,
  DescribeMeshCommand,
  ListMeshesCommand,
} from '@aws-sdk/client-app-mesh';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import { startAdminServer, type AdminServer, type AdminSources } from '../../src/admin/http-server';
import { loopbackHost, NO_CREDENTIALS_MESSAGE, withSigV4, type AuthRefusal } from '../../src/api/auth';
import { appMeshApi } from '../../src/api/handler';
import { MeshServer } from '../../src/control/mesh-server';
import type { AwsAnswer, RawRequest } from '../../src/util/aws-http';
import { isLoopbackAddress } from '../../src/util/loopback';
import type { Credentials } from '../../src/util/sigv4-verify';
import { StreamRegistry } from '../../src/xds/stream-status';
import { MemoryStore } from '../helpers/memory-store';
import { QUICKSTART_MESH } from '../helpers/mesh-text';
import { tmpDir } from '../helpers/processes';

// The SDK plays a user's client; its notice that its versions from 2027 on need Node 22 is not about meshd.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const ACCOUNT = { accountId: '123456789012', region: 'us-east-1' };
const KEYS: Credentials = { accessKeyId: 'AKIDMESHD', secretAccessKey: 'the-secret' };
const MESH_SPEC = { egressFilter: { type: 'ALLOW_ALL' as const } };

interface Started {
  readonly port: number;
  readonly store: MemoryStore;
  /** What the source's refused() and the wrapper's onRefused() were told, in order. */
  readonly refusals: string[];
  /** Requests the handler behind the checks saw. */
  readonly seen: RawRequest[];
  readonly server: AdminServer;
  readonly handlerErrors: Error[];
}

const open: AdminServer[] = [];
const clients: AppMeshClient[] = [];
afterEach(async () => {
  clients.splice(0).forEach((c) => c.destroy());
  await Promise.all(open.splice(0).map((s) => s.close()));
});

function baseSources(): AdminSources {
  return {
    streams: new StreamRegistry(),
    configOf: () => ({ ok: false, error: 'none' }),
    readiness: () => ({ ready: true }),
    metrics: () => '',
  };
}

/** An admin server whose appMesh source is the real handler over a memory store behind withSigV4. */
async function start(
  auth: { credentials?: Credentials; allowUnsigned: boolean },
  handler?: (store: MemoryStore) => (request: RawRequest) => Promise<AwsAnswer>,
): Promise<Started> {
  const store = new MemoryStore();
  const refusals: string[] = [];
  const seen: RawRequest[] = [];
  const handlerErrors: Error[] = [];
  const inner = handler ? handler(store) : appMeshApi(store, { account: ACCOUNT });
  const answer = withSigV4(
    (request) => {
      seen.push(request);
      return inner(request);
    },
    { ...auth, onRefused: (reason: AuthRefusal) => refusals.push(reason) },
  );
  const server = await startAdminServer(
    '127.0.0.1',
    0,
    { ...baseSources(), appMesh: { answer, refused: (reason) => refusals.push(reason) } },
    { observer: { handlerError: (_name, err) => handlerErrors.push(err) } },
  );
  open.push(server);
  return { port: server.port, store, refusals, seen, server, handlerErrors };
}

function client(port: number, credentials: Credentials): AppMeshClient {
  const c = new AppMeshClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: ACCOUNT.region,
    credentials,
    maxAttempts: 1,
  });
  clients.push(c);
  return c;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

function request(
  port: number,
  method: string,
  target: string,
  body?: string,
  headers: http.OutgoingHttpHeaders = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The AWS error a rejected SDK call carried: its name and HTTP status. */
async function rejection(call: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  try {
    await call;
  } catch (err) {
    const e = err as { name: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('the call was accepted');
}

describe('the admin server routes /v20190125/ to the App Mesh API', () => {
  it('PUT, GET and DELETE from the real SDK reach the store (no credentials, loopback: dummy keys work)', async () => {
    const s = await start({ allowUnsigned: true });
    const sdk = client(s.port, { accessKeyId: 'anything', secretAccessKey: 'dummy' });
    const created = await sdk.send(new CreateMeshCommand({ meshName: 'm', spec: MESH_SPEC }));
    expect(created.mesh?.metadata?.arn).toBe('arn:aws:appmesh:us-east-1:123456789012:mesh/m');
    expect(s.store.records.size).toBe(1);
    expect((await sdk.send(new DescribeMeshCommand({ meshName: 'm' }))).mesh?.spec).toEqual(MESH_SPEC);
    expect((await sdk.send(new ListMeshesCommand({}))).meshes?.map((m) => m.meshName)).toEqual(['m']);
    expect((await sdk.send(new DeleteMeshCommand({ meshName: 'm' }))).mesh?.status?.status).toBe('DELETED');
    expect(s.store.records.size).toBe(0);
    expect(s.seen.map((r) => r.method)).toEqual(['PUT', 'GET', 'GET', 'DELETE']);
    // An unsigned request (curl) is accepted too.
    const unsigned = await request(s.port, 'GET', '/v20190125/meshes');
    expect(unsigned.status).toBe(200);
    expect(JSON.parse(unsigned.text)).toEqual({ meshes: [] });
    expect(unsigned.headers['x-amzn-requestid']).toMatch(/^[0-9a-f-]{36}$/);
    expect(s.refusals).toEqual([]);
  });

  it('errors come back as the SDK reads them, and the other admin endpoints still answer', async () => {
    const s = await start({ allowUnsigned: true });
    const sdk = client(s.port, { accessKeyId: 'a', secretAccessKey: 'b' });
    expect(await rejection(sdk.send(new DescribeMeshCommand({ meshName: 'nope' })))).toEqual({
      name: 'NotFoundException',
      status: 404,
    });
    expect((await request(s.port, 'GET', '/healthz')).text).toBe('ok\n');
    // Only GET for meshd's own endpoints; the API takes its own methods.
    expect((await request(s.port, 'PUT', '/healthz')).status).toBe(405);
  });

  it('without an appMesh source, /v20190125/ paths answer 404 as any unknown path', async () => {
    const server = await startAdminServer('127.0.0.1', 0, baseSources());
    open.push(server);
    const answer = await request(server.port, 'GET', '/v20190125/meshes');
    expect(answer.status).toBe(404);
    expect(answer.text).toMatch(/no such endpoint: \/v20190125\/meshes/);
  });

  it('a body over 1 MiB answers 413 BadRequestException and closes, without waiting for the rest', async () => {
    const s = await start({ allowUnsigned: true });
    // Declared: 10 MiB announced, 64 KiB sent, then the client waits; a server reading it all would never answer.
    const declared = await rawExchange(
      s.port,
      `PUT /v20190125/meshes HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${10 * 1024 * 1024}\r\n\r\n`,
      Buffer.alloc(64 * 1024, 'a'),
    );
    // Chunked: no length given; 1 MiB + 64 KiB sent, the rest never comes.
    const chunk = Buffer.alloc(1024 * 1024 + 64 * 1024, 'a');
    const chunked = await rawExchange(
      s.port,
      'PUT /v20190125/meshes HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n',
      Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]),
    );
    for (const answer of [declared, chunked]) {
      expect(answer.status).toBe(413);
      expect(answer.headers['x-amzn-errortype']).toBe('BadRequestException');
      expect(answer.headers.connection).toBe('close');
      expect(JSON.parse(answer.body)).toEqual({
        __type: 'BadRequestException',
        message: 'the request body is larger than 1048576 bytes',
      });
      expect(answer.closed).toBe(true);
    }
    expect(s.seen).toEqual([]);
    expect(s.refusals).toEqual(['body_too_large', 'body_too_large']);
    expect(s.store.writes).toBe(0);
  });

  it('a handler that throws answers 500 in the API shape, is reported, and the server keeps serving', async () => {
    let calls = 0;
    const s = await start({ allowUnsigned: true }, (store) => {
      const real = appMeshApi(store, { account: ACCOUNT });
      return (req) => (++calls === 1 ? Promise.reject(new Error('boom')) : real(req));
    });
    const failed = await request(s.port, 'GET', '/v20190125/meshes');
    expect(failed.status).toBe(500);
    expect(failed.headers['x-amzn-errortype']).toBe('InternalServerErrorException');
    expect(failed.text).not.toContain('boom');
    expect(s.handlerErrors.map((e) => e.message)).toEqual(['boom']);
    expect(s.refusals).toEqual(['internal_error']);
    expect((await request(s.port, 'GET', '/v20190125/meshes')).status).toBe(200);
  });
});

describe('SigV4 with --api-credentials', () => {
  it('the right keys work; another secret, an unknown key id and no signature are 403 and change nothing', async () => {
    const s = await start({ credentials: KEYS, allowUnsigned: true });
    const good = client(s.port, KEYS);
    await good.send(new CreateMeshCommand({ meshName: 'kept', spec: MESH_SPEC }));
    const before = s.store.snapshot();
    const writes = s.store.writes;
    s.seen.length = 0;

    const wrongSecret = client(s.port, { accessKeyId: KEYS.accessKeyId, secretAccessKey: 'not-the-secret' });
    expect(await rejection(wrongSecret.send(new CreateMeshCommand({ meshName: 'forged' })))).toEqual({
      name: 'InvalidSignatureException',
      status: 403,
    });
    expect(await rejection(wrongSecret.send(new DeleteMeshCommand({ meshName: 'kept' })))).toEqual({
      name: 'InvalidSignatureException',
      status: 403,
    });
    const unknownKey = client(s.port, { accessKeyId: 'AKIDOTHER', secretAccessKey: KEYS.secretAccessKey });
    expect(await rejection(unknownKey.send(new DeleteMeshCommand({ meshName: 'kept' })))).toEqual({
      name: 'UnrecognizedClientException',
      status: 403,
    });
    const unsigned = await request(s.port, 'DELETE', '/v20190125/meshes/kept');
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers['x-amzn-errortype']).toBe('MissingAuthenticationTokenException');
    expect(JSON.parse(unsigned.text)).toEqual({
      __type: 'MissingAuthenticationTokenException',
      message: 'Missing Authentication Token',
    });

    expect(s.seen).toEqual([]);
    expect(s.store.snapshot()).toEqual(before);
    expect(s.store.writes).toBe(writes);
    expect(s.refusals).toEqual(['signature', 'signature', 'signature', 'signature']);
    expect((await good.send(new DescribeMeshCommand({ meshName: 'kept' }))).mesh?.meshName).toBe('kept');
  });

  it("a request signed with the right keys for another service (Cloud Map's) is refused", async () => {
    const s = await start({ credentials: KEYS, allowUnsigned: true });
    const body = JSON.stringify({ meshName: 'other', spec: MESH_SPEC });
    const signedFor = async (service: string) =>
      (
        await new SignatureV4({
          credentials: KEYS,
          region: 'us-east-1',
          service,
          sha256: Hash.bind(null, 'sha256'),
        }).sign({
          method: 'PUT',
          protocol: 'http:',
          hostname: '127.0.0.1',
          port: s.port,
          path: '/v20190125/meshes',
          headers: { host: `127.0.0.1:${s.port}`, 'content-type': 'application/json' },
          body,
        })
      ).headers;
    const answer = await request(s.port, 'PUT', '/v20190125/meshes', body, await signedFor('servicediscovery'));
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.text)).toEqual({
      __type: 'InvalidSignatureException',
      message: "Credential should be scoped to correct service: 'appmesh' (got 'servicediscovery').",
    });
    expect(s.store.writes).toBe(0);
    // The same request signed for appmesh is accepted.
    expect((await request(s.port, 'PUT', '/v20190125/meshes', body, await signedFor('appmesh'))).status).toBe(200);
    expect(s.store.writes).toBe(1);
  });
});

describe('no credentials on a loopback address: DNS rebinding', () => {
  it('a call whose Host is not a loopback address is 403 ForbiddenException and reaches nothing', async () => {
    const s = await start({ allowUnsigned: true });
    for (const host of ['rebind.evil.example', `rebind.evil.example:${s.port}`, '10.0.0.1', 'localhost.evil.example']) {
      const put = await request(s.port, 'PUT', '/v20190125/meshes', JSON.stringify({ meshName: 'pwned' }), { host });
      expect([host, put.status, put.headers['x-amzn-errortype']]).toEqual([host, 403, 'ForbiddenException']);
      expect(JSON.parse(put.text).message).toMatch(/DNS rebinding/);
    }
    expect(s.seen).toEqual([]);
    expect(s.store.writes).toBe(0);
    expect(s.refusals).toEqual(['host', 'host', 'host', 'host']);
    for (const host of [`127.0.0.1:${s.port}`, `localhost:${s.port}`, 'LOCALHOST', `[::1]:${s.port}`, '127.0.0.2'])
      expect([host, (await request(s.port, 'GET', '/v20190125/meshes', undefined, { host })).status]).toEqual([
        host,
        200,
      ]);
  });

  it('which Host headers name a loopback address', () => {
    for (const host of ['127.0.0.1', '127.0.0.1:18001', 'localhost', 'localhost:1', '[::1]', '[::1]:18001'])
      expect([host, loopbackHost(host)]).toEqual([host, true]);
    for (const host of [undefined, '', 'example.com', '127.0.0.1.evil.example', '[::2]:1', '0.0.0.0', ['127.0.0.1']])
      expect([host, loopbackHost(host)]).toEqual([host, false]);
  });
});

describe('no credentials on an address that is not loopback', () => {
  it('every call is 403 ForbiddenException naming --api-credentials, signed or not, and nothing is written', async () => {
    const s = await start({ allowUnsigned: false });
    const sdk = client(s.port, KEYS);
    expect(await rejection(sdk.send(new CreateMeshCommand({ meshName: 'm' })))).toEqual({
      name: 'ForbiddenException',
      status: 403,
    });
    const unsigned = await request(s.port, 'GET', '/v20190125/meshes');
    expect(unsigned.status).toBe(403);
    expect(unsigned.headers['x-amzn-errortype']).toBe('ForbiddenException');
    expect(JSON.parse(unsigned.text)).toEqual({ __type: 'ForbiddenException', message: NO_CREDENTIALS_MESSAGE });
    expect(NO_CREDENTIALS_MESSAGE).toContain('--api-credentials');
    expect(s.seen).toEqual([]);
    expect(s.store.writes).toBe(0);
    expect(s.refusals).toEqual(['no_credentials', 'no_credentials']);
  });

  it('with credentials set, a non-loopback address accepts calls signed with them', async () => {
    const s = await start({ credentials: KEYS, allowUnsigned: false });
    await client(s.port, KEYS).send(new CreateMeshCommand({ meshName: 'm' }));
    expect(s.store.writes).toBe(1);
  });

  it('which addresses count as loopback', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost'])
      expect([host, isLoopbackAddress(host)]).toEqual([host, true]);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', '::ffff:10.0.0.1', 'example.com', '', '128.0.0.1'])
      expect([host, isLoopbackAddress(host)]).toEqual([host, false]);
  });
});

describe('MeshServer serves the API behind the checks and counts refusals on /metrics', () => {
  const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

  /** A MeshServer over a copy of the quickstart mesh, its API over the files-backed store; and the API's folder. */
  async function meshServer(credentials?: Credentials): Promise<{ server: MeshServer; apiDir: string }> {
    const dir = tmpDir('api-glue-');
    // The state files apart from the mesh folder, whose every file is read as mesh files.
    const state = tmpDir('api-glue-state-');
    fs.copyFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), path.join(dir, 'mesh.yaml'));
    const apiDir = path.join(dir, '.meshd-api');
    const server = await MeshServer.open({
      paths: [dir],
      log: quiet,
      xds: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      cloudMap: { statePath: path.join(state, 'cloud-map.json') },
      rollouts: { statePath: path.join(state, 'rollouts.json') },
      api: {
        dir: apiDir,
        accountId: ACCOUNT.accountId,
        region: ACCOUNT.region,
        ...(credentials ? { credentials } : {}),
      },
    });
    await server.start();
    return { server, apiDir };
  }

  /** The files the API wrote, as paths under its folder. */
  function apiFiles(apiDir: string): string[] {
    if (!fs.existsSync(apiDir)) return [];
    return (fs.readdirSync(apiDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.yaml')).sort();
  }

  it('with credentials: signed calls work, a bad signature and a body too large are counted by reason', async () => {
    const { server, apiDir } = await meshServer(KEYS);
    try {
      const port = server.listening.adminPort;
      await client(port, KEYS).send(new CreateMeshCommand({ meshName: 'm', spec: MESH_SPEC }));
      const written = apiFiles(apiDir);
      expect(written).toHaveLength(1);
      const forged = client(port, { accessKeyId: KEYS.accessKeyId, secretAccessKey: 'wrong' });
      expect((await rejection(forged.send(new DeleteMeshCommand({ meshName: 'm' })))).name).toBe(
        'InvalidSignatureException',
      );
      expect((await request(port, 'GET', '/v20190125/meshes')).status).toBe(403);
      const big = await rawExchange(
        port,
        `PUT /v20190125/meshes HTTP/1.1\r\nhost: x\r\ncontent-length: ${2 * 1024 * 1024}\r\n\r\n`,
        Buffer.alloc(16),
      );
      expect(big.status).toBe(413);
      const metrics = (await request(port, 'GET', '/metrics')).text;
      expect(metrics).toContain('meshd_app_mesh_api_refused_total{reason="signature"} 2');
      expect(metrics).toContain('meshd_app_mesh_api_refused_total{reason="body_too_large"} 1');
      expect(apiFiles(apiDir)).toEqual(written);
      expect((await client(port, KEYS).send(new DescribeMeshCommand({ meshName: 'm' }))).mesh?.meshName).toBe('m');
    } finally {
      await server.close();
    }
  });

  it('without credentials on its loopback admin address, any call is accepted', async () => {
    const { server, apiDir } = await meshServer();
    try {
      await client(server.listening.adminPort, { accessKeyId: 'x', secretAccessKey: 'y' }).send(
        new CreateMeshCommand({ meshName: 'm', spec: MESH_SPEC }),
      );
      expect(apiFiles(apiDir)).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});

/** Sends the head and the start of a body, then waits (the rest never comes) for the answer or the server's close. */
function rawExchange(
  port: number,
  head: string,
  body: Buffer,
): Promise<{ status: number; headers: Record<string, string>; body: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const [headText = '', bodyText = ''] = data.split('\r\n\r\n');
      const [statusLine = '', ...lines] = headText.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
      );
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body: bodyText, closed });
    };
    // Only a server that never answers gets here: the test then fails on the status.
    const timer = setTimeout(finish, 10_000);
    socket.on('data', (d) => (data += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.write(head);
    socket.write(body);
  });
}
