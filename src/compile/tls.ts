// TLS from the plan → Envoy transport sockets: termination on listeners (downstream), origination
// on clusters (upstream). Certificates and trusted CAs are files.
import type { TransportSocket } from '../generated/envoy/config/core/v3/TransportSocket';
import type { CertificateValidationContext } from '../generated/envoy/extensions/transport_sockets/tls/v3/CertificateValidationContext';
import type { TlsCertificate } from '../generated/envoy/extensions/transport_sockets/tls/v3/TlsCertificate';
import { packAny } from './any';
import type { CertificateFilesPlan, DownstreamTlsPlan, UpstreamTlsPlan, ValidationPlan } from './plan/types';

function tlsCertificate(files: CertificateFilesPlan): TlsCertificate {
  return { certificate_chain: { filename: files.certificateChain }, private_key: { filename: files.privateKey } };
}

/** Trusted CAs plus App Mesh's exact SAN list (a name may be a DNS name or a SPIFFE URI). */
function validationContext({ trustedCa, subjectAltNames }: ValidationPlan): CertificateValidationContext {
  return {
    trusted_ca: { filename: trustedCa },
    ...(subjectAltNames?.length
      ? {
          match_typed_subject_alt_names: subjectAltNames.flatMap((exact) =>
            (['DNS', 'URI'] as const).map((san_type) => ({ san_type, matcher: { exact } })),
          ),
        }
      : {}),
  };
}

/** A validation asks for client certificates (mTLS). */
export function downstreamTls(tls: DownstreamTlsPlan): TransportSocket {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: packAny('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', {
      common_tls_context: {
        ...(tls.alpn ? { alpn_protocols: [...tls.alpn] } : {}),
        tls_certificates: [tlsCertificate(tls.certificate)],
        ...(tls.validation ? { validation_context: validationContext(tls.validation) } : {}),
      },
      ...(tls.validation ? { require_client_certificate: { value: true } } : {}),
    }),
  };
}

export function upstreamTls(tls: UpstreamTlsPlan): TransportSocket {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: packAny('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', {
      common_tls_context: {
        ...(tls.certificate ? { tls_certificates: [tlsCertificate(tls.certificate)] } : {}),
        validation_context: validationContext(tls.validation),
      },
    }),
  };
}
