// The xDS request guard: a request's top-level fields are counted before protobufjs decodes it.
import { adsServiceDefinition, envoyRoot } from '../../src/xds/protos';
import { guardedDeserializer, RefusedRequest, scanRequest } from '../../src/xds/request-guard';
import { lenField } from '../helpers/protobuf-wire';

const sotw = adsServiceDefinition().StreamAggregatedResources!;
const encode = (req: object) => sotw.requestSerialize(req) as Buffer;
const OPTS = {
  maxRepeated: 100,
  maxElementBytes: 64,
  nameFields: [3],
  messageType: envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryRequest'),
};
const delta = adsServiceDefinition().DeltaAggregatedResources!;
const DELTA_OPTS = {
  ...OPTS,
  nameFields: [3, 4],
  messageType: envoyRoot().lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest'),
};

describe('scanRequest', () => {
  it('lets a request within the bounds through', () => {
    expect(
      scanRequest(
        encode({
          node: { id: 'mesh/m/virtualNode/n' },
          type_url: 't',
          resource_names: Array.from({ length: 100 }, (_, i) => `n${i}`),
          version_info: 'v',
        }),
        OPTS,
      ),
    ).toBeUndefined();
    expect(scanRequest(Buffer.alloc(0), OPTS)).toBeUndefined();
  });

  it('refuses more elements of one field than maxRepeated, and more fields than twice that (plus a few)', () => {
    expect(scanRequest(encode({ resource_names: Array.from({ length: 101 }, () => '') }), OPTS)?.reason).toBe(
      'names_per_type',
    );
    // 1,300 unknown fields, no field more than 13 times.
    const unknown = Buffer.concat(
      Array.from({ length: 1300 }, (_, i) => Buffer.from([0xf8 | 0, 0x01 + (i % 100), 0x00])),
    );
    expect(scanRequest(unknown, OPTS)?.reason).toBe('names_per_type');
  });

  it('counts the fields of nested messages too: error_detail.details, node metadata keys, node client features', () => {
    const details = Array.from({ length: 1500 }, () => ({ type_url: '', value: Buffer.alloc(0) }));
    expect(scanRequest(encode({ type_url: 't', error_detail: { code: 3, message: 'x', details } }), OPTS)?.reason).toBe(
      'names_per_type',
    );
    const metadata = {
      fields: Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`k${i}`, { string_value: 'v' }])),
    };
    expect(scanRequest(encode({ node: { id: 'n', metadata }, type_url: 't' }), OPTS)?.reason).toBe('names_per_type');
    expect(
      scanRequest(
        encode({ node: { id: 'n', client_features: Array.from({ length: 1500 }, () => 'f') }, type_url: 't' }),
        OPTS,
      )?.reason,
    ).toBe('names_per_type');
  });

  it('lets a real node through: its metadata, a NACK with details, a reconnect with initial versions', () => {
    const node = {
      id: 'mesh/m/virtualNode/n',
      cluster: 'n',
      user_agent_name: 'envoy',
      metadata: {
        fields: {
          APPMESH_ENVOY_INGRESS_PORT: { string_value: '15000' },
          nested: { struct_value: { fields: { a: { number_value: 1 } } } },
        },
      },
    };
    expect(
      scanRequest(
        encode({
          node,
          type_url: 't',
          resource_names: ['a', 'b'],
          error_detail: { code: 3, message: 'bad', details: [{ type_url: 'x', value: Buffer.from('y') }] },
        }),
        OPTS,
      ),
    ).toBeUndefined();
    const initial = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`r${i}`, `v${i}`]));
    expect(
      scanRequest(
        delta.requestSerialize({
          node,
          type_url: 't',
          resource_names_subscribe: Array.from({ length: 100 }, (_, i) => `r${i}`),
          initial_resource_versions: initial,
        }) as Buffer,
        DELTA_OPTS,
      ),
    ).toBeUndefined();
  });

  it('refuses a name longer than maxElementBytes, only in the name fields', () => {
    expect(scanRequest(encode({ resource_names: ['x'.repeat(65)] }), OPTS)).toMatchObject({
      reason: 'name_bytes',
      code: 8,
    });
    expect(scanRequest(encode({ version_info: 'x'.repeat(65) }), OPTS)).toBeUndefined();
  });

  it('calls truncated or impossible wire data malformed', () => {
    const whole = encode({ type_url: 'type.googleapis.com/x' });
    expect(scanRequest(whole.subarray(0, whole.length - 1), OPTS)).toMatchObject({ reason: 'malformed', code: 3 });
    expect(scanRequest(Buffer.from([0x1b]), OPTS)?.reason).toBe('malformed'); // a group start
    // a 4 GiB length
    expect(scanRequest(Buffer.from([0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f]), OPTS)?.reason).toBe('malformed');
  });
});

describe('guardedDeserializer', () => {
  const decode = guardedDeserializer((b) => sotw.requestDeserialize(b), OPTS);

  it('decodes what fits', () => {
    expect(decode(encode({ type_url: 't', resource_names: ['a'] }))).toMatchObject({
      type_url: 't',
      resource_names: ['a'],
    });
  });

  it('hands back a refusal, instead of throwing, for what protobufjs cannot decode', () => {
    // A node whose metadata nests list values 20,000 deep: protobufjs runs out of stack.
    let value: Buffer = Buffer.alloc(0);
    for (let i = 0; i < 20000; i++) value = lenField(6, lenField(1, value));
    const node = Buffer.concat([
      lenField(1, Buffer.from('id')),
      lenField(3, lenField(1, Buffer.concat([lenField(1, Buffer.from('k')), lenField(2, value)]))),
    ]);
    const result = decode(lenField(2, node));
    expect(result).toBeInstanceOf(RefusedRequest);
    expect((result as RefusedRequest).refusal.reason).toBe('malformed');
  });
});
