// Watches mesh paths and calls back (debounced) when any mesh file is written, created,
// removed or replaced by rename, as editors that save atomically do.
import * as path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { isMeshFile } from './mesh-source';

export interface MeshWatcher {
  /** Resolves once the initial scan is done and changes are being reported. */
  ready: Promise<void>;
  close(): Promise<void>;
}

export function watchMeshPaths(paths: readonly string[], onChange: (changed: string[]) => void, debounceMs = 10): MeshWatcher {
  const watcher: FSWatcher = watch([...paths], {
    ignoreInitial: true,
    // A file replaced by rename shows up as unlink+add; chokidar folds them into one change.
    atomic: true,
    ignored: (file, stats) => stats?.isFile() === true && !isMeshFile(file),
  });
  let pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const schedule = (file: string) => {
    if (!isMeshFile(file) && !paths.includes(file)) return;
    pending.add(path.normalize(file));
    clearTimeout(timer);
    timer = setTimeout(() => {
      const changed = [...pending].sort();
      pending = new Set();
      onChange(changed);
    }, debounceMs);
  };
  watcher.on('add', schedule).on('change', schedule).on('unlink', schedule);
  const ready = new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return {
    ready,
    close: async () => {
      clearTimeout(timer);
      await watcher.close();
    },
  };
}
