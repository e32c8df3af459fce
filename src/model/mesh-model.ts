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

/** Identity of a resource within all meshes: two resources with one key are duplicates. */
export function resourceKey(r: Resource): string {
  return `${r.mesh}/${resourceLabel(r)}`;
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
  private readonly byKey = new Map<string, Resource>();
  private readonly children = new Map<string, (Route | GatewayRoute)[]>();

  constructor(resources: readonly Resource[]) {
    this.resources = [...resources].sort((a, b) => compare(resourceKey(a), resourceKey(b)));
    for (const r of this.resources) {
      this.byKey.set(resourceKey(r), r);
      if (r.kind === 'Route' || r.kind === 'GatewayRoute') {
        const key = `${r.mesh}/${r.kind}/${parentOf(r)}`;
        const list = this.children.get(key) ?? [];
        list.push(r);
        this.children.set(key, list);
      }
    }
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
  changedKeys(next: MeshModel): Set<string> {
    const changed = new Set<string>();
    for (const [key, r] of this.byKey) if (next.byKey.get(key) !== r) changed.add(key);
    for (const key of next.byKey.keys()) if (!this.byKey.has(key)) changed.add(key);
    const sameList = (a: readonly Resource[] | undefined, b: readonly Resource[] | undefined) =>
      a?.length === b?.length && (a ?? []).every((r, i) => b![i] === r);
    for (const key of new Set([...this.children.keys(), ...next.children.keys()])) {
      if (!sameList(this.children.get(key), next.children.get(key))) changed.add(`${key}/*`);
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

/** Plain code-unit comparison: locale-independent, so output is the same on every machine. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
