// Real gRPC ADS clients (@grpc/grpc-js) for protocol tests: they send requests and hand out
// responses in arrival order. AdsTestClient speaks state of the world
// (StreamAggregatedResources), DeltaTestClient the incremental protocol (DeltaAggregatedResources);
// with `service: 'sds'` they call SecretDiscoveryService's StreamSecrets and DeltaSecrets instead.
// They connect to 127.0.0.1:<port>, or to a target string such as `unix:/path/to.sock`.
import * as grpc from '@grpc/grpc-js';
import type { DeltaDiscoveryRequest } from '../../src/generated/envoy/service/discovery/v3/DeltaDiscoveryRequest';
import type { DeltaDiscoveryResponse__Output } from '../../src/generated/envoy/service/discovery/v3/DeltaDiscoveryResponse';
import type { DiscoveryRequest } from '../../src/generated/envoy/service/discovery/v3/DiscoveryRequest';
import type { DiscoveryResponse__Output } from '../../src/generated/envoy/service/discovery/v3/DiscoveryResponse';
import { adsServiceDefinition, sdsServiceDefinition } from '../../src/xds/protos';

type Method = 'StreamAggregatedResources' | 'DeltaAggregatedResources';

/** How a test client connects: TLS credentials (plaintext when not given) and request metadata. */
export interface ClientOptions {
  readonly credentials?: grpc.ChannelCredentials;
  readonly metadata?: grpc.Metadata;
  /** gRPC channel options (e.g. grpc.ssl_target_name_override). */
  readonly channelOptions?: grpc.ChannelOptions;
  /** Which gRPC service to call: ADS (default) or SecretDiscoveryService. */
  readonly service?: 'ads' | 'sds';
}

const SDS_METHODS: Record<Method, string> = {
  StreamAggregatedResources: 'StreamSecrets',
  DeltaAggregatedResources: 'DeltaSecrets',
};

class StreamClient<Req, Res> {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<Req, Res>;
  private readonly queue: Res[] = [];
  private waiter: (() => void) | undefined;
  /** Every response received so far, in order (kept after next() hands them out). */
  readonly received: Res[] = [];
  ended = false;
  /** The status the stream ended with, once it has. */
  status: grpc.StatusObject | undefined;

  constructor(target: number | string, method: Method, opts: ClientOptions = {}) {
    const sds = opts.service === 'sds';
    const Ctor = sds
      ? grpc.makeGenericClientConstructor(sdsServiceDefinition(), 'SecretDiscoveryService')
      : grpc.makeGenericClientConstructor(adsServiceDefinition(), 'AggregatedDiscoveryService');
    this.client = new Ctor(
      typeof target === 'number' ? `127.0.0.1:${target}` : target,
      opts.credentials ?? grpc.credentials.createInsecure(),
      opts.channelOptions ?? {},
    );
    const name = sds ? SDS_METHODS[method] : method;
    const methods = this.client as unknown as Record<string, (m?: grpc.Metadata) => grpc.ClientDuplexStream<Req, Res>>;
    this.call = opts.metadata ? methods[name]!(opts.metadata) : methods[name]!();
    this.call.on('status', (status: grpc.StatusObject) => (this.status = status));
    this.call.on('data', (res: Res) => {
      this.queue.push(res);
      this.received.push(res);
      this.waiter?.();
    });
    this.call.on('error', () => (this.ended = true));
    this.call.on('end', () => (this.ended = true));
  }

  send(req: Req): void {
    this.call.write(req);
  }

  /** The next response, or an error after `timeoutMs`. */
  async next(timeoutMs = 3000): Promise<Res> {
    if (this.queue.length === 0) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
        this.waiter = () => {
          clearTimeout(timer);
          this.waiter = undefined;
          resolve();
        };
      });
    }
    return this.queue.shift()!;
  }

  /** The status the stream ends with (an error after `timeoutMs`). */
  async finished(timeoutMs = 5000): Promise<grpc.StatusObject> {
    const deadline = Date.now() + timeoutMs;
    while (!this.status) {
      if (Date.now() > deadline) throw new Error(`the stream did not end within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.status;
  }

  /** Resolves true if no response arrives within `ms`. */
  async quietFor(ms: number): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.queue.length === 0;
  }

  /** Stops reading: responses back up in gRPC's flow control as they would for a stuck proxy. */
  pause(): void {
    this.call.pause();
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

export class AdsTestClient extends StreamClient<DiscoveryRequest, DiscoveryResponse__Output> {
  constructor(target: number | string, opts?: ClientOptions) {
    super(target, 'StreamAggregatedResources', opts);
  }

  /** ACKs a response, naming the same resources it asked for. */
  ack(res: DiscoveryResponse__Output, node: DiscoveryRequest['node'], resourceNames: string[] = []): void {
    this.send({
      node,
      type_url: res.type_url,
      version_info: res.version_info,
      response_nonce: res.nonce,
      resource_names: resourceNames,
    });
  }
}

export class DeltaTestClient extends StreamClient<DeltaDiscoveryRequest, DeltaDiscoveryResponse__Output> {
  constructor(target: number | string, opts?: ClientOptions) {
    super(target, 'DeltaAggregatedResources', opts);
  }

  ack(res: DeltaDiscoveryResponse__Output, node: DeltaDiscoveryRequest['node']): void {
    this.send({ node, type_url: res.type_url, response_nonce: res.nonce });
  }
}
