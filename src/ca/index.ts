// meshd's certificate authority: what the application layer (control/, cli/) uses.
export {
  CaError,
  CertificateAuthority,
  checkDnsNames,
  checkSpiffeId,
  DEFAULT_OVERLAP_MS,
  DEFAULT_WORKLOAD_TTL_MS,
  type CaPhase,
  type CaStatus,
  type CertificateAuthorityOptions,
  type Issued,
  type ServerRequest,
  type UserCaFiles,
  type WorkloadRequest,
} from './authority';
export {
  CaStateError,
  FileCaStateStore,
  PostgresCaStateStore,
  readKeyFile,
  SharedCaStateCodec,
  type SharedCaStateOptions,
  type CaState,
  type CaStateStore,
  type StoredCaState,
} from './ca-state';
export {
  isRefused,
  JoinTokenError,
  JoinTokens,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  type IssuedToken,
  type RefusedToken,
  type TokenRefusal,
  type VerifiedToken,
} from './join-tokens';
export { WorkloadCertificates, type WorkloadCertificatesOptions, type WorkloadIdentity } from './workload-certificates';
