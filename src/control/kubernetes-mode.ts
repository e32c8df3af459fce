// meshd in a Kubernetes cluster (`meshd serve --kubernetes`, docs/kubernetes.md): the App Mesh
// controller's custom resources are mesh input beside the user's files; replicas elect a leader
// with a Lease; the leader writes status back and drives rollouts, whose weights it writes to the
// VirtualRouters through the API and whose progress it keeps in a ConfigMap for the next leader.
// This module wires those parts (all in k8s/) to the rest of meshd; MeshServer calls it.
import { checkRolloutRecord, type RolloutRecord } from '../rollout/records';
import type { RolloutFleet, RolloutPersistence } from '../rollout/controller';
import type { EditResult, IdentityCheck, WeightEdit } from '../load/weight-text';
import type { Logger } from '../util/log';
import { ClusterMesh } from '../k8s/cluster-mesh';
import { ConfigMapState } from '../k8s/configmap-state';
import { APP_MESH_TYPES, type KubeClient } from '../k8s/kube-api';
import { createKubeClient, loadKubeConfig } from '../k8s/kube-client';
import { LeaseElector } from '../k8s/lease';
import { patchRouteWeights } from '../k8s/route-weights';
import { isK8sVirtualFile } from '../k8s/virtual-files';

export interface KubernetesModeOptions {
  /** A kubeconfig file; in-cluster configuration (the pod's service account) when absent. */
  readonly kubeconfig?: string;
  readonly context?: string;
  /**
   * meshd's own namespace (its Lease and rollout state); default:
   * the pod's, else the kubeconfig context's, else `meshd`.
   */
  readonly namespace?: string;
  /** This replica's name in the Lease (the pod's name in a cluster). */
  readonly replicaId: string;
  /** Lease timing (seconds); client-go's defaults otherwise. */
  readonly lease?: {
    readonly durationSeconds?: number;
    readonly renewDeadlineSeconds?: number;
    readonly retryPeriodSeconds?: number;
  };
  /** A client of the test's own (tests); the kubeconfig's otherwise. */
  readonly client?: KubeClient;
}

export const LEASE_NAME = 'meshd-leader';
const ROLLOUT_STATE = { name: 'meshd-rollouts', key: 'rollouts.json' };

/** A replica that does not hold the Lease was asked to write (a rollout's state or a route). */
export class NotLeadingError extends Error {}

export class KubernetesMode {
  readonly cluster: ClusterMesh;
  readonly elector: LeaseElector;
  readonly rolloutState: KubeRolloutState;
  readonly rolloutFleet: RolloutFleet;
  private closed = false;

  private constructor(
    readonly client: KubeClient,
    readonly namespace: string,
    private readonly options: KubernetesModeOptions,
    private readonly log: Logger,
  ) {
    this.cluster = new ClusterMesh({ client, log });
    const lease = options.lease ?? {};
    this.elector = new LeaseElector({
      client,
      namespace,
      name: LEASE_NAME,
      identity: options.replicaId,
      log,
      ...(lease.durationSeconds !== undefined ? { leaseDurationSeconds: lease.durationSeconds } : {}),
      ...(lease.renewDeadlineSeconds !== undefined ? { renewDeadlineSeconds: lease.renewDeadlineSeconds } : {}),
      ...(lease.retryPeriodSeconds !== undefined ? { retryPeriodSeconds: lease.retryPeriodSeconds } : {}),
    });
    this.rolloutState = new KubeRolloutState(
      new ConfigMapState(client, namespace, ROLLOUT_STATE.name, ROLLOUT_STATE.key),
      () => this.elector.leading,
      log,
    );
    this.rolloutFleet = {
      replicaId: options.replicaId,
      isLeader: () => this.elector.leading,
      leader: () => Promise.resolve(this.elector.holder !== undefined ? { id: this.elector.holder } : undefined),
      caughtUp: () => this.caughtUp(),
    };
  }

  /** Reads the configuration (a bad kubeconfig is refused here, with its reason); starts nothing yet. */
  static open(options: KubernetesModeOptions, log: Logger): KubernetesMode {
    if (options.client) return new KubernetesMode(options.client, options.namespace ?? 'meshd', options, log);
    const connection = loadKubeConfig({
      ...(options.kubeconfig !== undefined ? { kubeconfig: options.kubeconfig } : {}),
      ...(options.context !== undefined ? { context: options.context } : {}),
    });
    const namespace = options.namespace ?? connection.namespace ?? 'meshd';
    return new KubernetesMode(createKubeClient(connection), namespace, options, log);
  }

  /** Starts the informers and the election; resolves once every informer has listed (the first load needs them all). */
  async start(): Promise<void> {
    this.cluster.start();
    this.elector.start();
    this.log.info(
      `kubernetes: watching the App Mesh resources; replica ${this.options.replicaId} in namespace ${this.namespace}`,
    );
    await this.cluster.synced();
  }

  /** Whether this file is an object of the cluster (the user's files win over it). */
  static owns(file: string): boolean {
    return isK8sVirtualFile(file);
  }

  /** A rollout's route write to a VirtualRouter of the cluster; the leader's only. */
  async editRouteWeights(edits: readonly WeightEdit[], identity: readonly IdentityCheck[]): Promise<EditResult> {
    if (!this.elector.leading)
      throw new NotLeadingError('this replica does not hold the lease; the route was not changed');
    return patchRouteWeights(this.client, edits, identity);
  }

  /**
   * Resolves once this replica's informers have seen every change the API server had when called (the
   * routers' list version), and the reload they cause has run: a new leader judges routes by the weights
   * its predecessor wrote.
   */
  private async caughtUp(): Promise<void> {
    const now = await this.client.list(APP_MESH_TYPES.VirtualRouter, { limit: 1 });
    const wanted = BigInt(now.resourceVersion);
    const feed = this.cluster.feed(APP_MESH_TYPES.VirtualRouter);
    for (let i = 0; i < 300 && !this.closed; i++) {
      const seen = /^\d+$/.test(feed.resourceVersion) ? BigInt(feed.resourceVersion) : 0n;
      if (seen >= wanted) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // The batch the informer delivered reaches the mesh on the next turns (ClusterMesh's flush, then the reload).
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  }

  async close(options: { release?: boolean } = {}): Promise<void> {
    this.closed = true;
    this.cluster.stop();
    await this.elector.stop({ release: options.release ?? true });
  }
}

/** The rollouts' progress in a ConfigMap: read by a new leader, written by the leader alone. */
export class KubeRolloutState implements RolloutPersistence {
  private records: RolloutRecord[] = [];

  constructor(
    private readonly state: ConfigMapState,
    private readonly leading: () => boolean,
    private readonly log: Logger,
  ) {}

  async load(): Promise<readonly RolloutRecord[]> {
    const text = await this.state.read();
    if (text === undefined) return (this.records = []);
    let rows: unknown;
    try {
      rows = JSON.parse(text);
    } catch {
      this.log.warn('rollouts: the stored state in ConfigMap meshd-rollouts is not JSON; starting with no rollouts');
      return (this.records = []);
    }
    const usable: RolloutRecord[] = [];
    for (const row of Array.isArray(rows) ? rows : []) {
      const why = checkRolloutRecord(row);
      if (why === undefined) usable.push(row as RolloutRecord);
      else this.log.warn(`rollouts: a stored rollout is not one this meshd can use (${why}); ignored`);
    }
    this.records = usable;
    return structuredClone(usable);
  }

  async save(records: readonly RolloutRecord[]): Promise<void> {
    if (!this.leading()) throw new NotLeadingError('this replica does not hold the lease; the rollouts were not saved');
    await this.state.write(JSON.stringify(records));
    this.records = structuredClone([...records]);
  }

  current(): readonly RolloutRecord[] {
    return structuredClone(this.records);
  }

  isDeposed(err: unknown): boolean {
    return err instanceof NotLeadingError;
  }

  confirmLeading(): Promise<void> {
    return this.leading()
      ? Promise.resolve()
      : Promise.reject(new NotLeadingError('this replica does not hold the lease'));
  }
}
