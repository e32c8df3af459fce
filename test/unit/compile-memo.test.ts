// The compile memo (src/compile/memo.ts) and what relies on it: a memoised compile gives every
// proxy of every golden case exactly the bytes a compile without it gives, the encoder's
// spliced route configurations are the bytes protobufjs writes, and a memo hit notes every
// look-up of the memoised computation in the caller's recording (so the caller is recompiled
// when one of them changes).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compileProxy, LookupMemo, NO_CLOUD_MAP, type CloudMapView, type ProxyConfig } from '../../src/compile';
import { ResourceEncoder, resourcesByType } from '../../src/control/encode';
import { offlineRegistry } from '../../src/control/offline-registry';
import { keysOf, recordingReader, type ReadLog } from '../../src/control/recording-reader';
import { LoadCache, loadMesh } from '../../src/load/mesh-source';
import type { MeshReader } from '../../src/model/mesh-model';
import {
  encodeResource,
  encodeVirtualHost,
  envoyRoot,
  isPlainRouteConfiguration,
  routeConfigurationFields,
  spliceRouteConfiguration,
} from '../../src/xds/protos';
import {
  buildSnapshot,
  lengthDelimitedFields,
  makeResource,
  makeSplicedResource,
  type Snapshot,
} from '../../src/xds/resources';
import { TypeUrl } from '../../src/xds/type-urls';
import { GOLDEN_DIR, goldenCases } from '../helpers/golden';
import { meshFolder } from '../helpers/mesh-text';

const SETTINGS = { ingressPort: 15000, egressPort: 15001 };
const OTHER_PORTS = { ingressPort: 15100, egressPort: 15101 };

function loadCase(caseName: string) {
  const loaded = loadMesh([path.join(GOLDEN_DIR, caseName, 'in.yaml')]);
  if (!loaded.ok) throw new Error(`${caseName}: ${loaded.problems.map((p) => p.message).join('\n')}`);
  const cloudMap = offlineRegistry(loaded.cloudMapSeeds);
  if (!cloudMap.ok) throw new Error(`${caseName}: ${cloudMap.problems.map((p) => p.message).join('\n')}`);
  const ids = [
    ...loaded.model.virtualNodes().map((n) => `mesh/${n.mesh}/virtualNode/${n.name}`),
    ...loaded.model.virtualGateways().map((g) => `mesh/${g.mesh}/virtualGateway/${g.name}`),
  ];
  return { model: loaded.model, registry: cloudMap.registry, ids };
}

/** A snapshot as comparable bytes: per type, its version and each resource's Any. */
function wire(snapshot: Snapshot): Record<string, string[]> {
  return Object.fromEntries(
    [...snapshot.types].map(([typeUrl, set]) => [
      typeUrl,
      [set.version, ...[...set.resources.values()].map((r) => `${r.name} ${r.version} ${r.any.toString('base64')}`)],
    ]),
  );
}

/** The snapshot of a config with every resource encoded whole by protobufjs: no cache, no splicing. */
function plainSnapshot(config: ProxyConfig): Snapshot {
  const byType = new Map(
    [...resourcesByType(config)].map(([typeUrl, list]) => [
      typeUrl,
      list.map(({ name, resource }) => makeResource(typeUrl, name, encodeResource(typeUrl, resource))),
    ]),
  );
  return buildSnapshot(byType);
}

describe('a memoised compile', () => {
  it.each(goldenCases())('%s: gives every proxy, sidecar or proxyless, the bytes of a compile without a memo', (c) => {
    const { model, registry, ids } = loadCase(c);
    const memo = new LookupMemo();
    const encoder = new ResourceEncoder();
    // Twice over, so that the second round is served from the memo and the encoder's caches.
    for (const round of [1, 2]) {
      for (const id of ids) {
        // Other ports too: a node's pieces memoised for one proxy's ports must not serve another's.
        for (const settings of [SETTINGS, { ...SETTINGS, proxyless: true }, OTHER_PORTS]) {
          const plain = compileProxy(model, registry, id, settings);
          const memoised = compileProxy(model, registry, id, settings, memo);
          expect({ round, id, ok: memoised.ok }).toEqual({ round, id, ok: plain.ok });
          if (!plain.ok || !memoised.ok) continue;
          expect(memoised.config).toEqual(plain.config);
          expect({ round, id, wire: wire(encoder.snapshot(memoised.config)) }).toEqual({
            round,
            id,
            wire: wire(plainSnapshot(plain.config)),
          });
        }
      }
    }
  });
});

describe('spliceRouteConfiguration', () => {
  it('gives the bytes encodeResource gives for every route configuration of every golden case', () => {
    let checked = 0;
    for (const c of goldenCases()) {
      const { model, registry, ids } = loadCase(c);
      for (const id of ids) {
        const result = compileProxy(model, registry, id, SETTINGS);
        for (const route of result.ok ? result.config.routes : []) {
          expect(isPlainRouteConfiguration(route)).toBe(true);
          const spliced = spliceRouteConfiguration(route.name!, route.virtual_hosts!.map(encodeVirtualHost));
          expect(spliced.toString('hex')).toBe(encodeResource(TypeUrl.Route, route).toString('hex'));
          // Written straight into its Any: the resource makeResource makes of those bytes.
          const direct = makeSplicedResource(
            TypeUrl.Route,
            route.name!,
            routeConfigurationFields(route.name!, route.virtual_hosts!.map(encodeVirtualHost)),
          );
          expect(direct).toEqual(makeResource(TypeUrl.Route, route.name!, spliced));
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('is used only for a route configuration with a name and virtual hosts and nothing else', () => {
    expect(isPlainRouteConfiguration({ name: 'r', virtual_hosts: [], validate_clusters: {} })).toBe(false);
    expect(isPlainRouteConfiguration({ name: 'r' })).toBe(false);
    expect(isPlainRouteConfiguration({ name: 'r', virtual_hosts: [] })).toBe(true);
  });
});

describe('makeResource', () => {
  it('writes spliced fields into the Any as lengthDelimitedFields would, long lengths included', () => {
    for (const sizes of [[0], [3, 200], [70_000, 1, 130], []]) {
      const fields = sizes.map((n, i) => [i + 1, Buffer.alloc(n, i)] as const);
      const spliced = makeSplicedResource(TypeUrl.Cluster, 'c', fields);
      expect(spliced).toEqual(makeResource(TypeUrl.Cluster, 'c', lengthDelimitedFields(fields)));
    }
  });

  it("wraps a resource in the Any protobufjs writes (type_url, value), and versions it by the resource's bytes", () => {
    const Any = envoyRoot().lookupType('google.protobuf.Any');
    for (const bytes of [Buffer.alloc(0), Buffer.from('abc'), Buffer.alloc(200, 7), Buffer.alloc(70_000, 1)]) {
      const resource = makeResource(TypeUrl.Route, 'r', bytes);
      const expected = Buffer.from(Any.encode(Any.create({ type_url: TypeUrl.Route, value: bytes })).finish());
      expect(resource.any.toString('hex')).toBe(expected.toString('hex'));
      expect(resource.version).toBe(createHash('sha256').update(bytes).digest('hex').slice(0, 16));
    }
  });
});

describe('LookupMemo', () => {
  /** A reader over a mutable world, noting every look-up it answers (as the controller's recording reader does). */
  function world() {
    const nodes = new Map<string, object>([['a', { n: 'a' }]]);
    const routes = new Map<string, object[]>([['r', [{ route: 1 }]]]);
    const instances = new Map<string, object[]>([['svc', [{ id: 'i-1' }]]]);
    const noted: string[] = [];
    const reader = {
      mesh: (m: string) => (noted.push(`mesh ${m}`), undefined),
      virtualNode: (_m: string, name: string) => (noted.push(`node ${name}`), nodes.get(name)),
      routesOf: (_m: string, router: string) => (noted.push(`routes ${router}`), [...(routes.get(router) ?? [])]),
    } as unknown as MeshReader;
    const cloudMap: CloudMapView = {
      discover: (_ns, service) => (noted.push(`cloud map ${service}`), instances.get(service) as never),
    };
    return { nodes, routes, instances, noted, reader, cloudMap };
  }

  const compute = (m: MeshReader, c: CloudMapView) => ({
    node: m.virtualNode('apps', 'a'),
    routes: m.routesOf('apps', 'r'),
    instances: c.discover('ns', 'svc'),
  });

  it("computes once while the look-ups answer the same objects, and a hit notes each look-up in the caller's reader", () => {
    const w = world();
    const memo = new LookupMemo();
    let computed = 0;
    const counted = (m: MeshReader, c: CloudMapView) => (computed++, compute(m, c));
    const first = memo.get('k', w.reader, w.cloudMap, counted);
    w.noted.length = 0;
    // The route list is a new array with the same routes: still a hit.
    expect(memo.get('k', w.reader, w.cloudMap, counted)).toBe(first);
    expect(computed).toBe(1);
    expect(w.noted).toEqual(['node a', 'routes r', 'cloud map svc']);
  });

  it('computes again when a look-up answers a different object: a node, a route or a Cloud Map instance list', () => {
    const w = world();
    const memo = new LookupMemo();
    let last = memo.get('k', w.reader, w.cloudMap, compute);
    for (const change of [
      () => w.nodes.set('a', { n: 'a' }),
      () => w.routes.set('r', [{ route: 1 }]),
      () => w.routes.set('r', [...w.routes.get('r')!, { route: 2 }]),
      () => w.instances.set('svc', [{ id: 'i-1' }]),
      () => w.nodes.delete('a'),
    ]) {
      change();
      const next = memo.get('k', w.reader, w.cloudMap, compute);
      expect(next).not.toBe(last);
      expect(next).toEqual(compute(w.reader, w.cloudMap));
      last = next;
    }
  });

  it("notes an inner memo's look-ups in the outer entry, so a change under the inner one reaches the outer one", () => {
    const w = world();
    const memo = new LookupMemo();
    const outer = (m: MeshReader, c: CloudMapView) => ({ inner: memo.get('inner', m, c, compute) });
    memo.get('inner', w.reader, w.cloudMap, compute); // the inner entry exists first: the outer one hits it
    const first = memo.get('outer', w.reader, w.cloudMap, outer);
    w.routes.set('r', [{ route: 3 }]);
    w.noted.length = 0;
    const second = memo.get('outer', w.reader, w.cloudMap, outer);
    expect(second).not.toBe(first);
    expect(second.inner.routes).toEqual([{ route: 3 }]);
    expect(w.noted).toContain('routes r');
  });

  it('in a model built on the one an entry was found valid in, computes again exactly when one of its look-ups changed there', () => {
    const node = (name: string, port: number) =>
      `kind: VirtualNode\nmesh: apps\nname: ${name}\nspec:\n  listeners: [{ portMapping: { port: ${port}, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: ${name}.local } }\n`;
    const route = (weight: number) =>
      `kind: Route\nmesh: apps\nvirtualRouter: r\nname: one\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action: { weightedTargets: [{ virtualNode: a, weight: ${weight} }] }\n`;
    const dir = meshFolder({
      'mesh.yaml': 'kind: Mesh\nname: apps\n',
      'a.yaml': node('a', 8080),
      'b.yaml': node('b', 8080),
      'router.yaml':
        'kind: VirtualRouter\nmesh: apps\nname: r\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n',
      'route.yaml': route(1),
    });
    const cache = new LoadCache();
    const load = () => {
      const loaded = loadMesh([dir], { cache });
      if (!loaded.ok) throw new Error(loaded.problems.map((p) => p.message).join('\n'));
      return loaded.model;
    };
    const read = (m: MeshReader) => ({ node: m.virtualNode('apps', 'a'), routes: m.routesOf('apps', 'r') });
    const memo = new LookupMemo();
    const m1 = load();
    const first = memo.get('k', recordingReader(m1, []), NO_CLOUD_MAP, read);
    // b is not read: still a hit, and the caller's recording gets the entry's look-ups.
    fs.writeFileSync(path.join(dir, 'b.yaml'), node('b', 9090));
    const m2 = load();
    expect(m2.changedSince(m1)?.size).toBe(1);
    const log: ReadLog = [];
    expect(memo.get('k', recordingReader(m2, log), NO_CLOUD_MAP, read)).toBe(first);
    expect([...keysOf(log)].sort()).toEqual(['apps/Route/r/*', 'apps/VirtualNode/a']);
    // The route the entry read changed: computed again, in the model after that too.
    fs.writeFileSync(path.join(dir, 'route.yaml'), route(2));
    const m3 = load();
    const third = memo.get('k', recordingReader(m3, []), NO_CLOUD_MAP, read);
    expect(third).not.toBe(first);
    expect(third).toEqual(read(m3));
    fs.writeFileSync(path.join(dir, 'a.yaml'), node('a', 9090));
    const m4 = load();
    const fourth = memo.get('k', recordingReader(m4, []), NO_CLOUD_MAP, read);
    expect(fourth).not.toBe(third);
    expect(fourth).toEqual(read(m4));
  });

  it('interns equal plans to the first one met, and derives once per object', () => {
    const memo = new LookupMemo();
    const a = { name: 'x', port: 1 };
    expect(memo.interned({ name: 'x', port: 1 })).toBe(memo.interned(a));
    expect(memo.interned({ name: 'x', port: 2 })).not.toBe(memo.interned(a));
    let derived = 0;
    const derive = (o: object) => (derived++, { of: o });
    expect(memo.derived(a, derive)).toBe(memo.derived(a, derive));
    expect(derived).toBe(1);
    expect(NO_CLOUD_MAP.discover('ns', 'svc')).toBeUndefined();
  });

  it('builds again when any input is not the very value it was built from, and only then', () => {
    const memo = new LookupMemo();
    const node = { n: 1 };
    let built = 0;
    const build = () => ({ built: ++built });
    const first = memo.whileSame('k', [node, 8080, 'http', undefined], build);
    expect(memo.whileSame('k', [node, 8080, 'http', undefined], build)).toBe(first);
    expect(memo.whileSame('k', [{ n: 1 }, 8080, 'http', undefined], build)).not.toBe(first);
    const second = memo.whileSame('k', [node, 8080, 'http'], build);
    expect(second).not.toBe(first);
    expect(memo.whileSame('other', [node, 8080, 'http'], build)).not.toBe(second);
    expect(built).toBe(4);
  });
});
