// Issue 27's control-channel attacks against a real `meshd serve --xds-tls` (a mesh in mtls STRICT, so
// meshd serves every proxy its private key over ADS): no credential, an expired, a revoked or another
// node's join token, a certificate from another CA, a plaintext client, and meshd's own certificate for
// node A used as node B. Each is refused with its gRPC status, counted in /metrics and logged, and the
// hostile client is recorded byte by byte (every decrypted HTTP/2 byte it received): no DiscoveryResponse,
// no PEM, none of B's names. A legitimate grpc-js client with A's token gets A's config and A's
// certificate, never B's; a real Envoy bootstrapped by `meshd bootstrap --xds-tls --token-file` gets its
// config and secrets, one with B's node id and A's token gets nothing. Without --xds-tls on 0.0.0.0 meshd
// serves the config but withholds the secrets, and /v1/proxies says why.
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import type { DiscoveryResponse__Output } from '../../src/generated/envoy/service/discovery/v3/DiscoveryResponse';
import { decodeResource, envoyRoot } from '../../src/xds/protos';
import { TypeUrl } from '../../src/xds/type-urls';
import { AdsTestClient } from '../helpers/ads-client';
import { createCertificateAuthority } from '../helpers/certs';
import { describeWithEnvoy, startEnvoy, type RunningEnvoy } from '../helpers/envoy';
import { lenField } from '../helpers/protobuf-wire';
import { freePorts, getOk, MESHD_BIN, startMeshd, tmpDir, waitFor, type RunningProcess } from '../helpers/processes';
import { meshFolder } from '../helpers/mesh-text';

jest.setTimeout(120_000);

const A = 'mesh/m/virtualNode/alpha';
const B = 'mesh/m/virtualNode/bravo';
const A_SPIFFE = 'spiffe://meshd.local/mesh/m/virtualNode/alpha';
/** What of B's would show in anything served for B: its DNS name (listener, certificate) and SPIFFE ID. */
const B_NAMES = ['bravo.m.local', 'spiffe://meshd.local/mesh/m/virtualNode/bravo'];
const SECRET_NAMES = ['meshd/identity', 'meshd/trust-bundle'];

// Two unrelated nodes: nothing of B belongs in anything A is served.
const MESH = `kind: Mesh
name: m
spec:
  egressFilter: { type: DROP_ALL }
  meshd: { mtls: STRICT }
---
kind: VirtualNode
mesh: m
name: alpha
spec:
  listeners: [{ portMapping: { port: 9080, protocol: http } }]
  serviceDiscovery: { dns: { hostname: alpha.m.local } }
---
kind: VirtualNode
mesh: m
name: bravo
spec:
  listeners: [{ portMapping: { port: 9081, protocol: http } }]
  serviceDiscovery: { dns: { hostname: bravo.m.local } }
`;

function meshdCli(adminPort: number, args: string[]): string {
  return execFileSync(process.execPath, [MESHD_BIN, ...args, '--admin', `127.0.0.1:${adminPort}`], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

interface Token {
  token: string;
  id: string;
  expiresAt: string;
}

function issueToken(adminPort: number, node: string, ttl = '1h'): Token {
  return JSON.parse(meshdCli(adminPort, ['token', '--node', node, '--ttl', ttl, '--format', 'json'])) as Token;
}

/** A series of meshd's /metrics (0 when the series is not there yet). */
async function metric(adminPort: number, series: string): Promise<number> {
  const body = await getOk(adminPort, '/metrics');
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

const streamsRefused = (reason: string) => `meshd_xds_refused_streams_total{reason="${reason}"}`;
const connectionsRefused = (reason: string) => `meshd_xds_refused_connections_total{reason="${reason}"}`;

// ---------------------------------------------------------------------------------------------
// A hostile client that keeps every byte: gRPC by hand over node:http2, on a socket tapped below
// HTTP/2 (after TLS decryption), so nothing it was sent can hide in a layer the test does not read.

interface Capture {
  /** Every byte the client read off the connection (decrypted, when over TLS): HTTP/2 frames. */
  readonly received: Buffer;
  /** The payload of the response's DATA frames: gRPC messages (DiscoveryResponses). */
  readonly data: Buffer;
  /** grpc-status from the (trailers-only) response headers or the trailers; undefined if none came. */
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string | undefined;
  /** The connection or stream error, when it failed below gRPC (e.g. the TLS handshake). */
  readonly error: string | undefined;
}

/** A Duplex over `socket` that records what it reads (http2 takes any Duplex via createConnection). */
function tapped(socket: net.Socket | tls.TLSSocket, sink: Buffer[]): Duplex {
  const duplex = new Duplex({
    read: () => void socket.resume(),
    write: (chunk: Buffer, _enc, cb) => void socket.write(chunk, cb),
    final: (cb) => {
      socket.end();
      cb();
    },
    destroy: (err, cb) => {
      socket.destroy();
      cb(err);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    sink.push(chunk);
    if (!duplex.push(chunk)) socket.pause();
  });
  socket.on('end', () => duplex.push(null));
  socket.on('error', (err) => duplex.destroy(err));
  socket.on('close', () => duplex.destroy());
  return duplex;
}

/**
 * A DiscoveryRequest (SotW), hand-encoded: version_info=1, node{id, cluster}=2, resource_names=3,
 * type_url=4, response_nonce=5.
 */
function discoveryRequest(nodeId: string, typeUrl: string, names: readonly string[] = [], ack?: Ack): Buffer {
  const msg = Buffer.concat([
    ...(ack ? [lenField(1, ack.version_info)] : []),
    lenField(2, Buffer.concat([lenField(1, nodeId), lenField(2, 'attacker')])),
    ...names.map((n) => lenField(3, n)),
    lenField(4, typeUrl),
    ...(ack ? [lenField(5, ack.nonce)] : []),
  ]);
  const frame = Buffer.alloc(5);
  frame.writeUInt32BE(msg.length, 1);
  return Buffer.concat([frame, msg]);
}

interface Ack {
  type_url: string;
  version_info: string;
  nonce: string;
}

/** The gRPC messages complete in `buf` (5-byte prefix: compressed flag, length), decoded as DiscoveryResponses. */
function responsesIn(buf: Buffer): Ack[] {
  const type = envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryResponse');
  const out: Ack[] = [];
  for (let at = 0; at + 5 <= buf.length;) {
    const len = buf.readUInt32BE(at + 1);
    if (at + 5 + len > buf.length) break;
    out.push(type.toObject(type.decode(buf.subarray(at + 5, at + 5 + len))) as Ack);
    at += 5 + len;
  }
  return out;
}

/**
 * Opens an ADS stream as `nodeId`, asks for everything (clusters, listeners, and the managed secrets by
 * name), and records all that comes back until the server ends the stream (or `ms` pass).
 */
async function hostileSubscribe(o: {
  port: number;
  nodeId: string;
  token?: string;
  plaintext?: boolean;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  ms?: number;
}): Promise<Capture> {
  const chunks: Buffer[] = [];
  const data: Buffer[] = [];
  let grpcStatus: number | undefined;
  let grpcMessage: string | undefined;
  let error: string | undefined;
  const socket = o.plaintext
    ? net.connect(o.port, '127.0.0.1')
    : tls.connect({ host: '127.0.0.1', port: o.port, ca: o.ca, cert: o.cert, key: o.key, ALPNProtocols: ['h2'] });
  socket.on('error', (err) => (error ??= err.message));
  const session = http2.connect('http://127.0.0.1', { createConnection: () => tapped(socket, chunks) });
  session.on('error', (err) => (error ??= err.message));
  const headers: http2.OutgoingHttpHeaders = {
    ':method': 'POST',
    ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
    'content-type': 'application/grpc',
    te: 'trailers',
  };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  const req = session.request(headers);
  const status = (h: http2.IncomingHttpHeaders) => {
    if (h['grpc-status'] !== undefined) grpcStatus = Number(h['grpc-status']);
    if (h['grpc-message'] !== undefined) grpcMessage = decodeURIComponent(String(h['grpc-message']));
  };
  req.on('response', status);
  req.on('trailers', status);
  // ACKs every response as Envoy would, so meshd has no reason to hold anything back (LDS waits on CDS...).
  let acked = 0;
  req.on('data', (d: Buffer) => {
    data.push(d);
    const responses = responsesIn(Buffer.concat(data));
    for (const res of responses.slice(acked)) {
      const names = res.type_url === TypeUrl.Secret ? SECRET_NAMES : [];
      if (!req.closed) req.write(discoveryRequest(o.nodeId, res.type_url, names, res));
    }
    acked = responses.length;
  });
  req.on('error', (err) => (error ??= err.message));
  for (const [type, names] of [
    [TypeUrl.Cluster, []],
    [TypeUrl.Listener, []],
    [TypeUrl.Secret, SECRET_NAMES],
  ] as const)
    req.write(discoveryRequest(o.nodeId, type, names));
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, o.ms ?? 5000);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    // The server ending its side of the stream (a refusal's trailers) is the end: nothing can follow on it.
    req.on('end', done);
    req.on('close', done);
    session.on('close', done);
  });
  req.close();
  session.destroy();
  socket.destroy();
  return { received: Buffer.concat(chunks), data: Buffer.concat(data), grpcStatus, grpcMessage, error };
}

/** Nothing of configuration or keys reached the hostile client: not one gRPC message, no PEM, none of B's names. */
function expectNothingServed(c: Capture): void {
  expect(c.data.length).toBe(0);
  const text = c.received.toString('latin1');
  for (const needle of ['PRIVATE KEY', 'BEGIN CERTIFICATE', TypeUrl.Cluster, TypeUrl.Secret, ...B_NAMES])
    expect(text).not.toContain(needle);
}

/** A certificate with A's SPIFFE ID from a CA meshd never heard of (openssl), in `dir`. */
function foreignCertificate(dir: string): { cert: Buffer; key: Buffer } {
  const ca = createCertificateAuthority(dir, 'foreign-ca');
  const ext = path.join(dir, 'leaf.ext');
  fs.writeFileSync(ext, `subjectAltName=URI:${A_SPIFFE}\nextendedKeyUsage=clientAuth\n`);
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  run(
    ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'].concat([
      '-keyout',
      'leaf.key',
      '-out',
      'leaf.csr',
      '-subj',
      '/CN=alpha',
    ]),
  );
  run(
    ['x509', '-req', '-in', 'leaf.csr', '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial'].concat([
      '-out',
      'leaf.crt',
      '-days',
      '1',
      '-extfile',
      ext,
    ]),
  );
  return { cert: fs.readFileSync(path.join(dir, 'leaf.crt')), key: fs.readFileSync(path.join(dir, 'leaf.key')) };
}

/** The Secret resources of a response, decoded (canonical JSON: bytes in base64). */
interface SecretJson {
  name: string;
  tls_certificate?: { certificate_chain?: { inline_bytes?: string }; private_key?: { inline_bytes?: string } };
}
function secretsOf(res: DiscoveryResponse__Output): SecretJson[] {
  return res.resources.map((any) => decodeResource(TypeUrl.Secret, any.value) as never);
}

// ---------------------------------------------------------------------------------------------

async function startServe(
  extra: string[],
): Promise<{ meshd: RunningProcess; xdsPort: number; adminPort: number; stateDir: string }> {
  const [xdsPort, adminPort] = await freePorts(2);
  const stateDir = tmpDir('meshd-state-');
  const meshd = startMeshd(
    [
      'serve',
      '--mesh',
      meshFolder({ 'mesh.yaml': MESH }),
      '--xds-port',
      String(xdsPort),
      '--admin-port',
      String(adminPort),
      ...extra,
    ],
    { MESHD_ROLLOUT_STATE: path.join(stateDir, 'rollouts.json') },
  );
  await waitFor(
    'meshd to load the mesh',
    async () => ((await getOk(adminPort!, '/readyz').catch(() => '')) ? true : undefined),
    30000,
    100,
  );
  return { meshd, xdsPort: xdsPort!, adminPort: adminPort!, stateDir };
}

describe('the xDS channel of meshd serve --xds-tls under attack', () => {
  let meshd: RunningProcess;
  let xdsPort: number;
  let adminPort: number;
  let bundle: Buffer;
  let tokenA: Token;
  /** Issued first (1 s), used last: by then past its exp and the 30 s clock tolerance. */
  let shortToken: Token;
  let certA: { cert: Buffer; key: Buffer };
  const clients: AdsTestClient[] = [];

  beforeAll(async () => {
    ({ meshd, xdsPort, adminPort } = await startServe(['--xds-tls', '--xds-address', '127.0.0.1']));
    shortToken = issueToken(adminPort, A, '1s');
    tokenA = issueToken(adminPort, A);
    bundle = Buffer.from(meshdCli(adminPort, ['ca', 'bundle']));
    const out = tmpDir('cert-a-');
    meshdCli(adminPort, ['ca', 'issue', '--node', A, '--out', out]);
    certA = { cert: fs.readFileSync(path.join(out, 'cert.pem')), key: fs.readFileSync(path.join(out, 'key.pem')) };
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await meshd?.stop();
  });

  /**
   * Subscribes as a hostile client would and checks, in this order: the status it got (undefined: the
   * connection ended below gRPC), that nothing was served on the bytes, that the counter `series` moved,
   * and that meshd logged `logged`.
   */
  async function refused(
    series: string,
    logged: string | RegExp,
    status: number | undefined,
    client: Omit<Parameters<typeof hostileSubscribe>[0], 'port'>,
  ): Promise<Capture> {
    const before = await metric(adminPort, series);
    const [outBefore, errBefore] = [meshd.stdout().length, meshd.stderr().length];
    const c = await hostileSubscribe({ port: xdsPort, ...client });
    expect(c.grpcStatus).toBe(status);
    expectNothingServed(c);
    await waitFor(
      `${series} to move`,
      async () => ((await metric(adminPort, series)) > before ? true : undefined),
      10000,
      50,
    );
    await waitFor(`meshd to log the refusal (${String(logged)})`, () => {
      const log = meshd.stdout().slice(outBefore) + meshd.stderr().slice(errBefore);
      return (typeof logged === 'string' ? log.includes(logged) : logged.test(log)) ? true : undefined;
    });
    return c;
  }

  it('a legitimate client (grpc-js, TLS trusting `meshd ca bundle`, A’s token) gets A’s config and A’s certificate, never B’s', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${tokenA.token}`);
    const client = new AdsTestClient(xdsPort, { credentials: grpc.credentials.createSsl(bundle), metadata });
    clients.push(client);
    const node = { id: A, cluster: 'alpha' };
    client.send({ node, type_url: TypeUrl.Listener });
    const listeners = await client.next(15000);
    expect(listeners.resources.length).toBeGreaterThan(0);
    client.ack(listeners, node);
    client.send({ node, type_url: TypeUrl.Secret, resource_names: SECRET_NAMES });
    // The certificate is issued once the proxy claims its node: a first response may hold the trust bundle alone.
    const identity = await waitFor('A’s certificate', async () => {
      const res = await client.next(15000);
      if (res.type_url !== TypeUrl.Secret) return undefined;
      client.ack(res, node, SECRET_NAMES);
      return secretsOf(res).find((s) => s.name === 'meshd/identity');
    });
    const chain = Buffer.from(identity.tls_certificate!.certificate_chain!.inline_bytes!, 'base64').toString();
    const leaf = new crypto.X509Certificate(chain);
    expect(leaf.subjectAltName).toContain(`URI:${A_SPIFFE}`);
    expect(Buffer.from(identity.tls_certificate!.private_key!.inline_bytes!, 'base64').toString()).toContain(
      'PRIVATE KEY',
    );
    // Nothing of B in anything A received.
    const all = JSON.stringify(
      client.received.map((r) => r.resources.map((x) => Buffer.from(x.value).toString('latin1'))),
    );
    for (const name of B_NAMES) expect(all).not.toContain(name);
  });

  it('no credential (TLS, no certificate, no token): UNAUTHENTICATED, counted, logged, nothing served', async () => {
    await refused(streamsRefused('unauthenticated'), 'no credential', grpc.status.UNAUTHENTICATED, {
      nodeId: A,
      ca: bundle,
    });
  });

  it('a revoked token (meshd token revoke): UNAUTHENTICATED, counted, logged, nothing served', async () => {
    const revoked = issueToken(adminPort, A);
    meshdCli(adminPort, ['token', 'revoke', revoked.id]);
    await refused(
      streamsRefused('unauthenticated'),
      `the token ${revoked.id} has been revoked`,
      grpc.status.UNAUTHENTICATED,
      { nodeId: A, ca: bundle, token: revoked.token },
    );
  });

  it('a token revoked while its stream is open: the stream is ended UNAUTHENTICATED, and the next refused', async () => {
    const token = issueToken(adminPort, A);
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token.token}`);
    const client = new AdsTestClient(xdsPort, { credentials: grpc.credentials.createSsl(bundle), metadata });
    clients.push(client);
    const node = { id: A, cluster: 'alpha' };
    client.send({ node, type_url: TypeUrl.Listener });
    client.ack(await client.next(15000), node);
    const proxies = JSON.parse(await (await fetch(`http://127.0.0.1:${adminPort}/v1/proxies`)).text()) as {
      credential?: string;
    }[];
    expect(proxies.map((p) => p.credential)).toContain(`join token ${token.id}`);
    meshdCli(adminPort, ['token', 'revoke', token.id]);
    const status = await client.finished();
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(status.details).toMatch(/join token revoked/);
    await refused(
      streamsRefused('unauthenticated'),
      `the token ${token.id} has been revoked`,
      grpc.status.UNAUTHENTICATED,
      {
        nodeId: A,
        ca: bundle,
        token: token.token,
      },
    );
  });

  it('A’s token used to subscribe as B: PERMISSION_DENIED, counted, logged, none of B’s config or key', async () => {
    await refused(
      streamsRefused('permission_denied'),
      `is ${A}'s; it cannot subscribe as ${B}`,
      grpc.status.PERMISSION_DENIED,
      { nodeId: B, ca: bundle, token: tokenA.token },
    );
  });

  it('meshd’s certificate for A (meshd ca issue) subscribing as B: PERMISSION_DENIED; as A: served', async () => {
    await refused(
      streamsRefused('permission_denied'),
      `the client certificate is ${A}'s; it cannot subscribe as ${B}`,
      grpc.status.PERMISSION_DENIED,
      { nodeId: B, ca: bundle, ...certA },
    );
    // The same certificate as its own node is served (the stream stays open: the capture runs its time).
    const served = await hostileSubscribe({ port: xdsPort, nodeId: A, ca: bundle, ...certA, ms: 3000 });
    expect(served.grpcStatus).toBeUndefined();
    expect(served.data.length).toBeGreaterThan(0);
    const pem = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(served.received.toString('latin1'));
    expect(new crypto.X509Certificate(pem![0]).subjectAltName).toContain(`URI:${A_SPIFFE}`);
  });

  it('a client certificate from another CA (openssl): refused at the handshake, counted, logged, nothing served', async () => {
    // The certificate even names A, and A's valid token rides along: the handshake decides first.
    const foreign = foreignCertificate(tmpDir('foreign-'));
    const c = await refused(connectionsRefused('client_certificate'), /xds: refused a connection from .*/, undefined, {
      nodeId: A,
      ca: bundle,
      token: tokenA.token,
      ...foreign,
    });
    expect(c.received.length).toBe(0); // not one decrypted byte: no HTTP/2 SETTINGS even
  });

  it('a plaintext client when TLS is required: refused, counted, logged, not one HTTP/2 byte back', async () => {
    const c = await refused(connectionsRefused('tls_handshake'), /xds: refused a connection from .*/, undefined, {
      nodeId: A,
      token: tokenA.token,
      plaintext: true,
    });
    // At most a TLS alert record (0x15) came back, never an HTTP/2 frame.
    expect(c.received.length === 0 || c.received[0] === 0x15).toBe(true);
  });

  it('an expired token (meshd token --ttl 1s, past its exp and the 30 s clock tolerance): UNAUTHENTICATED', async () => {
    const wait = new Date(shortToken.expiresAt).getTime() + 32_000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await refused(
      streamsRefused('unauthenticated'),
      'join token refused: the token has expired',
      grpc.status.UNAUTHENTICATED,
      { nodeId: A, ca: bundle, token: shortToken.token },
    );
  });
});

interface ConfigDump {
  configs: {
    '@type': string;
    dynamic_listeners?: { name: string; active_state?: unknown }[];
    dynamic_active_clusters?: { cluster: { name: string } }[];
    dynamic_active_secrets?: { name: string; secret: Record<string, unknown> }[];
    dynamic_warming_secrets?: { name: string }[];
  }[];
}

async function configDump(envoy: RunningEnvoy): Promise<ConfigDump['configs'][number]> {
  const dump = JSON.parse(await getOk(envoy.adminPort, '/config_dump')) as ConfigDump;
  return Object.assign({}, ...dump.configs) as ConfigDump['configs'][number];
}

describeWithEnvoy('a real Envoy on the --xds-tls channel (meshd bootstrap --xds-tls --token-file)', (envoyBin) => {
  let meshd: RunningProcess;
  let xdsPort: number;
  let adminPort: number;
  const envoys: RunningEnvoy[] = [];
  let files: { bundle: string; tokenA: string };

  beforeAll(async () => {
    ({ meshd, xdsPort, adminPort } = await startServe(['--xds-tls', '--xds-address', '127.0.0.1']));
    const dir = tmpDir('envoy-creds-');
    files = { bundle: path.join(dir, 'bundle.pem'), tokenA: path.join(dir, 'token-a') };
    fs.writeFileSync(files.bundle, meshdCli(adminPort, ['ca', 'bundle']));
    fs.writeFileSync(files.tokenA, issueToken(adminPort, A).token, { mode: 0o600 });
  });

  afterAll(async () => {
    await Promise.all(envoys.map((e) => e.stop()));
    await meshd?.stop();
  });

  async function envoyAs(nodeId: string): Promise<RunningEnvoy> {
    const [envoyAdmin, ingress, egress] = await freePorts(3);
    const yaml = execFileSync(
      process.execPath,
      [MESHD_BIN, 'bootstrap', '--node', nodeId, '--xds-address', `127.0.0.1:${xdsPort}`, '--xds-tls']
        .concat(['--xds-ca-file', files.bundle, '--token-file', files.tokenA, '--admin-address', '127.0.0.1'])
        .concat([
          '--admin-port',
          String(envoyAdmin),
          '--ingress-port',
          String(ingress),
          '--egress-port',
          String(egress),
        ]),
      { encoding: 'utf8' },
    );
    const envoy = startEnvoy(envoyBin, yaml, envoyAdmin!);
    envoys.push(envoy);
    return envoy;
  }

  it('Envoy as A with A’s token gets its listeners, clusters and its certificate (URI SAN = A’s SPIFFE ID)', async () => {
    const envoy = await envoyAs(A);
    const dump = await waitFor(
      'Envoy A to hold its listeners and meshd/identity',
      async () => {
        const d = await configDump(envoy);
        const secrets = (d.dynamic_active_secrets ?? []).map((s) => s.name);
        return (d.dynamic_listeners ?? []).length > 0 && secrets.includes('meshd/identity') ? d : undefined;
      },
      60000,
      250,
    );
    expect((dump.dynamic_active_secrets ?? []).map((s) => s.name).sort()).toEqual(SECRET_NAMES);
    expect(JSON.stringify(dump)).not.toContain('bravo');
    const certs = await getOk(envoy.adminPort, '/certs');
    expect(certs).toContain(A_SPIFFE);
    expect(certs).not.toContain('bravo');
    const proxies = await getOk(adminPort, '/v1/proxies');
    expect(proxies).toContain(A);
  });

  it('Envoy with B’s node id and A’s token: PERMISSION_DENIED on every try, nothing in its config dump, no B in meshd', async () => {
    const series = streamsRefused('permission_denied');
    const before = await metric(adminPort, series);
    const [outBefore, errBefore] = [meshd.stdout().length, meshd.stderr().length];
    const envoy = await envoyAs(B);
    // Envoy retries with backoff: two refusals prove it came back and was refused again.
    await waitFor(
      'two refusals of Envoy B',
      async () => ((await metric(adminPort, series)) >= before + 2 ? true : undefined),
      60000,
      250,
    );
    expect(meshd.stdout().slice(outBefore) + meshd.stderr().slice(errBefore)).toContain(
      `is ${A}'s; it cannot subscribe as ${B}`,
    );
    const dump = await configDump(envoy);
    expect(dump.dynamic_listeners ?? []).toEqual([]);
    expect(dump.dynamic_active_clusters ?? []).toEqual([]);
    expect(dump.dynamic_active_secrets ?? []).toEqual([]);
    expect(await getOk(envoy.adminPort, '/certs')).not.toContain('spiffe://');
    // Envoy was told why (gRPC status 7, PERMISSION_DENIED, with meshd's message).
    expect(envoy.logs()).toMatch(new RegExp(`config stream to meshd_xds closed: 7, .*cannot%20subscribe%20as%20${B}`));
    expect(await getOk(adminPort, '/v1/proxies')).not.toContain(B);
  });
});

describe('meshd serve without --xds-tls on 0.0.0.0: config served, secrets withheld, and said why', () => {
  let meshd: RunningProcess;
  let xdsPort: number;
  let adminPort: number;
  let client: AdsTestClient | undefined;

  beforeAll(async () => {
    ({ meshd, xdsPort, adminPort } = await startServe(['--xds-address', '0.0.0.0']));
  });

  afterAll(async () => {
    client?.close();
    await meshd?.stop();
  });

  it('a proxy gets its listeners but no secret, and /v1/proxies names the reason', async () => {
    client = new AdsTestClient(xdsPort);
    const node = { id: A, cluster: 'alpha' };
    client.send({ node, type_url: TypeUrl.Listener });
    const listeners = await client.next(15000);
    expect(listeners.type_url).toBe(TypeUrl.Listener);
    expect(listeners.resources.length).toBeGreaterThan(0);
    client.ack(listeners, node);
    client.send({ node, type_url: TypeUrl.Secret, resource_names: SECRET_NAMES });
    const why = await waitFor('/v1/proxies to say why A gets no certificate', async () => {
      const proxies = await getOk(adminPort, '/v1/proxies');
      return proxies.includes('withheld') ? proxies : undefined;
    }).catch(async (err: Error) => {
      throw new Error(
        `${err.message}; /v1/proxies: ${await getOk(adminPort, '/v1/proxies')}; stream: ${JSON.stringify(client!.status)}`,
      );
    });
    expect(why).toContain('--xds-tls');
    expect(why).toContain('0.0.0.0');
    // Whatever meshd answers the secret request with, it holds no secret: no Secret resource, no key.
    await new Promise((r) => setTimeout(r, 2000));
    const secrets = client.received.filter((r) => r.type_url === TypeUrl.Secret).flatMap((r) => r.resources);
    expect(secrets).toEqual([]);
    const bytes = client.received.flatMap((r) => r.resources.map((x) => Buffer.from(x.value).toString('latin1')));
    expect(bytes.join('')).not.toContain('PRIVATE KEY');
    expect(bytes.join('')).not.toContain('BEGIN CERTIFICATE');
    expect(meshd.stderr() + meshd.stdout()).toContain(
      'identity: workload certificates withheld: the xDS port listens on 0.0.0.0',
    );
  });
});
