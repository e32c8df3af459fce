// The Envoy bootstrap that attaches a proxy to meshd: resolved parameters → template values
// → YAML. `meshd bootstrap` renders it here; envoy-bootstrap/render-bootstrap.sh renders the
// same bytes inside the stock Envoy image from the same template.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NodeIdentity } from '../model/node-id';
import { fillTemplate, type TemplateValue } from './template';
import type { BootstrapTracing } from './tracing';
import type { XdsAddress } from './xds-addresses';

export const TEMPLATE_PATH = path.resolve(__dirname, '../../envoy-bootstrap/bootstrap.yaml');

export interface BootstrapParams {
  nodeId: string;
  node: NodeIdentity;
  cluster: string;
  /** meshd's replicas: one endpoint each in the meshd_xds cluster (a DNS name, one per A record). */
  xds: XdsAddress[];
  ads: 'sotw' | 'delta';
  adminAddress: string;
  adminPort: number;
  /**
   * A file for the admin interface's access log, or none. App Mesh's image defaulted to
   * /tmp/envoy_admin_access.log inside its container; on a shared host that one file, made by
   * the first Envoy, stops every Envoy of another user from starting (Permission denied), so
   * meshd bootstrap writes it only when asked (the container entrypoint keeps App Mesh's default).
   */
  adminAccessLog?: string;
  /** A file for outlier ejection events (ENVOY_OUTLIER_DETECTION_EVENT_LOG_PATH), or none. */
  outlierEventLog?: string;
  ingressPort: number;
  egressPort: number;
  /** How long Envoy waits for meshd's first answer, in seconds; 0 waits for ever. */
  initialFetchTimeoutSeconds: number;
  /** The appmesh.mesh and appmesh.virtual_node (or virtual_gateway) tags on every stat. */
  statsTags: boolean;
  /** Envoy's stats_flush_interval in milliseconds, or Envoy's default (5 s). */
  statsFlushIntervalMs?: number;
  /** A DogStatsD sink: UDP to address:port, or a Unix socket when socketPath is set. */
  dogStatsd?: { address: string; port: number; socketPath?: string };
  /**
   * TLS on the meshd_xds cluster, from files (Envoy cannot use ADS-delivered secrets on a
   * bootstrap cluster): the CA bundle meshd's certificate must chain to, the DNS name it must
   * carry (also the SNI), and this proxy's own certificate and key for mTLS.
   */
  xdsTls?: { caFile: string; serverName?: string; clientCert?: { certFile: string; keyFile: string } };
  /** A join token (a JWT, checked by joinToken()), sent as `authorization: Bearer <token>`. */
  token?: string;
  /** App Mesh's SPIRE convention: the static_cluster_sds_unix_socket cluster on this socket. */
  sdsSocketPath?: string;
  /** The tracer from App Mesh's tracing variables (src/bootstrap/tracing.ts), or none. */
  tracing?: BootstrapTracing;
  /** App Mesh settings this Envoy cannot honour, reported on stderr. */
  notes: string[];
}

/** Milliseconds as a protobuf Duration string: 5000 → "5s", 1500 → "1.5s". */
export function durationString(ms: number): string {
  const whole = Math.floor(ms / 1000);
  const fraction = String(ms % 1000)
    .padStart(3, '0')
    .replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}s` : `${whole}s`;
}

function templateValues(p: BootstrapParams): Record<string, TemplateValue> {
  const statsd = p.dogStatsd;
  return {
    NODE_ID: p.nodeId,
    NODE_CLUSTER: p.cluster,
    INGRESS_PORT: String(p.ingressPort),
    EGRESS_PORT: String(p.egressPort),
    ADMIN_ADDRESS: p.adminAddress,
    ADMIN_PORT: p.adminPort,
    ADMIN_IPV4: !p.adminAddress.includes(':'),
    ADMIN_IPV6: p.adminAddress.includes(':'),
    ADMIN_ACCESS_LOG: p.adminAccessLog,
    OUTLIER_EVENT_LOG: p.outlierEventLog,
    ADS_API_TYPE: p.ads === 'delta' ? 'DELTA_GRPC' : 'GRPC',
    INITIAL_FETCH_TIMEOUT: `${p.initialFetchTimeoutSeconds}s`,
    // Envoy looks names up (every A record is an endpoint, refreshed every 5 s); IPs need no lookup.
    XDS_CLUSTER_TYPE: p.xds.some((a) => a.isName) ? 'STRICT_DNS' : 'STATIC',
    XDS_LB_ENDPOINTS: {
      yaml: p.xds
        .map(
          (a) =>
            `- endpoint: { address: { socket_address: { address: ${JSON.stringify(a.host)}, port_value: ${a.port} } } }`,
        )
        .join('\n'),
    },
    XDS_AUTHORIZATION: p.token === undefined ? undefined : `Bearer ${p.token}`,
    XDS_TLS: p.xdsTls !== undefined,
    XDS_CA_FILE: p.xdsTls?.caFile,
    XDS_SERVER_NAME: p.xdsTls?.serverName,
    XDS_CLIENT_CERT: p.xdsTls?.clientCert !== undefined,
    XDS_CERT_FILE: p.xdsTls?.clientCert?.certFile,
    XDS_KEY_FILE: p.xdsTls?.clientCert?.keyFile,
    SDS_SOCKET_PATH: p.sdsSocketPath,
    STATS_TAGS: p.statsTags,
    STATS_TAG_MESH: p.node.mesh,
    STATS_TAG_RESOURCE: p.node.type === 'virtualGateway' ? 'appmesh.virtual_gateway' : 'appmesh.virtual_node',
    STATS_TAG_NAME: p.node.name,
    STATS_FLUSH_INTERVAL: p.statsFlushIntervalMs === undefined ? undefined : durationString(p.statsFlushIntervalMs),
    DOG_STATSD_UDP: statsd !== undefined && statsd.socketPath === undefined,
    DOG_STATSD_SOCKET: statsd?.socketPath !== undefined,
    STATSD_ADDRESS: statsd?.address,
    STATSD_PORT: statsd?.port,
    STATSD_SOCKET_PATH: statsd?.socketPath,
    ...tracingValues(p.tracing),
  };
}

function tracingValues(t: BootstrapTracing | undefined): Record<string, TemplateValue> {
  const xray = t?.kind === 'xray' ? t : undefined;
  const zipkin = t?.kind === 'zipkin' ? t : undefined;
  const datadog = t?.kind === 'datadog' ? t : undefined;
  const file = t?.kind === 'file' ? t : undefined;
  const lines = (text: string | undefined) => (text === undefined ? undefined : { yaml: text });
  return {
    XRAY: xray !== undefined,
    XRAY_SEGMENT_NAME: xray?.segmentName,
    // Envoy's X-Ray tracer reads `address:port`: an IPv6 host bare there makes Envoy 1.40 crash
    // on the first traced request; in brackets it is read (and segments arrive).
    XRAY_ADDRESS: xray === undefined ? undefined : xray.address.includes(':') ? `[${xray.address}]` : xray.address,
    XRAY_PORT: xray?.port,
    TRACING_MESH: xray?.mesh,
    TRACING_NODE: xray?.node,
    XRAY_SAMPLING_FILE: xray?.samplingFile,
    XRAY_SAMPLING_RULES: xray?.samplingRules,
    JAEGER: zipkin !== undefined,
    JAEGER_ADDRESS: zipkin?.address,
    JAEGER_PORT: zipkin?.port,
    JAEGER_VERSION: zipkin?.version,
    DATADOG: datadog !== undefined,
    DATADOG_ADDRESS: datadog?.address,
    DATADOG_PORT: datadog?.port,
    DATADOG_SERVICE: datadog?.serviceName,
    TRACING_CFG: lines(file?.tracing),
    TRACING_CFG_CLUSTERS: lines(file?.clusters),
  };
}

export function renderBootstrap(p: BootstrapParams, template = fs.readFileSync(TEMPLATE_PATH, 'utf8')): string {
  return fillTemplate(template, templateValues(p));
}
