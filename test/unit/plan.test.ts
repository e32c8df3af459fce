// The plan (src/compile/plan/types.ts) is plain data: it survives a JSON round trip unchanged
// (no Maps, functions, class instances or undefined-valued fields), and the Envoy resources are
// a translation of it alone, so a plan read back from JSON gives the same resources.
import * as path from 'node:path';
import { compileProxy, NO_CLOUD_MAP, planProxy, type ProxyPlan } from '../../src/compile';
import { translatePlan } from '../../src/compile/translate';
import { offlineRegistry } from '../../src/control/offline-registry';
import { loadMesh } from '../../src/load/mesh-source';
import { GOLDEN_DIR, goldenCases } from '../helpers/golden';
import { meshFolder } from '../helpers/mesh-text';

const SETTINGS = { ingressPort: 15000, egressPort: 15001 };

/** The first value (by path) that JSON cannot carry as it is, or undefined. */
function notPlainJson(value: unknown, at = '$'): string | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${at}: ${value}`;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const bad = notPlainJson(item, `${at}[${i}]`);
      if (bad) return bad;
    }
    return undefined;
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [key, item] of Object.entries(value)) {
      const bad = notPlainJson(item, `${at}.${key}`);
      if (bad) return bad;
    }
    return undefined;
  }
  return `${at}: ${value === undefined ? 'undefined' : typeof value === 'object' ? value.constructor.name : typeof value}`;
}

/** Every proxy of every golden case, as an Envoy and, for virtual nodes, as a proxyless gRPC client. */
function goldenProxies(): [string, string, boolean][] {
  return goldenCases().flatMap((caseName) => {
    const loaded = loadMesh([path.join(GOLDEN_DIR, caseName, 'in.yaml')]);
    if (!loaded.ok) throw new Error(`${caseName} does not load`);
    return [
      ...loaded.model.virtualNodes().flatMap((n): [string, string, boolean][] => [
        [caseName, `mesh/${n.mesh}/virtualNode/${n.name}`, false],
        [caseName, `mesh/${n.mesh}/virtualNode/${n.name}`, true],
      ]),
      ...loaded.model
        .virtualGateways()
        .map((g): [string, string, boolean] => [caseName, `mesh/${g.mesh}/virtualGateway/${g.name}`, false]),
    ];
  });
}

describe('the plan', () => {
  it.each(goldenProxies())(
    '%s %s (proxyless: %s) survives JSON and translates the same',
    (caseName, nodeId, proxyless) => {
      const loaded = loadMesh([path.join(GOLDEN_DIR, caseName, 'in.yaml')]);
      if (!loaded.ok) throw new Error(`${caseName} does not load`);
      const cloudMap = offlineRegistry(loaded.cloudMapSeeds);
      if (!cloudMap.ok) throw new Error(`${caseName}: Cloud Map seeds`);
      const settings = { ...SETTINGS, proxyless };
      const planned = planProxy(loaded.model, cloudMap.registry, nodeId, settings);
      // Some nodes cannot be proxyless clients (client TLS from files); their error is the compiler's too.
      if (!planned.ok) {
        expect(compileProxy(loaded.model, cloudMap.registry, nodeId, settings)).toEqual(planned);
        return;
      }
      expect(notPlainJson(planned.plan)).toBeUndefined();
      const readBack = JSON.parse(JSON.stringify(planned.plan)) as ProxyPlan;
      expect(readBack).toStrictEqual(planned.plan);
      const compiled = compileProxy(loaded.model, cloudMap.registry, nodeId, settings);
      expect(compiled.ok && compiled.config).toStrictEqual(translatePlan(readBack));
    },
  );

  it('gives a node-provided service a catch-all route of its own, not a made-up App Mesh route', () => {
    const mesh = meshFolder({
      'mesh.yaml': `kind: Mesh
name: apps
---
kind: VirtualNode
name: client
spec:
  backends: [{ virtualService: { virtualServiceName: svc.apps.local } }]
---
kind: VirtualNode
name: svc
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }, { portMapping: { port: 5432, protocol: tcp } }]
  serviceDiscovery: { dns: { hostname: svc.apps.internal } }
---
kind: VirtualService
name: svc.apps.local
spec:
  provider: { virtualNode: { virtualNodeName: svc } }
`,
    });
    const loaded = loadMesh([mesh]);
    if (!loaded.ok) throw new Error(loaded.problems.map((p) => p.message).join('\n'));
    const planned = planProxy(loaded.model, NO_CLOUD_MAP, 'mesh/apps/virtualNode/client', SETTINGS);
    if (!planned.ok) throw new Error(planned.error);
    const table = planned.plan.routeTables.find((t) => t.name === 'rds_egress_http_8080')!;
    expect(table.virtualHosts).toEqual([
      {
        name: 'svc.apps.local',
        domains: ['svc.apps.local', 'svc.apps.local:8080'],
        routes: [
          {
            name: 'svc.apps.local',
            match: { path: { kind: 'prefix', value: '/' } },
            action: {
              kind: 'weighted',
              targets: [{ cluster: 'cds_egress_apps_svc_http_8080', weight: 1 }],
              timeoutMs: 15000,
              idleTimeoutMs: 300000,
              retry: {
                retryOn: ['unavailable', 'connect-failure', 'refused-stream', 'retriable-status-codes'],
                retriableStatusCodes: [503],
                numRetries: 2,
              },
            },
          },
        ],
      },
    ]);
    const egress = planned.plan.listeners.find((l) => l.kind === 'sidecarEgress');
    expect(egress && egress.kind === 'sidecarEgress' && egress.capturedPorts.find((p) => p.port === 5432)).toEqual({
      port: 5432,
      traffic: {
        kind: 'tcp',
        targets: [{ cluster: 'cds_egress_apps_svc_tcp_5432', weight: 1 }],
        idleTimeoutMs: 300000,
      },
    });
  });
});
