// The Cloud Map meshd sends proxies: its own registry (kept in a state file and its journal) and,
// in remote mode, a real Cloud Map polled beside it; proxies get the union of both. Each change
// of a service is logged, one line per service.
import { CombinedCloudMap } from '../discovery/cloud-map/combined';
import type { RefusalReason } from '../discovery/cloud-map/errors';
import type { CloudMapView } from '../compile/cloud-map-view';
import { serviceOfKey, type CloudMapRegistry } from '../discovery/cloud-map/registry';
import { RemoteCloudMap } from '../discovery/cloud-map/remote';
import type { RemoteClient } from '../discovery/cloud-map/remote-client';
import { DEFAULT_JOURNAL_BYTES, openRegistryStore, type JournalStore } from '../discovery/cloud-map/state-file';
import { followCloudMap, type SharedCloudMap } from '../store/postgres/cloud-map';
import type { PostgresStore } from '../store/postgres';
import type { Logger } from '../util/log';
import { StartError } from './start-error';

/** How the remote Cloud Map is reached and polled (--cloud-map remote). */
export interface RemoteSettings {
  readonly endpoint?: string;
  readonly region?: string;
  readonly pollIntervalMs: number;
  readonly refreshIntervalMs: number;
  readonly timeoutMs: number;
  readonly maxInstances: number;
}

export interface CloudMapOptions {
  /** The local registry's state file (its journal beside it). */
  readonly statePath: string;
  readonly journalBytes?: number;
  /** Accept instances at addresses that are never a workload's. */
  readonly allowAnyAddress?: boolean;
  /** Remote mode; local only when left out. */
  readonly remote?: RemoteSettings;
}

export const REFUSAL_REASONS: readonly RefusalReason[] = ['signature', 'address', 'attribute_limit', 'internal_error'];

export interface CloudMapSource {
  /** meshd's own registry, answering the Cloud Map API on the admin port. */
  readonly registry: CloudMapRegistry;
  /** The remote Cloud Map, in remote mode. */
  readonly remote: RemoteCloudMap | undefined;
  /** In a fleet (--store): the registry shared through PostgreSQL, which answers writes once committed. */
  readonly shared: SharedCloudMap | undefined;
  /** What proxies are sent: the registry, or the union of both. */
  readonly view: CloudMapView & { onChange(listener: (changed: ReadonlySet<string>) => void): unknown };
  /** Cloud Map API requests refused, by reason (for /metrics). */
  readonly refused: Map<RefusalReason, number>;
  close(): Promise<void>;
}

/** One line per changed Cloud Map service: how many instances it has and how many are sent to proxies. */
function describeChange(registry: CloudMapView, changed: ReadonlySet<string>, what = 'cloud map'): string[] {
  return [...changed].map((key) => {
    const { namespace, service } = serviceOfKey(key);
    const instances = registry.discover(namespace, service) ?? [];
    const serving = instances.filter((i) => i.health !== 'UNHEALTHY').length;
    return `${what}: ${namespace}/${service} now has ${instances.length} instance(s), ${serving} healthy or unchecked`;
  });
}

/**
 * Opens the registry (and connects the remote one): throws StartError, with nothing left open, when it cannot. In a
 * fleet the registry follows the store's tables instead of a state file; it is empty until the store starts.
 */
export async function openCloudMap(
  options: CloudMapOptions,
  log: Logger,
  fleetStore?: PostgresStore,
): Promise<CloudMapSource> {
  let registry: CloudMapRegistry;
  let store: Pick<JournalStore, 'close'>;
  let shared: SharedCloudMap | undefined;
  const allowAnyAddress = options.allowAnyAddress === true;
  if (fleetStore) {
    shared = followCloudMap(fleetStore, { attributes: { allowAnyAddress } });
    registry = shared.registry;
    store = { close: () => Promise.resolve() };
  } else {
    try {
      ({ registry, store } = openRegistryStore(options.statePath, {
        journalBytes: options.journalBytes ?? DEFAULT_JOURNAL_BYTES,
        attributes: { allowAnyAddress },
        onCompactionError: (message) => log.error(`cloud map: ${message}`),
      }));
    } catch (err) {
      throw new StartError(`Cloud Map registry: ${(err as Error).message}`);
    }
    // Registered before meshd refused such addresses: kept in the registry, not sent to proxies.
    for (const { instance, problem } of registry.forbiddenInstances())
      log.warn(`cloud map: instance ${instance.id} (service ${instance.serviceId}) is not sent to proxies: ${problem}`);
  }
  registry.onChange((changed) => describeChange(registry, changed).forEach((line) => log.info(line)));
  // Remote mode: the SDK is loaded only here.
  let remote: RemoteCloudMap | undefined;
  let remoteClient: RemoteClient | undefined;
  const wanted = options.remote;
  if (wanted) {
    try {
      const { remoteClient: connect } = await import('../discovery/cloud-map/remote-client');
      remoteClient = connect(wanted);
    } catch (err) {
      await store.close();
      throw new StartError(`the remote Cloud Map client cannot start: ${(err as Error).message}`);
    }
    let region: string;
    try {
      region = await remoteClient.region();
    } catch (err) {
      remoteClient.close();
      await store.close();
      throw new StartError(
        `the remote Cloud Map needs a region: --cloud-map-region, or AWS_REGION (${(err as Error).message})`,
      );
    }
    remote = new RemoteCloudMap({
      api: remoteClient.api,
      pollIntervalMs: wanted.pollIntervalMs,
      refreshIntervalMs: wanted.refreshIntervalMs,
      timeoutMs: wanted.timeoutMs,
      maxInstances: wanted.maxInstances,
      attributes: { allowAnyAddress },
      isLocal: (namespace, service) => registry.discover(namespace, service) !== undefined,
      log: { warn: (m) => log.warn(m), info: (m) => log.info(m) },
      describe: { endpoint: wanted.endpoint ?? `AWS (${region})`, region },
    });
    const polled = remote;
    remote.onChange((changed) => describeChange(polled, changed, 'cloud map remote').forEach((line) => log.info(line)));
  }
  const client = remoteClient;
  const polled = remote;
  return {
    registry,
    remote,
    shared,
    view: remote ? new CombinedCloudMap(registry, remote) : registry,
    refused: new Map(REFUSAL_REASONS.map((reason) => [reason, 0])),
    close: async () => {
      await polled?.close();
      client?.close();
      await store.close();
    },
  };
}
