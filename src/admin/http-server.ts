// The admin HTTP API (DESIGN.md "Admin API"): liveness and readiness, connected proxies and
// their sync state, the configuration any node id would get, Prometheus metrics, and (when
// serve provides them) the local Cloud Map, App Mesh's API and per-virtual-node traffic.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { CONTENT_TYPE as AWS_JSON, type ApiAnswer } from '../discovery/cloud-map/api';
import { awsErrorAnswer, MAX_AWS_BODY_BYTES, type AwsAnswer, type RawRequest } from '../util/aws-http';
import type { StreamRegistry } from '../xds/stream-status';
import { syncState } from '../xds/stream-status';
import { shortTypeName } from '../xds/type-urls';
import { isLoopbackAddress } from '../util/loopback';
import { canonicalNodeId } from '../model/node-id';
import type { MeshModel, Resource } from '../model/mesh-model';
import { adminWriteAuth, checkAdminWrite, type AdminWriteAuth } from './admin-auth';
import { DEFAULT_CONSOLE_DIR, serveConsole } from './console-static';
import { EventHub, type EventHubTimings } from './event-stream';
import { PROMETHEUS_CONTENT_TYPE } from './metrics';
import { envoyNodeIdOf, meshGraph, sourceText, type MeshGraph, type Origin } from './mesh-graph';
import {
  applyLimits,
  DEFAULT_HTTP_LIMITS,
  guardHandler,
  readBody,
  type HttpLimits,
  type HttpObserver,
  type RefusalReason,
} from './http-guard';

export interface AdminSources {
  readonly streams: StreamRegistry;
  /**
   * Why a node key's proxies get no configuration (or not the
   * latest), if something is wrong: the snapshot cache's notes.
   */
  readonly proxyProblems?: ProxyProblems;
  /** The rendered config of a node id, or an error message (node unknown, no valid mesh yet). */
  configOf(nodeId: string): { ok: true; config: unknown } | { ok: false; error: string };
  /** Ready to serve proxies: a valid mesh is loaded. Otherwise the reason. */
  readiness(): { ready: true } | { ready: false; reason: string };
  /** The /metrics body: Prometheus text exposition (0.0.4). */
  metrics(): string | Promise<string>;
  /** The local Cloud Map: AWS's JSON protocol at `POST /`, and the registry's contents for `GET /v1/cloud-map`. */
  readonly cloudMap?: {
    /** Synchronous with the file store; a fleet's store answers a write once it is committed. */
    answer(request: RawRequest): ApiAnswer | Promise<ApiAnswer>;
    contents(): unknown;
    /** The remote Cloud Map's polls, per service, for `GET /v1/cloud-map/remote` (`{ mode: 'local' }` without one). */
    remote?(): unknown;
  };
  /**
   * Per-virtual-node traffic from the sidecars' DogStatsD stats, over
   * `?window=` (null: the default); or why the window is refused.
   */
  readonly telemetry?: { report(window: string | null): { ok: true; body: unknown } | { ok: false; error: string } };
  /**
   * App Mesh's API (restJson, 2019-01-25): every request under `/v20190125/`, whatever its method, its body read up to
   * MAX_AWS_BODY_BYTES. `answer` checks the signature and answers; it should not throw (a throw answers 500).
   */
  readonly appMesh?: {
    answer(request: RawRequest): Promise<AwsAnswer>;
    /** A request the admin server refused before `answer` saw it, or whose `answer` threw; for /metrics. */
    refused?(reason: AppMeshRefusal): void;
  };
  /** A fleet's replicas (`--store`): GET /v1/replicas. */
  readonly replicas?: { report(): Promise<unknown> };
  /** The content hash of the mesh served, shown with each proxy (replicas of a fleet compare it). */
  readonly meshHash?: () => string | undefined;
  /** Canary rollouts under /v1/rollouts (GET and POST; src/rollout/http.ts). */
  readonly rollouts?: BodyAnswerer;
  /** Join tokens and the CA, /v1/tokens and /v1/ca (control/mesh-identity.ts); writes guarded as rollouts' are. */
  readonly identity?: BodyAnswerer;
  /** The web console's reads: GET /v1/mesh, /v1/mesh/resources/<id>, /v1/problems and /v1/events. */
  readonly console?: ConsoleSources;
}

/** What the console's endpoints read (docs/api.md "The web console's endpoints"). */
export interface ConsoleSources {
  /** The mesh served (undefined before a valid one) and how many meshes have been served. */
  served(): { generation: number; model: MeshModel | undefined };
  /**
   * Where a resource's file comes from: a Kubernetes object's virtual file, a file the App Mesh API writes, or a
   * file of the user's (the control layer knows both: admin imports neither k8s/ nor store/).
   */
  originOf(file: string): Origin;
  /** The resource as meshd's native YAML. */
  yamlOf(resource: Resource): string;
  /** GET /v1/problems: the last load's findings. */
  problems(): { readonly generation: number };
  /** The proxies (their streams' node keys) whose configuration read the resource when it was last compiled. */
  readersOf(resource: Resource): ReadonlySet<string>;
  /** Calls `listener` on each new mesh served, each load ended, and each change of a rollout. */
  onChange(listener: (event: 'mesh' | 'problems' | 'rollouts', generation: number) => void): void;
}

/** A part of meshd's own API that answers a method, a path and the request's body. */
export interface BodyAnswerer {
  answer(method: string, path: string, body: string): Promise<{ status: number; body: unknown; contentType?: string }>;
}

export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

export interface ProxyProblems {
  problem(nodeKey: string): string | undefined;
}

/**
 * GET /v1/proxies: one entry per open stream; `configProblem` (null
 * when none) says why the proxy gets no current configuration.
 */
export function proxiesReport(streams: StreamRegistry, problems?: ProxyProblems, meshHash?: string): unknown[] {
  return streams.list().map((s) => ({
    nodeId: s.nodeId,
    cluster: s.nodeCluster,
    stream: s.streamId,
    protocol: s.protocol,
    client: s.client,
    peer: s.peer,
    connectedAt: s.connectedAt,
    // What it proved itself with on an authenticated channel (--xds-tls): a join token's id or a certificate's serial.
    ...(s.credential !== undefined ? { credential: s.credential } : {}),
    types: Object.fromEntries(
      [...s.types].map(([typeUrl, t]) => [
        shortTypeName(typeUrl),
        {
          state: syncState(t),
          targetVersion: t.targetVersion ?? null,
          sentVersion: t.sentVersion ?? null,
          ackedVersion: t.ackedVersion ?? null,
          lastNack: t.lastNack ?? null,
        },
      ]),
    ),
    configProblem: problems?.problem(s.nodeKey) ?? null,
    ...(meshHash !== undefined ? { meshHash } : {}),
  }));
}

/** Why the admin server itself refused an App Mesh API request (the handler counts its own refusals). */
export type AppMeshRefusal = 'body_too_large' | 'internal_error';

/** The App Mesh API's paths: its version, as in `/v20190125/meshes`. */
export const APP_MESH_API_PREFIX = '/v20190125/';

const MAX_BODY_BYTES = MAX_AWS_BODY_BYTES;
const TOO_LARGE = `the request body is larger than ${MAX_BODY_BYTES} bytes`;

export interface AdminServerOptions {
  readonly limits?: HttpLimits;
  readonly observer?: HttpObserver;
  /**
   * Who may make meshd's own writes (the non-GET /v1/* routes). Default: no token, open to local callers when the
   * admin host is loopback and closed otherwise.
   */
  readonly writeAuth?: AdminWriteAuth;
  /** The web console's built files (default: dist/console beside the compiled admin module). */
  readonly consoleDir?: string;
  /** /v1/events' periods and bounds (tests shorten them). */
  readonly events?: EventHubTimings;
}

/**
 * The guard of every admin write: true when `req` may go on; otherwise it has answered the refusal (401 with
 * `WWW-Authenticate: Bearer`, or 403; a JSON `{"error": ...}` body) and counted it. A new route that changes state
 * calls it first: `if (!guardAdminWrite(req, res, auth, refused)) return;` (reads stay unguarded).
 */
export function guardAdminWrite(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  auth: AdminWriteAuth,
  refused: (reason: RefusalReason) => void,
): boolean {
  const verdict = checkAdminWrite(req, auth);
  if (verdict.ok) return true;
  refused(verdict.reason);
  const text = `${JSON.stringify({ error: verdict.error }, null, 2)}\n`;
  // The body is left unread: the connection cannot carry another request.
  res.writeHead(verdict.status, {
    ...verdict.headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    connection: 'close',
  });
  res.end(text);
  return false;
}

type Send = (status: number, body: unknown, contentType?: string) => void;

/** Reads the body, then answers in AWS's JSON protocol. */
async function answerCloudMap(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  answer: (request: RawRequest) => ApiAnswer | Promise<ApiAnswer>,
  refused: (reason: RefusalReason) => void,
): Promise<void> {
  const reply = ({ status, body }: ApiAnswer, close = false) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': AWS_JSON,
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': crypto.randomUUID(),
      ...(close ? { connection: 'close' } : {}),
    });
    res.end(text);
  };
  const read = await readBody(req, MAX_BODY_BYTES);
  if (!read.ok) {
    if (read.why === 'aborted') return;
    refused('body_too_large');
    return reply({ status: 413, body: { __type: 'SerializationException', Message: TOO_LARGE } }, true);
  }
  reply(await answer({ method: req.method ?? 'POST', path: req.url ?? '/', headers: req.headers, body: read.body }));
}

/**
 * Reads the body (a declared or actual size over the bound answers 413 without reading the rest), then lets App Mesh's
 * API answer. A throw of the handler is logged and answered 500 in the API's shape; the process carries on.
 */
async function answerAppMesh(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  appMesh: NonNullable<AdminSources['appMesh']>,
  observer: HttpObserver,
): Promise<void> {
  const reply = (answer: AwsAnswer, close = false) => {
    res.writeHead(answer.status, {
      ...answer.headers,
      'content-length': Buffer.byteLength(answer.body),
      ...(answer.headers['x-amzn-requestid'] === undefined ? { 'x-amzn-requestid': crypto.randomUUID() } : {}),
      ...(close ? { connection: 'close' } : {}),
    });
    res.end(answer.body);
  };
  const refuse = (reason: AppMeshRefusal) => {
    try {
      appMesh.refused?.(reason);
    } catch {
      // Counting must not fail the answer.
    }
  };
  const declared = Number(req.headers['content-length']);
  const read =
    declared > MAX_BODY_BYTES ? ({ ok: false, why: 'too_large' } as const) : await readBody(req, MAX_BODY_BYTES);
  if (!read.ok) {
    if (read.why === 'aborted') return;
    observer.refused?.('admin', 'body_too_large');
    refuse('body_too_large');
    return reply(awsErrorAnswer(413, 'BadRequestException', TOO_LARGE), true);
  }
  let answer: AwsAnswer;
  try {
    answer = await appMesh.answer({
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      body: read.body,
    });
  } catch (thrown) {
    const err = thrown instanceof Error ? thrown : new Error(String(thrown));
    try {
      observer.handlerError?.('admin', err);
    } catch {
      // Reporting the failure must not fail the answer.
    }
    refuse('internal_error');
    answer = awsErrorAnswer(
      500,
      'InternalServerErrorException',
      'internal error: the request could not be answered; meshd logged the cause',
    );
  }
  reply(answer);
}

/** Reads the body, then lets the rollout controller or the identity answer. */
async function answerWithBody(
  req: http.IncomingMessage,
  pathName: string,
  source: BodyAnswerer,
  send: Send,
  refused: (reason: RefusalReason) => void,
): Promise<void> {
  const read = await readBody(req, MAX_BODY_BYTES);
  if (!read.ok) {
    if (read.why === 'aborted') return;
    refused('body_too_large');
    return send(413, { error: TOO_LARGE });
  }
  const answer = await source.answer(req.method ?? 'GET', pathName, read.body.toString('utf8'));
  send(answer.status, answer.body, ...(answer.contentType ? [answer.contentType] : []));
}

/** The request target's path, or undefined when it is not a path meshd could have served (`new URL` refuses it). */
function pathOf(target: string): string | undefined {
  if (!target.startsWith('/')) return undefined;
  try {
    // Appended to an origin, a target starting `//` stays a path (as a base-relative URL it would name a host).
    return new URL(`http://admin${target}`).pathname;
  } catch {
    return undefined;
  }
}

/** A percent-encoded path segment, decoded; undefined when the encoding is malformed. */
function decodeSegment(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** The event hub of /v1/events, fed by the console's changes; it polls the proxies only while someone listens. */
function eventHub(sources: AdminSources, consoleSources: ConsoleSources, timings?: EventHubTimings): EventHub {
  const telemetry = sources.telemetry;
  const hub = new EventHub(
    {
      hello: () => ({
        mesh: consoleSources.served().generation,
        problems: consoleSources.problems().generation,
        fleet: sources.replicas !== undefined,
      }),
      ...(telemetry
        ? {
            telemetry: () => {
              const r = telemetry.report('10s');
              return r.ok ? r.body : undefined;
            },
          }
        : {}),
      proxiesFingerprint: () => proxiesFingerprint(sources.streams, sources.proxyProblems),
    },
    timings,
  );
  consoleSources.onChange((event, generation) =>
    event === 'rollouts' ? hub.changed('rollouts') : hub.publish(event, generation),
  );
  return hub;
}

/**
 * The open streams, each type's sync state and each stream's configProblem, as one string: it changes when
 * /v1/proxies' states do, and when a reload only changes why a proxy gets no configuration.
 */
export function proxiesFingerprint(streams: StreamRegistry, problems?: ProxyProblems): string {
  const parts: string[] = [];
  for (const s of streams.list()) {
    parts.push(`${s.streamId}:${JSON.stringify(problems?.problem(s.nodeKey) ?? null)}`);
    for (const [typeUrl, t] of s.types) parts.push(`${typeUrl}=${syncState(t)}:${t.lastNack?.at ?? ''}`);
  }
  return parts.join(' ');
}

/**
 * GET /v1/mesh/resources/<id>: the resource, its YAML, its Envoy configuration (virtual nodes and gateways) and the
 * proxies serving it: a node's or gateway's own; for any other kind the proxies whose configuration read it when it
 * was last compiled (the controller records who read what).
 */
function resourceDetails(sources: AdminSources, consoleSources: ConsoleSources, r: Resource, id: string): unknown {
  const nodeId = envoyNodeIdOf(r);
  const report = proxiesReport(sources.streams, sources.proxyProblems, sources.meshHash?.());
  if (nodeId === undefined) {
    // proxiesReport lists the streams in the registry's order (read synchronously, just above).
    const streams = sources.streams.list();
    const readers = consoleSources.readersOf(r);
    const proxies = report.filter((_, i) => streams[i] !== undefined && readers.has(streams[i].nodeKey));
    return details(consoleSources, r, id, null, proxies);
  }
  const proxies = (report as { nodeId: string }[]).filter((p) => canonicalNodeId(p.nodeId) === nodeId);
  const config = sources.configOf(nodeId);
  return details(consoleSources, r, id, config.ok ? config.config : null, proxies);
}

function details(consoleSources: ConsoleSources, r: Resource, id: string, envoy: unknown, proxies: unknown[]): unknown {
  return {
    id,
    kind: r.kind,
    mesh: r.mesh,
    name: r.name,
    source: sourceText(r),
    origin: consoleSources.originOf(r.source.file),
    yaml: consoleSources.yamlOf(r),
    envoy,
    proxies,
  };
}

export async function startAdminServer(
  host: string,
  port: number,
  sources: AdminSources,
  options: AdminServerOptions = {},
): Promise<AdminServer> {
  const observer = options.observer ?? {};
  const refused = (reason: RefusalReason) => observer.refused?.('admin', reason);
  const writeAuth = options.writeAuth ?? adminWriteAuth(undefined, isLoopbackAddress(host));
  const consoleDir = options.consoleDir ?? DEFAULT_CONSOLE_DIR;
  const consoleSources = sources.console;
  const hub = consoleSources ? eventHub(sources, consoleSources, options.events) : undefined;
  const graphs = new WeakMap<MeshModel, MeshGraph>();
  const graphOf = (model: MeshModel) => {
    let graph = graphs.get(model);
    if (!graph) graphs.set(model, (graph = meshGraph(model, (file) => consoleSources!.originOf(file))));
    return graph;
  };
  const handler = guardHandler('admin', observer, (req, res) => {
    const send: Send = (
      status,
      body,
      contentType = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    ) => {
      // A 413 leaves the rest of the body unread: the connection cannot carry another request.
      res.writeHead(status, { 'content-type': contentType, ...(status === 413 ? { connection: 'close' } : {}) });
      res.end(typeof body === 'string' ? body : `${JSON.stringify(body, null, 2)}\n`);
    };
    const pathName = pathOf(req.url ?? '/');
    if (pathName === undefined) {
      refused('bad_request');
      return send(400, { error: 'malformed request target: expected a path such as /v1/proxies' });
    }
    if (pathName.startsWith(APP_MESH_API_PREFIX) && sources.appMesh)
      return answerAppMesh(req, res, sources.appMesh, observer);
    if (req.method === 'POST' && pathName === '/' && sources.cloudMap)
      return answerCloudMap(req, res, sources.cloudMap.answer, refused);
    if ((pathName === '/v1/rollouts' || pathName.startsWith('/v1/rollouts/')) && sources.rollouts) {
      // Every method but GET (and HEAD) may change a rollout; the router answers the others 405 only after this.
      if (req.method !== 'GET' && req.method !== 'HEAD' && !guardAdminWrite(req, res, writeAuth, refused)) return;
      return answerWithBody(req, pathName, sources.rollouts, send, refused);
    }
    const identityPath =
      pathName === '/v1/tokens' ||
      pathName.startsWith('/v1/tokens/') ||
      pathName === '/v1/ca' ||
      pathName.startsWith('/v1/ca/');
    if (identityPath && sources.identity) {
      if (req.method !== 'GET' && req.method !== 'HEAD' && !guardAdminWrite(req, res, writeAuth, refused)) return;
      return answerWithBody(req, pathName, sources.identity, send, refused);
    }
    if (req.method !== 'GET')
      return send(
        405,
        sources.cloudMap ? 'only GET is supported, and POST / for the Cloud Map API\n' : 'only GET is supported\n',
      );
    if (pathName === '/ui' || pathName.startsWith('/ui/')) return serveConsole(consoleDir, pathName, res);
    if (consoleSources && hub) {
      if (pathName === '/v1/events') return hub.open(req, res);
      if (pathName === '/v1/problems') return send(200, consoleSources.problems());
      if (pathName === '/v1/mesh') {
        const { generation, model } = consoleSources.served();
        const graph = model ? graphOf(model) : { nodes: [], edges: [] };
        return send(200, { generation, meshHash: sources.meshHash?.() ?? null, ...graph });
      }
      if (pathName.startsWith('/v1/mesh/resources/')) {
        const segments = pathName.slice('/v1/mesh/resources/'.length).split('/').map(decodeSegment);
        if (segments.some((s) => s === undefined)) {
          refused('bad_request');
          return send(400, {
            error: 'malformed percent-encoding in the resource id: each % must start a %XX escape of UTF-8 bytes',
          });
        }
        const id = segments.join('/');
        const { model } = consoleSources.served();
        const resource = model?.resourceAt(id);
        if (!model || !resource)
          return send(404, {
            error: model ? `no resource ${JSON.stringify(id)} in the mesh served` : 'no valid mesh loaded yet',
          });
        return send(200, resourceDetails(sources, consoleSources, resource, id));
      }
    }
    if (pathName === '/healthz') return send(200, 'ok\n');
    if (pathName === '/readyz') {
      const r = sources.readiness();
      return r.ready ? send(200, 'ready\n') : send(503, `not ready: ${r.reason}\n`);
    }
    if (pathName === '/metrics')
      return Promise.resolve(sources.metrics()).then((body) => send(200, body, PROMETHEUS_CONTENT_TYPE));
    if (pathName === '/v1/proxies')
      return send(200, proxiesReport(sources.streams, sources.proxyProblems, sources.meshHash?.()));
    if (pathName === '/v1/replicas' && sources.replicas)
      return sources.replicas.report().then(
        (report) => send(200, report),
        (err: unknown) =>
          send(503, { error: `the store cannot be read: ${err instanceof Error ? err.message : String(err)}` }),
      );
    if (pathName === '/v1/cloud-map' && sources.cloudMap) return send(200, sources.cloudMap.contents());
    if (pathName === '/v1/cloud-map/remote' && sources.cloudMap)
      return send(200, sources.cloudMap.remote?.() ?? { mode: 'local' });
    const query = new URL(`http://admin${req.url ?? '/'}`).searchParams;
    if (pathName === '/v1/telemetry' && sources.telemetry) {
      const result = sources.telemetry.report(query.get('window'));
      return result.ok ? send(200, result.body) : send(400, { error: result.error });
    }
    if (pathName.startsWith('/v1/config/')) {
      const nodeId = decodeSegment(pathName.slice('/v1/config/'.length));
      if (nodeId === undefined) {
        refused('bad_request');
        return send(400, {
          error: 'malformed percent-encoding in the node id: each % must start a %XX escape of UTF-8 bytes',
        });
      }
      const result = sources.configOf(nodeId);
      return result.ok ? send(200, result.config) : send(404, { error: result.error });
    }
    const optional = [
      ...(sources.cloudMap ? ['/v1/cloud-map', '/v1/cloud-map/remote'] : []),
      ...(sources.telemetry ? ['/v1/telemetry'] : []),
      ...(sources.rollouts ? ['/v1/rollouts'] : []),
      ...(sources.identity ? ['/v1/tokens', '/v1/ca'] : []),
      ...(sources.replicas ? ['/v1/replicas'] : []),
      ...(sources.console ? ['/v1/mesh', '/v1/mesh/resources/<id>', '/v1/problems', '/v1/events', '/ui/'] : []),
      ...(sources.appMesh ? [`${APP_MESH_API_PREFIX}... (App Mesh's API)`] : []),
    ];
    return send(404, {
      error: `no such endpoint: ${pathName}; try ${['/healthz', '/readyz', '/metrics', '/v1/proxies', '/v1/config/<node-id>', ...optional].join(', ')}`,
    });
  });
  const server = http.createServer(handler);
  applyLimits(server, 'admin', options.limits ?? DEFAULT_HTTP_LIMITS, observer);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `admin address ${host}:${port} is already in use (another meshd?); pick another with --admin-port`
            : `cannot listen on ${host}:${port}: ${err.message}`,
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        // Event streams never end by themselves: they are ended first.
        hub?.close();
        server.close(() => resolve());
        // close() waits for every open connection: a client holding one must not stall shutdown.
        server.closeAllConnections();
      }),
  };
}
