// Everything `kubectl apply` needs to run meshd in a cluster (`meshd k8s manifests`): its
// namespace, service account and least-privilege RBAC, the Deployment and Service, the sidecar
// injector's MutatingWebhookConfiguration and the App Mesh CRDs. One function makes them all, so the
// printed manifests, the docs and the RBAC test use the same objects.
import { customResourceDefinitions } from './crds';
import { APP_MESH_TYPES, type KubeObject } from './kube-api';

export interface InstallOptions {
  /** meshd's namespace (created). */
  readonly namespace: string;
  /** meshd's container image. */
  readonly image: string;
  /** The image injected pods run as `proxyinit` (App Mesh's iptables rules: envoy-bootstrap/proxy-init). */
  readonly proxyInitImage: string;
  /** Replicas of the Deployment: one leads (the Lease meshd-leader), the others stand by and serve xDS. */
  readonly replicas: number;
  /** Serve xDS over TLS (`serve --xds-tls`), with the Service's DNS names in the certificate. */
  readonly xdsTls: boolean;
  /** Leave the CRDs out (they are cluster-wide; install them once, `meshd k8s crds`). */
  readonly withoutCrds?: boolean;
}

export const DEFAULT_INSTALL_OPTIONS: InstallOptions = {
  namespace: 'meshd',
  image: 'meshd:local',
  proxyInitImage: 'meshd-proxy-init:local',
  replicas: 2,
  xdsTls: false,
};

/** The name of meshd's ServiceAccount, ClusterRole(Binding), Service and Deployment. */
export const MESHD_NAME = 'meshd';
export const LEADER_ELECTION_ROLE = 'meshd-leader-election';
export const SIDECAR_INJECTOR_WEBHOOK = 'meshd-sidecar-injector';
export const SIDECAR_INJECTOR_PATH = '/mutate-pod';
/** The namespace label that turns sidecar injection on, as the App Mesh controller read it. */
export const INJECTION_NAMESPACE_LABEL = 'appmesh.k8s.aws/sidecarInjectorWebhook';
export const XDS_PORT = 18000;
export const ADMIN_PORT = 18001;
export const WEBHOOK_PORT = 9443;

export interface PolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
  readonly resourceNames?: readonly string[];
}

const APP_MESH_PLURALS = Object.values(APP_MESH_TYPES).map((t) => t.plural);

/** meshd's ClusterRole: read the mesh's objects, write their status and route weights, patch its webhook's CA. */
export const MESHD_CLUSTER_ROLE_RULES: readonly PolicyRule[] = [
  // Informers list and watch; nothing reads one object of these by name.
  { apiGroups: ['appmesh.k8s.aws'], resources: APP_MESH_PLURALS, verbs: ['list', 'watch'] },
  { apiGroups: ['appmesh.k8s.aws'], resources: APP_MESH_PLURALS.map((p) => `${p}/status`), verbs: ['patch'] },
  // A rollout reads its VirtualRouter as it is now and writes the route weights into it.
  { apiGroups: ['appmesh.k8s.aws'], resources: ['virtualrouters'], verbs: ['get', 'patch'] },
  { apiGroups: [''], resources: ['namespaces', 'pods'], verbs: ['list', 'watch'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
  // meshd writes its CA bundle into its own webhook configuration, and into no other.
  {
    apiGroups: ['admissionregistration.k8s.io'],
    resources: ['mutatingwebhookconfigurations'],
    resourceNames: [SIDECAR_INJECTOR_WEBHOOK],
    verbs: ['get', 'patch'],
  },
];

/**
 * The Role in meshd's namespace: its leader election (the Lease meshd-leader), the rollouts' progress a new
 * leader carries on from (ConfigMap meshd-rollouts), and the CA every replica signs with (Secret meshd-ca).
 * `create` cannot be limited to names; `get` and `update` can.
 */
export const MESHD_LEADER_ELECTION_RULES: readonly PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
  {
    apiGroups: ['coordination.k8s.io'],
    resources: ['leases'],
    resourceNames: ['meshd-leader'],
    verbs: ['get', 'update'],
  },
  { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['create'] },
  { apiGroups: [''], resources: ['configmaps'], resourceNames: ['meshd-rollouts'], verbs: ['get', 'update'] },
  { apiGroups: [''], resources: ['secrets'], resourceNames: ['meshd-ca'], verbs: ['get', 'update'] },
];

const LABELS = { 'app.kubernetes.io/name': MESHD_NAME, 'app.kubernetes.io/component': 'control-plane' };
const SELECTOR = { 'app.kubernetes.io/name': MESHD_NAME };

const rules = (list: readonly PolicyRule[]) => list.map((r) => ({ ...r }));

/** A probe that asks the admin port on loopback (the admin API stays off the pod network: no token needed). */
function adminProbe(path: string, periodSeconds: number): Record<string, unknown> {
  return {
    exec: {
      command: [
        'node',
        '-e',
        `require('node:http').get({host: '127.0.0.1', port: ${ADMIN_PORT}, path: '${path}'}, (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))`,
      ],
    },
    periodSeconds,
    timeoutSeconds: 5,
    failureThreshold: 3,
  };
}

/** The Deployment's container arguments (after the image's entrypoint `meshd`). */
export function serveArgs(options: InstallOptions): string[] {
  const service = `${MESHD_NAME}.${options.namespace}.svc`;
  return [
    'serve',
    '--kubernetes',
    '--kubernetes-endpoints',
    '--kubernetes-namespace',
    options.namespace,
    '--webhook-port',
    String(WEBHOOK_PORT),
    // Injected pods copy the sidecar's entrypoint scripts from meshd's own image.
    '--meshd-image',
    options.image,
    '--proxy-init-image',
    options.proxyInitImage,
    '--xds-port',
    String(XDS_PORT),
    '--admin-port',
    String(ADMIN_PORT),
    ...(options.xdsTls
      ? [
          '--xds-tls',
          '--xds-tls-names',
          [MESHD_NAME, `${MESHD_NAME}.${options.namespace}`, service, `${service}.cluster.local`].join(','),
        ]
      : []),
  ];
}

/** Every object to install meshd, in the order to apply them. */
export function installManifests(options: InstallOptions): KubeObject[] {
  const { namespace } = options;
  const meta = (name: string, namespaced = true) => ({
    name,
    ...(namespaced ? { namespace } : {}),
    labels: { ...LABELS },
  });
  const serviceAccount = { kind: 'ServiceAccount', name: MESHD_NAME, namespace };
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: meta(namespace, false) },
    ...(options.withoutCrds ? [] : customResourceDefinitions()),
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(MESHD_NAME) },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: meta(MESHD_NAME, false),
      rules: rules(MESHD_CLUSTER_ROLE_RULES),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: meta(MESHD_NAME, false),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: MESHD_NAME },
      subjects: [serviceAccount],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(LEADER_ELECTION_ROLE),
      rules: rules(MESHD_LEADER_ELECTION_RULES),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(LEADER_ELECTION_ROLE),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: LEADER_ELECTION_ROLE },
      subjects: [serviceAccount],
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(MESHD_NAME),
      spec: {
        selector: { ...SELECTOR },
        ports: [
          { name: 'grpc-xds', port: XDS_PORT, targetPort: 'xds', protocol: 'TCP', appProtocol: 'grpc' },
          { name: 'webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' },
        ],
      },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(MESHD_NAME),
      spec: {
        replicas: options.replicas,
        selector: { matchLabels: { ...SELECTOR } },
        template: {
          metadata: { labels: { ...LABELS } },
          spec: {
            serviceAccountName: MESHD_NAME,
            securityContext: {
              runAsNonRoot: true,
              // The image's user `node`.
              runAsUser: 1000,
              runAsGroup: 1000,
              fsGroup: 1000,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'meshd',
                image: options.image,
                args: serveArgs(options),
                env: [
                  // The image listens for admin on every address; here it stays on loopback (probes ask there).
                  { name: 'MESHD_ADMIN_LISTEN_ADDRESS', value: '127.0.0.1' },
                  // The image's default mesh folder: the mesh comes from the cluster instead.
                  { name: 'MESHD_MESH', value: '' },
                  // The root file system is read-only: every state file goes to the state volume.
                  { name: 'MESHD_ROLLOUT_STATE', value: '/var/lib/meshd/rollouts.json' },
                  { name: 'MESHD_API_DIR', value: '/var/lib/meshd/api' },
                  // The replica's name in the Lease.
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                ],
                ports: [
                  { name: 'xds', containerPort: XDS_PORT, protocol: 'TCP' },
                  { name: 'webhook', containerPort: WEBHOOK_PORT, protocol: 'TCP' },
                ],
                // meshd opens its ports once every informer has listed: an API server slow to answer (or not
                // answering yet) is waited for up to 5 minutes before liveness may restart the container.
                startupProbe: { ...adminProbe('/healthz', 5), failureThreshold: 60 },
                readinessProbe: adminProbe('/readyz', 5),
                livenessProbe: { ...adminProbe('/healthz', 20), initialDelaySeconds: 10 },
                resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
                volumeMounts: [
                  { name: 'state', mountPath: '/var/lib/meshd' },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              { name: 'state', emptyDir: {} },
              { name: 'tmp', emptyDir: {} },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: meta(MESHD_NAME),
      spec: { maxUnavailable: 1, selector: { matchLabels: { ...SELECTOR } } },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      // caBundle is left out: meshd writes its CA's bundle here when it starts.
      metadata: meta(SIDECAR_INJECTOR_WEBHOOK, false),
      webhooks: [
        {
          name: 'sidecar-injector.meshd.appmesh.k8s.aws',
          clientConfig: { service: { name: MESHD_NAME, namespace, path: SIDECAR_INJECTOR_PATH, port: 443 } },
          rules: [
            { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' },
          ],
          namespaceSelector: { matchLabels: { [INJECTION_NAMESPACE_LABEL]: 'enabled' } },
          // As the App Mesh controller: a pod of an injected namespace is not created without its sidecar.
          failurePolicy: 'Fail',
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          timeoutSeconds: 10,
        },
      ],
    },
  ];
}
