// `meshd serve --kubernetes` as the control plane of a real kube-apiserver (test/helpers/kube.ts), run as the
// user `meshd` holding exactly the RBAC `meshd k8s manifests` prints: the status it writes back (what
// `kubectl get virtualnodes` shows, and the same message `meshd validate` prints for the same manifests as
// files); the sidecar injection webhook registered in the MutatingWebhookConfiguration, whose CA bundle meshd
// writes itself, and its failure policy once meshd is gone; a leader killed in the middle of a rollout, whose
// successor carries it on from the ConfigMap without repeating or skipping a step; and a missing RBAC verb,
// which meshd names. No kubelet runs: pods are never started, only what the API server stores is checked.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { Informer } from '../../src/k8s/informer';
import { APP_MESH_TYPES, type KubeObject } from '../../src/k8s/kube-api';
import { createKubeClient, loadKubeConfig } from '../../src/k8s/kube-client';
import { describeWithKube, startKubeCluster, type KubeCluster } from '../helpers/kube';
import {
  installMeshdRbac,
  kubeMeshdReady as ready,
  meshd,
  MESHD_NAMESPACE,
  startKubeMeshd,
  type KubeMeshd,
} from '../helpers/kube-meshd';
import { freePorts, httpGet, MESHD_BIN, tmpDir, waitFor } from '../helpers/processes';

const API = 'appmesh.k8s.aws/v1beta2';
const INJECT_LABEL = 'appmesh.k8s.aws/sidecarInjectorWebhook';
const NS = 'apps';
const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** Both streams of a meshd (its log). */
const logOf = (m: KubeMeshd) => m.process.stdout() + m.process.stderr();

// --- the mesh, as Kubernetes manifests -------------------------------------------------------------------

const namespaceDoc = {
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: NS, labels: { mesh: NS, [INJECT_LABEL]: 'enabled' } },
};
const meshDoc = {
  apiVersion: API,
  kind: 'Mesh',
  metadata: { name: NS },
  spec: { namespaceSelector: { matchLabels: { mesh: NS } } },
};
const nodeDoc = (name: string, backend?: string) => ({
  apiVersion: API,
  kind: 'VirtualNode',
  metadata: { name, namespace: NS },
  spec: {
    podSelector: { matchLabels: { app: name } },
    listeners: [{ portMapping: { port: 8080, protocol: 'http' } }],
    serviceDiscovery: { dns: { hostname: `${name}.${NS}.svc.cluster.local` } },
    ...(backend ? { backends: [{ virtualService: { virtualServiceRef: { name: backend } } }] } : {}),
  },
});
const routerDoc = {
  apiVersion: API,
  kind: 'VirtualRouter',
  metadata: { name: 'back', namespace: NS },
  spec: {
    listeners: [{ portMapping: { port: 8080, protocol: 'http' } }],
    routes: [
      {
        name: 'main',
        httpRoute: {
          match: { prefix: '/' },
          action: {
            weightedTargets: [
              { virtualNodeRef: { name: 'back-v1' }, weight: 100 },
              { virtualNodeRef: { name: 'back-v2' }, weight: 0 },
            ],
          },
        },
      },
    ],
  },
};
const serviceDoc = {
  apiVersion: API,
  kind: 'VirtualService',
  metadata: { name: 'back', namespace: NS },
  spec: {
    awsName: `back.${NS}.svc.cluster.local`,
    provider: { virtualRouter: { virtualRouterRef: { name: 'back' } } },
  },
};
/** The valid mesh: front calls back, whose router splits between back-v1 and back-v2. */
const MESH = [meshDoc, nodeDoc('front', 'back'), nodeDoc('back-v1'), nodeDoc('back-v2'), routerDoc, serviceDoc];
const yamlOf = (docs: readonly unknown[]) => docs.map((d) => stringify(d)).join('---\n');

function applyMesh(kube: KubeCluster): void {
  kube.kubectl(['apply', '-f', '-'], 'admin', yamlOf(MESH));
}

const vnPath = (name: string) => `/apis/${API}/namespaces/${NS}/virtualnodes/${name}`;

async function getNode(kube: KubeCluster, name: string): Promise<any> {
  return (await kube.request('GET', vnPath(name))).body;
}

function activeOf(object: any): { status?: string; message?: string } | undefined {
  return (object?.status?.conditions ?? []).find((c: { type: string }) => c.type === 'VirtualNodeActive');
}

describeWithKube('meshd serve --kubernetes as the control plane of a cluster', () => {
  let kube: KubeCluster;
  beforeAll(async () => {
    kube = await startKubeCluster();
    installMeshdRbac(kube);
    await kube.createNamespace(NS, namespaceDoc.metadata.labels);
    await kube.createNamespace('plain');
    applyMesh(kube);
  }, 180_000);
  afterAll(() => kube?.close());

  describe('status and sidecar injection', () => {
    let m: KubeMeshd | undefined;
    let webhookPort = 0;
    beforeAll(async () => {
      [webhookPort] = (await freePorts(1)) as [number];
      m = await startKubeMeshd(kube, [
        '--webhook-port',
        String(webhookPort),
        '--webhook-address',
        '127.0.0.1',
        '--webhook-names',
        '127.0.0.1',
      ]);
      await ready(m);
    }, 120_000);
    afterAll(() => m?.stop());

    it('writes VirtualNodeActive, observedGeneration and the ARN; a dangling backend shows what `meshd validate` says, until fixed', async () => {
      const front = await waitFor(
        'VirtualNode front to be Active',
        async () => {
          const vn = await getNode(kube, 'front');
          return activeOf(vn)?.status === 'True' ? vn : undefined;
        },
        30_000,
        100,
      );
      expect(front.status.observedGeneration).toBe(front.metadata.generation);
      expect(front.status.virtualNodeARN).toBe(
        `arn:aws:appmesh:us-east-1:000000000000:mesh/${NS}/virtualNode/front_${NS}`,
      );
      const table = kube.kubectl(['get', 'virtualnodes', '-n', NS]);
      process.stdout.write(`kubectl get virtualnodes -n ${NS}:\n${table}`);
      expect(table.split('\n').find((r) => r.startsWith('front '))).toMatch(
        new RegExp(`^front\\s+arn:aws:appmesh:us-east-1:000000000000:mesh/${NS}/virtualNode/front_${NS}\\s+True\\s`),
      );

      // A node whose backend names a VirtualService that does not exist (the CRD's schema cannot tell).
      const broken = nodeDoc('broken', 'missing');
      const dir = tmpDir('k8s-control-validate-');
      fs.writeFileSync(path.join(dir, 'namespace.yaml'), yamlOf([namespaceDoc]));
      fs.writeFileSync(path.join(dir, 'mesh.yaml'), yamlOf(MESH));
      fs.writeFileSync(path.join(dir, 'broken.yaml'), yamlOf([broken]));
      const validated = spawnSync(process.execPath, [MESHD_BIN, 'validate', dir], { encoding: 'utf8' });
      expect(validated.status).not.toBe(0);
      const line = (validated.stdout + validated.stderr)
        .split('\n')
        .find((l) => l.includes('broken.yaml:') && l.includes(' error: '));
      expect(line).toBeDefined();
      const expected = line!.replace(/^.*?broken\.yaml:\d+:\d+: /, '');
      process.stdout.write(`meshd validate: ${line}\n`);

      kube.kubectl(['apply', '-f', '-'], 'admin', yamlOf([broken]));
      try {
        await checkBroken(expected);
      } finally {
        // The later tests need a valid mesh.
        kube.kubectl(['delete', 'virtualnode', 'broken', '-n', NS]);
      }
    });

    async function checkBroken(expected: string) {
      const bad = await waitFor(
        'VirtualNode broken to be not Active',
        async () => {
          const vn = await getNode(kube, 'broken');
          return activeOf(vn)?.status === 'False' ? vn : undefined;
        },
        30_000,
        100,
      );
      expect(activeOf(bad)!.message).toBe(expected);
      expect(
        kube
          .kubectl(['get', 'virtualnodes', '-n', NS])
          .split('\n')
          .find((r) => r.startsWith('broken ')),
      ).toMatch(/^broken\s+False\s/);

      kube.kubectl([
        'patch',
        'virtualnode',
        'broken',
        '-n',
        NS,
        '--type',
        'json',
        '-p',
        JSON.stringify([
          { op: 'replace', path: '/spec/backends/0/virtualService/virtualServiceRef/name', value: 'back' },
        ]),
      ]);
      const fixed = await waitFor(
        'VirtualNode broken to be Active once fixed',
        async () => {
          const vn = await getNode(kube, 'broken');
          return activeOf(vn)?.status === 'True' ? vn : undefined;
        },
        30_000,
        100,
      );
      expect(fixed.metadata.generation).toBe(bad.metadata.generation + 1);
      expect(fixed.status.observedGeneration).toBe(fixed.metadata.generation);
      expect(fixed.status.virtualNodeARN).toBe(
        `arn:aws:appmesh:us-east-1:000000000000:mesh/${NS}/virtualNode/broken_${NS}`,
      );
    }

    it('injects through meshd: its CA bundle written into the webhook configuration, pods of a labelled namespace get the sidecar; with meshd gone they are refused', async () => {
      // The printed configuration, pointed at meshd on loopback, without a caBundle: meshd writes it.
      const printed = parseAllDocuments(meshd(['k8s', 'manifests', '--namespace', MESHD_NAMESPACE, '--without-crds']))
        .map((d) => d.toJSON() as any)
        .find((o) => o.kind === 'MutatingWebhookConfiguration');
      const hook = printed.webhooks[0];
      expect(hook.failurePolicy).toBe('Fail');
      const configuration = {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'MutatingWebhookConfiguration',
        metadata: { name: 'meshd-sidecar-injector' },
        webhooks: [
          {
            ...hook,
            clientConfig: { url: `https://127.0.0.1:${webhookPort}/mutate-pod` },
          },
        ],
      };
      const writtenAt = Date.now();
      await kube.create('/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', configuration);
      const bundle = await waitFor(
        "meshd's CA bundle in the webhook configuration",
        async () => {
          const r = await kube.request(
            'GET',
            '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/meshd-sidecar-injector',
          );
          return (r.body?.webhooks?.[0]?.clientConfig?.caBundle as string | undefined) || undefined;
        },
        30_000,
        100,
      );
      process.stdout.write(`CA bundle written ${Date.now() - writtenAt} ms after the configuration was created\n`);
      expect(Buffer.from(bundle, 'base64').toString()).toContain('-----BEGIN CERTIFICATE-----');

      const pod = (name: string) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, labels: { app: 'front' } },
        spec: { containers: [{ name: 'app', image: 'front:1', ports: [{ containerPort: 8080 }] }] },
      });
      // The API server's webhook cache may lag the configuration a moment: tried until the sidecar is there.
      const injected = await waitFor(
        'a pod of a labelled namespace to be injected',
        async () => {
          const r = await kube.request('POST', `/api/v1/namespaces/${NS}/pods`, pod('front-1'));
          if (r.status !== 201) return undefined;
          if ((r.body.spec.containers as { name: string }[]).some((c) => c.name === 'envoy')) return r.body;
          await kube.request('DELETE', `/api/v1/namespaces/${NS}/pods/front-1`);
          return undefined;
        },
        30_000,
        250,
      );
      const envoy = injected.spec.containers.find((c: { name: string }) => c.name === 'envoy');
      const env = Object.fromEntries(envoy.env.map((e: { name: string; value: string }) => [e.name, e.value]));
      expect(env.APPMESH_VIRTUAL_NODE_NAME).toBe(`mesh/${NS}/virtualNode/front_${NS}`);
      expect(envoy.command).toEqual(['/meshd/entrypoint.sh']);
      expect(injected.spec.initContainers.map((c: { name: string }) => c.name)).toContain('proxyinit');

      const plain = await kube.create('/api/v1/namespaces/plain/pods', pod('front-plain'));
      expect(plain.spec.containers.map((c: { name: string }) => c.name)).toEqual(['app']);
      expect(plain.spec.initContainers).toBeUndefined();

      await m!.stop();
      m = undefined;
      const refused = await kube.request('POST', `/api/v1/namespaces/${NS}/pods`, pod('front-2'));
      process.stdout.write(`with meshd stopped: ${refused.status} ${JSON.stringify(refused.body.message)}\n`);
      expect(refused.status).toBeGreaterThanOrEqual(400);
      expect(String(refused.body.message)).toContain('sidecar-injector.meshd.appmesh.k8s.aws');
      expect((await kube.request('GET', `/api/v1/namespaces/${NS}/pods/front-2`)).status).toBe(404);
      await kube.request(
        'DELETE',
        '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/meshd-sidecar-injector',
      );
    });
  });

  it('a leader killed mid-rollout: the other replica carries it on from the ConfigMap, each step written once', async () => {
    const rolloutFile = path.join(tmpDir('k8s-control-rollout-'), 'rollout.yaml');
    fs.writeFileSync(
      rolloutFile,
      `kind: Rollout
mesh: ${NS}
name: back
spec:
  route: { virtualRouter: back_${NS}, name: main }
  primary: back-v1_${NS}
  canary: back-v2_${NS}
  analysis:
    interval: 2s
    stepWeight: 20
    maxWeight: 60
    minRequests: 0
    metrics: []
`,
    );
    // Every write of the route's weights (a new generation of the router), as the canary's weight.
    const admin = createKubeClient(loadKubeConfig({ kubeconfig: kube.kubeconfig('admin'), env: {} }));
    const routers = new Informer<KubeObject>(admin, APP_MESH_TYPES.VirtualRouter, { log: quiet });
    const writes: number[] = [];
    const canaryOf = (r: any): number =>
      r.spec.routes[0].httpRoute.action.weightedTargets.find(
        (t: { virtualNodeRef: { name: string } }) => t.virtualNodeRef.name === 'back-v2',
      ).weight;
    routers.onChange((changes) => {
      for (const c of changes)
        if (
          c.kind === 'modified' &&
          c.object.metadata.name === 'back' &&
          c.object.metadata.generation !== c.previous?.metadata.generation
        )
          writes.push(canaryOf(c.object));
    });
    routers.start();
    await routers.synced();
    expect(canaryOf(routers.items().find((r) => r.metadata.name === 'back'))).toBe(0);

    const replicas: Record<string, KubeMeshd> = {};
    try {
      for (const id of ['a', 'b'])
        replicas[id] = await startKubeMeshd(
          kube,
          ['--replica-id', id, '--leader-lease', '3s', '--mesh', rolloutFile],
          id,
        );
      await Promise.all(Object.values(replicas).map(ready));
      await waitFor('the first step (20 %)', async () => (writes.length >= 1 ? true : undefined), 60_000, 50);
      const lease = await kube.request(
        'GET',
        `/apis/coordination.k8s.io/v1/namespaces/${MESHD_NAMESPACE}/leases/meshd-leader`,
      );
      const leaderId = lease.body.spec.holderIdentity as string;
      expect(Object.keys(replicas)).toContain(leaderId);
      const otherId = leaderId === 'a' ? 'b' : 'a';
      expect(writes).toEqual([20]);
      const killedAt = Date.now();
      replicas[leaderId]!.process.child.kill('SIGKILL');
      await waitFor(
        `replica ${otherId} to take the lease`,
        async () => {
          const l = await kube.request(
            'GET',
            `/apis/coordination.k8s.io/v1/namespaces/${MESHD_NAMESPACE}/leases/meshd-leader`,
          );
          return l.body?.spec?.holderIdentity === otherId ? true : undefined;
        },
        30_000,
        50,
      );
      const tookOver = Date.now() - killedAt;
      await waitFor(
        'the new leader to write the next step',
        async () => (writes.length >= 2 ? true : undefined),
        60_000,
        50,
      );
      const nextStep = Date.now() - killedAt;
      const next = replicas[otherId]!;
      const done = await waitFor(
        'the rollout to succeed on the new leader',
        async () => {
          const list = JSON.parse(await next.admin('/v1/rollouts')) as unknown;
          const text = JSON.stringify(list);
          return text.includes('"Succeeded"') ? list : undefined;
        },
        60_000,
        200,
      );
      // The promotion's write may reach the watch after the phase is saved.
      await waitFor('the promotion (100 %)', async () => (writes.includes(100) ? true : undefined), 15_000, 50);
      process.stdout.write(
        `leader ${leaderId} killed after the first step; ${otherId} took the lease in ${tookOver} ms and wrote the next step ${nextStep} ms after the kill; writes ${JSON.stringify(writes)}\n`,
      );
      // Settled: nothing more is written after the promotion.
      await new Promise((r) => setTimeout(r, 3000));
      expect(writes).toEqual([20, 40, 60, 100]);
      expect(JSON.stringify(done)).toContain('"Succeeded"');
      const state = await kube.request('GET', `/api/v1/namespaces/${MESHD_NAMESPACE}/configmaps/meshd-rollouts`);
      expect(state.status).toBe(200);
    } catch (err) {
      for (const [id, r] of Object.entries(replicas))
        process.stdout.write(`--- replica ${id}:\n${logOf(r).slice(-4000)}\n`);
      throw err;
    } finally {
      routers.stop();
      for (const r of Object.values(replicas))
        if (r.process.child.exitCode === null && r.process.child.signalCode === null) await r.stop();
    }
  }, 180_000);

  describe('a verb missing from the RBAC', () => {
    /** Rebinds the printed roles to the meshd user less `drop`; the full roles again afterwards. */
    const rebind = (drop?: { resource: string; verb: string }) => installMeshdRbac(kube, drop);
    afterEach(() => rebind());
    /** RBAC changes reach the authorizer through its informer: until `kubectl auth can-i` says no (exit status 1). */
    const untilDenied = (verb: string, resource: string, ...extra: string[]) =>
      waitFor(
        `${verb} ${resource} denied to meshd`,
        async () => {
          try {
            kube.kubectl(['auth', 'can-i', verb, resource, ...extra, '--as', 'meshd', '-A']);
            return undefined;
          } catch {
            return true;
          }
        },
        30_000,
        200,
      );

    it('without watch on virtualnodes meshd is not ready, and its log names the forbidden call', async () => {
      rebind({ resource: 'virtualnodes', verb: 'watch' });
      await untilDenied('watch', 'virtualnodes.appmesh.k8s.aws');
      const m = await startKubeMeshd(kube, [], 'no-watch');
      try {
        const line = await waitFor(
          'meshd to log the forbidden watch of virtualnodes',
          async () =>
            logOf(m)
              .split('\n')
              .find((l) => /forbidden/i.test(l) && /virtualnodes/.test(l)),
          30_000,
          100,
        );
        process.stdout.write(`meshd without watch: ${line}\n`);
        expect(line).toMatch(/cannot watch resource "virtualnodes"/);
        // It lists (so it has loaded a mesh) but never sees a change: not ready, and /readyz says why.
        // Not at once: one refusal may be RBAC warming up after an API server restart; a few in a row count.
        await waitFor(
          'meshd to say it is not ready',
          async () =>
            (await httpGet(m.adminPort, '127.0.0.1', '/readyz').catch(() => undefined))?.status === 503
              ? true
              : undefined,
          30_000,
          100,
        );
        for (let i = 0; i < 5; i++) {
          const readyz = await httpGet(m.adminPort, '127.0.0.1', '/readyz');
          expect(readyz.status).toBe(503);
          // (The printed rule that grants watch on virtualnodes grants it on all seven App Mesh kinds: all are gone.)
          expect(readyz.body).toMatch(/the watch of \w+\.appmesh\.k8s\.aws is refused: .*cannot watch resource/);
          await new Promise((r) => setTimeout(r, 500));
        }
        process.stdout.write(
          `meshd without watch, /readyz: ${(await httpGet(m.adminPort, '127.0.0.1', '/readyz')).body}\n`,
        );
      } finally {
        await m.stop();
      }
    }, 90_000);

    it('without patch on virtualnodes/status no status is written, and the log says forbidden', async () => {
      rebind({ resource: 'virtualnodes/status', verb: 'patch' });
      await untilDenied('patch', 'virtualnodes.appmesh.k8s.aws', '--subresource=status');
      const fresh = nodeDoc('unwritten');
      kube.kubectl(['apply', '-f', '-'], 'admin', yamlOf([fresh]));
      const m = await startKubeMeshd(kube, [], 'no-status');
      try {
        await ready(m);
        const line = await waitFor(
          'meshd to log the forbidden status patch',
          async () =>
            logOf(m)
              .split('\n')
              .find((l) => /forbidden/i.test(l) && /unwritten/.test(l)),
          30_000,
          100,
        );
        process.stdout.write(`meshd without status patch: ${line}\n`);
        expect(line).toMatch(/cannot patch resource "virtualnodes\/status"/);
        // (The printed rule grants patch on the seven kinds' /status together: none can be written.)
        await new Promise((r) => setTimeout(r, 2000));
        expect((await getNode(kube, 'unwritten')).status).toBeUndefined();
      } finally {
        await m.stop();
        kube.kubectl(['delete', 'virtualnode', 'unwritten', '-n', NS]);
      }
    }, 90_000);
  });
});
