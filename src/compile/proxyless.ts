// A proxyless gRPC client's listeners: one api_listener per name it can dial (plan/proxyless.ts).
import type { Listener } from '../generated/envoy/config/listener/v3/Listener';
import { packAny } from './any';
import type { ApiListenerPlan } from './plan/types';

/** An api_listener named after the target a gRPC client dials, routed by the given route configuration. */
export function apiListener(plan: ApiListenerPlan): Listener {
  return {
    name: plan.name,
    api_listener: {
      api_listener: packAny('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
        stat_prefix: plan.name,
        rds: { route_config_name: plan.routeTable, config_source: { ads: {}, resource_api_version: 'V3' } },
        http_filters: [
          {
            name: 'envoy.filters.http.router',
            typed_config: packAny('envoy.extensions.filters.http.router.v3.Router', {}),
          },
        ],
      }),
    },
  };
}
