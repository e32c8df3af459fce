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
   * Writes `text`: created when absent, else replaced at the
   * version last read or written (read again once on a conflict).
   */
  async write(text: string): Promise<void> {
    if (Buffer.byteLength(text) > MAX_STATE_BYTES)
      throw new Error(
        `the state is ${Buffer.byteLength(text)} bytes, more than a ConfigMap holds (${MAX_STATE_BYTES})`,
      );
    for (let attempt = 0; attempt < 2; attempt++) {
      if (this.resourceVersion === undefined) await this.read();
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
        return;
      } catch (err) {
        if (!(err instanceof KubeError) || (err.status !== 409 && err.status !== 404)) throw err;
        this.resourceVersion = undefined;
      }
    }
    throw new Error(`ConfigMap ${this.namespace}/${this.name} kept changing while meshd wrote it`);
  }
}
