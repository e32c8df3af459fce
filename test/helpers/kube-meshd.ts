// meshd in Kubernetes mode against the test cluster (test/helpers/kube.ts): its CRDs and printed RBAC
// installed and bound to the test's least-privileged `meshd` user, and `meshd serve --kubernetes` run as
// that user on free ports. Shared by the k8s-mode and k8s-traffic suites.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeCluster } from './kube';
import { freePorts, getOk, MESHD_BIN, startMeshd, tmpDir, waitFor, type RunningProcess } from './processes';

export const MESHD_NAMESPACE = 'meshd';

/** `meshd <args>` run to its end; answers stdout. */
export function meshd(args: readonly string[]): string {
  return execFileSync(process.execPath, [MESHD_BIN, ...args], { encoding: 'utf8' });
}

/** meshd's CRDs, and its printed ClusterRole and leader-election Role bound to the test's `meshd` user. */
export function installMeshdRbac(kube: KubeCluster, drop?: { resource: string; verb: string }): void {
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
      o.rules = o.rules
        .map((r) => (r.resources.includes(drop.resource) ? { ...r, verbs: r.verbs.filter((v) => v !== drop.verb) } : r))
        .filter((r) => r.verbs.length > 0);
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

export interface KubeMeshd {
  readonly process: RunningProcess;
  readonly xdsPort: number;
  readonly adminPort: number;
  /** GET on meshd's admin port: the body of a 200, else rejects. */
  admin(pathName: string): Promise<string>;
  stop(): Promise<void>;
}

/** `meshd serve --kubernetes` as the `meshd` user, on free ports, with `extra` flags added. */
export async function startKubeMeshd(
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

/** Resolves once meshd's /readyz answers 200; fails at once with its stderr if it exits. */
export async function kubeMeshdReady(m: KubeMeshd): Promise<void> {
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
