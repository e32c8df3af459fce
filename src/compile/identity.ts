// Workload identities: the names of the secrets meshd manages (served over ADS) and of the SPIRE
// agent's SDS cluster, and the SPIFFE ID and DNS names a proxy's certificate carries. Compile owns
// the names; the CA (src/ca) issues certificates for what workloadIdentity() says.
import { meshTrustDomain } from '../model/mesh';
import type { MeshReader } from '../model/mesh-model';
import { parseNodeId } from '../model/node-id';
import type { VirtualNode } from '../model/virtual-node';
import { isHostName } from '../util/host-name';

/**
 * The proxy's own certificate and key. The same name on every proxy (each gets its own content),
 * so a cluster to a target compiles to the same bytes for every caller and is shared (plan/backends.ts).
 */
export const MANAGED_IDENTITY_SECRET = 'meshd/identity';
/** Every root meshd trusts (two while a CA rotation overlaps). */
export const MANAGED_TRUST_SECRET = 'meshd/trust-bundle';
/**
 * The bootstrap's cluster to the SPIRE agent's socket (App Mesh's name, set up when
 * APPMESH_SDS_SOCKET_PATH is set), where App Mesh `sds: { secretName }` sources are fetched.
 */
export const SPIRE_SDS_CLUSTER = 'static_cluster_sds_unix_socket';

export type WorkloadKind = 'virtualNode' | 'virtualGateway';

export interface WorkloadIdentity {
  /** The certificate's URI SAN. */
  readonly spiffeId: string;
  /** The certificate's DNS SANs, sorted. */
  readonly dnsNames: readonly string[];
}

/** `spiffe://<trustDomain>/mesh/<mesh>/<kind>/<name>` */
export function spiffeIdOf(trustDomain: string, mesh: string, kind: WorkloadKind, name: string): string {
  return `${spiffeMeshPrefix(trustDomain, mesh)}${kind}/${name}`;
}

/** What every SPIFFE ID of the mesh starts with: `spiffe://<trustDomain>/mesh/<mesh>/`. */
export function spiffeMeshPrefix(trustDomain: string, mesh: string): string {
  return `spiffe://${trustDomain}/mesh/${mesh}/`;
}

/**
 * The names App Mesh requires a virtual node's certificate to carry (its TLS guide): the DNS
 * hostname, or `<serviceName>.<namespaceName>` for Cloud Map. None without service discovery.
 */
export function serviceDiscoveryNames(node: VirtualNode): string[] {
  const sd = node.spec.serviceDiscovery;
  const name = sd?.dns
    ? sd.dns.hostname
    : sd?.awsCloudMap
      ? `${sd.awsCloudMap.serviceName}.${sd.awsCloudMap.namespaceName}`
      : undefined;
  const dnsName = name === undefined ? undefined : certificateDnsName(name);
  return dnsName === undefined ? [] : [dnsName];
}

/**
 * A service-discovery name as a certificate's DNS name: lowercase, without a final dot; undefined for one a
 * certificate must not carry. A wildcard (`*.svc.cluster.local`) would vouch for every name under it (meshd's own
 * xDS server's among them), and a name with `_` or an empty label is no host name: such a node gets its SPIFFE ID
 * alone rather than no certificate at all.
 */
export function certificateDnsName(name: string): string | undefined {
  const bare = name.toLowerCase().replace(/\.$/, '');
  return isHostName(bare) ? bare : undefined;
}

/**
 * The identity meshd issues to the proxy `nodeId`: undefined when the id is malformed or names no
 * virtual node or gateway of the model. A gateway gets no DNS names: nothing in the mesh dials it
 * by a name meshd knows (it is reached through load balancers whose names are not in the model), and
 * the mesh-wide mode leaves its own listeners alone; give a public-facing gateway listener a file or
 * SDS certificate for the names its clients use.
 */
export function workloadIdentity(model: MeshReader, nodeId: string): WorkloadIdentity | undefined {
  const id = parseNodeId(nodeId);
  if ('error' in id) return undefined;
  const mesh = model.mesh(id.mesh);
  if (!mesh) return undefined;
  const trustDomain = meshTrustDomain(mesh);
  if (id.type === 'virtualGateway') {
    if (!model.virtualGateway(id.mesh, id.name)) return undefined;
    return { spiffeId: spiffeIdOf(trustDomain, id.mesh, id.type, id.name), dnsNames: [] };
  }
  const node = model.virtualNode(id.mesh, id.name);
  if (!node) return undefined;
  return {
    spiffeId: spiffeIdOf(trustDomain, id.mesh, id.type, id.name),
    dnsNames: [...new Set(serviceDiscoveryNames(node))].sort(),
  };
}
