// The sidecar injector's decision for a Pod create, as the App Mesh controller's webhook made it:
// the namespace label, the Pod's opt-out, one VirtualNode by podSelector (none: no sidecar; several:
// refused), App Mesh's annotations, and a JSON Patch that applies to Pods with and without
// initContainers, volumes or annotations. The patch is applied here by a strict RFC 6902 `add`
// (as the API server's json-patch applies it: a missing parent is an error).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  BOOTSTRAP_FILES,
  INJECTED_ANNOTATION,
  injectSidecar,
  pointerToken,
  type InjectionDecision,
  type InjectionInput,
  type InjectionSettings,
  type JsonPatchOp,
} from '../../src/k8s/injection';
import type { KubeObject } from '../../src/k8s/kube-api';

type Json = Record<string, unknown>;

/** RFC 6902 `add`, strict: the parent must exist, `-` appends, an index must be in range. */
function applyPatch(doc: unknown, patch: readonly JsonPatchOp[]): Json {
  const root = structuredClone(doc) as Json;
  for (const op of patch) {
    if (op.op !== 'add') throw new Error(`unexpected op ${String(op.op)}`);
    if (!op.path.startsWith('/')) throw new Error(`bad path ${op.path}`);
    const tokens = op.path
      .slice(1)
      .split('/')
      .map((t) => {
        if (/~[^01]|~$/.test(t)) throw new Error(`bad escape in ${op.path}`);
        return t.replace(/~1/g, '/').replace(/~0/g, '~');
      });
    const last = tokens.pop()!;
    let parent: unknown = root;
    for (const t of tokens) {
      if (Array.isArray(parent)) parent = parent[Number(t)];
      else if (parent !== null && typeof parent === 'object' && Object.hasOwn(parent, t)) parent = (parent as Json)[t];
      else throw new Error(`${op.path}: missing parent ${t}`);
      if (parent === undefined) throw new Error(`${op.path}: missing parent ${t}`);
    }
    const value = structuredClone(op.value);
    if (Array.isArray(parent)) {
      if (last === '-') parent.push(value);
      else {
        const i = Number(last);
        if (!/^\d+$/.test(last) || i > parent.length) throw new Error(`${op.path}: index out of range`);
        parent.splice(i, 0, value);
      }
    } else if (parent !== null && typeof parent === 'object') {
      Object.defineProperty(parent, last, { value, enumerable: true, writable: true, configurable: true });
    } else throw new Error(`${op.path}: parent is not a container`);
  }
  return root;
}

const settings: InjectionSettings = {
  proxyInitImage: 'meshd-proxy-init:test',
  meshdImage: 'meshd:test',
  xdsAddress: 'meshd.meshd.svc:18000',
};

const LABELLED = { name: 'prod', labels: { 'appmesh.k8s.aws/sidecarInjectorWebhook': 'enabled', mesh: 'apps' } };

const vn = (name: string, podSelector: unknown, spec: Json = {}): KubeObject => ({
  apiVersion: 'appmesh.k8s.aws/v1beta2',
  kind: 'VirtualNode',
  metadata: { name, namespace: 'prod' },
  spec: { podSelector, listeners: [{ portMapping: { port: 8080, protocol: 'http' } }], ...spec },
});

const pod = (over: Json = {}, metadata: Json = {}): Json => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'front-1', namespace: 'prod', labels: { app: 'front' }, ...metadata },
  spec: { containers: [{ name: 'app', image: 'front:1', ports: [{ containerPort: 8080 }] }], ...over },
  ...(over.__root ? (over.__root as Json) : {}),
});

const run = (p: unknown, over: Partial<InjectionInput> = {}): InjectionDecision =>
  injectSidecar({
    pod: p,
    namespace: LABELLED,
    virtualNodes: [vn('front', { matchLabels: { app: 'front' } })],
    meshOf: () => 'apps',
    settings,
    ...over,
  });

const patched = (p: Json, over: Partial<InjectionInput> = {}): Json => {
  const d = run(p, over);
  if (d.action !== 'patch') throw new Error(`expected a patch, got ${JSON.stringify(d)}`);
  return applyPatch(p, d.patch);
};

type Container = { name: string; image: string; env?: { name: string; value?: string }[]; [k: string]: unknown };
const spec = (p: Json) => p.spec as { containers: Container[]; initContainers?: Container[]; volumes?: Json[] };
const envOf = (c: Container | undefined): Record<string, string> =>
  Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value ?? '']));
const container = (p: Json, name: string) => spec(p).containers.find((c) => c.name === name);
const init = (p: Json, name: string) => spec(p).initContainers?.find((c) => c.name === name);

describe('which Pods get a sidecar', () => {
  test('a Pod in a labelled namespace selected by one VirtualNode gets envoy, proxyinit and the bootstrap copy', () => {
    const out = patched(pod());
    expect(spec(out).containers.map((c) => c.name)).toEqual(['app', 'envoy']);
    expect(spec(out).initContainers!.map((c) => c.name)).toEqual(['meshd-bootstrap', 'proxyinit']);
    const envoy = container(out, 'envoy')!;
    expect(envoy.image).toBe('envoyproxy/envoy:v1.40.0');
    expect(envoy.command).toEqual(['/meshd/entrypoint.sh']);
    expect(envoy.securityContext).toEqual({ runAsUser: 1337 });
    expect(envOf(envoy)).toMatchObject({
      APPMESH_VIRTUAL_NODE_NAME: 'mesh/apps/virtualNode/front_prod',
      MESHD_XDS_ADDRESS: 'meshd.meshd.svc:18000',
      APPMESH_ENVOY_INGRESS_PORT: '15000',
      APPMESH_ENVOY_EGRESS_PORT: '15001',
      ENVOY_ADMIN_ACCESS_PORT: '9901',
      ENVOY_LOG_LEVEL: 'info',
    });
    expect((envoy.ports as { containerPort: number }[]).map((p) => p.containerPort).sort()).toEqual([
      15000, 15001, 9901,
    ]);
    expect(envoy.volumeMounts).toEqual([{ name: 'meshd-bootstrap', mountPath: '/meshd', readOnly: true }]);
    expect(envOf(init(out, 'proxyinit'))).toEqual({
      APPMESH_START_ENABLED: '1',
      APPMESH_IGNORE_UID: '1337',
      APPMESH_ENVOY_INGRESS_PORT: '15000',
      APPMESH_ENVOY_EGRESS_PORT: '15001',
      APPMESH_APP_PORTS: '8080',
      APPMESH_EGRESS_IGNORED_IP: '169.254.169.254,169.254.170.2',
      APPMESH_EGRESS_IGNORED_PORTS: '22',
    });
    expect(init(out, 'proxyinit')!.securityContext).toEqual({ capabilities: { add: ['NET_ADMIN'] } });
    const copy = init(out, 'meshd-bootstrap')!;
    expect(copy.image).toBe('meshd:test');
    expect(copy.command).toEqual([
      'cp',
      '/opt/meshd/envoy-bootstrap/entrypoint.sh',
      '/opt/meshd/envoy-bootstrap/render-bootstrap.sh',
      '/opt/meshd/envoy-bootstrap/bootstrap.yaml',
      '/opt/meshd/envoy-bootstrap/appmesh-variables.tsv',
      '/meshd/',
    ]);
    expect(spec(out).volumes).toEqual([{ name: 'meshd-bootstrap', emptyDir: {} }]);
    expect((out.metadata as Json).annotations).toEqual({ [INJECTED_ANNOTATION]: 'mesh/apps/virtualNode/front_prod' });
  });

  test('the node id uses spec.awsName when set', () => {
    const out = run(pod(), { virtualNodes: [vn('front', { matchLabels: { app: 'front' } }, { awsName: 'front-v2' })] });
    expect(out).toMatchObject({ action: 'patch', nodeId: 'mesh/apps/virtualNode/front-v2' });
  });

  test('an unlabelled namespace, or one labelled anything but enabled, is left alone', () => {
    expect(run(pod(), { namespace: { name: 'prod', labels: {} } })).toMatchObject({ action: 'skip' });
    expect(run(pod(), { namespace: { name: 'prod' } })).toMatchObject({ action: 'skip' });
    const disabled = { name: 'prod', labels: { 'appmesh.k8s.aws/sidecarInjectorWebhook': 'disabled' } };
    expect(run(pod(), { namespace: disabled })).toMatchObject({ action: 'skip' });
  });

  test("the Pod's opt-out annotation wins over the namespace label", () => {
    const d = run(pod({}, { annotations: { 'appmesh.k8s.aws/sidecarInjectorWebhook': 'Disabled' } }));
    expect(d).toEqual({ action: 'skip', reason: expect.stringContaining('disabled') });
  });

  test('no VirtualNode selects the Pod: no sidecar, with a warning; refused when the Pod asks for one', () => {
    const none = run(pod({}, { labels: { app: 'other' } }));
    expect(none).toMatchObject({
      action: 'skip',
      warning: expect.stringContaining('no VirtualNode in namespace prod'),
    });
    const asked = run(
      pod({}, { labels: { app: 'other' }, annotations: { 'appmesh.k8s.aws/sidecarInjectorWebhook': 'enabled' } }),
    );
    expect(asked).toMatchObject({
      action: 'deny',
      message: expect.stringContaining('no VirtualNode in namespace prod selects Pod prod/front-1'),
    });
    // The namespace annotation asks the same for every Pod of it.
    const nsAsked = run(pod({}, { labels: { app: 'other' } }), {
      namespace: { ...LABELLED, annotations: { 'appmesh.k8s.aws/sidecarInjectorWebhook': 'enabled' } },
    });
    expect(nsAsked).toMatchObject({ action: 'deny' });
  });

  test("a Pod on the node's network is left alone, with a warning (its iptables rules would be the node's)", () => {
    expect(run(pod({ hostNetwork: true }))).toMatchObject({
      action: 'skip',
      warning: expect.stringContaining('hostNetwork'),
    });
  });

  test('a VirtualNode without a podSelector selects nothing; an empty one selects every Pod', () => {
    expect(run(pod(), { virtualNodes: [vn('a', undefined)] })).toMatchObject({ action: 'skip' });
    expect(run(pod(), { virtualNodes: [vn('a', {})] })).toMatchObject({ action: 'patch' });
    expect(
      run(pod(), {
        virtualNodes: [vn('a', { matchExpressions: [{ key: 'app', operator: 'In', values: ['front'] }] })],
      }),
    ).toMatchObject({ action: 'patch', nodeId: 'mesh/apps/virtualNode/a_prod' });
  });

  test('several VirtualNodes selecting the Pod refuse it, naming them', () => {
    const d = run(pod(), {
      virtualNodes: [vn('b', { matchLabels: { app: 'front' } }), vn('a', {}), vn('c', { matchLabels: { app: 'x' } })],
    });
    expect(d).toEqual({
      action: 'deny',
      message: expect.stringContaining('several VirtualNodes select Pod prod/front-1 (prod/a, prod/b)'),
    });
  });

  test('a VirtualNode of no known mesh refuses the Pod', () => {
    expect(run(pod(), { meshOf: () => undefined })).toMatchObject({
      action: 'deny',
      message: expect.stringContaining('VirtualNode prod/front selects Pod prod/front-1 but belongs to no mesh'),
    });
  });
});

describe("App Mesh's annotations", () => {
  test('ports, egress ignored ports and IPs go to proxyinit', () => {
    const out = patched(
      pod(
        {},
        {
          annotations: {
            'appmesh.k8s.aws/ports': '9000, 9001',
            'appmesh.k8s.aws/egressIgnoredPorts': '3306,5432',
            'appmesh.k8s.aws/egressIgnoredIPs': '10.0.0.0/8,192.168.1.1',
          },
        },
      ),
    );
    expect(envOf(init(out, 'proxyinit'))).toMatchObject({
      APPMESH_APP_PORTS: '9000,9001',
      APPMESH_EGRESS_IGNORED_PORTS: '3306,5432',
      APPMESH_EGRESS_IGNORED_IP: '169.254.169.254,169.254.170.2,10.0.0.0/8,192.168.1.1',
    });
    // The pod had annotations: the marker is added beside them, its '/' escaped in the pointer.
    expect((out.metadata as Json).annotations).toMatchObject({
      'appmesh.k8s.aws/ports': '9000, 9001',
      [INJECTED_ANNOTATION]: 'mesh/apps/virtualNode/front_prod',
    });
  });

  test('without the ports annotation the app ports are the VirtualNode listeners (none: no inbound capture)', () => {
    const two = vn('front', {}, { listeners: [{ portMapping: { port: 80 } }, { portMapping: { port: 81 } }] });
    expect(envOf(init(patched(pod(), { virtualNodes: [two] }), 'proxyinit')).APPMESH_APP_PORTS).toBe('80,81');
    const none = vn('front', {}, { listeners: [] });
    expect(envOf(init(patched(pod(), { virtualNodes: [none] }), 'proxyinit')).APPMESH_APP_PORTS).toBe('');
  });

  test('cpu and memory requests and limits', () => {
    const out = patched(
      pod({}, { annotations: { 'appmesh.k8s.aws/cpuRequest': '100m', 'appmesh.k8s.aws/memoryLimit': '128Mi' } }),
    );
    expect(container(out, 'envoy')!.resources).toEqual({
      requests: { cpu: '100m', memory: '32Mi' },
      limits: { memory: '128Mi' },
    });
    expect(init(out, 'proxyinit')!.resources).toEqual(container(out, 'envoy')!.resources);
  });

  test('secretMounts and volumeMounts mount into envoy', () => {
    const out = patched(
      pod(
        { volumes: [{ name: 'certs', emptyDir: {} }] },
        {
          annotations: {
            'appmesh.k8s.aws/secretMounts': 'front-tls:/certs/tls',
            'appmesh.k8s.aws/volumeMounts': 'certs:/extra',
          },
        },
      ),
    );
    expect(spec(out).volumes).toEqual([
      { name: 'certs', emptyDir: {} },
      { name: 'meshd-bootstrap', emptyDir: {} },
      { name: 'front-tls', secret: { secretName: 'front-tls' } },
    ]);
    expect(container(out, 'envoy')!.volumeMounts).toEqual([
      { name: 'meshd-bootstrap', mountPath: '/meshd', readOnly: true },
      { name: 'front-tls', mountPath: '/certs/tls', readOnly: true },
      { name: 'certs', mountPath: '/extra', readOnly: true },
    ]);
  });

  test.each([
    ['appmesh.k8s.aws/ports', '80,http'],
    ['appmesh.k8s.aws/ports', '70000'],
    ['appmesh.k8s.aws/egressIgnoredPorts', '22;23'],
    ['appmesh.k8s.aws/egressIgnoredIPs', '10.0.0.1 -j ACCEPT'],
    ['appmesh.k8s.aws/cpuRequest', 'lots'],
    ['appmesh.k8s.aws/secretMounts', 'tls'],
    ['appmesh.k8s.aws/volumeMounts', 'missing:/x'],
  ])('a bad %s (%s) refuses the Pod with one sentence naming it', (key, value) => {
    const d = run(pod({}, { annotations: { [key]: value } }));
    expect(d).toMatchObject({ action: 'deny', message: expect.stringContaining(`Pod prod/front-1: `) });
    expect((d as { message: string }).message).toContain(key);
  });
});

describe('settings', () => {
  test('xDS TLS mounts the CA bundle and names the server', () => {
    const out = patched(pod(), {
      settings: { ...settings, xdsTls: { caConfigMap: 'meshd-ca' }, logLevel: 'debug', envoyImage: 'envoy:x' },
    });
    const envoy = container(out, 'envoy')!;
    expect(envoy.image).toBe('envoy:x');
    expect(envOf(envoy)).toMatchObject({
      MESHD_XDS_TLS: '1',
      MESHD_XDS_CA_FILE: '/meshd-ca/ca.crt',
      MESHD_XDS_SERVER_NAME: 'meshd.meshd.svc',
      ENVOY_LOG_LEVEL: 'debug',
    });
    expect(spec(out).volumes).toContainEqual({
      name: 'meshd-xds-ca',
      configMap: { name: 'meshd-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] },
    });
    const secret = patched(pod(), { settings: { ...settings, xdsTls: { caSecret: 's', key: 'bundle.pem' } } });
    expect(spec(secret).volumes).toContainEqual({
      name: 'meshd-xds-ca',
      secret: { secretName: 's', items: [{ key: 'bundle.pem', path: 'ca.crt' }] },
    });
  });
});

describe("the sidecar's variables, as meshd's entrypoint reads them", () => {
  test('render-bootstrap.sh, copied as meshd-bootstrap copies it, takes every injected variable without a complaint', () => {
    const out = patched(pod(), { settings: { ...settings, xdsTls: { caSecret: 'meshd-ca' }, statsTags: true } });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inject-'));
    try {
      for (const f of BOOTSTRAP_FILES) fs.copyFileSync(path.join('envoy-bootstrap', f), path.join(dir, f));
      const env = envOf(container(out, 'envoy'));
      const r = spawnSync('sh', [path.join(dir, 'render-bootstrap.sh')], {
        env: { PATH: process.env.PATH, ...env },
        encoding: 'utf8',
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('id: "mesh/apps/virtualNode/front_prod"');
      expect(r.stdout).toContain('filename: "/meshd-ca/ca.crt"');
      expect(r.stdout).toContain('sni: "meshd.meshd.svc"');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the patch', () => {
  test('applies to a Pod with initContainers, volumes and annotations, appending after them', () => {
    const p = pod(
      { initContainers: [{ name: 'migrate', image: 'm' }], volumes: [{ name: 'data', emptyDir: {} }] },
      { annotations: { 'a~b/c': 'x' } },
    );
    const out = patched(p);
    expect(spec(out).initContainers!.map((c) => c.name)).toEqual(['migrate', 'meshd-bootstrap', 'proxyinit']);
    expect(spec(out).volumes!.map((v) => v.name)).toEqual(['data', 'meshd-bootstrap']);
    expect((out.metadata as Json).annotations).toEqual({ 'a~b/c': 'x', [INJECTED_ANNOTATION]: expect.any(String) });
  });

  test('applies to a Pod with null lists and no metadata labels', () => {
    const p = { metadata: { name: 'x' }, spec: { containers: [{ name: 'app' }], initContainers: null, volumes: null } };
    const out = patched(p, { virtualNodes: [vn('all', {})] });
    expect(spec(out).initContainers!).toHaveLength(2);
  });

  test('pointer tokens escape ~ and /', () => {
    expect(pointerToken('meshd/injected-node')).toBe('meshd~1injected-node');
    expect(pointerToken('a~/b')).toBe('a~0~1b');
  });

  test('is idempotent: an injected Pod is skipped', () => {
    const once = patched(pod());
    expect(run(once)).toMatchObject({ action: 'skip', reason: expect.stringContaining('already has') });
    // A Pod with its own container named envoy is not given a second one.
    expect(run(pod({ containers: [{ name: 'envoy', image: 'e' }] }))).toMatchObject({ action: 'skip' });
  });

  test('a Pod already holding a volume of that name is refused, not patched into an invalid Pod', () => {
    expect(run(pod({ volumes: [{ name: 'meshd-bootstrap', emptyDir: {} }] }))).toMatchObject({
      action: 'deny',
      message: expect.stringContaining('volume named meshd-bootstrap'),
    });
  });
});

describe('hostile Pods', () => {
  test.each<[string, unknown]>([
    ['not an object', 'pod'],
    ['null', null],
    ['no spec', { metadata: { name: 'x' } }],
    ['containers not a list', { metadata: { name: 'x' }, spec: { containers: { a: 1 } } }],
    ['initContainers not a list', { metadata: { name: 'x' }, spec: { containers: [], initContainers: 'x' } }],
    ['volumes not a list', { metadata: { name: 'x' }, spec: { containers: [], volumes: 5 } }],
  ])('%s: refused, never thrown', (_name, p) => {
    expect(run(p, { virtualNodes: [vn('all', {})] })).toMatchObject({ action: 'deny' });
  });

  test('labels and annotations of the wrong types, odd names and prototype keys do not throw or match', () => {
    const p = {
      metadata: {
        generateName: 'front-\u0000\n',
        labels: { app: 5, constructor: 'x', __proto__: { app: 'front' } },
        annotations: ['appmesh.k8s.aws/ports'],
      },
      spec: { containers: [null, 7, { name: 'app' }] },
    };
    const d = run(p);
    expect(d).toMatchObject({ action: 'skip' });
    expect(JSON.stringify(d)).not.toContain('\\u0000');
    expect(JSON.stringify(d)).not.toContain('\\n');
    const withSelector = run(p, { virtualNodes: [vn('c', { matchLabels: { constructor: 'x' } })] });
    expect(withSelector).toMatchObject({ action: 'patch' });
  });

  test('a huge Pod (1000 containers, 10k labels) is decided quickly; more containers are refused', () => {
    const labels: Json = { app: 'front' };
    for (let i = 0; i < 10_000; i++) labels[`l${i}`] = String(i);
    const containers = Array.from({ length: 1000 }, (_, i) => ({ name: `c${i}`, image: 'x' }));
    const d = run({ metadata: { name: 'big', labels }, spec: { containers } });
    expect(d).toMatchObject({ action: 'patch' });
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ name: `c${i}` }));
    expect(run({ metadata: { name: 'big', labels }, spec: { containers: tooMany } })).toMatchObject({ action: 'deny' });
  });

  test('a huge annotation is refused with a clipped message', () => {
    const d = run(pod({}, { annotations: { 'appmesh.k8s.aws/ports': '1,'.repeat(100_000) } }));
    expect(d).toMatchObject({ action: 'deny' });
    expect((d as { message: string }).message.length).toBeLessThan(400);
  });

  test('a throwing meshOf is a refusal, not an exception', () => {
    const d = run(pod(), {
      meshOf: () => {
        throw new Error('boom');
      },
    });
    expect(d).toMatchObject({ action: 'deny', message: expect.stringContaining('boom') });
  });
});
