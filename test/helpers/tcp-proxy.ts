// A TCP proxy on 127.0.0.1 for partition tests: clients connect to its port instead of the target's (PostgreSQL,
// say), and the test cuts, blackholes and restores the path between them.
//   cut()       every open connection gets a RST (both sides), and new ones are reset at once: a loud failure, like
//               a crashed peer or a refused port.
//   blackhole() connections stay open and new ones are accepted, but nothing is forwarded either way, and neither
//               side learns that the other closed: a silent partition. Held bytes are not dropped: restore() delivers
//               them, as TCP's retransmissions would once the network heals.
//   restore()   forwards again; a connection accepted during the blackhole reaches the target only now, and one whose
//               other side closed meanwhile is reset.
// Limits of a stand-in in user space: the client's TCP handshake and keepalive probes succeed against the proxy
// itself, so only a timeout in the application (a query or lease timeout) notices a blackhole, never the kernel.
import * as net from 'node:net';

export type ProxyMode = 'open' | 'cut' | 'blackhole';

export interface TcpProxy {
  readonly port: number;
  mode(): ProxyMode;
  /** Connections the proxy holds now (client side). */
  connections(): number;
  cut(): void;
  blackhole(): void;
  restore(): void;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  upstream?: net.Socket;
  /** Bytes read but not forwarded (blackhole): client → target, target → client. */
  toUpstream: Buffer[];
  toClient: Buffer[];
  clientClosed: boolean;
  upstreamClosed: boolean;
}

export async function startTcpProxy(
  targetHost: string,
  targetPort: number,
  /** Where it listens: 127.0.0.1 by default (another address to be reached from a network namespace). */
  opts: { listenHost?: string } = {},
): Promise<TcpProxy> {
  let current: ProxyMode = 'open';
  const pairs = new Set<Pair>();

  const reset = (pair: Pair): void => {
    pairs.delete(pair);
    if (!pair.client.destroyed) pair.client.resetAndDestroy();
    if (pair.upstream && !pair.upstream.destroyed) pair.upstream.resetAndDestroy();
  };

  /** Reads `from` and writes to the other side, or holds the bytes while the proxy is not open. */
  const forward = (pair: Pair, from: net.Socket, direction: 'toUpstream' | 'toClient'): void => {
    from.on('data', (chunk: Buffer) => {
      const to = direction === 'toUpstream' ? pair.upstream : pair.client;
      if (current !== 'open' || !to || to.connecting) {
        pair[direction].push(chunk);
        from.pause();
        return;
      }
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => {
          if (current === 'open') from.resume();
        });
      }
    });
  };

  /** One side closed: the other follows while the path is open; in a blackhole it does not learn of it. */
  const onClose = (pair: Pair, side: 'client' | 'upstream'): void => {
    if (side === 'client') pair.clientClosed = true;
    else pair.upstreamClosed = true;
    if (current === 'open') {
      pairs.delete(pair);
      const other = side === 'client' ? pair.upstream : pair.client;
      if (other && !other.destroyed) other.destroy();
    }
  };

  const connectUpstream = (pair: Pair): void => {
    const upstream = net.connect({ host: targetHost, port: targetPort });
    pair.upstream = upstream;
    upstream.on('error', () => undefined);
    upstream.on('close', () => onClose(pair, 'upstream'));
    upstream.once('connect', () => {
      if (current !== 'open') return; // restore() flushes
      flush(pair);
    });
    forward(pair, upstream, 'toClient');
  };

  /** Delivers held bytes and reads on (the path is open again). */
  const flush = (pair: Pair): void => {
    if (pair.clientClosed || pair.upstreamClosed) {
      reset(pair);
      return;
    }
    const { client, upstream } = pair;
    if (!upstream || upstream.connecting) return;
    for (const chunk of pair.toUpstream.splice(0)) upstream.write(chunk);
    for (const chunk of pair.toClient.splice(0)) client.write(chunk);
    client.resume();
    upstream.resume();
  };

  const server = net.createServer((client) => {
    client.on('error', () => undefined);
    if (current === 'cut') {
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = { client, toUpstream: [], toClient: [], clientClosed: false, upstreamClosed: false };
    pairs.add(pair);
    client.on('close', () => onClose(pair, 'client'));
    forward(pair, client, 'toUpstream');
    if (current === 'open') connectUpstream(pair);
    else client.pause();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.listenHost ?? '127.0.0.1', () => resolve());
  });

  return {
    port: (server.address() as net.AddressInfo).port,
    mode: () => current,
    connections: () => [...pairs].filter((p) => !p.clientClosed).length,
    cut() {
      current = 'cut';
      for (const pair of [...pairs]) reset(pair);
    },
    blackhole() {
      current = 'blackhole';
      for (const pair of pairs) {
        pair.client.pause();
        pair.upstream?.pause();
      }
    },
    restore() {
      current = 'open';
      for (const pair of [...pairs]) {
        if (!pair.upstream && pair.clientClosed) pairs.delete(pair);
        else if (!pair.upstream) connectUpstream(pair);
        else flush(pair);
      }
    },
    close() {
      current = 'cut';
      for (const pair of [...pairs]) reset(pair);
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
