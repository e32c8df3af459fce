// A proxy's plan → its Envoy resources: a straight translation, one builder per resource kind.
import type { Listener } from '../generated/envoy/config/listener/v3/Listener';
import { cluster } from './clusters';
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

/** The plan's lists are sorted by name, so the resources are too. */
export function translatePlan(plan: ProxyPlan): ProxyConfig {
  return {
    listeners: plan.listeners.map(listener),
    routes: plan.routeTables.map(routeConfiguration),
    clusters: plan.clusters.map(cluster),
    endpoints: plan.clusters.flatMap((c) => loadAssignment(c) ?? []),
  };
}
