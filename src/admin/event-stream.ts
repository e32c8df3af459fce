// GET /v1/events: server-sent events telling the web console which endpoint to fetch again
// (docs/api.md). `hello` at once; `mesh` and `problems` when a load serves a mesh or ends;
// `proxies` and `rollouts` when they change, at most 4 a second; `telemetry` every second with
// the body of /v1/telemetry?window=10s; a `: keepalive` comment every 15 s. Bounded: 32 streams
// at once, 8 from one remote address, each ended after 10 minutes (EventSource reconnects by
// itself and the console fetches everything again on `hello`), and a client that lets more than
// 1 MiB pile up unsent is cut. Timers run only while
// someone listens, and a write to a socket that closed is dropped, never thrown.
import type * as http from 'node:http';

export const MAX_EVENT_STREAMS = 32;
/** Streams one remote address may hold at once, so that one client cannot take all MAX_EVENT_STREAMS. */
export const MAX_STREAMS_PER_ADDRESS = 8;
/** A stream is ended after this long; the browser's EventSource reconnects by itself. */
export const MAX_STREAM_MS = 10 * 60_000;
export const MAX_UNSENT_BYTES = 1024 * 1024;
/** `proxies` and `rollouts` are coalesced: at most one each per this period. */
export const COALESCE_MS = 250;
export const TELEMETRY_MS = 1000;
export const KEEPALIVE_MS = 15_000;

export type HubEvent = 'mesh' | 'problems' | 'proxies' | 'rollouts';

export interface EventHubSources {
  /** The generations `hello` carries, and whether this replica is in a fleet (GET /v1/replicas answers). */
  hello(): { mesh: number; problems: number; fleet: boolean };
  /** The body of GET /v1/telemetry?window=10s; undefined without telemetry. */
  telemetry?(): unknown;
  /**
   * A cheap fingerprint of the proxies' streams and sync states, read every COALESCE_MS while someone listens:
   * a `proxies` event follows when it changes.
   */
  proxiesFingerprint?(): string;
}

export interface EventHubTimings {
  readonly coalesceMs?: number;
  readonly telemetryMs?: number;
  readonly keepaliveMs?: number;
  readonly maxStreams?: number;
  readonly maxStreamsPerAddress?: number;
  readonly maxStreamMs?: number;
  readonly maxUnsentBytes?: number;
}

interface Client {
  readonly res: http.ServerResponse;
  readonly address: string;
  closed: boolean;
  lifetime?: NodeJS.Timeout;
}

export class EventHub {
  private readonly clients = new Set<Client>();
  private readonly pending = new Set<'proxies' | 'rollouts'>();
  private coalesceTimer: NodeJS.Timeout | undefined;
  private telemetryTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private proxiesTimer: NodeJS.Timeout | undefined;
  private lastFingerprint: string | undefined;
  private lastFlush = 0;
  private readonly t: Required<EventHubTimings>;

  constructor(
    private readonly sources: EventHubSources,
    timings: EventHubTimings = {},
  ) {
    this.t = {
      coalesceMs: timings.coalesceMs ?? COALESCE_MS,
      telemetryMs: timings.telemetryMs ?? TELEMETRY_MS,
      keepaliveMs: timings.keepaliveMs ?? KEEPALIVE_MS,
      maxStreams: timings.maxStreams ?? MAX_EVENT_STREAMS,
      maxStreamsPerAddress: timings.maxStreamsPerAddress ?? MAX_STREAMS_PER_ADDRESS,
      maxStreamMs: timings.maxStreamMs ?? MAX_STREAM_MS,
      maxUnsentBytes: timings.maxUnsentBytes ?? MAX_UNSENT_BYTES,
    };
  }

  /** Streams open now. */
  get size(): number {
    return this.clients.size;
  }

  /** Whether any timer runs (none without a client). */
  get timersRunning(): boolean {
    return !!(this.coalesceTimer || this.telemetryTimer || this.keepaliveTimer || this.proxiesTimer);
  }

  /** Takes a GET /v1/events; answers 503 beyond the bounds (in all, and per remote address). */
  open(req: http.IncomingMessage, res: http.ServerResponse): void {
    const address = req.socket.remoteAddress ?? '';
    if (this.clients.size >= this.t.maxStreams)
      return refuse(res, `too many event streams open (at most ${this.t.maxStreams}); try again later`);
    let fromAddress = 0;
    for (const c of this.clients) if (c.address === address) fromAddress++;
    if (fromAddress >= this.t.maxStreamsPerAddress)
      return refuse(
        res,
        `too many event streams open from ${address || 'this address'} (at most ${this.t.maxStreamsPerAddress} ` +
          'from one address); close one and try again',
      );
    const client: Client = { res, address, closed: false };
    this.clients.add(client);
    // No stream lives forever: the server ends it, the browser's EventSource reconnects and gets a new `hello`.
    client.lifetime = setTimeout(() => this.end(client), this.t.maxStreamMs);
    // An event stream is long-lived: the server's idle timeout does not apply to it (keepalives keep it busy).
    req.socket.setTimeout(0);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'x-accel-buffering': 'no',
    });
    const drop = () => this.drop(client);
    res.on('close', drop);
    res.on('error', drop);
    req.on('close', drop);
    this.write(client, frame('hello', this.sources.hello()));
    this.startTimers();
  }

  /** A load served a new mesh (`mesh`) or ended (`problems`): sent at once with its generation. */
  publish(event: 'mesh' | 'problems', generation: number): void {
    this.broadcast(frame(event, { generation }));
  }

  /** Proxies or rollouts changed: one event per coalescing period. */
  changed(event: 'proxies' | 'rollouts'): void {
    if (this.clients.size === 0) return;
    this.pending.add(event);
    if (this.coalesceTimer) return;
    const wait = Math.max(0, this.lastFlush + this.t.coalesceMs - Date.now());
    this.coalesceTimer = setTimeout(() => {
      this.coalesceTimer = undefined;
      this.lastFlush = Date.now();
      const events = [...this.pending];
      this.pending.clear();
      for (const e of events) this.broadcast(frame(e, {}));
    }, wait);
  }

  /** Ends every stream and stops the timers (the admin server's close). */
  close(): void {
    for (const c of [...this.clients]) this.end(c);
  }

  /**
   * Ends a stream the way a client sees (the response's last chunk, then the connection closes once it is
   * flushed); a client that reads nothing loses the connection a second later anyway.
   */
  private end(c: Client): void {
    this.drop(c);
    const socket = c.res.socket;
    try {
      c.res.end();
    } catch {
      // The socket has gone: nothing to end.
    }
    if (!socket || socket.destroyed) return;
    socket.destroySoon();
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  private broadcast(text: string): void {
    for (const c of [...this.clients]) this.write(c, text);
  }

  /** Writes unless the socket has closed; a client with too much unsent is cut. */
  private write(c: Client, text: string): void {
    if (c.closed) return;
    const socket = c.res.socket;
    if (c.res.destroyed || c.res.writableEnded || !socket || socket.destroyed) return this.drop(c);
    // The response's writableLength already counts what its socket holds unsent.
    if (c.res.writableLength > this.t.maxUnsentBytes) {
      this.drop(c);
      c.res.destroy();
      return;
    }
    try {
      c.res.write(text);
    } catch {
      this.drop(c);
    }
  }

  private drop(c: Client): void {
    if (c.closed) return;
    c.closed = true;
    clearTimeout(c.lifetime);
    this.clients.delete(c);
    if (this.clients.size === 0) this.stopTimers();
  }

  private startTimers(): void {
    if (!this.keepaliveTimer)
      this.keepaliveTimer = setInterval(() => this.broadcast(': keepalive\n\n'), this.t.keepaliveMs);
    const telemetry = this.sources.telemetry;
    if (telemetry && !this.telemetryTimer)
      this.telemetryTimer = setInterval(() => {
        let body: unknown;
        try {
          body = telemetry();
        } catch {
          return;
        }
        if (body !== undefined) this.broadcast(frame('telemetry', body));
      }, this.t.telemetryMs);
    const fingerprint = this.sources.proxiesFingerprint;
    if (fingerprint && !this.proxiesTimer) {
      this.lastFingerprint = fingerprint();
      this.proxiesTimer = setInterval(() => {
        const now = fingerprint();
        if (now === this.lastFingerprint) return;
        this.lastFingerprint = now;
        this.changed('proxies');
      }, this.t.coalesceMs);
    }
  }

  private stopTimers(): void {
    clearInterval(this.keepaliveTimer);
    clearInterval(this.telemetryTimer);
    clearInterval(this.proxiesTimer);
    clearTimeout(this.coalesceTimer);
    this.keepaliveTimer = this.telemetryTimer = this.proxiesTimer = this.coalesceTimer = undefined;
    this.pending.clear();
  }
}

function refuse(res: http.ServerResponse, error: string): void {
  const text = `${JSON.stringify({ error }, null, 2)}\n`;
  res.writeHead(503, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'retry-after': '5',
  });
  res.end(text);
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
