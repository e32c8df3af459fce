// Cross-resource checks: every reference names something that exists, no resource is defined
// twice, routes fit the listener they serve. Field-level checks happen while decoding (the
// schemas); these need the whole mesh.
import { formatFieldPath } from './common';
import type { GatewayRoute } from './gateway-route';
import { gatewayRouteKindOf } from './gateway-route';
import type { MeshModel, MeshReader, Resource } from './mesh-model';
import { compare, lookupKey, resourceKey } from './mesh-model';
import type { FieldPath } from './schema';
import type { Protocol } from './shapes';
import { routeKindOf, type Route, type WeightedTarget } from './route';
import type { VirtualGateway } from './virtual-gateway';
import type { VirtualService } from './virtual-service';
import { listenerPorts, type VirtualNode } from './virtual-node';

export interface ModelIssue {
  readonly severity: 'error' | 'warning';
  readonly resource: Resource;
  /** Field path inside the resource, e.g. ['spec', 'backends', 0]. */
  readonly path: FieldPath;
  readonly message: string;
}

/**
 * The resources with each key once (the first, in input order), and an error for each later
 * resource under a key already taken. A Mesh declared again with the same spec is the same mesh,
 * not a second one: clusters that share a mesh each declare it (one manifest per cluster), so
 * the repeat is dropped without a finding. Tags are no part of it: the model leaves them out.
 */
export function mergeDeclarations(resources: readonly Resource[]): {
  readonly resources: Resource[];
  readonly issues: ModelIssue[];
} {
  const seen = new Map<string, Resource>();
  const kept: Resource[] = [];
  const issues: ModelIssue[] = [];
  for (const r of resources) {
    const first = seen.get(resourceKey(r));
    if (!first) {
      seen.set(resourceKey(r), r);
      kept.push(r);
      continue;
    }
    const at = `${first.source.file}:${first.source.line}`;
    if (r.kind !== 'Mesh') {
      issues.push({
        severity: 'error',
        resource: r,
        path: ['name'],
        message: `already defined in mesh '${r.mesh}' at ${at}`,
      });
      continue;
    }
    const differs = firstDifference(first.spec, r.spec, ['spec']);
    if (differs) {
      issues.push({
        severity: 'error',
        resource: r,
        path: ['name'],
        message: `already defined at ${at} with a different ${formatFieldPath(differs)}; every declaration of a mesh must be the same`,
      });
    }
  }
  return { resources: kept, issues };
}

/**
 * The path of the first place where two decoded specs differ (key order aside), or undefined when they are the same.
 */
function firstDifference(a: unknown, b: unknown, path: FieldPath): FieldPath | undefined {
  if (a === b) return undefined;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const d = firstDifference(a[i], b[i], [...path, i]);
      if (d) return d;
    }
    return undefined;
  }
  if (!isRecord(a) || !isRecord(b) || Array.isArray(a) || Array.isArray(b)) return path;
  // Specs have passed the schema, so their depth is the schema's: this recursion is bounded.
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const d = firstDifference(Object.hasOwn(a, key) ? a[key] : undefined, Object.hasOwn(b, key) ? b[key] : undefined, [
      ...path,
      key,
    ]);
    if (d) return d;
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object';
}

const ROUTE_PROTOCOL: Readonly<Record<string, Protocol>> = {
  httpRoute: 'http',
  http2Route: 'http2',
  grpcRoute: 'grpc',
  tcpRoute: 'tcp',
};

/**
 * What validateReferences found for each resource last time, and the look-ups it made to find it:
 * kept from one load to the next (`meshd serve`). A model built on the one validated last
 * (MeshModel.changedSince) is validated by checking again only the resources that changed and
 * those whose look-ups named one that changed; any other model, by checking again the resources
 * that are new objects or whose look-ups answer differently. The findings are the same.
 */
export class ReferenceCheckCache {
  readonly checked = new WeakMap<Resource, CheckedResource>();
  readonly reached = new WeakMap<Resource, readonly string[]>();
  /** The state of the last validation (see validateReferences). */
  last: Validated | undefined;
}

interface CheckedResource {
  /** Look-ups by model key (see MeshModel.resourceAt) and the answer each gave. */
  readonly lookups: readonly (readonly [string, Resource | undefined])[];
  /** Keys asked of `broken`, and the answer each gave. */
  readonly broken: readonly (readonly [string, boolean])[];
  readonly issues: readonly ModelIssue[];
}

/** A validated model, indexed so that the next can be validated from what changed. */
interface Validated {
  readonly model: MeshModel;
  readonly broken: ReadonlySet<string>;
  readonly complete: boolean;
  /** Key looked up (or asked of `broken`) → the model's resources whose check did. */
  readonly dependents: Map<string, Set<Resource>>;
  /** Resource key → its findings, for resources with some. */
  readonly findings: Map<string, readonly ModelIssue[]>;
  /** `mesh/name` of a node → how many services and routes reach it. */
  readonly reach: Map<string, number>;
  /** Node key → its "no virtual service reaches this node" warning. */
  readonly unreachable: Map<string, ModelIssue>;
}

/**
 * Every dangling reference and misfit in the model, plus warnings for legal but suspicious
 * things. `broken` holds the keys (see resourceKey) of resources that exist in the input but
 * did not decode: references to them are not reported again. `complete` is false when some
 * input could not be read at all; then warnings that need the whole mesh are left out.
 * With a cache, what did not change is not checked again; the findings are the same.
 */
export function validateReferences(
  model: MeshModel,
  broken: ReadonlySet<string> = new Set(),
  complete = broken.size === 0,
  cache?: ReferenceCheckCache,
): ModelIssue[] {
  const last = cache?.last;
  const changed = last && complete === last.complete && sameSet(broken, last.broken) && model.changedSince(last.model);
  const validated =
    cache && last && changed
      ? validateChanges(model, last, changed, cache)
      : validateAll(model, broken, complete, cache);
  if (cache) cache.last = validated;
  const issues: ModelIssue[] = [];
  for (const key of [...validated.findings.keys()].sort(compare)) appendAll(issues, validated.findings.get(key)!);
  for (const key of [...validated.unreachable.keys()].sort(compare)) issues.push(validated.unreachable.get(key)!);
  return issues;
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((k) => b.has(k));
}

/** Checks every resource (but those whose look-ups answer as when last checked). */
function validateAll(
  model: MeshModel,
  broken: ReadonlySet<string>,
  complete: boolean,
  cache: ReferenceCheckCache | undefined,
): Validated {
  const validated: Validated = {
    model,
    broken,
    complete,
    dependents: new Map(),
    findings: new Map(),
    reach: new Map(),
    unreachable: new Map(),
  };
  for (const r of model.resources) {
    const known = cache?.checked.get(r);
    const checked =
      known &&
      known.lookups.every(([key, answer]) => model.resourceAt(key) === answer) &&
      known.broken.every(([key, answer]) => broken.has(key) === answer)
        ? known
        : checkResource(model, r, broken);
    cache?.checked.set(r, checked);
    if (cache) depend(validated.dependents, r, checked);
    if (checked.issues.length > 0) validated.findings.set(resourceKey(r), checked.issues);
  }
  // With resources missing from the model, which nodes are reached is not known.
  if (complete) {
    for (const r of model.resources) for (const node of reachedBy(r, cache)) bump(validated.reach, node, 1);
    for (const r of model.resources) if (r.kind === 'VirtualNode') judgeReach(model, r, validated);
  }
  return validated;
}

/** The last validation brought to a model built on its model: `changed` holds the keys that differ. */
function validateChanges(
  model: MeshModel,
  last: Validated,
  changed: ReadonlySet<string>,
  cache: ReferenceCheckCache,
): Validated {
  const validated: Validated = { ...last, model };
  const toCheck = new Set<Resource>();
  const nodesToJudge = new Set<string>();
  let meshChanged = false;
  for (const key of changed) {
    if (key.endsWith('/*')) continue; // route lists: the routes themselves are in `changed`
    const old = last.model.resourceAt(key);
    const now = model.resourceAt(key);
    if (old) {
      undepend(validated.dependents, old, cache.checked.get(old)!);
      validated.findings.delete(key);
      if (validated.complete) for (const node of reachedBy(old, cache)) bump(validated.reach, node, -1, nodesToJudge);
    }
    if (now) {
      toCheck.add(now);
      if (validated.complete) for (const node of reachedBy(now, cache)) bump(validated.reach, node, 1, nodesToJudge);
    }
    for (const r of validated.dependents.get(key) ?? []) toCheck.add(r);
    if ((old ?? now)!.kind === 'Mesh') meshChanged = true;
    if ((old ?? now)!.kind === 'VirtualNode') {
      validated.unreachable.delete(key);
      if (now) nodesToJudge.add(`${now.mesh}/${now.name}`);
    }
  }
  for (const r of toCheck) {
    if (model.resourceAt(resourceKey(r)) !== r) continue; // a dependent that is itself gone or replaced
    const before = cache.checked.get(r);
    if (before && r === last.model.resourceAt(resourceKey(r))) undepend(validated.dependents, r, before);
    const checked = checkResource(model, r, validated.broken);
    cache.checked.set(r, checked);
    depend(validated.dependents, r, checked);
    if (checked.issues.length > 0) validated.findings.set(resourceKey(r), checked.issues);
    else validated.findings.delete(resourceKey(r));
  }
  if (validated.complete) {
    if (meshChanged) {
      validated.unreachable.clear();
      for (const r of model.resources) if (r.kind === 'VirtualNode') judgeReach(model, r, validated);
    } else {
      for (const ref of nodesToJudge) {
        const slash = ref.indexOf('/');
        const node = model.virtualNode(ref.slice(0, slash), ref.slice(slash + 1));
        if (node) judgeReach(model, node, validated);
      }
    }
  }
  return validated;
}

/** Notes a resource under every key its check looked up or asked of `broken`. */
function depend(dependents: Map<string, Set<Resource>>, r: Resource, checked: CheckedResource): void {
  for (const [key] of checked.lookups) {
    const set = dependents.get(key);
    if (set) set.add(r);
    else dependents.set(key, new Set([r]));
  }
  for (const [key] of checked.broken) {
    const set = dependents.get(key);
    if (set) set.add(r);
    else dependents.set(key, new Set([r]));
  }
}

function undepend(dependents: Map<string, Set<Resource>>, r: Resource, checked: CheckedResource): void {
  for (const [key] of [...checked.lookups, ...checked.broken]) {
    const set = dependents.get(key);
    set?.delete(r);
    if (set?.size === 0) dependents.delete(key);
  }
}

function bump(counts: Map<string, number>, key: string, by: number, touched?: Set<string>): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n === 0) counts.delete(key);
  else counts.set(key, n);
  touched?.add(key);
}

/** Whether a node gets the warning that nothing reaches it (a node with listeners in a defined mesh). */
function judgeReach(model: MeshModel, node: VirtualNode, validated: Validated): void {
  const key = resourceKey(node);
  if (
    (node.spec.listeners ?? []).length > 0 &&
    !validated.reach.has(`${node.mesh}/${node.name}`) &&
    model.mesh(node.mesh)
  )
    validated.unreachable.set(key, {
      severity: 'warning',
      resource: node,
      path: ['name'],
      message: 'no virtual service reaches this node: no service names it as provider and no route targets it',
    });
  else validated.unreachable.delete(key);
}

/** The nodes (`mesh/name`) a service names as provider or a route targets; none for other kinds. */
function reachedBy(r: Resource, cache: ReferenceCheckCache | undefined): readonly string[] {
  if (r.kind !== 'VirtualService' && r.kind !== 'Route') return [];
  let nodes = cache?.reached.get(r);
  if (!nodes) {
    nodes =
      r.kind === 'VirtualService'
        ? r.spec.provider?.virtualNode
          ? [`${r.mesh}/${r.spec.provider.virtualNode.virtualNodeName}`]
          : []
        : routeKindOf(r.spec).action.weightedTargets.map((t) => `${r.mesh}/${t.virtualNode}`);
    cache?.reached.set(r, nodes);
  }
  return nodes;
}

function appendAll<T>(to: T[], items: readonly T[]): void {
  for (const item of items) to.push(item);
}

/** The findings about one resource, and the look-ups they depend on. */
function checkResource(whole: MeshModel, r: Resource, brokenKeys: ReadonlySet<string>): CheckedResource {
  const issues: ModelIssue[] = [];
  const lookups: [string, Resource | undefined][] = [];
  const brokenAsked: [string, boolean][] = [];
  const error = (resource: Resource, path: FieldPath, message: string) =>
    issues.push({ severity: 'error', resource, path, message });
  const warn = (resource: Resource, path: FieldPath, message: string) =>
    issues.push({ severity: 'warning', resource, path, message });
  const missing = (mesh: string, kind: string, name: string) => {
    const key = `${mesh}/${kind}/${name}`;
    const isBroken = brokenKeys.has(key);
    brokenAsked.push([key, isBroken]);
    return !isBroken;
  };
  const model = recordingLookups(whole, lookups);

  if (r.kind !== 'Mesh' && !model.mesh(r.mesh)) {
    if (missing(r.mesh, 'Mesh', r.mesh))
      error(r, ['mesh'], `mesh '${r.mesh}' is not defined; add a Mesh named '${r.mesh}'`);
    return { lookups, broken: brokenAsked, issues };
  }
  switch (r.kind) {
    case 'VirtualService': {
      const p = r.spec.provider;
      const nodeName = p?.virtualNode?.virtualNodeName;
      const routerName = p?.virtualRouter?.virtualRouterName;
      if (nodeName !== undefined) {
        const path = ['spec', 'provider', 'virtualNode', 'virtualNodeName'];
        const node = model.virtualNode(r.mesh, nodeName);
        if (!node) {
          if (missing(r.mesh, 'VirtualNode', nodeName))
            error(r, path, `virtual node '${nodeName}' is not defined in mesh '${r.mesh}'`);
        } else if (listenerPorts(node.spec).length === 0) {
          error(r, path, `virtual node '${nodeName}' has no listeners, so it cannot provide a service`);
        }
      }
      if (
        routerName !== undefined &&
        !model.virtualRouter(r.mesh, routerName) &&
        missing(r.mesh, 'VirtualRouter', routerName)
      ) {
        error(
          r,
          ['spec', 'provider', 'virtualRouter', 'virtualRouterName'],
          `virtual router '${routerName}' is not defined in mesh '${r.mesh}'`,
        );
      }
      break;
    }
    case 'VirtualNode':
      (r.spec.backends ?? []).forEach((b, i) => {
        const name = b.virtualService!.virtualServiceName;
        const path = ['spec', 'backends', i, 'virtualService', 'virtualServiceName'];
        const service = model.virtualService(r.mesh, name);
        if (!service) {
          if (missing(r.mesh, 'VirtualService', name))
            error(r, path, `virtual service '${name}' is not defined in mesh '${r.mesh}'`);
        } else if (!service.spec.provider) {
          warn(r, path, `virtual service '${name}' has no provider, so requests to it will fail`);
        }
      });
      break;
    case 'Route':
      checkRoute(model, r, error, missing);
      break;
    case 'GatewayRoute':
      checkGatewayRoute(model, r, error, warn, missing);
      break;
    case 'VirtualGateway':
      checkVirtualGateway(r, warn);
      break;
    default:
      break;
  }
  return { lookups, broken: brokenAsked, issues };
}

/** The look-ups the checks make, each noted with its answer. */
type Lookups = Pick<MeshReader, 'mesh' | 'virtualNode' | 'virtualService' | 'virtualRouter' | 'virtualGateway'>;

function recordingLookups(model: MeshModel, noted: [string, Resource | undefined][]): Lookups {
  const at = <T extends Resource>(mesh: string, kind: Resource['kind'], name: string): T | undefined => {
    const key = lookupKey.resource(mesh, kind, name);
    const answer = model.resourceAt(key);
    noted.push([key, answer]);
    return answer as T | undefined;
  };
  return {
    mesh: (mesh) => at(mesh, 'Mesh', mesh),
    virtualNode: (mesh, name) => at(mesh, 'VirtualNode', name),
    virtualService: (mesh, name) => at(mesh, 'VirtualService', name),
    virtualRouter: (mesh, name) => at(mesh, 'VirtualRouter', name),
    virtualGateway: (mesh, name) => at(mesh, 'VirtualGateway', name),
  };
}

type Report = (resource: Resource, path: FieldPath, message: string) => void;
type Missing = (mesh: string, kind: string, name: string) => boolean;

/** The listener a route serves: the one on match.port, or the only one. Reports when there is none. */
function servedListener(
  r: Route | GatewayRoute,
  listeners: readonly { portMapping: { port: number; protocol: string } }[],
  routeKind: string,
  matchPort: number | undefined,
  owner: string,
  error: Report,
): void {
  const matchPath = ['spec', routeKind, 'match', 'port'];
  let listener: (typeof listeners)[number] | undefined = listeners[0];
  if (matchPort !== undefined) {
    listener = listeners.find((l) => l.portMapping.port === matchPort);
    if (!listener) {
      error(
        r,
        matchPath,
        `${owner} has no listener on port ${matchPort} (its ports: ${listeners.map((l) => l.portMapping.port).join(', ')})`,
      );
      return;
    }
  } else if (listeners.length > 1) {
    error(
      r,
      ['spec', routeKind, 'match'],
      `${owner} has several listeners (${listeners.map((l) => l.portMapping.port).join(', ')}); say which this route serves with match.port`,
    );
    return;
  }
  const want = ROUTE_PROTOCOL[routeKind];
  if (listener && listener.portMapping.protocol !== want) {
    const fit = Object.keys(ROUTE_PROTOCOL).find((k) => ROUTE_PROTOCOL[k] === listener!.portMapping.protocol);
    error(
      r,
      ['spec', routeKind],
      `${owner} listens for ${listener.portMapping.protocol} on port ${listener.portMapping.port}, so this route must be a ${fit ?? 'route of that protocol'}, not a ${routeKind}`,
    );
  }
}

function checkRoute(model: Lookups, r: Route, error: Report, missing: Missing): void {
  const { kind, match, action } = routeKindOf(r.spec);
  const router = model.virtualRouter(r.mesh, r.virtualRouter);
  if (!router) {
    if (missing(r.mesh, 'VirtualRouter', r.virtualRouter))
      error(r, ['parent'], `virtual router '${r.virtualRouter}' is not defined in mesh '${r.mesh}'`);
  } else {
    servedListener(r, router.spec.listeners, kind, match?.port, `virtual router '${router.name}'`, error);
  }
  action.weightedTargets.forEach((t, i) =>
    checkTarget(model, r, t, ['spec', kind, 'action', 'weightedTargets', i], error, missing),
  );
}

function checkTarget(
  model: Lookups,
  r: Route,
  t: WeightedTarget,
  path: FieldPath,
  error: Report,
  missing: Missing,
): void {
  const node = model.virtualNode(r.mesh, t.virtualNode);
  if (!node) {
    if (missing(r.mesh, 'VirtualNode', t.virtualNode))
      error(r, [...path, 'virtualNode'], `virtual node '${t.virtualNode}' is not defined in mesh '${r.mesh}'`);
    return;
  }
  const ports = listenerPorts(node.spec);
  if (ports.length === 0) {
    error(r, [...path, 'virtualNode'], `virtual node '${t.virtualNode}' has no listeners to send traffic to`);
  } else if (t.port !== undefined && !ports.includes(t.port)) {
    error(
      r,
      [...path, 'port'],
      `virtual node '${t.virtualNode}' has no listener on port ${t.port} (its ports: ${ports.join(', ')})`,
    );
  } else if (t.port === undefined && ports.length > 1) {
    error(
      r,
      path,
      `virtual node '${t.virtualNode}' has several listeners (${ports.join(', ')}); say which with 'port'`,
    );
  }
}

function checkGatewayRoute(model: Lookups, r: GatewayRoute, error: Report, warn: Report, missing: Missing): void {
  const { kind, route } = gatewayRouteKindOf(r.spec);
  const gateway = model.virtualGateway(r.mesh, r.virtualGateway);
  if (!gateway) {
    if (missing(r.mesh, 'VirtualGateway', r.virtualGateway))
      error(r, ['parent'], `virtual gateway '${r.virtualGateway}' is not defined in mesh '${r.mesh}'`);
  } else {
    servedListener(r, gateway.spec.listeners, kind, route.match.port, `virtual gateway '${gateway.name}'`, error);
  }
  const target = route.action.target;
  const path = ['spec', kind, 'action', 'target'];
  const name = target.virtualService.virtualServiceName;
  const service = model.virtualService(r.mesh, name);
  if (!service) {
    if (missing(r.mesh, 'VirtualService', name))
      error(
        r,
        [...path, 'virtualService', 'virtualServiceName'],
        `virtual service '${name}' is not defined in mesh '${r.mesh}'`,
      );
    return;
  }
  const listeners = providerListeners(model, service);
  const ports = listenerPorts({ listeners });
  if (listeners === undefined) {
    warn(
      r,
      [...path, 'virtualService', 'virtualServiceName'],
      `virtual service '${name}' has no provider, so requests to it will fail`,
    );
  } else if (target.port !== undefined && !ports.includes(target.port)) {
    error(
      r,
      [...path, 'port'],
      `virtual service '${name}' has no listener on port ${target.port} (its ports: ${ports.join(', ')})`,
    );
  } else if (target.port === undefined && ports.length > 1) {
    error(r, path, `virtual service '${name}' listens on several ports (${ports.join(', ')}); say which with 'port'`);
  } else {
    const { port, protocol } =
      listeners.find((l) => target.port === undefined || l.portMapping.port === target.port)?.portMapping ?? {};
    if (protocol === 'tcp')
      error(
        r,
        [...path, ...(target.port === undefined ? ['virtualService', 'virtualServiceName'] : ['port'])],
        `virtual service '${name}' listens for tcp on port ${port}; a gateway route sends http, http2 or grpc requests`,
      );
  }
}

/** The listeners a service answers on (its provider's), or undefined without a provider. */
function providerListeners(
  model: Lookups,
  service: VirtualService,
): readonly { portMapping: { port: number; protocol: Protocol } }[] | undefined {
  const p = service.spec.provider;
  if (p?.virtualNode) return model.virtualNode(service.mesh, p.virtualNode.virtualNodeName)?.spec.listeners ?? [];
  if (p?.virtualRouter)
    return model.virtualRouter(service.mesh, p.virtualRouter.virtualRouterName)?.spec.listeners ?? [];
  return undefined;
}

/** meshd's gateway answers an http/http2 health check path itself; nothing answers gRPC's health protocol there. */
function checkVirtualGateway(r: VirtualGateway, warn: Report): void {
  r.spec.listeners.forEach((listener, i) => {
    if (listener.healthCheck?.protocol === 'grpc') {
      warn(
        r,
        ['spec', 'listeners', i, 'healthCheck', 'protocol'],
        "meshd's gateway does not answer the gRPC health-checking protocol; probe the port over TCP, or use an http or http2 check with a path, which the gateway answers itself",
      );
    }
  });
}
