// Where exported files go: stdout as one stream the loader reads back as multi-document YAML,
// or a folder, written so that it is never half-written.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fsyncDir, replaceFileAtomically } from '../util/atomic-json-file';
import type { ExportedFile } from './exported';

/** --out cannot be used as asked; the message is one line naming the folder. */
export class OutFolderError extends Error {
  override name = 'OutFolderError';
}

/**
 * All files as one text: each file is a YAML document, introduced by `--- # <path>` (JSON is
 * YAML too), so the stream can be saved as one `.yaml` file and loaded as it is.
 */
export function exportAsStream(files: readonly ExportedFile[]): string {
  return files.map((f) => `--- # ${f.path}\n${f.text.endsWith('\n') ? f.text : `${f.text}\n`}`).join('');
}

/** The mesh files meshd would load from a folder (what --force replaces): not dot files, .yaml/.yml/.json. */
function meshFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...meshFilesUnder(full));
    else if (/\.(ya?ml|json)$/i.test(entry.name)) out.push(full);
  }
  return out;
}

/**
 * Writes the files under `out`.
 * - `out` missing or empty: the files are written into a temporary folder next to it, synced, and
 *   the folder renamed to `out`: `out` holds all of them or none.
 * - `out` not empty: refused, unless `force`. Then each file is replaced atomically (a reader sees
 *   the old text or the new one), and the mesh files meshd would read under `out` that the export
 *   no longer has are removed (a resource deleted since the last export must not stay in the
 *   folder); dot files and folders (`.git`) and other files are left alone.
 * Returns the paths written.
 */
export function writeExportFolder(out: string, files: readonly ExportedFile[], force: boolean): string[] {
  const st = fs.statSync(out, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) throw new OutFolderError(`--out ${out} is not a folder`);
  const empty = !st || fs.readdirSync(out).length === 0;
  if (!empty && !force)
    throw new OutFolderError(`--out ${out} is not empty; give --force to replace the mesh files in it`);
  if (empty) {
    const parent = path.dirname(path.resolve(out));
    fs.mkdirSync(parent, { recursive: true });
    const tmp = path.join(
      parent,
      `.${path.basename(path.resolve(out))}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
    );
    try {
      for (const f of files) {
        const file = path.join(tmp, ...f.path.split('/'));
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const fd = fs.openSync(file, 'wx');
        try {
          fs.writeFileSync(fd, f.text);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
      }
      for (const dir of new Set(files.map((f) => path.dirname(path.join(tmp, ...f.path.split('/')))))) fsyncDir(dir);
      if (st) fs.rmdirSync(out); // empty: renameSync does not replace a folder on every platform
      fs.renameSync(tmp, out);
      fsyncDir(parent);
    } catch (err) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
  } else {
    const wanted = new Set(files.map((f) => path.resolve(out, ...f.path.split('/'))));
    for (const f of files) replaceFileAtomically(path.join(out, ...f.path.split('/')), f.text);
    for (const old of meshFilesUnder(out)) if (!wanted.has(path.resolve(old))) fs.unlinkSync(old);
  }
  return files.map((f) => path.join(out, ...f.path.split('/')));
}
