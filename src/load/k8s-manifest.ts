// The Kubernetes dialect: manifests of the App Mesh controller (apiVersion appmesh.k8s.aws/v1beta2).
// They say the same as the App Mesh API with Kubernetes spellings: references are `…Ref`
// {name, namespace} or `…ARN`, names default to `name_namespace` (`name.namespace` for virtual
// services), routes sit inline in their VirtualRouter, and membership in a mesh or gateway comes
// from meshRef/virtualGatewayRef or label selectors. This module rewrites each manifest into the
// App Mesh shape and records where every renamed field was written, so messages point at the manifest.
import { isPlain, type FieldPath, type Plain, type ResourceKind } from '../model/common';
import { compare } from '../model/mesh-model';
import { appendAll } from './append-all';
import { K8S_API_VERSION } from './dialects';
import { checkGatewayRouteWebhookRules, checkRouteWebhookRules } from './k8s-webhook-rules';
import { Origin, type PathRule } from './origin';
import { formatFieldPath, inputText, type Problem } from './problems';
import type { ResourceDraft } from './resource-draft';
import type { ParsedDocument } from './yaml-documents';

const K8S_KINDS: readonly ResourceKind[] = [
  'Mesh',
  'VirtualService',
  'VirtualNode',
  'VirtualRouter',
  'VirtualGateway',
  'GatewayRoute',
];

/** One App Mesh manifest, or a Namespace (whose labels decide mesh membership). */
export interface K8sObject {
  readonly kind: ResourceKind | 'Namespace';
  readonly name: string;
  /** Empty for cluster-scoped kinds (Mesh, Namespace). */
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly spec: Plain;
  readonly doc: ParsedDocument;
}

/** Reads the envelope of a manifest; undefined (with a problem, or an info line) when it is not one meshd reads. */
export function k8sObjectOf(doc: ParsedDocument, problems: Problem[]): K8sObject | undefined {
  const value = doc.value as Plain;
  const error = (path: FieldPath, message: string) =>
    problems.push({ severity: 'error', location: doc.locate(path), message, field: formatFieldPath(path) });
  const metadata = isPlain(value.metadata) ? value.metadata : {};
  const name = metadata.name;
  const kind = value.kind;
  if (value.apiVersion !== K8S_API_VERSION) {
    error(['apiVersion'], `only ${K8S_API_VERSION} manifests are read, got ${JSON.stringify(value.apiVersion)}`);
    return undefined;
  }
  if (!K8S_KINDS.includes(kind as ResourceKind)) {
    problems.push({
      severity: 'info',
      location: doc.locate([]),
      message: `skipping ${inputText(kind)}/${inputText(name ?? '?')}: meshd does not read this App Mesh controller kind`,
    });
    return undefined;
  }
  if (typeof name !== 'string' || name === '') {
    error(['metadata', 'name'], 'required field is missing');
    return undefined;
  }
  if (value.spec !== undefined && !isPlain(value.spec)) {
    error(['spec'], 'must be a mapping');
    return undefined;
  }
  const namespace = kind === 'Mesh' ? '' : typeof metadata.namespace === 'string' ? metadata.namespace : 'default';
  return {
    kind: kind as ResourceKind,
    name,
    namespace,
    labels: labelsOf(metadata),
    spec: (value.spec as Plain) ?? {},
    doc,
  };
}

/** A Namespace manifest from the same input, for mesh selection. */
export function namespaceObjectOf(doc: ParsedDocument): K8sObject | undefined {
  const value = doc.value as Plain;
  const metadata = isPlain(value.metadata) ? value.metadata : {};
  if (value.kind !== 'Namespace' || typeof metadata.name !== 'string') return undefined;
  return { kind: 'Namespace', name: metadata.name, namespace: '', labels: labelsOf(metadata), spec: {}, doc };
}

/**
 * What each manifest read to last time, kept from one load to the next (`meshd serve`): a manifest
 * is read again only when it is a new object or one of the other manifests it looked at differs.
 */
export class K8sReadCache {
  readonly read = new WeakMap<
    K8sObject,
    { readonly lookups: readonly IndexLookup[]; readonly drafts: ResourceDraft[]; readonly problems: Problem[] }
  >();
}

/** Turns every manifest into drafts in App Mesh terms (a VirtualRouter yields itself and its routes). */
export function readK8sObjects(
  objects: readonly K8sObject[],
  problems: Problem[],
  cache?: K8sReadCache,
): ResourceDraft[] {
  const index = new K8sIndex(objects);
  const drafts: ResourceDraft[] = [];
  for (const object of objects) {
    if (object.kind === 'Namespace') continue;
    const known = cache?.read.get(object);
    if (known && known.lookups.every((l) => l.answers(index))) {
      appendAll(problems, known.problems);
      appendAll(drafts, known.drafts);
      continue;
    }
    const own: Problem[] = [];
    const lookups: IndexLookup[] = [];
    const read = new ManifestReader(object, new RecordingIndex(index, lookups), own).read();
    cache?.read.set(object, { lookups, drafts: read, problems: own });
    appendAll(problems, own);
    appendAll(drafts, read);
  }
  return drafts;
}

/** One look-up a manifest made in the index, and whether another index gives the same answer. */
interface IndexLookup {
  answers(index: K8sIndex): boolean;
}

type IndexView = Pick<K8sIndex, 'get' | 'namespaceLabels' | 'meshes' | 'gateways'>;

const sameObjects = (a: readonly K8sObject[], b: readonly K8sObject[]) =>
  a.length === b.length && a.every((o, i) => b[i] === o);

/** What ManifestReader uses of a manifest get() finds: whether there is one, and its App Mesh name. */
const nameOf = (o: K8sObject | undefined): string | undefined => (o === undefined ? undefined : `=${awsNameOf(o)}`);

/** The index, noting each look-up with its answer. */
class RecordingIndex implements IndexView {
  constructor(
    private readonly index: K8sIndex,
    private readonly noted: IndexLookup[],
  ) {}

  get(kind: string, namespace: string, name: string): K8sObject | undefined {
    const answer = this.index.get(kind, namespace, name);
    // A manifest uses what get() finds only through its App Mesh name (resolveRef, meshOf): another
    // manifest of the same name (the file of the service it calls changed, say) is the same answer.
    const found = nameOf(answer);
    this.noted.push({ answers: (other) => nameOf(other.get(kind, namespace, name)) === found });
    return answer;
  }

  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined {
    const answer = this.index.namespaceLabels(namespace);
    this.noted.push({ answers: (other) => other.namespaceLabels(namespace) === answer });
    return answer;
  }

  get meshes(): K8sObject[] {
    const answer = this.index.meshes;
    this.noted.push({ answers: (other) => sameObjects(other.meshes, answer) });
    return answer;
  }

  get gateways(): K8sObject[] {
    const answer = this.index.gateways;
    this.noted.push({ answers: (other) => sameObjects(other.gateways, answer) });
    return answer;
  }
}

/** What refs resolve against: every manifest by kind, namespace and name. */
class K8sIndex {
  private readonly byKey = new Map<string, K8sObject>();
  readonly meshes: K8sObject[];
  readonly gateways: K8sObject[];

  constructor(objects: readonly K8sObject[]) {
    for (const o of objects) this.byKey.set(`${o.kind}/${o.namespace}/${o.name}`, o);
    this.meshes = objects.filter((o) => o.kind === 'Mesh');
    this.gateways = objects.filter((o) => o.kind === 'VirtualGateway');
  }

  get(kind: string, namespace: string, name: string): K8sObject | undefined {
    return this.byKey.get(`${kind}/${namespace}/${name}`);
  }

  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined {
    return this.byKey.get(`Namespace//${namespace}`)?.labels;
  }
}

/** The App Mesh name of a manifest: spec.awsName, else the controller's default. */
export function awsNameOf(o: Pick<K8sObject, 'kind' | 'name' | 'namespace' | 'spec'>): string {
  if (typeof o.spec.awsName === 'string' && o.spec.awsName !== '') return o.spec.awsName;
  if (o.kind === 'Mesh') return o.name;
  return o.kind === 'VirtualService' ? `${o.name}.${o.namespace}` : `${o.name}_${o.namespace}`;
}

/** Fields only Kubernetes has; they say nothing App Mesh needs (k8s/k8s-shape-schema.ts puts them into the CRDs). */
export const K8S_ONLY_FIELDS: readonly string[] = [
  'awsName',
  'meshRef',
  'podSelector',
  'namespaceSelector',
  'gatewayRouteSelector',
  'virtualGatewayRef',
  'meshOwner',
];

/** Kubernetes spellings of App Mesh fields that are otherwise the same. */
export const RENAMED: Readonly<Record<string, string>> = {
  certificateARN: 'certificateArn',
  certificateAuthorityARNs: 'certificateAuthorityArns',
  meshServiceDiscovery: 'serviceDiscovery',
};

/** `…Ref`/`…ARN` pairs and the kind they name. */
export const REFERENCES: Readonly<Record<string, { kind: ResourceKind; type: string }>> = {
  virtualNode: { kind: 'VirtualNode', type: 'virtualNode' },
  virtualRouter: { kind: 'VirtualRouter', type: 'virtualRouter' },
  virtualService: { kind: 'VirtualService', type: 'virtualService' },
};

/**
 * The App Mesh field a `<base>Ref`/`<base>ARN` pair stands for, in the object at `apiPath`: a
 * weighted target names its node as `virtualNode`; everywhere else the field is `<kind>Name`.
 */
export function referenceApiKey(base: string, apiPath: readonly (string | number)[]): string {
  return apiPath.includes('weightedTargets') ? base : `${base}Name`;
}

/** Stands in for a reference that could not be resolved (already reported), so it is not reported again as missing. */
const UNRESOLVED = '?';

class ManifestReader {
  private readonly rules: PathRule[] = [];
  /** Set once a problem was reported: the drafts are still checked, but yield no resources. */
  private failed = false;

  constructor(
    private readonly o: K8sObject,
    private readonly index: IndexView,
    private readonly problems: Problem[],
  ) {}

  read(): ResourceDraft[] {
    const { o } = this;
    const mesh = this.meshOf();
    const nameAt: FieldPath = typeof o.spec.awsName === 'string' ? ['spec', 'awsName'] : ['metadata', 'name'];
    const envelope: PathRule[] = [
      { from: ['name'], to: nameAt },
      { from: ['mesh'], to: o.spec.meshRef !== undefined ? ['spec', 'meshRef'] : ['metadata'] },
    ];
    if (o.kind === 'VirtualRouter') return this.readRouter(mesh, envelope);

    const { backendGroups, ...rest } = o.spec;
    if (o.kind === 'VirtualNode' && Array.isArray(backendGroups) && backendGroups.length > 0) {
      this.error(
        ['spec', 'backendGroups'],
        'backendGroups are not supported; list the services under backends instead',
      );
    }
    if (o.kind === 'GatewayRoute') checkGatewayRouteWebhookRules(o.spec, ['spec'], this.error.bind(this));
    const spec = this.translate(withoutK8sFields(o.kind === 'VirtualNode' ? rest : o.spec), ['spec'], ['spec']);
    const parent = o.kind === 'GatewayRoute' ? (this.gatewayOf() ?? { name: '?', at: ['metadata'] }) : undefined;
    if (parent) envelope.push({ from: ['parent'], to: parent.at });
    const origin = new Origin(o.doc, [...envelope, ...this.rules]);
    return [
      {
        kind: o.kind as ResourceKind,
        rejected: this.failed,
        name: awsNameOf(o),
        mesh,
        spec,
        origin,
        prunesUnknownFields: true,
        meshdExtension: true,
        ...(parent ? { parent: parent.name } : {}),
      },
    ];
  }

  /** A VirtualRouter manifest: the router, and each of spec.routes[] as a Route of its own. */
  private readRouter(mesh: string | undefined, envelope: PathRule[]): ResourceDraft[] {
    const { o } = this;
    const routerName = awsNameOf(o);
    const { routes, ...rest } = o.spec;
    const spec = this.translate(withoutK8sFields(rest), ['spec'], ['spec']);
    const drafts: ResourceDraft[] = [
      {
        kind: 'VirtualRouter',
        rejected: this.failed,
        name: routerName,
        mesh,
        spec,
        origin: new Origin(o.doc, [...envelope, ...this.rules]),
        prunesUnknownFields: true,
        meshdExtension: true,
      },
    ];

    if (routes === undefined) return drafts;
    if (!Array.isArray(routes)) {
      this.error(['spec', 'routes'], 'must be a list');
      return drafts;
    }
    routes.forEach((route, i) => {
      const at: FieldPath = ['spec', 'routes', i];
      if (!isPlain(route)) return this.error(at, 'must be a mapping');
      const { name, ...body } = route;
      this.rules.length = 0;
      this.failed = false;
      checkRouteWebhookRules(body, at, this.error.bind(this));
      const routeSpec = this.translate(body, at, ['spec']);
      const rules: PathRule[] = [
        { from: [], to: at },
        { from: ['spec'], to: at },
        { from: ['name'], to: [...at, 'name'] },
        { from: ['parent'], to: envelope[0]!.to },
        { from: ['mesh'], to: envelope[1]!.to },
        ...this.rules,
      ];
      drafts.push({
        kind: 'Route',
        rejected: this.failed,
        name,
        parent: routerName,
        mesh,
        spec: routeSpec,
        origin: new Origin(o.doc, rules),
        prunesUnknownFields: true,
        meshdExtension: true,
      });
    });
    return drafts;
  }

  /** Copies a spec subtree, turning Kubernetes spellings into App Mesh ones and noting where each was written. */
  private translate(value: unknown, docPath: FieldPath, apiPath: FieldPath): unknown {
    if (Array.isArray(value)) return value.map((item, i) => this.translate(item, [...docPath, i], [...apiPath, i]));
    if (!isPlain(value)) return value;
    const out: Plain = {};
    const handled = new Set<string>();
    for (const [base, ref] of Object.entries(REFERENCES)) {
      const refKey = `${base}Ref`;
      const arnKey = `${base}ARN`;
      if (!(refKey in value) && !(arnKey in value)) continue;
      handled.add(refKey).add(arnKey);
      const apiKey = referenceApiKey(base, apiPath);
      const used = refKey in value ? refKey : arnKey;
      if (refKey in value && arnKey in value) this.error([...docPath, arnKey], `set ${refKey} or ${arnKey}, not both`);
      this.rules.push({ from: [...apiPath, apiKey], to: [...docPath, used] });
      setOwn(
        out,
        apiKey,
        used === refKey
          ? this.resolveRef(value[refKey], ref.kind, [...docPath, refKey])
          : this.resolveArn(value[arnKey], ref.type, [...docPath, arnKey]),
      );
    }
    for (const [key, v] of Object.entries(value)) {
      if (handled.has(key)) continue;
      const apiKey = Object.hasOwn(RENAMED, key) ? RENAMED[key]! : key;
      if (apiKey !== key) this.rules.push({ from: [...apiPath, apiKey], to: [...docPath, key] });
      setOwn(out, apiKey, this.translate(v, [...docPath, key], [...apiPath, apiKey]));
    }
    return out;
  }

  /**
   * `{name, namespace}` → the App Mesh name of that manifest (the controller's default when it is not in the input).
   */
  private resolveRef(ref: unknown, kind: ResourceKind, at: FieldPath): string {
    if (!isPlain(ref) || typeof ref.name !== 'string') {
      this.error(at, 'must be a mapping with a name (and optionally a namespace)');
      return UNRESOLVED;
    }
    const namespace = typeof ref.namespace === 'string' ? ref.namespace : this.o.namespace;
    const target = this.index.get(kind, namespace, ref.name);
    return target ? awsNameOf(target) : awsNameOf({ kind, name: ref.name, namespace, spec: {} });
  }

  /** `arn:aws:appmesh:<region>:<account>:mesh/<mesh>/<type>/<name>` → name. */
  private resolveArn(arn: unknown, type: string, at: FieldPath): string {
    const match =
      typeof arn === 'string' ? /^arn:[^:]+:appmesh:[^:]*:[^:]*:mesh\/[^/]+\/([^/]+)\/([^/]+)$/.exec(arn) : null;
    if (!match) {
      this.error(
        at,
        `must be an App Mesh ARN (arn:aws:appmesh:<region>:<account>:mesh/<mesh>/${type}/<name>), got ${JSON.stringify(arn)}`,
      );
      return UNRESOLVED;
    }
    if (match[1] !== type) {
      this.error(at, `names a ${match[1]}, but a ${type} is expected here`);
      return UNRESOLVED;
    }
    return match[2]!;
  }

  /**
   * meshRef, else the one mesh whose namespaceSelector takes this namespace
   * (when the Namespace is in the input), else undefined (the default mesh).
   */
  private meshOf(): string | undefined {
    const { index } = this;
    const found = meshOfManifest(this.o, {
      mesh: (name) => index.get('Mesh', '', name),
      meshes: () => index.meshes,
      namespaceLabels: (namespace) => index.namespaceLabels(namespace),
    });
    if (found.error) this.error(found.error.path, found.error.message);
    return found.mesh;
  }

  /** virtualGatewayRef, else the one VirtualGateway whose selectors take this GatewayRoute. */
  private gatewayOf(): { name: string; at: FieldPath } | undefined {
    const { o, index } = this;
    const ref = o.spec.virtualGatewayRef;
    if (ref !== undefined) {
      return {
        name: this.resolveRef(ref, 'VirtualGateway', ['spec', 'virtualGatewayRef']),
        at: ['spec', 'virtualGatewayRef'],
      };
    }
    const nsLabels = index.namespaceLabels(o.namespace);
    const matching = index.gateways.filter(
      (g) =>
        (g.spec.gatewayRouteSelector === undefined || selects(g.spec.gatewayRouteSelector, o.labels)) &&
        // Without the Namespace manifest its labels are unknown; then a gateway's namespaceSelector is not applied.
        (nsLabels === undefined ||
          (g.spec.namespaceSelector !== undefined && selects(g.spec.namespaceSelector, nsLabels))),
    );
    if (matching.length === 1) return { name: awsNameOf(matching[0]!), at: ['metadata'] };
    this.error(
      ['metadata'],
      matching.length === 0
        ? 'no VirtualGateway in the input selects this GatewayRoute (by gatewayRouteSelector and namespaceSelector); set spec.virtualGatewayRef'
        : `several VirtualGateways select this GatewayRoute (${matching
            .map((g) => g.name)
            .sort(compare)
            .join(', ')}); set spec.virtualGatewayRef`,
    );
    return undefined;
  }

  private error(path: FieldPath, message: string): void {
    this.failed = true;
    this.problems.push({
      severity: 'error',
      location: this.o.doc.locate(path),
      resource: `${this.o.kind}/${awsNameOf(this.o)}`,
      message,
      field: formatFieldPath(path),
    });
  }
}

/** A manifest as far as its App Mesh name and mesh go. */
export type NamedManifest = Pick<K8sObject, 'kind' | 'name' | 'namespace' | 'spec'>;

/** Where meshOfManifest looks: the Mesh manifests, and the labels of each Namespace (when it is known). */
export interface MeshLookup {
  mesh(name: string): NamedManifest | undefined;
  meshes(): readonly NamedManifest[];
  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined;
}

/**
 * The App Mesh name of a manifest's mesh: meshRef, else the one Mesh whose namespaceSelector takes its
 * namespace (when the Namespace is known), else none (the default mesh). The loader and the injection
 * webhook both ask it, so a pod is injected for the mesh its VirtualNode is loaded into.
 */
export function meshOfManifest(
  o: Pick<K8sObject, 'kind' | 'namespace' | 'spec'>,
  lookup: MeshLookup,
): { readonly mesh?: string; readonly error?: { readonly path: FieldPath; readonly message: string } } {
  if (o.kind === 'Mesh') return {};
  const ref = o.spec.meshRef;
  if (ref !== undefined) {
    if (!isPlain(ref) || typeof ref.name !== 'string')
      return { error: { path: ['spec', 'meshRef'], message: 'must be a mapping with the name of a Mesh' } };
    const mesh = lookup.mesh(ref.name);
    return { mesh: mesh ? awsNameOf(mesh) : ref.name };
  }
  const labels = lookup.namespaceLabels(o.namespace);
  if (!labels) return {};
  // By App Mesh name: one mesh declared in several manifests (one per cluster) is one mesh, not several.
  const matching = [
    ...new Set(
      lookup
        .meshes()
        .filter((m) => m.spec.namespaceSelector !== undefined && selects(m.spec.namespaceSelector, labels))
        .map(awsNameOf),
    ),
  ];
  if (matching.length > 1)
    return {
      error: {
        path: ['metadata'],
        message: `several meshes select namespace '${o.namespace}' (${matching.sort(compare).join(', ')}); set spec.meshRef or narrow their namespaceSelectors`,
      },
    };
  return matching.length === 1 ? { mesh: matching[0]! } : {};
}

/** A Kubernetes label selector (matchLabels and matchExpressions) against a set of labels. */
export function selects(selector: unknown, labels: Readonly<Record<string, string>>): boolean {
  if (!isPlain(selector)) return false;
  const matchLabels = isPlain(selector.matchLabels) ? selector.matchLabels : {};
  if (!Object.entries(matchLabels).every(([k, v]) => Object.hasOwn(labels, k) && labels[k] === inputText(v)))
    return false;
  const expressions = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
  return expressions.every((e: unknown) => {
    if (!isPlain(e) || typeof e.key !== 'string') return false;
    const values = Array.isArray(e.values) ? e.values.map(String) : [];
    const has = Object.hasOwn(labels, e.key); // a label, not a member every object inherits (`constructor`)
    switch (e.operator) {
      case 'In':
        return has && values.includes(labels[e.key]!);
      case 'NotIn':
        return !has || !values.includes(labels[e.key]!);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
      default:
        return false;
    }
  });
}

function withoutK8sFields(spec: Plain): Plain {
  return Object.fromEntries(Object.entries(spec).filter(([key]) => !K8S_ONLY_FIELDS.includes(key)));
}

function labelsOf(metadata: Plain): Record<string, string> {
  const labels = isPlain(metadata.labels) ? metadata.labels : {};
  return Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, inputText(v)]));
}

/**
 * Sets an own property, even one a manifest names `__proto__`: plain assignment would make
 * that key the object's prototype, whose fields the spec would then seem to have while
 * validation, seeing no own field, let them through.
 */
function setOwn(target: Plain, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
