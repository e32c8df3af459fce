// The ADS gRPC server: a SotwStream per StreamAggregatedResources call and a DeltaStream per
// DeltaAggregatedResources call, on the same port.
import * as grpc from '@grpc/grpc-js';
import { adsServiceDefinition } from './protos';
import type { StreamHooks, XdsLogger, XdsObserver } from './ads-session';
import { DeltaStream, type DeltaCall } from './delta-stream';
import type { SnapshotCache } from './snapshot-cache';
import { SotwStream, type SotwCall } from './sotw-stream';
import { StreamRegistry } from './stream-status';

export interface XdsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly cache: SnapshotCache;
  readonly hooks: StreamHooks;
  readonly log: XdsLogger;
  readonly observer?: XdsObserver;
  /** Where open streams are registered; a new one if not given. */
  readonly streams?: StreamRegistry;
}

export interface XdsServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  readonly streams: StreamRegistry;
  close(): Promise<void>;
}

// grpc-js logs its own errors to stderr; meshd reports them itself, in one line.
grpc.setLogVerbosity(grpc.logVerbosity.NONE);

export async function startXdsServer(opts: XdsServerOptions): Promise<XdsServer> {
  const streams = opts.streams ?? new StreamRegistry();
  const server = new grpc.Server({
    // Envoy's ADS keepalive pings every 10 s (App Mesh's bootstrap); do not treat them as abuse.
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5000,
  });
  const deps = { cache: opts.cache, registry: streams, hooks: opts.hooks, log: opts.log, observer: opts.observer ?? {} };
  server.addService(adsServiceDefinition(), {
    StreamAggregatedResources: (call: SotwCall) => new SotwStream(call, deps),
    DeltaAggregatedResources: (call: DeltaCall) => new DeltaStream(call, deps),
  });
  const port = await new Promise<number>((resolve, reject) => {
    const address = `${formatHost(opts.host)}:${opts.port}`;
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (!err) return resolve(bound);
      const inUse = /EADDRINUSE/.test(err.message);
      reject(new Error(inUse ? `xDS address ${address} is already in use (another meshd?); pick another with --xds-port` : `cannot listen on ${address}: ${err.message}`));
    });
  });
  return {
    port,
    streams,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        // Open ADS streams never end by themselves: cut them after a short grace period.
        setTimeout(() => server.forceShutdown(), 500).unref();
      }),
  };
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
