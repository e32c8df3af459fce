// The mesh store of a fleet (`meshd serve --store postgres://…`): what FileStore is for one meshd,
// with the App Mesh API's resources in PostgreSQL, shared by every replica.
//
// The user's mesh files stay the source of truth for what they define, and are read-only (in HA they
// are typically a Git checkout synced to each replica). Three keyed tables hold the rest, and every
// replica keeps them in memory (this store follows the change log):
//   - `resources`: one row per API-created resource, the StoredResource itself;
//   - `file_resource_metadata`: the uid, version and times of the files' resources (FileStore keeps
//     them in .meshd-resources.json), so every replica shows the same uid for them;
//   - `route_weights`: the weights a rollout set on a route defined in a file, which cannot be edited
//     in HA: they are applied to the file's text at each load, as an overlay, never written to disk.
//
// `load()` loads the user's files with every API resource added as a virtual meshd YAML file
// (`postgres:/<mesh>/<kind folder>/<name>.yaml`, the layout of `meshd export --format yaml`, so a
// finding names the resource), by the same rules as FileStore: a resource the files define is the
// file's (the store's definition gives way, with a warning) and read-only through the API.
//
// Each write is one step of the change log (change-log.ts), run against this replica's state made
// current with the fleet's while the fleet's write lock is held: checked (exists, not_found,
// version_mismatch, in_use, read_only, limit), validated by loading the mesh it would make, exactly
// as FileStore does, then committed. So of two updates based on one version sent to two replicas,
// exactly one passes; a write while PostgreSQL cannot be reached is refused with
// StoreUnavailableError and changes nothing. Changes from other replicas are loaded on the next turn
// of the event loop and announced to the same listeners as this replica's own writes.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nativePathOf } from '../../export/native-yaml';
import { dumpYaml } from '../../export/yaml-text';
import { isMeshFile, LoadCache, loadMesh, type LoadOptions, type LoadResult } from '../../load/mesh-source';
import type { Problem } from '../../load/problems';
import { PARENT_FIELD } from '../../load/resource-draft';
import { isPlain, type ResourceKind } from '../../model/common';
import { compare, labelOf, parentOf, type Resource } from '../../model/mesh-model';
import { canonicalJson } from '../../util/canonical-json';
import { FORGET_AFTER_MS, specHash } from '../file-metadata';
import { refusalText } from '../file-store';
import { meshHash } from '../mesh-hash';
import { editWeightsInText, type EditResult, type IdentityCheck, type WeightEdit } from '../../load/weight-text';
import type {
  ListScope,
  LoadedMesh,
  MeshStore,
  ResourceKey,
  SpecJson,
  StoredResource,
  StoreRefusal,
  StoreResult,
  Tag,
  WriteOptions,
} from '../types';
import { FencedError, StoreUnavailableError } from './change-log';
import type { ChangeLog, Fence, Follower, KeyedRow, TableChange } from './change-log';
import type { KeyedTable } from './schema';
import { MeshAnnouncer } from '../mesh-announcer';

/** This replica's API writes in one transaction of the change log, at most (see PostgresMeshStore.limited). */
export const MAX_WRITES_IN_FLIGHT = 4;

/** The prefix of the virtual file each API resource is loaded from. */
export const VIRTUAL_PREFIX = 'postgres:/';

/** The virtual file an API resource is loaded from (and named by in findings). */
export function virtualPath(key: ResourceKey): string {
  return VIRTUAL_PREFIX + nativePathOf(key.kind, key.mesh, key.parent, key.name);
}

export function isVirtual(file: string): boolean {
  return file.startsWith(VIRTUAL_PREFIX);
}

/** The key of a resource's row (in `resources` and `file_resource_metadata`): kind/mesh/parent/name, each escaped. */
export function resourceRowKey(key: ResourceKey): string {
  return [key.kind, key.mesh, key.parent ?? '', key.name].map(encodeURIComponent).join('/');
}

/** The key of a route's row in `route_weights`: mesh/router/route, each escaped. */
export function routeWeightsKey(mesh: string, router: string, route: string): string {
  return [mesh, router, route].map(encodeURIComponent).join('/');
}

/** A row of `route_weights`: the weights set on a route of the user's files, applied to its text at each load. */
export interface RouteWeightsRow {
  readonly mesh: string;
  readonly router: string;
  readonly route: string;
  /** Which of the replica's mesh paths the file is under (by position), and its path relative to that one. */
  readonly root: number;
  readonly file: string;
  /** `expected`: the value in the file (the edit applies only while the file holds it); `value`: what is served. */
  readonly edits: readonly {
    readonly document: number;
    readonly path: readonly (string | number)[];
    readonly expected: number;
    readonly value: number;
  }[];
  readonly identity: readonly {
    readonly document: number;
    readonly path: readonly (string | number)[];
    readonly value: string;
  }[];
}

/** A row of `file_resource_metadata`. */
interface FileMetadataRow {
  readonly uid: string;
  readonly version: number;
  readonly createdAt: number;
  readonly lastUpdatedAt: number;
  /** A digest of the spec the version was given for. */
  readonly specHash: string;
  /** When the files stopped defining it (kept FORGET_AFTER_MS, as FileStore does). */
  readonly goneAt?: number;
}

export interface PostgresMeshStoreOptions {
  /** The fleet's change log (openPostgresStore's `log`), before its start(): the store follows it. */
  readonly log: ChangeLog;
  /** The user's mesh files and folders: read-only. */
  readonly paths: readonly string[];
  readonly load?: Omit<LoadOptions, 'cache' | 'overlay' | 'yields' | 'noFilesIsEmpty'>;
  readonly now?: () => number;
  /** A Create that would leave a mesh holding more resources than this is refused (`limit`); none by default. */
  readonly maxResourcesPerMesh?: number;
  /** A load after another replica's change that is not valid here (the last good mesh keeps serving). */
  readonly onInvalid?: (result: Extract<LoadResult, { ok: false }>, reason: string) => void;
  /** What went wrong in the background: a row of the store that is not well formed, a failed metadata write. */
  readonly onError?: (message: string) => void;
}

type Owner =
  { readonly api: true; readonly file: string } | { readonly api: false; readonly file: string; readonly line: number };

interface Entry {
  readonly record: StoredResource;
  readonly owner: Owner;
}

interface FileEntry {
  readonly key: ResourceKey;
  readonly spec: SpecJson;
  readonly file: string;
  readonly line: number;
  readonly specHash: string;
}

interface Served {
  readonly mesh: LoadedMesh;
  /** The resources the user's files define (that the mesh serves), by row key. */
  readonly files: ReadonlyMap<string, FileEntry>;
  /** meshHash(mesh), computed when first asked for (it costs about as much as the load). */
  hash?: string;
}

type Refusal = Extract<StoreResult, { ok: false }>;

/** A write step's refusal: thrown inside the step (nothing changed), answered by the method. */
class Refused extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.refusal.message);
  }
}

class EditRefused extends Error {
  constructor(readonly result: Extract<EditResult, { ok: false }>) {
    super(result.error);
  }
}

function refused(code: StoreRefusal['code'], message: string): Refused {
  return new Refused({ ok: false, refusal: { code, message } });
}

function label(key: ResourceKey): string {
  return labelOf(key.kind, key.parent, key.name);
}

function keyOf(r: Resource): ResourceKey {
  const parent = parentOf(r);
  return { kind: r.kind, mesh: r.mesh, ...(parent !== undefined ? { parent } : {}), name: r.name };
}

/** `file` is somewhere under `folder`. */
function inside(folder: string, file: string): boolean {
  const rel = path.relative(folder, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

const KINDS: readonly ResourceKind[] = [
  'Mesh',
  'VirtualService',
  'VirtualNode',
  'VirtualRouter',
  'Route',
  'VirtualGateway',
  'GatewayRoute',
];

const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** A row of `resources` as read from the store (any JSON): a StoredResource, or undefined. */
function readResourceRow(key: string, row: unknown): StoredResource | undefined {
  if (!isPlain(row) || !isPlain(row.key) || !isPlain(row.spec) || !Array.isArray(row.tags)) return undefined;
  const k = row.key;
  if (!KINDS.includes(k.kind as ResourceKind) || !isName(k.mesh) || !isName(k.name)) return undefined;
  const needsParent = k.kind === 'Route' || k.kind === 'GatewayRoute';
  if (needsParent ? !isName(k.parent) : k.parent !== undefined) return undefined;
  if (k.kind === 'Mesh' && k.mesh !== k.name) return undefined;
  const resourceKey: ResourceKey = {
    kind: k.kind as ResourceKind,
    mesh: k.mesh,
    ...(needsParent ? { parent: k.parent as string } : {}),
    name: k.name,
  };
  if (resourceRowKey(resourceKey) !== key) return undefined;
  if (!row.tags.every((t) => isPlain(t) && typeof t.key === 'string' && typeof t.value === 'string')) return undefined;
  if (!Number.isSafeInteger(row.version) || (row.version as number) < 1 || !isName(row.uid)) return undefined;
  if (!isTime(row.createdAt) || !isTime(row.lastUpdatedAt)) return undefined;
  return {
    key: resourceKey,
    spec: row.spec,
    tags: (row.tags as { key: string; value: string }[]).map((t) => ({ key: t.key, value: t.value })),
    version: row.version as number,
    uid: row.uid,
    createdAt: row.createdAt,
    lastUpdatedAt: row.lastUpdatedAt,
  };
}

function readMetadataRow(row: unknown): FileMetadataRow | undefined {
  if (!isPlain(row) || !isName(row.uid) || !Number.isSafeInteger(row.version) || typeof row.specHash !== 'string')
    return undefined;
  if (!isTime(row.createdAt) || !isTime(row.lastUpdatedAt) || (row.goneAt !== undefined && !isTime(row.goneAt)))
    return undefined;
  return row as unknown as FileMetadataRow;
}

const isFieldPath = (p: unknown): p is (string | number)[] =>
  Array.isArray(p) && p.every((s) => typeof s === 'string' || Number.isSafeInteger(s));

function readWeightsRow(key: string, row: unknown): RouteWeightsRow | undefined {
  if (!isPlain(row) || !isName(row.mesh) || !isName(row.router) || !isName(row.route)) return undefined;
  if (routeWeightsKey(row.mesh, row.router, row.route) !== key) return undefined;
  if (!Number.isSafeInteger(row.root) || (row.root as number) < 0 || typeof row.file !== 'string') return undefined;
  // A mesh file under the mesh path, as the loader lists it: no way out of the folder, no dot folder or file.
  if (row.file !== '' && (row.file.split('/').some((s) => s === '' || s.startsWith('.')) || !isMeshFile(row.file)))
    return undefined;
  if (!Array.isArray(row.edits) || !Array.isArray(row.identity)) return undefined;
  const editOk = (e: unknown) =>
    isPlain(e) &&
    Number.isSafeInteger(e.document) &&
    isFieldPath(e.path) &&
    typeof e.expected === 'number' &&
    typeof e.value === 'number';
  const checkOk = (c: unknown) =>
    isPlain(c) && Number.isSafeInteger(c.document) && isFieldPath(c.path) && typeof c.value === 'string';
  if (!row.edits.every(editOk) || !row.identity.every(checkOk)) return undefined;
  return row as unknown as RouteWeightsRow;
}

/** The virtual meshd YAML document of an API resource: the resource as `meshd export` writes it (no metadata). */
function virtualDocument(record: StoredResource): Record<string, unknown> {
  const parentField = PARENT_FIELD[record.key.kind];
  return {
    kind: record.key.kind,
    ...(record.key.kind === 'Mesh' ? {} : { mesh: record.key.mesh }),
    ...(parentField ? { [parentField]: record.key.parent } : {}),
    name: record.key.name,
    spec: record.spec,
  };
}

export class PostgresMeshStore implements MeshStore, Follower {
  readonly tables: readonly KeyedTable[] = ['resources', 'file_resource_metadata', 'route_weights'];
  private readonly cache = new LoadCache();
  private readonly now: () => number;
  /** The tables, as this replica has them. */
  private readonly rows = new Map<string, StoredResource>();
  private readonly fileMetadata = new Map<string, FileMetadataRow>();
  private readonly weights = new Map<string, RouteWeightsRow>();
  /** Metadata shown for a file's resource until its row is written (the same on every read meanwhile). */
  private readonly provisional = new Map<string, FileMetadataRow>();
  private served: Served | undefined;
  /** Virtual documents' texts, per record (a record is replaced, never changed). */
  private readonly texts = new WeakMap<StoredResource, string>();
  private readonly specHashes = new WeakMap<object, string>();
  /** Hands each mesh a write or another replica's change made to the listeners on the event loop's next turn. */
  private readonly announcer = new MeshAnnouncer('change');
  /** Another replica changed what the mesh is made of: load again on the next turn. */
  private stale = false;
  /** load() was called (by MeshServer, at start): from then on, other replicas' changes are loaded as they come. */
  private loaded = false;
  private reloadScheduled = false;
  private syncing: Promise<void> | undefined;
  /** This store's writes in the change log's hands, and those waiting for a place (see limited). */
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  /** How many of this store's writes the store could not take, and the last one's error. */
  private failures: { readonly count: number; readonly last?: StoreUnavailableError } = { count: 0 };
  private syncAgain = false;

  /** Throws an Error when a mesh path would read as one of the store's virtual files. */
  constructor(private readonly options: PostgresMeshStoreOptions) {
    const clash = options.paths.find(isVirtual);
    if (clash !== undefined)
      throw new Error(
        `the mesh path ${clash} starts with ${VIRTUAL_PREFIX}, which names the store's resources: give it as ./${clash}`,
      );
    this.now = options.now ?? Date.now;
    options.log.follow(this);
  }

  // ---- what MeshServer uses beyond ResourceStore ----

  /**
   * A digest of the mesh being served (store/mesh-hash.ts: the
   * same as MeshServer reports); undefined until a mesh is valid.
   */
  get meshHash(): string | undefined {
    const served = this.served;
    if (served && served.hash === undefined) served.hash = meshHash(served.mesh);
    return served?.hash;
  }

  /** The user's mesh paths (the store adds no folder of its own). */
  get paths(): string[] {
    return [...this.options.paths];
  }

  /** Whether a mesh waits to be handed to the listeners: a write's, or another replica's change not loaded yet. */
  get announcing(): boolean {
    return this.announcer.waiting || this.stale;
  }

  /** Whether the resource written at `file` belongs to the store (an API resource): its route is updated as a spec. */
  ownsFile(file: string): boolean {
    return isVirtual(file);
  }

  onChange(listener: (mesh: LoadedMesh, reason: string) => void): void {
    this.announcer.listen(listener);
  }

  /** The model being served. */
  currentModel(): LoadedMesh['model'] | undefined {
    return this.served?.mesh.model;
  }

  /**
   * Loads the mesh: the user's files as they are on disk, the store's resources and route weights as
   * this replica has them. A valid mesh becomes the store's view; an invalid one changes nothing.
   */
  load(changed?: readonly string[]): LoadResult {
    this.loaded = true;
    const result = this.loadWith(changed);
    if (result.ok) {
      this.serve(result);
      this.announcer.superseded();
      this.stale = false;
    }
    return result;
  }

  // ---- following the fleet ----

  reset(tables: ReadonlyMap<KeyedTable, readonly KeyedRow[]>): void {
    this.rows.clear();
    this.fileMetadata.clear();
    this.weights.clear();
    this.provisional.clear();
    this.apply({
      put: {
        resources: tables.get('resources') ?? [],
        file_resource_metadata: tables.get('file_resource_metadata') ?? [],
        route_weights: tables.get('route_weights') ?? [],
      },
    });
  }

  apply(change: TableChange): void {
    let meshChanged = false;
    for (const key of change.delete?.resources ?? []) meshChanged = this.rows.delete(key) || meshChanged;
    for (const { key, row } of change.put?.resources ?? []) {
      const record = readResourceRow(key, row);
      if (record) this.rows.set(key, record);
      else {
        this.rows.delete(key);
        this.options.onError?.(`the store's resource row ${key} is not a resource meshd wrote; it is left out`);
      }
      meshChanged = true;
    }
    for (const key of change.delete?.route_weights ?? []) meshChanged = this.weights.delete(key) || meshChanged;
    for (const { key, row } of change.put?.route_weights ?? []) {
      const weights = readWeightsRow(key, row);
      if (weights) this.weights.set(key, weights);
      else {
        this.weights.delete(key);
        this.options.onError?.(`the store's route weights row ${key} is not one meshd wrote; it is left out`);
      }
      meshChanged = true;
    }
    for (const key of change.delete?.file_resource_metadata ?? []) {
      this.fileMetadata.delete(key);
      this.provisional.delete(key);
    }
    for (const { key, row } of change.put?.file_resource_metadata ?? []) {
      const meta = readMetadataRow(row);
      if (meta) this.fileMetadata.set(key, meta);
      else this.fileMetadata.delete(key);
      this.provisional.delete(key);
    }
    if (meshChanged && this.loaded) {
      this.stale = true;
      this.scheduleReload();
    }
  }

  private scheduleReload(): void {
    if (this.reloadScheduled) return;
    this.reloadScheduled = true;
    setImmediate(() => {
      this.reloadScheduled = false;
      if (!this.stale) return; // a write's step loaded it since
      this.stale = false;
      const result = this.loadWith();
      if (!result.ok) {
        this.options.onInvalid?.(result, 'changed in the store by another replica');
        return;
      }
      this.serve(result);
      this.announcer.announce(result, 'changed in the store by another replica');
    });
  }

  // ---- reads ----

  async get(key: ResourceKey): Promise<StoredResource | undefined> {
    return this.entry(key)?.record;
  }

  async list(scope: ListScope): Promise<readonly StoredResource[] | undefined> {
    if (scope.kind !== 'Mesh') {
      if (!this.entry({ kind: 'Mesh', mesh: scope.mesh!, name: scope.mesh! })) return undefined;
      if (scope.parent !== undefined) {
        const parentKind = scope.kind === 'Route' ? 'VirtualRouter' : 'VirtualGateway';
        if (!this.entry({ kind: parentKind, mesh: scope.mesh!, name: scope.parent })) return undefined;
      }
    }
    return this.entries()
      .map((e) => e.record)
      .filter(
        (r) =>
          r.key.kind === scope.kind &&
          (scope.kind === 'Mesh' || r.key.mesh === scope.mesh) &&
          r.key.parent === scope.parent,
      )
      .sort((a, b) => compare(a.key.name, b.key.name));
  }

  /** A resource: the file's when the served files define it (files win), else the store's row. */
  private entry(key: ResourceKey): Entry | undefined {
    const rowKey = resourceRowKey(key);
    const file = this.served?.files.get(rowKey);
    if (file) return this.fileEntry(rowKey, file);
    const record = this.rows.get(rowKey);
    return record && { record, owner: { api: true, file: virtualPath(key) } };
  }

  private entries(): Entry[] {
    const files = this.served?.files ?? new Map<string, FileEntry>();
    const out = [...files].map(([rowKey, f]) => this.fileEntry(rowKey, f));
    for (const [rowKey, record] of this.rows)
      if (!files.has(rowKey)) out.push({ record, owner: { api: true, file: virtualPath(record.key) } });
    return out;
  }

  private fileEntry(rowKey: string, f: FileEntry): Entry {
    const meta = this.fileMetadataOf(rowKey, f);
    return {
      record: {
        key: f.key,
        spec: f.spec,
        tags: [],
        uid: meta.uid,
        version: meta.version,
        createdAt: meta.createdAt,
        lastUpdatedAt: meta.lastUpdatedAt,
      },
      owner: { api: false, file: f.file, line: f.line },
    };
  }

  /** The metadata of a file's resource: its row when it matches the spec, else what its next row will say. */
  private fileMetadataOf(rowKey: string, f: FileEntry): FileMetadataRow {
    const row = this.fileMetadata.get(rowKey);
    if (row && row.specHash === f.specHash && row.goneAt === undefined) return row;
    const shown = this.provisional.get(rowKey);
    if (shown && shown.specHash === f.specHash) return shown;
    const now = this.now();
    const next: FileMetadataRow = !row
      ? { uid: randomUUID(), version: 1, createdAt: now, lastUpdatedAt: now, specHash: f.specHash }
      : row.specHash === f.specHash
        ? {
            uid: row.uid,
            version: row.version,
            createdAt: row.createdAt,
            lastUpdatedAt: row.lastUpdatedAt,
            specHash: f.specHash,
          }
        : {
            uid: row.uid,
            version: row.version + 1,
            createdAt: row.createdAt,
            lastUpdatedAt: now,
            specHash: f.specHash,
          };
    this.provisional.set(rowKey, next);
    return next;
  }

  // ---- writes ----

  async create(key: ResourceKey, spec: SpecJson, tags: readonly Tag[]): Promise<StoreResult> {
    return this.write(`created ${label(key)}`, () => {
      this.requireServed();
      const missing = this.missingParent(key);
      if (missing) throw refused('not_found', missing);
      const existing = this.entry(key);
      if (existing)
        throw refused(
          'exists',
          `${label(key)} already exists in mesh ${key.mesh}${existing.owner.api ? ' (created through the API)' : ` (defined in ${existing.owner.file}:${existing.owner.line})`}`,
        );
      const limit = this.options.maxResourcesPerMesh;
      if (limit !== undefined && key.kind !== 'Mesh') {
        const held = this.entries().filter((e) => e.record.key.mesh === key.mesh && e.record.key.kind !== 'Mesh');
        if (held.length >= limit)
          throw refused(
            'limit',
            `mesh ${key.mesh} already holds ${held.length} resources, the most this meshd allows (--api-max-resources-per-mesh ${limit})`,
          );
      }
      const now = this.now();
      // A resource the files defined until lately (handed over to the API) keeps its uid, one version up.
      const known = this.fileMetadata.get(resourceRowKey(key));
      const record: StoredResource = {
        key,
        spec,
        tags: [...tags],
        ...(known
          ? { uid: known.uid, version: known.version + 1, createdAt: known.createdAt }
          : { uid: randomUUID(), version: 1, createdAt: now }),
        lastUpdatedAt: now,
      };
      return { put: record, code: 'invalid', forgetFileMetadata: known !== undefined };
    });
  }

  async update(key: ResourceKey, spec: SpecJson, options: WriteOptions = {}): Promise<StoreResult> {
    return this.write(`updated ${label(key)}`, () => this.updatePlan(key, spec, options.expectedVersion));
  }

  async delete(key: ResourceKey, options: WriteOptions = {}): Promise<StoreResult> {
    return this.write(`deleted ${label(key)}`, () => {
      const record = this.apiOwned(key, options.expectedVersion);
      const children = this.childrenOf(key);
      if (children.length > 0) {
        const shown =
          children.slice(0, 5).join(', ') + (children.length > 5 ? `, and ${children.length - 5} more` : '');
        throw refused(
          'in_use',
          `${label(key)} cannot be deleted: it still holds ${children.length} resource(s): ${shown}`,
        );
      }
      return { remove: record, code: 'in_use' };
    });
  }

  async tag(
    key: ResourceKey,
    change: { readonly set: readonly Tag[]; readonly remove: readonly string[] },
    maxTags: number,
  ): Promise<StoreResult> {
    return this.write(`tagged ${label(key)}`, () => {
      const record = this.apiOwned(key, undefined);
      const tags = new Map(record.tags.map((t) => [t.key, t.value]));
      for (const t of change.set) tags.set(t.key, t.value);
      for (const k of change.remove) tags.delete(k);
      if (tags.size > maxTags)
        throw refused('limit', `${label(key)} would have ${tags.size} tags; a resource may have at most ${maxTags}`);
      return { put: { ...record, tags: [...tags].map(([k, value]) => ({ key: k, value })) }, code: 'invalid' };
    });
  }

  private updatePlan(key: ResourceKey, spec: SpecJson, expectedVersion: number | undefined): Plan {
    const record = this.apiOwned(key, expectedVersion);
    return {
      put: { ...record, spec, version: record.version + 1, lastUpdatedAt: this.now() },
      code: 'invalid',
    };
  }

  /**
   * Runs a write as a step of the change log: `plan` checks it against the current state (throwing
   * Refused), the mesh it makes is loaded, and only a valid one is committed and served.
   */
  private async write(what: string, plan: () => Plan, fence?: Fence): Promise<StoreResult> {
    let resource: StoredResource;
    try {
      resource = await this.limited(() => this.options.log.write(() => this.step(plan()), fence));
    } catch (err) {
      if (err instanceof Refused) return err.refusal;
      throw err; // StoreUnavailableError, FencedError: nothing changed
    }
    this.announcer.announce(this.served!.mesh, `${what} through the App Mesh API`);
    return { ok: true, resource };
  }

  /**
   * Hands this replica's writes to the change log, at most MAX_WRITES_IN_FLIGHT at a time. Each step loads the
   * whole mesh (tens of milliseconds for hundreds of resources) while the fleet's write lock is held: a burst
   * batched into one transaction would hold it for seconds, stalling every replica's writes (Cloud Map
   * registrations too), and past the server's idle-in-transaction timeout the whole batch would fail.
   */
  private async limited<T>(write: () => Promise<T>): Promise<T> {
    const failuresBefore = this.failures.count;
    if (this.inFlight >= MAX_WRITES_IN_FLIGHT) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.inFlight++;
    try {
      // Writes that waited behind one the store could not take fail with it, at once, rather than each waiting out
      // its own connection timeout in turn.
      if (this.failures.count !== failuresBefore && this.failures.last) throw this.failures.last;
      return await write();
    } catch (err) {
      if (err instanceof StoreUnavailableError && err !== this.failures.last)
        this.failures = { count: this.failures.count + 1, last: err };
      throw err;
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight--;
    }
  }

  /** Applies a plan to memory, loads the mesh it makes, and answers the change (or throws Refused, undone). */
  private step(plan: Plan): { result: StoredResource; change: TableChange; revert: () => void } {
    const target = plan.put ?? plan.remove!;
    const rowKey = resourceRowKey(target.key);
    const before = this.rows.get(rowKey);
    const metaBefore = this.fileMetadata.get(rowKey);
    const servedBefore = this.served;
    const staleBefore = this.stale;
    const revert = () => {
      if (before) this.rows.set(rowKey, before);
      else this.rows.delete(rowKey);
      if (metaBefore) this.fileMetadata.set(rowKey, metaBefore);
      this.served = servedBefore;
      this.stale = staleBefore;
      if (staleBefore) this.scheduleReload();
    };
    if (plan.put) this.rows.set(rowKey, plan.put);
    else this.rows.delete(rowKey);
    if (plan.forgetFileMetadata) this.fileMetadata.delete(rowKey);
    const candidate = this.loadWith();
    if (!candidate.ok) {
      revert();
      throw refused(plan.code, refusalText(target.key, plan.code, candidate.problems, virtualPath(target.key)));
    }
    this.serve(candidate);
    this.stale = false;
    const change: TableChange = {
      ...(plan.put ? { put: { resources: [{ key: rowKey, row: plan.put }] } } : {}),
      delete: {
        ...(plan.remove ? { resources: [rowKey] } : {}),
        ...(plan.forgetFileMetadata ? { file_resource_metadata: [rowKey] } : {}),
      },
    };
    return { result: plan.put ?? plan.remove!, change, revert };
  }

  // ---- route weights (rollouts) ----

  /**
   * Sets a route's weights for a rollout, through the change log (`fence`: the rollout leader's, so a
   * deposed leader's write is refused). A route of the store is updated (its version goes up); a route
   * of the user's files, which are read-only in a fleet, gets an override row applied to the file's
   * text at every load, on every replica; setting every weight back to the file's value removes it.
   * Conflict when a weight is not what the rollout expects (edited since), or the route moved.
   */
  async editRouteWeights(
    edits: readonly WeightEdit[],
    identity: readonly IdentityCheck[] = [],
    fence?: Fence,
  ): Promise<EditResult> {
    const file = edits[0]?.at.file;
    if (file === undefined) return { ok: true };
    if (edits.some((e) => e.at.file !== file))
      return { ok: false, conflict: false, error: 'the weights to change are in several files' };
    const what = isVirtual(file) ? 'a rollout updated' : 'a rollout set the weights of';
    let result: { route: string };
    try {
      result = await this.limited(() =>
        this.options.log.write(
          () =>
            isVirtual(file) ? this.apiRouteStep(file, edits, identity) : this.fileRouteStep(file, edits, identity),
          fence,
        ),
      );
    } catch (err) {
      if (err instanceof EditRefused) return err.result;
      if (err instanceof Refused)
        return {
          ok: false,
          conflict: err.refusal.refusal.code === 'version_mismatch',
          error: err.refusal.refusal.message,
        };
      // The store cannot be reached, or this replica no longer leads: nothing changed.
      if (err instanceof StoreUnavailableError || err instanceof FencedError)
        return { ok: false, conflict: false, error: err.message };
      throw err;
    }
    this.announcer.announce(this.served!.mesh, `${what} ${result.route}`);
    return { ok: true };
  }

  /**
   * Removes the weights a rollout set on a route of the user's files (the file's own are served again).
   * Answers ok when there were none.
   */
  async clearRouteWeights(mesh: string, router: string, route: string, fence?: Fence): Promise<EditResult> {
    const key = routeWeightsKey(mesh, router, route);
    if (!this.weights.has(key)) return { ok: true };
    try {
      await this.limited(() =>
        this.options.log.write(() => {
          this.requireServed();
          const before = this.weights.get(key);
          if (!before) return { result: undefined, change: {}, revert: () => undefined };
          return this.weightsStep(key, undefined, before, `Route/${router}/${route}`);
        }, fence),
      );
    } catch (err) {
      if (err instanceof EditRefused) return err.result;
      // The store cannot be reached, or this replica no longer leads: nothing changed.
      if (err instanceof StoreUnavailableError || err instanceof FencedError)
        return { ok: false, conflict: false, error: err.message };
      throw err;
    }
    this.announcer.announce(this.served!.mesh, `a rollout's weights cleared from Route/${router}/${route}`);
    return { ok: true };
  }

  /** The rows of route_weights, for status and tests. */
  routeWeights(): RouteWeightsRow[] {
    return [...this.weights.values()];
  }

  private apiRouteStep(
    file: string,
    edits: readonly WeightEdit[],
    identity: readonly IdentityCheck[],
  ): { result: { route: string }; change: TableChange; revert: () => void } {
    const served = this.requireServed();
    const resource = served.mesh.model.resources.find((r) => r.source.file === file);
    const record = resource && this.rows.get(resourceRowKey(keyOf(resource)));
    if (!resource || !record || record.key.kind !== 'Route')
      throw new EditRefused({
        ok: false,
        conflict: true,
        error: `${file}: no route of the App Mesh API is there any more`,
      });
    const doc = JSON.parse(JSON.stringify(virtualDocument(record))) as Record<string, unknown>;
    const at = (p: readonly (string | number)[]) =>
      p
        .slice(0, -1)
        .reduce<unknown>((node, k) => (isPlain(node) || Array.isArray(node) ? (node as never)[k] : undefined), doc) as
        Record<string | number, unknown> | undefined;
    for (const check of identity) {
      const holder = at(check.at.path);
      if (check.at.file !== file || holder?.[check.at.path[check.at.path.length - 1]!] !== check.value)
        throw new EditRefused({
          ok: false,
          conflict: true,
          error: `${file}: ${check.at.path.join('.')} is no longer '${check.value}' where meshd read it; the route was changed`,
        });
    }
    for (const edit of edits) {
      const holder = at(edit.at.path);
      const last = edit.at.path[edit.at.path.length - 1]!;
      if (edit.at.path[0] !== 'spec' || holder?.[last] !== edit.expected)
        throw new EditRefused({
          ok: false,
          conflict: true,
          error: `${file}: the weight at ${edit.at.path.join('.')} is ${JSON.stringify(holder?.[last])} where meshd set ${edit.expected}; the route was changed`,
        });
      holder[last] = edit.value;
    }
    const outcome = this.step(this.updatePlan(record.key, doc.spec as SpecJson, record.version));
    return { result: { route: label(record.key) }, change: outcome.change, revert: outcome.revert };
  }

  private fileRouteStep(
    file: string,
    edits: readonly WeightEdit[],
    identity: readonly IdentityCheck[],
  ): { result: { route: string }; change: TableChange; revert: () => void } {
    const served = this.requireServed();
    const same = (a: WeightEdit['at'] | undefined, b: WeightEdit['at']) =>
      a !== undefined &&
      a.file === b.file &&
      a.document === b.document &&
      canonicalJson(a.path) === canonicalJson(b.path);
    const route = served.mesh.model.resources.find(
      (r) =>
        r.kind === 'Route' &&
        r.source.file === file &&
        same(served.mesh.whereWritten(r, edits[0]!.at.path), edits[0]!.at),
    );
    if (!route || route.kind !== 'Route')
      throw new EditRefused({ ok: false, conflict: true, error: `${file}: the route is no longer written there` });
    const rootIndex = this.options.paths.findIndex(
      (p) => path.resolve(p) === path.resolve(file) || inside(path.resolve(p), path.resolve(file)),
    );
    if (rootIndex < 0)
      throw new EditRefused({ ok: false, conflict: false, error: `${file} is not under the mesh paths` });
    const key = routeWeightsKey(route.mesh, route.virtualRouter, route.name);
    const before = this.weights.get(key);
    const merged = [...(before?.edits ?? [])];
    for (const edit of edits) {
      const i = merged.findIndex(
        (m) => m.document === edit.at.document && canonicalJson(m.path) === canonicalJson(edit.at.path),
      );
      if (i < 0) {
        merged.push({
          document: edit.at.document,
          path: [...edit.at.path],
          expected: edit.expected,
          value: edit.value,
        });
        continue;
      }
      if (merged[i]!.value !== edit.expected)
        throw new EditRefused({
          ok: false,
          conflict: true,
          error: `${file} (${edit.at.path.join('.')}): the weight is ${merged[i]!.value} where meshd set ${edit.expected}; the route was changed`,
        });
      merged[i] = { ...merged[i]!, value: edit.value };
    }
    const relative = path.relative(path.resolve(this.options.paths[rootIndex]!), path.resolve(file));
    const row: RouteWeightsRow = {
      mesh: route.mesh,
      router: route.virtualRouter,
      route: route.name,
      root: rootIndex,
      file: relative.split(path.sep).join('/'),
      edits: merged,
      identity: identity
        .filter((c) => c.at.file === file)
        .map((c) => ({ document: c.at.document, path: [...c.at.path], value: c.value })),
    };
    // Checked against the file as it is now: the weights a rollout expects there, the route's name.
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new EditRefused({ ok: false, conflict: false, error: `${file}: cannot read: ${(err as Error).message}` });
    }
    const applied = applyWeightsRow(text, file, row);
    if (!applied.ok) throw new EditRefused(applied);
    const cleared = merged.every((m) => m.value === m.expected);
    const name = `Route/${route.virtualRouter}/${route.name}`;
    return { ...this.weightsStep(key, cleared ? undefined : row, before, name), result: { route: name } };
  }

  /** Puts (or removes) a route_weights row in memory, loads the mesh it makes, and answers the change. */
  private weightsStep(
    key: string,
    row: RouteWeightsRow | undefined,
    before: RouteWeightsRow | undefined,
    route: string,
  ): { result: undefined; change: TableChange; revert: () => void } {
    const servedBefore = this.served;
    const staleBefore = this.stale;
    const revert = () => {
      if (before) this.weights.set(key, before);
      else this.weights.delete(key);
      this.served = servedBefore;
      this.stale = staleBefore;
      if (staleBefore) this.scheduleReload();
    };
    if (row) this.weights.set(key, row);
    else this.weights.delete(key);
    const candidate = this.loadWith();
    if (!candidate.ok) {
      revert();
      const errors = candidate.problems.filter((p) => p.severity === 'error').slice(0, 3);
      throw new EditRefused({
        ok: false,
        conflict: false,
        error: `the weights of ${route} would make the mesh invalid: ${errors.map((p) => `${p.location.file}:${p.location.line}: ${p.message}`).join('; ')}`,
      });
    }
    this.serve(candidate);
    this.stale = false;
    return {
      result: undefined,
      change: row ? { put: { route_weights: [{ key, row }] } } : { delete: { route_weights: [key] } },
      revert,
    };
  }

  // ---- checks ----

  private requireServed(): Served {
    if (!this.served)
      throw refused('invalid', 'no valid mesh is loaded yet: fix the errors in the mesh files (meshd logs them) first');
    return this.served;
  }

  private apiOwned(key: ResourceKey, expectedVersion: number | undefined): StoredResource {
    this.requireServed();
    const entry = this.entry(key);
    if (!entry) throw refused('not_found', `${label(key)} does not exist in mesh ${key.mesh}`);
    if (!entry.owner.api)
      throw refused(
        'read_only',
        `${label(key)} is defined in ${entry.owner.file}:${entry.owner.line}, which is read-only through the API (in a fleet, the mesh files are each replica's copy: change them where they come from, such as their Git repository)`,
      );
    if (expectedVersion !== undefined && expectedVersion !== entry.record.version)
      throw refused(
        'version_mismatch',
        `${label(key)} is at version ${entry.record.version}, but the request was based on version ${expectedVersion}`,
      );
    return entry.record;
  }

  private missingParent(key: ResourceKey): string | undefined {
    if (key.kind === 'Mesh') return undefined;
    if (!this.entry({ kind: 'Mesh', mesh: key.mesh, name: key.mesh })) return `mesh ${key.mesh} does not exist`;
    if (key.parent === undefined) return undefined;
    const kind = key.kind === 'Route' ? 'VirtualRouter' : 'VirtualGateway';
    if (!this.entry({ kind, mesh: key.mesh, name: key.parent }))
      return `${kind}/${key.parent} does not exist in mesh ${key.mesh}`;
    return undefined;
  }

  private childrenOf(key: ResourceKey): string[] {
    const all = this.entries().map((e) => e.record.key);
    if (key.kind === 'Mesh') return all.filter((k) => k.mesh === key.mesh && k.kind !== 'Mesh').map(label);
    if (key.kind === 'VirtualRouter')
      return all.filter((k) => k.mesh === key.mesh && k.kind === 'Route' && k.parent === key.name).map(label);
    if (key.kind === 'VirtualGateway')
      return all.filter((k) => k.mesh === key.mesh && k.kind === 'GatewayRoute' && k.parent === key.name).map(label);
    return [];
  }

  // ---- loading ----

  /** The mesh of the user's files, the store's resources as virtual files, and the route weights applied. */
  private loadWith(changed?: readonly string[]): LoadResult {
    const overlay = new Map<string, string>();
    const problems: Problem[] = [];
    for (const record of this.rows.values()) {
      let text = this.texts.get(record);
      if (text === undefined) {
        text = dumpYaml(virtualDocument(record));
        this.texts.set(record, text);
      }
      overlay.set(virtualPath(record.key), text);
    }
    for (const row of [...this.weights.values()].sort((a, b) => compare(a.file, b.file))) {
      const root = this.options.paths[row.root];
      const file = root === undefined ? undefined : row.file === '' ? root : path.join(root, ...row.file.split('/'));
      const warn = (message: string) =>
        problems.push({
          severity: 'warning',
          location: { file: file ?? `${VIRTUAL_PREFIX}route-weights`, line: 1, col: 1 },
          resource: `Route/${row.router}/${row.route}`,
          message: `the weights a rollout set on this route (kept in the store) are not applied: ${message}`,
        });
      if (file === undefined) {
        warn(`this replica has no mesh path number ${row.root + 1}`);
        continue;
      }
      let text = overlay.get(file);
      if (text === undefined) {
        try {
          text = fs.readFileSync(file, 'utf8');
        } catch (err) {
          warn(`${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
          continue;
        }
      }
      const applied = applyWeightsRow(text, file, row);
      if (applied.ok) overlay.set(file, applied.text);
      else warn(applied.error);
    }
    const result = loadMesh(this.options.paths, {
      ...this.options.load,
      cache: this.cache,
      overlay,
      noFilesIsEmpty: true,
      yields: isVirtual,
      ...(changed ? { changed } : {}),
    });
    return problems.length === 0 ? result : { ...result, problems: [...result.problems, ...problems] };
  }

  /** Makes a valid mesh the store's view, and writes the metadata of the files' resources that changed. */
  private serve(mesh: LoadedMesh): void {
    const files = new Map<string, FileEntry>();
    for (const r of mesh.model.resources) {
      if (isVirtual(r.source.file)) continue;
      const key = keyOf(r);
      let hash = this.specHashes.get(r.spec);
      if (hash === undefined) {
        hash = specHash(r.spec);
        this.specHashes.set(r.spec, hash);
      }
      files.set(resourceRowKey(key), {
        key,
        spec: r.spec as unknown as SpecJson,
        file: r.source.file,
        line: r.source.line,
        specHash: hash,
      });
    }
    this.served = { mesh, files };
    if (this.metadataChange(false)) this.syncMetadata();
  }

  /**
   * The rows of file_resource_metadata that differ from what the served files define (a new resource, a
   * changed spec, one gone from the files or gone long enough to forget), applied to memory when `apply`.
   */
  private metadataChange(apply: boolean): { change: TableChange; revert: () => void } | undefined {
    const served = this.served;
    if (!served) return undefined;
    const now = this.now();
    const puts: KeyedRow[] = [];
    const deletes: string[] = [];
    for (const [rowKey, f] of served.files) {
      const row = this.fileMetadata.get(rowKey);
      if (row && row.specHash === f.specHash && row.goneAt === undefined) continue;
      puts.push({ key: rowKey, row: this.fileMetadataOf(rowKey, f) });
    }
    for (const [rowKey, row] of this.fileMetadata) {
      if (served.files.has(rowKey)) continue;
      if (row.goneAt === undefined) puts.push({ key: rowKey, row: { ...row, goneAt: now } });
      else if (now - row.goneAt > FORGET_AFTER_MS) deletes.push(rowKey);
    }
    if (puts.length === 0 && deletes.length === 0) return undefined;
    if (!apply) return { change: {}, revert: () => undefined };
    const before = new Map([...puts.map((p) => p.key), ...deletes].map((k) => [k, this.fileMetadata.get(k)]));
    for (const p of puts) {
      this.fileMetadata.set(p.key, p.row as FileMetadataRow);
      this.provisional.delete(p.key);
    }
    for (const k of deletes) this.fileMetadata.delete(k);
    return {
      change: { put: { file_resource_metadata: puts }, delete: { file_resource_metadata: deletes } },
      revert: () => {
        for (const [k, row] of before) {
          if (row) this.fileMetadata.set(k, row);
          else this.fileMetadata.delete(k);
        }
      },
    };
  }

  /** Writes the files' resources' metadata for the fleet (in the background; retried at the next load). */
  private syncMetadata(): void {
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = (async () => {
      do {
        this.syncAgain = false;
        try {
          await this.options.log.write(() => {
            const made = this.metadataChange(true);
            return { result: undefined, change: made?.change ?? {}, revert: made?.revert ?? (() => undefined) };
          });
        } catch (err) {
          this.options.onError?.(
            `the uid and version of the mesh files' resources could not be written to the store: ${(err as Error).message}; retried at the next load`,
          );
          return;
        }
      } while (this.syncAgain);
    })().finally(() => {
      this.syncing = undefined;
    });
  }

  /** Resolves once the files' metadata this replica has seen is written (tests; a clean shutdown). */
  async settled(): Promise<void> {
    while (this.syncing) await this.syncing;
  }
}

interface Plan {
  readonly put?: StoredResource;
  readonly remove?: StoredResource;
  readonly code: 'invalid' | 'in_use';
  /** The resource was the files' until lately: its metadata row goes (the API's row carries its uid on). */
  readonly forgetFileMetadata?: boolean;
}

/** A route_weights row applied to its file's text (the route's identity and every expected weight checked). */
function applyWeightsRow(
  text: string,
  file: string,
  row: RouteWeightsRow,
): { readonly ok: true; readonly text: string } | Extract<EditResult, { ok: false }> {
  return editWeightsInText(
    text,
    row.edits.map((e) => ({ at: { file, document: e.document, path: e.path }, expected: e.expected, value: e.value })),
    row.identity.map((c) => ({ at: { file, document: c.document, path: c.path }, value: c.value })),
  );
}
