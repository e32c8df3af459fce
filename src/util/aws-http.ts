// The shape of one call of an AWS protocol that meshd answers on its admin port (the local Cloud
// Map's JSON protocol, the App Mesh API's restJson): the request as the admin server reads it, and
// an answer as it is written back. Shared by the admin server, which reads and writes them, and the
// handlers behind it, which know the protocols; neither needs to import the other.

/** One request, its body read whole (at most MAX_AWS_BODY_BYTES). */
export interface RawRequest {
  readonly method: string;
  /** The request target: path and query, as received. */
  readonly path: string;
  /** node's IncomingMessage.headers (lower-case names). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

/** One answer: status, headers (lower-case names) and the body's text. */
export interface AwsAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Bodies of the calls meshd answers are small; this bounds a runaway client (past it: 413, nothing more read). */
export const MAX_AWS_BODY_BYTES = 1024 * 1024;

/**
 * An error as AWS's restJson services answer it: the type in the `x-amzn-ErrorType` header (which
 * the SDKs and botocore read first) and as `__type` in the body, beside `message`.
 */
export function awsErrorAnswer(
  status: number,
  type: string,
  message: string,
  headers: Readonly<Record<string, string>> = {},
): AwsAnswer {
  return {
    status,
    headers: { 'content-type': 'application/json', 'x-amzn-errortype': type, ...headers },
    body: JSON.stringify({ __type: type, message }),
  };
}
