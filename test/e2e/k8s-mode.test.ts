// `meshd serve --kubernetes` against a real kube-apiserver (test/helpers/kube.ts), as the least-privileged
// user its printed RBAC makes: the App Mesh controller's manifests applied with kubectl are served to
// real Envoys exactly as the same manifests as files render; a kubectl patch of a route's weights moves
// traffic; status is written back; the API server restarting leaves Envoys on their config and meshd
// catches up; and a missing RBAC verb is noticed. No kubelet runs: the "pods" are Envoys on loopback.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadMesh } from '../../src/load/mesh-source';
import { findEnvoy } from '../helpers/envoy';
import { describeWithKube, startKubeCluster, type KubeCluster } from '../helpers/kube';
import {
  freePorts,
  getOk,
  MESHD_BIN,
  startMeshd,
  startNamedUpstream,
  tmpDir,
  waitFor,
  type RunningProcess,
} from '../helpers/processes';
import { httpRequest } from '../helpers/sidecar-harness';
import { startSidecarOnHost, type HostSidecar } from '../helpers/sidecars';

const FIXTURES = path.resolve(__dirname, '../fixtures/dialects/k8s');
const MESHD_NAMESPACE = 'meshd';

function meshd(args: readonly string[]): string {
  return execFileSync(process.execPath, [MESHD_BIN, ...args], { encoding: 'utf8' });
}

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

/** meshd's CRDs, and its printed ClusterRole and leader-election Role bound to the test's `meshd` user. */
function installMeshdRbac(kube: KubeCluster, drop?: { resource: string; verb: string }): void {
  kube.kubectl(['apply', '-f', '-'], 'admin', meshd(['k8s', 'crds']));
  kube.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  const printed = parseAllDocuments(meshd(['k8s', 'manifests', '--namespace', MESHD_NAMESPACE, '--without-crds']))
    .map(
      (d) =>
        d.toJSON() as { kind: string; metadata: { name: string }; rules?: { resources: string[]; verbs: string[] }[] },
    )
    .filter((o) => ['Namespace', 'ClusterRole', 'Role'].includes(o.kind));
  for (const o of printed) {
    if (drop && o.rules)
      o.rules = o.rules.map((r) =>
        r.resources.includes(drop.resource) ? { ...r, verbs: r.verbs.filter((v) => v !== drop.verb) } : r,
      );
  }
  const bindings = printed
    .filter((o) => o.kind !== 'Namespace')
    .map((o) => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: o.kind === 'ClusterRole' ? 'ClusterRoleBinding' : 'RoleBinding',
      metadata: { name: `test-${o.metadata.name}`, ...(o.kind === 'Role' ? { namespace: MESHD_NAMESPACE } : {}) },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: o.kind, name: o.metadata.name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'meshd' }],
    }));
  kube.kubectl(['apply', '-f', '-'], 'admin', [...printed, ...bindings].map((o) => JSON.stringify(o)).join('\n---\n'));
}

interface KubeMeshd {
  readonly process: RunningProcess;
  readonly xdsPort: number;
  readonly adminPort: number;
  admin(pathName: string): Promise<string>;
  stop(): Promise<void>;
}

async function startKubeMeshd(
  kube: KubeCluster,
  extra: readonly string[] = [],
  replica = 'replica-a',
): Promise<KubeMeshd> {
  const [xdsPort, adminPort] = await freePorts(2);
  const dir = tmpDir('k8s-meshd-');
  const process = startMeshd([
    'serve',
    '--kubernetes',
    '--kubeconfig',
    kube.kubeconfig('meshd'),
    '--kubernetes-namespace',
    MESHD_NAMESPACE,
    '--replica-id',
    replica,
    '--xds-address',
    '127.0.0.1',
    '--xds-port',
    String(xdsPort),
    '--admin-port',
    String(adminPort),
    '--api-dir',
    path.join(dir, 'api'),
    '--cloud-map-state',
    path.join(dir, 'cloud-map.json'),
    ...extra,
  ]);
  return {
    process,
    xdsPort: xdsPort!,
    adminPort: adminPort!,
    admin: (p) => getOk(adminPort!, p),
    stop: async () => {
      await process.stop();
    },
  };
}

async function ready(m: KubeMeshd): Promise<void> {
  await waitFor(
    'meshd --kubernetes to be ready',
    async () => {
      if (m.process.child.exitCode !== null) throw new Error(`meshd exited:\n${m.process.stderr()}`);
      return (await m.admin('/readyz').catch(() => undefined)) !== undefined ? true : undefined;
    },
    60_000,
    100,
  );
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
      await ready(m);
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
