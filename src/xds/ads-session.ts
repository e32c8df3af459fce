// What SotW and Delta ADS streams share: per-type subscriptions, what the client holds, one
// response in flight per type, ACK/NACK bookkeeping, and the make-before-break order in which
// a new snapshot reaches the client:
//   0. SDS (secrets) is sent as soon as it changes and never waits for an ACK: Envoy warms
//      the clusters and listeners naming a secret until it arrives, and a certificate rotation
//      changes only secrets, so it pushes only SDS;
//   1. CDS and EDS gain new and changed resources (removed ones are kept for now); EDS is
//      re-sent for every cluster that changed, so a re-created EDS cluster finishes warming;
//   2. LDS and RDS follow once the client ACKed those clusters and endpoints;
//   3. once LDS and RDS are ACKed, CDS and EDS drop what the snapshot no longer has.
// A type with a response in flight gets the latest state when the client answers, never a
// backlog; a NACKed response is never sent again, only a newer one.
import * as crypto from 'node:crypto';
import type { Node__Output } from '../generated/envoy/config/core/v3/Node';
import {
  MAX_DISPLAY_CHARS,
  MAX_NACK_MESSAGE_CHARS,
  MAX_TYPE_URL_BYTES,
  resourceExhausted,
  Status,
  StreamRefusal,
  truncate,
  type NameBudget,
  type RefusalReason,
  type XdsLimits,
} from './limits';
import type { ThrottledLog } from './throttled-log';
import { RefusedRequest } from './request-guard';
import { resourceSet, resourcesOf, select, type Resource, type ResourceSet, type Snapshot } from './resources';
import type { SnapshotCache } from './snapshot-cache';
import type { AdsProtocol, StreamRegistry, StreamStatus, TypeStatus } from './stream-status';
import { PUSH_ORDER, shortTypeName, TypeUrl } from './type-urls';

type LogFields = Record<string, unknown>;

/** pino's calling convention (fields, message), so a pino logger plugs straight in. */
export interface XdsLogger {
  debug(fields: LogFields, message: string): void;
  info(fields: LogFields, message: string): void;
  warn(fields: LogFields, message: string): void;
}

/**
 * Why a connection was closed on arrival: the server had maxConnections open; the TLS handshake
 * failed (plaintext or garbage on a TLS port, no common protocol); it took too long; or the
 * client presented a certificate that does not chain to the trusted CA.
 */
export type ConnectionRefusalReason =
  'max_connections' | 'tls_handshake' | 'tls_handshake_timeout' | 'client_certificate';

/** Events for metrics; every member optional. */
export interface XdsObserver {
  responseSent?(typeUrl: string, protocol: AdsProtocol): void;
  nackReceived?(typeUrl: string, protocol: AdsProtocol): void;
  /** A stream ACKed everything a change gave it: ms from the change being detected to the last ACK. */
  changeDelivered?(latencyMs: number): void;
  /** The server ended a stream because it went past a limit or sent something invalid. */
  streamRefused?(reason: RefusalReason): void;
  /** The server closed a new connection: it had maxConnections open, or the client failed TLS. */
  connectionRefused?(reason: ConnectionRefusalReason): void;
}

/** What a stream's client proved about itself: its TLS client certificate, its `authorization` metadata. */
export interface StreamCredentials {
  /** The client certificate, present only when it chains to the server's trusted CA (server.ts checks). */
  readonly peerCertificate?: crypto.X509Certificate;
  /** The `authorization` gRPC metadata value (e.g. `Bearer <token>`), cut to MAX_AUTHORIZATION_CHARS. */
  readonly authorization?: string;
}

/** Why a stream is refused its node: the gRPC status it ends with is UNAUTHENTICATED or PERMISSION_DENIED. */
export interface AuthorizationRefusal {
  readonly code: 'unauthenticated' | 'permission_denied';
  readonly message: string;
}

/**
 * The stream may go on. `credential` names what it proved itself with (e.g. a token's id), kept in its status, so
 * that whoever revoked that credential can end the streams opened with it (StreamRegistry.end).
 */
export interface Authorization {
  readonly credential: string;
}

export type AuthorizeResult = undefined | Authorization | AuthorizationRefusal;

export interface StreamHooks {
  /**
   * Decides whether the stream's client may be served as `node`: called once per stream, on its
   * first request, before nodeKey() and before any response. May be async: the stream's later
   * requests wait, in order, meanwhile. A throw (or rejection) ends the stream as INTERNAL.
   */
  authorize?(node: Node__Output, credentials: StreamCredentials): AuthorizeResult | Promise<AuthorizeResult>;
  /** The cache key for a node (go-control-plane's NodeHash). May prepare its snapshot. */
  nodeKey(node: Node__Output): string;
  /** The last stream of a node key closed. */
  onNodeGone?(nodeKey: string): void;
}

export interface SessionDeps {
  readonly cache: SnapshotCache;
  readonly registry: StreamRegistry;
  readonly hooks: StreamHooks;
  readonly log: XdsLogger;
  readonly observer: XdsObserver;
  readonly limits: XdsLimits;
  /** Names subscribed over all streams, shared by every session of the server. */
  readonly names: NameBudget;
  /** Where refusals are logged, a few a second at most. */
  readonly refusals: ThrottledLog;
  /** Where streams' connect and disconnect lines are logged, a few dozen a second at most. */
  readonly lifecycle: ThrottledLog;
  /** Request handling per turn of the event loop over all streams, ms (TURN_BUDGET_MS when missing). */
  readonly turnBudgetMs?: number;
  /** The one type URL the stream may ask for (a SecretDiscoveryService stream: secrets); any when missing. */
  readonly onlyTypeUrl?: string;
}

/** The transport a session writes to: a grpc-js server stream. */
export interface SessionTransport {
  getPeer(): string;
  write(response: Buffer): boolean;
  end(): void;
  /** grpc-js ends a server stream with the error's code and message as its status. */
  emit(event: 'error', err: Error & { code: number }): boolean;
  on(event: 'end' | 'error' | 'cancelled', listener: () => void): unknown;
  readonly writableEnded: boolean;
  /** Stops and restarts reading requests (HTTP/2 flow control then holds the client back). */
  pause(): unknown;
  resume(): unknown;
  /** The request metadata (grpc-js's call.metadata): where `authorization` comes from. */
  readonly metadata?: { get(key: string): (string | Buffer)[] };
  /** grpc-js's TLS peer: the client certificate, when the connection's TLS verified one. */
  getAuthContext?(): { sslPeerCertificate?: { raw?: Buffer } } | null;
}

/** An `authorization` value longer than this is cut (a JWT is well under 2 KiB; grpc-js bounds headers anyway). */
export const MAX_AUTHORIZATION_CHARS = 8192;

/**
 * Requests one stream may have handled in one turn of the event loop; then it stops reading until
 * the next turn, so that a stream sending without pause cannot hold back the others' requests
 * and pushes for longer than this many requests take (a few ms). Envoy sends a few at a time.
 */
const REQUESTS_PER_TURN = 16;

/**
 * How long all streams together may spend handling requests in one turn of the event loop. grpc-js
 * hands over every request a socket read decoded in one go, and a thousand proxies connecting (or
 * ACKing a change) at once would otherwise hold the loop for all of them: past the budget, a
 * stream keeps its requests, in order, for the next turn and stops reading until then.
 */
export const TURN_BUDGET_MS = 10;

/** The stream's end for a credential refused, at its first request or revoked later. */
function authorizationRefusal(code: AuthorizationRefusal['code'], message: string): StreamRefusal {
  const unauthenticated = code === 'unauthenticated';
  return new StreamRefusal(
    unauthenticated ? Status.UNAUTHENTICATED : Status.PERMISSION_DENIED,
    unauthenticated ? 'unauthenticated' : 'permission_denied',
    truncate(message, MAX_DISPLAY_CHARS),
  );
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

/** When the current turn's request handling began (-1: no request handled yet this turn). */
let turnStartedAt = -1;

/** Whether this turn's request handling has used its budget (the first call of a turn starts it). */
function turnOverBudget(budgetMs: number): boolean {
  const now = performance.now();
  if (turnStartedAt < 0) {
    turnStartedAt = now;
    setImmediate(() => (turnStartedAt = -1));
    return false;
  }
  return now - turnStartedAt > budgetMs;
}

/**
 * A resource the client holds; `resource` is unknown for what
 * it reported from an earlier meshd (Delta's initial versions).
 */
interface Held {
  readonly version: string;
  readonly resource?: Resource;
}

interface InFlight {
  readonly nonce: string;
  /** The set the response makes the client hold (with `kept`). */
  readonly target: ResourceSet;
  /** Resources the client keeps although the response does not carry them (delta: not removed yet). */
  readonly kept: ReadonlyMap<string, Held>;
  /** What the response carries, to tell it again: its version (SotW), or what it changed and removed (Delta). */
  readonly version: string;
  readonly changed: readonly Resource[];
  readonly removed: readonly string[];
}

export interface TypeState {
  readonly typeUrl: string;
  wildcard: boolean;
  names: Set<string>;
  /** What the client holds, as of its last ACK. */
  has: Map<string, Held>;
  /**
   * A set `has` holds exactly (the same names and versions, nothing else), when known: then
   * "does the client hold the target?" is one comparison. Whoever changes `has` clears it.
   */
  heldSet?: ResourceSet;
  /** The version a reconnecting SotW client said it holds, until a pump compares it with the snapshot's. */
  reportedVersion?: string;
  inFlight?: InFlight;
  /** The nonce of the latest response of this type; a request naming another one is stale. */
  lastNonce?: string;
  nackedKey?: string;
  /** Names to send even though the client holds their current version (EDS after a cluster change). */
  force: Set<string>;
  /** The client asked and has not been answered yet; it gets a response even if it is empty. */
  needsAnswer: boolean;
  readonly status: TypeStatus;
  /** What the subscription selected from which set, until either changes (see subscribed()). */
  selection?: { readonly from: ResourceSet; readonly result: ResourceSet };
  /** Names of this type counted against the stream's and the server's bounds. */
  counted: number;
}

/** One response to write: the full set the client should then hold, and what differs from what it holds now. */
export interface Outgoing {
  readonly typeUrl: string;
  /** The nonce of the type's last response to this stream: the new one must differ. */
  readonly previousNonce: string | undefined;
  /**
   * The set the client holds exactly, when the response is what takes it from there to `target`
   * and nothing else (no resource forced, none kept): every stream going from one to the other is sent the same.
   */
  readonly from: ResourceSet | undefined;
  readonly version: string;
  /** The full set the client should then hold (SotW sends it whole). */
  readonly target: ResourceSet;
  readonly changed: readonly Resource[];
  readonly removed: readonly string[];
}

/** Makes the type hold exactly `set` (after an ACK, or a reconnecting client reporting its version). */
export function holdSet(state: TypeState, set: ResourceSet): void {
  const has = new Map<string, Held>();
  for (const [name, resource] of set.resources) has.set(name, { version: resource.version, resource });
  state.has = has;
  state.heldSet = set;
}

const CLUSTER_TYPES: readonly string[] = [TypeUrl.Cluster, TypeUrl.Endpoint];
const ROUTING_TYPES: readonly string[] = [TypeUrl.Listener, TypeUrl.Route];
const SERVED_FIRST: readonly string[] = PUSH_ORDER;
const NOTHING = resourceSet([]);

let nextStreamId = 1;

export abstract class AdsSession {
  protected readonly id = nextStreamId++;
  protected status: StreamStatus | undefined;
  protected readonly types = new Map<string, TypeState>();
  protected closed = false;
  private nonceCounter = 0;
  private unwatch: (() => void) | undefined;
  private log: XdsLogger;
  /** Whether the node had a snapshot when the stream watched it, or has had one since. */
  private hadSnapshot = false;
  /** When the oldest change not yet fully ACKed was detected, and whether anything was sent for it. */
  private pending: { since: number; sent: boolean } | undefined;
  /** Names of all types counted against the bounds (given back to the server's budget on close). */
  private namesHeld = 0;
  /**
   * A request is answered at once by a pump, the first of its turn of the event loop; the
   * requests after it in the same turn share one more pump, at the end of the turn. So a stream
   * sending without pause costs at most two pumps a turn, however many requests it sends.
   */
  private pumpTurn: 'idle' | 'pumped' | 'again' = 'idle';
  private pumpTurnEnd: NodeJS.Immediate | undefined;
  private firstRequestTimer: NodeJS.Timeout | undefined;
  /** The authorize hook said yes (or there is none); until then no request is applied. */
  private authorized: boolean;
  /** What the stream proved itself with (the authorize hook's answer), for its status. */
  private credential: string | undefined;
  /** An async authorize is pending: requests wait in the backlog, reading paused. */
  private authorizing = false;
  /** The node id the first request claimed, for the refusal log before the stream has a status. */
  private claimedNodeId: string | undefined;
  private requestsThisTurn = 0;
  private nextTurn: NodeJS.Immediate | undefined;
  /** Requests kept for a later turn (the turn's budget was spent), oldest first, and the turn that handles them. */
  private readonly backlog: object[] = [];
  private backlogTurn: NodeJS.Immediate | undefined;
  /** The client half-closed while requests waited: the stream closes once they are handled. */
  private closeAfterBacklog = false;
  /** pumpOrder's last answer, and what it depended on (types are only ever added to this.types). */
  private order: { types: ReadonlyMap<string, ResourceSet>; asked: number; order: readonly string[] } | undefined;

  protected constructor(
    protected readonly protocol: AdsProtocol,
    protected readonly transport: SessionTransport,
    protected readonly deps: SessionDeps,
  ) {
    this.log = deps.log;
    this.authorized = !deps.hooks.authorize;
    for (const event of ['error', 'cancelled'] as const) transport.on(event, () => this.close());
    // A client that half-closes after its requests still has them handled (some may wait in the backlog).
    transport.on('end', () => {
      if (this.backlog.length === 0) this.close();
      else this.closeAfterBacklog = true;
    });
    // A stream that never says who it is would hold its slot for ever.
    this.firstRequestTimer = setTimeout(
      () =>
        this.refuse(
          new StreamRefusal(
            Status.DEADLINE_EXCEEDED,
            'first_request_timeout',
            `no request within ${deps.limits.idleTimeoutMs} ms of opening the stream`,
          ),
        ),
      deps.limits.idleTimeoutMs,
    );
    this.firstRequestTimer.unref();
  }

  /** Encodes a response in the stream's protocol, with its nonce (one the type's last response did not have). */
  protected abstract encode(out: Outgoing): { readonly nonce: string; readonly bytes: Buffer };

  /** A nonce this stream has not sent before. */
  protected newNonce(): string {
    return String(++this.nonceCounter);
  }

  /** Applies one decoded request. Throws a StreamRefusal, before changing anything, for a request over a bound. */
  protected abstract apply(req: object): void;

  /** Every request goes through here: a refused or failing request ends this stream, never the process. */
  protected receive(req: object): void {
    if (this.closed) return;
    if (this.backlog.length > 0 || turnOverBudget(this.turnBudgetMs)) {
      this.backlog.push(req);
      this.transport.pause();
      this.backlogTurn ??= setImmediate(() => this.handleBacklog());
      return;
    }
    this.handle(req);
  }

  private get turnBudgetMs(): number {
    return this.deps.turnBudgetMs ?? TURN_BUDGET_MS;
  }

  /** Handles kept requests while the turn's budget lasts; reads again once none is left. */
  private handleBacklog(): void {
    this.backlogTurn = undefined;
    // Requests wait, unread further, while the stream's authorization is pending.
    if (this.authorizing) return;
    // At least one request a call, so the backlog always moves, whatever the clock says.
    for (let handled = 0; this.backlog.length > 0 && !this.closed && !this.authorizing; handled++) {
      if (handled > 0 && turnOverBudget(this.turnBudgetMs)) {
        this.backlogTurn = setImmediate(() => this.handleBacklog());
        return;
      }
      this.handle(this.backlog.shift()!);
    }
    if (this.authorizing) return;
    // Closed on the next turn, after the pump the last requests may have left for the end of this one.
    if (this.closeAfterBacklog) setImmediate(() => this.close());
    else if (!this.closed && !this.nextTurn) this.transport.resume();
  }

  private handle(req: object): void {
    if (++this.requestsThisTurn >= REQUESTS_PER_TURN && !this.nextTurn) {
      this.transport.pause();
      this.nextTurn = setImmediate(() => {
        this.nextTurn = undefined;
        this.requestsThisTurn = 0;
        if (!this.closed && this.backlog.length === 0) this.transport.resume();
      });
    }
    try {
      if (req instanceof RefusedRequest) throw req.refusal;
      if (!this.authorized && this.authorize(req)) return;
      this.apply(req);
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * Runs the authorize hook on the first request. True when the request must wait (the hook is
   * async: it is put back at the head of the backlog and reading pauses until the answer); false
   * when the stream is authorized and the request applies now. Throws the refusal otherwise.
   */
  private authorize(req: object): boolean {
    const node = (req as { node?: Node__Output | null }).node ?? null;
    this.checkNode(node);
    this.claimedNodeId = node!.id;
    const result = this.deps.hooks.authorize!(node!, this.credentials());
    if (!isPromiseLike(result)) {
      this.admitOrRefuse(result);
      return false;
    }
    this.authorizing = true;
    this.backlog.unshift(req);
    this.transport.pause();
    Promise.resolve(result).then(
      (answer) => {
        if (this.closed) return;
        this.authorizing = false;
        try {
          this.admitOrRefuse(answer);
        } catch (err) {
          return this.fail(err);
        }
        this.backlogTurn ??= setImmediate(() => this.handleBacklog());
      },
      (err: unknown) => {
        if (this.closed) return;
        this.authorizing = false;
        this.fail(err);
      },
    );
    return true;
  }

  private admitOrRefuse(result: AuthorizeResult): void {
    if (result === undefined || !('code' in result)) {
      this.authorized = true;
      this.credential = result?.credential;
      return;
    }
    throw authorizationRefusal(result.code, String(result.message));
  }

  /** The client's certificate (only one its TLS verified) and authorization metadata, as the transport has them. */
  private credentials(): StreamCredentials {
    let peerCertificate: crypto.X509Certificate | undefined;
    const raw = this.transport.getAuthContext?.()?.sslPeerCertificate?.raw;
    if (raw) {
      try {
        peerCertificate = new crypto.X509Certificate(raw);
      } catch {
        peerCertificate = undefined; // verified by TLS, so parseable; if not, it proves nothing
      }
    }
    const value = this.transport.metadata?.get('authorization')[0];
    const authorization = typeof value === 'string' ? value.slice(0, MAX_AUTHORIZATION_CHARS) : undefined;
    return { ...(peerCertificate ? { peerCertificate } : {}), ...(authorization ? { authorization } : {}) };
  }

  /** Ends the stream for an error thrown while handling it: a refusal as such, anything else as INTERNAL. */
  private fail(err: unknown): void {
    if (err instanceof StreamRefusal) return this.refuse(err);
    this.deps.log.warn(
      { stream: this.id, peer: this.transport.getPeer(), error: truncate(String((err as Error)?.message ?? err), 500) },
      'xds: internal error handling a stream; closing it',
    );
    this.refuse(new StreamRefusal(Status.INTERNAL, 'internal_error', 'internal error'));
  }

  /** Ends the stream with the refusal's status, logs and counts it. */
  protected refuse(refusal: StreamRefusal): void {
    if (this.closed) return;
    const who = this.status
      ? `proxy ${this.status.nodeId}`
      : `peer ${this.transport.getPeer()}${this.claimedNodeId !== undefined ? ` (node id ${truncate(this.claimedNodeId, 200)})` : ''}`;
    this.deps.refusals.warn(
      {
        stream: this.id,
        reason: refusal.reason,
        code: refusal.code,
        peer: this.transport.getPeer(),
        node: truncate(this.status?.nodeId ?? this.claimedNodeId ?? '', 200),
      },
      `xds: closing ${this.protocol} stream ${this.id} of ${who}: ${refusal.message}`,
    );
    this.deps.observer.streamRefused?.(refusal.reason);
    try {
      this.transport.emit('error', Object.assign(new Error(refusal.message), { code: refusal.code }));
    } finally {
      this.close();
    }
  }

  /** Handles the node of the first request; throws a refusal when it has no id or one too long to be an id. */
  protected openOnce(node: Node__Output | null): void {
    if (this.status) {
      // Envoy sends its node on the first request only (or the same one on each): a client
      // naming another node later would be served a node it was not authorized as.
      if (node?.id && node.id !== this.status.nodeId)
        throw new StreamRefusal(
          Status.PERMISSION_DENIED,
          'permission_denied',
          `a later request names node id ${truncate(node.id, 200)}; this stream is node ${truncate(this.status.nodeId, 200)}`,
        );
      return;
    }
    this.checkNode(node);
    clearTimeout(this.firstRequestTimer);
    const nodeKey = this.deps.hooks.nodeKey(node!);
    this.openWith(node!, nodeKey);
  }

  /** Throws a refusal when the node has no id or one too long to be an id. */
  private checkNode(node: Node__Output | null): void {
    if (!node?.id)
      throw new StreamRefusal(
        Status.INVALID_ARGUMENT,
        'no_node_id',
        'the first request has no node id (node.id is required)',
      );
    const idBytes = Buffer.byteLength(node.id);
    if (idBytes > this.deps.limits.maxNodeIdBytes) {
      throw new StreamRefusal(
        Status.INVALID_ARGUMENT,
        'node_id_bytes',
        `node.id is ${idBytes} bytes long; at most ${this.deps.limits.maxNodeIdBytes}`,
      );
    }
  }

  private openWith(node: Node__Output, nodeKey: string): void {
    this.status = {
      streamId: this.id,
      protocol: this.protocol,
      nodeId: node.id,
      nodeCluster: truncate(node.cluster, MAX_DISPLAY_CHARS),
      nodeKey,
      client: truncate(node.user_agent_name || 'unknown', MAX_DISPLAY_CHARS),
      peer: this.transport.getPeer(),
      connectedAt: new Date().toISOString(),
      ...(this.credential !== undefined ? { credential: truncate(this.credential, MAX_DISPLAY_CHARS) } : {}),
      types: new Map(),
    };
    this.log = this.makeChildLog(node.id);
    // Whoever revokes the credential the stream came in with ends it (StreamRegistry.end).
    this.deps.registry.add(this.status, (code, message) => this.refuse(authorizationRefusal(code, message)));
    this.deps.lifecycle.info(
      { node: node.id, stream: this.id, protocol: this.protocol, peer: this.status.peer, client: this.status.client },
      `xds: proxy ${node.id} connected (${this.protocol} stream ${this.id})`,
    );
    this.hadSnapshot = this.deps.cache.get(nodeKey) !== undefined;
    this.unwatch = this.deps.cache.watch(nodeKey, (snapshot) => this.onSnapshot(snapshot));
  }

  private makeChildLog(nodeId: string): XdsLogger {
    const parent = this.deps.log;
    const bind = (f: LogFields) => ({ node: nodeId, stream: this.id, protocol: this.protocol, ...f });
    return {
      debug: (f, m) => parent.debug(bind(f), m),
      info: (f, m) => parent.info(bind(f), m),
      warn: (f, m) => parent.warn(bind(f), m),
    };
  }

  /** The type's state, created on its first request within the types-per-stream bound. */
  protected typeState(typeUrl: string): TypeState {
    let state = this.types.get(typeUrl);
    if (!state) {
      if (typeUrl.length > MAX_TYPE_URL_BYTES)
        throw new StreamRefusal(
          Status.INVALID_ARGUMENT,
          'type_url_bytes',
          `type_url is ${typeUrl.length} characters long; at most ${MAX_TYPE_URL_BYTES}`,
        );
      const only = this.deps.onlyTypeUrl;
      if (only !== undefined && typeUrl !== only)
        throw new StreamRefusal(
          Status.INVALID_ARGUMENT,
          'malformed',
          `this stream serves only ${shortTypeName(only)} (${only}); it asked for ${truncate(typeUrl, MAX_DISPLAY_CHARS)}`,
        );
      const max = this.deps.limits.maxTypesPerStream;
      if (this.types.size >= max)
        throw resourceExhausted('types_per_stream', `the stream asked for more than ${max} resource types`);
      state = {
        typeUrl,
        wildcard: false,
        names: new Set(),
        has: new Map(),
        force: new Set(),
        needsAnswer: false,
        status: {},
        counted: 0,
      };
      this.types.set(typeUrl, state);
      // Only types the server serves are shown (status, metrics); a type URL a client made up is not.
      if (this.serves(typeUrl)) this.status!.types.set(typeUrl, state.status);
    }
    return state;
  }

  /** Whether the server has resources of this type (meshd's four, or any type in the node's snapshot). */
  protected serves(typeUrl: string): boolean {
    return SERVED_FIRST.includes(typeUrl) || this.snapshot()?.types.has(typeUrl) === true;
  }

  /**
   * Checks that the type may hold `count` names, within the per-type, per-stream and server-wide
   * bounds, and counts them. Throws, counting nothing, if not.
   */
  protected admitNames(state: TypeState, count: number): void {
    const { maxNamesPerType, maxNamesPerStream } = this.deps.limits;
    if (count > maxNamesPerType)
      throw resourceExhausted(
        'names_per_type',
        `the stream subscribed to more than ${maxNamesPerType} names of ${truncate(shortTypeName(state.typeUrl), 80)}`,
      );
    const streamTotal = this.namesHeld - state.counted + count;
    if (streamTotal > maxNamesPerStream)
      throw resourceExhausted(
        'names_per_stream',
        `the stream subscribed to more than ${maxNamesPerStream} names over all its types`,
      );
    if (!this.deps.names.take(count - state.counted))
      throw resourceExhausted(
        'names_total',
        `the server holds its limit of ${this.deps.names.max} subscribed names over all streams`,
      );
    this.namesHeld = streamTotal;
    state.counted = count;
  }

  /** The client forgets what it unsubscribed from (a wildcard keeps everything); nothing is sent for it. */
  protected forgetUnsubscribed(state: TypeState): void {
    if (state.wildcard) return;
    for (const name of state.has.keys())
      if (!state.names.has(name)) {
        state.has.delete(name);
        state.heldSet = undefined;
      }
  }

  /** Throws unless every name fits maxNameBytes. */
  protected checkNameLengths(names: Iterable<string>): void {
    const max = this.deps.limits.maxNameBytes;
    for (const name of names) {
      if (name.length > max || Buffer.byteLength(name) > max)
        throw resourceExhausted(
          'name_bytes',
          `a resource name is ${Buffer.byteLength(name)} bytes long; at most ${max}`,
        );
    }
  }

  /**
   * After a request of the type: a served type is answered by a
   * pump; any other gets an empty answer, and costs nothing more.
   */
  protected respond(state: TypeState): void {
    if (this.serves(state.typeUrl)) return this.pumpSoon();
    if (state.inFlight || !this.status) return;
    this.offer(state, NOTHING, new Map());
  }

  private pumpSoon(): void {
    if (this.closed) return;
    if (this.pumpTurn !== 'idle') {
      this.pumpTurn = 'again';
      return;
    }
    this.pumpTurn = 'pumped';
    this.pumpTurnEnd = setImmediate(() => {
      const again = this.pumpTurn === 'again';
      this.pumpTurn = 'idle';
      this.pumpTurnEnd = undefined;
      if (!again) return;
      try {
        this.pumpSoon();
      } catch (err) {
        this.fail(err);
      }
    });
    this.pump(); // a throw reaches receive(), which ends the stream
  }

  protected snapshot(): Snapshot | undefined {
    return this.status ? this.deps.cache.get(this.status.nodeKey) : undefined;
  }

  /** The resources of a type the client subscribed to, as the current snapshot has them, with their version. */
  protected subscribed(state: TypeState, snapshot: Snapshot): ResourceSet {
    const from = resourcesOf(snapshot, state.typeUrl);
    // A request that does not change the subscription costs nothing here, however many names it has.
    if (state.selection?.from !== from) state.selection = { from, result: select(from, state.wildcard, state.names) };
    return state.selection.result;
  }

  /** Identifies a response's content, so that one the client NACKed is never sent again. */
  private responseKey(response: Pick<InFlight, 'version' | 'changed' | 'removed'>): string {
    if (this.protocol === 'sotw') return response.version;
    return `${response.changed.map((r) => `${r.name}@${r.version}`).join(',')}-${response.removed.join(',')}`;
  }

  /**
   * Applies the client's answer to the response in flight. A nonce other than the latest one
   * sent is stale (the client has not seen the newest response yet). The latest nonce again,
   * once answered, is a subscription change and nothing more.
   */
  protected settle(
    state: TypeState,
    nonce: string,
    error: { code: number; message: string } | null,
  ): 'ack' | 'nack' | 'stale' | 'answered' {
    if (nonce !== state.lastNonce) return 'stale';
    const inFlight = state.inFlight;
    if (!inFlight) return 'answered';
    state.inFlight = undefined;
    const version = state.status.sentVersion ?? '';
    if (error) {
      const message = truncate(error.message || `code ${error.code}`, MAX_NACK_MESSAGE_CHARS);
      state.nackedKey = this.responseKey(inFlight);
      state.status.lastNack = { version, message, at: new Date().toISOString() };
      this.deps.observer.nackReceived?.(state.typeUrl, this.protocol);
      this.log.warn(
        { type: shortTypeName(state.typeUrl), version, error: message },
        `xds: proxy ${this.status!.nodeId} NACKed ${shortTypeName(state.typeUrl)} version ${version}: ${message}`,
      );
      return 'nack';
    }
    holdSet(state, inFlight.target);
    for (const [name, held] of inFlight.kept) state.has.set(name, held);
    if (inFlight.kept.size > 0) state.heldSet = undefined;
    state.status.ackedVersion = version;
    this.log.debug(
      { type: shortTypeName(state.typeUrl), version },
      `xds: proxy ${this.status!.nodeId} ACKed ${shortTypeName(state.typeUrl)} version ${version}`,
    );
    return 'ack';
  }

  private onSnapshot(snapshot: Snapshot): void {
    if (this.closed) return;
    // A proxy's first snapshot (compiled after it connected) is not a change to time.
    if (this.hadSnapshot) this.pending ??= { since: snapshot.detectedAt ?? Date.now(), sent: false };
    this.hadSnapshot = true;
    // One stream's failure must not keep the change from the other watchers of its node.
    try {
      this.pump();
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * Sends whatever each type is allowed to send now, in make-before-break order. Only served
   * types take part (meshd's four, then any other the snapshot has): a type URL the client made
   * up never costs a pass anything.
   */
  protected pump(): void {
    const snapshot = this.snapshot();
    if (this.closed || !snapshot) return;
    const order = this.pumpOrder(snapshot);
    // What each type's subscription selects from the snapshot: fixed for this pass, computed once.
    const targets = new Map<string, ResourceSet>();
    for (const typeUrl of order) targets.set(typeUrl, this.subscribed(this.types.get(typeUrl)!, snapshot));
    if (this.holdsEverything(order, targets)) return this.notePending(targets);
    for (const typeUrl of order) {
      const state = this.types.get(typeUrl)!;
      if (!this.status!.types.has(typeUrl)) this.status!.types.set(typeUrl, state.status);
      const selected = targets.get(typeUrl)!;
      state.status.targetVersion = selected.version;
      if (state.reportedVersion !== undefined) {
        // It holds exactly what it would be sent: nothing to send, and that version is recorded as held.
        if (state.reportedVersion === selected.version && !state.inFlight) {
          holdSet(state, selected);
          state.needsAnswer = false;
        }
        state.reportedVersion = undefined;
      }
      if (state.inFlight) continue;
      if (ROUTING_TYPES.includes(typeUrl)) {
        // Listeners and routes wait until the clusters and endpoints they may name are ACKed.
        if (!CLUSTER_TYPES.every((t) => this.holdsAdditions(t, targets, snapshot))) continue;
      }
      let target = selected;
      const kept = new Map<string, Held>();
      if (CLUSTER_TYPES.includes(typeUrl) && !ROUTING_TYPES.every((t) => this.holdsExactly(t, targets))) {
        // Removed clusters stay until no listener or route the client holds can name them. One
        // known only by name and version (delta's initial versions) is kept by not removing it.
        const staying: Resource[] = [];
        for (const [name, held] of state.has) {
          if (selected.resources.has(name) || !(state.wildcard || state.names.has(name))) continue;
          if (held.resource) staying.push(held.resource);
          else kept.set(name, held);
        }
        if (staying.length > 0) target = resourceSet([...selected.resources.values(), ...staying]);
      }
      this.offer(state, target, kept);
    }
    this.notePending(targets);
  }

  /**
   * The usual pass after an ACK: every type holds exactly its target and owes nothing, so no
   * type has anything to send (what the full pass would conclude type by type, at a fraction
   * of the cost); the status is brought up to date as offer() would.
   */
  private holdsEverything(order: readonly string[], targets: ReadonlyMap<string, ResourceSet>): boolean {
    for (const typeUrl of order) {
      const state = this.types.get(typeUrl)!;
      if (
        state.heldSet !== targets.get(typeUrl) ||
        state.inFlight ||
        state.needsAnswer ||
        state.force.size > 0 ||
        state.reportedVersion !== undefined
      )
        return false;
    }
    for (const typeUrl of order) {
      const state = this.types.get(typeUrl)!;
      const version = targets.get(typeUrl)!.version;
      if (!this.status!.types.has(typeUrl)) this.status!.types.set(typeUrl, state.status);
      state.status.targetVersion = version;
      if (state.status.ackedVersion !== version) state.status.sentVersion = state.status.ackedVersion = version;
    }
    return true;
  }

  /** The types the stream asked for, in the order a pump serves them: meshd's four, then the snapshot's others. */
  private pumpOrder(snapshot: Snapshot): readonly string[] {
    // Every pump of a snapshot asks the same, until the stream asks for a type it had not.
    const known = this.order;
    if (known?.types === snapshot.types && known.asked === this.types.size) return known.order;
    const order = [...SERVED_FIRST, ...[...snapshot.types.keys()].filter((t) => !SERVED_FIRST.includes(t))].filter(
      (t) => this.types.has(t),
    );
    this.order = { types: snapshot.types, asked: this.types.size, order };
    return order;
  }

  /**
   * The client ACKed every new or changed resource of the type. For EDS that includes the
   * assignment of every cluster it subscribed to that has one (an EDS cluster warms until its
   * assignment arrives), even before the client asked for it.
   */
  private holdsAdditions(typeUrl: string, targets: ReadonlyMap<string, ResourceSet>, snapshot: Snapshot): boolean {
    const state = this.types.get(typeUrl);
    const target = targets.get(typeUrl)?.resources;
    const assignments = typeUrl === TypeUrl.Endpoint ? resourcesOf(snapshot, TypeUrl.Endpoint).resources : undefined;
    const clusters = assignments ? targets.get(TypeUrl.Cluster)?.resources : undefined;
    const holds = (name: string, r: Resource) => state!.has.get(name)?.version === r.version;
    if (!state || state.inFlight) {
      // In flight, or never asked for: it holds the additions only if there are none.
      if (state?.inFlight) return false;
      if (target && target.size > 0) return false;
      if (clusters) for (const name of clusters.keys()) if (assignments!.has(name)) return false;
      return true;
    }
    const fromHeld = state.heldSet !== undefined && state.heldSet.resources === target;
    if (!fromHeld && target) for (const [name, r] of target) if (!holds(name, r)) return false;
    if (clusters)
      for (const name of clusters.keys()) {
        const r = assignments!.get(name);
        if (r && !holds(name, r)) return false;
      }
    return true;
  }

  /** The client holds exactly the type's current resources (or is not subscribed to it). */
  private holdsExactly(typeUrl: string, targets: ReadonlyMap<string, ResourceSet>): boolean {
    const state = this.types.get(typeUrl);
    if (!state) return true;
    if (state.inFlight || state.needsAnswer) return false;
    const target = targets.get(typeUrl)!.resources;
    if (state.heldSet?.resources === target) return true;
    if (target.size !== state.has.size) return false;
    for (const [name, r] of target) if (state.has.get(name)?.version !== r.version) return false;
    return true;
  }

  /** Sends `target` for the type if the client lacks any of it (or asked and awaits an answer). */
  private offer(state: TypeState, target: ResourceSet, kept: ReadonlyMap<string, Held>): void {
    if (state.heldSet === target && kept.size === 0 && !state.needsAnswer && state.force.size === 0) {
      // The usual case after an ACK: the client holds the target already.
      if (state.status.ackedVersion !== target.version)
        state.status.sentVersion = state.status.ackedVersion = target.version;
      return;
    }
    const changed = [...target.resources.values()].filter(
      (r) => state.has.get(r.name)?.version !== r.version || state.force.has(r.name),
    );
    const removed = [...state.has.keys()].filter((name) => !target.resources.has(name) && !kept.has(name)).sort();
    const version = target.version;
    if (changed.length === 0 && removed.length === 0 && !state.needsAnswer) {
      // Nothing to send: the client holds the target already (e.g. it reconnected holding it).
      if (kept.size === 0 && state.status.ackedVersion !== version)
        state.status.sentVersion = state.status.ackedVersion = version;
      return;
    }
    // Rejected before: wait for a newer version.
    if (state.nackedKey !== undefined && this.responseKey({ version, changed, removed }) === state.nackedKey) return;
    const { nonce, bytes } = this.encode({
      typeUrl: state.typeUrl,
      previousNonce: state.lastNonce,
      from: state.force.size === 0 && kept.size === 0 ? state.heldSet : undefined,
      version,
      target,
      changed,
      removed,
    });
    state.inFlight = { nonce, target, kept, version, changed, removed };
    state.lastNonce = nonce;
    state.needsAnswer = false;
    state.force.clear();
    state.status.sentVersion = version;
    if (state.typeUrl === TypeUrl.Cluster) this.resendEndpointsOf(changed);
    if (this.pending) this.pending.sent = true;
    this.transport.write(bytes);
    this.deps.observer.responseSent?.(state.typeUrl, this.protocol);
    this.log.debug(
      {
        type: shortTypeName(state.typeUrl),
        version,
        nonce,
        resources: target.resources.size,
        changed: changed.length,
        removed: removed.length,
      },
      `xds: proxy ${this.status!.nodeId} sent ${shortTypeName(state.typeUrl)} version ${version}`,
    );
  }

  /** A changed EDS cluster warms until it receives its assignment, even an unchanged one: send it again. */
  private resendEndpointsOf(changedClusters: readonly Resource[]): void {
    const eds = this.types.get(TypeUrl.Endpoint);
    if (!eds) return;
    for (const { name } of changedClusters) if (eds.wildcard || eds.names.has(name)) eds.force.add(name);
  }

  /** Records the push latency once the client holds everything the pending change gave it. */
  private notePending(targets: ReadonlyMap<string, ResourceSet>): void {
    if (!this.pending) return;
    for (const typeUrl of targets.keys()) if (!this.holdsExactly(typeUrl, targets)) return;
    if (this.pending.sent) this.deps.observer.changeDelivered?.(Date.now() - this.pending.since);
    this.pending = undefined;
  }

  protected close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.firstRequestTimer);
    if (this.pumpTurnEnd) clearImmediate(this.pumpTurnEnd);
    if (this.nextTurn) clearImmediate(this.nextTurn);
    if (this.backlogTurn) clearImmediate(this.backlogTurn);
    this.backlog.length = 0;
    this.deps.names.take(-this.namesHeld);
    this.namesHeld = 0;
    this.unwatch?.();
    if (this.status) {
      this.deps.registry.remove(this.id);
      this.deps.lifecycle.info(
        { node: this.status.nodeId, stream: this.id, protocol: this.protocol },
        `xds: proxy ${this.status.nodeId} disconnected (${this.protocol} stream ${this.id})`,
      );
      if (!this.deps.cache.isWatched(this.status.nodeKey)) this.deps.hooks.onNodeGone?.(this.status.nodeKey);
    }
    if (!this.transport.writableEnded) this.transport.end();
  }
}
