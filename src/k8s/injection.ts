// The sidecar injector's decision for one Pod create, as the App Mesh controller's webhook made it
// (aws-app-mesh-controller-for-k8s: pkg/inject/inject.go, proxy.go, init_proxy.go, envoy.go,
// sidecar_builder.go; pkg/virtualnode/membership_designator.go), with meshd's stock-Envoy
// sidecar instead of App Mesh's Envoy image. Pure: the caller gives the Pod, its namespace, the
// namespace's VirtualNodes and how a VirtualNode's mesh resolves; the answer is a JSON Patch
// (RFC 6902) for the admission response, a reason to leave the Pod alone, or a refusal.
//
// Containers added (docs/kubernetes.md, "Sidecar injection"):
//   - init `meshd-bootstrap` (meshd's own image): copies envoy-bootstrap/ (entrypoint.sh,
//     render-bootstrap.sh, bootstrap.yaml, appmesh-variables.tsv) into the emptyDir `meshd-bootstrap`;
//   - init `proxyinit` (meshd's proxy-init image): App Mesh's iptables rules, NET_ADMIN;
//   - `envoy` (the stock envoyproxy/envoy image) with entrypoint /meshd/entrypoint.sh on that
//     emptyDir, App Mesh's variables and meshd's MESHD_XDS_* variables, uid 1337.
import { awsNameOf, selects } from '../load/k8s-manifest';
import { isPlain, type Plain } from '../model/common';
import type { KubeObject } from './kube-api';
import { pointerToken } from './json-pointer';
import { INJECTION_NAMESPACE_LABEL } from './manifests';

/** App Mesh's injection label (on the Namespace) and opt-out/opt-in annotation (on the Pod or Namespace). */
export const INJECTION_KEY = INJECTION_NAMESPACE_LABEL;
/** The annotation meshd writes on an injected Pod: the sidecar's node id. */
export const INJECTED_ANNOTATION = 'meshd/injected-node';

export const ANNOTATIONS = {
  ports: 'appmesh.k8s.aws/ports',
  egressIgnoredPorts: 'appmesh.k8s.aws/egressIgnoredPorts',
  egressIgnoredIPs: 'appmesh.k8s.aws/egressIgnoredIPs',
  cpuRequest: 'appmesh.k8s.aws/cpuRequest',
  memoryRequest: 'appmesh.k8s.aws/memoryRequest',
  cpuLimit: 'appmesh.k8s.aws/cpuLimit',
  memoryLimit: 'appmesh.k8s.aws/memoryLimit',
  secretMounts: 'appmesh.k8s.aws/secretMounts',
  volumeMounts: 'appmesh.k8s.aws/volumeMounts',
} as const;

/** Names of what meshd adds; a Pod holding any of them is not injected again. */
export const ENVOY_CONTAINER = 'envoy';
export const PROXY_INIT_CONTAINER = 'proxyinit';
export const BOOTSTRAP_INIT_CONTAINER = 'meshd-bootstrap';
export const BOOTSTRAP_VOLUME = 'meshd-bootstrap';
export const CA_VOLUME = 'meshd-xds-ca';

export const PROXY_UID = 1337;
export const INGRESS_PORT = 15000;
export const EGRESS_PORT = 15001;
export const ADMIN_PORT = 9901;

export interface SidecarResources {
  readonly cpuRequest?: string;
  readonly memoryRequest?: string;
  readonly cpuLimit?: string;
  readonly memoryLimit?: string;
}

export interface InjectionSettings {
  /** The sidecar's image: the stock Envoy (default envoyproxy/envoy:v1.40.0, as docs/deploying.md). */
  readonly envoyImage?: string;
  /** The image of the `proxyinit` container (envoy-bootstrap/proxy-init/). */
  readonly proxyInitImage: string;
  /** meshd's own image: its envoy-bootstrap/ folder is copied into the Pod by `meshd-bootstrap`. */
  readonly meshdImage: string;
  /** Where meshd's image holds envoy-bootstrap/ (default /opt/meshd/envoy-bootstrap, as the Dockerfile copies it). */
  readonly bootstrapDir?: string;
  /** meshd's xDS address for the sidecars: `host:port` (the Service's DNS name), or several separated by commas. */
  readonly xdsAddress: string;
  /** TLS to meshd's xDS port: the CA bundle from a ConfigMap or a Secret (key `key`, default ca.crt). */
  readonly xdsTls?: {
    readonly caConfigMap?: string;
    readonly caSecret?: string;
    readonly key?: string;
    /** Checked against meshd's certificate and sent as SNI (default: the first address's host, when a DNS name). */
    readonly serverName?: string;
  };
  /** Requests and limits of the sidecar and init containers (App Mesh's defaults: 10m CPU, 32Mi memory requested). */
  readonly resources?: SidecarResources;
  /** Envoy's log level (ENVOY_LOG_LEVEL; default info). */
  readonly logLevel?: string;
  /** Destinations proxyinit leaves alone (default 169.254.169.254,169.254.170.2: instance and task metadata). */
  readonly egressIgnoredIPs?: readonly string[];
  /** ENABLE_ENVOY_STATS_TAGS. */
  readonly statsTags?: boolean;
}

export const DEFAULT_ENVOY_IMAGE = 'envoyproxy/envoy:v1.40.0';
export const DEFAULT_BOOTSTRAP_DIR = '/opt/meshd/envoy-bootstrap';
export const DEFAULT_EGRESS_IGNORED_IPS = ['169.254.169.254', '169.254.170.2'] as const;
export const DEFAULT_RESOURCES: SidecarResources = { cpuRequest: '10m', memoryRequest: '32Mi' };
/** The files of envoy-bootstrap/ that the entrypoint needs. */
export const BOOTSTRAP_FILES = ['entrypoint.sh', 'render-bootstrap.sh', 'bootstrap.yaml', 'appmesh-variables.tsv'];

/** The one JSON Patch operation the injector needs. */
export interface JsonPatchOp {
  readonly op: 'add';
  readonly path: string;
  readonly value: unknown;
}

export type InjectionDecision =
  | { readonly action: 'skip'; readonly reason: string; readonly warning?: string }
  | { readonly action: 'patch'; readonly patch: readonly JsonPatchOp[]; readonly nodeId: string }
  | { readonly action: 'deny'; readonly message: string };

export interface InjectionInput {
  /** The Pod of the admission request (hostile: checked here). */
  readonly pod: unknown;
  readonly namespace: {
    readonly name: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  /** The VirtualNode objects of the Pod's namespace. */
  readonly virtualNodes: readonly KubeObject[];
  /** The mesh a VirtualNode belongs to (its meshRef, or the Mesh whose namespaceSelector selects its namespace). */
  readonly meshOf: (vn: KubeObject) => string | undefined;
  readonly settings: InjectionSettings;
}

/** The node id of a VirtualNode's sidecar: `mesh/<mesh>/virtualNode/<awsName>`. */
export function sidecarNodeId(mesh: string, vn: KubeObject, namespace: string): string {
  return `mesh/${mesh}/virtualNode/${virtualNodeAwsName(vn, namespace)}`;
}

/** spec.awsName, else `<name>_<namespace>` (the controller's default). */
export function virtualNodeAwsName(vn: KubeObject, namespace: string): string {
  return awsNameOf({
    kind: 'VirtualNode',
    name: vn.metadata.name,
    namespace: vn.metadata.namespace ?? namespace,
    spec: isPlain(vn.spec) ? vn.spec : {},
  });
}

export { pointerToken } from './json-pointer';

const MAX_LIST = 1000;
const MAX_TEXT = 1024;

/** Decides what to do with one Pod create; never throws. */
export function injectSidecar(input: InjectionInput): InjectionDecision {
  try {
    return decide(input);
  } catch (err) {
    return { action: 'deny', message: `meshd could not decide on this Pod's sidecar: ${(err as Error).message}` };
  }
}

function decide(input: InjectionInput): InjectionDecision {
  const { namespace, settings } = input;
  const ns = namespace.name;
  if (!isPlain(input.pod)) return { action: 'deny', message: 'the admission request carries no Pod object' };
  const pod = input.pod;
  const metadata = isPlain(pod.metadata) ? pod.metadata : {};
  const spec = isPlain(pod.spec) ? pod.spec : undefined;
  const podName = podLabel(metadata, ns);
  const annotations = stringMap(metadata.annotations);
  const labels = stringMap(metadata.labels);

  if (namespace.labels?.[INJECTION_KEY]?.toLowerCase() !== 'enabled')
    return { action: 'skip', reason: `namespace ${ns} is not labelled ${INJECTION_KEY}=enabled` };

  // The Pod's annotation, else the Namespace's: enabled (a VirtualNode must select the Pod),
  // disabled (no sidecar), anything else or none (a sidecar when a VirtualNode selects the Pod).
  const mode = (annotations[INJECTION_KEY] ?? namespace.annotations?.[INJECTION_KEY] ?? '').toLowerCase();
  if (mode === 'disabled') return { action: 'skip', reason: `Pod ${podName} is annotated ${INJECTION_KEY}: disabled` };

  if (spec === undefined || !Array.isArray(spec.containers))
    return { action: 'deny', message: `Pod ${podName} has no spec.containers list; meshd cannot add its sidecar` };
  const containers = spec.containers as unknown[];
  const initContainers = spec.initContainers;
  const volumes = spec.volumes;
  if (initContainers !== undefined && initContainers !== null && !Array.isArray(initContainers))
    return { action: 'deny', message: `Pod ${podName}: spec.initContainers must be a list` };
  if (volumes !== undefined && volumes !== null && !Array.isArray(volumes))
    return { action: 'deny', message: `Pod ${podName}: spec.volumes must be a list` };
  if (containers.length > MAX_LIST || (Array.isArray(initContainers) && initContainers.length > MAX_LIST))
    return { action: 'deny', message: `Pod ${podName} has more than ${MAX_LIST} containers` };

  if (spec.hostNetwork === true) {
    const reason = `Pod ${podName} uses the node's network (hostNetwork); proxyinit's iptables rules would capture the whole node's traffic`;
    return { action: 'skip', reason, warning: `meshd: ${reason}; no sidecar injected` };
  }

  const names = (list: unknown) =>
    new Set(Array.isArray(list) ? list.map((c) => (isPlain(c) ? c.name : undefined)) : []);
  const containerNames = names(containers);
  const initNames = names(initContainers);
  const volumeNames = names(volumes);
  if (
    annotations[INJECTED_ANNOTATION] !== undefined ||
    containerNames.has(ENVOY_CONTAINER) ||
    initNames.has(PROXY_INIT_CONTAINER) ||
    initNames.has(BOOTSTRAP_INIT_CONTAINER)
  )
    return {
      action: 'skip',
      reason: `Pod ${podName} already has an ${ENVOY_CONTAINER} sidecar or meshd's init containers`,
    };
  for (const v of [BOOTSTRAP_VOLUME, CA_VOLUME])
    if (volumeNames.has(v))
      return {
        action: 'deny',
        message: `Pod ${podName} already has a volume named ${v}; rename it for meshd's sidecar`,
      };

  const matching = input.virtualNodes.filter((vn) => isPlain(vn.spec) && selects(vn.spec.podSelector, labels));
  if (matching.length === 0) {
    const reason = `no VirtualNode in namespace ${ns} selects Pod ${podName} by its podSelector`;
    if (mode === 'enabled')
      return {
        action: 'deny',
        message: `${reason}, and it is annotated ${INJECTION_KEY}: enabled; add a VirtualNode whose podSelector matches its labels`,
      };
    return { action: 'skip', reason, warning: `meshd: ${reason}; no sidecar injected` };
  }
  if (matching.length > 1)
    return {
      action: 'deny',
      message: `several VirtualNodes select Pod ${podName} (${matching
        .map((vn) => `${ns}/${vn.metadata.name}`)
        .sort()
        .join(', ')}); make their podSelectors select it once`,
    };
  const vn = matching[0]!;
  const mesh = input.meshOf(vn);
  if (mesh === undefined || mesh === '')
    return {
      action: 'deny',
      message: `VirtualNode ${ns}/${vn.metadata.name} selects Pod ${podName} but belongs to no mesh meshd knows (spec.meshRef, or a Mesh whose namespaceSelector selects namespace ${ns}); fix the mesh, or annotate the Pod ${INJECTION_KEY}: disabled`,
    };
  const nodeId = sidecarNodeId(mesh, vn, ns);

  const problems: string[] = [];
  const appPorts = portsOf(annotations, ANNOTATIONS.ports, problems) ?? listenerPorts(vn.spec as Plain);
  const ignoredPorts = portsOf(annotations, ANNOTATIONS.egressIgnoredPorts, problems) ?? ['22'];
  const ignoredIPs = [
    ...(settings.egressIgnoredIPs ?? DEFAULT_EGRESS_IGNORED_IPS),
    ...(ipsOf(annotations[ANNOTATIONS.egressIgnoredIPs], problems) ?? []),
  ];
  const resources = resourcesOf(annotations, settings.resources ?? DEFAULT_RESOURCES, problems);
  const secretMounts = mountsOf(annotations, ANNOTATIONS.secretMounts, 'secretName:mountPath', problems);
  const volumeMounts = mountsOf(annotations, ANNOTATIONS.volumeMounts, 'volumeName:mountPath', problems);
  for (const [name] of volumeMounts)
    if (!volumeNames.has(name))
      problems.push(`${ANNOTATIONS.volumeMounts} names volume '${name}', which the Pod does not have`);
  if (problems.length > 0) return { action: 'deny', message: `Pod ${podName}: ${problems.join('; ')}` };

  const newVolumes: Plain[] = [{ name: BOOTSTRAP_VOLUME, emptyDir: {} }];
  const envoyMounts: Plain[] = [{ name: BOOTSTRAP_VOLUME, mountPath: '/meshd', readOnly: true }];
  const env: Plain[] = envoyEnv(nodeId, settings);
  const tls = settings.xdsTls;
  if (tls && (tls.caConfigMap || tls.caSecret)) {
    const key = tls.key ?? 'ca.crt';
    newVolumes.push(
      tls.caSecret
        ? { name: CA_VOLUME, secret: { secretName: tls.caSecret, items: [{ key, path: 'ca.crt' }] } }
        : { name: CA_VOLUME, configMap: { name: tls.caConfigMap, items: [{ key, path: 'ca.crt' }] } },
    );
    envoyMounts.push({ name: CA_VOLUME, mountPath: '/meshd-ca', readOnly: true });
  }
  for (const [secretName, mountPath] of secretMounts) {
    if (volumeNames.has(secretName) || newVolumes.some((v) => v.name === secretName))
      return {
        action: 'deny',
        message: `Pod ${podName}: ${ANNOTATIONS.secretMounts} names '${secretName}', which is already a volume`,
      };
    newVolumes.push({ name: secretName, secret: { secretName } });
    envoyMounts.push({ name: secretName, mountPath, readOnly: true });
  }
  for (const [name, mountPath] of volumeMounts) envoyMounts.push({ name, mountPath, readOnly: true });

  const bootstrapDir = settings.bootstrapDir ?? DEFAULT_BOOTSTRAP_DIR;
  const bootstrapInit: Plain = {
    name: BOOTSTRAP_INIT_CONTAINER,
    image: settings.meshdImage,
    command: ['cp', ...BOOTSTRAP_FILES.map((f) => `${bootstrapDir}/${f}`), '/meshd/'],
    volumeMounts: [{ name: BOOTSTRAP_VOLUME, mountPath: '/meshd' }],
    resources: resourcesValue(resources),
  };
  const proxyInit: Plain = {
    name: PROXY_INIT_CONTAINER,
    image: settings.proxyInitImage,
    securityContext: { capabilities: { add: ['NET_ADMIN'] } },
    env: [
      { name: 'APPMESH_START_ENABLED', value: '1' },
      { name: 'APPMESH_IGNORE_UID', value: String(PROXY_UID) },
      { name: 'APPMESH_ENVOY_INGRESS_PORT', value: String(INGRESS_PORT) },
      { name: 'APPMESH_ENVOY_EGRESS_PORT', value: String(EGRESS_PORT) },
      { name: 'APPMESH_APP_PORTS', value: appPorts.join(',') },
      { name: 'APPMESH_EGRESS_IGNORED_IP', value: ignoredIPs.join(',') },
      { name: 'APPMESH_EGRESS_IGNORED_PORTS', value: ignoredPorts.join(',') },
    ],
    resources: resourcesValue(resources),
  };
  const envoy: Plain = {
    name: ENVOY_CONTAINER,
    image: settings.envoyImage ?? DEFAULT_ENVOY_IMAGE,
    command: ['/meshd/entrypoint.sh'],
    securityContext: { runAsUser: PROXY_UID },
    ports: [
      { name: 'stats', containerPort: ADMIN_PORT, protocol: 'TCP' },
      { name: 'envoy-ingress', containerPort: INGRESS_PORT, protocol: 'TCP' },
      { name: 'envoy-egress', containerPort: EGRESS_PORT, protocol: 'TCP' },
    ],
    env,
    volumeMounts: envoyMounts,
    resources: resourcesValue(resources),
    readinessProbe: {
      exec: {
        command: [
          'bash',
          '-c',
          `exec 3<>/dev/tcp/127.0.0.1/${ADMIN_PORT} && printf 'GET /ready HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && grep -q LIVE <&3`,
        ],
      },
      initialDelaySeconds: 1,
      periodSeconds: 10,
      timeoutSeconds: 1,
      failureThreshold: 3,
    },
    lifecycle: { preStop: { exec: { command: ['sh', '-c', 'sleep 20'] } } },
  };

  const patch: JsonPatchOp[] = [];
  patch.push(...appendAll('/spec/initContainers', initContainers, [bootstrapInit, proxyInit]));
  patch.push({ op: 'add', path: '/spec/containers/-', value: envoy });
  patch.push(...appendAll('/spec/volumes', volumes, newVolumes));
  if (!isPlain(metadata.annotations)) {
    if (!isPlain(pod.metadata)) patch.push({ op: 'add', path: '/metadata', value: {} });
    patch.push({ op: 'add', path: '/metadata/annotations', value: { [INJECTED_ANNOTATION]: nodeId } });
  } else {
    patch.push({ op: 'add', path: `/metadata/annotations/${pointerToken(INJECTED_ANNOTATION)}`, value: nodeId });
  }
  return { action: 'patch', patch, nodeId };
}

function envoyEnv(nodeId: string, settings: InjectionSettings): Plain[] {
  const env: Plain[] = [
    { name: 'APPMESH_VIRTUAL_NODE_NAME', value: nodeId },
    { name: 'APPMESH_ENVOY_INGRESS_PORT', value: String(INGRESS_PORT) },
    { name: 'APPMESH_ENVOY_EGRESS_PORT', value: String(EGRESS_PORT) },
    { name: 'ENVOY_ADMIN_ACCESS_PORT', value: String(ADMIN_PORT) },
    { name: 'ENVOY_ADMIN_ACCESS_ENABLE_IPV6', value: 'false' },
    { name: 'ENVOY_LOG_LEVEL', value: settings.logLevel ?? 'info' },
    { name: 'MESHD_XDS_ADDRESS', value: settings.xdsAddress },
  ];
  if (settings.statsTags) env.push({ name: 'ENABLE_ENVOY_STATS_TAGS', value: '1' });
  const tls = settings.xdsTls;
  if (tls) {
    env.push({ name: 'MESHD_XDS_TLS', value: '1' });
    if (tls.caConfigMap || tls.caSecret) env.push({ name: 'MESHD_XDS_CA_FILE', value: '/meshd-ca/ca.crt' });
    const serverName = tls.serverName ?? dnsHostOf(settings.xdsAddress);
    if (serverName) env.push({ name: 'MESHD_XDS_SERVER_NAME', value: serverName });
  }
  return env;
}

/** The host of the first `host:port` when it is a DNS name (not an IP address). */
function dnsHostOf(address: string): string | undefined {
  const first = address.split(',')[0]!.trim();
  if (first.startsWith('[')) return undefined;
  const host = first.replace(/:\d+$/, '');
  if (/^[0-9.]+$/.test(host) || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) return undefined;
  return host;
}

/** `add` each value at the end of an array, creating it first when the Pod has none. */
function appendAll(path: string, existing: unknown, values: readonly Plain[]): JsonPatchOp[] {
  if (!Array.isArray(existing)) return [{ op: 'add', path, value: values }];
  return values.map((value) => ({ op: 'add', path: `${path}/-`, value }));
}

function podLabel(metadata: Plain, ns: string): string {
  const name = typeof metadata.name === 'string' && metadata.name !== '' ? metadata.name : undefined;
  const generate = typeof metadata.generateName === 'string' ? `${metadata.generateName}*` : '(unnamed)';
  return `${ns}/${clip(name ?? generate)}`;
}

function clip(text: string): string {
  const printable = text.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > 253 ? `${printable.slice(0, 253)}...` : printable;
}

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (!isPlain(value)) return out;
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** The VirtualNode's listener ports (the controller's default for APPMESH_APP_PORTS). */
function listenerPorts(spec: Plain): string[] {
  const listeners = Array.isArray(spec.listeners) ? spec.listeners.slice(0, MAX_LIST) : [];
  const ports = new Set<string>();
  for (const l of listeners) {
    const port = isPlain(l) && isPlain(l.portMapping) ? l.portMapping.port : undefined;
    if (typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535) ports.add(String(port));
  }
  return [...ports];
}

function portsOf(annotations: Record<string, string>, key: string, problems: string[]): string[] | undefined {
  const text = annotations[key];
  if (text === undefined) return undefined;
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const bad = items.find((p) => !/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535);
  if (text.length > MAX_TEXT || bad !== undefined || items.length === 0) {
    problems.push(
      `annotation ${key} must be port numbers (1 to 65535) separated by commas, got '${clip(text.slice(0, 80))}'`,
    );
    return undefined;
  }
  return [...new Set(items)];
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(\/([12]?\d|3[0-2]))?$/;

function ipsOf(text: string | undefined, problems: string[]): string[] | undefined {
  if (text === undefined) return undefined;
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (text.length > MAX_TEXT || items.some((ip) => !IPV4.test(ip))) {
    problems.push(
      `annotation ${ANNOTATIONS.egressIgnoredIPs} must be IPv4 addresses or CIDR blocks separated by commas, got '${clip(text.slice(0, 80))}'`,
    );
    return undefined;
  }
  return items;
}

/** A Kubernetes quantity (resource.ParseQuantity's form). */
const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$/;

function resourcesOf(
  annotations: Record<string, string>,
  defaults: SidecarResources,
  problems: string[],
): SidecarResources {
  const pick = (key: string, fallback: string | undefined): string | undefined => {
    const value = annotations[key];
    if (value === undefined) return fallback;
    if (value.length > 64 || !QUANTITY.test(value)) {
      problems.push(
        `annotation ${key} must be a Kubernetes quantity such as 10m or 64Mi, got '${clip(value.slice(0, 80))}'`,
      );
      return fallback;
    }
    return value;
  };
  return {
    cpuRequest: pick(ANNOTATIONS.cpuRequest, defaults.cpuRequest),
    memoryRequest: pick(ANNOTATIONS.memoryRequest, defaults.memoryRequest),
    cpuLimit: pick(ANNOTATIONS.cpuLimit, defaults.cpuLimit),
    memoryLimit: pick(ANNOTATIONS.memoryLimit, defaults.memoryLimit),
  };
}

function resourcesValue(r: SidecarResources): Plain {
  const requests: Plain = {};
  const limits: Plain = {};
  if (r.cpuRequest) requests.cpu = r.cpuRequest;
  if (r.memoryRequest) requests.memory = r.memoryRequest;
  if (r.cpuLimit) limits.cpu = r.cpuLimit;
  if (r.memoryLimit) limits.memory = r.memoryLimit;
  return {
    ...(Object.keys(requests).length > 0 ? { requests } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
  };
}

/** DNS-1123 label: what a volume name must be. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function mountsOf(
  annotations: Record<string, string>,
  key: string,
  form: string,
  problems: string[],
): Array<[string, string]> {
  const text = annotations[key];
  if (text === undefined) return [];
  const out: Array<[string, string]> = [];
  for (const segment of text.length > MAX_TEXT * 4 ? [''] : text.split(',')) {
    const pair = segment.split(':').map((s) => s.trim());
    if (pair.length !== 2 || !DNS_LABEL.test(pair[0]!) || !pair[1]!.startsWith('/') || pair[1]!.length > 4096) {
      problems.push(`annotation ${key} must be ${form} items separated by commas, got '${clip(segment.slice(0, 80))}'`);
      return [];
    }
    if (out.some(([n]) => n === pair[0])) {
      problems.push(`annotation ${key} names '${pair[0]}' twice`);
      return [];
    }
    out.push([pair[0]!, pair[1]!]);
  }
  return out;
}
