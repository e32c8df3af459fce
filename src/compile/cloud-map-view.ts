// What the compiler reads from Cloud Map: a service's instances, or undefined when it is not
// registered. The registries in discovery/ (local, remote, combined) satisfy it; the interface
// lives here, with its reader, so compile depends on no registry.
import type { DiscoveredInstance } from '../model/cloud-map-instance';

export interface CloudMapView {
  discover(namespaceName: string, serviceName: string): readonly DiscoveredInstance[] | undefined;
}

/** For compiling without a registry: every Cloud Map service is unregistered (no endpoints). */
export const NO_CLOUD_MAP: CloudMapView = { discover: () => undefined };
