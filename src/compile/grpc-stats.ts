// Envoy's gRPC statistics filter, for the connection managers whose traffic may be gRPC: the
// sidecar's egress (callers' view of a virtual node, which meshd's telemetry reads: a gRPC
// failure travels inside HTTP 200, so the response code stats do not see it) and a gRPC
// listener's ingress (the node's own view, for whoever scrapes Envoy's stats).
//
// Without per-method stats the filter counts every call under `cluster.<cluster>.grpc.<status>`
// (plus `.success`, `.failure`, `.total` and the message counts), never under the service and
// method named by the caller's `:path`. That bounds what
// callers can name, not what servers can: `<status>` is the grpc-status text the server sent,
// taken as it is (Envoy makes a stat of any text), so an upstream answering made-up statuses
// makes one counter per distinct text in every caller's Envoy, held until it restarts. meshd's
// telemetry reads such a status as UNKNOWN without keeping its name (telemetry/envoy-stats.ts);
// the callers' Envoys are bounded only by a stats matcher in the bootstrap that drops those
// names (docs/telemetry.md#what-counts), which meshd does not set yet. The filter looks only at
// requests whose content-type is application/grpc (or application/grpc+proto, …); every other
// request passes through untouched, so one connection manager can carry HTTP and gRPC backends.
// gRPC-Web (application/grpc-web) is not gRPC to it: such calls are counted by HTTP status only
// (Envoy's grpc_web filter counts `grpc-web.<status>`, which telemetry reads, but meshd does not
// compile that filter). test/e2e/grpc-stats-envoy.test.ts checks all of this on a real Envoy.
import type { HttpFilter } from '../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpFilter';
import { packAny } from './any';

export const grpcStatsFilter: HttpFilter = {
  name: 'envoy.filters.http.grpc_stats',
  typed_config: packAny('envoy.extensions.filters.http.grpc_stats.v3.FilterConfig', {
    // Explicitly off: older Envoys defaulted to per-method stats, one stat per name a caller makes up.
    stats_for_all_methods: { value: false },
  }),
};
