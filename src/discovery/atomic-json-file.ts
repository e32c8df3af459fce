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
    const dir = path.dirname(this.path);
    const tmp = path.join(dir, `.${path.basename(this.path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    let fd: number | undefined;
    try {
      const text = JSON.stringify(value, null, 2) as string | undefined;
      if (text === undefined) throw new Error(`${typeof value} is not a JSON value`);
      fs.mkdirSync(dir, { recursive: true });
      fd = fs.openSync(tmp, 'wx');
      fs.writeFileSync(fd, text + '\n');
      // The data must be on disk before the rename makes it the file, or a crash could leave it empty.
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fd = undefined;
      // rename() replaces the file atomically on POSIX: readers see the old value or the new one.
      fs.renameSync(tmp, this.path);
      // The rename is a change to the folder: fsync it too, so the rename itself survives power loss.
      fsyncDir(dir);
    } catch (err) {
      const open = fd;
      if (open !== undefined) ignoreErrors(() => fs.closeSync(open));
      ignoreErrors(() => fs.unlinkSync(tmp));
      throw new StateFileError(`${this.path}: cannot write: ${reason(err)}`);
    }
  }

  /** A writer killed mid-write leaves its temp file behind; remove those so they do not pile up. */
  private removeStaleTempFiles(): void {
    const dir = path.dirname(this.path);
    const base = path.basename(this.path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const stale = new RegExp(`^\\.${base}\\.\\d+\\.[0-9a-f]+\\.tmp$`);
    ignoreErrors(() => {
      for (const name of fs.readdirSync(dir)) {
        if (stale.test(name)) ignoreErrors(() => fs.unlinkSync(path.join(dir, name)));
      }
    });
  }
}

function fsyncDir(dir: string): void {
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
