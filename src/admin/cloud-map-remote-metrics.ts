// The remote Cloud Map (meshd serve --cloud-map remote) on /metrics: failed polls by service and
// reason, whether each service's last poll succeeded and how long ago one last did, instances
// skipped as bad input, and the calls made (DiscoverInstances only when the revision moved).
import type { RemoteCloudMap } from '../discovery/cloud-map/remote';
import type { MetricsRegistry } from './metrics';

export function cloudMapRemoteMetrics(registry: MetricsRegistry, remote: RemoteCloudMap): void {
  const services = () => remote.health();
  registry.counter(
    'meshd_cloud_map_remote_errors_total',
    'Polls of the remote Cloud Map that failed, by service and reason (timeout, not_found, rejected, server_error, network, invalid_response, error); the last good instances keep serving',
    ['namespace', 'service', 'reason'],
    () =>
      [...remote.errorsTotal].map(([key, value]) => {
        const [namespace, service, reason] = key.split('\u0000') as [string, string, string];
        return { labels: { namespace, service, reason }, value };
      }),
  );
  registry.gauge(
    'meshd_cloud_map_remote_up',
    "1 when a service's last poll of the remote Cloud Map succeeded, 0 while it fails (or before the first answer)",
    ['namespace', 'service'],
    () => services().map((s) => ({ labels: { namespace: s.namespace, service: s.service }, value: s.up ? 1 : 0 })),
  );
  registry.gauge(
    'meshd_cloud_map_remote_last_success_age_seconds',
    'Seconds since a poll of the service last succeeded (no series before the first success)',
    ['namespace', 'service'],
    () =>
      services().flatMap((s) =>
        s.lastSuccessAgeSeconds === undefined
          ? []
          : [{ labels: { namespace: s.namespace, service: s.service }, value: s.lastSuccessAgeSeconds }],
      ),
  );
  registry.counter(
    'meshd_cloud_map_remote_skipped_instances_total',
    'Instances the remote Cloud Map returned that meshd did not keep, by reason (bad_id, duplicate_id, attributes, address, health, over_limit: past --cloud-map-max-instances)',
    ['reason'],
    () => [...remote.skippedTotal].map(([reason, value]) => ({ labels: { reason }, value })),
  );
  registry.counter(
    'meshd_cloud_map_remote_calls_total',
    'Calls made to the remote Cloud Map: DiscoverInstancesRevision every interval, DiscoverInstances only when the revision moved',
    ['operation'],
    () =>
      [...remote.callsTotal].map(([operation, value]) => ({
        labels: { operation: operation === 'revision' ? 'DiscoverInstancesRevision' : 'DiscoverInstances' },
        value,
      })),
  );
}
