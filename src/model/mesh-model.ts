import type { Mesh } from './mesh';
import type { Route } from './route';
import type { VirtualNode } from './virtual-node';
import type { VirtualRouter } from './virtual-router';
import type { VirtualService } from './virtual-service';

export type Resource = Mesh | VirtualService | VirtualNode | VirtualRouter | Route;

/** `Kind/name` as used in error messages and logs (routes also name their router). */
export function resourceLabel(r: Resource): string {
  return r.kind === 'Route' ? `Route/${r.virtualRouter}/${r.name}` : `${r.kind}/${r.name}`;
}

/** Identity of a resource within all meshes: two resources with one key are duplicates. */
export function resourceKey(r: Resource): string {
  return r.kind === 'Route' ? `${r.mesh}/Route/${r.virtualRouter}/${r.name}` : `${r.mesh}/${r.kind}/${r.name}`;
}

/**
 * The validated mesh resources, indexed for look-up. Immutable: a reload builds a new one.
 * Resources come out in a deterministic order (by name) so compiled output is stable.
 */
export class MeshModel {
  private readonly byKey = new Map<string, Resource>();
  private readonly routesByRouter = new Map<string, Route[]>();

  constructor(readonly resources: readonly Resource[]) {
    const sorted = [...resources].sort((a, b) => compare(resourceKey(a), resourceKey(b)));
    for (const r of sorted) {
      this.byKey.set(resourceKey(r), r);
      if (r.kind === 'Route') {
        const key = `${r.mesh}/${r.virtualRouter}`;
        const list = this.routesByRouter.get(key) ?? [];
        list.push(r);
        this.routesByRouter.set(key, list);
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

  routesOf(mesh: string, router: string): readonly Route[] {
    return this.routesByRouter.get(`${mesh}/${router}`) ?? [];
  }

  /** Every virtual node of every mesh, sorted by mesh then name. */
  virtualNodes(): VirtualNode[] {
    return [...this.byKey.values()].filter((r): r is VirtualNode => r.kind === 'VirtualNode');
  }
}

/** Plain code-unit comparison: locale-independent, so output is the same on every machine. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
