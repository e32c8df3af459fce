// App Mesh's Envoys accepted route regexes up to RE2 program size 1000, where Envoy's own
// default refuses anything over 100. A sidecar bootstrapped by `meshd bootstrap` (App Mesh's
// runtime layer) must accept a path regex and a header regex of sizes between the two, and
// route requests by them.
import { describeWithEnvoy } from '../helpers/envoy';
import { envoyRegexError } from '../helpers/envoy-regex';
import { answeredBy, startSidecar, targetNodeYaml, type Sidecar } from '../helpers/sidecar-harness';
import { startHttpUpstream, type HttpUpstream } from '../helpers/upstreams';
import { re2ProgramSize } from '../../src/model/re2/program';

const MESH = 'regexes';
const NODE_ID = `mesh/${MESH}/virtualNode/client`;
const SERVICE = 'shop.regexes.local';
const PATH_REGEX = '/orders/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(/items/[0-9]{1,20})?';
const HEADER_REGEX = '(?i)(?:iphone|ipad|android)[ /][0-9._]{1,40}';

const ROUTES: Record<string, [number, string]> = {
  'by-path': [1, `{ path: { regex: '${PATH_REGEX}' } }`],
  'by-header': [2, `{ prefix: /, headers: [{ name: x-device, match: { regex: '${HEADER_REGEX}' } }] }`],
  fallback: [1000, '{ prefix: / }'],
};

function meshYaml(upstreams: Record<string, HttpUpstream>): string {
  return [
    `kind: Mesh\nname: ${MESH}\n`,
    `kind: VirtualNode\nmesh: ${MESH}\nname: client\nspec:\n  backends: [{ virtualService: { virtualServiceName: ${SERVICE} } }]\n`,
    ...Object.values(upstreams).map((u) => targetNodeYaml(MESH, u.name, u.port)),
    `kind: VirtualRouter\nmesh: ${MESH}\nname: shop\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n`,
    ...Object.entries(ROUTES).map(
      ([name, [priority, match]]) =>
        `kind: Route\nmesh: ${MESH}\nvirtualRouter: shop\nname: ${name}\nspec:\n  priority: ${priority}\n  httpRoute:\n    match: ${match}\n    action: { weightedTargets: [{ virtualNode: ${name}, weight: 1 }] }\n`,
    ),
    `kind: VirtualService\nmesh: ${MESH}\nname: ${SERVICE}\nspec: { provider: { virtualRouter: { virtualRouterName: shop } } }\n`,
  ].join('---\n');
}

describeWithEnvoy("route regexes between Envoy's default limit (100) and App Mesh's (1000)", (envoyBin) => {
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

  it.each([PATH_REGEX, HEADER_REGEX])(
    '%s: Envoy with its default limit refuses it, with the size meshd computes',
    (regex) => {
      const size = re2ProgramSize(regex);
      if (!size.ok) throw new Error(size.error);
      expect(size.size).toBeGreaterThan(100);
      expect(size.size).toBeLessThanOrEqual(1000);
      expect(envoyRegexError(envoyBin, regex, 100)).toContain(
        `RE2 program size of ${size.size} > max program size of 100`,
      );
      expect(envoyRegexError(envoyBin, regex, 1000)).toBeUndefined();
    },
  );

  const via = async (path: string, headers: Record<string, string> = {}) =>
    answeredBy(await sidecar.request(SERVICE, { path, headers }));

  it('routes by the path regex', async () => {
    expect(await via('/orders/0123abcd-4567-89ab-cdef-0123456789ab')).toBe('by-path');
    expect(await via('/orders/0123abcd-4567-89ab-cdef-0123456789ab/items/42')).toBe('by-path');
    expect(await via('/orders/0123abcd-4567-89ab-cdef-0123456789aZ')).toBe('fallback');
  });

  it('routes by the header regex', async () => {
    expect(await via('/', { 'x-device': 'iPhone 17.1.2' })).toBe('by-header');
    expect(await via('/', { 'x-device': 'Android/14' })).toBe('by-header');
    expect(await via('/', { 'x-device': 'Nokia 3310' })).toBe('fallback');
  });
});
