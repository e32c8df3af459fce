// The ports the demo uses, and a check before anything starts that each one is free, so a
// taken port is one clear line instead of a child dying with a bind error.
import * as net from 'node:net';
import { DemoError } from './fail';

export interface InfraPorts {
  readonly xds: number;
  readonly meshdAdmin: number;
  readonly envoyAdmin: number;
  readonly ingress: number;
  readonly egress: number;
}

/** meshd's and Envoy's usual ports, or base…base+4 with --base-port. */
export function infraPorts(basePort: number | undefined): InfraPorts {
  if (basePort === undefined) return { xds: 18000, meshdAdmin: 18001, envoyAdmin: 9901, ingress: 15000, egress: 15001 };
  return {
    xds: basePort,
    meshdAdmin: basePort + 1,
    envoyAdmin: basePort + 2,
    ingress: basePort + 3,
    egress: basePort + 4,
  };
}

export interface PortUse {
  readonly port: number;
  /** The address the process will bind. */
  readonly host: string;
  /** Who uses it, e.g. "meshd xDS" or "the front app". */
  readonly what: string;
  /** What the user can do instead, e.g. "run with --base-port <port>". */
  readonly instead: string;
}

type Probe = 'free' | 'in use' | 'not allowed';

function probe(host: string, port: number): Promise<Probe> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EACCES' ? 'not allowed' : 'in use'));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve('free')));
  });
}

/** Fails with one line naming the first port that is used twice or cannot be bound. */
export async function checkPortsFree(uses: readonly PortUse[]): Promise<void> {
  const seen = new Map<number, PortUse>();
  for (const use of uses) {
    const other = seen.get(use.port);
    if (other)
      throw new DemoError(
        `port ${use.port} would be used twice, by ${other.what} and by ${use.what}; ${other.instead}`,
      );
    seen.set(use.port, use);
  }
  for (const use of uses) {
    const state = await probe(use.host, use.port);
    if (state === 'in use')
      throw new DemoError(
        `port ${use.port} (${use.what}) is already in use; stop what listens there, or ${use.instead}`,
      );
    if (state === 'not allowed')
      throw new DemoError(`port ${use.port} (${use.what}) cannot be opened by this user; ${use.instead}`);
  }
}
