// Canonical proto3 JSON (src/xds/proto-json.ts), the form Envoy's /config_dump prints: each
// well-known type, 64-bit integers, enums, and the defaults Envoy leaves out. The messages are
// encoded with protobufjs and decoded back, as render and config-dump do.
import * as protobuf from 'protobufjs';
import { decodeToJson } from '../../src/xds/proto-json';
import { decodeResource, encodeResource } from '../../src/xds/protos';
import { TypeUrl } from '../../src/xds/type-urls';

const PROTO = `
syntax = "proto3";
package t;
import "google/protobuf/any.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/empty.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

enum Color { COLOR_UNSET = 0; RED = 1; BLUE = 2; }

message Inner { string name = 1; uint32 port = 2; }

message All {
  google.protobuf.Duration d = 1;
  google.protobuf.Timestamp ts = 2;
  google.protobuf.UInt32Value u32w = 3;
  google.protobuf.Int64Value i64w = 4;
  google.protobuf.UInt64Value u64w = 5;
  google.protobuf.BoolValue boolw = 6;
  google.protobuf.StringValue strw = 7;
  google.protobuf.DoubleValue dblw = 8;
  google.protobuf.FloatValue fltw = 9;
  google.protobuf.BytesValue bytesw = 10;
  google.protobuf.Struct st = 11;
  google.protobuf.Value v = 12;
  google.protobuf.ListValue lv = 13;
  google.protobuf.Any any = 14;
  google.protobuf.FieldMask fm = 15;
  google.protobuf.Empty empty = 16;
  int64 i64 = 17;
  uint64 u64 = 18;
  sint64 s64 = 19;
  fixed64 f64 = 20;
  int32 i32 = 21;
  string s = 22;
  bool b = 23;
  bytes by = 24;
  Color color = 25;
  double dbl = 26;
  float flt = 27;
  repeated Color colors = 28;
  map<string, int64> counts = 29;
  oneof choice { int32 zero_in_oneof = 30; string other = 31; }
  optional int32 opt = 32;
  Inner inner = 33;
  repeated Inner inners = 34;
  repeated google.protobuf.Duration durations = 35;
}
`;

function testRoot(): protobuf.Root {
  const root = new protobuf.Root();
  for (const file of ['any', 'duration', 'empty', 'field_mask', 'struct', 'timestamp', 'wrappers']) {
    root.addJSON(protobuf.common.get(`google/protobuf/${file}.proto`)!.nested!);
  }
  protobuf.parse(PROTO, root, { keepCase: true });
  root.resolveAll();
  return root;
}

const root = testRoot();
const All = root.lookupType('t.All');
const Inner = root.lookupType('t.Inner');
const Duration = root.lookupType('google.protobuf.Duration');

/** `fields` encoded as t.All (protobufjs writes every field it is given, defaults too) and shown as JSON. */
const json = (fields: Record<string, unknown>) => decodeToJson(All, All.encode(All.fromObject(fields)).finish());
const any = (type: protobuf.Type, fields: Record<string, unknown>) => ({
  type_url: `type.googleapis.com/${type.fullName.slice(1)}`,
  value: type.encode(type.fromObject(fields)).finish(),
});

describe('canonical proto3 JSON', () => {
  it('Duration: seconds and 0, 3, 6 or 9 fraction digits, negative with one sign', () => {
    expect(json({ d: { seconds: 15 } })).toEqual({ d: '15s' });
    expect(json({ d: {} })).toEqual({ d: '0s' });
    expect(json({ d: { seconds: 1, nanos: 500_000_000 } })).toEqual({ d: '1.500s' });
    expect(json({ d: { seconds: 0, nanos: 1500 } })).toEqual({ d: '0.000001500s' });
    expect(json({ d: { seconds: 0, nanos: 1 } })).toEqual({ d: '0.000000001s' });
    expect(json({ d: { seconds: -1, nanos: -500_000_000 } })).toEqual({ d: '-1.500s' });
    expect(json({ d: { seconds: 0, nanos: -5_000_000 } })).toEqual({ d: '-0.005s' });
    expect(json({ d: { seconds: '315576000000' } })).toEqual({ d: '315576000000s' });
    expect(json({ durations: [{ seconds: 1 }, { nanos: 250_000_000 }] })).toEqual({ durations: ['1s', '0.250s'] });
    // A fraction of a second proto3 does not allow: its fields, not a garbled '0.0000000-1s'.
    expect(json({ d: { seconds: 1, nanos: 1_500_000_000 } })).toEqual({ d: { seconds: '1', nanos: 1_500_000_000 } });
    expect(json({ ts: { seconds: 0, nanos: -1 } })).toEqual({ ts: { seconds: '0', nanos: -1 } });
  });

  it('Timestamp: RFC 3339 in UTC', () => {
    expect(json({ ts: {} })).toEqual({ ts: '1970-01-01T00:00:00Z' });
    expect(json({ ts: { seconds: 1_700_000_000, nanos: 123_000_000 } })).toEqual({ ts: '2023-11-14T22:13:20.123Z' });
    expect(json({ ts: { seconds: -62135596800 } })).toEqual({ ts: '0001-01-01T00:00:00Z' });
    // Beyond year 9999 there is no RFC 3339 form: its fields, not a thrown RangeError.
    expect(json({ ts: { seconds: '9000000000000000' } })).toEqual({ ts: { seconds: '9000000000000000', nanos: 0 } });
  });

  it('wrappers: the bare value, printed even when it is the default (the wrapper is set)', () => {
    expect(json({ u32w: { value: 3 } })).toEqual({ u32w: 3 });
    expect(json({ u32w: { value: 0 } })).toEqual({ u32w: 0 });
    expect(json({ u32w: {} })).toEqual({ u32w: 0 });
    expect(json({ i64w: { value: '9007199254740993' } })).toEqual({ i64w: '9007199254740993' });
    expect(json({ u64w: { value: '18446744073709551615' } })).toEqual({ u64w: '18446744073709551615' });
    expect(json({ boolw: { value: false } })).toEqual({ boolw: false });
    expect(json({ strw: {} })).toEqual({ strw: '' });
    expect(json({ dblw: { value: 0.25 } })).toEqual({ dblw: 0.25 });
    expect(json({ fltw: { value: 0.1 } })).toEqual({ fltw: 0.1 });
    expect(json({ bytesw: { value: Buffer.from('hi!') } })).toEqual({ bytesw: 'aGkh' });
  });

  it('Struct, Value and ListValue: plain JSON, nested', () => {
    const struct = {
      fields: {
        s: { stringValue: 'x' },
        n: { numberValue: 1.5 },
        t: { boolValue: true },
        z: { nullValue: 0 },
        o: {
          structValue: {
            fields: {
              deep: {
                listValue: {
                  values: [
                    { numberValue: 1 },
                    { stringValue: 'two' },
                    { structValue: { fields: { k: { boolValue: false } } } },
                  ],
                },
              },
            },
          },
        },
      },
    };
    expect(json({ st: struct })).toEqual({
      st: { s: 'x', n: 1.5, t: true, z: null, o: { deep: [1, 'two', { k: false }] } },
    });
    expect(json({ st: {} })).toEqual({ st: {} });
    expect(json({ v: { stringValue: '%START_TIME%' } })).toEqual({ v: '%START_TIME%' });
    expect(json({ lv: { values: [{ nullValue: 0 }, { numberValue: -2 }] } })).toEqual({ lv: [null, -2] });
  });

  it('Any: the message inside with its @type; a well-known type inside as {"@type", "value"}; an unknown type as its bytes', () => {
    expect(json({ any: any(Inner, { name: 'web', port: 80 }) })).toEqual({
      any: { '@type': 'type.googleapis.com/t.Inner', name: 'web', port: 80 },
    });
    expect(json({ any: any(Duration, { seconds: 2 }) })).toEqual({
      any: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '2s' },
    });
    expect(json({ any: { type_url: 'type.googleapis.com/t.Unknown', value: Buffer.from([1, 2]) } })).toEqual({
      any: { '@type': 'type.googleapis.com/t.Unknown', value: 'AQI=' },
    });
    // Bytes that do not decode as the type they claim (wire type 7 does not exist): shown as they came, not thrown.
    expect(json({ any: { type_url: 'type.googleapis.com/t.Inner', value: Buffer.from([0x0f]) } })).toEqual({
      any: { '@type': 'type.googleapis.com/t.Inner', value: 'Dw==' },
    });
    // Nested: an Any whose message holds an Any.
    const All2 = any(All, { any: any(Inner, { name: 'in' }) });
    expect(json({ any: All2 })).toEqual({
      any: { '@type': 'type.googleapis.com/t.All', any: { '@type': 'type.googleapis.com/t.Inner', name: 'in' } },
    });
  });

  it('FieldMask: paths in lowerCamelCase, comma-joined; Empty: {}', () => {
    expect(json({ fm: { paths: ['foo_bar', 'baz.qux_quux'] } })).toEqual({ fm: 'fooBar,baz.quxQuux' });
    expect(json({ empty: {} })).toEqual({ empty: {} });
  });

  it('64-bit integers as strings, 32-bit ones as numbers', () => {
    expect(json({ i64: '-9223372036854775808', u64: '18446744073709551615', s64: '-5', f64: '42', i32: -7 })).toEqual({
      i64: '-9223372036854775808',
      u64: '18446744073709551615',
      s64: '-5',
      f64: '42',
      i32: -7,
    });
    expect(json({ counts: { a: '5', b: '-1' } })).toEqual({ counts: { a: '5', b: '-1' } });
  });

  it('enums by name; a number the enum does not name stays a number', () => {
    expect(json({ color: 'BLUE' })).toEqual({ color: 'BLUE' });
    expect(json({ colors: [1, 7, 0] })).toEqual({ colors: ['RED', 7, 'COLOR_UNSET'] });
  });

  it('doubles and floats: non-finite ones as strings, floats as the shortest decimal', () => {
    expect(json({ dbl: Infinity, flt: 0.1 })).toEqual({ dbl: 'Infinity', flt: 0.1 });
    expect(json({ dbl: NaN, flt: -Infinity })).toEqual({ dbl: 'NaN', flt: '-Infinity' });
    expect(json({ flt: 3.4028234663852886e38 })).toEqual({ flt: 3.4028235e38 });
  });

  it('default values are left out as Envoy leaves them out, unless the field tracks presence', () => {
    expect(
      json({
        i64: 0,
        u64: '0',
        i32: 0,
        s: '',
        b: false,
        by: Buffer.alloc(0),
        color: 0,
        dbl: 0,
        flt: 0,
        colors: [],
        counts: {},
        inners: [],
      }),
    ).toEqual({});
    // A oneof member and a proto3 `optional` are printed at their default; so is a set message.
    expect(json({ zero_in_oneof: 0, opt: 0, inner: {} })).toEqual({ zero_in_oneof: 0, opt: 0, inner: {} });
    expect(json({ inners: [{}, { port: 0, name: 'a' }] })).toEqual({ inners: [{}, { name: 'a' }] });
  });

  it('fields in field-number order, whatever order they were given in', () => {
    const out = json({ inner: { port: 1, name: 'n' }, s: 'x', d: { seconds: 1 } });
    expect(JSON.stringify(out)).toBe('{"d":"1s","s":"x","inner":{"name":"n","port":1}}');
  });

  it("an Envoy cluster as Envoy's /config_dump prints it", () => {
    const cluster = {
      name: 'web',
      type: 'EDS',
      connect_timeout: { seconds: 1, nanos: 250_000_000 },
      circuit_breakers: { thresholds: [{ max_connections: { value: 1024 } }] },
      per_connection_buffer_limit_bytes: { value: 0 },
      lb_policy: 'ROUND_ROBIN',
    };
    expect(JSON.stringify(decodeResource(TypeUrl.Cluster, encodeResource(TypeUrl.Cluster, cluster)))).toBe(
      '{"name":"web","type":"EDS","connect_timeout":"1.250s","per_connection_buffer_limit_bytes":0,"circuit_breakers":{"thresholds":[{"max_connections":1024}]}}',
    );
  });
});
