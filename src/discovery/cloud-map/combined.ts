// What proxies are sent in remote mode: a service's instances are the union of the local
// registry's (mesh-file seeds, API registrations) and the remote Cloud Map's last good answer.
// On an instance id both have, the local one wins: an operator's local registration overrides.
// A service neither has is unregistered (undefined), as in local mode.
import type { DiscoveredInstance } from '../../model/cloud-map-instance';
import { serviceKey, type InstanceLookup } from './registry';

type ChangeListener = (changed: ReadonlySet<string>) => void;

export interface ChangingCloudMap extends InstanceLookup {
  onChange(listener: ChangeListener): unknown;
}

export class CombinedCloudMap implements InstanceLookup {
  /** Union per service, made once per change of either side: every proxy that reads the service asks. */
  private readonly cache = new Map<string, readonly DiscoveredInstance[] | undefined>();

  constructor(
    private readonly local: ChangingCloudMap,
    private readonly remote: ChangingCloudMap,
  ) {
    // Registered first, so the cache is dropped before the controller's listener recompiles.
    const drop = (changed: ReadonlySet<string>) => changed.forEach((key) => this.cache.delete(key));
    local.onChange(drop);
    remote.onChange(drop);
  }

  onChange(listener: ChangeListener): void {
    this.local.onChange(listener);
    this.remote.onChange(listener);
  }

  discover(namespaceName: string, serviceName: string): readonly DiscoveredInstance[] | undefined {
    const key = serviceKey(namespaceName, serviceName);
    if (this.cache.has(key)) return this.cache.get(key);
    const local = this.local.discover(namespaceName, serviceName);
    const remote = this.remote.discover(namespaceName, serviceName);
    let answer: readonly DiscoveredInstance[] | undefined;
    if (local === undefined || remote === undefined || remote.length === 0) answer = local ?? remote;
    else if (local.length === 0) answer = remote;
    else {
      const localIds = new Set(local.map((i) => i.id));
      answer = [...local, ...remote.filter((i) => !localIds.has(i.id))];
    }
    this.cache.set(key, answer);
    return answer;
  }
}
