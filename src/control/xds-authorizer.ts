// Who may subscribe as which node on the xDS channel (`--xds-tls`). A proxy proves its identity with
// its workload certificate (the TLS client certificate, which the xDS server has already checked
// against meshd's CA) or with a join token (gRPC metadata `authorization: Bearer <token>`), and may
// only subscribe as the node its credential names: anything else ends the stream before a byte of
// configuration is compiled or sent. Kuma's dataplane tokens and Istio's SPIFFE check, together.
import type { X509Certificate } from 'node:crypto';
import { canonicalNodeId, formatNodeId, parseNodeId } from '../model/node-id';
import type { Authorization, AuthorizationRefusal, StreamCredentials } from '../xds/ads-session';
import type { Node__Output } from '../generated/envoy/config/core/v3/Node';

/** What verifies a join token (ca/join-tokens.ts). */
export interface TokenVerifier {
  verify(
    token: string,
  ): Promise<{ readonly nodeId: string; readonly id: string } | { readonly error: string; readonly message: string }>;
}

/** A SPIFFE ID meshd issues: spiffe://<trust domain>/mesh/<mesh>/<virtualNode|virtualGateway>/<name>. */
const MESHD_SPIFFE_ID = /^spiffe:\/\/([^/]+)\/(mesh\/[^/]+\/(?:virtualNode|virtualGateway)\/[^/]+)$/;

/** The node id a meshd SPIFFE ID names (its resource path), or undefined. */
export function nodeIdOfSpiffeId(spiffeId: string): string | undefined {
  return nodeOfSpiffeId(spiffeId)?.nodeId;
}

function nodeOfSpiffeId(spiffeId: string): { nodeId: string; mesh: string; trustDomain: string } | undefined {
  const m = MESHD_SPIFFE_ID.exec(spiffeId);
  if (!m) return undefined;
  const id = parseNodeId(m[2]!);
  return 'error' in id ? undefined : { nodeId: formatNodeId(id), mesh: id.mesh, trustDomain: m[1]! };
}

/** The URI SANs of a certificate (Node writes them `URI:<uri>`, comma-separated). */
export function uriSans(certificate: X509Certificate): string[] {
  return (certificate.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((san) => san.startsWith('URI:'))
    .map((san) => san.slice(4));
}

const refuse = (code: AuthorizationRefusal['code'], message: string): AuthorizationRefusal => ({ code, message });

/** How a stream's status names a join token it was let in with (the revocation of that token ends it). */
export function tokenCredential(id: string): string {
  return `join token ${id}`;
}

/** The xDS server's authorize hook: the credential the stream was let in with, or the refusal. */
export function xdsAuthorizer(
  tokens: TokenVerifier,
  /** The trust domain of a mesh being served (its certificates' SPIFFE IDs), undefined for a mesh not served. */
  trustDomainOf: (mesh: string) => string | undefined,
): (node: Node__Output, credentials: StreamCredentials) => Promise<Authorization | AuthorizationRefusal> {
  return async (node, { peerCertificate, authorization }) => {
    const claimed = canonicalNodeId(node.id);
    let proven: string | undefined;
    if (peerCertificate) {
      const sans = uriSans(peerCertificate);
      const named = sans.map(nodeOfSpiffeId).find((id) => id !== undefined);
      if (!named)
        return refuse(
          'permission_denied',
          `the client certificate names no meshd node (URI SANs: ${sans.join(', ') || 'none'}); it cannot subscribe as ${node.id}`,
        );
      if (named.nodeId !== claimed)
        return refuse(
          'permission_denied',
          `the client certificate is ${named.nodeId}'s; it cannot subscribe as ${node.id}`,
        );
      // A CA that also signs for other SPIFFE systems (a user's root) must not vouch for a mesh's nodes.
      const trustDomain = trustDomainOf(named.mesh);
      if (trustDomain !== named.trustDomain)
        return refuse(
          'permission_denied',
          trustDomain === undefined
            ? `the client certificate names a node of mesh ${named.mesh}, which is not served`
            : `the client certificate's trust domain is ${named.trustDomain}; mesh ${named.mesh}'s is ${trustDomain}`,
        );
      proven = `certificate ${peerCertificate.serialNumber.toLowerCase()}`;
    }
    if (authorization !== undefined) {
      const token = /^Bearer ([A-Za-z0-9_.-]{1,8192})$/.exec(authorization)?.[1];
      if (!token) return refuse('unauthenticated', "the authorization metadata is not 'Bearer <join token>'");
      const verified = await tokens.verify(token);
      if ('error' in verified) return refuse('unauthenticated', `join token refused: ${verified.message}`);
      if (canonicalNodeId(verified.nodeId) !== claimed)
        return refuse(
          'permission_denied',
          `the join token ${verified.id} is ${verified.nodeId}'s; it cannot subscribe as ${node.id}`,
        );
      proven = tokenCredential(verified.id);
    }
    if (proven !== undefined) return { credential: proven };
    return refuse(
      'unauthenticated',
      'no credential: this meshd requires a workload certificate or a join token (meshd token issue --node <id>) on the xDS channel',
    );
  };
}
