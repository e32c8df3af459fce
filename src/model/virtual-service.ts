import type { ResourceMeta } from './common';

export interface VirtualServiceSpec {
  /** Absent means no provider: the service name is known but nothing answers it. */
  readonly provider?:
    | { readonly virtualNode: { readonly virtualNodeName: string } }
    | { readonly virtualRouter: { readonly virtualRouterName: string } };
}

export interface VirtualService extends ResourceMeta {
  readonly kind: 'VirtualService';
  readonly spec: VirtualServiceSpec;
}
