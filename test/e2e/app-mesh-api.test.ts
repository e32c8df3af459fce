// The App Mesh API end to end, as a team's automation uses it: the real @aws-sdk/client-app-mesh
// against a real `bin/meshd serve` (its admin port), whose store is the mesh folder (the user's
// files read-only, the API's resources in <mesh folder>/.meshd-api/).
//  - Per kind (all seven): create, describe, list page by page (limit 2), update (the version goes
//    up; a stale If-Match is refused with ConflictException and changes nothing), delete (refused
//    with ResourceInUseException while something needs the resource, then done).
//  - Each change reaches a real Envoy: one gateway Envoy, fed by meshd, in front of HTTP upstreams
//    on loopback that answer with their own name. Creating a route moves the traffic, deleting it
//    moves it back; likewise a gateway route, a virtual service's provider and a node's port.
//  - Restart: meshd is SIGKILLed right after a write and started again on the same folder; every
//    API-created resource is served again with the same uid and version, and the Envoy (which
//    reconnects) gets the mesh again: a write after the restart moves its traffic.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  AppMeshClient,
  AppMeshServiceException,
  CreateGatewayRouteCommand,
  CreateMeshCommand,
  CreateRouteCommand,
  CreateVirtualGatewayCommand,
  CreateVirtualNodeCommand,
  CreateVirtualRouterCommand,
  CreateVirtualServiceCommand,
  DeleteGatewayRouteCommand,
  DeleteMeshCommand,
  DeleteRouteCommand,
  DeleteVirtualGatewayCommand,
  DeleteVirtualNodeCommand,
  DeleteVirtualRouterCommand,
  DeleteVirtualServiceCommand,
  DescribeGatewayRouteCommand,
  DescribeMeshCommand,
  DescribeRouteCommand,
  DescribeVirtualGatewayCommand,
  DescribeVirtualNodeCommand,
  DescribeVirtualRouterCommand,
  DescribeVirtualServiceCommand,
  ListGatewayRoutesCommand,
  ListMeshesCommand,
  ListRoutesCommand,
  ListVirtualGatewaysCommand,
  ListVirtualNodesCommand,
  ListVirtualRoutersCommand,
  ListVirtualServicesCommand,
  paginateListVirtualNodes,
  UpdateGatewayRouteCommand,
  UpdateMeshCommand,
  UpdateRouteCommand,
  UpdateVirtualGatewayCommand,
  UpdateVirtualNodeCommand,
  UpdateVirtualRouterCommand,
  UpdateVirtualServiceCommand,
} from '@aws-sdk/client-app-mesh';
import { describeWithEnvoy, startEnvoy, type RunningEnvoy } from '../helpers/envoy';
import { filesUnder, startApiMeshd, withIfMatch, type ApiMeshd } from '../helpers/meshd-api';
import { freePort, waitFor } from '../helpers/processes';
import { answeredBy, httpRequest } from '../helpers/sidecar-harness';
import { meshdBootstrap } from '../helpers/sidecars';
import { startHttpUpstream, type HttpUpstream } from '../helpers/upstreams';

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';

/** The user's own file: a mesh the API may read but not change. */
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

type Json = Record<string, unknown>;
type AnyCommand = new (input: never) => { middlewareStack: object };

let meshd: ApiMeshd;
let client: AppMeshClient;

async function send(command: AnyCommand, input: Json, ifMatch?: number): Promise<Json> {
  const c = new command(input as never);
  if (ifMatch !== undefined) withIfMatch(c, ifMatch);
  return (await client.send(c as never)) as unknown as Json;
}

/** The SDK's error for a call: its name (the AWS error type) and HTTP status; throws when the call succeeded. */
async function refusal(call: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string }> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof AppMeshServiceException)) throw err;
    return { name: err.name, status: err.$metadata.httpStatusCode, message: err.message };
  }
  throw new Error('the call succeeded; a refusal was expected');
}

// ---------------------------------------------------------------- the seven kinds

interface Kind {
  readonly kind: string;
  /** The answer's member holding the resource (mesh, virtualNode, ...), and the list's. */
  readonly out: string;
  readonly listOut: string;
  /** The name's member (meshName, virtualNodeName, ...). */
  readonly nameKey: string;
  /** Where it lives: the mesh (and router or gateway). */
  readonly scope: Json;
  readonly prefix: string;
  readonly commands: {
    create: AnyCommand;
    describe: AnyCommand;
    update: AnyCommand;
    del: AnyCommand;
    list: AnyCommand;
  };
  /** Variant `v` of the spec of resource `name`. */
  spec(name: string, v: number): Json;
  /** ARN after `mesh/`. */
  arnPath(name: string): string;
  /** Makes `name` needed by something else; returns the refusal's message piece and how to undo it. */
  inUse?(name: string): Promise<{ says: string; undo(): Promise<void> }>;
}

const CRUD = 'crud';
const nodeSpec = (name: string, v: number) => ({
  listeners: [{ portMapping: { port: 8000 + v, protocol: 'http' } }],
  serviceDiscovery: { dns: { hostname: `${name}.${CRUD}.local` } },
});
const routeTo = (node: string, v: number) => ({
  httpRoute: { match: { prefix: '/' }, action: { weightedTargets: [{ virtualNode: node, weight: v }] } },
});
const gatewayRouteTo = (name: string, service: string, v: number) => ({
  httpRoute: {
    match: { prefix: `/${name}/${v}` },
    action: { target: { virtualService: { virtualServiceName: service } } },
  },
});

const KINDS: readonly Kind[] = [
  {
    kind: 'Mesh',
    out: 'mesh',
    listOut: 'meshes',
    nameKey: 'meshName',
    scope: {},
    prefix: 'mesh',
    commands: {
      create: CreateMeshCommand,
      describe: DescribeMeshCommand,
      update: UpdateMeshCommand,
      del: DeleteMeshCommand,
      list: ListMeshesCommand,
    },
    spec: (_, v) => ({ egressFilter: { type: v % 2 === 1 ? 'ALLOW_ALL' : 'DROP_ALL' } }),
    arnPath: (name) => name,
    async inUse(mesh) {
      await send(CreateVirtualNodeCommand, { meshName: mesh, virtualNodeName: 'holder', spec: nodeSpec('holder', 1) });
      return {
        says: `Mesh/${mesh} cannot be deleted: it still holds 1 resource(s): VirtualNode/holder`,
        undo: async () => void (await send(DeleteVirtualNodeCommand, { meshName: mesh, virtualNodeName: 'holder' })),
      };
    },
  },
  {
    kind: 'VirtualNode',
    out: 'virtualNode',
    listOut: 'virtualNodes',
    nameKey: 'virtualNodeName',
    scope: { meshName: CRUD },
    prefix: 'node',
    commands: {
      create: CreateVirtualNodeCommand,
      describe: DescribeVirtualNodeCommand,
      update: UpdateVirtualNodeCommand,
      del: DeleteVirtualNodeCommand,
      list: ListVirtualNodesCommand,
    },
    spec: nodeSpec,
    arnPath: (name) => `${CRUD}/virtualNode/${name}`,
    async inUse(node) {
      const input = { meshName: CRUD, virtualRouterName: 'router', routeName: 'needs-node' };
      await send(CreateRouteCommand, { ...input, spec: routeTo(node, 1) });
      return {
        says: `VirtualNode/${node} is in use: Route/router/needs-node`,
        undo: async () => void (await send(DeleteRouteCommand, input)),
      };
    },
  },
  {
    kind: 'VirtualService',
    out: 'virtualService',
    listOut: 'virtualServices',
    nameKey: 'virtualServiceName',
    scope: { meshName: CRUD },
    prefix: 'service',
    commands: {
      create: CreateVirtualServiceCommand,
      describe: DescribeVirtualServiceCommand,
      update: UpdateVirtualServiceCommand,
      del: DeleteVirtualServiceCommand,
      list: ListVirtualServicesCommand,
    },
    spec: (_, v) =>
      v % 2 === 1
        ? { provider: { virtualNode: { virtualNodeName: 'target' } } }
        : { provider: { virtualRouter: { virtualRouterName: 'router' } } },
    arnPath: (name) => `${CRUD}/virtualService/${name}`,
    async inUse(service) {
      const input = { meshName: CRUD, virtualGatewayName: 'gateway', gatewayRouteName: 'needs-service' };
      await send(CreateGatewayRouteCommand, { ...input, spec: gatewayRouteTo('needs', service, 1) });
      return {
        says: `VirtualService/${service} is in use: GatewayRoute/gateway/needs-service`,
        undo: async () => void (await send(DeleteGatewayRouteCommand, input)),
      };
    },
  },
  {
    kind: 'VirtualRouter',
    out: 'virtualRouter',
    listOut: 'virtualRouters',
    nameKey: 'virtualRouterName',
    scope: { meshName: CRUD },
    prefix: 'router',
    commands: {
      create: CreateVirtualRouterCommand,
      describe: DescribeVirtualRouterCommand,
      update: UpdateVirtualRouterCommand,
      del: DeleteVirtualRouterCommand,
      list: ListVirtualRoutersCommand,
    },
    spec: (_, v) => ({ listeners: [{ portMapping: { port: 8000 + v, protocol: 'http' } }] }),
    arnPath: (name) => `${CRUD}/virtualRouter/${name}`,
    async inUse(router) {
      const input = { meshName: CRUD, virtualRouterName: router, routeName: 'held' };
      await send(CreateRouteCommand, { ...input, spec: routeTo('target', 1) });
      return {
        says: `VirtualRouter/${router} cannot be deleted: it still holds 1 resource(s): Route/${router}/held`,
        undo: async () => void (await send(DeleteRouteCommand, input)),
      };
    },
  },
  {
    kind: 'Route',
    out: 'route',
    listOut: 'routes',
    nameKey: 'routeName',
    scope: { meshName: CRUD, virtualRouterName: 'router' },
    prefix: 'route',
    commands: {
      create: CreateRouteCommand,
      describe: DescribeRouteCommand,
      update: UpdateRouteCommand,
      del: DeleteRouteCommand,
      list: ListRoutesCommand,
    },
    spec: (_, v) => routeTo('target', v),
    arnPath: (name) => `${CRUD}/virtualRouter/router/route/${name}`,
  },
  {
    kind: 'VirtualGateway',
    out: 'virtualGateway',
    listOut: 'virtualGateways',
    nameKey: 'virtualGatewayName',
    scope: { meshName: CRUD },
    prefix: 'gateway',
    commands: {
      create: CreateVirtualGatewayCommand,
      describe: DescribeVirtualGatewayCommand,
      update: UpdateVirtualGatewayCommand,
      del: DeleteVirtualGatewayCommand,
      list: ListVirtualGatewaysCommand,
    },
    spec: (_, v) => ({ listeners: [{ portMapping: { port: 9000 + v, protocol: 'http' } }] }),
    arnPath: (name) => `${CRUD}/virtualGateway/${name}`,
    async inUse(gateway) {
      const input = { meshName: CRUD, virtualGatewayName: gateway, gatewayRouteName: 'held' };
      await send(CreateGatewayRouteCommand, { ...input, spec: gatewayRouteTo('held', 'svc.crud.local', 1) });
      return {
        says: `VirtualGateway/${gateway} cannot be deleted: it still holds 1 resource(s): GatewayRoute/${gateway}/held`,
        undo: async () => void (await send(DeleteGatewayRouteCommand, input)),
      };
    },
  },
  {
    kind: 'GatewayRoute',
    out: 'gatewayRoute',
    listOut: 'gatewayRoutes',
    nameKey: 'gatewayRouteName',
    scope: { meshName: CRUD, virtualGatewayName: 'gateway' },
    prefix: 'gwroute',
    commands: {
      create: CreateGatewayRouteCommand,
      describe: DescribeGatewayRouteCommand,
      update: UpdateGatewayRouteCommand,
      del: DeleteGatewayRouteCommand,
      list: ListGatewayRoutesCommand,
    },
    spec: (name, v) => gatewayRouteTo(name, 'svc.crud.local', v),
    arnPath: (name) => `${CRUD}/virtualGateway/gateway/gatewayRoute/${name}`,
  },
];

/** The names a list gives, page by page with `limit`; and how many pages it took. */
async function listAll(k: Kind, limit: number): Promise<{ names: string[]; pages: number }> {
  const names: string[] = [];
  let nextToken: string | undefined;
  let pages = 0;
  do {
    const page = await send(k.commands.list, { ...k.scope, limit, ...(nextToken ? { nextToken } : {}) });
    const items = page[k.listOut] as Json[];
    expect(items.length).toBeLessThanOrEqual(limit);
    names.push(...items.map((i) => i[k.nameKey] as string));
    nextToken = page.nextToken as string | undefined;
    pages++;
  } while (nextToken);
  return { names, pages };
}

beforeAll(async () => {
  meshd = await startApiMeshd({ files: { 'files.yaml': USER_FILE } });
  client = meshd.client();
}, 30000);

afterAll(async () => {
  await meshd?.stop();
});

describe('each kind through @aws-sdk/client-app-mesh against meshd serve', () => {
  /** Names of each kind that exist before a kind's test: its prerequisites. */
  const existing: Record<string, string[]> = { Mesh: ['files'] };

  beforeAll(async () => {
    // Mesh crud: a node and a router for routes to target, a service for gateway routes, a gateway.
    await send(CreateMeshCommand, { meshName: CRUD });
    await send(CreateVirtualNodeCommand, { meshName: CRUD, virtualNodeName: 'target', spec: nodeSpec('target', 1) });
    await send(CreateVirtualRouterCommand, {
      meshName: CRUD,
      virtualRouterName: 'router',
      spec: { listeners: [{ portMapping: { port: 8080, protocol: 'http' } }] },
    });
    await send(CreateVirtualServiceCommand, {
      meshName: CRUD,
      virtualServiceName: 'svc.crud.local',
      spec: { provider: { virtualNode: { virtualNodeName: 'target' } } },
    });
    await send(CreateVirtualGatewayCommand, {
      meshName: CRUD,
      virtualGatewayName: 'gateway',
      spec: { listeners: [{ portMapping: { port: 9000, protocol: 'http' } }] },
    });
    Object.assign(existing, {
      Mesh: ['files', CRUD],
      VirtualNode: ['target'],
      VirtualRouter: ['router'],
      VirtualService: ['svc.crud.local'],
      VirtualGateway: ['gateway'],
      Route: [],
      GatewayRoute: [],
    });
  });

  it.each(KINDS.map((k) => [k.kind, k] as const))(
    '%s: create, describe, list by pages, update with versions, delete after in-use refusals',
    async (_, k) => {
      const names = [0, 1, 2, 3, 4].map((i) => `${k.prefix}-${i}`);
      const input = (name: string, extra: Json = {}) => ({ ...k.scope, [k.nameKey]: name, ...extra });
      const data = (answer: Json) => answer[k.out] as Json & { metadata: Json; status: Json; spec: Json };
      const startedAt = Date.now() - 1000;

      // create
      const uids = new Map<string, string>();
      for (const name of names) {
        const created = data(await send(k.commands.create, input(name, { spec: k.spec(name, 1) })));
        uids.set(name, created.metadata.uid as string);
        expect(created).toMatchObject({ [k.nameKey]: name, spec: k.spec(name, 1), status: { status: 'ACTIVE' } });
        expect(created.metadata).toMatchObject({
          arn: `arn:aws:appmesh:${REGION}:${ACCOUNT}:mesh/${k.arnPath(name)}`,
          version: 1,
          meshOwner: ACCOUNT,
          resourceOwner: ACCOUNT,
          uid: expect.stringMatching(/^[0-9a-f-]{36}$/),
        });
        expect((created.metadata.createdAt as Date).getTime()).toBeGreaterThanOrEqual(
          Math.floor(startedAt / 1000) * 1000,
        );
      }
      // A second create of one name is refused; each resource is a file of its own in the API's folder, with its uid.
      expect((await refusal(send(k.commands.create, input(names[0]!, { spec: k.spec(names[0]!, 1) })))).name).toBe(
        'ConflictException',
      );
      const apiFiles = [...filesUnder(meshd.apiDir).values()].map((b) => b.toString('utf8'));
      for (const [name, uid] of uids)
        expect(apiFiles.filter((t) => t.includes(`\nname: ${name}\n`) && t.includes(`uid: ${uid}`))).toHaveLength(1);

      // describe
      const first = data(await send(k.commands.describe, input(names[0]!)));
      expect(first.metadata.version).toBe(1);
      const uid = first.metadata.uid;

      // list, two at a time: every page at most 2, all names once, in several pages
      const listed = await listAll(k, 2);
      const expected = [...existing[k.kind]!, ...names].sort();
      expect([...listed.names].sort()).toEqual(expected);
      expect(listed.pages).toBe(Math.ceil(expected.length / 2));

      // update: the version goes up, uid and createdAt stay
      const updated = data(await send(k.commands.update, input(names[0]!, { spec: k.spec(names[0]!, 2) })));
      expect(updated.spec).toMatchObject(k.spec(names[0]!, 2));
      expect(updated.metadata).toMatchObject({ uid, version: 2, createdAt: first.metadata.createdAt });
      expect((updated.metadata.lastUpdatedAt as Date).getTime()).toBeGreaterThanOrEqual(
        (first.metadata.createdAt as Date).getTime(),
      );
      // an update based on the current version (If-Match "2") passes
      const third = data(await send(k.commands.update, input(names[0]!, { spec: k.spec(names[0]!, 3) }), 2));
      expect(third.metadata.version).toBe(3);
      // a stale update (based on version 1) is refused and changes nothing
      const files = fs.readdirSync(meshd.apiDir, { recursive: true }).sort();
      const stale = await refusal(send(k.commands.update, input(names[0]!, { spec: k.spec(names[0]!, 4) }), 1));
      expect(stale).toMatchObject({ name: 'ConflictException', status: 409 });
      expect(stale.message).toContain('is at version 3, but the request was based on version 1');
      const after = data(await send(k.commands.describe, input(names[0]!)));
      expect(after.metadata.version).toBe(3);
      expect(after.spec).toMatchObject(k.spec(names[0]!, 3));
      // a stale delete too
      expect((await refusal(send(k.commands.del, input(names[0]!), 2))).name).toBe('ConflictException');
      expect(fs.readdirSync(meshd.apiDir, { recursive: true }).sort()).toEqual(files);

      // delete: refused while in use, then done
      if (k.inUse) {
        const held = await k.inUse(names[1]!);
        const inUse = await refusal(send(k.commands.del, input(names[1]!)));
        expect(inUse).toMatchObject({ name: 'ResourceInUseException', status: 409 });
        expect(inUse.message).toContain(held.says);
        expect(data(await send(k.commands.describe, input(names[1]!))).status).toEqual({ status: 'ACTIVE' });
        await held.undo();
      }
      for (const name of names) {
        const deleted = data(await send(k.commands.del, input(name), name === names[0] ? 3 : undefined));
        expect(deleted).toMatchObject({ [k.nameKey]: name, status: { status: 'DELETED' } });
      }
      expect((await refusal(send(k.commands.describe, input(names[0]!)))).name).toBe('NotFoundException');
      expect((await listAll(k, 100)).names.sort()).toEqual([...existing[k.kind]!].sort());
    },
  );

  it('lists through the SDK paginator (pageSize 3) across pages', async () => {
    for (let i = 0; i < 7; i++)
      await send(CreateVirtualNodeCommand, { meshName: CRUD, virtualNodeName: `p${i}`, spec: nodeSpec(`p${i}`, 1) });
    const pages: string[][] = [];
    for await (const page of paginateListVirtualNodes({ client, pageSize: 3 }, { meshName: CRUD }))
      pages.push(page.virtualNodes!.map((n) => n.virtualNodeName!));
    expect(pages.map((p) => p.length)).toEqual([3, 3, 2]);
    expect(pages.flat().sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'target']);
  });

  it("refuses to change a resource of the user's files, naming the file", async () => {
    const r = await refusal(
      send(UpdateVirtualNodeCommand, { meshName: 'files', virtualNodeName: 'web', spec: nodeSpec('web', 1) }),
    );
    expect(r.name).toBe('ForbiddenException');
    expect(r.message).toContain(path.join(meshd.meshDir, 'files.yaml'));
    expect((await refusal(send(DeleteMeshCommand, { meshName: 'files' }))).name).toBe('ForbiddenException');
  });
});

// ---------------------------------------------------------------- a real Envoy follows each change

const SHOP = 'shop';
const APP = `app.${SHOP}.local`;
const GATEWAY_NODE = `mesh/${SHOP}/virtualGateway/gw`;
const UPSTREAMS = ['blue', 'green', 'gray'] as const;

const shopNode = (port: number) => ({
  listeners: [{ portMapping: { port, protocol: 'http' } }],
  serviceDiscovery: { dns: { hostname: '127.0.0.1' } },
});
const shopRoute = (node: string, priority: number) => ({
  priority,
  httpRoute: { match: { prefix: '/' }, action: { weightedTargets: [{ virtualNode: node, weight: 1 }] } },
});

describeWithEnvoy('each API change reaches a real Envoy (a virtual gateway), and survives SIGKILL', (envoyBin) => {
  const upstreams: Partial<Record<(typeof UPSTREAMS)[number], HttpUpstream>> = {};
  let gatewayPort: number;
  let envoy: RunningEnvoy | undefined;

  /** Who answers GET <path> through the gateway; polled until it is `who` (no timing asserted). */
  const reaches = (who: string, pathName = '/') =>
    waitFor(
      `the gateway to send ${pathName} to ${who}`,
      async () => {
        const r = await httpRequest(gatewayPort, 'anything.example', { path: pathName, timeoutMs: 3000 });
        return answeredBy(r) === who ? true : undefined;
      },
      20000,
      50,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${meshd.logs()}\n--- envoy ---\n${envoy?.logs().slice(-3000)}`);
    });

  beforeAll(async () => {
    for (const name of UPSTREAMS) upstreams[name] = await startHttpUpstream(name);
    gatewayPort = await freePort();
    // Mesh shop, all through the API: gateway gw → (gateway route all) → app.shop.local → router app → blue.
    await send(CreateMeshCommand, { meshName: SHOP });
    for (const name of UPSTREAMS)
      await send(CreateVirtualNodeCommand, {
        meshName: SHOP,
        virtualNodeName: name,
        spec: shopNode(upstreams[name]!.port),
      });
    await send(CreateVirtualRouterCommand, {
      meshName: SHOP,
      virtualRouterName: 'app',
      spec: { listeners: [{ portMapping: { port: 8080, protocol: 'http' } }] },
    });
    await send(CreateRouteCommand, {
      meshName: SHOP,
      virtualRouterName: 'app',
      routeName: 'base',
      spec: shopRoute('blue', 10),
    });
    await send(CreateVirtualServiceCommand, {
      meshName: SHOP,
      virtualServiceName: APP,
      spec: { provider: { virtualRouter: { virtualRouterName: 'app' } } },
    });
    await send(CreateVirtualGatewayCommand, {
      meshName: SHOP,
      virtualGatewayName: 'gw',
      spec: { listeners: [{ portMapping: { port: gatewayPort, protocol: 'http' } }] },
    });
    await send(CreateGatewayRouteCommand, {
      meshName: SHOP,
      virtualGatewayName: 'gw',
      gatewayRouteName: 'all',
      spec: {
        httpRoute: { match: { prefix: '/' }, action: { target: { virtualService: { virtualServiceName: APP } } } },
      },
    });
    const adminPort = await freePort();
    const bootstrap = meshdBootstrap({
      nodeId: GATEWAY_NODE,
      xdsAddress: `127.0.0.1:${meshd.xdsPort}`,
      adminAddress: '127.0.0.1',
      adminPort,
    });
    envoy = startEnvoy(envoyBin, bootstrap, adminPort);
    await reaches('blue');
  }, 60000);

  afterAll(async () => {
    await envoy?.stop();
    for (const u of Object.values(upstreams)) await u.close();
  });

  it('CreateRoute moves the traffic to the new target, UpdateRoute moves it on, DeleteRoute moves it back', async () => {
    const route = { meshName: SHOP, virtualRouterName: 'app', routeName: 'canary' };
    await send(CreateRouteCommand, { ...route, spec: shopRoute('green', 1) });
    await reaches('green');
    await send(UpdateRouteCommand, { ...route, spec: shopRoute('gray', 1) }, 1);
    await reaches('gray');
    await send(DeleteRouteCommand, route, 2);
    await reaches('blue');
  });

  it('CreateGatewayRoute (to a new virtual service) moves a path; DeleteGatewayRoute moves it back', async () => {
    await send(CreateVirtualServiceCommand, {
      meshName: SHOP,
      virtualServiceName: `green.${SHOP}.local`,
      spec: { provider: { virtualNode: { virtualNodeName: 'green' } } },
    });
    const gatewayRoute = { meshName: SHOP, virtualGatewayName: 'gw', gatewayRouteName: 'direct' };
    await send(CreateGatewayRouteCommand, {
      ...gatewayRoute,
      spec: {
        httpRoute: {
          match: { prefix: '/direct' },
          action: { target: { virtualService: { virtualServiceName: `green.${SHOP}.local` } } },
        },
      },
    });
    await reaches('green', '/direct');
    await reaches('blue', '/');
    await send(DeleteGatewayRouteCommand, gatewayRoute);
    await reaches('blue', '/direct');
    await send(DeleteVirtualServiceCommand, { meshName: SHOP, virtualServiceName: `green.${SHOP}.local` });
  });

  it('UpdateVirtualService (its provider) and UpdateVirtualNode (its port) move the traffic', async () => {
    const service = { meshName: SHOP, virtualServiceName: APP };
    await send(UpdateVirtualServiceCommand, {
      ...service,
      spec: { provider: { virtualNode: { virtualNodeName: 'gray' } } },
    });
    await reaches('gray');
    await send(UpdateVirtualServiceCommand, {
      ...service,
      spec: { provider: { virtualRouter: { virtualRouterName: 'app' } } },
    });
    await reaches('blue');
    // Node blue now points at green's port: the traffic meant for blue lands on green.
    const node = { meshName: SHOP, virtualNodeName: 'blue' };
    await send(UpdateVirtualNodeCommand, { ...node, spec: shopNode(upstreams.green!.port) });
    await reaches('green');
    await send(UpdateVirtualNodeCommand, { ...node, spec: shopNode(upstreams.blue!.port) });
    await reaches('blue');
  });

  it('after SIGKILL right after a write, meshd serves the same resources (uids, versions) and the Envoy follows again', async () => {
    const base = { meshName: SHOP, virtualRouterName: 'app', routeName: 'base' };
    const written = (await send(UpdateRouteCommand, { ...base, spec: shopRoute('green', 10) }, 1)) as {
      route: { metadata: { version: number } };
    };
    expect(written.route.metadata.version).toBe(2);
    // Killed as soon as the answer is in: the write must already be on disk.
    const before = await describeAll(SHOP);
    await meshd.restart('SIGKILL');
    expect(await describeAll(SHOP)).toEqual(before);
    expect(before.find((r) => r.name === 'Route app/base')?.version).toBe(2);
    // The Envoy reconnects to the new meshd and gets the mesh again; a write after the restart reaches it.
    await reaches('green');
    await waitFor('the new meshd to see the gateway ACK', async () => {
      const proxies = JSON.parse(await meshd.admin('/v1/proxies')) as { nodeId: string; types: Json }[];
      return proxies.some((p) => p.nodeId === GATEWAY_NODE) ? true : undefined;
    });
    await send(UpdateRouteCommand, { ...base, spec: shopRoute('blue', 10) }, 2);
    await reaches('blue');
    expect(await refusal(send(UpdateRouteCommand, { ...base, spec: shopRoute('gray', 10) }, 2))).toMatchObject({
      name: 'ConflictException',
    });
  });
});

// ---------------------------------------------------------------- restart (no Envoy needed)

/** Every resource of a mesh as the API describes it: kind/name, uid, version, createdAt, spec. */
async function describeAll(mesh: string): Promise<{ name: string; uid: string; version: number; spec: unknown }[]> {
  const out: { name: string; uid: string; version: number; spec: unknown }[] = [];
  const one = (label: string, d: Json & { metadata?: Json }) =>
    out.push({
      name: label,
      uid: d.metadata!.uid as string,
      version: d.metadata!.version as number,
      spec: { spec: d.spec, createdAt: (d.metadata!.createdAt as Date).getTime() },
    });
  one(`Mesh ${mesh}`, (await send(DescribeMeshCommand, { meshName: mesh })).mesh as Json);
  const kinds: [string, AnyCommand, AnyCommand, string, string, string][] = [
    [
      'VirtualNode',
      ListVirtualNodesCommand,
      DescribeVirtualNodeCommand,
      'virtualNodes',
      'virtualNode',
      'virtualNodeName',
    ],
    [
      'VirtualService',
      ListVirtualServicesCommand,
      DescribeVirtualServiceCommand,
      'virtualServices',
      'virtualService',
      'virtualServiceName',
    ],
    [
      'VirtualRouter',
      ListVirtualRoutersCommand,
      DescribeVirtualRouterCommand,
      'virtualRouters',
      'virtualRouter',
      'virtualRouterName',
    ],
    [
      'VirtualGateway',
      ListVirtualGatewaysCommand,
      DescribeVirtualGatewayCommand,
      'virtualGateways',
      'virtualGateway',
      'virtualGatewayName',
    ],
  ];
  for (const [kind, list, describe, listOut, out1, nameKey] of kinds) {
    const items = (await send(list, { meshName: mesh }))[listOut] as Json[];
    for (const item of items) {
      const name = item[nameKey] as string;
      one(`${kind} ${name}`, (await send(describe, { meshName: mesh, [nameKey]: name }))[out1] as Json);
      if (kind === 'VirtualRouter')
        for (const r of (await send(ListRoutesCommand, { meshName: mesh, virtualRouterName: name })).routes as Json[])
          one(
            `Route ${name}/${r.routeName as string}`,
            (await send(DescribeRouteCommand, { meshName: mesh, virtualRouterName: name, routeName: r.routeName }))
              .route as Json,
          );
      if (kind === 'VirtualGateway')
        for (const r of (await send(ListGatewayRoutesCommand, { meshName: mesh, virtualGatewayName: name }))
          .gatewayRoutes as Json[])
          one(
            `GatewayRoute ${name}/${r.gatewayRouteName as string}`,
            (
              await send(DescribeGatewayRouteCommand, {
                meshName: mesh,
                virtualGatewayName: name,
                gatewayRouteName: r.gatewayRouteName,
              })
            ).gatewayRoute as Json,
          );
    }
  }
  return out;
}

describe('restart', () => {
  it('API-created resources of every kind survive SIGKILL: same uids, versions and specs, and meshd serves them', async () => {
    const mesh = 'durable';
    await send(CreateMeshCommand, { meshName: mesh });
    await send(CreateVirtualNodeCommand, { meshName: mesh, virtualNodeName: 'n', spec: nodeSpec('n', 1) });
    await send(UpdateVirtualNodeCommand, { meshName: mesh, virtualNodeName: 'n', spec: nodeSpec('n', 2) });
    await send(CreateVirtualRouterCommand, {
      meshName: mesh,
      virtualRouterName: 'r',
      spec: { listeners: [{ portMapping: { port: 8080, protocol: 'http' } }] },
    });
    await send(CreateRouteCommand, { meshName: mesh, virtualRouterName: 'r', routeName: 'rt', spec: routeTo('n', 1) });
    for (let v = 2; v <= 4; v++)
      await send(UpdateRouteCommand, {
        meshName: mesh,
        virtualRouterName: 'r',
        routeName: 'rt',
        spec: routeTo('n', v),
      });
    await send(CreateVirtualServiceCommand, {
      meshName: mesh,
      virtualServiceName: 's.durable.local',
      spec: { provider: { virtualRouter: { virtualRouterName: 'r' } } },
    });
    await send(CreateVirtualGatewayCommand, {
      meshName: mesh,
      virtualGatewayName: 'g',
      spec: { listeners: [{ portMapping: { port: 9000, protocol: 'http' } }] },
    });
    await send(CreateGatewayRouteCommand, {
      meshName: mesh,
      virtualGatewayName: 'g',
      gatewayRouteName: 'gr',
      spec: gatewayRouteTo('gr', 's.durable.local', 1),
    });
    const before = await describeAll(mesh);
    expect(before.map((r) => `${r.name} v${r.version}`).sort()).toEqual([
      'GatewayRoute g/gr v1',
      'Mesh durable v1',
      'Route r/rt v4',
      'VirtualGateway g v1',
      'VirtualNode n v2',
      'VirtualRouter r v1',
      'VirtualService s.durable.local v1',
    ]);
    await meshd.restart('SIGKILL');
    expect(await describeAll(mesh)).toEqual(before);
    // The restarted meshd compiles them: the gateway's configuration routes to the router's node.
    const config = await meshd.admin(`/v1/config/${encodeURIComponent('mesh/durable/virtualGateway/g')}`);
    expect(config).toContain('/gr/1');
    // and writes go on from the versions kept
    const next = (await send(
      UpdateRouteCommand,
      { meshName: mesh, virtualRouterName: 'r', routeName: 'rt', spec: routeTo('n', 5) },
      4,
    )) as { route: { metadata: { version: number } } };
    expect(next.route.metadata.version).toBe(5);
  });
});
