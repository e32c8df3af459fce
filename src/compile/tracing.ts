// The tracing block of an HTTP connection manager. Always present: Envoy traces only the requests of
// a connection manager that has one, with the tracer the bootstrap configures (App Mesh's X-Ray,
// Zipkin/Jaeger and Datadog variables); with none configured Envoy's null tracer does nothing. With
// the mesh's OpenTelemetry extension (plan/tracing.ts) the block names the tracer itself.
import type { HttpConnectionManager } from '../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager';
import { packAny } from './any';
import type { TracingPlan } from './plan/types';

export type HcmTracing = NonNullable<HttpConnectionManager['tracing']>;

/**
 * The request id of every connection manager with a tracing block: Envoy's UUID one, told not to pack its tracing
 * decision into the id. By default a connection manager that traces rewrites the caller's x-request-id (one hex digit,
 * the UUID's version nibble, becomes the decision), tracer or not; meshd passes the id on byte for byte, as App Mesh's
 * sidecars did with no tracer. Each connection manager decides for itself; a request is still traced at every hop or
 * at none, because Envoy's random sampling is a function of the x-request-id, the same id at every hop
 * (use_request_id_for_trace_sampling, left at its default), with one samplingRate for the mesh (e2e at 0.5).
 */
export const REQUEST_ID_UNCHANGED: NonNullable<HttpConnectionManager['request_id_extension']> = {
  typed_config: packAny('envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig', {
    pack_trace_reason: { value: false },
  }),
};

/** How long Envoy waits for the collector to take a batch of spans. */
const EXPORT_TIMEOUT = { seconds: '1' };

/**
 * The tracing block; `edge` for a virtual gateway's listener, where any client on the network connects: there an
 * x-client-trace-id header forces no trace (client_sampling 0 %), so samplingRate decides for the requests of outside
 * clients (a sampled W3C traceparent does not force one either: Envoy 1.40's tracer keeps the listener's decision;
 * docs/tracing.md, "Who can force a trace").
 */
export function hcmTracing(plan: TracingPlan | undefined, edge = false): HcmTracing {
  if (!plan) return {};
  return {
    ...(edge ? { client_sampling: { value: 0 } } : {}),
    random_sampling: { value: plan.randomSamplingPercent },
    custom_tags: plan.tags.map(({ name, value }) => ({ tag: name, literal: { value } })),
    provider: {
      name: 'envoy.tracers.opentelemetry',
      typed_config: packAny('envoy.config.trace.v3.OpenTelemetryConfig', {
        grpc_service: { envoy_grpc: { cluster_name: plan.collectorCluster }, timeout: EXPORT_TIMEOUT },
        service_name: plan.serviceName,
      }),
    },
  };
}
