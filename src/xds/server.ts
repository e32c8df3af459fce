// The ADS gRPC server: a SotwStream per StreamAggregatedResources call and a DeltaStream per
// DeltaAggregatedResources call, on the same port. meshd owns the listening socket (and hands
// each connection to grpc-js) so that it can bound the connections; grpc-js bounds the message
// size and closes connections that stay without a stream; the streams bound what they hold.
import * as grpc from '@grpc/grpc-js';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { adsServiceDefinition } from './protos';
import type { ConnectionRefusalReason, StreamHooks, XdsLogger, XdsObserver } from './ads-session';
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
  /** Serve over TLS (every connection; plaintext ones are refused). Plaintext when not given. */
  readonly tls?: XdsTlsOptions;
}

/**
 * The xDS port's TLS material, PEM. A client certificate is optional (token clients have none),
 * but one that is presented must chain to `trustedCaPem`, or the connection is closed.
 */
export interface XdsTlsOptions {
  /** The server's certificate chain, leaf first. */
  readonly certificateChainPem: string;
  readonly privateKeyPem: string;
  /** Every CA a client certificate may chain to (two during a CA rotation's overlap). */
  readonly trustedCaPem: string;
}

export interface XdsServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  readonly streams: StreamRegistry;
  /**
   * Replaces the TLS material for connections from now on (certificate or CA rotation); open
   * connections and their streams keep going. Throws, keeping the old material, if the new one
   * is unusable (a key that does not match, PEM that does not parse), or if the server was started without TLS.
   */
  updateTls(tls: XdsTlsOptions): void;
  close(): Promise<void>;
}

/** How long a client has to finish its TLS handshake (Envoy's takes milliseconds). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

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
  const refuseConnection = (reason: ConnectionRefusalReason, peer: string, message: string) => {
    observer.connectionRefused?.(reason);
    refusals.warn({ peer, reason }, `xds: refused a connection from ${peer}: ${message}`);
  };
  const secure = opts.tls
    ? tlsTerminator(opts.tls, limits, refuseConnection, (tlsSocket) => injector.injectConnection(tlsSocket))
    : undefined;
  const listener = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // A reset from the client is its business; without a listener it would be thrown.
    socket.on('error', () => undefined);
    // Once meshd has ended its side (an idle or shut-down session), a client that never closes
    // its own would keep the descriptor for ever (FIN-WAIT-2 with the socket still open).
    socket.once('finish', () => setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref());
    if (secure) secure.accept(socket);
    else injector.injectConnection(socket);
  });
  listener.maxConnections = limits.maxConnections;
  listener.on('drop', (data?: { remoteAddress?: string; remotePort?: number }) => {
    observer.connectionRefused?.('max_connections');
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
    updateTls: (material) => {
      if (!secure) throw new Error('the xDS server was started without TLS; restart it with TLS to serve TLS');
      secure.update(material);
    },
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

/** The TLS server options for the material: a client certificate asked for, checked by hand (it is optional). */
function tlsOptions(material: XdsTlsOptions): tls.SecureContextOptions {
  return { cert: material.certificateChainPem, key: material.privateKeyPem, ca: material.trustedCaPem };
}

/**
 * Terminates TLS on meshd's own sockets and hands grpc-js the decrypted ones: grpc-js's injector
 * would do TLS itself with secure credentials, but then meshd could neither count nor log a
 * failed handshake, bound its time, nor refuse a certificate from another CA while accepting
 * none. A tls.Server that never listens does the handshakes; setSecureContext swaps the
 * material for the connections that follow.
 */
function tlsTerminator(
  initial: XdsTlsOptions,
  limits: XdsLimits,
  refuse: (reason: ConnectionRefusalReason, peer: string, message: string) => void,
  secured: (socket: tls.TLSSocket) => void,
): { accept(socket: net.Socket): void; update(m: XdsTlsOptions): void } {
  const handshakeTimeout = Math.min(TLS_HANDSHAKE_TIMEOUT_MS, limits.idleTimeoutMs);
  let tlsServer: tls.Server;
  try {
    tlsServer = tls.createServer({
      ...tlsOptions(initial),
      requestCert: true,
      // Checked in 'secureConnection': a client with no certificate is let through (token clients).
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
      minVersion: 'TLSv1.2',
      handshakeTimeout,
    });
  } catch (err) {
    throw new Error(`xDS TLS: cannot use the certificate, key or trusted CA given: ${(err as Error).message}`);
  }
  const peerOf = (s: net.Socket) => `${s.remoteAddress}:${s.remotePort}`;
  tlsServer.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    const timedOut = err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT';
    refuse(
      timedOut ? 'tls_handshake_timeout' : 'tls_handshake',
      peerOf(socket),
      timedOut ? `no TLS handshake within ${handshakeTimeout} ms` : `TLS handshake failed: ${err.message}`,
    );
    socket.destroy();
  });
  tlsServer.on('secureConnection', (socket: tls.TLSSocket) => {
    socket.on('error', () => undefined);
    // As for a plaintext socket: once meshd has ended its side, a client that never closes its own is cut.
    socket.once('finish', () => setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref());
    // A certificate is optional; one that does not chain to the trusted CA is refused.
    const presented = socket.getPeerCertificate();
    if (presented && Object.keys(presented).length > 0 && !socket.authorized) {
      refuse(
        'client_certificate',
        peerOf(socket),
        `client certificate not trusted (${String(socket.authorizationError)})`,
      );
      socket.destroy();
      return;
    }
    secured(socket);
  });
  return {
    accept(socket) {
      tlsServer.emit('connection', socket);
    },
    update(material) {
      try {
        tlsServer.setSecureContext(tlsOptions(material));
      } catch (err) {
        throw new Error(`xDS TLS: cannot use the new certificate, key or trusted CA: ${(err as Error).message}`);
      }
    },
  };
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
