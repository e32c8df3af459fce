// The PostgreSQL leader lease stands a leader down when its renewals stop, even when its expiry timer fires before
// performance.now() reaches the deadline (Node counts timers
// from the event loop's cached time, which lags a busy loop).
import type { Pool } from 'pg';
import { LeaderLease } from '../../src/store/postgres/leader-lease';

describe('LeaderLease expiry', () => {
  let now: jest.SpyInstance<number, []>;
  afterEach(() => now?.mockRestore());

  it('a new leader holds its fence when told; one whose renewals hang stands down even when its timer fires early', async () => {
    let answer = true;
    const pool = {
      query: () =>
        answer ? Promise.resolve({ rowCount: 1, rows: [{ term: '7' }] }) : new Promise(() => undefined /* hangs */),
    } as unknown as Pool;
    const changes: Array<[boolean, number, string]> = [];
    // What the listener sees when told: a new leader acts at once, so it must already lead, with its fence.
    const fences: unknown[] = [];
    const lease: LeaderLease = new LeaderLease(pool, {
      holder: 'a',
      ttlMs: 500,
      renewEveryMs: 10_000,
      onChange: (leading, term, reason) => {
        changes.push([leading, term, reason]);
        fences.push(lease.fence);
      },
    });
    const real = performance.now.bind(performance);
    let lag = 0;
    now = jest.spyOn(performance, 'now').mockImplementation(() => real() - lag);
    lease.start();
    await new Promise((r) => setImmediate(r));
    expect(changes).toEqual([[true, 7, 'took the lease']]);
    expect(fences).toEqual([{ holder: 'a', term: 7 }]);
    answer = false;
    // The clock the lease reads trails the timers' clock by 150 ms: the expiry timer fires before the deadline.
    lag = 150;
    await new Promise((r) => setTimeout(r, 450));
    expect(changes).toHaveLength(1);
    lag = 0;
    await new Promise((r) => setTimeout(r, 300));
    expect(changes[1]).toEqual([false, 7, 'could not renew the lease in time']);
    expect(lease.leading).toBe(false);
    await lease.close();
  });
});
