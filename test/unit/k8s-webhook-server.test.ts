// The injector's HTTPS endpoint as the API server calls it: an AdmissionReview (admission.k8s.io/v1)
// in, the same uid and a base64 JSON Patch out; a refusal as allowed:false with its message; and
// every malformed request answered with an HTTP error while the server keeps serving.
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { createCertificateAuthority, issueLeaf } from '../helpers/certs';
import { readableTmpDir } from '../helpers/netns';
import type { InjectionDecision } from '../../src/k8s/injection';
import {
  MAX_REVIEWS_IN_FLIGHT,
  startInjectionWebhook,
  type AdmissionReview,
  type InjectionWebhook,
} from '../../src/k8s/webhook-server';

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

const dir = readableTmpDir('webhook-');
const ca = createCertificateAuthority(dir, 'webhook-ca');
const leaf = (base: string) =>
  issueLeaf(ca, dir, {
    base,
    sans: ['IP:127.0.0.1', 'DNS:localhost'],
    subject: `/CN=${base}`,
    keyUsage: 'critical,digitalSignature,keyEncipherment',
    days: 2,
  });
const first = leaf('serving-1');
const caPem = fs.readFileSync(ca.certFile, 'utf8');

let current = first;
let decision: InjectionDecision | (() => never) = { action: 'skip', reason: 'test' };
const seen: AdmissionReview[] = [];
let server: InjectionWebhook;

beforeAll(async () => {
  server = await startInjectionWebhook({
    port: 0,
    host: '127.0.0.1',
    tls: () => ({ cert: fs.readFileSync(current.certFile, 'utf8'), key: fs.readFileSync(current.keyFile, 'utf8') }),
    decide: (review) => {
      seen.push(review);
      return typeof decision === 'function' ? decision() : decision;
    },
    log: quiet,
  });
});
afterAll(() => server.close());

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

function post(body: string | Buffer, options: { path?: string; method?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: server.port,
        path: options.path ?? '/mutate-pod',
        method: options.method ?? 'POST',
        ca: caPem,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const review = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'e911857d-c318-11e8-bbad-025000000001',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      namespace: 'prod',
      object: { metadata: { name: 'front-1' }, spec: { containers: [] } },
      ...over,
    },
  });

test('a patch is answered with the uid, JSONPatch and the patch in base64', async () => {
  const patch = [{ op: 'add' as const, path: '/spec/containers/-', value: { name: 'envoy' } }];
  decision = { action: 'patch', patch, nodeId: 'mesh/m/virtualNode/n' };
  const a = await post(review());
  expect(a.status).toBe(200);
  expect(a.body).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' });
  const response = a.body.response as Record<string, unknown>;
  expect(response).toMatchObject({
    uid: 'e911857d-c318-11e8-bbad-025000000001',
    allowed: true,
    patchType: 'JSONPatch',
  });
  expect(JSON.parse(Buffer.from(response.patch as string, 'base64').toString())).toEqual(patch);
  expect(seen.at(-1)!.request.namespace).toBe('prod');
});

test('a refusal is allowed:false with its message; a skip is allowed with no patch and its warning', async () => {
  decision = { action: 'deny', message: 'several VirtualNodes select Pod prod/front-1' };
  const denied = (await post(review())).body.response as Record<string, unknown>;
  expect(denied).toEqual({
    uid: 'e911857d-c318-11e8-bbad-025000000001',
    allowed: false,
    status: { code: 403, reason: 'Forbidden', message: 'several VirtualNodes select Pod prod/front-1' },
  });
  decision = { action: 'skip', reason: 'r', warning: 'meshd: no VirtualNode selects it' };
  const skipped = (await post(review())).body.response as Record<string, unknown>;
  expect(skipped).toEqual({
    uid: 'e911857d-c318-11e8-bbad-025000000001',
    allowed: true,
    warnings: ['meshd: no VirtualNode selects it'],
  });
});

test('a decide that throws refuses the Pod (fail closed)', async () => {
  decision = () => {
    throw new Error('informer not synced');
  };
  const a = await post(review());
  expect(a.status).toBe(200);
  expect(a.body.response).toMatchObject({ allowed: false, status: { code: 403 } });
});

test('other operations and kinds are allowed untouched without asking decide', async () => {
  const before = seen.length;
  decision = { action: 'deny', message: 'must not be asked' };
  expect((await post(review({ operation: 'UPDATE' }))).body.response).toEqual({
    uid: 'e911857d-c318-11e8-bbad-025000000001',
    allowed: true,
  });
  expect((await post(review({ kind: { group: 'apps', version: 'v1', kind: 'Pod' } }))).body.response).toMatchObject({
    allowed: true,
  });
  expect(seen.length).toBe(before);
});

test.each<[string, number, string | Buffer]>([
  ['not JSON', 400, '{"apiVersion":'],
  ['JSON but not an object', 400, '[1,2]'],
  ['the wrong apiVersion', 400, review().replace('admission.k8s.io/v1', 'admission.k8s.io/v1beta1')],
  ['no request', 400, JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' })],
  ['no uid', 400, review({ uid: 5 })],
  ['a uid of 1000 characters', 400, review({ uid: 'u'.repeat(1000) })],
])('%s is answered %d, and the server keeps serving', async (_name, status, body) => {
  expect((await post(body)).status).toBe(status);
  decision = { action: 'skip', reason: 'x' };
  expect((await post(review())).status).toBe(200);
});

test('a body over 4 MiB is answered 413 (or the upload is cut), and the server keeps serving', async () => {
  // The server answers as soon as it sees the length and closes the connection; the client may
  // still be writing, and then sees the reset instead of the answer.
  const a = await post(Buffer.alloc(4 * 1024 * 1024 + 10, 0x20)).catch((e: NodeJS.ErrnoException) => e.code ?? 'error');
  if (typeof a === 'string') expect(['ECONNRESET', 'EPIPE']).toContain(a);
  else expect(a.status).toBe(413);
  decision = { action: 'skip', reason: 'x' };
  expect((await post(review())).status).toBe(200);
});

test('a chunked body (no length given) is cut at 4 MiB too', async () => {
  const a = await new Promise<number | string>((resolve) => {
    const req = https.request(
      { host: '127.0.0.1', port: server.port, path: '/mutate-pod', method: 'POST', ca: caPem },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    for (let i = 0; i < 20; i++) req.write(chunk);
    req.end();
  });
  expect([413, 'ECONNRESET', 'EPIPE']).toContain(a);
  expect((await post(review())).status).toBe(200);
});

test('only POST /mutate-pod', async () => {
  expect((await post(review(), { path: '/' })).status).toBe(404);
  expect((await post(review(), { path: '/mutate-pod', method: 'GET' })).status).toBe(405);
});

test('TLS below 1.2 is refused', async () => {
  const outcome = await new Promise<string>((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: server.port,
      ca: caPem,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      // OpenSSL 3 refuses TLS 1.1 at its default security level; level 0 lets this client offer it.
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    socket.on('secureConnect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', () => resolve('refused'));
  });
  expect(outcome).toBe('refused');
});

test('reloadCertificate serves the renewed certificate to new connections', async () => {
  const serial = () =>
    new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: server.port, ca: caPem }, () => {
        resolve(socket.getPeerCertificate().serialNumber);
        socket.destroy();
      });
      socket.on('error', reject);
    });
  const before = await serial();
  current = leaf('serving-2');
  expect(await serial()).toBe(before);
  server.reloadCertificate();
  const after = await serial();
  expect(after).not.toBe(before);
  expect(after).toBe(new (await import('node:crypto')).X509Certificate(fs.readFileSync(current.certFile)).serialNumber);
});

test('holds at most MAX_REVIEWS_IN_FLIGHT reviews at once: one more is answered 429, and the server serves again once they end', async () => {
  // Callers that send their headers and then trickle (or never finish) the body, each on its own connection.
  const held = Array.from({ length: MAX_REVIEWS_IN_FLIGHT }, () => {
    const req = https.request({
      host: '127.0.0.1',
      port: server.port,
      path: '/mutate-pod',
      method: 'POST',
      ca: caPem,
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': '1000' },
    });
    req.on('error', () => undefined);
    req.write('{');
    return req;
  });
  try {
    // Every held request has reached the handler once the next one is turned away.
    let refused: Answer | undefined;
    for (let i = 0; i < 100 && refused?.status !== 429; i++) {
      refused = await post(review());
      if (refused.status !== 429) await new Promise((r) => setTimeout(r, 20));
    }
    expect(refused?.status).toBe(429);
  } finally {
    for (const req of held) req.destroy();
  }
  let answered: Answer | undefined;
  for (let i = 0; i < 100 && answered?.status !== 200; i++) {
    answered = await post(review());
    if (answered.status !== 200) await new Promise((r) => setTimeout(r, 20));
  }
  expect(answered?.status).toBe(200);
});
