// Real processes and ports on loopback for the tests: free ports, temp files, meshd itself.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const MESHD_BIN = path.resolve(__dirname, '../../bin/meshd');

let tmpRoot: string | undefined;

/** A fresh temp folder for this test process. */
export function tmpDir(prefix = 'meshd-test-'): string {
  tmpRoot ??= fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-tests-'));
  return fs.mkdtempSync(path.join(tmpRoot, prefix));
}

export function tmpFile(name: string, content: string): string {
  const file = path.join(tmpDir(), name);
  fs.writeFileSync(file, content);
  return file;
}

/** A port nothing listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  // The OS may hand a port out again once it is closed: a test asking for two ports in a row could
  // get the same one twice (seen under the full suite's load). A port is handed out once per process.
  for (;;) {
    const port = await unusedPort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

const handedOut = new Set<number>();

function unusedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `n` distinct free ports: the OS may hand one port out twice when each is closed before the next is asked for. */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** Polls `check` until it returns a value (not undefined) or the time runs out. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 15000,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface RunningProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  stop(): Promise<number | null>;
}

/**
 * Runs `bin/meshd <args>` as a real process (with `env` added to this one's), collecting its
 * output. `serve`'s DogStatsD listener takes any free UDP port (MESHD_STATSD_PORT=0) unless
 * `env` or a `--statsd-port` flag says otherwise, so meshd processes never fight over 8125; and
 * its rollouts are kept in a fresh folder (MESHD_ROLLOUT_STATE), not in the checkout's .meshd/.
 */
export function startMeshd(args: string[], env: Record<string, string> = {}): RunningProcess {
  const child = spawn(process.execPath, [MESHD_BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      MESHD_STATSD_PORT: '0',
      MESHD_ROLLOUT_STATE: path.join(tmpDir('meshd-rollouts-'), 'rollouts.json'),
      ...env,
    },
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    stop: () =>
      new Promise((resolve) => {
        // Exited, or killed by a signal (then exitCode stays null and 'exit' has already fired).
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}

/** A tiny upstream app that answers every request with its own name (like the quickstart's). */
export async function startNamedUpstream(name: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** GET a path on 127.0.0.1:<port> (an admin API): the body of a 200, anything else rejects with the status and body. */
export function getOk(port: number, pathAndQuery: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathAndQuery, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () =>
        res.statusCode === 200
          ? resolve(body)
          : reject(new Error(`GET ${pathAndQuery}: HTTP ${res.statusCode}: ${body}`)),
      );
    });
    req.on('error', reject);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${pathAndQuery} timed out`)));
  });
}

/** One HTTP GET with a Host header; resolves with status and body (never rejects on HTTP errors). */
export function httpGet(port: number, host: string, pathName = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathName, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('request timed out')));
    req.end();
  });
}
