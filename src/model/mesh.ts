import type { ResourceMeta } from './common';

export const EGRESS_FILTER_TYPES = ['ALLOW_ALL', 'DROP_ALL'] as const;
export type EgressFilterType = (typeof EGRESS_FILTER_TYPES)[number];

export interface MeshSpec {
  readonly egressFilter?: { readonly type: EgressFilterType };
}

export interface Mesh extends ResourceMeta {
  readonly kind: 'Mesh';
  readonly spec: MeshSpec;
}
