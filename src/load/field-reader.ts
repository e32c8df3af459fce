import { formatFieldPath, type Problem } from './problems';
import type { FieldPath, ParsedDocument } from './yaml-documents';

type Plain = Record<string, unknown>;

/**
 * Reads typed fields out of one parsed document, recording a precise problem (file, line,
 * column, resource, field path) for every field that is missing, mistyped or out of range.
 * Readers return `undefined` for a bad field, so decoding goes on and reports every problem.
 */
export class FieldReader {
  private resource: string | undefined;

  constructor(
    private readonly doc: ParsedDocument,
    private readonly problems: Problem[],
  ) {}

  /** Names the resource in every later problem (`Kind/name`). */
  setResource(label: string): void {
    this.resource = label;
  }

  fail(path: FieldPath, message: string): undefined {
    const field = formatFieldPath(path);
    this.problems.push({
      location: this.doc.locate(path),
      ...(this.resource ? { resource: this.resource } : {}),
      message: field ? `${field}: ${message}` : message,
    });
    return undefined;
  }

  object(value: unknown, path: FieldPath, allowedKeys: readonly string[]): Plain | undefined {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return this.fail(path, `must be a mapping, got ${describe(value)}`);
    }
    for (const key of Object.keys(value)) {
      if (!allowedKeys.includes(key)) {
        this.fail([...path, key], `unknown field; expected one of: ${allowedKeys.join(', ')}`);
      }
    }
    return value as Plain;
  }

  list(value: unknown, path: FieldPath): unknown[] | undefined {
    if (!Array.isArray(value)) return this.fail(path, `must be a list, got ${describe(value)}`);
    return value;
  }

  string(value: unknown, path: FieldPath, opts: { minLength?: number; maxLength?: number } = {}): string | undefined {
    if (typeof value !== 'string') return this.fail(path, `must be a string, got ${describe(value)}`);
    const { minLength = 1, maxLength = 255 } = opts;
    if (value.length < minLength || value.length > maxLength) {
      return this.fail(path, `must be ${minLength}–${maxLength} characters long, got ${value.length}`);
    }
    return value;
  }

  integer(value: unknown, path: FieldPath, min: number, max: number): number | undefined {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      return this.fail(path, `must be an integer from ${min} to ${max}, got ${describe(value)}`);
    }
    return value;
  }

  oneOf<T extends string>(value: unknown, path: FieldPath, allowed: readonly T[]): T | undefined {
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      return this.fail(path, `must be one of ${allowed.join(', ')}, got ${describe(value)}`);
    }
    return value as T;
  }

  /**
   * Reads `parent[key]` (found at `base` + key) with `read`. A missing field is undefined, and
   * also a problem when `required`. An undefined parent (itself bad or missing) reads as undefined.
   */
  field<T>(parent: Plain | undefined, key: string, base: FieldPath, read: Read<T>, required: 'required' | 'optional'): T | undefined {
    if (!parent) return undefined;
    const path = [...base, key];
    const value = parent[key];
    if (value === undefined || value === null) return required === 'required' ? this.fail(path, 'required field is missing') : undefined;
    return read(value, path);
  }

  // Readers to pass to field().
  readonly anObject = (allowedKeys: readonly string[]): Read<Plain> => (v, p) => this.object(v, p, allowedKeys);
  readonly aList: Read<unknown[]> = (v, p) => this.list(v, p);
  readonly aString: Read<string> = (v, p) => this.string(v, p);
  readonly anInteger = (min: number, max: number): Read<number> => (v, p) => this.integer(v, p, min, max);
  readonly oneOfValues = <T extends string>(allowed: readonly T[]): Read<T> => (v, p) => this.oneOf(v, p, allowed);
}

export type Read<T> = (value: unknown, path: FieldPath) => T | undefined;

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return JSON.stringify(value);
}
