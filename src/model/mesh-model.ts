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

/**
 * The validated mesh resources, indexed for look-up. Immutable: a reload builds a new one.
 * Resources come out in a deterministic order (by key) so compiled output is stable.
 */
export class MeshModel {
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
