// Watches mesh paths and calls back (debounced) when any mesh file is written, created,
// removed or replaced by rename, as editors that save atomically do. It also notices what
// chokidar cannot: a mesh folder deleted and created again, or swapped by a rename (git-sync
// replaces a `current -> rev-N` link), and watches the new one. Nothing the file system does
// (a symbolic link loop, a folder made unreadable, running out of file descriptors) escapes as
// an exception: it becomes a reported watcher error, and the path is watched again once it can be.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { fsErrorText, isMeshFile } from './mesh-source';

export interface MeshWatcher {
  /** Resolves once the initial scan is done (or has failed, and is reported) for every path. */
  ready: Promise<void>;
  /** Why each mesh path that is not fully watched right now is not; empty while all are. */
  unwatched(): readonly UnwatchedPath[];
  /**
   * Reports every mesh path as changed after a while: a load that failed for a passing reason (EMFILE) is tried again.
   */
  reloadLater(): void;
  close(): Promise<void>;
}

export interface UnwatchedPath {
  readonly path: string;
  readonly reason: string;
  /** When it stopped being watched (ms since the epoch). */
  readonly since: number;
}

export interface WatchReports {
  /**
   * An error from the file system while watching: its errno name ('other'
   * if none), and a line to log (none once a watch has logged a few).
   */
  error(code: string, message: string | undefined): void;
  /**
   * A mesh path stopped being watched (`watching` false), or is
   * watched again (a replaced folder, a recovery): a line to log.
   */
  state(message: string, watching: boolean): void;
}

export interface WatchOptions {
  /** Wait this long after a change before calling back; changes within it are reported as one. */
  readonly debounceMs?: number;
  /** How often each mesh path's identity (real path, device, inode) is compared with the one watched. */
  readonly checkIntervalMs?: number;
  readonly report?: WatchReports;
}

/** Most watcher errors a path logs until it is watched afresh (all are counted): EMFILE can come once per folder. */
const LOGGED_ERRORS_PER_WATCH = 5;
/** A path whose watch keeps failing is watched afresh at most every this many check intervals. */
const MAX_BACKOFF_CHECKS = 30;

/**
 * chokidar drops (does not delay) a second 'change' of one path within 50 ms of the first,
 * so a quick second save could leave meshd serving the first. After each batch, the files
 * are looked at again once that window has passed, and reported again if they changed.
 */
const CHOKIDAR_CHANGE_THROTTLE_MS = 50;

function fingerprint(file: string): string {
  try {
    const st = fs.statSync(file, { throwIfNoEntry: false });
    return st ? `${st.ino}:${st.size}:${st.mtimeMs}` : 'missing';
  } catch (err) {
    // A folder made unreadable (EACCES), too many open files: a state like any other, compared next time.
    return `error:${errorCode(err)}`;
  }
}

export function errorCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]{2,15}$/.test(code) ? code : 'other';
}

/**
 * What a mesh path is, as far as watching it goes: its real path, and the device, inode and birth
 * time of the folder watched (for a file, the folder it is in). Any of them changing means the
 * watch is on something that is no longer the mesh path. An error means it cannot be watched now.
 */
function identityOf(target: string): { ok: true; id: string; isFile: boolean } | { ok: false; reason: string } {
  try {
    const real = fs.realpathSync.native(target);
    const st = fs.statSync(real);
    const isFile = !st.isDirectory();
    const folder = isFile ? path.dirname(path.resolve(target)) : real;
    const f = isFile ? fs.statSync(folder) : st;
    fs.accessSync(folder, fs.constants.R_OK | fs.constants.X_OK); // a folder made unreadable can no longer be listed
    return { ok: true, id: `${isFile ? 'file' : 'folder'} ${real} ${f.dev}:${f.ino}:${f.birthtimeMs}`, isFile };
  } catch (err) {
    return { ok: false, reason: fsErrorText(err) };
  }
}

/**
 * Folders whose names start with a dot are not mesh files (listMeshFiles
 * skips them too): `.meshd/` holds the Cloud Map registry.
 */
function insideDotFolder(root: string, p: string): boolean {
  // chokidar asks about every entry each time it lists a folder again (on every change in it): most
  // are `root/...` with no segment starting with a dot, which is said without path.relative.
  if (p.startsWith(root) && p.charAt(root.length) === path.sep && !p.includes(`${path.sep}.`, root.length))
    return false;
  return path
    .relative(root, p)
    .split(path.sep)
    .some((segment) => segment.startsWith('.') && segment !== '..' && segment !== '.');
}

/**
 * One mesh path and its chokidar watcher. Each (re)watch is a new generation: events and errors
 * of an older watcher being closed are ignored.
 */
class WatchedPath {
  private watcher: FSWatcher | undefined;
  private generation = 0;
  /** What the current watcher watches (identityOf); undefined while nothing is watched. */
  private identity: string | undefined;
  /** Set while the path is not fully watched: it cannot be, or its watcher reported an error. */
  private problem: UnwatchedPath | undefined;
  private erredGeneration = 0;
  private errorsLogged = 0;
  /** After an error, when to try a fresh watch; the wait doubles while the errors go on. */
  private retryAt = 0;
  private backoffMs: number;
  /** A watch whose initial scan has not finished: not retried on top of itself, however slow the scan. */
  private scanning = false;
  private closed = false;

  constructor(
    readonly target: string,
    private readonly checkIntervalMs: number,
    private readonly report: WatchReports,
    private readonly onEvent: (file: string) => void,
  ) {
    this.backoffMs = checkIntervalMs;
  }

  unwatched(): UnwatchedPath | undefined {
    return this.problem;
  }

  /** The first watch; resolves when its initial scan is done or has failed. */
  start(): Promise<void> {
    return this.rewatch(undefined);
  }

  /** Called every check interval: watches again when the path is something else now, or when the last watch failed. */
  check(): void {
    if (this.closed) return;
    const now = identityOf(this.target);
    if (!now.ok) {
      if (this.identity !== undefined || this.problem?.reason !== now.reason) void this.rewatch(undefined);
    } else if (now.id !== this.identity) {
      void this.rewatch(
        this.identity === undefined
          ? `${this.target} can be watched again`
          : `${this.target} was replaced; watching the new one`,
      );
    } else if (this.problem && !this.scanning && Date.now() >= this.retryAt) {
      void this.rewatch(`${this.target} is watched again after an error`);
    }
  }

  /**
   * Closes the current watcher and opens one on what the path is
   * now; `message` (logged) says why, none for the first watch.
   */
  private async rewatch(message: string | undefined): Promise<void> {
    const generation = this.generation + 1;
    // Called without await from a timer: whatever goes wrong is a watcher error, never an unhandled rejection.
    await this.rewatchOrThrow(message).catch((err: unknown) => this.failed(generation, err));
  }

  private async rewatchOrThrow(message: string | undefined): Promise<void> {
    const generation = ++this.generation;
    this.scanning = false;
    const old = this.watcher;
    this.watcher = undefined;
    if (old) await old.close().catch(() => undefined);
    if (generation !== this.generation || this.closed) return;
    this.errorsLogged = 0;
    // Whatever changed while it was not watched, or what the new folder holds, is only seen by loading it again.
    if (old || message) this.onEvent(this.target);
    const now = identityOf(this.target);
    if (!now.ok) {
      this.identity = undefined;
      if (this.problem?.reason !== now.reason)
        this.report.state(
          `${this.target} cannot be watched: ${now.reason}; what meshd serves now (if anything) stays as it is until it can`,
          false,
        );
      this.problem = { path: this.target, reason: now.reason, since: this.problem?.since ?? Date.now() };
      return;
    }
    this.identity = now.id;
    const watcher = this.open(now.isFile, generation);
    this.watcher = watcher;
    this.scanning = true;
    const scanned = await new Promise<boolean>((resolve) => {
      watcher.once('ready', () => resolve(true));
      watcher.once('error', () => resolve(false));
    });
    if (generation !== this.generation || this.closed) return;
    this.scanning = false;
    if (scanned && this.erredGeneration !== generation) {
      if (message) this.report.state(message, true);
      this.problem = undefined;
      this.backoffMs = this.checkIntervalMs;
    }
  }

  /**
   * Counted, logged (a few per watch), and the path watched afresh
   * after a backoff: chokidar may have dropped part of the tree.
   */
  private failed(generation: number, err: unknown): void {
    if (generation !== this.generation || this.closed) return;
    const reason = fsErrorText(err);
    this.report.error(
      errorCode(err),
      this.errorsLogged++ < LOGGED_ERRORS_PER_WATCH ? `watching ${this.target}: ${reason}` : undefined,
    );
    if (this.erredGeneration === generation) return;
    this.erredGeneration = generation;
    this.retryAt = Date.now() + this.backoffMs;
    this.problem = {
      path: this.target,
      reason: `${reason} (watched afresh in ${Math.ceil(this.backoffMs / 1000)} s)`,
      since: this.problem?.since ?? Date.now(),
    };
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_CHECKS * this.checkIntervalMs);
  }

  /**
   * A file is watched through its folder: a watch on the file itself follows its inode, and
   * a save by rename replaces the inode, so a second quick save could go unseen.
   */
  private open(isFile: boolean, generation: number): FSWatcher {
    const file = path.resolve(this.target);
    const folderOf = new FolderClaims(isFile ? path.dirname(file) : file);
    const watcher = isFile
      ? watch(path.dirname(file), {
          ignoreInitial: true,
          depth: 0,
          ignored: (p) => p !== path.dirname(file) && path.resolve(p) !== file,
        })
      : watch(this.target, {
          ignoreInitial: true,
          ignored: (p, stats) =>
            insideDotFolder(this.target, p) ||
            (stats?.isFile() === true && !isMeshFile(p)) ||
            folderOf.isRepeat(p, stats),
        });
    const report = (p: string) => {
      if (generation === this.generation) this.onEvent(isFile ? this.target : p);
    };
    // Events are handled in a try: nothing chokidar calls may throw into its own machinery.
    const guarded = (f: (p: string) => void) => (p: string) => {
      try {
        f(p);
      } catch (err) {
        this.failed(generation, err);
      }
    };
    /**
     * chokidar does not see a mesh file that is a symbolic link to nothing (or to itself) come or
     * go: the folder's own fs.watch event does, and such a change must reload as any other.
     */
    const guardedRaw =
      (f: (event: string, evPath: unknown, details: unknown) => void) =>
      (event: string, evPath: unknown, details: unknown): void => {
        try {
          if (generation === this.generation) f(event, evPath, details);
        } catch {
          // stat failed (ELOOP, EACCES): reload, the load says why
          report(
            path.join(
              String((details as { watchedPath?: unknown } | undefined)?.watchedPath ?? this.target),
              String(evPath),
            ),
          );
        }
      };
    return watcher
      .on('add', guarded(report))
      .on('change', guarded(report))
      .on('unlink', guarded(report))
      .on(
        'unlinkDir',
        guarded((p) => {
          folderOf.forget(p);
          // The watched folder itself is gone: its watch is dead even if a new folder comes back under the same name.
          if (path.resolve(p) === file) this.identity = `${this.identity} (removed)`;
          report(p);
        }),
      )
      .on(
        'raw',
        guardedRaw((_event, evPath, details) => {
          const dir = (details as { watchedPath?: unknown } | undefined)?.watchedPath;
          // a file's own watch
          if (
            typeof evPath !== 'string' ||
            typeof dir !== 'string' ||
            !isMeshFile(evPath) ||
            path.basename(dir) === evPath
          )
            return;
          const candidate = path.join(dir, evPath);
          if (isFile ? path.resolve(candidate) !== file : insideDotFolder(this.target, candidate)) return;
          if (fs.statSync(candidate, { throwIfNoEntry: false })) return; // a file chokidar can see: it reports it
          if (watcher.getWatched()[dir]?.includes(evPath)) return; // a file chokidar knew: it reports its removal
          report(candidate);
        }),
      )
      .on('error', (err) => this.failed(generation, err));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.generation++;
    await this.watcher?.close().catch(() => undefined);
  }
}

/**
 * Which path first reached each real folder: chokidar follows symbolic links but not their loops
 * (`a/loop -> ..` is walked as a/loop/loop/... until the kernel says ELOOP, and two such links
 * make that exponential). A folder reached again under another path is not watched again,
 * which is how listMeshFiles lists it too.
 */
class FolderClaims {
  /** A folder's device and inode (cheaper than its real path in deep trees) → the first path that reached it. */
  private readonly firstPath = new Map<string, string>();

  constructor(root: string) {
    try {
      const st = fs.statSync(root);
      this.firstPath.set(`${st.dev}:${st.ino}`, root);
    } catch {
      // the root is checked (and reported) by its identity
    }
  }

  /**
   * True for a folder first reached under another path, and for a
   * link that cannot be followed (chokidar would report ELOOP).
   */
  isRepeat(p: string, stats: fs.Stats | undefined): boolean {
    const full = path.resolve(p);
    let st: fs.Stats;
    try {
      st = stats ?? fs.lstatSync(full); // without stats, chokidar has not looked yet
    } catch {
      return false; // gone: chokidar reports the removal
    }
    try {
      const target = st.isSymbolicLink() ? fs.statSync(full) : st;
      if (!target.isDirectory()) return false;
      const folder = `${target.dev}:${target.ino}`;
      const first = this.firstPath.get(folder);
      if (first === undefined) this.firstPath.set(folder, full);
      return first !== undefined && first !== full;
    } catch {
      return true; // a link to nowhere or to itself; listMeshFiles reports it, the 'raw' handler sees it come and go
    }
  }

  forget(p: string): void {
    const full = path.resolve(p);
    for (const [folder, first] of this.firstPath)
      if (first === full || first.startsWith(full + path.sep)) this.firstPath.delete(folder);
  }
}

/** `onChange` gets the changed files and when the first of them was seen changing (ms since the epoch). */
export function watchMeshPaths(
  paths: readonly string[],
  onChange: (changed: string[], detectedAt: number) => void,
  options: WatchOptions = {},
): MeshWatcher {
  const debounceMs = options.debounceMs ?? 10;
  const checkIntervalMs = options.checkIntervalMs ?? 1000;
  const report = options.report ?? { error: () => undefined, state: () => undefined };
  let pending = new Set<string>();
  let firstSeenAt: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  const rechecks = new Set<NodeJS.Timeout>();
  const schedule = (file: string) => {
    pending.add(path.normalize(file));
    firstSeenAt ??= Date.now();
    clearTimeout(timer);
    timer = setTimeout(flush, debounceMs);
  };
  const flush = () => {
    const changed = [...pending].sort();
    const detectedAt = firstSeenAt ?? Date.now();
    pending = new Set();
    firstSeenAt = undefined;
    const seen = new Map(changed.map((f) => [f, fingerprint(f)]));
    try {
      onChange(changed, detectedAt);
    } catch (err) {
      // A bug in the reload must not take the process down from a timer; it is reported like a watcher error.
      report.error('other', `reload after a change to ${changed.join(', ')} failed: ${fsErrorText(err)}`);
    }
    const recheck = setTimeout(() => {
      rechecks.delete(recheck);
      for (const [file, print] of seen) if (fingerprint(file) !== print) schedule(file);
    }, CHOKIDAR_CHANGE_THROTTLE_MS + 10);
    rechecks.add(recheck);
  };
  const watched = paths.map((p) => new WatchedPath(p, checkIntervalMs, report, schedule));
  const ready = Promise.all(watched.map((w) => w.start())).then(() => undefined);
  // A load that failed for a passing reason is tried again after a backoff that doubles while it keeps failing.
  let reloadAt: number | undefined;
  let reloadDelayMs = checkIntervalMs;
  const checker = setInterval(() => {
    watched.forEach((w) => w.check());
    if (reloadAt === undefined) reloadDelayMs = checkIntervalMs;
    else if (Date.now() >= reloadAt) {
      reloadAt = undefined;
      paths.forEach(schedule);
    }
  }, checkIntervalMs);
  checker.unref();
  return {
    ready,
    unwatched: () => watched.map((w) => w.unwatched()).filter((u): u is UnwatchedPath => u !== undefined),
    reloadLater: () => {
      reloadAt = Date.now() + reloadDelayMs;
      reloadDelayMs = Math.min(reloadDelayMs * 2, MAX_BACKOFF_CHECKS * checkIntervalMs);
    },
    close: async () => {
      clearInterval(checker);
      clearTimeout(timer);
      for (const t of rechecks) clearTimeout(t);
      await Promise.all(watched.map((w) => w.close()));
    },
  };
}
