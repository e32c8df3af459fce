// Leader election on a Lease in an in-memory API server (helpers/fake-kube.ts), with short periods: one of two
// replicas leads, a released lease is taken at once, a lease whose holder stopped renewing only after it expired,
// a leader that cannot renew steps down after renewDeadline, and a live lease of another holder is left alone.
import { KubeError, LEASES, type KubeObject } from '../../src/k8s/kube-api';
import { LeaseElector, microTime } from '../../src/k8s/lease';
import { FakeKube } from '../helpers/fake-kube';
import { waitFor } from '../helpers/processes';

interface LeaseSpec {
  holderIdentity?: string;
  leaseTransitions?: number;
  renewTime?: string;
  acquireTime?: string;
  leaseDurationSeconds?: number;
}

const FAST = { leaseDurationSeconds: 0.6, renewDeadlineSeconds: 0.4, retryPeriodSeconds: 0.1 };

function elector(api: FakeKube, identity: string, extra: Partial<ConstructorParameters<typeof LeaseElector>[0]> = {}) {
  const events: [boolean, string][] = [];
  const logs: string[] = [];
  const e = new LeaseElector({
    client: api,
    namespace: 'meshd',
    name: 'meshd-leader',
    identity,
    log: { info: (m) => logs.push(`info ${m}`), warn: (m) => logs.push(`warn ${m}`) },
    ...FAST,
    ...extra,
  });
  e.onLeadership((leading, reason) => events.push([leading, reason]));
  return { e, events, logs };
}

const spec = (api: FakeKube): LeaseSpec =>
  ((api.objects.get('leases/meshd/meshd-leader') as KubeObject | undefined)?.spec ?? {}) as LeaseSpec;

describe('LeaseElector', () => {
  const running: LeaseElector[] = [];
  afterEach(async () => {
    for (const e of running.splice(0)) await e.stop();
  });

  it('lets exactly one of two replicas lead, and hands over at once on a release', async () => {
    const api = new FakeKube();
    const a = elector(api, 'a');
    const b = elector(api, 'b');
    running.push(a.e, b.e);
    a.e.start();
    b.e.start();
    const leader = await waitFor('a leader', () => (a.e.leading ? a : b.e.leading ? b : undefined));
    const other = leader === a ? b : a;
    const leaderId = leader === a ? 'a' : 'b';
    await waitFor('the other to see the holder', () => (other.e.holder === leaderId ? true : undefined));
    // Several renewals later, still one leader.
    await new Promise((r) => setTimeout(r, 400));
    expect([a.e.leading, b.e.leading].filter(Boolean)).toHaveLength(1);
    expect(leader.e.fence()).toEqual({ holder: leaderId, transitions: 0 });
    expect(other.e.fence()).toBeUndefined();
    // The one that lost the race to create the lease (409) never believed it led, not even for a moment.
    expect(other.events).toEqual([]);
    expect(api.calls.filter((c) => c.startsWith('create')).length).toBe(2);
    expect(spec(api)).toMatchObject({ holderIdentity: leaderId, leaseTransitions: 0, leaseDurationSeconds: 1 });
    expect(spec(api).renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    const began = Date.now();
    await leader.e.stop({ release: true });
    expect(leader.e.leading).toBe(false);
    expect(leader.events.at(-1)).toEqual([false, 'stopped']);
    await waitFor('the other to take over', () => (other.e.leading ? true : undefined));
    console.log(`released lease taken over after ${Date.now() - began} ms (retry period 100 ms)`);
    expect(other.events.at(-1)?.[1]).toBe('took the lease (released or expired)');
    expect(spec(api)).toMatchObject({ holderIdentity: other === a ? 'a' : 'b', leaseTransitions: 1 });
    expect(other.e.fence()?.transitions).toBe(1);
  });

  it('takes a lease whose holder stopped renewing only after it expired', async () => {
    const api = new FakeKube();
    const a = elector(api, 'a');
    running.push(a.e);
    a.e.start();
    await waitFor('a to lead', () => (a.e.leading ? true : undefined));
    const b = elector(api, 'b');
    running.push(b.e);
    b.e.start();
    await waitFor('b to see a', () => (b.e.holder === 'a' ? true : undefined));
    const began = Date.now();
    const renewedAt = Date.parse(spec(api).renewTime ?? '');
    await a.e.stop(); // No release: the lease stays a's until it expires.
    expect(spec(api).holderIdentity).toBe('a');
    await waitFor('b to take over', () => (b.e.leading ? true : undefined));
    const tookAt = Date.parse(spec(api).acquireTime ?? '');
    console.log(
      `expired lease taken over ${Date.now() - began} ms after the holder stopped, ` +
        `${tookAt - renewedAt} ms after its last renewal (leaseDurationSeconds 1: 0.6 rounded up, the field is whole seconds)`,
    );
    expect(b.events).toEqual([[true, 'took the lease from a (expired)']]);
    expect(spec(api)).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  it('steps down when it cannot renew within renewDeadline, and leads again once it can', async () => {
    const api = new FakeKube();
    const a = elector(api, 'a');
    running.push(a.e);
    a.e.start();
    await waitFor('a to lead', () => (a.e.leading ? true : undefined));
    api.failAll = new KubeError('etcdserver: request timed out', 500, 'InternalError');
    await waitFor('a to step down', () => (a.e.leading ? undefined : true));
    expect(a.events).toEqual([
      [true, 'created the lease'],
      [false, 'could not renew the lease within 0.4 s'],
    ]);
    expect(a.e.fence()).toBeUndefined();
    // One warning for the repeated failure, not one per retry.
    expect(a.logs.filter((l) => l.startsWith('warn'))).toEqual([
      'warn cannot read lease meshd/meshd-leader: etcdserver: request timed out',
    ]);
    api.failAll = undefined;
    await waitFor('a to lead again', () => (a.e.leading ? true : undefined));
    expect(a.events.at(-1)).toEqual([true, 'holds the lease again']);
    expect(spec(api).leaseTransitions).toBe(0);
  });

  it('steps down on a renewal call that hangs past renewDeadline', async () => {
    const api = new FakeKube();
    const a = elector(api, 'a');
    running.push(a.e);
    a.e.start();
    await waitFor('a to lead', () => (a.e.leading ? true : undefined));
    let release!: () => void;
    api.hold = new Promise<void>((r) => (release = r));
    await waitFor('a to step down', () => (a.e.leading ? undefined : true));
    api.hold = undefined;
    release();
  });

  it('leaves a live lease of another holder alone and takes it once expired by the clock', async () => {
    const api = new FakeKube();
    let clock = Date.parse('2026-01-01T00:00:00Z');
    api.put(LEASES, {
      metadata: { name: 'meshd-leader', namespace: 'meshd' },
      spec: { holderIdentity: 'ghost', leaseDurationSeconds: 15, renewTime: microTime(clock), leaseTransitions: 4 },
    });
    const a = elector(api, 'a', { now: () => clock });
    running.push(a.e);
    a.e.start();
    await waitFor('a to see ghost', () => (a.e.holder === 'ghost' ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    expect(a.e.leading).toBe(false);
    clock += 14_000;
    await new Promise((r) => setTimeout(r, 300));
    expect(a.e.leading).toBe(false);
    clock += 2_000;
    await waitFor('a to take the expired lease', () => (a.e.leading ? true : undefined));
    expect(spec(api)).toMatchObject({ holderIdentity: 'a', leaseTransitions: 5, acquireTime: microTime(clock) });
  });

  it('never leads on a renewal whose answer came after the deadline counted from its sending', async () => {
    const api = new FakeKube();
    const a = elector(api, 'a');
    running.push(a.e);
    a.e.start();
    await waitFor('a to lead', () => (a.e.leading ? true : undefined));
    // Every renewal now takes longer than the lease (0.6 s): its success proves nothing about the present.
    api.delay = (call) => (call.startsWith('replace') ? new Promise((r) => setTimeout(r, 700)) : undefined);
    await waitFor('a to step down', () => (a.e.leading ? undefined : true));
    const steppedDown = a.events.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(a.e.leading).toBe(false);
    expect(a.events.slice(steppedDown)).toEqual([]);
    console.log(
      `replace calls sent while each took 700 ms: ${api.calls.filter((c) => c.startsWith('replace')).length}`,
    );
    api.delay = undefined;
    await waitFor('a to lead again', () => (a.e.leading ? true : undefined));
  });

  it("judges another holder's expiry by its own clock, not by the holder's (skewed) renewTime", async () => {
    const api = new FakeKube();
    const skewed = (): string => microTime(Date.now() - 60_000); // The holder's clock is a minute behind.
    api.put(LEASES, {
      metadata: { name: 'meshd-leader', namespace: 'meshd' },
      spec: { holderIdentity: 'ghost', leaseDurationSeconds: 1, renewTime: skewed(), leaseTransitions: 2 },
    });
    // The holder renews every 100 ms, well within its lease.
    const renew = setInterval(() => {
      const lease = api.objects.get('leases/meshd/meshd-leader') as KubeObject;
      api.put(LEASES, { ...lease, spec: { ...(lease.spec as LeaseSpec), renewTime: skewed() } });
    }, 100);
    try {
      const a = elector(api, 'a');
      running.push(a.e);
      a.e.start();
      await waitFor('a to see ghost', () => (a.e.holder === 'ghost' ? true : undefined));
      await new Promise((r) => setTimeout(r, 1500));
      expect(a.e.leading).toBe(false);
      expect(spec(api).holderIdentity).toBe('ghost');
      clearInterval(renew);
      await waitFor('a to take the lease once ghost stopped renewing', () => (a.e.leading ? true : undefined));
    } finally {
      clearInterval(renew);
    }
  });

  it('releases on stop even while a renewal hangs (waits for it no longer than renewDeadline)', async () => {
    const api = new FakeKube();
    const a = elector(api, 'a');
    running.push(a.e);
    a.e.start();
    await waitFor('a to lead', () => (a.e.leading ? true : undefined));
    let unhang!: () => void;
    const hang = new Promise<void>((r) => (unhang = r));
    let hung = false;
    api.delay = (call) => {
      if (hung || !call.startsWith('replace')) return undefined;
      hung = true;
      return hang;
    };
    try {
      await waitFor('a renewal to hang', () => (hung ? true : undefined));
      const began = Date.now();
      await a.e.stop({ release: true });
      console.log(`stop with release took ${Date.now() - began} ms with a renewal hanging (renew deadline 400 ms)`);
      expect(spec(api).holderIdentity).toBe('');
      expect(a.logs).toContain('info released lease meshd/meshd-leader');
    } finally {
      unhang();
    }
  }, 10_000);

  it('survives a listener that throws', async () => {
    const api = new FakeKube();
    const a = elector(api, 'a');
    running.push(a.e);
    a.e.onLeadership(() => {
      throw new Error('listener bug');
    });
    a.e.start();
    await waitFor('a to lead', () => (a.e.leading ? true : undefined));
    expect(a.logs).toContain('warn a leadership listener failed: listener bug');
    expect(a.events).toEqual([[true, 'created the lease']]);
  });
});
