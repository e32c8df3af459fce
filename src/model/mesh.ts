import { isIPv4, isIPv6 } from 'node:net';
import type { ResourceMeta } from './common';
import { number, object, oneOf, optional, required, string, type Infer } from './schema';
import { IP_PREFERENCES } from './shapes';

export const EGRESS_FILTER_TYPES = ['ALLOW_ALL', 'DROP_ALL'] as const;
export type EgressFilterType = (typeof EGRESS_FILTER_TYPES)[number];

export const MESH_MTLS_MODES = ['STRICT', 'PERMISSIVE', 'DISABLED'] as const;
export type MeshMtlsMode = (typeof MESH_MTLS_MODES)[number];
export const DEFAULT_TRUST_DOMAIN = 'meshd.local';

/**
 * A SPIFFE trust domain (the SPIFFE ID spec, section 2.1): lowercase letters, digits, '.', '-'
 * and '_', at most 255 characters, so that `spiffe://<td>/...` is a valid SPIFFE ID.
 */
export const trustDomainShape = string({
  max: 255,
  pattern: {
    regex: /^[a-z0-9._-]+$/,
    message: "must be a SPIFFE trust domain: lowercase letters, digits, '.', '-' and '_' only",
  },
  description: `the SPIFFE trust domain of the mesh's workload identities (default ${DEFAULT_TRUST_DOMAIN})`,
});

/** The sampling rate of meshd's OpenTelemetry tracing when the mesh sets none: every request. */
export const DEFAULT_OTEL_SAMPLING_RATE = 1;

/**
 * A host name: DNS labels of letters, digits, '-' and '_' (service names such as otel_collector), dot-separated, at
 * most 253 characters not counting a trailing '.' (the root, as in a fully qualified `otel.example.`).
 */
const HOST_NAME =
  /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;
/** Four dot-separated runs of digits: meant as an IPv4 address, whether or not a valid one. */
const DOTTED_QUAD = /^\d+\.\d+\.\d+\.\d+$/;

/** An OTLP collector's address, split: `<host>:<port>`, or `[<IPv6>]:<port>`. */
export interface CollectorAddress {
  readonly host: string;
  readonly port: number;
  /** An IP address (reached as is) rather than a name (resolved by DNS). */
  readonly ip: boolean;
}

/** The address split, or what is wrong with it (a message for the field). */
export function parseCollectorAddress(address: string): CollectorAddress | { readonly error: string } {
  const shown = JSON.stringify(address);
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(address))
    return { error: `must be <host>:<port> with no scheme (Envoy speaks OTLP over gRPC to it), got ${shown}` };
  const colon = address.lastIndexOf(':');
  const bracketed = address.startsWith('[');
  if (colon < 0 || (bracketed && colon < address.indexOf(']')))
    return { error: `must be <host>:<port>, got ${shown}: there is no port` };
  const hostPart = address.slice(0, colon);
  const portPart = address.slice(colon + 1);
  if (portPart === '') return { error: `must be <host>:<port>, got ${shown}: the port is empty` };
  if (!/^\d{1,5}$/.test(portPart))
    return { error: `the port must be a number from 1 to 65535, got ${JSON.stringify(portPart)}` };
  const port = Number(portPart);
  if (port < 1 || port > 65535) return { error: `the port must be a number from 1 to 65535, got ${port}` };
  if (hostPart === '' || hostPart === '[]') return { error: `must be <host>:<port>, got ${shown}: the host is empty` };
  if (bracketed) {
    const inner = hostPart.endsWith(']') ? hostPart.slice(1, -1) : undefined;
    if (inner === undefined) return { error: `an IPv6 host is written [<address>]:<port>, got ${shown}` };
    // node's own parser: exactly the textual IPv6 forms (`::`, at most one `::`, hex groups of at most four digits, an
    // IPv4 tail); a zone index (`%eth0`) names an interface of one host, which a cluster address cannot.
    if (!isIPv6(inner) || inner.includes('%'))
      return { error: `the host ${JSON.stringify(inner)} is not a valid IPv6 address (in [<address>]:<port>)` };
    return { host: inner, port, ip: true };
  }
  if (hostPart.includes(':')) return { error: `an IPv6 host is written in brackets, [<address>]:<port>, got ${shown}` };
  if (isIPv4(hostPart)) return { host: hostPart, port, ip: true };
  if (DOTTED_QUAD.test(hostPart)) return { error: `the host ${JSON.stringify(hostPart)} is not a valid IPv4 address` };
  if (!HOST_NAME.test(hostPart))
    return {
      error: `the host ${JSON.stringify(hostPart)} is not a DNS name (labels of letters, digits, '-' and '_', joined by '.')`,
    };
  return { host: hostPart, port, ip: false };
}

/**
 * meshd's OpenTelemetry tracing (not App Mesh): every Envoy of the mesh sends its spans over
 * OTLP/gRPC to one collector, as the virtual node or virtual gateway it runs for.
 */
export const openTelemetryShape = object(
  {
    address: required(
      string({
        max: 261,
        description:
          'the OTLP/gRPC collector every Envoy of the mesh sends its spans to: <host>:<port> or [<IPv6>]:<port>',
      }),
    ),
    samplingRate: optional(
      number(
        0,
        1,
        `the share of requests traced when no caller decided, 0.0 to 1.0 as App Mesh's XRAY_SAMPLING_RATE is written (default ${DEFAULT_OTEL_SAMPLING_RATE})`,
      ),
    ),
  },
  {
    check: (otel, fail) => {
      const parsed = parseCollectorAddress(otel.address);
      if ('error' in parsed) fail(['address'], parsed.error);
    },
    description: 'meshd extension (not App Mesh): OpenTelemetry tracing to an OTLP/gRPC collector',
  },
);

/** meshd's own extension of the Mesh (not an App Mesh field): mesh-wide mutual TLS with managed identities, tracing. */
export const meshdExtensionShape = object(
  {
    mtls: optional(
      oneOf(
        MESH_MTLS_MODES,
        'mesh-wide mutual TLS with meshd-issued identities: STRICT (mTLS only), PERMISSIVE (mTLS and plaintext), DISABLED (the default)',
      ),
    ),
    trustDomain: optional(trustDomainShape),
    tracing: optional(object({ openTelemetry: optional(openTelemetryShape) })),
  },
  {
    description:
      'meshd extension (not App Mesh): mesh-wide mutual TLS, the SPIFFE trust domain and OpenTelemetry tracing',
  },
);

export const meshSpecShape = object({
  egressFilter: optional(
    object({
      type: required(oneOf(EGRESS_FILTER_TYPES, 'DROP_ALL (the default) allows only traffic to declared backends')),
    }),
  ),
  serviceDiscovery: optional(object({ ipPreference: optional(oneOf(IP_PREFERENCES)) })),
  meshd: optional(meshdExtensionShape),
});
export type MeshSpec = Infer<typeof meshSpecShape>;

export interface Mesh extends ResourceMeta {
  readonly kind: 'Mesh';
  readonly spec: MeshSpec;
}

/** The mesh's mesh-wide mTLS mode (DISABLED when unset). */
export function meshMtlsMode(mesh: Mesh | undefined): MeshMtlsMode {
  return mesh?.spec.meshd?.mtls ?? 'DISABLED';
}

/** The mesh's SPIFFE trust domain. */
export function meshTrustDomain(mesh: Mesh | undefined): string {
  return mesh?.spec.meshd?.trustDomain ?? DEFAULT_TRUST_DOMAIN;
}

/** The mesh's OpenTelemetry tracing, its defaults applied; undefined when the mesh has none. */
export function meshOpenTelemetry(
  mesh: Mesh | undefined,
): { readonly collector: CollectorAddress; readonly samplingRate: number } | undefined {
  const otel = mesh?.spec.meshd?.tracing?.openTelemetry;
  if (!otel) return undefined;
  const collector = parseCollectorAddress(otel.address);
  // The validator refuses a bad address; a model built without it gets no tracing rather than a broken cluster.
  if ('error' in collector) return undefined;
  return { collector, samplingRate: otel.samplingRate ?? DEFAULT_OTEL_SAMPLING_RATE };
}
