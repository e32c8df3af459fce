// The sidecar injector's HTTPS endpoint: the API server POSTs an AdmissionReview
// (admission.k8s.io/v1) to /mutate-pod on each Pod create; the answer echoes its uid and carries
// the injector's JSON Patch (base64), nothing, or a refusal. Anything else is answered with an
// HTTP error and never throws: the body is capped (4 MiB), slow requests are cut, malformed JSON
// is a 400, and a decide callback that throws refuses the Pod (fail closed: no Pod escapes the
// mesh because meshd stumbled).
import * as https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../util/log';
import { isPlain, type Plain } from '../model/common';
import type { InjectionDecision } from './injection';

import { SIDECAR_INJECTOR_PATH } from './manifests';

/** The webhook's path: the one the printed MutatingWebhookConfiguration names. */
export const WEBHOOK_PATH = SIDECAR_INJECTOR_PATH;
/** The API server stores objects of at most about 3 MiB: a review of a Pod is below this. */
export const MAX_REVIEW_BYTES = 3 * 1024 * 1024 + 64 * 1024;
/**
 * Reviews read at once, and connections open at once: the webhook listens on the pod network, where anyone may
 * call it, so what its callers can make meshd hold is bounded (beyond, 429, or the connection is refused).
 */
export const MAX_REVIEWS_IN_FLIGHT = 16;
export const MAX_CONNECTIONS = 256;
/** The API server waits 10 s by default (timeoutSeconds); a request still unfinished after this is cut. */
export const REQUEST_TIMEOUT_MS = 15_000;

/** The part of an admission request meshd reads; the rest is passed on untouched. */
export interface AdmissionRequest {
  readonly uid: string;
  readonly kind?: { readonly group?: string; readonly version?: string; readonly kind?: string };
  readonly operation?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly object?: unknown;
  readonly dryRun?: boolean;
  readonly [field: string]: unknown;
}

export interface AdmissionReview {
  readonly apiVersion: 'admission.k8s.io/v1';
  readonly kind: 'AdmissionReview';
  readonly request: AdmissionRequest;
}

export interface InjectionWebhookOptions {
  readonly port: number;
  /** Default 0.0.0.0 (the API server reaches it through the Service). */
  readonly host?: string;
  /** The serving certificate and key (PEM); called again by reloadCertificate(). */
  readonly tls: () => { cert: string; key: string };
  /** The decision for one Pod create (requests for other kinds or operations are allowed without calling it). */
  readonly decide: (review: AdmissionReview) => InjectionDecision | Promise<InjectionDecision>;
  readonly log: Logger;
}

export interface InjectionWebhook {
  readonly port: number;
  /** Serves the certificate tls() returns now to new connections (after a renewal). */
  reloadCertificate(): void;
  close(): Promise<void>;
}

export async function startInjectionWebhook(options: InjectionWebhookOptions): Promise<InjectionWebhook> {
  const { log } = options;
  let inFlight = 0;
  const server = https.createServer({ ...options.tls(), minVersion: 'TLSv1.2' }, (req, res) => {
    if (inFlight >= MAX_REVIEWS_IN_FLIGHT) {
      res.setHeader('retry-after', '1');
      return send(res, 429, { message: 'too many reviews at once; try again' });
    }
    inFlight++;
    res.once('close', () => inFlight--);
    handle(req, res, options).catch((err: unknown) => {
      log.error({ err: (err as Error).message }, 'sidecar injection webhook: request failed');
      if (!res.headersSent) send(res, 500, { message: 'internal error' });
      else res.destroy();
    });
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = 60_000;
  server.on('tlsClientError', (err) =>
    log.debug({ err: err.message }, 'sidecar injection webhook: TLS handshake failed'),
  );
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err: err.message }, 'sidecar injection webhook: server error'));
  return {
    port: (server.address() as AddressInfo).port,
    reloadCertificate() {
      server.setSecureContext({ ...options.tls(), minVersion: 'TLSv1.2' });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, options: InjectionWebhookOptions): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (path !== WEBHOOK_PATH) return send(res, 404, { message: `not found; the webhook is POST ${WEBHOOK_PATH}` });
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    return send(res, 405, { message: `${WEBHOOK_PATH} takes POST` });
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_REVIEW_BYTES) {
    res.setHeader('connection', 'close');
    send(res, 413, { message: `an AdmissionReview is at most ${MAX_REVIEW_BYTES} bytes` });
    req.destroy();
    return;
  }
  const body = await readBody(req);
  if (body === undefined) {
    res.setHeader('connection', 'close');
    send(res, 413, { message: `an AdmissionReview is at most ${MAX_REVIEW_BYTES} bytes` });
    req.destroy();
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return send(res, 400, { message: 'the body is not JSON' });
  }
  const review = reviewOf(parsed);
  if (typeof review === 'string') return send(res, 400, { message: review });
  const { request } = review;

  if (request.kind?.kind !== 'Pod' || (request.kind.group ?? '') !== '' || request.operation !== 'CREATE')
    return send(res, 200, answer(request.uid, { allowed: true }));

  let decision: InjectionDecision;
  try {
    decision = await options.decide(review);
  } catch (err) {
    options.log.error({ err: (err as Error).message, uid: request.uid }, 'sidecar injection webhook: decision failed');
    decision = { action: 'deny', message: 'meshd could not decide on this Pod sidecar; see meshd log' };
  }
  const where = `${request.namespace ?? ''}/${request.name ?? ''}`;
  switch (decision.action) {
    case 'patch':
      options.log.info({ pod: where, node: decision.nodeId }, 'sidecar injected');
      return send(
        res,
        200,
        answer(request.uid, {
          allowed: true,
          patchType: 'JSONPatch',
          patch: Buffer.from(JSON.stringify(decision.patch)).toString('base64'),
        }),
      );
    case 'deny':
      options.log.warn({ pod: where, reason: decision.message }, 'sidecar injection refused a Pod');
      return send(
        res,
        200,
        answer(request.uid, { allowed: false, status: { code: 403, reason: 'Forbidden', message: decision.message } }),
      );
    default:
      options.log.debug({ pod: where, reason: decision.reason }, 'no sidecar injected');
      return send(
        res,
        200,
        answer(request.uid, { allowed: true, ...(decision.warning ? { warnings: [decision.warning] } : {}) }),
      );
  }
}

/** The review, or why it is not one. */
function reviewOf(value: unknown): AdmissionReview | string {
  if (!isPlain(value)) return 'the body must be an AdmissionReview object';
  if (value.apiVersion !== 'admission.k8s.io/v1' || value.kind !== 'AdmissionReview')
    return 'the body must be an AdmissionReview of admission.k8s.io/v1 (apiVersion and kind)';
  const request = value.request;
  if (!isPlain(request)) return 'the AdmissionReview has no request';
  if (typeof request.uid !== 'string' || request.uid === '' || request.uid.length > 256)
    return 'the AdmissionReview request has no uid (a string of at most 256 characters)';
  if (request.kind !== undefined && !isPlain(request.kind)) return 'request.kind must be an object';
  return value as unknown as AdmissionReview;
}

function answer(uid: string, response: Plain): Plain {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, ...response } };
}

function send(res: ServerResponse, status: number, body: Plain): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The body, or undefined when it passes the cap (reading stops there). */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > MAX_REVIEW_BYTES) {
        done = true;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) {
        done = true;
        resolve(Buffer.concat(chunks));
      }
    });
    req.on('error', (err) => {
      if (!done) {
        done = true;
        reject(err);
      }
    });
    req.on('aborted', () => {
      if (!done) {
        done = true;
        reject(new Error('the request was aborted'));
      }
    });
  });
}
