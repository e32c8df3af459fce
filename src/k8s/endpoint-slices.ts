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
import type { Logger } from '../util/log';
import type { KubeObject } from './kube-api';

/** The most endpoints one virtual node gets; beyond, the lowest addresses are kept and it is logged once. */
export const DEFAULT_MAX_ENDPOINTS_PER_NODE = 5_000;
/** Kubernetes allows at most 1,000 endpoints in a slice; more is not a slice the API server wrote. */
const MAX_ENDPOINTS_PER_SLICE = 1_000;

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

/** The informers' current contents; a missing list keeps the one given before. */
export interface WorkloadInputs {
  readonly virtualNodes?: readonly KubeObject[];
  readonly pods?: readonly KubeObject[];
  readonly slices?: readonly KubeObject[];
}

interface PodInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** status.podIPs (or podIP); empty when it reports none. */
  readonly ips: ReadonlySet<string>;
}

interface NamespacePods {
  readonly all: PodInfo[];
  /** `key\0value` → the pods with that label. */
  readonly byLabel: Map<string, PodInfo[]>;
}

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);
const podKey = (namespace: string, name: string) => `${namespace}\0${name}`;
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

function indexPods(pods: readonly KubeObject[]): Map<string, NamespacePods> {
  const byNamespace = new Map<string, NamespacePods>();
  for (const pod of pods) {
    const namespace = pod.metadata?.namespace;
    const name = pod.metadata?.name;
    if (typeof namespace !== 'string' || typeof name !== 'string') continue;
    let ns = byNamespace.get(namespace);
    if (!ns) byNamespace.set(namespace, (ns = { all: [], byLabel: new Map() }));
    const info: PodInfo = { name, labels: labelsOf(pod), ips: podIpsOf(pod) };
    ns.all.push(info);
    for (const [k, v] of Object.entries(info.labels)) {
      const key = `${k}\0${v}`;
      let list = ns.byLabel.get(key);
      if (!list) ns.byLabel.set(key, (list = []));
      list.push(info);
    }
  }
  return byNamespace;
}

interface SliceIndex {
  /** podKey → the addresses ready endpoints give it. */
  readonly ready: Map<string, Set<string>>;
  /** podKey of every pod some slice lists (ready or not). */
  readonly listed: Set<string>;
}

function indexSlices(slices: readonly KubeObject[]): SliceIndex {
  const ready = new Map<string, Set<string>>();
  const listed = new Set<string>();
  for (const slice of slices) {
    const namespace = slice.metadata?.namespace;
    if (typeof namespace !== 'string') continue;
    const family = slice.addressType === 'IPv4' ? isIPv4 : slice.addressType === 'IPv6' ? isIPv6 : undefined;
    // FQDN slices (and any other type) name no address a proxy can be sent.
    if (!family || !Array.isArray(slice.endpoints)) continue;
    for (const endpoint of slice.endpoints.slice(0, MAX_ENDPOINTS_PER_SLICE)) {
      if (!isPlain(endpoint)) continue;
      const ref = endpoint.targetRef;
      if (!isPlain(ref) || ref.kind !== 'Pod' || typeof ref.name !== 'string') continue;
      // A slice speaks only for pods of its own namespace.
      if (ref.namespace !== undefined && ref.namespace !== namespace) continue;
      const key = podKey(namespace, ref.name);
      listed.add(key);
      const conditions = isPlain(endpoint.conditions) ? endpoint.conditions : {};
      // Kubernetes: an unset `ready` means ready; a terminating endpoint is never ready.
      if (conditions.ready === false || conditions.terminating === true) continue;
      // The addresses of a Pod endpoint are fungible: consumers may use the first only.
      const address: unknown = Array.isArray(endpoint.addresses) ? endpoint.addresses[0] : undefined;
      if (typeof address !== 'string' || !family(address)) continue;
      let set = ready.get(key);
      if (!set) ready.set(key, (set = new Set()));
      set.add(address);
    }
  }
  return { ready, listed };
}

const sameAddresses = (a: readonly WorkloadEndpoint[], b: readonly string[]) =>
  a.length === b.length && a.every((e, i) => e.address === b[i]);

export class WorkloadEndpoints {
  private virtualNodes: readonly KubeObject[] = [];
  private pods = new Map<string, NamespacePods>();
  private slices: SliceIndex = { ready: new Map(), listed: new Set() };
  /** Whether slices were ever given (before, no node is said to lack them). */
  private slicesKnown = false;
  /** workloadEndpointsKey → the node's endpoints; a node without a podSelector is not here. */
  private endpoints = new Map<string, readonly WorkloadEndpoint[]>();
  private readonly listeners: ((changed: ReadonlySet<string>) => void)[] = [];
  /** What was logged once (a key per node and problem), until the problem goes. */
  private readonly said = new Set<string>();
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
    if (inputs.virtualNodes) this.virtualNodes = inputs.virtualNodes;
    if (inputs.pods) this.pods = indexPods(inputs.pods);
    if (inputs.slices) {
      this.slices = indexSlices(inputs.slices);
      this.slicesKnown = true;
    }
    const next = this.compute();
    const changed = new Set<string>();
    for (const [key, list] of next) {
      const before = this.endpoints.get(key);
      if (before !== list) changed.add(key);
    }
    for (const key of this.endpoints.keys()) if (!next.has(key)) changed.add(key);
    this.endpoints = next;
    if (changed.size === 0) return;
    for (const listener of [...this.listeners]) {
      try {
        listener(changed);
      } catch (err) {
        this.options.log?.warn(`kubernetes endpoints: a change listener failed: ${(err as Error).message}`);
      }
    }
  }

  /** Every served node's endpoints; a node whose list is unchanged keeps its very array. */
  private compute(): Map<string, readonly WorkloadEndpoint[]> {
    const next = new Map<string, readonly WorkloadEndpoint[]>();
    const named = new Map<string, string>();
    const ordered = [...this.virtualNodes].sort((a, b) => compare(objectName(a), objectName(b)));
    const stillSaid = new Set<string>();
    const say = (key: string, message: string) => {
      stillSaid.add(key);
      if (!this.said.has(key)) this.options.log?.warn(message);
    };
    for (const vn of ordered) {
      const spec = vn.spec;
      const namespace = vn.metadata?.namespace;
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
      const addresses = this.select(namespace, spec.podSelector, objectName(vn), say);
      if (addresses.length > this.max) {
        say(
          `cap\0${key}`,
          `kubernetes endpoints: VirtualNode ${objectName(vn)} has ${addresses.length} ready endpoints, over the limit of ${this.max}: only the first ${this.max} addresses are sent to its callers`,
        );
        addresses.length = this.max;
      }
      const before = this.endpoints.get(key);
      next.set(key, before && sameAddresses(before, addresses) ? before : addresses.map((address) => ({ address })));
    }
    for (const key of this.said) if (!stillSaid.has(key)) this.said.delete(key);
    for (const key of stillSaid) this.said.add(key);
    return next;
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
    // The smallest bucket of one of its matchLabels, if it has any: no scan of the whole namespace.
    let candidates: readonly PodInfo[] = ns.all;
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
      const key = podKey(namespace, pod.name);
      if (this.slices.listed.has(key)) listed++;
      for (const address of this.slices.ready.get(key) ?? []) {
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
