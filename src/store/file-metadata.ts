// The uid, version and times of resources defined in the user's own mesh files. App Mesh shows
// them for every resource and Terraform keeps the uid as the resource's id, so they must not
// change across restarts: they are kept in a state file, and the version goes up when a reload
// finds the resource's spec changed.
import { randomUUID } from 'node:crypto';
import { createHash } from 'node:crypto';
import { AtomicJsonFile } from '../util/atomic-json-file';
import { canonicalJson } from '../util/canonical-json';
import type { ApiMetadata } from './api-file';

interface Kept extends ApiMetadata {
  /** A digest of the spec the version was given for. */
  readonly specHash: string;
  /** When its file stopped defining it; kept a while for a hand-over seen as a delete and then a create. */
  readonly goneAt?: number;
}

/**
 * How long a resource gone from the files keeps its uid: a file moved into the API's folder may be
 * seen as gone by one reload and back by the next, and Terraform keeps the uid as the resource's id.
 */
export const FORGET_AFTER_MS = 10 * 60_000;

export function specHash(spec: unknown): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('base64url');
}

export class FileResourceMetadata {
  private readonly file: AtomicJsonFile;
  private kept = new Map<string, Kept>();
  private dirty = false;

  /** Throws StateFileError when the file cannot be read. */
  constructor(path: string) {
    this.file = new AtomicJsonFile(path);
    const stored = this.file.read() as { resources?: Record<string, Kept> } | undefined;
    for (const [key, value] of Object.entries(stored?.resources ?? {})) {
      if (typeof value?.uid === 'string' && Number.isSafeInteger(value.version) && typeof value.specHash === 'string')
        this.kept.set(key, value);
    }
  }

  /** What a resource known before shows, if any (a file handed over to the API keeps its uid and version). */
  known(key: string): ApiMetadata | undefined {
    const kept = this.kept.get(key);
    return (
      kept && { uid: kept.uid, version: kept.version, createdAt: kept.createdAt, lastUpdatedAt: kept.lastUpdatedAt }
    );
  }

  /** The metadata of a file-defined resource with this spec now: new, the same, or one version up. */
  see(key: string, spec: object, now: number, hashes?: WeakMap<object, string>): ApiMetadata {
    let hash = hashes?.get(spec);
    if (hash === undefined) {
      hash = specHash(spec);
      hashes?.set(spec, hash);
    }
    const before = this.kept.get(key);
    if (before?.specHash === hash && before.goneAt === undefined) return before;
    const next: Kept =
      before && before.specHash === hash
        ? {
            uid: before.uid,
            version: before.version,
            createdAt: before.createdAt,
            lastUpdatedAt: before.lastUpdatedAt,
            specHash: hash,
          }
        : before
          ? {
              uid: before.uid,
              version: before.version + 1,
              createdAt: before.createdAt,
              lastUpdatedAt: now,
              specHash: hash,
            }
          : { uid: randomUUID(), version: 1, createdAt: now, lastUpdatedAt: now, specHash: hash };
    this.kept.set(key, next);
    this.dirty = true;
    return next;
  }

  /**
   * Marks resources no longer defined in files as gone, and forgets those gone for FORGET_AFTER_MS
   * (defined again after that, a resource is a new one with a new uid, as in App Mesh).
   */
  keepOnly(keys: ReadonlySet<string>, now: number): void {
    for (const [key, kept] of [...this.kept]) {
      if (keys.has(key)) continue;
      if (kept.goneAt === undefined) this.kept.set(key, { ...kept, goneAt: now });
      else if (now - kept.goneAt > FORGET_AFTER_MS) this.kept.delete(key);
      else continue;
      this.dirty = true;
    }
  }

  /** Forgets a resource now: the API's folder took it over. */
  forget(key: string): void {
    if (this.kept.delete(key)) this.dirty = true;
  }

  /** Writes the state file if anything changed; throws StateFileError. */
  save(): void {
    if (!this.dirty) return;
    this.file.write({ resources: Object.fromEntries([...this.kept].sort(([a], [b]) => (a < b ? -1 : 1))) });
    this.dirty = false;
  }
}
