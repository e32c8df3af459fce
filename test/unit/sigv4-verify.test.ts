// SigV4 verification for the local Cloud Map API, checked against the AWS SDK's own signer
// (@smithy/signature-v4) and, end to end, against the real ServiceDiscoveryClient.
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ListNamespacesCommand, ServiceDiscoveryClient } from '@aws-sdk/client-servicediscovery';
import { buildQueryString } from '@smithy/core/protocols';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import { parseCredentials, verifySigV4, type Credentials, type SignedRequest } from '../../src/util/sigv4-verify';

// The SDK plays a user's app here; its notice that its versions from
// 2027 on need Node 22 is not about meshd (package.json engines).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const CREDENTIALS: Credentials = {
  accessKeyId: 'AKIDMESHDLOCAL',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};

interface SignOptions {
  readonly credentials?: Credentials;
  readonly path?: string;
  readonly query?: Record<string, string | string[]>;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly signingDate?: Date;
  readonly applyChecksum?: boolean;
  readonly unsignableHeaders?: Set<string>;
  readonly region?: string;
  readonly service?: string;
}

/** Signs a Cloud Map request with the SDK's signer and returns it as meshd's HTTP server would see it. */
async function sign(options: SignOptions = {}): Promise<SignedRequest> {
  const signer = new SignatureV4({
    service: options.service ?? 'servicediscovery',
    region: options.region ?? 'us-east-1',
    credentials: options.credentials ?? CREDENTIALS,
    sha256: Hash.bind(null, 'sha256'),
    ...(options.applyChecksum === undefined ? {} : { applyChecksum: options.applyChecksum }),
  });
  const body = options.body ?? '{}';
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 18001,
      path: options.path ?? '/',
      query: options.query ?? {},
      headers: {
        host: '127.0.0.1:18001',
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'Route53AutoNaming_v20170314.ListNamespaces',
        ...options.headers,
      },
      body,
    },
    {
      ...(options.signingDate ? { signingDate: options.signingDate } : {}),
      ...(options.unsignableHeaders ? { unsignableHeaders: options.unsignableHeaders } : {}),
    },
  );
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) headers[name.toLowerCase()] = value;
  const query = buildQueryString(signed.query ?? {});
  return {
    method: signed.method,
    path: signed.path + (query ? `?${query}` : ''),
    headers,
    body: Buffer.from(body, 'utf8'),
  };
}

function withHeaders(request: SignedRequest, changes: Record<string, string | undefined>): SignedRequest {
  return { ...request, headers: { ...request.headers, ...changes } };
}

const MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.';

describe('verifySigV4 against the SDK signer', () => {
  it('accepts a request signed with the configured credentials', async () => {
    const request = await sign();
    // What the SDK signs: host with its port, the date, and the body hash as a header.
    expect(request.headers['authorization']).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDMESHDLOCAL\/\d{8}\/us-east-1\/servicediscovery\/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target, Signature=[0-9a-f]{64}$/,
    );
    expect(request.headers['x-amz-content-sha256']).toBe(
      '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    );
    expect(verifySigV4(request, CREDENTIALS)).toEqual({ ok: true });
  });

  it('accepts a request whose payload hash is not sent as a header (hash of the body)', async () => {
    const request = await sign({ applyChecksum: false, body: '{"MaxResults":5}' });
    expect(request.headers['x-amz-content-sha256']).toBeUndefined();
    expect(verifySigV4(request, CREDENTIALS)).toEqual({ ok: true });
    expect(verifySigV4({ ...request, body: Buffer.from('{"MaxResults":6}') }, CREDENTIALS)).toEqual({
      ok: false,
      code: 'InvalidSignatureException',
      message: MISMATCH,
    });
  });

  it('accepts a request with a query string (sorted, repeated and escaped parameters)', async () => {
    const request = await sign({ query: { zeta: 'last', b: ['2', '1'], 'a b': "x/y~*!'()", empty: '', 'ü': 'é' } });
    expect(request.path).toContain('?');
    expect(verifySigV4(request, CREDENTIALS)).toEqual({ ok: true });
    // Reordering the query string on the wire does not matter...
    const [path, query] = request.path.split('?') as [string, string];
    const reordered = { ...request, path: `${path}?${query.split('&').reverse().join('&')}` };
    expect(verifySigV4(reordered, CREDENTIALS)).toEqual({ ok: true });
    // ...changing a value does.
    expect(
      verifySigV4({ ...request, path: request.path.replace('zeta=last', 'zeta=other') }, CREDENTIALS),
    ).toMatchObject({
      ok: false,
      code: 'InvalidSignatureException',
    });
  });

  it('accepts an encoded path (encoded again in the canonical request, as for every service but S3)', async () => {
    const request = await sign({ path: '/a%20b/./c/' });
    expect(request.path).toBe('/a%20b/./c/');
    expect(verifySigV4(request, CREDENTIALS)).toEqual({ ok: true });
    expect(verifySigV4({ ...request, path: '/a b/c/' }, CREDENTIALS)).toMatchObject({
      code: 'InvalidSignatureException',
    });
  });

  it('accepts a body containing non-ASCII characters', async () => {
    const body = JSON.stringify({ Name: 'café-naïve-名前-🚀', Description: 'ünïcödé' });
    const request = await sign({ body });
    expect(request.body.length).toBeGreaterThan(body.length);
    expect(verifySigV4(request, CREDENTIALS)).toEqual({ ok: true });
    const unhashed = await sign({ body, applyChecksum: false });
    expect(verifySigV4(unhashed, CREDENTIALS)).toEqual({ ok: true });
  });

  it('accepts header values with runs of spaces (trimmed and collapsed) and any region or service in the scope', async () => {
    const request = await sign({
      headers: { 'x-meshd-note': '  several   spaced\twords  ' },
      region: 'local',
      service: 'meshd',
    });
    expect(request.headers['authorization']).toContain('/local/meshd/aws4_request');
    expect(request.headers['authorization']).toContain('x-meshd-note');
    expect(verifySigV4(request, CREDENTIALS)).toEqual({ ok: true });
    expect(verifySigV4(withHeaders(request, { 'x-meshd-note': 'several spaced words' }), CREDENTIALS)).toEqual({
      ok: true,
    });
  });

  it('rejects a request signed with a different secret', async () => {
    const request = await sign({
      credentials: { accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey: 'not-the-secret' },
    });
    expect(verifySigV4(request, CREDENTIALS)).toEqual({
      ok: false,
      code: 'InvalidSignatureException',
      message: MISMATCH,
    });
  });

  it('rejects another access key id', async () => {
    const request = await sign({
      credentials: { accessKeyId: 'AKIDSOMEONEELSE', secretAccessKey: CREDENTIALS.secretAccessKey },
    });
    expect(verifySigV4(request, CREDENTIALS)).toEqual({
      ok: false,
      code: 'UnrecognizedClientException',
      message: 'The security token included in the request is invalid.',
    });
  });

  it('rejects a body changed after signing', async () => {
    const request = await sign({ body: '{"MaxResults":5}' });
    const changed = { ...request, body: Buffer.from('{"MaxResults":50}') };
    expect(verifySigV4(changed, CREDENTIALS)).toMatchObject({ ok: false, code: 'InvalidSignatureException' });
    // Also when the x-amz-content-sha256 header is updated to match the new body.
    const rehashed = withHeaders(changed, {
      'x-amz-content-sha256': createHash('sha256').update(changed.body).digest('hex'),
    });
    expect(verifySigV4(rehashed, CREDENTIALS)).toMatchObject({ ok: false, code: 'InvalidSignatureException' });
  });

  it('rejects an unsigned payload', async () => {
    const request = await sign({ headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
    expect(request.headers['authorization']).toContain('x-amz-content-sha256');
    expect(verifySigV4(request, CREDENTIALS)).toMatchObject({
      ok: false,
      code: 'InvalidSignatureException',
      message: expect.stringContaining('x-amz-content-sha256'),
    });
  });

  it('rejects a signed header changed after signing', async () => {
    const request = await sign();
    const changed = withHeaders(request, { 'x-amz-target': 'Route53AutoNaming_v20170314.DeleteNamespace' });
    expect(verifySigV4(changed, CREDENTIALS)).toEqual({
      ok: false,
      code: 'InvalidSignatureException',
      message: MISMATCH,
    });
    expect(verifySigV4(withHeaders(request, { host: '127.0.0.1:18002' }), CREDENTIALS)).toMatchObject({
      code: 'InvalidSignatureException',
    });
  });

  it('ignores headers that are not signed', async () => {
    const request = await sign({ headers: { 'user-agent': 'aws-sdk-js/3' } });
    expect(request.headers['authorization']).not.toContain('user-agent');
    expect(verifySigV4(withHeaders(request, { 'user-agent': 'curl/8' }), CREDENTIALS)).toEqual({ ok: true });
  });

  it('answers MissingAuthenticationTokenException without an Authorization header', async () => {
    const request = await sign();
    expect(verifySigV4(withHeaders(request, { authorization: undefined }), CREDENTIALS)).toEqual({
      ok: false,
      code: 'MissingAuthenticationTokenException',
      message: 'Missing Authentication Token',
    });
  });

  it('answers IncompleteSignatureException for a malformed Authorization header', async () => {
    const request = await sign();
    const authorization = request.headers['authorization'] as string;
    const cases: Array<[string, RegExp]> = [
      ['garbage', /AWS4-HMAC-SHA256 Credential=/],
      ['Bearer abc.def', /AWS4-HMAC-SHA256 Credential=/],
      ['AWS4-HMAC-SHA256', /requires 'Credential'.*requires 'SignedHeaders'.*requires 'Signature'/],
      [authorization.replace(/, Signature=[0-9a-f]+/, ''), /requires 'Signature' parameter/],
      [authorization.replace(/SignedHeaders=[^,]+, /, ''), /requires 'SignedHeaders' parameter/],
      [authorization.replace(/Credential=[^,]+, /, ''), /requires 'Credential' parameter/],
      [authorization.replace('/aws4_request', ''), /Credential should be of the form/],
      [authorization.replace('/aws4_request', '/aws5_request'), /terminator/],
      [authorization.replace('content-type;host;', 'content-type;'), /'Host' must be a 'SignedHeader'/],
    ];
    for (const [value, message] of cases) {
      const result = verifySigV4(withHeaders(request, { authorization: value }), CREDENTIALS);
      expect(result).toMatchObject({ ok: false, code: 'IncompleteSignatureException' });
      expect(result.ok ? '' : result.message).toMatch(message);
    }
  });

  it('answers IncompleteSignatureException when host is not signed (signer told not to)', async () => {
    const request = await sign({ unsignableHeaders: new Set(['host']) });
    expect(request.headers['authorization']).not.toMatch(/[=;]host[;,]/);
    expect(verifySigV4(request, CREDENTIALS)).toMatchObject({
      ok: false,
      code: 'IncompleteSignatureException',
      message: "'Host' must be a 'SignedHeader' in the AWS Authorization.",
    });
  });

  it('answers IncompleteSignatureException when X-Amz-Target is sent but not signed', async () => {
    const request = await sign({ unsignableHeaders: new Set(['x-amz-target']) });
    expect(verifySigV4(request, CREDENTIALS)).toMatchObject({
      ok: false,
      code: 'IncompleteSignatureException',
      message: expect.stringContaining('X-Amz-Target'),
    });
  });

  it('answers IncompleteSignatureException without x-amz-date or with a malformed one', async () => {
    const request = await sign();
    expect(verifySigV4(withHeaders(request, { 'x-amz-date': undefined }), CREDENTIALS)).toMatchObject({
      ok: false,
      code: 'IncompleteSignatureException',
      message: expect.stringContaining('X-Amz-Date'),
    });
    expect(verifySigV4(withHeaders(request, { 'x-amz-date': '2024-01-01T00:00:00Z' }), CREDENTIALS)).toMatchObject({
      ok: false,
      code: 'IncompleteSignatureException',
      message: expect.stringContaining('ISO-8601'),
    });
  });

  it('rejects a request signed 20 minutes ago, unless now is near the signing time', async () => {
    const signingDate = new Date(Date.now() - 20 * 60 * 1000);
    const request = await sign({ signingDate });
    const result = verifySigV4(request, CREDENTIALS);
    expect(result).toMatchObject({ ok: false, code: 'InvalidSignatureException' });
    expect(result.ok ? '' : result.message).toMatch(
      /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$/,
    );
    expect(verifySigV4(request, CREDENTIALS, new Date(signingDate.getTime() + 60 * 1000))).toEqual({ ok: true });
    expect(verifySigV4(request, CREDENTIALS, new Date(signingDate.getTime() + 14 * 60 * 1000))).toEqual({ ok: true });
    expect(verifySigV4(request, CREDENTIALS, new Date(signingDate.getTime() - 14 * 60 * 1000))).toEqual({ ok: true });
  });

  it('gives the exact AWS wording for expired and not-yet-current signatures', async () => {
    const signingDate = new Date('2024-03-01T12:00:00Z');
    const request = await sign({ signingDate });
    expect(verifySigV4(request, CREDENTIALS, new Date('2024-03-01T12:30:00Z'))).toEqual({
      ok: false,
      code: 'InvalidSignatureException',
      message: 'Signature expired: 20240301T120000Z is now earlier than 20240301T121500Z (20240301T123000Z - 15 min.)',
    });
    expect(verifySigV4(request, CREDENTIALS, new Date('2024-03-01T11:40:00Z'))).toEqual({
      ok: false,
      code: 'InvalidSignatureException',
      message:
        'Signature not yet current: 20240301T120000Z is still later than 20240301T115500Z (20240301T114000Z + 15 min.)',
    });
  });

  it('rejects a credential scope whose date is not the x-amz-date day', async () => {
    const request = await sign({ signingDate: new Date('2024-03-01T23:59:00Z') });
    const moved = withHeaders(request, { 'x-amz-date': '20240302T000100Z' });
    expect(verifySigV4(moved, CREDENTIALS, new Date('2024-03-02T00:00:00Z'))).toMatchObject({
      ok: false,
      code: 'InvalidSignatureException',
      message: expect.stringContaining('Date in Credential scope does not match'),
    });
  });

  it('with a service named, rejects a scope of another service, with right keys or wrong ones', async () => {
    const forCloudMap = await sign();
    expect(verifySigV4(forCloudMap, CREDENTIALS, new Date(), { service: 'servicediscovery' })).toEqual({ ok: true });
    expect(verifySigV4(forCloudMap, CREDENTIALS, new Date(), { service: 'appmesh' })).toEqual({
      ok: false,
      code: 'InvalidSignatureException',
      message: "Credential should be scoped to correct service: 'appmesh' (got 'servicediscovery').",
    });
    expect(verifySigV4(await sign({ service: 'appmesh' }), CREDENTIALS, new Date(), { service: 'appmesh' })).toEqual({
      ok: true,
    });
    // An unknown key is told so first, whatever its scope.
    const other = await sign({ credentials: { accessKeyId: 'AKIDOTHER', secretAccessKey: 'x' } });
    expect(verifySigV4(other, CREDENTIALS, new Date(), { service: 'appmesh' })).toMatchObject({
      code: 'UnrecognizedClientException',
    });
  });

  it('rejects a signature that is not 64 hex digits without throwing', async () => {
    const request = await sign();
    const authorization = request.headers['authorization'] as string;
    for (const signature of ['abc', 'z'.repeat(64), `${'0'.repeat(64)}00`]) {
      const value = authorization.replace(/Signature=[0-9a-f]+/, `Signature=${signature}`);
      expect(verifySigV4(withHeaders(request, { authorization: value }), CREDENTIALS)).toEqual({
        ok: false,
        code: 'InvalidSignatureException',
        message: MISMATCH,
      });
    }
  });
});

describe('verifySigV4 with header names that are Object.prototype members', () => {
  const names = Object.getOwnPropertyNames(Object.prototype).map((n) => n.toLowerCase());

  it.each(names)(
    "SignedHeaders naming '%s', absent from the request: IncompleteSignatureException, no throw",
    async (name) => {
      const request = await sign();
      const authorization = (request.headers['authorization'] as string).replace(
        /SignedHeaders=([^,]+)/,
        (_m, list: string) => `SignedHeaders=${list};${name}`,
      );
      expect(verifySigV4(withHeaders(request, { authorization }), CREDENTIALS)).toEqual({
        ok: false,
        code: 'IncompleteSignatureException',
        message: `Signed header '${name}' is missing from the request.`,
      });
      // Node's IncomingMessage.headers may be a plain object or a null-prototype one: both are read the same way.
      const bare = Object.assign(Object.create(null) as Record<string, string>, request.headers, { authorization });
      expect(verifySigV4({ ...request, headers: bare }, CREDENTIALS)).toMatchObject({
        ok: false,
        code: 'IncompleteSignatureException',
      });
    },
  );

  it('a header really named that way is signed and checked like any other', async () => {
    // (Not __proto__: sign() copies headers into a plain object, where that key cannot be set.)
    for (const name of ['constructor', 'tostring', 'valueof']) {
      const request = await sign({ headers: { [name]: 'x' } });
      expect(request.headers['authorization']).toContain(name);
      expect({ name, verdict: verifySigV4(request, CREDENTIALS) }).toEqual({ name, verdict: { ok: true } });
      expect(verifySigV4(withHeaders(request, { [name]: 'y' }), CREDENTIALS)).toMatchObject({
        ok: false,
        code: 'InvalidSignatureException',
      });
    }
  });

  it('a failure inside the check is a refusal, never a throw', () => {
    const hostile = new Proxy({} as Record<string, string>, {
      ownKeys: () => {
        throw new Error('boom');
      },
    });
    expect(verifySigV4({ method: 'POST', path: '/', headers: hostile, body: Buffer.alloc(0) }, CREDENTIALS)).toEqual({
      ok: false,
      code: 'IncompleteSignatureException',
      message: 'The request signature could not be checked: boom',
    });
  });
});

describe('parseCredentials', () => {
  it('splits KEYID:SECRET', () => {
    expect(parseCredentials('AKIDMESHDLOCAL:wJalrXUtnFEMI/K7MDENG+bPxRfiCY')).toEqual({
      accessKeyId: 'AKIDMESHDLOCAL',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCY',
    });
  });

  it.each([[''], ['AKID'], [':secret'], ['AKID:'], [':'], ['AKID:sec:ret'], ['AK ID:secret']])('rejects %j', (text) => {
    const result = parseCredentials(text);
    expect(result).toHaveProperty('error');
    expect((result as { error: string }).error).toContain('expected ACCESS_KEY_ID:SECRET_ACCESS_KEY');
  });
});

describe('verifySigV4 behind an HTTP server, called by the real ServiceDiscoveryClient', () => {
  let server: http.Server;
  let port: number;
  const seen: Array<http.IncomingHttpHeaders> = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        seen.push(req.headers);
        const result = verifySigV4(
          { method: req.method ?? '', path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks) },
          CREDENTIALS,
        );
        const payload = result.ok ? {} : { __type: result.code, message: result.message };
        res.writeHead(result.ok ? 200 : 400, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(payload));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  });

  function client(credentials: Credentials): ServiceDiscoveryClient {
    return new ServiceDiscoveryClient({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
      maxAttempts: 1,
    });
  }

  it('lets the right credentials through', async () => {
    const sdk = client(CREDENTIALS);
    try {
      await expect(sdk.send(new ListNamespacesCommand({}))).resolves.toBeDefined();
    } finally {
      sdk.destroy();
    }
    const headers = seen[seen.length - 1] as http.IncomingHttpHeaders;
    expect(headers.host).toBe(`127.0.0.1:${port}`);
    expect(headers['authorization']).toMatch(/SignedHeaders=[^,]*host/);
    expect(headers['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rejects a wrong secret with InvalidSignatureException', async () => {
    const sdk = client({ accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey: 'wrong-secret' });
    try {
      await expect(sdk.send(new ListNamespacesCommand({}))).rejects.toMatchObject({
        name: 'InvalidSignatureException',
        message: MISMATCH,
      });
    } finally {
      sdk.destroy();
    }
  });

  it('rejects another key id with UnrecognizedClientException', async () => {
    const sdk = client({ accessKeyId: 'AKIDSOMEONEELSE', secretAccessKey: CREDENTIALS.secretAccessKey });
    try {
      await expect(sdk.send(new ListNamespacesCommand({}))).rejects.toMatchObject({
        name: 'UnrecognizedClientException',
      });
    } finally {
      sdk.destroy();
    }
  });
});
