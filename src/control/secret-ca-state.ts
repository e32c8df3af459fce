// The CA state of a Kubernetes-mode fleet in a Secret of meshd's namespace (`meshd-ca`), so every
// replica signs with the same CA: the first replica to start creates it, the others read it back,
// and changes (a rotation, a revoked token) are compare-and-set on the state's sequence number and
// the Secret's resourceVersion. Encrypted with --ca-key-file when one is given (every replica the
// same), else kept as the Secret's plain data: protect it as Kubernetes Secrets are protected.
import {
  CaStateError,
  SharedCaStateCodec,
  type CaState,
  type CaStateStore,
  type SharedCaStateOptions,
  type StoredCaState,
} from '../ca';
import { KubeError, type KubeClient, type KubeObject, type ResourceType } from '../k8s/kube-api';

export const SECRETS: ResourceType = { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true };
export const CA_SECRET = 'meshd-ca';
const STATE_KEY = 'state.json';

interface Stored {
  readonly seq: number;
  readonly state: unknown;
}

export class SecretCaStateStore implements CaStateStore {
  readonly description: string;
  private readonly codec: SharedCaStateCodec;

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    options: SharedCaStateOptions = {},
  ) {
    this.description = `Secret ${namespace}/${CA_SECRET}`;
    this.codec = new SharedCaStateCodec(this.description, options);
  }

  private async read(): Promise<{ stored: StoredCaState; resourceVersion: string | undefined } | undefined> {
    const secret = await this.client.get(SECRETS, this.namespace, CA_SECRET);
    if (!secret) return undefined;
    const data = secret.data as Record<string, unknown> | undefined;
    const encoded = data?.[STATE_KEY];
    if (typeof encoded !== 'string') throw new CaStateError(`${this.description} has no ${STATE_KEY}`);
    let row: Stored;
    try {
      row = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as Stored;
    } catch {
      throw new CaStateError(`${this.description}: ${STATE_KEY} is not JSON`);
    }
    if (typeof row !== 'object' || row === null || !Number.isSafeInteger(row.seq))
      throw new CaStateError(`${this.description}: ${STATE_KEY} has no sequence number`);
    return {
      stored: { seq: row.seq, state: this.codec.decode(row.state) },
      resourceVersion: secret.metadata.resourceVersion,
    };
  }

  private body(seq: number, state: CaState, resourceVersion?: string): KubeObject {
    const row: Stored = { seq, state: this.codec.encode(state) };
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: CA_SECRET,
        namespace: this.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'meshd' },
        ...(resourceVersion !== undefined ? { resourceVersion } : {}),
      },
      data: { [STATE_KEY]: Buffer.from(JSON.stringify(row)).toString('base64') },
    };
  }

  async load(): Promise<StoredCaState | undefined> {
    return (await this.read())?.stored;
  }

  async create(state: CaState): Promise<StoredCaState> {
    try {
      await this.client.create(SECRETS, this.namespace, this.body(1, state));
    } catch (err) {
      // Another replica created it first: its CA is the one.
      if (!(err instanceof KubeError && err.status === 409)) throw err;
    }
    const stored = await this.load();
    if (!stored) throw new CaStateError(`${this.description} vanished after it was created`);
    return stored;
  }

  async update(expectedSeq: number, state: CaState): Promise<number | undefined> {
    const now = await this.read();
    if (!now || now.stored.seq !== expectedSeq) return undefined;
    try {
      await this.client.replace(
        SECRETS,
        this.namespace,
        CA_SECRET,
        this.body(expectedSeq + 1, state, now.resourceVersion),
      );
      return expectedSeq + 1;
    } catch (err) {
      if (err instanceof KubeError && err.status === 409) return undefined;
      throw err;
    }
  }
}
