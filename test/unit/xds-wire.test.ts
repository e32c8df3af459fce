// A SotW response is encoded once per set of resources, nonce included, and written as it is to
// every stream sent that set (xds/wire.ts, xds/sotw-stream.ts). What a client must still see: the
// set's version, resources and type URL under a nonce, a new nonce whenever the content changes,
// and never the same nonce twice in a row on one stream, so that an ACK names one response.
import { nextTurn, adsStreams } from '../helpers/fake-ads-call';
import { adsServiceDefinition } from '../../src/xds/protos';
import { buildSnapshot, makeResource, resourceSet, type Snapshot } from '../../src/xds/resources';
import { TypeUrl } from '../../src/xds/type-urls';
import { sharedSetResponse } from '../../src/xds/wire';

const decode = adsServiceDefinition().StreamAggregatedResources.responseDeserialize as (b: Buffer) => {
  version_info: string;
  type_url: string;
  nonce: string;
  resources: { type_url: string; value: Buffer }[];
};

const cluster = (name: string) => makeResource(TypeUrl.Cluster, name, Buffer.from(`\n\u0001${name}`, 'latin1'));

describe('sharedSetResponse', () => {
  it('carries the set (version, resources in name order, type URL) under the nonce it hands back', () => {
    const set = resourceSet([cluster('b'), cluster('a')]);
    const { nonce, bytes } = sharedSetResponse(set, TypeUrl.Cluster);
    const decoded = decode(bytes);
    expect(decoded.nonce).toBe(nonce);
    expect(decoded.version_info).toBe(set.version);
    expect(decoded.type_url).toBe(TypeUrl.Cluster);
    expect(decoded.resources.map((r) => Buffer.from(r.value).toString('latin1'))).toEqual(['\n\u0001a', '\n\u0001b']);
  });

  it('is made once per set; another set, or the same set as another type, has another nonce', () => {
    const set = resourceSet([cluster('a')]);
    const first = sharedSetResponse(set, TypeUrl.Cluster);
    expect(sharedSetResponse(set, TypeUrl.Cluster).bytes).toBe(first.bytes);
    // Equal content in another set object still gets its own nonce: nonces are never reused for other bytes.
    expect(sharedSetResponse(resourceSet([cluster('a')]), TypeUrl.Cluster).nonce).not.toBe(first.nonce);
    expect(sharedSetResponse(set, TypeUrl.Endpoint).nonce).not.toBe(first.nonce);
  });
});

describe('nonces on SotW streams', () => {
  it('streams sent one set share its bytes and nonce; a new snapshot brings a new nonce', async () => {
    const calls = adsStreams(3, undefined);
    for (const { id, call } of calls) call.request({ node: { id }, type_url: TypeUrl.Cluster });
    await nextTurn();
    const nonces = calls.map(({ call }) => call.responses[0]!.nonce);
    expect(new Set(nonces).size).toBe(1);

    const [{ id, call, cache }] = calls;
    call.request({ node: { id }, type_url: TypeUrl.Cluster, response_nonce: nonces[0], version_info: '' });
    cache.set(id, buildSnapshot(new Map([[TypeUrl.Cluster, [cluster('new')]]])));
    await nextTurn();
    expect(call.responses).toHaveLength(2);
    expect(call.responses[1]!.nonce).not.toBe(nonces[0]);
    expect(call.responses[1]!.version_info).not.toBe(call.responses[0]!.version_info);
  });

  it('the same set sent again right after itself gets a nonce of its own, and only its ACK settles it', async () => {
    const [{ id, call, registry }] = adsStreams(1, undefined);
    const ack = (response: { nonce: string; version_info: string }) =>
      call.request({
        node: { id },
        type_url: TypeUrl.Cluster,
        response_nonce: response.nonce,
        version_info: response.version_info,
      });
    call.request({ node: { id }, type_url: TypeUrl.Cluster });
    const first = call.responses[0]!;
    ack(first);
    await nextTurn();
    // A request naming no nonce asks again (as after a subscription change): answered with the same set.
    call.request({ node: { id }, type_url: TypeUrl.Cluster });
    await nextTurn();
    expect(call.responses).toHaveLength(2);
    const second = call.responses[1]!;
    expect(second.version_info).toBe(first.version_info);
    expect(second.nonce).not.toBe(first.nonce);
    const cds = () => registry.list()[0]!.types.get(TypeUrl.Cluster)!;
    expect(cds().sentVersion).toBe(first.version_info);
    // The first response's nonce is stale now; the second's ACK is what settles the type.
    ack(first);
    await nextTurn();
    expect(call.responses).toHaveLength(2);
    ack(second);
    await nextTurn();
    expect(cds().ackedVersion).toBe(second.version_info);
    expect(call.responses).toHaveLength(2);
  });
});

describe('a hostile client and the shared nonces (they are predictable: s1, s2, ...)', () => {
  it("an ACK naming a nonce another stream was sent settles nothing: each stream's own latest nonce counts", async () => {
    const [a, b] = adsStreams(2, undefined);
    b!.cache.set(b!.id, buildSnapshot(new Map([[TypeUrl.Cluster, [cluster('other')]]])));
    for (const { id, call } of [a!, b!]) call.request({ node: { id }, type_url: TypeUrl.Cluster });
    await nextTurn();
    const [sentA, sentB] = [a!.call.responses[0]!, b!.call.responses[0]!];
    expect(sentA.nonce).not.toBe(sentB.nonce);
    // b claims to have applied what a was sent: stale for b, nothing held, nothing acknowledged.
    b!.call.request({
      node: { id: b!.id },
      type_url: TypeUrl.Cluster,
      response_nonce: sentA.nonce,
      version_info: sentA.version_info,
    });
    await nextTurn();
    const cds = b!.registry
      .list()
      .find((s) => s.nodeId === b!.id)!
      .types.get(TypeUrl.Cluster)!;
    expect(cds.ackedVersion).toBeUndefined();
    expect(cds.sentVersion).toBe(sentB.version_info);
  });
});

describe('shared responses on Delta streams', () => {
  it('streams going from the same set to the same set are sent the same bytes, with what changed and was removed', async () => {
    const calls = adsStreams(3, undefined, 'delta');
    for (const { id, call } of calls) call.request({ node: { id }, type_url: TypeUrl.Cluster });
    await nextTurn();
    const first = calls.map(({ call }) => call.responses[0]!.nonce);
    // One compiled snapshot for the three proxies, as for the streams of one proxy.
    const next = buildSnapshot(new Map([[TypeUrl.Cluster, [cluster('new')]]]));
    for (const { id, call, cache } of calls) {
      call.request({ node: { id }, type_url: TypeUrl.Cluster, response_nonce: call.responses[0]!.nonce });
      cache.set(id, next);
    }
    await nextTurn();
    const second = calls.map(({ call }) => call.written[1]!);
    expect(second[1]).toBe(second[0]);
    expect(second[2]).toBe(second[0]);
    const decoded = calls[0]!.call.responses[1] as unknown as {
      nonce: string;
      resources: { name: string }[];
      removed_resources: string[];
    };
    expect(decoded.resources.map((r) => r.name)).toEqual(['new']);
    expect(decoded.removed_resources).toEqual(['c']);
    expect(first).not.toContain(decoded.nonce);
  });
});

/** A snapshot of clusters `names` at `version`, with `endpoints` (one assignment a cluster) kept as given. */
function clustersAt(version: string, names: string[], endpoints?: Snapshot): Snapshot {
  const eds = resourceSet(names.map((n) => makeResource(TypeUrl.Endpoint, n, Buffer.from(`\n\u0001${n}`, 'latin1'))));
  const cds = resourceSet(
    names.map((n) => makeResource(TypeUrl.Cluster, n, Buffer.from(`\n\u0001${n}\u0012\u0001${version}`, 'latin1'))),
  );
  return {
    types: new Map([
      [TypeUrl.Cluster, cds],
      [TypeUrl.Endpoint, endpoints?.types.get(TypeUrl.Endpoint) ?? eds],
    ]),
  };
}

describe('endpoints sent again after a cluster change (an EDS cluster warms until it gets them)', () => {
  it('are sent even when the endpoints were in flight during the change and ACKed after the clusters', async () => {
    const [{ id, call, cache }] = adsStreams(1, undefined);
    const first = clustersAt('1', ['c']);
    cache.set(id, first);
    call.request({ node: { id }, type_url: TypeUrl.Cluster });
    await nextTurn();
    call.request({ node: { id }, type_url: TypeUrl.Cluster, response_nonce: call.responses[0]!.nonce });
    call.request({ node: { id }, type_url: TypeUrl.Endpoint, resource_names: ['c'] });
    await nextTurn();
    const eds = call.responses[1]!;
    expect(eds.type_url).toBe(TypeUrl.Endpoint);
    // Cluster c changes while the endpoints are in flight; the endpoints themselves do not.
    cache.set(id, clustersAt('2', ['c'], first));
    const cds = call.responses[2]!;
    expect(cds.type_url).toBe(TypeUrl.Cluster);
    call.request({ node: { id }, type_url: TypeUrl.Cluster, response_nonce: cds.nonce });
    call.request({ node: { id }, type_url: TypeUrl.Endpoint, resource_names: ['c'], response_nonce: eds.nonce });
    await nextTurn();
    expect(call.responses.map((r) => r.type_url)).toEqual([
      TypeUrl.Cluster,
      TypeUrl.Endpoint,
      TypeUrl.Cluster,
      TypeUrl.Endpoint,
    ]);
  });

  it("on Delta, each stream gets the endpoints of the clusters that changed for it, not another stream's bytes", async () => {
    const [a, b] = adsStreams(2, undefined, 'delta');
    const first = clustersAt('1', ['c', 'd']);
    // Both streams watch the same endpoints; a's clusters are only c, b's are c and d.
    for (const [{ id, call, cache }, clusters] of [
      [a!, ['c']],
      [b!, ['c', 'd']],
    ] as const) {
      cache.set(id, first);
      call.request({ node: { id }, type_url: TypeUrl.Cluster, resource_names_subscribe: clusters });
      call.request({ node: { id }, type_url: TypeUrl.Endpoint, resource_names_subscribe: ['c', 'd'] });
      await nextTurn();
      for (const r of [...call.responses])
        call.request({ node: { id }, type_url: r.type_url, response_nonce: r.nonce });
      await nextTurn();
    }
    // The clusters change (the endpoints do not): each stream is sent its changed clusters and, with
    // them, their endpoints again.
    const next = clustersAt('2', ['c', 'd'], first);
    for (const { id, cache } of [a!, b!]) cache.set(id, next);
    await nextTurn();
    const sentAgain = (call: typeof a.call) => {
      const eds = call.responses.at(-1) as unknown as { type_url: string; resources: { name: string }[] };
      expect(eds.type_url).toBe(TypeUrl.Endpoint);
      return eds.resources.map((r) => r.name);
    };
    expect(sentAgain(a!.call)).toEqual(['c']);
    expect(sentAgain(b!.call)).toEqual(['c', 'd']);
  });
});
