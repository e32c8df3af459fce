// What Envoy's stats say about traffic to a virtual node. A node's traffic is what callers'
// sidecars sent it: the stats of their egress clusters `cds_egress_<mesh>_<node>_<proto>_<port>`
// (one per listener of the node), summed over every sidecar. The destination's own sidecar
// (its ingress cluster) is left out: it is not on the path in explicit mode, and counting it
// too would count a request twice in transparent mode. gRPC calls are counted by status from
// the grpc_stats filter's `grpc.<status>` counters on the same clusters (compile/grpc-stats.ts),
// and `grpc-web.<status>` by the same rules (Envoy's grpc_web filter charges those; meshd does
// not compile it, and grpc_stats does not count gRPC-Web). Every other stat is ignored.
import { egressClusterName } from '../compile/names';
import type { MeshModel } from '../model/mesh-model';
import type { LineDropReason, StatsdMetric } from './dogstatsd';

export interface VirtualNodeRef {
  readonly mesh: string;
  readonly virtualNode: string;
}

/**
 * Responses counted at a flush (a counter delta), gRPC calls that ended with one status (0..16;
 * a status that is none of the 17 comes as UNKNOWN, 2), or one measured request duration. `grpcListener`: the responses
 * came through a cluster of a gRPC listener, where Envoy's own
 * failure answers count twice: as a 5xx and as a gRPC status.
 */
export type Observation =
  | {
      readonly kind: 'responses';
      readonly node: VirtualNodeRef;
      readonly requests: number;
      readonly errors: number;
      readonly grpcListener?: boolean;
    }
  | {
      readonly kind: 'grpc';
      readonly node: VirtualNodeRef;
      readonly status: number;
      readonly count: number;
    }
  | { readonly kind: 'latency'; readonly node: VirtualNodeRef; readonly ms: readonly number[] };

/**
 * Egress cluster name → virtual node, built from the mesh (every virtual node × every
 * listener's protocol and port), so names are looked up, never split at underscores (mesh and
 * node names may contain them).
 */
export class EgressClusterIndex {
  private constructor(
    private readonly byName: ReadonlyMap<string, readonly VirtualNodeRef[]>,
    private readonly grpcClusters: ReadonlySet<string> = new Set(),
  ) {}

  static readonly EMPTY = new EgressClusterIndex(new Map());

  static fromModel(model: MeshModel): EgressClusterIndex {
    const byName = new Map<string, VirtualNodeRef[]>();
    const grpcClusters = new Set<string>();
    for (const node of model.virtualNodes()) {
      const ref = { mesh: node.mesh, virtualNode: node.name };
      for (const { portMapping } of node.spec.listeners ?? []) {
        const name = egressClusterName(node.mesh, node.name, portMapping.protocol, portMapping.port);
        byName.set(name, [...(byName.get(name) ?? []), ref]);
        if (portMapping.protocol === 'grpc') grpcClusters.add(name);
      }
    }
    return new EgressClusterIndex(byName, grpcClusters);
  }

  /** Whether the cluster stands for a gRPC listener (its calls are all gRPC). */
  isGrpcListener(clusterName: string): boolean {
    return this.grpcClusters.has(clusterName);
  }

  get size(): number {
    return this.byName.size;
  }

  /**
   * The node a cluster stands for. Nodes of two meshes can share a name (mesh `a`, node `b_c`
   * and mesh `a_b`, node `c`); a caller only reaches its own mesh, so the sender's mesh (the
   * `appmesh.mesh` tag of `--stats-tags`) decides, and without it such a cluster counts for none.
   */
  lookup(clusterName: string, callerMesh?: string): VirtualNodeRef | undefined {
    const refs = this.byName.get(clusterName);
    if (!refs) return undefined;
    if (refs.length === 1) return refs[0];
    return callerMesh === undefined ? undefined : refs.find((r) => r.mesh === callerMesh);
  }
}

// DogStatsdSink's default prefix, then Envoy's cluster scope.
const CLUSTER_SCOPE = 'envoy.cluster.';
const RESPONSES = 'upstream_rq_xx';
const DURATION = 'upstream_rq_time';
const CLUSTER_TAG = 'envoy.cluster_name';
const CLASS_TAG = 'envoy.response_code_class';
const CALLER_MESH_TAG = 'appmesh.mesh';
// The grpc_stats filter's counters without per-method names: `<protocol>.<status>` for each
// call, protocol `grpc` (or `grpc-web`, see above), status the text the server sent (Envoy
// names the stat after it). The filter's other counters under the same prefix are not statuses.
const GRPC_STAT = /(?:^|\.)(grpc|grpc-web)\.([^.]+)$/;
const NOT_A_STATUS: ReadonlySet<string> = new Set([
  'success',
  'failure',
  'total',
  'request_message_count',
  'response_message_count',
  'upstream_rq_time',
]);
/** A status as Envoy names the 17 known ones: no sign, no leading zero. */
const KNOWN_STATUS = /^(?:[0-9]|1[0-6])$/;
const UNKNOWN_STATUS = 2;

/**
 * The cluster a cluster-scope stat belongs to, when the stat is `<scope><rest>.<stat>`: Envoy
 * cuts a dotted cluster name at its first dot and leaves the rest in the stat name, so the
 * name is the tag plus that rest. `external.`/`internal.`/`canary.`/`retry.` copies give a
 * name no cluster has (cluster names end in a port number), which is how they are left out.
 */
function clusterOf(metric: StatsdMetric, stat: string): string | undefined {
  if (!metric.name.startsWith(CLUSTER_SCOPE) || !metric.name.endsWith(stat)) return undefined;
  const tag = metric.tags.get(CLUSTER_TAG);
  if (tag === undefined) return undefined;
  const middle = metric.name.slice(CLUSTER_SCOPE.length, metric.name.length - stat.length);
  if (middle === '') return tag;
  return middle.endsWith('.') ? `${tag}.${middle.slice(0, -1)}` : undefined;
}

/**
 * The most responses one line may count (after its sample rate): a sidecar flushes every few
 * seconds, and a billion responses in one flush is no real traffic. Bigger is refused, so
 * that no datagram can outweigh the real traffic or push a total towards Infinity.
 */
export const MAX_RESPONSES_PER_LINE = 1e9;
/** The longest request duration taken (one hour, in ms); also what bounds a histogram's buckets. */
export const MAX_DURATION_MS = 3_600_000;

/** A metric about a virtual node that is refused: its numbers cannot be real traffic. */
export interface RefusedObservation {
  readonly refused: LineDropReason;
}

/** The observation a metric makes about a virtual node, a refusal, or undefined for any other stat. */
export function interpret(
  metric: StatsdMetric,
  index: EgressClusterIndex,
): Observation | RefusedObservation | undefined {
  if (metric.type === 'c') {
    const cluster = clusterOf(metric, RESPONSES);
    const node = cluster === undefined ? undefined : index.lookup(cluster, metric.tags.get(CALLER_MESH_TAG));
    const responseClass = metric.tags.get(CLASS_TAG);
    if (!node || responseClass === undefined || !/^[1-5]$/.test(responseClass)) return grpcCalls(metric, index);
    const count = countOf(metric);
    if (count === undefined) return { refused: 'out_of_range' };
    const errors = responseClass === '5' ? count : 0;
    const grpcListener = index.isGrpcListener(cluster!);
    return { kind: 'responses', node, requests: count, errors, ...(grpcListener ? { grpcListener } : {}) };
  }
  if (metric.type === 'ms' || metric.type === 'h' || metric.type === 'd') {
    const cluster = clusterOf(metric, DURATION);
    const node = cluster === undefined ? undefined : index.lookup(cluster, metric.tags.get(CALLER_MESH_TAG));
    if (!node || metric.values.length === 0) return undefined;
    if (!metric.values.every((v) => v >= 0 && v <= MAX_DURATION_MS)) return { refused: 'out_of_range' };
    return { kind: 'latency', node, ms: metric.values };
  }
  return undefined;
}

/** A counter line's count (after its sample rate), or undefined when it cannot be real traffic. */
function countOf(metric: StatsdMetric): number | undefined {
  const count = metric.values.reduce((a, b) => a + b, 0) / metric.sampleRate;
  // Written so that NaN and Infinity are refused too. A counter delta is never negative.
  return count >= 0 && count <= MAX_RESPONSES_PER_LINE ? count : undefined;
}

/**
 * gRPC calls by status, from `grpc.<0..16>` (and `grpc-web.<0..16>`). A status the server made
 * up (`grpc-status: 99`, `abc`, `014`) gets a stat of its own name from Envoy: it counts as
 * UNKNOWN, as a gRPC client reads it, and its name is not kept (a server must not grow meshd's
 * memory). Each call is counted from its own status stat, never derived from `grpc.failure`
 * minus the known ones: each counter is a datagram of its own, bucketed by when it arrives, so
 * the difference of two of them is no count of anything (a flush straddling a second, or a lost
 * line, would turn allowed statuses into UNKNOWN). `success`, `failure`, `total` and the message
 * counts are left out; so is a status with a dot in it (Envoy splits it into more name parts,
 * which per-method names, switched off, would also make).
 */
function grpcCalls(metric: StatsdMetric, index: EgressClusterIndex): Observation | RefusedObservation | undefined {
  const match = GRPC_STAT.exec(metric.name);
  if (!match) return undefined;
  const [, protocol, stat] = match as unknown as [string, string, string];
  if (NOT_A_STATUS.has(stat)) return undefined;
  const cluster = clusterOf(metric, `${protocol}.${stat}`);
  const node = cluster === undefined ? undefined : index.lookup(cluster, metric.tags.get(CALLER_MESH_TAG));
  if (!node) return undefined;
  const count = countOf(metric);
  if (count === undefined) return { refused: 'out_of_range' };
  return { kind: 'grpc', node, status: KNOWN_STATUS.test(stat) ? Number(stat) : UNKNOWN_STATUS, count };
}
