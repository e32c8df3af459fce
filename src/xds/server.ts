// The ADS gRPC server: a SotwStream per StreamAggregatedResources call and a DeltaStream per
// DeltaAggregatedResources call, on the same port. meshd owns the listening socket (and hands
// each connection to grpc-js) so that it can bound the connections; grpc-js bounds the message
// size and closes connections that stay without a stream; the streams bound what they hold.
// It listens on TCP or on a Unix socket (what a SPIRE agent's SDS does), and may serve the
// SecretDiscoveryService beside (or instead of) ADS.
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { adsServiceDefinition, sdsServiceDefinition } from './protos';
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
import { TypeUrl } from './type-urls';

/**
 * The gRPC services a server answers: 'ads' is AggregatedDiscoveryService (every type on one
 * stream); 'sds' is SecretDiscoveryService (StreamSecrets, DeltaSecrets: secrets only), which
 * Envoy calls for a secret whose sds_config is an api_config_source, as with a SPIRE agent.
 */
export type XdsService = 'ads' | 'sds';

export interface XdsServerOptions {
  /** TCP address to listen on (with `port`); not used with `socketPath`. */
  readonly host?: string;
  readonly port?: number;
  /**
   * Listen on this Unix socket instead of TCP. A socket file left by a process that died is
   * replaced only when nothing answers on it; any other file there is an error. The socket is
   * made `socketMode` and removed on close.
   */
  readonly socketPath?: string;
  /** The Unix socket's file mode (default 0o600: only this user may connect; 0o660 lets the group). */
  readonly socketMode?: number;
  /** The gRPC services to answer (default ['ads']). */
  readonly services?: readonly XdsService[];
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
  /** The port actually bound (useful with port 0); 0 on a Unix socket. */
  readonly port: number;
  /** The Unix socket listened on, when it is one. */
  readonly socketPath?: string;
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
  // The options are checked before anything (the gRPC server, its connection injector) is made.
  const socketPath = opts.socketPath;
  if (socketPath !== undefined && (opts.host !== undefined || opts.port !== undefined))
    throw new Error('xDS server: give either socketPath or host and port, not both');
  if (socketPath === undefined && (opts.host === undefined || opts.port === undefined))
    throw new Error('xDS server: give host and port, or socketPath');
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
  const bounds = { maxRepeated: limits.maxNamesPerType, maxElementBytes: limits.maxNameBytes };
  const services = new Set(opts.services ?? ['ads']);
  if (services.size === 0) throw new Error('xDS server: no service to serve (services is empty)');
  if (services.has('ads'))
    server.addService(adsServiceDefinition(bounds), {
      StreamAggregatedResources: (call: SotwCall) => admit(call, () => new SotwStream(call, deps)),
      DeltaAggregatedResources: (call: DeltaCall) => admit(call, () => new DeltaStream(call, deps)),
    });
  if (services.has('sds')) {
    // The same sessions, asked only for secrets (any other type ends the stream).
    const sdsDeps = { ...deps, onlyTypeUrl: TypeUrl.Secret };
    server.addService(sdsServiceDefinition(bounds), {
      StreamSecrets: (call: SotwCall) => admit(call, () => new SotwStream(call, sdsDeps)),
      DeltaSecrets: (call: DeltaCall) => admit(call, () => new DeltaStream(call, sdsDeps)),
    });
  }

  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const sockets = new Set<net.Socket>();
  const refuseConnection = (reason: ConnectionRefusalReason, peer: string, message: string) => {
    observer.connectionRefused?.(reason);
    refusals.warn({ peer, reason }, `xds: refused a connection from ${peer}: ${message}`);
  };
  // grpc-js names a stream's peer by its socket's remote address, which a Unix socket has not
  // ('unknown' for all): each connection gets its own name, or the per-connection stream bound
  // would count every client of the socket as one connection.
  let unixConnections = 0;
  const nameUnixPeer = (socket: net.Socket) => {
    if (socketPath !== undefined)
      Object.defineProperty(socket, 'remoteAddress', { value: `unix:${socketPath}#${++unixConnections}` });
  };
  const secure = opts.tls
    ? tlsTerminator(opts.tls, limits, refuseConnection, (tlsSocket) => {
        nameUnixPeer(tlsSocket);
        injector.injectConnection(tlsSocket);
      })
    : undefined;
  const listener = net.createServer((socket) => {
    nameUnixPeer(socket);
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
      { peer: data?.remoteAddress ? `${data.remoteAddress}:${data.remotePort}` : `unix:${socketPath}` },
      `xds: refused a connection: the server already has its limit of ${limits.maxConnections} connections open`,
    );
  });
  const address = socketPath !== undefined ? `unix:${socketPath}` : `${formatHost(opts.host!)}:${opts.port}`;
  try {
    if (socketPath !== undefined) await removeStaleSocket(socketPath);
    await new Promise<void>((resolve, reject) => {
      listener.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          new Error(
            err.code === 'EADDRINUSE'
              ? socketPath !== undefined
                ? `xDS socket ${socketPath} is already in use`
                : `xDS address ${address} is already in use (another meshd?); pick another with --xds-port`
              : `cannot listen on ${address}: ${err.message}`,
          ),
        );
      });
      listener.listen(socketPath !== undefined ? { path: socketPath } : { host: opts.host, port: opts.port }, () =>
        resolve(),
      );
    });
    if (socketPath !== undefined) {
      // bind() made it as the umask allows (0755 at most with the usual 022, which no other user can
      // connect to: connecting needs write permission); now it gets exactly the mode asked for.
      fs.chmodSync(socketPath, opts.socketMode ?? 0o600);
    }
  } catch (err) {
    injector.destroy();
    listener.close();
    throw err;
  }
  // After listening, an error on the listening socket is logged, never thrown.
  listener.removeAllListeners('error');
  listener.on('error', (err) => opts.log.warn({ error: err.message }, `xds: listener error: ${err.message}`));
  return {
    port: socketPath !== undefined ? 0 : (listener.address() as net.AddressInfo).port,
    ...(socketPath !== undefined ? { socketPath } : {}),
    streams,
    updateTls: (material) => {
      if (!secure) throw new Error('the xDS server was started without TLS; restart it with TLS to serve TLS');
      secure.update(material);
    },
    close: () =>
      new Promise<void>((resolve) => {
        // Closing a Unix socket's listener removes its file (libuv unlinks it).
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

/**
 * Makes way for a Unix socket at `socketPath`: nothing there is fine; a socket file nobody
 * listens on (left by a process that died) is removed; a live socket, or any other kind of
 * file, is an error (never deleted).
 */
async function removeStaleSocket(socketPath: string): Promise<void> {
  let stats: fs.Stats;
  try {
    stats = fs.lstatSync(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new Error(`cannot use the xDS socket path ${socketPath}: ${(err as Error).message}`);
  }
  if (!stats.isSocket())
    throw new Error(`the xDS socket path ${socketPath} exists and is not a socket; not replacing it`);
  const answer = await new Promise<'live' | 'stale' | Error>((resolve) => {
    const probe = net.connect({ path: socketPath });
    probe.once('connect', () => {
      probe.destroy();
      resolve('live');
    });
    probe.once('error', (err: NodeJS.ErrnoException) => {
      probe.destroy();
      resolve(err.code === 'ECONNREFUSED' ? 'stale' : err);
    });
  });
  if (answer === 'live') throw new Error(`xDS socket ${socketPath} is already in use (a server answers on it)`);
  if (answer instanceof Error) throw new Error(`cannot probe the xDS socket ${socketPath}: ${answer.message}`);
  fs.unlinkSync(socketPath);
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
