// The admin HTTP API (DESIGN.md "Admin API"): liveness and readiness, connected proxies and
// their sync state, the configuration any node id would get, Prometheus metrics, and (when
// serve provides them) the local Cloud Map and per-virtual-node traffic.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { CONTENT_TYPE as AWS_JSON, type ApiAnswer } from '../discovery/cloud-map/api';
import { MAX_BODY_BYTES, type RawRequest } from '../discovery/cloud-map/http';
import type { StreamRegistry } from '../xds/stream-status';
import { syncState } from '../xds/stream-status';
import { shortTypeName } from '../xds/type-urls';

export interface AdminSources {
  readonly streams: StreamRegistry;
  /** The rendered config of a node id, or an error message (node unknown, no valid mesh yet). */
  configOf(nodeId: string): { ok: true; config: unknown } | { ok: false; error: string };
  /** Ready to serve proxies: a valid mesh is loaded. Otherwise the reason. */
  readiness(): { ready: true } | { ready: false; reason: string };
  /** Prometheus text exposition. */
  metrics(): string;
  /** The local Cloud Map: AWS's JSON protocol at `POST /`, and the registry's contents for `GET /v1/cloud-map`. */
  readonly cloudMap?: { answer(request: RawRequest): ApiAnswer; contents(): unknown };
  /** Per-virtual-node traffic from the sidecars' DogStatsD stats, over `?window=` (null: the default); or why the window is refused. */
  readonly telemetry?: { report(window: string | null): { ok: true; body: unknown } | { ok: false; error: string } };
  /** Canary rollouts under /v1/rollouts (GET and POST; src/rollout/http.ts). */
  readonly rollouts?: { answer(method: string, path: string, body: string): Promise<{ status: number; body: unknown }> };
}

export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

export function proxiesReport(streams: StreamRegistry): unknown[] {
  return streams.list().map((s) => ({
    nodeId: s.nodeId,
    cluster: s.nodeCluster,
    stream: s.streamId,
    protocol: s.protocol,
    client: s.client,
    peer: s.peer,
    connectedAt: s.connectedAt,
    types: Object.fromEntries(
      [...s.types].map(([typeUrl, t]) => [
        shortTypeName(typeUrl),
        { state: syncState(t), targetVersion: t.targetVersion ?? null, sentVersion: t.sentVersion ?? null, ackedVersion: t.ackedVersion ?? null, lastNack: t.lastNack ?? null },
      ]),
    ),
  }));
}

const TOO_LARGE = `the request body is larger than ${MAX_BODY_BYTES} bytes`;

/** Reads the whole body, up to MAX_BODY_BYTES; `onBody` gets undefined when it was larger. */
function readBody(req: http.IncomingMessage, onBody: (body: Buffer | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  });
  req.on('end', () => onBody(size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks)));
}

/** Reads the body, then answers in AWS's JSON protocol. */
function answerCloudMap(req: http.IncomingMessage, res: http.ServerResponse, answer: (request: RawRequest) => ApiAnswer): void {
  const reply = ({ status, body }: ApiAnswer) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': AWS_JSON, 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': crypto.randomUUID() });
    res.end(text);
  };
  readBody(req, (body) => {
    if (!body) return reply({ status: 413, body: { __type: 'SerializationException', Message: TOO_LARGE } });
    reply(answer({ method: req.method ?? 'POST', path: req.url ?? '/', headers: req.headers, body }));
  });
}

/** Reads the body, then lets the rollout controller answer. */
function answerRollouts(
  req: http.IncomingMessage,
  pathName: string,
  rollouts: NonNullable<AdminSources['rollouts']>,
  send: (status: number, body: unknown) => void,
): void {
  readBody(req, (body) => {
    if (!body) return send(413, { error: TOO_LARGE });
    rollouts.answer(req.method ?? 'GET', pathName, body.toString('utf8')).then(
      (answer) => send(answer.status, answer.body),
      (err: Error) => send(500, { error: `internal error: ${err.message}` }),
    );
  });
}

export async function startAdminServer(host: string, port: number, sources: AdminSources): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown, contentType = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json') => {
      res.writeHead(status, { 'content-type': contentType });
      res.end(typeof body === 'string' ? body : `${JSON.stringify(body, null, 2)}\n`);
    };
    const url = new URL(req.url ?? '/', 'http://admin');
    if (req.method === 'POST' && url.pathname === '/' && sources.cloudMap) return answerCloudMap(req, res, sources.cloudMap.answer);
    if ((url.pathname === '/v1/rollouts' || url.pathname.startsWith('/v1/rollouts/')) && sources.rollouts) return answerRollouts(req, url.pathname, sources.rollouts, send);
    if (req.method !== 'GET') return send(405, sources.cloudMap ? 'only GET is supported, and POST / for the Cloud Map API\n' : 'only GET is supported\n');
    if (url.pathname === '/healthz') return send(200, 'ok\n');
    if (url.pathname === '/readyz') {
      const r = sources.readiness();
      return r.ready ? send(200, 'ready\n') : send(503, `not ready: ${r.reason}\n`);
    }
    if (url.pathname === '/metrics') return send(200, sources.metrics(), 'text/plain; version=0.0.4; charset=utf-8');
    if (url.pathname === '/v1/proxies') return send(200, proxiesReport(sources.streams));
    if (url.pathname === '/v1/cloud-map' && sources.cloudMap) return send(200, sources.cloudMap.contents());
    if (url.pathname === '/v1/telemetry' && sources.telemetry) {
      const result = sources.telemetry.report(url.searchParams.get('window'));
      return result.ok ? send(200, result.body) : send(400, { error: result.error });
    }
    if (url.pathname.startsWith('/v1/config/')) {
      const nodeId = decodeURIComponent(url.pathname.slice('/v1/config/'.length));
      const result = sources.configOf(nodeId);
      return result.ok ? send(200, result.config) : send(404, { error: result.error });
    }
    const optional = [...(sources.cloudMap ? ['/v1/cloud-map'] : []), ...(sources.telemetry ? ['/v1/telemetry'] : []), ...(sources.rollouts ? ['/v1/rollouts'] : [])];
    return send(404, { error: `no such endpoint: ${url.pathname}; try ${['/healthz', '/readyz', '/metrics', '/v1/proxies', '/v1/config/<node-id>', ...optional].join(', ')}` });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(err.code === 'EADDRINUSE' ? `admin address ${host}:${port} is already in use (another meshd?); pick another with --admin-port` : `cannot listen on ${host}:${port}: ${err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
