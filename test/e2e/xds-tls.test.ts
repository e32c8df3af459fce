// TLS on the ADS port and the authorize hook, with real grpc-js clients: a client certificate is
// optional but must chain to the trusted CA; plaintext, garbage and a silent client are refused
// and counted; a refused client receives no xDS response at all; the TLS material is replaced
// at run time without dropping open streams.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { AuthorizeResult, ConnectionRefusalReason, StreamCredentials } from '../../src/xds/ads-session';
import { encodeResource } from '../../src/xds/protos';
import { startXdsServer, type XdsServer, type XdsTlsOptions } from '../../src/xds/server';
import { buildSnapshot, makeResource, SnapshotCache } from '../../src/xds/snapshot-cache';
import { TypeUrl } from '../../src/xds/type-urls';
import { AdsTestClient, DeltaTestClient, type ClientOptions } from '../helpers/ads-client';
import { createCertificateAuthority, createTestPki, issueCertificate, type TestPki } from '../helpers/certs';
import { waitFor } from '../helpers/processes';

const NODE = { id: 'mesh/m/virtualNode/a' };
const SERVER_NAME = 'xds.meshd.test';
const QUIET = { debug: () => {}, info: () => {}, warn: () => {} };
const read = (file: string) => fs.readFileSync(file, 'utf8');

function snapshot(clusterName: string) {
  const bytes = encodeResource(TypeUrl.Cluster, { name: clusterName });
  return buildSnapshot(new Map([[TypeUrl.Cluster, [makeResource(TypeUrl.Cluster, clusterName, bytes)]]]));
}

describe('xDS over TLS', () => {
  let pki: TestPki;
  let server: XdsServer;
  let cache: SnapshotCache;
  const refusedConnections: ConnectionRefusalReason[] = [];
  const refusedStreams: string[] = [];
  const authorized: { node: string; creds: StreamCredentials }[] = [];
  const clients: { close(): void }[] = [];

  const serverTls = (): XdsTlsOptions => ({
    certificateChainPem: read(pki.certs.server!.certFile),
    privateKeyPem: read(pki.certs.server!.keyFile),
    trustedCaPem: read(pki.ca.certFile),
  });

  /** A client trusting `caFile`, with the certificate `cert` (none if not given) and metadata. */
  function client(opts: { caFile?: string; cert?: string; token?: string; plaintext?: boolean } = {}) {
    const c = new AdsTestClient(server.port, clientOptions(opts));
    clients.push(c);
    return c;
  }

  function deltaClient(opts: { cert?: string; token?: string } = {}) {
    const c = new DeltaTestClient(server.port, clientOptions(opts));
    clients.push(c);
    return c;
  }

  function clientOptions(opts: { caFile?: string; cert?: string; token?: string; plaintext?: boolean }): ClientOptions {
    const metadata = new grpc.Metadata();
    if (opts.token) metadata.set('authorization', `Bearer ${opts.token}`);
    const leaf = opts.cert ? pki.certs[opts.cert]! : undefined;
    const options: ClientOptions = {
      credentials: opts.plaintext
        ? grpc.credentials.createInsecure()
        : grpc.credentials.createSsl(
            fs.readFileSync(opts.caFile ?? pki.ca.certFile),
            leaf ? fs.readFileSync(leaf.keyFile) : null,
            leaf ? fs.readFileSync(leaf.certFile) : null,
          ),
      metadata,
      channelOptions: { 'grpc.ssl_target_name_override': SERVER_NAME, 'grpc.default_authority': SERVER_NAME },
    };
    return options;
  }

  beforeAll(() => {
    pki = createTestPki({ server: [SERVER_NAME], proxy: ['proxy.meshd.test'] }, { stranger: ['proxy.meshd.test'] });
  });

  beforeEach(async () => {
    refusedConnections.length = 0;
    refusedStreams.length = 0;
    authorized.length = 0;
    cache = new SnapshotCache();
    cache.set(NODE.id, snapshot('first'));
    server = await startXdsServer({
      host: '127.0.0.1',
      port: 0,
      cache,
      log: QUIET,
      tls: serverTls(),
      limits: { idleTimeoutMs: 1500 },
      observer: {
        connectionRefused: (reason) => refusedConnections.push(reason),
        streamRefused: (reason) => refusedStreams.push(reason),
      },
      hooks: {
        nodeKey: (node) => node.id,
        // A stand-in for meshd's policy: a verified certificate, or the token 'good', is enough.
        authorize: async (node, creds): Promise<AuthorizeResult> => {
          authorized.push({ node: node.id, creds });
          if (creds.peerCertificate || creds.authorization === 'Bearer good') return undefined;
          return { code: 'unauthenticated', message: 'a client certificate or a join token is required' };
        },
      },
    });
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.close();
  });

  it('serves a client with a certificate from the trusted CA, handing the hook that certificate', async () => {
    const c = client({ cert: 'proxy' });
    c.send({ node: NODE, type_url: TypeUrl.Cluster });
    const res = await c.next(5000);
    expect(res.resources).toHaveLength(1);
    expect(authorized).toHaveLength(1);
    expect(authorized[0]!.creds.peerCertificate?.subjectAltName).toBe('DNS:proxy.meshd.test');
    expect(authorized[0]!.creds.authorization).toBeUndefined();
  });

  it('serves a client with no certificate and a good token; the hook sees the authorization metadata', async () => {
    const c = client({ token: 'good' });
    c.send({ node: NODE, type_url: TypeUrl.Cluster });
    expect((await c.next(5000)).resources).toHaveLength(1);
    expect(authorized[0]!.creds).toEqual({ authorization: 'Bearer good' });
  });

  it('refuses a client with neither certificate nor token: UNAUTHENTICATED, no response, counted', async () => {
    const c = client();
    c.send({ node: NODE, type_url: TypeUrl.Cluster });
    c.send({ node: NODE, type_url: TypeUrl.Listener });
    const status = await c.finished();
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(status.details).toBe('a client certificate or a join token is required');
    expect(c.received).toEqual([]);
    expect(refusedStreams).toEqual(['unauthenticated']);
  });

  it('Delta: refuses no credential, serves a good token', async () => {
    const refused = deltaClient();
    refused.send({ node: NODE, type_url: TypeUrl.Cluster });
    expect((await refused.finished()).code).toBe(grpc.status.UNAUTHENTICATED);
    expect(refused.received).toEqual([]);
    const served = deltaClient({ token: 'good' });
    served.send({ node: NODE, type_url: TypeUrl.Cluster });
    expect((await served.next(5000)).resources.map((r) => r.name)).toEqual(['first']);
  });

  it('refuses a certificate from another CA at the handshake: no stream, no response, counted', async () => {
    const c = client({ cert: 'stranger', token: 'good' });
    c.send({ node: NODE, type_url: TypeUrl.Cluster });
    const status = await c.finished();
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect(c.received).toEqual([]);
    expect(authorized).toEqual([]);
    await waitFor('the refusal counted', () => refusedConnections.includes('client_certificate') || undefined, 5000);
  });

  it('refuses a plaintext gRPC client and garbage; their connections get no HTTP/2 byte', async () => {
    const c = client({ plaintext: true, token: 'good' });
    c.send({ node: NODE, type_url: TypeUrl.Cluster });
    expect((await c.finished()).code).toBe(grpc.status.UNAVAILABLE);
    expect(c.received).toEqual([]);
    // The HTTP/2 preface in the clear, as a plaintext client sends it: what comes back is at most a TLS alert.
    const got = await rawExchange(
      server.port,
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00'),
    );
    expect(got.length === 0 || got[0] === 0x15).toBe(true); // 0x15: a TLS alert record
    expect(got.includes(Buffer.from('PRI'))).toBe(false);
    await waitFor(
      'both counted',
      () => refusedConnections.filter((r) => r === 'tls_handshake').length >= 2 || undefined,
      5000,
    );
    expect(authorized).toEqual([]);
  });

  it('closes a connection that never starts its handshake within the timeout (here the idle timeout, 1.5 s)', async () => {
    const socket = net.connect(server.port, '127.0.0.1');
    const started = Date.now();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - started).toBeLessThan(5000);
    await waitFor('the timeout counted', () => refusedConnections.includes('tls_handshake_timeout') || undefined, 5000);
  });

  it('takes new TLS material at run time: open streams keep going, new clients get the new certificate', async () => {
    const old = client({ cert: 'proxy' });
    old.send({ node: NODE, type_url: TypeUrl.Cluster });
    const first = await old.next(5000);
    old.ack(first, NODE);

    // A new CA: the server's certificate and the trusted CA both rotate.
    const newCa = createCertificateAuthority(pki.dir, 'new-ca');
    const newServer = issueCertificate(newCa, pki.dir, 'new-server', [SERVER_NAME]);
    const newProxy = issueCertificate(newCa, pki.dir, 'new-proxy', ['proxy.meshd.test']);
    expect(() => server.updateTls({ ...serverTls(), privateKeyPem: read(newServer.keyFile) })).toThrow(/xDS TLS/);
    server.updateTls({
      certificateChainPem: read(newServer.certFile),
      privateKeyPem: read(newServer.keyFile),
      trustedCaPem: read(newCa.certFile),
    });

    // The stream opened before the rotation still gets pushes.
    cache.set(NODE.id, snapshot('second'));
    const pushed = await old.next(5000);
    expect(pushed.version_info).not.toBe(first.version_info);

    // A client trusting only the old CA no longer connects; one of the new CA does.
    const stale = client({ cert: 'proxy' });
    stale.send({ node: NODE, type_url: TypeUrl.Cluster });
    expect((await stale.finished()).code).toBe(grpc.status.UNAVAILABLE);
    pki.certs['new-proxy'] = newProxy;
    const fresh = client({ caFile: newCa.certFile, cert: 'new-proxy' });
    fresh.send({ node: NODE, type_url: TypeUrl.Cluster });
    expect((await fresh.next(5000)).resources).toHaveLength(1);
  });
});

/** Connects, writes `bytes`, and collects what comes back until the server closes (or 3 s). */
function rawExchange(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => undefined);
    const done = () => resolve(Buffer.concat(chunks));
    socket.once('close', done);
    setTimeout(() => {
      socket.destroy();
      done();
    }, 3000).unref();
  });
}
