// A real gRPC ADS client (@grpc/grpc-js) for protocol tests: sends DiscoveryRequests and
// hands out DiscoveryResponses in arrival order.
import * as grpc from '@grpc/grpc-js';
import type { DiscoveryRequest } from '../../src/generated/envoy/service/discovery/v3/DiscoveryRequest';
import type { DiscoveryResponse__Output } from '../../src/generated/envoy/service/discovery/v3/DiscoveryResponse';
import { adsServiceDefinition } from '../../src/xds/protos';

type AdsCall = grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse__Output>;

export class AdsTestClient {
  private readonly client: grpc.Client;
  private readonly call: AdsCall;
  private readonly queue: DiscoveryResponse__Output[] = [];
  private waiter: (() => void) | undefined;

  constructor(port: number) {
    const Ctor = grpc.makeGenericClientConstructor(adsServiceDefinition(), 'AggregatedDiscoveryService');
    this.client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    this.call = (this.client as unknown as { StreamAggregatedResources(): AdsCall }).StreamAggregatedResources();
    this.call.on('data', (res: DiscoveryResponse__Output) => {
      this.queue.push(res);
      this.waiter?.();
    });
    this.call.on('error', () => undefined);
  }

  send(req: DiscoveryRequest): void {
    this.call.write(req);
  }

  /** The next response, or an error after `timeoutMs`. */
  async next(timeoutMs = 3000): Promise<DiscoveryResponse__Output> {
    if (this.queue.length === 0) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no DiscoveryResponse within ${timeoutMs} ms`)), timeoutMs);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.queue.shift()!;
  }

  /** Resolves true if no response arrives within `ms`. */
  async quietFor(ms: number): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.queue.length === 0;
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}
