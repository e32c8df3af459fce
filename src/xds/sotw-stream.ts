// One state-of-the-world ADS stream: answers requests from the node's snapshot, tells
// ACKs from NACKs by nonce and error_detail, and pushes when the snapshot changes.
import type * as grpc from '@grpc/grpc-js';
import type { DiscoveryRequest__Output } from '../generated/envoy/service/discovery/v3/DiscoveryRequest';
import type { DiscoveryResponse } from '../generated/envoy/service/discovery/v3/DiscoveryResponse';
import type { Node__Output } from '../generated/envoy/config/core/v3/Node';
import { resourcesOf, type Snapshot, type SnapshotCache } from './snapshot-cache';
import type { StreamRegistry, StreamStatus, TypeStatus } from './stream-status';
import { isWildcardByDefault, PUSH_ORDER, shortTypeName } from './type-urls';

export type AdsCall = grpc.ServerDuplexStream<DiscoveryRequest__Output, DiscoveryResponse>;

export interface XdsLogger {
  info(message: string): void;
  warn(message: string): void;
}

export interface StreamHooks {
  /** The cache key for a node (go-control-plane's NodeHash). May prepare its snapshot. */
  nodeKey(node: Node__Output): string;
  /** The last stream of a node key closed. */
  onNodeGone?(nodeKey: string): void;
}

interface Subscription {
  /** Requested names; undefined means wildcard (every resource of the type). */
  names: Set<string> | undefined;
  /** What the last response was computed from: version plus the names asked for. */
  sentKey?: string;
  sentNonce?: string;
  status: TypeStatus;
}

let nextStreamId = 1;

export class SotwStream {
  private readonly id = nextStreamId++;
  private nonceCounter = 0;
  private status: StreamStatus | undefined;
  private readonly subscriptions = new Map<string, Subscription>();
  private unwatch: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly call: AdsCall,
    private readonly cache: SnapshotCache,
    private readonly registry: StreamRegistry,
    private readonly hooks: StreamHooks,
    private readonly log: XdsLogger,
  ) {
    call.on('data', (req: DiscoveryRequest__Output) => this.onRequest(req));
    call.on('end', () => this.close());
    call.on('error', () => this.close());
    call.on('cancelled', () => this.close());
  }

  private onRequest(req: DiscoveryRequest__Output): void {
    if (this.closed) return;
    if (!this.status) {
      if (!req.node?.id) {
        this.log.warn(`xds: stream ${this.id} from ${this.call.getPeer()}: first request has no node id; closing`);
        this.call.destroy(new Error('the first DiscoveryRequest must carry node.id'));
        this.close();
        return;
      }
      this.open(req.node);
    }
    const typeUrl = req.type_url;
    const sub = this.subscriptions.get(typeUrl) ?? { names: undefined, status: {} };
    this.subscriptions.set(typeUrl, sub);
    this.status!.types.set(typeUrl, sub.status);

    if (req.response_nonce) {
      // A response to something other than our latest push is stale: the proxy will answer the newer one.
      if (req.response_nonce !== sub.sentNonce) return;
      if (req.error_detail) {
        const message = req.error_detail.message || `code ${req.error_detail.code}`;
        sub.status.lastNack = { version: sub.status.sentVersion ?? '', message, at: new Date().toISOString() };
        this.log.warn(`xds: ${this.describe()} NACKed ${shortTypeName(typeUrl)} version ${sub.status.sentVersion}: ${message}`);
      } else if (sub.status.ackedVersion !== req.version_info) {
        sub.status.ackedVersion = req.version_info;
        this.log.info(`xds: ${this.describe()} ACKed ${shortTypeName(typeUrl)} version ${req.version_info}`);
      }
    }
    const requested = req.resource_names.filter((n) => n !== '*');
    sub.names = requested.length === 0 && (isWildcardByDefault(typeUrl) || req.resource_names.includes('*')) ? undefined : new Set(requested);
    this.respond(typeUrl);
  }

  private open(node: Node__Output): void {
    const nodeKey = this.hooks.nodeKey(node);
    this.status = {
      streamId: this.id,
      nodeId: node.id,
      nodeCluster: node.cluster,
      nodeKey,
      peer: this.call.getPeer(),
      connectedAt: new Date().toISOString(),
      types: new Map(),
    };
    this.registry.add(this.status);
    this.log.info(`xds: ${this.describe()} connected from ${this.status.peer} (stream ${this.id})`);
    this.unwatch = this.cache.watch(nodeKey, (snapshot) => this.push(snapshot));
  }

  /** Sends every subscribed type whose content changed, clusters first (make-before-break). */
  private push(snapshot: Snapshot): void {
    const ordered = [...PUSH_ORDER, ...[...this.subscriptions.keys()].filter((t) => !PUSH_ORDER.includes(t as never))];
    for (const typeUrl of ordered) {
      if (this.subscriptions.has(typeUrl)) this.respond(typeUrl, snapshot);
    }
  }

  private respond(typeUrl: string, snapshot = this.cache.get(this.status!.nodeKey)): void {
    const sub = this.subscriptions.get(typeUrl);
    if (!sub || !snapshot || this.closed) return;
    const set = resourcesOf(snapshot, typeUrl);
    const names = sub.names ? [...sub.names].sort() : undefined;
    const sendKey = `${set.version}|${names ? names.join(',') : '*'}`;
    // Never resend what this stream was already sent; after a NACK this waits for a new version.
    if (sub.sentKey === sendKey) return;
    const entries = names ? names.filter((n) => set.resources.has(n)).map((n) => [n, set.resources.get(n)!] as const) : [...set.resources];
    const nonce = String(++this.nonceCounter);
    sub.sentKey = sendKey;
    sub.sentNonce = nonce;
    sub.status.sentVersion = set.version;
    this.call.write({
      version_info: set.version,
      type_url: typeUrl,
      nonce,
      resources: entries.map(([, bytes]) => ({ type_url: typeUrl, value: bytes })),
    });
  }

  private describe(): string {
    return this.status ? `proxy ${this.status.nodeId}` : `stream ${this.id}`;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unwatch?.();
    if (this.status) {
      this.registry.remove(this.id);
      this.log.info(`xds: ${this.describe()} disconnected (stream ${this.id})`);
      if (!this.cache.isWatched(this.status.nodeKey)) this.hooks.onNodeGone?.(this.status.nodeKey);
    }
    if (!this.call.writableEnded) this.call.end();
  }
}
