// The workload certificate cache (src/ca/workload-certificates.ts), on a real CertificateAuthority with an
// injected clock, random source and timers: the first ask answers undefined and issues once however many ask;
// renewal happens between 50 % and 80 % of the life, at a point that differs per certificate; a CA rotation
// re-issues every identity under the new root; new DNS names re-issue; failures are retried with backoff and
// never escape a timer; the cache is bounded.
import { CertificateAuthority, type Issued, type WorkloadRequest } from '../../src/ca/authority';
import { WorkloadCertificates, type Timers, type WorkloadIssuer } from '../../src/ca/workload-certificates';
import { MemoryCaStateStore, opensslVerify } from '../helpers/ca';

const HOUR = 3600_000;
const id = (name: string) => `spiffe://meshd.local/mesh/demo/virtualNode/${name}`;

/** Timers driven by the test's clock: advance() runs what falls due, in order. */
class FakeClock implements Timers {
  time = Date.now();
  private seq = 0;
  readonly pending = new Map<number, { at: number; callback: () => void }>();
  now = (): number => this.time;
  setTimeout(callback: () => void, ms: number): unknown {
    const handle = ++this.seq;
    this.pending.set(handle, { at: this.time + ms, callback });
    return handle;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  /** When the next timer falls due. */
  next(): number | undefined {
    return Math.min(...[...this.pending.values()].map((t) => t.at));
  }
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      const due = [...this.pending.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.pending.delete(due[0]);
      this.time = Math.max(this.time, due[1].at);
      due[1].callback();
      await settle();
    }
    this.time = end;
  }
}

/** Lets issues in flight finish (key generation and signing resolve on the thread pool). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Counts issues, and fails the next `failNext` of them. */
class CountingIssuer implements WorkloadIssuer {
  issues: WorkloadRequest[] = [];
  failNext = 0;
  /** The most issues for one identity running at the same time. */
  mostAtOnce = 0;
  private running = new Map<string, number>();
  constructor(readonly ca: CertificateAuthority) {}
  async issueWorkload(request: WorkloadRequest): Promise<Issued> {
    this.issues.push(request);
    const running = (this.running.get(request.spiffeId) ?? 0) + 1;
    this.running.set(request.spiffeId, running);
    this.mostAtOnce = Math.max(this.mostAtOnce, running);
    try {
      if (this.failNext > 0) {
        this.failNext--;
        throw new Error('the store is down');
      }
      return await this.ca.issueWorkload(request);
    } finally {
      this.running.set(request.spiffeId, running - 1);
    }
  }
  onChange(listener: () => void): () => void {
    return this.ca.onChange(listener);
  }
}

async function setup(options: { random?: () => number; maxIdentities?: number; ttlMs?: number } = {}) {
  const clock = new FakeClock();
  const ca = await CertificateAuthority.open({ store: new MemoryCaStateStore(), now: clock.now });
  const issuer = new CountingIssuer(ca);
  const warnings: string[] = [];
  const logger = { warn: (...args: unknown[]) => warnings.push(String(args[args.length - 1])), debug: () => undefined };
  const certs = new WorkloadCertificates({
    authority: issuer,
    ttlMs: options.ttlMs ?? 10 * HOUR,
    now: clock.now,
    timers: clock,
    logger,
    ...options,
  });
  const changes: string[][] = [];
  certs.onChange((ids) => changes.push(ids));
  return { clock, ca, issuer, certs, changes, warnings };
}

describe('workload certificates', () => {
  it('issues once for concurrent asks, answers undefined until then, and says when it is there', async () => {
    const { certs, issuer, changes, ca } = await setup();
    const web = { spiffeId: id('web'), dnsNames: ['web.demo'] };
    expect(certs.current(web)).toBeUndefined();
    expect(certs.current(web)).toBeUndefined();
    expect(certs.current({ ...web, dnsNames: ['web.demo', 'web.demo'] })).toBeUndefined();
    await until('the issue', () => changes.length > 0);
    expect(issuer.issues).toHaveLength(1);
    expect(changes).toEqual([[id('web')]]);
    const issued = certs.current(web)!;
    expect(issued).toBeDefined();
    expect(opensslVerify(ca.trustBundlePem(), issued.certificateChainPem)).toBe('');
    expect(certs.current(web)).toBe(issued);
    certs.close();
  });

  // The life counts from the issue, not from notBefore (back-dated 60 s for clock skew): with 1 min
  // certificates that back-dating would otherwise put the renewal 0-36 s after the issue.
  it.each([
    [0, 10 * HOUR],
    [0.5, 10 * HOUR],
    [0.999, 10 * HOUR],
    [0, 60_000],
    [0.999, 60_000],
  ])('renews between 50 %% and 80 %% of the life (random %p, life %p ms)', async (r, ttlMs) => {
    const { certs, clock, issuer, changes } = await setup({ random: () => r, ttlMs });
    const web = { spiffeId: id('web'), dnsNames: [] };
    const issuedAt = clock.time;
    certs.current(web);
    await until('the issue', () => changes.length > 0);
    const first = certs.current(web)!;
    expect(first.notBefore.getTime()).toBeLessThan(issuedAt);
    const life = first.notAfter.getTime() - issuedAt;
    const renewAt = clock.next()! - issuedAt;
    expect(renewAt / life).toBeCloseTo(0.5 + 0.3 * r, ttlMs > HOUR ? 3 : 1);
    expect(renewAt).toBeGreaterThanOrEqual(Math.floor(ttlMs * 0.5) - 1000);
    expect(renewAt).toBeLessThanOrEqual(ttlMs * 0.8);
    // Nothing before that point; a new certificate right after it.
    await clock.advance(clock.next()! - clock.time - 1000);
    expect(issuer.issues).toHaveLength(1);
    await clock.advance(1000);
    await until('the renewal', () => changes.length === 2);
    const second = certs.current(web)!;
    expect(second.serialHex).not.toBe(first.serialHex);
    expect(issuer.issues).toHaveLength(2);
    certs.close();
  });

  it('gives certificates issued together different renewal points (jitter)', async () => {
    const { certs, clock, changes } = await setup();
    for (const name of ['a', 'b', 'c', 'd']) certs.current({ spiffeId: id(name), dnsNames: [] });
    await until('the issues', () => changes.flat().length === 4);
    const points = new Set([...clock.pending.values()].map((t) => Math.round(t.at / 1000)));
    expect(points.size).toBe(4);
    certs.close();
  });

  it('re-issues every identity under the new root after a rotation, serving the old until then', async () => {
    const { certs, ca, changes } = await setup();
    for (const name of ['a', 'b']) certs.current({ spiffeId: id(name), dnsNames: [] });
    await until('the issues', () => changes.flat().length === 2);
    const before = certs.current({ spiffeId: id('a'), dnsNames: [] })!;
    await ca.rotate();
    // Still served while the new one is made.
    expect(certs.current({ spiffeId: id('a'), dnsNames: [] })).toBe(before);
    await until('the re-issues', () => changes.flat().length === 4);
    for (const name of ['a', 'b']) {
      const issued = certs.current({ spiffeId: id(name), dnsNames: [] })!;
      expect(issued.issuerFingerprint).toBe(ca.state().issuer.fingerprint);
      expect(issued.issuerFingerprint).not.toBe(before.issuerFingerprint);
    }
    certs.close();
  });

  it('runs one issue at a time per identity; names asked for meanwhile are issued next', async () => {
    const { certs, issuer, ca, changes } = await setup();
    certs.current({ spiffeId: id('web'), dnsNames: ['a.demo'] });
    certs.current({ spiffeId: id('web'), dnsNames: ['b.demo'] });
    await ca.rotate();
    await until('the last names', () => certs.current({ spiffeId: id('web'), dnsNames: ['b.demo'] }) !== undefined);
    await settle();
    expect(issuer.mostAtOnce).toBe(1);
    // The first issue, then the new names (once, or again if the rotation landed after that one began).
    const names = issuer.issues.map((r) => r.dnsNames);
    expect(names[0]).toEqual(['a.demo']);
    expect(names.slice(1).length).toBeGreaterThanOrEqual(1);
    expect(names.slice(1).every((n) => n?.join() === 'b.demo')).toBe(true);
    expect(certs.current({ spiffeId: id('web'), dnsNames: ['b.demo'] })!.issuerFingerprint).toBe(
      ca.state().issuer.fingerprint,
    );
    expect(new Set(changes.flat())).toEqual(new Set([id('web')]));
    certs.close();
  });

  it('re-issues for a new list of DNS names', async () => {
    const { certs, changes } = await setup();
    certs.current({ spiffeId: id('web'), dnsNames: ['a.demo'] });
    await until('the issue', () => changes.length === 1);
    expect(certs.current({ spiffeId: id('web'), dnsNames: ['b.demo', 'a.demo'] })).toBeUndefined();
    await until('the re-issue', () => changes.length === 2);
    const issued = certs.current({ spiffeId: id('web'), dnsNames: ['a.demo', 'b.demo'] })!;
    const { X509Certificate } = await import('node:crypto');
    expect(new X509Certificate(issued.certificateChainPem).subjectAltName).toBe(
      `URI:${id('web')}, DNS:a.demo, DNS:b.demo`,
    );
    certs.close();
  });

  it('retries a failed issue with growing backoff, logging it, and never throws from a timer', async () => {
    const { certs, clock, issuer, changes, warnings } = await setup({ random: () => 0.999 });
    issuer.failNext = 3;
    const web = { spiffeId: id('web'), dnsNames: [] };
    expect(certs.current(web)).toBeUndefined();
    await settle();
    expect(warnings).toEqual([
      expect.stringMatching(/cannot issue the workload certificate of .*web: the store is down \(retrying in 1 s\)/),
    ]);
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      delays.push(clock.next()! - clock.time);
      await clock.advance(clock.next()! - clock.time);
      await settle();
    }
    expect(delays[1]).toBeGreaterThan(delays[0]! * 1.9);
    expect(delays[2]).toBeGreaterThan(delays[1]! * 1.9);
    await until('the issue', () => changes.length === 1);
    expect(issuer.issues).toHaveLength(4);
    expect(certs.current(web)).toBeDefined();
    certs.close();
  });

  it('keeps at most maxIdentities, dropping the least recently asked for; forget() stops renewals', async () => {
    const { certs, clock, issuer, changes } = await setup({ maxIdentities: 2 });
    certs.current({ spiffeId: id('a'), dnsNames: [] });
    certs.current({ spiffeId: id('b'), dnsNames: [] });
    await until('the issues', () => changes.flat().length === 2);
    certs.current({ spiffeId: id('a'), dnsNames: [] }); // a is now the most recent
    certs.current({ spiffeId: id('c'), dnsNames: [] }); // b goes
    expect(certs.size).toBe(2);
    await until('the issue', () => changes.flat().length === 3);
    expect(certs.current({ spiffeId: id('a'), dnsNames: [] })).toBeDefined();
    expect(clock.pending.size).toBe(2);
    certs.forget(id('a'));
    certs.forget(id('c'));
    expect(clock.pending.size).toBe(0);
    await clock.advance(24 * HOUR);
    expect(issuer.issues).toHaveLength(3);
  });
});
