// The remote Cloud Map's two calls through the AWS SDK (@aws-sdk/client-servicediscovery):
// the SDK's standard credential chain and region, one attempt per call (the next poll is the
// retry), an answer cut off past a byte limit before the SDK parses it, and every failure
// turned into a RemoteCallError that says why. Loaded only in remote mode.
import { Transform, type Readable } from 'node:stream';
import {
  DiscoverInstancesCommand,
  DiscoverInstancesRevisionCommand,
  ServiceDiscoveryClient,
  type ServiceDiscoveryClientConfig,
} from '@aws-sdk/client-servicediscovery';
import { RemoteCallError, type RemoteApi, type RawInstance } from './remote';

/** More than 1,000 instances at AWS's attribute limits (5,000 characters each) fit well within it. */
export const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

export interface RemoteClientOptions {
  /** A custom endpoint (another meshd, moto, a VPC endpoint); default: the region's. */
  readonly endpoint?: string;
  /** Default: the SDK's (AWS_REGION, the profile's). */
  readonly region?: string;
  readonly maxResponseBytes?: number;
}

export interface RemoteClient {
  readonly api: RemoteApi;
  /** The region the SDK resolved; rejects when it has none. */
  region(): Promise<string>;
  close(): void;
}

/**
 * How App Mesh's Envoy discovered a service's instances: HEALTHY. On a service without a health
 * check Cloud Map returns every instance for it; with one, only the healthy ones.
 */
export const DISCOVERY_HEALTH_STATUS = 'HEALTHY';

export function remoteClient(options: RemoteClientOptions): RemoteClient {
  // The SDK's version is pinned and runs on Node 20; its multi-line
  // notice about later versions is not for meshd's users.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const config: ServiceDiscoveryClientConfig = {
    maxAttempts: 1,
    ...(options.region ? { region: options.region } : {}),
    // DiscoverInstances is sent to the host `data-<endpoint host>` in AWS's model; a custom endpoint has no such name.
    ...(options.endpoint ? { endpoint: options.endpoint, disableHostPrefix: true } : {}),
  };
  const client = new ServiceDiscoveryClient(config);
  const limit = options.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  // Inside the deserializer: the raw answer, before it is read and parsed.
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const response = result.response as { headers?: Record<string, string>; body?: unknown };
      const length = Number(response.headers?.['content-length']);
      if (length > limit)
        throw new RemoteCallError('invalid_response', `the answer is ${length} bytes long; at most ${limit} are read`);
      if (response.body && typeof (response.body as Readable).pipe === 'function')
        response.body = capped(response.body as Readable, limit);
      return result;
    },
    { step: 'deserialize', priority: 'low', name: 'meshdResponseSizeLimit' },
  );
  return {
    api: {
      async revision(namespace, service, signal) {
        try {
          const out = await client.send(
            new DiscoverInstancesRevisionCommand({ NamespaceName: namespace, ServiceName: service }),
            { abortSignal: signal },
          );
          return out.InstancesRevision as number;
        } catch (err) {
          throw callError(err, signal);
        }
      },
      async discover(namespace, service, query, maxResults, signal) {
        try {
          const out = await client.send(
            new DiscoverInstancesCommand({
              NamespaceName: namespace,
              ServiceName: service,
              MaxResults: Math.min(maxResults, 1000),
              HealthStatus: DISCOVERY_HEALTH_STATUS,
              ...(Object.keys(query).length > 0 ? { QueryParameters: { ...query } } : {}),
            }),
            { abortSignal: signal },
          );
          return (out.Instances ?? []) as readonly RawInstance[];
        } catch (err) {
          throw callError(err, signal);
        }
      },
    },
    region: async () => {
      const region = await client.config.region();
      if (!region) throw new Error('no region');
      return region;
    },
    close: () => client.destroy(),
  };
}

/** A stream that fails once more than `limit` bytes went through it. */
function capped(body: Readable, limit: number): Readable {
  let seen = 0;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > limit)
        return done(
          new RemoteCallError(
            'invalid_response',
            `the answer is longer than ${limit} bytes; at most ${limit} are read`,
          ),
        );
      done(null, chunk);
    },
  });
  body.on('error', (err) => out.destroy(err));
  out.on('error', () => body.destroy());
  return body.pipe(out);
}

/** Why a call failed, from the SDK's error. */
function callError(err: unknown, signal: AbortSignal): RemoteCallError {
  if (err instanceof RemoteCallError) return err;
  const e = err as {
    name?: string;
    message?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
    $response?: unknown;
  };
  const message = `${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message ?? String(err)}`.split('\n')[0]!;
  if (signal.aborted || e.name === 'AbortError' || e.name === 'TimeoutError')
    return new RemoteCallError('timeout', message);
  if (e.name === 'NamespaceNotFound' || e.name === 'ServiceNotFound') return new RemoteCallError('not_found', message);
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return new RemoteCallError('server_error', message);
  if (status !== undefined && status >= 400) return new RemoteCallError('rejected', message);
  if (e.code !== undefined && /^(E[A-Z]+|ERR_SOCKET\w*)$/.test(e.code))
    return new RemoteCallError('network', `${e.code}: ${e.message ?? ''}`.trim());
  // The same, wrapped by the SDK when the socket's error is not an Error of its realm.
  if (/\b(ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EPIPE|EAI_AGAIN)\b/.test(message))
    return new RemoteCallError('network', message);
  if (e.$response !== undefined || e.name === 'SyntaxError') return new RemoteCallError('invalid_response', message);
  return new RemoteCallError('error', message);
}
