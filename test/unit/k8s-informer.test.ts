// The informer against an in-memory API server (helpers/fake-kube.ts): first list, watch events as batched
// changes, resuming an ended watch from the last version (bookmarks included) without repeats, a 410 answered by a
// new list that tells only the difference, a failed watch retried with backoff and logged, and the periodic resync.
import { KubeError, type KubeObject, type ResourceType } from '../../src/k8s/kube-api';
import { Informer, type InformerChange } from '../../src/k8s/informer';
import { FakeKube } from '../helpers/fake-kube';
import { waitFor } from '../helpers/processes';

const CM: ResourceType = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
const cm = (name: string, value: string, namespace = 'default'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace },
  data: { value },
});

type Summary = [string, string, string?];
const summarize = (changes: readonly InformerChange<KubeObject>[]): Summary[] =>
  changes.map((c) => [c.kind, c.object.metadata.name, (c.object.data as { value?: string } | undefined)?.value]);

function setup(options: { resyncMs?: number } = {}) {
  const api = new FakeKube();
  const logs: string[] = [];
  const log = { info: (m: string) => logs.push(`info ${m}`), warn: (m: string) => logs.push(`warn ${m}`) };
  const informer = new Informer<KubeObject>(api, CM, { log, resyncMs: options.resyncMs ?? 0 });
  const batches: Summary[][] = [];
  informer.onChange((changes) => batches.push(summarize(changes)));
  const all = () => batches.flat();
  return { api, informer, logs, batches, all };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('Informer', () => {
  let stop: (() => void) | undefined;
  afterEach(() => {
    stop?.();
    stop = undefined;
  });

  it('lists, then turns watch events into changes, those of one turn delivered together', async () => {
    const { api, informer, batches } = setup();
    stop = () => informer.stop();
    api.put(CM, cm('a', '1'));
    api.put(CM, cm('b', '1'));
    informer.start();
    await informer.synced();
    expect(informer.hasSynced).toBe(true);
    expect(batches).toEqual([
      [
        ['added', 'a', '1'],
        ['added', 'b', '1'],
      ],
    ]);
    expect(informer.items().map((o) => o.metadata.name)).toEqual(['a', 'b']);
    await waitFor('the watch', () => (api.openWatches === 1 ? true : undefined));
    api.put(CM, cm('c', '1'));
    api.put(CM, cm('a', '2'));
    api.remove(CM, 'default', 'b');
    await turn();
    await turn();
    expect(batches[1]).toEqual([
      ['added', 'c', '1'],
      ['modified', 'a', '2'],
      ['deleted', 'b', '1'],
    ]);
    expect(batches).toHaveLength(2);
    expect(informer.get('default', 'a')?.data).toEqual({ value: '2' });
    expect(informer.get('default', 'b')).toBeUndefined();
    expect(informer.resourceVersion).toBe(String(api.rv));
    expect(informer.events).toBe(3);
  });

  it('resumes an ended watch from the last version seen, bookmarks included, with no repeat and no loss', async () => {
    const { api, informer, all } = setup();
    stop = () => informer.stop();
    informer.start();
    await informer.synced();
    await waitFor('the watch', () => (api.openWatches === 1 ? true : undefined));
    api.put(CM, cm('a', '1'));
    await waitFor('a', () => informer.get('default', 'a'));
    api.endWatches();
    await waitFor('the second watch', () => (api.openWatches === 1 ? true : undefined));
    api.put(CM, cm('a', '2'));
    // Versions move on elsewhere (other types): the bookmark says where this watch stands.
    api.rv += 10;
    api.bookmark('configmaps');
    await waitFor('the bookmark', () => (informer.resourceVersion === String(api.rv) ? true : undefined));
    api.endWatches();
    await waitFor('the third watch', () => (api.watchVersions.length === 3 ? true : undefined));
    api.put(CM, cm('a', '3'));
    await waitFor('a=3', () => (informer.get('default', 'a')?.data as { value: string }).value === '3' || undefined);
    await turn();
    expect(api.watchVersions).toEqual(['1', '2', '13']);
    expect(all()).toEqual([
      ['added', 'a', '1'],
      ['modified', 'a', '2'],
      ['modified', 'a', '3'],
    ]);
    expect(informer.relists).toBe(1);
    expect(informer.reconnects).toBe(0);
  });

  it('on 410 lists again and tells exactly the difference against its store', async () => {
    const { api, informer, all, logs } = setup();
    stop = () => informer.stop();
    api.put(CM, cm('keep', '1'));
    api.put(CM, cm('edit', '1'));
    api.put(CM, cm('gone', '1'));
    informer.start();
    await informer.synced();
    await waitFor('the watch', () => (api.openWatches === 1 ? true : undefined));
    api.put(CM, cm('keep', '2'));
    await waitFor(
      'keep=2',
      () => (informer.get('default', 'keep')?.data as { value: string }).value === '2' || undefined,
    );
    // The watch ends and, before the informer watches again, changes happen and their events are compacted away.
    let release!: () => void;
    api.hold = new Promise<void>((r) => (release = r));
    api.endWatches();
    api.put(CM, cm('edit', '2'));
    api.put(CM, cm('new', '1'));
    api.remove(CM, 'default', 'gone');
    api.compact();
    api.hold = undefined;
    release();
    await waitFor('the relist', () => (informer.relists === 2 ? true : undefined));
    await turn();
    expect(all().slice(4)).toEqual([
      ['modified', 'edit', '2'],
      ['added', 'new', '1'],
      ['deleted', 'gone', '1'],
    ]);
    expect(
      informer
        .items()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['edit', 'keep', 'new']);
    expect(logs.filter((l) => l.startsWith('warn'))).toEqual([
      expect.stringMatching(
        /^warn watch of configmaps failed: too old resource version: .*; resuming from a new list$/,
      ),
    ]);
    await waitFor('the watch after the relist', () => (api.openWatches === 1 ? true : undefined));
    api.put(CM, cm('keep', '3'));
    await waitFor('keep=3', () => (all().length === 8 ? true : undefined));
    expect(all()[7]).toEqual(['modified', 'keep', '3']);
  });

  it('retries a failed watch after a backoff from the version it had, and logs the type, error and version', async () => {
    const { api, informer, all, logs } = setup();
    stop = () => informer.stop();
    informer.start();
    await informer.synced();
    await waitFor('the watch', () => (api.openWatches === 1 ? true : undefined));
    api.put(CM, cm('a', '1'));
    await waitFor('a', () => informer.get('default', 'a'));
    const began = Date.now();
    api.failWatches(new KubeError('connection reset', 0));
    api.put(CM, cm('a', '2'));
    await waitFor('a=2', () => (informer.get('default', 'a')?.data as { value: string }).value === '2' || undefined);
    console.log(`watch retried and caught up after ${Date.now() - began} ms (first backoff 500 ms ± 20 %)`);
    expect(informer.reconnects).toBe(1);
    expect(informer.relists).toBe(1);
    expect(api.watchVersions).toEqual(['1', '2']);
    expect(logs).toContain('warn watch of configmaps failed: connection reset; resuming from version 2');
    await turn();
    expect(all()).toEqual([
      ['added', 'a', '1'],
      ['modified', 'a', '2'],
    ]);
  });

  it('keeps trying a first list that fails, and synced() waits for it', async () => {
    const { api, informer, logs } = setup();
    stop = () => informer.stop();
    api.failAll = new KubeError('configmaps is forbidden', 403, 'Forbidden');
    informer.start();
    await waitFor('a failed list', () => (logs.length > 0 ? true : undefined));
    expect(informer.hasSynced).toBe(false);
    expect(logs[0]).toBe('warn watch of configmaps failed: configmaps is forbidden; resuming from a new list');
    api.failAll = undefined;
    await informer.synced();
    expect(informer.reconnects).toBeGreaterThanOrEqual(1);
  });

  it('does not tell a MODIFIED event of the version it holds, nor a DELETED of what it does not hold', async () => {
    const { api, informer, batches } = setup();
    stop = () => informer.stop();
    const a = api.put(CM, cm('a', '1'));
    informer.start();
    await informer.synced();
    await waitFor('the watch', () => (api.openWatches === 1 ? true : undefined));
    api.raw('configmaps', 'MODIFIED', a);
    api.raw('configmaps', 'ADDED', a);
    api.raw('configmaps', 'DELETED', { metadata: { name: 'never', namespace: 'default', resourceVersion: '2' } });
    await turn();
    await turn();
    expect(batches).toHaveLength(1);
    expect(informer.events).toBe(3);
  });

  it('resyncs by listing again and tells only real differences', async () => {
    const { api, informer, batches } = setup({ resyncMs: 100 });
    stop = () => informer.stop();
    api.put(CM, cm('a', '1'));
    informer.start();
    await informer.synced();
    await waitFor('two resyncs', () => (informer.relists >= 3 ? true : undefined));
    expect(batches).toHaveLength(1);
    // A change whose event never came: the next resync finds it.
    api.sneak(CM, cm('a', 'sneaked'));
    await waitFor('the sneaked change', () => (batches.length === 2 ? true : undefined));
    expect(batches[1]).toEqual([['modified', 'a', 'sneaked']]);
  });

  it.each([
    ['answers every watch with 410', () => Promise.reject(new KubeError('too old resource version', 410, 'Expired'))],
    ['ends every watch at once', () => Promise.resolve()],
  ])('does not spin against a server that %s: it backs off', async (_what, answer) => {
    const api = new FakeKube();
    let watches = 0;
    api.watch = () => {
      watches++;
      return answer();
    };
    const logs: string[] = [];
    const informer = new Informer<KubeObject>(api, CM, { log: { info: () => undefined, warn: (m) => logs.push(m) } });
    stop = () => informer.stop();
    informer.start();
    await informer.synced();
    await new Promise((r) => setTimeout(r, 1600));
    console.log(`${watches} watches, ${informer.relists} lists, ${informer.reconnects} backoffs in 1.6 s`);
    // A busy loop makes thousands; with backoff (0.5 s, 1 s, ...) a handful.
    expect(watches).toBeLessThan(10);
    expect(informer.reconnects).toBeGreaterThanOrEqual(1);
    expect(logs[0]).toMatch(/^watch of configmaps failed: /);
  });

  it('keeps delivering when a listener throws, and stop() before the first list rejects synced()', async () => {
    const { api, informer, batches, logs } = setup();
    informer.onChange(() => {
      throw new Error('listener bug');
    });
    stop = () => informer.stop();
    api.put(CM, cm('a', '1'));
    informer.start();
    await informer.synced();
    expect(batches).toHaveLength(1);
    expect(logs).toContain('warn a configmaps informer listener failed: listener bug');

    const api2 = new FakeKube();
    api2.hold = new Promise(() => undefined);
    const never = new Informer<KubeObject>(api2, CM, { log: { info: () => undefined, warn: () => undefined } });
    never.start();
    never.stop();
    await expect(never.synced()).rejects.toThrow('the configmaps informer was stopped before its first list');
  });

  it('keeps only what `keep` returns of each object, and an unchanged object stays the same one across a relist', async () => {
    const api = new FakeKube();
    const log = { info: () => undefined, warn: () => undefined };
    const informer = new Informer<KubeObject>(api, CM, {
      log,
      resyncMs: 0,
      keep: (o) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: o.metadata }),
    });
    stop = () => informer.stop();
    api.put(CM, cm('a', 'a large value the reader never uses'));
    informer.start();
    await informer.synced();
    const kept = informer.get('default', 'a');
    expect(kept).toBeDefined();
    expect(kept!.data).toBeUndefined();
    await waitFor('the watch', () => (api.openWatches === 1 ? true : undefined));
    api.put(CM, cm('b', 'x'));
    await waitFor('b', () => informer.get('default', 'b'));
    expect(informer.get('default', 'b')!.data).toBeUndefined();
    expect(informer.get('default', 'a')).toBe(kept);
  });
});
