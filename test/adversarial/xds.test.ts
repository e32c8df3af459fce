// The xDS (ADS gRPC) server attacked as a client on the same network would attack it, against a
// real `meshd serve` child: hostile and random requests, every bound on what one client can make
// meshd hold, idle and surplus connections, long node ids. After each attack meshd must be alive
// and serving, and a well-behaved proxy (the victim: a Delta client that ACKs everything, like
// Envoy) must still get its push after a mesh edit made while the attack runs. Push latencies are
// printed (`xds attack: ...`), never asserted.
import * as grpc from '@grpc/grpc-js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { adsServiceDefinition } from '../../src/xds/protos';
import { TypeUrl } from '../../src/xds/type-urls';
import { freePort, getOk, startMeshd, tmpDir, waitFor, type RunningProcess } from '../helpers/processes';
import { lenField, varint } from '../helpers/protobuf-wire';
import { QUICKSTART_MESH } from '../helpers/mesh-text';

const FRONT = { id: 'mesh/apps/virtualNode/front', cluster: 'front' };
const SOTW = 'StreamAggregatedResources';
const DELTA = 'DeltaAggregatedResources';
type Method = typeof SOTW | typeof DELTA;
const VICTIM_SCRIPT = path.resolve(__dirname, '../helpers/xds-victim.js');
const report = (line: string) => process.stdout.write(`xds attack: ${line}\n`);

// ---------------------------------------------------------------------------------------------
// Clients

const AdsClient = grpc.makeGenericClientConstructor(adsServiceDefinition(), 'AggregatedDiscoveryService');
/** The same two methods with the request passed as raw bytes: for random and hand-built messages. */
const rawMethod = (name: Method) => ({
  path: `/envoy.service.discovery.v3.AggregatedDiscoveryService/${name}`,
  requestStream: true,
  responseStream: true,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
});
const RawClient = grpc.makeGenericClientConstructor({ [SOTW]: rawMethod(SOTW), [DELTA]: rawMethod(DELTA) }, 'RawAds');

/** A channel of its own: every `connection()` is a separate TCP connection. */
function connection(port: number, raw = false, options: grpc.ChannelOptions = {}): grpc.Client {
  const Ctor = raw ? RawClient : AdsClient;
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.max_receive_message_length': -1,
    ...options,
  });
}

/** Streams a test opened (cancelled after it: closing a channel does not end its calls). */
const openStreams = new Set<Stream<never>>();
function cancelStreams(): void {
  for (const s of openStreams) s.cancel();
  openStreams.clear();
}

/** One ADS stream: its responses, and the status it ended with. */
class Stream<Req = object> {
  readonly call: grpc.ClientDuplexStream<Req, Record<string, unknown>>;
  readonly responses: Record<string, unknown>[] = [];
  status: grpc.StatusObject | undefined;
  readonly ended: Promise<grpc.StatusObject>;
  onResponse: ((res: Record<string, unknown>) => void) | undefined;

  constructor(client: grpc.Client, method: Method) {
    this.call = (client as unknown as Record<Method, () => grpc.ClientDuplexStream<Req, Record<string, unknown>>>)[
      method
    ]();
    this.call.on('data', (res: Record<string, unknown>) => {
      this.responses.push(res);
      this.onResponse?.(res);
    });
    this.call.on('error', () => undefined); // the status says it
    this.ended = new Promise((resolve) => this.call.on('status', (s: grpc.StatusObject) => resolve((this.status = s))));
    openStreams.add(this as Stream<never>);
  }

  send(req: Req): boolean {
    if (this.status) return false;
    this.call.write(req);
    return true;
  }

  /** The status, or undefined if the stream is still open after `ms`. */
  async endedWithin(ms: number): Promise<grpc.StatusObject | undefined> {
    return Promise.race([this.ended, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms))]);
  }

  cancel(): void {
    this.call.cancel();
  }
}

/**
 * A well-behaved proxy: a Delta stream for the quickstart's front node, wildcard on CDS, EDS,
 * LDS and RDS, ACKing every response as Envoy does. Push latency: from a mesh edit to the RDS
 * response that carries it.
 */
class Victim {
  private readonly client: grpc.Client;
  private readonly stream: Stream;
  private readonly arrivals: { at: number; type: string }[] = [];

  constructor(port: number) {
    this.client = connection(port);
    this.stream = new Stream(this.client, DELTA);
    openStreams.delete(this.stream as Stream<never>); // the victim stays
    this.stream.onResponse = (res) => {
      this.arrivals.push({ at: Date.now(), type: res.type_url as string });
      this.stream.send({ node: FRONT, type_url: res.type_url, response_nonce: res.nonce });
    };
    for (const type_url of [TypeUrl.Cluster, TypeUrl.Endpoint, TypeUrl.Listener, TypeUrl.Route])
      this.stream.send({ node: FRONT, type_url });
  }

  async synced(): Promise<void> {
    await waitFor(
      'the victim to receive its routes',
      () => (this.arrivals.some((a) => a.type === TypeUrl.Route) ? true : undefined),
      15000,
    );
  }

  /** Makes the edit and resolves with the ms until the victim's RDS push after it; rejects if none arrives. */
  async pushAfter(edit: () => void, timeoutMs = 30000): Promise<number> {
    const seen = this.arrivals.length;
    const t0 = Date.now();
    edit();
    const arrival = await waitFor(
      'the victim to receive the push',
      () => this.arrivals.slice(seen).find((a) => a.type === TypeUrl.Route),
      timeoutMs,
      2,
    );
    return arrival.at - t0;
  }

  get open(): boolean {
    return this.stream.status === undefined;
  }

  close(): void {
    this.stream.cancel();
    this.client.close();
  }
}

/** The victim of the starvation checks, in its own process (test/helpers/xds-victim.js): the attacks run here. */
class VictimProcess {
  private readonly child: ChildProcess;
  private readonly events: { event: string; ms?: number; code?: number }[] = [];
  private stderr = '';

  constructor(m: Meshd) {
    this.child = spawn(process.execPath, [VICTIM_SCRIPT, String(m.xdsPort), String(m.adminPort), m.meshFile], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => this.events.push(JSON.parse(line)));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  private async after(seen: number, name: string, timeoutMs: number): Promise<{ ms?: number }> {
    return waitFor(
      `the victim's '${name}' (stderr: ${this.stderr})`,
      () => this.events.slice(seen).find((e) => e.event === name),
      timeoutMs,
      2,
    );
  }

  async synced(): Promise<void> {
    await this.after(0, 'synced', 15000);
  }

  /** The victim edits the mesh; the ms until its push arrives (rejects if none does). */
  async push(): Promise<number> {
    const seen = this.events.length;
    this.child.stdin!.write('edit\n');
    return (await this.after(seen, 'push', 30000)).ms!;
  }

  async healthz(): Promise<number> {
    const seen = this.events.length;
    this.child.stdin!.write('healthz\n');
    return (await this.after(seen, 'healthz', 30000)).ms!;
  }

  get open(): boolean {
    return !this.events.some((e) => e.event === 'ended') && this.child.exitCode === null;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.stdin!.write('exit\n');
    await exited;
  }
}

// ---------------------------------------------------------------------------------------------
// Hand-built protobuf (test/helpers/protobuf-wire.ts) for
// requests protobufjs would take too long to build, or refuses to

/** A Node whose metadata nests `depth` list values inside one another (Value.list_value.values[0] ...). */
function deeplyNestedNode(id: string, depth: number): Buffer {
  const size = depth * 12 + 64;
  const buf = Buffer.alloc(size);
  let start = size; // content is buf[start, size)
  const prepend = (bytes: Buffer) => {
    start -= bytes.length;
    bytes.copy(buf, start);
  };
  for (let i = 0; i < depth; i++) {
    prepend(varint(size - start)); // ListValue.values[0] = the Value so far
    prepend(Buffer.from([0x0a]));
    prepend(varint(size - start)); // Value.list_value = that ListValue
    prepend(Buffer.from([0x32]));
  }
  const value = buf.subarray(start);
  const struct = lenField(1, Buffer.concat([lenField(1, 'deep'), lenField(2, value)])); // Struct.fields entry
  return Buffer.concat([lenField(1, id), lenField(3, struct)]); // Node.id, Node.metadata
}

// ---------------------------------------------------------------------------------------------
// meshd

interface Meshd {
  proc: RunningProcess;
  xdsPort: number;
  adminPort: number;
  meshFile: string;
  /** The color route's weight for color-blue (the quickstart's 100 to start with). */
  blue: number;
}

async function startServe(flags: string[] = []): Promise<Meshd> {
  const dir = tmpDir('xds-adversarial-');
  const meshFile = path.join(dir, 'mesh.yaml');
  fs.copyFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), meshFile);
  const xdsPort = await freePort();
  const adminPort = await freePort();
  const proc = startMeshd(
    [
      'serve',
      '--mesh',
      dir,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(xdsPort),
      '--admin-port',
      String(adminPort),
      ...flags,
    ],
    {
      MESHD_CLOUD_MAP_STATE: path.join(dir, 'cloud-map.json'),
    },
  );
  await waitFor(
    'meshd to serve',
    () =>
      proc.stdout().includes('xDS (ADS gRPC)')
        ? true
        : proc.child.exitCode !== null
          ? Promise.reject(new Error(proc.stderr()))
          : undefined,
    20000,
  );
  return { proc, xdsPort, adminPort, meshFile, blue: 100 };
}

/** Edits the color route's weights (blue/green), which changes front's routes. */
function editMesh(m: Meshd): void {
  const blue = (m.blue = m.blue === 100 ? 50 : 100);
  const text = fs
    .readFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), 'utf8')
    .replace('{ virtualNode: color-blue, weight: 100 }', `{ virtualNode: color-blue, weight: ${blue} }`)
    .replace('{ virtualNode: color-green, weight: 0 }', `{ virtualNode: color-green, weight: ${100 - blue} }`);
  fs.writeFileSync(m.meshFile, text);
}

async function refused(m: Meshd, reason: string): Promise<number> {
  const text = await getOk(m.adminPort, '/metrics');
  const line = text.split('\n').find((l) => l.startsWith(`meshd_xds_refused_streams_total{reason="${reason}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** meshd is running, answers /healthz, and serves a new ADS client (its routes arrive). */
async function expectServing(m: Meshd): Promise<void> {
  expect(m.proc.child.exitCode).toBeNull();
  const t0 = Date.now();
  expect(await getOk(m.adminPort, '/healthz')).toBe('ok\n');
  const healthzMs = Date.now() - t0;
  const probe = new Victim(m.xdsPort);
  try {
    await probe.synced();
  } finally {
    probe.close();
  }
  expect(healthzMs).toBeGreaterThanOrEqual(0);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Runs `attack` (it loops until `stop()` says so) while the victim (its own process) makes five
 * mesh edits: each push must arrive. Reports the victim's push latencies and /healthz's time
 * under attack, next to a quiet baseline taken just before.
 */
async function underAttack(
  victim: VictimProcess,
  name: string,
  attack: (stop: () => boolean) => Promise<void>,
): Promise<void> {
  // Edits 200 ms apart: back-to-back edits add the watcher's own settling time to every other push.
  const pushes = async (into: number[]) => {
    for (let i = 0; i < 5; i++) {
      await sleep(200);
      into.push(await victim.push());
    }
  };
  const quiet: number[] = [];
  await pushes(quiet);
  const quietHealthz = await victim.healthz();
  let stopped = false;
  const running = attack(() => stopped);
  await sleep(300); // let the attack get going
  const attacked: number[] = [];
  try {
    const healthzMs = await victim.healthz();
    await pushes(attacked);
    report(
      `${name}: victim push median ${median(attacked)} ms under attack [${attacked.join(', ')}] vs ${median(quiet)} ms quiet [${quiet.join(', ')}]; /healthz ${healthzMs} ms (quiet ${quietHealthz} ms)`,
    );
  } finally {
    stopped = true;
    await running;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------

describe('xDS server under attack (a real meshd serve)', () => {
  // Small limits, so that each bound is reached quickly; the defaults are checked in 'default limits'.
  const LIMITS = {
    names: 1000,
    namesPerStream: 1500,
    types: 8,
    perConnection: 10,
    streams: 60,
    messageBytes: 256 * 1024,
    nameBytes: 1024,
    nodeIdBytes: 1024,
  };
  let m: Meshd;
  let victim: VictimProcess;
  const clients: grpc.Client[] = [];
  const open = (raw = false, options: grpc.ChannelOptions = {}) => {
    const c = connection(m.xdsPort, raw, options);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    m = await startServe([
      '--xds-max-names-per-type',
      String(LIMITS.names),
      '--xds-max-names-per-stream',
      String(LIMITS.namesPerStream),
      '--xds-max-types-per-stream',
      String(LIMITS.types),
      '--xds-max-streams-per-connection',
      String(LIMITS.perConnection),
      '--xds-max-streams',
      String(LIMITS.streams),
      '--xds-max-message-bytes',
      String(LIMITS.messageBytes),
    ]);
    victim = new VictimProcess(m);
    await victim.synced();
  }, 30000);

  afterEach(async () => {
    cancelStreams();
    for (const c of clients.splice(0)) c.close();
    await sleep(50);
    // Every attack leaves the victim's stream open and meshd serving.
    expect(victim.open).toBe(true);
    await expectServing(m);
  });

  afterAll(async () => {
    await victim?.close();
    const code = await m?.proc.stop();
    const out = (m?.proc.stdout() ?? '') + (m?.proc.stderr() ?? '');
    expect(out).not.toMatch(/\n\s+at /); // no stack trace
    expect(code).toBe(0);
  });

  describe('class: a Delta stream grows its name set without bound', () => {
    it('ends the stream with RESOURCE_EXHAUSTED past --xds-max-names-per-type, counts it, and the victim still gets its push', async () => {
      const before = await refused(m, 'names_per_type');
      let refusals = 0;
      let refusal: grpc.StatusObject | undefined;
      await underAttack(victim, 'delta stream subscribing new names without end', async (stop) => {
        let n = 0;
        const c = open();
        while (!stop()) {
          const s = new Stream(c, DELTA);
          s.send({ node: FRONT, type_url: TypeUrl.Endpoint, resource_names_subscribe: ['first'] });
          while (!stop() && !s.status) {
            s.send({
              node: FRONT,
              type_url: TypeUrl.Endpoint,
              resource_names_subscribe: Array.from({ length: 100 }, () => `name-${n++}`),
            });
            await sleep(0);
          }
          if (!s.status) s.cancel();
          const status = await s.ended;
          if (status.code === grpc.status.RESOURCE_EXHAUSTED) {
            refusals++;
            refusal = status;
          }
        }
      });
      expect(refusals).toBeGreaterThan(0);
      expect(refusal?.details).toMatch(new RegExp(`more than ${LIMITS.names} names`));
      expect(await refused(m, 'names_per_type')).toBeGreaterThanOrEqual(before + refusals);
    });

    it('counts names over all types against --xds-max-names-per-stream', async () => {
      const s = new Stream(open(), DELTA);
      s.send({
        node: FRONT,
        type_url: TypeUrl.Endpoint,
        resource_names_subscribe: Array.from({ length: 900 }, (_, i) => `eds-${i}`),
      });
      s.send({
        node: FRONT,
        type_url: TypeUrl.Route,
        resource_names_subscribe: Array.from({ length: 900 }, (_, i) => `rds-${i}`),
      });
      const status = await s.ended;
      expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(status.details).toMatch(/more than 1500 names over all its types/);
      expect(await refused(m, 'names_per_stream')).toBeGreaterThan(0);
    });

    it("counts a reconnecting client's initial_resource_versions and a SotW request's names too", async () => {
      const delta = new Stream(open(), DELTA);
      delta.send({
        node: FRONT,
        type_url: TypeUrl.Cluster,
        initial_resource_versions: Object.fromEntries(
          Array.from({ length: LIMITS.names + 1 }, (_, i) => [`c-${i}`, 'v']),
        ),
      });
      expect((await delta.ended).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      const sotw = new Stream(open(), SOTW);
      sotw.send({
        node: FRONT,
        type_url: TypeUrl.Endpoint,
        resource_names: Array.from({ length: LIMITS.names + 1 }, (_, i) => `e-${i}`),
      });
      expect((await sotw.ended).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    });

    it('refuses a resource name longer than --xds-max-name-bytes', async () => {
      const s = new Stream(open(), DELTA);
      s.send({ node: FRONT, type_url: TypeUrl.Route, resource_names_subscribe: ['r'.repeat(LIMITS.nameBytes + 1)] });
      const status = await s.ended;
      expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(status.details).toMatch(/at most 1024/);
      expect(await refused(m, 'name_bytes')).toBeGreaterThan(0);
    });

    it('refuses a request of two million empty names by counting its fields, without decoding it', async () => {
      // 4 MiB of resource_names = "" would take protobufjs most of a second to decode.
      const bigMeshd = await startServe([]);
      const c = connection(bigMeshd.xdsPort, true);
      const victim2 = new VictimProcess(bigMeshd);
      try {
        await victim2.synced();
        const message = Buffer.concat([
          lenField(2, lenField(1, FRONT.id)),
          lenField(4, TypeUrl.Endpoint),
          Buffer.alloc(4 * 1024 * 1024 - 200, Buffer.from([0x1a, 0x00])),
        ]);
        const statuses = new Set<string>();
        await underAttack(victim2, '4 MiB requests of 2 million empty names, back to back', async (stop) => {
          while (!stop()) {
            const s = new Stream<Buffer>(c, SOTW);
            s.send(message);
            const status = await s.ended;
            statuses.add(`${status.code}: ${status.details}`);
          }
        });
        // Refused by the field count (before decoding), not after.
        expect([...statuses]).toEqual([
          `${grpc.status.RESOURCE_EXHAUSTED}: the request names more than 10000 resources in one field (the limit per type)`,
        ]);
        expect(await refused(bigMeshd, 'names_per_type')).toBeGreaterThan(0);
        await expectServing(bigMeshd);
      } finally {
        await victim2.close();
        c.close();
        expect(await bigMeshd.proc.stop()).toBe(0);
      }
    });

    it('refuses requests whose nested fields would take long to decode (error_detail details, node metadata keys), by counting them', async () => {
      // Empty Anys in a NACK's details, or keys in the node's metadata, as many as this meshd's
      // message size allows (at 4 MiB: two million, a second or more of protobufjs each), found
      // only by following the schema into the nesting.
      const details = Buffer.alloc(200 * 1024, Buffer.from([0x1a, 0x00]));
      const detailBomb = Buffer.concat([
        lenField(2, lenField(1, FRONT.id)),
        lenField(4, TypeUrl.Endpoint),
        lenField(6, details),
      ]);
      const entry = lenField(1, Buffer.concat([lenField(1, 'k'), lenField(2, lenField(3, 'v'))]));
      const metadataBomb = Buffer.concat([
        lenField(
          2,
          Buffer.concat([
            lenField(1, FRONT.id),
            lenField(3, Buffer.concat(Array.from({ length: 20_000 }, () => entry))),
          ]),
        ),
        lenField(4, TypeUrl.Endpoint),
      ]);
      const before = await refused(m, 'names_per_type');
      const raw = connection(m.xdsPort, true);
      for (const message of [detailBomb, metadataBomb]) {
        const s = new Stream<Buffer>(raw, SOTW);
        s.send(message);
        const status = await s.ended;
        expect(`${status.code}: ${status.details}`).toMatch(
          new RegExp(`^${grpc.status.RESOURCE_EXHAUSTED}: the request has more than \\d+ fields`),
        );
      }
      raw.close();
      expect((await refused(m, 'names_per_type')) - before).toBe(2);
      await expectServing(m);
    });
  });

  describe("class: per-request cost grows with the stream's history (many type URLs)", () => {
    it('refuses a stream past --xds-max-types-per-stream, and keeps made-up types out of the status', async () => {
      const s = new Stream(open(), SOTW);
      for (let i = 0; i < LIMITS.types + 1; i++)
        s.send({ node: FRONT, type_url: `type.googleapis.com/attack.Type${i}` });
      const status = await s.ended;
      expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(status.details).toMatch(/more than 8 resource types/);
      // Each unknown type got one empty answer, and none of them shows in the status.
      expect(s.responses.length).toBe(LIMITS.types);
      expect(s.responses.every((r) => (r.resources as unknown[]).length === 0)).toBe(true);
      expect(await refused(m, 'types_per_stream')).toBeGreaterThan(0);
      expect(await getOk(m.adminPort, '/metrics')).not.toMatch(/attack\.Type/);
      expect(await getOk(m.adminPort, '/v1/proxies')).not.toMatch(/attack\.Type/);
    });

    it('a SotW client sending ever new type URLs is ended at the bound each time, and another proxy still gets its push', async () => {
      let refusals = 0;
      let requests = 0;
      await underAttack(victim, 'SotW streams sending a new type URL per request, without pause', async (stop) => {
        const c = open();
        let n = 0;
        while (!stop()) {
          const s = new Stream(c, SOTW);
          while (!stop() && !s.status) {
            for (let k = 0; k < 20; k++)
              if (s.send({ node: FRONT, type_url: `type.googleapis.com/attack.T${n++}` })) requests++;
            s.send({ node: FRONT, type_url: TypeUrl.Cluster });
            await sleep(1);
          }
          if (!s.status) s.cancel();
          if ((await s.ended).code === grpc.status.RESOURCE_EXHAUSTED) refusals++;
        }
      });
      report(`new type URLs: ${requests} requests, ${refusals} streams ended at the bound`);
      expect(refusals).toBeGreaterThan(0);
    });

    it('re-requesting the real types and made-up ones as fast as it can costs one empty answer per made-up type, and another proxy still gets its push', async () => {
      let requests = 0;
      const streams: Stream[] = [];
      const made = Array.from({ length: LIMITS.types - 4 }, (_, i) => `type.googleapis.com/attack.Type${i}`);
      await underAttack(
        victim,
        'SotW flood: 8 streams x (the 4 real types + 4 made-up ones), requests without pause',
        async (stop) => {
          const c = open();
          streams.push(...Array.from({ length: LIMITS.perConnection - 2 }, () => new Stream(c, SOTW)));
          const types = [TypeUrl.Cluster, TypeUrl.Endpoint, TypeUrl.Listener, TypeUrl.Route, ...made];
          while (!stop()) {
            for (const s of streams)
              for (const type_url of types)
                if (
                  s.send({
                    node: FRONT,
                    type_url,
                    resource_names: type_url === TypeUrl.Endpoint ? Array.from({ length: 200 }, (_, i) => `e${i}`) : [],
                  })
                )
                  requests++;
            await sleep(1);
          }
        },
      );
      report(`SotW flood: ${requests} requests sent`);
      expect(requests).toBeGreaterThan(1000);
      expect(streams.every((s) => s.status === undefined)).toBe(true);
      // Never ACKed, so each made-up type was answered once (empty), however often it was asked for.
      for (const s of streams)
        expect(s.responses.filter((r) => made.includes(r.type_url as string)).length).toBe(made.length);
      expect(await getOk(m.adminPort, '/metrics')).toMatch(/^meshd_xds_pushes_total\{[^}]*type="other"[^}]*\} \d+$/m);
    });
  });

  describe('class: unbounded streams', () => {
    it('refuses a stream past --xds-max-streams-per-connection on the same connection, not the others', async () => {
      const c = open();
      const streams = Array.from({ length: LIMITS.perConnection + 1 }, () => new Stream(c, DELTA));
      streams.forEach((s, i) => s.send({ node: { id: `${FRONT.id}-${i}` }, type_url: TypeUrl.Cluster }));
      await waitFor('one stream to be refused', () => (streams.some((s) => s.status) ? true : undefined));
      await sleep(200);
      const ended = streams.filter((s) => s.status);
      expect(ended.map((s) => s.status!.code)).toEqual([grpc.status.RESOURCE_EXHAUSTED]);
      expect(ended[0]!.status!.details).toMatch(/at most 10/);
      expect(await refused(m, 'streams_per_connection')).toBeGreaterThan(0);
      // Another connection still gets a stream.
      const other = new Stream(open(), DELTA);
      other.send({ node: FRONT, type_url: TypeUrl.Cluster });
      await waitFor('a response on another connection', () => (other.responses.length > 0 ? true : undefined));
    });

    it('refuses streams past --xds-max-streams over all connections, and accepts again once some close', async () => {
      const held: Stream[] = [];
      for (let i = 0; i < 7; i++) {
        const c = open();
        for (let j = 0; j < LIMITS.perConnection; j++) {
          const s = new Stream(c, DELTA);
          s.send({ node: FRONT, type_url: TypeUrl.Cluster });
          held.push(s);
        }
      }
      await waitFor('the total to be reached', () => (held.some((s) => s.status) ? true : undefined));
      await sleep(200);
      const refusedStreams = held.filter((s) => s.status);
      // 70 asked, 60 allowed, and the victim holds one of them.
      expect(refusedStreams.length).toBe(70 - (LIMITS.streams - 1));
      expect(new Set(refusedStreams.map((s) => s.status!.code))).toEqual(new Set([grpc.status.RESOURCE_EXHAUSTED]));
      expect(await refused(m, 'streams_total')).toBeGreaterThan(0);
      for (const s of held) s.cancel();
      await sleep(200);
      const after = new Stream(open(), DELTA);
      after.send({ node: FRONT, type_url: TypeUrl.Cluster });
      await waitFor('a stream once others closed', () => (after.responses.length > 0 ? true : undefined));
    });
  });

  describe('class: oversized requests', () => {
    it('ends a stream whose request is larger than --xds-max-message-bytes with RESOURCE_EXHAUSTED, and counts it', async () => {
      const before = await refused(m, 'message_bytes');
      const s = new Stream(open(), DELTA);
      s.send({
        node: { id: FRONT.id, metadata: { fields: { blob: { stringValue: 'x'.repeat(LIMITS.messageBytes) } } } },
        type_url: TypeUrl.Cluster,
      });
      const status = await s.ended;
      expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(status.details).toMatch(/larger than max/);
      expect(await refused(m, 'message_bytes')).toBe(before + 1);
    });
  });

  describe('class: node ids (and other client strings) are neither limited nor escaped', () => {
    it('refuses a node id longer than --xds-max-node-id-bytes with INVALID_ARGUMENT, and logs a bounded line', async () => {
      const logBefore = m.proc.stdout().length + m.proc.stderr().length;
      const ok = new Stream(open(), DELTA);
      ok.send({ node: { id: 'n'.repeat(LIMITS.nodeIdBytes) }, type_url: TypeUrl.Cluster });
      for (let i = 0; i < 20; i++) {
        const s = new Stream(open(), DELTA);
        s.send({ node: { id: 'x'.repeat(100 * 1024) + '\n\u001b[31mforged' }, type_url: TypeUrl.Cluster });
        const status = await s.ended;
        expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
        expect(status.details).toMatch(/node.id is \d+ bytes long; at most 1024/);
      }
      expect(await ok.endedWithin(300)).toBeUndefined(); // an id of exactly the limit is fine
      expect(await refused(m, 'node_id_bytes')).toBeGreaterThanOrEqual(20);
      // 20 refused 100 KB ids wrote a few lines, not 2 MB.
      await sleep(100);
      expect(m.proc.stdout().length + m.proc.stderr().length - logBefore).toBeLessThan(20 * 1024);
    });

    it('logs a few refusals a second, however many there are, and counts them all', async () => {
      // A burst this size is handled over several turns of the event loop (10 ms of requests a turn),
      // so the streams that arrive while the server holds its limit of streams are refused for that.
      const refusedAll = async () => (await refused(m, 'no_node_id')) + (await refused(m, 'streams_total'));
      const before = await refusedAll();
      const lines = () =>
        (m.proc.stdout() + m.proc.stderr()).split('\n').filter((l) => l.includes('first request has no node id'))
          .length;
      const linesBefore = lines();
      const connections = Array.from({ length: 30 }, () => open()); // 10 streams each, the limit per connection
      await Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          const s = new Stream(connections[i % 30]!, SOTW);
          s.send({ type_url: TypeUrl.Cluster });
          await s.ended;
        }),
      );
      await sleep(100);
      expect(await refusedAll()).toBe(before + 300);
      expect(await refused(m, 'no_node_id')).toBeGreaterThan(0);
      const logged = lines() - linesBefore;
      report(`300 refusals in a burst: ${logged} log lines`);
      expect(logged).toBeLessThanOrEqual(60);
    });

    it('logs a few dozen connect and disconnect lines a second for a client opening and closing streams in a loop', async () => {
      const lines = () =>
        (m.proc.stdout() + m.proc.stderr())
          .split('\n')
          .filter(
            (l) => l.includes(`xds: proxy ${FRONT.id} connected`) || l.includes(`xds: proxy ${FRONT.id} disconnected`),
          ).length;
      const linesBefore = lines();
      const connections = Array.from({ length: 4 }, () => open());
      // 15 rounds of 20 streams (this meshd allows 60 at once), each opened, answered and cancelled.
      for (let round = 0; round < 15; round++) {
        await Promise.all(
          Array.from({ length: 20 }, async (_, i) => {
            const s = new Stream(connections[i % 4]!, DELTA);
            s.send({ node: FRONT, type_url: TypeUrl.Cluster });
            await waitFor('a response', () => (s.responses.length > 0 ? true : undefined));
            s.cancel();
          }),
        );
      }
      await sleep(200);
      const logged = lines() - linesBefore;
      report(`300 streams opened and closed: ${logged} connect/disconnect lines`);
      // 600 events; the log keeps at most 50 a second (the burst spans a second or two).
      expect(logged).toBeLessThanOrEqual(200);
      expect(logged).toBeGreaterThan(0);
    });

    it('keeps a huge cluster and user agent name only truncated, in the status and the logs', async () => {
      const logBefore = m.proc.stdout().length + m.proc.stderr().length;
      const s = new Stream(open(), DELTA);
      s.send({
        node: { id: FRONT.id, cluster: 'c'.repeat(100 * 1024), user_agent_name: 'u'.repeat(100 * 1024) },
        type_url: TypeUrl.Cluster,
      });
      await waitFor('a response', () => (s.responses.length > 0 ? true : undefined));
      const proxies = await getOk(m.adminPort, '/v1/proxies');
      expect(proxies.length).toBeLessThan(20 * 1024);
      expect(m.proc.stdout().length + m.proc.stderr().length - logBefore).toBeLessThan(4 * 1024);
    });
  });

  describe('xDS fuzz: random and hostile requests', () => {
    it('random bytes as the request end only their own stream, with INVALID_ARGUMENT or a bound', async () => {
      const c = open(true);
      const codes = new Map<number, number>();
      let seed = 42;
      const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      await underAttack(victim, 'random bytes as requests, SotW and Delta', async (stop) => {
        for (let i = 0; !stop() && i < 5000; i++) {
          const bytes = Buffer.from(
            Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256)),
          );
          const s = new Stream<Buffer>(c, i % 2 ? SOTW : DELTA);
          s.send(bytes);
          const status = await s.endedWithin(200);
          s.cancel();
          const code = status?.code ?? -1;
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }
      });
      report(
        `random bytes: statuses ${JSON.stringify(Object.fromEntries(codes))} (-1: still open after 200 ms, e.g. an empty or valid-looking request)`,
      );
      // Never an internal error or an unknown one: every refusal is a precise status.
      expect(codes.has(grpc.status.INTERNAL)).toBe(false);
      expect(codes.has(grpc.status.UNKNOWN)).toBe(false);
      expect(codes.get(grpc.status.INVALID_ARGUMENT) ?? 0).toBeGreaterThan(0);
      expect(await refused(m, 'malformed')).toBeGreaterThan(0);
    });

    it('random well-formed requests (odd type URLs, names, nonces, NACKs, control characters) never take meshd down', async () => {
      let seed = 7;
      const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
      const strings = [
        '',
        '*',
        'a',
        '\u0000',
        '\n\u001b[2J',
        'é'.repeat(300),
        'x'.repeat(1025),
        FRONT.id,
        'rds_egress_http_15001',
        '..',
        '%zz',
        '__proto__',
        'constructor',
      ];
      const types = [
        TypeUrl.Cluster,
        TypeUrl.Endpoint,
        TypeUrl.Listener,
        TypeUrl.Route,
        '',
        'type.googleapis.com/x',
        '*',
        '__proto__',
      ];
      const codes = new Map<number, number>();
      for (let i = 0; i < 300; i++) {
        const method = random() < 0.5 ? SOTW : DELTA;
        const s = new Stream(open(), method);
        for (let k = 0; k < 5; k++) {
          const node =
            random() < 0.8
              ? { id: pick([...strings, FRONT.id, FRONT.id]), cluster: pick(strings), user_agent_name: pick(strings) }
              : undefined;
          const names = Array.from({ length: Math.floor(random() * 5) }, () => pick(strings));
          const error_detail = random() < 0.2 ? { code: 3, message: pick(strings) } : undefined;
          const nonce = pick(['', '1', '2', '99', ...strings]);
          if (method === SOTW)
            s.send({
              node,
              type_url: pick(types),
              resource_names: names,
              response_nonce: nonce,
              version_info: pick(strings),
              error_detail,
            });
          else
            s.send({
              node,
              type_url: pick(types),
              resource_names_subscribe: names,
              resource_names_unsubscribe: names.slice(1),
              response_nonce: nonce,
              error_detail,
              initial_resource_versions: random() < 0.2 ? { [pick(strings)]: pick(strings) } : {},
            });
        }
        const code = (await s.endedWithin(30))?.code ?? -1;
        codes.set(code, (codes.get(code) ?? 0) + 1);
        s.cancel();
        if (i % 50 === 49) {
          cancelStreams();
          for (const c of clients.splice(0)) c.close();
        }
      }
      report(`random requests: statuses ${JSON.stringify(Object.fromEntries(codes))}`);
      expect(codes.has(grpc.status.INTERNAL)).toBe(false);
      expect(codes.has(grpc.status.UNKNOWN)).toBe(false);
    });

    it('a request without a node is refused with INVALID_ARGUMENT', async () => {
      const s = new Stream(open(), SOTW);
      s.send({ type_url: TypeUrl.Cluster });
      const status = await s.ended;
      expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(status.details).toMatch(/no node id/);
      expect(await refused(m, 'no_node_id')).toBeGreaterThan(0);
    });

    it('deeply nested node metadata is refused as malformed, not a crash', async () => {
      const c = open(true);
      const node = deeplyNestedNode(FRONT.id, 20000);
      const s = new Stream<Buffer>(c, SOTW);
      s.send(Buffer.concat([lenField(2, node), lenField(4, TypeUrl.Cluster)]));
      const status = await s.ended;
      expect(status.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(status.details).toMatch(/not a valid xDS discovery request/);
    });

    it('a stream that never sends its first request is closed after --xds-idle-timeout-ms', async () => {
      const quick = await startServe(['--xds-idle-timeout-ms', '500']);
      const c = connection(quick.xdsPort);
      try {
        const s = new Stream(c, DELTA);
        const status = await s.ended;
        expect(status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
        expect(await refused(quick, 'first_request_timeout')).toBe(1);
      } finally {
        c.close();
        expect(await quick.proc.stop()).toBe(0);
      }
    });
  });
});

describe('class: connections that never open a stream, and too many connections', () => {
  const rawSocket = (port: number) =>
    new Promise<{ socket: net.Socket; closed: Promise<number> }>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      const opened = Date.now();
      const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now() - opened)));
      socket.on('error', () => undefined);
      socket.once('connect', () => resolve({ socket, closed }));
      socket.once('error', reject);
    });
  /** Sockets meshd holds open on its xDS port, besides the listening one (ss, by meshd's pid). */
  const serverSideConnections = (m: Meshd) => {
    const out = execFileSync('ss', ['-Htanp', `sport = :${m.xdsPort}`]).toString();
    return out.split('\n').filter((l) => l.includes(`pid=${m.proc.child.pid},`) && !/LISTEN/.test(l)).length;
  };

  it('closes a TCP connection that sends nothing, and an HTTP/2 connection that opens no stream, after --xds-idle-timeout-ms, freeing its descriptor', async () => {
    const m = await startServe(['--xds-idle-timeout-ms', '1000']);
    try {
      // The silent client does not even read: meshd must not wait for it to close its side.
      const silent = await rawSocket(m.xdsPort);
      silent.socket.pause();
      const h2 = http2.connect(`http://127.0.0.1:${m.xdsPort}`);
      h2.on('error', () => undefined);
      const h2Closed = new Promise<number>((r) => {
        const t0 = Date.now();
        h2.once('close', () => r(Date.now() - t0));
      });
      const h2Ms = await Promise.race([h2Closed, sleep(10000).then(() => -1)]);
      const t0 = Date.now();
      const silentGone = await waitFor(
        'meshd to close the silent connection',
        () => (serverSideConnections(m) === 0 ? Date.now() : undefined),
        10000,
        50,
      );
      report(
        `idle connections: HTTP/2 without a stream closed after ${h2Ms} ms; the silent TCP client's socket freed on meshd's side ${silentGone - t0 + h2Ms} ms after connecting; timeout 1000 ms`,
      );
      expect(h2Ms).toBeGreaterThan(0);
      silent.socket.destroy();
      h2.destroy();
    } finally {
      expect(await m.proc.stop()).toBe(0);
    }
  });

  it('keeps a connection with an open stream and keepalive pings past the idle timeout, and pushes to it', async () => {
    const m = await startServe(['--xds-idle-timeout-ms', '1000']);
    // Envoy's ADS keepalive (App Mesh bootstrap): pings every 10 s; here every second.
    const c = connection(m.xdsPort, false, {
      'grpc.keepalive_time_ms': 1000,
      'grpc.keepalive_timeout_ms': 1000,
      'grpc.keepalive_permit_without_calls': 1,
    });
    const victim = new Victim(m.xdsPort);
    const s = new Stream(c, DELTA);
    try {
      s.send({ node: FRONT, type_url: TypeUrl.Cluster });
      await victim.synced();
      await sleep(3000);
      expect(s.status).toBeUndefined();
      expect(victim.open).toBe(true);
      const ms = await victim.pushAfter(() => editMesh(m));
      report(`push to a stream open 3 s past a 1 s idle timeout: ${ms} ms`);
    } finally {
      s.cancel();
      victim.close();
      c.close();
      expect(await m.proc.stop()).toBe(0);
    }
  });

  it('closes connections past --xds-max-connections as they arrive, counts them, and accepts again once some close', async () => {
    const m = await startServe(['--xds-max-connections', '20']);
    try {
      const sockets = await Promise.all(Array.from({ length: 25 }, () => rawSocket(m.xdsPort)));
      const closedEarly = await Promise.all(
        sockets.map((s) => Promise.race([s.closed.then(() => true), sleep(500).then(() => false)])),
      );
      expect(closedEarly.filter(Boolean).length).toBe(5);
      const metrics = await getOk(m.adminPort, '/metrics');
      expect(metrics).toMatch(/^meshd_xds_refused_connections_total\{reason="max_connections"\} 5$/m);
      for (const s of sockets) s.socket.destroy();
      await sleep(200);
      await expectServing(m);
    } finally {
      expect(await m.proc.stop()).toBe(0);
    }
  });
});

describe('class: the server-wide name budget (--xds-max-names-total)', () => {
  it('refuses the stream that would go past it, and gives the names back when a stream closes', async () => {
    const m = await startServe([
      '--xds-max-names-total',
      '3000',
      '--xds-max-names-per-type',
      '2000',
      '--xds-max-names-per-stream',
      '2000',
    ]);
    const clients = [connection(m.xdsPort), connection(m.xdsPort), connection(m.xdsPort)];
    try {
      const subscribe = (c: grpc.Client, prefix: string) => {
        const s = new Stream(c, DELTA);
        s.send({
          node: FRONT,
          type_url: TypeUrl.Endpoint,
          resource_names_subscribe: Array.from({ length: 1600 }, (_, i) => `${prefix}-${i}`),
        });
        return s;
      };
      const first = subscribe(clients[0]!, 'a');
      await waitFor('the first subscription', () => (first.responses.length > 0 ? true : undefined));
      const second = subscribe(clients[1]!, 'b');
      const status = await second.ended;
      expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(status.details).toMatch(/limit of 3000 subscribed names over all streams/);
      expect(await refused(m, 'names_total')).toBe(1);
      first.cancel();
      await sleep(200);
      const third = subscribe(clients[2]!, 'c');
      await waitFor('a subscription once the first stream closed', () =>
        third.responses.length > 0 ? true : undefined,
      );
      expect(third.status).toBeUndefined();
      await expectServing(m);
    } finally {
      for (const c of clients) c.close();
      expect(await m.proc.stop()).toBe(0);
    }
  });

  it("counts a reconnecting client's initial resource versions too (held until it ACKs), over every type and stream", async () => {
    const m = await startServe([
      '--xds-max-names-total',
      '3000',
      '--xds-max-names-per-type',
      '2000',
      '--xds-max-names-per-stream',
      '4000',
    ]);
    const clients = [connection(m.xdsPort), connection(m.xdsPort)];
    try {
      // Wildcard subscriptions (no names) that report holding 1,500 resources each, and never ACK.
      const holding = (c: grpc.Client, typeUrl: string, prefix: string) => {
        const s = new Stream(c, DELTA);
        s.send({
          node: FRONT,
          type_url: typeUrl,
          initial_resource_versions: Object.fromEntries(
            Array.from({ length: 1500 }, (_, i) => [`${prefix}-${i}`, 'v1']),
          ),
        });
        return s;
      };
      const first = holding(clients[0]!, TypeUrl.Endpoint, 'a');
      await waitFor('the first answer', () => (first.responses.length > 0 || first.status ? true : undefined));
      expect(first.status).toBeUndefined();
      const second = holding(clients[1]!, TypeUrl.Cluster, 'b');
      await waitFor('the second answer', () => (second.responses.length > 0 || second.status ? true : undefined));
      expect(second.status).toBeUndefined();
      // 3,000 held: the next 1,500 are refused, whichever type and stream report them.
      const third = holding(clients[1]!, TypeUrl.Listener, 'c');
      const status = await third.endedWithin(10_000);
      expect(status?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(await refused(m, 'names_total')).toBe(1);
      await expectServing(m);
    } finally {
      for (const c of clients) c.close();
      expect(await m.proc.stop()).toBe(0);
    }
  });
});
