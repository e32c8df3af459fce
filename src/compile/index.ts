// The compiler's entry point: which proxy a node id names, its plan (plan/), and the plan's
// translation into Envoy resources.
import type { CloudMapView } from './cloud-map-view';
import type { MeshReader } from '../model/mesh-model';
import { NO_MEMO, type CompileMemo } from './memo';
import { planProxy } from './plan';
import type { ProxyConfig, ProxySettings } from './proxy-config';
import { translatePlan } from './translate';

export type { ProxyConfig, ProxySettings } from './proxy-config';
export { planProxy, type PlanResult, type ProxyPlan } from './plan';

export { NO_CLOUD_MAP, type CloudMapView } from './cloud-map-view';
export { LookupMemo, NO_MEMO, type CompileMemo } from './memo';

export type CompileResult =
  { readonly ok: true; readonly config: ProxyConfig } | { readonly ok: false; readonly error: string };

/**
 * The Envoy resources of the proxy (sidecar, proxyless client or gateway)
 * `nodeId` names, with Cloud Map services' instances from `cloudMap`.
 */
export function compileProxy(
  model: MeshReader,
  cloudMap: CloudMapView,
  nodeId: string,
  settings: ProxySettings,
  memo: CompileMemo = NO_MEMO,
): CompileResult {
  const planned = planProxy(model, cloudMap, nodeId, settings, memo);
  return planned.ok ? { ok: true, config: translatePlan(planned.plan, memo) } : planned;
}
