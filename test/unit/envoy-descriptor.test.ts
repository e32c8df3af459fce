// meshd loads the Envoy protos at run time from a descriptor the build compiles
// (scripts/gen-descriptor.js → src/generated/ and dist/generated/envoy-protos.json), not from the
// .proto files of @grpc/grpc-js-xds (a devDependency). These tests hold the descriptor to the
// .proto files it was made from: it is up to date with protos/, every message has the same wire
// shape in both, and every golden case's resources encode to the same bytes and decode to the
// same objects through either.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { compileProxy } from '../../src/compile';
import { offlineRegistry } from '../../src/control/offline-registry';
import { resourcesByType } from '../../src/control/encode';
import { loadMesh } from '../../src/load/mesh-source';
import { decodeToJson } from '../../src/xds/proto-json';
import { adsServiceDefinition, decodeResource, encodeResource, envoyRoot } from '../../src/xds/protos';
import { GOLDEN_DIR, goldenCases } from '../helpers/golden';

const ROOT = path.resolve(__dirname, '../..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const protos = require(path.join(ROOT, 'protos')) as {
  protoFiles: string[];
  loadRoot(): protobuf.Root;
  descriptorJson(): string;
};

/** The options of the ADS request decoding (adsServiceDefinition). */
const ADS_TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, oneofs: true };

let fromProtoFiles: protobuf.Root;
beforeAll(() => {
  fromProtoFiles = protos.loadRoot();
});

/** Every message, enum and service under a namespace, by full name. */
function reflectionObjects(
  ns: protobuf.NamespaceBase,
  out = new Map<string, protobuf.ReflectionObject>(),
): Map<string, protobuf.ReflectionObject> {
  for (const o of ns.nestedArray) {
    out.set(o.fullName, o);
    if (o instanceof protobuf.Namespace) reflectionObjects(o, out);
  }
  return out;
}

/** What decides a message's encoding and decoding: each field (by number) and each oneof. */
function wireShape(type: protobuf.Type): string[] {
  const fields = [...type.fieldsArray]
    .sort((a, b) => a.id - b.id)
    .map((f) => {
      f.resolve();
      const typeName = f.resolvedType ? f.resolvedType.fullName : f.type;
      const shape = [
        f.id,
        f.name,
        typeName,
        f.repeated ? 'repeated' : '',
        f.map ? `map<${(f as unknown as protobuf.MapField).keyType}>` : '',
        f.packed ? 'packed' : '',
        f.delimited ? 'delimited' : '',
        f.hasPresence ? 'presence' : '',
        f.partOf?.name ?? '',
        JSON.stringify(f.typeDefault),
        JSON.stringify(f.defaultValue),
      ];
      return shape.join(' ');
    });
  const oneofs = type.oneofsArray.map((o) => `oneof ${o.name}: ${o.oneof.join(',')}`);
  return [...fields, ...oneofs];
}

function shapeOf(o: protobuf.ReflectionObject): unknown {
  if (o instanceof protobuf.Type) return wireShape(o);
  if (o instanceof protobuf.Enum) return o.values;
  if (o instanceof protobuf.Service)
    return o.methodsArray.map((m) => [m.name, m.requestType, m.requestStream, m.responseType, m.responseStream]);
  return o.constructor.name;
}

describe('the Envoy protos descriptor meshd loads at run time', () => {
  it('is the one protos/ compiles to (rebuild with `npm run build` after changing protos/ or the pinned protos)', () => {
    const expected = protos.descriptorJson();
    for (const dir of ['src/generated', 'dist/generated']) {
      const file = path.join(ROOT, dir, 'envoy-protos.json');
      expect(fs.existsSync(file)).toBe(true);
      expect(fs.readFileSync(file, 'utf8') === expected).toBe(true);
    }
  });

  it('holds every message, enum and service of the .proto files, each with the same wire shape', () => {
    const expected = reflectionObjects(fromProtoFiles);
    const loaded = reflectionObjects(envoyRoot());
    expect([...loaded.keys()].sort()).toEqual([...expected.keys()].sort());
    // Every type meshd packs is there (protos/envoy-protos.txt lists their files).
    expect(expected.size).toBeGreaterThan(500);
    const differing = [...expected]
      .filter(([name, o]) => JSON.stringify(shapeOf(o)) !== JSON.stringify(shapeOf(loaded.get(name)!)))
      .map(([name]) => name);
    expect(differing).toEqual([]);
  });

  it.each(goldenCases())(
    'encodes golden case %s to the same bytes and decodes them to the same objects as the .proto files do',
    (caseName) => {
      const loaded = loadMesh([path.join(GOLDEN_DIR, caseName, 'in.yaml')]);
      if (!loaded.ok) throw new Error(loaded.problems.map((p) => p.message).join('\n'));
      const cloudMap = offlineRegistry(loaded.cloudMapSeeds);
      if (!cloudMap.ok) throw new Error(cloudMap.problems.map((p) => p.message).join('\n'));
      const ids = [
        ...loaded.model.virtualNodes().map((n) => `mesh/${n.mesh}/virtualNode/${n.name}`),
        ...loaded.model.virtualGateways().map((g) => `mesh/${g.mesh}/virtualGateway/${g.name}`),
      ];
      let compared = 0;
      for (const id of ids) {
        const result = compileProxy(loaded.model, cloudMap.registry, id, { ingressPort: 15000, egressPort: 15001 });
        if (!result.ok) throw new Error(result.error);
        const bootstrap = {
          node: { id, cluster: id },
          static_resources: { listeners: result.config.listeners, clusters: result.config.clusters },
        };
        const all: [string, object][] = [
          ...[...resourcesByType(result.config)].flatMap(([typeUrl, list]) =>
            list.map(({ resource }): [string, object] => [typeUrl, resource]),
          ),
          ['type.googleapis.com/envoy.config.bootstrap.v3.Bootstrap', bootstrap],
        ];
        for (const [typeUrl, resource] of all) {
          const type = fromProtoFiles.lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
          const expectedBytes = Buffer.from(type.encode(type.fromObject(resource)).finish());
          const bytes = encodeResource(typeUrl, resource);
          expect(bytes.equals(expectedBytes)).toBe(true);
          expect(decodeResource(typeUrl, bytes)).toEqual(decodeToJson(type, expectedBytes));
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(0);
    },
  );

  it('decodes ADS requests (a node with metadata, resource names, an error detail) as the .proto files do', () => {
    const ads = adsServiceDefinition();
    const node = {
      id: 'mesh/m/virtualNode/n',
      cluster: 'n',
      metadata: {
        fields: {
          APPMESH_ENVOY_INGRESS_PORT: { numberValue: 15000 },
          k: { listValue: { values: [{ stringValue: 'v' }, { boolValue: true }] } },
        },
      },
      user_agent_build_version: { version: { major_number: 1, minor_number: 40 } },
    };
    const sotw = {
      version_info: '3',
      node,
      resource_names: ['a', 'b'],
      type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
      response_nonce: '7',
      error_detail: { code: 3, message: 'bad' },
    };
    const delta = {
      node,
      type_url: 'type.googleapis.com/envoy.config.listener.v3.Listener',
      resource_names_subscribe: ['x'],
      resource_names_unsubscribe: ['y'],
      initial_resource_versions: { x: '1' },
      response_nonce: '2',
    };
    for (const [method, message, request] of [
      ['StreamAggregatedResources', 'DiscoveryRequest', sotw],
      ['DeltaAggregatedResources', 'DeltaDiscoveryRequest', delta],
    ] as const) {
      const type = fromProtoFiles.lookupType(`envoy.service.discovery.v3.${message}`);
      const bytes = Buffer.from(type.encode(type.fromObject(request)).finish());
      const def = ads[method]!;
      expect(def.requestSerialize(request).equals(bytes)).toBe(true);
      expect(def.requestDeserialize(bytes)).toEqual(type.toObject(type.decode(bytes), ADS_TO_OBJECT));
    }
  });
});
