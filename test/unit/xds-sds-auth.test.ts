// SDS over ADS (secrets served by name only, never held back behind LDS/RDS, a rotation pushes
// only SDS) and the authorize hook (called once, before nodeKey and any response; async with
// the stream's requests held in order; a refusal ends the stream with no response), on sessions
// without a network (test/helpers/fake-ads-call.ts). test/e2e/xds-tls.test.ts covers the same
// over TLS with real clients, and test/e2e/envoy-sds.test.ts with a real Envoy.
import { FakeCall, nextTurn } from '../helpers/fake-ads-call';
import type { AuthorizeResult, StreamCredentials, StreamHooks } from '../../src/xds/ads-session';
import { DEFAULT_XDS_LIMITS, NameBudget } from '../../src/xds/limits';
import { adsServiceDefinition, decodeResource, encodeResource } from '../../src/xds/protos';
import { buildSnapshot, makeResource, SnapshotCache, type Resource } from '../../src/xds/snapshot-cache';
import { DeltaStream, type DeltaCall } from '../../src/xds/delta-stream';
import { SotwStream, type SotwCall } from '../../src/xds/sotw-stream';
import { StreamRegistry } from '../../src/xds/stream-status';
import { TypeUrl } from '../../src/xds/type-urls';
import { renderSnapshot } from '../../src/control/render';

const QUIET = { debug: () => {}, info: () => {}, warn: () => {} };
const METHODS = {
  sotw: adsServiceDefinition().StreamAggregatedResources,
  delta: adsServiceDefinition().DeltaAggregatedResources,
};

function secret(name: string, pem: string): Resource {
  const bytes = encodeResource(TypeUrl.Secret, {
    name,
    validation_context: { trusted_ca: { inline_bytes: Buffer.from(pem) } },
  });
  return makeResource(TypeUrl.Secret, name, bytes);
}
const cluster = (name: string) => makeResource(TypeUrl.Cluster, name, encodeResource(TypeUrl.Cluster, { name }));
const listener = (name: string) => makeResource(TypeUrl.Listener, name, encodeResource(TypeUrl.Listener, { name }));

const CLUSTERS = [cluster('c')];
const LISTENERS = [listener('l')];

function snapshotWith(secrets: Resource[]) {
  return buildSnapshot(
    new Map<string, Resource[]>([
      [TypeUrl.Cluster, CLUSTERS],
      [TypeUrl.Listener, LISTENERS],
      [TypeUrl.Secret, secrets],
    ]),
  );
}

interface Setup {
  cache: SnapshotCache;
  hooks?: Partial<StreamHooks>;
  refused?: string[];
}

function open(protocol: 'sotw' | 'delta', setup: Setup) {
  const keyed: string[] = [];
  const deps = {
    cache: setup.cache,
    registry: new StreamRegistry(),
    hooks: {
      nodeKey: (node: { id: string }) => {
        keyed.push(node.id);
        return node.id;
      },
      ...setup.hooks,
    },
    log: QUIET,
    observer: { streamRefused: (reason: string) => setup.refused?.push(reason) },
    limits: DEFAULT_XDS_LIMITS,
    names: new NameBudget(DEFAULT_XDS_LIMITS.maxNamesTotal),
    refusals: { info: () => {}, warn: () => {} },
    lifecycle: { info: () => {}, warn: () => {} },
    // No request waits for a later turn however slow the machine (ads-turn-budget.test.ts tests that).
    turnBudgetMs: 60_000,
  };
  const call = new FakeCall(METHODS[protocol]);
  const errors: { code: number; message: string }[] = [];
  call.on('error', (err: { code: number; message: string }) => errors.push(err));
  if (protocol === 'sotw') new SotwStream(call as unknown as SotwCall, deps as never);
  else new DeltaStream(call as unknown as DeltaCall, deps as never);
  return { call, errors, keyed };
}

type SotwResponse = { type_url: string; nonce: string; version_info: string; resources: { value: Buffer }[] };
const sotw = (call: FakeCall) => call.responses as unknown as SotwResponse[];
const secretsIn = (res: SotwResponse) =>
  res.resources.map((r) => decodeResource(TypeUrl.Secret, r.value) as { name: string; validationContext?: unknown });

describe('SDS over ADS, state of the world', () => {
  const NODE = { id: 'mesh/m/virtualNode/a' };

  it('sends a secret at once, though CDS and LDS are not ACKed, and a rotation pushes only SDS', async () => {
    const cache = new SnapshotCache();
    cache.set(NODE.id, snapshotWith([secret('meshd/trust-bundle', 'ca-1')]));
    const { call } = open('sotw', { cache });
    call.request({ node: NODE, type_url: TypeUrl.Cluster });
    call.request({ node: NODE, type_url: TypeUrl.Listener });
    call.request({ node: NODE, type_url: TypeUrl.Secret, resource_names: ['meshd/trust-bundle'] });
    await nextTurn();
    // CDS is in flight (not ACKed), so LDS waits; SDS does not.
    expect(sotw(call).map((r) => r.type_url)).toEqual([TypeUrl.Cluster, TypeUrl.Secret]);
    const sds = sotw(call)[1]!;
    expect(secretsIn(sds).map((s) => s.name)).toEqual(['meshd/trust-bundle']);

    // A rotation while LDS still waits for CDS's ACK: SDS is not held back.
    call.request({ node: NODE, type_url: TypeUrl.Secret, resource_names: ['meshd/trust-bundle'], ...ackOf(sds) });
    cache.set(NODE.id, snapshotWith([secret('meshd/trust-bundle', 'ca-2')]));
    await nextTurn();
    expect(sotw(call).map((r) => r.type_url)).toEqual([TypeUrl.Cluster, TypeUrl.Secret, TypeUrl.Secret]);

    // Everything ACKed; then a rotation changes only the secret: only SDS is sent.
    for (const res of sotw(call).slice(0, 1)) call.request({ node: NODE, type_url: res.type_url, ...ackOf(res) });
    await nextTurn();
    const lds = sotw(call).find((r) => r.type_url === TypeUrl.Listener)!;
    call.request({ node: NODE, type_url: TypeUrl.Listener, ...ackOf(lds) });
    const sds2 = sotw(call)[2]!;
    call.request({ node: NODE, type_url: TypeUrl.Secret, resource_names: ['meshd/trust-bundle'], ...ackOf(sds2) });
    await nextTurn();
    const before = sotw(call).length;
    cache.set(NODE.id, snapshotWith([secret('meshd/trust-bundle', 'ca-3')]));
    await nextTurn();
    const pushed = sotw(call).slice(before);
    expect(pushed.map((r) => r.type_url)).toEqual([TypeUrl.Secret]);
    expect(JSON.stringify(secretsIn(pushed[0]!))).toContain(Buffer.from('ca-3').toString('base64'));
  });

  it('serves only the names asked for, never by wildcard, and only from the node’s own snapshot', async () => {
    const cache = new SnapshotCache();
    cache.set(NODE.id, snapshotWith([secret('meshd/identity', 'mine')]));
    cache.set('mesh/m/virtualNode/b', snapshotWith([secret('meshd/identity', 'theirs'), secret('other', 'x')]));
    for (const names of [[], ['*'], ['other'], ['meshd/identity', 'other']]) {
      const { call } = open('sotw', { cache });
      call.request({ node: NODE, type_url: TypeUrl.Secret, resource_names: names });
      await nextTurn();
      const got = sotw(call).flatMap(secretsIn);
      const text = JSON.stringify(got);
      expect(text).not.toContain(Buffer.from('theirs').toString('base64'));
      expect(got.map((s) => s.name)).toEqual(names.includes('meshd/identity') ? ['meshd/identity'] : []);
      if (got.length > 0) expect(text).toContain(Buffer.from('mine').toString('base64'));
    }
  });
});

function ackOf(res: { nonce: string; version_info: string }) {
  return { response_nonce: res.nonce, version_info: res.version_info };
}

describe('SDS over ADS, delta', () => {
  const NODE = { id: 'mesh/m/virtualNode/a' };
  type DeltaResponse = { type_url: string; nonce: string; resources: { name: string }[] };

  it('an empty first request, or "*", subscribes to no secret; a name subscribes to that one', async () => {
    const cache = new SnapshotCache();
    cache.set(NODE.id, snapshotWith([secret('meshd/identity', 'mine'), secret('meshd/trust-bundle', 'ca')]));
    const { call } = open('delta', { cache });
    call.request({ node: NODE, type_url: TypeUrl.Secret });
    await nextTurn();
    const responses = () => call.responses as unknown as DeltaResponse[];
    expect(responses().flatMap((r) => r.resources)).toEqual([]);
    call.request({ node: NODE, type_url: TypeUrl.Secret, resource_names_subscribe: ['*'], ...ack(responses()[0]) });
    await nextTurn();
    expect(responses().flatMap((r) => r.resources)).toEqual([]);
    call.request({ node: NODE, type_url: TypeUrl.Secret, resource_names_subscribe: ['meshd/trust-bundle'] });
    await nextTurn();
    expect(responses().flatMap((r) => r.resources.map((x) => x.name))).toEqual(['meshd/trust-bundle']);
  });

  function ack(res: DeltaResponse | undefined) {
    return res ? { response_nonce: res.nonce } : {};
  }
});

describe('the authorize hook', () => {
  const NODE = { id: 'mesh/m/virtualNode/a' };

  function cacheOf() {
    const cache = new SnapshotCache();
    cache.set(NODE.id, snapshotWith([secret('meshd/identity', 'mine')]));
    return cache;
  }

  for (const protocol of ['sotw', 'delta'] as const) {
    it(`${protocol}: a refusal ends the stream with its status before nodeKey and before any response`, async () => {
      const seen: [string, StreamCredentials][] = [];
      const refused: string[] = [];
      const { call, errors, keyed } = open(protocol, {
        cache: cacheOf(),
        refused,
        hooks: {
          authorize: (node, creds) => {
            seen.push([node.id, creds]);
            return { code: 'unauthenticated', message: 'no credential' };
          },
        },
      });
      call.request({ node: NODE, type_url: TypeUrl.Cluster });
      call.request({ node: NODE, type_url: TypeUrl.Listener });
      await nextTurn();
      expect(seen).toEqual([[NODE.id, {}]]);
      expect(keyed).toEqual([]);
      expect(call.written).toEqual([]);
      expect(errors.map((e) => e.code)).toEqual([16]);
      expect(errors[0]!.message).toBe('no credential');
      expect(refused).toEqual(['unauthenticated']);
    });
  }

  it('an async hook holds the requests in order, then serves them all', async () => {
    let answer!: (r: AuthorizeResult) => void;
    let calls = 0;
    const { call, keyed } = open('sotw', {
      cache: cacheOf(),
      hooks: {
        authorize: () => {
          calls++;
          return new Promise<AuthorizeResult>((resolve) => (answer = resolve));
        },
      },
    });
    call.request({ node: NODE, type_url: TypeUrl.Cluster });
    call.request({ node: NODE, type_url: TypeUrl.Secret, resource_names: ['meshd/identity'] });
    call.request({ node: NODE, type_url: TypeUrl.Listener });
    await nextTurn();
    await nextTurn();
    expect(calls).toBe(1);
    expect(call.paused).toBe(true);
    expect(keyed).toEqual([]);
    expect(call.written).toEqual([]);
    answer(undefined);
    for (let i = 0; i < 4; i++) await nextTurn();
    expect(keyed).toEqual([NODE.id]);
    expect(calls).toBe(1);
    expect(call.paused).toBe(false);
    expect(sotw(call).map((r) => r.type_url)).toEqual([TypeUrl.Cluster, TypeUrl.Secret]);
  });

  it('an async refusal sends nothing for any of the held requests: PERMISSION_DENIED', async () => {
    const refused: string[] = [];
    const { call, errors, keyed } = open('delta', {
      cache: cacheOf(),
      refused,
      hooks: {
        authorize: async () => ({ code: 'permission_denied', message: 'the token names another node' }),
      },
    });
    call.request({ node: NODE, type_url: TypeUrl.Cluster });
    call.request({ node: NODE, type_url: TypeUrl.Secret, resource_names_subscribe: ['meshd/identity'] });
    for (let i = 0; i < 4; i++) await nextTurn();
    expect(call.written).toEqual([]);
    expect(keyed).toEqual([]);
    expect(errors.map((e) => e.code)).toEqual([7]);
    expect(refused).toEqual(['permission_denied']);
  });

  it('a hook that throws or rejects fails closed: INTERNAL, nothing sent, nodeKey never called', async () => {
    for (const authorize of [
      () => {
        throw new Error('policy store down');
      },
      () => Promise.reject(new Error('policy store down')),
    ]) {
      const refused: string[] = [];
      const { call, errors, keyed } = open('sotw', { cache: cacheOf(), refused, hooks: { authorize } });
      call.request({ node: NODE, type_url: TypeUrl.Cluster });
      for (let i = 0; i < 3; i++) await nextTurn();
      expect({ written: call.written.length, keyed, codes: errors.map((e) => e.code), refused }).toEqual({
        written: 0,
        keyed: [],
        codes: [13],
        refused: ['internal_error'],
      });
    }
  });

  for (const protocol of ['sotw', 'delta'] as const) {
    it(`${protocol}: a later request naming another node id is refused with PERMISSION_DENIED`, async () => {
      const cache = cacheOf();
      cache.set('mesh/m/virtualNode/b', snapshotWith([secret('meshd/identity', 'theirs')]));
      const refused: string[] = [];
      const { call, errors } = open(protocol, { cache, refused });
      call.request({ node: NODE, type_url: TypeUrl.Cluster });
      await nextTurn();
      const written = call.written.length;
      const names =
        protocol === 'sotw' ? { resource_names: ['meshd/identity'] } : { resource_names_subscribe: ['meshd/identity'] };
      call.request({ node: { id: 'mesh/m/virtualNode/b' }, type_url: TypeUrl.Secret, ...names });
      await nextTurn();
      expect(call.written.length).toBe(written);
      expect(errors.map((e) => e.code)).toEqual([7]);
      expect(refused).toEqual(['permission_denied']);
      // The same node id again is fine (Envoy may send its node on every request).
      const again = open(protocol, { cache });
      again.call.request({ node: NODE, type_url: TypeUrl.Cluster });
      again.call.request({ node: NODE, type_url: TypeUrl.Secret, ...names });
      await nextTurn();
      expect(again.errors).toEqual([]);
    });
  }
});

describe('a snapshot rendered for reading (meshd proxy-config, /v1/config)', () => {
  it('shows a secret’s certificate but never its private key', () => {
    const identity = {
      name: 'meshd/identity',
      tls_certificate: {
        certificate_chain: { inline_bytes: Buffer.from('CERT-PEM') },
        private_key: { inline_bytes: Buffer.from('KEY-PEM') },
      },
    };
    const snap = buildSnapshot(
      new Map([
        [TypeUrl.Secret, [makeResource(TypeUrl.Secret, identity.name, encodeResource(TypeUrl.Secret, identity))]],
      ]),
    );
    const text = JSON.stringify(renderSnapshot(snap));
    expect(text).toContain(Buffer.from('CERT-PEM').toString('base64'));
    expect(text).not.toContain(Buffer.from('KEY-PEM').toString('base64'));
    expect(text).toContain('[redacted]');
  });
});
