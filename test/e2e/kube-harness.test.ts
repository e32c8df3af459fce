// The Kubernetes test harness itself (test/helpers/kube.ts): a real kube-apiserver on a real etcd,
// with RBAC on, so the other Kubernetes-mode tests can trust what it says yes and no to.
import { describeWithKube, startKubeCluster, type KubeCluster } from '../helpers/kube';

describeWithKube('kube harness: a real API server', () => {
  let kube: KubeCluster;
  beforeAll(async () => {
    kube = await startKubeCluster();
  }, 120_000);
  afterAll(() => kube?.close());

  it('serves as admin, and refuses the meshd user until RBAC grants it', async () => {
    await kube.createNamespace('harness', { team: 'a' });
    const asAdmin = await kube.request('GET', '/api/v1/namespaces/harness');
    expect(asAdmin.status).toBe(200);
    expect(asAdmin.body.metadata.labels).toMatchObject({ team: 'a' });
    const asMeshd = await kube.request('GET', '/api/v1/namespaces/harness', undefined, 'meshd');
    expect(asMeshd.status).toBe(403);
  });

  it("runs kubectl of the server's version", () => {
    const out = kube.kubectl(['get', 'namespace', 'harness', '-o', 'jsonpath={.metadata.name}']);
    expect(out).toBe('harness');
    expect(kube.kubectl(['version', '-o', 'json'])).toContain('"gitVersion": "v1.37.2"');
  });

  it('keeps what was written across an API server restart (etcd holds it)', async () => {
    await kube.restartApiServer();
    const r = await kube.request('GET', '/api/v1/namespaces/harness');
    expect(r.status).toBe(200);
  }, 90_000);
});
