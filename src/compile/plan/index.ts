// planProxy: which proxy a node id names, and its plan (plan/types.ts). Pure: no I/O, no
// clocks; the same input gives the same plan.
import type { CloudMapView } from '../cloud-map-view';
import type { MeshReader } from '../../model/mesh-model';
import { parseNodeId } from '../../model/node-id';
import type { ProxySettings } from '../proxy-config';
import { NO_MEMO, type CompileMemo } from '../memo';
import { UnsupportedFeature } from '../unsupported';
import { planGateway } from './gateway';
import { planProxyless } from './proxyless';
import { planSidecar } from './sidecar';
import { usesManagedSecrets } from './tls';
import { withTracing } from './tracing';
import type { ProxyPlan } from './types';
import { workloadIdentity } from '../identity';

export type { ProxyPlan } from './types';

export type PlanResult =
  { readonly ok: true; readonly plan: ProxyPlan } | { readonly ok: false; readonly error: string };

/**
 * The plan of the proxy (sidecar, proxyless client or gateway)
 * `nodeId` names, with Cloud Map services' instances from `cloudMap`.
 */
export function planProxy(
  model: MeshReader,
  cloudMap: CloudMapView,
  nodeId: string,
  settings: ProxySettings,
  memo: CompileMemo = NO_MEMO,
): PlanResult {
  const id = parseNodeId(nodeId);
  if ('error' in id) return { ok: false, error: id.error };
  if (!model.mesh(id.mesh))
    return { ok: false, error: `node id '${nodeId}' names mesh '${id.mesh}', which is not defined` };
  try {
    if (id.type === 'virtualGateway') {
      const gateway = model.virtualGateway(id.mesh, id.name);
      if (!gateway)
        return {
          ok: false,
          error: `node id '${nodeId}' names virtual gateway '${id.name}', which is not defined in mesh '${id.mesh}'`,
        };
      if (settings.proxyless)
        return {
          ok: false,
          error: `node id '${nodeId}' names a virtual gateway, which only an Envoy can run; a proxyless gRPC client names a virtual node`,
        };
      const planned = planGateway(model, cloudMap, gateway, settings, memo);
      const traced = withTracing(model, { kind: 'virtualGateway', mesh: id.mesh, name: id.name }, planned, memo);
      return { ok: true, plan: withIdentity(model, nodeId, traced) };
    }
    const node = model.virtualNode(id.mesh, id.name);
    if (!node)
      return {
        ok: false,
        error: `node id '${nodeId}' names virtual node '${id.name}', which is not defined in mesh '${id.mesh}'`,
      };
    const sidecar = planSidecar(model, cloudMap, node, settings, memo);
    // A proxyless client runs no Envoy, so no tracer either.
    const plan = settings.proxyless
      ? planProxyless(sidecar)
      : withTracing(model, { kind: 'virtualNode', mesh: id.mesh, name: id.name }, sidecar, memo);
    return { ok: true, plan: withIdentity(model, nodeId, plan) };
  } catch (err) {
    if (err instanceof UnsupportedFeature) return { ok: false, error: `cannot compile ${nodeId}: ${err.message}` };
    throw err;
  }
}

/** Whether the plan names meshd's managed secrets anywhere (they are served over ADS). */
export function referencesManagedSecrets(plan: ProxyPlan): boolean {
  return (
    plan.clusters.some((c) => usesManagedSecrets(c.tls)) ||
    plan.listeners.some((l) =>
      l.kind === 'gateway'
        ? usesManagedSecrets(l.tls)
        : l.kind === 'sidecarIngress' && l.ports.some((p) => usesManagedSecrets(p.tls)),
    )
  );
}

/** The plan with the proxy's identity, iff it names the managed secrets (the CA issues only what is used). */
function withIdentity(model: MeshReader, nodeId: string, plan: ProxyPlan): ProxyPlan {
  if (!referencesManagedSecrets(plan)) return plan;
  const identity = workloadIdentity(model, nodeId);
  return identity ? { ...plan, identity } : plan;
}
