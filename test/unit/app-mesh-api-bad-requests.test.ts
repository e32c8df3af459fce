// Bad requests to the App Mesh API (src/api/), sent raw so that each can be exactly as broken as
// intended: each gets its exact AWS error type (in `x-amzn-ErrorType` and the body's `__type`),
// its HTTP status and a message naming what is wrong, and changes nothing in the store.
import { ACCOUNT, startApiServer, type ApiServer } from '../helpers/app-mesh-api-server';
import { badRequests, body, NODE_SPEC, NODES } from '../helpers/app-mesh-bad-requests';

const CASES = badRequests(ACCOUNT.accountId, (kind, name) => `${kind} ${name}`);

let api: ApiServer;
beforeAll(async () => {
  api = await startApiServer();
  // The resources the cases name: mesh m with node vn (version 1) and router vr.
  const put = async (target: string, value: unknown) =>
    expect((await api.request('PUT', target, body(value))).status).toBe(200);
  await put('/v20190125/meshes', { meshName: 'm' });
  await put(NODES, { virtualNodeName: 'vn', spec: NODE_SPEC });
  await put('/v20190125/meshes/m/virtualRouters', {
    virtualRouterName: 'vr',
    spec: { listeners: NODE_SPEC.listeners },
  });
});
afterAll(async () => {
  await api.close();
});

it(`has at least 40 cases (${CASES.length})`, () => {
  expect(CASES.length).toBeGreaterThanOrEqual(40);
});

it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, c) => {
  const before = api.store.snapshot();
  const writes = api.store.writes;
  const answer = await api.request(c.method, c.target, c.body, c.headers);
  expect({ status: answer.status, header: answer.headers['x-amzn-errortype'], type: answer.body.__type }).toEqual({
    status: c.status,
    header: c.type,
    type: c.type,
  });
  expect(answer.body.message).toEqual(expect.stringContaining(c.says));
  expect(answer.headers['x-amzn-requestid']).toEqual(expect.any(String));
  expect(api.store.snapshot()).toEqual(before);
  expect(api.store.writes).toBe(writes);
});

it('a 405 names the methods the path takes in Allow', async () => {
  const answer = await api.request('POST', '/v20190125/meshes/m');
  expect(answer.headers.allow).toBe('DELETE, GET, PUT');
});

it("a nextToken from another list (another mesh's) is refused", async () => {
  await api.request('PUT', '/v20190125/meshes', body({ meshName: 'm2' }));
  for (let i = 0; i < 3; i++)
    await api.request('PUT', '/v20190125/meshes/m2/virtualNodes', body({ virtualNodeName: `n${i}`, spec: NODE_SPEC }));
  const page = await api.request('GET', '/v20190125/meshes/m2/virtualNodes?limit=1');
  const token = page.body.nextToken as string;
  expect(typeof token).toBe('string');
  expect((await api.request('GET', `/v20190125/meshes/m2/virtualNodes?limit=1&nextToken=${token}`)).status).toBe(200);
  const foreign = await api.request('GET', `${NODES}?limit=1&nextToken=${token}`);
  expect([foreign.status, foreign.body.__type]).toEqual([400, 'BadRequestException']);
  const edited = await api.request(
    'GET',
    `/v20190125/meshes/m2/virtualNodes?limit=1&nextToken=${token.replace(/^./, 'A')}`,
  );
  expect([edited.status, edited.body.__type]).toEqual([400, 'BadRequestException']);
});
