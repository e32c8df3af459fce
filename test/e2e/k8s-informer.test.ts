// The Kubernetes client, the informer and the Lease elector against a real kube-apiserver and etcd
// (test/helpers/kube.ts): the verbs and their errors as the real server answers them, an informer following
// ConfigMaps through creates, edits, deletes and an API server restart (each change told once, none missed),
// a watch from a version the server no longer has (410), and two replicas electing a leader with only the
// Role meshd's manifests grant (leases: get, create, update).
import { KubeError, type KubeClient, type KubeObject, type ResourceType } from '../../src/k8s/kube-api';
import { createKubeClient, loadKubeConfig } from '../../src/k8s/kube-client';
import { Informer, type InformerChange } from '../../src/k8s/informer';
import { LeaseElector } from '../../src/k8s/lease';
import { describeWithKube, startKubeCluster, type KubeCluster } from '../helpers/kube';
import { waitFor } from '../helpers/processes';

const CONFIGMAPS: ResourceType = {
  group: '',
  version: 'v1',
  plural: 'configmaps',
  kind: 'ConfigMap',
  namespaced: true,
};
const quiet = { info: () => undefined, warn: (m: string) => console.log(`warn: ${m}`) };

const configMap = (namespace: string, name: string, value: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace, labels: { test: 'informer' } },
  data: { value },
});

describeWithKube('k8s client, informer and lease election against a real kube-apiserver', () => {
  let kube: KubeCluster;
  const clientFor = (user: 'admin' | 'meshd') =>
    createKubeClient(loadKubeConfig({ kubeconfig: kube.kubeconfig(user), env: {} }));

  beforeAll(async () => {
    kube = await startKubeCluster();
    await kube.createNamespace('informer');
    await kube.createNamespace('meshd');
  }, 120_000);
  afterAll(() => kube?.close());

  it('gets, lists, creates, replaces, patches and deletes as the real server answers, with its errors', async () => {
    const c = clientFor('admin');
    const created = await c.create(CONFIGMAPS, 'informer', configMap('informer', 'verbs', '1'));
    expect(created.metadata.resourceVersion).toMatch(/^\d+$/);
    expect(await c.get(CONFIGMAPS, 'informer', 'absent')).toBeUndefined();
    const replaced = await c.replace(CONFIGMAPS, 'informer', 'verbs', { ...created, data: { value: '2' } });
    expect(replaced.data).toEqual({ value: '2' });
    // A replace based on the old version: 409 Conflict, as the elector relies on.
    const stale = await c
      .replace(CONFIGMAPS, 'informer', 'verbs', { ...created, data: { value: '3' } })
      .catch((e) => e);
    expect(stale).toBeInstanceOf(KubeError);
    expect(stale).toMatchObject({ status: 409, reason: 'Conflict' });
    expect((stale as Error).message).toMatch(/the object has been modified/);
    const merged = await c.patch(CONFIGMAPS, 'informer', 'verbs', { data: { other: 'x' } }, 'merge');
    expect(merged.data).toEqual({ value: '2', other: 'x' });
    const jsonPatched = await c.patch(CONFIGMAPS, 'informer', 'verbs', [{ op: 'remove', path: '/data/other' }], 'json');
    expect(jsonPatched.data).toEqual({ value: '2' });
    const dup = await c.create(CONFIGMAPS, 'informer', configMap('informer', 'verbs', '1')).catch((e) => e);
    expect(dup).toMatchObject({ status: 409, reason: 'AlreadyExists' });
    // Paging: three pages of two.
    for (const n of ['p1', 'p2', 'p3', 'p4', 'p5']) await c.create(CONFIGMAPS, 'informer', configMap('informer', n, n));
    const listed = await c.list(CONFIGMAPS, { namespace: 'informer', limit: 2, labelSelector: 'test=informer' });
    expect(listed.items.map((i) => i.metadata.name).sort()).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'verbs']);
    expect(listed.items[0]).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap' });
    for (const n of ['p1', 'p2', 'p3', 'p4', 'p5', 'verbs']) await c.delete(CONFIGMAPS, 'informer', n);
    await expect(c.delete(CONFIGMAPS, 'informer', 'verbs')).rejects.toMatchObject({ status: 404, reason: 'NotFound' });
    // The meshd user has no right until RBAC grants one.
    const forbidden = await clientFor('meshd')
      .list(CONFIGMAPS, { namespace: 'informer' })
      .catch((e) => e);
    expect(forbidden).toMatchObject({ status: 403, reason: 'Forbidden' });
    expect((forbidden as Error).message).toMatch(/cannot list resource "configmaps"/);
  });

  it('follows creates, edits and deletes, and an API server restart, telling each change once', async () => {
    const c = clientFor('admin');
    const informer = new Informer<KubeObject>(c, CONFIGMAPS, {
      namespace: 'informer',
      labelSelector: 'test=informer',
      log: quiet,
      watchTimeoutSeconds: 30,
    });
    const changes: string[] = [];
    const record = (batch: readonly InformerChange<KubeObject>[]) => {
      for (const ch of batch)
        changes.push(`${ch.kind} ${ch.object.metadata.name}=${(ch.object.data as { value: string }).value}`);
    };
    informer.onChange(record);
    await c.create(CONFIGMAPS, 'informer', configMap('informer', 'before', '1'));
    informer.start();
    try {
      await informer.synced();
      expect(changes).toEqual(['added before=1']);
      const a = await c.create(CONFIGMAPS, 'informer', configMap('informer', 'a', '1'));
      await c.replace(CONFIGMAPS, 'informer', 'a', { ...a, data: { value: '2' } });
      await c.delete(CONFIGMAPS, 'informer', 'before');
      // Not ours: the label selector leaves it out.
      await c.create(CONFIGMAPS, 'informer', { ...configMap('informer', 'other', '1'), metadata: { name: 'other' } });
      await waitFor('the three changes', () => (changes.length >= 4 ? true : undefined));

      const began = Date.now();
      await kube.restartApiServer({ downMs: 2000 });
      console.log(`API server restarted in ${Date.now() - began} ms`);
      await c.patch(CONFIGMAPS, 'informer', 'a', { data: { value: '3' } }, 'merge');
      await c.create(CONFIGMAPS, 'informer', configMap('informer', 'b', '1'));
      await waitFor('the changes after the restart', () => (changes.length >= 6 ? true : undefined), 60_000);
      const caughtUp = Date.now();
      // A little longer: anything told twice would show now.
      await new Promise((r) => setTimeout(r, 1500));
      console.log(
        `informer caught up ${caughtUp - began} ms after the restart began; ` +
          `relists ${informer.relists}, reconnects ${informer.reconnects}, events ${informer.events}`,
      );
      expect(changes).toEqual([
        'added before=1',
        'added a=1',
        'modified a=2',
        'deleted before=1',
        'modified a=3',
        'added b=1',
      ]);
      expect(
        informer
          .items()
          .map((o) => o.metadata.name)
          .sort(),
      ).toEqual(['a', 'b']);
    } finally {
      informer.stop();
    }
  }, 120_000);

  it('answers 410 Expired to a watch from a version the server no longer has; the informer lists again and tells what it missed', async () => {
    const c = clientFor('admin');
    // The API server just restarted (above): its watch cache starts after the versions of the first tests.
    const err = await c
      .watch(
        CONFIGMAPS,
        { namespace: 'informer', resourceVersion: '1', timeoutSeconds: 5 },
        () => undefined,
        new AbortController().signal,
      )
      .catch((e) => e);
    console.log(
      `watch from version 1: ${err instanceof KubeError ? `${err.status} ${err.reason}: ${err.message}` : String(err)}`,
    );
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).status).toBe(410);

    // An informer whose first watch starts from that lost version, after a change it did not list: the real
    // server's 410 makes it list again, and the change is told then, once.
    let first = true;
    const lossy: KubeClient = {
      get: (...args) => c.get(...args),
      list: (...args) => c.list(...args),
      create: (...args) => c.create(...args),
      replace: (...args) => c.replace(...args),
      patch: (...args) => c.patch(...args),
      delete: (...args) => c.delete(...args),
      watch: async (type, options, onEvent, signal) => {
        if (!first) return c.watch(type, options, onEvent, signal);
        first = false;
        await c.create(CONFIGMAPS, 'informer', configMap('informer', 'missed', '1'));
        return c.watch(type, { ...options, resourceVersion: '1' }, onEvent, signal);
      },
    };
    const warnings: string[] = [];
    const informer = new Informer<KubeObject>(lossy, CONFIGMAPS, {
      namespace: 'informer',
      labelSelector: 'test=informer',
      log: { info: () => undefined, warn: (m) => warnings.push(m) },
    });
    const changes: string[] = [];
    informer.onChange((batch) => changes.push(...batch.map((ch) => `${ch.kind} ${ch.object.metadata.name}`)));
    informer.start();
    try {
      await informer.synced();
      expect(changes.sort()).toEqual(['added a', 'added b']);
      await waitFor('the relist', () => (informer.relists === 2 ? true : undefined));
      await waitFor('the missed object', () => informer.get('informer', 'missed'));
      await c.delete(CONFIGMAPS, 'informer', 'b');
      await waitFor('the delete', () => (changes.length === 4 ? true : undefined));
      expect(changes.slice(2)).toEqual(['added missed', 'deleted b']);
      expect(warnings).toEqual([
        expect.stringMatching(
          /^watch of configmaps failed: too old resource version: 1 \(\d+\); resuming from a new list$/,
        ),
      ]);
    } finally {
      informer.stop();
    }
  }, 60_000);

  it('elects one of two replicas with the leader-election Role only; release hands over at once, a dead leader after expiry', async () => {
    await kube.create('/apis/rbac.authorization.k8s.io/v1/namespaces/meshd/roles', {
      metadata: { name: 'meshd-leader-election', namespace: 'meshd' },
      rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }],
    });
    await kube.create('/apis/rbac.authorization.k8s.io/v1/namespaces/meshd/rolebindings', {
      metadata: { name: 'meshd-leader-election', namespace: 'meshd' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'meshd-leader-election' },
      subjects: [{ kind: 'User', name: 'meshd', apiGroup: 'rbac.authorization.k8s.io' }],
    });
    const timing = { leaseDurationSeconds: 3, renewDeadlineSeconds: 2, retryPeriodSeconds: 0.5 };
    const make = (identity: string) => {
      const events: string[] = [];
      const e = new LeaseElector({
        client: clientFor('meshd'),
        namespace: 'meshd',
        name: 'meshd-leader',
        identity,
        log: quiet,
        ...timing,
      });
      e.onLeadership((leading, reason) => events.push(`${leading ? 'leading' : 'not leading'}: ${reason}`));
      return { e, events };
    };
    const lease = async () =>
      (await kube.request('GET', '/apis/coordination.k8s.io/v1/namespaces/meshd/leases/meshd-leader')).body;
    const a = make('replica-a');
    const b = make('replica-b');
    const c = make('replica-c');
    try {
      // RBAC may take a moment to apply.
      await waitFor('the Role to apply', async () => {
        const r = await kube.request(
          'GET',
          '/apis/coordination.k8s.io/v1/namespaces/meshd/leases/x',
          undefined,
          'meshd',
        );
        return r.status === 404 ? true : undefined;
      });
      a.e.start();
      b.e.start();
      const first = await waitFor('a leader', () => (a.e.leading ? a : b.e.leading ? b : undefined), 30_000);
      const second = first === a ? b : a;
      const firstId = first === a ? 'replica-a' : 'replica-b';
      const secondId = first === a ? 'replica-b' : 'replica-a';
      await waitFor('the other to see it', () => (second.e.holder === firstId ? true : undefined));
      await new Promise((r) => setTimeout(r, 2000));
      expect(second.events).toEqual([]);
      expect(second.e.leading).toBe(false);
      expect((await lease()).spec).toMatchObject({
        holderIdentity: firstId,
        leaseTransitions: 0,
        leaseDurationSeconds: 3,
      });

      let began = Date.now();
      await first.e.stop({ release: true });
      await waitFor('the second to lead', () => (second.e.leading ? true : undefined), 30_000);
      console.log(`released lease taken over in ${Date.now() - began} ms (retry period 500 ms)`);
      expect((await lease()).spec).toMatchObject({ holderIdentity: secondId, leaseTransitions: 1 });

      c.e.start();
      await waitFor('c to see the holder', () => (c.e.holder === secondId ? true : undefined), 30_000);
      began = Date.now();
      await second.e.stop(); // No release: as a replica that died.
      await waitFor('c to lead', () => (c.e.leading ? true : undefined), 30_000);
      console.log(`expired lease taken over ${Date.now() - began} ms after its holder stopped (lease 3 s)`);
      expect(c.events).toEqual([`leading: took the lease from ${secondId} (expired)`]);
      expect((await lease()).spec).toMatchObject({ holderIdentity: 'replica-c', leaseTransitions: 2 });
      expect(c.e.fence()).toEqual({ holder: 'replica-c', transitions: 2 });
    } finally {
      await Promise.all([a.e.stop(), b.e.stop(), c.e.stop()]);
    }
  }, 120_000);
});
