// The PostgreSQL test harness itself (test/helpers/postgres.ts, test/helpers/tcp-proxy.ts), against a real
// throwaway cluster: it starts and answers, a restart cuts a client that then reconnects, an outage lasts until
// startServer(), each test file can have its own database, connections are terminated by application_name, the proxy
// cuts, blackholes and restores the path, and no server outlives a test process that was SIGKILLed.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import * as ts from 'typescript';
import { describeWithPostgres, type PostgresCluster } from '../helpers/postgres';
import { tmpDir, waitFor } from '../helpers/processes';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

const ROOT = path.resolve(__dirname, '../..');

async function connected(url: string, applicationName = 'harness-test'): Promise<Client> {
  const client = new Client({
    connectionString: url,
    application_name: applicationName,
    connectionTimeoutMillis: 5000,
  });
  client.on('error', () => undefined); // a server-side cut is seen by the next query
  await client.connect();
  return client;
}

/** Whether `promise` settles within `ms`: 'pending' if not. */
async function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<'resolved' | 'rejected' | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    promise.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    new Promise<'pending'>((resolve) => (timer = setTimeout(() => resolve('pending'), ms))),
  ]);
  clearTimeout(timer);
  return outcome;
}

/** Whether `pid` is still a postgres serving from `dir` (a zombie's cmdline is empty; the pid may be reused). */
const postmasterAlive = (pid: number, dir: string): boolean => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
  } catch {
    return false;
  }
};

describeWithPostgres('a throwaway PostgreSQL cluster', (pg) => {
  let cluster: PostgresCluster;
  beforeAll(() => {
    cluster = pg();
  });

  it('answers queries over TCP on 127.0.0.1 as the trusted superuser, in UTF8', async () => {
    expect(cluster.url).toBe(`postgres://postgres@127.0.0.1:${cluster.port}/postgres`);
    const [row] = await cluster.query<{ one: number; encoding: string; fsync: string }>(
      "SELECT 1 AS one, pg_encoding_to_char(encoding) AS encoding, current_setting('fsync') AS fsync " +
        'FROM pg_database WHERE datname = current_database()',
    );
    expect(row).toEqual({ one: 1, encoding: 'UTF8', fsync: 'off' });
    expect(fs.existsSync(path.join(cluster.dataDir, 'PG_VERSION'))).toBe(true);
    process.stderr.write(`PostgreSQL cluster started (initdb, start, first connection) in ${cluster.startedInMs} ms\n`);
  });

  it('createDatabase gives a database of its own, and refuses a name that is not an identifier', async () => {
    const url = await cluster.createDatabase('harness_one');
    expect(url).toBe(`postgres://postgres@127.0.0.1:${cluster.port}/harness_one`);
    const client = await connected(url);
    try {
      await client.query('CREATE TABLE t (v text)');
      await client.query("INSERT INTO t VALUES ('été')");
      expect((await client.query('SELECT current_database() AS db, v FROM t')).rows).toEqual([
        { db: 'harness_one', v: 'été' },
      ]);
    } finally {
      await client.end();
    }
    // The table is in that database only.
    await expect(cluster.query('SELECT * FROM t')).rejects.toThrow(/relation "t" does not exist/);
    await expect(cluster.createDatabase('x"; DROP DATABASE postgres; --')).rejects.toThrow(
      /not a lowercase SQL identifier/,
    );
  });

  it('restart() cuts an open connection (its next query fails) and a new connection works after it', async () => {
    const client = await connected(cluster.url);
    const before = await cluster.query('SELECT pg_postmaster_start_time() AS t');
    await cluster.restart();
    await expect(client.query('SELECT 1')).rejects.toThrow();
    await client.end().catch(() => undefined);
    const again = await connected(cluster.url);
    try {
      expect((await again.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    } finally {
      await again.end();
    }
    const after = await cluster.query('SELECT pg_postmaster_start_time() AS t');
    expect(after).not.toEqual(before);
  });

  it('stopServer() is an outage until startServer(), and the data survives it', async () => {
    await cluster.query('CREATE TABLE IF NOT EXISTS survives (v int)');
    await cluster.query('INSERT INTO survives VALUES (7)');
    await cluster.stopServer();
    await expect(connected(cluster.url)).rejects.toThrow(/ECONNREFUSED/);
    await cluster.startServer();
    expect(await cluster.query('SELECT v FROM survives')).toEqual([{ v: 7 }]);
  });

  it('terminateConnections(name) ends exactly the connections with that application_name', async () => {
    const victim = await connected(cluster.url, 'harness-victim');
    const bystander = await connected(cluster.url, 'harness-bystander');
    try {
      expect(await cluster.terminateConnections('harness-victim')).toBe(1);
      await expect(victim.query('SELECT 1')).rejects.toThrow();
      expect((await bystander.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
    } finally {
      await victim.end().catch(() => undefined);
      await bystander.end();
    }
  });

  describe('through the TCP proxy', () => {
    let proxy: TcpProxy;
    let proxyUrl: string;
    beforeAll(async () => {
      proxy = await startTcpProxy('127.0.0.1', cluster.port);
      proxyUrl = `postgres://postgres@127.0.0.1:${proxy.port}/postgres`;
    });
    afterAll(async () => {
      await proxy.close();
    });
    afterEach(() => proxy.restore());

    it('forwards a connection to the real server', async () => {
      const client = await connected(proxyUrl, 'via-proxy');
      try {
        expect((await client.query('SELECT inet_server_port() AS port')).rows).toEqual([{ port: cluster.port }]);
      } finally {
        await client.end();
      }
    });

    it('cut() fails an open connection at once and refuses new ones; restore() lets new ones through', async () => {
      const client = await connected(proxyUrl);
      proxy.cut();
      await expect(client.query('SELECT 1')).rejects.toThrow();
      await client.end().catch(() => undefined);
      await expect(connected(proxyUrl)).rejects.toThrow(/ECONNRESET|Connection terminated/);
      proxy.restore();
      const again = await connected(proxyUrl);
      try {
        expect((await again.query('SELECT 4 AS four')).rows).toEqual([{ four: 4 }]);
      } finally {
        await again.end();
      }
    });

    it('blackhole() holds queries and new connections silently; restore() delivers them and new ones work', async () => {
      const open = await connected(proxyUrl);
      proxy.blackhole();
      const held = open.query('SELECT 5 AS five');
      expect(await settlesWithin(held, 1500)).toBe('pending');
      const newcomer = new Client({ connectionString: proxyUrl, connectionTimeoutMillis: 60000 });
      newcomer.on('error', () => undefined);
      const connecting = newcomer.connect();
      expect(await settlesWithin(connecting, 500)).toBe('pending');
      // The server, meanwhile, sees nothing odd: the direct path still answers.
      expect(await cluster.query('SELECT 6 AS six')).toEqual([{ six: 6 }]);
      proxy.restore();
      expect((await held).rows).toEqual([{ five: 5 }]);
      await connecting;
      expect((await newcomer.query('SELECT 7 AS seven')).rows).toEqual([{ seven: 7 }]);
      const fresh = await connected(proxyUrl);
      expect((await fresh.query('SELECT 8 AS eight')).rows).toEqual([{ eight: 8 }]);
      await Promise.all([open.end(), newcomer.end(), fresh.end()]);
    });

    it('a client timeout is what notices a blackhole (the connection stays open)', async () => {
      const client = new Client({ connectionString: proxyUrl, query_timeout: 800 });
      client.on('error', () => undefined);
      await client.connect();
      proxy.blackhole();
      await expect(client.query('SELECT 1')).rejects.toThrow(/timeout/i);
      expect(proxy.connections()).toBeGreaterThanOrEqual(1);
      await client.end().catch(() => undefined);
    });
  });
});

describeWithPostgres('a PostgreSQL cluster outliving its test process', () => {
  // The helper as the test process's own code: transpiled to JavaScript, run by a node child that is then SIGKILLed
  // (no exit handler runs); the helper's watchdog must stop the server and remove its folder.
  it('is killed, and its folder removed, when the test process is SIGKILLed', async () => {
    const out = tmpDir('pg-orphan-');
    for (const name of ['postgres', 'envoy', 'processes']) {
      const source = fs.readFileSync(path.join(ROOT, 'test/helpers', `${name}.ts`), 'utf8');
      const js = ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      }).outputText;
      fs.writeFileSync(path.join(out, `${name}.js`), js);
    }
    const script =
      `require(${JSON.stringify(path.join(out, 'postgres.js'))}).startPostgres().then((c) => {` +
      "const pid = Number(require('fs').readFileSync(c.dataDir + '/postmaster.pid', 'utf8').split('\\n')[0]);" +
      'console.log(JSON.stringify({ pid, dir: c.dir })); setInterval(() => {}, 1e6); });';
    const child = spawn(process.execPath, ['-e', script], {
      env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const started = await waitFor(
      'the child to start PostgreSQL',
      () => {
        if (child.exitCode !== null) throw new Error(`the child exited: ${stderr}`);
        const line = stdout.split('\n').find((l) => l.startsWith('{'));
        return line ? (JSON.parse(line) as { pid: number; dir: string }) : undefined;
      },
      30000,
    );
    expect(postmasterAlive(started.pid, started.dir)).toBe(true);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    // The watchdog removes the folder once the server is gone (a server outlives the removal of its folder for a
    // while), so a removed folder with a live server means the watchdog did not stop it.
    await waitFor("the orphan's folder to be removed", () => (fs.existsSync(started.dir) ? undefined : true), 20000);
    expect(postmasterAlive(started.pid, started.dir)).toBe(false);
  });
});
