// ADS sessions without a network: a grpc-js call as a session sees it (requests in, responses
// decoded out, pause and resume noted), over a snapshot cache the test fills.
import { EventEmitter } from 'node:events';
import { DEFAULT_XDS_LIMITS, NameBudget } from '../../src/xds/limits';
import { adsServiceDefinition } from '../../src/xds/protos';
import { buildSnapshot, makeResource, SnapshotCache } from '../../src/xds/snapshot-cache';
import { DeltaStream, type DeltaCall } from '../../src/xds/delta-stream';
import { SotwStream, type SotwCall } from '../../src/xds/sotw-stream';
import { StreamRegistry } from '../../src/xds/stream-status';
import { TypeUrl } from '../../src/xds/type-urls';

const QUIET = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const METHODS = {
  sotw: adsServiceDefinition().StreamAggregatedResources,
  delta: adsServiceDefinition().DeltaAggregatedResources,
};
export const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** A grpc-js call as the session sees it: requests in, responses (decoded) out, pause/resume noted. */
export class FakeCall extends EventEmitter {
  /** Decoded responses; Delta's have system_version_info and resources (version, name) and removed_resources. */
  readonly responses: { type_url: string; nonce: string; version_info: string; system_version_info?: string }[] = [];
  /** The bytes of each response as written. */
  readonly written: Buffer[] = [];
  paused = false;
  pauses = 0;
  writableEnded = false;
  getPeer = () => 'fake';
  pause = () => ((this.paused = true), this.pauses++);
  resume = () => (this.paused = false);
  end = () => (this.writableEnded = true);
  constructor(private readonly method = METHODS.sotw) {
    super();
  }
  write(bytes: Buffer): boolean {
    this.written.push(bytes);
    this.responses.push(this.method.responseDeserialize(bytes) as never);
    return true;
  }
  request(req: object): void {
    this.emit('data', this.method.requestDeserialize(this.method.requestSerialize(req)));
  }
}

export function cacheWith(nodeIds: string[]): SnapshotCache {
  const cache = new SnapshotCache();
  const snapshot = buildSnapshot(
    new Map([
      [TypeUrl.Cluster, [makeResource(TypeUrl.Cluster, 'c', Buffer.from([10, 1, 99]))]],
      [TypeUrl.Endpoint, [makeResource(TypeUrl.Endpoint, 'c', Buffer.from([10, 1, 99]))]],
    ]),
  );
  for (const id of nodeIds) cache.set(id, snapshot);
  return cache;
}

/** `count` streams (SotW unless told), one node id each, all given one snapshot (cacheWith's), with a turn budget. */
export function adsStreams(count: number, turnBudgetMs: number | undefined, protocol: 'sotw' | 'delta' = 'sotw') {
  const nodeIds = Array.from({ length: count }, (_, i) => `node-${i}`);
  const cache = cacheWith(nodeIds);
  const tl = { info: () => {}, warn: () => {} } as never;
  const deps = {
    cache,
    registry: new StreamRegistry(),
    hooks: { nodeKey: (node: { id: string }) => node.id },
    log: QUIET,
    observer: {},
    limits: DEFAULT_XDS_LIMITS,
    names: new NameBudget(DEFAULT_XDS_LIMITS.maxNamesTotal),
    refusals: tl,
    lifecycle: tl,
    ...(turnBudgetMs !== undefined ? { turnBudgetMs } : {}),
  };
  const calls = nodeIds.map((id) => {
    const call = new FakeCall(METHODS[protocol]);
    if (protocol === 'sotw') new SotwStream(call as unknown as SotwCall, deps as never);
    else new DeltaStream(call as unknown as DeltaCall, deps as never);
    return { id, call, registry: deps.registry, cache };
  });
  return calls;
}
