// The plan's retries → Envoy RetryPolicy. App Mesh also avoided the host that just failed, for
// user and default policies alike.
import type { RetryPolicy } from '../generated/envoy/config/route/v3/RetryPolicy';
import { packAny } from './any';
import { fromMillis } from './durations';
import type { RetryPlan } from './plan/types';

export function retryPolicy(retry: RetryPlan): RetryPolicy {
  return {
    retry_on: retry.retryOn.join(','),
    ...(retry.retriableStatusCodes.length > 0 ? { retriable_status_codes: [...retry.retriableStatusCodes] } : {}),
    num_retries: { value: retry.numRetries },
    ...(retry.perTryTimeoutMs !== undefined ? { per_try_timeout: fromMillis(retry.perTryTimeoutMs) } : {}),
    retry_host_predicate: [
      {
        name: 'envoy.retry_host_predicates.previous_hosts',
        typed_config: packAny('envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate', {}),
      },
    ],
    host_selection_retry_max_attempts: 5,
  };
}
