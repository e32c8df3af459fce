// The local Cloud Map registry: namespaces, services and instances, with the rules of AWS's
// API. Every change is checked in full before anything is touched, then persisted (through
// `persist`, before the caller gets an answer), then announced to listeners with the
// (namespace, service) pairs whose instances changed. A failed persist undoes the change.
// A write costs the size of what it changes, never the size of the registry: tables are
// indexed by name and by service, `persist` is handed only the changed rows, and the undo
// remembers only those.
import * as crypto from 'node:crypto';
import {
  INIT_HEALTH,
  IPV4,
  IPV6,
  type CustomHealthStatus,
  type DiscoveredInstance,
  type HealthStatus,
} from '../../model/cloud-map-instance';
import { addressProblem, attributeProblem, attributeRefusal, type AttributePolicy } from './attributes';
import { CloudMapError } from './errors';
import {
  emptyState,
  type AppliedSeed,
  type InstanceRecord,
  type NamespaceRecord,
  type NamespaceType,
  type OperationRecord,
  type OperationType,
  type RegistryState,
  type SeedDeclaration,
  type ServiceRecord,
} from './records';
import { instanceKey, KEY_OF, seedKey, Table, TABLE_NAMES, type RegistryChange, type TableName } from './tables';

export type { RegistryChange } from './tables';

/** The local registry's ARNs use this account and region; there is no AWS account behind them. */
export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'us-east-1';
const KEPT_OPERATIONS = 1000;

/** A service's instances, or undefined when it is not registered (what compile/cloud-map-view.ts reads). */
export interface InstanceLookup {
  discover(namespaceName: string, serviceName: string): readonly DiscoveredInstance[] | undefined;
}

/** The key listeners receive for a changed service. */
export function serviceKey(namespaceName: string, serviceName: string): string {
  return `${namespaceName}\u0000${serviceName}`;
}

export function serviceOfKey(key: string): { namespace: string; service: string } {
  const [namespace, service] = key.split('\u0000') as [string, string];
  return { namespace, service };
}

export interface ServiceSeed {
  readonly namespace: string;
  readonly service: string;
  readonly instances: readonly ({ readonly id: string } & SeedDeclaration)[];
}

export interface RegistryOptions {
  /**
   * Stores one change (durably, before returning); throwing undoes the change and fails the call. `undo` is its
   * inverse (the rows it replaced or removed, the keys it created): applyChange(undo) takes the change back later.
   */
  readonly persist?: (change: RegistryChange, undo: RegistryChange) => void;
  readonly now?: () => number;
  /** What RegisterInstance and the mesh files' instances may hold (any address, or only workload addresses). */
  readonly attributes?: AttributePolicy;
}

type ChangeListener = (changed: ReadonlySet<string>) => void;

interface Tables {
  namespaces: Table<NamespaceRecord>;
  services: Table<ServiceRecord>;
  /** By instanceKey(service id, instance id). */
  instances: Table<InstanceRecord>;
  operations: Table<OperationRecord>;
  /** By seedKey. */
  appliedSeeds: Table<AppliedSeed>;
}

export class CloudMapRegistry implements InstanceLookup {
  private readonly tables: Tables;
  private readonly listeners = new Set<ChangeListener>();
  private readonly now: () => number;
  // Indexes, kept by the tables' row listeners (on undo too).
  private readonly namespaceIdByName = new Map<string, string>();
  /** By namespace id, then service name (no key joined per look-up: discover() is asked once per proxy per service). */
  private readonly serviceIdByName = new Map<string, Map<string, string>>();
  private readonly serviceIdsOfNamespace = new Map<string, Set<string>>();
  private readonly instancesOfService = new Map<string, Map<string, InstanceRecord>>();
  /** A service's instances sorted by id, kept sorted as they change (binary search, no re-sort). */
  private readonly sortedInstances = new Map<string, InstanceRecord[]>();
  /** The sorted arrays instances() has handed out, which are never changed again (a write copies them first). */
  private readonly lent = new WeakSet<InstanceRecord[]>();
  /** discover()'s answer per service, made once per change of the service: every proxy that reads the service asks. */
  private readonly discovered = new Map<string, DiscoveredInstance[]>();
  /** Whether an instance record's address is one proxies may be sent (records are replaced, never changed). */
  private readonly addressVerdicts = new WeakMap<InstanceRecord, string | null>();
  /** seedProblems' answer for a seed, and the service record it was judged against. */
  private readonly seedChecks = new WeakMap<
    ServiceSeed,
    { readonly service: ServiceRecord | undefined; readonly problems: readonly { index: number; message: string }[] }
  >();
  /** While load() fills the tables: indexes are built in bulk at its end. */
  private loading = false;

  constructor(
    initial: RegistryState = emptyState(),
    private readonly options: RegistryOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.tables = {
      namespaces: new Table<NamespaceRecord>((_key, before, after) => {
        if (before) this.namespaceIdByName.delete(before.name);
        if (after) this.namespaceIdByName.set(after.name, after.id);
      }),
      services: new Table<ServiceRecord>((key, before, after) => {
        this.discovered.delete(key);
        if (before) {
          const ids = this.serviceIdByName.get(before.namespaceId);
          ids?.delete(before.name);
          if (ids?.size === 0) this.serviceIdByName.delete(before.namespaceId);
          this.serviceIdsOfNamespace.get(before.namespaceId)?.delete(before.id);
        }
        if (after) {
          let byName = this.serviceIdByName.get(after.namespaceId);
          if (!byName) this.serviceIdByName.set(after.namespaceId, (byName = new Map()));
          byName.set(after.name, after.id);
          const ids = this.serviceIdsOfNamespace.get(after.namespaceId) ?? new Set<string>();
          this.serviceIdsOfNamespace.set(after.namespaceId, ids.add(after.id));
        }
      }),
      instances: new Table<InstanceRecord>((_key, before, after) => {
        const row = (after ?? before)!;
        this.discovered.delete(row.serviceId);
        if (this.loading) return this.indexInstance(row, after);
        const sorted = this.sortedInstances.get(row.serviceId) ?? [];
        const at = sortedIndex(sorted, row.id);
        const present = at < sorted.length && sorted[at]!.id === row.id;
        // Changed in place unless instances() has handed it out (a caller may still hold it): then a new one.
        const next = this.lent.has(sorted) ? [...sorted] : sorted;
        if (after && present) next[at] = after;
        else if (after) next.splice(at, 0, after);
        else if (present) next.splice(at, 1);
        if (next.length > 0) this.sortedInstances.set(row.serviceId, next);
        else this.sortedInstances.delete(row.serviceId);
        this.indexInstance(row, after);
      }),
      operations: new Table<OperationRecord>(),
      appliedSeeds: new Table<AppliedSeed>(),
    };
    this.load(initial);
  }

  /** Fills the (empty) tables with `state`, indexes built in bulk. */
  private load(state: RegistryState): void {
    this.loading = true;
    for (const n of state.namespaces) this.tables.namespaces.set(KEY_OF.namespaces(n), n);
    for (const s of state.services) this.tables.services.set(KEY_OF.services(s), s);
    for (const i of state.instances)
      this.tables.instances.set(KEY_OF.instances(i), { ...i, attributes: ownAttributes(i.attributes) });
    for (const o of state.operations) this.tables.operations.set(KEY_OF.operations(o), o);
    for (const a of state.appliedSeeds ?? []) this.tables.appliedSeeds.set(KEY_OF.appliedSeeds(a), a);
    // Sorted once here; from now on each change keeps them sorted.
    for (const [serviceId, instances] of this.instancesOfService)
      this.sortedInstances.set(
        serviceId,
        [...instances.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
      );
    this.loading = false;
  }

  private indexInstance(row: InstanceRecord, after: InstanceRecord | undefined): void {
    const ofService = this.instancesOfService.get(row.serviceId) ?? new Map<string, InstanceRecord>();
    if (after) ofService.set(after.id, after);
    else ofService.delete(row.id);
    if (ofService.size > 0) this.instancesOfService.set(row.serviceId, ofService);
    else this.instancesOfService.delete(row.serviceId);
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Everything, sorted (namespaces and services by name, instances by service and id): for tests and small registries.
   */
  state(): RegistryState {
    return {
      format: 'meshd-cloud-map/v1',
      namespaces: this.namespaces(),
      services: this.services(),
      instances: [...this.tables.instances.values()].sort((a, b) => (a.serviceId + a.id < b.serviceId + b.id ? -1 : 1)),
      operations: [...this.tables.operations.values()],
      appliedSeeds: [...this.tables.appliedSeeds.values()],
    };
  }

  /** Everything as it is now, unsorted: a snapshot to write (records are never changed in place, only replaced). */
  records(): RegistryState {
    return {
      format: 'meshd-cloud-map/v1',
      namespaces: [...this.tables.namespaces.values()],
      services: [...this.tables.services.values()],
      instances: [...this.tables.instances.values()],
      operations: [...this.tables.operations.values()],
      appliedSeeds: [...this.tables.appliedSeeds.values()],
    };
  }

  /**
   * Instances whose address is never a workload's (kept from before meshd refused them): they are not sent to proxies.
   */
  forbiddenInstances(): { instance: InstanceRecord; problem: string }[] {
    if (this.options.attributes?.allowAnyAddress) return [];
    return [...this.tables.instances.values()].flatMap((instance) => {
      const problem = this.addressProblemOf(instance);
      return problem ? [{ instance, problem }] : [];
    });
  }

  // ---- reads ----

  namespaces(): NamespaceRecord[] {
    return [...this.tables.namespaces.values()].sort(byName);
  }

  namespace(id: string): NamespaceRecord {
    const ns = this.tables.namespaces.get(id);
    if (!ns) throw new CloudMapError('NamespaceNotFound', `No namespace exists with ID: ${id}`);
    return ns;
  }

  namespaceNamed(name: string): NamespaceRecord | undefined {
    const id = this.namespaceIdByName.get(name);
    return id === undefined ? undefined : this.tables.namespaces.get(id);
  }

  services(): ServiceRecord[] {
    return [...this.tables.services.values()].sort(byName);
  }

  service(id: string): ServiceRecord {
    const service = this.tables.services.get(id);
    if (!service) throw new CloudMapError('ServiceNotFound', `No service exists with ID: ${id}`);
    return service;
  }

  serviceNamed(namespaceId: string, name: string): ServiceRecord | undefined {
    const id = this.serviceIdByName.get(namespaceId)?.get(name);
    return id === undefined ? undefined : this.tables.services.get(id);
  }

  /** How many services a namespace has. */
  serviceCount(namespaceId: string): number {
    return this.serviceIdsOfNamespace.get(namespaceId)?.size ?? 0;
  }

  /** How many instances a service has. */
  instanceCount(serviceId: string): number {
    return this.instancesOfService.get(serviceId)?.size ?? 0;
  }

  /** A service's instances, by id (the same array until the service changes: do not modify it). */
  instances(serviceId: string): readonly InstanceRecord[] {
    this.service(serviceId);
    const sorted = this.sortedInstances.get(serviceId);
    if (!sorted) return [];
    this.lent.add(sorted);
    return sorted;
  }

  instance(serviceId: string, instanceId: string): InstanceRecord {
    const instance = this.tables.instances.get(instanceKey(this.service(serviceId).id, instanceId));
    if (!instance)
      throw new CloudMapError('InstanceNotFound', `No instance exists with ID: ${instanceId} in service ${serviceId}`);
    return instance;
  }

  /** HEALTHY or UNHEALTHY when the service has a custom health check; UNKNOWN when it has none. */
  healthOf(instance: InstanceRecord): HealthStatus {
    return this.tables.services.get(instance.serviceId)?.healthCheckCustomConfig ? instance.health : 'UNKNOWN';
  }

  operation(id: string): OperationRecord {
    const op = this.tables.operations.get(id);
    if (!op) throw new CloudMapError('OperationNotFound', `No operation exists with ID: ${id}`);
    return op;
  }

  /** What proxies are sent: the service's instances, less any at an address that is never a workload's. */
  discover(namespaceName: string, serviceName: string): readonly DiscoveredInstance[] | undefined {
    const ns = this.namespaceNamed(namespaceName);
    const service = ns && this.serviceNamed(ns.id, serviceName);
    if (!service) return undefined;
    let answer = this.discovered.get(service.id);
    if (!answer) {
      const allowAny = this.options.attributes?.allowAnyAddress === true;
      answer = this.instances(service.id)
        .filter((i) => allowAny || this.addressProblemOf(i) === undefined)
        .map((i) => ({ id: i.id, attributes: i.attributes, health: this.healthOf(i) }));
      this.discovered.set(service.id, answer);
    }
    return answer;
  }

  private addressProblemOf(instance: InstanceRecord): string | undefined {
    let verdict = this.addressVerdicts.get(instance);
    if (verdict === undefined) {
      const { attributes } = instance;
      const check = (name: string) =>
        Object.hasOwn(attributes, name) ? addressProblem(name, attributes[name]!, this.options.attributes) : undefined;
      verdict = check(IPV4) ?? check(IPV6) ?? null;
      this.addressVerdicts.set(instance, verdict);
    }
    return verdict ?? undefined;
  }

  // ---- writes ----

  createNamespace(input: {
    name: string;
    type: NamespaceType;
    description?: string;
    creatorRequestId?: string;
    vpc?: string;
  }): OperationRecord {
    const existing = this.namespaceNamed(input.name);
    if (existing) {
      throw new CloudMapError('NamespaceAlreadyExists', `Namespace ${input.name} already exists`, {
        NamespaceId: existing.id,
        CreatorRequestId: existing.creatorRequestId,
      });
    }
    return this.commit(() => this.addOperation('CREATE_NAMESPACE', { NAMESPACE: this.addNamespace(input).id })).result;
  }

  createService(input: {
    name: string;
    namespaceId: string;
    description?: string;
    creatorRequestId?: string;
    dnsConfig?: ServiceRecord['dnsConfig'];
    healthCheckCustomConfig?: ServiceRecord['healthCheckCustomConfig'];
  }): ServiceRecord {
    const ns = this.namespace(input.namespaceId);
    if (input.dnsConfig && ns.type === 'HTTP')
      throw new CloudMapError(
        'InvalidInput',
        `namespace ${ns.name} is an HTTP namespace; its services cannot have DnsConfig`,
      );
    const existing = this.serviceNamed(ns.id, input.name);
    if (existing) {
      throw new CloudMapError('ServiceAlreadyExists', `Service ${input.name} already exists in namespace ${ns.name}`, {
        ServiceId: existing.id,
        CreatorRequestId: existing.creatorRequestId,
      });
    }
    return this.commit(() => this.addService(input)).result;
  }

  deleteService(id: string): void {
    const service = this.service(id);
    if (this.instanceCount(id) > 0)
      throw new CloudMapError(
        'ResourceInUse',
        `Service ${service.name} has registered instances; deregister them first`,
      );
    this.commit(() => {
      this.tables.services.delete(id);
    });
  }

  deleteNamespace(id: string): OperationRecord {
    const ns = this.namespace(id);
    if (this.serviceCount(id) > 0)
      throw new CloudMapError('ResourceInUse', `Namespace ${ns.name} has services; delete them first`);
    return this.commit(() => {
      this.tables.namespaces.delete(id);
      return this.addOperation('DELETE_NAMESPACE', { NAMESPACE: id });
    }).result;
  }

  registerInstance(input: {
    serviceId: string;
    instanceId: string;
    attributes: Record<string, string>;
    creatorRequestId?: string;
  }): OperationRecord {
    const service = this.service(input.serviceId);
    const refusal = attributeRefusal(input.attributes, service, this.options.attributes);
    if (refusal)
      throw new CloudMapError(
        'InvalidInput',
        refusal.message,
        {},
        400,
        refusal.kind === 'other' ? undefined : refusal.kind,
      );
    return this.commit(() => {
      const previous = this.tables.instances.get(instanceKey(service.id, input.instanceId));
      const initial = (Object.hasOwn(input.attributes, INIT_HEALTH) ? input.attributes[INIT_HEALTH] : undefined) as
        CustomHealthStatus | undefined;
      // Registering again replaces the attributes and keeps a health status
      // already set; it also takes the instance over from the mesh files.
      this.putInstance(service, {
        id: input.instanceId,
        serviceId: service.id,
        attributes: ownAttributes(input.attributes),
        ...(input.creatorRequestId ? { creatorRequestId: input.creatorRequestId } : {}),
        health: previous?.health ?? initial ?? 'HEALTHY',
        createDate: previous?.createDate ?? this.seconds(),
      });
      return this.addOperation('REGISTER_INSTANCE', { INSTANCE: input.instanceId, SERVICE: service.id });
    }).result;
  }

  deregisterInstance(serviceId: string, instanceId: string): OperationRecord {
    const instance = this.instance(serviceId, instanceId);
    return this.commit(() => {
      this.removeInstance(instance);
      return this.addOperation('DEREGISTER_INSTANCE', { INSTANCE: instanceId, SERVICE: serviceId });
    }).result;
  }

  setCustomHealth(serviceId: string, instanceId: string, status: CustomHealthStatus): void {
    const service = this.service(serviceId);
    const instance = this.instance(serviceId, instanceId);
    if (!service.healthCheckCustomConfig) {
      throw new CloudMapError(
        'CustomHealthNotFound',
        `Service ${service.name} has no custom health check (HealthCheckCustomConfig); its instances are always UNKNOWN`,
      );
    }
    if (instance.health === status) return;
    this.commit(() => this.putInstance(service, { ...instance, health: status }));
  }

  /** Why a seed cannot be applied (a problem per instance index), without changing anything. */
  seedProblems(seed: ServiceSeed): readonly { index: number; message: string }[] {
    const ns = this.namespaceNamed(seed.namespace);
    const service = ns && this.serviceNamed(ns.id, seed.service);
    // A reload hands the same seed for a document that did not change; service records are replaced, never changed.
    const known = this.seedChecks.get(seed);
    if (known && known.service === service) return known.problems;
    const rules = service ?? ({ name: seed.service } as ServiceRecord);
    const problems = seed.instances.flatMap((instance, index) => {
      const message = attributeProblem(instance.attributes, rules, this.options.attributes);
      return message ? [{ index, message }] : [];
    });
    this.seedChecks.set(seed, { service, problems });
    return problems;
  }

  /**
   * Makes the registry hold what the mesh files declare. Missing namespaces (HTTP) and services
   * (with a custom health check) are created. A declared instance is written when its
   * declaration is new or differs from the one last applied; an unchanged declaration is not
   * applied again, so what the API did since (a health status, a re-registration, a
   * deregistration) stands. An instance whose declaration is gone is deregistered, unless the
   * API registered it since (that takes it over). Check seedProblems first.
   */
  applySeeds(seeds: readonly ServiceSeed[]): { registered: number; deregistered: number } {
    const declared = new Map<string, AppliedSeed>();
    for (const seed of seeds) {
      for (const { id, attributes, health } of seed.instances) {
        declared.set(seedKey(seed.namespace, seed.service, id), {
          namespace: seed.namespace,
          service: seed.service,
          id,
          attributes: ownAttributes(attributes),
          ...(health ? { health } : {}),
        });
      }
    }
    const changed = [...declared].filter(([key, now]) => {
      const last = this.tables.appliedSeeds.get(key);
      return !last || !sameDeclaration(last, now);
    });
    const gone = [...this.tables.appliedSeeds.keys()].filter((key) => !declared.has(key));
    const exists = (s: ServiceSeed) => {
      const ns = this.namespaceNamed(s.namespace);
      return ns !== undefined && this.serviceNamed(ns.id, s.service) !== undefined;
    };
    if (changed.length === 0 && gone.length === 0 && seeds.every(exists)) return { registered: 0, deregistered: 0 };

    let deregistered = 0;
    this.commit(() => {
      for (const seed of seeds) {
        let ns = this.namespaceNamed(seed.namespace);
        if (!ns) {
          ns = this.addNamespace({ name: seed.namespace, type: 'HTTP' });
          this.addOperation('CREATE_NAMESPACE', { NAMESPACE: ns.id });
        }
        if (!this.serviceNamed(ns.id, seed.service))
          this.addService({ name: seed.service, namespaceId: ns.id, healthCheckCustomConfig: {} });
      }
      for (const [key, decl] of changed) {
        const service = this.serviceNamed(this.namespaceNamed(decl.namespace)!.id, decl.service)!;
        const previous = this.tables.instances.get(instanceKey(service.id, decl.id));
        const declaration: SeedDeclaration = {
          attributes: decl.attributes,
          ...(decl.health ? { health: decl.health } : {}),
        };
        this.putInstance(service, {
          id: decl.id,
          serviceId: service.id,
          attributes: decl.attributes,
          health: decl.health ?? previous?.health ?? 'HEALTHY',
          seed: declaration,
          createDate: previous?.createDate ?? this.seconds(),
        });
        this.tables.appliedSeeds.set(key, decl);
      }
      for (const key of gone) {
        const last = this.tables.appliedSeeds.get(key)!;
        this.tables.appliedSeeds.delete(key);
        const ns = this.namespaceNamed(last.namespace);
        const service = ns && this.serviceNamed(ns.id, last.service);
        const instance = service && this.tables.instances.get(instanceKey(service.id, last.id));
        if (instance?.seed) {
          this.removeInstance(instance);
          deregistered++;
        }
      }
    });
    return { registered: changed.length, deregistered };
  }

  // ---- changes made elsewhere (a shared store: another replica's writes, or the undo of one of ours) ----

  /**
   * Applies a change committed elsewhere (rows put whole, keys deleted) without persisting it, and tells listeners
   * the (namespace, service) pairs whose instances it changed: the pairs the write that made it announced.
   */
  applyChange(change: RegistryChange): void {
    const serviceIds = new Set<string>();
    for (const key of change.delete.instances ?? []) {
      const row = this.tables.instances.get(key);
      if (row) serviceIds.add(row.serviceId);
    }
    for (const row of change.put.instances ?? []) serviceIds.add(row.serviceId);
    // Named before and after: a service the change removes is still named by its row before it.
    const named = new Map<string, string>();
    const name = (serviceId: string) => {
      const service = this.tables.services.get(serviceId);
      const ns = service && this.tables.namespaces.get(service.namespaceId);
      if (service && ns) named.set(serviceId, serviceKey(ns.name, service.name));
    };
    serviceIds.forEach(name);
    for (const table of TABLE_NAMES) {
      const rows = this.tables[table] as Table<unknown>;
      const keyOf = KEY_OF[table] as (row: unknown) => string;
      for (const key of change.delete[table] ?? []) rows.delete(key);
      for (const row of (change.put[table] ?? []) as unknown[]) {
        const instance = table === 'instances' ? (row as InstanceRecord) : undefined;
        rows.set(keyOf(row), instance ? { ...instance, attributes: ownAttributes(instance.attributes) } : row);
      }
    }
    serviceIds.forEach(name);
    this.announce(new Set(named.values()));
  }

  /**
   * Replaces everything with `state` (a shared store's rows, loaded at start or again after falling behind), and
   * tells listeners the (namespace, service) pairs whose instances differ from before.
   */
  replaceState(state: RegistryState): void {
    const before = this.servedInstances();
    for (const table of TABLE_NAMES) (this.tables[table] as Table<unknown>).clear();
    this.namespaceIdByName.clear();
    this.serviceIdByName.clear();
    this.serviceIdsOfNamespace.clear();
    this.instancesOfService.clear();
    this.sortedInstances.clear();
    this.discovered.clear();
    this.load(state);
    const after = this.servedInstances();
    const changed = new Set<string>();
    for (const [key, now] of after) {
      const was = before.get(key);
      if (!was || !sameServed(was, now)) changed.add(key);
    }
    for (const key of before.keys()) if (!after.has(key)) changed.add(key);
    this.announce(changed);
  }

  /** Per (namespace, service): what discover() answers from, to compare two states (references, nothing copied). */
  private servedInstances(): Map<string, Served> {
    const served = new Map<string, Served>();
    for (const service of this.tables.services.values()) {
      const ns = this.tables.namespaces.get(service.namespaceId);
      if (!ns) continue;
      served.set(serviceKey(ns.name, service.name), {
        serviceId: service.id,
        custom: service.healthCheckCustomConfig !== undefined,
        instances: this.sortedInstances.get(service.id) ?? [],
      });
    }
    return served;
  }

  private announce(changed: ReadonlySet<string>): void {
    if (changed.size > 0) for (const listener of this.listeners) listener(changed);
  }

  // ---- internals: called only inside commit() ----

  private pendingChanges = new Set<string>();

  private commit<T>(change: () => T): { result: T } {
    const tables = TABLE_NAMES.map((name) => this.tables[name] as Table<unknown>);
    for (const table of tables) table.begin();
    this.pendingChanges = new Set();
    let result: T;
    try {
      result = change();
      if (this.options.persist) this.options.persist(this.changes('changes'), this.changes('inverse'));
    } catch (err) {
      for (const table of tables) table.undo();
      this.pendingChanges = new Set();
      throw err;
    }
    for (const table of tables) table.end();
    const changed = this.pendingChanges;
    this.pendingChanges = new Set();
    this.announce(changed);
    return { result };
  }

  /** What the current change did, table by table; or what undoes it. */
  private changes(which: 'changes' | 'inverse'): RegistryChange {
    const put: Partial<Record<TableName, unknown[]>> = {};
    const deleted: Partial<Record<TableName, string[]>> = {};
    for (const name of TABLE_NAMES) {
      const changes = (this.tables[name] as Table<unknown>)[which]();
      if (changes.put.length > 0) put[name] = changes.put;
      if (changes.delete.length > 0) deleted[name] = changes.delete;
    }
    return { put, delete: deleted } as RegistryChange;
  }

  private addNamespace(input: {
    name: string;
    type: NamespaceType;
    description?: string;
    creatorRequestId?: string;
    vpc?: string;
  }): NamespaceRecord {
    const id = `ns-${randomId(16)}`;
    const namespace: NamespaceRecord = {
      id,
      arn: `arn:aws:servicediscovery:${LOCAL_REGION}:${LOCAL_ACCOUNT}:namespace/${id}`,
      name: input.name,
      type: input.type,
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.creatorRequestId !== undefined ? { creatorRequestId: input.creatorRequestId } : {}),
      ...(input.vpc !== undefined ? { vpc: input.vpc } : {}),
      createDate: this.seconds(),
    };
    this.tables.namespaces.set(id, namespace);
    return namespace;
  }

  private addService(input: Parameters<CloudMapRegistry['createService']>[0]): ServiceRecord {
    const id = `srv-${randomId(16)}`;
    const service: ServiceRecord = {
      id,
      arn: `arn:aws:servicediscovery:${LOCAL_REGION}:${LOCAL_ACCOUNT}:service/${id}`,
      name: input.name,
      namespaceId: input.namespaceId,
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.creatorRequestId !== undefined ? { creatorRequestId: input.creatorRequestId } : {}),
      ...(input.dnsConfig ? { dnsConfig: input.dnsConfig } : {}),
      ...(input.healthCheckCustomConfig ? { healthCheckCustomConfig: input.healthCheckCustomConfig } : {}),
      createDate: this.seconds(),
      revision: 1,
    };
    this.tables.services.set(id, service);
    return service;
  }

  private putInstance(service: ServiceRecord, instance: InstanceRecord): void {
    this.tables.instances.set(KEY_OF.instances(instance), instance);
    this.touched(service);
  }

  private removeInstance(instance: InstanceRecord): void {
    this.tables.instances.delete(KEY_OF.instances(instance));
    this.touched(this.tables.services.get(instance.serviceId)!);
  }

  private touched(service: ServiceRecord): void {
    const current = this.tables.services.get(service.id)!;
    this.tables.services.set(service.id, { ...current, revision: current.revision + 1 });
    this.pendingChanges.add(serviceKey(this.tables.namespaces.get(service.namespaceId)!.name, service.name));
  }

  private addOperation(type: OperationType, targets: OperationRecord['targets']): OperationRecord {
    const op: OperationRecord = { id: randomId(32), type, status: 'SUCCESS', createDate: this.seconds(), targets };
    this.tables.operations.set(op.id, op);
    for (const id of this.tables.operations.keys()) {
      if (this.tables.operations.size <= KEPT_OPERATIONS) break;
      this.tables.operations.delete(id);
    }
    return op;
  }

  private seconds(): number {
    return Math.round(this.now()) / 1000;
  }
}

/**
 * Attributes are keyed by the client: stored as a null-prototype copy, so that a lookup by any
 * name (the compiler matches the mesh files' attribute filters) never reads an Object.prototype member.
 */
function ownAttributes(attributes: Readonly<Record<string, string>>): Record<string, string> {
  return Object.assign(Object.create(null) as Record<string, string>, attributes);
}

interface Served {
  readonly serviceId: string;
  readonly custom: boolean;
  readonly instances: readonly InstanceRecord[];
}

/** Whether a service's instances are the same for proxies: ids, attributes, health, declared in the mesh files. */
function sameServed(a: Served, b: Served): boolean {
  if (a.serviceId !== b.serviceId || a.custom !== b.custom || a.instances.length !== b.instances.length) return false;
  return a.instances.every((x, i) => {
    const y = b.instances[i]!;
    if (x === y) return true;
    if (x.id !== y.id || x.health !== y.health || !x.seed !== !y.seed) return false;
    const keys = Object.keys(x.attributes);
    return (
      keys.length === Object.keys(y.attributes).length &&
      keys.every((k) => Object.hasOwn(y.attributes, k) && x.attributes[k] === y.attributes[k])
    );
  });
}

/** Where an instance with `id` is (or would go) in instances sorted by id. */
function sortedIndex(sorted: readonly InstanceRecord[], id: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid]!.id < id) low = mid + 1;
    else high = mid;
  }
  return low;
}

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function sameDeclaration(a: SeedDeclaration, b: SeedDeclaration): boolean {
  const keys = Object.keys(a.attributes);
  return (
    a.health === b.health &&
    keys.length === Object.keys(b.attributes).length &&
    keys.every((k) => Object.hasOwn(b.attributes, k) && a.attributes[k] === b.attributes[k])
  );
}

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
let randomPool = Buffer.alloc(0);
let randomUsed = 0;

/** Lower-case base32, as AWS's namespace and service ids look. */
function randomId(length: number): string {
  // Random bytes drawn a few kilobytes at a time: one call for each id costs more than the rest of a registration.
  if (randomPool.length - randomUsed < length) {
    randomPool = crypto.randomBytes(4096);
    randomUsed = 0;
  }
  let id = '';
  for (let i = 0; i < length; i++) id += ID_ALPHABET[randomPool[randomUsed++]! & 31];
  return id;
}
