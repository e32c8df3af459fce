import type { PortMapping, ResourceMeta } from './common';

export interface VirtualRouterSpec {
  readonly listeners: readonly { readonly portMapping: PortMapping }[];
}

export interface VirtualRouter extends ResourceMeta {
  readonly kind: 'VirtualRouter';
  readonly spec: VirtualRouterSpec;
}
