// Asks Prometheus for a rollout metric that carries a `query` (a PromQL template, as Flagger's
// MetricTemplate): the template is filled in with the rollout's names, sent to Prometheus's
// HTTP API (GET <--prometheus-url>/api/v1/query?query=…&time=…), and its one value comes back.
//
// Everything that is not exactly one finite number fails closed: an empty result, NaN or
// ±Inf, several series, a range vector, an error status, a timeout, an unreachable server, a
// redirect (never followed: the URL is the operator's, an answer must not send meshd elsewhere),
// an answer that is not JSON or longer than the cap (the rest is not read; the request is cut
// off). Each reason is one precise line, shown in the rollout's events. Credentials in the URL
// (http://user:pass@host/) are sent as Basic authentication and never shown: every message
// names the server by its URL without them.
import type { QueryVariable } from '../model/rollout';
import { QUERY_VARIABLE_PATTERN } from '../model/rollout';
import { readPrivateText } from '../util/private-file';
import { readCapped } from './capped-body';

/** The most of an answer read; a longer one is cut off and the check fails. */
export const DEFAULT_MAX_ANSWER_BYTES = 1024 * 1024;
/** The longest wait for an answer. */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;
/** The most of Prometheus's own error text shown in an event. */
const MAX_ERROR_CHARS = 300;

export type QueryAnswer =
  { readonly ok: true; readonly value: number } | { readonly ok: false; readonly reason: string };

export interface PrometheusOptions {
  readonly timeoutMs?: number;
  readonly maxAnswerBytes?: number;
  /**
   * --prometheus-bearer-token-file: a file (mode 600) holding a token sent as `Authorization: Bearer`, read at
   * start and again at each query (a rotated token is picked up). Not with credentials in the URL.
   */
  readonly bearerTokenFile?: string;
}

/** The most of a bearer token file read. */
export const MAX_BEARER_TOKEN_FILE_BYTES = 16 * 1024;

/** The token in a bearer token file (one line, surrounding whitespace dropped). Throws an Error naming the file. */
export function readBearerTokenFile(file: string): string {
  const token = readPrivateText(file, 'the bearer token file', MAX_BEARER_TOKEN_FILE_BYTES);
  if (token === '') throw new Error(`the bearer token file ${file} is empty`);
  if (!/^[\x21-\x7e]+$/.test(token))
    throw new Error(`the bearer token file ${file} must hold one token of printable ASCII characters without spaces`);
  return token;
}

/** Why `url` cannot be --prometheus-url (one line), or undefined. */
export function prometheusUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    return `must be an http:// or https:// URL, not ${parsed.protocol.replace(/:$/, '')}`;
  if (parsed.hostname === '') return 'names no host';
  if (parsed.search !== '' || parsed.hash !== '')
    return 'must not have a query or fragment (meshd adds /api/v1/query?query=… to its path)';
  try {
    decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.password);
  } catch {
    // Neither is repeated: the password is a secret.
    return 'has a user name or password with a % that is not percent-encoding (write a % in them as %25)';
  }
  return undefined;
}

/** `url` without its user name and password, to be shown. */
export function shownUrl(url: URL | string): string {
  const u = new URL(url.toString());
  const hadCredentials = u.username !== '' || u.password !== '';
  u.username = '';
  u.password = '';
  const text = u.toString().replace(/\/$/, '');
  return hadCredentials ? text.replace('://', '://***@') : text;
}

/**
 * A value as a PromQL string literal's content (between double or single quotes): backslashes and
 * control characters are escaped, and the three quotes are written as hex escapes (\x22 \x27
 * \x60), which both kinds of literal read (PromQL refuses \' inside "…" and \" inside '…').
 * A backtick literal has no escapes at all. Names that go into a template are validated already
 * (model/rollout.ts queryNameProblem: letters, digits, _ . -); this is the second line of defence.
 */
export function escapePromQLString(value: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it escapes
  return value.replace(/[\\"'`\u0000-\u001f\u007f]/g, (c) => {
    switch (c) {
      case '\\':
        return '\\\\';
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      default:
        return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
    }
  });
}

/** A duration in milliseconds as Prometheus writes one: `1m`, `1m30s`, `1500ms` (it takes no fractions). */
export function promDuration(ms: number): string {
  const whole = Math.max(1, Math.round(ms));
  if (whole % 1000 !== 0) return `${whole}ms`;
  let s = whole / 1000;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}

/** The template's variables for one rollout check. */
export interface QueryContext {
  readonly mesh: string;
  readonly primary: string;
  readonly canary: string;
  readonly intervalMs: number;
}

/**
 * Fills in a query template (already validated: model/rollout.ts queryTemplateProblem). Every
 * value but the interval is escaped for a PromQL string literal; the interval is a duration
 * meshd writes itself. An unknown variable throws (it cannot pass validation).
 */
export function renderQuery(template: string, c: QueryContext): string {
  const values: Record<QueryVariable, string> = {
    target: escapePromQLString(c.canary),
    canary: escapePromQLString(c.canary),
    virtualNode: escapePromQLString(c.canary),
    primary: escapePromQLString(c.primary),
    namespace: escapePromQLString(c.mesh),
    mesh: escapePromQLString(c.mesh),
    interval: promDuration(c.intervalMs),
  };
  return template.replace(new RegExp(QUERY_VARIABLE_PATTERN.source, 'g'), (_all, name: string) => {
    if (!Object.hasOwn(values, name)) throw new Error(`{{ ${name} }} is not a template variable`);
    return values[name as QueryVariable];
  });
}

const oneLine = (text: string, max = MAX_ERROR_CHARS) => {
  // eslint-disable-next-line no-control-regex -- control characters are what it takes out
  const line = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
};

const SERIES_TYPES: Readonly<Record<string, string>> = {
  matrix:
    'a range vector (matrix); it must be an instant query (drop the [range] at the end, or wrap it in a function such as rate())',
  string: 'a string',
};

/** `o[key]` when `o` is a plain JSON object that has `key` itself (never from its prototype); else undefined. */
const own = (o: unknown, key: string): unknown =>
  o !== null && typeof o === 'object' && !Array.isArray(o) && Object.hasOwn(o, key)
    ? (o as Record<string, unknown>)[key]
    : undefined;

/** What a JSON value is, for a message: a short string as itself, anything else by its type (never serialized). */
const describe = (value: unknown): string =>
  value === undefined
    ? 'missing'
    : typeof value === 'string'
      ? oneLine(JSON.stringify(value.slice(0, 40)), 60)
      : value === null
        ? 'null'
        : Array.isArray(value)
          ? 'a list'
          : typeof value === 'object'
            ? 'an object'
            : `a ${typeof value}`;

/**
 * What a Prometheus query answer's JSON says: one finite value, or why there is none. Exported
 * for the tests; `body` is anything at all (only its own properties are read, no value is serialized whole).
 */
export function readQueryAnswer(body: unknown): QueryAnswer {
  const fail = (reason: string): QueryAnswer => ({ ok: false, reason });
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    return fail('the answer is not a Prometheus query answer (not a JSON object)');
  const status = own(body, 'status');
  if (status === 'error') {
    const errorType = own(body, 'errorType');
    const error = own(body, 'error');
    return fail(
      `Prometheus refused the query: ${oneLine(`${typeof errorType === 'string' ? `${errorType.slice(0, 100)}: ` : ''}${typeof error === 'string' ? error.slice(0, 1000) : '(no error message)'}`)}`,
    );
  }
  if (status !== 'success') return fail(`the answer is not a Prometheus query answer (status ${describe(status)})`);
  // A success with warnings is a partial answer (Thanos, Mimir, Cortex: a store or querier did not answer); its
  // number may leave out the canary's series, so it is no number to judge by.
  const warnings = own(body, 'warnings');
  if (warnings !== undefined && warnings !== null && !(Array.isArray(warnings) && warnings.length === 0)) {
    const listed = Array.isArray(warnings)
      ? warnings
          .slice(0, 5)
          .map((w) => (typeof w === 'string' ? w.slice(0, 1000) : '(not a string)'))
          .join('; ')
      : '(not a list)';
    return fail(
      `Prometheus answered with warnings (a partial answer?), so its value is not trusted: ${oneLine(listed)}${Array.isArray(warnings) && warnings.length > 5 ? ` (and ${warnings.length - 5} more)` : ''}`,
    );
  }
  const data = own(body, 'data');
  const resultType = own(data, 'resultType');
  if (typeof resultType !== 'string') return fail('the answer is not a Prometheus query answer (no data.resultType)');
  const result = own(data, 'result');
  let sample: unknown;
  if (resultType === 'scalar') sample = result;
  else if (resultType === 'vector') {
    if (!Array.isArray(result))
      return fail('the answer is not a Prometheus query answer (a vector that is not a list)');
    if (result.length === 0)
      return fail(
        'the query returned no series (an empty vector): no data for the canary in the interval, or a query that matches nothing',
      );
    if (result.length > 1)
      return fail(
        `the query returned ${result.length} series; it must return exactly one (aggregate them, e.g. with sum())`,
      );
    sample = own(result[0], 'value');
  } else
    return fail(
      `the query returned ${Object.hasOwn(SERIES_TYPES, resultType) ? SERIES_TYPES[resultType] : `a ${oneLine(resultType, 20)}`}; it must return a scalar or one series`,
    );
  if (!Array.isArray(sample) || sample.length !== 2 || typeof sample[1] !== 'string')
    return fail('the answer is not a Prometheus query answer (a sample that is not [time, "value"])');
  const text = sample[1];
  // Prometheus writes a float in at most ~25 characters; a longer text is not read by the pattern (whose \d+\.?\d*
  // takes time quadratic in a long run of digits).
  if (text.length > 64)
    return fail(`the query returned a value of ${text.length} characters, not a number Prometheus writes`);
  const value = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(value))
    return fail(
      /^nan$/i.test(text)
        ? 'the query returned NaN (a ratio of nothing to nothing: no requests in the interval?)'
        : /^[+-]?inf$/i.test(text)
          ? `the query returned ${text} (a division by zero?)`
          : `the query returned ${describe(text)}, not a finite number`,
    );
  return { ok: true, value };
}

/** Asks one Prometheus server instant queries (one per metric per check). */
export class PrometheusClient {
  readonly timeoutMs: number;
  readonly maxAnswerBytes: number;
  /** The server's URL without credentials, for messages. */
  readonly shown: string;
  private readonly base: URL;
  private readonly authorization: string | undefined;
  private readonly bearerTokenFile: string | undefined;

  constructor(url: string, options: PrometheusOptions = {}) {
    const problem = prometheusUrlProblem(url);
    if (problem) throw new Error(`--prometheus-url ${problem}`);
    const parsed = new URL(url);
    this.bearerTokenFile = options.bearerTokenFile;
    if (this.bearerTokenFile !== undefined) {
      if (parsed.username !== '' || parsed.password !== '')
        throw new Error(
          '--prometheus-url holds a user name or password and a bearer token file is given too: use one of them',
        );
      readBearerTokenFile(this.bearerTokenFile);
    }
    this.authorization =
      parsed.username !== '' || parsed.password !== ''
        ? `Basic ${Buffer.from(`${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`).toString('base64')}`
        : undefined;
    this.shown = shownUrl(parsed);
    parsed.username = '';
    parsed.password = '';
    this.base = parsed;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
    this.maxAnswerBytes = options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
  }

  /** The URL an instant query of `query` at `timeMs` is sent to. */
  queryUrl(query: string, timeMs: number): URL {
    const url = new URL(this.base.toString());
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/api/v1/query`;
    url.searchParams.set('query', query);
    url.searchParams.set('time', (timeMs / 1000).toFixed(3));
    return url;
  }

  /** One instant query. Never rejects: every failure is an answer that says why. `signal` cancels it. */
  async query(query: string, timeMs: number, signal?: AbortSignal): Promise<QueryAnswer> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const cut = new AbortController();
    const at = `Prometheus at ${this.shown}`;
    let authorization = this.authorization;
    if (this.bearerTokenFile !== undefined) {
      try {
        authorization = `Bearer ${readBearerTokenFile(this.bearerTokenFile)}`;
      } catch (err) {
        return { ok: false, reason: `not asked: ${(err as Error).message}` };
      }
    }
    try {
      const res = await fetch(this.queryUrl(query, timeMs), {
        method: 'GET',
        headers: { accept: 'application/json', ...(authorization ? { authorization } : {}) },
        signal: AbortSignal.any([timeout, cut.signal, ...(signal ? [signal] : [])]),
        redirect: 'manual',
      });
      if (res.status >= 300 && res.status < 400)
        return { ok: false, reason: `${at} answered a redirect (HTTP ${res.status}); meshd does not follow redirects` };
      const body = await readCapped(res, this.maxAnswerBytes, cut);
      if (body === 'too long')
        return {
          ok: false,
          reason: `${at} sent an answer longer than ${this.maxAnswerBytes} bytes; it was cut off unread`,
        };
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder('utf-8').decode(body));
      } catch {
        return {
          ok: false,
          reason: `${at} answered HTTP ${res.status} with a body that is not JSON${res.ok ? '' : ' (is it Prometheus?)'}`,
        };
      }
      let answer: QueryAnswer;
      try {
        answer = readQueryAnswer(json);
      } catch (err) {
        // Not expected (the reading checks every type); an answer that breaks it still fails closed, saying so.
        answer = {
          ok: false,
          reason: `the answer could not be read as a Prometheus query answer: ${oneLine(String((err as Error)?.message), 120)}`,
        };
      }
      // The server is named when it did not answer 200: an answer about the query itself speaks for itself.
      if (!answer.ok)
        return { ok: false, reason: res.ok ? answer.reason : `${answer.reason} (${at}, HTTP ${res.status})` };
      if (!res.ok) return { ok: false, reason: `${at} answered HTTP ${res.status}` };
      return answer;
    } catch (err) {
      if (timeout.aborted) return { ok: false, reason: `${at} did not answer within ${this.timeoutMs} ms` };
      if (signal?.aborted) return { ok: false, reason: 'cancelled' };
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = e.cause?.code ?? e.cause?.message ?? e.message;
      // The message of a failed fetch never holds the URL's credentials (they were taken out above).
      return { ok: false, reason: `${at} cannot be reached: ${oneLine(why, 120)}` };
    } finally {
      cut.abort();
    }
  }
}
