// State meshd keeps in the cluster (a rollout's progress, for the next leader): one JSON document in
// one key of a ConfigMap in meshd's namespace, written with optimistic concurrency on its
// resourceVersion. Only the leader writes; a follower reads it when it takes over.
import { KubeError, type KubeClient, type KubeObject, type ResourceType } from './kube-api';

export const CONFIG_MAPS: ResourceType = {
  group: '',
  version: 'v1',
  plural: 'configmaps',
  kind: 'ConfigMap',
  namespaced: true,
};

/** The state was written by someone else since it was read: this replica no longer owns it. */
export class StateConflictError extends Error {}

/** A ConfigMap holds at most 1 MiB; meshd refuses to write more than this of it. */
const MAX_STATE_BYTES = 900 * 1024;

export class ConfigMapState {
  private resourceVersion: string | undefined;

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly name: string,
    private readonly key: string,
  ) {}

  /** The stored JSON text, or undefined when there is none yet. */
  async read(): Promise<string | undefined> {
    const map = await this.client.get(CONFIG_MAPS, this.namespace, this.name);
    this.resourceVersion = map?.metadata.resourceVersion;
    const data = map?.data as Record<string, unknown> | undefined;
    const text = data?.[this.key];
    return typeof text === 'string' ? text : undefined;
  }

  /**
   * Writes `text`: created when absent, else replaced at the version last read or written. A conflict (someone
   * wrote it since: a new leader) is refused, never overwritten: the caller stands down.
   */
  async write(text: string): Promise<void> {
    if (Buffer.byteLength(text) > MAX_STATE_BYTES)
      throw new Error(
        `the state is ${Buffer.byteLength(text)} bytes, more than a ConfigMap holds (${MAX_STATE_BYTES})`,
      );
    const body: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'meshd' },
        ...(this.resourceVersion !== undefined ? { resourceVersion: this.resourceVersion } : {}),
      },
      data: { [this.key]: text },
    };
    try {
      const written =
        this.resourceVersion === undefined
          ? await this.client.create(CONFIG_MAPS, this.namespace, body)
          : await this.client.replace(CONFIG_MAPS, this.namespace, this.name, body);
      this.resourceVersion = written.metadata.resourceVersion;
    } catch (err) {
      if (err instanceof KubeError && (err.status === 409 || err.status === 404))
        throw new StateConflictError(
          `ConfigMap ${this.namespace}/${this.name} was changed by another replica since this one read it (${err.message})`,
        );
      throw err;
    }
  }
}
