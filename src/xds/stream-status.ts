// What each open ADS stream has been sent and has acknowledged: the one status model that
// logs, the admin API, the metrics and the CLI read.

export type SyncState = 'SYNCED' | 'STALE' | 'NACKED' | 'NOT_SENT';

export type AdsProtocol = 'sotw' | 'delta';

export interface TypeStatus {
  /** Version of the resources the proxy should have now (of the names it subscribed to). */
  targetVersion?: string;
  /** Version of the last response sent on this stream for the type. */
  sentVersion?: string;
  /** Version the proxy last acknowledged. */
  ackedVersion?: string;
  lastNack?: { version: string; message: string; at: string };
}

export interface StreamStatus {
  readonly streamId: number;
  readonly protocol: AdsProtocol;
  readonly nodeId: string;
  readonly nodeCluster: string;
  readonly nodeKey: string;
  /** The client's user agent: 'envoy', 'gRPC Node Pure JS', … */
  readonly client: string;
  readonly peer: string;
  readonly connectedAt: string;
  /** What the client proved itself with, when the server checks (e.g. `token <id>`); see StreamHooks.authorize. */
  readonly credential?: string;
  /** type URL → what was sent and acknowledged. */
  readonly types: Map<string, TypeStatus>;
}

/**
 * SYNCED: the proxy ACKed what it should have now. NACKED: it rejected the last version sent.
 * STALE: it has something older (a push in flight, or held back for ordering). NOT_SENT: nothing yet.
 */
export function syncState(t: TypeStatus): SyncState {
  if (t.sentVersion === undefined && t.ackedVersion === undefined) return 'NOT_SENT';
  if (t.ackedVersion !== undefined && t.ackedVersion === (t.targetVersion ?? t.sentVersion)) return 'SYNCED';
  if (t.lastNack && t.lastNack.version === t.sentVersion) return 'NACKED';
  return 'STALE';
}

/** gRPC's xDS clients name themselves 'gRPC Node Pure JS', 'gRPC Go', 'gRPC Java', …; Envoy says 'envoy'. */
export function isGrpcUserAgent(userAgent: string): boolean {
  return /^grpc\b/i.test(userAgent);
}

/** Ends a stream with a refusal status and message. */
export type EndStream = (code: 'unauthenticated' | 'permission_denied', message: string) => void;

/** The open streams, by id. */
export class StreamRegistry {
  private readonly streams = new Map<number, StreamStatus>();
  private readonly enders = new Map<number, EndStream>();

  add(status: StreamStatus, end?: EndStream): void {
    this.streams.set(status.streamId, status);
    if (end) this.enders.set(status.streamId, end);
  }

  remove(streamId: number): void {
    this.streams.delete(streamId);
    this.enders.delete(streamId);
  }

  /** Ends every open stream `match` picks (a revoked credential's); returns how many. */
  end(
    match: (status: StreamStatus) => boolean,
    code: 'unauthenticated' | 'permission_denied',
    message: string,
  ): number {
    let ended = 0;
    for (const status of [...this.streams.values()]) {
      if (!match(status)) continue;
      this.enders.get(status.streamId)?.(code, message);
      ended++;
    }
    return ended;
  }

  list(): StreamStatus[] {
    return [...this.streams.values()];
  }

  get size(): number {
    return this.streams.size;
  }
}
