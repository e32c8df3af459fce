// Errors in AWS's shape: the exception name (`__type`), a message, and any extra fields the
// API declares on it (ServiceAlreadyExists carries the existing ServiceId, for example).

/** Why meshd refused a request on purpose, for /metrics (meshd_cloud_map_refused_total). */
export type RefusalReason = 'signature' | 'no_credentials' | 'address' | 'attribute_limit' | 'internal_error';

export class CloudMapError extends Error {
  constructor(
    /** The AWS exception name, e.g. NamespaceNotFound. */
    readonly type: string,
    message: string,
    readonly fields: Readonly<Record<string, unknown>> = {},
    /** 400 for the caller's mistakes, as AWS answers them. */
    readonly status = 400,
    /** Set when the error is one of the refusals counted in /metrics. */
    readonly refusal?: RefusalReason,
  ) {
    super(message);
  }
}
