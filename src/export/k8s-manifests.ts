// Manifests of the App Mesh controller (appmesh.k8s.aws/v1beta2), the reverse of
// src/load/k8s-manifest.ts: each mesh gets a Namespace (labelled `mesh: <mesh>`, which the Mesh's
// namespaceSelector takes, as the controller's walkthroughs do it), every resource keeps its App
// Mesh name in `spec.awsName` (Kubernetes names are narrower: lower case, `[a-z0-9.-]`), names
// become `…Ref: {name}` of the manifest that holds the resource, routes sit in their
// VirtualRouter's `spec.routes[]`, and a GatewayRoute names its gateway by `virtualGatewayRef`.
// A spec that the controller would refuse (its webhooks' rules) is an error naming resource and field.
//   <mesh namespace>/0-namespace.yaml, 1-mesh.yaml, 2-virtual-node-<name>.yaml, 3-virtual-router-<name>.yaml,
//   5-virtual-service-<name>.yaml, 6-virtual-gateway-<name>.yaml, 7-gateway-route-<name>.yaml
import { formatFieldPath, isPlain, type Plain, type ResourceKind } from '../model/common';
import { K8S_API_VERSION } from '../load/dialects';
import { checkGatewayRouteWebhookRules, checkRouteWebhookRules } from '../load/k8s-webhook-rules';
import { resourceLabel, type Resource } from '../model/mesh-model';
import type { Route } from '../model/route';
import { extensionFiles, shortHash, type ExportedFile, type ExportInput, type ExportResult } from './exported';
import { dumpYaml } from './yaml-text';

/** The label on each mesh's Namespace that its Mesh selects. */
export const MESH_LABEL = 'mesh';

const FILE: Partial<Record<ResourceKind, string>> = {
  Mesh: '1-mesh',
  VirtualNode: '2-virtual-node',
  VirtualRouter: '3-virtual-router',
  VirtualService: '5-virtual-service',
  VirtualGateway: '6-virtual-gateway',
  GatewayRoute: '7-gateway-route',
};

/** App Mesh spellings that the controller's CRDs write otherwise (k8s-manifest.ts RENAMED, reversed). */
const RENAMED: Readonly<Record<string, string>> = {
  certificateArn: 'certificateARN',
  certificateAuthorityArns: 'certificateAuthorityARNs',
};

/** `<kind>Name` fields that name another resource, and the kind they name. */
const REFERENCE_FIELDS: Readonly<Record<string, ResourceKind>> = {
  virtualNodeName: 'VirtualNode',
  virtualRouterName: 'VirtualRouter',
  virtualServiceName: 'VirtualService',
};

/**
 * A Kubernetes name for an App Mesh name: kept when it already is one (a DNS-1123 subdomain, or a
 * label for a namespace) and no other name of the same set takes it; else made to fit and given a
 * hash of the App Mesh name, so two names never meet.
 */
class K8sNames {
  private readonly byKey = new Map<string, string>();
  private readonly taken = new Set<string>();

  /**
   * `key` identifies the resource (a gateway route's name is unique only within its gateway);
   * `name` is its App Mesh name.
   */
  constructor(entries: readonly { key: string; name: string }[], max: number) {
    const fits = (n: string) =>
      n.length <= max && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(n) && !(max === 63 && n.includes('.'));
    const count = new Map<string, number>();
    for (const { name } of entries) count.set(name, (count.get(name) ?? 0) + 1);
    // Names that fit are placed first, so a made-up name never takes one that was already right.
    for (const { key, name } of entries) if (fits(name) && count.get(name) === 1) this.assign(key, name);
    for (const { key, name } of entries) {
      if (this.byKey.has(key)) continue;
      const base = name
        .toLowerCase()
        .replace(max === 63 ? /[^a-z0-9-]+/g : /[^a-z0-9.-]+/g, '-')
        .slice(0, max - 9)
        .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
      this.assign(key, `${base === '' ? 'x' : base}-${shortHash(key)}`);
    }
  }

  private assign(key: string, k8sName: string): void {
    if (this.taken.has(k8sName)) throw new NameError(`two resources map to the Kubernetes name '${k8sName}'`);
    this.taken.add(k8sName);
    this.byKey.set(key, k8sName);
  }

  of(key: string): string {
    return this.byKey.get(key)!;
  }
}

/** The key K8sNames knows a resource by: its name, and a gateway route's gateway. */
function nameKey(r: Resource): string {
  return r.kind === 'GatewayRoute' ? `${r.virtualGateway}/${r.name}` : r.name;
}

export function exportK8sManifests(input: ExportInput): ExportResult {
  try {
    return exportOrThrow(input);
  } catch (err) {
    if (err instanceof NameError) return { ok: false, errors: [err.message] };
    throw err;
  }
}

/** Two names that cannot be kept apart in Kubernetes, or a reference to nothing. */
class NameError extends Error {}

function exportOrThrow(input: ExportInput): ExportResult {
  const errors: string[] = [];
  const files: ExportedFile[] = [];
  const resources = input.model.resources;
  const meshes = [...new Set(resources.map((r) => r.mesh))];
  const byName = meshes.map((m) => ({ key: m, name: m }));
  const namespaces = new K8sNames(byName, 63);
  const meshNames = new K8sNames(byName, 253);
  for (const mesh of meshes) {
    const namespace = namespaces.of(mesh);
    const inMesh = resources.filter((r) => r.mesh === mesh);
    // One set of names per kind: Kubernetes names are unique per kind and namespace.
    const names = new Map<ResourceKind, K8sNames>();
    for (const kind of ['VirtualNode', 'VirtualRouter', 'VirtualService', 'VirtualGateway', 'GatewayRoute'] as const) {
      names.set(
        kind,
        new K8sNames(
          inMesh.filter((r) => r.kind === kind).map((r) => ({ key: nameKey(r), name: r.name })),
          253,
        ),
      );
    }
    const refName = (kind: ResourceKind, name: string) => names.get(kind)!.of(name);
    const writer = new SpecWriter(refName, input.model, mesh);
    files.push({
      path: `${namespace}/0-namespace.yaml`,
      text: dumpYaml({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: {
          name: namespace,
          labels: { [MESH_LABEL]: meshNames.of(mesh), 'appmesh.k8s.aws/sidecarInjectorWebhook': 'enabled' },
        },
      }),
    });
    for (const r of inMesh) {
      if (r.kind === 'Route') continue; // inside its VirtualRouter
      const fail = (path: readonly (string | number)[], message: string): void => {
        errors.push(
          `${resourceLabel(r)} (mesh ${mesh}): cannot be written as a Kubernetes manifest: ${formatFieldPath(path)}: ${message}`,
        );
      };
      const k8sName = r.kind === 'Mesh' ? meshNames.of(mesh) : refName(r.kind, nameKey(r));
      let spec: Plain;
      if (r.kind === 'Mesh') {
        const { serviceDiscovery, ...rest } = r.spec as Plain;
        spec = {
          awsName: r.name,
          namespaceSelector: { matchLabels: { [MESH_LABEL]: meshNames.of(mesh) } },
          ...(writer.translate(rest, []) as Plain),
          ...(serviceDiscovery !== undefined
            ? { meshServiceDiscovery: writer.translate(serviceDiscovery, ['serviceDiscovery']) }
            : {}),
        };
      } else if (r.kind === 'VirtualRouter') {
        const routes = input.model.routesOf(mesh, r.name).map((route: Route) => {
          checkRouteWebhookRules(route.spec as Plain, ['spec'], (path, message) =>
            errors.push(
              `${resourceLabel(route)} (mesh ${mesh}): cannot be written as a Kubernetes manifest: ${formatFieldPath(path)}: ${message}`,
            ),
          );
          return { name: route.name, ...(writer.translate(route.spec, []) as Plain) };
        });
        spec = { awsName: r.name, ...(writer.translate(r.spec, []) as Plain), ...(routes.length ? { routes } : {}) };
      } else if (r.kind === 'GatewayRoute') {
        checkGatewayRouteWebhookRules(r.spec as Plain, ['spec'], fail);
        spec = {
          awsName: r.name,
          virtualGatewayRef: { name: refName('VirtualGateway', r.virtualGateway) },
          ...(writer.translate(r.spec, []) as Plain),
        };
      } else if (r.kind === 'VirtualGateway') {
        spec = {
          awsName: r.name,
          namespaceSelector: { matchLabels: { [MESH_LABEL]: meshNames.of(mesh) } },
          ...(writer.translate(r.spec, []) as Plain),
        };
      } else {
        spec = { awsName: r.name, ...(writer.translate(r.spec, []) as Plain) };
      }
      files.push({
        path: `${namespace}/${FILE[r.kind]!}${r.kind === 'Mesh' ? '' : `-${k8sName}`}.yaml`,
        text: dumpYaml({
          apiVersion: K8S_API_VERSION,
          kind: r.kind,
          metadata: { name: k8sName, ...(r.kind === 'Mesh' ? {} : { namespace }) },
          spec,
        }),
      });
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, files: [...files, ...extensionFiles(input)] };
}

/** Rewrites an App Mesh spec subtree in the controller's spellings. */
class SpecWriter {
  constructor(
    private readonly refName: (kind: ResourceKind, name: string) => string,
    private readonly model: ExportInput['model'],
    private readonly mesh: string,
  ) {}

  translate(value: unknown, apiPath: readonly (string | number)[]): unknown {
    if (Array.isArray(value)) return value.map((item, i) => this.translate(item, [...apiPath, i]));
    if (!isPlain(value)) return value;
    const out: Plain = {};
    const inTargets = apiPath.includes('weightedTargets');
    for (const [key, v] of Object.entries(value)) {
      const kind = inTargets && key === 'virtualNode' ? 'VirtualNode' : REFERENCE_FIELDS[key];
      if (kind !== undefined && typeof v === 'string') {
        const base = kind[0]!.toLowerCase() + kind.slice(1);
        setOwn(out, `${base}Ref`, { name: this.ref(kind, v) });
        continue;
      }
      setOwn(out, Object.hasOwn(RENAMED, key) ? RENAMED[key]! : key, this.translate(v, [...apiPath, key]));
    }
    return out;
  }

  private ref(kind: ResourceKind, name: string): string {
    const defined =
      kind === 'VirtualNode'
        ? this.model.virtualNode(this.mesh, name)
        : kind === 'VirtualRouter'
          ? this.model.virtualRouter(this.mesh, name)
          : this.model.virtualService(this.mesh, name);
    if (!defined) throw new NameError(`${kind}/${name} is referenced but not in mesh '${this.mesh}'`);
    return this.refName(kind, name);
  }
}

/** An own property even for a key named `__proto__`. */
function setOwn(target: Plain, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
