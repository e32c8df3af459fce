// Loads the Envoy protos once and exposes the codecs meshd needs: resource encoding into Any,
// and the ADS service definition for @grpc/grpc-js. The protos come compiled: the build
// (scripts/gen-descriptor.js) parses the ones listed in protos/ with @grpc/proto-loader's loader,
// as the generated types were, into one protobufjs JSON descriptor next to those types; run
// time reads only that file, so neither the .proto files nor their source package
// (@grpc/grpc-js-xds, a devDependency) are part of the production install.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import type * as protobuf from 'protobufjs';
import { lengthDelimitedFields } from './resources';
import { anyBytesJson, decodeToJson } from './proto-json';
import { guardedDeserializer, type GuardOptions } from './request-guard';

/** src/generated/ or dist/generated/, beside the generated types (src/ under the tests, dist/ when built). */
const DESCRIPTOR_FILE = path.join(__dirname, '..', 'generated', 'envoy-protos.json');

/** Same conversion options as the generated `__Output` types (scripts/gen-types.js). */
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, oneofs: true };

let root: protobuf.Root | undefined;

/** The schema from the build's descriptor, every reference resolved up front (as proto-loader's loader does). */
function loadDescriptor(): protobuf.Root {
  let json: protobuf.INamespace;
  try {
    json = JSON.parse(fs.readFileSync(DESCRIPTOR_FILE, 'utf8')) as protobuf.INamespace;
  } catch (err) {
    throw new Error(
      `cannot read the Envoy protos descriptor ${DESCRIPTOR_FILE} (\`npm run build\` writes it): ${(err as Error).message}`,
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Root } = require('protobufjs') as typeof protobuf;
  const loaded = Root.fromJSON(json);
  loaded.resolveAll();
  return loaded;
}

/** The loaded schema (exported for the test that compares it with the .proto files). */
export function envoyRoot(): protobuf.Root {
  root ??= loadDescriptor();
  return root;
}

/** Types by full name: protobufjs's lookupType walks the namespace each time, which cost more than most encodings. */
const types = new Map<string, protobuf.Type>();

function messageType(fullName: string): protobuf.Type {
  let type = types.get(fullName);
  if (!type) types.set(fullName, (type = envoyRoot().lookupType(fullName)));
  return type;
}

/** Full message name of a v3 type URL. */
function typeNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/**
 * Encodes a resource (a plain object shaped like the generated type; nested Anys may use the
 * `{'@type': url, ...fields}` form) into its protobuf bytes. The shape is checked at compile
 * time against the generated types; protobufjs would silently drop unknown fields here.
 */
export function encodeResource(typeUrl: string, resource: object): Buffer {
  const type = messageType(typeNameOf(typeUrl));
  // Under Node protobufjs's writer already gives a Buffer of its own: copying it again cost a copy per resource.
  const bytes = type.encode(type.fromObject(resource)).finish();
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
}

const VIRTUAL_HOST = 'type.googleapis.com/envoy.config.route.v3.VirtualHost';

/** A RouteConfiguration with only a name and virtual hosts, the kind spliceRouteConfiguration encodes. */
export interface PlainRouteConfiguration {
  readonly name: string;
  readonly virtual_hosts: readonly object[];
}

export function isPlainRouteConfiguration(resource: object): resource is PlainRouteConfiguration {
  const { name, virtual_hosts: hosts } = resource as { name?: unknown; virtual_hosts?: unknown };
  return Object.keys(resource).length === 2 && typeof name === 'string' && Array.isArray(hosts);
}

/**
 * A PlainRouteConfiguration's bytes from its name and its virtual hosts already encoded
 * (encodeVirtualHost): the bytes encodeResource gives, as protobufjs writes a message's fields in
 * field-number order (name = 1, virtual_hosts = 2) and a nested message as a length-delimited
 * field holding exactly that message's own encoding. Callers share one virtual host's bytes among
 * every route configuration that carries it.
 */
export function spliceRouteConfiguration(name: string, encodedHosts: readonly Uint8Array[]): Buffer {
  return lengthDelimitedFields(routeConfigurationFields(name, encodedHosts));
}

/** The fields spliceRouteConfiguration writes, for makeSplicedResource to write straight into an Any. */
export function routeConfigurationFields(
  name: string,
  encodedHosts: readonly Uint8Array[],
): (readonly [number, Uint8Array])[] {
  const fields: (readonly [number, Uint8Array])[] = [[1, Buffer.from(name)]];
  for (const host of encodedHosts) fields.push([2, host]);
  return fields;
}

/** A virtual host's encoding, as a RouteConfiguration nests it (spliceRouteConfiguration). */
export function encodeVirtualHost(host: object): Buffer {
  return encodeResource(VIRTUAL_HOST, host);
}

/**
 * Decodes resource bytes back to canonical proto3 JSON, the form Envoy's /config_dump prints
 * (proto-json.ts): for display, and for comparing with what Envoy holds.
 */
export function decodeResource(typeUrl: string, bytes: Uint8Array): Record<string, unknown> {
  return decodeToJson(messageType(typeNameOf(typeUrl)), bytes) as Record<string, unknown>;
}

/**
 * A resource as Envoy's /config_dump shows it: canonical proto3 JSON of the Any it is served in,
 * so `{"@type": typeUrl, ...fields}`.
 */
export function resourceAsAnyJson(typeUrl: string, bytes: Uint8Array): Record<string, unknown> {
  return anyBytesJson(envoyRoot(), typeUrl, bytes) as Record<string, unknown>;
}

/** Splits an encoded google.protobuf.Any into its type URL and the decoded resource. */
export function decodeAny(any: Uint8Array): { typeUrl: string; resource: Record<string, unknown> } {
  const type = messageType('google.protobuf.Any');
  const { type_url: typeUrl, value } = type.toObject(type.decode(any)) as { type_url: string; value: Uint8Array };
  return { typeUrl, resource: resourceAsAnyJson(typeUrl, value) };
}

const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
/** SDS on its own (not over ADS): what Envoy calls for an `api_config_source` SDS, e.g. a SPIRE agent's socket. */
const SDS_SERVICE = 'envoy.service.secret.v3.SecretDiscoveryService';

/**
 * The repeated name fields of each request: DiscoveryRequest's
 * resource_names; DeltaDiscoveryRequest's subscribe and unsubscribe lists.
 */
const NAME_FIELDS: Record<string, readonly number[]> = { DiscoveryRequest: [3], DeltaDiscoveryRequest: [3, 4] };

/** Bounds a server checks before decoding a request (request-guard.ts). */
export type RequestBounds = Omit<GuardOptions, 'nameFields' | 'messageType'>;

function bidiMethod(
  service: string,
  method: string,
  requestName: string,
  responseName: string,
  bounds?: RequestBounds,
): grpc.MethodDefinition<object, Buffer | object> {
  const request = messageType(`envoy.service.discovery.v3.${requestName}`);
  const response = messageType(`envoy.service.discovery.v3.${responseName}`);
  const decode = (buf: Buffer) => request.toObject(request.decode(buf), TO_OBJECT);
  return {
    path: `/${service}/${method}`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (msg: object) => Buffer.from(request.encode(request.fromObject(msg)).finish()),
    // A server passes bounds: a request over them reaches its stream as a RefusedRequest, undecoded.
    requestDeserialize: bounds
      ? guardedDeserializer(decode, { ...bounds, nameFields: NAME_FIELDS[requestName]!, messageType: request })
      : decode,
    // The server writes responses already encoded (wire.ts); clients of this definition (tests) may pass objects.
    responseSerialize: (msg: Buffer | object) =>
      Buffer.isBuffer(msg) ? msg : Buffer.from(response.encode(response.fromObject(msg)).finish()),
    responseDeserialize: (buf: Buffer) => response.toObject(response.decode(buf), TO_OBJECT),
  };
}

/**
 * The ADS service definition (StreamAggregatedResources and DeltaAggregatedResources)
 * for grpc.Server.addService; a server passes its request bounds.
 */
export function adsServiceDefinition(bounds?: RequestBounds): grpc.ServiceDefinition {
  envoyRoot().lookupService(ADS_SERVICE); // fails loudly if ads.proto is not in the list
  return {
    StreamAggregatedResources: bidiMethod(
      ADS_SERVICE,
      'StreamAggregatedResources',
      'DiscoveryRequest',
      'DiscoveryResponse',
      bounds,
    ),
    DeltaAggregatedResources: bidiMethod(
      ADS_SERVICE,
      'DeltaAggregatedResources',
      'DeltaDiscoveryRequest',
      'DeltaDiscoveryResponse',
      bounds,
    ),
  };
}

/**
 * The SDS service definition (StreamSecrets and DeltaSecrets: the same messages as ADS's two
 * methods, so the same streams serve them). FetchSecrets, the unary REST-style call, is not
 * served: Envoy's GRPC and DELTA_GRPC config sources stream. sds.proto itself is not in the
 * descriptor (its messages are discovery.proto's); the e2e tests check the path against Envoy.
 */
export function sdsServiceDefinition(bounds?: RequestBounds): grpc.ServiceDefinition {
  return {
    StreamSecrets: bidiMethod(SDS_SERVICE, 'StreamSecrets', 'DiscoveryRequest', 'DiscoveryResponse', bounds),
    DeltaSecrets: bidiMethod(SDS_SERVICE, 'DeltaSecrets', 'DeltaDiscoveryRequest', 'DeltaDiscoveryResponse', bounds),
  };
}
