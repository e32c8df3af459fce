// Optimistic concurrency through the App Mesh API of a running `meshd serve`: 50 parallel
// UpdateRoute calls on one route from 10 clients of @aws-sdk/client-app-mesh (each its own
// connections), each sending `If-Match: "<the version it read>"`. Exactly the updates based on the
// route's current version succeed (one per version), every other one is refused with
// ConflictException naming both versions, and the route ends as the last successful write made it
// (each write carries its own weight, so the winner is known). Nothing is lost on the way to disk.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  AppMeshServiceException,
  CreateMeshCommand,
  CreateRouteCommand,
  CreateVirtualNodeCommand,
  CreateVirtualRouterCommand,
  DescribeRouteCommand,
  UpdateRouteCommand,
  type AppMeshClient,
} from '@aws-sdk/client-app-mesh';
import { startApiMeshd, withIfMatch, type ApiMeshd } from '../helpers/meshd-api';

const CLIENTS = 10;
const WRITES_PER_CLIENT = 5;
const ROUTE = { meshName: 'race', virtualRouterName: 'r', routeName: 'contended' };

const spec = (weight: number) => ({
  httpRoute: { match: { prefix: '/' }, action: { weightedTargets: [{ virtualNode: 'a', weight }] } },
});

interface Outcome {
  readonly weight: number;
  readonly basedOn: number;
  /** The version the write made, when it succeeded. */
  readonly version?: number;
  /** The refusal's error type and message, when it did not. */
  readonly refused?: { name: string; message: string };
}

let meshd: ApiMeshd;
let clients: AppMeshClient[];

const describeRoute = async (c: AppMeshClient) => {
  const route = (await c.send(new DescribeRouteCommand(ROUTE))).route!;
  return {
    version: route.metadata!.version!,
    weight: route.spec!.httpRoute!.action!.weightedTargets![0]!.weight!,
  };
};

async function update(c: AppMeshClient, weight: number, basedOn: number): Promise<Outcome> {
  try {
    const answer = await c.send(withIfMatch(new UpdateRouteCommand({ ...ROUTE, spec: spec(weight) }), basedOn));
    return { weight, basedOn, version: answer.route!.metadata!.version! };
  } catch (err) {
    if (!(err instanceof AppMeshServiceException)) throw err;
    return { weight, basedOn, refused: { name: err.name, message: err.message } };
  }
}

/** A refusal says which version the route was at: it must not be the one the write was based on. */
function checkRefusal(o: Outcome): void {
  expect(o.refused?.name).toBe('ConflictException');
  const m = /is at version (\d+), but the request was based on version (\d+)/.exec(o.refused!.message);
  expect(m).not.toBeNull();
  expect(Number(m![2])).toBe(o.basedOn);
  expect(Number(m![1])).toBeGreaterThan(o.basedOn);
}

beforeAll(async () => {
  meshd = await startApiMeshd({ files: { 'files.yaml': 'kind: Mesh\nname: files\nspec: {}\n' } });
  clients = Array.from({ length: CLIENTS }, () => meshd.client());
  const c = clients[0]!;
  await c.send(new CreateMeshCommand({ meshName: 'race' }));
  await c.send(
    new CreateVirtualNodeCommand({
      meshName: 'race',
      virtualNodeName: 'a',
      spec: {
        listeners: [{ portMapping: { port: 8080, protocol: 'http' } }],
        serviceDiscovery: { dns: { hostname: 'a.race.local' } },
      },
    }),
  );
  await c.send(
    new CreateVirtualRouterCommand({
      meshName: 'race',
      virtualRouterName: 'r',
      spec: { listeners: [{ portMapping: { port: 8080, protocol: 'http' } }] },
    }),
  );
  await c.send(new CreateRouteCommand({ ...ROUTE, spec: spec(100) }));
}, 30000);

afterAll(async () => {
  await meshd?.stop();
});

it('50 parallel updates all based on one read version: exactly one succeeds, 49 get ConflictException', async () => {
  const reads = await Promise.all(clients.map(describeRoute));
  const read = reads[0]!.version;
  expect(reads.every((r) => r.version === read)).toBe(true);
  // Weights 1..50: write i of client c has weight c * 5 + i + 1.
  const outcomes = await Promise.all(
    clients.flatMap((c, ci) =>
      Array.from({ length: WRITES_PER_CLIENT }, (_, i) => update(c, ci * WRITES_PER_CLIENT + i + 1, read)),
    ),
  );
  expect(outcomes).toHaveLength(50);
  const won = outcomes.filter((o) => o.version !== undefined);
  expect(won).toHaveLength(1);
  expect(won[0]!.version).toBe(read + 1);
  outcomes.filter((o) => o.version === undefined).forEach(checkRefusal);
  expect(await describeRoute(clients[1]!)).toEqual({ version: read + 1, weight: won[0]!.weight });
});

it('10 clients each reading then updating 5 times in parallel: one success per version, the last one stays', async () => {
  const initial = (await describeRoute(clients[0]!)).version;
  // Weights 51..100, one per write.
  const perClient = await Promise.all(
    clients.map(async (c, ci) => {
      const outcomes: Outcome[] = [];
      for (let i = 0; i < WRITES_PER_CLIENT; i++) {
        const { version } = await describeRoute(c);
        outcomes.push(await update(c, 51 + ci * WRITES_PER_CLIENT + i, version));
      }
      return outcomes;
    }),
  );
  const outcomes = perClient.flat();
  expect(outcomes).toHaveLength(50);
  const won = outcomes.filter((o) => o.version !== undefined).sort((a, b) => a.version! - b.version!);
  const final = await describeRoute(clients[0]!);
  // Every success was based on the version current then, and made the next one: one success per version.
  for (const o of won) expect(o.version).toBe(o.basedOn + 1);
  expect(won.map((o) => o.version)).toEqual(Array.from({ length: won.length }, (_, i) => initial + i + 1));
  expect(won.length).toBe(final.version - initial);
  expect(won.length).toBeGreaterThanOrEqual(1);
  // Every other write was refused as stale, and the route is what the last success wrote.
  outcomes.filter((o) => o.version === undefined).forEach(checkRefusal);
  expect(final.weight).toBe(won[won.length - 1]!.weight);
  // On disk too: the route's file holds that weight and version.
  const file = path.join(meshd.apiDir, 'race', 'routes', 'r', 'contended.yaml');
  const text = fs.readFileSync(file, 'utf8');
  expect(text).toMatch(new RegExp(`weight: ${final.weight}\\b`));
  expect(text).toMatch(new RegExp(`version: ${final.version}\\b`));
});
