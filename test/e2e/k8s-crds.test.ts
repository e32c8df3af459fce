// meshd's CRDs (`meshd k8s crds`) on a real kube-apiserver: they are established, every App Mesh
// manifest of the repository (with the feature manifests of test/fixtures/k8s-feature-manifests/,
// which cover what three App Mesh walkthroughs use) is created unchanged (with strict
// field validation: a field the schema lacks would be refused, not pruned) and reads back the same,
// `kubectl get virtualnodes` shows the printer columns, and a value App Mesh does not have is
// refused with a message. The install manifests pass the API server's validation (a dry run).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { customResourceDefinitions } from '../../src/k8s/crds';
import { APP_MESH_TYPES, type KubeObject } from '../../src/k8s/kube-api';
import { DEFAULT_INSTALL_OPTIONS, installManifests } from '../../src/k8s/manifests';
import { describeWithKube, startKubeCluster, type KubeCluster } from '../helpers/kube';

const ROOT = path.resolve(__dirname, '../..');
const MANIFEST_DIRS = [
  'test/fixtures/dialects/k8s',
  'examples/colorapp-migration/mesh-k8s',
  'test/fixtures/k8s-feature-manifests',
];
const APP_MESH = 'appmesh.k8s.aws/v1beta2';

/** The Namespaces and App Mesh objects of the manifest folders, file by file. */
function manifestObjects(): { file: string; object: KubeObject }[] {
  return MANIFEST_DIRS.flatMap((dir) =>
    fs
      .readdirSync(path.join(ROOT, dir))
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .flatMap((f) =>
        parseAllDocuments(fs.readFileSync(path.join(ROOT, dir, f), 'utf8'))
          .map((d) => d.toJS() as KubeObject | null)
          .filter((o): o is KubeObject => !!o && (o.apiVersion === APP_MESH || o.kind === 'Namespace'))
          .map((object) => ({ file: `${dir}/${f}`, object })),
      ),
  );
}

function collectionPath(o: KubeObject): string {
  if (o.kind === 'Namespace') return '/api/v1/namespaces';
  const type = APP_MESH_TYPES[o.kind as keyof typeof APP_MESH_TYPES];
  const ns = type.namespaced ? `/namespaces/${o.metadata.namespace ?? 'default'}` : '';
  return `/apis/${type.group}/${type.version}${ns}/${type.plural}`;
}

/** JSON with every object's keys sorted. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describeWithKube('meshd CRDs on a real kube-apiserver', () => {
  let kube: KubeCluster;
  const request = (method: string, p: string, body?: unknown) => kube.request(method, p, body);
  afterAll(() => kube?.close());

  beforeAll(async () => {
    kube = await startKubeCluster();
    for (const crd of customResourceDefinitions()) {
      const res = await request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      if (res.status !== 201) throw new Error(`CRD ${crd.metadata.name} refused: ${JSON.stringify(res.body)}`);
    }
    for (const crd of customResourceDefinitions()) {
      await waitFor(`CRD ${crd.metadata.name} to be Established`, async () => {
        const res = await request(
          'GET',
          `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
        );
        const conditions =
          (res.body as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? [];
        return conditions.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
      });
    }
    // The App Mesh group is served once discovery lists it.
    await waitFor('the appmesh.k8s.aws/v1beta2 API', async () =>
      (await request('GET', '/apis/appmesh.k8s.aws/v1beta2')).status === 200 ? true : undefined,
    );
  }, 180_000);

  it('creates every App Mesh manifest unchanged (strict field validation) and reads each back with the same spec', async () => {
    const objects = manifestObjects();
    expect(objects.filter((o) => o.object.apiVersion === APP_MESH).length).toBeGreaterThan(30);
    const namespaces = new Set(
      objects
        .filter((o) => o.object.kind !== 'Namespace' && o.object.kind !== 'Mesh')
        .map((o) => o.object.metadata.namespace ?? 'default'),
    );
    const declared = new Set(objects.filter((o) => o.object.kind === 'Namespace').map((o) => o.object.metadata.name));
    for (const ns of [...namespaces].filter((n) => !declared.has(n) && n !== 'default'))
      expect(
        (await request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }))
          .status,
      ).toBe(201);

    const refused: string[] = [];
    const differing: string[] = [];
    const ordered = [
      ...objects.filter((o) => o.object.kind === 'Namespace'),
      ...objects.filter((o) => o.object.kind !== 'Namespace'),
    ];
    for (const { file, object } of ordered) {
      const where = `${file}: ${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`;
      const res = await request('POST', `${collectionPath(object)}?fieldValidation=Strict`, object);
      if (res.status !== 201) {
        refused.push(`${where}: ${res.status} ${(res.body as { message?: string }).message ?? ''}`);
        continue;
      }
      if (object.kind === 'Namespace') continue;
      const read = await request('GET', `${collectionPath(object)}/${object.metadata.name}`);
      // The API server writes keys in its own order: compared with keys sorted, nothing added, dropped or changed.
      if (canonical((read.body as KubeObject).spec ?? {}) !== canonical(object.spec ?? {})) {
        differing.push(
          `${where}: sent ${canonical(object.spec ?? {})}, read ${canonical((read.body as KubeObject).spec)}`,
        );
      }
    }
    expect(refused).toEqual([]);
    expect(differing).toEqual([]);
  });

  it('kubectl get virtualnodes shows the ARN, the Active condition and the age', async () => {
    const ns = 'printer-columns';
    await kube.createNamespace(ns);
    const node = {
      apiVersion: APP_MESH,
      kind: 'VirtualNode',
      metadata: { name: 'red', namespace: ns },
      spec: {
        listeners: [{ portMapping: { port: 8080, protocol: 'http' } }],
        serviceDiscovery: { dns: { hostname: 'red' } },
      },
    };
    const base = `/apis/appmesh.k8s.aws/v1beta2/namespaces/${ns}/virtualnodes`;
    expect((await request('POST', base, node)).status).toBe(201);
    const arn = 'arn:aws:appmesh:us-east-1:000000000000:mesh/m/virtualNode/red_printer-columns';
    const status = {
      virtualNodeARN: arn,
      observedGeneration: 1,
      conditions: [
        {
          type: 'VirtualNodeActive',
          status: 'True',
          lastTransitionTime: '2026-12-04T17:00:00Z',
          reason: 'Compiled',
          message: 'ok',
        },
      ],
    };
    // The status subresource: written there, it is kept (a status in the main resource would not be).
    const current = (await request('GET', `${base}/red`)).body as KubeObject;
    const put = await request('PUT', `${base}/red/status`, { ...current, status });
    expect(put.status).toBe(200);
    expect(((await request('GET', `${base}/red`)).body as { status?: unknown }).status).toEqual(status);

    const text = kube.kubectl(['get', 'virtualnodes', '-n', ns]);
    const [header, row] = text.trim().split('\n');
    expect(header!.split(/\s+/)).toEqual(['NAME', 'ARN', 'ACTIVE', 'AGE']);
    expect(row!.split(/\s+/).slice(0, 3)).toEqual(['red', arn, 'True']);
  });

  it('refuses a value App Mesh does not have, naming the field', async () => {
    const res = await request('POST', '/apis/appmesh.k8s.aws/v1beta2/namespaces/default/virtualnodes', {
      apiVersion: APP_MESH,
      kind: 'VirtualNode',
      metadata: { name: 'bad-protocol', namespace: 'default' },
      spec: { listeners: [{ portMapping: { port: 8080, protocol: 'htp' } }] },
    });
    expect(res.status).toBe(422);
    const message = (res.body as { message: string }).message;
    expect(message).toContain('spec.listeners[0].portMapping.protocol');
    expect(message).toContain('Unsupported value: "htp"');
  });

  it('refuses both a Ref and an ARN for one reference, and two members of an App Mesh union', async () => {
    const create = (name: string, spec: unknown) =>
      request('POST', '/apis/appmesh.k8s.aws/v1beta2/namespaces/default/virtualservices', {
        apiVersion: APP_MESH,
        kind: 'VirtualService',
        metadata: { name, namespace: 'default' },
        spec,
      });
    const both = await create('both', {
      provider: {
        virtualNode: { virtualNodeRef: { name: 'a' }, virtualNodeARN: 'arn:aws:appmesh:r:1:mesh/m/virtualNode/a' },
      },
    });
    expect(both.status).toBe(422);
    const two = await create('two', {
      provider: { virtualNode: { virtualNodeRef: { name: 'a' } }, virtualRouter: { virtualRouterRef: { name: 'r' } } },
    });
    expect(two.status).toBe(422);
    expect((two.body as { message: string }).message).toContain('spec.provider');
  });

  it('the install manifests pass the API server validation (a dry run)', async () => {
    const objects = installManifests({ ...DEFAULT_INSTALL_OPTIONS, xdsTls: true });
    const refused: string[] = [];
    for (const o of objects.filter((x) => x.kind !== 'CustomResourceDefinition')) {
      const [group, version] = o.apiVersion!.includes('/') ? o.apiVersion!.split('/') : ['', o.apiVersion!];
      const plural = `${o.kind!.toLowerCase()}s`; // every kind of the manifests makes its plural so
      const ns = o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : '';
      const prefix = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
      // The Namespace for real (the others are checked in it), the rest as a dry run.
      const dry = o.kind === 'Namespace' ? '' : '?dryRun=All&fieldValidation=Strict';
      const res = await request('POST', `${prefix}${ns}/${plural}${dry}`, o);
      if (res.status !== 201)
        refused.push(`${o.kind} ${o.metadata.name}: ${res.status} ${(res.body as { message?: string }).message ?? ''}`);
    }
    expect(refused).toEqual([]);
  });
});
