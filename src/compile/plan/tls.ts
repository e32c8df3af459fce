// App Mesh TLS → the plan's TLS: listener tls (termination) and client policies (origination),
// plus meshd's mesh-wide mTLS (Mesh spec.meshd.mtls) for what has no TLS of its own.
// Sources: `file` stays files; App Mesh `sds` is fetched from the SPIRE agent's socket as App Mesh
// did; `acm` (an AWS Private CA certificate, which exists only inside AWS) becomes meshd's managed
// identity and trust bundle, served over ADS: every PCA ARN maps to meshd's one CA (docs/tls.md).
import type { Mesh } from '../../model/mesh';
import { meshMtlsMode, meshTrustDomain } from '../../model/mesh';
import type { MeshReader } from '../../model/mesh-model';
import type { Infer } from '../../model/schema';
import type { clientTlsShape, listenerTlsShape } from '../../model/shapes';
import type { VirtualNode } from '../../model/virtual-node';
import {
  MANAGED_IDENTITY_SECRET,
  MANAGED_TRUST_SECRET,
  serviceDiscoveryNames,
  spiffeIdOf,
  spiffeMeshPrefix,
} from '../identity';
import type { CertificatePlan, DownstreamTlsPlan, TrustPlan, UpstreamTlsPlan, ValidationPlan } from './types';

type ListenerTls = Infer<typeof listenerTlsShape>;
export type ClientTls = Infer<typeof clientTlsShape>;

interface CertificateSource {
  file?: { certificateChain: string; privateKey: string };
  sds?: { secretName: string };
  acm?: { certificateArn: string };
}
interface TrustSource {
  file?: { certificateChain: string };
  sds?: { secretName: string };
  acm?: { certificateAuthorityArns: readonly string[] };
}

/** The mesh-wide mode of a mesh that turned it on (undefined: DISABLED). */
export interface MeshMtls {
  readonly mode: 'STRICT' | 'PERMISSIVE';
  readonly mesh: string;
  readonly trustDomain: string;
}

/** The mesh-wide mTLS of `mesh`, read through the model reader (so a change of it recompiles its readers). */
export function meshMtlsOf(model: MeshReader, mesh: string): MeshMtls | undefined {
  return meshMtlsFrom(model.mesh(mesh), mesh);
}

function meshMtlsFrom(m: Mesh | undefined, mesh: string): MeshMtls | undefined {
  const mode = meshMtlsMode(m);
  return mode === 'DISABLED' ? undefined : { mode, mesh, trustDomain: meshTrustDomain(m) };
}

const MANAGED_IDENTITY: CertificatePlan = { kind: 'sds', secretName: MANAGED_IDENTITY_SECRET, source: 'ads' };
const MANAGED_TRUST: TrustPlan = { kind: 'sds', secretName: MANAGED_TRUST_SECRET, source: 'ads' };

function certificate(source: CertificateSource): CertificatePlan {
  if (source.file) return { kind: 'file', ...source.file };
  if (source.sds) return { kind: 'sds', secretName: source.sds.secretName, source: 'spire' };
  return MANAGED_IDENTITY;
}

function trust(source: TrustSource): TrustPlan {
  if (source.file) return { kind: 'file', trustedCa: source.file.certificateChain };
  if (source.sds) return { kind: 'sds', secretName: source.sds.secretName, source: 'spire' };
  return MANAGED_TRUST;
}

/** Trusted CAs plus App Mesh's exact SAN list. */
function validation(source: TrustSource, sans: readonly string[] | undefined): ValidationPlan {
  return { trust: trust(source), ...(sans?.length ? { subjectAltNames: [...sans] } : {}) };
}

/**
 * STRICT and PERMISSIVE listeners terminate TLS (undefined: plaintext); a validation block asks
 * for client certificates (mTLS). `alpn` is offered to clients. A listener's own `tls` (even
 * DISABLED) wins; without one, `meshMtls` (a virtual node's mesh-wide mode; gateways pass none:
 * they face clients outside the mesh) terminates mTLS with the managed identity and accepts any
 * client of the same mesh.
 */
export function downstreamTls(
  tls: ListenerTls | undefined,
  alpn?: readonly string[],
  meshMtls?: MeshMtls,
): DownstreamTlsPlan | undefined {
  if (!tls) {
    if (!meshMtls) return undefined;
    return {
      mode: meshMtls.mode,
      certificate: MANAGED_IDENTITY,
      validation: { trust: MANAGED_TRUST, uriSanPrefix: spiffeMeshPrefix(meshMtls.trustDomain, meshMtls.mesh) },
      ...(alpn ? { alpn: [...alpn] } : {}),
    };
  }
  if (tls.mode === 'DISABLED') return undefined;
  const v = tls.validation;
  return {
    mode: tls.mode,
    certificate: certificate(tls.certificate),
    ...(v ? { validation: validation(v.trust, v.subjectAlternativeNames?.match.exact) } : {}),
    ...(alpn ? { alpn: [...alpn] } : {}),
  };
}

/** What a caller knows of the listener it calls. */
export interface UpstreamTarget {
  readonly node: VirtualNode;
  readonly port: number;
}

/**
 * The TLS a caller originates to `target` under client policy `tls`, or undefined for plaintext.
 * In order:
 * 1. a client policy that applies to the port (enforced, and the port is in its `ports`, if any);
 * 2. a target listener with its own tls and an ACM certificate: App Mesh's clients originated TLS
 *    to it without a client policy, validating the certificate against its PCA and the names of
 *    the target's service discovery (its TLS guide); here the PCA is meshd's trust bundle;
 * 3. a target listener with no tls of its own, in a mesh with mesh-wide mTLS: mTLS with the
 *    managed identity, accepting only the target's own SPIFFE ID.
 * A target listener with its own file or SDS tls (or DISABLED) and no client policy gets plaintext,
 * as in App Mesh. `enforce: false` and a port outside `ports` are as if there were no policy.
 */
export function upstreamTls(
  tls: ClientTls | undefined,
  target: UpstreamTarget,
  meshMtls: MeshMtls | undefined,
): UpstreamTlsPlan | undefined {
  if (tls && tls.enforce !== false && (!tls.ports?.length || tls.ports.includes(target.port))) {
    return {
      ...(tls.certificate ? { certificate: certificate(tls.certificate) } : {}),
      validation: validation(tls.validation.trust, tls.validation.subjectAlternativeNames?.match.exact),
    };
  }
  const listenerTls = target.node.spec.listeners?.find((l) => l.portMapping.port === target.port)?.tls;
  if (listenerTls) {
    if (listenerTls.mode === 'DISABLED' || !listenerTls.certificate.acm) return undefined;
    const names = serviceDiscoveryNames(target.node);
    return {
      ...(meshMtls ? { certificate: MANAGED_IDENTITY } : {}),
      validation: { trust: MANAGED_TRUST, ...(names.length ? { subjectAltNames: names } : {}) },
    };
  }
  if (!meshMtls) return undefined;
  return {
    certificate: MANAGED_IDENTITY,
    validation: {
      trust: MANAGED_TRUST,
      spiffeIds: [spiffeIdOf(meshMtls.trustDomain, target.node.mesh, 'virtualNode', target.node.name)],
    },
  };
}

/** Whether a plan names meshd's managed secrets (served over ADS), so the proxy needs an identity. */
export function usesManagedSecrets(tls: DownstreamTlsPlan | UpstreamTlsPlan | undefined): boolean {
  if (!tls) return false;
  return tls.certificate?.kind === 'sds' && tls.certificate.source === 'ads'
    ? true
    : tls.validation?.trust.kind === 'sds' && tls.validation.trust.source === 'ads';
}
