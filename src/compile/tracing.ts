// The tracing block of an HTTP connection manager. Always present: Envoy traces only the requests of
// a connection manager that has one, with the tracer the bootstrap configures (App Mesh's X-Ray,
// Zipkin/Jaeger and Datadog variables); with none configured Envoy's null tracer does nothing. With
// the mesh's OpenTelemetry extension (plan/tracing.ts) the block names the tracer itself.
import type { HttpConnectionManager } from '../generated/envoy/extensions/filters/network/http_connection_manager/v3/HttpConnectionManager';
import { packAny } from './any';
import type { TracingPlan } from './plan/types';

export type HcmTracing = NonNullable<HttpConnectionManager['tracing']>;

/** How long Envoy waits for the collector to take a batch of spans. */
const EXPORT_TIMEOUT = { seconds: '1' };

export function hcmTracing(plan: TracingPlan | undefined): HcmTracing {
  if (!plan) return {};
  return {
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
