// One state-of-the-world ADS stream (StreamAggregatedResources): each request replaces the
// type's subscription; a response carries every subscribed resource, so for LDS and CDS a
// resource left out is removed.
import type * as grpc from '@grpc/grpc-js';
import type { DiscoveryRequest__Output } from '../generated/envoy/service/discovery/v3/DiscoveryRequest';
import { AdsSession, type Outgoing, type SessionDeps } from './ads-session';
import type { RefusedRequest } from './request-guard';
import { isNeverWildcard, isWildcardByDefault } from './type-urls';
import { encodeDiscoveryResponse, sharedSetResponse } from './wire';

export type SotwCall = grpc.ServerDuplexStream<DiscoveryRequest__Output | RefusedRequest, Buffer>;

export class SotwStream extends AdsSession {
  constructor(call: SotwCall, deps: SessionDeps) {
    super('sotw', call, deps);
    call.on('data', (req: DiscoveryRequest__Output | RefusedRequest) => this.receive(req));
  }

  protected encode(out: Outgoing): { nonce: string; bytes: Buffer } {
    // Every stream sent a set gets the same bytes, nonce included (a response is whole in its set).
    const shared = sharedSetResponse(out.target, out.typeUrl);
    if (shared.nonce !== out.previousNonce) return shared;
    // The same set again, right after itself (an answer to a request): a nonce of this stream's own.
    const nonce = `${shared.nonce}.${this.newNonce()}`;
    return { nonce, bytes: encodeDiscoveryResponse(out.version, out.typeUrl, nonce, out.target.resources.values()) };
  }

  protected apply(req: DiscoveryRequest__Output): void {
    this.openOnce(req.node);
    const first = !this.types.has(req.type_url);
    const state = this.typeState(req.type_url);
    // An answer to an older response changes nothing: the client will answer the newest one.
    if (req.response_nonce && req.response_nonce !== state.lastNonce) return;
    // Bounds next: a request over one changes nothing.
    const requested = req.resource_names.filter((n) => n !== '*');
    this.checkNameLengths(requested);
    const names = new Set(requested);
    this.admitNames(state, names.size);
    if (req.response_nonce) this.settle(state, req.response_nonce, req.error_detail);
    else state.needsAnswer = true;
    // Envoy subscribes to every listener and cluster by naming none (the legacy wildcard).
    // Secrets are only ever served by name ('*' names nothing).
    const wildcard =
      !isNeverWildcard(req.type_url) &&
      (req.resource_names.includes('*') ||
        (requested.length === 0 && isWildcardByDefault(req.type_url) && (first || state.wildcard)));
    // An ACK names what the stream already subscribes to: its selection stays (no re-select per ACK).
    const sameNames = names.size === state.names.size && [...names].every((name) => state.names.has(name));
    if (wildcard !== state.wildcard || !sameNames) {
      state.wildcard = wildcard;
      state.names = names;
      state.selection = undefined;
    }
    this.forgetUnsubscribed(state);

    // A client reconnecting (to this meshd or to one restarted) reports the version it holds:
    // when that is exactly what it would be sent, it already has it and gets nothing (pump()
    // compares, once the proxy's snapshot is there).
    state.reportedVersion = !req.response_nonce && req.version_info ? req.version_info : undefined;
    this.respond(state);
  }
}
