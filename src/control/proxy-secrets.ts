// The managed secrets a proxy is served over ADS (SDS): its own workload certificate and key as
// `meshd/identity`, and every root meshd trusts as `meshd/trust-bundle`. The compiler only names
// them (compile/identity.ts); the certificates come from the CA (ca/), and are encoded here into
// xDS Secret resources, once per certificate, so that a snapshot's Secret set changes only when a
// certificate is renewed or the trust bundle changes (a rotation pushes SDS alone).
import { MANAGED_IDENTITY_SECRET, MANAGED_TRUST_SECRET } from '../compile/identity';
import type { WorkloadIdentity } from '../compile/identity';
import { encodeResource } from '../xds/protos';
import { makeResource, resourceSet, type Resource, type ResourceSet } from '../xds/resources';
import { TypeUrl } from '../xds/type-urls';

/** A workload certificate as PEM: the chain from the leaf up to (not including) the root, and its key. */
export interface IssuedPems {
  readonly certificateChainPem: string;
  readonly privateKeyPem: string;
}

/** What the CA gives: the current certificate of an identity (issued in the background) and the trust bundle. */
export interface CertificateSource {
  /** The identity's current certificate, or undefined while it is being issued (onChange tells when it is). */
  current(identity: WorkloadIdentity): IssuedPems | undefined;
  /** Every root meshd trusts, as concatenated PEM. */
  trustBundlePem(): string;
  /** Certificates of these SPIFFE IDs were issued or renewed; 'all' after a CA change (every one is reissued). */
  onChange(listener: (spiffeIds: readonly string[] | 'all') => void): void;
  /** No proxy of this identity is connected any more: its certificate need not be kept or renewed. */
  forget(spiffeId: string): void;
}

export class ProxySecrets {
  /** The last set built per SPIFFE ID, with the PEMs it was built from (reused while they are the same objects). */
  private readonly sets = new Map<
    string,
    { readonly issued: IssuedPems; readonly bundle: string; readonly set: ResourceSet }
  >();
  private bundleResource: { readonly pem: string; readonly resource: Resource } | undefined;

  constructor(private readonly source: CertificateSource) {}

  /** The Secret resources of a proxy with this identity, or undefined while its certificate is being issued. */
  secretsFor(identity: WorkloadIdentity): ResourceSet | undefined {
    const issued = this.source.current(identity);
    if (!issued) return undefined;
    const bundle = this.source.trustBundlePem();
    const known = this.sets.get(identity.spiffeId);
    if (known && known.issued === issued && known.bundle === bundle) return known.set;
    const set = resourceSet([identitySecret(issued), this.trustBundle(bundle)]);
    this.sets.set(identity.spiffeId, { issued, bundle, set });
    return set;
  }

  onChange(listener: (spiffeIds: readonly string[] | 'all') => void): void {
    this.source.onChange(listener);
  }

  forget(spiffeId: string): void {
    this.sets.delete(spiffeId);
    this.source.forget(spiffeId);
  }

  private trustBundle(pem: string): Resource {
    if (this.bundleResource?.pem !== pem) {
      const secret = {
        name: MANAGED_TRUST_SECRET,
        validation_context: { trusted_ca: { inline_bytes: Buffer.from(pem) } },
      };
      this.bundleResource = {
        pem,
        resource: makeResource(TypeUrl.Secret, MANAGED_TRUST_SECRET, encodeResource(TypeUrl.Secret, secret)),
      };
    }
    return this.bundleResource.resource;
  }
}

function identitySecret(issued: IssuedPems): Resource {
  const secret = {
    name: MANAGED_IDENTITY_SECRET,
    tls_certificate: {
      certificate_chain: { inline_bytes: Buffer.from(issued.certificateChainPem) },
      private_key: { inline_bytes: Buffer.from(issued.privateKeyPem) },
    },
  };
  return makeResource(TypeUrl.Secret, MANAGED_IDENTITY_SECRET, encodeResource(TypeUrl.Secret, secret));
}
