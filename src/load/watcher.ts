// Watches mesh paths and calls back (debounced) when any mesh file is written, created,
// removed or replaced by rename, as editors that save atomically do.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { isMeshFile } from './mesh-source';

export interface MeshWatcher {
  /** Resolves once the initial scan is done and changes are being reported. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * A file is watched through its folder: a watch on the file itself follows its inode, and
 * a save by rename replaces the inode, so a second quick save could go unseen.
 */
function watchOne(target: string, onEvent: (file: string) => void): FSWatcher {
  const isFile = fs.statSync(target, { throwIfNoEntry: false })?.isFile() === true;
  const file = path.resolve(target);
  const watcher = isFile
    ? watch(path.dirname(file), { ignoreInitial: true, depth: 0, ignored: (p) => p !== path.dirname(file) && path.resolve(p) !== file })
    : watch(target, { ignoreInitial: true, ignored: (p, stats) => insideDotFolder(target, p) || (stats?.isFile() === true && !isMeshFile(p)) });
  const report = (p: string) => onEvent(isFile ? target : p);
  return watcher.on('add', report).on('change', report).on('unlink', report);
}

/** Folders whose names start with a dot are not mesh files (listMeshFiles skips them too): `.meshd/` holds the Cloud Map registry. */
function insideDotFolder(root: string, p: string): boolean {
  return path
    .relative(root, p)
    .split(path.sep)
    .some((segment) => segment.startsWith('.') && segment !== '..' && segment !== '.');
}

/**
 * chokidar drops (does not delay) a second 'change' of one path within 50 ms of the first,
 * so a quick second save could leave meshd serving the first. After each batch, the files
 * are looked at again once that window has passed, and reported again if they changed.
 */
const CHOKIDAR_CHANGE_THROTTLE_MS = 50;

function fingerprint(file: string): string {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  return st ? `${st.ino}:${st.size}:${st.mtimeMs}` : 'missing';
}

/** `onChange` gets the changed files and when the first of them was seen changing (ms since the epoch). */
export function watchMeshPaths(paths: readonly string[], onChange: (changed: string[], detectedAt: number) => void, debounceMs = 10): MeshWatcher {
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
    onChange(changed, detectedAt);
    const recheck = setTimeout(() => {
      rechecks.delete(recheck);
      for (const [file, print] of seen) if (fingerprint(file) !== print) schedule(file);
    }, CHOKIDAR_CHANGE_THROTTLE_MS + 10);
    rechecks.add(recheck);
  };
  const watchers = paths.map((p) => watchOne(p, schedule));
  const ready = Promise.all(watchers.map((w) => new Promise<void>((resolve) => w.once('ready', () => resolve())))).then(() => undefined);
  return {
    ready,
    close: async () => {
      clearTimeout(timer);
      for (const t of rechecks) clearTimeout(t);
      await Promise.all(watchers.map((w) => w.close()));
    },
  };
}
