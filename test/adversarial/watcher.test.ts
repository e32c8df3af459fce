// The loader and the file watcher under file-system chaos, against a real `bin/meshd serve`: symbolic
// link loops, permission changes, a mesh folder deleted and created again or swapped by a rename (as
// git-sync does), running out of file descriptors, and a 130,000-item flow list. Each time meshd must
// stay up, keep serving the last good mesh, say what is wrong (a finding, a counted watcher error,
// /readyz), and serve the new mesh once there is one.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, httpGet, MESHD_BIN, tmpDir, waitFor } from '../helpers/processes';

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
/** A watch check every 200 ms (the default is 1 s) keeps the tests short. */
const WATCH_INTERVAL_MS = '200';

/** A valid mesh: one Mesh and one VirtualNode. */
function meshText(mesh: string, ...nodes: string[]): string {
  return [
    `kind: Mesh\nname: ${mesh}\n`,
    ...nodes.map(
      (n) =>
        `kind: VirtualNode\nmesh: ${mesh}\nname: ${n}\nspec:\n  listeners: [{ portMapping: { port: 9080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }\n`,
    ),
  ].join('---\n');
}

function nodeText(mesh: string, node: string): string {
  return `kind: VirtualNode\nmesh: ${mesh}\nname: ${node}\nspec:\n  listeners: [{ portMapping: { port: 9080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }\n`;
}

interface Serve {
  readonly child: ChildProcess;
  readonly admin: number;
  stdout(): string;
  stderr(): string;
  alive(): boolean;
  get(pathName: string): Promise<{ status: number; body: string }>;
  /** The config a node id gets: 200 while its node is in the served mesh. */
  config(nodeId: string): Promise<{ status: number; body: string }>;
  metric(line: RegExp): Promise<number>;
  stop(): Promise<number | null>;
}

const running: Serve[] = [];

/**
 * Starts `bin/meshd serve` on free ports with its state in `stateDir`; as user 65534 (setpriv) when
 * `asNobody` and this test runs as root; under `ulimit -n` in a child shell when `maxFiles` is given.
 */
async function serve(
  meshPaths: string[],
  opts: { asNobody?: boolean; maxFiles?: number; stateDir?: string; args?: string[] } = {},
): Promise<Serve> {
  const admin = await freePort();
  const xds = await freePort();
  const stateDir = opts.stateDir ?? tmpDir('watch-state-');
  const meshdArgs = [
    MESHD_BIN,
    'serve',
    ...meshPaths.flatMap((p) => ['--mesh', p]),
    ...['--xds-address', '127.0.0.1', '--xds-port', String(xds), '--admin-port', String(admin), '--statsd-port', '0'],
    ...[
      '--cloud-map-state',
      path.join(stateDir, 'cloud-map.json'),
      '--rollout-state',
      path.join(stateDir, 'rollouts.json'),
    ],
    ...['--watch-interval-ms', WATCH_INTERVAL_MS],
    ...(opts.args ?? []),
  ];
  let cmd = process.execPath;
  let args = meshdArgs;
  if (opts.asNobody && isRoot)
    [cmd, args] = [
      'setpriv',
      [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, ...meshdArgs],
    ];
  if (opts.maxFiles !== undefined)
    [cmd, args] = ['bash', ['-c', `ulimit -n ${opts.maxFiles} && exec "$0" "$@"`, cmd, ...args]];
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MESHD_DEBUG: '' } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const get = (pathName: string) => httpGet(admin, '127.0.0.1', pathName);
  const s: Serve = {
    child,
    admin,
    stdout: () => out,
    stderr: () => err,
    alive: () => child.exitCode === null && child.signalCode === null,
    get,
    config: (nodeId) => get(`/v1/config/${encodeURIComponent(nodeId)}`),
    metric: async (line) => {
      const m = line.exec((await get('/metrics')).body);
      return m ? Number(m[1]) : 0;
    },
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
  running.push(s);
  await waitFor(
    'meshd to start',
    () =>
      out.includes('xDS (ADS gRPC)')
        ? true
        : child.exitCode !== null
          ? Promise.reject(new Error(`meshd exited ${child.exitCode}: ${err}`))
          : undefined,
    20000,
  );
  return s;
}

afterEach(async () => {
  for (const s of running.splice(0)) {
    const alive = s.alive();
    await s.stop();
    // Never a stack trace, whatever happened.
    expect(s.stderr()).not.toMatch(/\n\s+at /);
    expect(s.stderr()).not.toMatch(/internal error/);
    expect(alive).toBe(true);
  }
});

/** Serving: /healthz answers and `nodeId`'s config is served. */
async function expectServing(s: Serve, nodeId: string): Promise<void> {
  expect(s.alive()).toBe(true);
  expect((await s.get('/healthz')).status).toBe(200);
  expect((await s.config(nodeId)).status).toBe(200);
}

const until = <T>(what: string, check: () => T | undefined | Promise<T | undefined>) => waitFor(what, check, 20000, 50);
const servedSoon = (s: Serve, nodeId: string) =>
  until(`${nodeId} to be served`, async () => ((await s.config(nodeId)).status === 200 ? true : undefined));
const logged = (s: Serve, text: string | RegExp) =>
  until(`meshd to log ${String(text)}`, () =>
    (typeof text === 'string' ? s.stderr().includes(text) : text.test(s.stderr())) ? true : undefined,
  );

/** A folder user 65534 owns (under the system temp folder: the test's own temp folders are root's, mode 0700). */
function nobodyDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-watch-'));
  fs.chmodSync(dir, 0o755);
  if (isRoot) fs.chownSync(dir, NOBODY, NOBODY);
  return dir;
}

function chownTree(dir: string): void {
  if (!isRoot) return;
  fs.chownSync(dir, NOBODY, NOBODY);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) chownTree(full);
    else fs.lchownSync(full, NOBODY, NOBODY);
  }
}

/**
 * Dropping privileges needs setpriv and a meshd that user 65534 can read. Without them the
 * permission tests are skipped, visibly; with MESHD_REQUIRE_ENVOY=1 (CI) they fail.
 */
function unprivilegedUnavailable(): string | undefined {
  if (!isRoot) return undefined; // chmod works on this user directly
  const probe = spawnSync(
    'setpriv',
    [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      '--clear-groups',
      process.execPath,
      '-e',
      `require(${JSON.stringify(MESHD_BIN.replace(/bin\/meshd$/, 'dist/cli/main.js'))})`,
    ],
    { encoding: 'utf8' },
  );
  if (probe.error) return `no 'setpriv' command (Debian package util-linux): ${probe.error.message}`;
  if (probe.status !== 0) return `user ${NOBODY} cannot run meshd from ${MESHD_BIN}: ${probe.stderr.split('\n')[0]}`;
  return undefined;
}
const whyNotUnprivileged = unprivilegedUnavailable();
if (whyNotUnprivileged && process.env.MESHD_REQUIRE_ENVOY === '1')
  throw new Error(`MESHD_REQUIRE_ENVOY=1 but ${whyNotUnprivileged}`);
if (whyNotUnprivileged) process.stderr.write(`skipping the file-permission tests: ${whyNotUnprivileged}\n`);
const describeUnprivileged = whyNotUnprivileged ? describe.skip : describe;

describe('class: a long flow list overflows the stack (an input-sized array spread into arguments)', () => {
  const bigList = (n: number) => `kind: Mesh\nname: big\nx: [${Array(n).fill('1').join(',')}]\n`;

  it('a 130,000-item flow list written into a served mesh folder is a finding; the last good mesh keeps serving', async () => {
    const dir = tmpDir('flow-');
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), meshText('apps', 'front'));
    const s = await serve([dir]);
    await expectServing(s, 'mesh/apps/virtualNode/front');
    fs.writeFileSync(path.join(dir, 'big.yaml'), bigList(130_000));
    await logged(s, `${path.join(dir, 'big.yaml')}:3:4: Mesh/big: unknown field 'x'`);
    await logged(s, 'the last good mesh keeps serving');
    await expectServing(s, 'mesh/apps/virtualNode/front');
    expect(await s.metric(/^meshd_mesh_reloads_total\{result="error"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
  });

  it('at startup, a file of 130,000 documents loads (its documents were pushed as arguments), and the flow list is the same finding', async () => {
    const dir = tmpDir('docs-');
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), meshText('apps', 'front'));
    // Empty Kubernetes Lists: no findings and no resources, just many documents.
    fs.writeFileSync(path.join(dir, 'lists.yaml'), 'apiVersion: v1\nkind: List\nitems: []\n---\n'.repeat(130_000));
    const s = await serve([dir]);
    await expectServing(s, 'mesh/apps/virtualNode/front');
    expect((await s.get('/readyz')).status).toBe(200);

    const bad = tmpDir('flow-start-');
    fs.writeFileSync(path.join(bad, 'big.yaml'), bigList(130_000));
    const t = await serve([bad]);
    await logged(t, `${path.join(bad, 'big.yaml')}:3:4: Mesh/big: unknown field 'x'`);
    expect(await t.get('/readyz')).toEqual({ status: 503, body: 'not ready: no valid mesh loaded yet\n' });
  });
});

describe('class: a symbolic link loop in the mesh folder (chokidar error event; an endless listing)', () => {
  it('loops at startup and added later are skipped with a warning; a mesh file linked to itself is a finding until removed', async () => {
    const dir = tmpDir('loops-');
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), meshText('apps', 'front'));
    fs.mkdirSync(path.join(dir, 'sub'));
    // Two links back up in one folder: walked naively, that is 2^40 paths before the kernel says ELOOP.
    fs.symlinkSync('..', path.join(dir, 'sub', 'up'));
    fs.symlinkSync('..', path.join(dir, 'sub', 'up-again'));
    fs.symlinkSync('self', path.join(dir, 'self'));
    const s = await serve([dir]);
    await expectServing(s, 'mesh/apps/virtualNode/front');
    await logged(s, `${path.join(dir, 'sub', 'up')}:1:1: skipped: the same folder as ${dir} (through a symbolic link)`);
    expect((await s.get('/readyz')).status).toBe(200);

    fs.symlinkSync('.', path.join(dir, 'sub', 'here'));
    fs.symlinkSync('loop.yaml', path.join(dir, 'loop.yaml'));
    await logged(s, `${path.join(dir, 'loop.yaml')}:1:1: cannot read: symbolic link that cannot be followed: ELOOP`);
    await expectServing(s, 'mesh/apps/virtualNode/front');

    // Removing the broken link is a change like any other: the mesh loads again, with a node added meanwhile.
    fs.writeFileSync(path.join(dir, 'more.yaml'), nodeText('apps', 'back'));
    fs.unlinkSync(path.join(dir, 'loop.yaml'));
    await servedSoon(s, 'mesh/apps/virtualNode/back');
    expect((await s.get('/readyz')).status).toBe(200);
  });
});

describeUnprivileged('class: permission changes (an unreadable subfolder, an unreadable mesh folder)', () => {
  let root: string;
  beforeEach(() => {
    root = nobodyDir();
  });
  afterEach(() => {
    for (const d of [path.join(root, 'mesh', 'sub'), path.join(root, 'mesh')])
      if (fs.existsSync(d)) fs.chmodSync(d, 0o755);
    fs.rmSync(root, { recursive: true, force: true });
  });

  function makeMesh(): string {
    const dir = path.join(root, 'mesh');
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), meshText('apps', 'front'));
    fs.writeFileSync(path.join(dir, 'sub', 'back.yaml'), nodeText('apps', 'back'));
    fs.mkdirSync(path.join(root, 'state'));
    chownTree(root);
    return dir;
  }

  it('a subfolder made unreadable is a finding (EACCES from the listing); the last good mesh keeps serving, and loads again once readable', async () => {
    const dir = makeMesh();
    const s = await serve([dir], { asNobody: true, stateDir: path.join(root, 'state') });
    await expectServing(s, 'mesh/apps/virtualNode/back');
    fs.chmodSync(path.join(dir, 'sub'), 0o000);
    await logged(s, `${path.join(dir, 'sub')}:1:1: cannot list folder: EACCES: permission denied`);
    await expectServing(s, 'mesh/apps/virtualNode/back');
    fs.writeFileSync(path.join(dir, 'sub', 'third.yaml'), nodeText('apps', 'third'));
    if (isRoot) fs.chownSync(path.join(dir, 'sub', 'third.yaml'), NOBODY, NOBODY);
    fs.chmodSync(path.join(dir, 'sub'), 0o755);
    await servedSoon(s, 'mesh/apps/virtualNode/third');
  });

  it('at startup, an unreadable subfolder is the same finding, not an internal error', async () => {
    const dir = makeMesh();
    fs.chmodSync(path.join(dir, 'sub'), 0o000);
    const s = await serve([dir], { asNobody: true, stateDir: path.join(root, 'state') });
    await logged(s, `${path.join(dir, 'sub')}:1:1: cannot list folder: EACCES: permission denied`);
    expect((await s.get('/readyz')).status).toBe(503);
    fs.chmodSync(path.join(dir, 'sub'), 0o755);
    // The folder's mode is not a file event meshd is sure to see; any change is.
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), meshText('apps', 'front', 'extra'));
    await servedSoon(s, 'mesh/apps/virtualNode/back');
  });

  it('the mesh folder made unreadable: meshd stays up, /readyz says why (503), the last good mesh keeps serving; readable again, the new mesh is served', async () => {
    const dir = makeMesh();
    // A long debounce: the change below is still waiting to be reloaded when the folder closes, so the
    // watcher looks at the changed file (its fingerprint) when it can no longer.
    const s = await serve([dir], {
      asNobody: true,
      stateDir: path.join(root, 'state'),
      args: ['--debounce-ms', '500'],
    });
    await expectServing(s, 'mesh/apps/virtualNode/front');
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), meshText('apps', 'front', 'during'));
    // chokidar has seen the write (not an assert: a slower one only makes this test less sharp)
    await new Promise((resolve) => setTimeout(resolve, 200));
    fs.chmodSync(dir, 0o000);
    const ready = await until('/readyz to say the folder is not watched', async () => {
      const r = await s.get('/readyz');
      return r.status === 503 && r.body.includes('EACCES') ? r.body : undefined;
    });
    expect(ready).toContain(
      `not ready: mesh path not watched, changes to it are not seen, the last good mesh keeps serving: ${dir}: EACCES: permission denied`,
    );
    expect(await s.metric(/^meshd_mesh_paths_unwatched (\d+)$/m)).toBe(1);
    // The reload tried meanwhile is refused with a finding.
    await logged(s, `${dir}:1:1: cannot list folder: EACCES: permission denied`);
    await expectServing(s, 'mesh/apps/virtualNode/front');
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), meshText('apps', 'front', 'after'));
    fs.chmodSync(dir, 0o755);
    await servedSoon(s, 'mesh/apps/virtualNode/after');
    await until('/readyz to be 200 again', async () => ((await s.get('/readyz')).status === 200 ? true : undefined));
    expect(await s.metric(/^meshd_mesh_paths_unwatched (\d+)$/m)).toBe(0);
  });
});

describe('class: a replaced mesh folder is never seen again', () => {
  it('deleted, then created again: /readyz and meshd status report it while it is missing, the last good mesh keeps serving, then the new mesh is served', async () => {
    const base = tmpDir('replace-');
    const dir = path.join(base, 'mesh');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), meshText('apps', 'old'));
    const s = await serve([dir]);
    await expectServing(s, 'mesh/apps/virtualNode/old');
    fs.rmSync(dir, { recursive: true });
    const body = await until('/readyz to report the missing folder', async () => {
      const r = await s.get('/readyz');
      return r.status === 503 ? r.body : undefined;
    });
    expect(body).toContain(`${dir}: ENOENT: no such file or directory`);
    await logged(s, `${dir} cannot be watched: ENOENT`);
    await expectServing(s, 'mesh/apps/virtualNode/old');
    const status = spawnSync(process.execPath, [MESHD_BIN, 'status', '--admin', `127.0.0.1:${s.admin}`], {
      encoding: 'utf8',
    });
    expect(status.status).toBe(0);
    expect(status.stdout.split('\n')[0]).toMatch(
      new RegExp(`^meshd is not ready: mesh path not watched, .*${escapeRegExp(dir)}: ENOENT`),
    );

    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), meshText('apps', 'new'));
    await servedSoon(s, 'mesh/apps/virtualNode/new');
    expect((await s.config('mesh/apps/virtualNode/old')).status).toBe(404);
    await until('/readyz to be 200 again', async () => ((await s.get('/readyz')).status === 200 ? true : undefined));
    // Changes in the new folder are seen as they happen.
    fs.writeFileSync(path.join(dir, 'more.yaml'), nodeText('apps', 'more'));
    await servedSoon(s, 'mesh/apps/virtualNode/more');
  });

  it('swapped by a rename (the new folder renamed over the old one): the new mesh is served, and its changes are seen', async () => {
    const base = tmpDir('swap-');
    const dir = path.join(base, 'live');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), meshText('apps', 'old'));
    const s = await serve([dir]);
    await expectServing(s, 'mesh/apps/virtualNode/old');
    const next = path.join(base, 'next');
    fs.mkdirSync(next);
    fs.writeFileSync(path.join(next, 'mesh.yaml'), meshText('apps', 'new'));
    fs.renameSync(dir, path.join(base, 'previous'));
    fs.renameSync(next, dir);
    await servedSoon(s, 'mesh/apps/virtualNode/new');
    await logged(s, `${dir} was replaced; watching the new one`);
    expect((await s.config('mesh/apps/virtualNode/old')).status).toBe(404);
    fs.writeFileSync(path.join(dir, 'more.yaml'), nodeText('apps', 'more'));
    await servedSoon(s, 'mesh/apps/virtualNode/more');
    // The old folder is no longer watched: editing it changes nothing.
    fs.writeFileSync(path.join(base, 'previous', 'mesh.yaml'), meshText('apps', 'stale'));
    fs.writeFileSync(path.join(dir, 'last.yaml'), nodeText('apps', 'last'));
    await servedSoon(s, 'mesh/apps/virtualNode/last');
    expect((await s.config('mesh/apps/virtualNode/stale')).status).toBe(404);
  });

  it('a git-sync checkout (a `current -> rev-N` link replaced by a rename): each new revision is served', async () => {
    const base = tmpDir('git-sync-');
    const current = path.join(base, 'current');
    const revision = (n: number, ...nodes: string[]) => {
      fs.mkdirSync(path.join(base, `rev-${n}`));
      fs.writeFileSync(path.join(base, `rev-${n}`, 'mesh.yaml'), meshText('apps', ...nodes));
      const link = path.join(base, `.tmp-link-${n}`);
      fs.symlinkSync(`rev-${n}`, link);
      fs.renameSync(link, current); // atomic, as git-sync does it
    };
    revision(1, 'one');
    const s = await serve([current]);
    await expectServing(s, 'mesh/apps/virtualNode/one');
    revision(2, 'two');
    await servedSoon(s, 'mesh/apps/virtualNode/two');
    expect((await s.config('mesh/apps/virtualNode/one')).status).toBe(404);
    revision(3, 'three');
    await servedSoon(s, 'mesh/apps/virtualNode/three');
    expect((await s.get('/readyz')).status).toBe(200);
  });
});

describe('class: running out of file descriptors (EMFILE) while watching', () => {
  /**
   * Opens connections to meshd's admin port until they are refused or
   * `count` are open: each accepted one holds a descriptor in meshd.
   */
  // Held admin connections send nothing: meshd's request and idle timeouts would close them (and free the
  // descriptors the test means to hold) after 30 s, which a loaded machine can reach mid-test.
  const HOLD_ADMIN_CONNECTIONS = ['--admin-request-timeout-ms', '600000', '--admin-idle-timeout-ms', '600000'];

  async function holdConnections(port: number, count: number): Promise<net.Socket[]> {
    const sockets: net.Socket[] = [];
    for (let i = 0; i < count; i++) {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      sockets.push(socket);
      await new Promise((resolve) => socket.once('connect', resolve).once('error', resolve));
    }
    return sockets;
  }

  it('with its descriptors used up, new folders are counted watcher errors; meshd keeps serving, and serves them once descriptors are free', async () => {
    const dir = tmpDir('emfile-');
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), meshText('apps', 'front'));
    const s = await serve([dir], { maxFiles: 48, args: HOLD_ADMIN_CONNECTIONS });
    await expectServing(s, 'mesh/apps/virtualNode/front');
    const sockets = await holdConnections(s.admin, 80);
    // Folders each with a node: chokidar lists every new folder (opendir needs a descriptor).
    for (let i = 0; i < 20; i++) {
      fs.mkdirSync(path.join(dir, `team-${i}`));
      fs.writeFileSync(path.join(dir, `team-${i}`, 'node.yaml'), nodeText('apps', `team-${i}`));
    }
    await logged(s, /watching .*: EMFILE: too many open files/);
    expect(s.alive()).toBe(true);
    for (const socket of sockets) socket.destroy();
    await until('the admin API to answer again', async () =>
      (await s.get('/healthz').catch(() => ({ status: 0 }))).status === 200 ? true : undefined,
    );
    expect(await s.metric(/^meshd_watcher_errors_total\{code="EMFILE"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
    await expectServing(s, 'mesh/apps/virtualNode/front');
    // Watched afresh after the error: every folder added meanwhile is served.
    for (let i = 0; i < 20; i++) await servedSoon(s, `mesh/apps/virtualNode/team-${i}`);
    await until('/readyz to be 200 again', async () => ((await s.get('/readyz')).status === 200 ? true : undefined));
  });

  it('an edit the reload cannot read (EMFILE) is loaded again once descriptors are free, with no further change', async () => {
    const dir = tmpDir('emfile-edit-');
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), meshText('apps', 'front'));
    const s = await serve([dir], { maxFiles: 48, args: HOLD_ADMIN_CONNECTIONS });
    await expectServing(s, 'mesh/apps/virtualNode/front');
    const sockets = await holdConnections(s.admin, 80);
    // An edit in place: the watch sees it (inotify needs no descriptor), the reload cannot list or read the files.
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), meshText('apps', 'front', 'edited'));
    await logged(s, /error +\S+:1:1: cannot (list folder|read file): EMFILE: too many open files/);
    expect(s.alive()).toBe(true);
    for (const socket of sockets) socket.destroy();
    await servedSoon(s, 'mesh/apps/virtualNode/edited');
    await expectServing(s, 'mesh/apps/virtualNode/front');
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
