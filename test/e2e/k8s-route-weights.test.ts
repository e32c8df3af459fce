// A rollout's weights written into a VirtualRouter of a real API server (src/k8s/route-weights.ts), and the
// rollouts' progress in a ConfigMap under the leader's fence (src/control/kubernetes-mode.ts KubeRolloutState):
// optimistic concurrency that a status write alone does not defeat, a hand edit that is a conflict, a replica
// that lost the lease writing nothing, and a deposed leader that cannot overwrite its successor's state.
import { APP_MESH_TYPES, type KubeClient } from '../../src/k8s/kube-api';
import { createKubeClient, loadKubeConfig } from '../../src/k8s/kube-client';
import { CONFIG_MAPS, ConfigMapState } from '../../src/k8s/configmap-state';
import { patchRouteWeights } from '../../src/k8s/route-weights';
import { KubeRolloutState, NotLeadingError } from '../../src/control/kubernetes-mode';
import type { WeightEdit } from '../../src/load/weight-text';
import type { RolloutRecord } from '../../src/rollout/records';
import { describeWithKube, startKubeCluster, type KubeCluster } from '../helpers/kube';
import { meshd } from '../helpers/kube-meshd';

const NS = 'weights';
const FILE = `k8s:/virtualrouters/${NS}/router`;
const weightAt = (i: number) => ['spec', 'routes', 0, 'httpRoute', 'action', 'weightedTargets', i, 'weight'];
const edits = (from: [number, number], to: [number, number]): WeightEdit[] =>
  [0, 1].map((i) => ({ at: { file: FILE, document: 0, path: weightAt(i) }, expected: from[i]!, value: to[i]! }));
const identity = [{ at: { file: FILE, document: 0, path: ['spec', 'routes', 0, 'name'] }, value: 'split' }];
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

const router = {
  apiVersion: 'appmesh.k8s.aws/v1beta2',
  kind: 'VirtualRouter',
  metadata: { name: 'router', namespace: NS },
  spec: {
    listeners: [{ portMapping: { port: 8080, protocol: 'http' } }],
    routes: [
      {
        name: 'split',
        httpRoute: {
          match: { prefix: '/' },
          action: {
            weightedTargets: [
              { virtualNodeRef: { name: 'v1' }, weight: 100 },
              { virtualNodeRef: { name: 'v2' }, weight: 0 },
            ],
          },
        },
      },
    ],
  },
};

describeWithKube('a rollout writing to the cluster', () => {
  let kube: KubeCluster;
  let client: KubeClient;
  const weights = async () => {
    const r = (await client.get(APP_MESH_TYPES.VirtualRouter, NS, 'router'))!;
    return (r.spec as typeof router.spec).routes[0]!.httpRoute.action.weightedTargets.map((t) => t.weight);
  };
  beforeAll(async () => {
    kube = await startKubeCluster();
    kube.kubectl(['apply', '-f', '-'], 'admin', meshd(['k8s', 'crds']));
    kube.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
    await kube.createNamespace(NS);
    client = createKubeClient(loadKubeConfig({ kubeconfig: kube.kubeconfig('admin') }));
    await client.create(APP_MESH_TYPES.VirtualRouter, NS, router);
  }, 120_000);
  afterAll(() => kube?.close());

  it('patches the weights, and retries when only the status moved the version', async () => {
    expect(await patchRouteWeights(client, edits([100, 0], [80, 20]), identity)).toEqual({ ok: true });
    expect(await weights()).toEqual([80, 20]);
    // A status write between meshd's read and its patch: the version moves, the route does not.
    let reads = 0;
    const racing = Object.create(client) as KubeClient & { get: KubeClient['get'] };
    racing.get = async (...args: Parameters<KubeClient['get']>) => {
      const got = await client.get(...args);
      if (reads++ === 0)
        await client.patch(
          APP_MESH_TYPES.VirtualRouter,
          NS,
          'router',
          { status: { observedGeneration: 9 } },
          'merge',
          'status',
        );
      return got as never;
    };
    expect(await patchRouteWeights(racing, edits([80, 20], [60, 40]), identity)).toEqual({ ok: true });
    // Three reads: the first, the look after the refused patch (the version moved: not a schema refusal), the retry.
    expect(reads).toBe(3);
    expect(await weights()).toEqual([60, 40]);
  });

  it('refuses as a conflict when the weights were edited by hand, and writes nothing', async () => {
    kube.kubectl([
      '-n',
      NS,
      'patch',
      'virtualrouter',
      'router',
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'replace', path: '/spec/routes/0/httpRoute/action/weightedTargets/0/weight', value: 55 }]),
    ]);
    const result = await patchRouteWeights(client, edits([60, 40], [40, 60]), identity);
    expect(result).toMatchObject({ ok: false, conflict: true });
    expect(await weights()).toEqual([55, 40]);
  });

  it("reports weights the API server's schema refuses as refused, not as a router that kept changing", async () => {
    const result = await patchRouteWeights(client, edits([55, 40], [155, 40]), identity);
    expect(result).toMatchObject({ ok: false, conflict: false });
    expect((result as { error: string }).error).toContain('the API server refused the weights for VirtualRouter');
    expect(await weights()).toEqual([55, 40]);
  });

  it('writes nothing once the replica lost the lease', async () => {
    const lost = () => {
      throw new NotLeadingError('lease lost');
    };
    await expect(patchRouteWeights(client, edits([55, 40], [0, 100]), identity, lost)).rejects.toThrow('lease lost');
    expect(await weights()).toEqual([55, 40]);
  });

  it("keeps a deposed leader from overwriting its successor's rollout state", async () => {
    /** What the ConfigMap holds: whose fence, and the canary weights of its rollouts. */
    const stored = async () => {
      const map = await client.get(CONFIG_MAPS, NS, 'meshd-rollouts');
      const doc = JSON.parse((map!.data as Record<string, string>)['rollouts.json']!) as {
        fence: { holder: string };
        records: { canaryWeight: number }[];
      };
      return { holder: doc.fence.holder, weights: doc.records.map((r) => r.canaryWeight) };
    };
    const record = (name: string, canaryWeight: number) =>
      ({ mesh: 'm', name, source: 'api', canaryWeight }) as unknown as RolloutRecord;
    let fenceA: { holder: string; transitions: number } | undefined = { holder: 'a', transitions: 1 };
    const a = new KubeRolloutState(
      new ConfigMapState(client, NS, 'meshd-rollouts', 'rollouts.json'),
      () => fenceA,
      quiet,
    );
    await a.load();
    await a.save([record('canary', 20)]);
    // b takes the lease (a later term), loads a's state and writes its own step.
    const b = new KubeRolloutState(
      new ConfigMapState(client, NS, 'meshd-rollouts', 'rollouts.json'),
      () => ({ holder: 'b', transitions: 2 }),
      quiet,
    );
    await b.load();
    expect(await stored()).toEqual({ holder: 'a', weights: [20] });
    await b.save([record('canary', 40)]);
    // a, paused through all that, still believes it leads: its late write is refused as deposed.
    const late = a.save([record('canary', 30)]);
    await expect(late).rejects.toBeInstanceOf(NotLeadingError);
    expect(a.isDeposed(await late.catch((err: unknown) => err))).toBe(true);
    expect(await stored()).toEqual({ holder: 'b', weights: [40] });
    fenceA = undefined;
    await expect(a.save([record('canary', 30)])).rejects.toBeInstanceOf(NotLeadingError);
  });

  it("tells a follower when the leader's rollout state changed, and only then", async () => {
    const follower = new KubeRolloutState(
      new ConfigMapState(client, NS, 'meshd-rollouts', 'rollouts.json'),
      () => undefined,
      quiet,
    );
    let told = 0;
    follower.onChange(() => told++);
    await follower.refresh();
    expect(told).toBe(1);
    await follower.refresh();
    expect(told).toBe(1);
    const leader = new KubeRolloutState(
      new ConfigMapState(client, NS, 'meshd-rollouts', 'rollouts.json'),
      () => ({ holder: 'c', transitions: 3 }),
      quiet,
    );
    await leader.load();
    await leader.save([]);
    await follower.refresh();
    expect(told).toBe(2);
  });
});
