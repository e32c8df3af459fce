// Bad requests to the App Mesh API (src/api/), sent raw so that each can be exactly as broken as
// intended: each gets its exact AWS error type (in `x-amzn-ErrorType` and the body's `__type`),
// its HTTP status and a message naming what is wrong, and changes nothing in the store.
import { startApiServer, type ApiServer } from '../helpers/app-mesh-api-server';

const NODE_SPEC = {
  listeners: [{ portMapping: { port: 8080, protocol: 'http' } }],
  serviceDiscovery: { dns: { hostname: 'a.local' } },
};
const NODES = '/v20190125/meshes/m/virtualNodes';
const ARN = 'arn:aws:appmesh:us-east-1:123456789012:mesh/m';
const LONG = 'x'.repeat(256);
const body = (value: unknown) => JSON.stringify(value);

interface Case {
  readonly name: string;
  readonly method: string;
  readonly target: string;
  readonly body?: string | Buffer;
  readonly headers?: Record<string, string>;
  readonly status: number;
  readonly type: string;
  /** A piece of the message. */
  readonly says: string;
}

const CASES: readonly Case[] = [
  {
    name: 'an unknown path',
    method: 'GET',
    target: '/v20190125/nothing',
    status: 404,
    type: 'UnknownOperationException',
    says: '"/v20190125/nothing"',
  },
  {
    name: 'an unknown API version',
    method: 'GET',
    target: '/v20180101/meshes',
    status: 404,
    type: 'UnknownOperationException',
    says: 'no App Mesh operation',
  },
  {
    name: 'a method the path does not take',
    method: 'POST',
    target: '/v20190125/meshes',
    status: 405,
    type: 'UnknownOperationException',
    says: 'it takes GET, PUT',
  },
  {
    name: 'malformed JSON',
    method: 'PUT',
    target: '/v20190125/meshes',
    body: '{"meshName": "a",',
    status: 400,
    type: 'BadRequestException',
    says: 'not valid JSON',
  },
  {
    name: 'a JSON array for a body',
    method: 'PUT',
    target: '/v20190125/meshes',
    body: '[]',
    status: 400,
    type: 'BadRequestException',
    says: 'must be a JSON object, got a list',
  },
  {
    name: 'a body that is not UTF-8',
    method: 'PUT',
    target: '/v20190125/meshes',
    body: Buffer.from([0x7b, 0xff, 0x7d]),
    status: 400,
    type: 'BadRequestException',
    says: 'not valid UTF-8',
  },
  {
    name: 'a name of the wrong JSON type',
    method: 'PUT',
    target: '/v20190125/meshes',
    body: body({ meshName: 5 }),
    status: 400,
    type: 'BadRequestException',
    says: 'meshName: must be a string, got 5',
  },
  {
    name: 'a missing required name',
    method: 'PUT',
    target: NODES,
    body: body({ spec: NODE_SPEC }),
    status: 400,
    type: 'BadRequestException',
    says: 'virtualNodeName is required',
  },
  {
    name: 'a name too long in the body',
    method: 'PUT',
    target: NODES,
    body: body({ virtualNodeName: LONG, spec: NODE_SPEC }),
    status: 400,
    type: 'BadRequestException',
    says: 'virtualNodeName: must be 1–255 characters long, got 256',
  },
  {
    name: 'a name too long in the path',
    method: 'GET',
    target: `${NODES}/${LONG}`,
    status: 400,
    type: 'BadRequestException',
    says: 'virtualNodeName: must be 1–255 characters long, got 256',
  },
  {
    name: 'an empty name in the path',
    method: 'GET',
    target: '/v20190125/meshes/',
    status: 400,
    type: 'BadRequestException',
    says: 'meshName: must be 1–255 characters long, got 0',
  },
  {
    name: 'a missing spec',
    method: 'PUT',
    target: NODES,
    body: body({ virtualNodeName: 'a' }),
    status: 400,
    type: 'BadRequestException',
    says: 'spec is required',
  },
  {
    name: 'a spec that is not a mapping',
    method: 'PUT',
    target: NODES,
    body: body({ virtualNodeName: 'a', spec: 'x' }),
    status: 400,
    type: 'BadRequestException',
    says: 'spec: must be a mapping, got "x"',
  },
  {
    name: 'a spec that fails validation (named as meshd validate names it)',
    method: 'PUT',
    target: NODES,
    body: body({
      virtualNodeName: 'a',
      spec: { ...NODE_SPEC, listeners: [{ portMapping: { port: 0, protocol: 'http' } }] },
    }),
    status: 400,
    type: 'BadRequestException',
    says: 'spec.listeners[0].portMapping.port: must be a whole number from 1 to 65535, got 0',
  },
  {
    name: 'a misspelt spec field',
    method: 'PUT',
    target: NODES,
    body: body({ virtualNodeName: 'a', spec: { listners: [] } }),
    status: 400,
    type: 'BadRequestException',
    says: "spec.listners: unknown field 'listners'; did you mean 'listeners'?",
  },
  {
    name: 'a member the operation does not take',
    method: 'PUT',
    target: '/v20190125/meshes',
    body: body({ meshName: 'a', spce: {} }),
    status: 400,
    type: 'BadRequestException',
    says: "unknown member 'spce'; did you mean 'spec'?",
  },
  {
    name: 'tags of the wrong type',
    method: 'PUT',
    target: '/v20190125/meshes',
    body: body({ meshName: 'a', tags: { team: 'x' } }),
    status: 400,
    type: 'BadRequestException',
    says: 'tags: must be a list, got a mapping',
  },
  {
    name: 'a tag key twice',
    method: 'PUT',
    target: '/v20190125/meshes',
    body: body({
      meshName: 'a',
      tags: [
        { key: 'k', value: '1' },
        { key: 'k', value: '2' },
      ],
    }),
    status: 400,
    type: 'BadRequestException',
    says: 'tags[1].key: "k" is already tags[0].key',
  },
  {
    name: 'a clientToken of the wrong type',
    method: 'PUT',
    target: '/v20190125/meshes',
    body: body({ meshName: 'a', clientToken: 7 }),
    status: 400,
    type: 'BadRequestException',
    says: 'clientToken: must be a string, got 7',
  },
  {
    name: 'a clientToken with other characters',
    method: 'PUT',
    target: '/v20190125/meshes',
    body: body({ meshName: 'a', clientToken: 'a b' }),
    status: 400,
    type: 'BadRequestException',
    says: 'clientToken: must be up to 36 letters',
  },
  {
    name: 'limit 0',
    method: 'GET',
    target: `${NODES}?limit=0`,
    status: 400,
    type: 'BadRequestException',
    says: 'limit: must be a whole number from 1 to 100, got "0"',
  },
  {
    name: 'limit 101',
    method: 'GET',
    target: `${NODES}?limit=101`,
    status: 400,
    type: 'BadRequestException',
    says: 'from 1 to 100',
  },
  {
    name: 'limit 51 on ListTagsForResource',
    method: 'GET',
    target: `/v20190125/tags?resourceArn=${ARN}&limit=51`,
    status: 400,
    type: 'BadRequestException',
    says: 'from 1 to 50',
  },
  {
    name: 'a limit that is not a number',
    method: 'GET',
    target: '/v20190125/meshes?limit=ten',
    status: 400,
    type: 'BadRequestException',
    says: 'got "ten"',
  },
  {
    name: 'a forged nextToken',
    method: 'GET',
    target: '/v20190125/meshes?nextToken=eyJhZnRlciI6Im0ifQ',
    status: 400,
    type: 'BadRequestException',
    says: 'nextToken: not a token this meshd gave',
  },
  {
    name: 'a query parameter given twice',
    method: 'GET',
    target: `${NODES}?limit=1&limit=2`,
    status: 400,
    type: 'BadRequestException',
    says: '"limit" is given more than once',
  },
  {
    name: 'malformed percent-encoding in the path',
    method: 'GET',
    target: '/v20190125/meshes/%E0%A4%A',
    status: 400,
    type: 'BadRequestException',
    says: 'malformed percent-encoding',
  },
  {
    name: "a '..' path segment",
    method: 'GET',
    target: '/v20190125/meshes/m/virtualNodes/..',
    status: 400,
    type: 'BadRequestException',
    says: "'.' or '..' segment",
  },
  {
    name: 'a request target too long',
    method: 'GET',
    target: `/v20190125/meshes/${'a'.repeat(8200)}`,
    status: 400,
    type: 'BadRequestException',
    says: 'at most 8192',
  },
  {
    name: 'a meshOwner that is no account id',
    method: 'GET',
    target: '/v20190125/meshes/m?meshOwner=1234567890123',
    status: 400,
    type: 'BadRequestException',
    says: 'meshOwner: must be a 12-digit account id',
  },
  {
    name: "another account's meshOwner",
    method: 'GET',
    target: '/v20190125/meshes/m?meshOwner=999999999999',
    status: 404,
    type: 'NotFoundException',
    says: 'account 123456789012 only',
  },
  {
    name: 'an unknown mesh',
    method: 'GET',
    target: '/v20190125/meshes/nope',
    status: 404,
    type: 'NotFoundException',
    says: 'Mesh nope does not exist',
  },
  {
    name: 'a create in an unknown mesh',
    method: 'PUT',
    target: '/v20190125/meshes/nope/virtualNodes',
    body: body({ virtualNodeName: 'a', spec: NODE_SPEC }),
    status: 404,
    type: 'NotFoundException',
    says: 'Mesh nope does not exist',
  },
  {
    name: 'a list in an unknown router',
    method: 'GET',
    target: '/v20190125/meshes/m/virtualRouter/nope/routes',
    status: 404,
    type: 'NotFoundException',
    says: 'VirtualRouter nope does not exist',
  },
  {
    name: 'an update of an unknown node',
    method: 'PUT',
    target: `${NODES}/nope`,
    body: body({ spec: NODE_SPEC }),
    status: 404,
    type: 'NotFoundException',
    says: 'VirtualNode nope does not exist',
  },
  {
    name: 'a create of a name that exists',
    method: 'PUT',
    target: NODES,
    body: body({ virtualNodeName: 'vn', spec: NODE_SPEC }),
    status: 409,
    type: 'ConflictException',
    says: 'VirtualNode vn already exists',
  },
  {
    name: 'a delete of a mesh that holds resources',
    method: 'DELETE',
    target: '/v20190125/meshes/m',
    status: 409,
    type: 'ResourceInUseException',
    says: 'Mesh m cannot be deleted',
  },
  {
    name: 'If-Match on a Describe',
    method: 'GET',
    target: `${NODES}/vn`,
    headers: { 'if-match': '"1"' },
    status: 400,
    type: 'BadRequestException',
    says: 'only by Update and Delete',
  },
  {
    name: 'a malformed If-Match',
    method: 'DELETE',
    target: `${NODES}/vn`,
    headers: { 'if-match': '"1' },
    status: 400,
    type: 'BadRequestException',
    says: 'If-Match: expected one version',
  },
  {
    name: 'a stale If-Match',
    method: 'DELETE',
    target: `${NODES}/vn`,
    headers: { 'if-match': '"7"' },
    status: 409,
    type: 'ConflictException',
    says: 'is at version 1, but the request was based on version 7',
  },
  {
    name: 'a malformed resourceArn',
    method: 'GET',
    target: '/v20190125/tags?resourceArn=m',
    status: 400,
    type: 'BadRequestException',
    says: 'is not an App Mesh ARN',
  },
  {
    name: "another account's resourceArn",
    method: 'GET',
    target: '/v20190125/tags?resourceArn=arn:aws:appmesh:us-east-1:999999999999:mesh/m',
    status: 404,
    type: 'NotFoundException',
    says: "is not of this meshd's partition, region and account",
  },
  {
    name: 'a missing resourceArn',
    method: 'PUT',
    target: '/v20190125/tag',
    body: body({ tags: [] }),
    status: 400,
    type: 'BadRequestException',
    says: 'resourceArn is required',
  },
  {
    name: 'more than 50 tags',
    method: 'PUT',
    target: `/v20190125/tag?resourceArn=${ARN}`,
    body: body({ tags: Array.from({ length: 51 }, (_, i) => ({ key: `k${i}`, value: '' })) }),
    status: 400,
    type: 'TooManyTagsException',
    says: '51 tags',
  },
  {
    name: 'tagKeys that are not strings',
    method: 'PUT',
    target: `/v20190125/untag?resourceArn=${ARN}`,
    body: body({ tagKeys: [1] }),
    status: 400,
    type: 'BadRequestException',
    says: 'tagKeys[0]: must be a string, got 1',
  },
  {
    name: 'an oversized body',
    method: 'PUT',
    target: '/v20190125/meshes',
    body: Buffer.alloc(1024 * 1024 + 1, 0x20),
    status: 413,
    type: 'BadRequestException',
    says: 'larger than 1048576 bytes',
  },
];

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
