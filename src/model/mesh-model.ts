import type { GatewayRoute } from './gateway-route';
import type { Mesh } from './mesh';
import type { Route } from './route';
import type { VirtualGateway } from './virtual-gateway';
import type { VirtualNode } from './virtual-node';
import type { VirtualRouter } from './virtual-router';
import type { VirtualService } from './virtual-service';

export type Resource = Mesh | VirtualService | VirtualNode | VirtualRouter | Route | VirtualGateway | GatewayRoute;

/** The router or gateway a route belongs to (its name is unique only within that parent). */
export function parentOf(r: Resource): string | undefined {
  return r.kind === 'Route' ? r.virtualRouter : r.kind === 'GatewayRoute' ? r.virtualGateway : undefined;
}

/** `Kind/name` as used in error messages and logs (routes also name their router or gateway). */
export function resourceLabel(r: Resource): string {
  return labelOf(r.kind, parentOf(r), r.name);
}

/** The label of a resource from its parts; `parent` is given for routes and gateway routes only. */
export function labelOf(kind: string, parent: string | undefined, name: string): string {
  return parent === undefined ? `${kind}/${name}` : `${kind}/${parent}/${name}`;
}

/** Keys already built: a resource is immutable, and a reload keeps an unchanged one the same object. */
const keys = new WeakMap<Resource, string>();

/** Identity of a resource within all meshes: two resources with one key are duplicates. */
export function resourceKey(r: Resource): string {
  let key = keys.get(r);
  if (key === undefined) {
    key = `${r.mesh}/${resourceLabel(r)}`;
    keys.set(r, key);
  }
  return key;
}

/** The look-ups the compiler makes: what a compile reads can be recorded through them (control/). */
export interface MeshReader {
  mesh(mesh: string): Mesh | undefined;
  virtualService(mesh: string, name: string): VirtualService | undefined;
  virtualNode(mesh: string, name: string): VirtualNode | undefined;
  virtualRouter(mesh: string, name: string): VirtualRouter | undefined;
  virtualGateway(mesh: string, name: string): VirtualGateway | undefined;
  routesOf(mesh: string, router: string): readonly Route[];
  gatewayRoutesOf(mesh: string, gateway: string): readonly GatewayRoute[];
}

/** The key of a look-up (MeshReader): a resource's key, or its router's or gateway's key plus `/*` for its routes. */
export const lookupKey = {
  resource: (mesh: string, kind: Resource['kind'], name: string) => `${mesh}/${kind}/${name}`,
  routesOf: (mesh: string, router: string) => `${mesh}/Route/${router}/*`,
  gatewayRoutesOf: (mesh: string, gateway: string) => `${mesh}/GatewayRoute/${gateway}/*`,
};

/**
 * The validated mesh resources, indexed for look-up. Immutable: a reload builds a new one.
 * Resources come out in a deterministic order (by key) so compiled output is stable.
 */
export class MeshModel implements MeshReader {
  readonly resources: readonly Resource[];
  private readonly byKey: Map<string, Resource>;
  private readonly children: Map<string, (Route | GatewayRoute)[]>;
  /** What changed from the model this one was built on (see the constructor), for changedKeys. */
  private readonly base?: { readonly model: WeakRef<MeshModel>; readonly changed: ReadonlySet<string> };
  /** The resources as given: the next load gives them in the same order (its files', sorted). */
  private readonly input: readonly Resource[];
  /** Each key's place in `resources`, made when first needed; shared by the models of the same keys. */
  private positions: Map<string, number> | undefined;

  /**
   * With `previous` (the model of the load before), the new model shares what did not change:
   * when the resources are given as before but for a few other objects of the same keys, the
   * new model is the previous one with those replaced (not built again); else the order of the
   * resources is reused when the keys are the same. A router's or gateway's list of routes is the
   * previous list (the same array) when its routes are the same objects, and changedKeys(this) on
   * `previous` is known without comparing again.
   */
  constructor(resources: readonly Resource[], previous?: MeshModel) {
    this.input = resources;
    const replaced = previous && replacedInPlace(previous.input, resources, previous.byKey.size);
    if (previous && replaced) {
      const changed = new Set<string>();
      this.byKey = new Map(previous.byKey);
      this.children = new Map(previous.children);
      this.positions = previous.positionsOfKeys();
      const sorted = previous.resources.slice();
      const copied = new Set<string>();
      for (const i of replaced) {
        const r = resources[i]!;
        const key = resourceKey(r);
        const old = previous.byKey.get(key)!;
        this.byKey.set(key, r);
        sorted[this.positions.get(key)!] = r;
        changed.add(key);
        if (r.kind === 'Route' || r.kind === 'GatewayRoute') {
          const parent = `${r.mesh}/${r.kind}/${parentOf(r)}`;
          let list = this.children.get(parent)!;
          if (!copied.has(parent)) {
            list = list.slice();
            this.children.set(parent, list);
            copied.add(parent);
            changed.add(`${parent}/*`);
          }
          list[list.indexOf(old as Route | GatewayRoute)] = r;
        }
      }
      this.resources = sorted;
      this.base = { model: new WeakRef(previous), changed };
      return;
    }
    this.byKey = new Map();
    this.children = new Map();
    // Map.set keeps the last of a key, as it did when set in sorted (stable) order.
    for (const r of resources) this.byKey.set(resourceKey(r), r);
    this.resources = (previous && this.sameOrder(previous, resources.length)) ?? sortedByKey(resources);
    for (const r of this.resources) {
      if (r.kind === 'Route' || r.kind === 'GatewayRoute') {
        const key = `${r.mesh}/${r.kind}/${parentOf(r)}`;
        const list = this.children.get(key);
        if (list) list.push(r);
        else this.children.set(key, [r]);
      }
    }
    if (!previous) return;
    const changed = new Set<string>();
    for (const [key, list] of this.children) {
      const before = previous.children.get(key);
      if (before && sameList(before, list)) this.children.set(key, before);
      else changed.add(`${key}/*`);
    }
    for (const key of previous.children.keys()) if (!this.children.has(key)) changed.add(`${key}/*`);
    for (const [key, r] of this.byKey) if (previous.byKey.get(key) !== r) changed.add(key);
    for (const key of previous.byKey.keys()) if (!this.byKey.has(key)) changed.add(key);
    this.base = { model: new WeakRef(previous), changed };
  }

  private positionsOfKeys(): Map<string, number> {
    this.positions ??= new Map(this.resources.map((r, i) => [resourceKey(r), i]));
    return this.positions;
  }

  /** The previous model's order with this model's objects, when both hold the same keys once each. */
  private sameOrder(previous: MeshModel, count: number): Resource[] | undefined {
    if (this.byKey.size !== count || previous.byKey.size !== count || previous.resources.length !== count)
      return undefined;
    const out: Resource[] = [];
    for (const r of previous.resources) {
      const now = this.byKey.get(resourceKey(r));
      if (now === undefined) return undefined;
      out.push(now);
    }
    return out;
  }

  /** The resource of a key (resourceKey, or lookupKey.resource), if the model holds it. */
  resourceAt(key: string): Resource | undefined {
    return this.byKey.get(key);
  }

  mesh(mesh: string): Mesh | undefined {
    return this.byKey.get(`${mesh}/Mesh/${mesh}`) as Mesh | undefined;
  }

  virtualService(mesh: string, name: string): VirtualService | undefined {
    return this.byKey.get(`${mesh}/VirtualService/${name}`) as VirtualService | undefined;
  }

  virtualNode(mesh: string, name: string): VirtualNode | undefined {
    return this.byKey.get(`${mesh}/VirtualNode/${name}`) as VirtualNode | undefined;
  }

  virtualRouter(mesh: string, name: string): VirtualRouter | undefined {
    return this.byKey.get(`${mesh}/VirtualRouter/${name}`) as VirtualRouter | undefined;
  }

  virtualGateway(mesh: string, name: string): VirtualGateway | undefined {
    return this.byKey.get(`${mesh}/VirtualGateway/${name}`) as VirtualGateway | undefined;
  }

  routesOf(mesh: string, router: string): readonly Route[] {
    return (this.children.get(`${mesh}/Route/${router}`) ?? []) as Route[];
  }

  gatewayRoutesOf(mesh: string, gateway: string): readonly GatewayRoute[] {
    return (this.children.get(`${mesh}/GatewayRoute/${gateway}`) ?? []) as GatewayRoute[];
  }

  /**
   * The look-up keys (lookupKey) whose answer differs in `next`: resources added, removed or
   * not the same object (a load reuses the object of a resource whose document did not change),
   * and routers and gateways whose list of routes differs.
   */
  /** changedKeys from `previous` to this model, when this model was built on it (else undefined). */
  changedSince(previous: MeshModel): ReadonlySet<string> | undefined {
    return this.base?.model.deref() === previous ? this.base.changed : undefined;
  }

  changedKeys(next: MeshModel): Set<string> {
    if (next.base?.model.deref() === this) return new Set(next.base.changed);
    const changed = new Set<string>();
    for (const [key, r] of this.byKey) if (next.byKey.get(key) !== r) changed.add(key);
    for (const key of next.byKey.keys()) if (!this.byKey.has(key)) changed.add(key);
    for (const key of new Set([...this.children.keys(), ...next.children.keys()])) {
      const [a, b] = [this.children.get(key), next.children.get(key)];
      if (!a || !b || !sameList(a, b)) changed.add(`${key}/*`);
    }
    return changed;
  }

  /** Every virtual node of every mesh, sorted by mesh then name. */
  virtualNodes(): VirtualNode[] {
    return this.resources.filter((r): r is VirtualNode => r.kind === 'VirtualNode');
  }

  virtualGateways(): VirtualGateway[] {
    return this.resources.filter((r): r is VirtualGateway => r.kind === 'VirtualGateway');
  }
}

/**
 * The places where `now` holds another object of the same key than `before`, when that is all that
 * differs (and `before` holds each key once) and they are few; otherwise undefined.
 */
function replacedInPlace(before: readonly Resource[], now: readonly Resource[], keys: number): number[] | undefined {
  if (now.length !== before.length || keys !== before.length) return undefined;
  const replaced: number[] = [];
  for (let i = 0; i < now.length; i++) {
    if (now[i] === before[i]) continue;
    if (resourceKey(now[i]!) !== resourceKey(before[i]!) || replaced.length >= 64) return undefined;
    replaced.push(i);
  }
  return replaced;
}

function sameList(a: readonly Resource[], b: readonly Resource[]): boolean {
  return a === b || (a.length === b.length && a.every((r, i) => b[i] === r));
}

function sortedByKey(resources: readonly Resource[]): Resource[] {
  return resources
    .map((r) => ({ key: resourceKey(r), r }))
    .sort((a, b) => compare(a.key, b.key))
    .map(({ r }) => r);
}

/** Plain code-unit comparison: locale-independent, so output is the same on every machine. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
