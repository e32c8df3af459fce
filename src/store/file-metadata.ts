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
}

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
    return this.kept.get(key);
  }

  /** The metadata of a file-defined resource with this spec now: new, the same, or one version up. */
  see(key: string, spec: unknown, now: number): ApiMetadata {
    const hash = specHash(spec);
    const before = this.kept.get(key);
    if (before?.specHash === hash) return before;
    const next: Kept = before
      ? { ...before, version: before.version + 1, lastUpdatedAt: now, specHash: hash }
      : { uid: randomUUID(), version: 1, createdAt: now, lastUpdatedAt: now, specHash: hash };
    this.kept.set(key, next);
    this.dirty = true;
    return next;
  }

  /** Forgets resources no longer defined in files (a resource defined again later is a new one, with a new uid). */
  keepOnly(keys: ReadonlySet<string>): void {
    for (const key of [...this.kept.keys()]) {
      if (keys.has(key)) continue;
      this.kept.delete(key);
      this.dirty = true;
    }
  }

  /** Writes the state file if anything changed; throws StateFileError. */
  save(): void {
    if (!this.dirty) return;
    this.file.write({ resources: Object.fromEntries([...this.kept].sort(([a], [b]) => (a < b ? -1 : 1))) });
    this.dirty = false;
  }
}
