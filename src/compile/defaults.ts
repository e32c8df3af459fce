// The defaults App Mesh applied and its users rely on (APP-MESH-FACTS.md, "Defaults").
import type { Duration } from '../generated/google/protobuf/Duration';
import type { RetryPolicy } from '../generated/envoy/config/route/v3/RetryPolicy';
import { packAny } from './any';

export const DEFAULT_INGRESS_PORT = 15000;
export const DEFAULT_EGRESS_PORT = 15001;

export const ROUTE_TIMEOUT: Duration = { seconds: 15 };
export const ROUTE_IDLE_TIMEOUT: Duration = { seconds: 300 };
export const EGRESS_CONNECT_TIMEOUT: Duration = { seconds: 1 };
export const INGRESS_CONNECT_TIMEOUT: Duration = { nanos: 250_000_000 };

/** "Effectively unlimited" circuit-breaker thresholds, as App Mesh set them. */
export const UNLIMITED = 2147483647;

/** Applied to every route without a retry policy of its own (meshes created after 2020-07-29). */
export function defaultRetryPolicy(): RetryPolicy {
  return {
    retry_on: 'unavailable,connect-failure,refused-stream,retriable-status-codes,reset',
    retriable_status_codes: [503],
    num_retries: { value: 2 },
    retry_host_predicate: [
      { name: 'envoy.retry_host_predicates.previous_hosts', typed_config: packAny('envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate', {}) },
    ],
    host_selection_retry_max_attempts: 5,
  };
}
