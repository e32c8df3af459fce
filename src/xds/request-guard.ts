// Looks at a request's protobuf fields before decoding it. protobufjs spends about a
// microsecond per field, at any depth, so a 4 MiB request of two million empty names (or of two
// million details in its error_detail, or keys in its node metadata) would hold the event loop
// for a second or more: such a request is refused after counting its fields, without decoding
// it. The count follows the request's schema into every nested message. A request that
// protobufjs cannot decode (truncated, deeply nested) is refused too, instead of grpc-js's INTERNAL.
import * as protobuf from 'protobufjs';
import { resourceExhausted, Status, StreamRefusal } from './limits';

/** What a guarded deserializer hands the stream instead of a request it refused. */
export class RefusedRequest {
  constructor(readonly refusal: StreamRefusal) {}
}

export interface GuardOptions {
  /** At most this many occurrences of one top-level field (a repeated name field, a map's entries). */
  readonly maxRepeated: number;
  /** At most this many bytes in one element of a repeated field. */
  readonly maxElementBytes: number;
  /** The repeated fields whose elements are resource names (their field numbers). */
  readonly nameFields: readonly number[];
  /** The request's message type, whose schema leads the count into nested messages. */
  readonly messageType: protobuf.Type;
}

/**
 * Fields a request of either kind may carry besides its repeated
 * ones (singular fields, node metadata, a few unknown ones).
 */
const SINGULAR_FIELD_ALLOWANCE = 1024;
/** Nesting deeper than this is no discovery request (protobufjs would recurse into it). */
const MAX_DEPTH = 32;

/** The message type of a field's elements (a map field's values), if they are messages. */
function nestedType(type: protobuf.Type, fieldNumber: number): protobuf.Type | undefined {
  const field = type.fieldsById[fieldNumber];
  const resolved = field?.resolvedType;
  return resolved instanceof protobuf.Type ? resolved : undefined;
}

function isMapField(type: protobuf.Type, fieldNumber: number): boolean {
  return (type.fieldsById[fieldNumber] as (protobuf.Field & { map?: boolean }) | undefined)?.map === true;
}

/**
 * The refusal for `bytes`, or undefined if they fit the options: no top-level field occurs more
 * than maxRepeated times, and there are no more than 2 × maxRepeated + an allowance fields at
 * any depth (a map entry counts once, plus its value's fields when that is a message).
 */
export function scanRequest(bytes: Uint8Array, opts: GuardOptions): StreamRefusal | undefined {
  const maxFields = opts.maxRepeated * 2 + SINGULAR_FIELD_ALLOWANCE;
  let fields = 0;
  let pos = 0;
  const malformed = () =>
    new StreamRefusal(Status.INVALID_ARGUMENT, 'malformed', 'the request is not a valid xDS discovery request');
  const tooMany = () =>
    resourceExhausted(
      'names_per_type',
      `the request has more than ${maxFields} fields; at most ${opts.maxRepeated} names per type`,
    );
  const varint = (end: number): number | undefined => {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= end) return undefined;
      const b = bytes[pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    // Longer varints only occur as 64-bit values: skip the rest.
    while (pos < end && bytes[pos++]! >= 0x80);
    return pos <= end ? Number.MAX_SAFE_INTEGER : undefined;
  };
  /** Scans one message's fields up to `end`; `type` is its schema (undefined: count its fields, look no deeper). */
  const scanMessage = (
    end: number,
    type: protobuf.Type | undefined,
    depth: number,
    mapEntry: boolean,
  ): StreamRefusal | undefined => {
    if (depth > MAX_DEPTH) return malformed();
    const counts = depth === 0 ? new Map<number, number>() : undefined;
    while (pos < end) {
      const tag = varint(end);
      if (tag === undefined) return malformed();
      const field = Math.floor(tag / 8);
      const wireType = tag % 8;
      // A map entry's key and value are part of the entry, counted once as it.
      if (!mapEntry && ++fields > maxFields) return tooMany();
      if (counts) {
        const seen = (counts.get(field) ?? 0) + 1;
        counts.set(field, seen);
        if (seen > opts.maxRepeated)
          return resourceExhausted(
            'names_per_type',
            `the request names more than ${opts.maxRepeated} resources in one field (the limit per type)`,
          );
      }
      if (wireType === 0) {
        if (varint(end) === undefined) return malformed();
      } else if (wireType === 1) {
        pos += 8;
      } else if (wireType === 5) {
        pos += 4;
      } else if (wireType === 2) {
        const length = varint(end);
        if (length === undefined || pos + length > end) return malformed();
        if (depth === 0 && opts.nameFields.includes(field) && length > opts.maxElementBytes) {
          return resourceExhausted(
            'name_bytes',
            `a resource name in the request is ${length} bytes long; at most ${opts.maxElementBytes}`,
          );
        }
        // In a map entry only the value (field 2) can be a message; elsewhere the schema says.
        const inner =
          type === undefined ? undefined : mapEntry ? (field === 2 ? type : undefined) : nestedType(type, field);
        const innerIsMap = type !== undefined && !mapEntry && isMapField(type, field);
        if (innerIsMap || inner) {
          const failed = scanMessage(pos + length, inner, depth + 1, innerIsMap);
          if (failed) return failed;
        } else {
          pos += length;
        }
      } else {
        return malformed(); // groups (3, 4) and wire types 6 and 7 are not in these messages
      }
    }
    return pos === end ? undefined : malformed();
  };
  return scanMessage(bytes.length, opts.messageType, 0, false);
}

/** Wraps a deserializer: scans first, decodes only what fits, and turns decode errors into a refusal. */
export function guardedDeserializer<T>(
  decode: (bytes: Buffer) => T,
  opts: GuardOptions,
): (bytes: Buffer) => T | RefusedRequest {
  return (bytes) => {
    const refusal = scanRequest(bytes, opts);
    if (refusal) return new RefusedRequest(refusal);
    try {
      return decode(bytes);
    } catch {
      return new RefusedRequest(
        new StreamRefusal(Status.INVALID_ARGUMENT, 'malformed', 'the request is not a valid xDS discovery request'),
      );
    }
  };
}
