// The ADS server serving a mesh through MeshController, against a real gRPC client: what a
// node gets, NACK bookkeeping, unknown nodes and last-good configuration. The protocol rules
// themselves are in ads-conformance.test.ts. No Envoy needed here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MeshController } from '../../src/control/mesh-controller';
import { CloudMapRegistry } from '../../src/discovery/cloud-map/registry';
import { loadMesh } from '../../src/load/mesh-source';
import type { MeshModel } from '../../src/model/mesh-model';
import { decodeResource } from '../../src/xds/protos';
import { createLogger } from '../../src/util/log';
import { startXdsServer, type XdsServer } from '../../src/xds/server';
import { SnapshotCache } from '../../src/xds/snapshot-cache';
import { syncState } from '../../src/xds/stream-status';
import { TypeUrl } from '../../src/xds/type-urls';
import { AdsTestClient } from '../helpers/ads-client';
import { meshFolder, QUICKSTART_MESH } from '../helpers/mesh-text';
import { waitFor } from '../helpers/processes';

const FRONT = { id: 'mesh/apps/virtualNode/front', cluster: 'front' };

function load(dir: string): MeshModel {
  const result = loadMesh([dir]);
  if (!result.ok) throw new Error('fixture mesh is invalid');
  return result.model;
}

/** The quickstart mesh with the color route's weights replaced. */
function quickstartWithWeights(blue: number, green: number): MeshModel {
  const text = fs
    .readFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), 'utf8')
    .replace('{ virtualNode: color-blue, weight: 100 }', `{ virtualNode: color-blue, weight: ${blue} }`)
    .replace('{ virtualNode: color-green, weight: 0 }', `{ virtualNode: color-green, weight: ${green} }`);
  return load(meshFolder({ 'mesh.yaml': text }));
}

describe('ADS server (state of the world) with a real gRPC client', () => {
  let server: XdsServer;
  let controller: MeshController;
  let logs: string[];
  let client: AdsTestClient;

  beforeEach(async () => {
    logs = [];
    // The text logger's lines are `<time> <level> <message> <fields>`; keep `<level> <message>`.
    const log = createLogger({
      level: 'debug',
      write: (line) =>
        logs.push(
          line
            .replace(/^\S+ (\w+)\s+/, '$1 ')
            .replace(/ \w+=\S+/g, '')
            .trimEnd(),
        ),
    });
    const cache = new SnapshotCache();
    controller = new MeshController(cache, new CloudMapRegistry(), log);
    controller.setModel(quickstartWithWeights(100, 0));
    server = await startXdsServer({ host: '127.0.0.1', port: 0, cache, hooks: controller, log });
    client = new AdsTestClient(server.port);
  });

  afterEach(async () => {
    client.close();
    await server.close();
  });

  it('answers a wildcard CDS request with every cluster of the node, and records the ACK', async () => {
    client.send({ node: FRONT, type_url: TypeUrl.Cluster });
    const res = await client.next();
    expect(res.type_url).toBe(TypeUrl.Cluster);
    expect(res.version_info).toMatch(/^[0-9a-f]{16}$/);
    expect(res.resources.map((r) => decodeResource(r.type_url, r.value).name)).toEqual([
      'cds_egress_apps_color-blue_http_9081',
      'cds_egress_apps_color-green_http_9082',
      'cds_ingress_apps_front_http_9080',
    ]);
    client.send({ node: FRONT, type_url: TypeUrl.Cluster, version_info: res.version_info, response_nonce: res.nonce });
    await waitFor('the ACK to be recorded', () =>
      server.streams.list()[0]?.types.get(TypeUrl.Cluster)?.ackedVersion === res.version_info ? true : undefined,
    );
    expect(syncState(server.streams.list()[0]!.types.get(TypeUrl.Cluster)!)).toBe('SYNCED');
    expect(logs).toContain(`debug xds: proxy ${FRONT.id} ACKed CDS version ${res.version_info}`);
  });

  it('sends only the route configurations a proxy names', async () => {
    client.send({ node: FRONT, type_url: TypeUrl.Route, resource_names: ['rds_egress_http_15001'] });
    const res = await client.next();
    expect(res.resources.map((r) => decodeResource(r.type_url, r.value).name)).toEqual(['rds_egress_http_15001']);
  });

  it('never resends a NACKed version, and sends the next version when the mesh changes', async () => {
    client.send({ node: FRONT, type_url: TypeUrl.Route, resource_names: ['rds_egress_http_15001'] });
    const first = await client.next();
    client.send({
      node: FRONT,
      type_url: TypeUrl.Route,
      resource_names: ['rds_egress_http_15001'],
      response_nonce: first.nonce,
      error_detail: { code: 3, message: 'route rejected by test' },
    });
    expect(await client.quietFor(300)).toBe(true);
    const status = server.streams.list()[0]!.types.get(TypeUrl.Route)!;
    expect(syncState(status)).toBe('NACKED');
    expect(status.lastNack).toMatchObject({ version: first.version_info, message: 'route rejected by test' });
    expect(
      logs.some((l) =>
        l.startsWith(`warn xds: proxy ${FRONT.id} NACKed RDS version ${first.version_info}: route rejected by test`),
      ),
    ).toBe(true);

    controller.setModel(quickstartWithWeights(50, 50));
    const second = await client.next();
    expect(second.version_info).not.toBe(first.version_info);
    expect(second.nonce).not.toBe(first.nonce);
  });

  it('logs a node id that names nothing, serves it nothing, and serves it once the mesh defines it', async () => {
    const ghost = { id: 'mesh/apps/virtualNode/ghost', cluster: 'ghost' };
    client.send({ node: ghost, type_url: TypeUrl.Cluster });
    expect(await client.quietFor(300)).toBe(true);
    expect(logs).toContain(
      "error node id 'mesh/apps/virtualNode/ghost' names virtual node 'ghost', which is not defined in mesh 'apps'; it gets no configuration until the mesh defines it",
    );

    const other = new AdsTestClient(server.port);
    other.send({ node: FRONT, type_url: TypeUrl.Cluster });
    expect((await other.next()).resources).toHaveLength(3);
    other.close();

    const text = fs.readFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), 'utf8');
    controller.setModel(
      load(meshFolder({ 'mesh.yaml': `${text}---\nkind: VirtualNode\nmesh: apps\nname: ghost\nspec: {}\n` })),
    );
    expect((await client.next()).type_url).toBe(TypeUrl.Cluster);
  });

  it('keeps serving the last good configuration to a proxy whose node a new mesh no longer defines', async () => {
    client.send({ node: FRONT, type_url: TypeUrl.Cluster });
    const served = await client.next();
    const text = fs.readFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), 'utf8');
    // The same mesh without the front node (and the backends only it had).
    controller.setModel(
      load(
        meshFolder({
          'mesh.yaml': text
            .split('---\n')
            .filter((doc) => !doc.includes('name: front'))
            .join('---\n'),
        }),
      ),
    );
    expect(await client.quietFor(300)).toBe(true);
    expect(logs).toContain(
      `error node id '${FRONT.id}' names virtual node 'front', which is not defined in mesh 'apps'; it keeps its last good configuration`,
    );
    expect(server.streams.list()[0]!.types.get(TypeUrl.Cluster)!.sentVersion).toBe(served.version_info);
  });
});
