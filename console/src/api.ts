// Talking to meshd: GETs of the admin API, coalesced (at most one request in flight per endpoint and one queued
// behind it, whatever the number of events asking), the event stream, and the rollout commands.
import { measureSince } from './perf';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function errorText(res: Response): Promise<string> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === 'string') return body.error;
  } catch {
    // Not JSON: the text itself.
  }
  return text.trim() || `${res.status} ${res.statusText}`;
}

/**
 * GET `path` as JSON. `measureParse` wraps the parse of the body in `performance.measure('meshd:parse:<path>')`
 * (the mesh's JSON is about 2 MB for 1,000 virtual nodes: its parse is part of what an update costs).
 */
export async function getJson<T>(path: string, measureParse = false): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
  if (!res.ok) throw new HttpError(res.status, await errorText(res));
  if (!measureParse) return (await res.json()) as T;
  const text = await res.text();
  const start = `meshd:parse:${path}:start`;
  performance.mark(start);
  const value = JSON.parse(text) as T;
  measureSince(`meshd:parse:${path}`, start);
  return value;
}

/**
 * fetch `path` whenever asked, but never two at once: a call while one is in flight queues one more (several
 * calls then share it), and each answer goes to `apply`.
 */
export function coalesced<T>(
  path: string,
  apply: (value: T) => void,
  fail: (err: unknown) => void,
  measureParse = false,
): () => Promise<void> {
  let inFlight: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  const run = (): Promise<void> => {
    inFlight = getJson<T>(path, measureParse)
      .then(apply, fail)
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };
  return () => {
    if (!inFlight) return run();
    if (!queued)
      queued = inFlight.then(() => {
        queued = undefined;
        return run();
      });
    return queued;
  };
}

/** A resource id's URL path: each segment percent-encoded. */
export const resourcePath = (id: string): string =>
  `/v1/mesh/resources/${id.split('/').map(encodeURIComponent).join('/')}`;

export type Action = 'pause' | 'resume' | 'abort' | 'promote';

/** POST a rollout command; resolves to an error text, or undefined when it was done. */
export async function rolloutAction(
  mesh: string,
  name: string,
  action: Action,
  token: string,
): Promise<string | undefined> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(`/v1/rollouts/${encodeURIComponent(mesh)}/${encodeURIComponent(name)}/${action}`, {
      method: 'POST',
      headers,
    });
  } catch (err) {
    return `meshd did not answer: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (res.ok) return undefined;
  const text = await errorText(res);
  if (res.status === 401) return `${text}: enter the admin token in the Admin token field and try again.`;
  return text;
}
