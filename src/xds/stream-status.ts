// What each open ADS stream has been sent and has acknowledged: the one status model that
// logs, the admin API and the CLI read.

export type SyncState = 'SYNCED' | 'STALE' | 'NACKED' | 'NOT_SENT';

export interface TypeStatus {
  /** Version of the last response sent on this stream for the type. */
  sentVersion?: string;
  /** Version the proxy last acknowledged. */
  ackedVersion?: string;
  lastNack?: { version: string; message: string; at: string };
}

export interface StreamStatus {
  readonly streamId: number;
  readonly nodeId: string;
  readonly nodeCluster: string;
  readonly nodeKey: string;
  readonly peer: string;
  readonly connectedAt: string;
  /** type URL → what was sent and acknowledged. */
  readonly types: Map<string, TypeStatus>;
}

export function syncState(t: TypeStatus): SyncState {
  if (t.sentVersion === undefined) return 'NOT_SENT';
  if (t.ackedVersion === t.sentVersion) return 'SYNCED';
  if (t.lastNack && t.lastNack.version === t.sentVersion) return 'NACKED';
  return 'STALE';
}

/** The open streams, by id. */
export class StreamRegistry {
  private readonly streams = new Map<number, StreamStatus>();

  add(status: StreamStatus): void {
    this.streams.set(status.streamId, status);
  }

  remove(streamId: number): void {
    this.streams.delete(streamId);
  }

  list(): StreamStatus[] {
    return [...this.streams.values()];
  }
}
