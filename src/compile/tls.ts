// TLS from the plan → Envoy transport sockets: termination on listeners (downstream), origination
// on clusters (upstream). Certificates and trusted CAs are files, or secrets Envoy fetches over SDS:
// meshd's managed ones over ADS, App Mesh `sds` ones from the SPIRE agent's socket cluster.
import type { TransportSocket } from '../generated/envoy/config/core/v3/TransportSocket';
import type { CertificateValidationContext } from '../generated/envoy/extensions/transport_sockets/tls/v3/CertificateValidationContext';
import type { CommonTlsContext } from '../generated/envoy/extensions/transport_sockets/tls/v3/CommonTlsContext';
import type { SdsSecretConfig } from '../generated/envoy/extensions/transport_sockets/tls/v3/SdsSecretConfig';
import type { SubjectAltNameMatcher } from '../generated/envoy/extensions/transport_sockets/tls/v3/SubjectAltNameMatcher';
import type { TlsCertificate } from '../generated/envoy/extensions/transport_sockets/tls/v3/TlsCertificate';
import { packAny } from './any';
import { SPIRE_SDS_CLUSTER } from './identity';
import type { CertificatePlan, DownstreamTlsPlan, SdsSecretPlan, UpstreamTlsPlan, ValidationPlan } from './plan/types';

/** The SDS reference App Mesh's Envoy used (ADS for meshd's own secrets, the SPIRE socket cluster for `sds`). */
function sdsSecretConfig({ secretName, source }: SdsSecretPlan): SdsSecretConfig {
  return {
    name: secretName,
    sds_config:
      source === 'ads'
        ? { ads: {}, resource_api_version: 'V3' }
        : {
            api_config_source: {
              api_type: 'GRPC',
              transport_api_version: 'V3',
              grpc_services: [{ envoy_grpc: { cluster_name: SPIRE_SDS_CLUSTER } }],
            },
            resource_api_version: 'V3',
          },
  };
}

function certificates(certificate: CertificatePlan): CommonTlsContext {
  if (certificate.kind === 'sds') return { tls_certificate_sds_secret_configs: [sdsSecretConfig(certificate)] };
  const files: TlsCertificate = {
    certificate_chain: { filename: certificate.certificateChain },
    private_key: { filename: certificate.privateKey },
  };
  return { tls_certificates: [files] };
}

function sanMatchers({ subjectAltNames, spiffeIds, uriSanPrefix }: ValidationPlan): SubjectAltNameMatcher[] {
  return [
    // App Mesh's exact names: each may be a DNS name or a SPIFFE URI.
    ...(subjectAltNames ?? []).flatMap((exact) =>
      (['DNS', 'URI'] as const).map((san_type) => ({ san_type, matcher: { exact } })),
    ),
    ...(spiffeIds ?? []).map((exact) => ({ san_type: 'URI' as const, matcher: { exact } })),
    ...(uriSanPrefix ? [{ san_type: 'URI' as const, matcher: { prefix: uriSanPrefix } }] : []),
  ];
}

/** Trusted CAs and the names a peer's certificate must carry. */
function validation(v: ValidationPlan): CommonTlsContext {
  const matchers = sanMatchers(v);
  const names: CertificateValidationContext = matchers.length ? { match_typed_subject_alt_names: matchers } : {};
  if (v.trust.kind === 'file') return { validation_context: { trusted_ca: { filename: v.trust.trustedCa }, ...names } };
  // The CAs come over SDS; the names stay in the config (App Mesh's shape).
  return {
    combined_validation_context: {
      default_validation_context: names,
      validation_context_sds_secret_config: sdsSecretConfig(v.trust),
    },
  };
}

/** A validation asks for client certificates (mTLS). */
export function downstreamTls(tls: DownstreamTlsPlan): TransportSocket {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: packAny('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', {
      common_tls_context: {
        ...(tls.alpn ? { alpn_protocols: [...tls.alpn] } : {}),
        ...certificates(tls.certificate),
        ...(tls.validation ? validation(tls.validation) : {}),
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
        ...(tls.certificate ? certificates(tls.certificate) : {}),
        ...validation(tls.validation),
      },
    }),
  };
}
