// The examples' docker-compose files, without Docker: each loads with compose-go (what Docker
// Compose loads files with), every file it names exists, every Envoy container's variables
// render a bootstrap that a real Envoy accepts for a node its mesh defines; and each topology
// runs as local processes in network namespaces (test/helpers/compose.ts) doing what its
// README's walkthrough says.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { parse } from 'yaml';
import { loadMesh } from '../../src/load/mesh-source';
import { parseNodeId } from '../../src/model/node-id';
import { INPUTS } from '../../scripts/build-if-stale';
import {
  builtImage,
  composeCheckBinary,
  hostPathMapper,
  loadCompose,
  readDockerfile,
  runCompose,
  type ComposeProject,
  type ComposeService,
  type RunningCompose,
} from '../helpers/compose';
import { describeIfAvailable, describeWithEnvoy, envoyValidate } from '../helpers/envoy';
import { describeWithNetns, removeReadableTmpDirs } from '../helpers/netns';
import { tmpDir, waitFor } from '../helpers/processes';

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLES = path.join(ROOT, 'examples');
const ENVOY_VERSION = /^ENVOY_VERSION=(\S+)$/m.exec(
  fs.readFileSync(path.join(ROOT, 'scripts/install-envoy'), 'utf8'),
)![1]!;

/** Every compose file of the examples, with the variable sets its README tells to use. */
const COMPOSE_FILES: Array<{ label: string; file: string; env: Record<string, string> }> = [
  { label: 'colorapp', file: 'colorapp/docker-compose.yaml', env: {} },
  { label: 'colorapp-transparent', file: 'colorapp-transparent/docker-compose.yaml', env: {} },
  { label: 'colorapp-migration (CLI JSON)', file: 'colorapp-migration/docker-compose.yaml', env: {} },
  {
    label: 'colorapp-migration (Kubernetes manifests)',
    file: 'colorapp-migration/docker-compose.yaml',
    env: { MESH_DIALECT: 'mesh-k8s' },
  },
];

function project(file: string, env: Record<string, string> = {}): ComposeProject {
  const loaded = loadCompose(path.join(EXAMPLES, file), env);
  if ('error' in loaded) throw new Error(loaded.error);
  return loaded.project;
}

const isEnvoy = (svc: ComposeService) => svc.image?.startsWith('envoyproxy/envoy:') ?? false;

/** Where a container path comes from on this machine, through the service's bind mounts. */
function hostPath(svc: ComposeService, containerPath: string): string | undefined {
  for (const v of svc.volumes ?? []) {
    if (containerPath === v.target) return v.source;
    if (containerPath.startsWith(`${v.target}/`)) return path.join(v.source, containerPath.slice(v.target.length + 1));
  }
  return undefined;
}

/** The mesh the project's meshd serves: MESHD_MESH (the image's default /mesh) through its mounts. */
function meshPaths(p: ComposeProject): string[] {
  const meshd = Object.values(p.services).find((s) => s.build && path.resolve(s.build.context) === ROOT)!;
  const mesh = meshd.environment?.MESHD_MESH ?? builtImage(meshd)!.env.MESHD_MESH!;
  return mesh.split(',').map((m) => hostPath(meshd, m) ?? m);
}

/** Runs render-bootstrap.sh with a service's variables only, as the entrypoint does in the image. */
function renderInImage(svc: ComposeService): { status: number | null; stdout: string; stderr: string } {
  const script = hostPath(svc, svc.entrypoint![0]!.replace(/entrypoint\.sh$/, 'render-bootstrap.sh'))!;
  const env = Object.fromEntries(
    Object.entries(svc.environment ?? {}).filter((e): e is [string, string] => e[1] !== null),
  );
  const r = spawnSync('/bin/sh', [script], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Why the compose checker cannot be built here (it needs Go and the Go module proxy), if it cannot. */
function composeCheckMissing(): string | undefined {
  try {
    composeCheckBinary();
    return undefined;
  } catch (err) {
    return `cannot build scripts/compose-check: ${((err as { stderr?: string }).stderr || (err as Error).message).trim()}`;
  }
}

describeIfAvailable(
  'the examples as docker-compose reads them',
  'the compose checker (Go)',
  composeCheckMissing(),
  () => {
    it.each(COMPOSE_FILES)('$label: loads, and every file it names exists', ({ file, env }) => {
      const p = project(file, env);
      for (const [name, svc] of Object.entries(p.services)) {
        for (const v of svc.volumes ?? [])
          expect({ service: name, source: v.source, exists: fs.existsSync(v.source) }).toEqual({
            service: name,
            source: v.source,
            exists: true,
          });
        const image = builtImage(svc);
        for (const c of image?.copies ?? []) {
          // Files a build stage makes (dist/, node_modules/) exist after `npm ci`, as in the build.
          expect({ service: name, copy: c.source, exists: fs.existsSync(c.source) }).toEqual({
            service: name,
            copy: c.source,
            exists: true,
          });
        }
        // A service others wait on to be healthy has a health check (its own or its image's).
        for (const [dep, { condition }] of Object.entries(svc.depends_on ?? {})) {
          if (condition !== 'service_healthy') continue;
          const target = p.services[dep]!;
          expect({
            dependency: dep,
            hasHealthCheck: Boolean(target.healthcheck?.test ?? builtImage(target)?.healthcheck),
          }).toEqual({ dependency: dep, hasHealthCheck: true });
        }
        if (isEnvoy(svc)) {
          // The image is the Envoy the tests run; the entrypoint is ours, mounted.
          expect(svc.image).toBe(`envoyproxy/envoy:v${ENVOY_VERSION}`);
          expect(hostPath(svc, svc.entrypoint![0]!)).toBe(path.join(ROOT, 'envoy-bootstrap/entrypoint.sh'));
        }
      }
    });

    it.each(COMPOSE_FILES)(
      "$label: every Envoy's variables render a bootstrap for a node of the example's mesh",
      ({ file, env }) => {
        const p = project(file, env);
        const loaded = loadMesh(meshPaths(p));
        expect(loaded.problems).toEqual([]);
        const nodes = new Set(
          loaded.ok
            ? [
                ...loaded.model.virtualNodes().map((n) => `${n.mesh}/virtualNode/${n.name}`),
                ...loaded.model.virtualGateways().map((g) => `${g.mesh}/virtualGateway/${g.name}`),
              ]
            : [],
        );
        const envoys = Object.entries(p.services).filter(([, s]) => isEnvoy(s));
        expect(envoys.length).toBeGreaterThan(0);
        for (const [name, svc] of envoys) {
          const rendered = renderInImage(svc);
          expect({
            service: name,
            status: rendered.status,
            stderr: rendered.stderr
              .split('\n')
              .filter((l) => !l.includes(': ignoring '))
              .join('\n'),
          }).toEqual({ service: name, status: 0, stderr: '' });
          const id = parseNodeId(parse(rendered.stdout).node.id as string);
          if ('error' in id) throw new Error(id.error);
          expect({
            service: name,
            node: `${id.mesh}/${id.type}/${id.name}`,
            inMesh: nodes.has(`${id.mesh}/${id.type}/${id.name}`),
          }).toMatchObject({ inMesh: true });
        }
      },
    );

    it("refuses a compose file with a broken reference, in compose-go's words", () => {
      const dir = tmpDir('bad-compose-');
      fs.writeFileSync(
        path.join(dir, 'docker-compose.yaml'),
        'services:\n  app:\n    image: node:20\n    network_mode: service:nope\n',
      );
      const loaded = loadCompose(path.join(dir, 'docker-compose.yaml'));
      expect('error' in loaded && loaded.error).toMatch(/nope/);
    });

    it("meshd's Dockerfile copies into its build stage everything `npm run build` reads", () => {
      // npm ci runs prepare, which builds: a build input left out of the image's build stage fails `docker build`.
      const text = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
      const buildStage = text.split(/^FROM /m)[1]!;
      const copied = [...buildStage.matchAll(/^COPY\s+(?!--from)(.+)$/gm)].flatMap((m) => {
        const parts = m[1]!.trim().split(/\s+/);
        const dest = parts.pop()!;
        // `COPY a b dir/` puts a and b in dir/ under their own names; `COPY a b` copies a to b.
        return parts.map((src) => (dest.endsWith('/') ? path.posix.join(dest, path.posix.basename(src)) : dest));
      });
      const missing = ['src', ...INPUTS].filter(
        (input) => !copied.some((c) => c === input || input.startsWith(`${c}/`) || c.startsWith(`${input}/`)),
      );
      expect(missing).toEqual([]);
    });

    it("meshd's Dockerfile: multi-stage, an unprivileged user, a health check, an entrypoint it copies", () => {
      const image = readDockerfile(path.join(ROOT, 'Dockerfile'));
      expect(image.stages).toBeGreaterThanOrEqual(2);
      expect(image.user).toBeDefined();
      expect(['root', '0']).not.toContain(image.user);
      expect(image.healthcheck?.[0]).toBe('node');
      const entry = hostPathMapper(image.copies)(image.entrypoint[1]!);
      expect(entry).toBe(path.join(ROOT, 'bin/meshd'));
      // The Cloud Map registry is kept in a volume (registrations
      // outlive the container), not in the read-only app folder.
      const state = image.env.MESHD_CLOUD_MAP_STATE ?? '';
      expect(image.volumes.some((v) => state.startsWith(`${v}/`))).toBe(true);
      // .dockerignore must not hide what the Dockerfile copies from the context.
      const ignored = fs
        .readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('#'));
      for (const c of image.copies.filter(
        (c) => c.source.startsWith(ROOT) && !/\/(dist|node_modules)$/.test(c.source),
      )) {
        expect({
          copy: path.relative(ROOT, c.source),
          ignored: ignored.includes(path.relative(ROOT, c.source).split('/')[0]!),
        }).toMatchObject({ ignored: false });
      }
    });
  },
);

describeWithEnvoy('the examples with a real Envoy', (envoyBin) => {
  it.each(COMPOSE_FILES)("$label: envoy --mode validate accepts every Envoy container's bootstrap", ({ file, env }) => {
    for (const [, svc] of Object.entries(project(file, env).services).filter(([, s]) => isEnvoy(s))) {
      const result = envoyValidate(envoyBin, renderInImage(svc).stdout);
      expect(result.output).toContain('OK');
    }
  });
});

interface Answer {
  status: number;
  body: string;
}

function get(host: string, port: number, pathName: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: pathName, agent: false, timeout: 20_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

/**
 * Where the walkthrough asks for a color: the front app (`curl
 * localhost:9080/color`) or the gateway (`curl localhost:8000/color`).
 */
const FRONT = { service: 'front', port: 9080 };
const GATEWAY = { service: 'gateway', port: 8000 };

/** The colors `n` calls of the walkthrough's `curl localhost:<port>/color` answer. */
async function colors(running: RunningCompose, n: number, via = FRONT): Promise<Record<string, number>> {
  const tally: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await get(running.ip(via.service), via.port, '/color').catch((e: Error) => ({
      status: 0,
      body: e.message,
    }));
    const key = r.status === 200 ? r.body : `HTTP ${r.status}: ${r.body}`;
    tally[key] = (tally[key] ?? 0) + 1;
  }
  return tally;
}

/** Waits until 20 calls in a row all answer `color`. */
async function allAnswer(running: RunningCompose, color: string, what: string, via = FRONT): Promise<void> {
  await waitFor(
    what,
    async () => {
      const t = await colors(running, 20, via);
      if (t[color] === 20) return true;
      throw new Error(JSON.stringify(t));
    },
    60_000,
    200,
  );
}

/**
 * Runs an example with its mesh folder served from a copy (so the test can edit it as the
 * walkthrough does); everything else is the compose file as it is.
 */
async function runExample(
  file: string,
  env: Record<string, string>,
  envoyBin: string,
): Promise<{ running: RunningCompose; mesh: string }> {
  const p = project(file, env);
  const meshd = Object.values(p.services).find((s) => s.build && path.resolve(s.build.context) === ROOT)!;
  const mount = meshd.volumes!.find((v) => v.target === '/mesh')!;
  const copy = path.join(tmpDir('example-mesh-'), path.basename(mount.source));
  fs.cpSync(mount.source, copy, { recursive: true });
  mount.source = copy;
  return { running: await runCompose(p, envoyBin), mesh: copy };
}

function replaceIn(file: string, from: RegExp, to: string): void {
  const text = fs.readFileSync(file, 'utf8');
  if (!from.test(text)) throw new Error(`${file} has no ${from}`);
  fs.writeFileSync(file, text.replace(from, to));
}

describeWithNetns('the examples run as local processes', (envoyBin) => {
  jest.setTimeout(240_000);
  let running: RunningCompose | undefined;
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });
  afterAll(() => removeReadableTmpDirs());

  const failWithLogs = async (body: () => Promise<void>) => {
    try {
      await body();
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${running?.allLogs() ?? ''}`);
    }
  };

  it('colorapp: all blue, then a canary, then all green by editing color-route.yaml, through front and through the gateway alike; a broken file changes nothing', async () => {
    const { running: r, mesh } = await runExample('colorapp/docker-compose.yaml', {}, envoyBin);
    running = r;
    await failWithLogs(async () => {
      await allAnswer(r, 'blue', 'every answer blue at first');
      await allAnswer(r, 'blue', 'every answer through the gateway blue at first', GATEWAY);
      expect(r.healthy('front')).toBe(true);
      expect(r.healthy('gateway')).toBe(true);
      expect(r.healthy('meshd')).toBe(true);
      const route = path.join(mesh, 'color-route.yaml');
      replaceIn(route, /color-blue, weight: 100/, 'color-blue, weight: 50');
      replaceIn(route, /color-green, weight: 0/, 'color-green, weight: 50');
      for (const via of [FRONT, GATEWAY]) {
        await waitFor(
          `both colors at 50/50 through ${via.service}`,
          async () => {
            const t = await colors(r, 100, via);
            return (t.blue ?? 0) >= 20 && (t.green ?? 0) >= 20 && t.blue! + t.green! === 100 ? true : undefined;
          },
          60_000,
          200,
        );
      }
      replaceIn(route, /color-blue, weight: 50/, 'color-blue, weight: 0');
      replaceIn(route, /color-green, weight: 50/, 'color-green, weight: 100');
      await allAnswer(r, 'green', 'every answer green after 0/100');
      await allAnswer(r, 'green', 'every answer through the gateway green after 0/100', GATEWAY);
      fs.writeFileSync(route, fs.readFileSync(route, 'utf8').replace('weightedTargets:', 'weightedTargets: [oops'));
      await waitFor(
        'meshd to reject the broken file',
        () =>
          r.logs('meshd').includes('color-route.yaml:') && r.logs('meshd').includes('the last good mesh keeps serving')
            ? true
            : undefined,
        20_000,
      );
      expect(await colors(r, 20)).toEqual({ green: 20 });
      expect(await colors(r, 20, GATEWAY)).toEqual({ green: 20 });
      // The walkthrough's `meshd status`: the admin API on port 18001 of meshd's container.
      const proxies = JSON.parse((await get(r.ip('meshd'), 18001, '/v1/proxies')).body) as Array<{
        nodeId: string;
        types: Record<string, { state: string }>;
      }>;
      for (const nodeId of ['mesh/colorapp/virtualNode/front', 'mesh/colorapp/virtualGateway/ingress-gw']) {
        const proxy = proxies.find((p) => p.nodeId.endsWith(nodeId));
        expect(proxy && nodeId).toBe(nodeId);
        const states = Object.values(proxy!.types).map((t) => t.state);
        expect(states.length).toBeGreaterThanOrEqual(3); // listeners, routes, clusters (no EDS here)
        expect(new Set(states)).toEqual(new Set(['SYNCED']));
      }
    });
  });

  it('colorapp-transparent: apps with no proxy settings; every call goes through both sidecars and follows the mesh', async () => {
    const { running: r, mesh } = await runExample('colorapp-transparent/docker-compose.yaml', {}, envoyBin);
    running = r;
    await failWithLogs(async () => {
      await allAnswer(r, 'blue', 'every answer blue at first');
      // Inbound capture: blue's own Envoy served the calls (its ingress cluster to the app).
      const stats = (
        await get(r.ip('color-blue'), 9901, '/stats?filter=cds_ingress_colorapp_color-blue_http_9081.upstream_rq_total')
      ).body;
      expect(Number(/upstream_rq_total: (\d+)/.exec(stats)?.[1] ?? 0)).toBeGreaterThanOrEqual(20);
      // Outbound capture: front's Envoy routed them (its egress route to blue's cluster).
      const frontStats = (
        await get(r.ip('front'), 9901, '/stats?filter=cds_egress_colorapp_color-blue_http_9081.upstream_rq_total')
      ).body;
      expect(Number(/upstream_rq_total: (\d+)/.exec(frontStats)?.[1] ?? 0)).toBeGreaterThanOrEqual(20);
      replaceIn(path.join(mesh, 'color-route.yaml'), /color-blue, weight: 100/, 'color-blue, weight: 0');
      replaceIn(path.join(mesh, 'color-route.yaml'), /color-green, weight: 0/, 'color-green, weight: 100');
      await allAnswer(r, 'green', 'every answer green after 0/100');
      for (const task of ['front', 'color-blue', 'color-green'])
        expect({ task, healthy: r.healthy(task) }).toEqual({ task, healthy: true });
    });
  });

  it.each([
    [
      'CLI JSON',
      {},
      'route-color-split.json',
      /"virtualNode": "color-blue",\s*"weight": 100/,
      '"virtualNode": "color-blue", "weight": 0',
      /"virtualNode": "color-green",\s*"weight": 0/,
      '"virtualNode": "color-green", "weight": 100',
    ],
    [
      'Kubernetes manifests',
      { MESH_DIALECT: 'mesh-k8s' },
      'router.yaml',
      /name: color-blue\s*\n(\s*)weight: 100/,
      'name: color-blue\n$1weight: 0',
      /name: color-green\s*\n(\s*)weight: 0/,
      'name: color-green\n$1weight: 100',
    ],
  ] as const)(
    'colorapp-migration (%s): served as it is; App Mesh variables kept and read, X-Ray among them',
    async (_, env, file, blueFrom, blueTo, greenFrom, greenTo) => {
      const { running: r, mesh } = await runExample('colorapp-migration/docker-compose.yaml', { ...env }, envoyBin);
      running = r;
      await failWithLogs(async () => {
        await allAnswer(r, 'blue', 'every answer blue at first');
        // ENABLE_ENVOY_XRAY_TRACING is honoured now (an X-Ray tracer in the bootstrap), so nothing is ignored.
        expect(r.logs('front')).not.toContain('meshd bootstrap: ignoring');
        // ENABLE_ENVOY_STATS_TAGS: Envoy tags its stats with the mesh and the node.
        expect((await get(r.ip('front'), 9901, '/stats/prometheus')).body).toMatch(
          /appmesh_mesh="colorapp",appmesh_virtual_node="front"/,
        );
        replaceIn(path.join(mesh, file), blueFrom, blueTo);
        replaceIn(path.join(mesh, file), greenFrom, greenTo);
        await allAnswer(r, 'green', 'every answer green after 0/100');
      });
    },
  );
});
