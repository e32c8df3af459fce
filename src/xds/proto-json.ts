// Canonical proto3 JSON of a decoded message, as Envoy's /config_dump prints it (protobuf's C++
// JsonPrinter with preserve_proto_field_names): snake_case field names, fields in field-number
// order, default values of fields without presence left out, enums by name, 64-bit integers as
// strings, bytes in base64, and the well-known types in their JSON form (Duration "1.5s",
// Timestamp RFC 3339, wrappers as their bare value, Struct/Value/ListValue as plain JSON, Any
// expanded with its "@type", FieldMask as one comma-joined string). protobufjs's own toObject
// knows none of the well-known types, hence this walk over its reflection.
import type * as protobuf from 'protobufjs';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A decoded protobufjs message: fields by their proto name. */
type Message = Record<string, unknown>;

/** What protobufjs decodes a 64-bit integer to: a Long (when long.js is present) or a number. */
interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
}

const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

const isLong = (v: unknown): v is LongLike => typeof v === 'object' && v !== null && 'low' in v && 'high' in v;

function bigIntOf(v: unknown): bigint {
  if (isLong(v)) {
    const lo = BigInt(v.low >>> 0);
    const hi = BigInt(v.high >>> 0);
    const n = (hi << 32n) | lo;
    return v.unsigned ? n : BigInt.asIntN(64, n);
  }
  if (typeof v === 'string') return BigInt(v);
  return BigInt(Math.trunc(Number(v ?? 0)));
}

/** A double as JSON: a number, or the strings proto3 JSON uses for the non-finite ones. */
function doubleJson(v: number): JsonValue {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return v;
}

/**
 * A float (32-bit) as the shortest decimal that reads back to the same float, as C++ prints it:
 * protobufjs widens 0.1f to 0.10000000149011612, which is not what was written.
 */
function floatJson(v: number): JsonValue {
  if (!Number.isFinite(v)) return doubleJson(v);
  for (let digits = 1; digits <= 9; digits++) {
    const shortest = Number(v.toPrecision(digits));
    if (Math.fround(shortest) === v) return shortest;
  }
  return v;
}

/** Standard base64 with padding, as proto3 JSON writes bytes. */
const bytesJson = (v: Uint8Array): string => Buffer.from(v).toString('base64');

/** A fraction of a second proto3 allows: a whole number of nanoseconds below one second. */
function validNanos(nanos: number): boolean {
  return Number.isInteger(nanos) && nanos >= 0 && nanos <= 999_999_999;
}

/** The fraction of a second in 0, 3, 6 or 9 digits, as proto3 JSON prints Duration and Timestamp. */
function nanosSuffix(nanos: number): string {
  if (nanos === 0) return '';
  const nine = String(nanos).padStart(9, '0');
  if (nine.endsWith('000000')) return `.${nine.slice(0, 3)}`;
  if (nine.endsWith('000')) return `.${nine.slice(0, 6)}`;
  return `.${nine}`;
}

/**
 * A field of a well-known type by its number, when set: their names differ between descriptors (protobufjs
 * ships google/protobuf/struct.proto with camelCase names, protoc keeps snake_case).
 */
function field(type: protobuf.Type, m: Message, id: number): unknown {
  const f = type.fieldsById[id];
  // Only what the bytes carried: protobufjs keeps defaults on the prototype, which would make
  // every member of Value's oneof look set.
  return f && Object.prototype.hasOwnProperty.call(m, f.name) ? m[f.name] : undefined;
}

function durationJson(m: Message, type: protobuf.Type): JsonValue {
  const seconds = bigIntOf(field(type, m, 1));
  const nanos = Number(field(type, m, 2) ?? 0);
  // Out of range (C++ refuses to print it): shown as its fields, like an out-of-range Timestamp.
  if (!validNanos(Math.abs(nanos))) return { seconds: seconds.toString(), nanos };
  const negative = seconds < 0n || nanos < 0;
  const abs = seconds < 0n ? -seconds : seconds;
  return `${negative ? '-' : ''}${abs}${nanosSuffix(Math.abs(nanos))}s`;
}

/** google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z. */
const TIMESTAMP_SECONDS = { min: -62135596800, max: 253402300799 };

function timestampJson(m: Message, type: protobuf.Type): JsonValue {
  const seconds = Number(bigIntOf(field(type, m, 1)));
  // Out of range, C++ refuses to print it; here it is shown as its fields rather than thrown on.
  if (
    !(seconds >= TIMESTAMP_SECONDS.min && seconds <= TIMESTAMP_SECONDS.max) ||
    !validNanos(Number(field(type, m, 2) ?? 0))
  )
    return { seconds: bigIntOf(field(type, m, 1)).toString(), nanos: Number(field(type, m, 2) ?? 0) };
  const iso = new Date(seconds * 1000).toISOString(); // 1970-01-01T00:00:00.000Z
  return `${iso.slice(0, 19)}${nanosSuffix(Number(field(type, m, 2) ?? 0))}Z`;
}

/** foo_bar.baz_qux → fooBar.bazQux, as FieldMask paths are written in JSON. */
const lowerCamel = (path: string): string => path.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

const resolvedType = (type: protobuf.Type, id: number): protobuf.Type =>
  type.fieldsById[id]!.resolve().resolvedType as protobuf.Type;

/** The JSON value a google.protobuf.Value stands for (fields: 1 null, 2 number, 3 string, 4 bool, 5 struct, 6 list). */
function valueJson(m: Message, type: protobuf.Type): JsonValue {
  const struct = field(type, m, 5);
  if (struct !== undefined && struct !== null) return structJson(struct as Message, resolvedType(type, 5));
  const list = field(type, m, 6);
  if (list !== undefined && list !== null) return listJson(list as Message, resolvedType(type, 6));
  const string = field(type, m, 3);
  if (typeof string === 'string') return string;
  const number = field(type, m, 2);
  if (typeof number === 'number') return doubleJson(number);
  const bool = field(type, m, 4);
  if (typeof bool === 'boolean') return bool;
  return null;
}

/** google.protobuf.Struct: map<string, Value> fields = 1. */
function structJson(m: Message, type: protobuf.Type): JsonValue {
  const fields = (field(type, m, 1) ?? {}) as Record<string, Message>;
  const valueType = resolvedType(type, 1);
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, valueJson(v, valueType)]));
}

/** google.protobuf.ListValue: repeated Value values = 1. */
function listJson(m: Message, type: protobuf.Type): JsonValue {
  const valueType = resolvedType(type, 1);
  return ((field(type, m, 1) ?? []) as Message[]).map((v) => valueJson(v, valueType));
}

/** A wrapper (google.protobuf.*Value): its `value` (field 1), bare. */
const wrapperOf =
  (toJson: (v: unknown) => JsonValue) =>
  (m: Message, type: protobuf.Type): JsonValue =>
    toJson(field(type, m, 1));

/** The well-known types whose JSON is not an object of their fields, by full name. */
const WELL_KNOWN: Record<string, (m: Message, type: protobuf.Type) => JsonValue> = {
  'google.protobuf.Duration': durationJson,
  'google.protobuf.Timestamp': timestampJson,
  'google.protobuf.DoubleValue': wrapperOf((v) => doubleJson(Number(v ?? 0))),
  'google.protobuf.FloatValue': wrapperOf((v) => floatJson(Number(v ?? 0))),
  'google.protobuf.Int64Value': wrapperOf((v) => BigInt.asIntN(64, bigIntOf(v)).toString()),
  'google.protobuf.UInt64Value': wrapperOf((v) => BigInt.asUintN(64, bigIntOf(v)).toString()),
  'google.protobuf.Int32Value': wrapperOf((v) => Number(v ?? 0)),
  'google.protobuf.UInt32Value': wrapperOf((v) => Number(v ?? 0)),
  'google.protobuf.BoolValue': wrapperOf((v) => Boolean(v)),
  'google.protobuf.StringValue': wrapperOf((v) => String(v ?? '')),
  'google.protobuf.BytesValue': wrapperOf((v) => bytesJson((v as Uint8Array | undefined) ?? new Uint8Array())),
  'google.protobuf.Struct': structJson,
  'google.protobuf.Value': valueJson,
  'google.protobuf.ListValue': listJson,
  'google.protobuf.FieldMask': (m, type) => ((field(type, m, 1) ?? []) as string[]).map(lowerCamel).join(','),
  'google.protobuf.Any': anyJson,
};

/** `{"@type": url, ...fields}`, or `{"@type": url, "value": json}` for a well-known type inside. */
function anyJson(m: Message, anyType: protobuf.Type): JsonValue {
  const typeUrl = String(field(anyType, m, 1) ?? '');
  const bytes = (field(anyType, m, 2) as Uint8Array | undefined) ?? new Uint8Array();
  if (typeUrl === '') return {};
  return anyBytesJson(anyType.root, typeUrl, bytes);
}

/** An Any's content, given its type URL and bytes, in the `@type` form. */
export function anyBytesJson(root: protobuf.Namespace, typeUrl: string, bytes: Uint8Array): JsonValue {
  const typeName = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  let inner: protobuf.Type;
  try {
    inner = root.lookupType(typeName);
  } catch {
    // A type these protos do not know: shown as it came rather than not at all.
    return { '@type': typeUrl, value: bytesJson(bytes) };
  }
  let json: JsonValue;
  try {
    json = messageJson(inner, inner.decode(bytes) as unknown as Message);
  } catch {
    // Bytes that do not decode as their type (or nest too deep to walk): shown as they came.
    return { '@type': typeUrl, value: bytesJson(bytes) };
  }
  if (inner.fullName.replace(/^\./, '') in WELL_KNOWN) return { '@type': typeUrl, value: json };
  return { '@type': typeUrl, ...(json as Record<string, JsonValue>) };
}

/** Whether a field left at its default is still printed: oneof members, proto3 `optional`, messages. */
function tracksPresence(field: protobuf.Field): boolean {
  return field.hasPresence || (field.resolvedType !== null && 'fields' in field.resolvedType);
}

function isDefaultScalar(field: protobuf.Field, v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (LONG_TYPES.has(field.type)) return bigIntOf(v) === 0n;
  if (v instanceof Uint8Array) return v.length === 0;
  return v === 0 || v === '' || v === false;
}

function scalarJson(field: protobuf.Field, v: unknown): JsonValue {
  const resolved = field.resolvedType;
  if (resolved && 'values' in resolved && !('fields' in resolved)) {
    // An enum: by name; NullValue is JSON null; a number this enum does not name stays a number.
    if (resolved.fullName.replace(/^\./, '') === 'google.protobuf.NullValue') return null;
    return (resolved as protobuf.Enum).valuesById[v as number] ?? (v as number);
  }
  if (resolved) return messageJson(resolved as protobuf.Type, v as Message);
  switch (field.type) {
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return BigInt.asIntN(64, bigIntOf(v)).toString();
    case 'uint64':
    case 'fixed64':
      return BigInt.asUintN(64, bigIntOf(v)).toString();
    case 'double':
      return doubleJson(v as number);
    case 'float':
      return floatJson(v as number);
    case 'bytes':
      return bytesJson(v as Uint8Array);
    default:
      return v as JsonValue;
  }
}

const ORDERED_FIELDS = new WeakMap<protobuf.Type, protobuf.Field[]>();

/** A type's fields by field number, the order Envoy prints them in (resolved, cached). */
function fieldsInOrder(type: protobuf.Type): protobuf.Field[] {
  let fields = ORDERED_FIELDS.get(type);
  if (!fields) {
    fields = [...type.fieldsArray].sort((a, b) => a.id - b.id);
    for (const f of fields) f.resolve();
    ORDERED_FIELDS.set(type, fields);
  }
  return fields;
}

/** A decoded message of `type` (from `type.decode`) as canonical proto3 JSON. */
export function messageJson(type: protobuf.Type, message: Message): JsonValue {
  const wellKnown = WELL_KNOWN[type.fullName.replace(/^\./, '')];
  if (wellKnown) return wellKnown(message, type);
  const out: Record<string, JsonValue> = {};
  for (const field of fieldsInOrder(type)) {
    const v = message[field.name];
    if (field.map) {
      const entries = Object.entries((v ?? {}) as Record<string, unknown>);
      if (entries.length > 0) out[field.name] = Object.fromEntries(entries.map(([k, e]) => [k, scalarJson(field, e)]));
    } else if (field.repeated) {
      const list = (v ?? []) as unknown[];
      if (list.length > 0) out[field.name] = list.map((e) => scalarJson(field, e));
    } else if (Object.prototype.hasOwnProperty.call(message, field.name) && v !== null && v !== undefined) {
      // Decoding sets only the fields the bytes carry; a default value on the wire is dropped
      // unless the field tracks presence, as Envoy (C++) never stores it.
      if (!tracksPresence(field) && isDefaultScalar(field, v)) continue;
      out[field.name] = scalarJson(field, v);
    }
  }
  return out;
}

/** Decodes `bytes` as message `type` and returns its canonical proto3 JSON. */
export function decodeToJson(type: protobuf.Type, bytes: Uint8Array): JsonValue {
  return messageJson(type, type.decode(bytes) as unknown as Message);
}
