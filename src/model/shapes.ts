// App Mesh API shapes (2019-01-25) shared by several resource kinds, with App Mesh's limits.
// The per-kind spec shapes live next to each kind (mesh.ts, virtual-node.ts, ...).
import {
  boolean,
  integer,
  list,
  object,
  oneOf,
  optional,
  required,
  string,
  union,
  type Fail,
  type Infer,
} from './schema';
import { RE2_MAX_PROGRAM_SIZE, re2ProgramSize } from './re2/program';

export const PROTOCOLS = ['http', 'http2', 'grpc', 'tcp'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
export const IP_PREFERENCES = ['IPv6_PREFERRED', 'IPv4_PREFERRED', 'IPv4_ONLY', 'IPv6_ONLY'] as const;

/** App Mesh resource names: 1–255 characters. */
export const resourceName = string({ min: 1, max: 255 });

export const durationShape = object({
  unit: required(oneOf(['s', 'ms'])),
  value: required(integer(0, Number.MAX_SAFE_INTEGER)),
});
export type Duration = Infer<typeof durationShape>;

export const port = integer(1, 65535);

export const portMappingShape = object({ port: required(port), protocol: required(oneOf(PROTOCOLS)) });
export type PortMapping = Infer<typeof portMappingShape>;

/** An instant as the App Mesh API's files write it: ISO 8601 in UTC, to the millisecond. */
const instant = string({
  max: 24,
  pattern: {
    regex: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
    message: 'must be a UTC time like 2026-12-03T18:00:00.000Z',
  },
});

/**
 * What meshd's App Mesh API keeps beside a resource it wrote (`metadata:` in its file under the
 * API's folder): the uid, the version (+1 on each update) and two times. Files of one's own leave it out.
 */
export const apiMetadataShape = object({
  uid: required(
    string({ min: 1, max: 64, pattern: { regex: /^[A-Za-z0-9-]+$/, message: 'must be letters, digits and -' } }),
  ),
  version: required(integer(1, Number.MAX_SAFE_INTEGER)),
  createdAt: required(instant),
  lastUpdatedAt: required(instant),
});

export const tagsShape = list(
  object({ key: required(string({ min: 1, max: 128 })), value: required(string({ min: 0, max: 256 })) }),
  { max: 50 },
);

// ---- listener parts (virtual nodes and virtual gateways) ----

/** A listener's health check; a gateway's may not use tcp. */
export function healthCheckShapeFor<const P extends string>(protocols: readonly P[]) {
  return object(
    {
      healthyThreshold: required(integer(2, 10)),
      intervalMillis: required(integer(5000, 300000)),
      path: optional(string({ description: 'used for http and http2 health checks only' })),
      port: optional(port),
      protocol: required(oneOf(protocols)),
      timeoutMillis: required(integer(2000, 60000)),
      unhealthyThreshold: required(integer(2, 10)),
    },
    {
      check: (hc, fail) => {
        if ((hc.protocol === 'http' || hc.protocol === 'http2') && hc.path === undefined)
          fail(['path'], `an ${hc.protocol} health check needs a path`);
      },
    },
  );
}
export const healthCheckShape = healthCheckShapeFor(PROTOCOLS);
export type HealthCheck = Infer<typeof healthCheckShape>;

export const outlierDetectionShape = object({
  baseEjectionDuration: required(durationShape),
  interval: required(durationShape),
  maxEjectionPercent: required(integer(0, 100)),
  maxServerErrors: required(integer(1, Number.MAX_SAFE_INTEGER)),
});

export const atLeastOne = integer(1, Number.MAX_SAFE_INTEGER);

export const connectionPoolShape = union({
  tcp: optional(object({ maxConnections: required(atLeastOne) })),
  http: optional(object({ maxConnections: required(atLeastOne), maxPendingRequests: optional(atLeastOne) })),
  http2: optional(object({ maxRequests: required(atLeastOne) })),
  grpc: optional(object({ maxRequests: required(atLeastOne) })),
});
export type ConnectionPool = Infer<typeof connectionPoolShape>;

export const httpTimeoutShape = object({ perRequest: optional(durationShape), idle: optional(durationShape) });
export const tcpTimeoutShape = object({ idle: optional(durationShape) });

export const listenerTimeoutShape = union({
  http: optional(httpTimeoutShape),
  http2: optional(httpTimeoutShape),
  grpc: optional(httpTimeoutShape),
  tcp: optional(tcpTimeoutShape),
});

const fileCertificate = object({ certificateChain: required(string()), privateKey: required(string()) });
const sdsSecret = object({ secretName: required(string()) });
const subjectAlternativeNames = object({ match: required(object({ exact: required(list(string({ max: 254 }))) })) });

export const listenerTlsShape = object({
  mode: required(oneOf(['STRICT', 'PERMISSIVE', 'DISABLED'])),
  certificate: required(
    union({
      acm: optional(object({ certificateArn: required(string()) })),
      file: optional(fileCertificate),
      sds: optional(sdsSecret),
    }),
  ),
  validation: optional(
    object({
      trust: required(
        union({ file: optional(object({ certificateChain: required(string()) })), sds: optional(sdsSecret) }),
      ),
      subjectAlternativeNames: optional(subjectAlternativeNames),
    }),
  ),
});

/**
 * Rules of a listener (a node's or a gateway's) across its parts: its connection pool and timeout
 * are for its own protocol, and its health check probes its own port.
 */
export function checkListenerParts(
  listener: {
    portMapping: PortMapping | { port: number; protocol: string };
    connectionPool?: object;
    timeout?: object;
    healthCheck?: { port?: number };
  },
  fail: Fail,
): void {
  const { port, protocol } = listener.portMapping;
  for (const part of ['connectionPool', 'timeout'] as const) {
    const kinds = Object.keys(listener[part] ?? {});
    if (kinds.length === 1 && kinds[0] !== protocol)
      fail(
        [part, kinds[0]!],
        `this listener speaks ${protocol}, so its ${part} must be '${protocol}', not '${kinds[0]}'`,
      );
  }
  const hcPort = listener.healthCheck?.port;
  if (hcPort !== undefined && hcPort !== port)
    fail(['healthCheck', 'port'], `must be the listener's own port ${port}, got ${hcPort}`);
}

// ---- client policy (backends and backend defaults) ----

export const clientTlsShape = object({
  enforce: optional(boolean('defaults to true')),
  ports: optional(list(port)),
  certificate: optional(union({ file: optional(fileCertificate), sds: optional(sdsSecret) })),
  validation: required(
    object({
      trust: required(
        union({
          acm: optional(object({ certificateAuthorityArns: required(list(string(), { min: 1, max: 3 })) })),
          file: optional(object({ certificateChain: required(string()) })),
          sds: optional(sdsSecret),
        }),
      ),
      subjectAlternativeNames: optional(subjectAlternativeNames),
    }),
  ),
});

export const clientPolicyShape = object({ tls: optional(clientTlsShape) });

export const loggingShape = object({
  accessLog: optional(
    union({
      file: optional(
        object({
          path: required(string()),
          format: optional(
            union({
              text: optional(string({ max: 1000 })),
              json: optional(
                list(object({ key: required(string({ max: 100 })), value: required(string({ max: 100 })) })),
              ),
            }),
          ),
        }),
      ),
    }),
  ),
});

// ---- matching (routes and gateway routes) ----

export const HTTP_METHODS = ['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE'] as const;

export const prefixShape = string({ pattern: { regex: /^\//, message: "must start with '/'" } });

/**
 * Why Envoy would refuse a regex, if it would. Envoy compiles route regexes with RE2 (Latin-1)
 * and refuses the whole route configuration when one does not parse, or when its compiled
 * program is larger than re2.max_program_size.error_level: 1000 in App Mesh's runtime, which
 * `meshd bootstrap` sets too. model/re2 parses and sizes it as RE2 does.
 */
export function regexProblem(source: string): string | undefined {
  const result = re2ProgramSize(source);
  if (!result.ok) {
    if (!result.syntax) return `is too large for Envoy's regex engine (RE2): ${result.error}`;
    if (/^invalid or unsupported Perl syntax: \(\?<?[=!]/.test(result.error))
      return "uses a lookaround, which Envoy's regex engine (RE2) does not support";
    if (/^invalid escape sequence: \\[1-9]$/.test(result.error))
      return "uses a backreference, which Envoy's regex engine (RE2) does not support";
    return `is not a valid RE2 regular expression: ${result.error}`;
  }
  if (result.size > RE2_MAX_PROGRAM_SIZE) {
    return `compiles to an RE2 program of size ${result.atLeast ? 'at least ' : ''}${result.size}, over the ${RE2_MAX_PROGRAM_SIZE} App Mesh's Envoy accepts (re2.max_program_size.error_level); Envoy would refuse it`;
  }
  return undefined;
}

function checkRegex(regex: string | undefined, fail: Fail): void {
  const problem = regex === undefined ? undefined : regexProblem(regex);
  if (problem) fail(['regex'], problem);
}

export const headerMatchShape = union(
  {
    exact: optional(string()),
    prefix: optional(string()),
    suffix: optional(string()),
    regex: optional(string()),
    range: optional(
      object({
        start: required(integer(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)),
        end: required(integer(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)),
      }),
    ),
  },
  {
    check: (m, fail) => {
      if (m.range && m.range.end <= m.range.start)
        fail(
          ['range', 'end'],
          `must be greater than start (${m.range.start}); the range includes start and excludes end`,
        );
      checkRegex(m.regex, fail);
    },
  },
);

export const headerShape = object({
  name: required(string({ max: 50 })),
  invert: optional(boolean()),
  match: optional(headerMatchShape),
});

export const pathMatchShape = union(
  {
    exact: optional(string({ pattern: { regex: /^\//, message: "must start with '/'" } })),
    regex: optional(string()),
  },
  { check: (m, fail) => checkRegex(m.regex, fail) },
);

export const queryParameterShape = object({
  name: required(string()),
  match: optional(object({ exact: required(string({ min: 0 })) })),
});

export const headersList = list(headerShape, { min: 1, max: 10 });
export const queryParametersList = list(queryParameterShape, { min: 1, max: 10 });
