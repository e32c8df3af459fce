// `npm run demo`: the colorapp mesh as local processes, with meshd serving it and a real Envoy
// as front's sidecar, and a live bar of how each virtual service front calls splits its
// traffic while the user edits the mesh. The flow is here; each concern has its module:
// options (flags), topology (what to run, from the mesh), ports, envoy (finding it),
// processes (children), traffic (requests and tallies), meshd-log (meshd's problems),
// bar and screen (output).
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { findEnvoy } from './envoy';
import { DemoError, describeFailure } from './fail';
import { MeshdProblem } from './meshd-log';
import { HELP, OptionsError, parseOptions, REPO_ROOT, type DemoOptions } from './options';
import { checkPortsFree, infraPorts, type InfraPorts, type PortUse } from './ports';
import { Supervisor, type Child } from './processes';
import { createScreen, type Screen } from './screen';
import { displayPath, exampleFiles, loadTopology, type Topology } from './topology';
import { ask, DEFAULT_TRAFFIC, TrafficLoop, waitForAnswers, type Probe } from './traffic';

const MESHD_BIN = path.join(REPO_ROOT, 'bin/meshd');
/** How long Envoy may take to get its configuration and answer the first request. */
const FIRST_ANSWER_TIMEOUT_MS = 30_000;

/** The demo was stopped while it was still starting: nothing to report. */
class Aborted extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

class Demo {
  private readonly supervisor = new Supervisor((child) => this.childDied(child));
  private readonly screen: Screen = createScreen(process.stdout, process.env);
  private traffic: TrafficLoop | undefined;
  private finishing = false;
  private tmpDir: string | undefined;

  installHandlers(): void {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => void this.finish(0, []));
    // Last resort (an exit not through finish): no child outlives the demo.
    process.on('exit', () => this.supervisor.killAllNow());
    process.stdout.on('error', () => void this.finish(0, [])); // e.g. `| head` closed the pipe
  }

  async start(options: DemoOptions): Promise<void> {
    const files = exampleFiles(options.exampleDir);
    const topology = loadTopology(files.meshFiles);
    const ports = infraPorts(options.basePort);
    await checkPortsFree(portUses(topology, ports, displayPath(options.exampleDir)));
    this.abortIfFinishing();

    const envoyBin = await findEnvoy(this.supervisor, process.env, (line) => this.screen.print([line]));
    this.abortIfFinishing();
    this.tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-demo-'));

    const problem = new MeshdProblem((lines) => this.screen.showProblem(lines));
    // meshd's DogStatsD listener takes any free port, so it never collides with an agent (or another
    // meshd) on 8125; the demo's Envoy is told which one (read from GET /v1/telemetry), so the web
    // console shows its live traffic.
    const meshd = this.startChild(
      'meshd',
      process.execPath,
      [
        MESHD_BIN,
        'serve',
        '--mesh',
        ...files.meshFiles,
        '--xds-address',
        '127.0.0.1',
        '--xds-port',
        String(ports.xds),
        '--admin-port',
        String(ports.meshdAdmin),
        '--statsd-port',
        '0',
        '--log-format',
        'text',
        '--log-level',
        'info',
      ],
      { onStderrLine: (line) => problem.feed(line) },
    );
    const apps = topology.colorApps.map((app) => ({
      port: app.port,
      child: this.startChild(app.node, process.execPath, [files.colorApp], {
        env: { COLOR: app.color, PORT: String(app.port), HOST: '127.0.0.1' },
      }),
    }));
    // front's app calls one service; the others are asked at Envoy's egress directly
    const called = topology.services[0]!;
    const front = this.startChild(topology.front.node, process.execPath, [files.frontApp], {
      env: {
        PORT: String(topology.front.port),
        HOST: '127.0.0.1',
        COLOR_SERVICE: `${called.name}:${called.port}`,
        EGRESS_PROXY: `127.0.0.1:${ports.egress}`,
      },
    });
    apps.push({ port: topology.front.port, child: front });

    await this.waitUntil(
      `meshd's readiness (http://127.0.0.1:${ports.meshdAdmin}/readyz)`,
      meshd,
      async () => (await ask({ service: '', port: ports.meshdAdmin, path: '/readyz' })).ok,
      20_000,
    );
    const statsdPort = await meshdStatsdPort(ports.meshdAdmin);
    for (const app of apps)
      await this.waitUntil(
        `${app.child.name} listening on 127.0.0.1:${app.port}`,
        app.child,
        () => canConnect(app.port),
        10_000,
      );

    const bootstrap = await this.supervisor.run('meshd bootstrap', process.execPath, [
      MESHD_BIN,
      'bootstrap',
      '--node',
      topology.front.nodeId,
      '--xds-address',
      `127.0.0.1:${ports.xds}`,
      '--admin-address',
      '127.0.0.1',
      '--admin-port',
      String(ports.envoyAdmin),
      '--ingress-port',
      String(ports.ingress),
      '--egress-port',
      String(ports.egress),
      // Its traffic to meshd's DogStatsD listener, every second: the console's live rates.
      ...(statsdPort === undefined
        ? []
        : ['--dog-statsd', '--statsd-address', '127.0.0.1', '--statsd-port', String(statsdPort)]),
      '--stats-flush-interval',
      '1s',
    ]);
    this.abortIfFinishing();
    if (!bootstrap.ok)
      throw new DemoError(
        `meshd bootstrap failed (${bootstrap.child.exitDescription()}):`,
        bootstrap.child.lastLines(),
      );
    const bootstrapFile = path.join(this.tmpDir, 'front-envoy.yaml');
    fs.writeFileSync(bootstrapFile, `${bootstrap.stdout}\n`);
    // A random base id and no hot restart: it shares nothing with any other Envoy on this machine.
    const envoy = this.startChild('envoy', envoyBin, [
      '-c',
      bootstrapFile,
      '--base-id',
      String(randomInt(1, 1_000_000)),
      '--disable-hot-restart',
      '--log-level',
      'info',
    ]);

    const probes: Probe[] = topology.services.map((s, i) =>
      i === 0
        ? { service: s.name, port: topology.front.port, path: '/color' }
        : { service: s.name, port: ports.egress, path: '/', hostHeader: `${s.name}:${s.port}` },
    );
    this.screen.print(
      banner(topology, ports, { meshd, envoy, front, apps: apps.map((a) => a.child) }, `${called.name}:${called.port}`),
    );
    if (!this.screen.tty) this.screen.print(this.supervisor.started().map((c) => `process ${c.name} pid=${c.pid}`));

    this.screen.print([`waiting for front's Envoy to get its configuration from meshd…`]);
    const failing = await waitForAnswers(probes, FIRST_ANSWER_TIMEOUT_MS, () => this.finishing);
    this.abortIfFinishing();
    for (const [service, error] of failing)
      this.screen.print([`demo: no answer from ${service} yet (${error}); showing its traffic anyway`]);

    this.traffic = new TrafficLoop(probes, DEFAULT_TRAFFIC);
    this.traffic.start();
    this.screen.start(() => ({
      windowMs: DEFAULT_TRAFFIC.windowMs,
      services: topology.services.map((s) => ({
        service: s.name,
        known: s.colors,
        snapshot: () => this.traffic!.snapshot(s.name),
      })),
    }));
  }

  /** Stops everything it started and exits with `code`, after printing `lines` (on stderr when failing). */
  async finish(code: number, lines: readonly string[]): Promise<void> {
    if (this.finishing) return;
    this.finishing = true;
    this.traffic?.stop();
    this.screen.stop();
    if (lines.length > 0) (code === 0 ? process.stdout : process.stderr).write(lines.map((l) => `${l}\n`).join(''));
    const running = this.supervisor.running();
    if (running.length > 0) safeWrite(`demo: stopping ${running.map((c) => c.name).join(', ')}…\n`);
    await this.supervisor.stopAll();
    if (this.tmpDir) fs.rmSync(this.tmpDir, { recursive: true, force: true });
    if (running.length > 0) safeWrite('demo: stopped everything it started\n');
    process.exit(code);
  }

  /** An error out of `start`: expected ones in a line or a few, anything else as an internal error. */
  failed(err: unknown): void {
    if (this.finishing || err instanceof Aborted) return;
    if (err instanceof DemoError) return void this.finish(1, describeFailure(err));
    const lines = [`demo: internal error: ${(err as Error).message}`];
    if (process.env.MESHD_DEBUG) lines.push(String((err as Error).stack));
    void this.finish(1, lines);
  }

  private childDied(child: Child): void {
    if (this.finishing) return;
    const last = child.lastLines();
    void this.finish(1, [
      `demo: ${child.name} (pid ${child.pid ?? '-'}) stopped unexpectedly (${child.exitDescription()})${last.length ? '; its last output:' : ''}`,
      ...last.map((l) => `  ${l}`),
    ]);
  }

  private startChild(...args: Parameters<Supervisor['start']>): Child {
    this.abortIfFinishing();
    return this.supervisor.start(...args);
  }

  private abortIfFinishing(): void {
    if (this.finishing) throw new Aborted();
  }

  private async waitUntil(what: string, child: Child, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.abortIfFinishing();
      if (await check()) return;
      if (Date.now() > deadline)
        throw new DemoError(
          `no ${what} after ${timeoutMs / 1000} s${child.lastLines().length ? `; ${child.name}'s last lines:` : ''}`,
          child.lastLines(),
        );
      await sleep(100);
    }
  }
}

/** meshd's DogStatsD port (GET /v1/telemetry), or undefined when it does not say: the demo runs on without stats. */
async function meshdStatsdPort(adminPort: number): Promise<number | undefined> {
  const r = await ask({ service: '', port: adminPort, path: '/v1/telemetry' });
  if (!r.ok) return undefined;
  try {
    const port = (JSON.parse(r.answer) as { statsd?: { port?: unknown } }).statsd?.port;
    return typeof port === 'number' && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

function safeWrite(text: string): void {
  if (!process.stdout.destroyed) process.stdout.write(text);
}

function portUses(topology: Topology, ports: InfraPorts, exampleDir: string): PortUse[] {
  const moveInfra =
    'run with --base-port <port> (or MESHD_DEMO_BASE_PORT=<port>) to put meshd and Envoy on <port>…<port>+4';
  const moveApps = `copy ${exampleDir} elsewhere, change the ports in the copy's local/nodes.yaml and run with --example-dir <copy>`;
  return [
    { port: ports.xds, host: '127.0.0.1', what: "meshd's xDS server", instead: moveInfra },
    { port: ports.meshdAdmin, host: '127.0.0.1', what: "meshd's admin API", instead: moveInfra },
    { port: ports.envoyAdmin, host: '127.0.0.1', what: "Envoy's admin interface", instead: moveInfra },
    { port: ports.ingress, host: '0.0.0.0', what: "Envoy's ingress listener", instead: moveInfra },
    { port: ports.egress, host: '0.0.0.0', what: "Envoy's egress listener", instead: moveInfra },
    { port: topology.front.port, host: '127.0.0.1', what: `the ${topology.front.node} app`, instead: moveApps },
    ...topology.colorApps.map((a) => ({
      port: a.port,
      host: '127.0.0.1',
      what: `the ${a.node} app`,
      instead: moveApps,
    })),
  ];
}

function banner(
  topology: Topology,
  ports: InfraPorts,
  children: { meshd: Child; envoy: Child; front: Child; apps: readonly Child[] },
  called: string,
): string[] {
  const rows: [Child, string][] = [
    [children.meshd, `xDS 127.0.0.1:${ports.xds}, admin http://127.0.0.1:${ports.meshdAdmin}/v1/proxies`],
    ...topology.colorApps.map((a, i): [Child, string] => [
      children.apps[i]!,
      `http://127.0.0.1:${a.port}/, answers ${a.color}`,
    ]),
    [children.front, `http://127.0.0.1:${topology.front.port}/color, asks ${called} through its Envoy`],
    [
      children.envoy,
      `${topology.front.node}'s sidecar: egress 127.0.0.1:${ports.egress}, ingress port ${ports.ingress}, admin http://127.0.0.1:${ports.envoyAdmin}`,
    ],
  ];
  const nameWidth = Math.max(...rows.map(([c]) => c.name.length));
  const pidWidth = Math.max(...rows.map(([c]) => String(c.pid).length));
  const routeFiles = [...new Set(topology.services.flatMap((s) => s.routeFiles))];
  const targets = [...new Set(topology.services.flatMap((s) => s.targets))];
  return [
    `meshd demo: the ${topology.mesh} mesh as local processes, with a real Envoy`,
    '',
    ...rows.map(([c, where]) => `  ${c.name.padEnd(nameWidth)}  pid ${String(c.pid).padEnd(pidWidth)}  ${where}`),
    '',
    `console: http://127.0.0.1:${ports.meshdAdmin}/ui/  (meshd's web console: the mesh as a graph, its live traffic, rollouts and problems)`,
    '',
    `Edit ${routeFiles.join(', ') || 'the mesh'} (the weights of ${targets.join(' and ')}) and save: the bar follows.`,
    `Try:  curl http://127.0.0.1:${topology.front.port}/color`,
    'Ctrl-C stops everything.',
  ];
}

export async function main(argv: readonly string[]): Promise<void> {
  let options: DemoOptions;
  try {
    options = parseOptions(argv, process.env);
  } catch (err) {
    if (!(err instanceof OptionsError)) throw err;
    process.stderr.write(`demo: ${err.message}\n`);
    process.exit(2);
  }
  if (options.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const demo = new Demo();
  demo.installHandlers();
  try {
    await demo.start(options);
  } catch (err) {
    demo.failed(err);
  }
}

if (require.main === module) void main(process.argv.slice(2));
