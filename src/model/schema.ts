// A small schema language for the App Mesh API shapes. One description of each shape gives:
// the TypeScript type (Infer), the field-by-field validator (load/schema-check.ts) and the
// JSON Schema shipped for editors (model/json-schema.ts). Keeping one source means the
// editor, the validator and the compiler can never disagree about a field.

export type FieldPath = readonly (string | number)[];

/** Reports a problem at `path`, relative to the value being checked. */
export type Fail = (path: FieldPath, message: string) => void;

interface Described {
  readonly description?: string;
}

export interface StringSchema extends Described {
  readonly type: 'string';
  readonly min: number;
  readonly max: number;
  /** A rule the value must follow, with the message shown when it does not. */
  readonly pattern?: { readonly regex: RegExp; readonly message: string };
}

export interface IntegerSchema extends Described {
  readonly type: 'integer';
  readonly min: number;
  readonly max: number;
}

/** Any finite number (fractions allowed), e.g. a percentage such as 99.5. */
export interface NumberSchema extends Described {
  readonly type: 'number';
  readonly min: number;
  readonly max: number;
}

export interface BooleanSchema extends Described {
  readonly type: 'boolean';
}

export interface EnumSchema<T extends string = string> extends Described {
  readonly type: 'enum';
  readonly values: readonly T[];
}

export interface ListSchema<I extends Schema = Schema> extends Described {
  readonly type: 'list';
  readonly item: I;
  readonly min: number;
  readonly max: number;
}

export interface Field<S extends Schema = Schema, R extends boolean = boolean> {
  readonly schema: S;
  readonly required: R;
}

export type Fields = Readonly<Record<string, Field>>;

export interface ObjectSchema<F extends Fields = Fields> extends Described {
  readonly type: 'object';
  readonly fields: F;
  /** App Mesh "union" shapes: exactly one of the fields must be set. */
  readonly union: boolean;
  /** Rules across fields, run only once every field of the object is valid. */
  check?(value: InferFields<F>, fail: Fail): void;
}

/* eslint-disable @typescript-eslint/no-explicit-any --
   ObjectSchema's `check` reads its fields (contravariant in F): only `any` admits every list and object schema. */
export type Schema =
  StringSchema | IntegerSchema | NumberSchema | BooleanSchema | EnumSchema | ListSchema<any> | ObjectSchema<any>;
/* eslint-enable @typescript-eslint/no-explicit-any */

export type Infer<S> = S extends StringSchema
  ? string
  : S extends IntegerSchema | NumberSchema
    ? number
    : S extends BooleanSchema
      ? boolean
      : S extends EnumSchema<infer T>
        ? T
        : S extends ListSchema<infer I>
          ? readonly Infer<I>[]
          : S extends ObjectSchema<infer F>
            ? InferFields<F>
            : never;

type RequiredKeys<F extends Fields> = { [K in keyof F]: F[K]['required'] extends true ? K : never }[keyof F];
type OptionalKeys<F extends Fields> = Exclude<keyof F, RequiredKeys<F>>;

export type InferFields<F extends Fields> = Simplify<
  { readonly [K in RequiredKeys<F>]: Infer<F[K]['schema']> } & {
    readonly [K in OptionalKeys<F>]?: Infer<F[K]['schema']>;
  }
>;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

// ---- builders ----

export function string(
  opts: { min?: number; max?: number; pattern?: StringSchema['pattern']; description?: string } = {},
): StringSchema {
  return { type: 'string', min: opts.min ?? 1, max: opts.max ?? 255, ...pick(opts, 'pattern', 'description') };
}

export function integer(min: number, max: number, description?: string): IntegerSchema {
  return { type: 'integer', min, max, ...(description ? { description } : {}) };
}

export function number(min: number, max: number, description?: string): NumberSchema {
  return { type: 'number', min, max, ...(description ? { description } : {}) };
}

export function boolean(description?: string): BooleanSchema {
  return { type: 'boolean', ...(description ? { description } : {}) };
}

export function oneOf<const T extends string>(values: readonly T[], description?: string): EnumSchema<T> {
  return { type: 'enum', values, ...(description ? { description } : {}) };
}

export function list<I extends Schema>(
  item: I,
  opts: { min?: number; max?: number; description?: string } = {},
): ListSchema<I> {
  return {
    type: 'list',
    item,
    min: opts.min ?? 0,
    max: opts.max ?? Number.MAX_SAFE_INTEGER,
    ...pick(opts, 'description'),
  };
}

export function object<F extends Fields>(
  fields: F,
  opts: { check?: (value: InferFields<F>, fail: Fail) => void; description?: string } = {},
): ObjectSchema<F> {
  return { type: 'object', fields, union: false, ...pick(opts, 'check', 'description') };
}

/** An App Mesh union: exactly one of `fields` is set (all of them are optional on their own). */
export function union<F extends Readonly<Record<string, Field<Schema, false>>>>(
  fields: F,
  opts: { check?: (value: InferFields<F>, fail: Fail) => void; description?: string } = {},
): ObjectSchema<F> {
  return { type: 'object', fields, union: true, ...pick(opts, 'check', 'description') };
}

export function required<S extends Schema>(schema: S): Field<S, true> {
  return { schema, required: true };
}

export function optional<S extends Schema>(schema: S): Field<S, false> {
  return { schema, required: false };
}

function pick<T extends object, K extends keyof T>(obj: T, ...keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}
