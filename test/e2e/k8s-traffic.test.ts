// Traffic through real Envoys fed by `meshd serve --kubernetes` from a real kube-apiserver, meshd running
// as the least-privileged user its printed RBAC makes (test/helpers/kube-meshd.ts):
//
// 1. Live edits: a `kubectl patch` of a VirtualRouter's route weights moves traffic from blue to green and
//    back; the push latency (patch returned → first request answered by the new color) is printed, beside
//    the same for an edit of the same manifests as a mesh FILE with plain `meshd serve --mesh`.
// 2. Resilience: the API server restarting during a steady request loop fails no request and changes
//    nothing Envoy was given; a weight change right after it is served (the informers resume, and say
//    so in meshd's log); with the API server down, meshd stays ready and keeps its configuration.
// 3. EndpointSlices (--kubernetes-endpoints): the ready addresses of the pods a VirtualNode selects are
//    EDS members of its cluster in a caller's Envoy (admin /clusters); an endpoint deleted or not ready
//    leaves it. The delay from the API call to Envoy seeing it is printed.
//
// Timing is measured and printed, never asserted.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { describeWithEnvoy } from '../helpers/envoy';
import { describeWithKube, startKubeCluster, type KubeCluster } from '../helpers/kube';
import { installMeshdRbac, kubeMeshdReady, startKubeMeshd, type KubeMeshd } from '../helpers/kube-meshd';
import {
  freePorts,
  getOk,
  startMeshd,
  startNamedUpstream,
  tmpDir,
  waitFor,
  type RunningProcess,
} from '../helpers/processes';
import { httpRequest } from '../helpers/sidecar-harness';
import { startSidecarOnHost, type HostSidecar } from '../helpers/sidecars';

const NS = 'colors';
const MESH = 'colors';
const SERVICE = 'color.local';
const CATALOG_SERVICE = 'catalog.local';
const CATALOG_PORT = 9080;
const FRONT = `mesh/${MESH}/virtualNode/front`;
const FLIPS = 5;

type Color = 'blue' | 'green';

/** The mesh as the App Mesh controller's manifests: one YAML stream (the Namespace first). */
function manifests(ports: Record<Color, number>, weights: Record<Color, number>): string {
  const colorNode = (color: Color) => `apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: { name: ${color}, namespace: ${NS} }
spec:
  awsName: ${color}
  listeners: [{ portMapping: { port: ${ports[color]}, protocol: http } }]
  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }
`;
  return [
    `apiVersion: v1
kind: Namespace
metadata: { name: ${NS}, labels: { mesh: ${MESH} } }
`,
    `apiVersion: appmesh.k8s.aws/v1beta2
kind: Mesh
metadata: { name: ${MESH} }
spec:
  namespaceSelector: { matchLabels: { mesh: ${MESH} } }
`,
    colorNode('blue'),
    colorNode('green'),
    `apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualRouter
metadata: { name: color, namespace: ${NS} }
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
  routes:
    - name: main
      httpRoute:
        match: { prefix: / }
        action:
          weightedTargets:
            - { virtualNodeRef: { name: blue }, weight: ${weights.blue} }
            - { virtualNodeRef: { name: green }, weight: ${weights.green} }
`,
    `apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: { name: color, namespace: ${NS} }
spec:
  awsName: ${SERVICE}
  provider: { virtualRouter: { virtualRouterRef: { name: color } } }
`,
    `apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: { name: catalog, namespace: ${NS} }
spec:
  awsName: catalog
  podSelector: { matchLabels: { app: catalog } }
  listeners: [{ portMapping: { port: ${CATALOG_PORT}, protocol: http } }]
  serviceDiscovery: { dns: { hostname: catalog.${NS}.svc.cluster.local } }
`,
    `apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualService
metadata: { name: catalog, namespace: ${NS} }
spec:
  awsName: ${CATALOG_SERVICE}
  provider: { virtualNode: { virtualNodeRef: { name: catalog } } }
`,
    `apiVersion: appmesh.k8s.aws/v1beta2
kind: VirtualNode
metadata: { name: front, namespace: ${NS} }
spec:
  awsName: front
  backends:
    - virtualService: { virtualServiceRef: { name: color } }
    - virtualService: { virtualServiceRef: { name: catalog } }
`,
  ].join('---\n');
}

const weightsFor = (color: Color): Record<Color, number> =>
  color === 'blue' ? { blue: 100, green: 0 } : { blue: 0, green: 100 };

/** The JSON patch of the route's two weights that sends everything to `color`. */
function weightPatch(color: Color): string {
  const w = weightsFor(color);
  const at = (i: number) => `/spec/routes/0/httpRoute/action/weightedTargets/${i}/weight`;
  return JSON.stringify([
    { op: 'test', path: `/spec/routes/0/httpRoute/action/weightedTargets/0/virtualNodeRef/name`, value: 'blue' },
    { op: 'replace', path: at(0), value: w.blue },
    { op: 'replace', path: at(1), value: w.green },
  ]);
}

/** Who answered one request through the Envoy's egress (the upstream's name, or `HTTP <status>`/`error ...`). */
async function answer(egressPort: number, host = SERVICE): Promise<string> {
  try {
    const r = await httpRequest(egressPort, host, { timeoutMs: 5000 });
    return r.status === 200 ? r.body : `HTTP ${r.status}`;
  } catch (err) {
    return `error ${(err as Error).message}`;
  }
}

/** Waits until a request is answered by `color`; answers the ms from `since` (performance.now()). */
async function firstAnswerBy(egressPort: number, color: Color, since: number): Promise<number> {
  await waitFor(
    `a request answered by ${color}`,
    async () => ((await answer(egressPort)) === color ? true : undefined),
    30_000,
    5,
  );
  return Math.round(performance.now() - since);
}

/** `count` requests in a row, and who answered them. */
async function answers(egressPort: number, count: number): Promise<string[]> {
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) seen.add(await answer(egressPort));
  return [...seen].sort();
}

/** Requests through the Envoy, one every ~`gapMs`, until stopped; every answer not in `accepted()` is kept. */
function steadyLoop(egressPort: number, accepted: () => readonly string[], gapMs = 20) {
  const counts = { ok: 0, failed: 0 };
  const failures: string[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = Date.now();
      const who = await answer(egressPort);
      if (accepted().includes(who)) counts.ok++;
      else {
        counts.failed++;
        if (failures.length < 10) failures.push(who);
      }
      await new Promise((r) => setTimeout(r, Math.max(0, gapMs - (Date.now() - started))));
    }
  })();
  return {
    counts,
    failures,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

const summary = (ms: readonly number[]) => {
  const sorted = [...ms].sort((a, b) => a - b);
  return `${JSON.stringify(ms)} (median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted[sorted.length - 1]} ms)`;
};

describeWithKube('meshd serve --kubernetes: traffic through real Envoys', () => {
  describeWithEnvoy('with a real Envoy', (envoyBin) => {
    let kube: KubeCluster;
    let m: KubeMeshd;
    let front: HostSidecar | undefined;
    const upstreams: { close(): Promise<void> }[] = [];
    const ports = {} as Record<Color, number>;
    /** The color the route sends everything to now. */
    let current: Color = 'blue';

    const patchTo = (color: Color) => {
      kube.kubectl(['patch', 'virtualrouter', 'color', '-n', NS, '--type=json', '-p', weightPatch(color)]);
      current = color;
    };
    const frontConfig = () => m.admin(`/v1/config/${encodeURIComponent(FRONT)}`);

    beforeAll(async () => {
      kube = await startKubeCluster();
      installMeshdRbac(kube);
      for (const color of ['blue', 'green'] as const) {
        const u = await startNamedUpstream(color);
        upstreams.push(u);
        ports[color] = u.port;
      }
      await kube.createNamespace(NS, { mesh: MESH });
      kube.kubectl(['apply', '-f', '-'], 'admin', manifests(ports, weightsFor('blue')));
      m = await startKubeMeshd(kube, ['--kubernetes-endpoints']);
      await kubeMeshdReady(m);
      await waitFor('meshd to serve front', () => frontConfig().catch(() => undefined), 30_000, 100);
      front = await startSidecarOnHost(envoyBin, FRONT, m.xdsPort);
      await waitFor(
        'traffic through front to blue',
        async () => ((await answer(front!.egressPort)) === 'blue' ? true : undefined),
        30_000,
        50,
      );
    }, 240_000);

    afterAll(async () => {
      await front?.stop();
      await m?.stop();
      await Promise.all(upstreams.map((u) => u.close()));
      await kube?.close();
    });

    it('a kubectl patch of the route weights moves traffic (push latency printed, beside a mesh file edit)', async () => {
      const egress = front!.egressPort;
      expect(await answers(egress, 10)).toEqual(['blue']);

      const fromKubectl: number[] = [];
      /** The same, from before kubectl started (its own run, ~100 ms or more, included). */
      const withKubectl: number[] = [];
      for (let i = 0; i < FLIPS; i++) {
        const to: Color = current === 'blue' ? 'green' : 'blue';
        const before = performance.now();
        patchTo(to);
        const returned = performance.now();
        fromKubectl.push(await firstAnswerBy(egress, to, returned));
        withKubectl.push(Math.round(performance.now() - before));
        expect(await answers(egress, 10)).toEqual([to]);
      }

      // The same topology as a mesh FILE (the same manifests), served by plain `meshd serve --mesh`.
      const dir = tmpDir('k8s-traffic-file-');
      const file = path.join(dir, 'mesh.yaml');
      fs.writeFileSync(file, manifests(ports, weightsFor('blue')));
      const [xdsPort, adminPort] = (await freePorts(2)) as [number, number];
      let plain: RunningProcess | undefined;
      let fileFront: HostSidecar | undefined;
      const fromFile: number[] = [];
      try {
        plain = startMeshd([
          'serve',
          '--mesh',
          file,
          '--xds-address',
          '127.0.0.1',
          '--xds-port',
          String(xdsPort),
          '--admin-port',
          String(adminPort),
          '--api-dir',
          path.join(dir, 'api'),
          '--cloud-map-state',
          path.join(dir, 'cloud-map.json'),
        ]);
        await waitFor('meshd --mesh to serve front', async () => {
          if (plain!.child.exitCode !== null) throw new Error(`meshd exited:\n${plain!.stderr()}`);
          return getOk(adminPort, `/v1/config/${encodeURIComponent(FRONT)}`).catch(() => undefined);
        });
        fileFront = await startSidecarOnHost(envoyBin, FRONT, xdsPort);
        await firstAnswerBy(fileFront.egressPort, 'blue', performance.now());
        let fileColor: Color = 'blue';
        for (let i = 0; i < FLIPS; i++) {
          const to: Color = fileColor === 'blue' ? 'green' : 'blue';
          // Written beside and renamed over, as an editor or a git checkout does: one complete version.
          fs.writeFileSync(`${file}.tmp`, manifests(ports, weightsFor(to)));
          fs.renameSync(`${file}.tmp`, file);
          fromFile.push(await firstAnswerBy(fileFront.egressPort, to, performance.now()));
          fileColor = to;
        }
      } finally {
        await fileFront?.stop();
        await plain?.stop();
      }
      process.stdout.write(
        `k8s-traffic push latency over ${FLIPS} flips (ms, from the edit to the first request answered by the new color):\n` +
          `  kubectl patch virtualrouter (meshd --kubernetes): ${summary(fromKubectl)}\n` +
          `    the same from before kubectl started:            ${summary(withKubectl)}\n` +
          `  mesh file edit (meshd --mesh):                   ${summary(fromFile)}\n`,
      );
    }, 180_000);

    it('the API server restarting fails no request and changes no config; a change right after it is served; down, meshd stays ready', async () => {
      const egress = front!.egressPort;
      await firstAnswerBy(egress, current, performance.now());
      const before = await frontConfig();
      const stderrBefore = m.process.stderr().length;

      const loop = steadyLoop(egress, () => [current]);
      try {
        await kube.restartApiServer({ downMs: 3000 });
        // Envoy kept its config: the same bytes meshd serves for front.
        expect(await frontConfig()).toBe(before);
        // Right after it is back: a weight change reaches Envoy (answers of both colors are fine while it moves).
        const to: Color = current === 'blue' ? 'green' : 'blue';
        const from = current;
        const accepting = [from, to];
        await loop.stop();
        const moving = steadyLoop(egress, () => accepting);
        const started = performance.now();
        patchTo(to);
        const ms = await firstAnswerBy(egress, to, started);
        await moving.stop();
        expect(moving.failures).toEqual([]);
        expect(await answers(egress, 10)).toEqual([to]);
        process.stdout.write(
          `k8s-traffic: a route weight patched right after the API server restart: ${ms} ms to the first ${to} answer\n`,
        );
      } finally {
        await loop.stop();
      }
      expect(loop.failures).toEqual([]);
      expect(loop.counts.ok).toBeGreaterThan(20);
      // meshd said its watches broke and resumed from the version they had.
      const logged = m.process.stderr().slice(stderrBefore);
      expect(logged).toMatch(/watch of \S+ failed: .*; resuming from version \d+/);

      // The API server down, for longer: meshd waits, stays ready, serves the same config, traffic flows.
      const steady = await frontConfig();
      const downLoop = steadyLoop(egress, () => [current]);
      await kube.stopApiServer();
      try {
        for (let i = 0; i < 8; i++) {
          await new Promise((r) => setTimeout(r, 1000));
          expect(await getOk(m.adminPort, '/readyz')).toBeDefined();
          expect(await frontConfig()).toBe(steady);
          expect(m.process.child.exitCode).toBeNull();
        }
      } finally {
        await downLoop.stop();
        await kube.startApiServer();
      }
      expect(downLoop.failures).toEqual([]);
      // Back: a change is served again.
      const to: Color = current === 'blue' ? 'green' : 'blue';
      patchTo(to);
      await firstAnswerBy(egress, to, performance.now());
    }, 180_000);

    it('EndpointSlices of the selected pods are EDS members of the catalog cluster in a caller Envoy', async () => {
      const cluster = `cds_egress_${MESH}_catalog_http_${CATALOG_PORT}`;
      const admin = front!.adminPort;
      const members = async (): Promise<string[]> => {
        const text = await getOk(admin, '/clusters');
        const found = new Set<string>();
        for (const line of text.split('\n')) {
          const hit = line.startsWith(`${cluster}::`) ? /^[^:]+::([\d.]+):\d+::health_flags::/.exec(line) : null;
          if (hit) found.add(hit[1]!);
        }
        return [...found].sort();
      };
      const until = async (what: string, want: string[], since: number): Promise<number> => {
        await waitFor(
          what,
          async () => {
            const now = await members().catch(() => undefined);
            return now && JSON.stringify(now) === JSON.stringify(want) ? true : undefined;
          },
          30_000,
          10,
        ).catch(async (err: Error) => {
          throw new Error(
            `${err.message}; Envoy has ${JSON.stringify(await members().catch(() => []))}\nmeshd:\n${m.process.stderr().slice(-3000)}`,
          );
        });
        return Math.round(performance.now() - since);
      };
      // The caller knows the cluster before any pod is there (an empty assignment).
      await waitFor('front to have the catalog cluster', async () =>
        (await getOk(admin, '/clusters')).includes(`${cluster}::`) ||
        (await getOk(admin, '/config_dump?resource=dynamic_active_clusters')).includes(`"${cluster}"`)
          ? true
          : undefined,
      );
      expect(await members()).toEqual([]);

      const addresses = ['10.20.0.1', '10.20.0.2', '10.20.0.3'];
      for (const [i] of addresses.entries()) {
        await kube.create(`/api/v1/namespaces/${NS}/pods`, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `catalog-${i}`, labels: { app: 'catalog' } },
          spec: { containers: [{ name: 'app', image: 'example/catalog:1' }] },
        });
      }
      // A pod of another app, in the same slice, is never a catalog endpoint.
      await kube.create(`/api/v1/namespaces/${NS}/pods`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'other-0', labels: { app: 'other' } },
        spec: { containers: [{ name: 'app', image: 'example/other:1' }] },
      });
      const slicePath = `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`;
      const endpoint = (pod: string, address: string, ready = true) => ({
        addresses: [address],
        conditions: { ready },
        targetRef: { kind: 'Pod', namespace: NS, name: pod },
      });
      const delays: Record<string, number> = {};
      let started = performance.now();
      await kube.create(slicePath, {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'catalog-abcde', labels: { 'kubernetes.io/service-name': 'catalog' } },
        addressType: 'IPv4',
        ports: [{ name: 'http', port: CATALOG_PORT, protocol: 'TCP' }],
        endpoints: [...addresses.map((a, i) => endpoint(`catalog-${i}`, a)), endpoint('other-0', '10.20.9.9')],
      });
      delays['slice created'] = await until('the three pods in Envoy', addresses, started);

      // One endpoint not ready.
      const slice = (await kube.request('GET', `${slicePath}/catalog-abcde`)).body as {
        endpoints: { conditions: { ready: boolean } }[];
      };
      slice.endpoints[1]!.conditions.ready = false;
      started = performance.now();
      const put = await kube.request('PUT', `${slicePath}/catalog-abcde`, slice);
      expect(put.status).toBe(200);
      delays['one not ready'] = await until('the not-ready pod gone', ['10.20.0.1', '10.20.0.3'], started);

      // One endpoint deleted from the slice (JSON patch, by kubectl).
      started = performance.now();
      kube.kubectl([
        'patch',
        'endpointslice',
        'catalog-abcde',
        '-n',
        NS,
        '--type=json',
        '-p',
        JSON.stringify([
          { op: 'test', path: '/endpoints/0/addresses/0', value: '10.20.0.1' },
          { op: 'remove', path: '/endpoints/0' },
        ]),
      ]);
      delays['one deleted'] = await until('the deleted endpoint gone', ['10.20.0.3'], started);

      // The slice deleted: none left.
      started = performance.now();
      kube.kubectl(['delete', 'endpointslice', 'catalog-abcde', '-n', NS, '--wait=false']);
      delays['slice deleted'] = await until('no catalog endpoint', [], started);

      process.stdout.write(
        `k8s-traffic EndpointSlices: API call returned → Envoy's /clusters (polled every 10 ms), ms: ${JSON.stringify(delays)}\n`,
      );
    }, 180_000);
  });
});
