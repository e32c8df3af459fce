// The registry's tables: Maps keyed by record id that remember, during one change, what each
// touched row was before. That gives the change itself (what to append to the journal) and its
// undo (when the journal refuses it), both in the size of the change, not of the registry.
import type {
  AppliedSeed,
  InstanceRecord,
  NamespaceRecord,
  OperationRecord,
  RegistryState,
  ServiceRecord,
} from './records';

/** The tables of RegistryState, in the order they are stored. */
export const TABLE_NAMES = ['namespaces', 'services', 'instances', 'operations', 'appliedSeeds'] as const;
export type TableName = (typeof TABLE_NAMES)[number];

export interface RowOf {
  namespaces: NamespaceRecord;
  services: ServiceRecord;
  instances: InstanceRecord;
  operations: OperationRecord;
  appliedSeeds: AppliedSeed;
}

/** One committed change: per table, the rows put (whole records) and the keys deleted. */
export interface RegistryChange {
  readonly put: { readonly [T in TableName]?: readonly RowOf[T][] };
  readonly delete: { readonly [T in TableName]?: readonly string[] };
}

/** A row's key in its table; ids cannot hold '\u0000' (AWS's patterns), so it separates parts. */
export const KEY_OF: { readonly [T in TableName]: (row: RowOf[T]) => string } = {
  namespaces: (n) => n.id,
  services: (s) => s.id,
  instances: (i) => instanceKey(i.serviceId, i.id),
  operations: (o) => o.id,
  appliedSeeds: (a) => seedKey(a.namespace, a.service, a.id),
};

export function instanceKey(serviceId: string, instanceId: string): string {
  return `${serviceId}\u0000${instanceId}`;
}

export function seedKey(namespace: string, service: string, id: string): string {
  return `${namespace}\u0000${service}\u0000${id}`;
}

/** Called for every row change, forward or undone, so that indexes follow. */
export type RowListener<V> = (key: string, before: V | undefined, after: V | undefined) => void;

export class Table<V> {
  private readonly rows = new Map<string, V>();
  /** During a change: each touched key's row before the change (undefined: it did not exist). */
  private before: Map<string, V | undefined> | undefined;

  constructor(private readonly listener?: RowListener<V>) {}

  get size(): number {
    return this.rows.size;
  }

  get(key: string): V | undefined {
    return this.rows.get(key);
  }

  has(key: string): boolean {
    return this.rows.has(key);
  }

  values(): IterableIterator<V> {
    return this.rows.values();
  }

  keys(): IterableIterator<string> {
    return this.rows.keys();
  }

  set(key: string, value: V): void {
    this.remember(key);
    this.write(key, value);
  }

  delete(key: string): boolean {
    if (!this.rows.has(key)) return false;
    this.remember(key);
    this.write(key, undefined);
    return true;
  }

  begin(): void {
    this.before = new Map();
  }

  /** The rows the change left (put) and the keys it removed (delete); rows put back as they were are left out. */
  changes(): { put: V[]; delete: string[] } {
    const put: V[] = [];
    const deleted: string[] = [];
    for (const [key, was] of this.before ?? []) {
      const now = this.rows.get(key);
      if (now === was) continue;
      if (now === undefined) deleted.push(key);
      else put.push(now);
    }
    return { put, delete: deleted };
  }

  /**
   * What undoes the change: the rows it replaced or removed (put) and the keys it created (delete); with changes(),
   * the change's inverse, for undoing it after it was kept (a shared store that then refused it).
   */
  inverse(): { put: V[]; delete: string[] } {
    const put: V[] = [];
    const deleted: string[] = [];
    for (const [key, was] of this.before ?? []) {
      if (this.rows.get(key) === was) continue;
      if (was === undefined) deleted.push(key);
      else put.push(was);
    }
    return { put, delete: deleted };
  }

  /** Forgets every row at once, without telling the listener (the owner rebuilds its indexes). */
  clear(): void {
    this.rows.clear();
    this.before = undefined;
  }

  /** Keeps the change. */
  end(): void {
    this.before = undefined;
  }

  /** Puts every touched row back as it was before begin(). */
  undo(): void {
    const before = this.before;
    this.before = undefined;
    for (const [key, was] of before ?? []) this.write(key, was);
  }

  private remember(key: string): void {
    if (this.before && !this.before.has(key)) this.before.set(key, this.rows.get(key));
  }

  private write(key: string, value: V | undefined): void {
    const previous = this.rows.get(key);
    if (value === undefined) this.rows.delete(key);
    else this.rows.set(key, value);
    this.listener?.(key, previous, value);
  }
}

/** Applies a committed change to state tables held as Maps (loading a journal). */
export function applyChange(tables: { [T in TableName]: Map<string, RowOf[T]> }, change: RegistryChange): void {
  for (const name of TABLE_NAMES) {
    const table = tables[name] as Map<string, RowOf[TableName]>;
    const keyOf = KEY_OF[name] as (row: RowOf[TableName]) => string;
    for (const key of change.delete[name] ?? []) table.delete(key);
    for (const row of change.put[name] ?? []) table.set(keyOf(row), row);
  }
}

/** The state as Maps keyed like the registry's tables. */
export function stateTables(state: RegistryState): { [T in TableName]: Map<string, RowOf[T]> } {
  const keyed = <T extends TableName>(name: T, rows: readonly RowOf[T][]) =>
    new Map(rows.map((row) => [KEY_OF[name](row), row] as const));
  return {
    namespaces: keyed('namespaces', state.namespaces),
    services: keyed('services', state.services),
    instances: keyed('instances', state.instances),
    operations: keyed('operations', state.operations),
    appliedSeeds: keyed('appliedSeeds', state.appliedSeeds ?? []),
  };
}
