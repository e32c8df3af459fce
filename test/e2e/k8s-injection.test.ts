// Sidecar injection through a real kube-apiserver: meshd's webhook server (on 127.0.0.1, with a
// certificate for that address) registered in a MutatingWebhookConfiguration; Pods created
// through the API come back with the sidecar and init containers, or untouched, or refused, as
// docs/kubernetes.md ("Sidecar injection") says, and with the webhook down the failure policy
// holds. No kubelet runs: the Pods are never started; what is checked is what the API stored.
// The VirtualNodes are given to the decide callback as a list (no CRDs needed here).
import * as fs from 'node:fs';
import * as https from 'node:https';
import { createCertificateAuthority, issueLeaf } from '../helpers/certs';
import { describeWithKube, startKubeCluster, type KubeAnswer, type KubeCluster } from '../helpers/kube';
import { readableTmpDir } from '../helpers/netns';
import { injectSidecar, type InjectionSettings } from '../../src/k8s/injection';
import type { KubeObject } from '../../src/k8s/kube-api';
import { startInjectionWebhook, type InjectionWebhook } from '../../src/k8s/webhook-server';

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const WEBHOOK = 'meshd-sidecar-injector';
const LABEL = 'appmesh.k8s.aws/sidecarInjectorWebhook';

const settings: InjectionSettings = {
  proxyInitImage: 'meshd-proxy-init:test',
  meshdImage: 'meshd:test',
  xdsAddress: 'meshd.meshd.svc:18000',
};

const vn = (namespace: string, name: string, matchLabels: Record<string, string>, awsName?: string): KubeObject => ({
  apiVersion: 'appmesh.k8s.aws/v1beta2',
  kind: 'VirtualNode',
  metadata: { name, namespace },
  spec: { podSelector: { matchLabels }, listeners: [{ portMapping: { port: 8080, protocol: 'http' } }], awsName },
});

describeWithKube('sidecar injection through a real API server', () => {
  let cluster: KubeCluster;
  let webhook: InjectionWebhook | undefined;
  let caBundle: string;
  let cert: { certFile: string; keyFile: string };
  let port = 0;
  /** What the decide callback was asked about (namespace/name). */
  const asked: string[] = [];
  /** The labels of the namespaces the test made (an informer's view). */
  const namespaces = new Map<string, Record<string, string>>();
  const virtualNodes: KubeObject[] = [
    vn('inject-on', 'front', { app: 'front' }, 'front-node'),
    vn('inject-on', 'twin-a', { app: 'twin' }),
    vn('inject-on', 'twin-b', { app: 'twin' }),
    vn('inject-off', 'front', { app: 'front' }),
  ];

  const startWebhook = async () => {
    webhook = await startInjectionWebhook({
      port,
      host: '127.0.0.1',
      tls: () => ({ cert: fs.readFileSync(cert.certFile, 'utf8'), key: fs.readFileSync(cert.keyFile, 'utf8') }),
      decide: (review) => {
        const ns = review.request.namespace ?? '';
        asked.push(`${ns}/${review.request.name ?? ''}`);
        return injectSidecar({
          pod: review.request.object,
          namespace: { name: ns, labels: namespaces.get(ns) ?? {} },
          virtualNodes: virtualNodes.filter((v) => v.metadata.namespace === ns),
          meshOf: () => 'apps',
          settings,
        });
      },
      log: quiet,
    });
    port = webhook.port;
  };

  const webhookConfiguration = (failurePolicy: 'Fail' | 'Ignore') => ({
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: WEBHOOK },
    webhooks: [
      {
        name: 'inject.meshd.dev',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy,
        timeoutSeconds: 5,
        clientConfig: { url: `https://127.0.0.1:${port}/mutate-pod`, caBundle },
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
        namespaceSelector: { matchLabels: { [LABEL]: 'enabled' } },
      },
    ],
  });

  const createNamespace = async (name: string, labels: Record<string, string>) => {
    namespaces.set(name, labels);
    await cluster.createNamespace(name, labels);
  };

  const podBody = (name: string, labels: Record<string, string>, annotations: Record<string, string> = {}) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels, annotations },
    spec: { containers: [{ name: 'app', image: 'front:1', ports: [{ containerPort: 8080 }] }] },
  });

  const api = (method: string, path: string, body?: unknown): Promise<KubeAnswer> =>
    cluster.request(method, path, body);
  /** A Pod create that also answers the Warning headers (which cluster.request leaves out). */
  const createWithWarnings = (ns: string, pod: unknown) =>
    new Promise<{ status: number; body: any; warnings: string[] }>((resolve, reject) => {
      const text = JSON.stringify(pod);
      const req = https.request(
        `${cluster.url}/api/v1/namespaces/${ns}/pods`,
        {
          method: 'POST',
          ca: fs.readFileSync(cluster.caFile),
          headers: {
            authorization: `Bearer ${cluster.token('admin')}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(text),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const warning = res.headers.warning;
            resolve({
              status: res.statusCode ?? 0,
              body: JSON.parse(Buffer.concat(chunks).toString()),
              warnings: warning === undefined ? [] : ([] as string[]).concat(warning),
            });
          });
        },
      );
      req.on('error', reject);
      req.end(text);
    });

  const createPod = (ns: string, pod: unknown) => api('POST', `/api/v1/namespaces/${ns}/pods`, pod);

  beforeAll(async () => {
    cluster = await startKubeCluster();
    const dir = readableTmpDir('inject-e2e-');
    const ca = createCertificateAuthority(dir, 'webhook-ca');
    cert = issueLeaf(ca, dir, {
      base: 'webhook',
      sans: ['IP:127.0.0.1'],
      subject: '/CN=127.0.0.1',
      keyUsage: 'critical,digitalSignature,keyEncipherment',
      days: 2,
    });
    caBundle = fs.readFileSync(ca.certFile).toString('base64');
    await startWebhook();
    const created = await api(
      'POST',
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
      webhookConfiguration('Fail'),
    );
    expect(created.status).toBe(201);
    await createNamespace('inject-on', { [LABEL]: 'enabled' });
    await createNamespace('inject-off', {});
  }, 120_000);

  afterAll(async () => {
    await webhook?.close();
    await cluster?.close();
  });

  /** Creates until the webhook configuration just written is in force (the API server's cache), or 30 s pass. */
  async function createPodOnceInForce(
    ns: string,
    pod: unknown,
    inForce: (r: KubeAnswer) => boolean,
  ): Promise<KubeAnswer> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await createPod(ns, pod);
      if (inForce(r) || Date.now() > deadline) return r;
      if (r.status === 201)
        await api('DELETE', `/api/v1/namespaces/${ns}/pods/${(pod as { metadata: { name: string } }).metadata.name}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  test('a Pod of a labelled namespace comes back with the sidecar, the init containers and its node', async () => {
    const r = await createPodOnceInForce('inject-on', podBody('front-1', { app: 'front' }), (x) =>
      (x.body?.spec?.containers ?? []).some((c: { name: string }) => c.name === 'envoy'),
    );
    expect(r.status).toBe(201);
    const stored = (await api('GET', '/api/v1/namespaces/inject-on/pods/front-1')).body;
    expect(stored.spec.containers.map((c: { name: string }) => c.name)).toEqual(['app', 'envoy']);
    expect(stored.spec.initContainers.map((c: { name: string }) => c.name)).toEqual(['meshd-bootstrap', 'proxyinit']);
    const envoy = stored.spec.containers[1];
    expect(envoy.image).toBe('envoyproxy/envoy:v1.40.0');
    expect(envoy.command).toEqual(['/meshd/entrypoint.sh']);
    expect(envoy.securityContext.runAsUser).toBe(1337);
    const env = Object.fromEntries(envoy.env.map((e: { name: string; value: string }) => [e.name, e.value]));
    expect(env.APPMESH_VIRTUAL_NODE_NAME).toBe('mesh/apps/virtualNode/front-node');
    expect(env.MESHD_XDS_ADDRESS).toBe('meshd.meshd.svc:18000');
    const init = stored.spec.initContainers[1];
    expect(init.securityContext.capabilities.add).toEqual(['NET_ADMIN']);
    const initEnv = Object.fromEntries(init.env.map((e: { name: string; value: string }) => [e.name, e.value]));
    expect(initEnv).toMatchObject({ APPMESH_APP_PORTS: '8080', APPMESH_IGNORE_UID: '1337' });
    expect(stored.spec.volumes.map((v: { name: string }) => v.name)).toContain('meshd-bootstrap');
    expect(stored.metadata.annotations['meshd/injected-node']).toBe('mesh/apps/virtualNode/front-node');
    expect(asked).toContain('inject-on/front-1');
  });

  test('a generated name, init containers, volumes and annotations of its own: the patch appends to them', async () => {
    const body = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { generateName: 'front-', labels: { app: 'front' }, annotations: { 'example.com/note': 'x' } },
      spec: {
        initContainers: [{ name: 'migrate', image: 'm:1' }],
        containers: [{ name: 'app', image: 'front:1' }],
        volumes: [{ name: 'data', emptyDir: {} }],
      },
    };
    const r = await createPod('inject-on', body);
    expect(r.body.message).toBeUndefined();
    expect(r.status).toBe(201);
    expect(r.body.metadata.name).toMatch(/^front-/);
    expect(r.body.spec.initContainers.map((c: { name: string }) => c.name)).toEqual([
      'migrate',
      'meshd-bootstrap',
      'proxyinit',
    ]);
    // The ServiceAccount admission plugin adds its token volume before the webhooks run.
    expect(r.body.spec.volumes.map((v: { name: string }) => v.name.replace(/^kube-api-access-.*/, 'token'))).toEqual([
      'data',
      'token',
      'meshd-bootstrap',
    ]);
    expect(r.body.metadata.annotations).toEqual({
      'example.com/note': 'x',
      'meshd/injected-node': 'mesh/apps/virtualNode/front-node',
    });
  });

  test('a Pod of an unlabelled namespace is untouched, and meshd is not even asked', async () => {
    const r = await createPod('inject-off', podBody('front-1', { app: 'front' }));
    expect(r.status).toBe(201);
    expect(r.body.spec.containers.map((c: { name: string }) => c.name)).toEqual(['app']);
    expect(r.body.spec.initContainers).toBeUndefined();
    expect(asked).not.toContain('inject-off/front-1');
  });

  test('the opt-out annotation leaves the Pod alone', async () => {
    const r = await createPod('inject-on', podBody('front-2', { app: 'front' }, { [LABEL]: 'disabled' }));
    expect(r.status).toBe(201);
    expect(r.body.spec.containers.map((c: { name: string }) => c.name)).toEqual(['app']);
  });

  test("meshd's refusal refuses the create with its sentence; no VirtualNode allows it with a warning", async () => {
    const twin = await createPod('inject-on', podBody('twin-1', { app: 'twin' }));
    expect(twin.status).toBe(403);
    expect(twin.body.message).toBe(
      'admission webhook "inject.meshd.dev" denied the request: several VirtualNodes select Pod inject-on/twin-1 ' +
        '(inject-on/twin-a, inject-on/twin-b); make their podSelectors select it once',
    );
    expect((await api('GET', '/api/v1/namespaces/inject-on/pods/twin-1')).status).toBe(404);
    // No VirtualNode: created as it is, and the API server passes meshd's warning on (kubectl prints it).
    const lone = await createWithWarnings('inject-on', podBody('lone-1', { app: 'lone' }));
    expect(lone.status).toBe(201);
    expect(lone.body.spec.containers.map((c: { name: string }) => c.name)).toEqual(['app']);
    expect(lone.warnings).toEqual([
      '299 - "meshd: no VirtualNode in namespace inject-on selects Pod inject-on/lone-1 by its podSelector; ' +
        'no sidecar injected"',
    ]);
  });

  test('webhook down: failurePolicy Fail refuses the create; Ignore lets it through unmodified', async () => {
    await webhook!.close();
    webhook = undefined;
    const refused = await createPod('inject-on', podBody('down-1', { app: 'front' }));
    expect(refused.status).toBe(500);
    expect(refused.body.message).toMatch(/^Internal error occurred: failed calling webhook "inject.meshd.dev"/);
    expect((await api('GET', '/api/v1/namespaces/inject-on/pods/down-1')).status).toBe(404);

    const current = (await api('GET', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${WEBHOOK}`))
      .body;
    const replaced = {
      ...webhookConfiguration('Ignore'),
      metadata: { name: WEBHOOK, resourceVersion: current.metadata.resourceVersion },
    };
    expect(
      (await api('PUT', `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${WEBHOOK}`, replaced))
        .status,
    ).toBe(200);
    const passed = await createPodOnceInForce(
      'inject-on',
      podBody('down-2', { app: 'front' }),
      (x) => x.status === 201,
    );
    expect(passed.status).toBe(201);
    expect(passed.body.spec.containers.map((c: { name: string }) => c.name)).toEqual(['app']);
    expect(passed.body.spec.initContainers).toBeUndefined();
  });
});
