// meshd's application object: what `meshd serve` runs. It loads the mesh files, installs each
// valid mesh (its Cloud Map instances, the proxies' snapshots, telemetry's and the rollouts' view
// of it), serves the proxies over ADS, the admin API over HTTP and DogStatsD over UDP, and
// reloads the mesh when its files change. A mesh that does not load (or whose Cloud Map
// instances do not fit the registry) changes nothing: the last good one keeps serving.
//
// The CLI (src/cli/serve.ts) keeps the flags and what is printed; tests drive this in-process.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from '../admin/http-guard';
import { startAdminServer, type AdminServer } from '../admin/http-server';
import { cloudMapRemoteMetrics } from '../admin/cloud-map-remote-metrics';
import { meshdMetrics, type MeshdMetrics } from '../admin/meshd-metrics';
import { rolloutMetrics } from '../admin/rollout-metrics';
import { serverMetrics } from '../admin/server-metrics';
import { telemetryMetrics, type TelemetryMetrics } from '../admin/telemetry-metrics';
import { adminWriteAuth } from '../admin/admin-auth';
import { withSigV4 } from '../api/auth';
import { compileProxy } from '../compile';
import { DEFAULT_EGRESS_PORT, DEFAULT_INGRESS_PORT } from '../compile/defaults';
import { cloudMapHandler, registryContents } from '../discovery/cloud-map/http';
import type { Credentials } from '../util/sigv4-verify';
import { appMeshApi, type Answer, type ApiRequest } from '../api/handler';
import { seedProblems } from '../load/cloud-map-seed';
import type { LoadOptions } from '../load/mesh-source';
import { errorCount, formatLoggedProblem, logProblems } from '../load/problems';
import { watchMeshPaths, type MeshWatcher } from '../load/watcher';
import type { Logger } from '../util/log';
import { isLoopbackAddress } from '../util/loopback';
import { lookupKey, type MeshModel, type Resource } from '../model/mesh-model';
import type { Clock } from '../rollout/clock';
import { RolloutController } from '../rollout/controller';
import { editWeights, type EditResult, type IdentityCheck, type WeightEdit } from '../rollout/route-file';
import { defaultApiDir } from '../store/api-dir';
import { FileStore } from '../store/file-store';
import { PostgresMeshStore } from '../store/postgres/mesh-store';
import type { LoadedMesh } from '../store/types';
import { answerRollouts } from '../rollout/http';
import { checkRolloutRecord, RolloutStore, type RolloutRecord } from '../rollout/records';
import { WebhookCaller } from '../rollout/webhooks';
import type { PrometheusClient } from '../rollout/prometheus';
import {
  DEFAULT_TELEMETRY_LIMITS,
  peerIp,
  startStatsdServer,
  statsdSourceCheck,
  STATSD_ALLOW_ANY,
  STATSD_ALLOW_CONNECTED,
  Telemetry,
  type StatsdAllow,
  telemetryReport,
  type StatsdServer,
  type TelemetryLimits,
  type TelemetryReader,
} from '../telemetry';
import type { XdsLimits } from '../xds/limits';
import { startXdsServer, type XdsServer } from '../xds/server';
import { SnapshotCache } from '../xds/snapshot-cache';
import { StreamRegistry } from '../xds/stream-status';
import { cloudMapSubscriptions } from './cloud-map-subscriptions';
import { openCloudMap, type CloudMapOptions, type CloudMapSource } from './cloud-map-source';
import { combinedDiscovery, type DiscoverySource, type WorkloadEndpointsSource } from './combined-discovery';
import { FencedError, type ReplicaInfo } from '../store/postgres';
import { KubernetesMode, type KubernetesModeOptions } from './kubernetes-mode';
import { currentLeader, PostgresRolloutState } from '../store/postgres/rollouts';
import { Fleet, type FleetOptions } from './fleet';
import { FleetTelemetry } from './fleet-telemetry';
import { MeshController } from './mesh-controller';
import { MeshIdentity, type IdentityOptions } from './mesh-identity';
import { xdsAuthorizer } from './xds-authorizer';
import { meshTrustDomain } from '../model/mesh';
import { meshHash } from './mesh-hash';
import { renderProxyConfig, renderSnapshot } from './render';
import { StartError } from './start-error';
import { ConsoleState, consoleOriginOf } from './console-state';

/** Where a server listens (port 0: any free port). */
/**
 * How long a change's recompile may hold the event loop before it lets the pushes it made go out
 * and the proxies' requests in (bench/propagation.js: the first ACK and the longest block).
 */
const COMPILE_SLICE_MS = 10;
/**
 * How long start() may spend compiling the mesh's proxies before they connect (about 2,500
 * sidecars of the benchmark mesh), and how long a precompiled snapshot waits for its proxy.
 */
const PRECOMPILE_BUDGET_MS = 1_000;
const PRECOMPILE_GRACE_MS = 120_000;

export interface Listen {
  readonly host: string;
  readonly port: number;
}

export interface MeshServerOptions {
  /** Mesh files and folders, watched for changes. */
  readonly paths: readonly string[];
  readonly load?: LoadOptions;
  readonly log: Logger;
  /**
   * A resource as meshd's native YAML, for the web console's GET /v1/mesh/resources/<id> (serve passes the exporter's;
   * export/ is above this layer). Default: the resource as JSON, which is YAML too.
   */
  readonly resourceYaml?: (resource: Resource) => string;
  readonly xds?: Listen & { readonly limits?: Partial<XdsLimits> };
  /**
   * `token`: the admin writes' bearer token (admin/admin-auth.ts); without one they are open to local callers on a
   * loopback host and refused on any other.
   */
  readonly admin?: Listen & { readonly limits?: HttpLimits; readonly token?: string };
  /**
   * DogStatsD (UDP); on the admin address when no host is given. `allow`: whose datagrams are read (default: any
   * on a loopback host, the connected proxies' addresses on any other).
   */
  readonly statsd?: { readonly host?: string; readonly port: number; readonly allow?: StatsdAllow };
  readonly watch?: { readonly debounceMs?: number; readonly checkIntervalMs?: number };
  readonly cloudMap: CloudMapOptions & { readonly credentials?: Credentials };
  /** --kubernetes-endpoints: virtual nodes' endpoints from the cluster's EndpointSlices (k8s/endpoint-slices.ts). */
  readonly workloads?: WorkloadEndpointsSource;
  readonly telemetry?: { readonly limits?: TelemetryLimits; readonly windowMs?: number };
  readonly rollouts: {
    /** Where rollouts keep their progress. */
    readonly statePath: string;
    /** Calls the webhooks under meshd's policy; a default policy when left out. */
    readonly webhooks?: WebhookCaller;
    /** The rollouts' clock and timers (tests drive their own). */
    readonly clock?: Clock;
    /** What the canary analysis reads: meshd's own telemetry when left out (tests make up the canary's traffic). */
    readonly telemetry?: TelemetryReader;
    /** --prometheus-url: asked for the rollout metrics that carry a PromQL query. */
    readonly prometheus?: PrometheusClient;
  };
  /**
   * The App Mesh API (served on the admin port) and its store. Calls must be signed with `credentials`; without them,
   * any call is accepted on a loopback admin address, and none on another (api/auth.ts).
   */
  readonly api?: {
    /** The API's folder: one meshd YAML file per resource it created. */
    readonly dir: string;
    readonly credentials?: Credentials;
    /** In ARNs, meshOwner and resourceOwner: 12 digits. */
    readonly accountId: string;
    /** In ARNs. */
    readonly region: string;
    /** Where the uid and version of resources of the user's files are kept (default: beside the rollouts' state). */
    readonly metadataPath?: string;
    /** Creates beyond this many resources in a mesh are refused (LimitExceededException). */
    readonly maxResourcesPerMesh?: number;
  };
  /**
   * A fleet of replicas sharing state in PostgreSQL (`--store`): readiness follows the store, and the replicas are
   * listed on /v1/replicas. `advertise` is how this replica's xDS and admin API are reached, as other replicas show it.
   */
  readonly fleet?: FleetOptions & {
    readonly advertise?: { readonly xds: string; readonly admin: string };
    /** meshd's version, as other replicas see it. */
    readonly version?: string;
  };
  /** Starts the mesh files' watcher: tests wrap the real one, e.g. to hold a change back. */
  readonly watchPaths?: typeof watchMeshPaths;
  /**
   * The CA, workload certificates and join tokens (docs/identity.md). `xdsTls`: the xDS port serves TLS and every
   * stream must prove its node with a workload certificate or a join token. Without this, meshd has no CA: a
   * config naming meshd's certificates is served without them.
   */
  readonly identity?: IdentityOptions & { readonly xdsTls?: boolean };
  /**
   * Kubernetes mode (docs/kubernetes.md): the App Mesh controller's custom resources of the cluster are
   * mesh input beside the files (which win over them), and replicas elect their leader with a Lease.
   */
  readonly kubernetes?: KubernetesModeOptions;
}

/**
 * Why proxies are served no certificates although meshd has a CA: its xDS channel is open to the network
 * without authentication, so anyone reaching it could ask for any node's private key.
 */
function secretsWithheld(options: MeshServerOptions): string | undefined {
  if (!options.identity) return 'this meshd was started without a certificate authority';
  if (options.identity.xdsTls) return undefined;
  const xdsHost = options.xds?.host ?? '127.0.0.1';
  if (isLoopbackAddress(xdsHost)) return undefined;
  return `the xDS port listens on ${xdsHost} without authentication, so any client reaching it could take any node's private key: start meshd serve with --xds-tls (proxies then prove their node with a join token or certificate), or listen on loopback only (--xds-address 127.0.0.1)`;
}

const DEFAULT_TELEMETRY_WINDOW_MS = 60_000;
const DEFAULT_API_ACCOUNT = { accountId: '000000000000', region: 'us-east-1' };

/**
 * Resolves once the mesh this replica serves includes every change the store had when called, so that a new rollout
 * leader judges the route by its predecessor's last weights: the log caught up, then the store's reload (on the next
 * turn of the event loop) and its hand-over of the mesh (on the turn after) done.
 */
async function servedCaughtUp(fleet: Fleet, store: FileStore | PostgresMeshStore): Promise<void> {
  await fleet.store.log.catchUp();
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
  await turn();
  await turn();
  for (let i = 0; i < 100 && store.announcing; i++) await turn();
}

/** The meshes a model defines, for the rollouts' default mesh. */
function meshNames(model: MeshModel | undefined): string[] {
  return (model?.resources ?? []).filter((r) => r.kind === 'Mesh').map((r) => r.name);
}

export class MeshServer {
  /** Each proxy's snapshot, as served over ADS. */
  readonly snapshots = new SnapshotCache();
  readonly controller: MeshController;
  /** What proxies are compiled against: the Cloud Map view, with the cluster's endpoints when given. */
  private readonly discovery: DiscoverySource;
  readonly streams = new StreamRegistry();
  readonly telemetry: Telemetry;
  private readonly metrics: MeshdMetrics;
  private readonly telemetryMetrics: TelemetryMetrics;
  private readonly log: Logger;
  /** The App Mesh API's answer to one request. */
  readonly apiHandler: (request: ApiRequest) => Promise<Answer>;
  private watcher: MeshWatcher | undefined;
  /**
   * The App Mesh API's folder, watched for edits by hand once it exists. Apart from the mesh
   * paths' watcher: it is meshd's own folder, so its state is logged but is not readiness.
   */
  private apiWatcher: MeshWatcher | undefined;
  private reloadBeforeWatching = false;
  /** Rollouts rewrite mesh files and count on the watcher to serve the result: they see a mesh only once it watches. */
  private watching = false;
  private rolloutsWaiting: (() => Promise<void>) | undefined;
  private xds: XdsServer | undefined;
  private statsd: StatsdServer | undefined;
  private admin: AdminServer | undefined;
  private closed = false;
  private started = false;
  /** App Mesh API requests refused, by reason (meshd_app_mesh_api_refused_total). */
  private readonly apiRefused = new Map<string, number>();
  /** The content hash of the mesh served (mesh-hash.ts); undefined until one is. */
  private servedHash: string | undefined;
  /** connectedPeerAddresses()'s last answer and when it was made. */
  private peers: { at: number; addresses: ReadonlySet<string> } = { at: -Infinity, addresses: new Set() };
  /** Statsd datagrams refused for their source since the last log line about them. */
  private statsdRefusals = { loggedAt: -Infinity, unlogged: 0, last: '' };

  /**
   * Opens the Cloud Map registry and the rollouts' state; throws StartError,
   * with nothing left open, when it cannot. Serves nothing yet: see start().
   */
  static async open(options: MeshServerOptions): Promise<MeshServer> {
    let server: MeshServer | undefined;
    let fleet: Fleet | undefined;
    if (options.fleet) {
      try {
        fleet = await Fleet.open(options.fleet, options.log, () => server!.replicaInfo());
      } catch (err) {
        throw new StartError((err as Error).message);
      }
    }
    try {
      server = await MeshServer.openWith(options, fleet);
    } catch (err) {
      await fleet?.close();
      throw err;
    }
    return server;
  }

  private static async openWith(options: MeshServerOptions, fleet: Fleet | undefined): Promise<MeshServer> {
    let kube: KubernetesMode | undefined;
    if (options.kubernetes) {
      if (fleet)
        throw new StartError(
          '--kubernetes and --store cannot be combined: in a cluster the replicas share the Kubernetes API and elect their leader with a Lease',
        );
      try {
        kube = KubernetesMode.open(options.kubernetes, options.log);
      } catch (err) {
        throw new StartError(`kubernetes: ${(err as Error).message}`);
      }
    }
    const cloudMap = await openCloudMap(options.cloudMap, options.log, fleet?.store);
    if (cloudMap.shared) {
      const shared = cloudMap.shared;
      // The mesh's first load usually comes before the lease is taken: a new leader applies the files' seeds.
      fleet?.onLeading(() => void shared.leadershipGained());
    }
    const telemetry = new Telemetry(options.telemetry?.limits ?? DEFAULT_TELEMETRY_LIMITS);
    // In a fleet the canary analysis sums every replica's share of the traffic.
    const fleetTelemetry = fleet
      ? new FleetTelemetry(
          fleet.store.pool,
          fleet.replicaId,
          telemetry.windows,
          options.log,
          () => fleet.store.lease.leading,
        )
      : undefined;
    const webhooks = options.rollouts.webhooks ?? new WebhookCaller();
    // Made before the store, whose invalid loads (a fleet's) it records too.
    const consoleState = new ConsoleState();
    let store: FileStore | PostgresMeshStore;
    let rollouts: RolloutController;
    const log = options.log;
    try {
      const limits =
        options.api?.maxResourcesPerMesh !== undefined ? { maxResourcesPerMesh: options.api.maxResourcesPerMesh } : {};
      store = fleet
        ? // In a fleet the API's resources and the files' metadata are rows of the store; the files are read-only.
          new PostgresMeshStore({
            log: fleet.store.log,
            paths: options.paths,
            ...(options.load ? { load: options.load } : {}),
            ...limits,
            onInvalid: (result, reason) => {
              logProblems(log, result.problems);
              consoleState.loaded(result.problems, false);
              log.error(
                `mesh not ${reason}: ${errorCount(result.problems)} error(s) after a change in the store; the last good mesh keeps serving`,
              );
            },
            onError: (message) => log.warn(message),
          })
        : new FileStore({
            paths: options.paths,
            apiDir: options.api?.dir ?? defaultApiDir(options.paths),
            metadataPath:
              options.api?.metadataPath ?? path.join(path.dirname(options.rollouts.statePath), '.meshd-resources.json'),
            ...(options.load || kube
              ? {
                  load: {
                    ...options.load,
                    // The user's files win over the cluster's objects of the same key (docs/kubernetes.md).
                    ...(kube ? { yields: KubernetesMode.owns } : {}),
                  },
                }
              : {}),
            ...limits,
            ...(kube ? { extraFiles: () => kube.cluster.texts() } : {}),
          });
      // In a fleet the rollouts' state is the store's, and only the leader acts on it (docs/rollouts.md).
      const rolloutState = fleet
        ? new PostgresRolloutState<RolloutRecord>(fleet.store.log, fleet.store.lease, {
            check: checkRolloutRecord,
            onBadRow: (key, why) =>
              options.log.warn(
                `rollouts: the store's row ${key} is not a rollout this meshd can use (${why}); ignored`,
              ),
          })
        : undefined;
      if (fleet && rolloutState) fleet.store.log.follow(rolloutState);
      /**
       * A fleet's route edit, under the lease's fence; a refused fence is told to the controller as the refusal it is.
       */
      const fencedRouteEdit = async (
        meshStore: PostgresMeshStore,
        edits: readonly WeightEdit[],
        identity: readonly IdentityCheck[],
      ): Promise<EditResult> => {
        const fence = fleet?.store.lease.fence;
        if (!fence || !rolloutState) throw new FencedError('this replica does not lead; the route was not changed');
        const result = await meshStore.editRouteWeights(edits, identity, fence);
        // editRouteWeights answers a refused fence as a failed write: asked again, the store says which it was.
        if (!result.ok && !result.conflict) await rolloutState.confirmLeading();
        return result;
      };
      rollouts = new RolloutController({
        telemetry: options.rollouts.telemetry ?? fleetTelemetry?.reader ?? telemetry.reader,
        store: rolloutState ?? kube?.rolloutState ?? new RolloutStore(options.rollouts.statePath),
        ...(kube ? { fleet: kube.rolloutFleet } : {}),
        ...(fleet
          ? {
              fleet: {
                replicaId: fleet.replicaId,
                isLeader: () => fleet.store.lease.leading,
                leader: () => currentLeader(fleet.store.lease, fleet.store.pool),
                caughtUp: () => servedCaughtUp(fleet, store),
              },
            }
          : {}),
        log: options.log,
        webhooks,
        ...(options.rollouts.prometheus ? { prometheus: options.rollouts.prometheus } : {}),
        // A route the App Mesh API owns is updated through the store (its version goes up); a route of
        // the user's files is edited in place. In a fleet, both are rows of the store, written under the lease.
        editRoute: (edits, identity) => {
          // A route of the cluster is written through the API, by the Lease holder.
          if (kube && edits[0] && KubernetesMode.owns(edits[0].at.file)) return kube.editRouteWeights(edits, identity);
          if (!(store instanceof FileStore)) return fencedRouteEdit(store, edits, identity);
          return edits[0] && store.ownsFile(edits[0].at.file)
            ? store.editApiRouteWeights(
                edits[0].at.file,
                edits.map((e) => ({ path: e.at.path, expected: e.expected, value: e.value })),
              )
            : editWeights(edits, identity);
        },
        ...(options.rollouts.clock ? { clock: options.rollouts.clock } : {}),
      });
      const controller = rollouts;
      fleet?.onLeadership((leading, reason) => controller.leadershipChanged(leading, reason));
      kube?.elector.onLeadership((leading, reason) => controller.leadershipChanged(leading, reason));
    } catch (err) {
      await cloudMap.close();
      throw new StartError(`${(err as Error).message}`);
    }
    // Last, so that a start refused for another reason says that alone (and makes no CA files first).
    let identity: MeshIdentity | undefined;
    let noCa: string | undefined;
    if (options.identity) {
      try {
        const identityOptions = options.identity;
        const open = () =>
          MeshIdentity.open(
            identityOptions,
            options.log,
            fleet ? { pool: fleet.store.pool } : kube ? { store: (key) => kube.caStateStore(key) } : undefined,
          );
        // In a cluster the CA lives in a Secret: an API server still starting is waited for, as the informers wait.
        identity = kube ? await kube.retryWhileUnreachable('open the CA (Secret meshd-ca)', open) : await open();
      } catch (err) {
        noCa = `the certificate authority cannot be opened: ${(err as Error).message}`;
        // --xds-tls cannot work without it; anything else keeps serving configurations, certificates aside.
        if (options.identity.xdsTls) {
          await cloudMap.close();
          throw new StartError(noCa);
        }
        options.log.error(`identity: ${noCa}; workload certificates are not served (docs/identity.md)`);
      }
    }
    return new MeshServer(
      options,
      cloudMap,
      telemetry,
      rollouts,
      webhooks,
      store,
      fleet,
      fleetTelemetry,
      identity,
      noCa,
      kube,
      consoleState,
    );
  }

  private constructor(
    private readonly options: MeshServerOptions,
    readonly cloudMap: CloudMapSource,
    telemetry: Telemetry,
    readonly rollouts: RolloutController,
    webhooks: WebhookCaller,
    readonly store: FileStore | PostgresMeshStore,
    private readonly fleet: Fleet | undefined,
    private readonly fleetTelemetry: FleetTelemetry | undefined,
    readonly identity: MeshIdentity | undefined,
    noCa: string | undefined,
    readonly kube: KubernetesMode | undefined,
    /** The web console's generations, last findings and change listeners. */
    readonly console: ConsoleState,
  ) {
    this.log = options.log;
    this.apiHandler = appMeshApi(store, {
      account: options.api ?? DEFAULT_API_ACCOUNT,
      onFailure: (err) => this.log.error(`App Mesh API: internal error: ${err.stack ?? err.message}`),
    });
    store.onChange((mesh, reason) => {
      const served = this.install(mesh, reason);
      this.console.loaded(mesh.problems, served);
      this.kube?.loaded(mesh);
      this.watchApiDir();
    });
    this.telemetry = telemetry;
    rollouts.onChange(() => this.console.rolloutsChanged());
    const withheld = noCa ?? secretsWithheld(options);
    const workloads = options.workloads ?? kube?.workloads;
    this.discovery = workloads ? combinedDiscovery(cloudMap.view, workloads) : cloudMap.view;
    this.controller = new MeshController(this.snapshots, this.discovery, this.log, {
      sliceMs: COMPILE_SLICE_MS,
      ...(identity && !withheld ? { secrets: identity.secrets } : { secretsWithheld: withheld }),
    });
    this.metrics = meshdMetrics(this.streams, this.log);
    const registry = this.metrics.registry;
    // Per-virtual-node series only for the nodes of the mesh served (bounded by the mesh).
    this.telemetryMetrics = telemetryMetrics(
      registry,
      telemetry,
      this.telemetryWindowMs,
      (mesh, node) => this.controller.currentModel()?.virtualNode(mesh, node) !== undefined,
    );
    rolloutMetrics(registry, rollouts, webhooks);
    fleet?.registerMetrics(registry);
    kube?.registerMetrics(registry);
    registry.counter(
      'meshd_cloud_map_refused_total',
      "Cloud Map API requests refused: a bad SigV4 signature, no credentials set on a non-loopback admin address, an address that is never a workload's, attributes over AWS's limits, an internal error",
      ['reason'],
      () => [...cloudMap.refused].map(([reason, value]) => ({ labels: { reason }, value })),
    );
    if (cloudMap.remote) cloudMapRemoteMetrics(registry, cloudMap.remote);
    registry.gauge(
      'meshd_mesh_info',
      'The mesh served: its content hash (replicas of a fleet serving the same mesh show the same hash)',
      ['hash'],
      () => (this.servedHash ? [{ labels: { hash: this.servedHash }, value: 1 }] : []),
    );
    registry.counter(
      'meshd_app_mesh_api_refused_total',
      'App Mesh API requests refused: signature (a bad or missing SigV4 signature), no_credentials (a non-loopback admin address without --api-credentials), host (without credentials, a Host that is not loopback: DNS rebinding), body_too_large, internal_error',
      ['reason'],
      () => [...this.apiRefused].map(([reason, value]) => ({ labels: { reason }, value })),
    );
  }

  private get telemetryWindowMs(): number {
    return this.options.telemetry?.windowMs ?? DEFAULT_TELEMETRY_WINDOW_MS;
  }

  /** The mesh being served; undefined until one is valid. */
  currentModel(): MeshModel | undefined {
    return this.controller.currentModel();
  }

  /** The mesh paths that do not exist (now): meshd waits for them to appear. */
  missingPaths(): string[] {
    return this.options.paths.filter((p) => !fs.existsSync(p));
  }

  /**
   * Loads the mesh files and, when they are valid and their Cloud Map instances fit the
   * registry, serves the new mesh; otherwise logs why and changes nothing. True when served.
   */
  reload(reason = 'loaded', detectedAt = Date.now(), changed?: readonly string[]): boolean {
    const { log, controller } = this;
    const result = this.store.load(changed);
    logProblems(log, result.problems);
    this.kube?.loaded(result);
    this.metrics.reloaded(result.ok);
    if (result.ok) {
      const served = this.install(result, reason, detectedAt);
      this.console.loaded(result.problems, served);
      return served;
    }
    this.console.loaded(result.problems, false);
    // Out of file descriptors, say: the files may be fine, so they are loaded again at the watcher's next check.
    if (result.retry) {
      if (this.watcher) this.watcher.reloadLater();
      else this.reloadBeforeWatching = true;
    }
    const errors = errorCount(result.problems);
    log.error(
      controller.currentModel()
        ? `mesh not ${reason}: ${errors} error(s); the last good mesh keeps serving`
        : `mesh not ${reason}: ${errors} error(s); nothing is served until the mesh is valid`,
    );
    return false;
  }

  /**
   * Serves a valid mesh (loaded from the files, or made by an API write) when its Cloud Map instances
   * fit the registry; otherwise logs why and changes nothing. True when served.
   */
  private install(result: LoadedMesh, reason: string, detectedAt = Date.now()): boolean {
    if (this.closed) return false;
    const { log, controller, telemetry, rollouts } = this;
    const registry = this.cloudMap.registry;
    // The mesh files' Cloud Map instances must fit the registry's services before anything is applied.
    const seedErrors = seedProblems(registry, result.cloudMapSeeds);
    seedErrors.forEach((p) => log.error({ file: p.location.file, line: p.location.line }, formatLoggedProblem(p)));
    if (seedErrors.length === 0) {
      try {
        const seeds = result.cloudMapSeeds.map((s) => s.seed);
        const shared = this.cloudMap.shared;
        if (shared) {
          // In a fleet the leader applies the files' seeds once for all; the others hear them through the store.
          controller.setModel(result.model, detectedAt);
          void shared.applySeeds(seeds).then((applied) => {
            if (applied.outcome === 'failed')
              log.error(`cloud map: the mesh files' instances not applied: ${applied.message}`);
          });
        } else controller.setModel(result.model, detectedAt, () => registry.applySeeds(seeds));
        telemetry.setModel(result.model);
        // The series of virtual nodes the new mesh no longer has go now, not at the next scrape.
        this.telemetryMetrics.pruneRemoved((mesh, node) => result.model.virtualNode(mesh, node) !== undefined);
        this.cloudMap.remote?.subscribe(cloudMapSubscriptions(result.model));
        this.rolloutsSee(() =>
          rollouts.meshLoaded({ model: result.model, whereWritten: result.whereWritten }, result.rollouts),
        );
        this.servedHash = meshHash(result);
        this.console.served();
        log.info(`mesh ${reason}: ${result.model.resources.length} resources from ${result.files.length} file(s)`);
        return true;
      } catch (err) {
        log.error(
          `mesh not ${reason}: its Cloud Map instances could not be saved: ${(err as Error).message}; the last good mesh keeps serving`,
        );
        return false;
      }
    }
    const errors = seedErrors.length;
    log.error(
      controller.currentModel()
        ? `mesh not ${reason}: ${errors} error(s); the last good mesh keeps serving`
        : `mesh not ${reason}: ${errors} error(s); nothing is served until the mesh is valid`,
    );
    return false;
  }

  private rolloutsSee(load: () => Promise<void>): void {
    if (this.watching) void load();
    else this.rolloutsWaiting = load;
  }

  /**
   * Loads the mesh, starts the xDS, DogStatsD and admin servers, then watches the mesh files;
   * resolves once they are watched. Throws StartError (everything closed) when a server cannot start.
   */
  async start(): Promise<void> {
    if (this.started || this.closed) throw new Error('a MeshServer starts once, and not after close()');
    this.started = true;
    if (this.fleet) {
      try {
        await this.fleet.start();
        this.fleetTelemetry?.start();
      } catch (err) {
        await this.close();
        throw new StartError(`cannot read the store: ${(err as Error).message}`);
      }
    }
    if (this.kube) {
      const kube = this.kube;
      this.log.info('kubernetes: listing the App Mesh resources and Namespaces before the first load');
      await kube.start();
      if (this.closed) return;
      kube.cluster.onChange((files) =>
        this.reload(`reloaded after a change in Kubernetes (${describeFiles(files)})`, Date.now(), files),
      );
    }
    this.reload('loaded');
    // Before proxies can connect: a fleet reconnecting after a restart finds its snapshots ready.
    this.controller.precompile(PRECOMPILE_BUDGET_MS, PRECOMPILE_GRACE_MS);
    const options = this.options;
    const adminHost = options.admin?.host ?? '127.0.0.1';
    // Handler failures and refusals of every server, counted on /metrics and logged.
    const servers = serverMetrics(this.metrics.registry, this.log);
    try {
      const { controller, identity } = this;
      const xdsTls = identity && options.identity?.xdsTls ? await identity.xdsServerTls() : undefined;
      if (this.closed) return await this.closeServers();
      this.xds = await startXdsServer({
        host: options.xds?.host ?? '127.0.0.1',
        port: options.xds?.port ?? 0,
        cache: this.snapshots,
        hooks: {
          nodeKey: (node) => controller.nodeKey(node),
          onNodeGone: (key) => controller.onNodeGone(key),
          // With TLS every stream proves the node it asks for (a join token or a workload certificate).
          ...(xdsTls && identity
            ? {
                authorize: xdsAuthorizer(identity.tokens, (mesh) => {
                  const served = controller.currentModel()?.mesh(mesh);
                  return served ? meshTrustDomain(served) : undefined;
                }),
              }
            : {}),
        },
        ...(xdsTls ? { tls: xdsTls } : {}),
        log: this.log,
        observer: this.metrics.observer,
        streams: this.streams,
        ...(options.xds?.limits ? { limits: options.xds.limits } : {}),
      });
      if (this.closed) return await this.closeServers();
      if (xdsTls && identity) {
        identity.endRevokedStreams(this.streams);
        const xds = this.xds;
        identity.onServerTls((tls) => {
          try {
            xds.updateTls(tls);
          } catch (err) {
            this.log.error(`identity: the xDS server's new certificate was not taken: ${(err as Error).message}`);
          }
        });
      }
      const statsdHost = options.statsd?.host ?? adminHost;
      const allow =
        options.statsd?.allow ?? (isLoopbackAddress(statsdHost) ? STATSD_ALLOW_ANY : STATSD_ALLOW_CONNECTED);
      this.statsd = await startStatsdServer(
        statsdHost,
        options.statsd?.port ?? 0,
        (datagram) => this.telemetry.receive(datagram),
        (err) => servers.handlerError?.('statsd', err),
        allow.any
          ? undefined
          : {
              allow: statsdSourceCheck(allow, () => this.connectedPeerAddresses()),
              refused: (address) => this.statsdRefused(address),
            },
      );
      if (this.closed) return await this.closeServers();
      this.admin = await startAdminServer(
        adminHost,
        options.admin?.port ?? 0,
        this.adminSources(this.xds, this.statsd),
        {
          limits: options.admin?.limits ?? DEFAULT_HTTP_LIMITS,
          observer: servers,
          writeAuth: adminWriteAuth(options.admin?.token, isLoopbackAddress(adminHost)),
        },
      );
      if (this.closed) return await this.closeServers();
      await this.kube?.startWebhook(this.identity);
      if (this.closed) return await this.closeServers();
    } catch (err) {
      await this.close();
      throw new StartError((err as Error).message);
    }
    this.cloudMap.remote?.start();
    const watcher = (options.watchPaths ?? watchMeshPaths)(
      this.options.paths,
      (changed, detectedAt) => this.reload(`reloaded after a change to ${changed.join(', ')}`, detectedAt, changed),
      {
        ...(options.watch?.debounceMs !== undefined ? { debounceMs: options.watch.debounceMs } : {}),
        ...(options.watch?.checkIntervalMs !== undefined ? { checkIntervalMs: options.watch.checkIntervalMs } : {}),
        report: {
          error: (code, message) => {
            this.metrics.watcherError(code);
            if (message) this.log.error(`${message}; the last good mesh keeps serving`);
          },
          state: (message, watching) => (watching ? this.log.info(message) : this.log.warn(message)),
        },
      },
    );
    this.watcher = watcher;
    this.watchApiDir();
    this.metrics.countUnwatched(() => watcher.unwatched().length);
    if (this.reloadBeforeWatching) watcher.reloadLater();
    await watcher.ready;
    if (this.closed) return await this.closeServers();
    this.watching = true;
    void this.rolloutsWaiting?.();
    this.rolloutsWaiting = undefined;
  }

  /** Starts watching the API's folder once it exists (it is made by the first API write). */
  private watchApiDir(): void {
    // A fleet's API resources are rows of its store: no folder to watch.
    if (!(this.store instanceof FileStore)) return;
    const store = this.store;
    const dir = store.apiDir;
    if (this.apiWatcher || !this.watcher || this.closed || !fs.existsSync(dir)) return;
    const options = this.options;
    this.apiWatcher = (options.watchPaths ?? watchMeshPaths)(
      [dir],
      (changed, detectedAt) => {
        // The store's own writes are served already: no second load for them.
        if (store.wroteAll(changed)) return;
        this.reload(`reloaded after a change to ${changed.join(', ')}`, detectedAt, changed);
      },
      {
        ...(options.watch?.debounceMs !== undefined ? { debounceMs: options.watch.debounceMs } : {}),
        ...(options.watch?.checkIntervalMs !== undefined ? { checkIntervalMs: options.watch.checkIntervalMs } : {}),
        report: {
          error: (code, message) => {
            this.metrics.watcherError(code);
            if (message) this.log.warn(`App Mesh API folder: ${message}; edits by hand there are not seen`);
          },
          state: (message) => this.log.info(`App Mesh API folder: ${message}`),
        },
      },
    );
  }

  /**
   * The IP addresses (normalised: IPv4-mapped IPv6 as IPv4) of the peers of the ADS streams open now: the
   * sources `--statsd-allow connected` reads. Made again at most every 100 ms, so a flood of datagrams does not
   * cost a walk of the streams each (a proxy's first datagrams within 100 ms of its connecting may be dropped).
   */
  connectedPeerAddresses(): ReadonlySet<string> {
    const now = Date.now();
    if (now - this.peers.at < 100) return this.peers.addresses;
    const addresses = new Set<string>();
    for (const s of this.streams.list()) {
      const ip = peerIp(s.peer);
      if (ip !== undefined) addresses.add(ip);
    }
    this.peers = { at: now, addresses };
    return addresses;
  }

  /** A datagram dropped for its source: counted, and logged at most once every 10 s with how many. */
  private statsdRefused(address: string): void {
    this.telemetry.refuseDatagram('source');
    const r = this.statsdRefusals;
    r.unlogged++;
    r.last = address;
    const now = Date.now();
    if (now - r.loggedAt < 10_000) return;
    this.log.warn(
      `statsd: dropped ${r.unlogged} datagram(s) from addresses --statsd-allow does not allow (the last from ${r.last}); meshd_statsd_dropped_datagrams_total{reason="source"} counts them`,
    );
    r.loggedAt = now;
    r.unlogged = 0;
  }

  /** What the admin API reads. */
  private adminSources(xds: XdsServer, statsd: StatsdServer): Parameters<typeof startAdminServer>[2] {
    const { controller, cloudMap, rollouts, log } = this;
    const credentials = this.options.cloudMap.credentials;
    const listen = { address: statsd.address, port: statsd.port };
    return {
      streams: xds.streams,
      proxyProblems: this.snapshots,
      readiness: () => this.readiness(),
      metrics: () => this.metrics.registry.render(),
      cloudMap: {
        answer: (cloudMap.shared
          ? cloudMap.shared.handler.bind(cloudMap.shared)
          : (options: Parameters<typeof cloudMapHandler>[1]) => cloudMapHandler(cloudMap.registry, options))({
          ...(credentials ? { credentials } : {}),
          // Without a key, as the App Mesh API: open to local callers only, closed beyond loopback.
          allowUnsigned: isLoopbackAddress(this.options.admin?.host ?? '127.0.0.1'),
          onFailure: (message) => log.error(`cloud map: ${message}`),
          onRefused: (reason) => cloudMap.refused.set(reason, (cloudMap.refused.get(reason) ?? 0) + 1),
        }),
        contents: () => registryContents(cloudMap.registry),
        remote: () => cloudMap.remote?.report() ?? { mode: 'local' },
      },
      telemetry: {
        report: (windowText) => telemetryReport(this.telemetry, listen, this.telemetryWindowMs, windowText),
      },
      rollouts: {
        answer: (method, path, body) =>
          answerRollouts(rollouts, () => meshNames(controller.currentModel()), method, path, body),
      },
      ...(this.identity ? { identity: this.identity } : {}),
      configOf: (nodeId) => this.configOf(nodeId),
      appMesh: this.appMeshSource(),
      meshHash: () => this.servedHash,
      ...(this.fleet ? { replicas: { report: () => this.fleet!.report() } } : {}),
      console: {
        served: () => ({ generation: this.console.meshGeneration, model: controller.currentModel() }),
        originOf: (file) => consoleOriginOf(file, (f) => this.store.ownsFile(f)),
        yamlOf: (resource) =>
          this.options.resourceYaml?.(resource) ?? `${JSON.stringify({ ...resource, source: undefined }, null, 2)}\n`,
        problems: () => this.console.problems,
        readersOf: (resource) => controller.readersOf(readLookups(resource)),
        onChange: (listener) => this.console.onChange(listener),
      },
    };
  }

  /** This replica's id in its fleet (--store); undefined alone. */
  get replicaId(): string | undefined {
    return this.fleet?.replicaId;
  }

  /** The content hash of the mesh served; undefined until one is. */
  get meshHash(): string | undefined {
    return this.servedHash;
  }

  /** What this replica's heartbeat tells the fleet. */
  private replicaInfo(): ReplicaInfo {
    const advertise = this.options.fleet?.advertise;
    const listening = this.xds && this.admin ? this.listening : undefined;
    return {
      xdsAddress: advertise?.xds ?? (listening ? `${this.options.xds?.host ?? '127.0.0.1'}:${listening.xdsPort}` : ''),
      adminAddress:
        advertise?.admin ?? (listening ? `${this.options.admin?.host ?? '127.0.0.1'}:${listening.adminPort}` : ''),
      meshHash: this.servedHash ?? '',
      proxies: [...new Set(this.streams.list().map((s) => s.nodeId))].sort(),
      version: this.options.fleet?.version ?? '',
    };
  }

  /** App Mesh's API behind its signature checks. */
  private appMeshSource(): Parameters<typeof startAdminServer>[2]['appMesh'] {
    const handler = this.apiHandler;
    const refused = (reason: string) => this.apiRefused.set(reason, (this.apiRefused.get(reason) ?? 0) + 1);
    const credentials = this.options.api?.credentials;
    return {
      answer: withSigV4(handler, {
        ...(credentials ? { credentials } : {}),
        allowUnsigned: isLoopbackAddress(this.options.admin?.host ?? '127.0.0.1'),
        onRefused: refused,
      }),
      refused,
    };
  }

  /** Ready to serve proxies: a valid mesh is loaded and every mesh path is watched. Otherwise the reason. */
  readiness(): { ready: true } | { ready: false; reason: string } {
    const store = this.fleet?.notReady();
    if (store !== undefined) return { ready: false, reason: store };
    const kube = this.kube?.notReady();
    if (kube !== undefined) return { ready: false, reason: kube };
    // Not ready while a mesh path is not watched either: the mesh
    // served may no longer be what the files say (docs/security.md).
    const unwatched = this.watcher?.unwatched() ?? [];
    const paths = unwatched.map((u) => `${u.path}: ${u.reason} (since ${new Date(u.since).toISOString()})`).join('; ');
    if (!this.controller.currentModel())
      return { ready: false, reason: `no valid mesh loaded yet${paths ? `; mesh path not watched: ${paths}` : ''}` };
    if (unwatched.length === 0) return { ready: true };
    return {
      ready: false,
      reason: `mesh path not watched, changes to it are not seen, the last good mesh keeps serving: ${paths}`,
    };
  }

  /** A connected proxy's config is what it is being served; any other node id's is what it would get. */
  configOf(nodeId: string): { ok: true; config: unknown } | { ok: false; error: string } {
    const served = this.controller.servedSnapshot(nodeId);
    if (served) return { ok: true, config: renderSnapshot(served) };
    const model = this.controller.currentModel();
    if (!model) return { ok: false, error: 'no valid mesh loaded yet' };
    const result = compileProxy(model, this.discovery, nodeId, {
      ingressPort: DEFAULT_INGRESS_PORT,
      egressPort: DEFAULT_EGRESS_PORT,
    });
    return result.ok ? { ok: true, config: renderProxyConfig(result.config) } : result;
  }

  /** Where each server listens, once started. */
  get listening(): { xdsPort: number; adminPort: number; statsd: { address: string; port: number } } {
    if (!this.xds || !this.admin || !this.statsd) throw new Error('the mesh server is not started');
    return {
      xdsPort: this.xds.port,
      adminPort: this.admin.port,
      statsd: { address: this.statsd.address, port: this.statsd.port },
    };
  }

  /** Stops everything (servers, watcher, rollouts' timers) and closes the state files. Idempotent. */
  async close(): Promise<void> {
    const first = !this.closed;
    this.closed = true;
    if (first) this.rollouts.close();
    if (first) this.controller.close();
    await this.closeServers();
    if (first) await this.cloudMap.close();
    if (first) this.fleetTelemetry?.close();
    if (first) this.identity?.close();
    if (first) await this.fleet?.close();
    if (first) await this.kube?.close();
    if (first) this.metrics.registry.close();
  }

  /**
   * Closes the servers and the watcher started and not closed yet. A close() while start() awaits
   * one of them leaves start() to close what it opens after that (it checks after each await).
   */
  private async closeServers(): Promise<void> {
    const { watcher, apiWatcher, admin, statsd, xds } = this;
    this.watcher = this.apiWatcher = this.admin = this.statsd = this.xds = undefined;
    await watcher?.close();
    await apiWatcher?.close();
    await admin?.close();
    await statsd?.close();
    await xds?.close();
  }
}

/**
 * The look-ups (lookupKey) a compile makes that read `resource`: its own key; for a route or gateway route, its
 * router's or gateway's list of them.
 */
function readLookups(resource: Resource): string[] {
  const own = lookupKey.resource(resource.mesh, resource.kind, resource.name);
  if (resource.kind === 'Route') return [own, lookupKey.routesOf(resource.mesh, resource.virtualRouter)];
  if (resource.kind === 'GatewayRoute') return [own, lookupKey.gatewayRoutesOf(resource.mesh, resource.virtualGateway)];
  return [own];
}

/** The first few changed files of a burst, for the reload's log line. */
function describeFiles(files: readonly string[]): string {
  return files.length <= 3 ? files.join(', ') : `${files.slice(0, 3).join(', ')} and ${files.length - 3} more`;
}
