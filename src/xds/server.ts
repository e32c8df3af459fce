// The ADS gRPC server: a SotwStream per StreamAggregatedResources call and a DeltaStream per
// DeltaAggregatedResources call, on the same port. meshd owns the listening socket (and hands
// each connection to grpc-js) so that it can bound the connections; grpc-js bounds the message
// size and closes connections that stay without a stream; the streams bound what they hold.
import * as grpc from '@grpc/grpc-js';
import * as net from 'node:net';
import { adsServiceDefinition } from './protos';
import type { StreamHooks, XdsLogger, XdsObserver } from './ads-session';
import { DeltaStream, type DeltaCall } from './delta-stream';
import {
  checkLimits,
  DEFAULT_XDS_LIMITS,
  NameBudget,
  resourceExhausted,
  type StreamRefusal,
  type XdsLimits,
} from './limits';
import { ThrottledLog } from './throttled-log';
import type { SnapshotCache } from './snapshot-cache';
import { SotwStream, type SotwCall } from './sotw-stream';
import { StreamRegistry } from './stream-status';

export interface XdsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly cache: SnapshotCache;
  readonly hooks: StreamHooks;
  readonly log: XdsLogger;
  readonly observer?: XdsObserver;
  /** Where open streams are registered; a new one if not given. */
  readonly streams?: StreamRegistry;
  /** Bounds on what clients can make the server hold; DEFAULT_XDS_LIMITS for any not given. */
  readonly limits?: Partial<XdsLimits>;
}

export interface XdsServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  readonly streams: StreamRegistry;
  close(): Promise<void>;
}

/** How long a client has to close a connection after meshd closed its side. */
const CLOSE_GRACE_MS = 1000;

// grpc-js logs its own errors to stderr; meshd reports them itself, in one line.
grpc.setLogVerbosity(grpc.logVerbosity.NONE);

/** Open ADS streams per connection (by peer address, which names one TCP connection) and in total. */
class StreamSlots {
  private readonly byPeer = new Map<string, number>();
  private total = 0;

  constructor(private readonly limits: XdsLimits) {}

  /** Takes a slot for a new stream: the function that gives it back, or the refusal. */
  claim(peer: string): (() => void) | StreamRefusal {
    const onPeer = this.byPeer.get(peer) ?? 0;
    if (onPeer >= this.limits.maxStreamsPerConnection) {
      return resourceExhausted(
        'streams_per_connection',
        `this connection already has ${onPeer} ADS streams open; at most ${this.limits.maxStreamsPerConnection}`,
      );
    }
    if (this.total >= this.limits.maxStreams)
      return resourceExhausted(
        'streams_total',
        `the server already has its limit of ${this.limits.maxStreams} ADS streams open`,
      );
    this.byPeer.set(peer, onPeer + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.byPeer.get(peer) ?? 1) - 1;
      if (left > 0) this.byPeer.set(peer, left);
      else this.byPeer.delete(peer);
    };
  }
}

/**
 * grpc-js refuses an oversized request itself, from the innermost call (its message decoder calls
 * that call's own sendStatus, beneath any interceptor's responder): this interceptor wraps that
 * call's sendStatus so those refusals are counted with the others.
 */
function messageSizeCounter(observer: XdsObserver): grpc.ServerInterceptor {
  return (_method, call) => {
    const sendStatus = call.sendStatus.bind(call);
    call.sendStatus = (status) => {
      if (
        status.code === grpc.status.RESOURCE_EXHAUSTED &&
        /^Received message (that decompresses to a size )?larger than/.test(status.details ?? '')
      ) {
        observer.streamRefused?.('message_bytes');
      }
      sendStatus(status);
    };
    return new grpc.ServerInterceptingCall(call);
  };
}

export async function startXdsServer(opts: XdsServerOptions): Promise<XdsServer> {
  const limits: XdsLimits = { ...DEFAULT_XDS_LIMITS, ...opts.limits };
  checkLimits(limits);
  const streams = opts.streams ?? new StreamRegistry();
  const observer = opts.observer ?? {};
  const server = new grpc.Server({
    // Envoy's ADS keepalive pings every 10 s (App Mesh's bootstrap); do not treat them as abuse.
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5000,
    'grpc.max_receive_message_length': limits.maxMessageBytes,
    // A connection that has no stream open (or never opened one) is closed after this long.
    'grpc.max_connection_idle_ms': limits.idleTimeoutMs,
    interceptors: [messageSizeCounter(observer)],
  });
  const refusals = new ThrottledLog(opts.log, 'refusals (meshd_xds_refused_streams_total counts them)');
  // A client opening and closing streams in a loop must not write a line for each (one wrote 55 MB in 5 s).
  const lifecycle = new ThrottledLog(
    opts.log,
    'stream connect and disconnect lines (meshd_xds_connected_streams shows the streams)',
    50,
  );
  const deps = {
    cache: opts.cache,
    registry: streams,
    hooks: opts.hooks,
    log: opts.log,
    observer,
    limits,
    names: new NameBudget(limits.maxNamesTotal),
    refusals,
    lifecycle,
  };
  const slots = new StreamSlots(limits);
  /** Opens a session for the call if the connection and the server have a stream slot left. */
  const admit = (call: SotwCall | DeltaCall, open: () => void) => {
    const claimed = slots.claim(call.getPeer());
    if (typeof claimed !== 'function') {
      refusals.warn(
        { peer: call.getPeer(), reason: claimed.reason },
        `xds: refused a stream from ${call.getPeer()}: ${claimed.message}`,
      );
      observer.streamRefused?.(claimed.reason);
      call.emit('error', Object.assign(new Error(claimed.message), { code: claimed.code }));
      return;
    }
    // grpc-js tells every call's end, whoever ends it, with 'cancelled'; the others are a safety net.
    for (const event of ['cancelled', 'error', 'finish', 'close']) call.once(event, claimed);
    open();
  };
  // Requests over the name bounds are refused by counting their fields, before they are decoded.
  server.addService(
    adsServiceDefinition({ maxRepeated: limits.maxNamesPerType, maxElementBytes: limits.maxNameBytes }),
    {
      StreamAggregatedResources: (call: SotwCall) => admit(call, () => new SotwStream(call, deps)),
      DeltaAggregatedResources: (call: DeltaCall) => admit(call, () => new DeltaStream(call, deps)),
    },
  );

  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const sockets = new Set<net.Socket>();
  const listener = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // A reset from the client is its business; without a listener it would be thrown.
    socket.on('error', () => undefined);
    // Once meshd has ended its side (an idle or shut-down session), a client that never closes
    // its own would keep the descriptor for ever (FIN-WAIT-2 with the socket still open).
    socket.once('finish', () => setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref());
    injector.injectConnection(socket);
  });
  listener.maxConnections = limits.maxConnections;
  listener.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) => {
    observer.connectionRefused?.();
    refusals.warn(
      { peer: `${data?.remoteAddress}:${data?.remotePort}` },
      `xds: refused a connection: the server already has its limit of ${limits.maxConnections} connections open`,
    );
  });
  const address = `${formatHost(opts.host)}:${opts.port}`;
  await new Promise<void>((resolve, reject) => {
    listener.once('error', (err: NodeJS.ErrnoException) => {
      injector.destroy();
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `xDS address ${address} is already in use (another meshd?); pick another with --xds-port`
            : `cannot listen on ${address}: ${err.message}`,
        ),
      );
    });
    listener.listen({ host: opts.host, port: opts.port }, () => resolve());
  });
  // After listening, an error on the listening socket is logged, never thrown.
  listener.removeAllListeners('error');
  listener.on('error', (err) => opts.log.warn({ error: err.message }, `xds: listener error: ${err.message}`));
  return {
    port: (listener.address() as net.AddressInfo).port,
    streams,
    close: () =>
      new Promise<void>((resolve) => {
        listener.close();
        injector.drain(500);
        server.tryShutdown(() => resolve());
        // Open ADS streams never end by themselves: cut them after a short grace period.
        setTimeout(() => {
          server.forceShutdown();
          injector.destroy();
          for (const socket of sockets) socket.destroy();
        }, 500).unref();
      }),
  };
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
