/**
 * Server-side verification of AWS Signature Version 4 (header form,
 * `AWS4-HMAC-SHA256`) for the AWS APIs meshd serves on its admin port (the
 * local Cloud Map, the App Mesh API). It knows no service: the callers decide
 * when to check and what a refusal answers.
 *
 * When the operator configures an access key id and secret, every request must
 * carry a SigV4 Authorization header made with them. The canonicalisation mirrors AWS's documented
 * algorithm as implemented by the SDK signers (`@smithy/signature-v4`):
 *
 * - canonical URI: the request path as received, with `.`/`..`/empty segments
 *   normalised, then URI-encoded once more ('%' becomes '%25'), '/' kept. That is
 *   the "encode twice" rule for every service but S3: what is on the wire is
 *   already encoded once, and the signer encodes it again;
 * - canonical query: parameters percent-decoded then re-encoded (RFC 3986
 *   unreserved characters only), sorted by name then value, a bare `name`
 *   counting as `name=`;
 * - canonical headers: the SignedHeaders list, values with CR/LF turned into
 *   spaces, runs of spaces/tabs collapsed and the ends trimmed;
 * - payload hash: the `x-amz-content-sha256` header if present (which must then
 *   be the SHA-256 of the body: unsigned or streaming payloads are refused),
 *   else the SHA-256 of the body.
 *
 * The region of the credential scope is accepted whatever it is (a laptop has
 * no region); its service too, unless the caller names the one it serves (a
 * request signed for one API is then not accepted by another). Only
 * `node:crypto` is used.
 *
 * Everything here is client input: headers are looked up in a Map made of the
 * request's own header entries (a SignedHeaders entry such as `constructor` or
 * `__proto__` is just a header that is missing), and an unexpected failure is
 * a refusal, never an exception.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface SignedRequest {
  /** e.g. 'POST'. */
  readonly method: string;
  /** Raw request path including the query string, e.g. '/' or '/?a=b'. */
  readonly path: string;
  /** node's IncomingMessage.headers (lower-case names). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

export type VerifyErrorCode =
  | 'MissingAuthenticationTokenException'
  | 'IncompleteSignatureException'
  | 'UnrecognizedClientException'
  | 'InvalidSignatureException';

export type VerifyResult =
  { readonly ok: true } | { readonly ok: false; readonly code: VerifyErrorCode; readonly message: string };

const ALGORITHM = 'AWS4-HMAC-SHA256';
const SCOPE_TERMINATOR = 'aws4_request';
/** How far x-amz-date may be from the server's clock, as on AWS. */
const MAX_SKEW_MS = 15 * 60 * 1000;

const MESSAGE_MISSING_TOKEN = 'Missing Authentication Token';
const MESSAGE_UNRECOGNIZED = 'The security token included in the request is invalid.';
const MESSAGE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method.';

const OK: VerifyResult = { ok: true };

function fail(code: VerifyErrorCode, message: string): VerifyResult {
  return { ok: false, code, message };
}

export interface VerifyOptions {
  /** The signing name the credential scope must carry (`appmesh`); any when left out. */
  readonly service?: string;
}

/** Checks the request's SigV4 Authorization header against the configured credentials; never throws. */
export function verifySigV4(
  request: SignedRequest,
  credentials: Credentials,
  now: Date = new Date(),
  options: VerifyOptions = {},
): VerifyResult {
  try {
    return verify({ ...request, headers: headerMap(request.headers) }, credentials, now, options);
  } catch (err) {
    // A bug here must not let a request through, nor take the process down.
    return fail(
      'IncompleteSignatureException',
      `The request signature could not be checked: ${truncate(err instanceof Error ? err.message : String(err))}`,
    );
  }
}

/** The request with its headers by lower-case name, each with its values (several when repeated). */
interface MappedRequest extends Omit<SignedRequest, 'headers'> {
  readonly headers: ReadonlyMap<string, readonly string[]>;
}

/** The request's own header entries in a Map: nothing inherited can answer a lookup. */
function headerMap(headers: SignedRequest['headers']): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const values = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
    const key = name.toLowerCase();
    map.set(key, [...(map.get(key) ?? []), ...values]);
  }
  return map;
}

function verify(request: MappedRequest, credentials: Credentials, now: Date, options: VerifyOptions): VerifyResult {
  const authorization = singleHeader(request.headers, 'authorization');
  if (authorization === null) {
    return fail('IncompleteSignatureException', 'Request must contain exactly one Authorization header.');
  }
  if (authorization === undefined || authorization.trim() === '') {
    return fail('MissingAuthenticationTokenException', MESSAGE_MISSING_TOKEN);
  }

  const parsed = parseAuthorization(authorization);
  if ('error' in parsed) return fail('IncompleteSignatureException', parsed.error);

  const amzDate = singleHeader(request.headers, 'x-amz-date');
  if (amzDate === undefined || amzDate === null || amzDate.trim() === '') {
    return fail('IncompleteSignatureException', "Authorization header requires existence of an 'X-Amz-Date' header.");
  }
  const longDate = amzDate.trim();
  const signedAt = parseAmzDate(longDate);
  if (signedAt === undefined) {
    return fail(
      'IncompleteSignatureException',
      `Date must be in ISO-8601 'basic format' (YYYYMMDD'T'HHMMSS'Z'). Got '${longDate}'.`,
    );
  }

  if (parsed.accessKeyId !== credentials.accessKeyId) {
    return fail('UnrecognizedClientException', MESSAGE_UNRECOGNIZED);
  }

  if (options.service !== undefined && parsed.service !== options.service) {
    return fail(
      'InvalidSignatureException',
      `Credential should be scoped to correct service: '${options.service}' (got '${truncate(parsed.service)}').`,
    );
  }

  if (parsed.scopeDate !== longDate.slice(0, 8)) {
    return fail(
      'InvalidSignatureException',
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: ` +
        `'${parsed.scopeDate}' != '${longDate.slice(0, 8)}', from '${longDate}'.`,
    );
  }

  const nowMs = now.getTime();
  if (signedAt.getTime() < nowMs - MAX_SKEW_MS) {
    return fail(
      'InvalidSignatureException',
      `Signature expired: ${longDate} is now earlier than ${formatAmzDate(nowMs - MAX_SKEW_MS)} ` +
        `(${formatAmzDate(nowMs)} - 15 min.)`,
    );
  }
  if (signedAt.getTime() > nowMs + MAX_SKEW_MS) {
    return fail(
      'InvalidSignatureException',
      `Signature not yet current: ${longDate} is still later than ${formatAmzDate(nowMs + MAX_SKEW_MS)} ` +
        `(${formatAmzDate(nowMs)} + 15 min.)`,
    );
  }

  const payloadHash = payloadHashOf(request);
  if ('error' in payloadHash) return fail('InvalidSignatureException', payloadHash.error);

  // The operation travels in X-Amz-Target: an unsigned one could be swapped on a
  // captured request. Every SDK signs it (they sign all but a few hop-by-hop headers).
  if (headerValue(request.headers, 'x-amz-target') !== undefined && !parsed.signedHeaders.includes('x-amz-target')) {
    return fail('IncompleteSignatureException', "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.");
  }

  const canonicalHeaders: string[] = [];
  for (const name of parsed.signedHeaders) {
    const value = headerValue(request.headers, name);
    if (value === undefined) {
      return fail('IncompleteSignatureException', `Signed header '${name}' is missing from the request.`);
    }
    canonicalHeaders.push(`${name}:${value}`);
  }

  const queryIndex = request.path.indexOf('?');
  const rawPath = queryIndex < 0 ? request.path : request.path.slice(0, queryIndex);
  const rawQuery = queryIndex < 0 ? '' : request.path.slice(queryIndex + 1);

  const canonicalRequest = [
    request.method,
    canonicalUri(rawPath),
    canonicalQueryString(rawQuery),
    canonicalHeaders.join('\n') + '\n',
    parsed.signedHeadersText,
    payloadHash.hash,
  ].join('\n');

  const scope = `${parsed.scopeDate}/${parsed.region}/${parsed.service}/${SCOPE_TERMINATOR}`;
  const stringToSign = [ALGORITHM, longDate, scope, sha256Hex(canonicalRequest)].join('\n');

  let key: Buffer = hmac(`AWS4${credentials.secretAccessKey}`, parsed.scopeDate);
  key = hmac(key, parsed.region);
  key = hmac(key, parsed.service);
  key = hmac(key, SCOPE_TERMINATOR);
  const expected = hmac(key, stringToSign);

  if (!/^[0-9a-f]{64}$/i.test(parsed.signature)) {
    return fail('InvalidSignatureException', MESSAGE_MISMATCH);
  }
  const provided = Buffer.from(parsed.signature, 'hex');
  if (provided.length !== expected.length || !timingSafeEqual(provided, expected)) {
    return fail('InvalidSignatureException', MESSAGE_MISMATCH);
  }
  return OK;
}

/** Parses 'KEYID:SECRET' (as given on the command line / env var); returns an error message for a bad value. */
export function parseCredentials(text: string): Credentials | { error: string } {
  const usage = 'expected ACCESS_KEY_ID:SECRET_ACCESS_KEY';
  const parts = text.split(':');
  if (parts.length !== 2) {
    return { error: `${usage} (exactly one ':'), got ${parts.length - 1} ':' characters` };
  }
  const [accessKeyId, secretAccessKey] = parts as [string, string];
  if (accessKeyId === '') return { error: `${usage}: the access key id is empty` };
  if (secretAccessKey === '') return { error: `${usage}: the secret access key is empty` };
  // The key id travels in `Credential=<id>/<scope>,` of the Authorization header.
  if (/[\s,]/.test(accessKeyId)) {
    return { error: `${usage}: the access key id must not contain whitespace or ','` };
  }
  return { accessKeyId, secretAccessKey };
}

// ---------------------------------------------------------------------------
// Authorization header

interface ParsedAuthorization {
  readonly accessKeyId: string;
  readonly scopeDate: string;
  readonly region: string;
  readonly service: string;
  /** Lower-case names, in the order given. */
  readonly signedHeaders: readonly string[];
  /** The SignedHeaders value exactly as given (it is part of the canonical request). */
  readonly signedHeadersText: string;
  readonly signature: string;
}

function parseAuthorization(value: string): ParsedAuthorization | { error: string } {
  const trimmed = value.trim();
  const space = trimmed.search(/\s/);
  const algorithm = space < 0 ? trimmed : trimmed.slice(0, space);
  if (algorithm !== ALGORITHM) {
    return {
      error:
        `Unsupported Authorization header: expected '${ALGORITHM} Credential=..., SignedHeaders=..., Signature=...'` +
        (algorithm.includes('=') ? '.' : ` (got algorithm '${truncate(algorithm)}').`),
    };
  }

  const fields = new Map<string, string>();
  const rest = space < 0 ? '' : trimmed.slice(space + 1);
  const problems: string[] = [];
  for (const piece of rest.split(',')) {
    const item = piece.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) {
      problems.push(`Authorization header has a malformed component '${truncate(item)}' (expected 'Name=value').`);
      continue;
    }
    const name = item.slice(0, eq).trim();
    if (fields.has(name)) problems.push(`Authorization header has a duplicate '${truncate(name)}' parameter.`);
    fields.set(name, item.slice(eq + 1).trim());
  }
  for (const required of ['Credential', 'SignedHeaders', 'Signature']) {
    if (!fields.get(required)) problems.push(`Authorization header requires '${required}' parameter.`);
  }
  if (problems.length > 0) return { error: problems.join(' ') };

  const credential = fields.get('Credential') as string;
  const signedHeadersText = fields.get('SignedHeaders') as string;
  const signature = fields.get('Signature') as string;

  // <access key id>/<yyyymmdd>/<region>/<service>/aws4_request; parsed from the
  // right so that a key id containing '/' still works.
  const parts = credential.split('/');
  if (parts.length < 5 || parts.slice(-4).some((p) => p === '') || parts.slice(0, -4).join('/') === '') {
    return {
      error:
        `Credential should be of the form '<access key id>/<YYYYMMDD>/<region>/<service>/${SCOPE_TERMINATOR}', ` +
        `got '${truncate(credential)}'.`,
    };
  }
  const [scopeDate, region, service, terminator] = parts.slice(-4) as [string, string, string, string];
  if (terminator !== SCOPE_TERMINATOR) {
    return {
      error: `Credential should be scoped with a valid terminator: '${SCOPE_TERMINATOR}', not '${truncate(terminator)}'.`,
    };
  }
  if (!/^\d{8}$/.test(scopeDate)) {
    return { error: `Credential scope date must be YYYYMMDD, got '${truncate(scopeDate)}'.` };
  }

  const signedHeaders = signedHeadersText.split(';').map((h) => h.trim().toLowerCase());
  if (signedHeaders.some((h) => h === '')) {
    return { error: `SignedHeaders has an empty header name: '${truncate(signedHeadersText)}'.` };
  }
  if (!signedHeaders.includes('host')) {
    return { error: "'Host' must be a 'SignedHeader' in the AWS Authorization." };
  }

  return {
    accessKeyId: parts.slice(0, -4).join('/'),
    scopeDate,
    region,
    service,
    signedHeaders,
    signedHeadersText,
    signature,
  };
}

// ---------------------------------------------------------------------------
// Canonicalisation

/** A header value as one string, or undefined if absent, or null if it was sent several times. */
function singleHeader(headers: MappedRequest['headers'], name: string): string | undefined | null {
  const values = headers.get(name);
  if (values === undefined || values.length === 0) return undefined;
  return values.length === 1 ? values[0]! : null;
}

/** Canonical value of a header (repeated values joined with ','), or undefined if absent. */
function headerValue(headers: MappedRequest['headers'], name: string): string | undefined {
  const values = headers.get(name);
  if (values === undefined || values.length === 0) return undefined;
  return values.map(trimAll).join(',');
}

function trimAll(value: string): string {
  return value
    .replace(/[\r\n]/g, ' ')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '');
}

function payloadHashOf(request: MappedRequest): { hash: string } | { error: string } {
  const bodyHash = createHash('sha256').update(request.body).digest('hex');
  const declared = singleHeader(request.headers, 'x-amz-content-sha256');
  if (declared === undefined) return { hash: bodyHash };
  if (declared === null) return { error: "Request must contain at most one 'x-amz-content-sha256' header." };
  // The header replaces the body in the canonical request, so it has to be the
  // body's hash: this API does not accept UNSIGNED-PAYLOAD or streaming payloads.
  if (declared.trim().toLowerCase() !== bodyHash) {
    return { error: "The provided 'x-amz-content-sha256' header does not match what was computed." };
  }
  return { hash: declared };
}

function canonicalUri(rawPath: string): string {
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const normalized =
    (rawPath.startsWith('/') ? '/' : '') +
    segments.join('/') +
    (segments.length > 0 && rawPath.endsWith('/') ? '/' : '');
  return escapeUri(normalized).replace(/%2F/g, '/');
}

function canonicalQueryString(rawQuery: string): string {
  if (rawQuery === '') return '';
  const pairs: Array<[string, string]> = [];
  for (const item of rawQuery.split('&')) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    const name = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? '' : item.slice(eq + 1);
    pairs.push([escapeUri(decodeComponent(name)), escapeUri(decodeComponent(value))]);
  }
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

/** Percent-decodes; a malformed escape is kept literally (the signature will then not match). */
function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** RFC 3986 encoding: everything but A-Z a-z 0-9 - _ . ~ is percent-encoded (UTF-8). */
function escapeUri(text: string): string {
  // toWellFormed() is ES2024; lone surrogates cannot come out of decodeURIComponent,
  // but guard anyway so that encodeURIComponent never throws.
  const wellFormed = text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  return encodeURIComponent(wellFormed).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

// ---------------------------------------------------------------------------
// Dates and crypto

/** Parses 'YYYYMMDDTHHMMSSZ'; undefined if malformed. */
function parseAmzDate(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(ms);
  // Reject out-of-range fields (month 13, Feb 30, hour 24...), which Date.UTC would roll over.
  if (
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    date.getUTCHours() !== hour ||
    date.getUTCMinutes() !== minute ||
    date.getUTCSeconds() !== second
  ) {
    return undefined;
  }
  return date;
}

function formatAmzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function truncate(text: string, max = 64): string {
  return text.length <= max ? text : `${text.slice(0, max)}...`;
}
