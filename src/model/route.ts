import type { ResourceMeta } from './common';

export interface WeightedTarget {
  readonly virtualNode: string;
  /** 0–100 in App Mesh; the targets' weights need not add up to 100. */
  readonly weight: number;
  /** The target node's listener port; required only when that node has several listeners. */
  readonly port?: number;
}

export interface HttpRoute {
  readonly match: { readonly prefix: string };
  readonly action: { readonly weightedTargets: readonly WeightedTarget[] };
}

export interface RouteSpec {
  /** Lower numbers first (0–1000); routes without priority come after, longest prefix first. */
  readonly priority?: number;
  readonly httpRoute: HttpRoute;
}

export interface Route extends ResourceMeta {
  readonly kind: 'Route';
  readonly virtualRouter: string;
  readonly spec: RouteSpec;
}
