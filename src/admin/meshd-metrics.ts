// The metrics meshd exports on /metrics: xDS streams, pushes, NACKs, push latency (from a
// change being detected to the proxy's last ACK of it) and mesh reloads.
import type { XdsObserver } from '../xds/ads-session';
import { isGrpcUserAgent, syncState, type StreamRegistry } from '../xds/stream-status';
import { isKnownTypeUrl, shortTypeName } from '../xds/type-urls';
import type { Logger } from '../util/log';
import { MetricsRegistry, type CollectedSample } from './metrics';

export interface MeshdMetrics {
  readonly registry: MetricsRegistry;
  /** Feeds the xDS server's events into the counters and the latency histogram. */
  readonly observer: XdsObserver;
  reloaded(ok: boolean): void;
  /** An error from the file system while watching the mesh paths (errno name, or 'other'). */
  watcherError(code: string): void;
  /** Where the gauge of mesh paths not watched right now reads its value. */
  countUnwatched(count: () => number): void;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** CDS, EDS, LDS or RDS; 'other' for any type URL a client sent, so that clients cannot add series. */
function typeLabel(typeUrl: string): string {
  return isKnownTypeUrl(typeUrl) ? shortTypeName(typeUrl) : 'other';
}

/** 'envoy' or 'grpc' (a proxyless gRPC library): the kinds of client worth telling apart on a dashboard. */
function clientKind(client: string): string {
  return isGrpcUserAgent(client) ? 'grpc' : client === 'envoy' ? 'envoy' : 'other';
}

/** One sample per distinct label set, counting how many items have it. */
function countByLabels(labelSets: Iterable<Record<string, string>>): CollectedSample[] {
  const counts = new Map<string, { labels: Record<string, string>; value: number }>();
  for (const labels of labelSets) {
    const key = JSON.stringify(labels);
    counts.set(key, { labels, value: (counts.get(key)?.value ?? 0) + 1 });
  }
  return [...counts.values()];
}

export function meshdMetrics(streams: StreamRegistry, log?: Pick<Logger, 'warn'>): MeshdMetrics {
  // A sample a collector got wrong is logged (once per metric) and left out; the scrape goes on.
  const registry = new MetricsRegistry(log ? { warn: (message) => log.warn(message) } : {});
  // process_* and nodejs_* (CPU, memory, event-loop lag, GC); the server's close() lets go of them.
  registry.addRuntimeMetrics();
  registry.gauge(
    'meshd_xds_connected_streams',
    'Open ADS streams, by protocol (sotw, delta) and client kind (envoy, grpc)',
    ['protocol', 'client'],
    () => countByLabels(streams.list().map((s) => ({ protocol: s.protocol, client: clientKind(s.client) }))),
  );
  registry.gauge(
    'meshd_xds_resource_types',
    'Subscribed resource types over all open streams, by type and sync state',
    ['type', 'state'],
    () =>
      countByLabels(
        streams
          .list()
          .flatMap((s) => [...s.types].map(([typeUrl, t]) => ({ type: typeLabel(typeUrl), state: syncState(t) }))),
      ),
  );
  const pushes = registry.counter('meshd_xds_pushes_total', 'xDS responses sent, by type and protocol', [
    'type',
    'protocol',
  ]);
  const nacks = registry.counter(
    'meshd_xds_nacks_total',
    'xDS responses a client rejected (NACK), by type and protocol',
    ['type', 'protocol'],
  );
  const latency = registry.histogram(
    'meshd_xds_push_latency_seconds',
    'From a mesh change being detected to a stream ACKing everything it changed for that stream',
    LATENCY_BUCKETS,
  );
  const refusedStreams = registry.counter(
    'meshd_xds_refused_streams_total',
    'ADS streams the server ended because a client went past a limit or sent an invalid request, by reason (names_per_type, message_bytes, streams_per_connection, node_id_bytes, …)',
    ['reason'],
  );
  const refusedConnections = registry.counter(
    'meshd_xds_refused_connections_total',
    'Connections to the xDS port closed on arrival, by reason (max_connections: the server had --xds-max-connections open; tls_handshake, tls_handshake_timeout, client_certificate: from another CA)',
    ['reason'],
  );
  const reloads = registry.counter(
    'meshd_mesh_reloads_total',
    'Mesh loads, by result (ok: served; error: rejected, the last good mesh kept)',
    ['result'],
  );
  const watcherErrors = registry.counter(
    'meshd_watcher_errors_total',
    'Errors from the file system while watching the mesh paths, by errno name (EMFILE, EACCES, ELOOP, ...); the path is watched afresh after a backoff',
    ['code'],
  );
  let unwatched = () => 0;
  registry.gauge(
    'meshd_mesh_paths_unwatched',
    'Mesh paths not (fully) watched right now: missing, unreadable, or their watch failed; /readyz says why',
    [],
    () => [{ labels: {}, value: unwatched() }],
  );
  return {
    registry,
    observer: {
      responseSent: (typeUrl, protocol) => pushes.inc({ type: typeLabel(typeUrl), protocol }),
      nackReceived: (typeUrl, protocol) => nacks.inc({ type: typeLabel(typeUrl), protocol }),
      changeDelivered: (ms) => latency.observe(ms / 1000),
      streamRefused: (reason) => refusedStreams.inc({ reason }),
      connectionRefused: (reason) => refusedConnections.inc({ reason }),
    },
    reloaded: (ok) => reloads.inc({ result: ok ? 'ok' : 'error' }),
    watcherError: (code) => watcherErrors.inc({ code }),
    countUnwatched: (count) => {
      unwatched = count;
    },
  };
}
