// Wires the pieces of `meshd serve`: the current mesh model, the compiler and the xDS cache.
// Each connected proxy gets a snapshot compiled for its node id and settings. Each compile
// notes what it looked up in the model and in the Cloud Map registry; a new model recompiles
// only the proxies for which one of those look-ups now answers differently, and a registry
// change only those that read a changed service. Only snapshots whose resources changed are
// pushed (the cache compares content). Proxies whose node no longer compiles keep their last
// good snapshot, and the reason is logged once and left in the cache for `meshd status`.
import { compileProxy, LookupMemo } from '../compile';
import type { CloudMapView } from '../compile/cloud-map-view';
import { serviceKey } from '../discovery/cloud-map/registry';
import type { DiscoveredInstance } from '../model/cloud-map-instance';
import type { ProxySettings } from '../compile/proxy-config';
import type { Node__Output } from '../generated/envoy/config/core/v3/Node';
import type { Logger } from '../util/log';
import type { MeshModel } from '../model/mesh-model';
import type { StreamHooks } from '../xds/ads-session';
import type { Snapshot, SnapshotCache } from '../xds/snapshot-cache';
import { ResourceEncoder } from './encode';
import { proxySettingsOf } from './proxy-settings';
import { recordingReader } from './recording-reader';

interface ProxyEntry {
  readonly nodeId: string;
  readonly settings: ProxySettings;
  /** The last compile error logged for this proxy, so a repeated reload does not repeat it. */
  lastError?: string;
  /** The Cloud Map services (serviceKey) its last compile read. */
  cloudMapReads: ReadonlySet<string>;
  /**
   * The model look-ups (lookupKey) its last compile made; undefined:
   * compile it on every reload (its last compile failed unexpectedly).
   */
  modelReads: ReadonlySet<string> | undefined;
}

function intersects(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  for (const item of a) if (b.has(item)) return true;
  return false;
}

/** Anything that can be read and announces which services changed (the registry). */
export interface CloudMapSource extends CloudMapView {
  onChange(listener: (changed: ReadonlySet<string>) => void): unknown;
}

/** Why a proxy that connects before any valid mesh has loaded gets nothing (`meshd status`). */
export const NO_MESH_YET = 'no valid mesh is loaded yet; nothing is served until the mesh files load without errors';

export class MeshController implements StreamHooks {
  private model: MeshModel | undefined;
  private readonly proxies = new Map<string, ProxyEntry>();
  private readonly encoder = new ResourceEncoder();
  /** What compiles share (compile/memo.ts): a service's routes and clusters are planned once for all its callers. */
  private readonly memo = new LookupMemo();
  /** Registry changes made while a new model is being installed (its seeds), compiled with it. */
  private cloudMapChangedMeanwhile = new Set<string>();

  constructor(
    private readonly cache: SnapshotCache,
    private readonly cloudMap: CloudMapSource,
    private readonly log: Logger,
  ) {
    cloudMap.onChange((changed) => this.cloudMapChanged(changed));
  }

  /** Recompiles the proxies that read a changed service; the cache pushes those whose resources differ. */
  private cloudMapChanged(changed: ReadonlySet<string>, detectedAt = Date.now()): void {
    if (!this.model) {
      // With no model there is nothing to compile yet; while setModel applies seeds, it compiles them.
      for (const service of changed) this.cloudMapChangedMeanwhile.add(service);
      return;
    }
    for (const [key, entry] of this.proxies) {
      if (intersects(entry.cloudMapReads, changed)) this.update(key, detectedAt);
    }
    this.encoder.sweepIfGrown(this.liveSnapshots());
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
    for (const [key, entry] of this.proxies) {
      const affected =
        !changed ||
        !entry.modelReads ||
        intersects(entry.modelReads, changed) ||
        intersects(entry.cloudMapReads, services);
      if (affected) this.update(key, detectedAt);
    }
    this.encoder.sweepIfGrown(this.liveSnapshots());
  }

  /** The snapshots connected proxies are served: every resource the encoder must keep. */
  private *liveSnapshots(): Iterable<Snapshot> {
    for (const key of this.proxies.keys()) {
      const snapshot = this.cache.get(key);
      if (snapshot) yield snapshot;
    }
  }

  nodeKey(node: Node__Output): string {
    const settings = proxySettingsOf(node);
    const key = `${node.id}|${settings.ingressPort}|${settings.egressPort}${settings.proxyless ? '|grpc' : ''}`;
    if (!this.proxies.has(key)) {
      this.proxies.set(key, { nodeId: node.id, settings, cloudMapReads: new Set(), modelReads: new Set() });
      this.update(key);
    }
    return key;
  }

  /** What a connected proxy with this node id is being served (the first, if several with other settings). */
  servedSnapshot(nodeId: string): Snapshot | undefined {
    for (const [key, entry] of this.proxies) {
      const snapshot = entry.nodeId === nodeId ? this.cache.get(key) : undefined;
      if (snapshot) return snapshot;
    }
    return undefined;
  }

  onNodeGone(nodeKey: string): void {
    this.proxies.delete(nodeKey);
    this.cache.delete(nodeKey);
  }

  private update(key: string, detectedAt?: number): void {
    const entry = this.proxies.get(key)!;
    if (!this.model) {
      // Not logged per proxy: the load's own findings say what is wrong with the mesh.
      this.cache.setProblem(key, NO_MESH_YET);
      return;
    }
    const reads = new Set<string>();
    const recording: CloudMapView = {
      discover: (namespaceName, serviceName): readonly DiscoveredInstance[] | undefined => {
        reads.add(serviceKey(namespaceName, serviceName));
        return this.cloudMap.discover(namespaceName, serviceName);
      },
    };
    const modelReads = new Set<string>();
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
    entry.cloudMapReads = reads;
    entry.modelReads = failedUnexpectedly ? undefined : modelReads;
    if (!result.ok) {
      // One text for the log and for `meshd status` (the cache keeps it for /v1/proxies).
      const keeps = this.cache.get(key)
        ? '; it keeps its last good configuration'
        : failedUnexpectedly
          ? '; it gets no configuration until it compiles (a meshd bug: please report it)'
          : '; it gets no configuration until the mesh defines it';
      const problem = `${result.error}${keeps}`;
      if (entry.lastError !== result.error) this.log.error({ node: entry.nodeId }, problem);
      this.cache.setProblem(key, problem);
      entry.lastError = result.error;
      return;
    }
    entry.lastError = undefined;
    this.cache.set(key, this.encoder.snapshot(result.config, detectedAt, this.cache.get(key)));
  }
}
