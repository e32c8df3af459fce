// A stand-in SPIRE agent for tests: meshd's own xDS server on a Unix socket, serving
// SecretDiscoveryService (what Envoy calls for an `api_config_source` SDS secret, as App Mesh's
// Envoy does on APPMESH_SDS_SOCKET_PATH) with the secrets a SPIRE agent serves under App Mesh's
// SPIRE convention: each workload's X.509-SVID named by its SPIFFE ID (`spiffe://example.org/front`)
// and the trust bundle named by the trust domain's ID (`spiffe://example.org`). A real agent
// attests each workload and answers it only with its own SVIDs; the stand-in answers any node
// with every secret (the test decides which secret each proxy's config names). X.509-SVIDs are
// made with openssl: a URI SAN holding the SPIFFE ID and nothing else, as SPIRE issues them.
import * as fs from 'node:fs';
import { encodeResource } from '../../src/xds/protos';
import { startXdsServer, type XdsServer } from '../../src/xds/server';
import { buildSnapshot, makeResource, SnapshotCache } from '../../src/xds/snapshot-cache';
import { TypeUrl } from '../../src/xds/type-urls';
import { issueLeaf, type CertificateAuthority } from './certs';

export interface Svid {
  readonly spiffeId: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** An X.509-SVID signed by `ca`: its only SAN is the URI `spiffeId`; usable as server and client. */
export function issueSvid(ca: CertificateAuthority, dir: string, name: string, spiffeId: string): Svid {
  if (!/^spiffe:\/\/[^/]+\/./.test(spiffeId)) throw new Error(`not a workload SPIFFE ID: ${spiffeId}`);
  const { certFile, keyFile } = issueLeaf(ca, dir, {
    base: `${name}.svid`,
    sans: [`URI:${spiffeId}`],
    subject: '/C=US/O=SPIRE',
    keyUsage: 'critical,digitalSignature,keyEncipherment,keyAgreement',
    days: 1,
  });
  return { spiffeId, certFile, keyFile };
}

export interface SdsAgent {
  readonly socketPath: string;
  /** The server's open streams (one per secret an Envoy watches: Envoy opens a stream per SDS secret). */
  readonly server: XdsServer;
  close(): Promise<void>;
}

/**
 * Serves the trust bundle (named `trustDomainId`, e.g. `spiffe://example.org`, holding `bundleFile`'s
 * CA certificates) and each SVID (named by its SPIFFE ID) over SecretDiscoveryService on
 * `socketPath`, made `socketMode` (default 0o600) and owned by `socketGroup` when given.
 */
export async function startSdsAgent(opts: {
  socketPath: string;
  trustDomainId: string;
  bundleFile: string;
  svids: readonly Svid[];
  socketMode?: number;
  socketGroup?: number;
}): Promise<SdsAgent> {
  const read = (file: string) => fs.readFileSync(file);
  const secrets = [
    makeResource(
      TypeUrl.Secret,
      opts.trustDomainId,
      encodeResource(TypeUrl.Secret, {
        name: opts.trustDomainId,
        validation_context: { trusted_ca: { inline_bytes: read(opts.bundleFile) } },
      }),
    ),
    ...opts.svids.map((svid) =>
      makeResource(
        TypeUrl.Secret,
        svid.spiffeId,
        encodeResource(TypeUrl.Secret, {
          name: svid.spiffeId,
          tls_certificate: {
            certificate_chain: { inline_bytes: read(svid.certFile) },
            private_key: { inline_bytes: read(svid.keyFile) },
          },
        }),
      ),
    ),
  ];
  const cache = new SnapshotCache();
  const AGENT = 'agent';
  cache.set(AGENT, buildSnapshot(new Map([[TypeUrl.Secret, secrets]])));
  const quiet = () => undefined;
  const server = await startXdsServer({
    socketPath: opts.socketPath,
    socketMode: opts.socketMode,
    services: ['sds'],
    cache,
    log: { debug: quiet, info: quiet, warn: quiet },
    // Every node gets the same secrets (see the header).
    hooks: { nodeKey: () => AGENT },
  });
  if (opts.socketGroup !== undefined) fs.chownSync(opts.socketPath, process.getuid?.() ?? 0, opts.socketGroup);
  return { socketPath: opts.socketPath, server, close: () => server.close() };
}
