// meshd in a Kubernetes cluster (`meshd serve --kubernetes`, docs/kubernetes.md): the App Mesh
// controller's custom resources are mesh input beside the user's files; replicas elect a leader
// with a Lease; the leader writes status back and drives rollouts, whose weights it writes to the
// VirtualRouters through the API and whose progress it keeps in a ConfigMap for the next leader.
// This module wires those parts (all in k8s/) to the rest of meshd; MeshServer calls it.
import { arnOf } from '../api/wire';
import type { CaStateStore, SharedCaStateOptions } from '../ca';
import type { LoadResult } from '../load/mesh-source';
import { checkRolloutRecord, type RolloutRecord } from '../rollout/records';
import type { RolloutFleet, RolloutPersistence } from '../rollout/controller';
import type { EditResult, IdentityCheck, WeightEdit } from '../load/weight-text';
import type { Logger } from '../util/log';
import { ClusterMesh } from '../k8s/cluster-mesh';
import { ConfigMapState } from '../k8s/configmap-state';
import { WorkloadEndpoints } from '../k8s/endpoint-slices';
import { Informer } from '../k8s/informer';
import { injectSidecar, type InjectionDecision, type InjectionSettings } from '../k8s/injection';
import {
  APP_MESH_TYPES,
  ENDPOINT_SLICES,
  KubeError,
  MUTATING_WEBHOOKS,
  NAMESPACES,
  PODS,
  type KubeClient,
  type KubeObject,
} from '../k8s/kube-api';
import { SIDECAR_INJECTOR_WEBHOOK } from '../k8s/manifests';
import { desiredStatuses } from '../k8s/status';
import { StatusWriter } from '../k8s/status-writer';
import { startInjectionWebhook, type AdmissionReview, type InjectionWebhook } from '../k8s/webhook-server';
import { createKubeClient, loadKubeConfig } from '../k8s/kube-client';
import { LeaseElector } from '../k8s/lease';
import { patchRouteWeights } from '../k8s/route-weights';
import { isK8sVirtualFile, k8sVirtualFile } from '../k8s/virtual-files';
import type { MeshIdentity } from './mesh-identity';
import { SecretCaStateStore } from './secret-ca-state';

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
  /** In the ARNs written to status (the App Mesh API's account and region). */
  readonly account: { readonly accountId: string; readonly region: string };
  /** `--kubernetes-endpoints`: a VirtualNode's podSelector finds its endpoints in the EndpointSlices (EDS). */
  readonly endpoints?: boolean;
  /** The sidecar injection webhook (`--webhook-port`): served over TLS with a certificate from meshd's CA. */
  readonly webhook?: {
    readonly port: number;
    readonly host: string;
    /** The names the API server reaches it by (the Service's DNS names; IP addresses too). */
    readonly dnsNames: readonly string[];
    readonly ipAddresses: readonly string[];
    readonly injection: InjectionSettings;
  };
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
  readonly status: StatusWriter;
  /** The VirtualNodes' endpoints from the EndpointSlices (`--kubernetes-endpoints`). */
  readonly workloads: WorkloadEndpoints | undefined;
  private readonly workloadFeeds: Informer<KubeObject>[] = [];
  private webhook: InjectionWebhook | undefined;
  /** The mesh each VirtualNode of the cluster is in, and its App Mesh name, as the last valid load made them. */
  private nodeIdentities = new Map<string, { mesh: string; name: string }>();
  /** The last load: a replica that becomes leader writes the status it calls for. */
  private lastLoad: LoadResult | undefined;
  private closed = false;
  private caBundleRetry: NodeJS.Timeout | undefined;
  private caBundleMissingLogged = false;

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
    this.status = new StatusWriter({ client, isLeader: () => this.elector.leading, log });
    this.elector.onLeadership((leading) => {
      if (leading && this.lastLoad) this.loaded(this.lastLoad);
    });
    if (options.endpoints) {
      const workloads = new WorkloadEndpoints({
        identify: (vn) =>
          this.nodeIdentities.get(k8sVirtualFile(APP_MESH_TYPES.VirtualNode, vn.metadata.namespace, vn.metadata.name)),
        log,
      });
      this.workloads = workloads;
      const virtualNodes = this.cluster.feed(APP_MESH_TYPES.VirtualNode);
      virtualNodes.onChange(() => workloads.update({ virtualNodes: virtualNodes.items() }));
      for (const type of [PODS, ENDPOINT_SLICES]) {
        const feed = new Informer<KubeObject>(client, type, { log });
        feed.onChange(() => workloads.update(type === PODS ? { pods: feed.items() } : { slices: feed.items() }));
        this.workloadFeeds.push(feed);
      }
    }
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
    for (const feed of this.workloadFeeds) feed.start();
    this.elector.start();
    this.log.info(
      `kubernetes: watching the App Mesh resources; replica ${this.options.replicaId} in namespace ${this.namespace}`,
    );
    await this.cluster.synced();
    await Promise.all(this.workloadFeeds.map((f) => f.synced()));
  }

  /** The CA every replica signs with, in a Secret of meshd's namespace. */
  caStateStore(options: SharedCaStateOptions): CaStateStore {
    return new SecretCaStateStore(this.client, this.namespace, options);
  }

  /**
   * After every load of the mesh (valid or not): the status each object of the cluster should show, written by
   * the leader; and, from a valid one, the mesh and App Mesh name of each VirtualNode (for its endpoints).
   */
  loaded(result: LoadResult): void {
    this.lastLoad = result;
    if (result.ok) {
      const identities = new Map<string, { mesh: string; name: string }>();
      for (const r of result.model.resources)
        if (r.kind === 'VirtualNode' && isK8sVirtualFile(r.source.file))
          identities.set(r.source.file, { mesh: r.mesh, name: r.name });
      this.nodeIdentities = identities;
      this.workloads?.update({ virtualNodes: this.cluster.feed(APP_MESH_TYPES.VirtualNode).items() });
    }
    try {
      this.status.update(
        desiredStatuses({
          objects: this.cluster.appMeshObjects(),
          load: result.ok ? { ok: true, model: result.model, problems: result.problems } : result,
          arn: (key) => arnOf(key, this.options.account),
          now: new Date(),
        }),
      );
    } catch (err) {
      this.log.error(`kubernetes: status not written: internal error: ${(err as Error).message}`);
    }
  }

  /**
   * Starts the sidecar injection webhook, its certificate from meshd's CA, and (while this replica leads) keeps
   * the CA bundle in the MutatingWebhookConfiguration meshd-sidecar-injector current.
   */
  async startWebhook(identity: MeshIdentity | undefined): Promise<void> {
    const settings = this.options.webhook;
    if (!settings) return;
    if (!identity)
      throw new Error("the sidecar injection webhook needs meshd's certificate authority, which did not open");
    const certificate = identity.serverCertificate(
      { dnsNames: settings.dnsNames, ipAddresses: settings.ipAddresses },
      'the sidecar injection webhook',
    );
    let tls = await certificate.tls();
    this.webhook = await startInjectionWebhook({
      port: settings.port,
      host: settings.host,
      tls: () => ({ cert: tls.certificateChainPem, key: tls.privateKeyPem }),
      decide: (review) => this.decide(review, settings.injection),
      log: this.log,
    });
    certificate.onRenew((renewed) => {
      tls = renewed;
      this.webhook?.reloadCertificate();
      void this.publishCaBundle(identity);
    });
    this.elector.onLeadership((leading) => {
      if (leading) void this.publishCaBundle(identity);
    });
    if (this.elector.leading) await this.publishCaBundle(identity);
    this.log.info(`kubernetes: sidecar injection webhook on https://${settings.host}:${this.webhook.port}/mutate-pod`);
  }

  get webhookPort(): number | undefined {
    return this.webhook?.port;
  }

  private decide(review: AdmissionReview, injection: InjectionSettings): InjectionDecision {
    const namespaceName = review.request.namespace ?? '';
    const namespace = this.cluster.feed(NAMESPACES).get(undefined, namespaceName);
    const virtualNodes = this.cluster
      .feed(APP_MESH_TYPES.VirtualNode)
      .items()
      .filter((vn) => vn.metadata.namespace === namespaceName);
    return injectSidecar({
      pod: review.request.object,
      namespace: {
        name: namespaceName,
        ...(namespace?.metadata.labels ? { labels: namespace.metadata.labels } : {}),
        ...(namespace?.metadata.annotations ? { annotations: namespace.metadata.annotations } : {}),
      },
      virtualNodes,
      meshOf: (vn) =>
        this.nodeIdentities.get(k8sVirtualFile(APP_MESH_TYPES.VirtualNode, vn.metadata.namespace, vn.metadata.name))
          ?.mesh,
      settings: injection,
    });
  }

  /**
   * Writes meshd's trust bundle into the webhook configuration's caBundle (the API server checks the webhook with it).
   */
  private async publishCaBundle(identity: MeshIdentity): Promise<void> {
    if (!this.elector.leading || this.closed) return;
    const bundle = Buffer.from(identity.ca.trustBundlePem()).toString('base64');
    try {
      const config = await this.client.get(MUTATING_WEBHOOKS, undefined, SIDECAR_INJECTOR_WEBHOOK);
      if (!config) {
        // `kubectl apply` of meshd's manifests creates it after the Deployment: looked for again until it is there.
        if (!this.caBundleMissingLogged)
          this.log.warn(
            `kubernetes: MutatingWebhookConfiguration ${SIDECAR_INJECTOR_WEBHOOK} does not exist: pods are not injected until it is installed (meshd k8s manifests); looking for it every 10s`,
          );
        this.caBundleMissingLogged = true;
        this.retryCaBundle(identity);
        return;
      }
      const webhooks = Array.isArray(config.webhooks)
        ? (config.webhooks as { clientConfig?: { caBundle?: string } }[])
        : [];
      const patch = webhooks.flatMap((w, i) =>
        w.clientConfig?.caBundle === bundle
          ? []
          : [
              {
                op: w.clientConfig?.caBundle === undefined ? 'add' : 'replace',
                path: `/webhooks/${i}/clientConfig/caBundle`,
                value: bundle,
              },
            ],
      );
      if (patch.length === 0) return;
      await this.client.patch(
        MUTATING_WEBHOOKS,
        undefined,
        SIDECAR_INJECTOR_WEBHOOK,
        [{ op: 'test', path: '/metadata/resourceVersion', value: config.metadata.resourceVersion }, ...patch],
        'json',
      );
      this.log.info(
        `kubernetes: meshd's CA bundle written to MutatingWebhookConfiguration ${SIDECAR_INJECTOR_WEBHOOK}`,
      );
    } catch (err) {
      const why = err instanceof KubeError ? err.message : (err as Error).message;
      this.log.warn(
        `kubernetes: cannot write the CA bundle into ${SIDECAR_INJECTOR_WEBHOOK}: ${why}; trying again in 10s`,
      );
      this.retryCaBundle(identity);
    }
  }

  private retryCaBundle(identity: MeshIdentity): void {
    if (this.caBundleRetry) return;
    this.caBundleRetry = setTimeout(() => {
      this.caBundleRetry = undefined;
      void this.publishCaBundle(identity);
    }, 10_000);
    this.caBundleRetry.unref();
  }

  /** Why this replica should not be ready: a watch the API server refuses (RBAC) leaves its mesh stale. */
  notReady(): string | undefined {
    const refused = this.cluster.watchRefused() ?? this.workloadFeeds.find((f) => f.watchRefused)?.watchRefused;
    return (
      refused &&
      `kubernetes: ${refused}; changes in the cluster are not seen (grant meshd the RBAC of meshd k8s manifests)`
    );
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
    // The routers as the API server has them now, by their own versions: the collection's version is etcd's
    // revision, which every other write (the Lease's renewals too) moves on, and which an informer of quiet
    // routers only reaches at its next bookmark (about a minute).
    const now = await this.client.list(APP_MESH_TYPES.VirtualRouter);
    const wanted = new Map(
      now.items.map((r) => [`${r.metadata.namespace}/${r.metadata.name}`, r.metadata.resourceVersion]),
    );
    const feed = this.cluster.feed(APP_MESH_TYPES.VirtualRouter);
    const seenAll = () => {
      const items = feed.items();
      return (
        items.length === wanted.size &&
        items.every((r) => wanted.get(`${r.metadata.namespace}/${r.metadata.name}`) === r.metadata.resourceVersion)
      );
    };
    const listed = /^\d+$/.test(now.resourceVersion) ? BigInt(now.resourceVersion) : 0n;
    for (let i = 0; i < 300 && !this.closed; i++) {
      const seen = /^\d+$/.test(feed.resourceVersion) ? BigInt(feed.resourceVersion) : 0n;
      if (seen >= listed || seenAll()) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // The batch the informer delivered reaches the mesh on the next turns (ClusterMesh's flush, then the reload).
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  }

  async close(options: { release?: boolean } = {}): Promise<void> {
    this.closed = true;
    clearTimeout(this.caBundleRetry);
    this.cluster.stop();
    for (const feed of this.workloadFeeds) feed.stop();
    this.status.close();
    await this.webhook?.close();
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
