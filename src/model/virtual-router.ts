import type { ResourceMeta } from './common';
import { list, object, required, type Infer } from './schema';
import { portMappingShape } from './shapes';
import { checkUniquePorts } from './virtual-node';

export const virtualRouterSpecShape = object(
  { listeners: required(list(object({ portMapping: required(portMappingShape) }), { min: 1 })) },
  { check: (spec, fail) => checkUniquePorts(spec.listeners, fail) },
);
export type VirtualRouterSpec = Infer<typeof virtualRouterSpecShape>;

export interface VirtualRouter extends ResourceMeta {
  readonly kind: 'VirtualRouter';
  readonly spec: VirtualRouterSpec;
}
