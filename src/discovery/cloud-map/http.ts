// The local Cloud Map on the admin port: `POST /` requests of AWS's JSON protocol, checked for
// a SigV4 signature when credentials are configured, answered from the registry.
import { StateFileError } from '../../util/atomic-json-file';
import { MAX_AWS_BODY_BYTES, type RawRequest } from '../../util/aws-http';
import { verifySigV4, type Credentials } from '../../util/sigv4-verify';
import { answerCloudMapRequest, errorAnswer, type ApiAnswer } from './api';
import { CloudMapError, type RefusalReason } from './errors';
import type { CloudMapRegistry } from './registry';

/** Bodies of the calls the local Cloud Map answers are small; this bounds a runaway client. */
export const MAX_BODY_BYTES = MAX_AWS_BODY_BYTES;

export interface CloudMapHandlerOptions {
  readonly credentials?: Credentials;
  /**
   * Without credentials: accept unsigned calls (true, the default: a loopback admin address) or refuse every call
   * (false: any other address), as the App Mesh API does.
   */
  readonly allowUnsigned?: boolean;
  readonly onFailure: (message: string) => void;
  /**
   * A request refused on purpose (bad signature, a forbidden address, attributes over AWS's limits, an internal error).
   */
  readonly onRefused?: (reason: RefusalReason) => void;
}

/** Answers one request; never throws: whatever goes wrong is an AWS-shaped error answer. */
export function cloudMapHandler(
  registry: CloudMapRegistry,
  options: CloudMapHandlerOptions,
): (request: RawRequest) => ApiAnswer {
  const counted = countedBy(options);
  return (request) => {
    try {
      const checked = checkRequest(request, options.credentials, options.allowUnsigned ?? true);
      if ('refused' in checked) return counted(checked.refused);
      return counted(answerCloudMapRequest(registry, checked.target, checked.body));
    } catch (err) {
      return counted(failureAnswer(err, options));
    }
  };
}

export const NO_CREDENTIALS_MESSAGE =
  "meshd's Cloud Map API refuses every call: the admin address is not loopback and no credentials are set. " +
  'Start meshd serve with --cloud-map-credentials ACCESS_KEY_ID:SECRET_ACCESS_KEY and sign calls with that key';

/** Counts a refused answer (options.onRefused) and hands it back. */
export function countedBy(options: Pick<CloudMapHandlerOptions, 'onRefused'>): (answer: ApiAnswer) => ApiAnswer {
  return (answer) => {
    if (answer.refusal) options.onRefused?.(answer.refusal);
    return answer;
  };
}

/**
 * What every request passes before the registry sees it: its SigV4 signature when credentials are configured. Answers
 * the refusal, or the X-Amz-Target header and the body.
 */
export function checkRequest(
  request: RawRequest,
  credentials: Credentials | undefined,
  allowUnsigned = true,
): { readonly refused: ApiAnswer } | { readonly target: string | undefined; readonly body: string } {
  if (!credentials && !allowUnsigned)
    return {
      refused: errorAnswer(new CloudMapError('ForbiddenException', NO_CREDENTIALS_MESSAGE, {}, 403, 'no_credentials')),
    };
  if (credentials) {
    const verdict = verifySigV4(request, credentials);
    if (!verdict.ok) {
      return {
        refused: errorAnswer(
          new CloudMapError(
            verdict.code,
            verdict.message,
            {},
            verdict.code === 'MissingAuthenticationTokenException' ? 403 : 400,
            'signature',
          ),
        ),
      };
    }
  }
  const target = Object.hasOwn(request.headers, 'x-amz-target') ? request.headers['x-amz-target'] : undefined;
  return {
    target: Array.isArray(target) ? target[0] : typeof target === 'string' ? target : undefined,
    body: request.body.toString('utf8'),
  };
}

/** The answer to a throw while answering (the registry undid the change): a 500 InternalFailure, logged. */
export function failureAnswer(err: unknown, options: Pick<CloudMapHandlerOptions, 'onFailure'>): ApiAnswer {
  // Either way the registry undid the change; only a StateFileError means the disk refused it.
  const message =
    err instanceof StateFileError
      ? `the registry could not be saved, so nothing changed: ${err.message}`
      : `internal error, nothing changed: ${err instanceof Error ? err.message : String(err)}`;
  options.onFailure(message);
  return errorAnswer(new CloudMapError('InternalFailure', message, {}, 500, 'internal_error'));
}

/** The registry as `GET /v1/cloud-map` shows it: namespaces, their services, their instances and health. */
export function registryContents(registry: CloudMapRegistry): unknown {
  const services = registry.services();
  return {
    namespaces: registry.namespaces().map((ns) => ({
      id: ns.id,
      name: ns.name,
      type: ns.type,
      services: services
        .filter((s) => s.namespaceId === ns.id)
        .map((s) => ({
          id: s.id,
          name: s.name,
          customHealthCheck: s.healthCheckCustomConfig !== undefined,
          instances: registry.instances(s.id).map((i) => ({
            id: i.id,
            health: registry.healthOf(i),
            attributes: i.attributes,
            ...(i.seed ? { declaredInMeshFiles: true } : {}),
          })),
        })),
    })),
  };
}
