// HTTP route matching end to end: one router whose routes match on headers (every App Mesh
// header match kind), path prefix / exact / regex, method and query parameters, each sending
// to its own upstream app. A real Envoy sidecar, configured by meshd, must pick the upstream a
// migrating App Mesh user expects, in App Mesh priority order.
import { describeWithEnvoy } from '../helpers/envoy';
import {
  answeredBy,
  startSidecar,
  targetNodeYaml,
  type RequestOptions,
  type Sidecar,
} from '../helpers/sidecar-harness';
import { startHttpUpstream, type HttpUpstream } from '../helpers/upstreams';

const MESH = 'routing';
const NODE_ID = `mesh/${MESH}/virtualNode/client`;
const SERVICE = 'shop.routing.local';

/** route name → [priority, match (YAML flow mapping)]; each route targets the upstream of the same name. */
const ROUTES: Record<string, [number, string]> = {
  // Declared before the route that outranks it, so file order cannot explain the winner.
  'prio-low': [41, '{ prefix: /prio/specific }'],
  'prio-high': [40, '{ prefix: /prio }'],
  'hdr-exact': [10, '{ prefix: /, headers: [{ name: x-variant, match: { exact: blue } }] }'],
  'hdr-prefix': [11, '{ prefix: /, headers: [{ name: x-variant, match: { prefix: gre } }] }'],
  'hdr-suffix': [12, '{ prefix: /, headers: [{ name: x-variant, match: { suffix: -beta } }] }'],
  'hdr-regex': [13, "{ prefix: /, headers: [{ name: x-variant, match: { regex: 'v[0-9]+' } }] }"],
  'hdr-range': [14, '{ prefix: /, headers: [{ name: x-version, match: { range: { start: 10, end: 20 } } }] }'],
  'hdr-invert': [15, '{ prefix: /invert, headers: [{ name: x-env, invert: true, match: { exact: prod } }] }'],
  'hdr-present': [16, '{ prefix: /, headers: [{ name: x-debug }] }'],
  'path-exact': [20, '{ path: { exact: /exact } }'],
  'path-regex': [21, "{ path: { regex: '/items/[0-9]+' } }"],
  'path-prefix': [22, '{ prefix: /api/ }'],
  'method-post': [30, '{ prefix: /, method: POST }'],
  'query-red': [31, '{ prefix: /, queryParameters: [{ name: color, match: { exact: red } }] }'],
  fallback: [1000, '{ prefix: / }'],
};

function meshYaml(upstreams: Record<string, HttpUpstream>, routes = ROUTES): string {
  const docs = [
    `kind: Mesh\nname: ${MESH}\nspec: { egressFilter: { type: DROP_ALL } }\n`,
    `kind: VirtualNode\nmesh: ${MESH}\nname: client\nspec:\n  backends: [{ virtualService: { virtualServiceName: ${SERVICE} } }]\n`,
    ...Object.values(upstreams).map((u) => targetNodeYaml(MESH, u.name, u.port)),
    `kind: VirtualRouter\nmesh: ${MESH}\nname: shop\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n`,
    ...Object.entries(routes).map(
      ([name, [priority, match]]) =>
        `kind: Route\nmesh: ${MESH}\nvirtualRouter: shop\nname: ${name}\nspec:\n  priority: ${priority}\n  httpRoute:\n    match: ${match}\n    action: { weightedTargets: [{ virtualNode: ${name}, weight: 1 }] }\n`,
    ),
    `kind: VirtualService\nmesh: ${MESH}\nname: ${SERVICE}\nspec: { provider: { virtualRouter: { virtualRouterName: shop } } }\n`,
  ];
  return docs.join('---\n');
}

describeWithEnvoy('traffic routing: App Mesh HTTP route matches on a real Envoy', (envoyBin) => {
  const upstreams: Record<string, HttpUpstream> = {};
  let sidecar: Sidecar;

  beforeAll(async () => {
    for (const name of Object.keys(ROUTES)) upstreams[name] = await startHttpUpstream(name);
    sidecar = await startSidecar({
      envoyBin,
      meshYaml: meshYaml(upstreams),
      nodeId: NODE_ID,
      ready: { host: SERVICE },
    });
  }, 60000);

  afterAll(async () => {
    await sidecar?.stop();
    for (const u of Object.values(upstreams)) await u.close();
  });

  const via = async (opts: RequestOptions, host = SERVICE) => answeredBy(await sidecar.request(host, opts));

  const cases: [string, RequestOptions, string][] = [
    ['no route but the catch-all matches', { path: '/' }, 'fallback'],
    ['header exact', { path: '/', headers: { 'x-variant': 'blue' } }, 'hdr-exact'],
    ['header exact is not a prefix match', { path: '/', headers: { 'x-variant': 'bluebird' } }, 'fallback'],
    ['header prefix', { path: '/', headers: { 'x-variant': 'green' } }, 'hdr-prefix'],
    ['header suffix', { path: '/', headers: { 'x-variant': 'red-beta' } }, 'hdr-suffix'],
    ['header regex (whole value)', { path: '/', headers: { 'x-variant': 'v42' } }, 'hdr-regex'],
    ['header regex does not match part of a value', { path: '/', headers: { 'x-variant': 'v42x' } }, 'fallback'],
    ['header range includes start', { path: '/', headers: { 'x-version': '10' } }, 'hdr-range'],
    ['header range inside', { path: '/', headers: { 'x-version': '19' } }, 'hdr-range'],
    ['header range excludes end', { path: '/', headers: { 'x-version': '20' } }, 'fallback'],
    [
      'inverted header match: another value matches',
      { path: '/invert', headers: { 'x-env': 'staging' } },
      'hdr-invert',
    ],
    ['inverted header match: the named value does not', { path: '/invert', headers: { 'x-env': 'prod' } }, 'fallback'],
    ['header present (no match given)', { path: '/anything', headers: { 'x-debug': '1' } }, 'hdr-present'],
    ['path exact', { path: '/exact' }, 'path-exact'],
    ['path exact ignores the query string', { path: '/exact?page=2' }, 'path-exact'],
    ['path exact is not a prefix', { path: '/exact/more' }, 'fallback'],
    ['path regex', { path: '/items/42' }, 'path-regex'],
    ['path regex matches the whole path', { path: '/items/42/reviews' }, 'fallback'],
    ['path prefix', { path: '/api/orders' }, 'path-prefix'],
    ['path prefix needs the whole prefix', { path: '/apiary' }, 'fallback'],
    ['method POST', { path: '/orders', method: 'POST' }, 'method-post'],
    ['method GET does not match a POST route', { path: '/orders', method: 'GET' }, 'fallback'],
    ['query parameter exact', { path: '/search?color=red' }, 'query-red'],
    ['query parameter among others', { path: '/search?size=9&color=red' }, 'query-red'],
    ['query parameter with another value', { path: '/search?color=blue' }, 'fallback'],
    ['priority beats a longer prefix (and file order)', { path: '/prio/specific' }, 'prio-high'],
    [
      'priority: a header route (10) outranks a path route (20)',
      { path: '/exact', headers: { 'x-variant': 'blue' } },
      'hdr-exact',
    ],
  ];

  it.each(cases)('%s', async (_what, request, expected) => {
    expect(await via(request)).toBe(expected);
  });

  it('routes by the virtual service name with or without the router port in Host', async () => {
    expect(await via({ path: '/exact' }, `${SERVICE}:8080`)).toBe('path-exact');
    expect(await via({ path: '/exact' }, 'unknown.routing.local')).toBe('HTTP 404');
  });

  it('passes the request through unchanged (method, path, headers)', async () => {
    const r = await sidecar.request(SERVICE, {
      path: '/api/orders?id=7',
      method: 'POST',
      headers: { 'x-trace': 'abc' },
    });
    // POST outranks nothing here: /api/ (22) comes before method (30).
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body) as {
      server: string;
      method: string;
      path: string;
      headers: Record<string, string>;
    };
    expect(body).toMatchObject({ server: 'path-prefix', method: 'POST', path: '/api/orders?id=7' });
    expect(body.headers['x-trace']).toBe('abc');
  });

  it('sent every request to exactly the upstream named above (no stray traffic)', () => {
    expect(upstreams['prio-low']!.requests).toHaveLength(0);
    expect(upstreams['hdr-exact']!.requests.map((r) => r.headers['x-variant'])).toEqual(['blue', 'blue']);
  });

  it('follows a priority change made in the mesh file', async () => {
    await sidecar.updateMesh(meshYaml(upstreams, { ...ROUTES, 'prio-high': [42, ROUTES['prio-high']![1]] }));
    expect(await via({ path: '/prio/specific' })).toBe('prio-low');
    expect(await via({ path: '/prio/other' })).toBe('prio-high');
  });
});
