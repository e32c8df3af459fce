// The status writer against a real kube-apiserver, with meshd's CRDs and its Kubernetes client
// as the user `meshd` holding only meshd's ClusterRole: the patches land in each App Mesh object's
// /status subresource, leave spec and metadata.generation alone, show in `kubectl get virtualnodes`,
// and are not repeated when nothing changed.
import { stringify } from 'yaml';
import { arnOf } from '../../src/api/wire';
import { customResourceDefinitions } from '../../src/k8s/crds';
import { createKubeClient, loadKubeConfig } from '../../src/k8s/kube-client';
import { APP_MESH_TYPES, type KubeClient, type KubeObject } from '../../src/k8s/kube-api';
import { MESHD_CLUSTER_ROLE_RULES } from '../../src/k8s/manifests';
import { desiredStatuses, type StatusObject } from '../../src/k8s/status';
import { StatusWriter } from '../../src/k8s/status-writer';
import { loadMesh } from '../../src/load/mesh-source';
import type { Logger } from '../../src/util/log';
import { describeWithKube, startKubeCluster, type KubeCluster } from '../helpers/kube';
import { waitFor } from '../helpers/processes';

const API = 'appmesh.k8s.aws/v1beta2';

/** meshd's client as the user `meshd`, noting each status patch it sends. */
function clientOf(cluster: KubeCluster, calls: string[]): KubeClient {
  const client = createKubeClient(loadKubeConfig({ kubeconfig: cluster.kubeconfig('meshd'), env: {} }));
  return {
    ...client,
    patch(type, ns, name, body, patchType, subresource) {
      const where = type.namespaced ? `/namespaces/${ns}` : '';
      calls.push(`PATCH /apis/${API}${where}/${type.plural}/${name}${subresource ? `/${subresource}` : ''}`);
      return client.patch(type, ns, name, body, patchType, subresource);
    },
  };
}

const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

describeWithKube('status written to App Mesh objects in a real API server', () => {
  let cluster: KubeCluster;
  beforeAll(async () => {
    cluster = await startKubeCluster();
    for (const crd of customResourceDefinitions())
      await cluster.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    // meshd's ClusterRole as its manifests print it, bound to the user the client runs as.
    await cluster.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'meshd' },
      rules: MESHD_CLUSTER_ROLE_RULES,
    });
    await cluster.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'meshd' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'meshd' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'meshd' }],
    });
    await waitFor(
      'the CRDs served',
      async () => {
        for (const t of Object.values(APP_MESH_TYPES)) {
          const r = await cluster.request('GET', `/apis/${API}${t.namespaced ? '/namespaces/prod' : ''}/${t.plural}`);
          if (r.status !== 200) return undefined;
        }
        return true;
      },
      30_000,
      100,
    );
    await cluster.createNamespace('prod');
  }, 120_000);
  afterAll(async () => {
    await cluster?.close();
  });

  /** A VirtualNode; with `backend`, one naming a VirtualService that does not exist (the CRD's schema cannot tell). */
  const node = (name: string, backend?: string) => ({
    apiVersion: API,
    kind: 'VirtualNode',
    metadata: { name, namespace: 'prod' },
    spec: {
      listeners: [{ portMapping: { port: 8080, protocol: 'http' } }],
      serviceDiscovery: { dns: { hostname: `${name}.prod.svc.cluster.local` } },
      ...(backend ? { backends: [{ virtualService: { virtualServiceRef: { name: backend } } }] } : {}),
    },
  });

  /** The objects as an informer would hand them over, and the load they make (each in its virtual file). */
  async function evaluate(now: Date) {
    const list = async (path: string) =>
      (await cluster.request('GET', `/apis/${API}${path}`)).body.items as KubeObject[];
    const objects: StatusObject[] = [
      ...(await list('/meshes')).map((object) => ({
        type: APP_MESH_TYPES.Mesh,
        object,
        file: `k8s:/meshes/${object.metadata.name}`,
      })),
      ...(await list('/namespaces/prod/virtualnodes')).map((object) => ({
        type: APP_MESH_TYPES.VirtualNode,
        object,
        file: `k8s:/virtualnodes/prod/${object.metadata.name}`,
      })),
      ...(await list('/namespaces/prod/virtualrouters')).map((object) => ({
        type: APP_MESH_TYPES.VirtualRouter,
        object,
        file: `k8s:/virtualrouters/prod/${object.metadata.name}`,
      })),
    ];
    const overlay = new Map(
      objects.map(({ object, file }) => [
        file,
        stringify({
          apiVersion: object.apiVersion,
          kind: object.kind,
          metadata: { name: object.metadata.name, namespace: object.metadata.namespace },
          spec: object.spec,
        }),
      ]),
    );
    const load = loadMesh([], { overlay, noFilesIsEmpty: true });
    return desiredStatuses({
      objects,
      load,
      arn: (key) => arnOf(key, { accountId: '000000000000', region: 'us-east-1' }),
      now,
    });
  }

  it('patches /status only: spec and generation stay, kubectl shows the columns, an unchanged status is not written again', async () => {
    await cluster.create(`/apis/${API}/meshes`, {
      apiVersion: API,
      kind: 'Mesh',
      metadata: { name: 'color-mesh' },
      spec: { namespaceSelector: {} },
    });
    await cluster.create(`/apis/${API}/namespaces/prod/virtualnodes`, node('red'));
    const before = (await cluster.request('GET', `/apis/${API}/namespaces/prod/virtualnodes/red`)).body;

    const calls: string[] = [];
    const writer = new StatusWriter({ client: clientOf(cluster, calls), isLeader: () => true, log: quiet });
    const desired = await evaluate(new Date('2026-12-04T16:00:00Z'));
    writer.update(desired);
    await writer.idle();
    expect(writer.counters).toEqual({ writes: 2, failures: 0, dropped: 0 });
    expect(calls.sort()).toEqual([
      `PATCH /apis/${API}/meshes/color-mesh/status`,
      `PATCH /apis/${API}/namespaces/prod/virtualnodes/red/status`,
    ]);
    const red = (await cluster.request('GET', `/apis/${API}/namespaces/prod/virtualnodes/red`)).body;
    expect(red.status).toEqual(desired.get('k8s:/virtualnodes/prod/red')!.status);
    expect(red.status.virtualNodeARN).toBe(
      'arn:aws:appmesh:us-east-1:000000000000:mesh/color-mesh/virtualNode/red_prod',
    );
    expect(red.spec).toEqual(before.spec);
    expect(red.metadata.generation).toBe(before.metadata.generation);
    expect(red.status.observedGeneration).toBe(before.metadata.generation);
    expect(red.metadata.resourceVersion).not.toBe(before.metadata.resourceVersion);

    // An invalid node: it alone is written (the mesh and red keep their status: the last valid mesh is served).
    await cluster.create(`/apis/${API}/namespaces/prod/virtualnodes`, node('blue', 'nope'));
    writer.update(await evaluate(new Date('2026-12-04T16:30:00Z')));
    await writer.idle();
    expect(calls.slice(2)).toEqual([`PATCH /apis/${API}/namespaces/prod/virtualnodes/blue/status`]);
    const blue = (await cluster.request('GET', `/apis/${API}/namespaces/prod/virtualnodes/blue`)).body;
    expect(blue.status.conditions).toEqual([
      expect.objectContaining({ type: 'VirtualNodeActive', status: 'False', reason: 'ValidationFailed' }),
    ]);
    expect(blue.status.conditions[0].message).toBe(
      "error: VirtualNode/blue_prod: virtual service 'nope.prod' is not defined in mesh 'color-mesh' (spec.backends[0].virtualService.virtualServiceRef)",
    );
    expect(blue.metadata.generation).toBe(1);

    const table = cluster.kubectl(['get', 'virtualnodes', '-n', 'prod']);
    process.stdout.write(`kubectl get virtualnodes -n prod:\n${table}`);
    const rows = table.trim().split('\n');
    expect(rows[0]).toMatch(/^NAME\s+ARN\s+ACTIVE\s+AGE$/);
    expect(rows.find((r) => r.startsWith('red '))).toMatch(
      /^red\s+arn:aws:appmesh:us-east-1:000000000000:mesh\/color-mesh\/virtualNode\/red_prod\s+True\s/,
    );
    expect(rows.find((r) => r.startsWith('blue '))).toMatch(/^blue\s+False\s/);

    // What the informer sees now is what meshd wants: nothing more is written.
    writer.update(await evaluate(new Date('2026-12-04T17:00:00Z')));
    await writer.idle();
    expect(calls).toHaveLength(3);

    // blue is fixed (a new generation): it turns True with a new transition time and observedGeneration.
    const fixed = await cluster.request(
      'PATCH',
      `/apis/${API}/namespaces/prod/virtualnodes/blue`,
      { spec: { backends: null } },
      'admin',
      'application/merge-patch+json',
    );
    expect(fixed.status).toBe(200);
    writer.update(await evaluate(new Date('2026-12-04T18:00:00Z')));
    await writer.idle();
    const blue2 = (await cluster.request('GET', `/apis/${API}/namespaces/prod/virtualnodes/blue`)).body;
    expect(blue2.metadata.generation).toBe(2);
    expect(blue2.status).toMatchObject({
      observedGeneration: 2,
      virtualNodeARN: 'arn:aws:appmesh:us-east-1:000000000000:mesh/color-mesh/virtualNode/blue_prod',
      conditions: [
        { type: 'VirtualNodeActive', status: 'True', reason: 'Served', lastTransitionTime: '2026-12-04T18:00:00Z' },
      ],
    });
    expect(blue2.status.conditions[0].message).toBeUndefined();
    expect(writer.counters).toEqual({ writes: 4, failures: 0, dropped: 0 });
  });

  // After the first test: the mesh and the VirtualNode red exist.
  it("keeps a router's routeARNs to its routes: a removed route's ARN is deleted", async () => {
    const route = (name: string) => ({
      name,
      httpRoute: {
        match: { prefix: `/${name}` },
        action: { weightedTargets: [{ virtualNodeRef: { name: 'red' }, weight: 1 }] },
      },
    });
    await cluster.create(`/apis/${API}/namespaces/prod/virtualrouters`, {
      apiVersion: API,
      kind: 'VirtualRouter',
      metadata: { name: 'colorteller', namespace: 'prod' },
      spec: { listeners: [{ portMapping: { port: 8080, protocol: 'http' } }], routes: [route('a'), route('b')] },
    });
    const writer = new StatusWriter({ client: clientOf(cluster, []), isLeader: () => true, log: quiet });
    const get = async () =>
      (await cluster.request('GET', `/apis/${API}/namespaces/prod/virtualrouters/colorteller`)).body;
    const base = 'arn:aws:appmesh:us-east-1:000000000000:mesh/color-mesh/virtualRouter/colorteller_prod';
    writer.update(await evaluate(new Date('2026-12-04T19:00:00Z')));
    await writer.idle();
    expect((await get()).status).toMatchObject({
      virtualRouterARN: base,
      routeARNs: { a: `${base}/route/a`, b: `${base}/route/b` },
      observedGeneration: 1,
      conditions: [{ type: 'VirtualRouterActive', status: 'True' }],
    });

    const patched = await cluster.request(
      'PATCH',
      `/apis/${API}/namespaces/prod/virtualrouters/colorteller`,
      { spec: { routes: [route('a')] } },
      'admin',
      'application/merge-patch+json',
    );
    expect(patched.status).toBe(200);
    writer.update(await evaluate(new Date('2026-12-04T19:30:00Z')));
    await writer.idle();
    const after = await get();
    expect(after.status.routeARNs).toEqual({ a: `${base}/route/a` });
    expect(after.status.observedGeneration).toBe(2);
    expect(writer.counters).toEqual({ writes: 2, failures: 0, dropped: 0 });
  });

  it('drops the write of an object deleted meanwhile', async () => {
    await cluster.create(`/apis/${API}/namespaces/prod/virtualnodes`, node('gone'));
    const desired = await evaluate(new Date('2026-12-04T19:00:00Z'));
    const gone = await cluster.request('DELETE', `/apis/${API}/namespaces/prod/virtualnodes/gone`);
    expect(gone.status).toBe(200);
    const calls: string[] = [];
    const writer = new StatusWriter({ client: clientOf(cluster, calls), isLeader: () => true, log: quiet });
    writer.update(new Map([...desired].filter(([file]) => file.endsWith('/gone'))));
    await writer.idle();
    expect(calls).toEqual([`PATCH /apis/${API}/namespaces/prod/virtualnodes/gone/status`]);
    expect(writer.counters).toEqual({ writes: 0, failures: 0, dropped: 1 });
  });
});
