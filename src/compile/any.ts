// Typed `Any` packing: every typed_config meshd emits is checked against its generated type.
import type { Any } from '../generated/google/protobuf/Any';
import type { OpenTelemetryConfig } from '../generated/envoy/config/trace/v3/OpenTelemetryConfig';
import type { FileAccessLog } from '../generated/envoy/extensions/access_loggers/file/v3/FileAccessLog';
import type { FilterConfig as GrpcStatsFilterConfig } from '../generated/envoy/extensions/filters/http/grpc_stats/v3/FilterConfig';
import type { HealthCheck } from '../generated/envoy/extensions/filters/http/health_check/v3/HealthCheck';
import type { Router } from '../generated/envoy/extensions/filters/http/router/v3/Router';
import type { OriginalDst } from '../generated/envoy/extensions/filters/listener/original_dst/v3/OriginalDst';
import type { HttpConnectionManager } from '../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager';
import type { TcpProxy } from '../generated/envoy/extensions/filters/network/tcp_proxy/v3/TcpProxy';
import type { UuidRequestIdConfig } from '../generated/envoy/extensions/request_id/uuid/v3/UuidRequestIdConfig';
import type { PreviousHostsPredicate } from '../generated/envoy/extensions/retry/host/previous_hosts/v3/PreviousHostsPredicate';
import type { HttpProtocolOptions } from '../generated/envoy/extensions/upstreams/http/v3/HttpProtocolOptions';
import type { TlsInspector } from '../generated/envoy/extensions/filters/listener/tls_inspector/v3/TlsInspector';
import type { DownstreamTlsContext } from '../generated/envoy/extensions/transport_sockets/tls/v3/DownstreamTlsContext';
import type { UpstreamTlsContext } from '../generated/envoy/extensions/transport_sockets/tls/v3/UpstreamTlsContext';

/** Message name → generated type, for each extension config meshd packs (all listed in protos/). */
interface TypedConfigs {
  'envoy.config.trace.v3.OpenTelemetryConfig': OpenTelemetryConfig;
  'envoy.extensions.access_loggers.file.v3.FileAccessLog': FileAccessLog;
  'envoy.extensions.filters.http.grpc_stats.v3.FilterConfig': GrpcStatsFilterConfig;
  'envoy.extensions.filters.http.health_check.v3.HealthCheck': HealthCheck;
  'envoy.extensions.filters.http.router.v3.Router': Router;
  'envoy.extensions.filters.listener.original_dst.v3.OriginalDst': OriginalDst;
  'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector': TlsInspector;
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager': HttpConnectionManager;
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy': TcpProxy;
  'envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig': UuidRequestIdConfig;
  'envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate': PreviousHostsPredicate;
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': HttpProtocolOptions;
  'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext': DownstreamTlsContext;
  'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext': UpstreamTlsContext;
}

export function packAny<K extends keyof TypedConfigs>(typeName: K, message: TypedConfigs[K]): Any {
  return { '@type': `type.googleapis.com/${typeName}`, ...message };
}
