// A proxy's plan → its Envoy resources: a straight translation, one builder per resource kind.
import type { Listener } from '../generated/envoy/config/listener/v3/Listener';
import { cluster } from './clusters';
import { NO_MEMO, type CompileMemo } from './memo';
import { loadAssignment } from './endpoints';
import { gatewayHopListener, gatewayListener } from './gateway-listeners';
import { sidecarEgressListener, sidecarIngressListener } from './listeners';
import type { ListenerPlan, ProxyPlan } from './plan/types';
import type { ProxyConfig } from './proxy-config';
import { apiListener } from './proxyless';
import { routeConfiguration } from './routes';

function listener(plan: ListenerPlan): Listener {
  switch (plan.kind) {
    case 'sidecarIngress':
      return sidecarIngressListener(plan);
    case 'sidecarEgress':
      return sidecarEgressListener(plan);
    case 'gateway':
      return gatewayListener(plan);
    case 'gatewayHop':
      return gatewayHopListener(plan);
    case 'api':
      return apiListener(plan);
  }
}

/**
 * The plan's lists are sorted by name, so the resources are too. A plan object met before (a
 * memoised one: memo.ts) gives the same resource object as before, which the encoder recognises.
 */
export function translatePlan(plan: ProxyPlan, memo: CompileMemo = NO_MEMO): ProxyConfig {
  return {
    // Listener plans are built afresh for each proxy and many proxies have the same ones.
    listeners: plan.listeners.map((l) => memo.derived(memo.interned(l), listener)),
    routes: plan.routeTables.map((table) => routeConfiguration(table, memo)),
    clusters: plan.clusters.map((c) => memo.derived(c, cluster)),
    endpoints: plan.clusters.flatMap((c) => memo.derived(c, loadAssignment) ?? []),
  };
}
