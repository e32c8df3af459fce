// Linux network namespaces for tests that need App Mesh's transparent traffic capture: a
// namespace per "task" with lo up, a veth pair to the root namespace, its own /etc/hosts
// (`ip netns exec` bind-mounts /etc/netns/<ns>/hosts over /etc/hosts) and App Mesh's
// iptables rules. Needs root, `ip` (iproute2), `iptables` and `setpriv` (util-linux).
// Without them the suites are skipped, visibly; with MESHD_REQUIRE_ENVOY=1 (CI) they fail.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeIfAvailable, findEnvoy, NO_ENVOY } from './envoy';

/** App Mesh's proxy user: its traffic is never captured. */
export const PROXY_UID = 1337;
export const PROXY_GID = 1337;
/** App Mesh's defaults for the capture rules (APPMESH_* variables of the proxy route manager). */
export const APPMESH_INGRESS_PORT = 15000;
export const APPMESH_EGRESS_PORT = 15001;
export const APPMESH_EGRESS_IGNORED_IPS = ['169.254.169.254', '169.254.170.2'];
export const APPMESH_ALWAYS_IGNORED_PORTS = [22];

const NS_PREFIX = 'meshd-t-';

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

function tryRun(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

const FIXTURE_CLIENT = path.resolve(__dirname, '../fixtures/netns/client.js');

/** The sidecars (and some clients) run as uid 1337: every folder above their files must let it in. */
function proxyUserCannotRun(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(
    'setpriv',
    ['--reuid', String(PROXY_UID), '--regid', String(PROXY_GID), '--clear-groups', cmd, ...args],
    { encoding: 'utf8' },
  );
  if (r.status === 0) return undefined;
  return `uid ${PROXY_UID} cannot run ${cmd} ${args.join(' ')} (is a parent folder not world-executable?): ${(r.stderr || r.error?.message || '').trim()}`;
}

/**
 * A file the proxy user (uid 1337) can run or read: the file itself when it can, else a copy
 * (mode 0755) in a cache folder under the readable temp root. CI may clone the project where
 * uid 1337 cannot enter (under /root), and Envoy and the fixture client must still run.
 */
export function proxyUserCopy(file: string): string {
  if (!proxyUserCannotRun('test', ['-r', file])) return file;
  const stat = fs.statSync(file);
  const dir = path.join(readableTmpBase(), 'meshd-netns-staged');
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  const copy = path.join(dir, `${stat.size}-${Math.floor(stat.mtimeMs)}-${path.basename(file)}`);
  if (!fs.existsSync(copy)) {
    fs.copyFileSync(file, `${copy}.part`);
    fs.chmodSync(`${copy}.part`, 0o755);
    fs.renameSync(`${copy}.part`, copy);
  }
  return copy;
}

/** The temp root the proxy user can reach: $TMPDIR if others may enter it, else /tmp. */
function readableTmpBase(): string {
  const base = os.tmpdir();
  try {
    if ((fs.statSync(base).mode & 0o001) !== 0) return base;
  } catch {
    /* fall through */
  }
  return '/tmp';
}

let availability: { ok: true } | { ok: false; why: string } | undefined;

/** Whether this machine can run the namespace suites; if not, why not. Probes for real once. */
export function netnsAvailable(): { ok: true } | { ok: false; why: string } {
  if (availability) return availability;
  const check = (): { ok: true } | { ok: false; why: string } => {
    if (process.platform !== 'linux') return { ok: false, why: 'network namespaces need Linux' };
    if (process.getuid?.() !== 0) return { ok: false, why: 'network namespaces and iptables need root' };
    if (!tryRun('ip', ['-V'])) return { ok: false, why: "no 'ip' command (Debian package iproute2)" };
    if (!tryRun('iptables', ['--version']))
      return { ok: false, why: "no 'iptables' command (Debian package iptables)" };
    if (!tryRun('setpriv', ['--version']))
      return { ok: false, why: "no 'setpriv' command (Debian package util-linux)" };
    // Having the commands is not enough inside a container without CAP_NET_ADMIN/CAP_SYS_ADMIN.
    const probe = `${NS_PREFIX}probe-${process.pid}`;
    try {
      run('ip', ['netns', 'add', probe]);
      run('ip', [
        'netns',
        'exec',
        probe,
        'iptables',
        '-t',
        'nat',
        '-A',
        'OUTPUT',
        '-p',
        'tcp',
        '-m',
        'owner',
        '--uid-owner',
        String(PROXY_UID),
        '-j',
        'RETURN',
      ]);
      run('ip', [
        'netns',
        'exec',
        probe,
        'iptables',
        '-t',
        'nat',
        '-A',
        'OUTPUT',
        '-p',
        'tcp',
        '-m',
        'addrtype',
        '!',
        '--dst-type',
        'LOCAL',
        '-j',
        'REDIRECT',
        '--to-ports',
        '1',
      ]);
    } catch (err) {
      return { ok: false, why: `cannot create a network namespace with nat rules here: ${(err as Error).message}` };
    } finally {
      tryRun('ip', ['netns', 'del', probe]);
    }
    return { ok: true };
  };
  availability = check();
  return availability;
}

/**
 * `describe` for suites that need network namespaces and a real Envoy (all of them do).
 * Skips with a printed reason when either is missing; fails loudly under MESHD_REQUIRE_ENVOY=1.
 */
export function describeWithNetns(
  name: string,
  body: (envoyBin: string) => void,
  extra: { needs?: Array<'openssl'> } = {},
): void {
  const found = findEnvoy();
  const netns = netnsAvailable();
  const envoy = 'why' in netns || !found ? undefined : proxyUserCopy(found);
  const why =
    'why' in netns
      ? netns.why
      : !envoy
        ? NO_ENVOY
        : extra.needs?.includes('openssl') && !tryRun('openssl', ['version'])
          ? "no 'openssl' command (Debian package openssl)"
          : (proxyUserCannotRun(envoy, ['--version']) ??
            proxyUserCannotRun(process.execPath, [proxyUserCopy(FIXTURE_CLIENT), '--probe']));
  describeIfAvailable(name, 'network namespaces and a real Envoy', why, () => body(envoy!));
}

const readableDirs: string[] = [];
const READABLE_ROOT_PREFIX = 'meshd-netns-';

/**
 * A temp folder (0755) whose files a process running as the proxy user (uid 1337) can read.
 * They live under /tmp/meshd-netns-<pid>/; removeReadableTmpDirs() deletes them (call it in
 * afterAll), and folders of test processes that are gone are swept by the next run.
 */
export function readableTmpDir(prefix = 'tmp-'): string {
  const root = path.join(readableTmpBase(), `${READABLE_ROOT_PREFIX}${process.pid}`);
  if (!fs.existsSync(root)) {
    sweepStaleTmpDirs();
    fs.mkdirSync(root, { mode: 0o755 });
  }
  fs.chmodSync(root, 0o755);
  const dir = fs.mkdtempSync(path.join(root, prefix));
  fs.chmodSync(dir, 0o755);
  readableDirs.push(dir);
  return dir;
}

/** Removes every folder readableTmpDir() made in this process. */
export function removeReadableTmpDirs(): void {
  for (const dir of readableDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  const root = path.join(readableTmpBase(), `${READABLE_ROOT_PREFIX}${process.pid}`);
  if (fs.existsSync(root) && fs.readdirSync(root).length === 0) fs.rmdirSync(root);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function sweepStaleTmpDirs(): void {
  const base = readableTmpBase();
  for (const name of fs.readdirSync(base)) {
    const m = new RegExp(`^${READABLE_ROOT_PREFIX}(\\d+)$`).exec(name);
    if (m && !pidAlive(Number(m[1]))) fs.rmSync(path.join(base, name), { recursive: true, force: true });
  }
}

/** Writes a file that the proxy user can read (0644). */
export function writeReadable(dir: string, name: string, content: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, content, { mode: 0o644 });
  fs.chmodSync(file, 0o644);
  return file;
}

export interface NetnsProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves once the output contains `text`; rejects if the process exits first. */
  waitForOutput(text: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface AppMeshRules {
  /** APPMESH_APP_PORTS: inbound TCP to these ports is redirected to the ingress port. */
  appPorts?: number[];
  /** APPMESH_ENVOY_INGRESS_PORT (15000). */
  ingressPort?: number;
  /** APPMESH_ENVOY_EGRESS_PORT (15001). */
  egressPort?: number;
  /** APPMESH_IGNORE_UID / APPMESH_IGNORE_GID (1337). */
  ignoreUid?: number;
  ignoreGid?: number;
  /** APPMESH_EGRESS_IGNORED_PORTS (22 is always added). */
  egressIgnoredPorts?: number[];
  /** APPMESH_EGRESS_IGNORED_IP (169.254.169.254, 169.254.170.2). */
  egressIgnoredIps?: string[];
  /** Capture outbound traffic (App Mesh always does; off for an ingress-only callee). */
  egress?: boolean;
}

export interface Netns {
  readonly name: string;
  /** Root-namespace end of the veth pair and its address (the namespace's default gateway). */
  readonly hostIf: string;
  readonly hostIp: string;
  /** Namespace end of the veth pair and its address. */
  readonly nsIf: string;
  readonly nsIp: string;
  /** Runs a command inside the namespace and returns its stdout (throws on failure). */
  exec(cmd: string, args: string[]): string;
  /** Replaces the namespace's /etc/hosts (names → IPs), keeping localhost. */
  setHosts(entries: Record<string, string>): void;
  /** App Mesh's nat rules (APPMESH_INGRESS / APPMESH_EGRESS) inside the namespace. */
  installAppMeshRules(rules?: AppMeshRules): void;
  /** The namespace's nat table as `iptables-save` prints it. */
  natRules(): string;
  /** Starts a process inside the namespace, optionally as the proxy user (uid/gid 1337). */
  spawn(cmd: string, args: string[], opts?: { asProxyUser?: boolean; env?: NodeJS.ProcessEnv }): NetnsProcess;
  /** Stops its processes and removes the namespace, the veth pair and /etc/netns/<ns>. */
  destroy(): Promise<void>;
}

const live = new Map<string, { name: string; hostIf: string; pids: Set<number> }>();

function removeNamespaceSync(name: string, hostIf: string | undefined, pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  // Anything else still running in the namespace (children of our processes).
  const leftover = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout ?? '';
  for (const pid of leftover.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  tryRun('ip', ['netns', 'del', name]);
  if (hostIf) tryRun('ip', ['link', 'del', hostIf]); // normally gone with its peer already
  fs.rmSync(path.join('/etc/netns', name), { recursive: true, force: true });
}

let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const ns of live.values()) removeNamespaceSync(ns.name, ns.hostIf, ns.pids);
    removeReadableTmpDirs();
  });
}

/** Removes namespaces left behind by test processes that died without cleaning up. */
function sweepStale(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of list.split('\n')) {
    const m = new RegExp(`^(${NS_PREFIX}(\\d+)-[0-9a-f]+)\\b`).exec(line.trim());
    if (!m) continue;
    if (!pidAlive(Number(m[2]))) removeNamespaceSync(m[1]!, undefined, []);
  }
}

function addressInUse(prefix: string): boolean {
  const addrs = spawnSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' }).stdout ?? '';
  const routes = spawnSync('ip', ['-4', 'route', 'show'], { encoding: 'utf8' }).stdout ?? '';
  return addrs.includes(` ${prefix}`) || routes.includes(prefix);
}

/**
 * A layer-2 network like docker-compose's: a bridge in a namespace of its own, which
 * namespaces made with `createNetns({ bridge })` join with an address of its /24, and which
 * the root namespace (the test process) reaches at `.1` through a veth of its own.
 */
export interface BridgeNetwork {
  /** The namespace holding the bridge. */
  readonly name: string;
  /** The first three octets, e.g. `10.214.7`. */
  readonly prefix: string;
  /** The root namespace's address on it (`.1`). */
  readonly hostIp: string;
  destroy(): Promise<void>;
}

export async function createBridgeNetwork(): Promise<BridgeNetwork> {
  installExitHook();
  sweepStale();
  const id = crypto.randomBytes(3).toString('hex');
  const name = `${NS_PREFIX}${process.pid}-${id}`;
  let prefix = '';
  for (let attempt = 0; ; attempt++) {
    prefix = `10.214.${crypto.randomInt(0, 256)}`;
    if (!addressInUse(`${prefix}.`)) break;
    if (attempt > 20) throw new Error('no free /24 in 10.214.0.0/16');
  }
  const hostIf = `mbh${id}`;
  // The namespace's end of the veth becomes a port of its bridge; the root end gets `.1`.
  addNamespaceWithVeth(name, hostIf, `mbb${id}`, (inNs) => {
    inNs('ip', ['link', 'add', 'br0', 'type', 'bridge']);
    inNs('ip', ['link', 'set', 'br0', 'up']);
    inNs('ip', ['link', 'set', `mbb${id}`, 'master', 'br0']);
    inNs('ip', ['link', 'set', `mbb${id}`, 'up']);
    run('ip', ['addr', 'add', `${prefix}.1/24`, 'dev', hostIf]);
    run('ip', ['link', 'set', hostIf, 'up']);
  });
  const bridge: BridgeNetwork & { nextHost: number } = {
    name,
    prefix,
    hostIp: `${prefix}.1`,
    nextHost: 10,
    async destroy() {
      removeNamespaceSync(name, hostIf, []);
      live.delete(name);
    },
  };
  return bridge;
}

/**
 * Creates a namespace `meshd-t-<pid>-<random>` with lo up and a veth link: by default a /30
 * to the root namespace in 10.213.0.0/16 (host side .1, namespace side .2, default route via
 * the host); with `bridge`, a port of that bridge and the next free address of its /24.
 */
export async function createNetns(opts: { bridge?: BridgeNetwork } = {}): Promise<Netns> {
  installExitHook();
  sweepStale();
  const id = crypto.randomBytes(3).toString('hex');
  const name = `${NS_PREFIX}${process.pid}-${id}`;
  const hostIf = `mth${id}`;
  const nsIf = `mtn${id}`;
  if (opts.bridge) return joinBridge(opts.bridge as BridgeNetwork & { nextHost: number }, name, hostIf, nsIf);
  let base = '';
  for (let attempt = 0; ; attempt++) {
    const third = crypto.randomInt(0, 256);
    const fourth = crypto.randomInt(0, 64) * 4;
    base = `10.213.${third}.`;
    if (!addressInUse(`${base}${fourth + 1}`) && !addressInUse(`${base}${fourth}/30`)) {
      base = `${base}${fourth}`;
      break;
    }
    if (attempt > 20) throw new Error('no free /30 in 10.213.0.0/16');
  }
  const [a, b, c, d] = base.split('.').map(Number) as [number, number, number, number];
  const hostIp = `${a}.${b}.${c}.${d + 1}`;
  const nsIp = `${a}.${b}.${c}.${d + 2}`;
  const entry = addNamespaceWithVeth(name, hostIf, nsIf, (inNs) => {
    run('ip', ['addr', 'add', `${hostIp}/30`, 'dev', hostIf]);
    run('ip', ['link', 'set', hostIf, 'up']);
    inNs('ip', ['addr', 'add', `${nsIp}/30`, 'dev', nsIf]);
    inNs('ip', ['link', 'set', nsIf, 'up']);
    inNs('ip', ['route', 'add', 'default', 'via', hostIp]);
  });
  return netnsHandle(entry, hostIp, nsIp, nsIf);
}

/** A namespace on a bridge network: the veth's outer end is a port of the bridge. */
function joinBridge(bridge: BridgeNetwork & { nextHost: number }, name: string, hostIf: string, nsIf: string): Netns {
  if (bridge.nextHost > 250) throw new Error(`bridge network ${bridge.name} is full`);
  const nsIp = `${bridge.prefix}.${bridge.nextHost++}`;
  const entry = addNamespaceWithVeth(name, hostIf, nsIf, (inNs) => {
    run('ip', ['link', 'set', hostIf, 'netns', bridge.name]);
    run('ip', ['netns', 'exec', bridge.name, 'ip', 'link', 'set', hostIf, 'master', 'br0']);
    run('ip', ['netns', 'exec', bridge.name, 'ip', 'link', 'set', hostIf, 'up']);
    inNs('ip', ['addr', 'add', `${nsIp}/24`, 'dev', nsIf]);
    inNs('ip', ['link', 'set', nsIf, 'up']);
  });
  return netnsHandle(entry, bridge.hostIp, nsIp, nsIf);
}

/**
 * Adds namespace `name` with lo up and a veth pair (`hostIf` outside, `nsIf` inside), lets
 * `wire` place the outer end and the addresses, and gives it its /etc/netns folder. If a step
 * fails, whatever was made is removed.
 */
function addNamespaceWithVeth(
  name: string,
  hostIf: string,
  nsIf: string,
  wire: (inNs: (cmd: string, args: string[]) => string) => void,
): { name: string; hostIf: string; pids: Set<number> } {
  const entry = { name, hostIf, pids: new Set<number>() };
  live.set(name, entry);
  const inNs = (cmd: string, args: string[]) => run('ip', ['netns', 'exec', name, cmd, ...args]);
  try {
    run('ip', ['netns', 'add', name]);
    inNs('ip', ['link', 'set', 'lo', 'up']);
    run('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
    run('ip', ['link', 'set', nsIf, 'netns', name]);
    wire(inNs);
    fs.mkdirSync(path.join('/etc/netns', name), { recursive: true, mode: 0o755 });
  } catch (err) {
    removeNamespaceSync(name, hostIf, []);
    live.delete(name);
    throw err;
  }
  return entry;
}

function netnsHandle(
  entry: { name: string; hostIf: string; pids: Set<number> },
  hostIp: string,
  nsIp: string,
  nsIf: string,
): Netns {
  const { name, hostIf } = entry;
  const inNs = (cmd: string, args: string[]) => run('ip', ['netns', 'exec', name, cmd, ...args]);
  const netns: Netns = {
    name,
    hostIf,
    hostIp,
    nsIf,
    nsIp,
    exec: inNs,
    setHosts(entries) {
      const lines = [
        '127.0.0.1 localhost',
        '::1 localhost ip6-localhost ip6-loopback',
        ...Object.entries(entries).map(([host, ip]) => `${ip} ${host}`),
      ];
      writeReadable(path.join('/etc/netns', name), 'hosts', `${lines.join('\n')}\n`);
    },
    installAppMeshRules(rules = {}) {
      const ingressPort = rules.ingressPort ?? APPMESH_INGRESS_PORT;
      const egressPort = rules.egressPort ?? APPMESH_EGRESS_PORT;
      const ipt = (...args: string[]) => inNs('iptables', ['-t', 'nat', ...args]);
      // Ingress: APPMESH_INGRESS from PREROUTING for traffic that does not come from this host.
      ipt('-N', 'APPMESH_INGRESS');
      const appPorts = rules.appPorts ?? [];
      if (appPorts.length > 0) {
        ipt(
          '-A',
          'APPMESH_INGRESS',
          '-p',
          'tcp',
          '-m',
          'multiport',
          '--dports',
          appPorts.join(','),
          '-j',
          'REDIRECT',
          '--to-port',
          String(ingressPort),
        );
        ipt('-A', 'PREROUTING', '-p', 'tcp', '-m', 'addrtype', '!', '--src-type', 'LOCAL', '-j', 'APPMESH_INGRESS');
      }
      if (rules.egress === false) return;
      // Egress: APPMESH_EGRESS from OUTPUT for traffic to other hosts; the proxy's own
      // traffic and the ignored ports/IPs return, every other TCP connection goes to Envoy.
      ipt('-N', 'APPMESH_EGRESS');
      ipt('-A', 'APPMESH_EGRESS', '-m', 'owner', '--uid-owner', String(rules.ignoreUid ?? PROXY_UID), '-j', 'RETURN');
      ipt('-A', 'APPMESH_EGRESS', '-m', 'owner', '--gid-owner', String(rules.ignoreGid ?? PROXY_GID), '-j', 'RETURN');
      const ignoredPorts = [...new Set([...APPMESH_ALWAYS_IGNORED_PORTS, ...(rules.egressIgnoredPorts ?? [])])];
      ipt('-A', 'APPMESH_EGRESS', '-p', 'tcp', '-m', 'multiport', '--dports', ignoredPorts.join(','), '-j', 'RETURN');
      ipt(
        '-A',
        'APPMESH_EGRESS',
        '-p',
        'tcp',
        '-d',
        (rules.egressIgnoredIps ?? APPMESH_EGRESS_IGNORED_IPS).join(','),
        '-j',
        'RETURN',
      );
      ipt('-A', 'APPMESH_EGRESS', '-p', 'tcp', '-j', 'REDIRECT', '--to-port', String(egressPort));
      ipt('-A', 'OUTPUT', '-p', 'tcp', '-m', 'addrtype', '!', '--dst-type', 'LOCAL', '-j', 'APPMESH_EGRESS');
    },
    natRules: () => inNs('iptables-save', ['-t', 'nat']),
    spawn(cmd, args, opts = {}) {
      const prefix = opts.asProxyUser
        ? ['setpriv', '--reuid', String(PROXY_UID), '--regid', String(PROXY_GID), '--clear-groups']
        : [];
      // `ip netns exec` and setpriv both exec, so the child's pid is the command's own.
      const child = spawn('ip', ['netns', 'exec', name, ...prefix, cmd, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: opts.env ?? process.env,
      });
      if (child.pid) entry.pids.add(child.pid);
      let out = '';
      const waiters: Array<() => void> = [];
      const onData = (d: Buffer) => {
        out += d.toString();
        waiters.forEach((w) => w());
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', () => {
        if (child.pid) entry.pids.delete(child.pid);
        waiters.forEach((w) => w());
      });
      return {
        child,
        output: () => out,
        waitForOutput: (text, timeoutMs = 15000) =>
          new Promise<void>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`timed out waiting for '${text}' from ${cmd}; output:\n${out}`)),
              timeoutMs,
            );
            const check = () => {
              if (out.includes(text)) {
                clearTimeout(timer);
                resolve();
              } else if (child.exitCode !== null || child.signalCode !== null) {
                clearTimeout(timer);
                reject(
                  new Error(
                    `${cmd} exited (${child.exitCode ?? child.signalCode}) before printing '${text}'; output:\n${out}`,
                  ),
                );
              }
            };
            waiters.push(check);
            check();
          }),
        stop: () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
            child.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      };
    },
    async destroy() {
      // SIGTERM first so Envoy and the apps exit cleanly; removeNamespaceSync SIGKILLs the rest.
      await Promise.all(
        [...entry.pids].map(
          (pid) =>
            new Promise<void>((resolve) => {
              try {
                process.kill(pid, 'SIGTERM');
              } catch {
                return resolve();
              }
              const deadline = Date.now() + 3000;
              const poll = () => {
                try {
                  process.kill(pid, 0);
                } catch {
                  return resolve();
                }
                if (Date.now() > deadline) return resolve();
                setTimeout(poll, 20);
              };
              poll();
            }),
        ),
      );
      removeNamespaceSync(name, hostIf, entry.pids);
      live.delete(name);
    },
  };
  return netns;
}
