// ADS sessions without a network: a grpc-js call as a session sees it (requests in, responses
// decoded out, pause and resume noted), over a snapshot cache the test fills.
import { EventEmitter } from 'node:events';
import { DEFAULT_XDS_LIMITS, NameBudget } from '../../src/xds/limits';
import { adsServiceDefinition } from '../../src/xds/protos';
import { buildSnapshot, makeResource, SnapshotCache } from '../../src/xds/snapshot-cache';
import { SotwStream, type SotwCall } from '../../src/xds/sotw-stream';
import { StreamRegistry } from '../../src/xds/stream-status';
import { TypeUrl } from '../../src/xds/type-urls';

const QUIET = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const method = adsServiceDefinition().StreamAggregatedResources;
export const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** A grpc-js call as the session sees it: requests in, responses (decoded) out, pause/resume noted. */
export class FakeCall extends EventEmitter {
  readonly responses: { type_url: string; nonce: string; version_info: string }[] = [];
  paused = false;
  pauses = 0;
  writableEnded = false;
  getPeer = () => 'fake';
  pause = () => ((this.paused = true), this.pauses++);
  resume = () => (this.paused = false);
  end = () => (this.writableEnded = true);
  write(bytes: Buffer): boolean {
    this.responses.push(method.responseDeserialize(bytes) as never);
    return true;
  }
  request(req: object): void {
    this.emit('data', method.requestDeserialize(method.requestSerialize(req)));
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

/** `count` SotW streams, one node id each, all given one snapshot (cacheWith's), under the given turn budget. */
export function sotwStreams(count: number, turnBudgetMs: number | undefined) {
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
    const call = new FakeCall();
    new SotwStream(call as unknown as SotwCall, deps as never);
    return { id, call, registry: deps.registry, cache };
  });
  return calls;
}
