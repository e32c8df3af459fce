// How a store hands the meshes its writes make to its listeners (MeshServer): on the next turn of
// the event loop, so the writer's answer goes first (a rollout sees the mesh it made only after its
// own bookkeeping, as for a file the watcher reloads), and a burst of writes once, as its last mesh.
// A load the caller serves itself supersedes a mesh not announced yet. Both stores use it.
import type { LoadedMesh } from './types';

export type MeshListener = (mesh: LoadedMesh, reason: string) => void;

export class MeshAnnouncer {
  private readonly listeners: MeshListener[] = [];
  /** The mesh the last writes made, to announce on the next turn; how many writes it holds. */
  private pending: { mesh: LoadedMesh; readonly reason: string; count: number } | undefined;

  /** `unit` names what a burst counts in the reason: "write" gives "… and 2 more write(s)". */
  constructor(private readonly unit: string) {}

  /** Whether a mesh waits to be handed to the listeners. */
  get waiting(): boolean {
    return this.pending !== undefined;
  }

  listen(listener: MeshListener): void {
    this.listeners.push(listener);
  }

  announce(mesh: LoadedMesh, reason: string): void {
    const pending = this.pending;
    if (pending) {
      pending.mesh = mesh;
      pending.count += 1;
      return;
    }
    const next = { mesh, reason, count: 1 };
    this.pending = next;
    setImmediate(() => {
      if (this.pending !== next) return; // a load since then took it in
      this.pending = undefined;
      const why = next.count === 1 ? next.reason : `${next.reason} and ${next.count - 1} more ${this.unit}(s)`;
      this.listeners.forEach((l) => l(next.mesh, why));
    });
  }

  /** The caller serves a mesh it loaded: it supersedes one not announced yet. */
  superseded(): void {
    this.pending = undefined;
  }
}
