// App Mesh's IP preference (mesh default, overridden by a node's service discovery) and what
// it means for Envoy (APP-MESH-FACTS.md, "IP preference").
import type { MeshReader } from '../../model/mesh-model';
import type { IP_PREFERENCES } from '../../model/shapes';
import type { VirtualNode } from '../../model/virtual-node';
import type { DnsLookupFamily } from './types';

export type IpPreference = (typeof IP_PREFERENCES)[number];

export interface AddressFamilyPlan {
  readonly dnsLookupFamily: DnsLookupFamily;
  /** Listeners bind here; `::` also accepts IPv4 (ipv4_compat). */
  readonly bindAddress: '0.0.0.0' | '::';
  /** Where the local app is reached. */
  readonly localAppAddress: '127.0.0.1' | '::1';
}

const PLANS: Record<IpPreference | 'none', AddressFamilyPlan> = {
  none: { dnsLookupFamily: 'AUTO', bindAddress: '0.0.0.0', localAppAddress: '127.0.0.1' },
  IPv6_PREFERRED: { dnsLookupFamily: 'AUTO', bindAddress: '::', localAppAddress: '::1' },
  IPv4_PREFERRED: { dnsLookupFamily: 'V4_PREFERRED', bindAddress: '::', localAppAddress: '127.0.0.1' },
  IPv4_ONLY: { dnsLookupFamily: 'V4_ONLY', bindAddress: '::', localAppAddress: '127.0.0.1' },
  IPv6_ONLY: { dnsLookupFamily: 'V6_ONLY', bindAddress: '::', localAppAddress: '::1' },
};

/** The node's own preference if its service discovery sets one, else the mesh's, else none (undefined). */
export function ipPreferenceNameOf(model: MeshReader, node: VirtualNode): IpPreference | undefined {
  const sd = node.spec.serviceDiscovery;
  return (
    sd?.dns?.ipPreference ?? sd?.awsCloudMap?.ipPreference ?? model.mesh(node.mesh)?.spec.serviceDiscovery?.ipPreference
  );
}

export function ipPreferenceOf(model: MeshReader, node: VirtualNode): AddressFamilyPlan {
  return PLANS[ipPreferenceNameOf(model, node) ?? 'none'];
}

/** A gateway cannot override the mesh's preference. */
export function meshIpPreference(model: MeshReader, mesh: string): AddressFamilyPlan {
  return PLANS[model.mesh(mesh)?.spec.serviceDiscovery?.ipPreference ?? 'none'];
}
