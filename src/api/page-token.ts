// List pagination: `nextToken` is "after this name", bound to the list it came from and signed.
//
// Why the last name and not an offset: the store lists by name, so "after <name>" stays right
// while resources are created or deleted between pages (an offset would skip or repeat one). Why
// signed: a token is opaque to clients (App Mesh's doc), and a forged, edited or foreign one (from
// another list, another mesh's, or another meshd) must be a clear BadRequestException, not a page
// of something else. The signature is an HMAC-SHA256 over the list's scope and the name, with a
// key meshd picks at start: a token from before a restart is refused, which AWS's clients never
// notice (they paginate in one go). A fleet sharing a store (the PostgreSQL issue) must share the key.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { badRequest } from './errors';

const VERSION = '1';
const MAC_BYTES = 16;

export class PageTokens {
  constructor(private readonly key: Buffer = randomBytes(32)) {}

  /** A token saying "the page after `lastName`" in the list `scope` (e.g. `ListRoutes m/vr`). */
  issue(scope: string, lastName: string): string {
    const payload = Buffer.from(JSON.stringify([VERSION, lastName]), 'utf8');
    return `${payload.toString('base64url')}.${this.mac(scope, payload).toString('base64url')}`;
  }

  /** The name a token of `scope` continues after; a BadRequest for anything this meshd did not issue for it. */
  read(scope: string, token: string): string {
    const refused = badRequest(
      'nextToken: not a token this meshd gave for this list (tokens are signed, bound to one list, and do not survive a restart); start the listing again without it',
    );
    const dot = token.indexOf('.');
    if (dot < 0 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) throw refused;
    const payload = Buffer.from(token.slice(0, dot), 'base64url');
    const mac = Buffer.from(token.slice(dot + 1), 'base64url');
    const expected = this.mac(scope, payload);
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) throw refused;
    const value = JSON.parse(payload.toString('utf8')) as unknown;
    if (!Array.isArray(value) || value[0] !== VERSION || typeof value[1] !== 'string') throw refused;
    return value[1];
  }

  private mac(scope: string, payload: Buffer): Buffer {
    // The scope is length-prefixed, so no (scope, payload) pair can pass for another.
    return createHmac('sha256', this.key)
      .update(`${Buffer.byteLength(scope)}:${scope}`)
      .update(payload)
      .digest()
      .subarray(0, MAC_BYTES);
  }
}

/** The page of `items` (sorted by name) after `after`, `limit` long, and the last name when more follow. */
export function pageAfter<T>(
  items: readonly T[],
  nameOf: (item: T) => string,
  after: string | undefined,
  limit: number,
): { readonly items: readonly T[]; readonly last?: string } {
  const start = after === undefined ? 0 : items.findIndex((i) => nameOf(i) > after);
  const from = start < 0 ? items.length : start;
  const page = items.slice(from, from + limit);
  return from + limit < items.length ? { items: page, last: nameOf(page[page.length - 1]!) } : { items: page };
}
