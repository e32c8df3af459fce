// Looks at a request's top-level protobuf fields before decoding it. protobufjs spends about a
// microsecond per field, so a 4 MiB request of two million empty names would hold the event
// loop for most of a second: such a request is refused after counting its fields, without
// decoding it. A request that protobufjs cannot decode (truncated, deeply nested) is refused
// too, instead of grpc-js's INTERNAL.
import { resourceExhausted, Status, StreamRefusal } from './limits';

/** What a guarded deserializer hands the stream instead of a request it refused. */
export class RefusedRequest {
  constructor(readonly refusal: StreamRefusal) {}
}

export interface GuardOptions {
  /** At most this many occurrences of one field (a repeated name field, a map's entries). */
  readonly maxRepeated: number;
  /** At most this many bytes in one element of a repeated field. */
  readonly maxElementBytes: number;
  /** The repeated fields whose elements are resource names (their field numbers). */
  readonly nameFields: readonly number[];
}

/** Fields a request of either kind may carry besides its repeated ones (singular fields, a few unknown ones). */
const SINGULAR_FIELD_ALLOWANCE = 64;

/** The refusal for `bytes`, or undefined if its top-level fields fit the options. */
export function scanRequest(bytes: Uint8Array, opts: GuardOptions): StreamRefusal | undefined {
  const counts = new Map<number, number>();
  const maxFields = opts.maxRepeated * 2 + SINGULAR_FIELD_ALLOWANCE;
  let fields = 0;
  let pos = 0;
  const malformed = () => new StreamRefusal(Status.INVALID_ARGUMENT, 'malformed', 'the request is not a valid xDS discovery request');
  const varint = (): number | undefined => {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= bytes.length) return undefined;
      const b = bytes[pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    // Longer varints only occur as 64-bit values: skip the rest.
    while (pos < bytes.length && bytes[pos++]! >= 0x80);
    return pos <= bytes.length ? Number.MAX_SAFE_INTEGER : undefined;
  };
  while (pos < bytes.length) {
    const tag = varint();
    if (tag === undefined) return malformed();
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (++fields > maxFields) return resourceExhausted('names_per_type', `the request has more than ${maxFields} fields; at most ${opts.maxRepeated} names per type`);
    const seen = (counts.get(field) ?? 0) + 1;
    counts.set(field, seen);
    if (seen > opts.maxRepeated) return resourceExhausted('names_per_type', `the request names more than ${opts.maxRepeated} resources in one field (the limit per type)`);
    if (wireType === 0) {
      if (varint() === undefined) return malformed();
    } else if (wireType === 1) {
      pos += 8;
    } else if (wireType === 5) {
      pos += 4;
    } else if (wireType === 2) {
      const length = varint();
      if (length === undefined || pos + length > bytes.length) return malformed();
      if (opts.nameFields.includes(field) && length > opts.maxElementBytes) {
        return resourceExhausted('name_bytes', `a resource name in the request is ${length} bytes long; at most ${opts.maxElementBytes}`);
      }
      pos += length;
    } else {
      return malformed(); // groups (3, 4) and wire types 6 and 7 are not in these messages
    }
  }
  return pos === bytes.length ? undefined : malformed();
}

/** Wraps a deserializer: scans first, decodes only what fits, and turns decode errors into a refusal. */
export function guardedDeserializer<T>(decode: (bytes: Buffer) => T, opts: GuardOptions): (bytes: Buffer) => T | RefusedRequest {
  return (bytes) => {
    const refusal = scanRequest(bytes, opts);
    if (refusal) return new RefusedRequest(refusal);
    try {
      return decode(bytes);
    } catch {
      return new RefusedRequest(new StreamRefusal(Status.INVALID_ARGUMENT, 'malformed', 'the request is not a valid xDS discovery request'));
    }
  };
}
