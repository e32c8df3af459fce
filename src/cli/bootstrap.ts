// `meshd bootstrap`: the Envoy bootstrap that attaches a proxy to meshd, from flags or from
// App Mesh's environment variables (each flag names its variables). The same rules, in sh,
// render the bootstrap inside the stock Envoy image: envoy-bootstrap/render-bootstrap.sh.
import { ignoredVariableReport } from '../bootstrap/appmesh-variables';
import { renderBootstrap, type BootstrapParams } from '../bootstrap/render';
import { RUNTIME_TOGGLES, unhonouredToggles } from '../bootstrap/runtime';
import { checkJoinToken, readJoinTokenFile } from '../bootstrap/join-token';
import { bootstrapTracing, tracerPort, type TracingInput } from '../bootstrap/tracing';
import { isDnsName, MAX_XDS_ADDRESSES, parseXdsAddresses } from '../bootstrap/xds-addresses';
import { DEFAULT_EGRESS_PORT, DEFAULT_INGRESS_PORT } from '../compile/defaults';
import { parseDuration } from '../util/duration';
import { parseNodeId } from '../model/node-id';
import { parseGoBool, UsageError, type CommandSpec, type Env, type ParsedArgs } from './args';

export const bootstrapCommand: CommandSpec = {
  name: 'bootstrap',
  summary: 'print an Envoy bootstrap (YAML) that connects a proxy to meshd',
  usage: 'meshd bootstrap [--node <node-id>] [--xds-address host:port[,host:port...]] [flags]',
  flags: {
    node: {
      type: 'string',
      metavar: 'node-id',
      help: 'mesh/<mesh>/virtualNode/<name>, mesh/<mesh>/virtualGateway/<name> or their ARN',
      env: ['APPMESH_RESOURCE_ARN', 'APPMESH_RESOURCE_NAME', 'APPMESH_VIRTUAL_NODE_NAME'],
    },
    cluster: {
      type: 'string',
      help: 'node.cluster (default: the node id)',
      env: ['APPMESH_RESOURCE_CLUSTER', 'APPMESH_VIRTUAL_NODE_CLUSTER'],
    },
    'xds-address': {
      type: 'string',
      metavar: 'host:port[,...]',
      help: `meshd's xDS address, or the addresses of a fleet of meshd replicas separated by commas (at most ${MAX_XDS_ADDRESSES}); a host is an IPv4 address, an [IPv6] address or a DNS name, whose A records are all used`,
      default: '127.0.0.1:18000',
      env: ['MESHD_XDS_ADDRESS'],
    },
    ads: {
      type: 'string',
      metavar: 'sotw|delta',
      help: 'ADS flavour: sotw (state of the world) or delta (incremental)',
      default: 'sotw',
      env: ['MESHD_ADS_PROTOCOL'],
    },
    'admin-address': {
      type: 'string',
      metavar: 'ip',
      help: "Envoy's admin address (default 0.0.0.0, or :: with --admin-ipv6)",
    },
    'admin-ipv6': {
      type: 'bool',
      help: 'admin interface on :: (IPv6 and IPv4)',
      env: ['ENVOY_ADMIN_ACCESS_ENABLE_IPV6'],
    },
    'admin-port': { type: 'int', min: 1, help: "Envoy's admin port", default: 9901, env: ['ENVOY_ADMIN_ACCESS_PORT'] },
    'admin-access-log': {
      type: 'string',
      metavar: 'file',
      help: "access log of Envoy's admin interface (default: none; App Mesh's container image, and meshd's entrypoint, log to envoy_admin_access.log in the temporary folder)",
      env: ['ENVOY_ADMIN_ACCESS_LOG_FILE'],
    },
    'outlier-event-log': {
      type: 'string',
      metavar: 'file',
      help: "log of Envoy's outlier ejections (cluster_manager.outlier_detection.event_log_path; default: none)",
      env: ['ENVOY_OUTLIER_DETECTION_EVENT_LOG_PATH'],
    },
    'ingress-port': {
      type: 'int',
      min: 1,
      help: 'ingress listener port',
      default: DEFAULT_INGRESS_PORT,
      env: ['APPMESH_ENVOY_INGRESS_PORT'],
    },
    'egress-port': {
      type: 'int',
      min: 1,
      help: 'egress listener port',
      default: DEFAULT_EGRESS_PORT,
      env: ['APPMESH_ENVOY_EGRESS_PORT'],
    },
    'initial-fetch-timeout': {
      type: 'int',
      metavar: 'seconds',
      help: "how long Envoy waits for meshd's first answer; 0 waits for ever",
      default: 0,
      env: ['ENVOY_INITIAL_FETCH_TIMEOUT'],
    },
    'stats-tags': {
      type: 'bool',
      help: 'tag every stat with appmesh.mesh and appmesh.virtual_node (or appmesh.virtual_gateway)',
      env: ['ENABLE_ENVOY_STATS_TAGS'],
    },
    'stats-flush-interval': {
      type: 'string',
      metavar: 'duration',
      help: "how often stats go to the sinks, e.g. 10s or 5000ms (default: Envoy's, 5s)",
      env: ['ENVOY_STATS_FLUSH_INTERVAL'],
    },
    'dog-statsd': { type: 'bool', help: 'send stats to a DogStatsD agent', env: ['ENABLE_ENVOY_DOG_STATSD'] },
    'statsd-address': {
      type: 'string',
      metavar: 'ip',
      help: "the DogStatsD agent's IP address",
      default: '127.0.0.1',
      env: ['STATSD_ADDRESS'],
    },
    'statsd-port': { type: 'int', min: 1, help: "the DogStatsD agent's UDP port", default: 8125, env: ['STATSD_PORT'] },
    'statsd-socket-path': {
      type: 'string',
      metavar: 'path',
      help: "the DogStatsD agent's Unix socket (instead of address and port)",
      env: ['STATSD_SOCKET_PATH'],
    },
    'sds-socket-path': {
      type: 'string',
      metavar: 'path',
      help: "an SDS server's Unix socket (a SPIRE agent's): adds App Mesh's static_cluster_sds_unix_socket cluster, which `sds` certificate sources use",
      env: ['APPMESH_SDS_SOCKET_PATH'],
    },
    'xds-tls': {
      type: 'bool',
      help: 'connect to meshd over TLS (ALPN h2), verifying its certificate against --xds-ca-file',
      env: ['MESHD_XDS_TLS'],
    },
    'xds-ca-file': {
      type: 'string',
      metavar: 'file',
      help: "PEM bundle of the CA(s) meshd's xDS certificate must chain to (required with --xds-tls)",
      env: ['MESHD_XDS_CA_FILE'],
    },
    'xds-server-name': {
      type: 'string',
      metavar: 'dns-name',
      help: "the DNS name meshd's certificate must carry, also sent as SNI (default: any certificate the CA file signed)",
      env: ['MESHD_XDS_SERVER_NAME'],
    },
    'xds-cert-file': {
      type: 'string',
      metavar: 'file',
      help: "this proxy's certificate chain (PEM) for mTLS to meshd, with --xds-key-file",
      env: ['MESHD_XDS_CERT_FILE'],
    },
    'xds-key-file': {
      type: 'string',
      metavar: 'file',
      help: 'the private key (PEM) of --xds-cert-file',
      env: ['MESHD_XDS_KEY_FILE'],
    },
    token: {
      type: 'string',
      metavar: 'jwt',
      help: 'a join token from `meshd token`, sent as `authorization: Bearer <token>` (prefer --token-file: arguments are visible to other users)',
      env: ['MESHD_TOKEN'],
    },
    'token-file': {
      type: 'string',
      metavar: 'file',
      help: 'a file holding the join token (a mounted secret), read when the bootstrap is rendered',
      env: ['MESHD_TOKEN_FILE'],
    },
    'xds-insecure-token': {
      type: 'bool',
      help: 'send the join token without TLS, where anyone on the path can read it (refused otherwise)',
      env: ['MESHD_XDS_INSECURE_TOKEN'],
    },
    'xray-tracing': {
      type: 'bool',
      help: 'trace with the X-Ray tracer: segments over UDP to the X-Ray daemon',
      env: ['ENABLE_ENVOY_XRAY_TRACING'],
    },
    'xray-daemon-address': {
      type: 'string',
      metavar: 'ip[:port]',
      help: "the X-Ray daemon's IP address, with its UDP port or not (default 127.0.0.1; a port here wins over --xray-daemon-port)",
      env: ['AWS_XRAY_DAEMON_ADDRESS'],
    },
    'xray-daemon-port': {
      // A string: its variable is read only when the tracer is on (src/bootstrap/tracing.ts tracerPort).
      type: 'string',
      metavar: 'port',
      help: "the X-Ray daemon's UDP port, 1 to 65535 (XRAY_DAEMON_PORT is read only with X-Ray tracing on)",
      default: '2000',
      env: ['XRAY_DAEMON_PORT'],
    },
    'xray-sampling-rate': {
      type: 'string',
      metavar: '0..1',
      help: "the share of requests traced, after one a second (default: X-Ray's, 0.05)",
      env: ['XRAY_SAMPLING_RATE'],
    },
    'xray-sampling-rule-manifest': {
      type: 'string',
      metavar: 'file',
      help: 'an X-Ray sampling rule manifest (JSON, version 2) Envoy reads; wins over --xray-sampling-rate',
      env: ['XRAY_SAMPLING_RULE_MANIFEST'],
    },
    'xray-segment-name': {
      type: 'string',
      metavar: 'name',
      help: 'the X-Ray segment name (default <mesh>/<node>)',
      env: ['XRAY_SEGMENT_NAME'],
    },
    'jaeger-tracing': {
      type: 'bool',
      help: "trace with Envoy's Zipkin tracer to a Jaeger (Zipkin-protocol) collector, cluster `jaeger`",
      env: ['ENABLE_ENVOY_JAEGER_TRACING'],
    },
    'jaeger-address': {
      type: 'string',
      metavar: 'host',
      help: "the Jaeger collector's IP address or DNS name",
      default: '127.0.0.1',
      env: ['JAEGER_TRACER_ADDRESS'],
    },
    'jaeger-port': {
      // A string: its variable is read only when the tracer is on (src/bootstrap/tracing.ts tracerPort).
      type: 'string',
      metavar: 'port',
      help: "the Jaeger collector's Zipkin port, 1 to 65535 (JAEGER_TRACER_PORT is read only with Jaeger tracing on)",
      default: '9411',
      env: ['JAEGER_TRACER_PORT'],
    },
    'jaeger-version': {
      type: 'string',
      metavar: 'proto|json',
      help: 'spans as protobuf (default) or, when this says json, as JSON',
      env: ['JAEGER_TRACER_VERSION'],
    },
    'datadog-tracing': {
      type: 'bool',
      help: 'trace with the Datadog tracer to a Datadog agent, cluster `datadog_agent`',
      env: ['ENABLE_ENVOY_DATADOG_TRACING'],
    },
    'datadog-address': {
      type: 'string',
      metavar: 'host',
      help: "the Datadog agent's IP address or DNS name",
      default: '127.0.0.1',
      env: ['DATADOG_TRACER_ADDRESS'],
    },
    'datadog-port': {
      // A string: its variable is read only when the tracer is on (src/bootstrap/tracing.ts tracerPort).
      type: 'string',
      metavar: 'port',
      help: "the Datadog agent's trace port, 1 to 65535 (DATADOG_TRACER_PORT is read only with Datadog tracing on)",
      default: '8126',
      env: ['DATADOG_TRACER_PORT'],
    },
    'datadog-service': {
      type: 'string',
      metavar: 'name',
      help: 'the service name in Datadog (default envoy-<mesh>/<node>)',
      env: ['DD_SERVICE'],
    },
    'tracing-config-file': {
      type: 'string',
      metavar: 'file',
      help: 'Envoy config with a `tracing:` block, and `static_resources: clusters:` for its collector, merged into the bootstrap (the tracers above are then off)',
      env: ['ENVOY_TRACING_CFG_FILE'],
    },
    ...Object.fromEntries(
      RUNTIME_TOGGLES.map((t) => [
        t.flag,
        {
          type: 'string' as const,
          metavar: 'true|false',
          help: `runtime ${t.feature}`,
          default: String(t.appMeshDefault),
          env: [t.variable],
        },
      ]),
    ),
  },
  notes: [
    'Each flag may also be set by the variables in [brackets], the first one set winning; the flag wins.',
    "App Mesh variables that meshd does not use (SigV4, the agent's) are reported once on",
    'stderr as ignored; envoy-bootstrap/appmesh-variables.tsv lists them all.',
    "The runtime layer is App Mesh's: RE2 regexes up to program size 1000, deprecated features on; a",
    'runtime toggle (all five features are gone from Envoy 1.40) is read, and a value it cannot honour is reported.',
    "Several meshd replicas (--xds-address a:18000,b:18000, or one DNS name with several A records): Envoy's",
    'meshd_xds cluster lists them all, ejects one that refuses connections or resets them (outlier detection), and',
    'probes idle connections (TCP keepalive), so a proxy whose replica dies reconnects to another within seconds.',
    'The control channel: --xds-tls with --xds-ca-file verifies meshd (also its name with --xds-server-name);',
    "--xds-cert-file/--xds-key-file add this proxy's certificate (mTLS); --token or --token-file send a join token,",
    'refused without TLS unless --xds-insecure-token. The files are read by Envoy, except the token file, read here.',
  ],
};

const IP_ADDRESS = /^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)$/;
const MAX_FLUSH_MS = 300_000; // Envoy's limit for stats_flush_interval: 5 minutes

/** Resolves flags and App Mesh's variables (already merged by the parser) into parameters. */
export function bootstrapParams(args: ParsedArgs): BootstrapParams {
  const flag = <T>(name: string) => args.flags[name] as T;
  const source = (name: string) => args.sources[name] ?? `--${name}`;
  const text = (name: string): string | undefined => {
    const value = flag<string | undefined>(name);
    if (value !== undefined && /[\u0000-\u001f\u007f]/.test(value))
      throw new UsageError(`${source(name)} must not contain control characters`);
    return value;
  };

  const nodeId = text('node');
  if (nodeId === undefined)
    throw new UsageError(
      'no node id: set APPMESH_RESOURCE_ARN (or APPMESH_VIRTUAL_NODE_NAME) or pass --node mesh/<mesh>/virtualNode/<name>',
    );
  const node = parseNodeId(nodeId);
  if ('error' in node) throw new UsageError(node.error);

  const xds = parseXdsAddresses(text('xds-address')!, source('xds-address'));
  if ('error' in xds) throw new UsageError(xds.error);

  const ads = text('ads')!;
  if (ads !== 'sotw' && ads !== 'delta') throw new UsageError(`${source('ads')} must be sotw or delta, got '${ads}'`);

  const flush = text('stats-flush-interval');
  const flushMs = flush === undefined ? undefined : parseDuration(flush);
  if (flush !== undefined && (flushMs === undefined || flushMs < 1 || flushMs > MAX_FLUSH_MS)) {
    throw new UsageError(
      `${source('stats-flush-interval')} must be a duration from 1ms to 5m such as 10s or 5000ms, got '${flush}'`,
    );
  }

  const statsdAddress = text('statsd-address')!;
  const socketPath = text('statsd-socket-path');
  if (flag<boolean>('dog-statsd') && socketPath === undefined && !IP_ADDRESS.test(statsdAddress)) {
    throw new UsageError(
      `${source('statsd-address')} must be an IP address (Envoy does not look up names for stats), got '${statsdAddress}'`,
    );
  }

  // App Mesh's runtime toggles: booleans as Go reads them; the ones a user set are remembered
  // so that a value this Envoy cannot honour is reported.
  const toggles = new Map<string, boolean>();
  for (const t of RUNTIME_TOGGLES) {
    const raw = text(t.flag)!;
    const value = parseGoBool(raw);
    if (value === undefined) throw new UsageError(`${source(t.flag)} must be true or false (or 1 or 0), got '${raw}'`);
    if (args.sources[t.flag] !== undefined) toggles.set(t.flag, value);
  }

  const sdsSocketPath = text('sds-socket-path');
  const { token, xdsTls } = controlChannel(args, text, source);

  const tracingSources: Record<string, string> = {
    xray: 'xray-tracing',
    datadog: 'datadog-tracing',
    jaeger: 'jaeger-tracing',
    xrayDaemonAddress: 'xray-daemon-address',
    xrayDaemonPort: 'xray-daemon-port',
    xraySamplingRate: 'xray-sampling-rate',
    xraySamplingRuleManifest: 'xray-sampling-rule-manifest',
    xraySegmentName: 'xray-segment-name',
    jaegerAddress: 'jaeger-address',
    jaegerPort: 'jaeger-port',
    jaegerVersion: 'jaeger-version',
    datadogAddress: 'datadog-address',
    datadogPort: 'datadog-port',
    datadogService: 'datadog-service',
    configFile: 'tracing-config-file',
  };
  // A tracer's port from its variable is checked only when the tracer is on (as App Mesh, and as
  // render-bootstrap.sh does); given as a flag, it is checked always.
  const tracerPortText = (name: string): string => {
    const value = text(name)!;
    if (args.sources[name] === `--${name}`) {
      const port = tracerPort(value, source(name));
      if (typeof port !== 'number') throw new UsageError(port.error);
    }
    return value;
  };
  const tracingInput: TracingInput = {
    node,
    xray: flag<boolean>('xray-tracing'),
    datadog: flag<boolean>('datadog-tracing'),
    jaeger: flag<boolean>('jaeger-tracing'),
    xrayDaemonAddress: text('xray-daemon-address'),
    xrayDaemonPort: tracerPortText('xray-daemon-port'),
    xraySamplingRate: text('xray-sampling-rate'),
    xraySamplingRuleManifest: text('xray-sampling-rule-manifest'),
    xraySegmentName: text('xray-segment-name'),
    jaegerAddress: text('jaeger-address')!,
    jaegerPort: tracerPortText('jaeger-port'),
    jaegerVersion: text('jaeger-version'),
    datadogAddress: text('datadog-address')!,
    datadogPort: tracerPortText('datadog-port'),
    datadogService: text('datadog-service'),
    configFile: text('tracing-config-file'),
    source: (field) => source(tracingSources[field]!),
  };
  const tracing = bootstrapTracing(tracingInput);
  if ('error' in tracing) throw new UsageError(tracing.error);

  return {
    nodeId,
    node,
    cluster: text('cluster') ?? nodeId,
    xds,
    ads,
    adminAddress: text('admin-address') ?? (flag<boolean>('admin-ipv6') ? '::' : '0.0.0.0'),
    adminPort: flag<number>('admin-port'),
    adminAccessLog: text('admin-access-log'),
    outlierEventLog: text('outlier-event-log'),
    ingressPort: flag<number>('ingress-port'),
    egressPort: flag<number>('egress-port'),
    initialFetchTimeoutSeconds: flag<number>('initial-fetch-timeout'),
    statsTags: flag<boolean>('stats-tags'),
    statsFlushIntervalMs: flushMs,
    dogStatsd: flag<boolean>('dog-statsd')
      ? { address: statsdAddress, port: flag<number>('statsd-port'), socketPath }
      : undefined,
    xdsTls,
    token,
    sdsSocketPath,
    tracing: tracing.tracing,
    notes: [...unhonouredToggles(toggles), ...tracing.notes],
  };
}

const TLS_ON = 'MESHD_XDS_TLS=1 (--xds-tls)';

/**
 * The xDS channel's TLS files and join token. Checked in the order render-bootstrap.sh checks
 * them, with its messages. TLS always verifies meshd's certificate, and a bearer token goes over
 * plaintext only when asked for by name.
 */
function controlChannel(
  args: ParsedArgs,
  text: (name: string) => string | undefined,
  source: (name: string) => string,
): Pick<BootstrapParams, 'token' | 'xdsTls'> {
  const tokenText = text('token');
  const tokenFile = text('token-file');
  if (tokenText !== undefined && tokenFile !== undefined)
    throw new UsageError(`${source('token')} and ${source('token-file')} are both set; give one`);
  let token: string | undefined;
  if (tokenText !== undefined || tokenFile !== undefined) {
    const read =
      tokenText !== undefined
        ? checkJoinToken(tokenText, source('token'))
        : readJoinTokenFile(tokenFile!, source('token-file'));
    if (typeof read !== 'string') throw new UsageError(read.error);
    token = read;
  }

  const serverName = text('xds-server-name');
  if (serverName !== undefined && !isDnsName(serverName))
    throw new UsageError(
      `${source('xds-server-name')} must be a DNS name (meshd's certificate must carry it), got '${serverName}'`,
    );
  const caFile = text('xds-ca-file');
  const certFile = text('xds-cert-file');
  const keyFile = text('xds-key-file');
  const tls = args.flags['xds-tls'] as boolean;
  let xdsTls: BootstrapParams['xdsTls'];
  if (tls) {
    if (caFile === undefined)
      throw new UsageError(
        `${source('xds-tls')} needs MESHD_XDS_CA_FILE (--xds-ca-file), the CA bundle meshd's certificate must chain to: certificate verification is never turned off`,
      );
    if (certFile !== undefined && keyFile === undefined)
      throw new UsageError(`${source('xds-cert-file')} needs MESHD_XDS_KEY_FILE (--xds-key-file) too`);
    if (keyFile !== undefined && certFile === undefined)
      throw new UsageError(`${source('xds-key-file')} needs MESHD_XDS_CERT_FILE (--xds-cert-file) too`);
    xdsTls = {
      caFile,
      serverName,
      clientCert: certFile !== undefined ? { certFile, keyFile: keyFile! } : undefined,
    };
  } else {
    const stray = (['xds-ca-file', 'xds-server-name', 'xds-cert-file', 'xds-key-file'] as const).find(
      (name) => args.flags[name] !== undefined,
    );
    if (stray !== undefined) throw new UsageError(`${source(stray)} is set but TLS is off: set ${TLS_ON}`);
    if (token !== undefined && !(args.flags['xds-insecure-token'] as boolean))
      throw new UsageError(
        `${tokenText !== undefined ? source('token') : source('token-file')} without TLS: anyone on the path could read the bearer token; set ${TLS_ON} with MESHD_XDS_CA_FILE, or MESHD_XDS_INSECURE_TOKEN=1 (--xds-insecure-token) to send it in the clear anyway`,
      );
  }
  return { token, xdsTls };
}

export function runBootstrap(args: ParsedArgs, env: Env = process.env): number {
  const params = bootstrapParams(args);
  const yaml = renderBootstrap(params);
  for (const line of [...ignoredVariableReport(env), ...params.notes])
    process.stderr.write(`meshd bootstrap: ${line}\n`);
  process.stdout.write(yaml);
  return 0;
}
