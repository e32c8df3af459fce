// Finds the real Envoy the tests run against, and decides what happens when there is none:
// with MESHD_REQUIRE_ENVOY=1 (CI) the suite fails loudly; otherwise it is skipped, visibly.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpFile } from './processes';

const PROJECT_ENVOY = path.resolve(__dirname, '../../.envoy/envoy/_bin/envoy');

export function findEnvoy(): string | undefined {
  const candidate = process.env.ENVOY_BIN || PROJECT_ENVOY;
  try {
    execFileSync(candidate, ['--version'], { stdio: 'ignore' });
    return candidate;
  } catch {
    return undefined;
  }
}

export const NO_ENVOY = 'no Envoy binary (set ENVOY_BIN or run scripts/install-envoy)';

/**
 * `describe` when nothing the suite needs is missing (`why` is undefined). Otherwise the suite
 * is skipped with the reason on stderr, or, with MESHD_REQUIRE_ENVOY=1 (CI), fails loudly.
 */
export function describeIfAvailable(name: string, needs: string, why: string | undefined, body: () => void): void {
  if (why === undefined) {
    describe(name, body);
    return;
  }
  if (process.env.MESHD_REQUIRE_ENVOY === '1') {
    describe(name, () => {
      it(`needs ${needs}`, () => {
        throw new Error(`MESHD_REQUIRE_ENVOY=1 but ${why}`);
      });
    });
    return;
  }
  process.stderr.write(`SKIPPED suite '${name}' (needs ${needs}): ${why}\n`);
  describe.skip(name, () => it(`needs ${needs}`, () => undefined));
}

/** `describe` for suites that need a real Envoy. */
export function describeWithEnvoy(name: string, body: (envoyBin: string) => void): void {
  const envoy = findEnvoy();
  describeIfAvailable(name, 'a real Envoy', envoy ? undefined : NO_ENVOY, () => body(envoy!));
}

/**
 * Runs `envoy --mode validate` on a config; returns Envoy's output when it rejects it. Envoy's
 * stdout is a file, as under a container runtime, so access logs to /dev/stdout open.
 */
export function envoyValidate(envoyBin: string, configYaml: string): { ok: boolean; output: string } {
  const file = tmpFile('envoy-config.yaml', configYaml);
  const stdoutFile = `${file}.stdout`;
  const stdout = fs.openSync(stdoutFile, 'w');
  try {
    execFileSync(envoyBin, ['--mode', 'validate', '-c', file, '--log-level', 'error'], {
      encoding: 'utf8',
      stdio: ['ignore', stdout, 'pipe'],
    });
    return { ok: true, output: fs.readFileSync(stdoutFile, 'utf8') };
  } catch (err) {
    return { ok: false, output: `${fs.readFileSync(stdoutFile, 'utf8')}${(err as { stderr?: string }).stderr ?? ''}` };
  } finally {
    fs.closeSync(stdout);
  }
}

export interface RunningEnvoy {
  readonly process: ChildProcess;
  readonly adminPort: number;
  logs(): string;
  stop(): Promise<void>;
}

/** Starts Envoy with the given bootstrap; its base id is random so several can run side by side. */
export function startEnvoy(envoyBin: string, bootstrapYaml: string, adminPort: number): RunningEnvoy {
  const file = tmpFile('envoy-bootstrap.yaml', bootstrapYaml);
  let output = '';
  const child = spawn(
    envoyBin,
    ['-c', file, '--log-level', 'info', '--base-id', String(Math.floor(Math.random() * 1e6)), '--disable-hot-restart'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return {
    process: child,
    adminPort,
    logs: () => output,
    stop: () =>
      new Promise<void>((resolve) => {
        // Exited, or killed by a signal (then exitCode stays null and 'exit' has already fired).
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
