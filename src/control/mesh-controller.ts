// Wires the pieces of `meshd serve`: the current mesh model, the compiler and the xDS cache.
// Each connected proxy gets a snapshot compiled for its node id and settings. Each compile
// notes what it looked up in the model and in the Cloud Map registry (and the Kubernetes
// endpoints of the virtual nodes it calls); a new model recompiles only the proxies for which one
// of those look-ups now answers differently, and a registry change only those that read a changed
// service (or node). Only snapshots whose resources changed are
// pushed (the cache compares content). Proxies whose node no longer compiles keep their last
// good snapshot, and the reason is logged once and left in the cache for `meshd status`.
//
// With a time slice (`meshd serve`), a change that reaches many proxies is compiled a slice at
// a time: each proxy is pushed as soon as its snapshot is ready, and between slices the event
// loop writes those pushes and reads the ACKs, so the first proxy hears of a change after one
// compile rather than after all of them and no request waits longer than a slice. A proxy
// waiting for its turn keeps serving its previous snapshot; it is compiled with the newest
// model when its turn comes, so a model replaced mid-pass is never half-applied to one proxy.
import { compileProxy, LookupMemo } from '../compile';
import { workloadEndpointsKey, type CloudMapView } from '../compile/cloud-map-view';
import { DEFAULT_EGRESS_PORT, DEFAULT_INGRESS_PORT } from '../compile/defaults';
import { serviceKey } from '../discovery/cloud-map/registry';
import { canonicalNodeId, formatNodeId } from '../model/node-id';
import type { DiscoveredInstance } from '../model/cloud-map-instance';
import type { ProxySettings } from '../compile/proxy-config';
import type { WorkloadIdentity } from '../compile/identity';
import type { Node__Output } from '../generated/envoy/config/core/v3/Node';
import type { Logger } from '../util/log';
import type { MeshModel } from '../model/mesh-model';
import type { StreamHooks } from '../xds/ads-session';
import type { ResourceSet, Snapshot, SnapshotCache } from '../xds/snapshot-cache';
import { TypeUrl } from '../xds/type-urls';
import { ResourceEncoder } from './encode';
import type { ProxySecrets } from './proxy-secrets';
import { KeyInterner } from './interned-keys';
import { proxySettingsOf } from './proxy-settings';
import { keysOf, recordingReader, type ReadLog } from './recording-reader';
import { sameItems } from '../util/same-items';

interface ProxyEntry {
  readonly nodeId: string;
  readonly settings: ProxySettings;
  /** The last compile error logged for this proxy, so a repeated reload does not repeat it. */
  lastError?: string;
  /** The Cloud Map services (serviceKey) its last compile read, and their log (in order, as read). */
  cloudMapReads: ReadonlySet<string>;
  cloudMapLog: readonly string[];
  /**
   * The model look-ups (lookupKey) its last compile made; undefined:
   * compile it on every reload (its last compile failed unexpectedly).
   */
  modelReads: ReadonlySet<string> | undefined;
  /** Their log (recording-reader.ts): a compile that logs the same items leaves the readers' index as it is. */
  modelLog: ReadLog | undefined;
  /** Compiled before any proxy of it connected (precompile); forgotten unless one claims it in time. */
  provisional?: boolean;
  /** The workload identity its config names managed secrets for (compile/identity.ts); undefined: none. */
  identity?: WorkloadIdentity;
}

const NONE: ReadonlySet<string> = new Set();

/** A proxy not compiled yet: it has read nothing. */
function newEntry(nodeId: string, settings: ProxySettings): ProxyEntry {
  return { nodeId, settings, cloudMapReads: NONE, cloudMapLog: [], modelReads: NONE, modelLog: undefined };
}

/** serviceKey, interned. */
const serviceKeys = new KeyInterner<undefined>((_, namespace, service) => serviceKey(namespace, service));
/** workloadEndpointsKey, interned. */
const workloadKeys = new KeyInterner<undefined>((_, mesh, node) => workloadEndpointsKey(mesh, node));

/**
 * Look-up key → the proxies whose last compile made that look-up: a change finds the proxies it
 * reaches from its keys, without visiting every proxy.
 */
class ReadersIndex {
  private readonly readers = new Map<string, Set<string>>();

  /** The proxy's reads are now `next` instead of `previous`. */
  replace(proxy: string, previous: ReadonlySet<string>, next: ReadonlySet<string>): void {
    for (const key of previous) {
      if (next.has(key)) continue;
      const set = this.readers.get(key);
      set?.delete(proxy);
      if (set?.size === 0) this.readers.delete(key);
    }
    for (const key of next) {
      if (previous.has(key)) continue;
      let set = this.readers.get(key);
      if (!set) this.readers.set(key, (set = new Set()));
      set.add(proxy);
    }
  }

  /** Each proxy that read one of `keys`. */
  *readersOf(keys: Iterable<string>): Iterable<string> {
    for (const key of keys) yield* this.readers.get(key) ?? [];
  }
}

/**
 * Anything that can be read and announces which services changed (the registry): Cloud Map
 * serviceKeys, and (with workloadEndpoints) workloadEndpointsKeys.
 */
export interface CloudMapSource extends CloudMapView {
  onChange(listener: (changed: ReadonlySet<string>) => void): unknown;
}

/** Why a proxy that connects before any valid mesh has loaded gets nothing (`meshd status`). */
export const NO_MESH_YET = 'no valid mesh is loaded yet; nothing is served until the mesh files load without errors';

/** How long the compile of a new model may take before setModel returns and lets the first pushes out. */
const FIRST_SLICE_MS = 1;

export interface MeshControllerOptions {
  /**
   * Compile at most about this many ms in one turn of the event loop, then let it write the
   * pushes and read requests before going on; undefined: compile every affected proxy at once.
   */
  readonly sliceMs?: number;
  /**
   * Where a proxy's managed secrets come from (its workload certificate and the trust bundle); without it, a
   * config that names them is served without them (Envoy then waits for them: `meshd status` says why).
   */
  readonly secrets?: ProxySecrets;
  /** Without `secrets`: why this meshd serves no certificates (`meshd status` shows it for the proxies needing one). */
  readonly secretsWithheld?: string;
}

/** The snapshot with `secrets` as its Secret resources. */
function withSecretSet(snapshot: Snapshot, secrets: ResourceSet, detectedAt: number | undefined): Snapshot {
  return { types: new Map(snapshot.types).set(TypeUrl.Secret, secrets), detectedAt };
}

/** A node's proxy with these settings: its cache key (go-control-plane's NodeHash). */
function proxyKey(nodeId: string, settings: ProxySettings): string {
  return `${nodeId}|${settings.ingressPort}|${settings.egressPort}${settings.proxyless ? '|grpc' : ''}`;
}

export class MeshController implements StreamHooks {
  private model: MeshModel | undefined;
  private readonly proxies = new Map<string, ProxyEntry>();
  private readonly encoder = new ResourceEncoder();
  /** What compiles share (compile/memo.ts): a service's routes and clusters are planned once for all its callers. */
  private readonly memo = new LookupMemo();
  /** Registry changes made while a new model is being installed (its seeds), compiled with it. */
  private cloudMapChangedMeanwhile = new Set<string>();
  /** Proxies to compile again (node key → when the change that made them stale was detected), in order. */
  private readonly stale = new Map<string, number | undefined>();
  private nextSlice: NodeJS.Immediate | undefined;
  /** After close(): nothing is compiled any more. */
  private closed = false;
  private readonly modelReaders = new ReadersIndex();
  private readonly cloudMapReaders = new ReadersIndex();
  /** Proxies whose last compile failed unexpectedly: compiled again on every change. */
  private readonly failing = new Set<string>();
  /** Whether the reason certificates are withheld was logged (once). */
  private withheldLogged = false;
  /** SPIFFE ID → the proxies served its certificate, to push a renewed one to them. */
  private readonly byIdentity = new Map<string, Set<string>>();

  constructor(
    private readonly cache: SnapshotCache,
    private readonly cloudMap: CloudMapSource,
    private readonly log: Logger,
    private readonly options: MeshControllerOptions = {},
  ) {
    cloudMap.onChange((changed) => this.cloudMapChanged(changed));
    options.secrets?.onChange((spiffeIds) => this.secretsChanged(spiffeIds));
  }

  /** Certificates were issued or renewed (or the CA changed: 'all'): their proxies get the new Secret set. */
  private secretsChanged(spiffeIds: readonly string[] | 'all'): void {
    if (this.closed) return;
    const keys =
      spiffeIds === 'all' ? [...this.byIdentity.values()] : spiffeIds.flatMap((id) => this.byIdentity.get(id) ?? []);
    for (const set of keys) for (const key of set) this.attachSecrets(key);
  }

  /** Serves the proxy its current managed secrets with what it has, if it has a snapshot and they are issued. */
  private attachSecrets(key: string): void {
    const entry = this.proxies.get(key);
    const snapshot = this.cache.get(key);
    if (!entry?.identity || !snapshot || entry.provisional) return;
    const secrets = this.options.secrets?.secretsFor(entry.identity);
    if (!secrets || snapshot.types.get(TypeUrl.Secret) === secrets) return;
    // Not a change of the mesh: no detection time, so the push is not counted as one's latency.
    this.cache.set(key, withSecretSet(snapshot, secrets, undefined));
  }

  /** The proxy's config names managed secrets for `identity` now (undefined: none); keeps byIdentity in step. */
  private setIdentity(key: string, entry: ProxyEntry, identity: WorkloadIdentity | undefined): void {
    const before = entry.identity?.spiffeId;
    entry.identity = identity;
    if (before === identity?.spiffeId) return;
    if (before !== undefined) this.dropIdentity(key, before);
    if (identity) {
      let keys = this.byIdentity.get(identity.spiffeId);
      if (!keys) this.byIdentity.set(identity.spiffeId, (keys = new Set()));
      keys.add(key);
    }
  }

  private dropIdentity(key: string, spiffeId: string): void {
    const keys = this.byIdentity.get(spiffeId);
    keys?.delete(key);
    if (keys?.size === 0) {
      this.byIdentity.delete(spiffeId);
      this.options.secrets?.forget(spiffeId);
    }
  }

  /** Recompiles the proxies that read a changed service; the cache pushes those whose resources differ. */
  private cloudMapChanged(changed: ReadonlySet<string>, detectedAt = Date.now()): void {
    if (!this.model) {
      // With no model there is nothing to compile yet; while setModel applies seeds, it compiles them.
      for (const service of changed) this.cloudMapChangedMeanwhile.add(service);
      return;
    }
    for (const key of this.cloudMapReaders.readersOf(changed)) this.markStale(key, detectedAt);
    this.compileStale();
  }

  currentModel(): MeshModel | undefined {
    return this.model;
  }

  /**
   * Installs a new valid model and pushes it to every connected proxy whose resources changed.
   * `beforeInstall` (applying the mesh files' Cloud Map seeds) runs first; if it throws, nothing changes.
   */
  setModel(model: MeshModel, detectedAt = Date.now(), beforeInstall?: () => void): void {
    const previous = this.model;
    this.cloudMapChangedMeanwhile = new Set();
    if (beforeInstall) {
      // Registry changes made here are compiled below with the new model, not with the old one first.
      this.model = undefined;
      try {
        beforeInstall();
      } finally {
        this.model = previous;
      }
    }
    const changed = previous?.changedKeys(model);
    const services = this.cloudMapChangedMeanwhile;
    this.model = model;
    const affected = changed
      ? [...this.modelReaders.readersOf(changed), ...this.cloudMapReaders.readersOf(services), ...this.failing]
      : this.proxies.keys();
    for (const key of affected) this.markStale(key, detectedAt);
    // A short first slice: its pushes go out as soon as the reload's own work is done, the rest follow.
    const { sliceMs } = this.options;
    this.compileStale(sliceMs === undefined ? Infinity : Math.min(sliceMs, FIRST_SLICE_MS));
  }

  /** Whether some proxies still wait to be compiled with the current model or registry. */
  get compiling(): boolean {
    return this.stale.size > 0;
  }

  /** Compiles every proxy still waiting, now (e.g. before reading what every proxy is served). */
  compileAll(): void {
    this.compileStale(Infinity);
  }

  /** A proxy already waiting keeps its place and the earliest detection time. */
  private markStale(key: string, detectedAt: number | undefined): void {
    if (!this.closed && !this.stale.has(key)) this.stale.set(key, detectedAt);
  }

  /** Compiles waiting proxies, in order, for about one time slice; the rest on the next turns. */
  private compileStale(sliceMs = this.options.sliceMs ?? Infinity): void {
    const until = performance.now() + sliceMs;
    for (const [key, detectedAt] of this.stale) {
      this.stale.delete(key);
      // A change reaching a node compiled ahead of its proxy forgets it: its proxy is compiled when it comes.
      if (this.proxies.get(key)?.provisional) this.onNodeGone(key);
      else if (this.proxies.has(key)) this.updateGuarded(key, detectedAt);
      if (performance.now() >= until) break;
    }
    if (this.stale.size > 0) this.compileLater();
  }

  /**
   * update(), which may run from a timer: a throw past its compile (encoding, a cache watcher) is
   * logged and kept for `meshd status`, and the proxy is tried again on every change; it must not
   * take the process down, nor stop the proxies waiting after it.
   */
  private updateGuarded(key: string, detectedAt: number | undefined): void {
    try {
      this.update(key, detectedAt);
    } catch (err) {
      const entry = this.proxies.get(key);
      const problem = `cannot serve ${entry?.nodeId ?? key}: internal error: ${(err as Error).message}; it keeps its last configuration (a meshd bug: please report it)`;
      if (!entry?.provisional) this.log.error({ node: entry?.nodeId }, problem);
      this.cache.setProblem(key, problem);
      this.failing.add(key);
    }
  }

  /** Compiles waiting proxies on a later turn of the event loop, after what is queued now. */
  private compileLater(): void {
    if (this.closed) return;
    this.nextSlice ??= setImmediate(() => {
      this.nextSlice = undefined;
      this.compileStale();
    });
  }

  /** Stops compiling in the background (the server is closing). */
  close(): void {
    this.closed = true;
    if (this.nextSlice) clearImmediate(this.nextSlice);
    this.nextSlice = undefined;
    this.stale.clear();
  }

  /**
   * The proxies (node keys, as their streams carry them) whose last compile read any of `lookups` (lookupKey), for the
   * web console's "proxies serving it". From the readers' index: no compile, no walk of the proxies.
   */
  readersOf(lookups: Iterable<string>): Set<string> {
    return new Set(this.modelReaders.readersOf(lookups));
  }

  nodeKey(node: Node__Output): string {
    const settings = proxySettingsOf(node);
    // One entry per node and settings whatever the form of its id (an ARN compiles as its resource path).
    const key = proxyKey(canonicalNodeId(node.id), settings);
    const known = this.proxies.get(key);
    if (known?.provisional) {
      // Claimed: served what was compiled for it, and named as its proxy names it; one whose
      // compile failed is compiled (and its error logged) as any other.
      const claimed = { ...known, nodeId: node.id, provisional: undefined };
      this.proxies.set(key, claimed);
      // Precompiled snapshots carry no certificate (none is issued for a node no proxy asked for).
      if (claimed.identity) {
        const identity = claimed.identity;
        claimed.identity = undefined;
        this.setIdentity(key, claimed, identity);
        this.attachSecrets(key);
        // Compiled while provisional, when the withheld certificates were not yet anyone's concern.
        this.noteWithheld(key, claimed);
      }
      if (!this.cache.get(key)) {
        this.markStale(key, undefined);
        if (this.options.sliceMs === undefined) this.compileStale();
        else this.compileLater();
      }
    }
    if (!known) {
      this.proxies.set(key, newEntry(node.id, settings));
      // With a time slice the compile waits for its turn: a burst of proxies connecting (every
      // request of which may arrive in one turn) must not compile them all in that turn. The
      // streams answer once the snapshot is there.
      this.markStale(key, undefined);
      if (this.options.sliceMs === undefined) this.compileStale();
      else this.compileLater();
    }
    return key;
  }

  /** What a connected proxy with this node id is being served (the first, if several with other settings). */
  servedSnapshot(nodeId: string): Snapshot | undefined {
    for (const [key, entry] of this.proxies) {
      const same = canonicalNodeId(entry.nodeId) === canonicalNodeId(nodeId);
      const snapshot = same && !entry.provisional ? this.cache.get(key) : undefined;
      if (snapshot) return snapshot;
    }
    return undefined;
  }

  /**
   * Compiles, before proxies connect, the snapshot of every virtual node and virtual gateway of the
   * model with the default proxy settings (a sidecar's bootstrap unless it sets other ports), for at
   * most `budgetMs`: a fleet reconnecting after a restart is then answered at once instead of waiting
   * for its compiles in the middle of the storm, and the codecs protobufjs generates on first use are
   * ready. A snapshot no proxy claims within `graceMs`, or that a change reaches first, is forgotten
   * (a change never compiles a node no proxy asked for); one that fails to compile is logged only when
   * a proxy of it connects. Returns how many it compiled.
   */
  precompile(budgetMs: number, graceMs: number): number {
    const model = this.model;
    if (!model || this.closed) return 0;
    const settings = { ingressPort: DEFAULT_INGRESS_PORT, egressPort: DEFAULT_EGRESS_PORT, proxyless: false };
    const until = performance.now() + budgetMs;
    const compiled: string[] = [];
    for (const r of model.resources) {
      if (performance.now() >= until) break;
      const type =
        r.kind === 'VirtualNode' ? 'virtualNode' : r.kind === 'VirtualGateway' ? 'virtualGateway' : undefined;
      if (!type) continue;
      const nodeId = formatNodeId({ mesh: r.mesh, type, name: r.name });
      const key = proxyKey(nodeId, settings);
      if (this.proxies.has(key)) continue;
      this.proxies.set(key, { ...newEntry(nodeId, settings), provisional: true });
      this.updateGuarded(key, undefined);
      compiled.push(key);
    }
    setTimeout(() => {
      for (const key of compiled) if (this.proxies.get(key)?.provisional) this.onNodeGone(key);
    }, graceMs).unref();
    return compiled.length;
  }

  onNodeGone(nodeKey: string): void {
    const entry = this.proxies.get(nodeKey);
    if (entry) {
      this.modelReaders.replace(nodeKey, entry.modelReads ?? NONE, NONE);
      this.cloudMapReaders.replace(nodeKey, entry.cloudMapReads, NONE);
      this.failing.delete(nodeKey);
      if (entry.identity && !entry.provisional) this.dropIdentity(nodeKey, entry.identity.spiffeId);
    }
    this.proxies.delete(nodeKey);
    this.stale.delete(nodeKey);
    this.cache.delete(nodeKey);
  }

  private update(key: string, detectedAt?: number): void {
    const entry = this.proxies.get(key)!;
    if (!this.model) {
      // Not logged per proxy: the load's own findings say what is wrong with the mesh.
      this.cache.setProblem(key, NO_MESH_YET);
      return;
    }
    const reads: string[] = [];
    const recording: CloudMapView = {
      discover: (namespaceName, serviceName): readonly DiscoveredInstance[] | undefined => {
        reads.push(serviceKeys.key(undefined, namespaceName, serviceName));
        return this.cloudMap.discover(namespaceName, serviceName);
      },
    };
    const source = this.cloudMap;
    if (source.workloadEndpoints) {
      // Noted like a Cloud Map read (under workloadEndpointsKey): a change of a node's pods
      // recompiles its callers only.
      recording.workloadEndpoints = (mesh, node) => {
        reads.push(workloadKeys.key(undefined, mesh, node));
        return source.workloadEndpoints!(mesh, node);
      };
    }
    const modelReads: ReadLog = [];
    let result: ReturnType<typeof compileProxy>;
    let failedUnexpectedly = false;
    try {
      const reader = recordingReader(this.model, modelReads);
      result = compileProxy(reader, recording, entry.nodeId, entry.settings, this.memo);
    } catch (err) {
      // A compiler bug, not bad input: the proxy keeps what it has, and every reload tries it again.
      result = { ok: false, error: `cannot compile ${entry.nodeId}: internal error: ${(err as Error).message}` };
      failedUnexpectedly = true;
    }
    // The same look-ups as last time (the usual case: a change reaches a proxy through a memo
    // entry whose look-ups stay the same) leave the readers' index as it is.
    if (!sameItems(entry.cloudMapLog, reads)) {
      const next = keysOf(reads);
      this.cloudMapReaders.replace(key, entry.cloudMapReads, next);
      entry.cloudMapReads = next;
      entry.cloudMapLog = reads;
    }
    if (failedUnexpectedly) {
      this.modelReaders.replace(key, entry.modelReads ?? NONE, NONE);
      entry.modelReads = undefined;
      entry.modelLog = undefined;
    } else if (!entry.modelLog || !sameItems(entry.modelLog, modelReads)) {
      const next = keysOf(modelReads);
      this.modelReaders.replace(key, entry.modelReads ?? NONE, next);
      entry.modelReads = next;
      entry.modelLog = modelReads;
    }
    if (failedUnexpectedly) this.failing.add(key);
    else this.failing.delete(key);
    if (!result.ok) {
      // One text for the log and for `meshd status` (the cache keeps it for /v1/proxies).
      const keeps = this.cache.get(key)
        ? '; it keeps its last good configuration'
        : failedUnexpectedly
          ? '; it gets no configuration until it compiles (a meshd bug: please report it)'
          : '; it gets no configuration until the mesh defines it';
      const problem = `${result.error}${keeps}`;
      // A node compiled ahead of its proxies says nothing until one connects (nodeKey compiles it again then).
      if (entry.provisional) return this.cache.setProblem(key, problem);
      if (entry.lastError !== result.error) this.log.error({ node: entry.nodeId }, problem);
      this.cache.setProblem(key, problem);
      entry.lastError = result.error;
      return;
    }
    entry.lastError = undefined;
    const snapshot = this.encoder.snapshot(result.config, detectedAt, this.cache.get(key));
    const identity = result.config.identity;
    // A provisional entry only notes its identity: its certificate is issued once a proxy claims it.
    if (entry.provisional) entry.identity = identity;
    else this.setIdentity(key, entry, identity);
    this.cache.set(key, this.withSecrets(snapshot, entry, this.cache.get(key)));
    this.noteWithheld(key, entry);
  }

  /** Says (in meshd status) why a proxy whose configuration names meshd's certificates is served none. */
  private noteWithheld(key: string, entry: ProxyEntry): void {
    if (!entry.identity || this.options.secrets || entry.provisional) return;
    const why = this.options.secretsWithheld ?? 'this meshd has no certificate authority';
    this.cache.setProblem(
      key,
      `its configuration uses meshd's certificates (mtls, or acm sources), but they are withheld: ${why}; Envoy waits for them (docs/identity.md)`,
    );
    // Logged once, for the first proxy that needs them: the reason is the server's, not the proxy's.
    if (!this.withheldLogged) this.log.warn({ node: entry.nodeId }, `identity: workload certificates withheld: ${why}`);
    this.withheldLogged = true;
  }

  /**
   * The snapshot with the proxy's managed secrets, when its config names them and they are issued; while a new
   * certificate of the same identity is being issued (its DNS names changed), the one it was served so far.
   */
  private withSecrets(snapshot: Snapshot, entry: ProxyEntry, previous: Snapshot | undefined): Snapshot {
    if (!entry.identity || entry.provisional) return snapshot;
    const secrets = this.options.secrets?.secretsFor(entry.identity) ?? previous?.types.get(TypeUrl.Secret);
    if (!secrets) return snapshot;
    return withSecretSet(snapshot, secrets, snapshot.detectedAt);
  }
}
