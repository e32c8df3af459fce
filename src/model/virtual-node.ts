import type { ResourceMeta } from './common';
import { list, object, oneOf, optional, required, string, union, type Fail, type Infer } from './schema';
import {
  checkListenerParts,
  clientPolicyShape,
  connectionPoolShape,
  healthCheckShape,
  IP_PREFERENCES,
  listenerTimeoutShape,
  listenerTlsShape,
  loggingShape,
  outlierDetectionShape,
  portMappingShape,
  resourceName,
  type PortMapping,
} from './shapes';

export const DNS_RESPONSE_TYPES = ['LOADBALANCER', 'ENDPOINTS'] as const;
export type DnsResponseType = (typeof DNS_RESPONSE_TYPES)[number];

export const virtualNodeListenerShape = object(
  {
    portMapping: required(portMappingShape),
    healthCheck: optional(healthCheckShape),
    outlierDetection: optional(outlierDetectionShape),
    connectionPool: optional(connectionPoolShape),
    timeout: optional(listenerTimeoutShape),
    tls: optional(listenerTlsShape),
  },
  { check: (listener, fail) => checkListenerParts(listener, fail) },
);
export type VirtualNodeListener = Infer<typeof virtualNodeListenerShape>;

const serviceDiscoveryShape = union({
  dns: optional(
    object({
      hostname: required(string({ max: 253 })),
      responseType: optional(
        oneOf(DNS_RESPONSE_TYPES, 'LOADBALANCER (the default): one address; ENDPOINTS: every address'),
      ),
      ipPreference: optional(oneOf(IP_PREFERENCES)),
    }),
  ),
  awsCloudMap: optional(
    object({
      namespaceName: required(string({ max: 1024 })),
      serviceName: required(string({ max: 1024 })),
      attributes: optional(list(object({ key: required(string()), value: required(string({ max: 1024 })) }))),
      ipPreference: optional(oneOf(IP_PREFERENCES)),
    }),
  ),
});

export const backendShape = union({
  virtualService: optional(
    object({ virtualServiceName: required(resourceName), clientPolicy: optional(clientPolicyShape) }),
  ),
});

export const virtualNodeSpecShape = object(
  {
    listeners: optional(list(virtualNodeListenerShape)),
    serviceDiscovery: optional(serviceDiscoveryShape),
    backends: optional(list(backendShape, { max: 50 })),
    backendDefaults: optional(object({ clientPolicy: optional(clientPolicyShape) })),
    logging: optional(loggingShape),
  },
  {
    check: (spec, fail) => {
      const listeners = spec.listeners ?? [];
      checkUniquePorts(listeners, fail);
      if (listeners.length > 0 && !spec.serviceDiscovery)
        fail(
          ['serviceDiscovery'],
          'required field is missing: a virtual node with listeners needs it, so callers can find it',
        );
      const seen = new Map<string, number>();
      (spec.backends ?? []).forEach((b, i) => {
        const name = b.virtualService?.virtualServiceName;
        if (name === undefined) return;
        if (seen.has(name))
          fail(
            ['backends', i, 'virtualService', 'virtualServiceName'],
            `virtual service '${name}' is already a backend (backends[${seen.get(name)}])`,
          );
        else seen.set(name, i);
      });
    },
  },
);
export type VirtualNodeSpec = Infer<typeof virtualNodeSpecShape>;

export interface VirtualNode extends ResourceMeta {
  readonly kind: 'VirtualNode';
  readonly spec: VirtualNodeSpec;
}

/** Two listeners of one resource cannot share a port. */
export function checkUniquePorts(listeners: readonly { portMapping: PortMapping }[], fail: Fail): void {
  const first = new Map<number, number>();
  listeners.forEach((l, i) => {
    const p = l.portMapping.port;
    if (first.has(p))
      fail(['listeners', i, 'portMapping', 'port'], `port ${p} is already used by listeners[${first.get(p)}]`);
    else first.set(p, i);
  });
}

/** The listener ports of a node (or router). */
export function listenerPorts(spec: { listeners?: readonly { portMapping: PortMapping }[] }): number[] {
  return (spec.listeners ?? []).map((l) => l.portMapping.port);
}
