// The Cloud Map registry shared by a fleet of replicas through PostgreSQL (`meshd serve --store postgres://…`).
//
// Every replica keeps the whole registry in memory (CloudMapRegistry, the same code as the file mode) and serves
// proxies and reads from it. Its five tables follow the change log (change-log.ts): `reset` loads them at start (or
// after falling behind the log's horizon), `apply` takes in another replica's change, and both tell the registry's
// listeners which (namespace, service) pairs changed, so every replica's proxies follow every registration.
//
// A write (RegisterInstance, CreateService, …) runs the file mode's own handler inside `log.write`: against this
// replica's registry made current with the fleet's, under the fleet's write lock, so AWS's checks (a name already
// taken, a service with instances) hold fleet-wide. The registry's `persist` hook captures the change it made; the
// step hands it to the log as rows, and its inverse as the revert should the transaction fail. Reads (Get*, List*,
// Discover*) are answered from memory without the lock.
//
// The mesh files' CloudMapService instances (the seeds) are applied once for the fleet, by the leader, with its
// fencing token: a replica that no longer leads cannot apply stale ones.
import { unstorableIn } from './storable';
import {
  answerCloudMapRequest,
  errorAnswer,
  SUPPORTED_OPERATIONS,
  TARGET_PREFIX,
  type ApiAnswer,
} from '../../discovery/cloud-map/api';
import type { AttributePolicy } from '../../discovery/cloud-map/attributes';
import { CloudMapError } from '../../discovery/cloud-map/errors';
import { checkRequest, countedBy, failureAnswer, type CloudMapHandlerOptions } from '../../discovery/cloud-map/http';
import { emptyState, type OperationRecord, type RegistryState } from '../../discovery/cloud-map/records';
import { CloudMapRegistry, type ServiceSeed } from '../../discovery/cloud-map/registry';
import { KEY_OF, TABLE_NAMES, type RegistryChange, type RowOf, type TableName } from '../../discovery/cloud-map/tables';
import type { RawRequest } from '../../util/aws-http';
import {
  FencedError,
  StoreUnavailableError,
  type ChangeLog,
  type Follower,
  type KeyedRow,
  type TableChange,
} from './change-log';
import type { LeaderLease } from './leader-lease';
import type { KeyedTable } from './schema';

/** The keyed table (schema.ts) each registry table is kept in. */
export const CLOUD_MAP_TABLES: { readonly [T in TableName]: KeyedTable } = {
  namespaces: 'cloud_map_namespaces',
  services: 'cloud_map_services',
  instances: 'cloud_map_instances',
  operations: 'cloud_map_operations',
  appliedSeeds: 'cloud_map_applied_seeds',
};

/**
 * A row's key in PostgreSQL: KEY_OF's, whose '\u0000' separator a text column cannot hold, written as '%00' ('%'
 * itself as '%25', so that decoding is exact).
 */
export function storedKey(key: string): string {
  return key.replaceAll('%', '%25').replaceAll('\u0000', '%00');
}

export function registryKey(stored: string): string {
  return stored.replace(/%(25|00)/g, (_, code: string) => (code === '25' ? '%' : '\u0000'));
}

const OPERATIONS = new Set(SUPPORTED_OPERATIONS);

/**
 * Whether a request's X-Amz-Target names an operation that may change the registry: the others (Get*, List*,
 * Discover*, and targets that name no operation) are answered from this replica's memory, without the write lock.
 */
export function isWriteTarget(target: string | undefined): boolean {
  if (!target?.startsWith(TARGET_PREFIX)) return false;
  const name = target.slice(TARGET_PREFIX.length);
  return OPERATIONS.has(name) && !/^(Get|List|Discover)/.test(name);
}

/** The AWS error a write gets while the store cannot take it: a 503, which AWS's SDKs and CLI retry. */
export const STORE_UNAVAILABLE = 'ServiceUnavailable';

export type SeedOutcome =
  | { readonly outcome: 'applied'; readonly registered: number; readonly deregistered: number }
  /** Another replica leads (or this one stood down before the write): it applies the seeds. */
  | { readonly outcome: 'not-leader' }
  /** The store could not take the write, or refused the seeds: nothing changed; `message` says why. */
  | { readonly outcome: 'failed'; readonly message: string };

export interface SharedCloudMapOptions {
  /** What RegisterInstance and the mesh files' instances may hold (as in the file mode). */
  readonly attributes?: AttributePolicy;
  readonly now?: () => number;
}

interface Captured {
  readonly changes: RegistryChange[];
  readonly undos: RegistryChange[];
}

/** The parts of a PostgresStore (index.ts) the shared registry uses. */
export interface CloudMapStore {
  readonly log: ChangeLog;
  readonly lease: Pick<LeaderLease, 'fence'>;
}

/**
 * The Cloud Map registry of one replica, following the fleet's tables. Make it with followCloudMap() before the
 * store's start(), which loads it.
 */
export class SharedCloudMap implements Follower {
  readonly tables: readonly KeyedTable[] = TABLE_NAMES.map((t) => CLOUD_MAP_TABLES[t]);
  /** Serves proxies and reads; changed only through this object (a direct write is refused). */
  readonly registry: CloudMapRegistry;
  /** The seeds applySeeds was last given. */
  private lastSeeds: readonly ServiceSeed[] | undefined;
  /** Set while a write step runs: where the registry's persist hook puts what it changed. */
  private capturing: Captured | undefined;

  constructor(
    private readonly store: CloudMapStore,
    options: SharedCloudMapOptions = {},
  ) {
    this.registry = new CloudMapRegistry(emptyState(), {
      ...options,
      persist: (change, undo) => {
        if (!this.capturing) {
          throw new Error(
            'the Cloud Map registry is shared through PostgreSQL: it changes only through the store (a write outside it was refused)',
          );
        }
        this.capturing.changes.push(change);
        this.capturing.undos.push(undo);
      },
    });
  }

  // ---- following the fleet ----

  reset(rows: ReadonlyMap<KeyedTable, readonly KeyedRow[]>): void {
    const of = <T extends TableName>(table: T) =>
      (rows.get(CLOUD_MAP_TABLES[table]) ?? []).map((r) => r.row as RowOf[T]);
    const state: RegistryState = {
      format: 'meshd-cloud-map/v1',
      namespaces: of('namespaces'),
      services: of('services'),
      instances: of('instances'),
      // Oldest first, as the registry keeps them (the oldest are dropped past its cap).
      operations: of('operations').sort(byCreateDate),
      appliedSeeds: of('appliedSeeds'),
    };
    this.registry.replaceState(state);
  }

  apply(change: TableChange): void {
    const put: Partial<Record<TableName, unknown[]>> = {};
    const deleted: Partial<Record<TableName, string[]>> = {};
    for (const table of TABLE_NAMES) {
      const rows = change.put?.[CLOUD_MAP_TABLES[table]];
      if (rows && rows.length > 0) put[table] = rows.map((r) => r.row);
      const keys = change.delete?.[CLOUD_MAP_TABLES[table]];
      if (keys && keys.length > 0) deleted[table] = keys.map(registryKey);
    }
    this.registry.applyChange({ put, delete: deleted } as RegistryChange);
  }

  // ---- the API ----

  /**
   * The Cloud Map API on the admin port (`POST /`), as cloudMapHandler answers it in the file mode (the same
   * signature and target checks, the same operations and errors), with writes made for the fleet. Never rejects.
   */
  handler(options: CloudMapHandlerOptions): (request: RawRequest) => Promise<ApiAnswer> {
    const counted = countedBy(options);
    return async (request) => {
      let checked: ReturnType<typeof checkRequest>;
      try {
        checked = checkRequest(request, options.credentials, options.allowUnsigned ?? true);
        if ('refused' in checked) return counted(checked.refused);
        if (!isWriteTarget(checked.target))
          return counted(answerCloudMapRequest(this.registry, checked.target, checked.body));
        const unstorable = unstorableIn(checked.body);
        if (unstorable) return counted(errorAnswer(new CloudMapError('InvalidInput', unstorable)));
      } catch (err) {
        return counted(failureAnswer(err, options));
      }
      const { target, body } = checked;
      try {
        return counted(await this.write(() => answerCloudMapRequest(this.registry, target, body)));
      } catch (err) {
        if (err instanceof CloudMapError) return counted(errorAnswer(err));
        if (err instanceof StoreUnavailableError) {
          const message = `the Cloud Map registry's store (PostgreSQL) cannot take writes now, so nothing changed: ${err.message}`;
          options.onFailure(message);
          return counted(errorAnswer(new CloudMapError(STORE_UNAVAILABLE, message, {}, 503)));
        }
        return counted(failureAnswer(err, options));
      }
    };
  }

  // ---- the mesh files' instances ----

  /**
   * Applies the mesh files' Cloud Map instances for the fleet, when this replica leads: registry.applySeeds run
   * through the log with the lease's fence. Check seedProblems first, as in the file mode. The seeds are kept (led or
   * not) for leadershipGained(). Never rejects.
   */
  applySeeds(seeds: readonly ServiceSeed[]): Promise<SeedOutcome> {
    this.lastSeeds = seeds;
    return this.applyLeading(seeds);
  }

  /**
   * Applies the seeds last given to applySeeds (undefined when none were): call it when this replica takes the lead,
   * since the mesh's first load usually comes before the lease is taken, and a new leader's files may differ.
   */
  async leadershipGained(): Promise<SeedOutcome | undefined> {
    return this.lastSeeds ? this.applyLeading(this.lastSeeds) : undefined;
  }

  private async applyLeading(seeds: readonly ServiceSeed[]): Promise<SeedOutcome> {
    const fence = this.store.lease.fence;
    if (!fence) return { outcome: 'not-leader' };
    try {
      const { registered, deregistered } = await this.write(() => this.registry.applySeeds(seeds), fence);
      return { outcome: 'applied', registered, deregistered };
    } catch (err) {
      if (err instanceof FencedError) return { outcome: 'not-leader' };
      return {
        outcome: 'failed',
        message: `the mesh files' Cloud Map instances were not applied, nothing changed: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
  }

  // ---- writing ----

  /** Runs `change` (registry calls) against the caught-up registry, inside the fleet's write lock; its result. */
  private write<T>(change: () => T, fence?: Parameters<ChangeLog['write']>[1]): Promise<T> {
    return this.store.log.write(() => {
      const captured: Captured = { changes: [], undos: [] };
      this.capturing = captured;
      let result: T;
      try {
        result = change();
      } catch (err) {
        this.capturing = undefined;
        // The registry undid the call that threw; earlier ones of this step are undone here.
        this.revert(captured);
        throw err;
      }
      this.capturing = undefined;
      const rows = tableChange(captured.changes);
      const unstorable = unstorableIn(rows);
      if (unstorable) {
        this.revert(captured);
        throw new CloudMapError('InvalidInput', unstorable);
      }
      return { result, change: rows, revert: () => this.revert(captured) };
    }, fence);
  }

  private revert(captured: Captured): void {
    for (const undo of [...captured.undos].reverse()) this.registry.applyChange(undo);
  }
}

/** The shared registry, following the store's log: call before the store's start(). */
export function followCloudMap(store: CloudMapStore, options: SharedCloudMapOptions = {}): SharedCloudMap {
  const shared = new SharedCloudMap(store, options);
  store.log.follow(shared);
  return shared;
}

/** The registry's changes (of one step, in order) as one change of keyed rows: the last write of a key wins. */
export function tableChange(changes: readonly RegistryChange[]): TableChange {
  const put: Partial<Record<KeyedTable, KeyedRow[]>> = {};
  const deleted: Partial<Record<KeyedTable, string[]>> = {};
  for (const table of TABLE_NAMES) {
    const keyOf = KEY_OF[table] as (row: unknown) => string;
    const last = new Map<string, unknown>();
    for (const change of changes) {
      for (const key of change.delete[table] ?? []) last.set(key, undefined);
      for (const row of (change.put[table] ?? []) as unknown[]) last.set(keyOf(row), row);
    }
    const rows: KeyedRow[] = [];
    const keys: string[] = [];
    for (const [key, row] of last) {
      if (row === undefined) keys.push(storedKey(key));
      else rows.push({ key: storedKey(key), row });
    }
    if (rows.length > 0) put[CLOUD_MAP_TABLES[table]] = rows;
    if (keys.length > 0) deleted[CLOUD_MAP_TABLES[table]] = keys;
  }
  return { put, delete: deleted };
}

function byCreateDate(a: OperationRecord, b: OperationRecord): number {
  return a.createDate - b.createDate;
}

export { unstorableIn };
