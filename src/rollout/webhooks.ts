// Calls a rollout's webhooks the way Flagger does: an HTTP POST of a JSON payload naming the
// rollout, its phase and the hook's metadata; any 2xx answer is a yes, anything else (another
// status, a redirect, a refused connection, no answer within the timeout) is a no, with the reason.
//
// A webhook's URL comes from a mesh file or an API call, and meshd calls it from where it runs,
// so it is treated as hostile: only http and https, only the hosts of --webhook-allow when that
// is set, redirects are not followed, the wait is capped (--webhook-max-timeout, whatever the
// spec says), at most --webhook-max-body-bytes of an answer are read (then the request is cut
// off), and an answer's body is shown in the rollout's events only when it is short, printable
// text: the events must not become a way to read internal URLs through meshd.
import { formatDuration } from '../util/duration';
import { readCapped } from './capped-body';
import type { Webhook } from '../model/rollout';

/** Flagger's CanaryWebhookPayload: `namespace` is the mesh here. */
export interface WebhookPayload {
  readonly name: string;
  readonly namespace: string;
  readonly phase: string;
  readonly type: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/** A yes carries the HTTP status it came with (the rollout's events show it); a stub may leave it out. */
export type WebhookAnswer =
  { readonly ok: true; readonly status?: number } | { readonly ok: false; readonly reason: string };

/** One entry of --webhook-allow: a host name or IP address (as a URL writes it: `[::1]`), and maybe a port. */
export interface AllowedHost {
  readonly host: string;
  readonly port?: string;
}

export interface WebhookPolicy {
  /** The hosts webhooks may call; undefined: any host. */
  readonly allowHosts?: readonly AllowedHost[];
  /** The longest wait for an answer, whatever a hook's own timeout says. */
  readonly maxTimeoutMs: number;
  /** The most of an answer read; a longer one is cut off (the connection closed). */
  readonly maxBodyBytes: number;
}

export const DEFAULT_WEBHOOK_POLICY: WebhookPolicy = { maxTimeoutMs: 30_000, maxBodyBytes: 4096 };

/** Why a webhook URL is refused: counted on /metrics. */
export const WEBHOOK_REFUSALS = ['bad_url', 'scheme', 'host_not_allowed'] as const;
export type WebhookRefusal = (typeof WEBHOOK_REFUSALS)[number];

/** The longest body shown in an event; a longer one is not shown at all (not even its start). */
const MAX_SHOWN_CHARS = 200;
const SHOWN_TYPES = /^(text\/[a-z0-9.+-]+|application\/json)\s*(;|$)/i;
/** Printable text: no control characters but tab and line breaks, no undecodable bytes. */
const UNPRINTABLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufffd\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/**
 * --webhook-allow's entries (`host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6
 * address), or the first one that is none of those.
 */
export function parseAllowedHosts(entries: readonly string[]): { hosts: AllowedHost[] } | { error: string } {
  const hosts: AllowedHost[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    let host: string;
    let port: string | undefined;
    const v6 = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(entry);
    const named = /^([^:[\]]+)(?::([0-9]+))?$/.exec(entry);
    if (v6) [host, port] = [`[${v6[1]!}]`, v6[2]];
    else if (entry.split(':').length > 2) host = `[${entry}]`;
    else if (named) [host, port] = [named[1]!, named[2]];
    else return { error: `'${raw}' is not a host, host:port or IP address` };
    let parsed: URL;
    try {
      parsed = new URL(`http://${host}/`);
    } catch {
      return { error: `'${raw}' is not a host, host:port or IP address` };
    }
    // The URL parser normalises (case, IPv4 forms, punycode): compare with what it makes of a webhook URL.
    if (parsed.username || parsed.password || parsed.port)
      return { error: `'${raw}' is not a host, host:port or IP address` };
    if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65535))
      return { error: `'${raw}': the port must be from 1 to 65535` };
    hosts.push({ host: parsed.hostname, ...(port !== undefined ? { port: String(Number(port)) } : {}) });
  }
  return { hosts };
}

const showHost = (h: AllowedHost) => (h.port === undefined ? h.host : `${h.host}:${h.port}`);

/** Why meshd will not call `url` under `policy` (one line), or undefined when it will. */
export function webhookUrlProblem(
  url: string,
  policy: WebhookPolicy,
): { reason: WebhookRefusal; message: string } | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { reason: 'bad_url', message: `'${url}' is not a URL` };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    return {
      reason: 'scheme',
      message: `only http and https webhooks are called, not ${parsed.protocol.replace(/:$/, '')}`,
    };
  if (parsed.hostname === '') return { reason: 'bad_url', message: `'${url}' names no host` };
  const allow = policy.allowHosts;
  if (allow !== undefined) {
    const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
    if (!allow.some((a) => a.host === parsed.hostname && (a.port === undefined || a.port === port))) {
      return {
        reason: 'host_not_allowed',
        message: `the host ${parsed.host} is not in --webhook-allow (${allow.map(showHost).join(', ') || 'empty'})`,
      };
    }
  }
  return undefined;
}

/** Calls webhooks under one policy, and counts what it refused or cut off (for /metrics). */
export class WebhookCaller {
  readonly refused: Record<WebhookRefusal, number> = { bad_url: 0, scheme: 0, host_not_allowed: 0 };
  /** Answers longer than maxBodyBytes, cut off. */
  bodiesCut = 0;

  constructor(readonly policy: WebhookPolicy = DEFAULT_WEBHOOK_POLICY) {}

  problem(url: string): string | undefined {
    return webhookUrlProblem(url, this.policy)?.message;
  }

  /** `signal` cancels the call (the answer is then a no, 'cancelled'). Never rejects. */
  readonly call = async (hook: Webhook, payload: WebhookPayload, signal?: AbortSignal): Promise<WebhookAnswer> => {
    const refusal = webhookUrlProblem(hook.url, this.policy);
    if (refusal) {
      this.refused[refusal.reason]++;
      return { ok: false, reason: `not called: ${refusal.message}` };
    }
    // Written so that a timeout that is not a number waits the most, never forever.
    const timeoutMs =
      hook.timeoutMs > 0 && hook.timeoutMs <= this.policy.maxTimeoutMs ? hook.timeoutMs : this.policy.maxTimeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const cut = new AbortController();
    const signals = [timeout, cut.signal, ...(signal ? [signal] : [])];
    try {
      const res = await fetch(hook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(payload),
        signal: AbortSignal.any(signals),
        // A redirect is a no: following it would let an allowed host send meshd anywhere.
        redirect: 'manual',
      });
      if (res.status >= 200 && res.status < 300) {
        cut.abort();
        return { ok: true, status: res.status };
      }
      const body = await this.readSome(res, cut);
      return { ok: false, reason: `answered ${res.status}${shown(res.headers.get('content-type'), body)}` };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (timeout.aborted) {
        return {
          ok: false,
          reason: `no answer within ${formatDuration(timeoutMs)}${timeoutMs < hook.timeoutMs ? ` (the most meshd waits, --webhook-max-timeout; the hook asks for ${formatDuration(hook.timeoutMs)})` : ''}`,
        };
      }
      if (signal?.aborted) return { ok: false, reason: 'cancelled' };
      return { ok: false, reason: oneLine(e.cause?.code ?? e.cause?.message ?? e.message) };
    } finally {
      cut.abort();
    }
  };

  /** At most maxBodyBytes of the answer; more, and the request is cut off (`cut: true`, nothing kept). */
  private async readSome(res: Response, cut: AbortController): Promise<{ bytes: Uint8Array; cut: boolean }> {
    try {
      const bytes = await readCapped(res, this.policy.maxBodyBytes, cut);
      if (bytes !== 'too long') return { bytes, cut: false };
      this.bodiesCut++;
      return { bytes: new Uint8Array(), cut: true };
    } catch {
      // The answer broke off (or the timeout fired) mid-body: what came is not shown.
      return { bytes: new Uint8Array(), cut: true };
    }
  }
}

/** `: <body>` for a short printable text answer; otherwise a note saying why it is not shown. */
function shown(contentType: string | null, body: { bytes: Uint8Array; cut: boolean }): string {
  if (body.cut) return ' (the answer was cut off unread: longer than --webhook-max-body-bytes, or broken off)';
  if (body.bytes.length === 0) return '';
  if (contentType === null || !SHOWN_TYPES.test(contentType))
    return ` (${contentType === null ? 'a body without a content type' : `a body of type ${oneLine(contentType).slice(0, 60)}`}, not shown)`;
  const text = new TextDecoder('utf-8').decode(body.bytes).trim();
  if (UNPRINTABLE.test(text)) return ' (a body that is not printable text, not shown)';
  const line = text.replace(/\s+/g, ' ');
  if (line.length > MAX_SHOWN_CHARS)
    return ` (a body of ${body.bytes.length} bytes, longer than ${MAX_SHOWN_CHARS} characters, not shown)`;
  return line ? `: ${line}` : '';
}

function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}

/** The default caller, for callers that set no policy (tests, and meshd before its flags are read). */
const defaultCaller = new WebhookCaller();

/** `signal` cancels the call (the answer is then a no, 'cancelled'). */
export function callWebhook(hook: Webhook, payload: WebhookPayload, signal?: AbortSignal): Promise<WebhookAnswer> {
  return defaultCaller.call(hook, payload, signal);
}
