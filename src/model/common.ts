/** Where a resource or field was written, for error messages (`file:line:col`). */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export const RESOURCE_KINDS = ['Mesh', 'VirtualService', 'VirtualNode', 'VirtualRouter', 'Route'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

/** Fields every resource has: which mesh it lives in, its name and where it was defined. */
export interface ResourceMeta {
  readonly mesh: string;
  readonly name: string;
  readonly source: SourceLocation;
}

/** App Mesh's duration shape. */
export interface Duration {
  readonly unit: 's' | 'ms';
  readonly value: number;
}

export const PROTOCOLS = ['http', 'http2', 'grpc', 'tcp'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export interface PortMapping {
  readonly port: number;
  readonly protocol: Protocol;
}
