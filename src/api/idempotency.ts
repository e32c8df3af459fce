// clientToken idempotency (App Mesh's Create* and Update*): the same token with the same request
// answers what the first one answered, without applying it again (so an SDK retry of an update
// that did commit bumps no version, even if the resource changed since); the same token with a
// different request is a ConflictException. This runs before the If-Match precondition, or a
// retry of a committed update would be refused as stale.
//
// Keyed by (operation, resource, token): a token reused on another operation or resource is a
// new request. Only successes are kept (a refused request changed nothing, so its retry is judged
// afresh); a duplicate arriving while the first is still running waits for its answer. Bounded by
// age (8 hours, AWS's usual window) and count (oldest dropped first). In memory: a restart forgets
// the window, which the embedded store accepts; a shared store (PostgreSQL) would keep it there.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../util/canonical-json';
import { ApiError } from './errors';

export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

interface Entry {
  readonly fingerprint: string;
  readonly answer: Promise<Answer>;
  expiresAt: number;
}

export interface ClientTokenOptions {
  readonly ttlMs?: number;
  readonly maxEntries?: number;
  readonly now?: () => number;
}

export const DEFAULT_TOKEN_TTL_MS = 8 * 60 * 60 * 1000;
export const DEFAULT_MAX_TOKENS = 10_000;

export class ClientTokens {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: ClientTokenOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_TOKENS;
    this.now = options.now ?? Date.now;
  }

  /**
   * Answers a request carrying a clientToken: the stored answer for the same request, a
   * ConflictException for a different one, else `apply()`'s answer (kept when it is a success).
   */
  async run(key: string, fingerprint: string, apply: () => Promise<Answer>): Promise<Answer> {
    const now = this.now();
    const found = this.entries.get(key);
    if (found && found.expiresAt > now) {
      if (found.fingerprint !== fingerprint)
        throw new ApiError(
          'ConflictException',
          'the clientToken was used for an earlier request with different parameters; retry with a new clientToken',
        );
      return found.answer;
    }
    if (found) this.entries.delete(key);
    const answer = apply();
    // Until it settles, a duplicate waits for this answer; expiresAt is set once it has.
    const entry: Entry = { fingerprint, answer, expiresAt: Number.POSITIVE_INFINITY };
    this.entries.set(key, entry);
    this.evict();
    try {
      const settled = await answer;
      if (settled.status === 200) entry.expiresAt = this.now() + this.ttlMs;
      else if (this.entries.get(key) === entry) this.entries.delete(key);
      return settled;
    } catch (err) {
      if (this.entries.get(key) === entry) this.entries.delete(key);
      throw err;
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** Drops expired entries from the oldest end, then the oldest while there are too many. */
  private evict(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && entry.expiresAt > now) break;
      this.entries.delete(key);
    }
  }
}

/**
 * A digest of the request's parts, keys sorted, so that one
 * request always gives one text. Only for checked (bounded) input.
 */
export function fingerprintOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('base64url');
}
