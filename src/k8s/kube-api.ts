// The Kubernetes API as meshd's k8s/ modules see it: the objects, the resource types meshd reads
// and writes, and the client they call (kube-client.ts implements it over HTTPS). Kept apart from
// the client so that the informers, the status writer and the tests can hold a client of their own.

/** The metadata meshd reads of any object. */
export interface ObjectMeta {
  readonly name: string;
  /** Absent for cluster-scoped objects. */
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly generation?: number;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly deletionTimestamp?: string;
  readonly creationTimestamp?: string;
}

export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: ObjectMeta;
  readonly [field: string]: unknown;
}

/** One resource type of the API: where its objects live. */
export interface ResourceType {
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  /** The URL's plural name. */
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

const appMesh = (kind: string, plural: string, namespaced: boolean): ResourceType => ({
  group: 'appmesh.k8s.aws',
  version: 'v1beta2',
  plural,
  kind,
  namespaced,
});

/** The seven kinds of the App Mesh controller (appmesh.k8s.aws/v1beta2). */
export const APP_MESH_TYPES = {
  Mesh: appMesh('Mesh', 'meshes', false),
  VirtualService: appMesh('VirtualService', 'virtualservices', true),
  VirtualNode: appMesh('VirtualNode', 'virtualnodes', true),
  VirtualRouter: appMesh('VirtualRouter', 'virtualrouters', true),
  VirtualGateway: appMesh('VirtualGateway', 'virtualgateways', true),
  GatewayRoute: appMesh('GatewayRoute', 'gatewayroutes', true),
  BackendGroup: appMesh('BackendGroup', 'backendgroups', true),
} as const satisfies Record<string, ResourceType>;

export const NAMESPACES: ResourceType = {
  group: '',
  version: 'v1',
  plural: 'namespaces',
  kind: 'Namespace',
  namespaced: false,
};
export const PODS: ResourceType = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
export const ENDPOINT_SLICES: ResourceType = {
  group: 'discovery.k8s.io',
  version: 'v1',
  plural: 'endpointslices',
  kind: 'EndpointSlice',
  namespaced: true,
};
export const LEASES: ResourceType = {
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  kind: 'Lease',
  namespaced: true,
};
export const MUTATING_WEBHOOKS: ResourceType = {
  group: 'admissionregistration.k8s.io',
  version: 'v1',
  plural: 'mutatingwebhookconfigurations',
  kind: 'MutatingWebhookConfiguration',
  namespaced: false,
};

/** A refusal by the API server (its Status object), or a transport failure (status 0). */
export class KubeError extends Error {
  constructor(
    message: string,
    /**
     * The HTTP status: 404 not found, 409 conflict (a stale
     * resourceVersion), 410 gone (a watch's too-old version), 0 no answer.
     */
    readonly status: number,
    /** The Status object's reason (NotFound, Conflict, Expired, Forbidden, ...), when it gave one. */
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'KubeError';
  }
}

export interface ListOptions {
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Page size; the client follows `continue` itself and answers every page together. */
  readonly limit?: number;
}

export interface ListResult<T extends KubeObject = KubeObject> {
  readonly items: readonly T[];
  /** The list's resourceVersion: where a watch starts from. */
  readonly resourceVersion: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchOptions {
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly resourceVersion: string;
  /** The server ends the watch after this long (it is then resumed from the last version seen). */
  readonly timeoutSeconds?: number;
  /** Called once the API server has accepted the watch (answered 2xx), before any event. */
  readonly onOpen?: () => void;
}

/** The patch media types meshd sends. */
export type PatchType = 'json' | 'merge';

/** What meshd calls. Every method rejects with a KubeError; none throws synchronously. */
export interface KubeClient {
  get<T extends KubeObject = KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined>;
  list<T extends KubeObject = KubeObject>(type: ResourceType, options?: ListOptions): Promise<ListResult<T>>;
  /**
   * Streams events until the server ends the watch (resolves), `signal` aborts it (resolves), or it fails
   * (rejects; 410 when the version is too old: list again). An ERROR event rejects with its Status.
   */
  watch<T extends KubeObject = KubeObject>(
    type: ResourceType,
    options: WatchOptions,
    onEvent: (type: WatchEventType, object: T) => void,
    signal: AbortSignal,
  ): Promise<void>;
  create<T extends KubeObject = KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    body: KubeObject,
  ): Promise<T>;
  /** PUT: refused with 409 when body.metadata.resourceVersion is not the stored one. */
  replace<T extends KubeObject = KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    body: KubeObject,
  ): Promise<T>;
  patch<T extends KubeObject = KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    patchType: PatchType,
    subresource?: 'status',
  ): Promise<T>;
  delete(type: ResourceType, namespace: string | undefined, name: string): Promise<void>;
}
