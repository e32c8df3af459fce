// The store behind the App Mesh API (issue 24): the smallest interface the API's handlers call.
// A store holds one record per resource (its spec, already checked against its kind's shape, its
// tags, and the metadata App Mesh shows: a persistent uid, a version and two timestamps), and
// applies each write atomically: a refused write changes nothing. It knows nothing of HTTP or of
// AWS's error names: it refuses with a `StoreRefusal`, which the API maps to an AWS error.
//
// `MeshStore` is what `meshd serve` needs beyond that: the whole mesh, loaded and validated, and news
// of each change a write makes. The embedded store (file-store.ts) keeps both in files; a shared
// store for a fleet of replicas plugs in here.
import type { LoadResult } from '../load/mesh-source';
import type { ResourceKind } from '../model/common';

/** One resource. `parent` is the virtual router of a Route, the virtual gateway of a GatewayRoute; else absent. */
export interface ResourceKey {
  readonly kind: ResourceKind;
  /** For a Mesh, its own name. */
  readonly mesh: string;
  readonly parent?: string;
  readonly name: string;
}

/** The resources of one kind under one parent: every mesh (Mesh), a mesh's, or a router's or gateway's. */
export interface ListScope {
  readonly kind: ResourceKind;
  /** Absent only for kind Mesh. */
  readonly mesh?: string;
  /** For Route and GatewayRoute. */
  readonly parent?: string;
}

export interface Tag {
  readonly key: string;
  readonly value: string;
}

/** A spec as JSON: it has passed its kind's shape (model/) before it reaches the store. */
export type SpecJson = Readonly<Record<string, unknown>>;

export interface StoredResource {
  readonly key: ResourceKey;
  readonly spec: SpecJson;
  /** Unique by key, in the order they were set. */
  readonly tags: readonly Tag[];
  /** 1 when created, +1 on each update of the spec (tags do not change it). */
  readonly version: number;
  /** Stable for the resource's life, across restarts (Terraform keeps it as the resource id). */
  readonly uid: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  readonly lastUpdatedAt: number;
}

export type StoreRefusalCode =
  /** The resource, or its mesh, router or gateway, does not exist. */
  | 'not_found'
  /** Create of a key that exists. */
  | 'exists'
  /** `expectedVersion` is not the stored version. */
  | 'version_mismatch'
  /** Delete of a resource others need (a mesh that holds resources, a router with routes, a node a route targets). */
  | 'in_use'
  /** The resource is defined in a user's file: read-only through the API (the message names the file). */
  | 'read_only'
  /** The write would make the mesh invalid (a cross-reference); `field` names the field when one is to blame. */
  | 'invalid'
  /** A configured limit (resources per mesh, tags per resource). */
  | 'limit';

export interface StoreRefusal {
  readonly code: StoreRefusalCode;
  /** A whole sentence for the user: which resource, and why. */
  readonly message: string;
}

export type StoreResult =
  { readonly ok: true; readonly resource: StoredResource } | { readonly ok: false; readonly refusal: StoreRefusal };

export interface WriteOptions {
  /** Compare-and-swap: refuse with `version_mismatch` unless the stored version is this one at commit time. */
  readonly expectedVersion?: number;
}

/**
 * What the API calls. Writes are serialised by the store, and each checks and commits as one step,
 * so of two updates based on one version exactly one can pass `expectedVersion`.
 */
export interface ResourceStore {
  get(key: ResourceKey): Promise<StoredResource | undefined>;
  /**
   * Sorted by name (code unit order), so that a page token can say "after this name"; undefined
   * when the scope's mesh (or router, gateway) does not exist.
   */
  list(scope: ListScope): Promise<readonly StoredResource[] | undefined>;
  /** Refuses `not_found` when the mesh (or router, gateway) does not exist, `exists` when the key does. */
  create(key: ResourceKey, spec: SpecJson, tags: readonly Tag[]): Promise<StoreResult>;
  /** Replaces the spec; version +1, lastUpdatedAt now. Tags are kept. */
  update(key: ResourceKey, spec: SpecJson, options?: WriteOptions): Promise<StoreResult>;
  /** Answers the record as it was (its last version). */
  delete(key: ResourceKey, options?: WriteOptions): Promise<StoreResult>;
  /**
   * Sets the tags `set` (replacing the value of a key already there) and removes the keys `remove`,
   * atomically; the version does not change. Refuses `limit` when more than `maxTags` would remain.
   */
  tag(
    key: ResourceKey,
    change: { readonly set: readonly Tag[]; readonly remove: readonly string[] },
    maxTags: number,
  ): Promise<StoreResult>;
}

/** A valid mesh as the loader gives it (model, Cloud Map seeds, rollouts, where each field is written). */
export type LoadedMesh = Extract<LoadResult, { ok: true }>;

/** The store `meshd serve` runs on: the API's writes, and the mesh they and the user's files make. */
export interface MeshStore extends ResourceStore {
  /**
   * Loads the mesh (at start, or after a change outside the store); a valid one becomes the store's
   * view. `changed`: the paths the watcher saw change, read again whatever their stat shows.
   */
  load(changed?: readonly string[]): LoadResult;
  /** Called with the mesh writes through the store made, on the event loop's next turn (a burst: once, its last). */
  onChange(listener: (mesh: LoadedMesh, reason: string) => void): void;
}
