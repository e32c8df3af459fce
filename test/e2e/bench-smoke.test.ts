// The benchmarks cannot rot: bench/compile.js and bench/propagation.js run as a user runs them
// (`node bench/<name>.js ...` from the repository root, each its own process) at a tiny size, and
// the test checks what that user would notice: the exit code, one-line errors for bad arguments,
// and the JSON each writes (its rows, how many proxies a change reached, the mesh it measured,
// times that are finite and ordered). Everything is real: compile.js loads and compiles generated
// meshes with dist/; propagation.js starts real `meshd serve` processes, the bare grpc-js baseline
// and the go-control-plane baseline (which it builds with `go build`: Go must be on PATH, and a
// fresh machine downloads its modules first) and the ADS load generator (bench/ads-load.js) in its
// own process, and times real route changes reaching real ADS streams, SotW and Delta.
// No time is asserted: the benches report times, this only checks they are sane numbers. The
// benches' own temp files go to a fresh TMPDIR, which must hold nothing of theirs afterwards.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { writeMesh, SHARED } = require(path.join(ROOT, 'bench/mesh-gen.js')) as {
  writeMesh(opts: { services: number; backends?: number; dir?: string }): {
    nodeIds: string[];
    callersOf(i: number): string[];
    remove(): void;
  };
  SHARED: number;
};

interface BenchRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Bench processes still running (their process groups), to end them if a test gives up on one. */
const running = new Set<number>();

/**
 * Runs `node bench/<script> <args>` from the repository root, with TMPDIR = `tmp` (where the
 * bench writes its meshes, state and the Go peer). The bench leads its own process group, so
 * that on `timeoutMs` it is ended with everything it started (meshd, the peers, the load
 * generator).
 */
function runBench(script: string, args: string[], tmp: string, timeoutMs: number): Promise<BenchRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [path.join('bench', script), ...args], {
      cwd: ROOT,
      env: { ...process.env, TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const group = child.pid!;
    running.add(group);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => (stdout += d));
    child.stderr!.on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[bench-smoke: bench/${script} did not finish within ${timeoutMs} ms; ended it]\n`;
      killGroup(group);
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      running.delete(group);
      reject(err);
    });
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      killGroup(group); // anything it left behind
      running.delete(group);
      resolve({ status, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function killGroup(group: number): void {
  try {
    process.kill(-group, 'SIGKILL');
  } catch {
    /* the group is gone */
  }
}

/** What a failed expectation on a run shows: how it ended and what it said. */
const ending = (run: BenchRun) => ({ status: run.status, signal: run.signal, stderr: run.stderr });

const noStackTrace = expect.not.stringMatching(/\n\s+at /);

function readJson<T>(file: string, run: BenchRun): T {
  if (!fs.existsSync(file))
    throw new Error(
      `the bench wrote no ${path.basename(file)} (exit ${run.status ?? run.signal}; stderr: ${run.stderr.trim()})`,
    );
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** A time or size the bench measured: a finite number ≥ 0 (> 0 when `positive`). */
function expectSane(label: string, value: unknown, positive = false): void {
  const ok = typeof value === 'number' && Number.isFinite(value) && (positive ? value > 0 : value >= 0);
  if (!ok)
    throw new Error(`${label}: expected a finite number ${positive ? '> 0' : '≥ 0'}, got ${JSON.stringify(value)}`);
}

const report = (line: string) => process.stdout.write(`bench smoke: ${line}\n`);

let workDir: string;

beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-bench-smoke-'));
});

afterAll(() => {
  for (const group of running) killGroup(group);
  fs.rmSync(workDir, { recursive: true, force: true });
});

/** A fresh, empty folder in this test's temp folder. */
const freshDir = (prefix: string) => fs.mkdtempSync(path.join(workDir, prefix));

// ---------------------------------------------------------------------------------------------

interface CompileRow {
  services: number;
  virtualNodes: number;
  resources: number;
  phase: string;
  proxiesCompiled?: number;
  proxiesChanged?: number;
  proxiesChangedMax?: number;
  reloadMs: number;
  compileMs: number;
  compileMaxMs: number | null;
}

interface CompileResult {
  node: string;
  cpus: number;
  backends: number;
  runs: number;
  rows: CompileRow[];
  targets: string[];
}

describe('bench/compile.js at a tiny size: 3 services, 2 changes of each route', () => {
  // The leaf service compile.js changes is svc-<floor(S/2)>: svc-1 for 3 services. How many
  // proxies its change reaches comes from the mesh generator itself: the nodes that call svc-1.
  // With the default 5 backends a node (only 2 other services exist) every node calls both of the
  // others, so svc-1's callers are svc-0's and svc-2's nodes, 4, as for the shared svc-0; with
  // --backends 1 every node calls only svc-0 but svc-0's own call svc-1, so svc-1's change reaches
  // 2 proxies and svc-0's still 4: the two counts differ, so a bench counting one change for the
  // other (or counting every proxy) cannot pass both.
  it.each([
    { label: 'the default 5 backends a node', backends: 5, extra: [] as string[], leafCallers: 4 },
    { label: '--backends 1', backends: 1, extra: ['--backends', '1'], leafCallers: 2 },
  ])(
    'with $label: exits 0, and its JSON has the cold compile of all 6 proxies and the two changes, each reaching its callers',
    async ({ backends, extra, leafCallers }) => {
      const tmp = freshDir('compile-tmp-');
      const out = path.join(workDir, `compile-${backends}.json`);
      const run = await runBench(
        'compile.js',
        // No settling: the reloads read every file again, which changes no result here.
        ['--services', '3', '--runs', '2', '--settle-ms', '0', ...extra, '--out', out, '--quiet'],
        tmp,
        50000,
      );
      report(`compile.js --services 3 --runs 2 ${extra.join(' ')}: ${run.ms} ms`);
      expect(ending(run)).toEqual({ status: 0, signal: null, stderr: '' });
      // --quiet: no table, only where the results went.
      expect(run.stdout).toBe(`written to ${path.relative(ROOT, out)}\n`);
      expect(fs.readdirSync(tmp)).toEqual([]); // the generated mesh is removed

      const mesh = writeMesh({ services: 3, backends, dir: freshDir('mesh-') });
      const leaf = mesh.callersOf(1);
      const shared = mesh.callersOf(SHARED);
      mesh.remove();
      expect(leaf).toHaveLength(leafCallers); // the reasoning above holds for the generator
      expect(shared).toEqual(mesh.nodeIds.filter((id) => !id.includes('/svc-0-'))); // every proxy but svc-0's own two

      const result = readJson<CompileResult>(out, run);
      expect(result).toMatchObject({ backends, runs: 2, targets: [] });
      expect(result.rows.map((r) => r.phase)).toEqual([
        'cold',
        "change svc-1's route",
        "change svc-0's route (shared)",
      ]);
      for (const row of result.rows) expect(row).toMatchObject({ services: 3, virtualNodes: 6 });
      const [cold, leafChange, sharedChange] = result.rows as [CompileRow, CompileRow, CompileRow];
      expect(cold).toMatchObject({ proxiesCompiled: 6, compileMaxMs: null });
      expectSane('resources', cold.resources, true);
      // Every change reached exactly its callers: the fewest and the most over the runs agree.
      expect([leafChange.proxiesChanged, leafChange.proxiesChangedMax]).toEqual([leaf.length, leaf.length]);
      expect(sharedChange.proxiesChanged).toBe(4);
      expect([sharedChange.proxiesChanged, sharedChange.proxiesChangedMax]).toEqual([shared.length, shared.length]);
      for (const row of result.rows) {
        expectSane(`${row.phase}: reloadMs`, row.reloadMs);
        expectSane(`${row.phase}: compileMs`, row.compileMs);
        if (row.phase !== 'cold') {
          expectSane(`${row.phase}: compileMaxMs`, row.compileMaxMs);
          // The max of the runs, the other their median.
          expect(row.compileMaxMs!).toBeGreaterThanOrEqual(row.compileMs);
        }
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------

describe('the benches refuse bad arguments in one line, exit 2, before doing anything', () => {
  it.each([
    { script: 'compile.js', args: ['--services', '1'], names: '--services' },
    { script: 'compile.js', args: ['--runs', 'two'], names: '--runs' },
    { script: 'propagation.js', args: ['--servers', 'nope'], names: "'nope'" },
    { script: 'propagation.js', args: ['--streams', '0'], names: '--streams' },
    { script: 'propagation.js', args: ['--protocols', 'sotw,rest'], names: "'rest'" },
    { script: 'api-write.js', args: ['--services', '1'], names: '--services' },
    { script: 'api-write.js', args: ['--writes', '0'], names: '--writes' },
  ])('$script $args', async ({ script, args, names }) => {
    const tmp = freshDir('bad-tmp-');
    const out = path.join(workDir, 'bad.json');
    const run = await runBench(script, ['--out', out, ...args], tmp, 30000);
    expect(ending(run)).toEqual({
      status: 2,
      signal: null,
      stderr: expect.stringMatching(new RegExp(`^${script.replace('.js', '')}: [^\\n]+\\n$`)),
    });
    expect(run.stderr).toContain(names);
    expect(run.stderr).toEqual(noStackTrace);
    expect(run.stdout).toBe('');
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(tmp)).toEqual([]); // no mesh generated, no Go peer built
  });
});

// ---------------------------------------------------------------------------------------------

interface PropagationRow {
  server: string;
  protocol: string;
  streams: number;
  coldMs: number;
  changes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  firstAckP50Ms: number;
  rssIdleMb: number;
  rssMb: number;
  peakRssMb: number;
  kbPerStream: number;
  cpuMsPerChange: number;
}

interface PropagationResult {
  node: string;
  cpus: number;
  mesh: { services: number; virtualNodes: number; backends: number; nodeIdsServed: number };
  perConnection: number;
  precompileMs: number;
  rows: PropagationRow[];
  ratios: {
    protocol: string;
    streams: number;
    baseline: string;
    p50: number;
    p99: number;
    cold: number;
    rss: number;
  }[];
  targets: string[];
}

const SERVERS = ['meshd', 'bare-grpc', 'go-control-plane'];
const PROTOCOLS = ['sotw', 'delta'];
/** The file bench/propagation.js builds the go-control-plane peer into, in its os.tmpdir(). */
const GO_PEER = 'meshd-bench-go-control-plane-peer';

/** bench/propagation.js needs `go` to build its go-control-plane baseline: say so, rather than skip. */
function requireGo(): void {
  const r = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `Go is needed for this test: bench/propagation.js builds its go-control-plane baseline (bench/peers/go-control-plane, go ${goVersion()}) with \`go build\`, ` +
        `and \`go version\` failed (${r.error ? r.error.message : `exit ${r.status}: ${r.stderr.trim()}`}). Install Go and put it on PATH.`,
    );
  }
}

const goVersion = () =>
  /^go (\S+)$/m.exec(fs.readFileSync(path.join(ROOT, 'bench/peers/go-control-plane/go.mod'), 'utf8'))?.[1] ??
  '(see go.mod)';

describe('bench/propagation.js at a tiny size: 10 streams, 3 services, 3 changes; meshd, bare-grpc and go-control-plane; SotW and Delta', () => {
  let tmp: string;
  let out: string;
  let run: BenchRun;
  let result: PropagationResult;

  beforeAll(async () => {
    requireGo();
    tmp = freshDir('propagation-tmp-');
    out = path.join(workDir, 'propagation.json');
    // A fresh machine first downloads the Go peer's modules: minutes, not seconds.
    run = await runBench(
      'propagation.js',
      ['--streams', '10', '--services', '3', '--changes', '3', '--out', out, '--quiet'],
      tmp,
      280000,
    );
    report(`propagation.js --streams 10 --services 3 --changes 3: ${run.ms} ms`);
  }, 300000);

  const loaded = () => (result ??= readJson<PropagationResult>(out, run));

  it('exits 0, says where the results went and nothing else (--quiet), and leaves only the Go peer in its temp folder', () => {
    // stderr may hold `go build`'s module downloads, but no complaint of the bench's and no stack trace.
    const complaints = run.stderr.split('\n').filter((line) => /^propagation:|^\s+at |^\[bench-smoke/.test(line));
    expect({ status: run.status, signal: run.signal, complaints }).toEqual({ status: 0, signal: null, complaints: [] });
    expect(run.stdout).toBe(`written to ${path.relative(ROOT, out)}\n`);
    expect(fs.readdirSync(tmp)).toEqual([GO_PEER]); // meshes, dumps and meshd's state folders are removed
  });

  it('describes the mesh it measured: 3 services, 6 virtual nodes, the 4 node ids a change of svc-0 reaches', () => {
    const mesh = writeMesh({ services: 3, backends: 5, dir: freshDir('mesh-') });
    const served = mesh.callersOf(SHARED);
    mesh.remove();
    expect(served).toHaveLength(4);
    expect(loaded()).toMatchObject({
      mesh: { services: 3, virtualNodes: 6, backends: 5, nodeIdsServed: served.length },
      perConnection: 10,
      targets: [],
    });
    expectSane('precompileMs', loaded().precompileMs);
  });

  it('has one row per server and protocol, each timing the 3 changes with sane latencies, cold start and memory', () => {
    const { rows } = loaded();
    expect(rows.map((r) => `${r.server} ${r.protocol}`).sort()).toEqual(
      PROTOCOLS.flatMap((p) => SERVERS.map((s) => `${s} ${p}`)).sort(),
    );
    for (const r of rows) {
      const label = `${r.server} ${r.protocol}`;
      expect({ label, streams: r.streams, changes: r.changes }).toEqual({ label, streams: 10, changes: 3 });
      for (const key of ['p50Ms', 'p99Ms', 'maxMs', 'coldMs', 'rssIdleMb', 'rssMb', 'peakRssMb'] as const)
        expectSane(`${label}: ${key}`, r[key], true);
      expectSane(`${label}: firstAckP50Ms`, r.firstAckP50Ms);
      expectSane(`${label}: cpuMsPerChange`, r.cpuMsPerChange);
      // RSS may shrink: any sign
      if (!Number.isFinite(r.kbPerStream)) throw new Error(`${label}: kbPerStream is ${r.kbPerStream}`);
      // Percentiles of the same changes: p50 ≤ p99 ≤ max; the first stream's ACK is no later than the last's.
      expect({ label, ordered: r.p50Ms <= r.p99Ms && r.p99Ms <= r.maxMs && r.firstAckP50Ms <= r.p50Ms }).toEqual({
        label,
        ordered: true,
      });
      // The peak RSS is read after the changes, the RSS before them.
      expect({ label, peakAtLeastRss: r.peakRssMb >= r.rssMb }).toEqual({ label, peakAtLeastRss: true });
    }
  });

  it('compares meshd with each baseline, for each protocol, from the rows', () => {
    const { rows, ratios } = loaded();
    expect(ratios.map((r) => `${r.protocol} ${r.baseline}`).sort()).toEqual(
      PROTOCOLS.flatMap((p) => ['bare-grpc', 'go-control-plane'].map((b) => `${p} ${b}`)).sort(),
    );
    for (const ratio of ratios) {
      expect(ratio.streams).toBe(10);
      const meshd = rows.find((r) => r.server === 'meshd' && r.protocol === ratio.protocol)!;
      const base = rows.find((r) => r.server === ratio.baseline && r.protocol === ratio.protocol)!;
      for (const [key, field] of [
        ['p50', 'p50Ms'],
        ['p99', 'p99Ms'],
        ['cold', 'coldMs'],
        ['rss', 'rssMb'],
      ] as const) {
        const label = `${ratio.protocol} meshd / ${ratio.baseline} ${key}`;
        expectSane(label, ratio[key], true);
        // Rounded to 0.01.
        expect({ label, off: Math.abs(ratio[key] - meshd[field] / base[field]) > 0.0051 }).toEqual({
          label,
          off: false,
        });
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------

interface ApiWriteRow {
  virtualNodes: number;
  streams: number;
  affectedNodeIds: number;
  writes: number;
  finalVersion: number;
  apiAnswerMs: { p50: number; p99: number; max: number };
  writeToAllAckedMs: { p50: number; p99: number; max: number };
}

describe('bench/api-write.js at a tiny size: 3 services, 4 streams, 3 UpdateRoute calls', () => {
  it('exits 0, and its JSON has one row: the 4 node ids the route reaches, the route at version 4, sane times', async () => {
    const tmp = freshDir('api-write-tmp-');
    const out = path.join(workDir, 'api-write.json');
    const run = await runBench(
      'api-write.js',
      ['--services', '3', '--streams', '4', '--writes', '3', '--out', out],
      tmp,
      50000,
    );
    report(`api-write.js --services 3 --streams 4 --writes 3: ${run.ms} ms`);
    expect(ending(run)).toEqual({ status: 0, signal: null, stderr: '' });
    expect(run.stdout).toContain(`results: ${path.relative(ROOT, out)}\n`);
    expect(fs.readdirSync(tmp)).toEqual([]); // the generated mesh and meshd's state are removed
    const { results } = readJson<{ results: ApiWriteRow[] }>(out, run);
    expect(results).toHaveLength(1);
    // Created at version 1, then 3 updates; each reached all 4 streams (the bench waits for that).
    expect(results[0]).toMatchObject({ virtualNodes: 6, streams: 4, affectedNodeIds: 4, writes: 3, finalVersion: 4 });
    for (const key of ['apiAnswerMs', 'writeToAllAckedMs'] as const) {
      const t = results[0]![key];
      for (const p of ['p50', 'p99', 'max'] as const) expectSane(`${key}.${p}`, t[p], true);
      expect(t.max).toBeGreaterThanOrEqual(t.p50);
    }
  });
});

describe('bench/propagation.js with TLS on the xDS channel: meshd-xds and meshd-xds-tls side by side, tiny', () => {
  it('measures both, gives the TLS/plaintext ratios per protocol, and removes its throwaway CA', async () => {
    const tmp = freshDir('propagation-tls-tmp-');
    const out = path.join(workDir, 'propagation-tls.json');
    const run = await runBench(
      'propagation.js',
      [
        '--servers',
        'meshd-xds,meshd-xds-tls',
        '--streams',
        '10',
        '--services',
        '3',
        '--changes',
        '2',
        '--out',
        out,
        '--quiet',
      ],
      tmp,
      120000,
    );
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
    const result = readJson<PropagationResult & { tlsRatios: { protocol: string; cold: number; p99: number }[] }>(
      out,
      run,
    );
    expect(result.rows.map((r) => `${r.server} ${r.protocol}`).sort()).toEqual([
      'meshd-xds delta',
      'meshd-xds sotw',
      'meshd-xds-tls delta',
      'meshd-xds-tls sotw',
    ]);
    for (const r of result.rows) expectSane(`${r.server} ${r.protocol}: coldMs`, r.coldMs, true);
    expect(result.tlsRatios.map((r) => r.protocol).sort()).toEqual(['delta', 'sotw']);
    for (const r of result.tlsRatios) expectSane(`tls/plaintext ${r.protocol} cold`, r.cold, true);
    expect(fs.readdirSync(tmp)).toEqual([]);
  }, 150000);
});
