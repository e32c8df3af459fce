// xDS protocol conformance of meshd's ADS server, against real gRPC clients on loopback (SotW
// and Delta), one rule per test. The server is exercised on its own, with a generic snapshot
// cache holding small hand-made resources: xds/ knows nothing about App Mesh.
import { encodeResource, decodeResource } from '../../src/xds/protos';
import { buildSnapshot, makeResource, versionOf, type Resource, type Snapshot } from '../../src/xds/resources';
import { startXdsServer, type XdsServer } from '../../src/xds/server';
import { SnapshotCache } from '../../src/xds/snapshot-cache';
import { syncState } from '../../src/xds/stream-status';
import { TypeUrl } from '../../src/xds/type-urls';
import type { DiscoveryResponse__Output } from '../../src/generated/envoy/service/discovery/v3/DiscoveryResponse';
import { AdsTestClient, DeltaTestClient } from '../helpers/ads-client';
import { waitFor } from '../helpers/processes';

const NODE = { id: 'node-a', cluster: 'test' };
const CDS = TypeUrl.Cluster;
const EDS = TypeUrl.Endpoint;
const LDS = TypeUrl.Listener;
const RDS = TypeUrl.Route;

const cluster = (name: string, timeoutSeconds = 1): Resource =>
  makeResource(
    CDS,
    name,
    encodeResource(CDS, {
      name,
      type: 'EDS',
      connect_timeout: { seconds: timeoutSeconds },
      eds_cluster_config: { eds_config: { ads: {} } },
    }),
  );
const assignment = (name: string, port = 8080): Resource =>
  makeResource(
    EDS,
    name,
    encodeResource(EDS, {
      cluster_name: name,
      endpoints: [
        { lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] },
      ],
    }),
  );
const listener = (name: string, routeName: string): Resource =>
  makeResource(LDS, name, encodeResource(LDS, { name, stat_prefix: routeName }));
const routeConfig = (name: string, clusterName: string): Resource =>
  makeResource(
    RDS,
    name,
    encodeResource(RDS, {
      name,
      virtual_hosts: [
        { name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: clusterName } }] },
      ],
    }),
  );

function snapshotOf(parts: {
  clusters?: Resource[];
  endpoints?: Resource[];
  listeners?: Resource[];
  routes?: Resource[];
}): Snapshot {
  return buildSnapshot(
    new Map([
      [CDS, parts.clusters ?? []],
      [EDS, parts.endpoints ?? []],
      [LDS, parts.listeners ?? []],
      [RDS, parts.routes ?? []],
    ]),
  );
}

/** The names in a SotW response. */
const namesIn = (res: DiscoveryResponse__Output): string[] =>
  res.resources.map((r) => {
    const decoded = decodeResource(r.type_url, r.value) as { name?: string; cluster_name?: string };
    return decoded.name ?? decoded.cluster_name ?? '';
  });

/** A small mesh: cluster A with its endpoints, listener L and route config R pointing at A. */
const base = () =>
  snapshotOf({
    clusters: [cluster('A')],
    endpoints: [assignment('A')],
    listeners: [listener('L', 'R')],
    routes: [routeConfig('R', 'A')],
  });

describe('ADS conformance (real gRPC clients, SotW and Delta)', () => {
  let cache: SnapshotCache;
  let server: XdsServer;
  let logs: string[];
  const clients: { close(): void }[] = [];

  const sotw = () => {
    const c = new AdsTestClient(server.port);
    clients.push(c);
    return c;
  };
  const delta = () => {
    const c = new DeltaTestClient(server.port);
    clients.push(c);
    return c;
  };
  const typeStatus = (typeUrl: string, nodeId = NODE.id) =>
    server.streams
      .list()
      .find((s) => s.nodeId === nodeId)
      ?.types.get(typeUrl);

  beforeEach(async () => {
    cache = new SnapshotCache();
    cache.set(NODE.id, base());
    logs = [];
    const log = {
      debug: (_f: object, m: string) => logs.push(`debug ${m}`),
      info: (_f: object, m: string) => logs.push(`info ${m}`),
      warn: (_f: object, m: string) => logs.push(`warn ${m}`),
    };
    server = await startXdsServer({ host: '127.0.0.1', port: 0, cache, hooks: { nodeKey: (node) => node.id }, log });
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.close();
  });

  describe('state of the world', () => {
    it('answers each type with its own nonce and a content-hash version, and records the ACK', async () => {
      const c = sotw();
      c.send({ node: NODE, type_url: CDS });
      const cds = await c.next();
      c.send({ node: NODE, type_url: EDS, resource_names: ['A'] });
      const eds = await c.next();
      expect([cds.type_url, eds.type_url]).toEqual([CDS, EDS]);
      expect(cds.version_info).toMatch(/^[0-9a-f]{16}$/);
      expect(cds.nonce).not.toBe(eds.nonce);
      c.ack(cds, NODE);
      await waitFor('the CDS ACK', () => (typeStatus(CDS)?.ackedVersion === cds.version_info ? true : undefined));
      expect(syncState(typeStatus(CDS)!)).toBe('SYNCED');
      expect(syncState(typeStatus(EDS)!)).toBe('STALE'); // sent, not yet ACKed
    });

    it('treats a request carrying error_detail as a NACK whatever its version_info, and never resends that version', async () => {
      const c = sotw();
      c.send({ node: NODE, type_url: CDS });
      const first = await c.next();
      // version_info names the very version that was sent: only error_detail makes it a NACK.
      c.send({
        node: NODE,
        type_url: CDS,
        version_info: first.version_info,
        response_nonce: first.nonce,
        error_detail: { code: 3, message: 'cluster A rejected by test' },
      });
      expect(await c.quietFor(300)).toBe(true);
      expect(syncState(typeStatus(CDS)!)).toBe('NACKED');
      expect(typeStatus(CDS)!.lastNack).toMatchObject({
        version: first.version_info,
        message: 'cluster A rejected by test',
      });
      expect(logs).toContain(
        `warn xds: proxy ${NODE.id} NACKed CDS version ${first.version_info}: cluster A rejected by test`,
      );

      // The same content again (a reload that changed nothing for this node) is not resent.
      cache.set(
        NODE.id,
        snapshotOf({
          clusters: [cluster('A')],
          endpoints: [assignment('A', 9999)],
          listeners: [listener('L', 'R')],
          routes: [routeConfig('R', 'A')],
        }),
      );
      expect(await c.quietFor(300)).toBe(true);
      // A new version is.
      cache.set(
        NODE.id,
        snapshotOf({
          clusters: [cluster('A', 2)],
          endpoints: [assignment('A')],
          listeners: [listener('L', 'R')],
          routes: [routeConfig('R', 'A')],
        }),
      );
      const second = await c.next();
      expect(second.version_info).not.toBe(first.version_info);
      c.ack(second, NODE);
      await waitFor('the new version to be SYNCED', () =>
        syncState(typeStatus(CDS)!) === 'SYNCED' ? true : undefined,
      );
    });

    it('ignores a request whose nonce is not the latest response of its type', async () => {
      const c = sotw();
      c.send({ node: NODE, type_url: CDS });
      const first = await c.next();
      c.send({ node: NODE, type_url: CDS, version_info: first.version_info, response_nonce: 'not-a-nonce-meshd-sent' });
      expect(await c.quietFor(200)).toBe(true);
      expect(typeStatus(CDS)!.ackedVersion).toBeUndefined();
      c.ack(first, NODE);
      await waitFor('the ACK with the right nonce', () =>
        typeStatus(CDS)!.ackedVersion === first.version_info ? true : undefined,
      );
    });

    it('sends a named resource that does not exist yet as soon as it appears', async () => {
      const c = sotw();
      c.send({ node: NODE, type_url: EDS, resource_names: ['A', 'B'] });
      const first = await c.next();
      expect(namesIn(first)).toEqual(['A']);
      c.ack(first, NODE, ['A', 'B']);
      await waitFor('the ACK', () => (typeStatus(EDS)?.ackedVersion ? true : undefined));
      cache.set(
        NODE.id,
        snapshotOf({
          clusters: [cluster('A'), cluster('B')],
          endpoints: [assignment('A'), assignment('B')],
          listeners: [listener('L', 'R')],
          routes: [routeConfig('R', 'A')],
        }),
      );
      expect(namesIn(await c.next())).toEqual(['A', 'B']);
    });

    it('serves CDS and LDS to a request naming nothing (wildcard), but RDS and EDS only by name', async () => {
      cache.set(
        NODE.id,
        snapshotOf({
          clusters: [cluster('A'), cluster('B')],
          endpoints: [assignment('A'), assignment('B')],
          listeners: [listener('L', 'R')],
          routes: [routeConfig('R', 'A'), routeConfig('R2', 'B')],
        }),
      );
      const c = sotw();
      c.send({ node: NODE, type_url: CDS });
      const cds = await c.next();
      expect(namesIn(cds)).toEqual(['A', 'B']);
      c.ack(cds, NODE);
      c.send({ node: NODE, type_url: EDS, resource_names: ['A', 'B'] });
      c.ack(await c.next(), NODE, ['A', 'B']);
      // (listeners and routes wait for the clusters and their endpoints to be ACKed)
      c.send({ node: NODE, type_url: LDS });
      expect(namesIn(await c.next())).toEqual(['L']);
      c.send({ node: NODE, type_url: RDS, resource_names: ['R2'] });
      expect(namesIn(await c.next())).toEqual(['R2']);
      const all = sotw();
      all.send({ node: NODE, type_url: EDS, resource_names: ['*'] });
      expect(namesIn(await all.next())).toEqual(['A', 'B']); // '*' asks for everything explicitly
    });

    it('removes a cluster by leaving it out, only after the listeners and routes that used it moved on', async () => {
      const c = sotw();
      const sync = async (typeUrl: string, names: string[] = []) => {
        c.send({ node: NODE, type_url: typeUrl, resource_names: names });
        const res = await c.next();
        c.ack(res, NODE, names);
        return res;
      };
      await sync(CDS);
      const firstEds = await sync(EDS, ['A']);
      await sync(LDS);
      await sync(RDS, ['R']);
      await waitFor('everything ACKed', () => (['SYNCED'].includes(syncState(typeStatus(RDS)!)) ? true : undefined));

      // A is replaced by B: the route moves from A to B.
      cache.set(
        NODE.id,
        snapshotOf({
          clusters: [cluster('B')],
          endpoints: [assignment('B')],
          listeners: [listener('L', 'R')],
          routes: [routeConfig('R', 'B')],
        }),
      );
      const addB = await c.next();
      expect(addB.type_url).toBe(CDS);
      expect(namesIn(addB)).toEqual(['A', 'B']); // B added, A kept while R still routes to it
      // Nothing else moves until the clusters are ACKed.
      expect(await c.quietFor(200)).toBe(true);
      c.ack(addB, NODE);
      // Listeners and routes still wait: cluster B has no endpoints yet.
      expect(await c.quietFor(200)).toBe(true);
      // Envoy asks for B's endpoints once it has cluster B (naming the last EDS response it saw).
      c.send({
        node: NODE,
        type_url: EDS,
        resource_names: ['A', 'B'],
        version_info: firstEds.version_info,
        response_nonce: firstEds.nonce,
      });
      const eds = await c.next();
      expect(eds.type_url).toBe(EDS);
      expect(namesIn(eds)).toEqual(['A', 'B']);
      c.ack(eds, NODE, ['A', 'B']);
      const rds = await c.next();
      expect(rds.type_url).toBe(RDS);
      c.ack(rds, NODE, ['R']);
      // Only now is A removed.
      const removeA = await c.next();
      expect(removeA.type_url).toBe(CDS);
      expect(namesIn(removeA)).toEqual(['B']);
    });

    it('resends the endpoints of a changed cluster even when they did not change, so it can finish warming', async () => {
      const c = sotw();
      c.send({ node: NODE, type_url: CDS });
      const cds = await c.next();
      c.ack(cds, NODE);
      c.send({ node: NODE, type_url: EDS, resource_names: ['A'] });
      const eds = await c.next();
      c.ack(eds, NODE, ['A']);
      await waitFor('EDS ACKed', () => (typeStatus(EDS)?.ackedVersion ? true : undefined));

      cache.set(
        NODE.id,
        snapshotOf({
          clusters: [cluster('A', 5)],
          endpoints: [assignment('A')],
          listeners: [listener('L', 'R')],
          routes: [routeConfig('R', 'A')],
        }),
      );
      const cds2 = await c.next();
      expect(cds2.type_url).toBe(CDS);
      const eds2 = await c.next();
      expect(eds2.type_url).toBe(EDS);
      expect(eds2.version_info).toBe(eds.version_info); // same content, sent again under a new nonce
      expect(eds2.nonce).not.toBe(eds.nonce);
    });

    it('holds one response per type in flight and then sends the latest state, never a backlog', async () => {
      const c = sotw();
      c.send({ node: NODE, type_url: CDS });
      const first = await c.next();
      for (let t = 2; t <= 6; t++)
        cache.set(NODE.id, snapshotOf({ clusters: [cluster('A', t)], endpoints: [assignment('A')] }));
      expect(await c.quietFor(200)).toBe(true);
      c.ack(first, NODE);
      const latest = await c.next();
      expect(latest.version_info).toBe(snapshotOf({ clusters: [cluster('A', 6)] }).types.get(CDS)!.version);
      c.ack(latest, NODE);
      expect(await c.quietFor(200)).toBe(true);
    });

    it('keeps serving other proxies while one stops reading its stream', async () => {
      cache.set('node-b', base());
      const stuck = sotw();
      stuck.send({ node: NODE, type_url: CDS });
      await stuck.next();
      stuck.pause();
      const healthy = sotw();
      healthy.send({ node: { id: 'node-b' }, type_url: CDS });
      let res = await healthy.next();
      for (let t = 2; t <= 40; t++) {
        const big = Array.from({ length: 50 }, (_, i) => cluster(`C${i}`, t));
        cache.set(NODE.id, snapshotOf({ clusters: big }));
        cache.set('node-b', snapshotOf({ clusters: big }));
        healthy.ack(res, { id: 'node-b' });
        res = await healthy.next();
        expect(res.version_info).toBe(snapshotOf({ clusters: big }).types.get(CDS)!.version);
      }
      // The stuck stream was sent its first response only: nothing piles up for it.
      expect(typeStatus(CDS, NODE.id)!.sentVersion).toBe(base().types.get(CDS)!.version);
    });

    it('sends nothing to a reconnecting client that already holds the current version', async () => {
      const c = sotw();
      c.send({ node: NODE, type_url: CDS });
      const first = await c.next();
      c.close();
      const again = sotw();
      again.send({ node: NODE, type_url: CDS, version_info: first.version_info });
      expect(await again.quietFor(300)).toBe(true);
      await waitFor('the reconnected stream to show SYNCED', () =>
        typeStatus(CDS) && syncState(typeStatus(CDS)!) === 'SYNCED' ? true : undefined,
      );
      // …and the next change reaches it as usual.
      cache.set(NODE.id, snapshotOf({ clusters: [cluster('A', 9)] }));
      expect(namesIn(await again.next())).toEqual(['A']);
    });

    it('gives the same content the same version on another server', async () => {
      const c = sotw();
      c.send({ node: NODE, type_url: LDS });
      const mine = await c.next();
      const otherCache = new SnapshotCache();
      otherCache.set(NODE.id, base());
      const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined };
      const other = await startXdsServer({
        host: '127.0.0.1',
        port: 0,
        cache: otherCache,
        hooks: { nodeKey: (n) => n.id },
        log: quiet,
      });
      const oc = new AdsTestClient(other.port);
      oc.send({ node: NODE, type_url: LDS });
      expect((await oc.next()).version_info).toBe(mine.version_info);
      oc.close();
      await other.close();
    });

    it('closes a stream whose first request has no node id', async () => {
      const c = sotw();
      c.send({ type_url: CDS });
      await waitFor('the stream to end', () => (c.ended ? true : undefined));
      expect(logs.some((l) => l.includes('first request has no node id'))).toBe(true);
    });
  });

  describe('delta (incremental)', () => {
    it('sends a wildcard subscriber everything, then only what changed, and removals by name', async () => {
      const c = delta();
      c.send({ node: NODE, type_url: CDS });
      const first = await c.next();
      expect(first.resources.map((r) => r.name)).toEqual(['A']);
      expect(first.resources[0]!.version).toBe(cluster('A').version);
      c.ack(first, NODE);
      await waitFor('the ACK', () => (typeStatus(CDS)?.ackedVersion ? true : undefined));

      cache.set(NODE.id, snapshotOf({ clusters: [cluster('A'), cluster('B')], endpoints: [assignment('A')] }));
      const added = await c.next();
      expect(added.resources.map((r) => r.name)).toEqual(['B']);
      expect(added.removed_resources).toEqual([]);
      c.ack(added, NODE);

      cache.set(NODE.id, snapshotOf({ clusters: [cluster('B')] }));
      const removed = await c.next();
      expect(removed.resources).toEqual([]);
      expect(removed.removed_resources).toEqual(['A']);
      c.ack(removed, NODE);
      await waitFor('SYNCED', () => (syncState(typeStatus(CDS)!) === 'SYNCED' ? true : undefined));
    });

    it('follows explicit subscriptions: unknown names wait, unsubscribed names are dropped', async () => {
      const c = delta();
      c.send({ node: NODE, type_url: EDS, resource_names_subscribe: ['A', 'B'] });
      const first = await c.next();
      expect(first.resources.map((r) => r.name)).toEqual(['A']);
      c.ack(first, NODE);
      cache.set(
        NODE.id,
        snapshotOf({ clusters: [cluster('A'), cluster('B')], endpoints: [assignment('A'), assignment('B')] }),
      );
      const b = await c.next();
      expect(b.resources.map((r) => r.name)).toEqual(['B']);
      c.ack(b, NODE);
      c.send({ node: NODE, type_url: EDS, resource_names_unsubscribe: ['A'] });
      const onlyB = versionOf([assignment('B')]);
      await waitFor('the unsubscription to be applied', () =>
        typeStatus(EDS)?.targetVersion === onlyB ? true : undefined,
      );
      cache.set(
        NODE.id,
        snapshotOf({ clusters: [cluster('A'), cluster('B')], endpoints: [assignment('A', 1), assignment('B')] }),
      );
      expect(await c.quietFor(300)).toBe(true); // A changed, but nobody asks for it any more
    });

    it('sends a reconnecting client only the difference from initial_resource_versions', async () => {
      cache.set(NODE.id, snapshotOf({ clusters: [cluster('A'), cluster('B', 2), cluster('C')] }));
      const c = delta();
      c.send({
        node: NODE,
        type_url: CDS,
        initial_resource_versions: { A: cluster('A').version, B: cluster('B', 1).version, Gone: 'deadbeefdeadbeef' },
      });
      const diff = await c.next();
      expect(diff.resources.map((r) => r.name)).toEqual(['B', 'C']);
      expect(diff.removed_resources).toEqual(['Gone']);

      // Holding exactly the current versions: nothing is sent.
      const d = delta();
      d.send({
        node: NODE,
        type_url: CDS,
        initial_resource_versions: { A: cluster('A').version, B: cluster('B', 2).version, C: cluster('C').version },
      });
      expect(await d.quietFor(300)).toBe(true);
      const held = server.streams
        .list()
        .find(
          (s) =>
            s.protocol === 'delta' &&
            s.types.get(CDS)?.ackedVersion !== undefined &&
            syncState(s.types.get(CDS)!) === 'SYNCED',
        );
      expect(held).toBeDefined(); // shown as holding the current version, not as never sent
    });

    it('after a reconnect, keeps a cluster known only by its reported version until the routes stop naming it', async () => {
      const c = delta();
      const reported = (r: Resource) => ({ [r.name]: r.version });
      // The client reconnects holding A and the listener and routes that use it.
      c.send({ node: NODE, type_url: CDS, initial_resource_versions: reported(cluster('A')) });
      c.send({ node: NODE, type_url: LDS, initial_resource_versions: reported(listener('L', 'R')) });
      c.send({
        node: NODE,
        type_url: RDS,
        resource_names_subscribe: ['R'],
        initial_resource_versions: reported(routeConfig('R', 'A')),
      });
      await waitFor('the three subscriptions', () => (server.streams.list()[0]?.types.size === 3 ? true : undefined));
      cache.set(
        NODE.id,
        snapshotOf({ clusters: [cluster('B')], listeners: [listener('L', 'R')], routes: [routeConfig('R', 'B')] }),
      );
      const cds = await c.next();
      expect([cds.type_url, cds.resources.map((r) => r.name), cds.removed_resources]).toEqual([CDS, ['B'], []]);
      c.ack(cds, NODE);
      const rds = await c.next();
      expect(rds.type_url).toBe(RDS);
      c.ack(rds, NODE);
      const removal = await c.next();
      expect([removal.type_url, removal.removed_resources]).toEqual([CDS, ['A']]);
    });

    it('does not resend a NACKed change, and sends the next one', async () => {
      const c = delta();
      c.send({ node: NODE, type_url: CDS });
      c.ack(await c.next(), NODE);
      cache.set(NODE.id, snapshotOf({ clusters: [cluster('A', 3)] }));
      const bad = await c.next();
      c.send({ node: NODE, type_url: CDS, response_nonce: bad.nonce, error_detail: { code: 3, message: 'nope' } });
      expect(await c.quietFor(300)).toBe(true);
      expect(syncState(typeStatus(CDS)!)).toBe('NACKED');
      cache.set(NODE.id, snapshotOf({ clusters: [cluster('A', 4)] }));
      const good = await c.next();
      expect(good.resources[0]!.version).toBe(cluster('A', 4).version);
    });

    it('orders a change the same way: clusters, then routes once they are ACKed, then removals', async () => {
      const c = delta();
      for (const [typeUrl, names] of [
        [CDS, []],
        [EDS, ['A']],
        [LDS, []],
        [RDS, ['R']],
      ] as const) {
        c.send({ node: NODE, type_url: typeUrl, resource_names_subscribe: [...names] });
        c.ack(await c.next(), NODE);
      }
      cache.set(
        NODE.id,
        snapshotOf({
          clusters: [cluster('B')],
          endpoints: [assignment('B')],
          listeners: [listener('L', 'R')],
          routes: [routeConfig('R', 'B')],
        }),
      );
      const cds = await c.next();
      expect([cds.type_url, cds.resources.map((r) => r.name), cds.removed_resources]).toEqual([CDS, ['B'], []]);
      expect(await c.quietFor(200)).toBe(true);
      c.ack(cds, NODE);
      // Routes wait for B's endpoints, which the client has not asked for yet.
      expect(await c.quietFor(200)).toBe(true);
      c.send({ node: NODE, type_url: EDS, resource_names_subscribe: ['B'] });
      const eds = await c.next();
      expect(eds.resources.map((r) => r.name)).toEqual(['B']);
      c.ack(eds, NODE);
      const rds = await c.next();
      expect(rds.type_url).toBe(RDS);
      c.ack(rds, NODE);
      const removal = await c.next();
      expect([removal.type_url, removal.removed_resources]).toEqual([CDS, ['A']]);
    });
  });
});
