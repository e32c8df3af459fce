// The embedded store (`meshd serve`): the mesh as files. The user's mesh paths stay the source of
// truth for what they define, and are read-only through the API. What the API creates is written
// into a folder of its own (--api-dir), one meshd YAML file per resource (api-file.ts), so it
// survives restarts, shows in `git diff` and can be edited by hand.
//
// Every write is checked by loading the mesh it would make (the user's files as they are on disk,
// plus the written file as it would be) with the same loader and validation as `meshd validate`,
// cross-references included. Only a mesh that loads is written, and the file is replaced
// atomically: a refused write changes nothing. The store's methods run start to end without
// yielding to the event loop, so writes (and the watcher's reloads) never interleave: of two
// updates based on one version, exactly one passes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { nativePathOf } from '../export/native-yaml';
import { detectDialect } from '../load/dialects';
import { LoadCache, loadMesh, type LoadOptions, type LoadResult } from '../load/mesh-source';
import { isError, type Problem } from '../load/problems';
import type { SourceLocation } from '../model/common';
import { compare, labelOf, parentOf, resourceKey, type MeshModel, type Resource } from '../model/mesh-model';
import { fsyncDir, replaceFileAtomically } from '../util/atomic-json-file';
import { canonicalJson } from '../util/canonical-json';
import { apiFileText, readApiDocument, type ApiMetadata } from './api-file';
import { FileResourceMetadata } from './file-metadata';
import { MeshAnnouncer } from './mesh-announcer';
import type {
  LoadedMesh,
  ListScope,
  MeshStore,
  ResourceKey,
  SpecJson,
  StoredResource,
  StoreRefusal,
  StoreResult,
  Tag,
  WriteOptions,
} from './types';

export interface FileStoreOptions {
  /** The user's mesh files and folders: read-only through the API. */
  readonly paths: readonly string[];
  /** The API's own folder: one file per resource it created. */
  readonly apiDir: string;
  /** Where the uid, version and times of the user's file-defined resources are kept. */
  readonly metadataPath: string;
  readonly load?: Omit<LoadOptions, 'cache' | 'overlay'>;
  readonly now?: () => number;
  /** A Create that would leave a mesh holding more resources than this is refused (`limit`); none by default. */
  readonly maxResourcesPerMesh?: number;
  /**
   * Virtual files of another source loaded beside the user's (the cluster's objects in Kubernetes mode):
   * their texts now, read at every load. Read-only through the API, like the user's files.
   */
  readonly extraFiles?: () => ReadonlyMap<string, string>;
}

/** Who owns a resource: the API (its file in the API folder), or the user's file (read-only). */
type Owner =
  | { readonly api: true; readonly file: string }
  // `line` is found (the file's syntax tree built) only when a message needs it: an accessor.
  | { readonly api: false; readonly file: string; readonly line: number };

interface Entry {
  readonly record: StoredResource;
  readonly owner: Owner;
}

interface Served {
  readonly mesh: LoadedMesh;
  readonly entries: ReadonlyMap<string, Entry>;
}

function keyText(key: ResourceKey): string {
  return `${key.mesh}/${labelOf(key.kind, key.parent, key.name)}`;
}

function keyOf(r: Resource): ResourceKey {
  const parent = parentOf(r);
  return { kind: r.kind, mesh: r.mesh, ...(parent !== undefined ? { parent } : {}), name: r.name };
}

function refused(code: StoreRefusal['code'], message: string): Extract<StoreResult, { ok: false }> {
  return { ok: false, refusal: { code, message } };
}

const refuse: (code: StoreRefusal['code'], message: string) => StoreResult = refused;

function label(key: ResourceKey): string {
  return labelOf(key.kind, key.parent, key.name);
}

/** `file` is somewhere under `folder`. */
function inside(folder: string, file: string): boolean {
  const rel = path.relative(folder, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

export class FileStore implements MeshStore {
  private readonly cache = new LoadCache();
  private readonly fileMetadata: FileResourceMetadata;
  private readonly now: () => number;
  private served: Served | undefined;
  /**
   * What the store last wrote to each file of the API's folder (null: removed it), to tell its own writes from edits.
   */
  private readonly lastWritten = new Map<string, string | null>();
  /** Hands each write's mesh to the listeners on the next turn of the event loop. */
  private readonly announcer = new MeshAnnouncer('write');
  /** The keys of the resources the API's files define, in the view served. */
  private readonly apiKeys = new Set<string>();
  /** The parsed text each API file's entry was made from. */
  private readonly apiParsed = new Map<string, unknown>();
  /** Whether each file seen is under the API's folder (path.relative is not cheap, and asked per resource). */
  private readonly underApiDir = new Map<string, boolean>();
  /** False when the last view served left an API file's metadata to write: the next load redoes them all. */
  private apiSettled = false;
  /** Spec digests of the model's resources: an unchanged one is the same object from one load to the next. */
  private readonly specHashes = new WeakMap<object, string>();
  /** The metadata state file's write, waiting for the turn after the load that changed it. */
  private metadataSave: NodeJS.Immediate | undefined;

  /**
   * Throws StateFileError when the metadata state cannot be read,
   * and an Error when the API's folder overlaps a mesh path.
   */
  constructor(private readonly options: FileStoreOptions) {
    this.now = options.now ?? Date.now;
    const overlap = apiDirOverlap(options.apiDir, options.paths);
    if (overlap) throw new Error(overlap);
    this.fileMetadata = new FileResourceMetadata(options.metadataPath);
  }

  /**
   * The view served, its metadata on disk: a version or a time is never shown (nor a write
   * checked against it) before it is in the state file, whatever happens to meshd next.
   */
  private get view(): Served | undefined {
    if (this.metadataSave) this.saveMetadata();
    return this.served;
  }

  private saveMetadata(): void {
    clearImmediate(this.metadataSave);
    this.metadataSave = undefined;
    try {
      this.fileMetadata.save();
    } catch {
      // Kept in memory; the next load tries again. The versions shown stay right while meshd runs.
    }
  }

  /** Whether the API owns the resources of this file (a rollout then writes its route through the store). */
  ownsFile(file: string): boolean {
    for (const e of this.view?.entries.values() ?? []) if (e.owner.api && e.owner.file === file) return true;
    return false;
  }

  /** Whether a write's mesh waits to be handed to the listeners (on the event loop's next turn). */
  get announcing(): boolean {
    return this.announcer.waiting;
  }

  /** The API's folder; it is made by the first write that needs it, never before. */
  get apiDir(): string {
    return this.options.apiDir;
  }

  /** Called with each mesh an API write made (after the write's answer is on its way: not re-entrant). */
  onChange(listener: (mesh: LoadedMesh, reason: string) => void): void {
    this.announcer.listen(listener);
  }

  /** The paths the mesh is loaded from (and watched): the user's, then the API folder. */
  get paths(): string[] {
    return fs.existsSync(this.options.apiDir) ? [...this.options.paths, this.options.apiDir] : [...this.options.paths];
  }

  /**
   * Loads the mesh from disk (a start, or a change the watcher saw). A valid mesh becomes the
   * store's view, with versions for what changed (a hand edit in the API folder is a new version);
   * an invalid one changes nothing here.
   */
  load(changed?: readonly string[]): LoadResult {
    const result = this.loadWith(new Map(), changed);
    if (result.ok) {
      this.serve(result);
      // Read from disk after every write so far: it supersedes a write's mesh not announced yet.
      this.announcer.superseded();
    }
    return result;
  }

  private loadWith(overlay: ReadonlyMap<string, string | null>, changed?: readonly string[]): LoadResult {
    // An empty folder is an empty mesh: the App Mesh API can fill it, starting with CreateMesh.
    const extra = this.options.extraFiles?.();
    return loadMesh(this.paths, {
      ...this.options.load,
      cache: this.cache,
      overlay: extra && extra.size > 0 ? new Map([...extra, ...overlay]) : overlay,
      noFilesIsEmpty: true,
      ...(changed ? { changed } : {}),
    });
  }

  /**
   * Builds the store's view of a loaded mesh: each resource's owner and metadata. API files
   * without valid metadata (a file handed over, a hand edit that dropped it), hand edits that
   * changed a spec but not its version, and copies carrying another's uid get new metadata,
   * written back into the file (so a version never goes down).
   *
   * A reload redoes only what changed since the view served: the entries of resources that are
   * other objects (MeshModel.changedKeys), and those of the API's files when one of them changed.
   */
  private serve(mesh: LoadedMesh): void {
    const before = this.served;
    const now = this.now();
    const rewrites: { file: string; text: string }[] = [];
    const changed = before ? before.mesh.model.changedKeys(mesh.model) : undefined;
    const apiChanged =
      !before ||
      !this.apiSettled ||
      [...changed!].some((key) => this.apiKeys.has(key) || this.isApiResourceAt(mesh, key)) ||
      // An API file's metadata is no part of its resource: a file whose text changed is redone.
      [...this.apiParsed].some(([file, parsed]) => this.cache.files.get(file)?.parsed !== parsed);
    const entries = new Map(before?.entries);
    const gone: string[] = [];
    // The user's files: what changed (everything on the first load).
    for (const key of changed ?? mesh.model.resources.map(resourceKey)) {
      const r = mesh.model.resourceAt(key);
      const was = entries.get(key);
      if (!r || this.isApiFile(r.source.file, r)) {
        if (was && !was.owner.api) {
          gone.push(key);
          entries.delete(key);
        }
        continue;
      }
      const meta = this.fileMetadata.see(key, r.spec, now, this.specHashes);
      entries.set(key, {
        record: { key: keyOf(r), spec: r.spec as unknown as SpecJson, tags: [], ...meta },
        owner: fileOwner(r.source),
      });
    }
    if (apiChanged) this.serveApiFiles(mesh, before?.entries, entries, now, rewrites);
    if (before) this.fileMetadata.markGone(gone, now);
    else {
      const fileKeys = new Set<string>();
      for (const [key, e] of entries) if (!e.owner.api) fileKeys.add(key);
      this.fileMetadata.keepOnly(fileKeys, now);
    }
    this.served = { mesh, entries };
    // Written on the next turn, once the reload's first pushes are out (view writes it before any read).
    this.metadataSave ??= setImmediate(() => this.saveMetadata());
    for (const { file, text } of rewrites) {
      // Never through a link: the metadata is then kept in memory only (the next API write of it is refused).
      if (this.leadsOutside(file)) continue;
      try {
        this.lastWritten.set(file, text);
        replaceFileAtomically(file, text);
      } catch {
        // The metadata is kept in memory; the next write of the resource writes it.
      }
    }
  }

  /** Whether the resource at a key of the model is owned by the API (its file in the API's folder). */
  private isApiResourceAt(mesh: LoadedMesh, key: string): boolean {
    const r = mesh.model.resourceAt(key);
    return r !== undefined && this.isApiFile(r.source.file, r);
  }

  /**
   * The entries of the API's files, all of them: which file keeps a uid depends on the others. Their
   * metadata is in the files, which a resource's object does not show (a hand edit of a file's
   * metadata alone), so they are redone whenever one of them changed, or a rewrite was due.
   */
  private serveApiFiles(
    mesh: LoadedMesh,
    before: ReadonlyMap<string, Entry> | undefined,
    entries: Map<string, Entry>,
    now: number,
    rewrites: { file: string; text: string }[],
  ): void {
    for (const key of this.apiKeys) if (entries.get(key)?.owner.api) entries.delete(key);
    this.apiKeys.clear();
    this.apiParsed.clear();
    const keepers = this.uidKeepers(mesh, before);
    for (const r of mesh.model.resources) {
      const file = r.source.file;
      if (!this.isApiFile(file, r)) continue;
      const key = keyOf(r);
      const text = resourceKey(r);
      const read = readApiDocument(this.cache.files.get(file)!.parsed.documents[0]!);
      const previous = before?.get(text)?.record;
      let meta: ApiMetadata | undefined = read.metadata;
      // A file copied by hand carries another resource's uid: the copy gets its own.
      if (meta && keepers.get(meta.uid) !== text)
        meta = { uid: randomUUID(), version: 1, createdAt: now, lastUpdatedAt: now };
      const changedByHand =
        meta !== undefined &&
        previous !== undefined &&
        previous.uid === meta.uid &&
        meta.version <= previous.version &&
        previous.spec !== read.spec && // an unchanged file is parsed once: the same object
        canonicalJson(previous.spec) !== canonicalJson(read.spec);
      if (changedByHand) meta = { ...meta!, version: previous!.version + 1, lastUpdatedAt: now };
      if (!meta) {
        const known = previous ?? this.fileMetadata.known(text);
        this.fileMetadata.forget(text); // handed over: the API's folder keeps it from now on
        meta = known
          ? { uid: known.uid, version: known.version + 1, createdAt: known.createdAt, lastUpdatedAt: now }
          : { uid: randomUUID(), version: 1, createdAt: now, lastUpdatedAt: now };
      }
      if (meta !== read.metadata) rewrites.push({ file, text: apiFileText(key, read.spec, read.tags, meta) });
      entries.set(text, { record: { key, spec: read.spec, tags: read.tags, ...meta }, owner: { api: true, file } });
      this.apiKeys.add(text);
      this.apiParsed.set(file, this.cache.files.get(file)!.parsed);
    }
    // A rewrite due (or failed) changes the file, or leaves its metadata to be made again at the next load.
    this.apiSettled = rewrites.length === 0;
  }

  /**
   * Which resource keeps each uid the API's files carry: the one that had it before, else the first
   * (a copy of a file made by hand then gets a uid of its own, and the original keeps its).
   */
  private uidKeepers(mesh: LoadedMesh, before: ReadonlyMap<string, Entry> | undefined): Map<string, string> {
    const keepers = new Map<string, string>();
    for (const r of mesh.model.resources) {
      if (!this.isApiFile(r.source.file, r)) continue;
      const uid = readApiDocument(this.cache.files.get(r.source.file)!.parsed.documents[0]!).metadata?.uid;
      if (uid === undefined) continue;
      const key = resourceKey(r);
      const kept = keepers.get(uid);
      if (kept === undefined || (before?.get(key)?.record.uid === uid && before.get(kept)?.record.uid !== uid))
        keepers.set(uid, key);
    }
    return keepers;
  }

  /**
   * The API owns a resource when its file is in the API's folder and holds that one resource as a
   * meshd YAML document. Anything else there (a template, a manifest, a file of several resources,
   * dropped in by hand) is read like a user's file: read-only through the API, never rewritten.
   */
  private isApiFile(file: string, r: Resource): boolean {
    if (!this.inApiDir(file)) return false;
    const docs = this.cache.files.get(file)?.parsed.documents ?? [];
    if (docs.length !== 1 || detectDialect(docs[0]!) !== 'native') return false;
    const value = docs[0]!.value as { kind?: unknown; name?: unknown };
    return value.kind === r.kind && value.name === r.name;
  }

  private inApiDir(file: string): boolean {
    let known = this.underApiDir.get(file);
    if (known === undefined) {
      if (this.underApiDir.size > 100_000) this.underApiDir.clear(); // only a cache
      known = inside(this.options.apiDir, file);
      this.underApiDir.set(file, known);
    }
    return known;
  }

  /**
   * Whether every one of these files holds just what the store last wrote there (or is gone, as
   * the store left it): the watcher's news of them is the store's own write, already served.
   */
  wroteAll(files: readonly string[]): boolean {
    return files.every((file) => {
      const written = this.lastWritten.get(file);
      if (written === undefined) return false;
      try {
        return fs.readFileSync(file, 'utf8') === written;
      } catch (err) {
        return written === null && (err as NodeJS.ErrnoException).code === 'ENOENT';
      }
    });
  }

  // ---- reads ----

  async get(key: ResourceKey): Promise<StoredResource | undefined> {
    return this.view?.entries.get(keyText(key))?.record;
  }

  async list(scope: ListScope): Promise<readonly StoredResource[] | undefined> {
    const entries = this.view?.entries ?? new Map<string, Entry>();
    if (scope.kind !== 'Mesh') {
      if (!entries.has(keyText({ kind: 'Mesh', mesh: scope.mesh!, name: scope.mesh! }))) return undefined;
      if (scope.parent !== undefined) {
        const parentKind = scope.kind === 'Route' ? 'VirtualRouter' : 'VirtualGateway';
        if (!entries.has(keyText({ kind: parentKind, mesh: scope.mesh!, name: scope.parent }))) return undefined;
      }
    }
    return [...entries.values()]
      .map((e) => e.record)
      .filter(
        (r) =>
          r.key.kind === scope.kind &&
          (scope.kind === 'Mesh' || r.key.mesh === scope.mesh) &&
          r.key.parent === scope.parent,
      )
      .sort((a, b) => compare(a.key.name, b.key.name));
  }

  /** The model the store's view was built from (the mesh being served). */
  currentModel(): MeshModel | undefined {
    return this.view?.mesh.model;
  }

  // ---- writes ----

  async create(key: ResourceKey, spec: SpecJson, tags: readonly Tag[]): Promise<StoreResult> {
    const entries = this.writable();
    if ('refused' in entries) return entries.refused;
    const missing = this.missingParent(entries.map, key);
    if (missing) return refuse('not_found', missing);
    const existing = entries.map.get(keyText(key));
    if (existing)
      return refuse('exists', `${label(key)} already exists in mesh ${key.mesh}${ownerText(existing.owner)}`);
    const limit = this.options.maxResourcesPerMesh;
    if (limit !== undefined && key.kind !== 'Mesh') {
      const held = [...entries.map.values()].filter(
        (e) => e.record.key.mesh === key.mesh && e.record.key.kind !== 'Mesh',
      );
      if (held.length >= limit)
        return refuse(
          'limit',
          `mesh ${key.mesh} already holds ${held.length} resources, the most this meshd allows (--api-max-resources-per-mesh ${limit})`,
        );
    }
    const file = path.join(this.options.apiDir, ...nativePathOf(key.kind, key.mesh, key.parent, key.name).split('/'));
    if (fs.existsSync(file))
      return refuse(
        'invalid',
        `${label(key)} cannot be created: ${file} exists and holds something else; move it away`,
      );
    const now = this.now();
    const meta: ApiMetadata = { uid: randomUUID(), version: 1, createdAt: now, lastUpdatedAt: now };
    return (
      this.commit(key, file, apiFileText(key, spec, tags, meta), `created ${label(key)}`, 'invalid') ??
      this.written(key, file)
    );
  }

  async update(key: ResourceKey, spec: SpecJson, options: WriteOptions = {}): Promise<StoreResult> {
    return this.updateNow(key, spec, options.expectedVersion, 'updated');
  }

  async delete(key: ResourceKey, options: WriteOptions = {}): Promise<StoreResult> {
    const found = this.apiOwned(key, options.expectedVersion);
    if ('refused' in found) return found.refused;
    const children = this.childrenOf(key);
    if (children.length > 0) {
      const shown = children.slice(0, 5).join(', ') + (children.length > 5 ? `, and ${children.length - 5} more` : '');
      return refuse(
        'in_use',
        `${label(key)} cannot be deleted: it still holds ${children.length} resource(s): ${shown}`,
      );
    }
    return (
      this.commit(key, found.entry.owner.file, null, `deleted ${label(key)}`, 'in_use') ?? {
        ok: true,
        resource: found.entry.record,
      }
    );
  }

  async tag(
    key: ResourceKey,
    change: { readonly set: readonly Tag[]; readonly remove: readonly string[] },
    maxTags: number,
  ): Promise<StoreResult> {
    const found = this.apiOwned(key, undefined);
    if ('refused' in found) return found.refused;
    const { record, owner } = found.entry;
    const tags = new Map(record.tags.map((t) => [t.key, t.value]));
    for (const t of change.set) tags.set(t.key, t.value);
    for (const k of change.remove) tags.delete(k);
    if (tags.size > maxTags)
      return refuse('limit', `${label(key)} would have ${tags.size} tags; a resource may have at most ${maxTags}`);
    const next = [...tags].map(([k, value]) => ({ key: k, value }));
    return (
      this.commit(key, owner.file, apiFileText(key, record.spec, next, record), `tagged ${label(key)}`, 'invalid') ??
      this.written(key, owner.file)
    );
  }

  /**
   * Rewrites weights of an API-owned route as an update (its version goes up), for canary
   * rollouts. `path` is within the route's document: ['spec', <http|http2|grpc|tcp>Route, 'action',
   * 'weightedTargets', i, 'weight']. Conflict when a weight is not what the rollout expects.
   */
  editApiRouteWeights(
    file: string,
    edits: readonly {
      readonly path: readonly (string | number)[];
      readonly expected: number;
      readonly value: number;
    }[],
  ): { ok: true } | { ok: false; conflict: boolean; error: string } {
    const entry = [...(this.view?.entries.values() ?? [])].find((e) => e.owner.api && e.owner.file === file);
    if (!entry || entry.record.key.kind !== 'Route')
      return { ok: false, conflict: true, error: `${file}: no route of the App Mesh API is there any more` };
    const spec = JSON.parse(JSON.stringify(entry.record.spec)) as Record<string, unknown>;
    for (const edit of edits) {
      const at = edit.path
        .slice(1, -1)
        .reduce<unknown>((node, k) => (node as Record<string | number, unknown> | undefined)?.[k], spec) as
        Record<string, unknown> | undefined;
      const last = edit.path[edit.path.length - 1]!;
      if (edit.path[0] !== 'spec' || at?.[last] !== edit.expected)
        return {
          ok: false,
          conflict: true,
          error: `${file}: the weight at ${edit.path.join('.')} is ${JSON.stringify(at?.[last])} where meshd set ${edit.expected}; the route was changed`,
        };
      at[last] = edit.value;
    }
    const result = this.updateNow(entry.record.key, spec, entry.record.version, 'a rollout updated');
    return result.ok
      ? { ok: true }
      : { ok: false, conflict: result.refusal.code === 'version_mismatch', error: result.refusal.message };
  }

  /** update() without the promise: the rollouts' edit is synchronous. */
  private updateNow(key: ResourceKey, spec: SpecJson, expectedVersion: number | undefined, what: string): StoreResult {
    const found = this.apiOwned(key, expectedVersion);
    if ('refused' in found) return found.refused;
    const { record, owner } = found.entry;
    const meta: ApiMetadata = { ...record, version: record.version + 1, lastUpdatedAt: this.now() };
    const text = apiFileText(key, spec, record.tags, meta);
    return this.commit(key, owner.file, text, `${what} ${label(key)}`, 'invalid') ?? this.written(key, owner.file);
  }

  // ---- checks ----

  private writable(): { map: ReadonlyMap<string, Entry> } | { refused: StoreResult } {
    const view = this.view;
    if (!view)
      return {
        refused: refuse(
          'invalid',
          'no valid mesh is loaded yet: fix the errors in the mesh files (meshd logs them) first',
        ),
      };
    return { map: view.entries };
  }

  private apiOwned(key: ResourceKey, expectedVersion: number | undefined): { entry: Entry } | { refused: StoreResult } {
    const entries = this.writable();
    if ('refused' in entries) return entries;
    const entry = entries.map.get(keyText(key));
    if (!entry) return { refused: refuse('not_found', `${label(key)} does not exist in mesh ${key.mesh}`) };
    if (!entry.owner.api)
      return {
        refused: refuse(
          'read_only',
          `${label(key)} is defined in ${entry.owner.file}:${entry.owner.line}, which is read-only through the API; edit that file, or move it (as a meshd YAML file of this one resource) into ${this.options.apiDir} to hand the resource to the API`,
        ),
      };
    if (expectedVersion !== undefined && expectedVersion !== entry.record.version)
      return {
        refused: refuse(
          'version_mismatch',
          `${label(key)} is at version ${entry.record.version}, but the request was based on version ${expectedVersion}`,
        ),
      };
    return { entry };
  }

  private missingParent(entries: ReadonlyMap<string, Entry>, key: ResourceKey): string | undefined {
    if (key.kind === 'Mesh') return undefined;
    if (!entries.has(keyText({ kind: 'Mesh', mesh: key.mesh, name: key.mesh })))
      return `mesh ${key.mesh} does not exist`;
    if (key.parent === undefined) return undefined;
    const kind = key.kind === 'Route' ? 'VirtualRouter' : 'VirtualGateway';
    if (!entries.has(keyText({ kind, mesh: key.mesh, name: key.parent })))
      return `${kind}/${key.parent} does not exist in mesh ${key.mesh}`;
    return undefined;
  }

  /** What App Mesh refuses to delete a resource for: a mesh's resources, a router's routes, a gateway's routes. */
  private childrenOf(key: ResourceKey): string[] {
    const all = [...(this.view?.entries.values() ?? [])].map((e) => e.record.key);
    if (key.kind === 'Mesh') return all.filter((k) => k.mesh === key.mesh && k.kind !== 'Mesh').map(label);
    if (key.kind === 'VirtualRouter')
      return all.filter((k) => k.mesh === key.mesh && k.kind === 'Route' && k.parent === key.name).map(label);
    if (key.kind === 'VirtualGateway')
      return all.filter((k) => k.mesh === key.mesh && k.kind === 'GatewayRoute' && k.parent === key.name).map(label);
    return [];
  }

  /**
   * Loads the mesh as it would be with `file` holding `text` (null: removed); if it loads, writes
   * it and serves it. Otherwise refuses with `code` and the loader's errors, and changes nothing.
   */
  private commit(
    key: ResourceKey,
    file: string,
    text: string | null,
    what: string,
    code: 'invalid' | 'in_use',
  ): Extract<StoreResult, { ok: false }> | undefined {
    const outside = this.leadsOutside(file);
    if (outside) return refused('invalid', `${label(key)} cannot be written: ${outside}; nothing changed`);
    const candidate = this.loadWith(new Map([[file, text]]));
    if (!candidate.ok) return refused(code, refusalText(key, code, candidate.problems, file));
    try {
      this.lastWritten.set(file, text);
      if (text === null) {
        fs.unlinkSync(file);
        fsyncDir(path.dirname(file));
        removeEmptyFolders(path.dirname(file), this.options.apiDir);
      } else {
        // The API's folder is made here, inside a folder that exists: never a missing mesh folder with it.
        if (!fs.existsSync(path.dirname(this.options.apiDir)))
          throw new Error(`the folder ${path.dirname(this.options.apiDir)} of the API's folder does not exist`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        replaceFileAtomically(file, text);
      }
    } catch (err) {
      return refused(
        'invalid',
        `${label(key)}: ${file} cannot be written (${(err as Error).message}); nothing changed`,
      );
    }
    this.serve(candidate);
    this.announcer.announce(candidate, `${what} through the App Mesh API`);
    return undefined;
  }

  /**
   * Why writing `file` would change something outside the API's folder, if it would: the file is
   * a symbolic link, or a folder on its way is one that leads elsewhere. The loader follows links
   * (a linked mesh file is read like any), but the API writes only files of its own.
   */
  private leadsOutside(file: string): string | undefined {
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(file);
    } catch {
      st = undefined; // a new file
    }
    if (st?.isSymbolicLink()) return `${file} is a symbolic link; the API writes only files of its own in its folder`;
    let dir = path.dirname(file);
    while (!fs.existsSync(dir) && inside(this.options.apiDir, dir)) dir = path.dirname(dir);
    if (!fs.existsSync(dir)) return undefined; // the API's folder itself is still to be made
    try {
      const real = fs.realpathSync(dir);
      const root = fs.existsSync(this.options.apiDir) ? fs.realpathSync(this.options.apiDir) : undefined;
      if (root !== undefined && real !== root && !inside(root, real))
        return `${dir} leads outside the API's folder (to ${real}) through a symbolic link`;
    } catch (err) {
      return `${dir} cannot be resolved (${(err as Error).message})`;
    }
    return undefined;
  }

  /** The record of a resource just written, as the store now serves it. */
  private written(key: ResourceKey, file: string): StoreResult {
    const record = this.view?.entries.get(keyText(key))?.record;
    return record
      ? { ok: true, resource: record }
      : refuse('invalid', `${label(key)} was written but not read back from ${file}`);
  }
}

/** The owner of a resource of the user's files, its line worked out on first use. */
function fileOwner(source: SourceLocation): Owner {
  return {
    api: false,
    file: source.file,
    get line() {
      return source.line;
    },
  };
}

function ownerText(owner: Owner): string {
  return owner.api ? ` (created through the API: ${owner.file})` : ` (defined in ${owner.file}:${owner.line})`;
}

/** The loader's errors as one sentence: those about the written file first, then the rest with their places. */
export function refusalText(
  key: ResourceKey,
  code: 'invalid' | 'in_use',
  problems: readonly Problem[],
  file: string,
): string {
  const errors = problems.filter(isError);
  const shown = errors.slice(0, 5).map((p) => {
    const where = p.location.file === file ? '' : ` (${p.location.file}:${p.location.line})`;
    return `${p.resource ? `${p.resource}: ` : ''}${p.field ? `${p.field}: ` : ''}${p.message}${where}`;
  });
  const more = errors.length > 5 ? `; and ${errors.length - 5} more` : '';
  const lead = code === 'in_use' ? `${label(key)} is in use` : `${label(key)} would make the mesh invalid`;
  return `${lead}: ${shown.join('; ')}${more}`;
}

/** Removes the folders a delete left empty, up to (not including) the API folder. */
function removeEmptyFolders(from: string, root: string): void {
  let dir = from;
  while (inside(root, dir)) {
    try {
      fs.rmdirSync(dir);
    } catch {
      return;
    }
    dir = path.dirname(dir);
  }
}

/**
 * Why the API's folder cannot be where it is, if it cannot: a mesh path, or holding one (the API
 * would take over the user's files), or inside a mesh folder without a dot folder on the way (the
 * mesh folder would read the API's files as the user's own).
 */
export function apiDirOverlap(apiDir: string, paths: readonly string[]): string | undefined {
  const api = path.resolve(apiDir);
  for (const p of paths) {
    const mesh = path.resolve(p);
    if (mesh === api || inside(api, mesh))
      return `the App Mesh API's folder ${apiDir} is, or holds, the mesh path ${p}: the API would take over your files; give it a folder of its own (--api-dir)`;
    let isFolder = false;
    try {
      isFolder = fs.statSync(mesh).isDirectory();
    } catch {
      isFolder = false;
    }
    if (
      isFolder &&
      inside(mesh, api) &&
      !path
        .relative(mesh, api)
        .split(path.sep)
        .some((s) => s.startsWith('.'))
    )
      return `the App Mesh API's folder ${apiDir} is inside the mesh folder ${p}, which would read its files as yours: use a folder whose name starts with a dot (the default is .meshd-api) or one outside`;
  }
  return undefined;
}
