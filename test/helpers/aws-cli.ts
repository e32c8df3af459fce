// Finds the real AWS CLI (`aws`) for the tests that run it, and gives it an environment that can only reach the
// endpoint a test names. .ci/run installs it with `python3 -m pip install awscli==<pin>`, so it is looked for first in
// that Python's scripts folder (pip puts entry points there, which may not be on PATH: a pyenv shim appears only after
// `pyenv rehash`, a --user install goes to ~/.local/bin), then on PATH.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The first versions that read `AWS_ENDPOINT_URL_<SERVICE>` (the service-specific endpoint variables). An older CLI
 * ignores the variable and would send the requests to AWS itself, so it is not used.
 */
const MIN_V1: readonly number[] = [1, 29, 0];
const MIN_V2: readonly number[] = [2, 13, 0];

export interface AwsCli {
  /** The folder that holds `aws`, to put first on PATH (a script runs it by name). */
  readonly dir: string;
  /** What `aws --version` printed, e.g. `aws-cli/1.46.3 Python/3.11.7 ...`. */
  readonly version: string;
}

/** The folders where `python3 -m pip install` puts `aws`: the interpreter's own, then the user scheme's. */
function pythonScriptDirs(): string[] {
  const probe = spawnSync(
    'python3',
    [
      '-c',
      'import os, sysconfig; print(sysconfig.get_path("scripts")); print(sysconfig.get_path("scripts", f"{os.name}_user"))',
    ],
    { encoding: 'utf8' },
  );
  return probe.status === 0 ? probe.stdout.split('\n').filter((l) => l.trim() !== '') : [];
}

function atLeast(version: number[], min: readonly number[]): boolean {
  for (let i = 0; i < min.length; i++) if (version[i] !== min[i]) return (version[i] ?? 0) > min[i];
  return true;
}

/** The environment with every AWS_* variable of this process removed (a profile, a region, an endpoint, a token). */
export function withoutAwsVariables(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (!k.startsWith('AWS_') && v !== undefined) clean[k] = v;
  return clean;
}

/**
 * The AWS CLI to run, or why there is none that fits: missing, not runnable, or too old to honour the endpoint
 * variable.
 */
export function findAwsCli(): AwsCli | string {
  const pathDirs = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '');
  const seen = new Set<string>();
  const tooOld: string[] = [];
  for (const dir of [...pythonScriptDirs(), ...pathDirs]) {
    const bin = path.join(dir, 'aws');
    if (seen.has(bin)) continue;
    seen.add(bin);
    try {
      fs.accessSync(bin, fs.constants.X_OK);
    } catch {
      continue;
    }
    const run = spawnSync(bin, ['--version'], {
      encoding: 'utf8',
      env: { ...withoutAwsVariables(), PATH: [dir, ...pathDirs].join(path.delimiter) },
      timeout: 60000,
    });
    // awscli 1.x printed its version on stderr in old releases, on stdout in newer ones.
    const printed = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim();
    const m = /aws-cli\/(\d+)\.(\d+)\.(\d+)/.exec(printed);
    if (run.status !== 0 || !m) continue;
    const version = m.slice(1, 4).map(Number);
    if (atLeast(version, version[0] >= 2 ? MIN_V2 : MIN_V1)) return { dir, version: printed.split('\n')[0] };
    tooOld.push(`${bin} (${m[0]})`);
  }
  if (tooOld.length > 0)
    return `the AWS CLI found is too old to read AWS_ENDPOINT_URL_APP_MESH (it needs 1.29.0+ or 2.13.0+): ${tooOld.join(', ')}`;
  return "no AWS CLI ('aws') in python3's scripts folder or on PATH (.ci/run installs it: python3 -m pip install awscli==1.46.3)";
}

/** Why `jq` cannot be run, or undefined when it can. */
export function jqMissing(): string | undefined {
  const run = spawnSync('jq', ['--version'], { encoding: 'utf8' });
  if (run.error) return `no jq on PATH (${run.error.message}); .ci/run installs it with apt-get`;
  return run.status === 0 ? undefined : `jq --version failed: ${run.stderr.trim()}`;
}

export interface ScriptRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a shell script that calls `aws` (bash, unchanged) with the CLI found first on PATH, pointed at `endpoint` for
 * App Mesh by AWS_ENDPOINT_URL_APP_MESH, and `vars` added. No AWS_* variable of this process gets through, and the
 * user's ~/.aws config and credentials files are not read (their variables name files that do not exist), so nothing
 * but what is given here applies. HTTPS_PROXY names a closed port: a request that would leave for AWS's own https
 * endpoint fails at once instead of going out.
 */
export function runAwsScript(
  cli: AwsCli,
  script: string,
  args: string[],
  opts: { endpoint: string; vars: Record<string, string>; scratch: string; timeoutMs?: number },
): Promise<ScriptRun> {
  const base = withoutAwsVariables();
  for (const k of Object.keys(base)) if (/^(https?|all|no)_proxy$/i.test(k)) delete base[k];
  const env: Record<string, string> = {
    ...base,
    PATH: [cli.dir, process.env.PATH ?? ''].join(path.delimiter),
    AWS_CONFIG_FILE: path.join(opts.scratch, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(opts.scratch, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
    AWS_ENDPOINT_URL_APP_MESH: opts.endpoint,
    HTTPS_PROXY: 'http://127.0.0.1:9',
    NO_PROXY: '127.0.0.1,localhost',
    ...opts.vars,
  };
  return new Promise((resolve) => {
    // Its own process group, so a run killed for taking too long takes the `aws` it is running with it.
    const child = spawn('bash', [script, ...args], {
      cwd: opts.scratch,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += `\n[test] ${path.basename(script)} ${args.join(' ')} still running after ${opts.timeoutMs ?? 300000} ms: killed`;
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, opts.timeoutMs ?? 300000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
