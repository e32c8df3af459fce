// Wires the pieces of `meshd serve`: the current mesh model, the compiler and the xDS cache.
// Each connected proxy gets a snapshot compiled for its node id and settings; a new model
// recompiles every connected proxy, and only those whose resources changed are pushed (the
// cache compares content). Proxies whose node no longer compiles keep their last good
// snapshot, and the reason is logged once. A Cloud Map registry change recompiles only the
// proxies whose last compile read one of the changed services.
import { compileProxy } from '../compile';
import { serviceKey, type CloudMapView, type DiscoveredInstance } from '../discovery/cloud-map/registry';
import type { ProxySettings } from '../compile/proxy-config';
import type { Node__Output } from '../generated/envoy/config/core/v3/Node';
import type { Logger } from '../log';
import type { MeshModel } from '../model/mesh-model';
import type { StreamHooks } from '../xds/ads-session';
import type { Snapshot, SnapshotCache } from '../xds/snapshot-cache';
import { ResourceEncoder } from './encode';
import { proxySettingsOf } from './proxy-settings';

interface ProxyEntry {
  readonly nodeId: string;
  readonly settings: ProxySettings;
  /** The last compile error logged for this proxy, so a repeated reload does not repeat it. */
  lastError?: string;
  /** The Cloud Map services (serviceKey) its last compile read. */
  cloudMapReads: ReadonlySet<string>;
}

/** Anything that can be read and announces which services changed (the registry). */
export interface CloudMapSource extends CloudMapView {
  onChange(listener: (changed: ReadonlySet<string>) => void): unknown;
}

export class MeshController implements StreamHooks {
  private model: MeshModel | undefined;
  private readonly proxies = new Map<string, ProxyEntry>();
  private readonly encoder = new ResourceEncoder();

  constructor(
    private readonly cache: SnapshotCache,
    private readonly cloudMap: CloudMapSource,
    private readonly log: Logger,
  ) {
    cloudMap.onChange((changed) => this.cloudMapChanged(changed));
  }

  /** Recompiles the proxies that read a changed service; the cache pushes those whose resources differ. */
  private cloudMapChanged(changed: ReadonlySet<string>, detectedAt = Date.now()): void {
    // With no model (or while setModel applies seeds), there is nothing to compile yet.
    if (!this.model) return;
    let updated = false;
    for (const [key, entry] of this.proxies) {
      if (![...changed].some((service) => entry.cloudMapReads.has(service))) continue;
      this.update(key, detectedAt);
      updated = true;
    }
    if (updated) this.encoder.sweep();
  }

  currentModel(): MeshModel | undefined {
    return this.model;
  }

  /**
   * Installs a new valid model and pushes it to every connected proxy whose resources changed.
   * `beforeInstall` (applying the mesh files' Cloud Map seeds) runs first; if it throws, nothing changes.
   */
  setModel(model: MeshModel, detectedAt = Date.now(), beforeInstall?: () => void): void {
    if (beforeInstall) {
      // Registry changes made here are compiled below with the new model, not with the old one first.
      const previous = this.model;
      this.model = undefined;
      try {
        beforeInstall();
      } finally {
        this.model = previous;
      }
    }
    this.model = model;
    for (const key of this.proxies.keys()) this.update(key, detectedAt);
    this.encoder.sweep();
  }

  nodeKey(node: Node__Output): string {
    const settings = proxySettingsOf(node);
    const key = `${node.id}|${settings.ingressPort}|${settings.egressPort}${settings.proxyless ? '|grpc' : ''}`;
    if (!this.proxies.has(key)) {
      this.proxies.set(key, { nodeId: node.id, settings, cloudMapReads: new Set() });
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
    if (!this.model) return;
    const reads = new Set<string>();
    const recording: CloudMapView = {
      discover: (namespaceName, serviceName): readonly DiscoveredInstance[] | undefined => {
        reads.add(serviceKey(namespaceName, serviceName));
        return this.cloudMap.discover(namespaceName, serviceName);
      },
    };
    const result = compileProxy(this.model, recording, entry.nodeId, entry.settings);
    entry.cloudMapReads = reads;
    if (!result.ok) {
      if (entry.lastError !== result.error) {
        const keeps = this.cache.get(key) ? '; it keeps its last good configuration' : '; it gets no configuration until the mesh defines it';
        this.log.error({ node: entry.nodeId }, `${result.error}${keeps}`);
      }
      entry.lastError = result.error;
      return;
    }
    entry.lastError = undefined;
    this.cache.set(key, this.encoder.snapshot(result.config, detectedAt));
  }
}
