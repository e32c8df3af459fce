// The uid, version and times of resources defined in the user's own mesh files. App Mesh shows
// them for every resource and Terraform keeps the uid as the resource's id, so they must not
// change across restarts: they are kept in a state file, and the version goes up when a reload
// finds the resource's spec changed.
import { randomUUID } from 'node:crypto';
import { createHash } from 'node:crypto';
import { AtomicJsonFile, replaceFileAtomically, StateFileError } from '../util/atomic-json-file';
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
  /** The keys whose resource is gone from the files (goneAt set): what expires. */
  private readonly gone = new Set<string>();
  /** The kept keys in order, while no key comes or goes (the state file lists them sorted). */
  private sortedKeys: string[] | undefined;
  /** Each record's lines in the state file (with its key): a save writes what did not change from these. */
  private readonly recordText = new WeakMap<Kept, string>();

  /** Throws StateFileError when the file cannot be read. */
  constructor(path: string) {
    this.file = new AtomicJsonFile(path);
    const stored = this.file.read() as { resources?: Record<string, Kept> } | undefined;
    for (const [key, value] of Object.entries(stored?.resources ?? {})) {
      if (typeof value?.uid === 'string' && Number.isSafeInteger(value.version) && typeof value.specHash === 'string')
        this.set(key, value);
    }
  }

  private set(key: string, kept: Kept): void {
    if (!this.kept.has(key)) this.sortedKeys = undefined;
    this.kept.set(key, kept);
    if (kept.goneAt === undefined) this.gone.delete(key);
    else this.gone.add(key);
    this.dirty = true;
  }

  private delete(key: string): void {
    if (!this.kept.delete(key)) return;
    this.gone.delete(key);
    this.sortedKeys = undefined;
    this.dirty = true;
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
    this.set(key, next);
    return next;
  }

  /**
   * Marks resources no longer defined in files as gone, and forgets those gone for FORGET_AFTER_MS
   * (defined again after that, a resource is a new one with a new uid, as in App Mesh).
   */
  keepOnly(keys: ReadonlySet<string>, now: number): void {
    this.markGone(
      [...this.kept.keys()].filter((key) => !keys.has(key)),
      now,
    );
  }

  /**
   * keepOnly for a reload that knows what changed: these keys are no longer defined in files (the
   * others are as they were), and those gone for FORGET_AFTER_MS are forgotten.
   */
  markGone(keys: Iterable<string>, now: number): void {
    for (const key of keys) {
      const kept = this.kept.get(key);
      if (kept && kept.goneAt === undefined) this.set(key, { ...kept, goneAt: now });
    }
    for (const key of [...this.gone]) if (now - this.kept.get(key)!.goneAt! > FORGET_AFTER_MS) this.delete(key);
  }

  /** Forgets a resource now: the API's folder took it over. */
  forget(key: string): void {
    this.delete(key);
  }

  /**
   * Writes the state file if anything changed; throws StateFileError. The text is what
   * JSON.stringify(state, null, 2) gives, made from each record's text kept from the last save.
   */
  save(): void {
    if (!this.dirty) return;
    this.sortedKeys ??= [...this.kept.keys()].sort((a, b) => (a < b ? -1 : 1));
    const records = this.sortedKeys.map((key) => {
      // A record is kept under one key: its line, key and all, is made once.
      const kept = this.kept.get(key)!;
      let line = this.recordText.get(kept);
      if (line === undefined) {
        line = `    ${JSON.stringify(key)}: ${JSON.stringify(kept, null, 2).replaceAll('\n', '\n    ')}`;
        this.recordText.set(kept, line);
      }
      return line;
    });
    const text =
      records.length === 0 ? '{\n  "resources": {}\n}\n' : `{\n  "resources": {\n${records.join(',\n')}\n  }\n}\n`;
    try {
      replaceFileAtomically(this.file.path, text);
    } catch (err) {
      throw new StateFileError(
        `${this.file.path}: cannot write: ${(err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim()}`,
      );
    }
    this.dirty = false;
  }
}
