import type { ResourceMeta } from './common';
import { object, oneOf, optional, required, string, type Infer } from './schema';
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

/** meshd's own extension of the Mesh (not an App Mesh field): mesh-wide mutual TLS with managed identities. */
export const meshdExtensionShape = object(
  {
    mtls: optional(
      oneOf(
        MESH_MTLS_MODES,
        'mesh-wide mutual TLS with meshd-issued identities: STRICT (mTLS only), PERMISSIVE (mTLS and plaintext), DISABLED (the default)',
      ),
    ),
    trustDomain: optional(trustDomainShape),
  },
  { description: 'meshd extension (not App Mesh): mesh-wide mutual TLS and the SPIFFE trust domain' },
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
