// `meshd serve`: load the mesh, serve it over ADS, reload it when the files change.
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_HTTP_LIMITS, type HttpLimits } from '../admin/http-guard';
import { nativeDocument } from '../export/native-yaml';
import { dumpYaml } from '../export/yaml-text';
import { formatDuration, parseDuration } from '../util/duration';
import type { RemoteSettings } from '../control/cloud-map-source';
import { MeshServer, type MeshServerOptions } from '../control/mesh-server';
import type { KubernetesModeOptions } from '../control/kubernetes-mode';
import { DEFAULT_ENVOY_IMAGE } from '../k8s/injection';
import { defaultIdentityFiles } from '../control/mesh-identity';
import { defaultApiDir } from '../store/api-dir';
import { checkStoreUrl, defaultReplicaId } from '../store/postgres';
import { redactedUrl } from '../store/postgres/connect';
import { StartError } from '../control/start-error';
import { DEFAULT_JOURNAL_BYTES } from '../discovery/cloud-map/state-file';
import { isLoopbackAddress } from '../util/loopback';
import { MIN_ADMIN_TOKEN_LENGTH, readAdminTokenFile } from '../admin/admin-auth';
import { parseCredentials, type Credentials } from '../util/sigv4-verify';
import { createLogger, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../util/log';
import { formatNodeId } from '../model/node-id';
import { DEFAULT_WEBHOOK_POLICY, parseAllowedHosts, WebhookCaller, type WebhookPolicy } from '../rollout/webhooks';
import { PrometheusClient, prometheusUrlProblem } from '../rollout/prometheus';
import { DEFAULT_XDS_LIMITS, type XdsLimits } from '../xds/limits';
import {
  DEFAULT_TELEMETRY_LIMITS,
  describeStatsdAllow,
  parseStatsdAllow,
  parseWindow,
  STATSD_ALLOW_ANY,
  STATSD_ALLOW_CONNECTED,
  type StatsdAllow,
  type TelemetryLimits,
} from '../telemetry';
import { UsageError, type CommandSpec, type ParsedArgs } from './args';
import { attachEnvoyLines } from './attach-envoy';
import { meshdVersion } from './version';
import { cloudFormationFlags, loadOptions, meshNameFlag, strictFlag } from './mesh-flags';

export const DEFAULT_CLOUD_MAP_STATE = '.meshd/cloud-map.json';
export const DEFAULT_ROLLOUT_STATE = '.meshd/rollouts.json';
export const DEFAULT_API_ACCOUNT_ID = '000000000000';
export const DEFAULT_API_REGION = 'us-east-1';

/** `--xds-max-…` flags, one per limit of the xDS server (src/xds/limits.ts), with their defaults. */
const XDS_LIMIT_FLAGS: Record<string, { limit: keyof XdsLimits; metavar: string; help: string }> = {
  'xds-max-names-per-type': {
    limit: 'maxNamesPerType',
    metavar: 'n',
    help: 'resource names one ADS stream may subscribe to for one type',
  },
  'xds-max-names-per-stream': {
    limit: 'maxNamesPerStream',
    metavar: 'n',
    help: 'resource names one ADS stream may subscribe to over all its types',
  },
  'xds-max-names-total': {
    limit: 'maxNamesTotal',
    metavar: 'n',
    help: 'resource names all ADS streams together may subscribe to',
  },
  'xds-max-name-bytes': { limit: 'maxNameBytes', metavar: 'bytes', help: 'length of one resource name in a request' },
  'xds-max-types-per-stream': {
    limit: 'maxTypesPerStream',
    metavar: 'n',
    help: 'resource types (type URLs) one ADS stream may ask for',
  },
  'xds-max-streams-per-connection': {
    limit: 'maxStreamsPerConnection',
    metavar: 'n',
    help: 'ADS streams open at once on one connection',
  },
  'xds-max-streams': { limit: 'maxStreams', metavar: 'n', help: 'ADS streams open at once on the server' },
  'xds-max-connections': {
    limit: 'maxConnections',
    metavar: 'n',
    help: 'connections open at once on the xDS port (each takes a file descriptor)',
  },
  'xds-max-message-bytes': { limit: 'maxMessageBytes', metavar: 'bytes', help: 'size of one xDS request' },
  'xds-idle-timeout-ms': {
    limit: 'idleTimeoutMs',
    metavar: 'ms',
    help: 'close an xDS connection without a stream, or a stream without a first request, after this long',
  },
  'xds-max-node-id-bytes': {
    limit: 'maxNodeIdBytes',
    metavar: 'bytes',
    help: 'length of a node id (a longer one is refused with INVALID_ARGUMENT)',
  },
};

function xdsLimitFlags(): CommandSpec['flags'] {
  return Object.fromEntries(
    Object.entries(XDS_LIMIT_FLAGS).map(([name, { limit, metavar, help }]) => [
      name,
      {
        type: 'int' as const,
        metavar,
        help,
        default: DEFAULT_XDS_LIMITS[limit],
        min: 1,
        max: 2 ** 31 - 1,
        env: [`MESHD_${name.toUpperCase().replace(/-/g, '_')}`],
      },
    ]),
  );
}

/** The xDS limits the flags set. */
function xdsLimits(args: ParsedArgs): XdsLimits {
  return Object.fromEntries(
    Object.entries(XDS_LIMIT_FLAGS).map(([name, { limit }]) => [limit, args.flags[name] as number]),
  ) as unknown as XdsLimits;
}

export const serveCommand: CommandSpec = {
  name: 'serve',
  summary: 'serve mesh files to Envoy proxies over ADS, reloading them on every change',
  usage: 'meshd serve --mesh <file|folder>... [flags]',
  flags: {
    mesh: {
      type: 'list',
      metavar: 'path',
      help: 'mesh files or folders (watched for changes); in the variable, comma-separated',
      env: ['MESHD_MESH'],
    },
    'mesh-name': { ...meshNameFlag, env: ['MESHD_MESH_NAME'] },
    strict: { ...strictFlag, env: ['MESHD_STRICT'] },
    ...cloudFormationFlags,
    'xds-address': {
      type: 'string',
      metavar: 'ip',
      help: 'address for the xDS gRPC server',
      default: '0.0.0.0',
      env: ['MESHD_XDS_LISTEN_ADDRESS'],
    },
    'xds-port': { type: 'int', help: 'port for the xDS gRPC server', default: 18000, env: ['MESHD_XDS_PORT'] },
    ...xdsLimitFlags(),
    'admin-address': {
      type: 'string',
      metavar: 'ip',
      help: 'address for the admin HTTP API',
      default: '127.0.0.1',
      env: ['MESHD_ADMIN_LISTEN_ADDRESS'],
    },
    'admin-port': { type: 'int', help: 'port for the admin HTTP API', default: 18001, env: ['MESHD_ADMIN_PORT'] },
    'admin-token-file': {
      type: 'string',
      metavar: 'file',
      help: `a file (mode 600) holding the bearer token every admin write (POST /v1/rollouts...) must send as Authorization: Bearer <token>, at least ${MIN_ADMIN_TOKEN_LENGTH} characters (openssl rand -hex 32); required when --admin-address is not loopback`,
      env: ['MESHD_ADMIN_TOKEN_FILE'],
    },
    'insecure-admin': {
      type: 'bool',
      help: 'start even though --admin-address is not loopback and --admin-token-file, --api-credentials or --cloud-map-credentials is missing: reads are open to the network, and the writes of each API without its credential are refused',
      env: ['MESHD_INSECURE_ADMIN'],
    },
    'admin-max-connections': {
      type: 'int',
      min: 1,
      max: 2 ** 31 - 1,
      metavar: 'n',
      help: 'open connections the admin port accepts at once; more are closed as they arrive',
      default: DEFAULT_HTTP_LIMITS.maxConnections,
      env: ['MESHD_ADMIN_MAX_CONNECTIONS'],
    },
    'admin-request-timeout-ms': {
      type: 'int',
      min: 1,
      max: 2 ** 31 - 1,
      metavar: 'ms',
      help: 'an admin request must arrive whole (headers and body) within this time',
      default: DEFAULT_HTTP_LIMITS.requestTimeoutMs,
      env: ['MESHD_ADMIN_REQUEST_TIMEOUT_MS'],
    },
    'admin-idle-timeout-ms': {
      type: 'int',
      min: 1,
      max: 2 ** 31 - 1,
      metavar: 'ms',
      help: 'an admin connection with no traffic for this long is closed',
      default: DEFAULT_HTTP_LIMITS.idleTimeoutMs,
      env: ['MESHD_ADMIN_IDLE_TIMEOUT_MS'],
    },
    'watch-interval-ms': {
      type: 'int',
      metavar: 'ms',
      help: 'how often each mesh path is checked to still be what is watched (a folder deleted and created again, swapped by a rename or a git-sync link: it is watched again and reloaded); also the first wait before a failed watch is tried again',
      default: 1000,
      env: ['MESHD_WATCH_INTERVAL_MS'],
    },
    'debounce-ms': {
      type: 'int',
      metavar: 'ms',
      help: 'wait this long after a file change before reloading (changes within it are served as one)',
      default: 10,
      env: ['MESHD_DEBOUNCE_MS'],
    },
    'log-format': {
      type: 'string',
      metavar: 'text|json',
      help: 'text: one line per event; json: structured (pino) lines',
      default: 'text',
      env: ['MESHD_LOG_FORMAT'],
    },
    'log-level': {
      type: 'string',
      metavar: 'level',
      help: 'debug (every response and ACK), info, warn or error',
      default: 'info',
      env: ['MESHD_LOG_LEVEL'],
    },
    'cloud-map-state': {
      type: 'string',
      metavar: 'file',
      help: 'where the local Cloud Map registry is kept (created on the first registration)',
      default: DEFAULT_CLOUD_MAP_STATE,
      env: ['MESHD_CLOUD_MAP_STATE'],
    },
    'cloud-map-credentials': {
      type: 'string',
      metavar: 'key:secret',
      help: 'accept only Cloud Map API calls signed (SigV4) with this access key id and secret; without it any credentials are accepted when --admin-address is loopback, and every call is refused (403 ForbiddenException) when it is not',
      env: ['MESHD_CLOUD_MAP_CREDENTIALS'],
    },
    'cloud-map-allow-any-address': {
      type: 'bool',
      help: "accept Cloud Map instances at addresses that are never a workload's (unspecified, broadcast, multicast, link-local such as 169.254.169.254); by default they are refused (loopback is always accepted)",
      env: ['MESHD_CLOUD_MAP_ALLOW_ANY_ADDRESS'],
    },
    'cloud-map-journal-bytes': {
      type: 'int',
      metavar: 'n',
      min: 1,
      help: "bytes: the registry's changes are appended to <state>.journal; the state file is rewritten (in the background) once the journal is larger than this and than the state file",
      default: DEFAULT_JOURNAL_BYTES,
      env: ['MESHD_CLOUD_MAP_JOURNAL_BYTES'],
    },
    'cloud-map': {
      type: 'string',
      metavar: 'local|remote',
      help: "local: virtual nodes' awsCloudMap services are answered by meshd's own registry only; remote: also by a real Cloud Map (AWS, or --cloud-map-endpoint) through the AWS SDK, polled every --cloud-map-poll-interval, its instances added to the local registry's",
      default: 'local',
      env: ['MESHD_CLOUD_MAP'],
    },
    'cloud-map-endpoint': {
      type: 'string',
      metavar: 'url',
      help: "remote mode: the Cloud Map endpoint (http or https URL: another meshd's admin port, moto, a VPC endpoint); default: the region's AWS endpoint",
      env: ['MESHD_CLOUD_MAP_ENDPOINT'],
    },
    'cloud-map-region': {
      type: 'string',
      metavar: 'region',
      help: "remote mode: the AWS region (default: the SDK's, from AWS_REGION or the profile); credentials come from the SDK's standard chain (AWS_ACCESS_KEY_ID, profile, container or instance role)",
      env: ['MESHD_CLOUD_MAP_REGION'],
    },
    'cloud-map-poll-interval': {
      type: 'string',
      metavar: 'duration',
      help: "remote mode: how often each service's DiscoverInstancesRevision is asked (DiscoverInstances only when it moved), from 100ms to 10m",
      default: '5s',
      env: ['MESHD_CLOUD_MAP_POLL_INTERVAL'],
    },
    'cloud-map-refresh-interval': {
      type: 'string',
      metavar: 'duration',
      help: "remote mode: DiscoverInstances is called at least this often even when the revision stays the same (AWS's revision does not move on a health change), from 100ms to 1h",
      default: '10s',
      env: ['MESHD_CLOUD_MAP_REFRESH_INTERVAL'],
    },
    'cloud-map-timeout': {
      type: 'string',
      metavar: 'duration',
      help: 'remote mode: a call to the remote Cloud Map that takes longer fails (the last good instances keep serving), from 100ms to 1m',
      default: '3s',
      env: ['MESHD_CLOUD_MAP_TIMEOUT'],
    },
    'cloud-map-max-instances': {
      type: 'int',
      metavar: 'n',
      min: 1,
      max: 1000,
      help: 'remote mode: the most instances kept per service (DiscoverInstances MaxResults); more are dropped and counted',
      default: 1000,
      env: ['MESHD_CLOUD_MAP_MAX_INSTANCES'],
    },
    'api-credentials': {
      type: 'string',
      metavar: 'key:secret',
      help: 'accept only App Mesh API calls (/v20190125/...) signed (SigV4, service appmesh) with this access key id and secret; without it any credentials are accepted when --admin-address is loopback, and every call is refused (403 ForbiddenException) when it is not',
      env: ['MESHD_API_CREDENTIALS'],
    },
    'api-account-id': {
      type: 'string',
      metavar: 'id',
      help: "the App Mesh API's account: 12 digits, in ARNs and as meshOwner and resourceOwner",
      default: DEFAULT_API_ACCOUNT_ID,
      env: ['MESHD_API_ACCOUNT_ID'],
    },
    'api-region': {
      type: 'string',
      metavar: 'region',
      help: "the App Mesh API's region, in ARNs",
      default: DEFAULT_API_REGION,
      env: ['MESHD_API_REGION'],
    },
    'api-dir': {
      type: 'string',
      metavar: 'folder',
      help: 'where resources created through the App Mesh API are kept, one YAML file each (default: .meshd-api in the folder of the first --mesh path, or in that folder itself when it is one)',
      env: ['MESHD_API_DIR'],
    },
    'api-max-resources-per-mesh': {
      type: 'int',
      metavar: 'n',
      min: 1,
      max: 1_000_000,
      help: 'refuse an App Mesh API Create that would leave a mesh holding more than n resources (LimitExceededException); no limit by default',
      env: ['MESHD_API_MAX_RESOURCES_PER_MESH'],
    },
    store: {
      type: 'string',
      metavar: 'url',
      help: 'run as one replica of a fleet that shares its state in PostgreSQL: postgres://user:password@host:port/database (PGPASSWORD and the other PG* variables are read too). Without it, state is kept in files under .meshd/ (docs/high-availability.md)',
      env: ['MESHD_STORE'],
    },
    'replica-id': {
      type: 'string',
      metavar: 'id',
      help: "this replica's name in the fleet (--store): unique, up to 63 letters, digits, '.', '_' or '-' (default: the host name and a random suffix)",
      env: ['MESHD_REPLICA_ID'],
    },
    'leader-lease': {
      type: 'string',
      metavar: 'time',
      help: "how long the fleet's leader (rollout steps, webhooks, Cloud Map seeds) holds its lease: a dead leader is replaced within this time (--store; 1s to 60s)",
      default: '5s',
      env: ['MESHD_LEADER_LEASE'],
    },
    kubernetes: {
      type: 'bool',
      help: "Kubernetes mode (docs/kubernetes.md): read the App Mesh controller's custom resources (appmesh.k8s.aws/v1beta2) from the cluster beside any --mesh files, write their status, and elect a leader among replicas with a Lease. In-cluster configuration unless --kubeconfig",
      env: ['MESHD_KUBERNETES'],
    },
    kubeconfig: {
      type: 'string',
      metavar: 'file',
      help: "Kubernetes mode: the kubeconfig to reach the API server with (default: KUBECONFIG, else the pod's service account)",
      env: ['KUBECONFIG'],
    },
    'kube-context': {
      type: 'string',
      metavar: 'name',
      help: "Kubernetes mode: the kubeconfig's context to use (default: its current-context)",
    },
    'kubernetes-namespace': {
      type: 'string',
      metavar: 'name',
      help: "Kubernetes mode: meshd's own namespace, where its Lease (meshd-leader) and rollout state (ConfigMap meshd-rollouts) live (default: the pod's namespace, else the kubeconfig context's, else meshd)",
      env: ['MESHD_KUBERNETES_NAMESPACE'],
    },
    'kubernetes-endpoints': {
      type: 'bool',
      help: 'Kubernetes mode: a VirtualNode with a podSelector gets its endpoints from the EndpointSlices of the pods it selects (EDS), instead of its DNS name or Cloud Map (docs/kubernetes.md)',
      env: ['MESHD_KUBERNETES_ENDPOINTS'],
    },
    'webhook-port': {
      type: 'int',
      metavar: 'port',
      min: 0,
      max: 65535,
      help: "Kubernetes mode: serve the sidecar injection webhook (POST /mutate-pod, TLS with a certificate from meshd's CA) on this port; 0 or unset: no webhook",
      env: ['MESHD_WEBHOOK_PORT'],
    },
    'webhook-address': {
      type: 'string',
      metavar: 'host',
      help: 'Kubernetes mode: the address the injection webhook listens on',
      default: '0.0.0.0',
      env: ['MESHD_WEBHOOK_ADDRESS'],
    },
    'webhook-names': {
      type: 'list',
      metavar: 'names',
      help: "Kubernetes mode: comma-separated DNS names and IP addresses in the webhook's certificate (default: meshd.<namespace>.svc and meshd.<namespace>.svc.cluster.local, the Service the API server calls)",
      env: ['MESHD_WEBHOOK_NAMES'],
    },
    'sidecar-image': {
      type: 'string',
      metavar: 'ref',
      help: 'Kubernetes mode: the Envoy image injected as the sidecar',
      default: DEFAULT_ENVOY_IMAGE,
      env: ['MESHD_SIDECAR_IMAGE'],
    },
    'proxy-init-image': {
      type: 'string',
      metavar: 'ref',
      help: "Kubernetes mode: the init image that sets App Mesh's iptables rules (envoy-bootstrap/proxy-init)",
      default: 'meshd-proxy-init:local',
      env: ['MESHD_PROXY_INIT_IMAGE'],
    },
    'meshd-image': {
      type: 'string',
      metavar: 'ref',
      help: "Kubernetes mode: meshd's own image, whose envoy-bootstrap/ scripts an injected init container copies into the pod for the sidecar's entrypoint",
      default: 'meshd:local',
      env: ['MESHD_IMAGE'],
    },
    'sidecar-xds-address': {
      type: 'string',
      metavar: 'host:port',
      help: "Kubernetes mode: meshd's xDS address as injected sidecars reach it (default: meshd.<namespace>.svc:<xds port>)",
      env: ['MESHD_SIDECAR_XDS_ADDRESS'],
    },
    'advertise-address': {
      type: 'string',
      metavar: 'host',
      help: "the host name or address other replicas and `meshd status` show for this replica's xDS and admin ports (--store; default: this host's name)",
      env: ['MESHD_ADVERTISE_ADDRESS'],
    },
    'xds-tls': {
      type: 'bool',
      help: "serve the xDS port over TLS with a certificate from meshd's CA, and require every proxy to prove the node it asks for with a join token (meshd token) or a workload certificate; needed for meshd to serve workload certificates beyond loopback",
      env: ['MESHD_XDS_TLS'],
    },
    'xds-tls-names': {
      type: 'list',
      metavar: 'names',
      help: "comma-separated DNS names and IP addresses in the xDS server's certificate, which proxies check (bootstrap --xds-server-name); default: localhost, 127.0.0.1, ::1, this host's name and --advertise-address",
      env: ['MESHD_XDS_TLS_NAMES'],
    },
    'ca-key-file': {
      type: 'string',
      metavar: 'file',
      help: "the 32-byte key (raw, hex or base64; mode 600) that encrypts the CA's state at rest; made on first start when missing (default: ca.key beside --rollout-state). With --store it encrypts the CA's row in PostgreSQL (give every replica the same file; without it the row is not encrypted)",
      env: ['MESHD_CA_KEY_FILE'],
    },
    'ca-cert': {
      type: 'string',
      metavar: 'file',
      help: 'your CA certificate (PEM; a root, or an intermediate under your root with --ca-chain) to issue workload certificates with, instead of a root meshd makes',
      env: ['MESHD_CA_CERT'],
    },
    'ca-key': { type: 'string', metavar: 'file', help: "--ca-cert's private key (PEM)", env: ['MESHD_CA_KEY'] },
    'ca-chain': {
      type: 'string',
      metavar: 'file',
      help: "--ca-cert's issuers up to your root (PEM), when --ca-cert is an intermediate",
      env: ['MESHD_CA_CHAIN'],
    },
    'workload-cert-ttl': {
      type: 'string',
      metavar: 'time',
      help: 'life of a workload certificate; each is renewed at a random point between 50 % and 80 % of it (1m to 8784h, 366 days)',
      default: '24h',
      env: ['MESHD_WORKLOAD_CERT_TTL'],
    },
    'ca-rotation-overlap': {
      type: 'string',
      metavar: 'time',
      help: 'after `meshd ca rotate`, how long proxies trust both the old and the new root before the old one is dropped',
      default: '24h',
      env: ['MESHD_CA_ROTATION_OVERLAP'],
    },
    'rollout-state': {
      type: 'string',
      metavar: 'file',
      help: 'where canary rollouts keep their progress, so a restarted meshd carries on',
      default: DEFAULT_ROLLOUT_STATE,
      env: ['MESHD_ROLLOUT_STATE'],
    },
    'webhook-allow': {
      type: 'list',
      metavar: 'hosts',
      help: 'comma-separated: the only hosts (name or IP, optionally :port) rollout webhooks may call; a webhook to any other is refused. By default any host (see docs/security.md)',
      env: ['MESHD_WEBHOOK_ALLOW'],
    },
    'webhook-max-timeout': {
      type: 'string',
      metavar: 'time',
      help: 'the longest meshd waits for a webhook, whatever its own timeout says (1s to 5m)',
      default: formatDuration(DEFAULT_WEBHOOK_POLICY.maxTimeoutMs),
      env: ['MESHD_WEBHOOK_MAX_TIMEOUT'],
    },
    'webhook-max-body-bytes': {
      type: 'int',
      metavar: 'n',
      help: "the most bytes of a webhook's answer meshd reads; a longer answer is cut off (its status still counts)",
      default: DEFAULT_WEBHOOK_POLICY.maxBodyBytes,
      env: ['MESHD_WEBHOOK_MAX_BODY_BYTES'],
    },
    'prometheus-url': {
      type: 'string',
      metavar: 'url',
      help: 'the Prometheus (http:// or https://) asked for rollout metrics that carry a PromQL query (docs/prometheus.md); without it, a rollout with such a metric is refused',
      env: ['MESHD_PROMETHEUS_URL'],
    },
    'prometheus-bearer-token-file': {
      type: 'string',
      metavar: 'file',
      help: "a file (mode 600) holding the token sent to --prometheus-url as Authorization: Bearer <token>, read again at each query; keeps the secret out of meshd's command line, which local users can read (ps), as they can a password in --prometheus-url",
      env: ['MESHD_PROMETHEUS_BEARER_TOKEN_FILE'],
    },
    'statsd-address': {
      type: 'string',
      metavar: 'ip',
      help: 'address for the DogStatsD (UDP) listener sidecars send their stats to (default: the same as --admin-address)',
      env: ['MESHD_STATSD_ADDRESS'],
    },
    'statsd-allow': {
      type: 'list',
      metavar: 'connected|any|cidrs',
      help: "whose DogStatsD datagrams are read: any; connected (the addresses of the proxies connected over ADS now); CIDRs such as 10.0.0.0/8; or connected and CIDRs, comma-separated. Default: any on a loopback --statsd-address, connected on any other. Others' datagrams are dropped and counted",
      env: ['MESHD_STATSD_ALLOW'],
    },
    'statsd-port': {
      type: 'int',
      help: "UDP port for DogStatsD (8125 is App Mesh's STATSD_PORT default; 0: any free port)",
      default: 8125,
      env: ['MESHD_STATSD_PORT'],
    },
    'statsd-max-datagram-bytes': {
      type: 'int',
      metavar: 'n',
      min: 512,
      help: 'a DogStatsD datagram of more bytes is dropped unread (and counted)',
      default: DEFAULT_TELEMETRY_LIMITS.maxDatagramBytes,
      env: ['MESHD_STATSD_MAX_DATAGRAM_BYTES'],
    },
    'statsd-max-lines': {
      type: 'int',
      metavar: 'n',
      min: 1,
      help: 'a DogStatsD datagram with more lines is dropped whole (and counted)',
      default: DEFAULT_TELEMETRY_LIMITS.maxLinesPerDatagram,
      env: ['MESHD_STATSD_MAX_LINES'],
    },
    'statsd-max-tags': {
      type: 'int',
      metavar: 'n',
      min: 1,
      help: 'a DogStatsD line with more tags is dropped (and counted)',
      default: DEFAULT_TELEMETRY_LIMITS.maxTagsPerLine,
      env: ['MESHD_STATSD_MAX_TAGS'],
    },
    'telemetry-max-nodes': {
      type: 'int',
      metavar: 'n',
      min: 1,
      help: 'virtual nodes whose traffic is kept; stats for more are dropped (and counted)',
      default: DEFAULT_TELEMETRY_LIMITS.maxNodes,
      env: ['MESHD_TELEMETRY_MAX_NODES'],
    },
    'telemetry-max-buckets': {
      type: 'int',
      metavar: 'n',
      min: 100,
      max: 1_000_000_000,
      help: 'latency histogram buckets kept over all nodes and seconds (~30 bytes each); durations beyond are dropped (and counted)',
      default: DEFAULT_TELEMETRY_LIMITS.maxLatencyBuckets,
      env: ['MESHD_TELEMETRY_MAX_BUCKETS'],
    },
    'telemetry-window': {
      type: 'string',
      metavar: 'duration',
      help: "the window /v1/telemetry and /metrics report each virtual node's traffic over, from 1s to 15m",
      default: '60s',
      env: ['MESHD_TELEMETRY_WINDOW'],
    },
  },
  notes: [
    'A change that does not validate is reported (file:line:col) and the last good mesh keeps serving.',
    'Each flag may also be set by the variable in [brackets] (for compose files); the flag wins.',
    "The admin port also answers AWS Cloud Map's API at POST / (aws servicediscovery --endpoint-url http://127.0.0.1:18001),",
    "and App Mesh's API under /v20190125/ (aws appmesh --endpoint-url http://127.0.0.1:18001).",
    "Sidecars bootstrapped with --dog-statsd (App Mesh's ENABLE_ENVOY_DOG_STATSD) and meshd's statsd address report",
    "their traffic to meshd: GET /v1/telemetry and /metrics show each virtual node's requests, 5xx and latency.",
  ],
};

/** The admin port's connection and time limits. */
function httpLimits(args: ParsedArgs): HttpLimits {
  return {
    maxConnections: args.flags['admin-max-connections'] as number,
    requestTimeoutMs: args.flags['admin-request-timeout-ms'] as number,
    idleTimeoutMs: args.flags['admin-idle-timeout-ms'] as number,
  };
}

/** A `key:secret` flag (`--cloud-map-credentials`, `--api-credentials`), checked; undefined when not set. */
function credentialsFlag(args: ParsedArgs, name: string): Credentials | undefined {
  const text = args.flags[name] as string | undefined;
  if (text === undefined) return undefined;
  const parsed = parseCredentials(text);
  if ('error' in parsed) throw new UsageError(`${args.sources[name] ?? `--${name}`}: ${parsed.error}`);
  return parsed;
}

/** The App Mesh API's settings from the `--api-*` flags, checked (a UsageError names the flag or variable). */
export function apiSettings(
  args: ParsedArgs,
  meshPaths: readonly string[],
): { dir: string; credentials?: Credentials; accountId: string; region: string; maxResourcesPerMesh?: number } {
  const flag = (name: string) => args.sources[name] ?? `--${name}`;
  const credentials = credentialsFlag(args, 'api-credentials');
  const accountId = args.flags['api-account-id'] as string;
  if (!/^\d{12}$/.test(accountId))
    throw new UsageError(`${flag('api-account-id')} must be 12 digits, got '${accountId}'`);
  const region = args.flags['api-region'] as string;
  if (!/^[a-z0-9-]{1,64}$/.test(region))
    throw new UsageError(`${flag('api-region')} must be an AWS region such as us-east-1, got '${region}'`);
  const dir = (args.flags['api-dir'] as string | undefined) ?? defaultApiDir(meshPaths);
  if (dir === '') throw new UsageError(`${flag('api-dir')} must name a folder`);
  const max = args.flags['api-max-resources-per-mesh'] as number | undefined;
  return {
    dir,
    ...(credentials ? { credentials } : {}),
    accountId,
    region,
    ...(max !== undefined ? { maxResourcesPerMesh: max } : {}),
  };
}

/** A duration flag's value in ms, within [min, max]; a UsageError naming the flag (or its variable) otherwise. */
function durationFlag(
  args: ParsedArgs,
  name: string,
  min: number,
  max: number,
  range: string,
  example: string,
): number {
  const text = args.flags[name] as string;
  const ms = parseDuration(text);
  if (ms === undefined || ms < min || ms > max)
    throw new UsageError(
      `${args.sources[name] ?? `--${name}`} must be a duration from ${range} such as ${example}, got '${text}'`,
    );
  return ms;
}

/** The CA's files and settings (docs/identity.md). */
function identitySettings(
  args: ParsedArgs,
  advertiseHost: string | undefined,
): NonNullable<MeshServerOptions['identity']> {
  const flag = (name: string) => args.sources[name] ?? `--${name}`;
  const stateDir = path.dirname(args.flags['rollout-state'] as string);
  const files = defaultIdentityFiles(stateDir);
  const caCert = args.flags['ca-cert'] as string | undefined;
  const caKey = args.flags['ca-key'] as string | undefined;
  const caChain = args.flags['ca-chain'] as string | undefined;
  if ((caCert === undefined) !== (caKey === undefined))
    throw new UsageError(`${flag('ca-cert')} and ${flag('ca-key')} go together: give both, or neither`);
  if (caChain !== undefined && caCert === undefined)
    throw new UsageError(`${flag('ca-chain')} needs ${flag('ca-cert')}`);
  const names = (args.flags['xds-tls-names'] as string[] | undefined) ?? [];
  const defaults = ['localhost', '127.0.0.1', '::1', os.hostname(), ...(advertiseHost ? [advertiseHost] : [])];
  const all = [...new Set(names.length > 0 ? names : defaults)];
  const isIp = (name: string) => net.isIP(name) !== 0;
  return {
    stateFile: files.stateFile,
    ...(args.flags['ca-key-file'] !== undefined ? { keyFile: args.flags['ca-key-file'] as string } : {}),
    ...(caCert !== undefined && caKey !== undefined
      ? { userCa: { certFile: caCert, keyFile: caKey, ...(caChain !== undefined ? { chainFile: caChain } : {}) } }
      : {}),
    workloadTtlMs: durationFlag(args, 'workload-cert-ttl', 60_000, 366 * 86_400_000, '1m to 8784h', '24h'),
    overlapMs: durationFlag(args, 'ca-rotation-overlap', 30_000, 366 * 86_400_000, '30s to 8784h', '24h'),
    serverNames: { dnsNames: all.filter((n) => !isIp(n)), ipAddresses: all.filter(isIp) },
    xdsTls: args.flags['xds-tls'] === true,
  };
}

/** The admin token from --admin-token-file (MESHD_ADMIN_TOKEN_FILE); undefined when not set. */
function adminToken(args: ParsedArgs): string | undefined {
  const file = args.flags['admin-token-file'] as string | undefined;
  if (file === undefined) return undefined;
  try {
    return readAdminTokenFile(file);
  } catch (err) {
    throw new UsageError(`${args.sources['admin-token-file'] ?? '--admin-token-file'}: ${(err as Error).message}`);
  }
}

/**
 * The credentials a non-loopback admin address needs and lacks, as flags: meshd refuses to start without them
 * (unless --insecure-admin), so that a meshd reachable from a network is never writable by omission.
 */
export function missingAdminCredentials(flags: {
  adminHost: string;
  token: boolean;
  apiCredentials: boolean;
  cloudMapCredentials: boolean;
}): string[] {
  if (isLoopbackAddress(flags.adminHost)) return [];
  return [
    ...(flags.token ? [] : ['--admin-token-file']),
    ...(flags.apiCredentials ? [] : ['--api-credentials']),
    ...(flags.cloudMapCredentials ? [] : ['--cloud-map-credentials']),
  ];
}

/** --statsd-allow, or its default for the statsd address. */
function statsdAllow(args: ParsedArgs, statsdHost: string): StatsdAllow {
  const items = args.flags['statsd-allow'] as string[];
  if (items.length === 0) return isLoopbackAddress(statsdHost) ? STATSD_ALLOW_ANY : STATSD_ALLOW_CONNECTED;
  const parsed = parseStatsdAllow(items);
  if ('error' in parsed) throw new UsageError(`${args.sources['statsd-allow'] ?? '--statsd-allow'} ${parsed.error}`);
  return parsed;
}

/** The remote Cloud Map's settings, or undefined in local mode (where its flags are refused). */
function remoteSettings(args: ParsedArgs): RemoteSettings | undefined {
  const flag = (name: string) => args.sources[name] ?? `--${name}`;
  const mode = args.flags['cloud-map'] as string;
  if (mode !== 'local' && mode !== 'remote')
    throw new UsageError(`${flag('cloud-map')} must be local or remote, got '${mode}'`);
  const endpoint = args.flags['cloud-map-endpoint'] as string | undefined;
  const region = args.flags['cloud-map-region'] as string | undefined;
  if (mode === 'local') {
    const stray = (['cloud-map-endpoint', 'cloud-map-region'] as const).find((name) => args.flags[name] !== undefined);
    if (stray) throw new UsageError(`${flag(stray)} is for the remote Cloud Map: add --cloud-map remote`);
    return undefined;
  }
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      throw new UsageError(
        `${flag('cloud-map-endpoint')} must be an http or https URL such as http://127.0.0.1:18001, got '${endpoint}'`,
      );
  }
  if (region !== undefined && !/^[a-z0-9-]{1,64}$/.test(region))
    throw new UsageError(`${flag('cloud-map-region')} must be a region name such as us-east-1, got '${region}'`);
  return {
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(region !== undefined ? { region } : {}),
    pollIntervalMs: durationFlag(args, 'cloud-map-poll-interval', 100, 600_000, '100ms to 10m', '5s'),
    refreshIntervalMs: durationFlag(args, 'cloud-map-refresh-interval', 100, 3_600_000, '100ms to 1h', '5s'),
    timeoutMs: durationFlag(args, 'cloud-map-timeout', 100, 60_000, '100ms to 1m', '5s'),
    maxInstances: args.flags['cloud-map-max-instances'] as number,
  };
}

function telemetryLimits(args: ParsedArgs): TelemetryLimits {
  return {
    maxDatagramBytes: args.flags['statsd-max-datagram-bytes'] as number,
    maxLinesPerDatagram: args.flags['statsd-max-lines'] as number,
    maxTagsPerLine: args.flags['statsd-max-tags'] as number,
    maxNodes: args.flags['telemetry-max-nodes'] as number,
    maxLatencyBuckets: args.flags['telemetry-max-buckets'] as number,
  };
}

/** --prometheus-url, checked: http or https, a host, no query. */
function prometheusClient(args: ParsedArgs): PrometheusClient | undefined {
  const url = args.flags['prometheus-url'] as string | undefined;
  if (url === undefined) {
    if (args.flags['prometheus-bearer-token-file'] !== undefined)
      throw new UsageError(
        `${args.sources['prometheus-bearer-token-file'] ?? '--prometheus-bearer-token-file'} needs --prometheus-url`,
      );
    return undefined;
  }
  const flag = args.sources['prometheus-url'] ?? '--prometheus-url';
  const problem = prometheusUrlProblem(url);
  // The URL itself is not repeated: it may hold a password.
  if (problem) throw new UsageError(`${flag} ${problem}`);
  const bearerTokenFile = args.flags['prometheus-bearer-token-file'] as string | undefined;
  try {
    return new PrometheusClient(url, bearerTokenFile !== undefined ? { bearerTokenFile } : {});
  } catch (err) {
    throw new UsageError(
      `${args.sources['prometheus-bearer-token-file'] ?? '--prometheus-bearer-token-file'}: ${(err as Error).message}`,
    );
  }
}

function webhookPolicy(args: ParsedArgs): WebhookPolicy {
  const flag = (name: string) => args.sources[name] ?? `--${name}`;
  const maxTimeoutMs = durationFlag(args, 'webhook-max-timeout', 1000, 300_000, '1s to 5m', '30s');
  const allow = args.flags['webhook-allow'] as string[];
  let allowHosts;
  if (allow.length > 0) {
    const parsed = parseAllowedHosts(allow.flatMap((a) => a.split(',')).filter((a) => a.trim() !== ''));
    if ('error' in parsed) throw new UsageError(`${flag('webhook-allow')}: ${parsed.error}`);
    allowHosts = parsed.hosts;
  }
  return {
    maxTimeoutMs,
    maxBodyBytes: args.flags['webhook-max-body-bytes'] as number,
    ...(allowHosts ? { allowHosts } : {}),
  };
}

/** --kubernetes and the flags that only mean something with it; --replica-id and --leader-lease serve its Lease. */
function kubernetesSettings(
  args: ParsedArgs,
  account: { readonly accountId: string; readonly region: string },
): KubernetesModeOptions | undefined {
  const flag = (name: string) => args.sources[name] ?? `--${name}`;
  if (args.flags.kubernetes !== true) {
    // KUBECONFIG set in the environment alone says nothing: only flags given on the command line are refused.
    for (const name of ['kube-context', 'kubernetes-namespace', 'kubernetes-endpoints', 'webhook-port']) {
      const given = args.flags[name];
      if (given !== undefined && given !== false) throw new UsageError(`${flag(name)} needs --kubernetes`);
    }
    return undefined;
  }
  if (args.flags.store !== undefined)
    throw new UsageError(
      `${flag('store')} cannot be combined with --kubernetes: in a cluster the replicas share the Kubernetes API and elect their leader with a Lease`,
    );
  const replicaId = (args.flags['replica-id'] as string | undefined) ?? process.env.POD_NAME ?? defaultReplicaId();
  if (!/^[A-Za-z0-9._-]{1,63}$/.test(replicaId))
    throw new UsageError(
      `${flag('replica-id')} must be 1 to 63 letters, digits, '.', '_' or '-', got '${replicaId.slice(0, 80)}'`,
    );
  const namespace = args.flags['kubernetes-namespace'] as string | undefined;
  if (namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace))
    throw new UsageError(
      `${flag('kubernetes-namespace')} must be a Kubernetes namespace name, got '${namespace.slice(0, 80)}'`,
    );
  const leaseText = args.flags['leader-lease'] as string;
  const leaseMs = parseDuration(leaseText);
  if (leaseMs === undefined || leaseMs < 3000 || leaseMs > 60_000)
    throw new UsageError(
      `${flag('leader-lease')} must be a duration from 3s to 60s with --kubernetes, got '${leaseText}'`,
    );
  // A Lease counts whole seconds: renewals come well inside it, as client-go's defaults do (15s, 10s, 2s).
  const durationSeconds = Math.ceil(leaseMs / 1000);
  const kubeconfig = args.flags.kubeconfig as string | undefined;
  const context = args.flags['kube-context'] as string | undefined;
  const webhookPort = (args.flags['webhook-port'] as number | undefined) ?? 0;
  const names = args.flags['webhook-names'] as string[] | undefined;
  const sidecarXds = args.flags['sidecar-xds-address'] as string | undefined;
  const webhook: KubernetesModeOptions['webhook'] =
    webhookPort > 0
      ? {
          port: webhookPort,
          host: args.flags['webhook-address'] as string,
          ...(names ? { names } : {}),
          xdsPort: args.flags['xds-port'] as number,
          injection: {
            envoyImage: args.flags['sidecar-image'] as string,
            proxyInitImage: args.flags['proxy-init-image'] as string,
            meshdImage: args.flags['meshd-image'] as string,
            ...(sidecarXds !== undefined ? { xdsAddress: sidecarXds } : {}),
          },
        }
      : undefined;
  return {
    replicaId,
    account: { accountId: account.accountId, region: account.region },
    ...(args.flags['kubernetes-endpoints'] === true ? { endpoints: true } : {}),
    ...(webhook ? { webhook } : {}),
    lease: {
      durationSeconds,
      renewDeadlineSeconds: Math.max(2, Math.floor((durationSeconds * 2) / 3)),
      retryPeriodSeconds: Math.max(1, Math.floor(durationSeconds / 5)),
    },
    ...(kubeconfig !== undefined && kubeconfig !== '' ? { kubeconfig: kubeconfig.split(path.delimiter)[0]! } : {}),
    ...(context !== undefined ? { context } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
  };
}

/** --store and the flags that only mean something with it. */
function fleetSettings(
  args: ParsedArgs,
): { url: string; replicaId?: string; leaseTtlMs: number; advertiseHost: string; version: string } | undefined {
  const flag = (name: string) => args.sources[name] ?? `--${name}`;
  const url = args.flags.store as string | undefined;
  const replicaId = args.flags['replica-id'] as string | undefined;
  if (url === undefined) {
    for (const name of ['replica-id', 'advertise-address']) {
      if (args.flags[name] !== undefined) throw new UsageError(`${flag(name)} needs --store (a fleet's PostgreSQL)`);
    }
    return undefined;
  }
  try {
    checkStoreUrl(url);
  } catch (err) {
    throw new UsageError(`${flag('store')}: ${(err as Error).message.replace(/^--store /, '')}`);
  }
  if (replicaId !== undefined && !/^[A-Za-z0-9._-]{1,63}$/.test(replicaId))
    throw new UsageError(
      `${flag('replica-id')} must be 1 to 63 letters, digits, '.', '_' or '-', got '${replicaId.slice(0, 80)}'`,
    );
  const leaseText = args.flags['leader-lease'] as string;
  const leaseTtlMs = parseDuration(leaseText);
  if (leaseTtlMs === undefined || leaseTtlMs < 1000 || leaseTtlMs > 60_000)
    throw new UsageError(`${flag('leader-lease')} must be a duration from 1s to 60s such as 5s, got '${leaseText}'`);
  const advertiseHost = (args.flags['advertise-address'] as string | undefined) ?? os.hostname();
  if (/[\s/@]/.test(advertiseHost) || advertiseHost === '')
    throw new UsageError(`${flag('advertise-address')} must be a host name or address, got '${advertiseHost}'`);
  const version = meshdVersion();
  return {
    url,
    ...(replicaId !== undefined ? { replicaId } : {}),
    leaseTtlMs,
    advertiseHost,
    version: version.ok ? version.version : '',
  };
}

export async function runServe(args: ParsedArgs): Promise<number> {
  const paths = [...(args.flags.mesh as string[]), ...args.positionals];
  if (paths.length === 0 && args.flags.kubernetes !== true)
    throw new UsageError(
      'name the mesh with --mesh <file|folder> (for example: --mesh examples/quickstart/mesh), or read it from a cluster with --kubernetes',
    );
  const format = args.flags['log-format'] as string;
  const level = args.flags['log-level'] as string;
  if (!(LOG_FORMATS as readonly string[]).includes(format))
    throw new UsageError(`--log-format must be ${LOG_FORMATS.join(' or ')}, got '${format}'`);
  if (!(LOG_LEVELS as readonly string[]).includes(level))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got '${level}'`);
  if ((args.flags['debounce-ms'] as number) < 0) throw new UsageError('--debounce-ms must be 0 or more');
  const adminLimits = httpLimits(args);
  if ((args.flags['watch-interval-ms'] as number) < 10) throw new UsageError('--watch-interval-ms must be 10 or more');
  const credentials = credentialsFlag(args, 'cloud-map-credentials');
  const api = apiSettings(args, paths);
  const remoteWanted = remoteSettings(args);
  const limits = telemetryLimits(args);
  const webhooks = new WebhookCaller(webhookPolicy(args));
  const prometheus = prometheusClient(args);
  const telemetryWindow = parseWindow(args.flags['telemetry-window'] as string);
  if ('error' in telemetryWindow)
    throw new UsageError(`${args.sources['telemetry-window'] ?? '--telemetry-window'} ${telemetryWindow.error}`);
  const log = createLogger({ format: format as LogFormat, level: level as LogLevel });

  const xdsHost = args.flags['xds-address'] as string;
  const adminHost = args.flags['admin-address'] as string;
  const token = adminToken(args);
  const missing = missingAdminCredentials({
    adminHost,
    token: token !== undefined,
    apiCredentials: api.credentials !== undefined,
    cloudMapCredentials: credentials !== undefined,
  });
  if (missing.length > 0 && args.flags['insecure-admin'] !== true)
    throw new UsageError(
      `the admin address ${adminHost} is not loopback: set ${missing.join(', ')} (or --admin-address 127.0.0.1), or accept an admin port whose writes without their credential are refused and whose reads are open with --insecure-admin`,
    );
  if (missing.includes('--admin-token-file'))
    log.warn(
      `--insecure-admin: the admin address ${adminHost} is not loopback and --admin-token-file is not set: every admin write (POST /v1/rollouts...) is refused (403) until it is, and the reads (/v1/config, /v1/proxies, /metrics) are open to whoever reaches it`,
    );
  if (missing.includes('--api-credentials'))
    log.warn(
      `the admin address ${adminHost} is not loopback and --api-credentials is not set: every App Mesh API call is refused (403 ForbiddenException) until it is`,
    );
  if (missing.includes('--cloud-map-credentials'))
    log.warn(
      `the admin address ${adminHost} is not loopback and --cloud-map-credentials is not set: every Cloud Map API call is refused (403 ForbiddenException) until it is`,
    );
  const statsdHost = (args.flags['statsd-address'] as string | undefined) ?? adminHost;
  const allow = statsdAllow(args, statsdHost);
  // An explicit choice: warned, not refused (the default beyond loopback is `connected`).
  if (allow.any && !isLoopbackAddress(statsdHost))
    log.warn(
      `the statsd address ${statsdHost} is not loopback and --statsd-allow is any: whoever can send it UDP can report traffic that canary analysis acts on`,
    );
  const kubernetes = kubernetesSettings(args, api);
  const fleet = kubernetes ? undefined : fleetSettings(args);
  const identity = identitySettings(args, fleet?.advertiseHost);
  let server: MeshServer;
  try {
    server = await MeshServer.open({
      resourceYaml: (resource) => dumpYaml(nativeDocument(resource)),
      paths,
      load: { ...loadOptions(args), ...(prometheus ? {} : { noPrometheus: true }) },
      log,
      xds: { host: xdsHost, port: args.flags['xds-port'] as number, limits: xdsLimits(args) },
      admin: {
        host: adminHost,
        port: args.flags['admin-port'] as number,
        limits: adminLimits,
        ...(token !== undefined ? { token } : {}),
      },
      statsd: { host: statsdHost, port: args.flags['statsd-port'] as number, allow },
      watch: {
        debounceMs: args.flags['debounce-ms'] as number,
        checkIntervalMs: args.flags['watch-interval-ms'] as number,
      },
      cloudMap: {
        statePath: args.flags['cloud-map-state'] as string,
        journalBytes: args.flags['cloud-map-journal-bytes'] as number,
        allowAnyAddress: args.flags['cloud-map-allow-any-address'] === true,
        ...(credentials ? { credentials } : {}),
        ...(remoteWanted ? { remote: remoteWanted } : {}),
      },
      telemetry: { limits, windowMs: telemetryWindow.ms },
      rollouts: { statePath: args.flags['rollout-state'] as string, webhooks, ...(prometheus ? { prometheus } : {}) },
      api,
      identity,
      ...(kubernetes ? { kubernetes } : {}),
      ...(fleet
        ? {
            fleet: {
              ...fleet,
              advertise: {
                xds: `${fleet.advertiseHost}:${args.flags['xds-port'] as number}`,
                admin: `${fleet.advertiseHost}:${args.flags['admin-port'] as number}`,
              },
            },
          }
        : {}),
    });
    await server.start();
  } catch (err) {
    if (!(err instanceof StartError)) throw err;
    log.error(`cannot start: ${err.message}`);
    return 1;
  }

  const { xdsPort, adminPort, statsd } = server.listening;
  // An address a sidecar on this machine can dial: loopback for a wildcard, brackets for IPv6 (bootstrap's host:port).
  const xdsDialled = xdsHost === '0.0.0.0' || xdsHost === '::' ? '127.0.0.1' : xdsHost;
  const xdsShown = `${xdsDialled.includes(':') ? `[${xdsDialled}]` : xdsDialled}:${xdsPort}`;
  // The bootstrap flags that point a sidecar's DogStatsD sink here (bootstrap's defaults left out).
  const statsdShown = statsd.address === '0.0.0.0' || statsd.address === '::' ? '127.0.0.1' : statsd.address;
  const statsdFlags = [
    '--dog-statsd',
    ...(statsdShown === '127.0.0.1' ? [] : ['--statsd-address', statsdShown]),
    ...(statsd.port === 8125 ? [] : ['--statsd-port', String(statsd.port)]),
  ];
  // Nodes that call other services first: they are the interesting ones to attach an Envoy to; gateways last.
  const model = server.currentModel();
  const virtualNodes = model?.virtualNodes() ?? [];
  const hasBackends = (n: (typeof virtualNodes)[number]) => (n.spec.backends ?? []).length > 0;
  const nodes = [
    ...[...virtualNodes.filter(hasBackends), ...virtualNodes.filter((n) => !hasBackends(n))].map((n) =>
      formatNodeId({ mesh: n.mesh, type: 'virtualNode', name: n.name }),
    ),
    ...(model?.virtualGateways() ?? []).map((g) =>
      formatNodeId({ mesh: g.mesh, type: 'virtualGateway', name: g.name }),
    ),
  ];
  process.stdout.write(
    [
      servingLine(
        kubernetes ? [...paths, 'the Kubernetes cluster'] : paths,
        server.missingPaths(),
        model !== undefined,
      ),
      `  xDS (ADS gRPC):  ${xdsHost}:${xdsPort}`,
      `  admin API:       http://${adminHost}:${adminPort}/v1/proxies`,
      ...(fleet
        ? [
            `  fleet:           replica ${server.replicaId ?? '?'} on ${redactedUrl(fleet.url)} (http://${adminHost}:${adminPort}/v1/replicas; meshd status)`,
          ]
        : []),
      ...(server.kube
        ? [
            `  kubernetes:      replica ${kubernetes?.replicaId ?? '?'} in namespace ${server.kube.namespace} (Lease meshd-leader; status and rollouts by its holder)`,
            ...(server.kube.webhookPort !== undefined
              ? [
                  `  injection webhook: https://${kubernetes?.webhook?.host ?? ''}:${server.kube.webhookPort}/mutate-pod`,
                ]
              : []),
          ]
        : []),
      `  Cloud Map API:   http://${adminHost}:${adminPort}/ (registry: ${fleet ? "the fleet's store" : (args.flags['cloud-map-state'] as string)})`,
      ...(remoteWanted
        ? [
            `  remote Cloud Map: ${remoteWanted.endpoint ?? 'AWS'}, polled every ${formatDuration(remoteWanted.pollIntervalMs)} (http://${adminHost}:${adminPort}/v1/cloud-map/remote)`,
          ]
        : []),
      `  telemetry (DogStatsD): udp://${statsd.address.includes(':') ? `[${statsd.address}]` : statsd.address}:${statsd.port} (senders: ${describeStatsdAllow(allow)}; window ${formatDuration(telemetryWindow.ms)}: http://${adminHost}:${adminPort}/v1/telemetry)`,
      `  rollouts:        http://${adminHost}:${adminPort}/v1/rollouts (state: ${fleet ? "the fleet's store, steps by its leader" : (args.flags['rollout-state'] as string)}; meshd rollout status)`,
      `  console:         http://${adminHost}:${adminPort}/ui/`,
      `  node ids:        ${nodes.length ? nodes.join('\n                   ') : '(none yet)'}`,
      ...attachEnvoyLines(
        nodes[0] ?? 'mesh/<mesh>/virtualNode/<name>',
        xdsShown,
        statsdFlags,
        undefined,
        identity.xdsTls
          ? { admin: `${adminHost === '0.0.0.0' || adminHost === '::' ? '127.0.0.1' : adminHost}:${adminPort}` }
          : undefined,
      ),
      '',
    ].join('\n'),
  );

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  log.info('shutting down');
  await server.close();
  return 0;
}

/** The banner's first line: what meshd serves, or the mesh paths it waits for (it loads them once they appear). */
function servingLine(paths: readonly string[], missing: readonly string[], serving: boolean): string {
  if (missing.length === 0) {
    return serving
      ? `meshd is serving ${paths.join(' ')}`
      : `meshd is waiting for a valid mesh in ${paths.join(' ')}; nothing is served until the files load without errors (the log says what is wrong)`;
  }
  const named =
    missing.length === 1 ? missing[0]! : `${missing.slice(0, -1).join(', ')} and ${missing[missing.length - 1]!}`;
  const they = missing.length === 1 ? 'it does' : 'they do';
  return serving
    ? `meshd is serving the last good mesh and waiting for ${named} to appear`
    : `meshd is waiting for ${named} to appear; nothing is served until ${they} and the mesh is valid`;
}
