// meshd in a Kubernetes cluster (`meshd serve --kubernetes`, docs/kubernetes.md): the App Mesh
// controller's custom resources are mesh input beside the user's files; replicas elect a leader
// with a Lease; the leader writes status back and drives rollouts, whose weights it writes to the
// VirtualRouters through the API and whose progress it keeps in a ConfigMap for the next leader.
// This module wires those parts (all in k8s/) to the rest of meshd; MeshServer calls it.
import { isIP } from 'node:net';
import { arnOf } from '../api/wire';
import type { CaStateStore, SharedCaStateOptions } from '../ca';
import { meshOfManifest, type NamedManifest } from '../load/k8s-manifest';
import type { LoadResult } from '../load/mesh-source';
import { isPlain } from '../model/common';
import { checkRolloutRecord, type RolloutRecord } from '../rollout/records';
import type { RolloutFleet, RolloutPersistence } from '../rollout/controller';
import type { EditResult, IdentityCheck, WeightEdit } from '../load/weight-text';
import type { Logger } from '../util/log';
import type { MetricsRegistry } from '../admin/metrics';
import { ClusterMesh, WATCHED_TYPES, type ObjectFeed } from '../k8s/cluster-mesh';
import { ConfigMapState, StateConflictError } from '../k8s/configmap-state';
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
import { createKubeClient, loadKubeConfig, type KubeClientStats } from '../k8s/kube-client';
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
    /** Names the API server reaches it by (DNS names, IP addresses); default: meshd's Service in meshd's namespace. */
    readonly names?: readonly string[];
    /** The sidecars' xDS address: default meshd's Service in meshd's namespace, at `xdsPort`. */
    readonly injection: Omit<InjectionSettings, 'xdsAddress'> & { readonly xdsAddress?: string };
    readonly xdsPort: number;
  };
}

export const LEASE_NAME = 'meshd-leader';
/** How long a start waits for an API server that does not answer. */
const UNREACHABLE_WAIT_MS = 120_000;

/** How often a follower reads the rollouts' progress the leader keeps. */
const FOLLOW_ROLLOUTS_MS = 5_000;

/** How often the leader checks status and the webhook's CA bundle beyond what events announce. */
const RECONCILE_MS = 30_000;

/** How long a new leader waits for its informers to see the routers as the API server has them. */
const CAUGHT_UP_TIMEOUT_MS = 30_000;

/** Whether resourceVersion `a` is `b` or newer: both etcd revisions (digits) in practice; otherwise only equal ones. */
function versionAtLeast(a: string, b: string): boolean {
  if (a === b) return true;
  return /^\d{1,30}$/.test(a) && /^\d{1,30}$/.test(b) && BigInt(a) >= BigInt(b);
}

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
  private readonly workloadFeeds: { readonly kind: string; readonly feed: Informer<KubeObject> }[] = [];
  private webhook: InjectionWebhook | undefined;
  /** The mesh each VirtualNode of the cluster is in, and its App Mesh name, as the last valid load made them. */
  private nodeIdentities = new Map<string, { mesh: string; name: string }>();
  private readonly reconcile: NodeJS.Timeout;
  private readonly followRollouts: NodeJS.Timeout;
  /** The webhook's CA bundle check, once the webhook runs. */
  private reconcileHook: (() => Promise<void>) | undefined;
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
      () => this.elector.fence(),
      log,
    );
    this.status = new StatusWriter({ client, isLeader: () => this.elector.leading, log });
    this.elector.onLeadership((leading) => {
      if (leading && this.lastLoad) this.writeStatus(this.lastLoad);
    });
    // A follower shows the leader's rollouts as they go (meshd rollout status asked of any replica).
    this.followRollouts = setInterval(() => {
      if (this.elector.leading || this.closed) return;
      this.rolloutState.refresh().catch(() => undefined);
    }, FOLLOW_ROLLOUTS_MS);
    this.followRollouts.unref();
    // The leader checks again now and then what no event announces: a status write given up while the API
    // server was away, a status another writer changed, the webhook configuration applied again without its CA.
    this.reconcile = setInterval(() => {
      if (!this.elector.leading || this.closed) return;
      if (this.lastLoad) this.writeStatus(this.lastLoad);
      void this.reconcileHook?.();
    }, RECONCILE_MS);
    this.reconcile.unref();
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
        // Every Pod and slice of the cluster is watched: only what endpoints are made of is kept.
        const feed = new Informer<KubeObject>(client, type, {
          log,
          keep: type === PODS ? podEssentials : sliceEssentials,
        });
        feed.onChange(() => workloads.update(type === PODS ? { pods: feed.items() } : { slices: feed.items() }));
        this.workloadFeeds.push({ kind: type.kind, feed });
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
    return new KubernetesMode(
      createKubeClient(connection, { log: (message) => log.warn(`kubernetes: ${message}`) }),
      namespace,
      options,
      log,
    );
  }

  /** Starts the informers and the election; resolves once every informer has listed (the first load needs them all). */
  async start(): Promise<void> {
    this.cluster.start();
    for (const { feed } of this.workloadFeeds) feed.start();
    this.elector.start();
    this.log.info(
      `kubernetes: watching the App Mesh resources; replica ${this.options.replicaId} in namespace ${this.namespace}`,
    );
    await this.cluster.synced();
    await Promise.all(this.workloadFeeds.map(({ feed }) => feed.synced()));
  }

  /**
   * Runs `attempt` until it succeeds, a refusal says the cluster answered (anything but no answer or a 5xx), or
   * about two minutes have passed: an API server that is starting (or restarting) is waited for.
   */
  async retryWhileUnreachable<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + UNREACHABLE_WAIT_MS;
    for (let delay = 500; ; delay = Math.min(delay * 2, 10_000)) {
      try {
        return await attempt();
      } catch (err) {
        const cause = (err as { cause?: unknown }).cause ?? err;
        const unreachable = cause instanceof KubeError && (cause.status === 0 || cause.status >= 500);
        if (!unreachable || this.closed || Date.now() + delay > deadline) throw err;
        this.log.warn(`kubernetes: cannot ${what} yet (${(err as Error).message}); trying again in ${delay / 1000}s`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
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
    this.writeStatus(result);
  }

  /** The status each object of the cluster should show after `result`; written by the leader, where it differs. */
  private writeStatus(result: LoadResult): void {
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
    // meshd's Service, in the namespace meshd resolved (the flag, the pod's own, the context's).
    const service = `meshd.${this.namespace}.svc`;
    const names = settings.names ?? [service, `${service}.cluster.local`];
    const injection: InjectionSettings = {
      ...settings.injection,
      xdsAddress: settings.injection.xdsAddress ?? `${service}:${settings.xdsPort}`,
    };
    const certificate = identity.serverCertificate(
      { dnsNames: names.filter((n) => isIP(n) === 0), ipAddresses: names.filter((n) => isIP(n) !== 0) },
      'the sidecar injection webhook',
    );
    let tls = await certificate.tls();
    this.webhook = await startInjectionWebhook({
      port: settings.port,
      host: settings.host,
      tls: () => ({ cert: tls.certificateChainPem, key: tls.privateKeyPem }),
      decide: (review) => this.decide(review, injection),
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
    this.reconcileHook = () => this.publishCaBundle(identity);
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
      // The mesh the VirtualNode's manifest names (meshRef, or the Mesh selecting its namespace) as the cluster
      // holds it now: a pod is not refused because some other object of the cluster is invalid.
      meshOf: (vn) => {
        const meshes = this.cluster.feed(APP_MESH_TYPES.Mesh);
        const namespaces = this.cluster.feed(NAMESPACES);
        return meshOfManifest(asManifest('VirtualNode', vn), {
          mesh: (name) => {
            const mesh = meshes.get(undefined, name);
            return mesh && asManifest('Mesh', mesh);
          },
          meshes: () => meshes.items().map((m) => asManifest('Mesh', m)),
          namespaceLabels: (name) => namespaces.get(undefined, name)?.metadata.labels ?? {},
        }).mesh;
      },
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
      this.caBundleMissingLogged = false;
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

  /** meshd_leader and the informers' and status writer's counters on /metrics. */
  registerMetrics(registry: MetricsRegistry): void {
    registry.gauge(
      'meshd_leader',
      '1 while this replica holds the Lease meshd-leader (status, rollouts, the webhook CA bundle)',
      [],
      () => [{ labels: {}, value: this.elector.leading ? 1 : 0 }],
    );
    const feeds = (): [string, Pick<ObjectFeed, 'relists' | 'reconnects' | 'events'>][] => [
      ...WATCHED_TYPES.map((t): [string, ObjectFeed] => [t.kind, this.cluster.feed(t)]),
      ...this.workloadFeeds.map(({ kind, feed }): [string, ObjectFeed] => [kind, feed]),
    ];
    const perKind = (
      name: string,
      help: string,
      value: (f: Pick<ObjectFeed, 'relists' | 'reconnects' | 'events'>) => number,
    ) =>
      registry.counter(name, help, ['kind'], () => feeds().map(([kind, f]) => ({ labels: { kind }, value: value(f) })));
    perKind(
      'meshd_kubernetes_watch_events_total',
      'Watch events received from the API server, by kind',
      (f) => f.events,
    );
    perKind(
      'meshd_kubernetes_watch_reconnects_total',
      'Watches started again after a failure, by kind',
      (f) => f.reconnects,
    );
    perKind(
      'meshd_kubernetes_relists_total',
      'Full lists after the first (a 410, a resync), by kind',
      (f) => f.relists,
    );
    registry.counter(
      'meshd_kubernetes_malformed_objects_total',
      'Listed objects and watch events the API server sent without a name: skipped',
      [],
      () => [{ labels: {}, value: (this.client as Partial<KubeClientStats>).malformed ?? 0 }],
    );
    registry.counter(
      'meshd_kubernetes_status_writes_total',
      'Status writes: written, failed (given up after retries), dropped (the object was gone)',
      ['outcome'],
      () => {
        const c = this.status.counters;
        return [
          { labels: { outcome: 'written' }, value: c.writes },
          { labels: { outcome: 'failed' }, value: c.failures },
          { labels: { outcome: 'dropped' }, value: c.dropped },
        ];
      },
    );
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
    const refused =
      this.cluster.watchRefused() ?? this.workloadFeeds.find(({ feed }) => feed.watchRefused)?.feed.watchRefused;
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
    const mustLead = () => {
      if (!this.elector.leading)
        throw new NotLeadingError('this replica does not hold the lease; the route was not changed');
    };
    mustLead();
    return patchRouteWeights(this.client, edits, identity, mustLead);
  }

  /**
   * Resolves once this replica's informers have seen every change the API server had when called (the
   * routers' list version), and the reload they cause has run: a new leader judges routes by the weights
   * its predecessor wrote.
   */
  private async caughtUp(): Promise<void> {
    // Every router as the API server has it now, against the informer's copy: the list's own version is the
    // whole cluster's revision, which moves with every write anywhere (the Lease's renewals among them).
    const now = await this.client.list(APP_MESH_TYPES.VirtualRouter);
    const feed = this.cluster.feed(APP_MESH_TYPES.VirtualRouter);
    const behind = () =>
      now.items.filter((router) => {
        const seen = feed.get(router.metadata.namespace, router.metadata.name)?.metadata.resourceVersion;
        return seen === undefined || !versionAtLeast(seen, router.metadata.resourceVersion ?? '');
      }).length;
    const deadline = Date.now() + CAUGHT_UP_TIMEOUT_MS;
    while (!this.closed && behind() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const left = behind();
    if (left > 0)
      this.log.warn(
        `kubernetes: ${left} VirtualRouter(s) not seen at their current version after ${CAUGHT_UP_TIMEOUT_MS / 1000}s; the new leader goes on with what it has`,
      );
    // The batch the informer delivered reaches the mesh on the next turns (ClusterMesh's flush, then the reload).
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  }

  async close(options: { release?: boolean } = {}): Promise<void> {
    this.closed = true;
    clearInterval(this.reconcile);
    clearInterval(this.followRollouts);
    clearTimeout(this.caBundleRetry);
    this.cluster.stop();
    for (const { feed } of this.workloadFeeds) feed.stop();
    this.status.close();
    await this.webhook?.close();
    await this.elector.stop({ release: options.release ?? true });
  }
}

/** The metadata a watched object keeps: who it is, its version, its labels. */
function essentialMetadata(object: KubeObject): KubeObject['metadata'] {
  const { name, namespace, uid, resourceVersion, labels, deletionTimestamp } = object.metadata;
  return { name, namespace, uid, resourceVersion, labels, deletionTimestamp };
}

/** Of a Pod, what WorkloadEndpoints reads: its labels and its addresses. */
function podEssentials(pod: KubeObject): KubeObject {
  const status = isPlain(pod.status) ? pod.status : {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: essentialMetadata(pod),
    status: { podIP: status.podIP, podIPs: status.podIPs },
  };
}

/** Of an EndpointSlice, its address type and endpoints (addresses, conditions, the pod each is). */
function sliceEssentials(slice: KubeObject): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: essentialMetadata(slice),
    addressType: slice.addressType,
    endpoints: Array.isArray(slice.endpoints)
      ? slice.endpoints.map((e: unknown) =>
          isPlain(e) ? { addresses: e.addresses, conditions: e.conditions, targetRef: e.targetRef } : e,
        )
      : slice.endpoints,
  };
}

/** An object of the cluster as the loader's mesh lookup reads a manifest. */
function asManifest(kind: 'Mesh' | 'VirtualNode', object: KubeObject): NamedManifest {
  return {
    kind,
    name: object.metadata.name,
    namespace: kind === 'Mesh' ? '' : (object.metadata.namespace ?? 'default'),
    spec: isPlain(object.spec) ? object.spec : {},
  };
}

/** The rollouts' progress in a ConfigMap: read by a new leader, written by the leader alone. */
export class KubeRolloutState implements RolloutPersistence {
  private records: RolloutRecord[] = [];

  constructor(
    private readonly state: ConfigMapState,
    /** The Lease's fence while this replica holds it: its holder and how many times the Lease changed hands. */
    private readonly fence: () => Fence | undefined,
    private readonly log: Logger,
  ) {}

  private readonly listeners: (() => void)[] = [];
  private lastText: string | undefined;

  /** Called after a follower's read found the rollouts changed (the leader's steps), to show them. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** A follower's look at the leader's progress: read again, and told when it changed. */
  async refresh(): Promise<void> {
    const before = this.lastText;
    await this.load();
    if (this.lastText !== before) for (const listener of this.listeners) listener();
  }

  async load(): Promise<readonly RolloutRecord[]> {
    const text = await this.state.read();
    this.lastText = text;
    const stored = parseStored(text);
    if (stored === 'not-json')
      this.log.warn('rollouts: the stored state in ConfigMap meshd-rollouts is not JSON; starting with no rollouts');
    const rows = typeof stored === 'object' ? stored.records : [];
    const usable: RolloutRecord[] = [];
    for (const row of rows) {
      const why = checkRolloutRecord(row);
      if (why === undefined) usable.push(row as RolloutRecord);
      else this.log.warn(`rollouts: a stored rollout is not one this meshd can use (${why}); ignored`);
    }
    this.records = usable;
    return structuredClone(usable);
  }

  /**
   * Stores the rollouts with this leader's fence. When the ConfigMap changed since it was read, it is read again:
   * written under a newer fence (a later leader), this replica is deposed and writes nothing; otherwise (an edit
   * by hand, or this leader's own earlier term) it is written once more.
   */
  async save(records: readonly RolloutRecord[]): Promise<void> {
    const fence = this.fence();
    if (!fence) throw new NotLeadingError('this replica does not hold the lease; the rollouts were not saved');
    const text = JSON.stringify({ fence, records });
    try {
      await this.state.write(text);
    } catch (err) {
      if (!(err instanceof StateConflictError)) throw err;
      const now = parseStored(await this.state.read());
      const theirs = typeof now === 'object' ? now.fence : undefined;
      if (
        theirs &&
        (theirs.transitions > fence.transitions ||
          (theirs.transitions === fence.transitions && theirs.holder !== fence.holder))
      )
        throw new NotLeadingError(
          `replica ${theirs.holder} wrote the rollouts under a later lease; this replica stands down`,
        );
      await this.state.write(text);
    }
    this.records = structuredClone([...records]);
  }

  current(): readonly RolloutRecord[] {
    return structuredClone(this.records);
  }

  isDeposed(err: unknown): boolean {
    return err instanceof NotLeadingError;
  }

  confirmLeading(): Promise<void> {
    return this.fence()
      ? Promise.resolve()
      : Promise.reject(new NotLeadingError('this replica does not hold the lease'));
  }
}

interface Fence {
  readonly holder: string;
  readonly transitions: number;
}

/** The ConfigMap's document: `{fence, records}` (a bare list from before fences is read as records). */
function parseStored(text: string | undefined): { fence?: Fence; records: unknown[] } | 'none' | 'not-json' {
  if (text === undefined) return 'none';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not-json';
  }
  if (Array.isArray(value)) return { records: value };
  if (!isPlain(value)) return { records: [] };
  const fence =
    isPlain(value.fence) && typeof value.fence.holder === 'string' && Number.isSafeInteger(value.fence.transitions)
      ? { holder: value.fence.holder, transitions: value.fence.transitions as number }
      : undefined;
  return { ...(fence ? { fence } : {}), records: Array.isArray(value.records) ? value.records : [] };
}
