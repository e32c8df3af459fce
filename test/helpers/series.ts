// Small pieces the telemetry and metrics tests share: reading one series out of Prometheus text
// (meshd's /metrics), and sending DogStatsD lines to meshd over UDP as Envoy's sink does.
import * as dgram from 'node:dgram';

/** The value of one series (`name{labels}` exactly as rendered) in Prometheus text. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** One UDP datagram of `text` to 127.0.0.1:`port`. */
export function sendUdp(port: number, text: string): Promise<void> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve, reject) =>
    socket.send(text, port, '127.0.0.1', (err) => {
      socket.close();
      if (err) reject(err);
      else resolve();
    }),
  );
}
