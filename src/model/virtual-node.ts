import type { PortMapping, ResourceMeta } from './common';

export const DNS_RESPONSE_TYPES = ['LOADBALANCER', 'ENDPOINTS'] as const;
export type DnsResponseType = (typeof DNS_RESPONSE_TYPES)[number];

export interface VirtualNodeListener {
  readonly portMapping: PortMapping;
}

export interface DnsServiceDiscovery {
  readonly hostname: string;
  /** LOADBALANCER (App Mesh's default) or ENDPOINTS. */
  readonly responseType?: DnsResponseType;
}

export interface Backend {
  readonly virtualService: { readonly virtualServiceName: string };
}

export interface VirtualNodeSpec {
  readonly listeners: readonly VirtualNodeListener[];
  readonly serviceDiscovery?: { readonly dns: DnsServiceDiscovery };
  readonly backends: readonly Backend[];
}

export interface VirtualNode extends ResourceMeta {
  readonly kind: 'VirtualNode';
  readonly spec: VirtualNodeSpec;
}
