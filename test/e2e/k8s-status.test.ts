// The status writer against a real kube-apiserver: meshd's patches land in each App Mesh object's
// /status subresource as the user `meshd` with only its ClusterRole's status rights, leave spec and
// metadata.generation alone, show in `kubectl get virtualnodes`, and are not repeated when nothing
// changed. The CRDs here are minimal ones with a status subresource and the printer columns meshd's
// CRDs have (the real CRDs are another module's).
import { stringify } from 'yaml';
import { arnOf } from '../../src/api/wire';
import { APP_MESH_TYPES, KubeError, type KubeClient, type KubeObject, type ResourceType } from '../../src/k8s/kube-api';
import { desiredStatuses, type StatusObject } from '../../src/k8s/status';
import { StatusWriter } from '../../src/k8s/status-writer';
import { loadMesh } from '../../src/load/mesh-source';
import type { Logger } from '../../src/util/log';
import { describeWithKube, startKubeCluster, type KubeCluster } from '../helpers/kube';
import { waitFor } from '../helpers/processes';

const GROUP = 'appmesh.k8s.aws';
const API = `${GROUP}/v1beta2`;

function crd(type: ResourceType, arnField: string, condition: string): unknown {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${type.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: { kind: type.kind, listKind: `${type.kind}List`, plural: type.plural, singular: type.kind.toLowerCase() },
      scope: type.namespaced ? 'Namespaced' : 'Cluster',
      versions: [
        {
          name: 'v1beta2',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              },
            },
          },
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'ARN', type: 'string', jsonPath: `.status.${arnField}` },
            { name: 'Active', type: 'string', jsonPath: `.status.conditions[?(@.type=="${condition}")].status` },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
        },
      ],
    },
  };
}

/** The part of KubeClient the writer calls, over the harness's HTTPS requests (as the user `meshd`). */
function clientOf(cluster: KubeCluster, calls: string[]): KubeClient {
  const pathOf = (type: ResourceType, ns: string | undefined, name: string) =>
    `/apis/${type.group}/${type.version}${type.namespaced ? `/namespaces/${ns}` : ''}/${type.plural}/${name}`;
  const unused = () => Promise.reject(new KubeError('not used by the status writer', 0));
  return {
    get: unused,
    list: unused,
    watch: unused,
    create: unused,
    replace: unused,
    delete: unused,
    async patch<T extends KubeObject>(
      type: ResourceType,
      ns: string | undefined,
      name: string,
      body: unknown,
      patchType: 'json' | 'merge',
      subresource?: 'status',
    ): Promise<T> {
      const p = `${pathOf(type, ns, name)}${subresource ? `/${subresource}` : ''}`;
      calls.push(`PATCH ${p}`);
      const contentType = patchType === 'merge' ? 'application/merge-patch+json' : 'application/json-patch+json';
      const r = await cluster.request('PATCH', p, body, 'meshd', contentType);
      if (r.status >= 300) throw new KubeError(String(r.body?.message ?? r.status), r.status, r.body?.reason);
      return r.body as T;
    },
  };
}

const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

describeWithKube('status written to App Mesh objects in a real API server', () => {
  let cluster: KubeCluster;
  beforeAll(async () => {
    cluster = await startKubeCluster();
    await cluster.create(
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      crd(APP_MESH_TYPES.Mesh, 'meshARN', 'MeshActive'),
    );
    await cluster.create(
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      crd(APP_MESH_TYPES.VirtualNode, 'virtualNodeARN', 'VirtualNodeActive'),
    );
    // meshd's ClusterRole, the part the status writer uses (the App Mesh kinds' /status: get, patch).
    await cluster.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'meshd' },
      rules: [
        {
          apiGroups: [GROUP],
          resources: Object.values(APP_MESH_TYPES).map((t) => `${t.plural}/status`),
          verbs: ['get', 'patch'],
        },
      ],
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
        const r = await cluster.request('GET', `/apis/${API}/namespaces/prod/virtualnodes`);
        const m = await cluster.request('GET', `/apis/${API}/meshes`);
        return r.status === 200 && m.status === 200 ? true : undefined;
      },
      30_000,
      100,
    );
    await cluster.createNamespace('prod');
  }, 120_000);
  afterAll(async () => {
    await cluster?.close();
  });

  const node = (name: string, port: number) => ({
    apiVersion: API,
    kind: 'VirtualNode',
    metadata: { name, namespace: 'prod' },
    spec: {
      listeners: [{ portMapping: { port, protocol: 'http' } }],
      serviceDiscovery: { dns: { hostname: `${name}.prod.svc.cluster.local` } },
    },
  });

  /** The objects as an informer would hand them over, and the load they make (each in its virtual file). */
  async function evaluate(now: Date) {
    const meshes = (await cluster.request('GET', `/apis/${API}/meshes`)).body.items as KubeObject[];
    const nodes = (await cluster.request('GET', `/apis/${API}/namespaces/prod/virtualnodes`)).body
      .items as KubeObject[];
    const objects: StatusObject[] = [
      ...meshes.map((object) => ({ type: APP_MESH_TYPES.Mesh, object, file: `k8s:/meshes/${object.metadata.name}` })),
      ...nodes.map((object) => ({
        type: APP_MESH_TYPES.VirtualNode,
        object,
        file: `k8s:/virtualnodes/prod/${object.metadata.name}`,
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
    await cluster.create(`/apis/${API}/namespaces/prod/virtualnodes`, node('red', 8080));
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
    await cluster.create(`/apis/${API}/namespaces/prod/virtualnodes`, node('blue', 99999));
    writer.update(await evaluate(new Date('2026-12-04T16:30:00Z')));
    await writer.idle();
    expect(calls.slice(2)).toEqual([`PATCH /apis/${API}/namespaces/prod/virtualnodes/blue/status`]);
    const blue = (await cluster.request('GET', `/apis/${API}/namespaces/prod/virtualnodes/blue`)).body;
    expect(blue.status.conditions).toEqual([
      expect.objectContaining({ type: 'VirtualNodeActive', status: 'False', reason: 'ValidationFailed' }),
    ]);
    expect(blue.status.conditions[0].message).toMatch(/^error: VirtualNode\/blue_prod: .*99999/);
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
      { spec: { listeners: [{ portMapping: { port: 8080, protocol: 'http' } }] } },
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

  it('drops the write of an object deleted meanwhile', async () => {
    await cluster.create(`/apis/${API}/namespaces/prod/virtualnodes`, node('gone', 8080));
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
