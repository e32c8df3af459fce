// The UDP socket sidecars' DogStatsD sinks send to. It only receives; a datagram is handed on
// as it comes, and nothing a sender does can make it throw.
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { normalizeIp } from './statsd-allow';

export interface StatsdServer {
  /** The address bound, and the port (the one the OS picked when asked for 0). */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

// A sidecar sends its whole flush at once (one datagram per stat, ~100 per flush); a larger
// receive buffer keeps a burst from several sidecars from being dropped by the kernel.
const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

export interface StatsdSourceFilter {
  /** Whether a datagram from this source address (IPv4-mapped IPv6 given as IPv4) is read. */
  readonly allow: (address: string) => boolean;
  /** A datagram dropped for its source, before it is read. */
  readonly refused: (address: string) => void;
}

/** `onError` hears of a datagram whose handling threw (a bug): the datagram is dropped, the socket keeps receiving. */
export async function startStatsdServer(
  host: string,
  port: number,
  onDatagram: (datagram: Buffer) => void,
  onError: (err: Error) => void = () => undefined,
  sources?: StatsdSourceFilter,
): Promise<StatsdServer> {
  const socket = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.close();
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `statsd address ${host}:${port} (UDP) is already in use (another meshd, or a DogStatsD agent?); pick another with --statsd-port (0: any free port)`
            : `cannot listen for statsd on ${host}:${port} (UDP): ${err.message}`,
        ),
      );
    });
    socket.bind(port, host, () => resolve());
  });
  socket.removeAllListeners('error');
  // A receive error on UDP concerns one datagram; the socket keeps working.
  socket.on('error', () => undefined);
  socket.on('message', (datagram, rinfo) => {
    try {
      if (sources) {
        const address = normalizeIp(rinfo.address);
        if (!sources.allow(address)) return sources.refused(address);
      }
      onDatagram(datagram);
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)));
    }
  });
  try {
    socket.setRecvBufferSize(RECEIVE_BUFFER_BYTES);
  } catch {
    // The system may cap it (net.core.rmem_max); the default buffer still works.
  }
  return {
    address: host,
    port: socket.address().port,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
