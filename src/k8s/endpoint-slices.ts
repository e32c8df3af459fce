// A virtual node's endpoints from the cluster (`meshd serve --kubernetes-endpoints`): the ready
// addresses the EndpointSlices list for the pods its podSelector selects in its namespace. The
// integrator feeds it the informers' contents (VirtualNodes, Pods, EndpointSlices) as plain
// arrays; it answers compile's workloadEndpoints (compile/cloud-map-view.ts) and announces the
// workloadEndpointsKeys of the nodes whose endpoints changed, so only their callers recompile.
//
// Everything read here comes from the API server and is treated as hostile: shapes are checked
// field by field, a slice's address must be of its addressType (never an FQDN) and, when the pod
// reports its IPs, one of them; a slice only speaks for pods of its own namespace; each node's list
// is capped. Nothing here throws out of update().
import { isIPv4, isIPv6 } from 'node:net';
import { workloadEndpointsKey, type WorkloadEndpoint } from '../compile/cloud-map-view';
import { selects } from '../load/k8s-manifest';
import { compare } from '../model/mesh-model';
import { sameItems } from '../util/same-items';
import type { Logger } from '../util/log';
import type { KubeObject } from './kube-api';

/** The most endpoints one virtual node gets; beyond, the lowest addresses are kept and it is logged once. */
export const DEFAULT_MAX_ENDPOINTS_PER_NODE = 5_000;
/** Kubernetes allows at most 1,000 endpoints in a slice; more is not a slice the API server wrote. */
const MAX_ENDPOINTS_PER_SLICE = 1_000;
/** Changed nodes logged one line each per update; beyond, a count. */
const MAX_CHANGE_LINES = 20;

/** The App Mesh name of a VirtualNode object. */
export interface VirtualNodeIdentity {
  readonly mesh: string;
  readonly name: string;
}

export interface WorkloadEndpointsOptions {
  /** The App Mesh mesh and name of a VirtualNode object; undefined: not served (its endpoints are not looked for). */
  readonly identify: (virtualNode: KubeObject) => VirtualNodeIdentity | undefined;
  /** Default DEFAULT_MAX_ENDPOINTS_PER_NODE. */
  readonly maxEndpointsPerNode?: number;
  readonly log?: Pick<Logger, 'warn' | 'info'>;
}

/**
 * The informers' current contents; a missing list keeps the one given before. Objects are taken as
 * immutable, as informers hand them: a changed object must be a new object (each is parsed once).
 */
export interface WorkloadInputs {
  readonly virtualNodes?: readonly KubeObject[];
  readonly pods?: readonly KubeObject[];
  readonly slices?: readonly KubeObject[];
}

interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** status.podIPs (or podIP); empty when it reports none. */
  readonly ips: ReadonlySet<string>;
}

interface NamespacePods {
  /** The parsed pods, in the order given: the same items mean the same index. */
  readonly members: readonly PodInfo[];
  /** `key\0value` → the pods with that label. */
  readonly byLabel: Map<string, PodInfo[]>;
}

/** What one slice says: the pods it lists and the ready address of each it may send. */
interface ParsedSlice {
  readonly namespace: string;
  readonly listed: readonly string[];
  readonly ready: readonly (readonly [pod: string, address: string])[];
}

interface NamespaceSlices {
  readonly members: readonly ParsedSlice[];
  /** Pod name → the addresses ready endpoints give it. */
  readonly ready: Map<string, Set<string>>;
  /** Pods some slice lists (ready or not). */
  readonly listed: Set<string>;
}

/** A VirtualNode's last result: reused while it, its identity, and its namespace's pods and slices are the same. */
interface NodeResult {
  readonly key: string;
  readonly endpoints: readonly WorkloadEndpoint[];
  /** The once-only messages it gave (keys of `said`). */
  readonly said: readonly string[];
}

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);
const objectName = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** A pod's labels: string values only. */
function labelsOf(o: KubeObject): Record<string, string> {
  const labels: Record<string, string> = {};
  const given: unknown = o.metadata.labels;
  if (!isPlain(given)) return labels;
  for (const [k, v] of Object.entries(given)) if (typeof v === 'string') labels[k] = v;
  return labels;
}

function podIpsOf(o: KubeObject): Set<string> {
  const ips = new Set<string>();
  const status = o.status;
  if (!isPlain(status)) return ips;
  if (Array.isArray(status.podIPs))
    for (const entry of status.podIPs.slice(0, 8))
      if (isPlain(entry) && typeof entry.ip === 'string') ips.add(entry.ip);
  if (typeof status.podIP === 'string') ips.add(status.podIP);
  return ips;
}

function parsePod(pod: KubeObject): PodInfo | undefined {
  const meta: unknown = pod.metadata;
  if (!isPlain(meta) || typeof meta.namespace !== 'string' || typeof meta.name !== 'string') return undefined;
  return { namespace: meta.namespace, name: meta.name, labels: labelsOf(pod), ips: podIpsOf(pod) };
}

function parseSlice(slice: KubeObject): ParsedSlice | undefined {
  const meta: unknown = slice.metadata;
  if (!isPlain(meta) || typeof meta.namespace !== 'string') return undefined;
  const namespace = meta.namespace;
  const family = slice.addressType === 'IPv4' ? isIPv4 : slice.addressType === 'IPv6' ? isIPv6 : undefined;
  // FQDN slices (and any other type) name no address a proxy can be sent.
  if (!family || !Array.isArray(slice.endpoints)) return undefined;
  const listed: string[] = [];
  const ready: [string, string][] = [];
  for (const endpoint of slice.endpoints.slice(0, MAX_ENDPOINTS_PER_SLICE)) {
    if (!isPlain(endpoint)) continue;
    const ref = endpoint.targetRef;
    if (!isPlain(ref) || ref.kind !== 'Pod' || typeof ref.name !== 'string') continue;
    // A slice speaks only for pods of its own namespace.
    if (ref.namespace !== undefined && ref.namespace !== namespace) continue;
    listed.push(ref.name);
    const conditions = isPlain(endpoint.conditions) ? endpoint.conditions : {};
    // Kubernetes: an unset `ready` means ready; a terminating endpoint is never ready.
    if (conditions.ready === false || conditions.terminating === true) continue;
    // The addresses of a Pod endpoint are fungible: consumers may use the first only.
    const address: unknown = Array.isArray(endpoint.addresses) ? endpoint.addresses[0] : undefined;
    if (typeof address !== 'string' || !family(address)) continue;
    ready.push([ref.name, address]);
  }
  return { namespace, listed, ready };
}

/** Each object parsed once (informers hand the same object until it changes). */
function parsedAll<T extends { readonly namespace: string }>(
  objects: readonly KubeObject[],
  cache: WeakMap<KubeObject, T | null>,
  parse: (o: KubeObject) => T | undefined,
): Map<string, T[]> {
  const byNamespace = new Map<string, T[]>();
  for (const o of objects) {
    let parsed = cache.get(o);
    if (parsed === undefined) {
      parsed = (isPlain(o) ? parse(o) : undefined) ?? null;
      if (isPlain(o)) cache.set(o, parsed);
    }
    if (!parsed) continue;
    let list = byNamespace.get(parsed.namespace);
    if (!list) byNamespace.set(parsed.namespace, (list = []));
    list.push(parsed);
  }
  return byNamespace;
}

function indexPods(members: readonly PodInfo[]): NamespacePods {
  const byLabel = new Map<string, PodInfo[]>();
  for (const info of members)
    for (const [k, v] of Object.entries(info.labels)) {
      const key = `${k}\0${v}`;
      let list = byLabel.get(key);
      if (!list) byLabel.set(key, (list = []));
      list.push(info);
    }
  return { members, byLabel };
}

function indexSlices(members: readonly ParsedSlice[]): NamespaceSlices {
  const ready = new Map<string, Set<string>>();
  const listed = new Set<string>();
  for (const slice of members) {
    for (const pod of slice.listed) listed.add(pod);
    for (const [pod, address] of slice.ready) {
      let set = ready.get(pod);
      if (!set) ready.set(pod, (set = new Set()));
      set.add(address);
    }
  }
  return { members, ready, listed };
}

/**
 * The new per-namespace index: a namespace whose parsed members are the same items keeps its index;
 * the others (and those gone) are added to `dirty`.
 */
function reindex<T, I extends { readonly members: readonly T[] }>(
  previous: ReadonlyMap<string, I>,
  grouped: ReadonlyMap<string, T[]>,
  index: (members: readonly T[]) => I,
  dirty: Set<string>,
): Map<string, I> {
  const next = new Map<string, I>();
  for (const [namespace, members] of grouped) {
    const before = previous.get(namespace);
    if (before && sameItems(before.members, members)) next.set(namespace, before);
    else {
      next.set(namespace, index(members));
      dirty.add(namespace);
    }
  }
  for (const namespace of previous.keys()) if (!grouped.has(namespace)) dirty.add(namespace);
  return next;
}

const sameAddresses = (a: readonly WorkloadEndpoint[], b: readonly string[]) =>
  a.length === b.length && a.every((e, i) => e.address === b[i]);

export class WorkloadEndpoints {
  private virtualNodes: readonly KubeObject[] = [];
  private pods = new Map<string, NamespacePods>();
  private slices = new Map<string, NamespaceSlices>();
  private readonly parsedPods = new WeakMap<KubeObject, PodInfo | null>();
  private readonly parsedSlices = new WeakMap<KubeObject, ParsedSlice | null>();
  /** Each VirtualNode object's last result. */
  private results = new WeakMap<KubeObject, NodeResult>();
  /** Whether slices were ever given (before, no node is said to lack them). */
  private slicesKnown = false;
  /** workloadEndpointsKey → the node's endpoints; a node without a podSelector is not here. */
  private endpoints = new Map<string, readonly WorkloadEndpoint[]>();
  /** workloadEndpointsKey → `mesh/name`, for the log. */
  private labels = new Map<string, string>();
  private readonly listeners: ((changed: ReadonlySet<string>) => void)[] = [];
  /** What was logged once (a key per node and problem), until the problem goes. */
  private said = new Set<string>();
  private readonly max: number;

  constructor(private readonly options: WorkloadEndpointsOptions) {
    this.max = options.maxEndpointsPerNode ?? DEFAULT_MAX_ENDPOINTS_PER_NODE;
  }

  /** The node's ready pod addresses, sorted; undefined: not a VirtualNode with a podSelector that this meshd knows. */
  workloadEndpoints(mesh: string, virtualNode: string): readonly WorkloadEndpoint[] | undefined {
    return this.endpoints.get(workloadEndpointsKey(mesh, virtualNode));
  }

  /** Called with the workloadEndpointsKeys of the nodes whose endpoints changed (appeared, went, or differ). */
  onChange(listener: (changed: ReadonlySet<string>) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const at = this.listeners.indexOf(listener);
      if (at >= 0) this.listeners.splice(at, 1);
    };
  }

  /** Takes the informers' current contents (a missing list stays as it was), recomputes, and announces what changed. */
  update(inputs: WorkloadInputs): void {
    const dirty = new Set<string>();
    if (inputs.virtualNodes) this.virtualNodes = inputs.virtualNodes;
    if (inputs.pods)
      this.pods = reindex(this.pods, parsedAll(inputs.pods, this.parsedPods, parsePod), indexPods, dirty);
    if (inputs.slices) {
      const grouped = parsedAll(inputs.slices, this.parsedSlices, parseSlice);
      this.slices = reindex(this.slices, grouped, indexSlices, dirty);
      if (!this.slicesKnown) for (const namespace of this.pods.keys()) dirty.add(namespace);
      this.slicesKnown = true;
    }
    const next = this.compute(dirty);
    const changed = new Set<string>();
    for (const [key, list] of next) {
      const before = this.endpoints.get(key);
      if (before !== list) changed.add(key);
    }
    for (const key of this.endpoints.keys()) if (!next.has(key)) changed.add(key);
    this.endpoints = next;
    if (changed.size === 0) return;
    this.describe(changed);
    for (const listener of [...this.listeners]) {
      try {
        listener(changed);
      } catch (err) {
        this.options.log?.warn(`kubernetes endpoints: a change listener failed: ${(err as Error).message}`);
      }
    }
  }

  /** One line per changed node (at most MAX_CHANGE_LINES, then a count), as Cloud Map changes are logged. */
  private describe(changed: ReadonlySet<string>): void {
    const log = this.options.log;
    if (!log) return;
    let lines = 0;
    for (const key of changed) {
      if (lines++ === MAX_CHANGE_LINES) {
        log.info(`kubernetes endpoints: and ${changed.size - MAX_CHANGE_LINES} more virtual node(s) changed`);
        break;
      }
      const list = this.endpoints.get(key);
      const node = this.labels.get(key) ?? key;
      log.info(
        list
          ? `kubernetes endpoints: virtual node ${node} now has ${list.length} ready endpoint(s)`
          : `kubernetes endpoints: virtual node ${node} no longer takes its endpoints from the cluster`,
      );
    }
  }

  /**
   * Every served node's endpoints; a node whose list is unchanged keeps its very array. Only the
   * nodes of namespaces whose pods or slices changed (`dirty`), and changed VirtualNodes, are selected again.
   */
  private compute(dirty: ReadonlySet<string>): Map<string, readonly WorkloadEndpoint[]> {
    const next = new Map<string, readonly WorkloadEndpoint[]>();
    const labels = new Map<string, string>();
    const named = new Map<string, string>();
    const ordered = this.virtualNodes
      .filter((vn) => isPlain(vn) && isPlain(vn.metadata) && typeof vn.metadata.name === 'string')
      .sort((a, b) => compare(objectName(a), objectName(b)));
    const results = new WeakMap<KubeObject, NodeResult>();
    const said = new Set<string>();
    const say = (key: string, message: string) => {
      said.add(key);
      if (!this.said.has(key)) this.options.log?.warn(message);
    };
    for (const vn of ordered) {
      const spec = vn.spec;
      const namespace = vn.metadata.namespace;
      if (!isPlain(spec) || spec.podSelector === undefined || typeof namespace !== 'string') continue;
      let id: VirtualNodeIdentity | undefined;
      try {
        id = this.options.identify(vn);
      } catch {
        id = undefined;
      }
      if (!id) continue;
      const key = workloadEndpointsKey(id.mesh, id.name);
      const first = named.get(key);
      if (first !== undefined) {
        say(
          `dup\0${objectName(vn)}`,
          `kubernetes endpoints: VirtualNode ${objectName(vn)} is virtual node ${id.mesh}/${id.name} as VirtualNode ${first} is: its pods are not used; give it another spec.awsName`,
        );
        continue;
      }
      named.set(key, objectName(vn));
      labels.set(key, `${id.mesh}/${id.name}`);
      let result = this.results.get(vn);
      if (!result || result.key !== key || dirty.has(namespace)) result = this.nodeResult(vn, key, namespace, spec);
      for (const k of result.said) said.add(k);
      results.set(vn, result);
      next.set(key, result.endpoints);
    }
    this.results = results;
    this.said = said;
    this.labels = labels;
    return next;
  }

  /** The node's endpoints, selected afresh (the same array as before when they are the same). */
  private nodeResult(vn: KubeObject, key: string, namespace: string, spec: Plain): NodeResult {
    const label = objectName(vn);
    const said: string[] = [];
    const say = (k: string, message: string) => {
      said.push(k);
      if (!this.said.has(k)) this.options.log?.warn(message);
    };
    const addresses = this.select(namespace, spec.podSelector, label, say);
    if (addresses.length > this.max) {
      say(
        `cap\0${key}`,
        `kubernetes endpoints: VirtualNode ${label} has ${addresses.length} ready endpoints, over the limit of ${this.max}: only the first ${this.max} addresses are sent to its callers`,
      );
      addresses.length = this.max;
    }
    const before = this.endpoints.get(key);
    const endpoints = before && sameAddresses(before, addresses) ? before : addresses.map((address) => ({ address }));
    return { key, endpoints, said };
  }

  /** The sorted ready addresses of the pods `selector` selects in `namespace`. */
  private select(
    namespace: string,
    selector: unknown,
    vnName: string,
    say: (key: string, message: string) => void,
  ): string[] {
    const ns = this.pods.get(namespace);
    if (!ns || !isPlain(selector)) return [];
    const slices = this.slices.get(namespace);
    // The smallest bucket of one of its matchLabels, if it has any: no scan of the whole namespace.
    let candidates: readonly PodInfo[] = ns.members;
    if (isPlain(selector.matchLabels))
      for (const [k, v] of Object.entries(selector.matchLabels)) {
        const bucket = ns.byLabel.get(`${k}\0${String(v)}`) ?? [];
        if (bucket.length < candidates.length) candidates = bucket;
      }
    const addresses = new Set<string>();
    let selected = 0;
    let listed = 0;
    for (const pod of candidates) {
      if (!selects(selector, pod.labels)) continue;
      selected++;
      if (slices?.listed.has(pod.name)) listed++;
      for (const address of slices?.ready.get(pod.name) ?? []) {
        // A slice naming a pod at an address the pod does not report is not believed.
        if (pod.ips.size === 0 || pod.ips.has(address)) addresses.add(address);
      }
    }
    if (this.slicesKnown && selected > 0 && listed === 0)
      say(
        `unlisted\0${vnName}`,
        `kubernetes endpoints: VirtualNode ${vnName} selects ${selected} pod(s) but no EndpointSlice lists any of them, so its callers get no endpoints: give the pods a Service, and check that the cluster runs the EndpointSlice controller`,
      );
    return [...addresses].sort(compare);
  }
}
