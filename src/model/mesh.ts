import type { ResourceMeta } from './common';
import { object, oneOf, optional, required, type Infer } from './schema';
import { IP_PREFERENCES } from './shapes';

export const EGRESS_FILTER_TYPES = ['ALLOW_ALL', 'DROP_ALL'] as const;
export type EgressFilterType = (typeof EGRESS_FILTER_TYPES)[number];

export const meshSpecShape = object({
  egressFilter: optional(
    object({
      type: required(oneOf(EGRESS_FILTER_TYPES, 'DROP_ALL (the default) allows only traffic to declared backends')),
    }),
  ),
  serviceDiscovery: optional(object({ ipPreference: optional(oneOf(IP_PREFERENCES)) })),
});
export type MeshSpec = Infer<typeof meshSpecShape>;

export interface Mesh extends ResourceMeta {
  readonly kind: 'Mesh';
  readonly spec: MeshSpec;
}
