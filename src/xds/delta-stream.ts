// One incremental ADS stream (DeltaAggregatedResources): subscriptions change by name, a
// response carries only what changed plus `removed_resources`, and a reconnecting client
// that reports `initial_resource_versions` is sent only the difference.
import type * as grpc from '@grpc/grpc-js';
import type { DeltaDiscoveryRequest__Output } from '../generated/envoy/service/discovery/v3/DeltaDiscoveryRequest';
import { AdsSession, type Outgoing, type SessionDeps, type TypeState } from './ads-session';
import type { RefusedRequest } from './request-guard';
import { isNeverWildcard } from './type-urls';
import { encodeDeltaDiscoveryResponse, sharedDeltaResponse } from './wire';

export type DeltaCall = grpc.ServerDuplexStream<DeltaDiscoveryRequest__Output | RefusedRequest, Buffer>;

export class DeltaStream extends AdsSession {
  constructor(call: DeltaCall, deps: SessionDeps) {
    super('delta', call, deps);
    call.on('data', (req: DeltaDiscoveryRequest__Output | RefusedRequest) => this.receive(req));
  }

  protected encode(out: Outgoing): { nonce: string; bytes: Buffer } {
    // Streams of one proxy going from the same set to the same set are sent the same bytes.
    const shared = out.from && sharedDeltaResponse(out.from, out.target, out.typeUrl, out.changed, out.removed);
    if (shared && shared.nonce !== out.previousNonce) return shared;
    const nonce = this.newNonce();
    return { nonce, bytes: encodeDeltaDiscoveryResponse(out.version, out.typeUrl, nonce, out.changed, out.removed) };
  }

  protected apply(req: DeltaDiscoveryRequest__Output): void {
    this.openOnce(req.node);
    const first = !this.types.has(req.type_url);
    const state = this.typeState(req.type_url);
    const initial = first ? Object.entries(req.initial_resource_versions ?? {}) : [];
    // Bounds first: a request over one changes nothing.
    this.checkNameLengths(req.resource_names_subscribe);
    this.checkNameLengths(initial.map(([name]) => name));
    // What the stream holds of the type: its subscribed names, or, when more, the resources it
    // reported holding (a reconnecting client's initial versions, kept until it ACKs): both count.
    this.admitNames(state, Math.max(this.namesAfter(state, req), first ? initial.length : state.has.size));

    // Unlike SotW, subscription changes are increments: apply them even with a stale nonce.
    if (req.response_nonce) this.settle(state, req.response_nonce, req.error_detail);
    const byNameOnly = isNeverWildcard(req.type_url);
    if (first) {
      // A first request naming nothing subscribes to everything (the legacy wildcard), except
      // for secrets: those are only ever served by name, so it subscribes to nothing.
      if (req.resource_names_subscribe.length === 0 && !byNameOnly) state.wildcard = true;
      for (const [name, version] of initial) state.has.set(name, { version });
      state.heldSet = undefined;
      // A client that holds nothing waits for a first response, even an empty one.
      state.needsAnswer = state.has.size === 0;
    }
    for (const name of req.resource_names_subscribe) {
      if (name === '*') state.wildcard = !byNameOnly;
      else state.names.add(name);
    }
    for (const name of req.resource_names_unsubscribe) {
      if (name === '*') state.wildcard = false;
      else state.names.delete(name);
    }
    state.selection = undefined;
    this.forgetUnsubscribed(state);
    this.respond(state);
  }

  /**
   * How many names the type subscribes to once the request is applied,
   * at a cost of the request's size (not the subscription's).
   */
  private namesAfter(state: TypeState, req: DeltaDiscoveryRequest__Output): number {
    const added = new Set(req.resource_names_subscribe.filter((n) => n !== '*' && !state.names.has(n)));
    const removed = new Set(
      req.resource_names_unsubscribe.filter((n) => n !== '*' && (state.names.has(n) || added.has(n))),
    );
    return state.names.size + added.size - removed.size;
  }
}
