// The registry on disk: a snapshot (the state file, `meshd-cloud-map/v1`, as earlier meshd
// versions wrote it) and a journal next to it (`<state file>.journal`), one JSON line per
// change. A write appends one line and syncs it before the caller is answered, so its cost is
// the size of the change, whatever the size of the registry. When the journal has grown past
// the snapshot (and past --cloud-map-journal-bytes), the snapshot is rewritten off the event
// loop and the journal cut down to the lines written since.
//
// Crash safety: an acknowledged change is in the journal (synced) or in a snapshot (renamed
// into place and the folder synced). The snapshot names the last journal line it holds
// (`journalSeq`): lines up to it are skipped on load, so a crash between rewriting the snapshot
// and cutting the journal loses and repeats nothing. A torn last line (killed mid-append) was
// never acknowledged: it is ignored, and cut off before the next append.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  AtomicJsonFile,
  fsyncDir,
  removeStaleTempFiles,
  replaceFileAtomically,
  replaceFileAtomicallyAsync,
  StateFileError,
} from '../../util/atomic-json-file';
import { type AttributePolicy } from './attributes';
import { emptyState, type RegistryState } from './records';
import { CloudMapRegistry } from './registry';
import { applyChange, KEY_OF, stateTables, TABLE_NAMES, type RegistryChange, type TableName } from './tables';

export const FORMAT = 'meshd-cloud-map/v1';
/** The journal is compacted once it is larger than the snapshot and than this. */
export const DEFAULT_JOURNAL_BYTES = 1024 * 1024;

export interface OpenOptions {
  /** Compact once the journal is larger than this (and than the snapshot). */
  readonly journalBytes?: number;
  readonly attributes?: AttributePolicy;
  /** A compaction failed (the journal keeps every change; it is tried again later). */
  readonly onCompactionError?: (message: string) => void;
}

export function journalPathOf(statePath: string): string {
  return `${statePath}.journal`;
}

/** The registry stored at `path` (empty if nothing is there yet), persisting every change there. */
export function openRegistry(statePath: string, options: OpenOptions = {}): CloudMapRegistry {
  return openRegistryStore(statePath, options).registry;
}

/** The registry and its store (to wait for a compaction in progress, or to close it). */
export function openRegistryStore(
  statePath: string,
  options: OpenOptions = {},
): { registry: CloudMapRegistry; store: JournalStore } {
  const loaded = loadState(statePath, { repair: true });
  const store = new JournalStore(statePath, loaded, options);
  const registry = new CloudMapRegistry(loaded.state, {
    persist: (change) => store.append(change, () => registry.records()),
    ...(options.attributes ? { attributes: options.attributes } : {}),
  });
  return { registry, store };
}

/** The registry stored at `path`, in memory only: changes are not written back. */
export function openRegistryReadOnly(statePath: string): CloudMapRegistry {
  return new CloudMapRegistry(loadState(statePath, { repair: false }).state);
}

interface Loaded {
  readonly state: RegistryState;
  /** The last change held (snapshot or journal). */
  readonly seq: number;
  readonly snapshotExists: boolean;
  readonly snapshotBytes: number;
  /** The journal's length up to its last whole line. */
  readonly journalBytes: number;
}

/** Reads the snapshot and replays the journal over it; `repair` cuts a torn last line off the journal. */
export function loadState(statePath: string, { repair }: { repair: boolean }): Loaded {
  const journalPath = journalPathOf(statePath);
  const stored = new AtomicJsonFile(statePath).read();
  if (repair) removeStaleTempFiles(journalPath);
  const snapshot = stored === undefined ? undefined : checkState(stored, statePath);
  const base = snapshot?.journalSeq ?? 0;
  const snapshotBytes = snapshot ? fileSize(statePath) : 0;

  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(journalPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      return {
        state: snapshot?.state ?? emptyState(),
        seq: base,
        snapshotExists: snapshot !== undefined,
        snapshotBytes,
        journalBytes: 0,
      };
    throw new StateFileError(`${journalPath}: cannot read: ${reason(err)}`);
  }

  const tables = stateTables(snapshot?.state ?? emptyState());
  let seq = base;
  let offset = 0;
  let validBytes = 0;
  let lineNo = 0;
  while (offset < bytes.length) {
    const end = bytes.indexOf(0x0a, offset);
    // No newline: the last line is torn (killed mid-append), even if what is there parses.
    if (end < 0) break;
    lineNo++;
    const entry = parseEntry(bytes.toString('utf8', offset, end));
    if ('error' in entry) {
      // A line is acknowledged only once it is whole and synced: a bad last line never was.
      if (end + 1 >= bytes.length) break;
      throw new StateFileError(
        `${journalPath}:${lineNo}: ${entry.error}; fix or remove the journal (and the state file with it)`,
      );
    }
    if (entry.seq > seq) {
      if (entry.seq !== seq + 1) {
        throw new StateFileError(
          `${journalPath}:${lineNo}: change ${entry.seq} follows change ${seq}: changes are missing` +
            (snapshot ? '' : ` (there is no state file ${statePath})`) +
            '; restore them or remove the journal',
        );
      }
      applyChange(tables, entry.change);
      seq = entry.seq;
    } else if (entry.seq > base) {
      throw new StateFileError(
        `${journalPath}:${lineNo}: change ${entry.seq} comes after change ${seq}; fix or remove the journal`,
      );
    }
    // Lines the snapshot already holds (seq <= base) are skipped.
    offset = end + 1;
    validBytes = offset;
  }
  if (repair && validBytes < bytes.length) cutJournal(journalPath, validBytes);

  const state: RegistryState = {
    format: FORMAT,
    namespaces: [...tables.namespaces.values()],
    services: [...tables.services.values()],
    instances: [...tables.instances.values()],
    operations: [...tables.operations.values()],
    appliedSeeds: [...tables.appliedSeeds.values()],
  };
  return { state, seq, snapshotExists: snapshot !== undefined, snapshotBytes, journalBytes: validBytes };
}

/**
 * Appends changes to the journal and compacts it. Every method is synchronous except the
 * compaction, which runs on its own once the journal is large (see `idle()`).
 */
export class JournalStore {
  readonly journalPath: string;
  private seq: number;
  private snapshotExists: boolean;
  private snapshotBytes: number;
  private journalBytes: number;
  private fd: number | undefined;
  /**
   * An append failed, so the journal's end is in doubt: the next
   * write rewrites the snapshot and starts a fresh journal.
   */
  private broken = false;
  private readonly journalLimit: number;
  /** While a compaction writes the snapshot: the lines appended since its capture. */
  private linesSinceCapture: string[] | undefined;
  private compaction: Promise<void> | undefined;
  /** Bumped when the snapshot is rewritten synchronously, so a compaction in flight does not overwrite it. */
  private snapshotGeneration = 0;
  /** After a failed compaction, wait until the journal has grown this large. */
  private retryAtBytes = 0;
  private closed = false;

  constructor(
    readonly statePath: string,
    loaded: Loaded,
    private readonly options: OpenOptions = {},
  ) {
    this.journalPath = journalPathOf(statePath);
    this.seq = loaded.seq;
    this.snapshotExists = loaded.snapshotExists;
    this.snapshotBytes = loaded.snapshotBytes;
    this.journalBytes = loaded.journalBytes;
    this.journalLimit = options.journalBytes ?? DEFAULT_JOURNAL_BYTES;
  }

  /** Makes one change durable before returning; throws a StateFileError (nothing stored) when it cannot. */
  append(change: RegistryChange, capture: () => RegistryState): void {
    if (this.closed) throw new StateFileError(`${this.statePath}: cannot write: the registry is closed`);
    const seq = this.seq + 1;
    if (!this.snapshotExists || this.broken) {
      // The first write (or one after a journal that could not be repaired): the whole state, once.
      this.writeSnapshotNow(capture(), seq);
      this.seq = seq;
      return;
    }
    const line = JSON.stringify({ seq, ...change }) + '\n';
    this.appendLine(line);
    this.seq = seq;
    this.linesSinceCapture?.push(line);
    if (this.shouldCompact()) this.compaction ??= this.compact(capture);
  }

  /** Resolves once no compaction is running (tests; shutdown). */
  async idle(): Promise<void> {
    while (this.compaction) await this.compaction;
  }

  /** Waits for a compaction in progress, then closes the journal. */
  async close(): Promise<void> {
    await this.idle();
    this.closed = true;
    this.closeFd();
  }

  private shouldCompact(): boolean {
    return this.journalBytes > Math.max(this.snapshotBytes, this.journalLimit, this.retryAtBytes);
  }

  private appendLine(line: string): void {
    const bytes = Buffer.from(line, 'utf8');
    let syncing = false;
    try {
      const fd = this.openJournal();
      let written = 0;
      while (written < bytes.length)
        written += fs.writeSync(fd, bytes, written, bytes.length - written, this.journalBytes + written);
      // The line must be on disk before the caller hears the change is done.
      syncing = true;
      fs.fdatasyncSync(fd);
    } catch (err) {
      // Cut a partial line off, so that the next line does not follow garbage. A failed sync
      // leaves what is on disk in doubt (the kernel may drop the dirty pages): then the next
      // change rewrites the snapshot (once) and starts a fresh journal instead.
      let cut = false;
      try {
        if (this.fd !== undefined) fs.ftruncateSync(this.fd, this.journalBytes);
        cut = true;
      } catch {
        // the fresh start below covers it
      }
      if (syncing || !cut) {
        this.broken = true;
        this.closeFd();
      }
      throw new StateFileError(`${this.journalPath}: cannot write: ${reason(err)}`);
    }
    this.journalBytes += bytes.length;
  }

  private openJournal(): number {
    if (this.fd !== undefined) return this.fd;
    const existed = fs.existsSync(this.journalPath);
    // Not O_APPEND: every write names its offset (the end of the last whole line).
    const fd = fs.openSync(this.journalPath, fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o644);
    try {
      // Mirror the state file's mode, so that a private registry keeps a private journal.
      const mode = fs.statSync(this.statePath, { throwIfNoEntry: false })?.mode;
      if (!existed && mode !== undefined) fs.fchmodSync(fd, mode & 0o777);
      // A new journal is a new name in the folder: sync the folder so that the name survives a crash.
      if (!existed) fsyncDir(path.dirname(this.journalPath));
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    this.fd = fd;
    return fd;
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // already gone
    }
    this.fd = undefined;
  }

  private writeSnapshotNow(state: RegistryState, seq: number): void {
    try {
      const text = [...snapshotPieces(state, seq)].join('');
      replaceFileAtomically(this.statePath, text);
      this.snapshotGeneration++;
      this.snapshotExists = true;
      this.snapshotBytes = Buffer.byteLength(text);
    } catch (err) {
      throw new StateFileError(`${this.statePath}: cannot write: ${reason(err)}`);
    }
    // Every journal line is now in the snapshot; an empty journal is tidier (and one that
    // cannot be emptied is harmless: its lines are skipped).
    this.linesSinceCapture = this.linesSinceCapture && [];
    this.replaceJournal([]);
  }

  /** Replaces the journal with `lines` (atomically), keeping it open for appends. */
  private replaceJournal(lines: readonly string[]): void {
    const text = lines.join('');
    if (text === '' && !fs.existsSync(this.journalPath)) {
      this.journalBytes = 0;
      this.broken = false;
      return;
    }
    try {
      replaceFileAtomically(this.journalPath, text);
      this.closeFd();
      this.journalBytes = Buffer.byteLength(text);
      this.broken = false;
    } catch (err) {
      // The old journal stays; its lines are in the snapshot (skipped on load), and it is cut next time.
      this.options.onCompactionError?.(
        `${this.journalPath}: cannot be cut down after the snapshot was written: ${reason(err)}`,
      );
    }
  }

  /** Rewrites the snapshot off the event loop, then cuts the journal down to what came since. */
  private async compact(capture: () => RegistryState): Promise<void> {
    // Let the caller's answer go out first.
    await new Promise((resolve) => setImmediate(resolve));
    const seq = this.seq;
    const state = capture();
    const generation = this.snapshotGeneration;
    this.linesSinceCapture = [];
    const pieces = snapshotPieces(state, seq);
    let bytes = 0;
    const counted = (function* () {
      for (const piece of pieces) {
        bytes += Buffer.byteLength(piece);
        yield piece;
      }
    })();
    try {
      const written = await replaceFileAtomicallyAsync(
        this.statePath,
        counted,
        () => generation === this.snapshotGeneration && !this.closed,
      );
      if (written) {
        this.snapshotBytes = bytes;
        this.retryAtBytes = 0;
        this.replaceJournal(this.linesSinceCapture);
      }
    } catch (err) {
      // Nothing is lost (the journal holds every change); try again once it has doubled.
      this.retryAtBytes = this.journalBytes * 2;
      this.options.onCompactionError?.(
        `${this.statePath}: the snapshot could not be rewritten (the journal keeps every change): ${reason(err)}`,
      );
    } finally {
      this.linesSinceCapture = undefined;
      this.compaction = undefined;
    }
  }
}

/**
 * The snapshot's text in pieces of a few records, each made when the writer asks for it: the
 * state file's format, one record a line, with `journalSeq`, the last journal line it holds.
 */
function* snapshotPieces(state: RegistryState, seq: number): Generator<string> {
  yield `{\n  "format": ${JSON.stringify(FORMAT)},\n  "journalSeq": ${seq}`;
  for (const name of TABLE_NAMES) {
    const rows = (state[name] ?? []) as readonly unknown[];
    yield `,\n  ${JSON.stringify(name)}: [`;
    for (let i = 0; i < rows.length; i += 64) {
      yield rows
        .slice(i, i + 64)
        .map((row, j) => `${i + j === 0 ? '' : ','}\n    ${JSON.stringify(row)}`)
        .join('');
    }
    yield rows.length > 0 ? '\n  ]' : ']';
  }
  yield '\n}\n';
}

// ---------------------------------------------------------------------------------------------
// Checking what is read (the files are input too: a wrong shape is a one-line error, never a crash)

function checkState(value: unknown, statePath: string): { state: RegistryState; journalSeq: number } {
  const state = value as Partial<RegistryState> & { journalSeq?: unknown };
  if (state === null || typeof state !== 'object' || Array.isArray(state) || state.format !== FORMAT) {
    throw new StateFileError(
      `${statePath}: not a meshd Cloud Map state file (expected "format": "${FORMAT}"); move it away or pass another --cloud-map-state`,
    );
  }
  for (const table of TABLE_NAMES) {
    if (table === 'appliedSeeds' && state[table] === undefined) continue;
    if (!Array.isArray(state[table]))
      throw new StateFileError(`${statePath}: "${table}" must be a list; fix or remove the file`);
    const problem = rowsProblem(table, state[table] as unknown[]);
    if (problem) throw new StateFileError(`${statePath}: ${problem}; fix or remove the file`);
  }
  const journalSeq = state.journalSeq ?? 0;
  if (typeof journalSeq !== 'number' || !Number.isSafeInteger(journalSeq) || journalSeq < 0) {
    throw new StateFileError(`${statePath}: "journalSeq" must be a whole number; fix or remove the file`);
  }
  return { state: state as RegistryState, journalSeq };
}

/** Rows must at least carry the string fields their keys are made of. */
function rowsProblem(table: TableName, rows: readonly unknown[]): string | undefined {
  const keyOf = KEY_OF[table] as (row: never) => string;
  for (const [i, row] of rows.entries()) {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) return `${table}[${i}] must be an object`;
    const fields = KEY_FIELDS[table];
    const missing = fields.find((f) => typeof (row as Record<string, unknown>)[f] !== 'string');
    if (missing) return `${table}[${i}].${missing} must be a string`;
    keyOf(row as never);
  }
  return undefined;
}

const KEY_FIELDS: { readonly [T in TableName]: readonly string[] } = {
  namespaces: ['id', 'name'],
  services: ['id', 'name', 'namespaceId'],
  instances: ['id', 'serviceId'],
  operations: ['id'],
  appliedSeeds: ['namespace', 'service', 'id'],
};

function parseEntry(line: string): { seq: number; change: RegistryChange } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return { error: `not valid JSON (${reason(err)})` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return { error: 'not a journal entry (expected an object)' };
  const entry = value as { seq?: unknown; put?: unknown; delete?: unknown };
  if (typeof entry.seq !== 'number' || !Number.isSafeInteger(entry.seq) || entry.seq < 1)
    return { error: '"seq" must be a whole number from 1' };
  const put = new Map<TableName, unknown[]>();
  const deleted = new Map<TableName, string[]>();
  for (const [field, into] of [
    ['put', put],
    ['delete', deleted],
  ] as const) {
    const tables = entry[field] ?? {};
    if (tables === null || typeof tables !== 'object' || Array.isArray(tables))
      return { error: `"${field}" must be an object` };
    for (const [name, rows] of Object.entries(tables)) {
      if (!(TABLE_NAMES as readonly string[]).includes(name))
        return { error: `"${field}" names an unknown table '${name.slice(0, 64)}'` };
      if (!Array.isArray(rows)) return { error: `"${field}".${name} must be a list` };
      if (field === 'delete') {
        if (rows.some((k) => typeof k !== 'string')) return { error: `"delete".${name} must list keys (strings)` };
      } else {
        const problem = rowsProblem(name as TableName, rows);
        if (problem) return { error: `"put".${problem}` };
      }
      (into as Map<TableName, unknown[]>).set(name as TableName, rows);
    }
  }
  return {
    seq: entry.seq,
    change: { put: Object.fromEntries(put), delete: Object.fromEntries(deleted) } as RegistryChange,
  };
}

function cutJournal(journalPath: string, length: number): void {
  try {
    const fd = fs.openSync(journalPath, 'r+');
    try {
      fs.ftruncateSync(fd, length);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    throw new StateFileError(`${journalPath}: cannot cut off its torn last line: ${reason(err)}`);
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function reason(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
}
