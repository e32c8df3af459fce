import type { ResourceMeta } from './common';
import { list, object, oneOf, optional, required, union, type Infer } from './schema';
import {
  atLeastOne,
  checkListenerParts,
  clientPolicyShape,
  healthCheckShapeFor,
  listenerTlsShape,
  loggingShape,
  port,
} from './shapes';
import { checkUniquePorts } from './virtual-node';

/** A gateway terminates HTTP-family traffic only. */
export const GATEWAY_PROTOCOLS = ['http', 'http2', 'grpc'] as const;

export const virtualGatewayListenerShape = object(
  {
    portMapping: required(object({ port: required(port), protocol: required(oneOf(GATEWAY_PROTOCOLS)) })),
    healthCheck: optional(healthCheckShapeFor(GATEWAY_PROTOCOLS)),
    connectionPool: optional(
      union({
        http: optional(object({ maxConnections: required(atLeastOne), maxPendingRequests: optional(atLeastOne) })),
        http2: optional(object({ maxRequests: required(atLeastOne) })),
        grpc: optional(object({ maxRequests: required(atLeastOne) })),
      }),
    ),
    tls: optional(listenerTlsShape),
  },
  { check: (listener, fail) => checkListenerParts(listener, fail) },
);

export const virtualGatewaySpecShape = object(
  {
    listeners: required(list(virtualGatewayListenerShape, { min: 1 })),
    backendDefaults: optional(object({ clientPolicy: optional(clientPolicyShape) })),
    logging: optional(loggingShape),
  },
  { check: (spec, fail) => checkUniquePorts(spec.listeners, fail) },
);
export type VirtualGatewaySpec = Infer<typeof virtualGatewaySpecShape>;
export type VirtualGatewayListener = VirtualGatewaySpec['listeners'][number];

export interface VirtualGateway extends ResourceMeta {
  readonly kind: 'VirtualGateway';
  readonly spec: VirtualGatewaySpec;
}
