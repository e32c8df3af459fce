// The Cloud Map registry's store on the real filesystem: a snapshot (the state file) plus a
// journal of one line per change. Round trips through a restart, the cost of a write (the
// journal gets one line, the snapshot is not touched), compaction (the same registry after it,
// lines appended meanwhile kept), old state files, and every way the files can be damaged.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StateFileError } from '../../src/util/atomic-json-file';
import { forbiddenAddressReason } from '../../src/discovery/endpoint-address';
import { loadState, openRegistryReadOnly, openRegistryStore } from '../../src/discovery/cloud-map/state-file';
import type { CloudMapRegistry } from '../../src/discovery/cloud-map/registry';

let dir: string;
let statePath: string;
let journalPath: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshd-journal-'));
  statePath = path.join(dir, 'cm.json');
  journalPath = `${statePath}.journal`;
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function fill(registry: CloudMapRegistry, instances: number): string {
  const ns = registry.createNamespace({ name: 'apps.local', type: 'HTTP' }).targets.NAMESPACE!;
  const service = registry.createService({ name: 'orders', namespaceId: ns, healthCheckCustomConfig: {} });
  for (let i = 0; i < instances; i++)
    registry.registerInstance({
      serviceId: service.id,
      instanceId: `i-${i}`,
      attributes: { AWS_INSTANCE_IPV4: `10.0.${i >> 8}.${i & 255}`, pad: 'p'.repeat(200) },
    });
  return service.id;
}

const journalLines = () =>
  fs.existsSync(journalPath) ? fs.readFileSync(journalPath, 'utf8').split('\n').filter(Boolean) : [];

describe('the journal store', () => {
  it('writes the snapshot once, then one journal line per change; a restart reads both', async () => {
    const { registry, store } = openRegistryStore(statePath);
    expect(fs.existsSync(statePath)).toBe(false); // nothing is written before the first change
    const serviceId = fill(registry, 3);
    const snapshot = fs.readFileSync(statePath, 'utf8');
    expect(JSON.parse(snapshot)).toMatchObject({
      format: 'meshd-cloud-map/v1',
      journalSeq: 1,
      namespaces: [{ name: 'apps.local' }],
      services: [],
    });
    expect(journalLines().map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([2, 3, 4, 5]);

    registry.setCustomHealth(serviceId, 'i-1', 'UNHEALTHY');
    registry.deregisterInstance(serviceId, 'i-2');
    expect(fs.readFileSync(statePath, 'utf8')).toBe(snapshot); // the snapshot is not rewritten per write
    await store.close();

    const reopened = openRegistryReadOnly(statePath);
    expect(reopened.state()).toEqual(registry.state());
    expect(reopened.instance(serviceId, 'i-1').health).toBe('UNHEALTHY');
  });

  it('a write appends a line the size of the change, whatever the size of the registry', () => {
    const { registry } = openRegistryStore(statePath, { journalBytes: 1 << 30 });
    const serviceId = fill(registry, 500);
    const before = fs.statSync(journalPath).size;
    registry.registerInstance({ serviceId, instanceId: 'one-more', attributes: { AWS_INSTANCE_IPV4: '10.9.9.9' } });
    const line = fs.statSync(journalPath).size - before;
    expect(line).toBeLessThan(2000);
    expect(fs.statSync(journalPath).size).toBeGreaterThan(100 * line); // the journal holds the other 500
  });

  it('compacts once the journal outgrows the snapshot: the same registry, lines appended meanwhile kept, nothing re-applied', async () => {
    const { registry, store } = openRegistryStore(statePath, { journalBytes: 2048 });
    const serviceId = fill(registry, 40);
    // Writes while a compaction may be running.
    for (let i = 0; i < 20; i++) {
      registry.setCustomHealth(serviceId, `i-${i}`, i % 2 === 0 ? 'UNHEALTHY' : 'HEALTHY');
      await new Promise((r) => setImmediate(r));
    }
    await store.idle();
    const snapshot = JSON.parse(fs.readFileSync(statePath, 'utf8')) as { journalSeq: number };
    expect(snapshot.journalSeq).toBeGreaterThan(1);
    // Every line left in the journal comes after the snapshot.
    for (const line of journalLines())
      expect((JSON.parse(line) as { seq: number }).seq).toBeGreaterThan(snapshot.journalSeq);
    expect(fs.statSync(journalPath).size).toBeLessThan(fs.statSync(statePath).size + 2048);
    await store.close();
    expect(openRegistryReadOnly(statePath).state()).toEqual(registry.state());
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a crash between the snapshot rewrite and cutting the journal: lines the snapshot holds are skipped', async () => {
    const { registry, store } = openRegistryStore(statePath, { journalBytes: 1 << 30 });
    fill(registry, 5);
    await store.close();
    const fullJournal = fs.readFileSync(journalPath);
    // As if a compaction had renamed a newer snapshot in and died before cutting the journal.
    const state = JSON.parse(fs.readFileSync(statePath, 'utf8')) as Record<string, unknown>;
    const all = registry.records();
    fs.writeFileSync(statePath, JSON.stringify({ ...state, ...all, journalSeq: 7 }));
    fs.writeFileSync(journalPath, fullJournal);
    expect(openRegistryReadOnly(statePath).state()).toEqual(registry.state());
  });

  it('reads a state file written before the journal existed (no journalSeq, no appliedSeeds), and writes on', async () => {
    const now = 1700000000;
    fs.writeFileSync(
      statePath,
      JSON.stringify(
        {
          format: 'meshd-cloud-map/v1',
          namespaces: [{ id: 'ns-a', arn: 'arn:a', name: 'old.local', type: 'HTTP', createDate: now }],
          services: [{ id: 'srv-a', arn: 'arn:s', name: 'web', namespaceId: 'ns-a', createDate: now, revision: 2 }],
          instances: [
            {
              id: 'w-1',
              serviceId: 'srv-a',
              attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' },
              health: 'HEALTHY',
              createDate: now,
            },
          ],
          operations: [],
        },
        null,
        2,
      ),
    );
    const { registry, store } = openRegistryStore(statePath);
    expect(registry.discover('old.local', 'web')?.map((i) => i.id)).toEqual(['w-1']);
    registry.registerInstance({ serviceId: 'srv-a', instanceId: 'w-2', attributes: { AWS_INSTANCE_IPV4: '10.0.0.2' } });
    await store.close();
    expect(
      openRegistryReadOnly(statePath)
        .discover('old.local', 'web')
        ?.map((i) => i.id),
    ).toEqual(['w-1', 'w-2']);
  });

  describe('damaged files', () => {
    async function threeLines(): Promise<string> {
      const { registry, store } = openRegistryStore(statePath);
      fill(registry, 2);
      await store.close();
      return fs.readFileSync(journalPath, 'utf8');
    }
    const errorOf = (f: () => unknown): string => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(StateFileError);
        expect((err as Error).message).not.toContain('\n');
        return (err as Error).message;
      }
      throw new Error('expected a StateFileError');
    };

    it.each([
      ['half a line', (last: string) => last.slice(0, 20)],
      ['a whole line without its newline', (last: string) => last],
      ['zeros (a power cut on some filesystems)', () => '\u0000'.repeat(50)],
      ['garbage ending in a newline', () => 'zzzz\n'],
    ])('a torn last line (%s) is ignored, and cut off when opened for writing', async (_what, torn) => {
      const text = await threeLines();
      const lines = text.split('\n').filter(Boolean);
      const next = lines[lines.length - 1]!.replace(/"seq":(\d+)/, (_m, n: string) => `"seq":${Number(n) + 1}`);
      fs.appendFileSync(journalPath, torn(next));
      const before = openRegistryReadOnly(statePath).state();
      expect(before.instances.map((i) => i.id).sort()).toEqual(['i-0', 'i-1']);
      const { registry, store } = openRegistryStore(statePath);
      expect(fs.readFileSync(journalPath, 'utf8')).toBe(text);
      registry.createNamespace({ name: 'after.local', type: 'HTTP' });
      await store.close();
      expect(
        openRegistryReadOnly(statePath)
          .namespaces()
          .map((n) => n.name),
      ).toEqual(['after.local', 'apps.local']);
    });

    it('a bad line before the last is a one-line error naming file:line', async () => {
      const lines = (await threeLines()).split('\n');
      lines[1] = '{"seq":';
      fs.writeFileSync(journalPath, lines.join('\n'));
      expect(errorOf(() => loadState(statePath, { repair: false }))).toMatch(
        new RegExp(`^${journalPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: not valid JSON`),
      );
    });

    it.each([
      ['a missing change (a gap)', (lines: string[]) => [lines[0]!, ...lines.slice(2)], /changes are missing/],
      [
        'changes out of order',
        (lines: string[]) => [lines[1]!, lines[0]!, ...lines.slice(2)],
        /changes are missing|comes after/,
      ],
      [
        'a line of another shape',
        (lines: string[]) => ['{"seq":2,"put":{"instances":[{"id":1}]}}', ...lines.slice(1)],
        /"put".instances\[0\]\.id must be a string/,
      ],
      [
        'an unknown table',
        (lines: string[]) => ['{"seq":2,"put":{"__proto__":[]}}', ...lines.slice(1)],
        /unknown table/,
      ],
      [
        'a seq that is not a number',
        (lines: string[]) => ['{"seq":"2"}', ...lines.slice(1)],
        /"seq" must be a whole number/,
      ],
    ])('%s: a one-line error, never a silent loss', async (_what, edit, message) => {
      const lines = (await threeLines()).split('\n').filter(Boolean);
      fs.writeFileSync(journalPath, edit(lines).join('\n') + '\nlast-line-torn');
      expect(errorOf(() => loadState(statePath, { repair: false }))).toMatch(message);
    });

    it('a journal without its state file is refused (its changes build on a snapshot that is gone)', async () => {
      await threeLines();
      fs.rmSync(statePath);
      expect(errorOf(() => loadState(statePath, { repair: false }))).toMatch(
        /changes are missing \(there is no state file/,
      );
    });

    it('a state file whose tables hold rows of the wrong shape is a one-line error', () => {
      fs.writeFileSync(
        statePath,
        JSON.stringify({
          format: 'meshd-cloud-map/v1',
          namespaces: [null],
          services: [],
          instances: [],
          operations: [],
        }),
      );
      expect(errorOf(() => loadState(statePath, { repair: false }))).toMatch(/namespaces\[0\] must be an object/);
      fs.writeFileSync(
        statePath,
        JSON.stringify({
          format: 'meshd-cloud-map/v1',
          namespaces: [],
          services: [],
          instances: [],
          operations: [],
          journalSeq: -1,
        }),
      );
      expect(errorOf(() => loadState(statePath, { repair: false }))).toMatch(/journalSeq/);
    });
  });

  it('a journal that cannot be written fails the call and changes nothing; the journal stays readable', async () => {
    const { registry, store } = openRegistryStore(statePath);
    const serviceId = fill(registry, 1);
    const before = registry.state();
    // A full disk is hard to fake: close the journal's descriptor under the store instead (nothing
    // else opens a file before the next write, so the number is not reused).
    fs.closeSync((store as unknown as { fd: number }).fd);
    expect(() =>
      registry.registerInstance({ serviceId, instanceId: 'lost', attributes: { AWS_INSTANCE_IPV4: '10.0.0.9' } }),
    ).toThrow(StateFileError);
    expect(registry.state()).toEqual(before);
    // The next write rewrites the snapshot (the journal's end could not be trusted) and goes on.
    registry.registerInstance({ serviceId, instanceId: 'kept', attributes: { AWS_INSTANCE_IPV4: '10.0.0.8' } });
    await store.close();
    expect(
      openRegistryReadOnly(statePath)
        .instances(serviceId)
        .map((i) => i.id),
    ).toEqual(['i-0', 'kept']);
  });
});

describe('forbiddenAddressReason', () => {
  it.each([
    ['0.0.0.0', /unspecified/],
    ['0.255.255.255', /unspecified/],
    ['255.255.255.255', /broadcast/],
    ['224.0.0.0', /multicast/],
    ['239.255.255.255', /multicast/],
    ['169.254.0.0', /link-local/],
    ['169.254.255.255', /link-local/],
    ['::', /unspecified/],
    ['::0', /unspecified/],
    ['0::0:0', /unspecified/],
    ['ff00::', /multicast/],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', /multicast/],
    ['fe80::', /link-local/],
    ['FEBF::1', /link-local/],
    ['fe80::1%eth0', /zone/],
    ['::ffff:169.254.169.254', /IPv4-mapped .*link-local/],
    ['::FFFF:A9FE:A9FE', /IPv4-mapped .*link-local/],
    ['::ffff:0.0.0.0', /IPv4-mapped .*unspecified/],
    ['::ffff:0:224.0.0.1', /IPv4-translated .*multicast/],
    ['64:ff9b::255.255.255.255', /NAT64 .*broadcast/],
    ['::169.254.1.1', /IPv4-compatible .*link-local/],
    ['::2', /IPv4-compatible .*unspecified/],
  ])('%s is refused (%s)', (address, reason) => {
    expect(forbiddenAddressReason(address)).toMatch(reason);
  });

  it.each([
    '127.0.0.1',
    '127.255.255.254',
    '::1',
    '0:0:0:0:0:0:0:1',
    '10.0.0.1',
    '1.0.0.0',
    '169.253.255.255',
    '169.255.0.0',
    '223.255.255.255',
    '240.0.0.1',
    '2001:db8::1',
    'fec0::1',
    'fc00::1',
    'fe7f::1',
    'fec0::',
    '::ffff:10.0.0.1',
    '::ffff:127.0.0.1',
    '64:ff9b::10.0.0.1',
    '64:ff9b:1::169.254.169.254',
    'not an address',
    '',
  ])('%s is allowed (or not an address: other rules say so)', (address) => {
    expect(forbiddenAddressReason(address)).toBeUndefined();
  });
});
