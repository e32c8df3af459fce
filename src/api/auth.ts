// Who may call the App Mesh API: a wrapper around the handler that checks each request's SigV4
// signature (util/sigv4-verify) before the handler, and so the store, sees it.
//
// - With credentials: every call must be signed with them, for the service `appmesh` (the SDKs' and
//   the AWS CLI's signing name). A refusal answers 403 with AWS's generic error types, as App Mesh's
//   endpoint does: MissingAuthenticationTokenException (unsigned), UnrecognizedClientException (an
//   unknown access key id), InvalidSignatureException (another secret, a changed request, a stale
//   date, another service); IncompleteSignatureException (a malformed Authorization header) is 400.
// - Without credentials, on a loopback admin address: any signature, or none, is accepted (the AWS
//   CLI and the SDKs sign with whatever dummy keys they are given; only local processes can call).
//   The Host header must then name a loopback address (an IP literal or localhost): a web page the
//   operator opens cannot reach the API through DNS rebinding (its Host is the attacker's name).
// - Without credentials, on any other address: every call is refused (403 ForbiddenException) with
//   a message naming --api-credentials, so that a meshd reachable from the network is never open
//   by omission.
import { awsErrorAnswer, type AwsAnswer, type RawRequest } from '../util/aws-http';
import { loopbackHost } from '../util/loopback';
import { verifySigV4, type Credentials, type VerifyErrorCode } from '../util/sigv4-verify';

export { loopbackHost };

/** The App Mesh API's SigV4 signing name, in the credential scope `<date>/<region>/appmesh/aws4_request`. */
export const SIGNING_NAME = 'appmesh';

/**
 * Why a request was refused, for /metrics: signature (a SigV4 check failed), no_credentials (a non-loopback address
 * without --api-credentials), internal_error (the handler answered 500).
 */
export type AuthRefusal = 'signature' | 'no_credentials' | 'host' | 'internal_error';

export interface SigV4Options {
  /** The access key id and secret every call must be signed with; none: see allowUnsigned. */
  readonly credentials?: Credentials;
  /** Without credentials: accept any call (a loopback admin address), or refuse every one (any other). */
  readonly allowUnsigned: boolean;
  readonly onRefused?: (reason: AuthRefusal) => void;
  /** The clock the signature's date is checked against (tests). */
  readonly now?: () => Date;
}

const STATUS: Readonly<Record<VerifyErrorCode, number>> = {
  MissingAuthenticationTokenException: 403,
  UnrecognizedClientException: 403,
  InvalidSignatureException: 403,
  IncompleteSignatureException: 400,
};

export const NO_CREDENTIALS_MESSAGE =
  "meshd's App Mesh API refuses every call: the admin address is not loopback and no credentials are set. " +
  'Start meshd serve with --api-credentials ACCESS_KEY_ID:SECRET_ACCESS_KEY and sign calls with that key ' +
  '(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for the AWS CLI and the SDKs)';

/** The handler behind the checks of `options`: a refused request never reaches it. */
export function withSigV4(
  handler: (request: RawRequest) => Promise<AwsAnswer>,
  options: SigV4Options,
): (request: RawRequest) => Promise<AwsAnswer> {
  const refuse = (reason: AuthRefusal, answer: AwsAnswer): AwsAnswer => {
    options.onRefused?.(reason);
    return answer;
  };
  return async (request) => {
    const { credentials } = options;
    if (credentials) {
      const verdict = verifySigV4(request, credentials, options.now?.() ?? new Date(), { service: SIGNING_NAME });
      if (!verdict.ok) return refuse('signature', awsErrorAnswer(STATUS[verdict.code], verdict.code, verdict.message));
    } else if (!options.allowUnsigned) {
      return refuse('no_credentials', awsErrorAnswer(403, 'ForbiddenException', NO_CREDENTIALS_MESSAGE));
    } else if (!loopbackHost(request.headers.host)) {
      return refuse(
        'host',
        awsErrorAnswer(
          403,
          'ForbiddenException',
          "without --api-credentials, meshd's App Mesh API answers only requests to a loopback address (Host 127.0.0.1, [::1] or localhost), so that no web page can reach it through DNS rebinding",
        ),
      );
    }
    const answer = await handler(request);
    if (answer.status === 500) options.onRefused?.('internal_error');
    return answer;
  };
}
