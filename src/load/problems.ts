import type { SourceLocation } from '../model/common';

/** One thing wrong with the input, pointing at the exact spot. */
export interface Problem {
  readonly location: SourceLocation;
  /** `Kind/name` of the resource the problem is in, when known. */
  readonly resource?: string;
  readonly message: string;
}

/** `path:line:col: error: Kind/name: message`: the format of `meshd validate` and of reload errors. */
export function formatProblem(p: Problem): string {
  const { file, line, col } = p.location;
  return `${file}:${line}:${col}: error: ${p.resource ? `${p.resource}: ` : ''}${p.message}`;
}

/** A field path as users read it: `spec.listeners[0].portMapping.port`. */
export function formatFieldPath(path: readonly (string | number)[]): string {
  return path.reduce<string>((out, seg) => (typeof seg === 'number' ? `${out}[${seg}]` : out ? `${out}.${seg}` : seg), '');
}
