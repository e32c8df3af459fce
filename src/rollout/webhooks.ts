// Calls a rollout's webhooks the way Flagger does: an HTTP POST of a JSON payload naming the
// rollout, its phase and the hook's metadata; any 2xx answer is a yes, anything else (another
// status, a refused connection, no answer within the timeout) is a no, with the reason.
import type { Webhook } from './spec';

/** Flagger's CanaryWebhookPayload: `namespace` is the mesh here. */
export interface WebhookPayload {
  readonly name: string;
  readonly namespace: string;
  readonly phase: string;
  readonly type: string;
  readonly metadata: Readonly<Record<string, string>>;
}

export type WebhookAnswer = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const MAX_REASON_CHARS = 200;

/** `signal` cancels the call (the answer is then a no, 'cancelled'). */
export async function callWebhook(hook: Webhook, payload: WebhookPayload, signal?: AbortSignal): Promise<WebhookAnswer> {
  const timeout = AbortSignal.timeout(hook.timeoutMs);
  try {
    const res = await fetch(hook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
      signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
    });
    const body = (await res.text()).trim().replace(/\s+/g, ' ');
    if (res.status >= 200 && res.status < 300) return { ok: true };
    return { ok: false, reason: `answered ${res.status}${body ? `: ${body.slice(0, MAX_REASON_CHARS)}` : ''}` };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (timeout.aborted) return { ok: false, reason: `no answer within ${hook.timeoutMs} ms` };
    if (signal?.aborted) return { ok: false, reason: 'cancelled' };
    return { ok: false, reason: e.cause?.code ?? e.cause?.message ?? e.message };
  }
}
