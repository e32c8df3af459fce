// An in-memory ResourceStore (src/store/types.ts) for the App Mesh API's unit tests: the parent
// checks (a mesh, router or gateway must exist), Create of an existing key, the expected-version
// compare-and-swap, and in-use refusals for a mesh that holds resources and a router or gateway
// that holds routes. No cross-reference validation: that is the files-backed store's, with the
// whole model. Each method does its check and its write with no await between, so writes are
// serialised as the interface asks.
import { randomUUID } from 'node:crypto';
import type {
  ListScope,
  ResourceKey,
  ResourceStore,
  SpecJson,
  StoredResource,
  StoreResult,
  Tag,
  WriteOptions,
} from '../../src/store/types';

const idOf = (k: ResourceKey | ListScope, name = 'name' in k ? k.name : '') =>
  JSON.stringify([k.kind, k.mesh ?? '', k.parent ?? '', name]);

const label = (k: ResourceKey) => `${k.kind} ${k.parent !== undefined ? `${k.parent}/` : ''}${k.name}`;

export class MemoryStore implements ResourceStore {
  readonly records = new Map<string, StoredResource>();
  /** Every write that committed, for tests that check a refused request changed nothing. */
  writes = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** The records as a value that compares equal when nothing changed. */
  snapshot(): unknown {
    return [...this.records.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  }

  private missingParent(key: ResourceKey): StoreResult | undefined {
    if (key.kind === 'Mesh') return undefined;
    if (!this.records.has(idOf({ kind: 'Mesh', mesh: key.mesh, name: key.mesh })))
      return refuse('not_found', `Mesh ${key.mesh} does not exist`);
    const parentKind =
      key.kind === 'Route' ? 'VirtualRouter' : key.kind === 'GatewayRoute' ? 'VirtualGateway' : undefined;
    if (parentKind && !this.records.has(idOf({ kind: parentKind, mesh: key.mesh, name: key.parent! })))
      return refuse('not_found', `${parentKind} ${key.parent} does not exist in mesh ${key.mesh}`);
    return undefined;
  }

  async get(key: ResourceKey): Promise<StoredResource | undefined> {
    return this.records.get(idOf(key));
  }

  async list(scope: ListScope): Promise<readonly StoredResource[] | undefined> {
    if (scope.kind !== 'Mesh' && this.missingParent({ ...scope, mesh: scope.mesh!, name: '' })) return undefined;
    return [...this.records.values()]
      .filter(
        (r) =>
          r.key.kind === scope.kind &&
          (scope.kind === 'Mesh' || r.key.mesh === scope.mesh) &&
          r.key.parent === scope.parent,
      )
      .sort((a, b) => (a.key.name < b.key.name ? -1 : a.key.name > b.key.name ? 1 : 0));
  }

  async create(key: ResourceKey, spec: SpecJson, tags: readonly Tag[]): Promise<StoreResult> {
    const missing = this.missingParent(key);
    if (missing) return missing;
    if (this.records.has(idOf(key))) return refuse('exists', `${label(key)} already exists in mesh ${key.mesh}`);
    const at = this.now();
    const resource: StoredResource = {
      key,
      spec,
      tags,
      version: 1,
      uid: randomUUID(),
      createdAt: at,
      lastUpdatedAt: at,
    };
    return this.commit(resource);
  }

  async update(key: ResourceKey, spec: SpecJson, options: WriteOptions = {}): Promise<StoreResult> {
    const found = this.current(key, options);
    if (!found.ok) return found;
    return this.commit({ ...found.resource, spec, version: found.resource.version + 1, lastUpdatedAt: this.now() });
  }

  async delete(key: ResourceKey, options: WriteOptions = {}): Promise<StoreResult> {
    const found = this.current(key, options);
    if (!found.ok) return found;
    const children = [...this.records.values()].filter((r) =>
      key.kind === 'Mesh'
        ? r.key.mesh === key.mesh && r.key.kind !== 'Mesh'
        : (key.kind === 'VirtualRouter' && r.key.kind === 'Route') ||
            (key.kind === 'VirtualGateway' && r.key.kind === 'GatewayRoute')
          ? r.key.mesh === key.mesh && r.key.parent === key.name
          : false,
    );
    if (children.length > 0)
      return refuse(
        'in_use',
        `${label(key)} cannot be deleted: it holds ${children.map((c) => label(c.key)).join(', ')}`,
      );
    this.records.delete(idOf(key));
    this.writes++;
    return { ok: true, resource: found.resource };
  }

  async tag(
    key: ResourceKey,
    change: { readonly set: readonly Tag[]; readonly remove: readonly string[] },
    maxTags: number,
  ): Promise<StoreResult> {
    const found = this.current(key, {});
    if (!found.ok) return found;
    const tags = new Map(found.resource.tags.map((t) => [t.key, t.value]));
    for (const t of change.set) tags.set(t.key, t.value);
    for (const k of change.remove) tags.delete(k);
    if (tags.size > maxTags)
      return refuse('limit', `${label(key)} would have ${tags.size} tags; at most ${maxTags} are allowed`);
    return this.commit({ ...found.resource, tags: [...tags].map(([k, value]) => ({ key: k, value })) });
  }

  private current(key: ResourceKey, options: WriteOptions): StoreResult {
    const found = this.records.get(idOf(key));
    if (!found) return refuse('not_found', `${label(key)} does not exist in mesh ${key.mesh}`);
    if (options.expectedVersion !== undefined && options.expectedVersion !== found.version)
      return refuse(
        'version_mismatch',
        `${label(key)} is at version ${found.version}, but the request was based on version ${options.expectedVersion} (If-Match)`,
      );
    return { ok: true, resource: found };
  }

  private commit(resource: StoredResource): StoreResult {
    this.records.set(idOf(resource.key), resource);
    this.writes++;
    return { ok: true, resource };
  }
}

function refuse(code: StoreRefusalCode, message: string): StoreResult {
  return { ok: false, refusal: { code, message } };
}

type StoreRefusalCode = Extract<StoreResult, { ok: false }>['refusal']['code'];
