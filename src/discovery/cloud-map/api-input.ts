// Reading a request body of AWS's JSON protocol: each field by name and type, with the error
// AWS gives (SerializationException for a wrong JSON type, InvalidInput for a missing or
// out-of-range value). Fields the local registry does not use (Tags, OwnerAccount) are ignored.
import { CloudMapError } from './errors';

type Json = Record<string, unknown>;

export class ApiInput {
  constructor(
    private readonly body: Json,
    private readonly prefix = '',
  ) {}

  /** Parses a request body; malformed JSON is a SerializationException. */
  static parse(text: string): ApiInput {
    let value: unknown;
    try {
      value = text.trim() === '' ? {} : JSON.parse(text);
    } catch (err) {
      throw new CloudMapError(
        'SerializationException',
        `the request body is not valid JSON: ${(err as Error).message}`,
      );
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new CloudMapError('SerializationException', 'the request body must be a JSON object');
    return new ApiInput(value as Json);
  }

  private name(field: string): string {
    return `${this.prefix}${field}`;
  }

  private missing(field: string): CloudMapError {
    return new CloudMapError('InvalidInput', `${this.name(field)} is required`);
  }

  private wrongType(field: string, expected: string): CloudMapError {
    const got = describe(this.body[field]);
    return new CloudMapError(
      'SerializationException',
      `${this.name(field)} must be ${expected}, got ${got.length > 64 ? `${got.slice(0, 64)}...` : got}`,
    );
  }

  has(field: string): boolean {
    return Object.hasOwn(this.body, field) && this.body[field] !== undefined && this.body[field] !== null;
  }

  string(field: string, limits: { max?: number; pattern?: RegExp; rule?: string } = {}): string | undefined {
    if (!this.has(field)) return undefined;
    const value = this.body[field];
    if (typeof value !== 'string') throw this.wrongType(field, 'a string');
    if (value.length === 0 || value.length > (limits.max ?? 1024))
      throw new CloudMapError('InvalidInput', `${this.name(field)} must be 1 to ${limits.max ?? 1024} characters long`);
    if (limits.pattern && !limits.pattern.test(value))
      throw new CloudMapError(
        'InvalidInput',
        `${this.name(field)} '${value}' ${limits.rule ?? `must match ${limits.pattern.source}`}`,
      );
    return value;
  }

  requiredString(field: string, limits: Parameters<ApiInput['string']>[1] = {}): string {
    const value = this.string(field, limits);
    if (value === undefined) throw this.missing(field);
    return value;
  }

  oneOf<const T extends string>(field: string, values: readonly T[]): T | undefined {
    const value = this.string(field, { max: 64 });
    if (value !== undefined && !(values as readonly string[]).includes(value))
      throw new CloudMapError(
        'InvalidInput',
        `${this.name(field)} must be one of ${values.join(', ')}, got '${value}'`,
      );
    return value as T | undefined;
  }

  integer(field: string, min: number, max: number): number | undefined {
    if (!this.has(field)) return undefined;
    const value = this.body[field];
    if (typeof value !== 'number' || !Number.isInteger(value)) throw this.wrongType(field, 'an integer');
    if (value < min || value > max)
      throw new CloudMapError('InvalidInput', `${this.name(field)} must be from ${min} to ${max}, got ${value}`);
    return value;
  }

  /** A map of strings (Attributes, QueryParameters). */
  stringMap(field: string): Record<string, string> | undefined {
    if (!this.has(field)) return undefined;
    const value = this.body[field];
    if (typeof value !== 'object' || Array.isArray(value)) throw this.wrongType(field, 'a map of strings');
    // Keyed by the client: a null-prototype copy, so that no key reads an Object.prototype member.
    const map = Object.create(null) as Record<string, string>;
    for (const [key, v] of Object.entries(value as Json)) {
      if (typeof v !== 'string')
        throw new CloudMapError(
          'SerializationException',
          `${this.name(field)}.${key.length > 64 ? `${key.slice(0, 64)}...` : key} must be a string`,
        );
      map[key] = v;
    }
    return map;
  }

  object(field: string): ApiInput | undefined {
    if (!this.has(field)) return undefined;
    const value = this.body[field];
    if (typeof value !== 'object' || Array.isArray(value)) throw this.wrongType(field, 'an object');
    return new ApiInput(value as Json, `${this.name(field)}.`);
  }

  list(field: string): ApiInput[] | undefined {
    if (!this.has(field)) return undefined;
    const value = this.body[field];
    if (!Array.isArray(value)) throw this.wrongType(field, 'a list');
    return value.map((item, i) => {
      if (item === null || typeof item !== 'object' || Array.isArray(item))
        throw new CloudMapError('SerializationException', `${this.name(field)}[${i}] must be an object`);
      return new ApiInput(item as Json, `${this.name(field)}[${i}].`);
    });
  }

  stringList(field: string): string[] | undefined {
    if (!this.has(field)) return undefined;
    const value = this.body[field];
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
      throw this.wrongType(field, 'a list of strings');
    return value as string[];
  }
}

/** One page of `items` from a NextToken (an offset, opaque to the caller). */
export function page<T>(
  items: readonly T[],
  input: ApiInput,
  maxResults: { default: number; max: number },
): { items: T[]; nextToken?: string } {
  const size = input.integer('MaxResults', 1, maxResults.max) ?? maxResults.default;
  const token = input.string('NextToken', { max: 4096 });
  let offset = 0;
  if (token !== undefined) {
    const decoded = Buffer.from(token, 'base64url').toString();
    offset = Number.parseInt(decoded, 10);
    if (!Number.isInteger(offset) || offset < 0 || `${offset}` !== decoded)
      throw new CloudMapError('InvalidInput', 'NextToken is not one this registry gave out');
  }
  const slice = items.slice(offset, offset + size);
  return offset + size < items.length
    ? { items: slice, nextToken: Buffer.from(`${offset + size}`).toString('base64url') }
    : { items: slice };
}

/** A value as JSON for an error message; one nested too deep to write (a hostile body) is named by its kind. */
function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Array.isArray(value) ? '[...] (an array nested too deep to show)' : '{...} (nested too deep to show)';
  }
}
