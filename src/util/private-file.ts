// Files that hold a secret (the admin token, the CA state's key): read through one descriptor, so what is checked
// is what is read, and only when they are a regular file that no one but its owner can read, of a bounded size.
import * as fs from 'node:fs';

/** Why a private file was not read; the caller words the message (its flag, its fix). */
export type PrivateFileProblem =
  | { readonly kind: 'unreadable'; readonly error: NodeJS.ErrnoException }
  | { readonly kind: 'not_file' }
  | { readonly kind: 'exposed'; readonly mode: number }
  | { readonly kind: 'too_large'; readonly size: number };

export class PrivateFileError extends Error {
  constructor(readonly problem: PrivateFileProblem) {
    super(problem.kind);
  }
}

/**
 * The file's bytes. Throws PrivateFileError when it cannot be opened or read, is not a regular file, is readable by
 * group or others (`mode`: its permission bits), or is over `maxBytes`.
 */
export function readPrivateFile(file: string, maxBytes: number): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw new PrivateFileError({ kind: 'unreadable', error: err as NodeJS.ErrnoException });
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new PrivateFileError({ kind: 'not_file' });
    if ((stat.mode & 0o077) !== 0) throw new PrivateFileError({ kind: 'exposed', mode: stat.mode & 0o777 });
    if (stat.size > maxBytes) throw new PrivateFileError({ kind: 'too_large', size: stat.size });
    return fs.readFileSync(fd);
  } catch (err) {
    if (err instanceof PrivateFileError) throw err;
    throw new PrivateFileError({ kind: 'unreadable', error: err as NodeJS.ErrnoException });
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The text of a private file that holds one secret token, surrounding whitespace dropped. Throws an Error naming
 * `what` (e.g. 'the admin token file'), the file and the fix; `tooLargeNote` follows the size in that message.
 */
export function readPrivateText(file: string, what: string, maxBytes: number, tooLargeNote = ''): string {
  try {
    return readPrivateFile(file, maxBytes).toString('utf8').trim();
  } catch (err) {
    const problem = (err as PrivateFileError).problem;
    switch (problem?.kind) {
      case 'not_file':
        throw new Error(`${what} ${file} is not a regular file`);
      case 'too_large':
        throw new Error(`${what} ${file} is larger than ${maxBytes} bytes${tooLargeNote}`);
      case 'exposed':
        throw new Error(
          `${what} ${file} can be read by others (mode ${problem.mode.toString(8).padStart(3, '0')}): chmod 600 ${file}`,
        );
      default:
        throw new Error(`cannot read ${what} ${file}: ${problem?.error.code ?? String(err)}`);
    }
  }
}
