// Which Cloud Map services the remote mode polls: exactly those the mesh's virtual nodes name
// (serviceDiscovery.awsCloudMap), each with the attribute filters the nodes use, which become
// DiscoverInstances' QueryParameters.
import { queryText, type RemoteSubscription } from '../discovery/cloud-map/remote';
import { serviceKey } from '../discovery/cloud-map/registry';
import type { MeshModel } from '../model/mesh-model';

export function cloudMapSubscriptions(model: MeshModel): RemoteSubscription[] {
  const byService = new Map<
    string,
    { namespace: string; service: string; queries: Map<string, Record<string, string>> }
  >();
  for (const node of model.virtualNodes()) {
    const discovery = node.spec.serviceDiscovery?.awsCloudMap;
    if (!discovery) continue;
    const key = serviceKey(discovery.namespaceName, discovery.serviceName);
    const entry = byService.get(key) ?? {
      namespace: discovery.namespaceName,
      service: discovery.serviceName,
      queries: new Map(),
    };
    // Keyed by input: a null-prototype map, so an attribute named __proto__ stays an attribute.
    const query = Object.create(null) as Record<string, string>;
    for (const { key: name, value } of discovery.attributes ?? []) query[name] = value;
    entry.queries.set(queryText(query), query);
    byService.set(key, entry);
  }
  return [...byService.values()].map(({ namespace, service, queries }) => ({
    namespace,
    service,
    queries: [...queries.values()],
  }));
}
