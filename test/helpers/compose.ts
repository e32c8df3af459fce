// docker-compose files without Docker. `loadCompose` reads a file with compose-go (the loader
// Docker Compose itself uses; scripts/compose-check) into the normalized project `docker
// compose config` would print. `runCompose` runs that project's topology as local processes:
// one network namespace per service with a network of its own, joined by the services that
// say `network_mode: service:<it>`, all on one bridge, with /etc/hosts giving every service
// name and alias its address, started in depends_on order, waiting for health checks and
// init containers as Compose does. Containers become the same programs on this machine:
//   - an image built from one of our Dockerfiles runs its ENTRYPOINT/CMD/ENV, with the paths
//     its COPY lines put in the image mapped back to the repository;
//   - envoyproxy/envoy runs the service's entrypoint with the real Envoy on PATH as `envoy`,
//     as ENVOY_UID (uid 1337 for traffic capture) like the image's own entrypoint, and with
//     `--disable-hot-restart --base-id <n>` added (the processes share one IPC namespace);
//   - node:* runs `node` (this Node.js);
// and paths inside containers are mapped to the bind mounts' host folders.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  createBridgeNetwork,
  createNetns,
  proxyUserCopy,
  readableTmpDir,
  PROXY_UID,
  type BridgeNetwork,
  type Netns,
  type NetnsProcess,
} from './netns';
import { waitFor } from './processes';

const ROOT = path.resolve(__dirname, '../..');

export interface ComposeVolume {
  type: string;
  source: string;
  target: string;
  read_only?: boolean;
}

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  entrypoint?: string[] | null;
  command?: string[] | null;
  environment?: Record<string, string | null>;
  volumes?: ComposeVolume[];
  network_mode?: string;
  networks?: Record<string, { aliases?: string[] } | null>;
  depends_on?: Record<
    string,
    { condition: 'service_started' | 'service_healthy' | 'service_completed_successfully'; required?: boolean }
  >;
  healthcheck?: { test?: string[]; disable?: boolean };
  ports?: { target: number; published?: string }[];
  cap_add?: string[];
  user?: string;
}

export interface ComposeProject {
  name: string;
  services: Record<string, ComposeService>;
}

let checker: string | undefined;

/** scripts/compose-check, built on first use (scripts/build-compose-check). */
export function composeCheckBinary(): string {
  checker ??= execFileSync(path.join(ROOT, 'scripts/build-compose-check'), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
  return checker;
}

/** The project as Docker Compose reads it, or compose-go's error. Only PATH and `env` are in its environment. */
export function loadCompose(
  file: string,
  env: Record<string, string> = {},
): { project: ComposeProject } | { error: string } {
  const r = spawnSync(composeCheckBinary(), [file], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || `exit ${r.status}`).trim() };
  return { project: JSON.parse(r.stdout) as ComposeProject };
}

/** What a Dockerfile's last stage says about running it, and where its COPYs come from. */
export interface DockerImage {
  readonly dockerfile: string;
  readonly stages: number;
  readonly user?: string;
  readonly workdir: string;
  readonly env: Record<string, string>;
  readonly entrypoint: string[];
  readonly cmd: string[];
  readonly healthcheck?: string[];
  /** Container path → path in the build context (or in the repository, for files a build stage made). */
  readonly copies: Array<{ target: string; source: string }>;
  /** VOLUME folders: each container gets an empty folder of its own there. */
  readonly volumes: string[];
}

/**
 * Reads the instructions meshd's Dockerfiles use (FROM, WORKDIR,
 * ENV, COPY, USER, ENTRYPOINT, CMD, HEALTHCHECK, VOLUME).
 */
export function readDockerfile(dockerfile: string): DockerImage {
  const context = path.dirname(dockerfile);
  const text = fs.readFileSync(dockerfile, 'utf8').replace(/\\\n/g, ' ');
  const stageDirs = new Map<string, string>();
  let stages = 0;
  let image:
    | {
        user?: string;
        workdir: string;
        env: Record<string, string>;
        entrypoint: string[];
        cmd: string[];
        healthcheck?: string[];
        copies: DockerImage['copies'];
        volumes: string[];
      }
    | undefined;
  let stageName = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [instruction = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    switch (instruction.toUpperCase()) {
      case 'FROM':
        stages++;
        stageName = /\sAS\s+(\S+)/i.exec(args)?.[1] ?? String(stages);
        image = { workdir: '/', env: {}, entrypoint: [], cmd: [], copies: [], volumes: [] };
        break;
      case 'WORKDIR':
        image!.workdir = path.posix.resolve(image!.workdir, args);
        stageDirs.set(stageName, image!.workdir);
        break;
      case 'ENV':
        for (const m of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) image!.env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
        break;
      case 'USER':
        image!.user = args;
        break;
      case 'VOLUME':
        image!.volumes.push(...(args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/)));
        break;
      case 'ENTRYPOINT':
        image!.entrypoint = JSON.parse(args) as string[];
        break;
      case 'CMD':
        image!.cmd = JSON.parse(args) as string[];
        break;
      case 'HEALTHCHECK': {
        const cmd = /\bCMD\s+(\[.*\])\s*$/.exec(args);
        if (cmd) image!.healthcheck = JSON.parse(cmd[1]!) as string[];
        break;
      }
      case 'COPY': {
        const from = /--from=(\S+)/.exec(args)?.[1];
        const parts = args.split(/\s+/).filter((a) => !a.startsWith('--'));
        const dest = parts.pop()!;
        const intoFolder = dest.endsWith('/') || dest === '.' || parts.length > 1;
        const target = path.posix.resolve(image!.workdir, dest);
        for (const source of parts) {
          // A file from a build stage: the stage worked on a copy of the repository (its WORKDIR).
          const hostSource = from
            ? path.join(ROOT, path.posix.relative(stageDirs.get(from) ?? '/', source))
            : path.join(context, source);
          const isFolder = from
            ? !path.extname(source)
            : fs.existsSync(hostSource) && fs.statSync(hostSource).isDirectory();
          // A folder's contents go into the target; a file goes to it, or into it.
          image!.copies.push({
            target: !isFolder && intoFolder ? path.posix.join(target, path.basename(source)) : target,
            source: hostSource,
          });
        }
        break;
      }
      default:
        break;
    }
  }
  if (!image) throw new Error(`${dockerfile}: no FROM`);
  return { dockerfile, stages, ...image };
}

/** Maps a path inside the container to this machine: longest matching mount or COPY wins. */
export function hostPathMapper(mounts: Array<{ target: string; source: string }>): (p: string) => string {
  const sorted = [...mounts].sort((a, b) => b.target.length - a.target.length);
  return (p) => {
    for (const m of sorted) {
      if (p === m.target) return m.source;
      if (p.startsWith(`${m.target.replace(/\/$/, '')}/`))
        return path.join(m.source, p.slice(m.target.replace(/\/$/, '').length + 1));
    }
    return p;
  };
}

export interface RunningCompose {
  /** The address of a service's network namespace (its own, or the one it joined). */
  ip(service: string): string;
  logs(service: string): string;
  allLogs(): string;
  /** Runs a service's health check now (exit 0 is healthy). */
  healthy(service: string): boolean;
  stop(): Promise<void>;
}

interface Started {
  proc: NetnsProcess;
  ns: Netns;
  image?: DockerImage;
}

/** A service's image, when it is built from a Dockerfile of ours. */
export function builtImage(svc: ComposeService): DockerImage | undefined {
  if (!svc.build) return undefined;
  return readDockerfile(path.join(svc.build.context, svc.build.dockerfile ?? 'Dockerfile'));
}

/** Starts every service of the project; resolves once all are started (and healthy where others wait for it). */
export async function runCompose(project: ComposeProject, envoyBin: string): Promise<RunningCompose> {
  const bridge: BridgeNetwork = await createBridgeNetwork();
  const namespaces = new Map<string, Netns>();
  const started = new Map<string, Started>();
  const exited = new Map<string, number | null>();
  const order = startOrder(project);
  const ownerOf = (name: string): string => {
    const mode = project.services[name]!.network_mode;
    return mode?.startsWith('service:') ? ownerOf(mode.slice('service:'.length)) : name;
  };
  const hostsEntries: Record<string, string> = {};
  const envoyPathDir = readableTmpDir('envoy-on-path-');
  fs.symlinkSync(proxyUserCopy(envoyBin), path.join(envoyPathDir, 'envoy'));

  const stopAll = async () => {
    for (const name of [...order].reverse()) await started.get(name)?.proc.stop();
    for (const ns of namespaces.values()) await ns.destroy();
    await bridge.destroy();
  };

  /** Runs a service's health check (the compose file's, else its image's) in its namespace; exit 0 is healthy. */
  const healthy = (name: string, mustHaveOne = false): boolean => {
    const svc = project.services[name]!;
    const s = started.get(name);
    const test = svc.healthcheck?.test ?? (s?.image?.healthcheck ? ['CMD', ...s.image.healthcheck] : undefined);
    if (!test && mustHaveOne) throw new Error(`${name} has no health check`);
    if (!s || !test || svc.healthcheck?.disable) return false;
    const [kind, ...rest] = test;
    const argv = kind === 'CMD-SHELL' ? ['sh', '-c', rest.join(' ')] : rest;
    const program = argv[0] === 'node' ? process.execPath : argv[0]!;
    const env = { ...process.env, ...serviceEnv(svc, s.image, mapperFor(svc.volumes ?? [], s.image)) };
    return (
      spawnSync('ip', ['netns', 'exec', s.ns.name, program, ...argv.slice(1)], {
        env,
        stdio: 'ignore',
        timeout: 10_000,
      }).status === 0
    );
  };

  try {
    for (const name of order) {
      if (ownerOf(name) !== name) continue;
      const ns = await createNetns({ bridge });
      namespaces.set(name, ns);
      for (const alias of [
        name,
        ...Object.values(project.services[name]!.networks ?? {}).flatMap((n) => n?.aliases ?? []),
      ])
        hostsEntries[alias] = ns.nsIp;
    }
    for (const ns of namespaces.values()) ns.setHosts(hostsEntries);

    for (const name of order) {
      const svc = project.services[name]!;
      for (const [dep, { condition }] of Object.entries(svc.depends_on ?? {})) {
        if (condition === 'service_healthy')
          await waitFor(
            `${dep} to be healthy (for ${name})`,
            () => (healthy(dep) ? true : exitedEarly(dep)),
            45_000,
            250,
          );
        if (condition === 'service_completed_successfully') {
          await waitFor(`${dep} to complete (for ${name})`, () => (exited.has(dep) ? true : undefined), 45_000, 50);
          if (exited.get(dep) !== 0)
            throw new Error(
              `${dep} exited ${exited.get(dep)}, so ${name} does not start:\n${started.get(dep)?.proc.output()}`,
            );
        }
      }
      const s = startService(name, svc, namespaces.get(ownerOf(name))!, envoyPathDir);
      s.proc.child.once('exit', (code) => exited.set(name, code));
      started.set(name, s);
    }
  } catch (err) {
    const logs = [...started.entries()].map(([n, s]) => `--- ${n} ---\n${s.proc.output().slice(-3000)}`).join('\n');
    await stopAll();
    throw new Error(`${(err as Error).message}\n${logs}`);
  }

  function exitedEarly(name: string): undefined {
    if (exited.has(name)) throw new Error(`${name} exited (${exited.get(name)}):\n${started.get(name)?.proc.output()}`);
    return undefined;
  }

  return {
    ip: (name) => namespaces.get(ownerOf(name))!.nsIp,
    logs: (name) => started.get(name)?.proc.output() ?? '',
    allLogs: () => [...started.entries()].map(([n, s]) => `--- ${n} ---\n${s.proc.output().slice(-4000)}`).join('\n'),
    healthy: (name) => healthy(name, true),
    stop: stopAll,
  };
}

/** Services in an order Compose could start them: dependencies (and network owners) first. */
function startOrder(project: ComposeProject): string[] {
  const order: string[] = [];
  const visit = (name: string, trail: string[]) => {
    if (order.includes(name)) return;
    if (trail.includes(name)) throw new Error(`dependency cycle: ${[...trail, name].join(' → ')}`);
    const svc = project.services[name];
    if (!svc) throw new Error(`no service ${name}`);
    const deps = Object.keys(svc.depends_on ?? {});
    if (svc.network_mode?.startsWith('service:')) deps.push(svc.network_mode.slice('service:'.length));
    for (const dep of deps) visit(dep, [...trail, name]);
    order.push(name);
  };
  for (const name of Object.keys(project.services).sort()) visit(name, []);
  return order;
}

/** The container's variables (image ENV, then the service's), paths mapped to this machine by `toHost`. */
function serviceEnv(
  svc: ComposeService,
  image: DockerImage | undefined,
  toHost: (p: string) => string,
): Record<string, string> {
  const env: Record<string, string> = { ...(image?.env ?? {}) };
  for (const [k, v] of Object.entries(svc.environment ?? {})) if (v !== null) env[k] = v;
  for (const k of Object.keys(env)) if (env[k]!.startsWith('/')) env[k] = env[k]!.split(',').map(toHost).join(',');
  return env;
}

/** A service's mounts, its image's COPYs and a fresh folder per VOLUME, as a container-path → host-path mapper. */
function mapperFor(
  mounts: Array<{ target: string; source: string }>,
  image: DockerImage | undefined,
): (p: string) => string {
  const volumes = (image?.volumes ?? []).map((target) => ({ target, source: readableTmpDir('volume-') }));
  return hostPathMapper([...mounts, ...volumes, ...(image?.copies ?? [])]);
}

function startService(name: string, svc: ComposeService, ns: Netns, envoyPathDir: string): Started {
  const image = builtImage(svc);
  const isEnvoy = svc.image?.startsWith('envoyproxy/envoy:') ?? false;
  const declared = svc.environment ?? {};
  const asProxyUser =
    isEnvoy && declared.ENVOY_UID !== undefined && declared.ENVOY_UID !== null && declared.ENVOY_UID !== '0';
  if (asProxyUser && declared.ENVOY_UID !== String(PROXY_UID))
    throw new Error(`${name}: only ENVOY_UID ${PROXY_UID} (or none) is run here`);
  // Each container has its own /tmp; the proxy user must be able to read every mounted file.
  const tmp = readableTmpDir(`${name}-tmp-`);
  if (asProxyUser) fs.chownSync(tmp, PROXY_UID, PROXY_UID);
  const mounts = (svc.volumes ?? []).map((v) => ({
    target: v.target,
    source: asProxyUser ? readableCopy(v.source) : v.source,
  }));
  const toHost = mapperFor(mounts, image);
  const argv = [
    ...(svc.entrypoint ?? image?.entrypoint ?? []),
    ...(svc.command ?? (svc.entrypoint ? [] : (image?.cmd ?? []))),
  ].map(toHost);
  if (isEnvoy) argv.push('--disable-hot-restart', '--base-id', String(Math.floor(Math.random() * 1e6)));
  if (argv.length === 0) throw new Error(`${name}: nothing to run`);
  const program = argv[0] === 'node' ? process.execPath : argv[0]!;
  const fullEnv: NodeJS.ProcessEnv = {
    PATH: `${isEnvoy ? `${envoyPathDir}:` : ''}${process.env.PATH}`,
    HOME: tmp,
    TMPDIR: tmp,
    ...serviceEnv(svc, image, toHost),
  };
  const proc = ns.spawn(program, argv.slice(1), { asProxyUser, env: fullEnv });
  return { proc, ns, image };
}

/** A copy of a mounted folder or file that the proxy user can read (see proxyUserCopy). */
function readableCopy(source: string): string {
  const dir = readableTmpDir('mount-');
  const target = path.join(dir, path.basename(source));
  fs.cpSync(source, target, { recursive: true });
  execFileSync('chmod', ['-R', 'a+rX', dir]);
  return target;
}
