// A reconnect storm against a real `meshd serve` process: 1,000 raw ADS clients (the load
// generator bench/ads-load.js, in its own process so it does not share meshd's CPU) open their
// streams at once and must all reach SYNCED; then meshd is killed and started again on the same
// ports, the clients reconnect at once reporting the versions they hold, and all must be SYNCED
// again without meshd sending anything (nothing changed). The times are printed, not asserted
// (bench/reconnect-storm.js measures them properly).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, getOk, startMeshd, tmpDir, waitFor, type RunningProcess } from '../helpers/processes';

const LOAD_GENERATOR = path.resolve(__dirname, '../../bench/ads-load.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { stormMeshYaml } = require(LOAD_GENERATOR) as { stormMeshYaml(nodes: number): string };

const MESH_NODES = 5;
const NODE_IDS = Array.from({ length: MESH_NODES }, (_, i) => `mesh/storm/virtualNode/node-${i}`);
const TYPES = ['CDS', 'EDS', 'LDS', 'RDS'] as const;

interface LoadEvent {
  event: string;
  at: number;
  [key: string]: unknown;
}

interface LoadStats extends LoadEvent {
  open: number;
  responses: number;
  responsesSinceReopen: number;
  errorCodes: Record<string, number>;
}

/** bench/ads-load.js as a child process: its JSON-line events, and its stdin commands. */
class LoadProcess {
  private readonly child: ChildProcess;
  private readonly events: LoadEvent[] = [];
  private readonly waiters: { match(e: LoadEvent): boolean; resolve(e: LoadEvent): void }[] = [];
  private readonly exited: Promise<number | null>;
  private stderr = '';

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [LOAD_GENERATOR, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let buffered = '';
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const event = JSON.parse(buffered.slice(0, nl)) as LoadEvent;
        buffered = buffered.slice(nl + 1);
        this.events.push(event);
        for (const w of [...this.waiters]) if (w.match(event)) w.resolve(event);
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** The first event named `name` (and matching `filter`), seen already or to come. */
  event(name: string, timeoutMs = 15000, filter: (e: LoadEvent) => boolean = () => true): Promise<LoadEvent> {
    const match = (e: LoadEvent) => e.event === name && filter(e);
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`the load generator did not report '${name}' within ${timeoutMs} ms; stderr: ${this.stderr}`),
          ),
        timeoutMs,
      );
      const w = {
        match,
        resolve: (e: LoadEvent) => {
          clearTimeout(timer);
          this.waiters.splice(this.waiters.indexOf(w), 1);
          resolve(e);
        },
      };
      this.waiters.push(w);
    });
  }

  async stats(): Promise<LoadStats> {
    const after = Date.now();
    this.child.stdin!.write('stats\n');
    return (await this.event('stats', 5000, (e) => e.at >= after)) as LoadStats;
  }

  async exit(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.stdin!.end('exit\n');
    return this.exited;
  }
}

/** The values of one metric in Prometheus text, with their labels. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[k!] = v!;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

const total = (text: string, name: string) => samples(text, name).reduce((sum, s) => sum + s.value, 0);

/** From /metrics: `n` streams connected, each subscribed to the four types (in any state), or all SYNCED. */
function streamsIn(text: string, n: number, state?: 'SYNCED'): boolean {
  if (total(text, 'meshd_xds_connected_streams') !== n) return false;
  const types = samples(text, 'meshd_xds_resource_types');
  return TYPES.every(
    (t) =>
      types
        .filter((s) => s.labels.type === t && (!state || s.labels.state === state))
        .reduce((sum, s) => sum + s.value, 0) === n,
  );
}

interface ProxyReport {
  nodeId: string;
  stream: number;
  protocol: string;
  client: string;
  peer: string;
  types: Record<string, { state: string }>;
}

/** Every stream /v1/proxies lists, and each (stream, type) that is not SYNCED. */
async function proxies(adminPort: number): Promise<{ list: ProxyReport[]; notSynced: string[] }> {
  const list = JSON.parse(await getOk(adminPort, '/v1/proxies', 10000)) as ProxyReport[];
  const notSynced = list.flatMap((p) =>
    TYPES.filter((t) => p.types[t]?.state !== 'SYNCED').map(
      (t) => `${p.nodeId} stream ${p.stream} ${t}: ${p.types[t]?.state ?? 'not subscribed'}`,
    ),
  );
  return { list, notSynced };
}

const report = (line: string) => process.stdout.write(`reconnect storm: ${line}\n`);

describe.each([
  { protocol: 'sotw', streams: 1000 },
  { protocol: 'delta', streams: 200 },
] as const)('reconnect storm: $streams raw $protocol ADS clients against a real meshd', ({ protocol, streams }) => {
  let xdsPort: number;
  let adminPort: number;
  let meshFile: string;
  let meshd: RunningProcess | undefined;
  let load: LoadProcess | undefined;
  /** When the restarted meshd was spawned, and when /metrics first showed every stream back / all SYNCED. */
  const restart: { spawnedAt?: number; backAt?: number; syncedAt?: number } = {};

  const serve = async () => {
    const started = startMeshd([
      'serve',
      '--mesh',
      meshFile,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(xdsPort),
      '--admin-port',
      String(adminPort),
    ]);
    meshd = started;
    return started;
  };
  const metrics = () => getOk(adminPort, '/metrics', 10000);

  beforeAll(async () => {
    xdsPort = await freePort();
    adminPort = await freePort();
    meshFile = path.join(tmpDir('storm-'), 'mesh.yaml');
    fs.writeFileSync(meshFile, stormMeshYaml(MESH_NODES));
  });

  afterAll(async () => {
    await load?.exit();
    if (meshd) {
      expect(await meshd.stop()).toBe(0);
      expect(meshd.stderr()).not.toMatch(/\n\s+at /);
    }
  });

  it(`${streams} streams opened at once all reach SYNCED for CDS, EDS, LDS and RDS`, async () => {
    const server = await serve();
    await waitFor('meshd to start', () => (server.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
    const args = [
      '--xds',
      `127.0.0.1:${xdsPort}`,
      '--nodes',
      NODE_IDS.join(','),
      '--streams',
      String(streams),
      '--per-connection',
      '10',
      '--reconnect',
    ];
    load = new LoadProcess(protocol === 'delta' ? [...args, '--delta'] : args);
    const opening = await load.event('opening');
    expect(opening).toMatchObject({ protocol, streams, connections: streams / 10 });

    await waitFor(
      `all ${streams} streams SYNCED`,
      async () => (streamsIn(await metrics(), streams, 'SYNCED') ? true : undefined),
      20000,
      25,
    );
    const syncedMs = Date.now() - opening.at;
    const acked = await load.event('all-acked');
    report(
      `${protocol}, ${streams} streams over ${streams / 10} connections: connect to all SYNCED ${syncedMs} ms (client side: all ACKed after ${acked.ms as number} ms)`,
    );

    const { list, notSynced } = await proxies(adminPort);
    expect(list).toHaveLength(streams);
    expect(new Set(list.map((p) => p.stream)).size).toBe(streams);
    expect(new Set(list.map((p) => p.nodeId))).toEqual(new Set(NODE_IDS));
    expect(list.every((p) => p.protocol === protocol && p.client === 'envoy')).toBe(true);
    expect(new Set(list.map((p) => p.peer)).size).toBe(streams / 10); // separate HTTP/2 connections, 10 streams each
    expect(notSynced).toEqual([]);
    const text = await metrics();
    expect(total(text, 'meshd_xds_connected_streams')).toBe(streams);
    // One response per type and stream: nothing was sent twice.
    expect(total(text, 'meshd_xds_pushes_total')).toBe(streams * TYPES.length);
    expect(total(text, 'meshd_xds_nacks_total')).toBe(0);
  });

  it(`after meshd is killed and started again on the same ports, all ${streams} reconnect at once holding their versions, and meshd sends nothing`, async () => {
    const killed = meshd!;
    killed.child.kill('SIGKILL');
    await new Promise((resolve) =>
      killed.child.exitCode !== null || killed.child.signalCode !== null
        ? resolve(undefined)
        : killed.child.once('exit', resolve),
    );
    const gone = await load!.event('all-disconnected');
    expect(gone.errorCodes).toEqual({ 14: streams }); // UNAVAILABLE, for every stream

    restart.spawnedAt = Date.now();
    await serve();
    await waitFor(
      `all ${streams} streams back`,
      async () => {
        const text = await metrics();
        if (streamsIn(text, streams, 'SYNCED')) restart.syncedAt ??= Date.now();
        return streamsIn(text, streams) ? true : undefined;
      },
      20000,
      25,
    );
    restart.backAt = Date.now();
    report(
      `${protocol}, ${streams} streams: restart to all reconnected ${restart.backAt - restart.spawnedAt} ms (from spawning the new meshd)`,
    );

    const text = await metrics();
    // Nothing changed, so the restarted meshd has nothing to send to clients that report what they hold.
    expect(samples(text, 'meshd_xds_pushes_total').filter((s) => s.value > 0)).toEqual([]);
    const stats = await load!.stats();
    expect(stats).toMatchObject({ open: streams, responsesSinceReopen: 0 });
    const { list } = await proxies(adminPort);
    expect(list).toHaveLength(streams);
    expect(new Set(list.map((p) => p.nodeId))).toEqual(new Set(NODE_IDS));
  });

  // A Delta stream that reconnects holding every current version (initial_resource_versions)
  // is sent nothing, and must still show SYNCED, as a SotW one that reports its version_info.
  it(`the ${streams} reconnected streams are SYNCED for every type`, async () => {
    await waitFor(
      `all ${streams} streams SYNCED`,
      async () => (streamsIn(await metrics(), streams, 'SYNCED') ? (restart.syncedAt ??= Date.now()) : undefined),
      20000,
      25,
    );
    report(
      `${protocol}, ${streams} streams: restart to all SYNCED ${restart.syncedAt! - restart.spawnedAt!} ms (from spawning the new meshd)`,
    );
    const { notSynced } = await proxies(adminPort);
    expect(notSynced).toEqual([]);
    expect(total(await metrics(), 'meshd_xds_connected_streams')).toBe(streams);
  });
});
