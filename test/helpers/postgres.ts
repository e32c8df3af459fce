// A real, throwaway PostgreSQL cluster for the tests: initdb into a fresh folder, pg_ctl start on a free port of
// 127.0.0.1, trust authentication, fsync off. PostgreSQL refuses to run as root, so as root (CI) its commands run as
// the `postgres` user (setpriv, else runuser). A missing PostgreSQL skips the suite, visibly, or with
// MESHD_REQUIRE_ENVOY=1 (CI) fails it. No server outlives the test process: a stopped cluster is removed at once, and
// a watchdog process kills whatever is left (and removes its folder) when the test process is gone, SIGKILL included.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { describeIfAvailable } from './envoy';
import { freePort, waitFor } from './processes';

/** The user PostgreSQL runs as when the tests run as root (Debian's postgresql package creates it). */
export const POSTGRES_OS_USER = 'postgres';
/** The cluster's superuser (trust authentication: no password). */
export const POSTGRES_SUPERUSER = 'postgres';
/** The application_name of the harness's own connections (query, createDatabase, terminateConnections). */
const HARNESS_APP = 'meshd-test-harness';
/** The database every cluster has (initdb makes it). */
const DEFAULT_DB = 'postgres';

interface Toolchain {
  /** The folder of initdb, pg_ctl and postgres. */
  readonly bindir: string;
  /** What runs a command as the non-root user: empty when the tests do not run as root. */
  readonly asUser: readonly string[];
  /** The uid and gid the cluster's folder belongs to (undefined: this process's). */
  readonly owner?: { uid: number; gid: number };
}

function works(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 10000 });
    return true;
  } catch {
    return false;
  }
}

function hasServerBinaries(dir: string): boolean {
  return ['initdb', 'pg_ctl', 'postgres'].every((name) => {
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Where initdb, pg_ctl and postgres are: `pg_config --bindir`, the newest /usr/lib/postgresql/N/bin, or PATH. */
export function findPostgresBindir(): string | undefined {
  // MESHD_PG_BINDIR, when set, is the only place looked at (a wrong one is reported, not passed over).
  if (process.env.MESHD_PG_BINDIR) {
    return hasServerBinaries(process.env.MESHD_PG_BINDIR) ? process.env.MESHD_PG_BINDIR : undefined;
  }
  const candidates: string[] = [];
  try {
    candidates.push(
      execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(),
    );
  } catch {
    // no pg_config (Debian puts it in libpq-dev): the next places
  }
  try {
    const versions = fs
      .readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => path.join('/usr/lib/postgresql', v, 'bin')));
  } catch {
    // no Debian layout
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    // A PATH entry is often a folder of links (/usr/local/bin/initdb -> ../lib/postgresql/15/bin/initdb): pg_ctl
    // finds postgres next to its own real file, so the folder of the real initdb is the one to use.
    try {
      candidates.push(path.dirname(fs.realpathSync(path.join(dir, 'initdb'))));
    } catch {
      // no initdb in this PATH entry
    }
  }
  return candidates.find((dir) => dir !== '' && hasServerBinaries(dir));
}

function osUserIds(name: string): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

let toolchain: Toolchain | string | undefined;

/** The toolchain, or why there is none (a message naming what is missing). */
function findToolchain(): Toolchain | string {
  if (toolchain !== undefined) return toolchain;
  const bindir = findPostgresBindir();
  if (!bindir) {
    toolchain = process.env.MESHD_PG_BINDIR
      ? `MESHD_PG_BINDIR=${process.env.MESHD_PG_BINDIR} has no initdb, pg_ctl and postgres`
      : 'no PostgreSQL server binaries (initdb, pg_ctl, postgres) in `pg_config --bindir`, ' +
        "/usr/lib/postgresql/*/bin or PATH (Debian package 'postgresql'; .ci/run installs it)";
  } else if (process.getuid?.() !== 0) {
    toolchain = { bindir, asUser: [] };
  } else {
    const owner = osUserIds(POSTGRES_OS_USER);
    if (!owner) {
      toolchain =
        `the tests run as root, PostgreSQL refuses to run as root, and there is no '${POSTGRES_OS_USER}' user to ` +
        "run it as (Debian's postgresql package creates one)";
    } else if (works('setpriv', ['--version'])) {
      const u = POSTGRES_OS_USER;
      toolchain = { bindir, owner, asUser: ['setpriv', `--reuid=${u}`, `--regid=${u}`, '--init-groups', '--'] };
    } else if (works('runuser', ['--version'])) {
      toolchain = { bindir, owner, asUser: ['runuser', '-u', POSTGRES_OS_USER, '--'] };
    } else {
      toolchain = `the tests run as root and neither 'setpriv' nor 'runuser' (util-linux) is there to run PostgreSQL as '${POSTGRES_OS_USER}'`;
    }
  }
  return toolchain;
}

/** Why a real PostgreSQL cannot run here, or undefined when it can. */
export function postgresUnavailable(): string | undefined {
  const found = findToolchain();
  return typeof found === 'string' ? found : undefined;
}

export function postgresAvailable(): boolean {
  return postgresUnavailable() === undefined;
}

// ---- never leave a server behind ----

interface Registered {
  pid: number;
  dataDir: string;
  dir: string;
}

const registered = new Map<string, Registered>();
// One registry file per loaded copy of this module (jest loads it afresh for each test file), and one watchdog per
// process for them all: it reads every meshd-pg-registry-<pid>-*.json of its process.
const registryPrefix = `meshd-pg-registry-${process.pid}-`;
const registryFile = path.join(os.tmpdir(), `${registryPrefix}${randomUUID()}.json`);
const watchdogPidFile = path.join(os.tmpdir(), `meshd-pg-watchdog-${process.pid}.pid`);
let watchdogStarted = false;

/** Kills a postmaster (SIGQUIT: immediate shutdown, its backends with it) if the pid is still that cluster's. */
function killPostmaster(entry: Registered): void {
  try {
    if (!fs.readFileSync(`/proc/${entry.pid}/cmdline`, 'utf8').includes(entry.dataDir)) return;
    process.kill(entry.pid, 'SIGQUIT');
  } catch {
    // already gone
  }
}

function writeRegistry(): void {
  fs.writeFileSync(registryFile, JSON.stringify([...registered.values()]));
}

// The watchdog: a detached node process that polls for this one; once it is gone, it kills every cluster still in
// the registry and removes the folders. It exits on its own then, so nothing of it is left either.
const WATCHDOG = `
const fs = require('fs');
const path = require('path');
const [parent, tmp, pidFile] = [process.argv[1], process.argv[2], process.argv[3]];
// The parent's state and start time (/proc/PID/stat): a zombie or a reused pid is a dead parent.
const stat = (pid) => { try { const f = fs.readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1].split(' '); return f[0] === 'Z' ? undefined : f[19]; } catch { return undefined; } };
const born = stat(parent);
const serving = (e) => { try { return fs.readFileSync('/proc/' + e.pid + '/cmdline', 'utf8').includes(e.dataDir); } catch { return false; } };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  while (born !== undefined && stat(parent) === born) await sleep(500);
  const registries = fs.readdirSync(tmp).filter((f) => f.startsWith('meshd-pg-registry-' + parent + '-') && f.endsWith('.json')).map((f) => path.join(tmp, f));
  const entries = [];
  for (const file of registries) { try { entries.push(...JSON.parse(fs.readFileSync(file, 'utf8'))); } catch {} }
  // SIGQUIT: immediate shutdown; a postmaster still there after 10 s gets SIGKILL (its backends follow it). The
  // folders go once their servers are gone.
  for (const [signal, waitMs] of [['SIGQUIT', 10000], ['SIGKILL', 5000]]) {
    for (const e of entries) if (serving(e)) try { process.kill(e.pid, signal); } catch {}
    for (let t = 0; t < waitMs && entries.some(serving); t += 100) await sleep(100);
  }
  for (const e of entries) { try { fs.rmSync(e.dir, { recursive: true, force: true }); } catch {} }
  for (const file of [...registries, pidFile]) { try { fs.rmSync(file, { force: true }); } catch {} }
})();
`;

/** Whether this process's watchdog (started by an earlier copy of this module) still runs. */
function watchdogRunning(): boolean {
  try {
    const pid = Number(fs.readFileSync(watchdogPidFile, 'utf8'));
    const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.includes(watchdogPidFile);
  } catch {
    return false;
  }
}

function startWatchdog(): void {
  if (watchdogStarted) return;
  watchdogStarted = true;
  if (!watchdogRunning()) {
    const child = spawn(process.execPath, ['-e', WATCHDOG, String(process.pid), os.tmpdir(), watchdogPidFile], {
      detached: true,
      stdio: 'ignore',
    });
    child.unref();
    fs.writeFileSync(watchdogPidFile, String(child.pid));
  }
  // A normal exit (jest done, process.exit) need not wait for the watchdog's poll.
  process.once('exit', () => {
    for (const entry of registered.values()) killPostmaster(entry);
  });
}

function register(entry: Registered): void {
  startWatchdog();
  registered.set(entry.dataDir, entry);
  writeRegistry();
}

function unregister(dataDir: string): void {
  if (registered.delete(dataDir)) writeRegistry();
}

// ---- the cluster ----

export interface PostgresOptions {
  /** Extra postgresql.conf settings (name → value, written as given: quote strings yourself). */
  settings?: Record<string, string>;
}

export interface PostgresCluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  readonly url: string;
  readonly port: number;
  /** The cluster's data folder (inside `dir`). */
  readonly dataDir: string;
  /** The throwaway folder: data, server log, unix socket. */
  readonly dir: string;
  /** How long initdb and the first start took, until a connection was accepted (ms). */
  readonly startedInMs: number;
  /** The URL of another database of this cluster. */
  urlFor(database: string): string;
  /** Runs one statement on a fresh connection (database `postgres` unless given); its rows. */
  query<R extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
    database?: string,
  ): Promise<R[]>;
  /** Creates a database (a lowercase SQL identifier) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Ends the server side of every connection with this application_name; how many there were. */
  terminateConnections(applicationName: string): Promise<number>;
  /** `pg_ctl restart -m fast`: open connections are cut; new ones work once it resolves. */
  restart(): Promise<void>;
  /** Stops the server (`-m fast`) but keeps the data: an outage until startServer(). */
  stopServer(): Promise<void>;
  /** Starts the stopped server again, on the same port; resolves once it accepts connections. */
  startServer(): Promise<void>;
  /** The server's log so far. */
  logs(): string;
  /** Stops the server and removes the folder. */
  stop(): Promise<void>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

function runAs(tools: Toolchain, dir: string, command: string, args: string[], timeoutMs = 60000): Promise<string> {
  const [cmd, ...prefix] = [...tools.asUser, path.join(tools.bindir, command)];
  return new Promise((resolve, reject) => {
    // cwd: the cluster's folder, which the postgres user can enter (root's working folder may not be).
    execFile(cmd!, [...prefix, ...args], { cwd: dir, encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`.trim()));
      else resolve(stdout);
    });
  });
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ connectionString: url, application_name: HARNESS_APP, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  return client;
}

/** Starts a throwaway cluster; call stop() when done (startPostgresForSuite does it in afterAll). */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresCluster> {
  const tools = findToolchain();
  if (typeof tools === 'string') throw new Error(`cannot start PostgreSQL: ${tools}`);
  // Not under processes.ts's tmpDir(): that folder is root's, mode 0700, and the postgres user must reach this one.
  const began = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-pg-'));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  const confFile = path.join(dataDir, 'meshd-test.conf');
  let port = 0;
  let running = false;
  const url = (database: string): string =>
    `postgres://${POSTGRES_SUPERUSER}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  let removed = false;
  const cleanUpAfterFailure = async (): Promise<void> => {
    if (running)
      await runAs(tools, dir, 'pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate', '-w']).catch(() => undefined);
    unregister(dataDir);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    if (tools.owner) fs.chownSync(dir, tools.owner.uid, tools.owner.gid);
    await runAs(tools, dir, 'initdb', [
      '-D',
      dataDir,
      '-U',
      POSTGRES_SUPERUSER,
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
      '--no-instructions',
    ]);
    fs.appendFileSync(path.join(dataDir, 'postgresql.conf'), "\ninclude 'meshd-test.conf'\n");
    const writeConf = (): void => {
      const settings: Record<string, string> = {
        port: String(port),
        listen_addresses: "'127.0.0.1'",
        unix_socket_directories: `'${dir}'`,
        fsync: 'off',
        synchronous_commit: 'off',
        full_page_writes: 'off',
        shared_buffers: '16MB',
        max_connections: '100',
        logging_collector: 'off',
        ...options.settings,
      };
      fs.writeFileSync(
        confFile,
        Object.entries(settings)
          .map(([k, v]) => `${k} = ${v}\n`)
          .join(''),
      );
      if (tools.owner) fs.chownSync(confFile, tools.owner.uid, tools.owner.gid);
    };

    // `pg_ctl start` or `pg_ctl restart -m fast`; then the (new) postmaster is registered and takes a connection.
    const startServer = async (action: 'start' | 'restart' = 'start'): Promise<void> => {
      const args = action === 'start' ? ['start'] : ['restart', '-m', 'fast'];
      await runAs(tools, dir, 'pg_ctl', [...args, '-D', dataDir, '-l', logFile, '-w', '-t', '30', '-s']);
      running = true;
      unregister(dataDir);
      const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      register({ pid, dataDir, dir });
      const client = await waitFor(`PostgreSQL on 127.0.0.1:${port}`, () => connect(url(DEFAULT_DB)), 15000, 50);
      await client.end();
    };

    // The port is free when asked for but may be taken before the server binds it: a few tries.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      writeConf();
      try {
        await startServer();
        break;
      } catch (err) {
        const log = readLog(logFile);
        if (attempt >= 3 || !/could not bind|Address already in use/i.test(log))
          throw new Error(`${(err as Error).message}\n${log}`);
      }
    }

    const stopServer = async (mode: 'fast' | 'immediate' = 'fast'): Promise<void> => {
      if (!running) return;
      await runAs(tools, dir, 'pg_ctl', ['stop', '-D', dataDir, '-m', mode, '-w', '-t', '30', '-s']);
      running = false;
      unregister(dataDir);
    };

    const query = async <R extends Record<string, unknown>>(
      sql: string,
      params?: unknown[],
      database?: string,
    ): Promise<R[]> => {
      const client = await connect(url(database ?? DEFAULT_DB));
      try {
        return (await client.query<R>(sql, params)).rows;
      } finally {
        await client.end().catch(() => undefined);
      }
    };

    return {
      url: url(DEFAULT_DB),
      port,
      dataDir,
      dir,
      startedInMs: Date.now() - began,
      urlFor: url,
      query,
      async createDatabase(name) {
        if (!IDENTIFIER.test(name)) throw new Error(`createDatabase: '${name}' is not a lowercase SQL identifier`);
        await query(`CREATE DATABASE "${name}"`);
        return url(name);
      },
      async terminateConnections(applicationName) {
        const rows = await query<{ n: number }>(
          'SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity ' +
            'WHERE application_name = $1 AND pid <> pg_backend_pid()) AS t',
          [applicationName],
        );
        return rows[0]!.n;
      },
      async restart() {
        if (!running) throw new Error('restart: the server is stopped (startServer() first)');
        await startServer('restart');
      },
      stopServer: () => stopServer('fast'),
      async startServer() {
        if (running) throw new Error('startServer: the server is already running');
        await startServer();
      },
      logs: () => readLog(logFile),
      async stop() {
        if (removed) return;
        removed = true;
        try {
          await stopServer('fast');
        } catch {
          await stopServer('immediate').catch(() => undefined);
        }
        await cleanUpAfterFailure();
      },
    };
  } catch (err) {
    await cleanUpAfterFailure();
    throw err;
  }
}

function readLog(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * `describe` for suites that need a real PostgreSQL: `body` gets a getter for a cluster started in beforeAll and
 * removed in afterAll. Without PostgreSQL the suite is skipped with the reason, or fails under MESHD_REQUIRE_ENVOY=1.
 */
export function describeWithPostgres(
  name: string,
  body: (cluster: () => PostgresCluster) => void,
  options: PostgresOptions = {},
): void {
  describeIfAvailable(name, 'a real PostgreSQL', postgresUnavailable(), () => {
    let cluster: PostgresCluster | undefined;
    beforeAll(async () => {
      cluster = await startPostgres(options);
    });
    afterAll(async () => {
      await cluster?.stop();
    });
    body(() => {
      if (!cluster) throw new Error('the PostgreSQL cluster has not started (see beforeAll)');
      return cluster;
    });
  });
}
