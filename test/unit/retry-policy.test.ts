// App Mesh retry events → Envoy retry_on, per APP-MESH-FACTS.md and App Mesh's API reference
// (HttpRetryPolicy, GrpcRetryPolicy): server-error and gateway-error include Envoy's reset
// policy, stream-error is refused stream only, and the default policy has no reset.
import { DEFAULT_RETRY, planRetry } from '../../src/compile/plan/retry';
import { retryPolicy } from '../../src/compile/retry';

const defaultRetryPolicy = () => retryPolicy(DEFAULT_RETRY);

const ONE_SECOND = { value: 1, unit: 's' as const };
const retryOn = (events: { httpRetryEvents?: string[]; tcpRetryEvents?: string[]; grpcRetryEvents?: string[] }) =>
  retryPolicy(planRetry({ maxRetries: 1, perRetryTimeout: ONE_SECOND, ...events })).retry_on;

describe('retry policies', () => {
  it.each([
    [['server-error'], 'reset,retriable-status-codes'],
    [['gateway-error'], 'reset,retriable-status-codes'],
    [['client-error'], 'retriable-status-codes'],
    [['stream-error'], 'refused-stream'],
    [['server-error', 'gateway-error', 'stream-error'], 'refused-stream,reset,retriable-status-codes'],
  ])('httpRetryEvents %j → retry_on %s', (events, expected) => {
    expect(retryOn({ httpRetryEvents: events })).toBe(expected);
  });

  it('a gRPC policy with httpRetryEvents gets the same reset (GrpcRetryPolicy has the same rule)', () => {
    expect(retryOn({ grpcRetryEvents: ['unavailable'], httpRetryEvents: ['gateway-error'] })).toBe(
      'reset,retriable-status-codes,unavailable',
    );
    expect(retryOn({ grpcRetryEvents: ['unavailable', 'cancelled'] })).toBe('cancelled,unavailable');
  });

  it('tcp connection-error alone is connect-failure, without reset', () => {
    expect(retryOn({ tcpRetryEvents: ['connection-error'] })).toBe('connect-failure');
  });

  it("App Mesh's default policy: no reset, 503 only, 2 retries, other hosts first", () => {
    expect(defaultRetryPolicy()).toMatchObject({
      retry_on: 'unavailable,connect-failure,refused-stream,retriable-status-codes',
      retriable_status_codes: [503],
      num_retries: { value: 2 },
      host_selection_retry_max_attempts: 5,
    });
    expect(defaultRetryPolicy().retry_on!.split(',')).not.toContain('reset');
    expect(defaultRetryPolicy().retry_host_predicate!.map((p) => p.name)).toEqual([
      'envoy.retry_host_predicates.previous_hosts',
    ]);
  });
});
