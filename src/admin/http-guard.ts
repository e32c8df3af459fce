// What every HTTP server of meshd shares so that no request can take the process down or hold
// it: a handler's unexpected error answers 500 (logged and counted) instead of escaping to the
// event loop, a body is read up to a bound and no further, and the server's sockets are
// bounded in number and in how long they may sit idle or dribble a request.
import type * as http from 'node:http';

/**
 * Why a request or connection was refused; the label of meshd_http_refused_total. unauthenticated (401) and
 * forbidden (403): an admin write without its credential, or with another (admin-auth.ts).
 */
export type RefusalReason = 'body_too_large' | 'bad_request' | 'connection_limit' | 'unauthenticated' | 'forbidden';

/** Events for /metrics and the log; every member optional. */
export interface HttpObserver {
  /** A handler failed unexpectedly (a bug, or input no check caught): answered 500. */
  handlerError?(server: string, err: Error): void;
  refused?(server: string, reason: RefusalReason): void;
}

export interface HttpLimits {
  /** Open connections at once; more are closed as they arrive. */
  readonly maxConnections: number;
  /** A request's headers and body must arrive within this time (slow senders are cut). */
  readonly requestTimeoutMs: number;
  /** A connection with no traffic at all for this long is closed (half-open and idle clients). */
  readonly idleTimeoutMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = { maxConnections: 512, requestTimeoutMs: 30_000, idleTimeoutMs: 60_000 };

/** Headers are small: they get a shorter deadline than the whole request. */
const MAX_HEADERS_TIMEOUT_MS = 10_000;

/** Applies the limits to a server and counts the connections it drops. */
export function applyLimits(server: http.Server, name: string, limits: HttpLimits, observer: HttpObserver): void {
  server.maxConnections = limits.maxConnections;
  server.requestTimeout = limits.requestTimeoutMs;
  server.headersTimeout = Math.min(MAX_HEADERS_TIMEOUT_MS, limits.requestTimeoutMs);
  // Node checks the two deadlines above on this period (30 s by default); keep it below them.
  (server as http.Server & { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.max(
    100,
    Math.min(1000, limits.requestTimeoutMs / 4),
  );
  // headersTimeout only starts with the first byte: a client that
  // connects and says nothing is closed by the idle timeout.
  server.timeout = limits.idleTimeoutMs;
  server.on('drop', () => observer.refused?.(name, 'connection_limit'));
  // A client may vanish mid-answer; its socket's error is not meshd's.
  server.on('connection', (socket) => socket.on('error', () => undefined));
}

export type BodyResult =
  { readonly ok: true; readonly body: Buffer } | { readonly ok: false; readonly why: 'too_large' | 'aborted' };

/** Reads the body up to `maxBytes`; past that it stops reading, and the caller answers 413 and closes. */
export function readBody(req: http.IncomingMessage, maxBytes: number): Promise<BodyResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (result: BodyResult) => {
      req.off('data', onData);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.pause();
        return done({ ok: false, why: 'too_large' });
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => done({ ok: true, body: Buffer.concat(chunks) }));
    req.on('error', () => done({ ok: false, why: 'aborted' }));
    req.on('aborted', () => done({ ok: false, why: 'aborted' }));
  });
}

/**
 * Wraps a handler so that a throw or a rejected promise answers 500 with a short message
 * (the details go to the log, not to the client) instead of reaching the event loop.
 */
export function guardHandler(
  name: string,
  observer: HttpObserver,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>,
): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    const fail = (thrown: unknown) => {
      const err = thrown instanceof Error ? thrown : new Error(String(thrown));
      try {
        observer.handlerError?.(name, err);
      } catch {
        // Reporting the failure must not fail the answer.
      }
      if (res.headersSent) res.destroy();
      else {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
        res.end('internal error: the request could not be answered; meshd logged the cause\n');
      }
    };
    try {
      const pending = handler(req, res);
      if (pending) pending.catch(fail);
    } catch (err) {
      fail(err);
    }
  };
}
