// What one client can make the xDS server hold, and how a stream that goes past it is ended.
// Every bound here is enforced before the state grows: a request that would exceed one ends
// its stream (RESOURCE_EXHAUSTED, INVALID_ARGUMENT for a node id that cannot be one), the
// refusal is counted by reason, and nothing else is touched.

export interface XdsLimits {
  /** Names one stream may subscribe to for one type (initial_resource_versions count too). */
  readonly maxNamesPerType: number;
  /** Names one stream may subscribe to over all its types. */
  readonly maxNamesPerStream: number;
  /** Names all open streams together may subscribe to: what bounds the memory of many clients. */
  readonly maxNamesTotal: number;
  /** Bytes of one resource name (App Mesh's composed names stay under ~600). */
  readonly maxNameBytes: number;
  /** Type URLs one stream may ask for, served or not. */
  readonly maxTypesPerStream: number;
  /** ADS streams open at once on one connection. */
  readonly maxStreamsPerConnection: number;
  /** ADS streams open at once on the server. */
  readonly maxStreams: number;
  /** TCP connections open at once on the xDS port; more are closed as they arrive. */
  readonly maxConnections: number;
  /** Bytes of one request message (after decompression): grpc.max_receive_message_length. */
  readonly maxMessageBytes: number;
  /** A connection with no open stream, or a stream that has not sent its first request, is closed after this long. */
  readonly idleTimeoutMs: number;
  /** Bytes of a node id (App Mesh's ids and ARNs are well under 1 KiB). */
  readonly maxNodeIdBytes: number;
}

/**
 * Generous for a real fleet (an Envoy sidecar subscribes to a few thousand names at most; the
 * 5,000-node bench mesh opens 5,000 streams over 500 connections), small enough that one
 * client cannot exhaust memory, file descriptors or the event loop.
 */
export const DEFAULT_XDS_LIMITS: XdsLimits = {
  maxNamesPerType: 10_000,
  maxNamesPerStream: 20_000,
  maxNamesTotal: 1_000_000,
  maxNameBytes: 1024,
  maxTypesPerStream: 16,
  maxStreamsPerConnection: 100,
  maxStreams: 20_000,
  maxConnections: 10_000,
  maxMessageBytes: 4 * 1024 * 1024,
  idleTimeoutMs: 30_000,
  maxNodeIdBytes: 1024,
};

/** Type URLs are protocol constants (~70 characters); anything much longer is not one. */
export const MAX_TYPE_URL_BYTES = 256;

/** Client strings kept or logged for display only (cluster, user agent, NACK messages) are cut to this. */
export const MAX_DISPLAY_CHARS = 256;
export const MAX_NACK_MESSAGE_CHARS = 2048;

/** Why a stream (or a connection) was refused: the `reason` label of the refusal counters. */
export type RefusalReason =
  | 'names_per_type'
  | 'names_per_stream'
  | 'names_total'
  | 'name_bytes'
  | 'types_per_stream'
  | 'type_url_bytes'
  | 'streams_per_connection'
  | 'streams_total'
  | 'message_bytes'
  | 'node_id_bytes'
  | 'no_node_id'
  | 'malformed'
  | 'first_request_timeout'
  | 'unauthenticated'
  | 'permission_denied'
  | 'internal_error';

export const Status = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAUTHENTICATED: 16,
} as const;

/** A stream ended by the server: the gRPC status it gets and the counter's reason. */
export class StreamRefusal extends Error {
  constructor(
    readonly code: number,
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

export function resourceExhausted(reason: RefusalReason, message: string): StreamRefusal {
  return new StreamRefusal(Status.RESOURCE_EXHAUSTED, reason, message);
}

/** `text` cut to `max` characters, saying how long it was. */
export function truncate(text: string, max = MAX_DISPLAY_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** Checks a number given as a limit: a whole number of at least 1. */
export function checkLimits(limits: XdsLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1)
      throw new Error(`xDS limit ${name} must be a whole number of at least 1, got ${value}`);
  }
}

/** Names subscribed over every open stream, against maxNamesTotal. */
export class NameBudget {
  private used = 0;

  constructor(readonly max: number) {}

  /** Takes `n` more names (or gives back, when negative); false, and nothing taken, if that would exceed the budget. */
  take(n: number): boolean {
    if (n > 0 && this.used + n > this.max) return false;
    this.used = Math.max(0, this.used + n);
    return true;
  }

  get inUse(): number {
    return this.used;
  }
}
