// A proxy's plan → its Envoy resources: a straight translation, one builder per resource kind.
import type { Cluster } from '../generated/envoy/config/cluster/v3/Cluster';
import type { ClusterLoadAssignment } from '../generated/envoy/config/endpoint/v3/ClusterLoadAssignment';
import type { Listener } from '../generated/envoy/config/listener/v3/Listener';
import { cluster } from './clusters';
import { NO_MEMO, type CompileMemo } from './memo';
import { loadAssignment } from './endpoints';
import { gatewayHopListener, gatewayListener } from './gateway-listeners';
import { sidecarEgressListener, sidecarIngressListener } from './listeners';
import type { ClusterPlan, ListenerPlan, ProxyPlan } from './plan/types';
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

// Listener plans are built afresh for each proxy and many proxies have the same ones.
const listeners = (plans: readonly ListenerPlan[], memo: CompileMemo): Listener[] =>
  plans.map((l) => memo.derived(memo.interned(l), listener));
const clusters = (plans: readonly ClusterPlan[], memo: CompileMemo): Cluster[] =>
  plans.map((c) => memo.derived(c, cluster));
const endpoints = (plans: readonly ClusterPlan[], memo: CompileMemo): ClusterLoadAssignment[] =>
  plans.flatMap((c) => memo.derived(c, loadAssignment) ?? []);

/**
 * The plan's lists are sorted by name, so the resources are too. A plan object met before (a
 * memoised one: memo.ts) gives the same resource object as before, which the encoder recognises;
 * a plan list met before (a sidecar's frame: plan/sidecar.ts) gives the same list of them.
 */
export function translatePlan(plan: ProxyPlan, memo: CompileMemo = NO_MEMO): ProxyConfig {
  return {
    listeners: memo.derived(plan.listeners, listeners),
    routes: plan.routeTables.map((table) => routeConfiguration(table, memo)),
    clusters: memo.derived(plan.clusters, clusters),
    endpoints: memo.derived(plan.clusters, endpoints),
    ...(plan.identity ? { identity: plan.identity } : {}),
  };
}
