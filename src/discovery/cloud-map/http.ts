// The local Cloud Map on the admin port: `POST /` requests of AWS's JSON protocol, checked for
// a SigV4 signature when credentials are configured, answered from the registry.
import { StateFileError } from '../atomic-json-file';
import { verifySigV4, type Credentials } from '../sigv4-verify';
import { answerCloudMapRequest, errorAnswer, type ApiAnswer } from './api';
import { CloudMapError } from './errors';
import type { CloudMapRegistry } from './registry';

export interface RawRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

/** Bodies of the calls the local Cloud Map answers are small; this bounds a runaway client. */
export const MAX_BODY_BYTES = 1024 * 1024;

export function cloudMapHandler(registry: CloudMapRegistry, options: { credentials?: Credentials; onFailure: (message: string) => void }): (request: RawRequest) => ApiAnswer {
  return (request) => {
    if (options.credentials) {
      const verdict = verifySigV4(request, options.credentials);
      if (!verdict.ok) return errorAnswer(new CloudMapError(verdict.code, verdict.message, {}, verdict.code === 'MissingAuthenticationTokenException' ? 403 : 400));
    }
    const target = request.headers['x-amz-target'];
    try {
      return answerCloudMapRequest(registry, Array.isArray(target) ? target[0] : target, request.body.toString('utf8'));
    } catch (err) {
      // Either way the registry undid the change; only a StateFileError means the disk refused it.
      const message =
        err instanceof StateFileError
          ? `the registry could not be saved, so nothing changed: ${err.message}`
          : `internal error, nothing changed: ${(err as Error).message}`;
      options.onFailure(message);
      return errorAnswer(new CloudMapError('InternalFailure', message, {}, 500));
    }
  };
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
          instances: registry.instances(s.id).map((i) => ({ id: i.id, health: registry.healthOf(i), attributes: i.attributes, ...(i.seed ? { declaredInMeshFiles: true } : {}) })),
        })),
    })),
  };
}
