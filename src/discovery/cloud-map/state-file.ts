// The registry on disk: read once at start, rewritten (atomically, durably) on every change,
// so registrations survive a restart and a crash mid-write never leaves a broken file.
import { AtomicJsonFile, StateFileError } from '../atomic-json-file';
import { emptyState, type RegistryState } from './records';
import { CloudMapRegistry } from './registry';

/** The registry stored at `path` (empty if the file does not exist yet), persisting every change there. */
export function openRegistry(path: string): CloudMapRegistry {
  const file = new AtomicJsonFile(path);
  const stored = file.read();
  const state = stored === undefined ? emptyState() : checkState(stored, path);
  return new CloudMapRegistry(state, { persist: (next) => file.write(next) });
}

/** The registry stored at `path`, in memory only: changes are not written back. */
export function openRegistryReadOnly(path: string): CloudMapRegistry {
  const stored = new AtomicJsonFile(path).read();
  return new CloudMapRegistry(stored === undefined ? emptyState() : checkState(stored, path));
}

function checkState(value: unknown, path: string): RegistryState {
  const state = value as Partial<RegistryState>;
  if (state === null || typeof state !== 'object' || state.format !== 'meshd-cloud-map/v1') {
    throw new StateFileError(`${path}: not a meshd Cloud Map state file (expected "format": "meshd-cloud-map/v1"); move it away or pass another --cloud-map-state`);
  }
  for (const table of ['namespaces', 'services', 'instances', 'operations'] as const) {
    if (!Array.isArray(state[table])) throw new StateFileError(`${path}: "${table}" must be a list; fix or remove the file`);
  }
  return state as RegistryState;
}
