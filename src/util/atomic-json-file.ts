// A JSON file that is always either the old value or the new one, never a torn mix, even if
// meshd is killed or the machine loses power mid-write: meshd keeps its Cloud Map registry here.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The state file cannot be read or written; the message is one line naming the file. */
export class StateFileError extends Error {
  override name = 'StateFileError';
}

export class AtomicJsonFile {
  constructor(readonly path: string) {}

  /** The stored value, or undefined when the file does not exist. */
  read(): unknown {
    this.removeStaleTempFiles();
    let text: string;
    try {
      text = fs.readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StateFileError(`${this.path}: cannot read: ${reason(err)}`);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new StateFileError(`${this.path}: not valid JSON (${reason(err)}); fix or remove it`);
    }
  }

  /** Replaces the stored value atomically and durably before returning. */
  write(value: unknown): void {
    try {
      const text = JSON.stringify(value, null, 2) as string | undefined;
      if (text === undefined) throw new Error(`${typeof value} is not a JSON value`);
      replaceFileAtomically(this.path, text + '\n');
    } catch (err) {
      throw new StateFileError(`${this.path}: cannot write: ${reason(err)}`);
    }
  }

  private removeStaleTempFiles(): void {
    removeStaleTempFiles(this.path);
  }
}

/** A writer killed mid-write leaves its temp file behind; remove those (of `file` only) so they do not pile up. */
export function removeStaleTempFiles(file: string): void {
  const real = realTarget(file);
  const dir = path.dirname(real);
  const base = path.basename(real).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const stale = new RegExp(`^\\.${base}\\.\\d+\\.[0-9a-f]+\\.tmp$`);
  ignoreErrors(() => {
    for (const name of fs.readdirSync(dir)) {
      if (stale.test(name)) ignoreErrors(() => fs.unlinkSync(path.join(dir, name)));
    }
  });
}

function tempFileFor(real: string): string {
  return path.join(path.dirname(real), `.${path.basename(real)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Replaces `file` with `text` so that readers (and the file after a crash or a power loss) see
 * the old text or the new, never a mix: a temp file next to it (a dot file, which meshd's
 * watcher and loader skip) is written and synced, renamed over it, and the folder synced. A
 * symlink stays a link (the file it points at is replaced); an existing file keeps its mode.
 */
export function replaceFileAtomically(file: string, text: string): void {
  const real = realTarget(file);
  const dir = path.dirname(real);
  const tmp = tempFileFor(real);
  const mode = fs.statSync(real, { throwIfNoEntry: false })?.mode;
  let fd: number | undefined;
  try {
    fs.mkdirSync(dir, { recursive: true });
    fd = fs.openSync(tmp, 'wx');
    fs.writeFileSync(fd, text);
    // openSync's mode is narrowed by the umask: set the old file's exactly.
    if (mode !== undefined) fs.fchmodSync(fd, mode & 0o7777);
    // The data must be on disk before the rename makes it the file, or a crash could leave it empty.
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    // rename() replaces the file atomically on POSIX: readers see the old text or the new one.
    fs.renameSync(tmp, real);
    // The rename is a change to the folder: fsync it too, so the rename itself survives power loss.
    fsyncDir(dir);
  } catch (err) {
    const open = fd;
    if (open !== undefined) ignoreErrors(() => fs.closeSync(open));
    ignoreErrors(() => fs.unlinkSync(tmp));
    throw err;
  }
}

/**
 * replaceFileAtomically for a large file, off the event loop: the text comes in pieces (made
 * between writes, so no one piece of work is long), written and synced by the thread pool.
 * `stillWanted` is asked just before the rename: false drops the new file (something newer
 * replaced it meanwhile). Resolves false when dropped.
 */
export async function replaceFileAtomicallyAsync(
  file: string,
  pieces: Iterable<string>,
  stillWanted: () => boolean = () => true,
): Promise<boolean> {
  const real = realTarget(file);
  const dir = path.dirname(real);
  const tmp = tempFileFor(real);
  const mode = fs.statSync(real, { throwIfNoEntry: false })?.mode;
  let handle: fs.promises.FileHandle | undefined;
  let renamed = false;
  try {
    await fs.promises.mkdir(dir, { recursive: true });
    handle = await fs.promises.open(tmp, 'wx');
    let batch: string[] = [];
    let batchLength = 0;
    for (const piece of pieces) {
      batch.push(piece);
      batchLength += piece.length;
      if (batchLength >= 256 * 1024) {
        await handle.write(batch.join(''));
        batch = [];
        batchLength = 0;
      }
    }
    if (batch.length > 0) await handle.write(batch.join(''));
    if (mode !== undefined) await handle.chmod(mode & 0o7777);
    await handle.sync();
    await handle.close();
    handle = undefined;
    if (!stillWanted()) {
      await fs.promises.unlink(tmp);
      return false;
    }
    // Synchronous, so that nothing runs between the check above and the rename.
    fs.renameSync(tmp, real);
    renamed = true;
    const dirHandle = await fs.promises.open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
    return true;
  } catch (err) {
    const open = handle;
    if (open !== undefined) await open.close().catch(() => undefined);
    if (!renamed) await fs.promises.unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** The file a path names, through any symlinks; the path itself when nothing is there yet. */
function realTarget(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return file;
  }
}

export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function ignoreErrors(f: () => void): void {
  try {
    f();
  } catch {
    // best effort
  }
}

function reason(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
}
