// App Mesh TLS → the plan's TLS: listener tls (termination) and client policies (origination).
// Certificates come from files; ACM exists only inside AWS and SDS needs an SDS agent meshd does
// not configure yet, so both are reported as unsupported.
import type { Infer } from '../../model/schema';
import type { clientTlsShape, listenerTlsShape } from '../../model/shapes';
import { UnsupportedFeature } from '../unsupported';
import type { CertificateFilesPlan, DownstreamTlsPlan, UpstreamTlsPlan, ValidationPlan } from './types';

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
  const why = source.acm
    ? 'ACM certificates exist only inside AWS; use file certificates'
    : 'SDS secrets are not served yet; use file certificates';
  throw new UnsupportedFeature(`${where}.${kind}: ${why}`);
}

function certificateFiles(source: CertificateSource, where: string): CertificateFilesPlan {
  if (!source.file) unsupportedSource(where, source);
  return { certificateChain: source.file.certificateChain, privateKey: source.file.privateKey };
}

/** Trusted CAs plus App Mesh's exact SAN list. */
function validation(trust: TrustSource, sans: readonly string[] | undefined, where: string): ValidationPlan {
  if (!trust.file) unsupportedSource(where, trust);
  return { trustedCa: trust.file.certificateChain, ...(sans?.length ? { subjectAltNames: [...sans] } : {}) };
}

/**
 * STRICT and PERMISSIVE listeners terminate TLS (undefined: DISABLED or no tls); a validation
 * block asks for client certificates (mTLS). `alpn` is offered to clients.
 */
export function downstreamTls(
  tls: ListenerTls | undefined,
  where: string,
  alpn?: readonly string[],
): DownstreamTlsPlan | undefined {
  if (!tls || tls.mode === 'DISABLED') return undefined;
  const certificate = certificateFiles(tls.certificate, `${where}.certificate`);
  const v = tls.validation;
  return {
    mode: tls.mode,
    certificate,
    ...(v
      ? { validation: validation(v.trust, v.subjectAlternativeNames?.match.exact, `${where}.validation.trust`) }
      : {}),
    ...(alpn ? { alpn: [...alpn] } : {}),
  };
}

/** A client policy's TLS for a target port, or undefined when it does not apply there. */
export function upstreamTls(tls: ClientTls | undefined, port: number, where: string): UpstreamTlsPlan | undefined {
  if (!tls || tls.enforce === false) return undefined;
  if (tls.ports?.length && !tls.ports.includes(port)) return undefined;
  return {
    ...(tls.certificate ? { certificate: certificateFiles(tls.certificate, `${where}.certificate`) } : {}),
    validation: validation(
      tls.validation.trust,
      tls.validation.subjectAlternativeNames?.match.exact,
      `${where}.validation.trust`,
    ),
  };
}
