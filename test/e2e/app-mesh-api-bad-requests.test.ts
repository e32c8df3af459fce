// Bad App Mesh API requests to a running `meshd serve` over the files-backed store: the shared
// table of test/helpers/app-mesh-bad-requests.ts (unknown mesh, wrong JSON types, specs failing
// validation, missing members, names too long, unknown paths, malformed JSON, an oversized body, ...)
// plus what only the file store checks (cross-references, the user's read-only files), and signatures
// with the wrong secret when meshd runs with --api-credentials. Each gets its AWS error type (in
// x-amzn-ErrorType and __type) and HTTP status, and changes nothing: every file of the store (the
// mesh folder with .meshd-api/, and meshd's state folder) is the same, byte for byte, before and after.
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import { CreateMeshCommand, ListMeshesCommand } from '@aws-sdk/client-app-mesh';
import { badRequests, body, NODE_SPEC, NODES, type BadRequest } from '../helpers/app-mesh-bad-requests';
import { fileDifferences, filesUnder, startApiMeshd, type ApiMeshd, type RawAnswer } from '../helpers/meshd-api';

const ACCOUNT = '000000000000';
const USER_FILE = `kind: Mesh
name: files
spec: {}
---
kind: VirtualNode
mesh: files
name: web
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
  serviceDiscovery: { dns: { hostname: web.files.local } }
`;

/** What only a store that loads the whole mesh refuses, and the user's read-only files. */
const FILE_STORE_CASES: readonly BadRequest[] = [
  {
    name: 'a route to a virtual node that does not exist (a cross-reference)',
    method: 'PUT',
    target: '/v20190125/meshes/m/virtualRouter/vr/routes',
    body: body({
      routeName: 'r',
      spec: {
        httpRoute: { match: { prefix: '/' }, action: { weightedTargets: [{ virtualNode: 'ghost', weight: 1 }] } },
      },
    }),
    status: 400,
    type: 'BadRequestException',
    says: "virtual node 'ghost' is not defined in mesh 'm'",
  },
  {
    name: 'a virtual service provided by a router that does not exist',
    method: 'PUT',
    target: '/v20190125/meshes/m/virtualServices',
    body: body({
      virtualServiceName: 's.m.local',
      spec: { provider: { virtualRouter: { virtualRouterName: 'ghost' } } },
    }),
    status: 400,
    type: 'BadRequestException',
    says: 'ghost',
  },
  {
    name: 'an update that would leave a port the wrong JSON type',
    method: 'PUT',
    target: `${NODES}/vn`,
    body: body({ spec: { ...NODE_SPEC, listeners: [{ portMapping: { port: '8080', protocol: 'http' } }] } }),
    status: 400,
    type: 'BadRequestException',
    says: 'spec.listeners[0].portMapping.port',
  },
  {
    name: "an update of a resource defined in the user's file",
    method: 'PUT',
    target: '/v20190125/meshes/files/virtualNodes/web',
    body: body({ spec: NODE_SPEC }),
    status: 403,
    type: 'ForbiddenException',
    says: 'files.yaml',
  },
  {
    name: "a delete of the user's mesh",
    method: 'DELETE',
    target: '/v20190125/meshes/files',
    status: 403,
    type: 'ForbiddenException',
    says: 'read-only through the API',
  },
  {
    name: 'a list in an unknown mesh',
    method: 'GET',
    target: '/v20190125/meshes/nope/virtualRouters',
    status: 404,
    type: 'NotFoundException',
    says: 'nope does not exist',
  },
];

// An unknown API version (/v20180101/...) is not the App Mesh API's to answer on the admin port: only
// /v20190125/ is routed to it, and the admin server answers its own 404 for other paths.
const CASES = [
  ...badRequests(ACCOUNT, (kind, name) => `${kind}/${name}`).filter((c) => !c.target.startsWith('/v20180101/')),
  ...FILE_STORE_CASES,
];

function expectRefusal(answer: RawAnswer, c: { status: number; type: string; says: string }): void {
  expect({ status: answer.status, header: answer.headers['x-amzn-errortype'], type: answer.body.__type }).toEqual({
    status: c.status,
    header: c.type,
    type: c.type,
  });
  expect(String(answer.body.message ?? answer.body.Message)).toEqual(expect.stringContaining(c.says));
}

describe('bad requests to meshd serve change no file of the store', () => {
  let meshd: ApiMeshd;
  const files = () => filesUnder(meshd.meshDir, meshd.stateDir);

  beforeAll(async () => {
    meshd = await startApiMeshd({ files: { 'files.yaml': USER_FILE } });
    // The resources the cases name: mesh m with node vn (version 1) and router vr, all through the API.
    const put = async (target: string, value: unknown) =>
      expect((await meshd.request('PUT', target, body(value))).status).toBe(200);
    await put('/v20190125/meshes', { meshName: 'm' });
    await put(NODES, { virtualNodeName: 'vn', spec: NODE_SPEC });
    await put('/v20190125/meshes/m/virtualRouters', {
      virtualRouterName: 'vr',
      spec: { listeners: NODE_SPEC.listeners },
    });
  }, 30000);

  afterAll(async () => {
    await meshd?.stop();
  });

  it(`has at least 40 cases (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const before = files();
    expect([...before.keys()].some((f) => f.includes('.meshd-api'))).toBe(true);
    const answer = await meshd.request(c.method, c.target, c.body, c.headers);
    expectRefusal(answer, c);
    expect(fileDifferences(before, files())).toEqual([]);
  });

  it('meshd is still serving the same resources afterwards', async () => {
    const node = await meshd.request('GET', `${NODES}/vn`);
    expect(node.status).toBe(200);
    expect((node.body.metadata as { version: number }).version).toBe(1);
    expect(meshd.logs()).not.toMatch(/internal error|a handler failed/);
  });
});

describe('with --api-credentials, a wrong signature changes nothing', () => {
  const KEY = { accessKeyId: 'AKIDMESHDTEST', secretAccessKey: 'the-right-secret' };
  let meshd: ApiMeshd;
  const files = () => filesUnder(meshd.meshDir, meshd.stateDir);

  /** A raw request signed (SigV4, service appmesh) with `credentials`; `tamper` changes it after signing. */
  async function signed(
    credentials: { accessKeyId: string; secretAccessKey: string },
    method: string,
    target: string,
    text: string | undefined,
    tamper: (r: { headers: Record<string, string>; body: string | undefined }) => void = () => undefined,
  ): Promise<RawAnswer> {
    const signer = new SignatureV4({
      service: 'appmesh',
      region: 'us-east-1',
      credentials,
      sha256: Hash.bind(null, 'sha256'),
    });
    const request = await signer.sign({
      method,
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: meshd.adminPort,
      path: target,
      query: {},
      headers: {
        host: `127.0.0.1:${meshd.adminPort}`,
        ...(text !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(text !== undefined ? { body: text } : {}),
    });
    const sent = { headers: { ...(request.headers as Record<string, string>) }, body: text };
    tamper(sent);
    return meshd.request(method, target, sent.body, sent.headers);
  }

  beforeAll(async () => {
    meshd = await startApiMeshd({
      files: { 'files.yaml': USER_FILE },
      args: ['--api-credentials', `${KEY.accessKeyId}:${KEY.secretAccessKey}`],
    });
    expect((await signed(KEY, 'PUT', '/v20190125/meshes', body({ meshName: 'm' }))).status).toBe(200);
  }, 30000);

  afterAll(async () => {
    await meshd?.stop();
  });

  const create = body({ meshName: 'intruder' });
  const cases: [string, () => Promise<RawAnswer>, number, string][] = [
    [
      'a signature with the wrong secret',
      () => signed({ ...KEY, secretAccessKey: 'a-wrong-secret' }, 'PUT', '/v20190125/meshes', create),
      403,
      'InvalidSignatureException',
    ],
    [
      'a delete signed with the wrong secret',
      () => signed({ ...KEY, secretAccessKey: 'a-wrong-secret' }, 'DELETE', '/v20190125/meshes/m', undefined),
      403,
      'InvalidSignatureException',
    ],
    [
      'an unknown access key id',
      () => signed({ ...KEY, accessKeyId: 'AKIDSOMEONEELSE' }, 'PUT', '/v20190125/meshes', create),
      403,
      'UnrecognizedClientException',
    ],
    [
      'the body changed after signing',
      () =>
        signed(KEY, 'PUT', '/v20190125/meshes', create, (r) => {
          r.body = body({ meshName: 'other' });
        }),
      403,
      'InvalidSignatureException',
    ],
    [
      'no signature at all',
      () => meshd.request('PUT', '/v20190125/meshes', create),
      403,
      'MissingAuthenticationTokenException',
    ],
  ];

  it.each(cases)('%s', async (_, send, status, type) => {
    const before = files();
    const answer = await send();
    expect({ status: answer.status, header: answer.headers['x-amzn-errortype'], type: answer.body.__type }).toEqual({
      status,
      header: type,
      type,
    });
    expect(fileDifferences(before, files())).toEqual([]);
  });

  it('the SDK with the wrong secret is refused, with the right one it is served', async () => {
    const before = files();
    const wrong = meshd.client({ ...KEY, secretAccessKey: 'a-wrong-secret' });
    await expect(wrong.send(new CreateMeshCommand({ meshName: 'intruder' }))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
      $metadata: { httpStatusCode: 403 },
    });
    expect(fileDifferences(before, files())).toEqual([]);
    const right = meshd.client(KEY);
    const meshes = await right.send(new ListMeshesCommand({}));
    expect(meshes.meshes!.map((m) => m.meshName).sort()).toEqual(['files', 'm']);
  });
});
