// FileStore.load() redoes only what a reload changed (file-store.ts serve()): after any sequence of
// edits, of the user's files, of the API's files by hand and through the API, its view (each
// resource's owner, spec, tags, version, times, and which uids stay) is the view of a store that
// redoes everything on every load (its LoadCache emptied before each, so no resource is the same object).
import * as fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LoadCache } from '../../src/load/mesh-source';
import { FileStore } from '../../src/store/file-store';
import type { StoredResource } from '../../src/store/types';
import { tmpDir } from '../helpers/processes';

const mesh = 'kind: Mesh\nname: shop\n';
const userNode = (name: string, port: number) =>
  `kind: VirtualNode\nmesh: shop\nname: ${name}\nspec:\n  listeners: [{ portMapping: { port: ${port}, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: ${name}.local } }\n`;
const apiSpec = (name: string, port: number) => ({
  listeners: [{ portMapping: { port, protocol: 'http' } }],
  serviceDiscovery: { dns: { hostname: `${name}.local` } },
});

type Edit =
  | { kind: 'user port'; node: number; port: number }
  | { kind: 'user remove'; node: number }
  | { kind: 'api create'; node: number }
  | { kind: 'api update'; node: number; port: number }
  | { kind: 'api hand edit'; node: number; port: number }
  | { kind: 'api copy'; node: number; to: number }
  | { kind: 'api remove'; node: number }
  | { kind: 'hand over'; node: number };

const NODES = 4;
const node = fc.integer({ min: 0, max: NODES - 1 });
const port = fc.constantFrom(8080, 8081, 8082);
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('user port' as const), node, port }),
  fc.record({ kind: fc.constant('user remove' as const), node }),
  fc.record({ kind: fc.constant('api create' as const), node }),
  fc.record({ kind: fc.constant('api update' as const), node, port }),
  fc.record({ kind: fc.constant('api hand edit' as const), node, port }),
  fc.record({ kind: fc.constant('api copy' as const), node, to: node }),
  fc.record({ kind: fc.constant('api remove' as const), node }),
  fc.record({ kind: fc.constant('hand over' as const), node }),
);

/** One store over its own folders; `fresh` empties its LoadCache before each load. */
class Side {
  readonly root = tmpDir('file-store-reload-');
  readonly meshDir = path.join(this.root, 'mesh');
  readonly apiDir = path.join(this.meshDir, '.meshd-api');
  readonly store: FileStore;
  /** uid → the first key seen with it: uids are random, so the two sides are compared by these. */
  private readonly uidNames = new Map<string, string>();

  constructor(
    private readonly fresh: boolean,
    now: () => number,
  ) {
    fs.mkdirSync(this.meshDir, { recursive: true });
    fs.writeFileSync(path.join(this.meshDir, 'mesh.yaml'), mesh);
    for (let i = 0; i < NODES; i++) fs.writeFileSync(this.userFile(i), userNode(`user-${i}`, 8080));
    this.store = new FileStore({
      paths: [this.meshDir],
      apiDir: this.apiDir,
      metadataPath: path.join(this.root, 'meta.json'),
      now,
    });
    this.load();
  }

  userFile = (i: number) => path.join(this.meshDir, `user-${i}.yaml`);
  apiFile = (i: number) => path.join(this.apiDir, 'shop', 'virtual-nodes', `api-${i}.yaml`);

  load(): boolean {
    if (this.fresh) (this.store as unknown as { cache: LoadCache }).cache = new LoadCache();
    return this.store.load().ok;
  }

  async apply(e: Edit): Promise<void> {
    const key = (i: number) => ({ kind: 'VirtualNode' as const, mesh: 'shop', name: `api-${i}` });
    const replaceIn = (file: string, from: RegExp, to: string) => {
      if (fs.existsSync(file)) fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(from, to));
    };
    switch (e.kind) {
      case 'user port':
        if (fs.existsSync(this.userFile(e.node)))
          fs.writeFileSync(this.userFile(e.node), userNode(`user-${e.node}`, e.port));
        else fs.writeFileSync(this.userFile(e.node), userNode(`user-${e.node}`, e.port));
        return;
      case 'user remove':
        fs.rmSync(this.userFile(e.node), { force: true });
        return;
      case 'api create':
        await this.store.create(key(e.node), apiSpec(`api-${e.node}`, 8080), [{ key: 'team', value: 'a' }]);
        return;
      case 'api update':
        await this.store.update(key(e.node), apiSpec(`api-${e.node}`, e.port));
        return;
      case 'api hand edit':
        replaceIn(this.apiFile(e.node), /port: \d+/, `port: ${e.port}`);
        return;
      case 'api copy':
        if (e.to !== e.node && fs.existsSync(this.apiFile(e.node)) && !fs.existsSync(this.apiFile(e.to))) {
          fs.writeFileSync(
            this.apiFile(e.to),
            fs.readFileSync(this.apiFile(e.node), 'utf8').replaceAll(`api-${e.node}`, `api-${e.to}`),
          );
        }
        return;
      case 'api remove':
        fs.rmSync(this.apiFile(e.node), { force: true });
        return;
      case 'hand over':
        // The user's file moves into the API's folder (as a file of its own there).
        if (fs.existsSync(this.userFile(e.node))) {
          fs.mkdirSync(this.apiDir, { recursive: true });
          fs.renameSync(this.userFile(e.node), path.join(this.apiDir, `user-${e.node}.yaml`));
        }
        return;
    }
  }

  /** The view served, with uids named by the first key that had them, and files relative to the root. */
  view(): unknown[] {
    const entries = (
      this.store as unknown as { view: { entries: Map<string, { record: StoredResource; owner: { file: string } }> } }
    ).view.entries;
    return [...entries]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, { record, owner }]) => {
        if (!this.uidNames.has(record.uid)) this.uidNames.set(record.uid, key);
        return {
          key,
          uid: this.uidNames.get(record.uid),
          version: record.version,
          createdAt: record.createdAt,
          lastUpdatedAt: record.lastUpdatedAt,
          spec: record.spec,
          tags: record.tags,
          owner: { ...owner, file: path.relative(this.root, owner.file) },
        };
      });
  }

  /** Every file under the root but the state file's temp files, by path relative to the root. */
  files(): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else
          out[path.relative(this.root, full)] = fs
            .readFileSync(full, 'utf8')
            .replace(/uid: \S+/g, 'uid: <uid>')
            .replace(/"uid": "[^"]+"/g, '"uid": "<uid>"');
      }
    };
    walk(this.root);
    return out;
  }
}

describe('FileStore: a reload redoes only what changed', () => {
  it('serves the view a store that redoes everything serves, after any sequence of edits', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(edit, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 12 }),
        async (reloads) => {
          let clock = 1_000_000;
          const now = () => clock;
          const incremental = new Side(false, now);
          const everything = new Side(true, now);
          expect(incremental.view()).toEqual(everything.view());
          for (const edits of reloads) {
            clock += 7 * 60_000; // past FORGET_AFTER_MS after two reloads
            for (const e of edits) {
              await incremental.apply(e);
              await everything.apply(e);
            }
            expect(incremental.load()).toBe(everything.load());
            expect(incremental.view()).toEqual(everything.view());
            expect(incremental.files()).toEqual(everything.files());
            // As keepOnly(the keys the user's files define) leaves it: those, and only those, are not gone.
            const stateText = fs.readFileSync(path.join(incremental.root, 'meta.json'), 'utf8');
            const state = JSON.parse(stateText) as { resources: Record<string, { goneAt?: number }> };
            // The state file is written as JSON.stringify(state, null, 2) writes it, records sorted by key.
            const sorted = Object.fromEntries(Object.entries(state.resources).sort(([a], [b]) => (a < b ? -1 : 1)));
            expect(stateText).toBe(`${JSON.stringify({ resources: sorted }, null, 2)}\n`);
            const present = Object.keys(state.resources).filter((k) => state.resources[k]!.goneAt === undefined);
            const fileOwned = (incremental.view() as { key: string; owner: { api: boolean } }[])
              .filter((v) => !v.owner.api)
              .map((v) => v.key);
            expect(present.sort()).toEqual(fileOwned.sort());
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
