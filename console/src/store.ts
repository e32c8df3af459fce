// The latest telemetry, indexed by virtual node, and who wants to hear of a new one (the graph, which writes the
// numbers into its elements without a render).
import { indexTelemetry } from './live';
import type { Telemetry } from './types';

export class LiveStore {
  index = indexTelemetry(undefined);
  private listeners = new Set<() => void>();

  set(t: Telemetry): void {
    this.index = indexTelemetry(t);
    for (const l of this.listeners) l();
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
