// A fleet of real `meshd serve --store` replicas on one real PostgreSQL, for the HA tests. Each
// replica reaches the database through a TCP proxy of its own (tcp-proxy.ts), so a test can cut
// or blackhole one replica's path to PostgreSQL (a partition) while the others keep theirs.
import { execFileSync } from 'node:child_process';
import * as http from 'node:http';
import * as path from 'node:path';
import { startEnvoy, type RunningEnvoy } from './envoy';
import type { PostgresCluster } from './postgres';
import { freePorts, getOk, MESHD_BIN, startMeshd, tmpDir, waitFor, type RunningProcess } from './processes';
import { startTcpProxy, type TcpProxy } from './tcp-proxy';

export interface FleetReplica {
  readonly id: string;
  readonly xdsPort: number;
  readonly adminPort: number;
  /** Its path to PostgreSQL: cut() or blackhole() it for a partition. */
  readonly dbPath: TcpProxy;
  process: RunningProcess;
  admin(pathName: string): Promise<string>;
  kill(): void;
  alive(): boolean;
  /** The UDP port of its DogStatsD listener (from its banner). */
  statsdPort(): number;
}

export interface ProxyEntry {
  nodeId: string;
  meshHash?: string;
  types: Record<string, { state: string; ackedVersion: string | null }>;
}

export interface Fleet {
  readonly replicas: FleetReplica[];
  readonly url: string;
  /** Every replica's xDS address, host:port, in replica order. */
  readonly xdsAddresses: string[];
  close(): Promise<void>;
}

/** Starts `n` replicas on `database` (a fresh one per test file), each with its own folders and ports. */
export async function startFleet(options: {
  cluster: PostgresCluster;
  database: string;
  meshPaths: string[];
  n: number;
  extraArgs?: string[];
  leaderLease?: string;
}): Promise<Fleet> {
  const url = await options.cluster.createDatabase(options.database);
  const replicas: FleetReplica[] = [];
  const launch = async (id: string, dbPath: TcpProxy): Promise<FleetReplica> => {
    const [xdsPort, adminPort] = (await freePorts(2)) as [number, number];
    const state = tmpDir(`${id}-`);
    const meshd = startMeshd([
      'serve',
      ...options.meshPaths.flatMap((p) => ['--mesh', p]),
      '--store',
      url.replace(`:${options.cluster.port}/`, `:${dbPath.port}/`),
      '--replica-id',
      id,
      '--advertise-address',
      '127.0.0.1',
      '--leader-lease',
      options.leaderLease ?? '2s',
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(xdsPort),
      '--admin-port',
      String(adminPort),
      '--cloud-map-state',
      path.join(state, 'cloud-map.json'),
      '--rollout-state',
      path.join(state, 'rollouts.json'),
      '--api-dir',
      path.join(state, 'api'),
      ...(options.extraArgs ?? []),
    ]);
    return {
      id,
      xdsPort,
      adminPort,
      dbPath,
      process: meshd,
      admin: (p) => getOk(adminPort, p),
      kill: () => meshd.child.kill('SIGKILL'),
      alive: () => meshd.child.exitCode === null && meshd.child.signalCode === null,
      statsdPort: () => {
        const m = /telemetry \(DogStatsD\): udp:\/\/[^ ]+:(\d+)/.exec(meshd.stdout());
        if (!m) throw new Error(`${id} has not said where its DogStatsD listens`);
        return Number(m[1]);
      },
    };
  };
  for (let i = 0; i < options.n; i++) {
    const id = `replica-${String.fromCharCode(97 + i)}`;
    const dbPath = await startTcpProxy('127.0.0.1', options.cluster.port);
    // A free port can be taken by another process before meshd binds it (tests run in parallel): try new ones.
    for (let attempt = 1; ; attempt++) {
      const r = await launch(id, dbPath);
      const serving = await waitFor(`${r.id} to serve`, () => {
        if (!r.alive()) return 'exited' as const;
        return r.process.stdout().includes('xDS (ADS gRPC)') ? ('serving' as const) : undefined;
      });
      if (serving === 'serving') {
        replicas.push(r);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 200)); // the rest of its output
      const output = `${r.process.stderr()}${r.process.stdout()}`;
      if (attempt < 3 && /already in use/.test(output)) continue;
      throw new Error(
        `${r.id} exited (code ${r.process.child.exitCode}, signal ${r.process.child.signalCode}): ${output}`,
      );
    }
  }
  return {
    replicas,
    url,
    xdsAddresses: replicas.map((r) => `127.0.0.1:${r.xdsPort}`),
    async close() {
      for (const r of replicas) if (r.alive()) await r.process.stop();
      for (const r of replicas) await r.dbPath.close();
    },
  };
}

export async function proxiesOn(r: FleetReplica): Promise<ProxyEntry[]> {
  return JSON.parse(await r.admin('/v1/proxies')) as ProxyEntry[];
}

/** The entry of `nodeId` on a replica once SYNCED on every type it subscribed to (CDS, LDS, RDS at least). */
export async function syncedOn(r: FleetReplica, nodeId: string): Promise<ProxyEntry | undefined> {
  const entry = (await proxiesOn(r)).find((p) => p.nodeId === nodeId);
  if (!entry) return undefined;
  const states = Object.values(entry.types).map((t) => t.state);
  return ['CDS', 'LDS', 'RDS'].every((t) => t in entry.types) && states.every((s) => s === 'SYNCED')
    ? entry
    : undefined;
}

/** xDS responses a replica has sent, all types together. */
export async function pushesSent(r: FleetReplica): Promise<number> {
  return (await r.admin('/metrics'))
    .split('\n')
    .filter((l) => l.startsWith('meshd_xds_pushes_total'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

/** /readyz: its status (0 when the replica does not answer) and body. */
export function readiness(r: FleetReplica): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port: r.adminPort, path: '/readyz', agent: false, timeout: 3000 },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer in 3 s')));
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
  });
}

/** A sidecar Envoy bootstrapped by `meshd bootstrap` with every replica's address (in the order given). */
export function startFleetEnvoy(
  envoyBin: string,
  nodeId: string,
  xdsAddresses: readonly string[],
  ports: { admin: number; ingress: number; egress: number },
  /** Sends its stats as DogStatsD to this port on 127.0.0.1 every 200 ms (a replica's, for rollouts). */
  statsdPort?: number,
): RunningEnvoy {
  const yaml = execFileSync(
    process.execPath,
    [
      MESHD_BIN,
      'bootstrap',
      '--node',
      nodeId,
      '--xds-address',
      xdsAddresses.join(','),
      '--admin-address',
      '127.0.0.1',
      '--admin-port',
      String(ports.admin),
      '--ingress-port',
      String(ports.ingress),
      '--egress-port',
      String(ports.egress),
      ...(statsdPort !== undefined
        ? ['--dog-statsd', '--statsd-port', String(statsdPort), '--stats-flush-interval', '200ms']
        : []),
    ],
    { encoding: 'utf8' },
  );
  return startEnvoy(envoyBin, yaml, ports.admin);
}
