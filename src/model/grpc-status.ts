// gRPC status codes (the numbers are the wire's `grpc-status`), shared by the telemetry that
// counts them and the rollouts that judge a canary by them.

/** Index = the status code. */
export const GRPC_STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;
export type GrpcStatusName = (typeof GRPC_STATUS_NAMES)[number];

/** How many codes there are (0 to 16). */
export const GRPC_STATUS_COUNT = GRPC_STATUS_NAMES.length;

/** The 16 names a failure list may hold: every code but OK. */
export const GRPC_FAILURE_NAMES = GRPC_STATUS_NAMES.filter((n) => n !== 'OK') as Exclude<GrpcStatusName, 'OK'>[];
export type GrpcFailureName = Exclude<GrpcStatusName, 'OK'>;

/**
 * The statuses a canary's request-success-rate counts as failures by default: the server broke
 * (UNKNOWN, INTERNAL, DATA_LOSS), was not there or overloaded (UNAVAILABLE, RESOURCE_EXHAUSTED)
 * or too slow (DEADLINE_EXCEEDED). The others usually answer the caller's own mistake
 * (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, ...) or the caller's choice (CANCELLED), as
 * an HTTP 4xx would, and a new version is not to blame for them. docs/rollouts.md says so.
 */
export const DEFAULT_GRPC_FAILURE_CODES: readonly GrpcFailureName[] = [
  'UNKNOWN',
  'DEADLINE_EXCEEDED',
  'RESOURCE_EXHAUSTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
];
