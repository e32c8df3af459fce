// gRPC routing end to end: a real @grpc/grpc-js client calls through a real Envoy sidecar
// (explicit mode: h2c to the egress port, :authority naming the virtual service) and App Mesh
// grpcRoute matches on service name, method name and request metadata pick the upstream
// gRPC server. Also: App Mesh's default retry policy and a user gRPC retry policy on gRPC statuses.
import * as grpc from '@grpc/grpc-js';
import { describeWithEnvoy } from '../helpers/envoy';
import { startSidecar, targetNodeYaml, type Sidecar } from '../helpers/sidecar-harness';
import {
  GrpcEgressClient,
  GRPC_PACKAGE,
  grpcReady,
  startGrpcUpstream,
  type GrpcResult,
  type GrpcServiceName,
  type GrpcUpstream,
} from '../helpers/upstreams';

const MESH = 'rpc';
const NODE_ID = `mesh/${MESH}/virtualNode/client`;
const SERVICE = 'api.rpc.local';
const ROUTER_PORT = 8080;
const COLORS = `${GRPC_PACKAGE}.Colors`;
const SHAPES = `${GRPC_PACKAGE}.Shapes`;

/** route name → [priority, grpcRoute match, extra grpcRoute YAML]; each route targets the upstream of the same name. */
const ROUTES: Record<string, [number, string, string?]> = {
  'colors-mix': [10, `{ serviceName: ${COLORS}, methodName: Mix }`],
  colors: [20, `{ serviceName: ${COLORS} }`],
  'gold-tier': [
    5,
    `{ serviceName: ${SHAPES}, metadata: [{ name: x-tier, match: { exact: gold } }] }`,
    'retryPolicy: { maxRetries: 3, perRetryTimeout: { value: 2, unit: s }, grpcRetryEvents: [internal] }',
  ],
  'beta-users': [
    6,
    `{ serviceName: ${SHAPES}, metadata: [{ name: x-user, match: { prefix: beta- } }, { name: x-block, invert: true, match: { exact: 'yes' } }] }`,
  ],
  fallback: [1000, '{}'],
};

function meshYaml(upstreams: Record<string, GrpcUpstream>): string {
  return [
    `kind: Mesh\nname: ${MESH}\nspec: { egressFilter: { type: DROP_ALL } }\n`,
    `kind: VirtualNode\nmesh: ${MESH}\nname: client\nspec:\n  backends: [{ virtualService: { virtualServiceName: ${SERVICE} } }]\n`,
    ...Object.values(upstreams).map((u) => targetNodeYaml(MESH, u.name, u.port, 'grpc')),
    `kind: VirtualRouter\nmesh: ${MESH}\nname: api\nspec: { listeners: [{ portMapping: { port: ${ROUTER_PORT}, protocol: grpc } }] }\n`,
    ...Object.entries(ROUTES).map(
      ([name, [priority, match, extra]]) =>
        `kind: Route\nmesh: ${MESH}\nvirtualRouter: api\nname: ${name}\nspec:\n  priority: ${priority}\n  grpcRoute:\n    match: ${match}\n` +
        `    action: { weightedTargets: [{ virtualNode: ${name}, weight: 1 }] }\n${extra ? `    ${extra}\n` : ''}`,
    ),
    `kind: VirtualService\nmesh: ${MESH}\nname: ${SERVICE}\nspec: { provider: { virtualRouter: { virtualRouterName: api } } }\n`,
  ].join('---\n');
}

/** The server that answered, or `gRPC <status name>` when the call failed. */
function answeredBy(r: GrpcResult): string {
  return r.ok ? r.answer.server : `gRPC ${grpc.status[r.code]}`;
}

describeWithEnvoy('traffic gRPC: App Mesh grpcRoute matches through a real Envoy with a grpc-js client', (envoyBin) => {
  const upstreams: Record<string, GrpcUpstream> = {};
  let sidecar: Sidecar;
  let client: GrpcEgressClient;

  beforeAll(async () => {
    for (const name of Object.keys(ROUTES)) upstreams[name] = await startGrpcUpstream(name);
    sidecar = await startSidecar({
      envoyBin,
      meshYaml: meshYaml(upstreams),
      nodeId: NODE_ID,
      ready: grpcReady(`${SERVICE}:${ROUTER_PORT}`),
    });
    client = new GrpcEgressClient(sidecar.egressPort, `${SERVICE}:${ROUTER_PORT}`);
  }, 60000);

  afterAll(async () => {
    client?.close();
    await sidecar?.stop();
    for (const u of Object.values(upstreams)) await u.close();
  });

  beforeEach(() => Object.values(upstreams).forEach((u) => u.reset()));

  const cases: [string, GrpcServiceName, string, Record<string, string>, string][] = [
    ['service match', 'Colors', 'Pick', {}, 'colors'],
    ['service and method match outrank the service alone', 'Colors', 'Mix', {}, 'colors-mix'],
    ['another service falls through to the catch-all', 'Shapes', 'Pick', {}, 'fallback'],
    ['metadata exact', 'Shapes', 'Draw', { 'x-tier': 'gold' }, 'gold-tier'],
    ['metadata exact with another value', 'Shapes', 'Draw', { 'x-tier': 'silver' }, 'fallback'],
    ['metadata routes only for their service', 'Colors', 'Pick', { 'x-tier': 'gold' }, 'colors'],
    [
      'metadata prefix, and an inverted match seeing another value',
      'Shapes',
      'Pick',
      { 'x-user': 'beta-ann', 'x-block': 'no' },
      'beta-users',
    ],
    [
      'an inverted metadata match excludes its value',
      'Shapes',
      'Pick',
      { 'x-user': 'beta-ann', 'x-block': 'yes' },
      'fallback',
    ],
  ];

  it.each(cases)('%s', async (_what, service, method, metadata, expected) => {
    const r = await client.call(service, method, metadata);
    expect(answeredBy(r)).toBe(expected);
    if (r.ok) {
      // The upstream really served this service and method (Envoy did not rewrite the call).
      expect([r.answer.service, r.answer.method]).toEqual([`${GRPC_PACKAGE}.${service}`, method]);
      expect(upstreams[expected]!.calls).toHaveLength(1);
    }
  });

  it('passes request metadata through to the upstream', async () => {
    const r = await client.call('Shapes', 'Draw', { 'x-tier': 'gold', 'x-trace': 't-1' });
    expect(r.ok && r.answer.metadata['x-trace']).toBe('t-1');
  });

  it("retries UNAVAILABLE under App Mesh's default retry policy (route without one)", async () => {
    upstreams.colors!.failNext(1, grpc.status.UNAVAILABLE);
    const r = await client.call('Colors', 'Pick');
    expect(answeredBy(r)).toBe('colors');
    expect(upstreams.colors!.calls).toHaveLength(2);
  });

  it('does not retry INTERNAL under the default policy', async () => {
    upstreams.colors!.failNext(1, grpc.status.INTERNAL);
    expect(answeredBy(await client.call('Colors', 'Pick'))).toBe('gRPC INTERNAL');
    expect(upstreams.colors!.calls).toHaveLength(1);
  });

  it('retries INTERNAL under a user policy with grpcRetryEvents [internal], up to maxRetries 3', async () => {
    upstreams['gold-tier']!.failNext(2, grpc.status.INTERNAL);
    expect(answeredBy(await client.call('Shapes', 'Draw', { 'x-tier': 'gold' }))).toBe('gold-tier');
    expect(upstreams['gold-tier']!.calls).toHaveLength(3);

    upstreams['gold-tier']!.reset();
    upstreams['gold-tier']!.failNext(10, grpc.status.INTERNAL);
    expect(answeredBy(await client.call('Shapes', 'Draw', { 'x-tier': 'gold' }))).toBe('gRPC INTERNAL');
    expect(upstreams['gold-tier']!.calls).toHaveLength(4);
  });
});
