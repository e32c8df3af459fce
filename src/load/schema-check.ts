// Checks a plain value (parsed YAML/JSON) against a schema from model/schema.ts and reports
// every problem with the path of the field it is about. It does not stop at the first problem.
import type { Fail, FieldPath, ObjectSchema, Schema } from '../model/schema';

export interface CheckOptions {
  /**
   * Decides about a field the schema does not know, instead of failing it: reports it and returns
   * true to drop it and go on (as the Kubernetes API server prunes a field its CRD does not know),
   * or false when it fails the value. Never asked about `__proto__`, `constructor` or
   * `prototype`, which always fail: no dialect may carry them.
   */
  readonly unknownField?: (path: FieldPath, message: string) => boolean;
}

/** Keys that are refused in every dialect, never dropped as unknown: they name every object's own machinery. */
const REFUSED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** True when `value` fits `schema`; otherwise each problem went to `fail` (paths relative to `path`). */
export function checkValue(
  schema: Schema,
  value: unknown,
  path: FieldPath,
  fail: Fail,
  options: CheckOptions = {},
): boolean {
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') return bad(fail, path, `must be a string, got ${describe(value)}`);
      if (value.length < schema.min || value.length > schema.max) {
        const range = schema.min === schema.max ? `${schema.min}` : `${schema.min}–${schema.max}`;
        return bad(fail, path, `must be ${range} characters long, got ${value.length}`);
      }
      if (schema.pattern && !schema.pattern.regex.test(value))
        return bad(fail, path, `${schema.pattern.message}, got ${describe(value)}`);
      return true;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < schema.min || value > schema.max) {
        return bad(fail, path, `must be ${rangeText(schema.min, schema.max)}, got ${describe(value)}`);
      }
      return true;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value) || value < schema.min || value > schema.max) {
        return bad(fail, path, `must be a number from ${schema.min} to ${schema.max}, got ${describe(value)}`);
      }
      return true;
    case 'boolean':
      return typeof value === 'boolean' || bad(fail, path, `must be true or false, got ${describe(value)}`);
    case 'enum':
      if (typeof value !== 'string' || !schema.values.includes(value)) {
        return bad(fail, path, `must be one of ${schema.values.join(', ')}, got ${describe(value)}`);
      }
      return true;
    case 'list': {
      if (!Array.isArray(value)) return bad(fail, path, `must be a list, got ${describe(value)}`);
      let ok = true;
      if (value.length < schema.min || value.length > schema.max) {
        const range =
          schema.max === Number.MAX_SAFE_INTEGER ? `at least ${schema.min}` : `${schema.min} to ${schema.max}`;
        ok = bad(fail, path, `must list ${range} item(s), got ${value.length}`);
      }
      value.forEach((item, i) => {
        ok = checkValue(schema.item, item, [...path, i], fail, options) && ok;
      });
      return ok;
    }
    case 'object':
      return checkObject(schema, value, path, fail, options);
  }
}

function checkObject(
  schema: ObjectSchema,
  value: unknown,
  path: FieldPath,
  fail: Fail,
  options: CheckOptions,
): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return bad(fail, path, `must be a mapping, got ${describe(value)}`);
  const record = value as Record<string, unknown>;
  const known = Object.keys(schema.fields);
  let ok = true;
  let unknown = false;
  for (const key of Object.keys(record)) {
    // Own fields only: `constructor` or `__proto__` are not fields because every object inherits them.
    if (Object.hasOwn(schema.fields, key)) continue;
    const message = unknownFieldMessage(key, known);
    if (options.unknownField && !REFUSED_KEYS.has(key)) {
      if (options.unknownField([...path, key], message)) {
        delete record[key]; // pruned: the rest of the value is checked (and served) without it
        continue;
      }
      ok = false;
    } else {
      ok = bad(fail, [...path, key], message);
    }
    unknown = true;
  }
  const present: string[] = [];
  for (const [key, field] of Object.entries(schema.fields)) {
    const v = record[key];
    // null means "not set" (JSON writes it so); it is dropped so that later code sees the field as absent.
    if (v === null) delete record[key];
    if (v === undefined || v === null) {
      if (field.required) ok = bad(fail, [...path, key], 'required field is missing');
      continue;
    }
    present.push(key);
    ok = checkValue(field.schema, v, [...path, key], fail, options) && ok;
  }
  // An unknown field was probably meant as one of the union's members: that message is enough.
  if (schema.union && present.length !== 1 && !unknown) {
    ok = bad(
      fail,
      path,
      present.length === 0
        ? `must set one of: ${known.join(', ')}`
        : `sets ${present.join(' and ')}; set exactly one of them`,
    );
  }
  if (ok && schema.check) {
    schema.check(record as never, (sub, message) => {
      ok = bad(fail, [...path, ...sub], message);
    });
  }
  return ok;
}

/**
 * `unknown field 'x'` (`noun`: what the dialect calls a field), with
 * the closest known name when the difference looks like a typo.
 */
export function unknownFieldMessage(key: string, known: readonly string[], noun = 'field'): string {
  const suggestion = closest(key, known);
  if (suggestion) return `unknown ${noun} '${key}'; did you mean '${suggestion}'?`;
  return known.length === 0
    ? `unknown ${noun} '${key}'; this mapping takes no fields`
    : `unknown ${noun} '${key}'; expected one of: ${known.join(', ')}`;
}

/** The known name closest to `key`, when the difference looks like a typo. */
export function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const threshold = Math.max(1, Math.floor(key.length / 4));
  for (const k of known) {
    // The distance is at least the difference in length: past the threshold a name cannot be suggested
    // (and comparing a 95,000-character key with each field name cost 2 s a file).
    if (Math.abs(k.length - key.length) > threshold) continue;
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(k, key);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return bestDistance <= threshold ? best : undefined;
}

/**
 * Optimal string alignment distance: insertions, deletions, substitutions, and swaps of two adjacent
 * characters each cost 1, so a transposition typo (`wieght` for `weight`) is one edit, not two.
 */
function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        cur[j] = Math.min(cur[j]!, before[j - 2]! + 1);
    }
    [before, prev] = [prev, cur];
  }
  return prev[b.length]!;
}

function rangeText(min: number, max: number): string {
  if (max >= Number.MAX_SAFE_INTEGER) return `a whole number of at least ${min}`;
  return `a whole number from ${min} to ${max}`;
}

function bad(fail: Fail, path: FieldPath, message: string): false {
  fail(path, message);
  return false;
}

/** How a wrong value is shown in a message: short, and never the whole of a large value. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}
