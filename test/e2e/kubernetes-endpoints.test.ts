// Endpoints from the cluster (--kubernetes-endpoints) with a real Envoy: the EndpointSlices of the
// pods a VirtualNode selects reach a sidecar that calls it over EDS, and a pod becoming ready or
// going away changes what Envoy balances over (its /clusters admin page) and where its requests
// go. WorkloadEndpoints is fed directly, as the integrator's informers feed it (no API server: its
// validation would refuse these loopback addresses), through combinedDiscovery into the
// MeshController and a real xDS server. The delay from update() to Envoy seeing it is printed.
import * as http from 'node:http';
import type * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { combinedDiscovery } from '../../src/control/combined-discovery';
import { MeshController } from '../../src/control/mesh-controller';
import { CloudMapRegistry } from '../../src/discovery/cloud-map/registry';
import { WorkloadEndpoints } from '../../src/k8s/endpoint-slices';
import type { KubeObject } from '../../src/k8s/kube-api';
import { loadMesh } from '../../src/load/mesh-source';
import { startXdsServer, type XdsServer } from '../../src/xds/server';
import { SnapshotCache } from '../../src/xds/snapshot-cache';
import { describeWithEnvoy, startEnvoy, type RunningEnvoy } from '../helpers/envoy';
import { meshFolder } from '../helpers/mesh-text';
import { freePorts, getOk, httpGet, waitFor } from '../helpers/processes';
import { meshdBootstrap } from '../helpers/sidecars';

const QUIET = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const NODE_ID = 'mesh/apps/virtualNode/client';
/** Three "pods" of virtual node x: loopback addresses, each with an HTTP server on x's listener port. */
const POD_ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];

function meshYaml(port: number): string {
  return [
    'kind: Mesh\nname: apps\n',
    `kind: VirtualNode\nmesh: apps\nname: x\nspec:\n  listeners: [{ portMapping: { port: ${port}, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: x.prod.svc.cluster.local } }\n`,
    'kind: VirtualService\nmesh: apps\nname: x.apps.local\nspec: { provider: { virtualNode: { virtualNodeName: x } } }\n',
    'kind: VirtualNode\nmesh: apps\nname: client\nspec:\n  backends: [{ virtualService: { virtualServiceName: x.apps.local } }]\n',
  ].join('---\n');
}

/** An HTTP server on address:port answering with its address. */
function podServer(address: string, port: number): Promise<http.Server> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(address);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve(server));
  });
}

/** One port free on every pod address: servers on each, retried on another port if one is taken. */
async function podServers(): Promise<{ port: number; servers: http.Server[] }> {
  for (let attempt = 0; ; attempt++) {
    const first = await podServer(POD_ADDRESSES[0]!, 0);
    const port = (first.address() as net.AddressInfo).port;
    const servers = [first];
    try {
      for (const address of POD_ADDRESSES.slice(1)) servers.push(await podServer(address, port));
      return { port, servers };
    } catch (err) {
      for (const s of servers) s.close();
      if (attempt >= 5) throw err;
    }
  }
}

const vn: KubeObject = {
  kind: 'VirtualNode',
  metadata: { namespace: 'prod', name: 'x' },
  spec: { podSelector: { matchLabels: { app: 'x' } } },
};
const pods: KubeObject[] = POD_ADDRESSES.map((ip, i) => ({
  kind: 'Pod',
  metadata: { namespace: 'prod', name: `x-${i}`, labels: { app: 'x' } },
  status: { podIP: ip, podIPs: [{ ip }] },
}));

/** One slice listing the pods; `ready` says which are ready. */
function slice(ready: readonly boolean[]): KubeObject {
  return {
    kind: 'EndpointSlice',
    metadata: { namespace: 'prod', name: 'x-abcde' },
    addressType: 'IPv4',
    endpoints: POD_ADDRESSES.map((ip, i) => ({
      addresses: [ip],
      conditions: { ready: ready[i] ?? false },
      targetRef: { kind: 'Pod', namespace: 'prod', name: `x-${i}` },
    })),
  };
}

describeWithEnvoy('Kubernetes endpoints (EndpointSlices) reach a real Envoy over EDS', (envoyBin) => {
  let server: XdsServer | undefined;
  let controller: MeshController | undefined;
  let envoy: RunningEnvoy | undefined;
  let pods_: http.Server[] = [];

  afterEach(async () => {
    await envoy?.stop();
    controller?.close();
    await server?.close();
    await Promise.all(pods_.map((s) => new Promise((resolve) => s.close(resolve))));
  });

  it('follows pods becoming ready and going away: /clusters membership and where requests go', async () => {
    const { port, servers } = await podServers();
    pods_ = servers;
    const loaded = loadMesh([meshFolder({ 'mesh.yaml': meshYaml(port) })]);
    if (!loaded.ok) throw new Error(loaded.problems.map((p) => p.message).join('\n'));

    const workloads = new WorkloadEndpoints({ identify: (o) => ({ mesh: 'apps', name: o.metadata.name }) });
    workloads.update({ virtualNodes: [vn], pods, slices: [slice([true, false, false])] });
    const cache = new SnapshotCache();
    controller = new MeshController(cache, combinedDiscovery(new CloudMapRegistry(), workloads), QUIET, {
      sliceMs: 5,
    });
    controller.setModel(loaded.model);
    server = await startXdsServer({ host: '127.0.0.1', port: 0, cache, hooks: controller, log: QUIET });
    const [adminPort, ingressPort, egressPort] = (await freePorts(3)) as [number, number, number];
    const bootstrap = meshdBootstrap({
      nodeId: NODE_ID,
      xdsAddress: `127.0.0.1:${server.port}`,
      adminAddress: '127.0.0.1',
      adminPort,
      ingressPort,
      egressPort,
    });
    envoy = startEnvoy(envoyBin, bootstrap, adminPort);

    const cluster = `cds_egress_apps_x_http_${port}`;
    const members = async (): Promise<string[]> => {
      const text = await getOk(adminPort, '/clusters');
      const found = new Set<string>();
      for (const line of text.split('\n')) {
        const m = line.startsWith(`${cluster}::`) ? /^[^:]+::([\d.]+):\d+::health_flags::/.exec(line) : null;
        if (m) found.add(m[1]!);
      }
      return [...found].sort();
    };
    const until = (what: string, want: string[]) =>
      waitFor(
        what,
        async () => {
          const now = await members().catch(() => undefined);
          return now && JSON.stringify(now) === JSON.stringify(want) ? true : undefined;
        },
        20000,
        10,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${envoy!.logs().slice(-3000)}`);
      });
    const answers = async (n: number) => {
      const seen = new Set<string>();
      for (let i = 0; i < n; i++) {
        const r = await httpGet(egressPort, 'x.apps.local');
        seen.add(r.status === 200 ? r.body : `HTTP ${r.status}`);
      }
      return [...seen].sort();
    };

    await until('Envoy to have the first pod', ['127.0.0.2']);
    await waitFor('the egress listener to answer', async () =>
      (await httpGet(egressPort, 'x.apps.local').catch(() => undefined))?.status === 200 ? true : undefined,
    );
    expect(await answers(6)).toEqual(['127.0.0.2']);

    const delays: Record<string, number> = {};
    const step = async (what: string, ready: boolean[], want: string[]) => {
      const started = performance.now();
      workloads.update({ slices: [slice(ready)] });
      await until(what, want);
      delays[what] = Math.round(performance.now() - started);
    };

    await step('two pods become ready', [true, true, true], ['127.0.0.2', '127.0.0.3', '127.0.0.4']);
    expect(await answers(30)).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4']);

    await step('one pod goes not ready', [true, false, true], ['127.0.0.2', '127.0.0.4']);
    expect(await answers(20)).toEqual(['127.0.0.2', '127.0.0.4']);

    // The pod deleted: gone from the Pods and from the slice.
    const started = performance.now();
    workloads.update({ pods: pods.slice(1), slices: [slice([false, false, true])] });
    await until('a pod deleted', ['127.0.0.4']);
    delays['a pod deleted'] = Math.round(performance.now() - started);
    expect(await answers(10)).toEqual(['127.0.0.4']);

    // No pod ready at all: an empty assignment, Envoy answers 503 itself.
    await step('no pod ready', [false, false, false], []);
    expect(await answers(3)).toEqual(['HTTP 503']);

    console.log(
      `Kubernetes endpoints: update() → Envoy's /clusters membership (polled every 10 ms), ms: ${JSON.stringify(delays)}`,
    );
  }, 60000);
});
