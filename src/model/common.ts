import type { FieldPath } from './schema';

export type { FieldPath };
export type { Duration, PortMapping, Protocol } from './shapes';
export { PROTOCOLS } from './shapes';

/** A field's place in a mesh file: the file, the nth non-empty YAML document in it, the path within that document. */
export interface WrittenAt {
  readonly file: string;
  readonly document: number;
  readonly path: FieldPath;
}

/** Where a resource or field was written, for error messages (`file:line:col`). */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export const RESOURCE_KINDS = [
  'Mesh',
  'VirtualService',
  'VirtualNode',
  'VirtualRouter',
  'Route',
  'VirtualGateway',
  'GatewayRoute',
] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

/** Fields every resource has: which mesh it lives in, its name and where it was defined. */
export interface ResourceMeta {
  readonly mesh: string;
  readonly name: string;
  readonly source: SourceLocation;
}

/** A field path as users read it: `spec.listeners[0].portMapping.port`. */
export function formatFieldPath(path: readonly (string | number)[]): string {
  return path.reduce<string>(
    (out, seg) => (typeof seg === 'number' ? `${out}[${seg}]` : out ? `${out}.${seg}` : seg),
    '',
  );
}

/** A parsed mapping (not null, not a list), as every dialect reader meets it. */
export type Plain = Record<string, unknown>;

export function isPlain(value: unknown): value is Plain {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
