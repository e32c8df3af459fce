// The remote Cloud Map poller (src/discovery/cloud-map/remote.ts) against a fake Cloud Map, and
// its SDK adapter against a local HTTP server that answers badly. What a user would notice:
// meshd asks DiscoverInstances only when the revision moved; a failing or slow endpoint keeps
// the last good instances and says why; hostile answers are bounded and bad instances skipped.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CombinedCloudMap } from '../../src/discovery/cloud-map/combined';
import {
  RemoteCallError,
  RemoteCloudMap,
  type RawInstance,
  type RemoteApi,
  type RemoteOptions,
} from '../../src/discovery/cloud-map/remote';
import { remoteClient } from '../../src/discovery/cloud-map/remote-client';
import type { DiscoveredInstance } from '../../src/model/cloud-map-instance';

/** A Cloud Map service in memory: its revision, its instances, and every call made to it. */
class FakeCloudMap implements RemoteApi {
  revisionNow = 1;
  instances: RawInstance[] = [];
  calls: { op: string; query?: Record<string, string>; maxResults?: number }[] = [];
  /** Set: every call fails with it. */
  failure: Error | undefined;
  /** Set: calls never answer. */
  hang = false;

  private async answer<T>(value: () => T): Promise<T> {
    if (this.hang) return new Promise<T>(() => undefined);
    if (this.failure) throw this.failure;
    return value();
  }

  revision(): Promise<number> {
    this.calls.push({ op: 'revision' });
    return this.answer(() => this.revisionNow);
  }

  discover(
    _namespace: string,
    _service: string,
    query: Readonly<Record<string, string>>,
    maxResults: number,
  ): Promise<readonly RawInstance[]> {
    this.calls.push({ op: 'discover', query: { ...query }, maxResults });
    return this.answer(() =>
      this.instances.filter((i) =>
        Object.entries(query).every(([k, v]) => (i.Attributes as Record<string, string>)?.[k] === v),
      ),
    );
  }

  count(op: string): number {
    return this.calls.filter((c) => c.op === op).length;
  }
}

const instance = (
  id: string,
  ip = '10.0.0.1',
  extra: Record<string, string> = {},
  health = 'HEALTHY',
): RawInstance => ({
  InstanceId: id,
  HealthStatus: health,
  Attributes: { AWS_INSTANCE_IPV4: ip, AWS_INSTANCE_PORT: '8080', ...extra },
});

const ids = (instances: readonly DiscoveredInstance[] | undefined) => instances?.map((i) => `${i.id}:${i.health}`);

function poller(api: RemoteApi, options: Partial<RemoteOptions> = {}): { remote: RemoteCloudMap; changes: string[][] } {
  const remote = new RemoteCloudMap({
    api,
    pollIntervalMs: 1000,
    refreshIntervalMs: 3_600_000,
    timeoutMs: 200,
    maxInstances: 100,
    ...options,
  });
  const changes: string[][] = [];
  remote.onChange((changed) => changes.push([...changed].map((k) => k.replace('\u0000', '/'))));
  remote.subscribe([{ namespace: 'ns.local', service: 'orders', queries: [{}] }]);
  return { remote, changes };
}

describe('remote Cloud Map poller', () => {
  it('reads the instances on the first poll, then asks only the revision while it stays the same', async () => {
    const fake = new FakeCloudMap();
    fake.instances = [instance('b', '10.0.0.2'), instance('a')];
    const { remote, changes } = poller(fake);
    expect(remote.discover('ns.local', 'orders')).toBeUndefined();

    await remote.pollOnce();
    expect(ids(remote.discover('ns.local', 'orders'))).toEqual(['a:HEALTHY', 'b:HEALTHY']);
    expect(changes).toEqual([['ns.local/orders']]);
    expect([fake.count('revision'), fake.count('discover')]).toEqual([1, 1]);

    // Revision unchanged: no DiscoverInstances, no change announced, even if the fake's list moved meanwhile.
    fake.instances = [instance('a')];
    await remote.pollOnce();
    await remote.pollOnce();
    expect([fake.count('revision'), fake.count('discover')]).toEqual([3, 1]);
    expect(changes).toHaveLength(1);
    expect(ids(remote.discover('ns.local', 'orders'))).toEqual(['a:HEALTHY', 'b:HEALTHY']);
    expect(remote.callsTotal.get('discover')).toBe(1);

    // The revision moved: the instances are read again and the change announced.
    fake.revisionNow = 2;
    await remote.pollOnce();
    expect(fake.count('discover')).toBe(2);
    expect(ids(remote.discover('ns.local', 'orders'))).toEqual(['a:HEALTHY']);
    expect(changes).toEqual([['ns.local/orders'], ['ns.local/orders']]);

    // The revision moved but the answer is the same (a health update undone): nothing announced.
    fake.revisionNow = 3;
    await remote.pollOnce();
    expect(fake.count('discover')).toBe(3);
    expect(changes).toHaveLength(2);
  });

  it("reads the instances again once the refresh interval passed, although the revision stayed (AWS's does not move on a health change)", async () => {
    let now = 1_000_000;
    const fake = new FakeCloudMap();
    fake.instances = [instance('a'), instance('b', '10.0.0.2')];
    const { remote, changes } = poller(fake, { now: () => now, refreshIntervalMs: 10_000 });
    await remote.pollOnce();
    fake.instances = [instance('a'), instance('b', '10.0.0.2', {}, 'UNHEALTHY')];
    now += 9_999;
    await remote.pollOnce();
    expect(fake.count('discover')).toBe(1);
    now += 1;
    await remote.pollOnce();
    expect(fake.count('discover')).toBe(2);
    expect(ids(remote.discover('ns.local', 'orders'))).toEqual(['a:HEALTHY', 'b:UNHEALTHY']);
    expect(changes).toHaveLength(2);
  });

  it("asks for the nodes' attribute filters as QueryParameters, HEALTHY-only is left to the adapter, MaxResults is the bound", async () => {
    const fake = new FakeCloudMap();
    fake.instances = [instance('v1', '10.0.0.1', { version: 'v1' }), instance('v2', '10.0.0.2', { version: 'v2' })];
    const { remote } = poller(fake, { maxInstances: 7 });
    remote.subscribe([{ namespace: 'ns.local', service: 'orders', queries: [{ version: 'v2' }] }]);
    await remote.pollOnce();
    expect(fake.calls.filter((c) => c.op === 'discover')).toEqual([
      { op: 'discover', query: { version: 'v2' }, maxResults: 7 },
    ]);
    expect(ids(remote.discover('ns.local', 'orders'))).toEqual(['v2:HEALTHY']);

    // A node with another filter appears: read at the next poll
    // although the revision did not move; the union is served.
    remote.subscribe([{ namespace: 'ns.local', service: 'orders', queries: [{ version: 'v2' }, { version: 'v1' }] }]);
    await remote.pollOnce();
    expect(fake.count('discover')).toBe(3);
    expect(ids(remote.discover('ns.local', 'orders'))).toEqual(['v1:HEALTHY', 'v2:HEALTHY']);

    // No node references the service any more: it is no longer polled or served.
    remote.subscribe([]);
    await remote.pollOnce();
    expect(fake.count('revision')).toBe(2);
    expect(remote.discover('ns.local', 'orders')).toBeUndefined();
  });

  it('an error keeps the last good instances, is counted and reported with its reason, and clears on the next success', async () => {
    let now = 1_000_000;
    const fake = new FakeCloudMap();
    fake.instances = [instance('a')];
    const warnings: string[] = [];
    const { remote, changes } = poller(fake, {
      now: () => now,
      log: { warn: (m) => warnings.push(m), info: () => undefined },
    });
    await remote.pollOnce();

    fake.failure = new RemoteCallError('network', 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1');
    fake.revisionNow = 2;
    now += 5000;
    await remote.pollOnce();
    now += 5000;
    await remote.pollOnce();
    expect(ids(remote.discover('ns.local', 'orders'))).toEqual(['a:HEALTHY']);
    expect(changes).toHaveLength(1);
    expect(remote.errorsTotal.get('ns.local\u0000orders\u0000network')).toBe(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('ECONNREFUSED');
    expect(warnings[0]).toContain('its last good 1 instance(s) keep serving');
    const report = remote.report() as {
      services: {
        state: string;
        instances: number;
        lastSuccessAgeSeconds: number;
        lastError: { reason: string; message: string; consecutiveFailures: number };
      }[];
    };
    expect(report.services[0]).toMatchObject({
      state: 'failing',
      instances: 1,
      lastSuccessAgeSeconds: 10,
      lastError: { reason: 'network', consecutiveFailures: 2 },
    });
    expect(remote.health()).toEqual([
      { namespace: 'ns.local', service: 'orders', up: false, lastSuccessAgeSeconds: 10 },
    ]);

    // A non-RemoteCallError (a bug in the adapter, say) is kept the same way, as reason `error`.
    fake.failure = new TypeError('boom');
    await remote.pollOnce();
    expect(remote.errorsTotal.get('ns.local\u0000orders\u0000error')).toBe(1);
    expect(ids(remote.discover('ns.local', 'orders'))).toEqual(['a:HEALTHY']);

    fake.failure = undefined;
    fake.instances = [];
    await remote.pollOnce();
    // Answering again, the remote is believed: its service is empty now.
    expect(ids(remote.discover('ns.local', 'orders'))).toEqual([]);
    expect((remote.report() as { services: { state: string; lastError: unknown }[] }).services[0]).toMatchObject({
      state: 'ok',
      lastError: null,
    });
  });

  it('a call that does not answer within the time-out fails as a time-out and keeps the last good instances', async () => {
    const fake = new FakeCloudMap();
    fake.instances = [instance('a')];
    const { remote } = poller(fake, { timeoutMs: 50 });
    await remote.pollOnce();
    fake.hang = true;
    const started = Date.now();
    await remote.pollOnce();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(remote.errorsTotal.get('ns.local\u0000orders\u0000timeout')).toBe(1);
    expect(ids(remote.discover('ns.local', 'orders'))).toEqual(['a:HEALTHY']);
  });

  it('hostile answers: bad instances are skipped and counted, the good ones kept, at most maxInstances', async () => {
    const fake = new FakeCloudMap();
    const tooLong = 'x'.repeat(1025);
    const proto = JSON.parse('{"AWS_INSTANCE_IPV4":"10.0.0.9","__proto__":"x"}') as Record<string, string>;
    fake.instances = [
      instance('good-1'),
      instance('good-1', '10.0.0.7'), // the same id twice
      { InstanceId: 'bad id with spaces', Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' } },
      { InstanceId: 42, Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' } },
      instance('not-an-ip', 'ten.zero.zero.one'),
      instance('metadata', '169.254.169.254'),
      instance('no-address', undefined, {}),
      { InstanceId: 'no-address-2', Attributes: { AWS_INSTANCE_CNAME: 'x.example' } },
      instance('bad-port', '10.0.0.3', { AWS_INSTANCE_PORT: '70000' }),
      instance('long-value', '10.0.0.4', { note: tooLong }),
      { InstanceId: 'proto', Attributes: proto },
      { InstanceId: 'number-value', Attributes: { AWS_INSTANCE_IPV4: '10.0.0.5', weight: 3 } },
      instance('odd-health', '10.0.0.6', {}, 'SORT_OF'),
      instance('good-2', '10.0.0.2', {}, 'UNHEALTHY'),
      instance('good-3', '10.0.0.3'),
      instance('good-4', '10.0.0.4'),
    ];
    (fake.instances[6]!.Attributes as Record<string, unknown>).AWS_INSTANCE_IPV4 = undefined;
    delete (fake.instances[6]!.Attributes as Record<string, unknown>).AWS_INSTANCE_IPV4;
    const { remote } = poller(fake, { maxInstances: 3 });
    await remote.pollOnce();
    expect(ids(remote.discover('ns.local', 'orders'))).toEqual([
      'good-1:HEALTHY',
      'good-2:UNHEALTHY',
      'good-3:HEALTHY',
    ]);
    expect(Object.fromEntries(remote.skippedTotal)).toEqual({
      bad_id: 2,
      duplicate_id: 1,
      attributes: 3,
      address: 5,
      health: 1,
      over_limit: 1,
    });
    // Attributes are held in null-prototype maps: nothing reaches Object.prototype.
    expect(Object.getPrototypeOf(remote.discover('ns.local', 'orders')![0]!.attributes)).toBeNull();

    // The same with --cloud-map-allow-any-address: the metadata address is then accepted.
    const { remote: lenient } = poller(fake, { maxInstances: 100, attributes: { allowAnyAddress: true } });
    await lenient.pollOnce();
    expect(ids(lenient.discover('ns.local', 'orders'))).toContain('metadata:HEALTHY');
  });

  it('an answer that is not a list, or a revision that is not a number, is an invalid_response (last good kept)', async () => {
    const fake = new FakeCloudMap();
    fake.instances = [instance('a')];
    const { remote } = poller(fake);
    await remote.pollOnce();
    fake.revisionNow = 'soon' as unknown as number;
    await remote.pollOnce();
    fake.revisionNow = 5;
    fake.instances = { length: 1 } as unknown as RawInstance[];
    fake.discover = async () => ({ length: 1 }) as unknown as RawInstance[];
    await remote.pollOnce();
    expect(remote.errorsTotal.get('ns.local\u0000orders\u0000invalid_response')).toBe(2);
    expect(ids(remote.discover('ns.local', 'orders'))).toEqual(['a:HEALTHY']);
  });

  it('a service the remote does not have: an error, unless the local registry has it (local only, not reported)', async () => {
    const fake = new FakeCloudMap();
    fake.failure = new RemoteCallError('not_found', 'ServiceNotFound: No service exists with name: orders');
    const { remote } = poller(fake);
    await remote.pollOnce();
    expect(remote.errorsTotal.get('ns.local\u0000orders\u0000not_found')).toBe(1);
    expect((remote.report() as { services: { state: string }[] }).services[0]!.state).toBe('failing');

    const { remote: beside } = poller(fake, { isLocal: () => true });
    await beside.pollOnce();
    expect(beside.errorsTotal.size).toBe(0);
    expect((beside.report() as { services: { state: string }[] }).services[0]!.state).toBe('local-only');
    expect(beside.discover('ns.local', 'orders')).toBeUndefined();
  });

  it('the timer polls every interval once started, and a new subscription is polled at once', async () => {
    const fake = new FakeCloudMap();
    fake.instances = [instance('a')];
    const { remote } = poller(fake, { pollIntervalMs: 100 });
    remote.start();
    try {
      await waitUntil(() => fake.count('revision') >= 3);
      expect(fake.count('discover')).toBe(1);
      const before = fake.count('discover');
      remote.subscribe([{ namespace: 'ns.local', service: 'users', queries: [{}] }]);
      await waitUntil(() => fake.count('discover') > before);
    } finally {
      await remote.close();
    }
    const after = fake.calls.length;
    await new Promise((r) => setTimeout(r, 250));
    expect(fake.calls.length).toBe(after);
  });
});

describe('local and remote together (remote mode)', () => {
  const view = (answers: Map<string, DiscoveredInstance[]>) => {
    const listeners: ((changed: ReadonlySet<string>) => void)[] = [];
    return {
      answers,
      discover: (ns: string, svc: string) => answers.get(`${ns}/${svc}`),
      onChange: (l: (changed: ReadonlySet<string>) => void) => listeners.push(l),
      emit: (key: string) => listeners.forEach((l) => l(new Set([key]))),
    };
  };
  const at = (id: string, ip: string): DiscoveredInstance => ({
    id,
    health: 'UNKNOWN',
    attributes: { AWS_INSTANCE_IPV4: ip },
  });

  it('serves the union of both; on an instance id both have, the local one wins; a change on either side is seen', () => {
    const local = view(new Map([['ns/orders', [at('x', '10.0.0.1'), at('local-only', '10.0.0.9')]]]));
    const remote = view(
      new Map([
        ['ns/orders', [at('x', '10.9.9.9'), at('ecs-task', '10.0.0.2')]],
        ['ns/users', [at('u', '10.0.0.3')]],
      ]),
    );
    const combined = new CombinedCloudMap(local, remote);
    const seen: string[] = [];
    combined.onChange((changed) => seen.push(...changed));
    const addresses = (svc: string) =>
      combined.discover('ns', svc)?.map((i) => `${i.id}@${i.attributes.AWS_INSTANCE_IPV4}`);
    expect(addresses('orders')).toEqual(['x@10.0.0.1', 'local-only@10.0.0.9', 'ecs-task@10.0.0.2']);
    expect(addresses('users')).toEqual(['u@10.0.0.3']);
    expect(addresses('nobody')).toBeUndefined();

    remote.answers.set('ns/orders', []);
    remote.emit('ns\u0000orders');
    expect(addresses('orders')).toEqual(['x@10.0.0.1', 'local-only@10.0.0.9']);
    expect(seen).toEqual(['ns\u0000orders']);
  });
});

describe('remote Cloud Map SDK adapter against a misbehaving endpoint', () => {
  let server: http.Server;
  let endpoint: string;
  let answer: (res: http.ServerResponse) => void;

  beforeAll(async () => {
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => answer(res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const client = () => remoteClient({ endpoint, region: 'us-east-1' });
  const withCredentials = async <T>(run: () => Promise<T>): Promise<T> => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    try {
      return await run();
    } finally {
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      else process.env.AWS_ACCESS_KEY_ID = saved.id;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    }
  };
  const failure = async (run: (api: RemoteApi) => Promise<unknown>): Promise<RemoteCallError> =>
    withCredentials(async () => {
      const c = client();
      try {
        await run(c.api);
        throw new Error('the call succeeded');
      } catch (err) {
        if (!(err instanceof RemoteCallError)) throw err;
        return err;
      } finally {
        c.close();
      }
    });
  const json = (status: number, body: unknown, type?: string) => (res: http.ServerResponse) => {
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      ...(type ? { 'x-amzn-errortype': type } : {}),
    });
    res.end(JSON.stringify(body));
  };

  it('reads a good answer: the revision and the instances', async () => {
    await withCredentials(async () => {
      const c = client();
      try {
        answer = json(200, { InstancesRevision: 7 });
        expect(await c.api.revision('ns', 'svc', new AbortController().signal)).toBe(7);
        answer = json(200, {
          Instances: [{ InstanceId: 'a', HealthStatus: 'HEALTHY', Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' } }],
          InstancesRevision: 7,
        });
        expect(await c.api.discover('ns', 'svc', { version: 'v2' }, 1000, new AbortController().signal)).toEqual([
          { InstanceId: 'a', HealthStatus: 'HEALTHY', Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' } },
        ]);
      } finally {
        c.close();
      }
    });
  });

  it('classifies failures: not found, a 5xx, a 4xx, garbage, a refused connection', async () => {
    answer = json(400, { __type: 'ServiceNotFound', Message: 'No service exists with name: svc' }, 'ServiceNotFound');
    expect((await failure((api) => api.revision('ns', 'svc', new AbortController().signal))).reason).toBe('not_found');
    answer = json(500, { __type: 'InternalFailure', Message: 'oops' });
    expect((await failure((api) => api.revision('ns', 'svc', new AbortController().signal))).reason).toBe(
      'server_error',
    );
    answer = json(400, { __type: 'RequestLimitExceeded', Message: 'slow down' });
    expect((await failure((api) => api.revision('ns', 'svc', new AbortController().signal))).reason).toBe('rejected');
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end('{"InstancesRevision": ');
    };
    expect((await failure((api) => api.revision('ns', 'svc', new AbortController().signal))).reason).toBe(
      'invalid_response',
    );
    const gone = await withCredentials(async () => {
      const c = remoteClient({ endpoint: 'http://127.0.0.1:1', region: 'us-east-1' });
      try {
        return await c.api.revision('ns', 'svc', new AbortController().signal).then(
          () => undefined,
          (e: RemoteCallError) => e,
        );
      } finally {
        c.close();
      }
    });
    expect([gone?.reason, gone?.message]).toEqual(['network', expect.stringContaining('ECONNREFUSED')]);
  });

  it('an answer past the byte limit is cut off before it is parsed, whether or not it says its length', async () => {
    const big = {
      Instances: Array.from({ length: 2000 }, (_, i) => ({
        InstanceId: `i-${i}`,
        Attributes: { note: 'x'.repeat(5000) },
      })),
    };
    answer = json(200, big);
    const declared = await failure((api) => api.discover('ns', 'svc', {}, 1000, new AbortController().signal));
    expect(declared.reason).toBe('invalid_response');
    expect(declared.message).toContain('bytes');
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'transfer-encoding': 'chunked' });
      const chunk = 'x'.repeat(1024 * 1024);
      let sent = 0;
      const more = () => {
        if (res.destroyed) return;
        if (sent++ >= 12) return res.end();
        res.write(chunk, more);
      };
      res.write('{"Instances": [{"InstanceId": "', more);
    };
    const streamed = await failure((api) => api.discover('ns', 'svc', {}, 1000, new AbortController().signal));
    expect(streamed.reason).toBe('invalid_response');
    expect(streamed.message).toContain('longer than');
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
