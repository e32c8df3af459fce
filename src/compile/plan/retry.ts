// App Mesh retry policies → the plan's retries, with App Mesh's event mapping and its default
// policy for routes without one (APP-MESH-FACTS.md, "Defaults").
import type { Duration } from '../../model/common';
import { meshMillis } from './durations';
import type { RetryPlan } from './types';

/** The status codes each App Mesh HTTP retry event stands for. */
const HTTP_EVENT_STATUS_CODES: Record<string, readonly number[]> = {
  'server-error': [500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511],
  'gateway-error': [502, 503, 504],
  'client-error': [409],
};
/**
 * Envoy retry_on conditions each App Mesh HTTP event adds. App Mesh's API reference: "Both
 * server-error and gateway-error under httpRetryEvents include the Envoy reset policy", so with
 * either a connection reset, or an attempt cut off by perRetryTimeout, is retried. stream-error
 * is "retry on refused stream" only.
 */
const HTTP_EVENT_CONDITIONS: Record<string, readonly string[]> = {
  'server-error': ['reset'],
  'gateway-error': ['reset'],
  'stream-error': ['refused-stream'],
};
const TCP_EVENT_CONDITIONS: Record<string, readonly string[]> = { 'connection-error': ['connect-failure'] };

export interface MeshRetryPolicy {
  readonly maxRetries: number;
  readonly perRetryTimeout: Duration;
  readonly httpRetryEvents?: readonly string[];
  readonly tcpRetryEvents?: readonly string[];
  /** gRPC events have the same names as Envoy's gRPC retry_on conditions. */
  readonly grpcRetryEvents?: readonly string[];
}

export function planRetry(policy: MeshRetryPolicy): RetryPlan {
  const conditions = new Set<string>();
  const codes = new Set<number>();
  for (const event of policy.httpRetryEvents ?? []) {
    for (const c of HTTP_EVENT_CONDITIONS[event] ?? []) conditions.add(c);
    for (const code of HTTP_EVENT_STATUS_CODES[event] ?? []) codes.add(code);
  }
  for (const event of policy.tcpRetryEvents ?? []) for (const c of TCP_EVENT_CONDITIONS[event] ?? []) conditions.add(c);
  for (const event of policy.grpcRetryEvents ?? []) conditions.add(event);
  if (codes.size > 0) conditions.add('retriable-status-codes');
  return {
    retryOn: [...conditions].sort(),
    retriableStatusCodes: [...codes].sort((a, b) => a - b),
    numRetries: policy.maxRetries,
    perTryTimeoutMs: meshMillis(policy.perRetryTimeout),
  };
}

/**
 * Applied to every route without a retry policy of its own and to node-provided services (meshes
 * created after 2020-07-29). It has no `reset`: App Mesh answered a reset upstream with 503.
 */
export const DEFAULT_RETRY: RetryPlan = {
  retryOn: ['unavailable', 'connect-failure', 'refused-stream', 'retriable-status-codes'],
  retriableStatusCodes: [503],
  numRetries: 2,
};
