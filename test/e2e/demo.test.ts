// `npm run demo` end to end (dist/demo/main.js, as the script runs it), on a copy of
// examples/colorapp with free ports: the split it prints follows the route file, a broken file
// shows meshd's problem while traffic keeps its last good split, and Ctrl-C (SIGINT) stops
// every process the demo started and exits 0. It prints the web console's address, and its Envoy's
// DogStatsD reaches meshd, so the console shows live traffic. It reads the demo's plain output (stdout is a
// pipe here), whose format src/demo/screen.ts documents.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as jsyaml from 'js-yaml';
import { describeWithEnvoy } from '../helpers/envoy';
import { freePort, getOk, tmpDir, waitFor } from '../helpers/processes';

const DEMO = path.resolve(__dirname, '../../dist/demo/main.js');
const EXAMPLE = path.resolve(__dirname, '../../examples/colorapp');
const SERVICE = 'color.colorapp.local';
const STEP_TIMEOUT_MS = 60_000;

interface Split {
  readonly service: string;
  readonly percent: Record<string, number>;
  readonly errors: number;
  readonly requests: number;
}

/** A `split <service> <answer>=<percent>... errors=<n> requests=<n>` line, or undefined. */
function parseSplit(line: string): Split | undefined {
  const m = /^split (\S+) (.*?) ?errors=(\d+) requests=(\d+)$/.exec(line);
  if (!m) return undefined;
  const percent: Record<string, number> = {};
  for (const part of m[2]!.split(' ').filter(Boolean)) {
    const [answer, value] = part.split('=');
    percent[answer!] = Number(value);
  }
  return { service: m[1]!, percent, errors: Number(m[3]), requests: Number(m[4]) };
}

async function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port p with p…p+4 free (the demo's --base-port puts meshd and Envoy there). */
async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = await freePort();
    if (base > 65531) continue;
    const rest = await Promise.all([1, 2, 3, 4].map((i) => portFree(base + i, '0.0.0.0')));
    if (rest.every(Boolean)) return base;
  }
  throw new Error('no five consecutive free ports found');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

describeWithEnvoy('demo: colorapp on local processes, its split followed live', (envoyBin) => {
  let exampleDir: string;
  let routeFile: string;
  let demo: ChildProcess;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let basePort: number;
  let stdout = '';
  let stderr = '';
  const lines = () => stdout.split('\n').slice(0, -1); // whole lines only
  /** The children it started, from its `process <name> pid=<pid>` lines. */
  const pids = () => {
    const found = new Map<string, number>();
    for (const line of lines()) {
      const m = /^process (\S+) pid=(\d+)$/.exec(line);
      if (m) found.set(m[1]!, Number(m[2]));
    }
    return found;
  };

  /** The route file with the given weights per target node, rewritten in place (in the copy). */
  function writeWeights(weights: Record<string, number>): void {
    const route = jsyaml.load(fs.readFileSync(path.join(EXAMPLE, 'mesh/color-route.yaml'), 'utf8')) as {
      spec: { httpRoute: { action: { weightedTargets: { virtualNode: string; weight: number }[] } } };
    };
    for (const target of route.spec.httpRoute.action.weightedTargets) target.weight = weights[target.virtualNode]!;
    fs.writeFileSync(routeFile, jsyaml.dump(route));
  }

  /** The first split line for SERVICE printed after line `from` that satisfies `ok`. */
  function waitForSplit(
    what: string,
    from: number,
    ok: (s: Split) => boolean,
  ): Promise<{ split: Split; index: number }> {
    return waitFor(
      what,
      () => {
        const all = lines();
        for (let i = from; i < all.length; i++) {
          const split = parseSplit(all[i]!);
          if (split?.service === SERVICE && split.requests > 0 && ok(split)) return { split, index: i };
        }
        if (demo.exitCode !== null) throw new Error(`the demo exited (${demo.exitCode}): ${stderr}`);
        return undefined;
      },
      STEP_TIMEOUT_MS,
      100,
    );
  }

  beforeAll(async () => {
    if (!fs.existsSync(DEMO)) throw new Error(`${DEMO} is missing: build first (npx tsc -p tsconfig.json)`);
    // A copy of the example, its apps on free ports (the demo takes them from the nodes' listeners).
    exampleDir = path.join(tmpDir('demo-'), 'colorapp');
    fs.cpSync(EXAMPLE, exampleDir, { recursive: true });
    const nodesFile = path.join(exampleDir, 'local/nodes.yaml');
    const nodes = jsyaml.loadAll(fs.readFileSync(nodesFile, 'utf8')) as {
      spec: { listeners?: { portMapping: { port: number } }[] };
    }[];
    for (const node of nodes)
      for (const listener of node.spec.listeners ?? []) listener.portMapping.port = await freePort();
    fs.writeFileSync(nodesFile, nodes.map((n) => jsyaml.dump(n)).join('---\n'));
    routeFile = path.join(exampleDir, 'mesh/color-route.yaml');
    writeWeights({ 'color-blue': 100, 'color-green': 0 });

    basePort = await freeBasePort();
    demo = spawn(process.execPath, [DEMO, '--base-port', String(basePort), '--example-dir', exampleDir], {
      env: { ...process.env, ENVOY_BIN: envoyBin, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    demo.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    demo.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    exited = new Promise((resolve) => demo.once('exit', (code, signal) => resolve({ code, signal })));
  }, STEP_TIMEOUT_MS);

  afterAll(async () => {
    // Only when a test failed before the SIGINT one: leave nothing behind.
    if (demo && demo.exitCode === null && demo.signalCode === null) {
      demo.kill('SIGKILL');
      await exited;
    }
    for (const pid of pids().values()) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });

  it(
    'prints the split of the route as written: blue=100 green=0',
    async () => {
      const { split } = await waitForSplit(
        'a split line with blue=100 green=0',
        0,
        (s) => s.percent.blue === 100 && s.percent.green === 0,
      );
      expect(split.errors).toBe(0);
      expect([...pids().keys()].sort()).toEqual(['color-blue', 'color-green', 'envoy', 'front', 'meshd']);
      // Piped, it says once why there is no bar, before the first split line.
      const note = lines().findIndex((l) => l.startsWith('demo: no bars: stdout is not a terminal'));
      expect(note).toBeGreaterThan(-1);
      expect(note).toBeLessThan(lines().findIndex((l) => l.startsWith('split ')));
    },
    STEP_TIMEOUT_MS,
  );

  it(
    "prints the web console's address, and front's Envoy reports its traffic to meshd for it (DogStatsD)",
    async () => {
      // meshd's admin port is --base-port + 1.
      const adminPort = basePort + 1;
      await waitFor(
        'the banner',
        () => (lines().some((l) => l.startsWith('process ')) ? true : undefined),
        STEP_TIMEOUT_MS,
      );
      expect(lines().filter((l) => l.startsWith('console: '))).toEqual([
        expect.stringMatching(new RegExp(`^console: http://127\\.0\\.0\\.1:${adminPort}/ui/ `)),
      ]);
      const blue = await waitFor(
        "color-blue's traffic in meshd's telemetry",
        async () => {
          const body = JSON.parse(await getOk(adminPort, '/v1/telemetry?window=10s')) as {
            virtualNodes: { virtualNode: string; requests: number }[];
          };
          const node = body.virtualNodes.find((n) => n.virtualNode === 'color-blue');
          return node && node.requests > 0 ? node : undefined;
        },
        15000,
        200,
      );
      expect(blue.requests).toBeGreaterThan(0);
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'follows the route file rewritten to 0/100: green=100',
    async () => {
      const from = lines().length;
      writeWeights({ 'color-blue': 0, 'color-green': 100 });
      const { split } = await waitForSplit(
        'a split line with blue=0 green=100',
        from,
        (s) => s.percent.blue === 0 && s.percent.green === 100,
      );
      expect(split.errors).toBe(0);
    },
    STEP_TIMEOUT_MS,
  );

  it(
    "shows meshd's problem for a broken route file while the traffic stays green",
    async () => {
      const from = lines().length;
      // Would send everything to blue, but the YAML is broken on line 2.
      fs.writeFileSync(routeFile, 'kind: Route\nmesh: colorapp: broken\nvirtualRouter: color\nname: color-split\n');
      const problemAt = await waitFor(
        'the problem line naming the broken file',
        () => {
          const i = lines().findIndex(
            (l, n) => n >= from && l.startsWith(`problem ${routeFile}:2:`) && l.includes(': error: '),
          );
          return i === -1 ? undefined : i;
        },
        STEP_TIMEOUT_MS,
        100,
      );
      await waitFor(
        'the verdict problem line',
        () =>
          lines().some(
            (l, n) => n > problemAt && /^problem mesh not reloaded .*the last good mesh keeps serving/.test(l),
          )
            ? true
            : undefined,
        STEP_TIMEOUT_MS,
        100,
      );
      // Every split printed from then on (two full windows' worth) is still all green, with no errors.
      const splitsAfter = () =>
        lines()
          .slice(problemAt)
          .map(parseSplit)
          .filter((s): s is Split => s?.service === SERVICE);
      await waitFor(
        'three split lines after the problem',
        () => (splitsAfter().length >= 3 ? true : undefined),
        STEP_TIMEOUT_MS,
        100,
      );
      for (const split of splitsAfter())
        expect(split).toEqual({
          service: SERVICE,
          percent: { blue: 0, green: 100 },
          errors: 0,
          requests: split.requests,
        });
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'lists every error of a mesh that did not reload: a misspelt weight is missing, and unknown with a suggestion',
    async () => {
      const from = lines().length;
      // Both targets' weights spelt wieght: two "missing" errors come before the two telling ones.
      fs.writeFileSync(
        routeFile,
        fs.readFileSync(path.join(EXAMPLE, 'mesh/color-route.yaml'), 'utf8').replaceAll('weight:', 'wieght:'),
      );
      const problems = () =>
        lines()
          .slice(from)
          .filter((l) => l.startsWith('problem '));
      await waitFor(
        'the verdict problem line',
        () => (problems().some((l) => l.startsWith('problem mesh not reloaded')) ? true : undefined),
        STEP_TIMEOUT_MS,
        100,
      );
      const shown = problems().map((l) => l.replace(`problem ${routeFile}:`, 'problem route:'));
      expect(shown).toEqual([
        'problem route:13:11: error: Route/color/color-split: required field is missing (spec.httpRoute.action.weightedTargets[0].weight)',
        "problem route:13:46: error: Route/color/color-split: unknown field 'wieght'; did you mean 'weight'? (spec.httpRoute.action.weightedTargets[0].wieght)",
        'problem route:14:11: error: Route/color/color-split: required field is missing (spec.httpRoute.action.weightedTargets[1].weight)',
        "problem route:14:47: error: Route/color/color-split: unknown field 'wieght'; did you mean 'weight'? (spec.httpRoute.action.weightedTargets[1].wieght)",
        expect.stringMatching(/^problem mesh not reloaded .*: 4 error.*the last good mesh keeps serving$/),
      ]);
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'clears the problem once the file is fixed, and follows it again',
    async () => {
      const from = lines().length;
      writeWeights({ 'color-blue': 100, 'color-green': 0 });
      await waitFor(
        'problem-cleared',
        () => (lines().slice(from).includes('problem-cleared') ? true : undefined),
        STEP_TIMEOUT_MS,
        100,
      );
      await waitForSplit(
        'a split line with blue=100 green=0 again',
        from,
        (s) => s.percent.blue === 100 && s.percent.green === 0,
      );
    },
    STEP_TIMEOUT_MS,
  );

  it(
    'stops every process it started on SIGINT and exits 0',
    async () => {
      const started = pids();
      expect(started.size).toBe(5);
      for (const pid of started.values()) expect(isAlive(pid)).toBe(true);
      demo.kill('SIGINT');
      expect(await exited).toEqual({ code: 0, signal: null });
      const alive = [...started].filter(([, pid]) => isAlive(pid)).map(([name, pid]) => `${name} (pid ${pid})`);
      expect(alive).toEqual([]);
      expect(stdout).toContain('demo: stopped everything it started');
      expect(stderr).toBe('');
    },
    STEP_TIMEOUT_MS,
  );
});
