// The App Mesh API handler (src/api/) over the in-memory store, on a loopback server, driven by
// the real @aws-sdk/client-app-mesh: all 38 operations with the answers the SDK reads, List
// pagination over 250 resources, clientToken replay and conflict, and meshd's If-Match/ETag
// extension; then bad requests sent raw, each with its exact AWS error type and HTTP status,
// and each leaving the store as it was.
import * as sdk from '@aws-sdk/client-app-mesh';
import {
  ConflictException,
  CreateMeshCommand,
  CreateRouteCommand,
  DescribeRouteCommand,
  ListVirtualNodesCommand,
  paginateListVirtualNodes,
  UpdateRouteCommand,
  type AppMeshClient,
} from '@aws-sdk/client-app-mesh';
import { OPERATIONS } from '../../src/api/operations';
import { parseNodeId } from '../../src/model/node-id';
import { ACCOUNT, startApiServer, type ApiServer } from '../helpers/app-mesh-api-server';
import { MemoryStore } from '../helpers/memory-store';

const LISTENER = { portMapping: { port: 8080, protocol: 'http' } };
const SPECS = {
  Mesh: { egressFilter: { type: 'ALLOW_ALL' } },
  VirtualNode: { listeners: [LISTENER], serviceDiscovery: { dns: { hostname: 'vn.local' } } },
  VirtualRouter: { listeners: [LISTENER] },
  Route: { httpRoute: { match: { prefix: '/' }, action: { weightedTargets: [{ virtualNode: 'vn', weight: 1 }] } } },
  VirtualService: { provider: { virtualRouter: { virtualRouterName: 'vr' } } },
  VirtualGateway: { listeners: [LISTENER] },
  GatewayRoute: {
    httpRoute: { match: { prefix: '/' }, action: { target: { virtualService: { virtualServiceName: 'svc.local' } } } },
  },
} as const;
/** Each kind's names; the virtual service's has dots, as App Mesh's walkthroughs name them. */
const NAMES = {
  Mesh: { meshName: 'm' },
  VirtualNode: { meshName: 'm', virtualNodeName: 'vn' },
  VirtualRouter: { meshName: 'm', virtualRouterName: 'vr' },
  Route: { meshName: 'm', virtualRouterName: 'vr', routeName: 'r' },
  VirtualService: { meshName: 'm', virtualServiceName: 'svc.local' },
  VirtualGateway: { meshName: 'm', virtualGatewayName: 'vg' },
  GatewayRoute: { meshName: 'm', virtualGatewayName: 'vg', gatewayRouteName: 'gr' },
} as const;
type Kind = keyof typeof NAMES;
/** Creation order (parents first); deletion runs it backwards. */
const KINDS: readonly Kind[] = [
  'Mesh',
  'VirtualNode',
  'VirtualRouter',
  'Route',
  'VirtualService',
  'VirtualGateway',
  'GatewayRoute',
];
/** The SDK's output member: `virtualNode`, `route`, ... */
const outputMember = (kind: Kind) => kind[0]!.toLowerCase() + kind.slice(1);

/** Sends the operation `name` through the SDK's own command class. */
async function send(client: AppMeshClient, name: string, input: object): Promise<Record<string, unknown>> {
  const Command = (sdk as unknown as Record<string, new (input: object) => never>)[`${name}Command`]!;
  return (await client.send(new Command(input))) as unknown as Record<string, unknown>;
}

/** meshd's optimistic-concurrency extension, as an SDK user adds it: If-Match, signed with the request. */
function withIfMatch<T extends { middlewareStack: { add: (...a: never[]) => void } }>(command: T, version: number): T {
  (command.middlewareStack.add as (m: unknown, o: unknown) => void)(
    (next: (args: unknown) => unknown) => async (args: { request: { headers: Record<string, string> } }) => {
      args.request.headers['if-match'] = `"${version}"`;
      return next(args);
    },
    { step: 'build', name: 'meshdIfMatch' },
  );
  return command;
}

let api: ApiServer;
beforeEach(async () => {
  api = await startApiServer();
});
afterEach(async () => {
  await api.close();
});

describe('every operation through @aws-sdk/client-app-mesh', () => {
  it('creates, describes, lists, updates, tags and deletes each of the seven kinds', async () => {
    const called = new Set<string>();
    const call = async (name: string, input: object) => {
      called.add(name);
      return send(api.client, name, input);
    };
    for (const kind of KINDS) {
      const created = await call(`Create${kind}`, {
        ...NAMES[kind],
        spec: SPECS[kind],
        tags: [{ key: 'team', value: 'a' }],
      });
      const data = created[outputMember(kind)] as {
        metadata: Record<string, unknown>;
        status: { status: string };
        spec: unknown;
      };
      expect(data).toMatchObject({ ...NAMES[kind], spec: SPECS[kind], status: { status: 'ACTIVE' } });
      expect(data.metadata).toMatchObject({
        version: 1,
        meshOwner: ACCOUNT.accountId,
        resourceOwner: ACCOUNT.accountId,
      });
      expect(data.metadata.createdAt).toBeInstanceOf(Date);
      expect(typeof data.metadata.uid).toBe('string');
    }
    for (const kind of KINDS) {
      const described = await call(`Describe${kind}`, NAMES[kind]);
      expect(described[outputMember(kind)]).toMatchObject({ ...NAMES[kind], metadata: { version: 1 } });
      const entries = Object.entries(NAMES[kind]);
      const [ownMember, ownName] = entries.at(-1)!;
      const listed = await call(
        `List${kind === 'Mesh' ? 'Meshes' : `${kind}s`}`,
        Object.fromEntries(entries.slice(0, -1)),
      );
      const refs = listed[kind === 'Mesh' ? 'meshes' : `${outputMember(kind)}s`];
      expect(refs).toEqual([expect.objectContaining({ [ownMember]: ownName, version: 1, arn: expect.any(String) })]);
      const updated = await call(`Update${kind}`, { ...NAMES[kind], spec: SPECS[kind] });
      expect(updated[outputMember(kind)]).toMatchObject({ metadata: { version: 2 } });
      const arn = (described[outputMember(kind)] as { metadata: { arn: string } }).metadata.arn;
      await call('TagResource', { resourceArn: arn, tags: [{ key: 'env', value: 'test' }] });
      await call('UntagResource', { resourceArn: arn, tagKeys: ['team'] });
      expect((await call('ListTagsForResource', { resourceArn: arn })).tags).toEqual([{ key: 'env', value: 'test' }]);
    }
    for (const kind of [...KINDS].reverse()) {
      const deleted = await call(`Delete${kind}`, NAMES[kind]);
      expect(deleted[outputMember(kind)]).toMatchObject({ metadata: { version: 2 }, status: { status: 'DELETED' } });
    }
    expect([...called].sort()).toEqual(OPERATIONS.map((o) => o.name).sort());
    expect(api.store.records.size).toBe(0);
  });

  it("answers ARNs as App Mesh writes them (a node's is a node id meshd reads), timestamps as epoch seconds with milliseconds", async () => {
    await api.close();
    api = await startApiServer({}, new MemoryStore(() => 1_763_810_109_522));
    await api.client.send(new CreateMeshCommand({ meshName: 'm' }));
    await send(api.client, 'CreateVirtualRouter', { ...NAMES.VirtualRouter, spec: SPECS.VirtualRouter });
    await send(api.client, 'CreateRoute', { ...NAMES.Route, spec: SPECS.Route });
    const raw = await api.request('GET', '/v20190125/meshes/m/virtualRouter/vr/routes/r');
    expect(raw.body.metadata).toMatchObject({
      arn: 'arn:aws:appmesh:us-east-1:123456789012:mesh/m/virtualRouter/vr/route/r',
      createdAt: 1763810109.522,
      lastUpdatedAt: 1763810109.522,
    });
    expect(raw.body).not.toHaveProperty('route'); // the body is the RouteData itself (@httpPayload)
    const node = await send(api.client, 'CreateVirtualNode', { ...NAMES.VirtualNode, spec: SPECS.VirtualNode });
    const arn = (node.virtualNode as { metadata: { arn: string } }).metadata.arn;
    expect(parseNodeId(arn)).toEqual({ mesh: 'm', type: 'virtualNode', name: 'vn' });
    const described = await api.client.send(new DescribeRouteCommand(NAMES.Route));
    expect(described.route?.metadata?.createdAt?.toISOString()).toBe('2025-11-22T11:15:09.522Z');
  });

  it('decodes each path label once: names with spaces, percent signs and slashes round-trip', async () => {
    await api.client.send(new CreateMeshCommand({ meshName: 'm' }));
    await send(api.client, 'CreateVirtualRouter', { ...NAMES.VirtualRouter, spec: SPECS.VirtualRouter });
    const name = 'r 1%2F/x+y';
    await api.client.send(new CreateRouteCommand({ ...NAMES.Route, routeName: name, spec: SPECS.Route as never }));
    const out = await api.client.send(new DescribeRouteCommand({ ...NAMES.Route, routeName: name }));
    expect(out.route?.routeName).toBe(name);
  });
});

describe('pagination', () => {
  it('lists 250 virtual nodes in pages of 100, 100 and 50, in name order, each once', async () => {
    await api.client.send(new CreateMeshCommand({ meshName: 'big' }));
    const names = Array.from({ length: 250 }, (_, i) => `vn-${String(i).padStart(3, '0')}`);
    for (const n of [...names].reverse())
      await api.store.create({ kind: 'VirtualNode', mesh: 'big', name: n }, SPECS.VirtualNode, []);
    const sizes: number[] = [];
    const seen: string[] = [];
    for await (const page of paginateListVirtualNodes({ client: api.client, pageSize: 100 }, { meshName: 'big' })) {
      sizes.push(page.virtualNodes!.length);
      seen.push(...page.virtualNodes!.map((r) => r.virtualNodeName!));
    }
    expect(sizes).toEqual([100, 100, 50]);
    expect(seen).toEqual(names);
  });

  it('a page token is "after this name": a resource created between pages is listed once; no limit means 100', async () => {
    await api.client.send(new CreateMeshCommand({ meshName: 'big' }));
    for (let i = 0; i < 150; i++)
      await api.store.create(
        { kind: 'VirtualNode', mesh: 'big', name: `n${String(i).padStart(3, '0')}` },
        SPECS.VirtualNode,
        [],
      );
    const first = await api.client.send(new ListVirtualNodesCommand({ meshName: 'big' }));
    expect(first.virtualNodes).toHaveLength(100);
    await api.store.create({ kind: 'VirtualNode', mesh: 'big', name: 'a-first' }, SPECS.VirtualNode, []);
    await api.store.create({ kind: 'VirtualNode', mesh: 'big', name: 'z-last' }, SPECS.VirtualNode, []);
    const second = await api.client.send(new ListVirtualNodesCommand({ meshName: 'big', nextToken: first.nextToken! }));
    expect(second.virtualNodes!.map((r) => r.virtualNodeName)).toEqual([
      ...Array.from({ length: 50 }, (_, i) => `n${100 + i}`),
      'z-last',
    ]);
    expect(second.nextToken).toBeUndefined();
  });
});

describe('clientToken', () => {
  beforeEach(async () => {
    await api.client.send(new CreateMeshCommand({ meshName: 'm' }));
    await send(api.client, 'CreateVirtualRouter', { ...NAMES.VirtualRouter, spec: SPECS.VirtualRouter });
  });

  it('the same token and request answers the first answer again, applying nothing', async () => {
    const input = { ...NAMES.Route, spec: SPECS.Route as never, clientToken: 'create-1' };
    const first = await api.client.send(new CreateRouteCommand(input));
    const writes = api.store.writes;
    const again = await api.client.send(new CreateRouteCommand(input));
    expect(again.route).toEqual(first.route);
    expect(api.store.writes).toBe(writes);

    const update = { ...NAMES.Route, spec: SPECS.Route as never, clientToken: 'update-1' };
    const u1 = await api.client.send(new UpdateRouteCommand(update));
    await api.client.send(new UpdateRouteCommand({ ...NAMES.Route, spec: SPECS.Route as never }));
    // Replayed after another update: still the first answer, version 2, and no third version.
    const u2 = await api.client.send(new UpdateRouteCommand(update));
    expect(u2.route?.metadata?.version).toBe(2);
    expect(u1.route).toEqual(u2.route);
    expect((await api.client.send(new DescribeRouteCommand(NAMES.Route))).route?.metadata?.version).toBe(3);
  });

  it('the same token with a different request is a ConflictException (409), changing nothing', async () => {
    await api.client.send(new CreateRouteCommand({ ...NAMES.Route, spec: SPECS.Route as never }));
    await api.client.send(new UpdateRouteCommand({ ...NAMES.Route, spec: SPECS.Route as never, clientToken: 'tok' }));
    const before = api.store.snapshot();
    const other = { httpRoute: { ...SPECS.Route.httpRoute, match: { prefix: '/other' } } };
    const err = await api.client
      .send(new UpdateRouteCommand({ ...NAMES.Route, spec: other as never, clientToken: 'tok' }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictException);
    expect((err as ConflictException).$metadata.httpStatusCode).toBe(409);
    expect(api.store.snapshot()).toEqual(before);
  });

  it('a refused request is not remembered: its retry is judged afresh', async () => {
    const input = { ...NAMES.Route, spec: SPECS.Route as never, clientToken: 'retry-me' };
    await send(api.client, 'DeleteVirtualRouter', NAMES.VirtualRouter);
    await expect(api.client.send(new CreateRouteCommand(input))).rejects.toMatchObject({ name: 'NotFoundException' });
    await send(api.client, 'CreateVirtualRouter', { ...NAMES.VirtualRouter, spec: SPECS.VirtualRouter });
    await expect(api.client.send(new CreateRouteCommand(input))).resolves.toMatchObject({ route: { routeName: 'r' } });
  });

  it('concurrent duplicates apply once', async () => {
    const input = { ...NAMES.Route, spec: SPECS.Route as never, clientToken: 'dup' };
    const answers = await Promise.all([1, 2, 3].map(() => api.client.send(new CreateRouteCommand(input))));
    expect(new Set(answers.map((a) => a.route?.metadata?.uid)).size).toBe(1);
  });
});

describe('If-Match (meshd extension) and ETag', () => {
  beforeEach(async () => {
    await api.client.send(new CreateMeshCommand({ meshName: 'm' }));
    await send(api.client, 'CreateVirtualRouter', { ...NAMES.VirtualRouter, spec: SPECS.VirtualRouter });
    await api.client.send(new CreateRouteCommand({ ...NAMES.Route, spec: SPECS.Route as never }));
  });
  const ROUTE = '/v20190125/meshes/m/virtualRouter/vr/routes/r';

  it('answers carry ETag "<version>"; an update based on the current version passes, a stale one is a ConflictException', async () => {
    expect((await api.request('GET', ROUTE)).headers.etag).toBe('"1"');
    const ok = await api.client.send(
      withIfMatch(new UpdateRouteCommand({ ...NAMES.Route, spec: SPECS.Route as never }), 1),
    );
    expect(ok.route?.metadata?.version).toBe(2);
    const before = api.store.snapshot();
    const stale = await api.client
      .send(withIfMatch(new UpdateRouteCommand({ ...NAMES.Route, spec: SPECS.Route as never }), 1))
      .catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(ConflictException);
    expect((stale as Error).message).toBe(
      'Route vr/r is at version 2, but the request was based on version 1 (If-Match)',
    );
    expect(api.store.snapshot()).toEqual(before);
  });

  it('of parallel updates based on one version, exactly one wins', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () =>
        api.client.send(withIfMatch(new UpdateRouteCommand({ ...NAMES.Route, spec: SPECS.Route as never }), 1)),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof ConflictException)).toHaveLength(9);
  });

  it('Delete takes it too, weak and unquoted forms included; * asks only that the resource exists', async () => {
    const body = JSON.stringify({ spec: SPECS.Route });
    expect((await api.request('PUT', ROUTE, body, { 'if-match': '1' })).status).toBe(200);
    expect((await api.request('PUT', ROUTE, body, { 'if-match': '*' })).status).toBe(200);
    expect((await api.request('DELETE', ROUTE, undefined, { 'if-match': '"2"' })).body.__type).toBe(
      'ConflictException',
    );
    const deleted = await api.request('DELETE', ROUTE, undefined, { 'if-match': 'W/"3"' });
    expect([deleted.status, deleted.headers.etag]).toEqual([200, '"3"']);
  });

  it('the clientToken is checked first: a retry of a committed update is replayed, not refused as stale', async () => {
    const update = () =>
      withIfMatch(new UpdateRouteCommand({ ...NAMES.Route, spec: SPECS.Route as never, clientToken: 'once' }), 1);
    const first = await api.client.send(update());
    const retry = await api.client.send(update());
    expect(retry.route).toEqual(first.route);
  });
});
