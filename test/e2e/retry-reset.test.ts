// App Mesh's `reset` retry condition on a real Envoy sidecar configured by meshd. App Mesh's API
// reference: server-error and gateway-error in httpRetryEvents each include Envoy's `reset`
// policy, so an upstream that resets the connection once (or stalls an attempt past
// perRetryTimeout) is retried; stream-error is refused-stream only; and App Mesh's default retry
// policy (routes without one, node-provided services) has no `reset`, so a reset answers 503.
// Each upstream resets (TCP RST, no answer) or stalls its first request and answers 200 after,
// and counts the attempts it saw.
import { describeWithEnvoy } from '../helpers/envoy';
import { answeredBy, startSidecar, targetNodeYaml, type Sidecar } from '../helpers/sidecar-harness';
import { startHttpUpstream, type HttpUpstream } from '../helpers/upstreams';

const MESH = 'resets';
const NODE_ID = `mesh/${MESH}/virtualNode/client`;
const ROUTED = 'svc.resets.local';
const DIRECT = 'direct.resets.local';

const NAMES = ['server', 'gateway', 'stream', 'stalled', 'plain', 'direct'] as const;
type Name = (typeof NAMES)[number];

function route(name: string, prefix: string, target: Name, retryPolicy?: string): string {
  return [
    `kind: Route\nmesh: ${MESH}\nvirtualRouter: svc\nname: ${name}\nspec:\n  httpRoute:\n`,
    `    match: { prefix: ${prefix} }\n`,
    `    action: { weightedTargets: [{ virtualNode: ${target}, weight: 1 }] }\n`,
    retryPolicy ? `    retryPolicy: ${retryPolicy}\n` : '',
  ].join('');
}

function meshYaml(u: Record<Name, HttpUpstream>): string {
  return [
    `kind: Mesh\nname: ${MESH}\n`,
    `kind: VirtualNode\nmesh: ${MESH}\nname: client\nspec:\n  backends: [{ virtualService: { virtualServiceName: ${ROUTED} } }, { virtualService: { virtualServiceName: ${DIRECT} } }]\n`,
    ...NAMES.map((n) => targetNodeYaml(MESH, n, u[n].port)),
    `kind: VirtualRouter\nmesh: ${MESH}\nname: svc\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n`,
    route(
      'server-error',
      '/server-error',
      'server',
      '{ maxRetries: 2, perRetryTimeout: { value: 5, unit: s }, httpRetryEvents: [server-error] }',
    ),
    route(
      'gateway-error',
      '/gateway-error',
      'gateway',
      '{ maxRetries: 2, perRetryTimeout: { value: 5, unit: s }, httpRetryEvents: [gateway-error] }',
    ),
    route(
      'stream-error',
      '/stream-error',
      'stream',
      '{ maxRetries: 2, perRetryTimeout: { value: 5, unit: s }, httpRetryEvents: [stream-error] }',
    ),
    route(
      'stalled',
      '/stalled',
      'stalled',
      '{ maxRetries: 1, perRetryTimeout: { value: 1000, unit: ms }, httpRetryEvents: [server-error] }',
    ),
    route('no-policy', '/', 'plain'),
    `kind: VirtualService\nmesh: ${MESH}\nname: ${ROUTED}\nspec: { provider: { virtualRouter: { virtualRouterName: svc } } }\n`,
    `kind: VirtualService\nmesh: ${MESH}\nname: ${DIRECT}\nspec: { provider: { virtualNode: { virtualNodeName: direct } } }\n`,
  ].join('---\n');
}

describeWithEnvoy("retries and Envoy's reset condition, as App Mesh mapped them, on a real Envoy", (envoyBin) => {
  const u = {} as Record<Name, HttpUpstream>;
  let sidecar: Sidecar;
  const get = (path: string, host = ROUTED) => sidecar.request(host, { path });

  beforeAll(async () => {
    for (const n of NAMES) u[n] = await startHttpUpstream(n);
    sidecar = await startSidecar({ envoyBin, meshYaml: meshYaml(u), nodeId: NODE_ID, ready: { host: ROUTED } });
    await sidecar.request(DIRECT); // both services are served before the first test
  }, 60000);

  afterAll(async () => {
    await sidecar?.stop();
    for (const n of NAMES) await u[n]?.close();
  });

  beforeEach(() => {
    for (const n of NAMES) u[n].reset();
  });

  describe('a user policy with server-error or gateway-error retries a reset connection', () => {
    it('server-error: the upstream resets the first attempt, the client gets the second attempt’s 200', async () => {
      u.server.resetNext(1);
      const r = await get('/server-error/a');
      expect(answeredBy(r)).toBe('server');
      expect(u.server.requests).toHaveLength(2);
    });

    it('gateway-error: the same', async () => {
      u.gateway.resetNext(1);
      const r = await get('/gateway-error/a');
      expect(answeredBy(r)).toBe('gateway');
      expect(u.gateway.requests).toHaveLength(2);
    });

    it('server-error retries an attempt cut off by perRetryTimeout (1000 ms): the stalled first attempt, then 200', async () => {
      u.stalled.stallNext(1, 8000); // would answer 200 after 8 s
      const r = await get('/stalled/a');
      expect(answeredBy(r)).toBe('stalled');
      expect(u.stalled.requests).toHaveLength(2);
    });
  });

  describe('no reset retry where App Mesh had none', () => {
    it('stream-error (refused stream only): one attempt, Envoy answers 503', async () => {
      u.stream.resetNext(1);
      const r = await get('/stream-error/a');
      expect(answeredBy(r)).toBe('HTTP 503');
      expect(u.stream.requests).toHaveLength(1);
    });

    it("a route without a policy (App Mesh's default): one attempt, Envoy answers 503", async () => {
      u.plain.resetNext(1);
      const r = await get('/a');
      expect(answeredBy(r)).toBe('HTTP 503');
      expect(r.body).toContain('reset');
      expect(u.plain.requests).toHaveLength(1);
    });

    it('a service provided directly by a virtual node (the default policy): one attempt, 503', async () => {
      u.direct.resetNext(1);
      const r = await get('/a', DIRECT);
      expect(answeredBy(r)).toBe('HTTP 503');
      expect(u.direct.requests).toHaveLength(1);
    });

    it('the default policy still retries an upstream 503 (the reset is the only change)', async () => {
      u.plain.failNext(1, 503);
      expect(answeredBy(await get('/b'))).toBe('plain');
      expect(u.plain.requests).toHaveLength(2);
    });
  });
});
