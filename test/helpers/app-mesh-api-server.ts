// The App Mesh API handler (src/api/handler.ts) on a loopback HTTP server, with the in-memory
// store, for unit tests that drive it with the real @aws-sdk/client-app-mesh or raw requests.
// The body is read as the admin server reads it (bounded, 413 past the limit).
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppMeshClient } from '@aws-sdk/client-app-mesh';
import { readBody } from '../../src/admin/http-guard';
import { appMeshApi, MAX_API_BODY_BYTES, type AppMeshApiOptions } from '../../src/api/handler';
import type { ResourceStore } from '../../src/store/types';
import { MemoryStore } from './memory-store';

// The SDK plays a user's client; its notice that its versions from 2027 on need Node 22 is not about meshd.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export const ACCOUNT = { accountId: '123456789012', region: 'us-east-1' };

export interface ApiServer<S extends ResourceStore = MemoryStore> {
  readonly url: string;
  readonly store: S;
  readonly client: AppMeshClient;
  /** A raw request; the answer's status, headers and parsed JSON body. */
  request(
    method: string,
    target: string,
    body?: string | Buffer,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

export async function startApiServer<S extends ResourceStore = MemoryStore>(
  options: Partial<AppMeshApiOptions> = {},
  store: S = new MemoryStore() as unknown as S,
): Promise<ApiServer<S>> {
  const failures: Error[] = [];
  const handler = appMeshApi(store, { account: ACCOUNT, onFailure: (e) => failures.push(e), ...options });
  const server = http.createServer((req, res) => {
    void (async () => {
      const read = await readBody(req, MAX_API_BODY_BYTES);
      if (!read.ok) {
        if (read.why === 'aborted') return;
        const answer = await handler({
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          headers: req.headers,
          body: Buffer.alloc(MAX_API_BODY_BYTES + 1),
        });
        res.writeHead(answer.status, { ...answer.headers, connection: 'close' });
        return res.end(answer.body);
      }
      const answer = await handler({
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: req.headers,
        body: read.body,
      });
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const client = new AppMeshClient({
    endpoint: url,
    region: ACCOUNT.region,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'dummy' },
    maxAttempts: 1,
  });
  return {
    url,
    store,
    client,
    // node:http with the path as given: fetch, or a URL string, would normalise it ('..' segments) before sending it.
    request(method, target, body, headers = {}) {
      return new Promise((resolve, reject) => {
        const req = http.request(
          // path given apart: a URL string would be normalised too
          {
            host: '127.0.0.1',
            port,
            path: target,
            method,
            headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : {} });
            });
          },
        );
        // The server may answer (413) and close before the whole body is sent.
        req.on('error', reject);
        req.end(body);
      });
    },
    async close() {
      client.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (failures.length > 0)
        throw new Error(`the handler failed unexpectedly: ${failures.map((e) => e.stack).join('\n')}`);
    },
  };
}
