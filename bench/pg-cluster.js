// A throwaway PostgreSQL cluster for a benchmark (a helper, not a bench): initdb into a fresh folder, pg_ctl start on
// a free loopback port, trust authentication (as the tests' test/helpers/postgres.ts, in plain JS), fsync as asked. As
// root the server runs as the `postgres` user (PostgreSQL refuses root). stop() stops it and removes the folder.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('./ports');

function hasServer(dir) {
  return ['initdb', 'pg_ctl', 'postgres'].every((name) => {
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The folder of initdb, pg_ctl and postgres: MESHD_PG_BINDIR, the newest /usr/lib/postgresql/N/bin, or PATH's. */
function findBindir() {
  if (process.env.MESHD_PG_BINDIR) return hasServer(process.env.MESHD_PG_BINDIR) ? process.env.MESHD_PG_BINDIR : null;
  const candidates = [];
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
    try {
      candidates.push(path.dirname(fs.realpathSync(path.join(dir, 'initdb'))));
    } catch {
      // no initdb here
    }
  }
  return candidates.find(hasServer) ?? null;
}

/** Starts a cluster (fsync on unless `fsync` is false); resolves { url(database), createDatabase(name), stop() }. */
async function startCluster({ fsync = true } = {}) {
  const bindir = findBindir();
  if (!bindir)
    throw new Error("no PostgreSQL server binaries (initdb, pg_ctl, postgres): install Debian's 'postgresql'");
  const root = process.getuid?.() === 0;
  const asUser = root ? ['runuser', '-u', 'postgres', '--'] : [];
  const run = (cmd, args) => {
    const [bin, ...prefix] = [...asUser, path.join(bindir, cmd)];
    return execFileSync(bin, [...prefix, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-bench-pg-'));
  const data = path.join(dir, 'data');
  if (root) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    fs.chownSync(dir, uid, gid);
  }
  const port = await freePort();
  let started = false;
  const stop = () => {
    if (started) {
      try {
        run('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w']);
      } catch {
        // already gone
      }
      started = false;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']);
    run('pg_ctl', [
      'start',
      '-D',
      data,
      '-w',
      '-l',
      path.join(dir, 'server.log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=${fsync ? 'on' : 'off'} -c max_connections=100`,
    ]);
    started = true;
  } catch (err) {
    stop();
    throw err;
  }
  const url = (database) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    url,
    async createDatabase(name) {
      const { Client } = require('pg');
      const client = new Client({ connectionString: url('postgres') });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop,
  };
}

module.exports = { startCluster };
