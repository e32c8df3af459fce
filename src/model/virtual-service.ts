import type { ResourceMeta } from './common';
import { object, optional, required, union, type Infer } from './schema';
import { resourceName } from './shapes';

export const virtualServiceSpecShape = object({
  /** Absent means no provider: the service name is known but nothing answers it. */
  provider: optional(
    union({
      virtualNode: optional(object({ virtualNodeName: required(resourceName) })),
      virtualRouter: optional(object({ virtualRouterName: required(resourceName) })),
    }),
  ),
});
export type VirtualServiceSpec = Infer<typeof virtualServiceSpecShape>;

export interface VirtualService extends ResourceMeta {
  readonly kind: 'VirtualService';
  readonly spec: VirtualServiceSpec;
}
