// TLS from App Mesh's listener tls (termination on the ingress) and client policies
// (origination on the caller's egress cluster). Certificates come from files; ACM exists only
// inside AWS and SDS needs an SDS agent meshd does not configure yet, so both are reported.
import type { TransportSocket } from '../generated/envoy/config/core/v3/TransportSocket';
import type { CertificateValidationContext } from '../generated/envoy/extensions/transport_sockets/tls/v3/CertificateValidationContext';
import type { TlsCertificate } from '../generated/envoy/extensions/transport_sockets/tls/v3/TlsCertificate';
import type { Infer } from '../model/schema';
import type { clientTlsShape, listenerTlsShape } from '../model/shapes';
import { packAny } from './any';
import { UnsupportedFeature } from './unsupported';

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

function unsupportedSource(where: string, source: { sds?: unknown; acm?: unknown }): never {
  const kind = source.acm ? 'acm' : 'sds';
  const why = source.acm ? 'ACM certificates exist only inside AWS; use file certificates' : 'SDS secrets are not served yet; use file certificates';
  throw new UnsupportedFeature(`${where}.${kind}: ${why}`);
}

function tlsCertificate(source: CertificateSource, where: string): TlsCertificate {
  if (!source.file) unsupportedSource(where, source);
  return { certificate_chain: { filename: source.file.certificateChain }, private_key: { filename: source.file.privateKey } };
}

/** Trusted CAs plus App Mesh's exact SAN list (a name may be a DNS name or a SPIFFE URI). */
function validationContext(trust: TrustSource, sans: readonly string[] | undefined, where: string): CertificateValidationContext {
  if (!trust.file) unsupportedSource(where, trust);
  return {
    trusted_ca: { filename: trust.file.certificateChain },
    ...(sans?.length ? { match_typed_subject_alt_names: sans.flatMap((exact) => (['DNS', 'URI'] as const).map((san_type) => ({ san_type, matcher: { exact } }))) } : {}),
  };
}

/**
 * STRICT and PERMISSIVE listeners terminate TLS; a validation block asks for client certificates
 * (mTLS). `alpn` is offered to clients (a gateway's; sidecars' peers are Envoys that need none).
 */
export function downstreamTls(tls: ListenerTls, where: string, alpn?: string[]): TransportSocket {
  const validation = tls.validation;
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: packAny('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', {
      common_tls_context: {
        ...(alpn ? { alpn_protocols: alpn } : {}),
        tls_certificates: [tlsCertificate(tls.certificate, `${where}.certificate`)],
        ...(validation ? { validation_context: validationContext(validation.trust, validation.subjectAlternativeNames?.match.exact, `${where}.validation.trust`) } : {}),
      },
      ...(validation ? { require_client_certificate: { value: true } } : {}),
    }),
  };
}

/** A client policy's TLS for a target port, or undefined when it does not apply there. */
export function upstreamTls(tls: ClientTls | undefined, port: number, where: string): TransportSocket | undefined {
  if (!tls || tls.enforce === false) return undefined;
  if (tls.ports?.length && !tls.ports.includes(port)) return undefined;
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: packAny('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', {
      common_tls_context: {
        ...(tls.certificate ? { tls_certificates: [tlsCertificate(tls.certificate, `${where}.certificate`)] } : {}),
        validation_context: validationContext(tls.validation.trust, tls.validation.subjectAlternativeNames?.match.exact, `${where}.validation.trust`),
      },
    }),
  };
}
