// `meshd bootstrap` and the stock-image renderer (envoy-bootstrap/render-bootstrap.sh, run by
// dash with mawk as in the Ubuntu-based envoyproxy/envoy image) render the same bytes from
// App Mesh's variables, report the same ignored variables and reject the same bad values; what
// they render is what a real Envoy accepts, and the entrypoint runs that Envoy.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type * as tls from 'node:tls';
import { parse } from 'yaml';
import { createCertificateAuthority, issueCertificate, type Certificate } from '../helpers/certs';
import { describeWithEnvoy, envoyValidate, startEnvoy } from '../helpers/envoy';
import { freePort, MESHD_BIN, tmpDir, waitFor } from '../helpers/processes';

const BOOTSTRAP_DIR = path.resolve(__dirname, '../../envoy-bootstrap');
const RENDER_SH = path.join(BOOTSTRAP_DIR, 'render-bootstrap.sh');
const ENTRYPOINT = path.join(BOOTSTRAP_DIR, 'entrypoint.sh');

/** A PATH like the stock image's: the system tools, with awk being mawk when there is one. */
function imageLikePath(extra: string[] = []): string {
  const bin = tmpDir('image-path-');
  const mawk = ['/usr/bin/mawk', '/bin/mawk'].find((p) => fs.existsSync(p));
  if (mawk) fs.symlinkSync(mawk, path.join(bin, 'awk'));
  return [...extra, bin, '/usr/local/bin', '/usr/bin', '/bin'].join(':');
}
const PATH = imageLikePath();
const SH = fs.existsSync('/bin/dash') ? '/bin/dash' : '/bin/sh';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with exactly these variables (and PATH), as a container would. */
function runWith(cmd: string, args: string[], env: Record<string, string>): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { PATH, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const meshdBootstrap = (env: Record<string, string>, args: string[] = []) =>
  runWith(process.execPath, [MESHD_BIN, 'bootstrap', ...args], env);
const shBootstrap = (env: Record<string, string>) => runWith(SH, [RENDER_SH], env);

const ARN = 'arn:aws:appmesh:us-east-1:111122223333:mesh/apps/virtualNode/front';

// The control channel's files: Envoy reads them (envoy --mode validate too), so they are real.
const PKI_DIR = tmpDir('bootstrap-pki-');
const CA = createCertificateAuthority(PKI_DIR, 'meshd-ca');
const OTHER_CA = createCertificateAuthority(PKI_DIR, 'other-ca');
const PROXY_CERT = issueCertificate(CA, PKI_DIR, 'front-proxy', ['front.apps.local']);
/** Shaped like a join token from `meshd token` (header.payload.signature, base64url). */
const TOKEN =
  'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJtZXNoL2FwcHMvdmlydHVhbE5vZGUvZnJvbnQiLCJhdWQiOiJtZXNoZC14ZHMifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg';
const TOKEN_DIR = tmpDir('bootstrap-token-');
const tokenFile = (name: string, content: string | Buffer) => {
  const file = path.join(TOKEN_DIR, name);
  fs.writeFileSync(file, content, { mode: 0o600 });
  return file;
};
/** A mounted secret: the token with a line break after it (and blanks before). */
const TOKEN_FILE = tokenFile('token', `  ${TOKEN}\n`);
const TLS_ON = { MESHD_XDS_TLS: '1', MESHD_XDS_CA_FILE: CA.certFile };
const WHAT_A_TOKEN_IS = 'a join token (a JWT: three base64url parts separated by dots, at most 4096 characters)';
const FULL_CONTROL_CHANNEL = 'xDS over TLS with a client certificate and the server name, a join token, a SPIRE socket';

// Tracing files (ENVOY_TRACING_CFG_FILE, XRAY_SAMPLING_RULE_MANIFEST): Envoy reads the manifest, so they are real.
const TRACING_DIR = tmpDir('bootstrap-tracing-');
const tracingFile = (name: string, content: string | Buffer) => {
  const file = path.join(TRACING_DIR, name);
  fs.writeFileSync(file, content);
  return file;
};
const MANIFEST = tracingFile(
  'sampling.json',
  '{\n  "version": 2,\n  "default": { "fixed_target": 1, "rate": 0.1 },\n  "rules": []\n}\n',
);
/** App Mesh's own example shape: a Zipkin tracer and its collector cluster, comments, CRLF line ends. */
const TRACING_CFG = tracingFile(
  'tracing.yaml',
  [
    "# tracing to an OpenTelemetry collector's Zipkin receiver",
    'tracing:',
    '  http:',
    '    name: envoy.tracers.zipkin',
    '    typed_config:',
    '      "@type": type.googleapis.com/envoy.config.trace.v3.ZipkinConfig',
    '      collector_cluster: otel_collector   # below',
    '      collector_endpoint: "/api/v2/spans"',
    '      collector_endpoint_version: HTTP_JSON',
    '',
    'static_resources:',
    '  clusters:',
    '  - name: otel_collector',
    '    type: STRICT_DNS',
    '    connect_timeout: 1s',
    '    load_assignment:',
    '      cluster_name: otel_collector',
    '      endpoints:',
    '      - lb_endpoints:',
    '        - endpoint:',
    '            address:',
    '              socket_address: { address: collector.local, port_value: 9411 }',
    '',
  ].join('\r\n'),
);
const cfgFile = (name: string, lines: string[]) => tracingFile(name, lines.join('\n'));

/** Variable sets that must render (the same bytes from both renderers). */
const VALID: Record<string, Record<string, string>> = {
  'the ARN alone': { APPMESH_RESOURCE_ARN: ARN },
  'APPMESH_VIRTUAL_NODE_NAME (older images)': { APPMESH_VIRTUAL_NODE_NAME: 'mesh/apps/virtualNode/front' },
  'ARN before NAME before VIRTUAL_NODE_NAME': {
    APPMESH_RESOURCE_NAME: 'mesh/apps/virtualNode/b',
    APPMESH_VIRTUAL_NODE_NAME: 'mesh/apps/virtualNode/c',
    APPMESH_RESOURCE_ARN: ARN,
  },
  'a virtual gateway with stats tags': {
    APPMESH_RESOURCE_ARN: 'mesh/apps/virtualGateway/ingress-gw',
    ENABLE_ENVOY_STATS_TAGS: '1',
  },
  'cluster from APPMESH_VIRTUAL_NODE_CLUSTER': {
    APPMESH_RESOURCE_ARN: ARN,
    APPMESH_VIRTUAL_NODE_CLUSTER: 'front-cluster',
  },
  'cluster from APPMESH_RESOURCE_CLUSTER first': {
    APPMESH_RESOURCE_ARN: ARN,
    APPMESH_VIRTUAL_NODE_CLUSTER: 'x',
    APPMESH_RESOURCE_CLUSTER: 'front "blue" \\ cluster',
  },
  'everything App Mesh offered': {
    APPMESH_RESOURCE_ARN: ARN,
    MESHD_XDS_ADDRESS: 'meshd:18000',
    MESHD_ADS_PROTOCOL: 'delta',
    ENVOY_ADMIN_ACCESS_PORT: '9902',
    ENVOY_ADMIN_ACCESS_LOG_FILE: '/tmp/envoy_admin_access.log',
    ENVOY_OUTLIER_DETECTION_EVENT_LOG_PATH: '/tmp/envoy_outlier_events.log',
    ENVOY_ADMIN_ACCESS_ENABLE_IPV6: 'true',
    APPMESH_ENVOY_INGRESS_PORT: '16000',
    APPMESH_ENVOY_EGRESS_PORT: '16001',
    ENVOY_INITIAL_FETCH_TIMEOUT: '30',
    ENABLE_ENVOY_STATS_TAGS: 'TRUE',
    ENVOY_STATS_FLUSH_INTERVAL: '1m30s',
    ENABLE_ENVOY_DOG_STATSD: 't',
    STATSD_ADDRESS: '10.0.0.9',
    STATSD_PORT: '8126',
  },
  'DogStatsD over a Unix socket': {
    APPMESH_RESOURCE_ARN: ARN,
    ENABLE_ENVOY_DOG_STATSD: '1',
    STATSD_SOCKET_PATH: '/var/run/datadog/dsd.socket',
  },
  'switches off, fractions of seconds, leading zeros, blanks around values': {
    APPMESH_RESOURCE_ARN: `  ${ARN}\t`,
    ENABLE_ENVOY_STATS_TAGS: 'False',
    ENABLE_ENVOY_DOG_STATSD: '0',
    ENVOY_STATS_FLUSH_INTERVAL: '1500ms',
    ENVOY_ADMIN_ACCESS_PORT: '009901',
    MESHD_XDS_ADDRESS: '[::1]:18000',
  },
  'empty variables count as unset': {
    APPMESH_RESOURCE_ARN: '',
    APPMESH_VIRTUAL_NODE_NAME: 'mesh/apps/virtualNode/front',
    ENVOY_ADMIN_ACCESS_PORT: '',
    STATSD_ADDRESS: '',
  },
  "App Mesh's runtime toggles, some set to what Envoy 1.40 can no longer do": {
    APPMESH_RESOURCE_ARN: ARN,
    APPMESH_SET_TRACING_DECISION: 'false',
    ENVOY_NO_EXTENSION_LOOKUP_BY_NAME: 'T',
    ENVOY_ENABLE_TCP_POOL_IDLE_TIMEOUT: '0',
    ENVOY_SANITIZE_ORIGINAL_PATH: 'True',
    ENVOY_ACTIVE_HEALTH_CHECK_UNEJECT_HOST: '1',
  },
  'a fleet of meshd replicas by IP address, IPv6 among them, blanks around items': {
    APPMESH_RESOURCE_ARN: ARN,
    MESHD_XDS_ADDRESS: '10.0.0.1:18000, 10.0.0.2:018000 ,[fd00::3]:18000',
  },
  'a fleet by DNS names, mixed with an IP address': {
    APPMESH_RESOURCE_ARN: ARN,
    MESHD_XDS_ADDRESS: 'meshd-a.mesh.internal:18000,meshd-b.mesh.internal.:18000,10.0.0.3:18000',
  },
  'the most addresses allowed (16)': {
    APPMESH_RESOURCE_ARN: ARN,
    MESHD_XDS_ADDRESS: Array.from({ length: 16 }, (_, i) => `10.0.0.${i + 1}:18000`).join(','),
  },
  [FULL_CONTROL_CHANNEL]: {
    APPMESH_RESOURCE_ARN: ARN,
    MESHD_XDS_ADDRESS: 'meshd.local:18000',
    MESHD_XDS_TLS: '1',
    MESHD_XDS_CA_FILE: CA.certFile,
    MESHD_XDS_SERVER_NAME: 'meshd.local',
    MESHD_XDS_CERT_FILE: PROXY_CERT.certFile,
    MESHD_XDS_KEY_FILE: PROXY_CERT.keyFile,
    MESHD_TOKEN: TOKEN,
    APPMESH_SDS_SOCKET_PATH: '/run/spire/sockets/agent.sock',
  },
  'xDS over TLS checked against the CA alone, the token from a file with blanks around it': {
    APPMESH_RESOURCE_ARN: ARN,
    MESHD_XDS_TLS: 'true',
    MESHD_XDS_CA_FILE: CA.certFile,
    MESHD_TOKEN_FILE: TOKEN_FILE,
  },
  'a join token over plaintext, asked for by name': {
    APPMESH_RESOURCE_ARN: ARN,
    MESHD_TOKEN: TOKEN,
    MESHD_XDS_INSECURE_TOKEN: '1',
  },
  'TLS switched off, an SDS socket path with quotes and a backslash': {
    APPMESH_RESOURCE_ARN: ARN,
    MESHD_XDS_TLS: '0',
    MESHD_XDS_INSECURE_TOKEN: 'false',
    APPMESH_SDS_SOCKET_PATH: '/run/spire/"agent" \\ one.sock',
  },
  'unsupported App Mesh variables': {
    APPMESH_RESOURCE_ARN: ARN,
    XRAY_SOMETHING_NEW: '1',
    JAEGER_AGENT_HOST: 'jaeger',
    APPMESH_XDS_ENDPOINT: 'appmesh-envoy-management.us-east-1.amazonaws.com:443',
    APPMESH_PLATFORM_K8S_VERSION: 'v1.29',
    APPMESH_SOMETHING_NEW: 'x',
    APPNET_ENVOY_RESTART_COUNT: '3',
    ENVOY_STATS_CONFIG_FILE: '/etc/stats.yaml',
  },
  "X-Ray tracing with App Mesh's defaults": { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_XRAY_TRACING: '1' },
  'X-Ray with a daemon address and port, a segment name and a sampling rate rounded to hundredths': {
    APPMESH_RESOURCE_ARN: ARN,
    ENABLE_ENVOY_XRAY_TRACING: 'true',
    AWS_XRAY_DAEMON_ADDRESS: '10.0.0.7:2100',
    XRAY_DAEMON_PORT: '3000',
    XRAY_SAMPLING_RATE: '0.125',
    XRAY_SEGMENT_NAME: 'front "edge"',
  },
  'X-Ray on an IPv6 daemon, XRAY_DAEMON_PORT, a rate of 1': {
    APPMESH_RESOURCE_ARN: 'mesh/apps/virtualGateway/ingress-gw',
    ENABLE_ENVOY_XRAY_TRACING: '1',
    AWS_XRAY_DAEMON_ADDRESS: 'fd00::7',
    XRAY_DAEMON_PORT: '02001',
    XRAY_SAMPLING_RATE: '1.00',
  },
  "X-Ray at 5% (X-Ray's default: no rules written)": {
    APPMESH_RESOURCE_ARN: ARN,
    ENABLE_ENVOY_XRAY_TRACING: '1',
    XRAY_SAMPLING_RATE: '.05',
  },
  'X-Ray with a sampling rule manifest, which wins over the rate': {
    APPMESH_RESOURCE_ARN: ARN,
    ENABLE_ENVOY_XRAY_TRACING: '1',
    XRAY_SAMPLING_RULE_MANIFEST: MANIFEST,
    XRAY_SAMPLING_RATE: '0.3',
  },
  "Jaeger tracing with App Mesh's defaults (protobuf spans)": {
    APPMESH_RESOURCE_ARN: ARN,
    ENABLE_ENVOY_JAEGER_TRACING: '1',
  },
  'Jaeger by DNS name and port, JSON spans': {
    APPMESH_RESOURCE_ARN: ARN,
    ENABLE_ENVOY_JAEGER_TRACING: 'T',
    JAEGER_TRACER_ADDRESS: 'jaeger-collector.tracing.svc',
    JAEGER_TRACER_PORT: '19411',
    JAEGER_TRACER_VERSION: 'Zipkin-JSON',
  },
  "Datadog tracing with App Mesh's defaults": { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_DATADOG_TRACING: '1' },
  'Datadog with an agent address, port and DD_SERVICE': {
    APPMESH_RESOURCE_ARN: ARN,
    ENABLE_ENVOY_DATADOG_TRACING: '1',
    DATADOG_TRACER_ADDRESS: 'datadog-agent',
    DATADOG_TRACER_PORT: '18126',
    DD_SERVICE: 'front \\ "svc"',
    ENABLE_ENVOY_XRAY_TRACING: '0',
  },
  'a tracing config file, which turns the tracers above off (and says so)': {
    APPMESH_RESOURCE_ARN: ARN,
    ENVOY_TRACING_CFG_FILE: TRACING_CFG,
    ENABLE_ENVOY_XRAY_TRACING: '1',
    ENABLE_ENVOY_JAEGER_TRACING: '1',
    APPMESH_SDS_SOCKET_PATH: '/run/spire/sockets/agent.sock',
  },
  // Values are quoted: the template's braces in them are text (both renderers once stopped on them).
  "values holding the template's braces: cluster, segment name, a manifest's path": {
    APPMESH_RESOURCE_ARN: ARN,
    APPMESH_RESOURCE_CLUSTER: '{{X}}',
    ENABLE_ENVOY_XRAY_TRACING: '1',
    XRAY_SEGMENT_NAME: 'a{{b',
    XRAY_SAMPLING_RULE_MANIFEST: tracingFile(
      '{{rules}}.json',
      '{"version": 2, "default": {"fixed_target": 1, "rate": 0.1}}',
    ),
  },
  "DD_SERVICE naming one of the template's placeholders": {
    APPMESH_RESOURCE_ARN: ARN,
    ENABLE_ENVOY_DATADOG_TRACING: '1',
    DD_SERVICE: 'a{{DATADOG_PORT}}',
  },
  "a tracing file with the template's braces in a value": {
    APPMESH_RESOURCE_ARN: ARN,
    ENVOY_TRACING_CFG_FILE: cfgFile('braces.yaml', [
      'tracing:',
      '  http:',
      '    name: envoy.tracers.zipkin',
      '    typed_config:',
      '      "@type": type.googleapis.com/envoy.config.trace.v3.ZipkinConfig',
      '      collector_cluster: meshd_xds',
      '      collector_endpoint: "/api/v2/spans?node={{NODE_ID}}"',
    ]),
  },
  // Kubernetes sets these in every pod of a namespace with a Service of that name: App Mesh's
  // image read a tracer's port only for the tracer it configured, and so does meshd.
  "Kubernetes service links in the tracers' port variables, the tracers off": {
    APPMESH_RESOURCE_ARN: ARN,
    XRAY_DAEMON_PORT: 'udp://10.100.0.5:2000',
    JAEGER_TRACER_PORT: 'tcp://10.100.0.6:9411',
    DATADOG_TRACER_PORT: 'tcp://10.100.0.7:8126',
  },
  'a tracing config file with a tracing block only': {
    APPMESH_RESOURCE_ARN: ARN,
    ENVOY_TRACING_CFG_FILE: cfgFile('tracing-only.yaml', [
      'tracing:',
      '    http:',
      '        name: envoy.tracers.zipkin',
      '        typed_config:',
      '            "@type": type.googleapis.com/envoy.config.trace.v3.ZipkinConfig',
      '            collector_cluster: meshd_xds',
      '            collector_endpoint: /api/v2/spans',
    ]),
  },
};

/** Variable sets that must be refused, with the one line both renderers print. */
const INVALID: Record<string, [Record<string, string>, string]> = {
  'no node id': [
    {},
    'no node id: set APPMESH_RESOURCE_ARN (or APPMESH_VIRTUAL_NODE_NAME) or pass --node mesh/<mesh>/virtualNode/<name>',
  ],
  'a node id that is not a path': [
    { APPMESH_VIRTUAL_NODE_NAME: 'front' },
    "node id 'front' is not of the form mesh/<mesh>/virtualNode/<name> (or its ARN form arn:aws:appmesh:<region>:<account>:mesh/<mesh>/virtualNode/<name>)",
  ],
  'a node id with a tab inside': [
    { APPMESH_RESOURCE_ARN: 'mesh/apps/virtual\tNode/front' },
    'APPMESH_RESOURCE_ARN must not contain control characters',
  ],
  'a port that is not a number': [
    { APPMESH_RESOURCE_ARN: ARN, ENVOY_ADMIN_ACCESS_PORT: 'abc' },
    "ENVOY_ADMIN_ACCESS_PORT must be a whole number from 1 to 65535, got 'abc'",
  ],
  'port 0': [
    { APPMESH_RESOURCE_ARN: ARN, APPMESH_ENVOY_EGRESS_PORT: '0' },
    "APPMESH_ENVOY_EGRESS_PORT must be a whole number from 1 to 65535, got '0'",
  ],
  'a port too large': [
    { APPMESH_RESOURCE_ARN: ARN, STATSD_PORT: '123456789012345678901' },
    "STATSD_PORT must be a whole number from 1 to 65535, got '123456789012345678901'",
  ],
  'a switch that is not 1 or 0': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_STATS_TAGS: 'yes' },
    "ENABLE_ENVOY_STATS_TAGS must be 1 or 0 (or true or false), got 'yes'",
  ],
  'a timeout with a unit (App Mesh took seconds)': [
    { APPMESH_RESOURCE_ARN: ARN, ENVOY_INITIAL_FETCH_TIMEOUT: '10s' },
    "ENVOY_INITIAL_FETCH_TIMEOUT must be a whole number from 0 to 65535, got '10s'",
  ],
  'a flush interval without a unit': [
    { APPMESH_RESOURCE_ARN: ARN, ENVOY_STATS_FLUSH_INTERVAL: '5000' },
    "ENVOY_STATS_FLUSH_INTERVAL must be a duration from 1ms to 5m such as 10s or 5000ms, got '5000'",
  ],
  'a flush interval over 5 minutes': [
    { APPMESH_RESOURCE_ARN: ARN, ENVOY_STATS_FLUSH_INTERVAL: '5m1s' },
    "ENVOY_STATS_FLUSH_INTERVAL must be a duration from 1ms to 5m such as 10s or 5000ms, got '5m1s'",
  ],
  "meshd's address without a port": [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_ADDRESS: 'meshd' },
    "MESHD_XDS_ADDRESS must be host:port, got 'meshd'",
  ],
  "meshd's address with a port out of range": [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_ADDRESS: 'meshd:65536' },
    "MESHD_XDS_ADDRESS must have a port from 1 to 65535, got 'meshd:65536'",
  ],
  'one bad address among several, named by its place': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_ADDRESS: 'meshd-a:18000,meshd-b,meshd-c:18000' },
    "MESHD_XDS_ADDRESS: address 2 of 3 must be host:port, got 'meshd-b'",
  ],
  'an empty item (two commas)': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_ADDRESS: 'meshd-a:18000,,meshd-b:18000' },
    'MESHD_XDS_ADDRESS: address 2 of 3 is empty; separate host:port addresses with single commas',
  ],
  'a trailing comma': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_ADDRESS: 'meshd-a:18000,' },
    'MESHD_XDS_ADDRESS: address 2 of 2 is empty; separate host:port addresses with single commas',
  ],
  'the same replica twice (names compare without case or final dot, ports without leading zeros)': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_ADDRESS: 'Meshd-A:18000,meshd-b:18000,meshd-a.:018000' },
    "MESHD_XDS_ADDRESS: address 3 of 3 repeats address 1: 'meshd-a.:018000'",
  ],
  'more than 16 addresses': [
    {
      APPMESH_RESOURCE_ARN: ARN,
      MESHD_XDS_ADDRESS: Array.from({ length: 17 }, (_, i) => `10.0.0.${i + 1}:18000`).join(','),
    },
    'MESHD_XDS_ADDRESS lists 17 addresses; at most 16 are allowed',
  ],
  'an IPv6 address without brackets': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_ADDRESS: 'meshd-a:18000,fd00::3:18000' },
    "MESHD_XDS_ADDRESS: address 2 of 2 must put an IPv6 address in brackets, as [::1]:18000, got 'fd00::3:18000'",
  ],
  'a name in brackets': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_ADDRESS: '[meshd]:18000' },
    "MESHD_XDS_ADDRESS must hold an IPv6 address inside the brackets, got '[meshd]:18000'",
  ],
  'a malformed IPv6 address': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_ADDRESS: '[fd00::1::2]:18000' },
    "MESHD_XDS_ADDRESS must hold an IPv6 address inside the brackets, got '[fd00::1::2]:18000'",
  ],
  'an IPv4 address out of range (not taken for a name)': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_ADDRESS: '10.0.0.1:18000,10.0.0.256:18000' },
    "MESHD_XDS_ADDRESS: address 2 of 2 must have an IP address or a DNS name before the port, got '10.0.0.256:18000'",
  ],
  'a host that is not a DNS name': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_ADDRESS: 'meshd_a.-b:18000' },
    "MESHD_XDS_ADDRESS must have an IP address or a DNS name before the port, got 'meshd_a.-b:18000'",
  ],
  'an unknown ADS flavour': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_ADS_PROTOCOL: 'incremental' },
    "MESHD_ADS_PROTOCOL must be sotw or delta, got 'incremental'",
  ],
  'a runtime toggle that is not a boolean': [
    { APPMESH_RESOURCE_ARN: ARN, ENVOY_SANITIZE_ORIGINAL_PATH: 'yes' },
    "ENVOY_SANITIZE_ORIGINAL_PATH must be true or false (or 1 or 0), got 'yes'",
  ],
  'a token that closes the YAML string to add keys': [
    { APPMESH_RESOURCE_ARN: ARN, ...TLS_ON, MESHD_TOKEN: `${TOKEN}" }], cluster_manager: { x: [{ "a": "` },
    `MESHD_TOKEN is not ${WHAT_A_TOKEN_IS}`,
  ],
  'a token with a line break inside (a new YAML key after it)': [
    { APPMESH_RESOURCE_ARN: ARN, ...TLS_ON, MESHD_TOKEN: `${TOKEN}\nstats_flush_interval: 1s` },
    'MESHD_TOKEN must not contain control characters',
  ],
  'a token with blanks and flow characters inside': [
    { APPMESH_RESOURCE_ARN: ARN, ...TLS_ON, MESHD_TOKEN: `${TOKEN} }, x: {` },
    `MESHD_TOKEN is not ${WHAT_A_TOKEN_IS}`,
  ],
  'a token of two parts': [
    { APPMESH_RESOURCE_ARN: ARN, ...TLS_ON, MESHD_TOKEN: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0' },
    `MESHD_TOKEN is not ${WHAT_A_TOKEN_IS}`,
  ],
  'a token over 4096 characters': [
    { APPMESH_RESOURCE_ARN: ARN, ...TLS_ON, MESHD_TOKEN: `${'a'.repeat(4093)}.b.c` },
    `MESHD_TOKEN is not ${WHAT_A_TOKEN_IS}`,
  ],
  'a token and a token file': [
    { APPMESH_RESOURCE_ARN: ARN, ...TLS_ON, MESHD_TOKEN: TOKEN, MESHD_TOKEN_FILE: TOKEN_FILE },
    'MESHD_TOKEN and MESHD_TOKEN_FILE are both set; give one',
  ],
  'a token file that is not there': [
    { APPMESH_RESOURCE_ARN: ARN, ...TLS_ON, MESHD_TOKEN_FILE: path.join(TOKEN_DIR, 'missing') },
    `MESHD_TOKEN_FILE: cannot read '${path.join(TOKEN_DIR, 'missing')}'`,
  ],
  'a token file that is a folder': [
    { APPMESH_RESOURCE_ARN: ARN, ...TLS_ON, MESHD_TOKEN_FILE: TOKEN_DIR },
    `MESHD_TOKEN_FILE: cannot read '${TOKEN_DIR}'`,
  ],
  'a token file with two lines': [
    { APPMESH_RESOURCE_ARN: ARN, ...TLS_ON, MESHD_TOKEN_FILE: tokenFile('two-lines', `${TOKEN}\n${TOKEN}\n`) },
    `MESHD_TOKEN_FILE: '${path.join(TOKEN_DIR, 'two-lines')}' does not hold ${WHAT_A_TOKEN_IS}`,
  ],
  'a token file with a NUL byte (which sh would drop)': [
    {
      APPMESH_RESOURCE_ARN: ARN,
      ...TLS_ON,
      MESHD_TOKEN_FILE: tokenFile('nul', Buffer.concat([Buffer.from(TOKEN), Buffer.from([0]), Buffer.from('x')])),
    },
    `MESHD_TOKEN_FILE: '${path.join(TOKEN_DIR, 'nul')}' does not hold ${WHAT_A_TOKEN_IS}`,
  ],
  'a token file with a quote': [
    { APPMESH_RESOURCE_ARN: ARN, ...TLS_ON, MESHD_TOKEN_FILE: tokenFile('quote', `${TOKEN}"\n`) },
    `MESHD_TOKEN_FILE: '${path.join(TOKEN_DIR, 'quote')}' does not hold ${WHAT_A_TOKEN_IS}`,
  ],
  'an empty token file': [
    { APPMESH_RESOURCE_ARN: ARN, ...TLS_ON, MESHD_TOKEN_FILE: tokenFile('empty', '\n') },
    `MESHD_TOKEN_FILE: '${path.join(TOKEN_DIR, 'empty')}' does not hold ${WHAT_A_TOKEN_IS}`,
  ],
  'a token file over 8192 bytes (not read)': [
    { APPMESH_RESOURCE_ARN: ARN, ...TLS_ON, MESHD_TOKEN_FILE: tokenFile('large', `${TOKEN}${' '.repeat(8192)}`) },
    `MESHD_TOKEN_FILE: '${path.join(TOKEN_DIR, 'large')}' is over 8192 bytes, too large for a join token`,
  ],
  'a token without TLS': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_TOKEN: TOKEN },
    'MESHD_TOKEN without TLS: anyone on the path could read the bearer token; set MESHD_XDS_TLS=1 (--xds-tls) with MESHD_XDS_CA_FILE, or MESHD_XDS_INSECURE_TOKEN=1 (--xds-insecure-token) to send it in the clear anyway',
  ],
  'a token file with TLS switched off': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_TOKEN_FILE: TOKEN_FILE, MESHD_XDS_TLS: '0', MESHD_XDS_INSECURE_TOKEN: '0' },
    'MESHD_TOKEN_FILE without TLS: anyone on the path could read the bearer token; set MESHD_XDS_TLS=1 (--xds-tls) with MESHD_XDS_CA_FILE, or MESHD_XDS_INSECURE_TOKEN=1 (--xds-insecure-token) to send it in the clear anyway',
  ],
  'TLS without a CA file (verification is never turned off)': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_TLS: '1', MESHD_TOKEN: TOKEN },
    "MESHD_XDS_TLS needs MESHD_XDS_CA_FILE (--xds-ca-file), the CA bundle meshd's certificate must chain to: certificate verification is never turned off",
  ],
  'a CA file with TLS off': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_CA_FILE: CA.certFile },
    'MESHD_XDS_CA_FILE is set but TLS is off: set MESHD_XDS_TLS=1 (--xds-tls)',
  ],
  'a server name with TLS off': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_SERVER_NAME: 'meshd.local' },
    'MESHD_XDS_SERVER_NAME is set but TLS is off: set MESHD_XDS_TLS=1 (--xds-tls)',
  ],
  'a client certificate with TLS off': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_KEY_FILE: PROXY_CERT.keyFile, MESHD_XDS_TLS: 'f' },
    'MESHD_XDS_KEY_FILE is set but TLS is off: set MESHD_XDS_TLS=1 (--xds-tls)',
  ],
  'a client certificate without its key': [
    { APPMESH_RESOURCE_ARN: ARN, ...TLS_ON, MESHD_XDS_CERT_FILE: PROXY_CERT.certFile },
    'MESHD_XDS_CERT_FILE needs MESHD_XDS_KEY_FILE (--xds-key-file) too',
  ],
  'a client key without its certificate': [
    { APPMESH_RESOURCE_ARN: ARN, ...TLS_ON, MESHD_XDS_KEY_FILE: PROXY_CERT.keyFile },
    'MESHD_XDS_KEY_FILE needs MESHD_XDS_CERT_FILE (--xds-cert-file) too',
  ],
  'a server name with a quote': [
    { APPMESH_RESOURCE_ARN: ARN, ...TLS_ON, MESHD_XDS_SERVER_NAME: 'meshd.local", sni: "x' },
    `MESHD_XDS_SERVER_NAME must be a DNS name (meshd's certificate must carry it), got 'meshd.local", sni: "x'`,
  ],
  'a server name that is an IP address': [
    { APPMESH_RESOURCE_ARN: ARN, ...TLS_ON, MESHD_XDS_SERVER_NAME: '10.0.0.1' },
    "MESHD_XDS_SERVER_NAME must be a DNS name (meshd's certificate must carry it), got '10.0.0.1'",
  ],
  'a TLS switch that is not 1 or 0': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_TLS: 'on' },
    "MESHD_XDS_TLS must be 1 or 0 (or true or false), got 'on'",
  ],
  'two tracers at once (App Mesh refused it too)': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_XRAY_TRACING: '1', ENABLE_ENVOY_DATADOG_TRACING: 'true' },
    'ENABLE_ENVOY_XRAY_TRACING and ENABLE_ENVOY_DATADOG_TRACING are both set: Envoy takes one tracer; enable one of ENABLE_ENVOY_XRAY_TRACING, ENABLE_ENVOY_DATADOG_TRACING and ENABLE_ENVOY_JAEGER_TRACING',
  ],
  'a tracing switch that is not 1 or 0': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_JAEGER_TRACING: 'yes' },
    "ENABLE_ENVOY_JAEGER_TRACING must be 1 or 0 (or true or false), got 'yes'",
  ],
  'an X-Ray daemon port that is not a number': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_XRAY_TRACING: '1', XRAY_DAEMON_PORT: '2000/udp' },
    "XRAY_DAEMON_PORT must be a whole number from 1 to 65535, got '2000/udp'",
  ],
  'a Kubernetes service link in XRAY_DAEMON_PORT with X-Ray on': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_XRAY_TRACING: '1', XRAY_DAEMON_PORT: 'udp://10.100.0.5:2000' },
    "XRAY_DAEMON_PORT must be a whole number from 1 to 65535, got 'udp://10.100.0.5:2000'",
  ],
  'an X-Ray segment name beyond ASCII': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_XRAY_TRACING: '1', XRAY_SEGMENT_NAME: 'café' },
    'XRAY_SEGMENT_NAME must be printable ASCII (characters from space to ~)',
  ],
  'a sampling rule manifest path beyond ASCII': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_XRAY_TRACING: '1', XRAY_SAMPLING_RULE_MANIFEST: '/etc/règles.json' },
    'XRAY_SAMPLING_RULE_MANIFEST must be printable ASCII (characters from space to ~)',
  ],
  'a Datadog service name beyond ASCII': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_DATADOG_TRACING: '1', DD_SERVICE: 'façade' },
    'DD_SERVICE must be printable ASCII (characters from space to ~)',
  ],
  'a Jaeger port too large': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_JAEGER_TRACING: '1', JAEGER_TRACER_PORT: '94110' },
    "JAEGER_TRACER_PORT must be a whole number from 1 to 65535, got '94110'",
  ],
  'a Datadog port of 0': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_DATADOG_TRACING: '1', DATADOG_TRACER_PORT: '0' },
    "DATADOG_TRACER_PORT must be a whole number from 1 to 65535, got '0'",
  ],
  'an X-Ray daemon by name (the tracer sends to an address)': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_XRAY_TRACING: '1', AWS_XRAY_DAEMON_ADDRESS: 'xray-daemon:2000' },
    "AWS_XRAY_DAEMON_ADDRESS must be an IP address, with a port or not (127.0.0.1, 127.0.0.1:2000, [::1]:2000): the X-Ray tracer does not look names up, got 'xray-daemon:2000'",
  ],
  ...Object.fromEntries(
    ['01.2.3.4', '1.2.3.04:2000', '::ffff:01.2.3.4', '[::ffff:1.2.3.010]:2000'].map((address) => [
      `an X-Ray daemon address with a leading zero (Envoy crashes on it): ${address}`,
      [
        { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_XRAY_TRACING: '1', AWS_XRAY_DAEMON_ADDRESS: address },
        `AWS_XRAY_DAEMON_ADDRESS must be an IP address, with a port or not (127.0.0.1, 127.0.0.1:2000, [::1]:2000): the X-Ray tracer does not look names up, got '${address}'`,
      ],
    ]),
  ),
  'a Jaeger host with leading zeros (Envoy reads 0177.0.0.010 as 177.0.0.10, not as octal)': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_JAEGER_TRACING: '1', JAEGER_TRACER_ADDRESS: '0177.0.0.010' },
    "JAEGER_TRACER_ADDRESS must be an IP address or a DNS name, got '0177.0.0.010'",
  ],
  'a Datadog host with a leading zero': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_DATADOG_TRACING: '1', DATADOG_TRACER_ADDRESS: '10.0.0.01' },
    "DATADOG_TRACER_ADDRESS must be an IP address or a DNS name, got '10.0.0.01'",
  ],
  'an xDS address with a leading zero (Envoy refuses it: malformed IP address)': [
    { APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_ADDRESS: '01.2.3.4:18000' },
    "MESHD_XDS_ADDRESS must have an IP address or a DNS name before the port, got '01.2.3.4:18000'",
  ],
  'an X-Ray daemon address with port 0': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_XRAY_TRACING: '1', AWS_XRAY_DAEMON_ADDRESS: '[::1]:0' },
    "AWS_XRAY_DAEMON_ADDRESS must be an IP address, with a port or not (127.0.0.1, 127.0.0.1:2000, [::1]:2000): the X-Ray tracer does not look names up, got '[::1]:0'",
  ],
  'a sampling rate above 1': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_XRAY_TRACING: '1', XRAY_SAMPLING_RATE: '1.01' },
    "XRAY_SAMPLING_RATE must be a decimal from 0 to 1.00 (100%), got '1.01'",
  ],
  'a sampling rate as a percentage': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_XRAY_TRACING: '1', XRAY_SAMPLING_RATE: '50%' },
    "XRAY_SAMPLING_RATE must be a decimal from 0 to 1.00 (100%), got '50%'",
  ],
  'a negative sampling rate': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_XRAY_TRACING: '1', XRAY_SAMPLING_RATE: '-0.1' },
    "XRAY_SAMPLING_RATE must be a decimal from 0 to 1.00 (100%), got '-0.1'",
  ],
  'a sampling rule manifest that is not there': [
    {
      APPMESH_RESOURCE_ARN: ARN,
      ENABLE_ENVOY_XRAY_TRACING: '1',
      XRAY_SAMPLING_RULE_MANIFEST: '/nonexistent/rules.json',
    },
    "XRAY_SAMPLING_RULE_MANIFEST: cannot read '/nonexistent/rules.json'",
  ],
  "a sampling rule manifest of version 1 (Envoy's tracer reads version 2 only)": [
    {
      APPMESH_RESOURCE_ARN: ARN,
      ENABLE_ENVOY_XRAY_TRACING: '1',
      XRAY_SAMPLING_RULE_MANIFEST: tracingFile(
        'v1.json',
        '{"version": 1, "default": {"fixed_target": 1, "rate": 0.1}}',
      ),
    },
    `XRAY_SAMPLING_RULE_MANIFEST: '${path.join(TRACING_DIR, 'v1.json')}' is not an X-Ray sampling rule manifest of version 2 ("version": 2), the only one Envoy's X-Ray tracer reads`,
  ],
  'a Jaeger host that is no DNS name': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_JAEGER_TRACING: '1', JAEGER_TRACER_ADDRESS: 'jaeger:9411' },
    "JAEGER_TRACER_ADDRESS must be an IP address or a DNS name, got 'jaeger:9411'",
  ],
  'a Datadog host with a quote': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_DATADOG_TRACING: '1', DATADOG_TRACER_ADDRESS: 'dd"agent' },
    "DATADOG_TRACER_ADDRESS must be an IP address or a DNS name, got 'dd\"agent'",
  ],
  'a segment name with a line break': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_XRAY_TRACING: '1', XRAY_SEGMENT_NAME: 'a\nb: c' },
    'XRAY_SEGMENT_NAME must not contain control characters',
  ],
  ...Object.fromEntries(
    (
      [
        ['a tracing file that is not there', '/nonexistent/tracing.yaml', "cannot read '/nonexistent/tracing.yaml'"],
        ['a tracing file that is a folder', TRACING_DIR, `cannot read '${TRACING_DIR}'`],
        [
          'a tracing file over 64 KiB (not read)',
          tracingFile('big.yaml', `tracing:\n${'  # padding\n'.repeat(6000)}`),
          `'${path.join(TRACING_DIR, 'big.yaml')}' is over 65536 bytes`,
        ],
        [
          'an empty tracing file',
          tracingFile('empty.yaml', ''),
          `'${path.join(TRACING_DIR, 'empty.yaml')}' holds no 'tracing:' block`,
        ],
        [
          'a tracing file with a NUL byte (which sh would drop)',
          tracingFile('nul.yaml', Buffer.from('tracing:\n  http: {}\0\n')),
          `'${path.join(TRACING_DIR, 'nul.yaml')}' holds a byte that is not printable ASCII (only tabs, line breaks and characters from space to ~ are allowed)`,
        ],
        [
          'a tracing file in UTF-8 beyond ASCII',
          tracingFile('utf8.yaml', 'tracing:\n  http: { name: "tracé" }\n'),
          `'${path.join(TRACING_DIR, 'utf8.yaml')}' holds a byte that is not printable ASCII (only tabs, line breaks and characters from space to ~ are allowed)`,
        ],
        [
          'a tracing file in JSON (flow style)',
          cfgFile('flow.json', ['{"tracing": {"http": {}}}']),
          `'${path.join(TRACING_DIR, 'flow.json')}' line 1: meshd takes a block 'tracing:' and a 'static_resources:' holding 'clusters:' only, got '{"tracing": {"http": {}}}'`,
        ],
        [
          'a tracing file with other bootstrap keys (App Mesh merged them; meshd does not)',
          cfgFile('stats.yaml', ['tracing:', '  http: {}', 'stats_config:', '  stats_tags: []']),
          `'${path.join(TRACING_DIR, 'stats.yaml')}' line 3: meshd takes a block 'tracing:' and a 'static_resources:' holding 'clusters:' only, got 'stats_config:'`,
        ],
        [
          'a tracing file with two tracing blocks',
          cfgFile('two.yaml', ['tracing:', '  http: {}', 'tracing:', '  http: {}']),
          `'${path.join(TRACING_DIR, 'two.yaml')}' line 3: a second 'tracing:': Envoy takes one tracer`,
        ],
        [
          'a tracing file with listeners among its static resources',
          cfgFile('listeners.yaml', ['static_resources:', '  clusters:', '  - name: a', '  listeners: []']),
          `'${path.join(TRACING_DIR, 'listeners.yaml')}' line 4: static_resources may hold a block 'clusters:' list only, got '  listeners: []'`,
        ],
        [
          'a tracing file with a flow clusters list',
          cfgFile('flowlist.yaml', ['static_resources:', '  clusters: [{ name: a }]']),
          `'${path.join(TRACING_DIR, 'flowlist.yaml')}' line 2: static_resources may hold a block 'clusters:' list only, got '  clusters: [{ name: a }]'`,
        ],
        [
          'a tracing file indented with tabs',
          cfgFile('tabs.yaml', ['tracing:', '\thttp: {}']),
          `'${path.join(TRACING_DIR, 'tabs.yaml')}' line 2: indent with spaces, not tabs`,
        ],
        [
          'a tracing file with clusters and no tracing block (nothing would trace)',
          cfgFile('onlyclusters.yaml', ['static_resources:', '  clusters:', '  - name: c', '    type: STATIC']),
          `'${path.join(TRACING_DIR, 'onlyclusters.yaml')}' holds no 'tracing:' block`,
        ],
        [
          "a tracing file's cluster named like meshd's xDS cluster",
          cfgFile('ownxds.yaml', [
            'tracing:',
            '  http: {}',
            'static_resources:',
            '  clusters:',
            '  - connect_timeout: 1s',
            '    name: "meshd_xds"   # taken',
          ]),
          `'${path.join(TRACING_DIR, 'ownxds.yaml')}' line 6: the cluster name 'meshd_xds' is one of meshd's own bootstrap clusters (meshd_xds, static_cluster_sds_unix_socket); name the collector's cluster otherwise`,
        ],
        [
          "a tracing file's cluster named like meshd's SDS cluster, in flow style",
          cfgFile('ownsds.yaml', [
            'tracing:',
            '  http: {}',
            'static_resources:',
            '  clusters:',
            '  - { name: static_cluster_sds_unix_socket, type: STATIC }',
          ]),
          `'${path.join(TRACING_DIR, 'ownsds.yaml')}' line 5: the cluster name 'static_cluster_sds_unix_socket' is one of meshd's own bootstrap clusters (meshd_xds, static_cluster_sds_unix_socket); name the collector's cluster otherwise`,
        ],
        [
          'a tracing file with an empty tracing block',
          cfgFile('emptytracing.yaml', ['tracing:', '# nothing']),
          `'${path.join(TRACING_DIR, 'emptytracing.yaml')}': 'tracing:' is empty`,
        ],
        [
          'a tracing file starting indented',
          cfgFile('indented.yaml', ['  tracing:', '    http: {}']),
          `'${path.join(TRACING_DIR, 'indented.yaml')}' line 1: meshd takes a block 'tracing:' and a 'static_resources:' holding 'clusters:' only, got '  tracing:'`,
        ],
      ] as const
    ).map(([name, file, why]) => [
      name,
      [{ APPMESH_RESOURCE_ARN: ARN, ENVOY_TRACING_CFG_FILE: file }, `ENVOY_TRACING_CFG_FILE: ${why}`],
    ]),
  ),
  'a DogStatsD host name': [
    { APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_DOG_STATSD: '1', STATSD_ADDRESS: 'statsd' },
    "STATSD_ADDRESS must be an IP address (Envoy does not look up names for stats), got 'statsd'",
  ],
};

describe('meshd bootstrap and render-bootstrap.sh', () => {
  it.each(Object.entries(VALID))('render the same bytes and report the same variables: %s', (_, env) => {
    const node = meshdBootstrap(env);
    const sh = shBootstrap(env);
    expect(node.status).toBe(0);
    expect(sh).toEqual(node);
    // Both wrote a bootstrap with every placeholder filled (values, quoted, may hold braces).
    expect(node.stdout).toMatch(/^node:$/m);
    expect(node.stdout.replace(/"(?:[^"\\]|\\.)*"/g, '""')).not.toContain('{{');
  });

  it.each(Object.entries(INVALID))(
    'refuse the same bad value in one line, printing nothing: %s',
    (_, [env, message]) => {
      const node = meshdBootstrap(env);
      expect(node).toEqual({ status: 2, stdout: '', stderr: `meshd bootstrap: ${message}\n` });
      expect(shBootstrap(env)).toEqual(node);
    },
  );

  it('read a sampling rule manifest whose relative path looks like an option (-v) as a file', () => {
    const dir = tmpDir('bootstrap-dash-');
    fs.writeFileSync(path.join(dir, '-v'), '{"version": 2, "default": {"fixed_target": 1, "rate": 0.1}}\n');
    const env = { PATH, APPMESH_RESOURCE_ARN: ARN, ENABLE_ENVOY_XRAY_TRACING: '1', XRAY_SAMPLING_RULE_MANIFEST: '-v' };
    const run = (cmd: string, args: string[]) => {
      const r = spawnSync(cmd, args, { encoding: 'utf8', env, cwd: dir });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const node = run(process.execPath, [MESHD_BIN, 'bootstrap']);
    expect(node.status).toBe(0);
    expect(parse(node.stdout).tracing.http.typed_config.sampling_rule_manifest).toEqual({ filename: '-v' });
    expect(run(SH, [RENDER_SH])).toEqual(node);
  });

  it('refuse a segment or service name that is not UTF-8 the same way (Node would read U+FFFD, sh the byte)', () => {
    for (const name of ['XRAY_SEGMENT_NAME', 'DD_SERVICE']) {
      // The byte 0xff goes into the variable through sh: Node passes strings to a child as UTF-8.
      const withByte = (cmd: string[]) =>
        runWith(SH, ['-c', `${name}=$(printf 'a\\377b') exec "$@"`, 'sh', ...cmd], {
          APPMESH_RESOURCE_ARN: ARN,
          ENABLE_ENVOY_XRAY_TRACING: name === 'XRAY_SEGMENT_NAME' ? '1' : '0',
          ENABLE_ENVOY_DATADOG_TRACING: name === 'DD_SERVICE' ? '1' : '0',
        });
      const node = withByte([process.execPath, MESHD_BIN, 'bootstrap']);
      expect(node).toEqual({
        status: 2,
        stdout: '',
        stderr: `meshd bootstrap: ${name} must be printable ASCII (characters from space to ~)\n`,
      });
      expect(withByte([SH, RENDER_SH])).toEqual(node);
    }
  });

  it('render-bootstrap.sh prints nothing on stdout when its template cannot be rendered (never half a bootstrap)', () => {
    const dir = tmpDir('bootstrap-broken-template-');
    for (const name of ['render-bootstrap.sh', 'bootstrap.yaml', 'appmesh-variables.tsv'])
      fs.copyFileSync(path.join(BOOTSTRAP_DIR, name), path.join(dir, name));
    // A placeholder the template language cannot read, near the end of the template.
    fs.appendFileSync(path.join(dir, 'bootstrap.yaml'), 'broken: {{lower_case}}\n');
    const r = runWith(SH, [path.join(dir, 'render-bootstrap.sh')], { APPMESH_RESOURCE_ARN: ARN });
    expect(r.stdout).toBe('');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('bootstrap template: cannot read broken: {{lower_case}}');
  });

  it("puts App Mesh's variables where Envoy reads them", () => {
    const doc = parse(meshdBootstrap(VALID['everything App Mesh offered']!).stdout);
    expect(doc.node).toEqual({
      id: ARN,
      cluster: ARN,
      metadata: { APPMESH_ENVOY_INGRESS_PORT: '16000', APPMESH_ENVOY_EGRESS_PORT: '16001' },
    });
    expect(doc.admin.address.socket_address).toEqual({ address: '::', port_value: 9902, ipv4_compat: true });
    expect(doc.admin.access_log[0].typed_config.path).toBe('/tmp/envoy_admin_access.log');
    expect(doc.cluster_manager).toEqual({ outlier_detection: { event_log_path: '/tmp/envoy_outlier_events.log' } });
    expect(doc.dynamic_resources.ads_config.api_type).toBe('DELTA_GRPC');
    expect(doc.dynamic_resources.cds_config.initial_fetch_timeout).toBe('30s');
    expect(doc.dynamic_resources.lds_config.initial_fetch_timeout).toBe('30s');
    expect(
      doc.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address,
    ).toEqual({ address: 'meshd', port_value: 18000 });
    expect(doc.stats_config.stats_tags).toEqual([
      { tag_name: 'appmesh.mesh', fixed_value: 'apps' },
      { tag_name: 'appmesh.virtual_node', fixed_value: 'front' },
    ]);
    expect(doc.stats_flush_interval).toBe('90s');
    expect(doc.stats_sinks[0].typed_config.address).toEqual({
      socket_address: { protocol: 'UDP', address: '10.0.0.9', port_value: 8126 },
    });

    const gateway = parse(meshdBootstrap(VALID['a virtual gateway with stats tags']!).stdout);
    expect(gateway.stats_config.stats_tags[1]).toEqual({
      tag_name: 'appmesh.virtual_gateway',
      fixed_value: 'ingress-gw',
    });
    const socket = parse(meshdBootstrap(VALID['DogStatsD over a Unix socket']!).stdout);
    expect(socket.stats_sinks[0].typed_config.address).toEqual({ pipe: { path: '/var/run/datadog/dsd.socket' } });
    const quoted = parse(meshdBootstrap(VALID['cluster from APPMESH_RESOURCE_CLUSTER first']!).stdout);
    expect(quoted.node.cluster).toBe('front "blue" \\ cluster');
  });

  it("App Mesh's defaults: admin on 0.0.0.0:9901, no admin access log unless asked (a shared /tmp file stops other users' Envoys), App Mesh's runtime layer, wait for meshd for ever, no stats extras", () => {
    const doc = parse(meshdBootstrap({ APPMESH_RESOURCE_ARN: ARN }).stdout);
    expect(doc.admin.address).toEqual({ socket_address: { address: '0.0.0.0', port_value: 9901 } });
    expect(doc.admin.access_log).toBeUndefined();
    // The agent's layer 0 less the reloadable features Envoy 1.40 removed, then an admin layer.
    expect(doc.layered_runtime).toEqual({
      layers: [
        {
          name: 'static_layer_0',
          static_layer: {
            'envoy.features.enable_all_deprecated_features': true,
            're2.max_program_size.error_level': 1000,
          },
        },
        { name: 'admin_layer', admin_layer: {} },
      ],
    });
    expect(doc.dynamic_resources.cds_config.initial_fetch_timeout).toBe('0s');
    expect(doc.dynamic_resources.ads_config.api_type).toBe('GRPC');
    expect(doc.stats_config).toBeUndefined();
    expect(doc.cluster_manager).toBeUndefined();
    expect(doc.stats_sinks).toBeUndefined();
    expect(doc.stats_flush_interval).toBeUndefined();
  });

  it("puts each tracer where Envoy reads it, with App Mesh's names and defaults", () => {
    const tracer = (name: string) => parse(meshdBootstrap(VALID[name]!).stdout);
    const cluster = (doc: { static_resources: { clusters: { name: string }[] } }, name: string) =>
      doc.static_resources.clusters.find((c) => c.name === name) as
        { type: string; load_assignment: { endpoints: { lb_endpoints: { endpoint: unknown }[] }[] } } | undefined;
    const endpoint = (c: ReturnType<typeof cluster>) => c!.load_assignment.endpoints[0]!.lb_endpoints[0]!.endpoint;

    const xray = tracer("X-Ray tracing with App Mesh's defaults");
    expect(xray.tracing.http.name).toBe('envoy.tracers.xray');
    expect(xray.tracing.http.typed_config).toEqual({
      '@type': 'type.googleapis.com/envoy.config.trace.v3.XRayConfig',
      segment_name: 'apps/front',
      daemon_endpoint: { protocol: 'UDP', address: '127.0.0.1', port_value: 2000 },
      segment_fields: {
        origin: 'AWS::AppMesh::Proxy',
        aws: { app_mesh: { mesh_name: 'apps', virtual_node_name: 'front' } },
      },
    });
    expect(xray.static_resources.clusters.map((c: { name: string }) => c.name)).toEqual(['meshd_xds']);
    const xray2 = tracer(
      'X-Ray with a daemon address and port, a segment name and a sampling rate rounded to hundredths',
    ).tracing.http.typed_config;
    expect(xray2.daemon_endpoint).toEqual({ protocol: 'UDP', address: '10.0.0.7', port_value: 2100 });
    expect(xray2.segment_name).toBe('front "edge"');
    expect(JSON.parse(xray2.sampling_rule_manifest.inline_string)).toEqual({
      version: 2,
      default: { fixed_target: 1, rate: 0.13 },
      rules: [],
    });
    const xray6 = tracer('X-Ray on an IPv6 daemon, XRAY_DAEMON_PORT, a rate of 1').tracing.http.typed_config;
    // In brackets: Envoy's X-Ray tracer reads address:port, and a bare IPv6 address crashes it.
    expect(xray6.daemon_endpoint).toEqual({ protocol: 'UDP', address: '[fd00::7]', port_value: 2001 });
    expect(xray6.segment_fields.aws.app_mesh).toEqual({ mesh_name: 'apps', virtual_node_name: 'ingress-gw' });
    expect(JSON.parse(xray6.sampling_rule_manifest.inline_string).default.rate).toBe(1);
    expect(tracer("X-Ray at 5% (X-Ray's default: no rules written)").tracing.http.typed_config).not.toHaveProperty(
      'sampling_rule_manifest',
    );
    expect(
      tracer('X-Ray with a sampling rule manifest, which wins over the rate').tracing.http.typed_config
        .sampling_rule_manifest,
    ).toEqual({ filename: MANIFEST });

    const jaeger = tracer("Jaeger tracing with App Mesh's defaults (protobuf spans)");
    expect(jaeger.tracing.http).toEqual({
      name: 'envoy.tracers.zipkin',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.config.trace.v3.ZipkinConfig',
        collector_cluster: 'jaeger',
        collector_endpoint: '/api/v2/spans',
        collector_endpoint_version: 'HTTP_PROTO',
        shared_span_context: false,
      },
    });
    expect(cluster(jaeger, 'jaeger')!.type).toBe('STRICT_DNS');
    expect(endpoint(cluster(jaeger, 'jaeger'))).toEqual({
      address: { socket_address: { address: '127.0.0.1', port_value: 9411 } },
    });
    const jaegerJson = tracer('Jaeger by DNS name and port, JSON spans');
    expect(jaegerJson.tracing.http.typed_config.collector_endpoint_version).toBe('HTTP_JSON');
    expect(endpoint(cluster(jaegerJson, 'jaeger'))).toEqual({
      address: { socket_address: { address: 'jaeger-collector.tracing.svc', port_value: 19411 } },
    });

    const datadog = tracer("Datadog tracing with App Mesh's defaults");
    expect(datadog.tracing.http).toEqual({
      name: 'envoy.tracers.datadog',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.config.trace.v3.DatadogConfig',
        collector_cluster: 'datadog_agent',
        service_name: 'envoy-apps/front',
      },
    });
    expect(endpoint(cluster(datadog, 'datadog_agent'))).toEqual({
      address: { socket_address: { address: '127.0.0.1', port_value: 8126 } },
    });
    const datadog2 = tracer('Datadog with an agent address, port and DD_SERVICE');
    expect(datadog2.tracing.http.typed_config.service_name).toBe('front \\ "svc"');
    expect(endpoint(cluster(datadog2, 'datadog_agent'))).toEqual({
      address: { socket_address: { address: 'datadog-agent', port_value: 18126 } },
    });

    const file = meshdBootstrap(VALID['a tracing config file, which turns the tracers above off (and says so)']!);
    expect(file.stderr.split('\n').filter(Boolean)).toEqual([
      'meshd bootstrap: ENABLE_ENVOY_XRAY_TRACING has no effect: ENVOY_TRACING_CFG_FILE is set and its tracing is used',
      'meshd bootstrap: ENABLE_ENVOY_JAEGER_TRACING has no effect: ENVOY_TRACING_CFG_FILE is set and its tracing is used',
    ]);
    const fromFile = parse(file.stdout);
    expect(fromFile.tracing.http.name).toBe('envoy.tracers.zipkin');
    expect(fromFile.tracing.http.typed_config.collector_cluster).toBe('otel_collector');
    expect(fromFile.static_resources.clusters.map((c: { name: string }) => c.name)).toEqual([
      'meshd_xds',
      'static_cluster_sds_unix_socket',
      'otel_collector',
    ]);
    expect(endpoint(cluster(fromFile, 'otel_collector'))).toEqual({
      address: { socket_address: { address: 'collector.local', port_value: 9411 } },
    });
    expect(file.stdout).not.toContain('\r');
    // Without a tracing variable, no tracer and no tracing cluster.
    const plain = parse(meshdBootstrap({ APPMESH_RESOURCE_ARN: ARN, XRAY_DAEMON_PORT: '2000' }).stdout);
    expect(plain).not.toHaveProperty('tracing');
    expect(plain.static_resources.clusters).toHaveLength(1);
  });

  it('reports each unsupported variable once, with the reason, and still renders', () => {
    const out = meshdBootstrap(VALID['unsupported App Mesh variables']!);
    expect(out.stderr.split('\n').filter(Boolean)).toEqual([
      "meshd bootstrap: ignoring APPMESH_PLATFORM_K8S_VERSION: platform details for App Mesh's service only",
      'meshd bootstrap: ignoring APPMESH_SOMETHING_NEW: not a variable meshd knows',
      "meshd bootstrap: ignoring APPMESH_XDS_ENDPOINT: it pointed Envoy at App Mesh's management service; meshd's address is MESHD_XDS_ADDRESS",
      "meshd bootstrap: ignoring APPNET_ENVOY_RESTART_COUNT: App Mesh's agent is not used; the entrypoint runs Envoy itself",
      'meshd bootstrap: ignoring ENVOY_STATS_CONFIG_FILE: extra bootstrap files are not merged; ENABLE_ENVOY_STATS_TAGS is supported',
      "meshd bootstrap: ignoring JAEGER_AGENT_HOST: not a variable App Mesh's image read for Jaeger",
      "meshd bootstrap: ignoring XRAY_SOMETHING_NEW: not a variable App Mesh's image read for X-Ray",
    ]);
    expect(out.stdout).toContain(`id: "${ARN}"`);
  });

  it('reads the runtime toggles as App Mesh did, and says which values Envoy 1.40 cannot honour', () => {
    const out = meshdBootstrap(VALID["App Mesh's runtime toggles, some set to what Envoy 1.40 can no longer do"]!);
    expect(out.stderr.split('\n').filter(Boolean)).toEqual([
      'meshd bootstrap: APPMESH_SET_TRACING_DECISION=false has no effect: Envoy 1.40 removed this feature, and the connection managers meshd compiles never record a tracing decision in x-request-id (what false asked for)',
      'meshd bootstrap: ENVOY_ENABLE_TCP_POOL_IDLE_TIMEOUT=false has no effect: Envoy 1.40 removed this feature: idle TCP upstream connections always close after 10 minutes',
      "meshd bootstrap: ENVOY_ACTIVE_HEALTH_CHECK_UNEJECT_HOST=true has no effect: Envoy 1.40 removed this feature; meshd's clusters keep App Mesh's default instead (outlier_detection.successful_active_health_check_uneject_host: false)",
    ]);
    // The defaults App Mesh had are what Envoy 1.40 does anyway: nothing to say.
    expect(
      meshdBootstrap({
        APPMESH_RESOURCE_ARN: ARN,
        ENVOY_SANITIZE_ORIGINAL_PATH: 'true',
        ENVOY_ACTIVE_HEALTH_CHECK_UNEJECT_HOST: 'false',
      }).stderr,
    ).toBe('');
  });

  it('takes flags over variables, and names the flag in errors', () => {
    const doc = parse(
      meshdBootstrap({ APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_ADDRESS: 'a:1' }, [
        '--node',
        'mesh/apps/virtualNode/b',
        '--xds-address',
        'meshd.local:18000',
      ]).stdout,
    );
    expect(doc.node.id).toBe('mesh/apps/virtualNode/b');
    expect(
      doc.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
        .address,
    ).toBe('meshd.local');
    expect(meshdBootstrap({}, ['--node', 'mesh/a/virtualNode/b', '--xds-address', 'nohostport']).stderr).toBe(
      "meshd bootstrap: --xds-address must be host:port, got 'nohostport'\n",
    );
    expect(meshdBootstrap({}, ['--node', 'mesh/a/virtualNode/b', '--admin-port', '0']).stderr).toBe(
      "meshd bootstrap: --admin-port must be a whole number from 1 to 65535, got '0'\n",
    );
  });

  it('lists every meshd replica in the meshd_xds cluster: STATIC for IPs, STRICT_DNS once a name is among them (each A record an endpoint), with fast failover', () => {
    const xdsCluster = (env: Record<string, string>) => {
      const doc = parse(meshdBootstrap(env).stdout);
      const cluster = doc.static_resources.clusters.find((c: { name: string }) => c.name === 'meshd_xds');
      const addresses = cluster.load_assignment.endpoints.flatMap((e: { lb_endpoints: unknown[] }) =>
        e.lb_endpoints.map((l) => {
          const a = (l as { endpoint: { address: { socket_address: { address: string; port_value: number } } } })
            .endpoint.address.socket_address;
          return `${a.address} ${a.port_value}`;
        }),
      );
      return { cluster, type: cluster.type, addresses };
    };
    const ips = xdsCluster(VALID['a fleet of meshd replicas by IP address, IPv6 among them, blanks around items']!);
    expect(ips.type).toBe('STATIC');
    expect(ips.addresses).toEqual(['10.0.0.1 18000', '10.0.0.2 18000', 'fd00::3 18000']);
    const names = xdsCluster(VALID['a fleet by DNS names, mixed with an IP address']!);
    expect(names.type).toBe('STRICT_DNS');
    expect(names.addresses).toEqual(['meshd-a.mesh.internal 18000', 'meshd-b.mesh.internal. 18000', '10.0.0.3 18000']);
    // One address, as before: a name is looked up (all its A records), an IP is not.
    expect(xdsCluster({ APPMESH_RESOURCE_ARN: ARN, MESHD_XDS_ADDRESS: 'meshd:18000' })).toMatchObject({
      type: 'STRICT_DNS',
      addresses: ['meshd 18000'],
    });
    expect(xdsCluster({ APPMESH_RESOURCE_ARN: ARN })).toMatchObject({
      type: 'STATIC',
      addresses: ['127.0.0.1 18000'],
    });
    expect(xdsCluster(VALID['the most addresses allowed (16)']!).addresses).toHaveLength(16);
    // Failover: a replica that refuses or resets connections is ejected at once, and a silent one
    // is found by TCP keepalive; a connection attempt gives up after 1 s.
    const { cluster } = names;
    expect(cluster.connect_timeout).toBe('1s');
    expect(cluster.outlier_detection).toEqual({
      consecutive_5xx: 2,
      consecutive_gateway_failure: 2,
      enforcing_consecutive_gateway_failure: 100,
      interval: '1s',
      base_ejection_time: '5s',
      max_ejection_percent: 100,
    });
    expect(cluster.upstream_connection_options).toEqual({
      tcp_keepalive: { keepalive_time: 5, keepalive_interval: 1, keepalive_probes: 3 },
    });
  });

  it("puts the control channel where Envoy reads it: TLS from files on meshd_xds, the token as authorization metadata, App Mesh's SDS socket cluster", () => {
    const clusters = (doc: { static_resources: { clusters: { name: string }[] } }) =>
      Object.fromEntries(doc.static_resources.clusters.map((c) => [c.name, c as Record<string, unknown>]));
    const full = parse(meshdBootstrap(VALID[FULL_CONTROL_CHANNEL]!).stdout);
    expect(full.dynamic_resources.ads_config.grpc_services).toEqual([
      {
        envoy_grpc: { cluster_name: 'meshd_xds' },
        initial_metadata: [{ key: 'authorization', value: `Bearer ${TOKEN}` }],
      },
    ]);
    const byName = clusters(full);
    expect(Object.keys(byName)).toEqual(['meshd_xds', 'static_cluster_sds_unix_socket']);
    expect(byName.meshd_xds!.transport_socket).toEqual({
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        common_tls_context: {
          alpn_protocols: ['h2'],
          validation_context: {
            trusted_ca: { filename: CA.certFile },
            match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'meshd.local' } }],
          },
          tls_certificates: [
            { certificate_chain: { filename: PROXY_CERT.certFile }, private_key: { filename: PROXY_CERT.keyFile } },
          ],
        },
        sni: 'meshd.local',
      },
    });
    // App Mesh's agent (appendSdsSocketCluster): STATIC, 1 s, HTTP/2, one pipe endpoint; v3 spells
    // the HTTP/2 options as typed_extension_protocol_options.
    expect(byName.static_cluster_sds_unix_socket).toEqual({
      name: 'static_cluster_sds_unix_socket',
      type: 'STATIC',
      connect_timeout: '1s',
      load_assignment: {
        cluster_name: 'static_cluster_sds_unix_socket',
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: '/run/spire/sockets/agent.sock' } } } }] }],
      },
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          explicit_http_config: { http2_protocol_options: {} },
        },
      },
    });

    // The CA alone: meshd's certificate must chain to it; no name, no client certificate.
    const caOnly = parse(
      meshdBootstrap(VALID['xDS over TLS checked against the CA alone, the token from a file with blanks around it']!)
        .stdout,
    );
    expect(clusters(caOnly).meshd_xds!.transport_socket).toMatchObject({
      typed_config: {
        common_tls_context: { alpn_protocols: ['h2'], validation_context: { trusted_ca: { filename: CA.certFile } } },
      },
    });
    const tlsContext = (clusters(caOnly).meshd_xds!.transport_socket as { typed_config: Record<string, unknown> })
      .typed_config;
    expect(Object.keys(tlsContext)).toEqual(['@type', 'common_tls_context']);
    expect(Object.keys(tlsContext.common_tls_context as object)).toEqual(['alpn_protocols', 'validation_context']);
    expect(caOnly.dynamic_resources.ads_config.grpc_services[0].initial_metadata).toEqual([
      { key: 'authorization', value: `Bearer ${TOKEN}` },
    ]);

    // Nothing asked for: plaintext, no metadata, no SDS cluster, as before.
    const plain = parse(meshdBootstrap({ APPMESH_RESOURCE_ARN: ARN }).stdout);
    expect(plain.dynamic_resources.ads_config.grpc_services).toEqual([{ envoy_grpc: { cluster_name: 'meshd_xds' } }]);
    expect(Object.keys(clusters(plain))).toEqual(['meshd_xds']);
    expect(clusters(plain).meshd_xds!.transport_socket).toBeUndefined();
    const quoted = parse(
      meshdBootstrap(VALID['TLS switched off, an SDS socket path with quotes and a backslash']!).stdout,
    );
    expect(clusters(quoted).static_cluster_sds_unix_socket!.load_assignment).toMatchObject({
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: '/run/spire/"agent" \\ one.sock' } } } }] }],
    });
  });

  it('takes the control channel from flags too, naming the flag in errors and never echoing a token', () => {
    const node = ['--node', 'mesh/apps/virtualNode/front'];
    const doc = parse(
      meshdBootstrap({}, [
        ...node,
        '--xds-tls',
        '--xds-ca-file',
        CA.certFile,
        '--xds-server-name',
        'meshd.local',
        '--token-file',
        TOKEN_FILE,
        '--sds-socket-path',
        '/run/spire/sockets/agent.sock',
      ]).stdout,
    );
    expect(doc.dynamic_resources.ads_config.grpc_services[0].initial_metadata[0].value).toBe(`Bearer ${TOKEN}`);
    expect(doc.static_resources.clusters[0].transport_socket.typed_config.sni).toBe('meshd.local');
    expect(doc.static_resources.clusters[1].name).toBe('static_cluster_sds_unix_socket');
    const secret = `${TOKEN}"x`;
    const bad = meshdBootstrap({}, [...node, '--xds-tls', '--xds-ca-file', CA.certFile, '--token', secret]);
    expect(bad).toEqual({ status: 2, stdout: '', stderr: `meshd bootstrap: --token is not ${WHAT_A_TOKEN_IS}\n` });
    expect(meshdBootstrap({}, [...node, '--token', TOKEN]).stderr).toContain(
      '--token without TLS: anyone on the path could read the bearer token',
    );
    expect(meshdBootstrap({}, [...node, '--token', TOKEN, '--xds-insecure-token']).status).toBe(0);
    expect(meshdBootstrap({}, [...node, '--xds-tls']).stderr).toBe(
      "meshd bootstrap: --xds-tls needs MESHD_XDS_CA_FILE (--xds-ca-file), the CA bundle meshd's certificate must chain to: certificate verification is never turned off\n",
    );
    // The TLS variable set to 1 but the flag files missing their pair.
    expect(meshdBootstrap(TLS_ON, [...node, '--xds-cert-file', PROXY_CERT.certFile]).stderr).toBe(
      'meshd bootstrap: --xds-cert-file needs MESHD_XDS_KEY_FILE (--xds-key-file) too\n',
    );
  });

  it('every variable the table marks as used is one that meshd bootstrap or the entrypoint reads', () => {
    const table = fs.readFileSync(path.join(BOOTSTRAP_DIR, 'appmesh-variables.tsv'), 'utf8');
    const used = table
      .split('\n')
      .filter((l) => l.endsWith('\tused'))
      .map((l) => l.split('\t')[0]);
    const help = meshdBootstrap({}, ['--help']).stdout;
    const entrypoint = fs.readFileSync(ENTRYPOINT, 'utf8');
    for (const name of used) expect(`${help}${entrypoint}`).toContain(`${name}`);
  });
});

describeWithEnvoy('the bootstrap with a real Envoy', (envoyBin) => {
  it.each(Object.entries(VALID))('envoy --mode validate accepts it: %s', (_, env) => {
    const result = envoyValidate(envoyBin, meshdBootstrap(env).stdout);
    expect(result.output).toContain('OK');
    expect(result.ok).toBe(true);
  });

  it('Envoy 1.40 reads every runtime key it is given: no "removed guard" complaint', () => {
    const file = path.join(tmpDir('runtime-keys-'), 'bootstrap.yaml');
    fs.writeFileSync(file, meshdBootstrap(VALID['everything App Mesh offered']!).stdout);
    const r = spawnSync(envoyBin, ['--mode', 'validate', '-c', file, '--log-level', 'warn'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(r.stdout + r.stderr).toContain('OK');
    expect(r.stdout + r.stderr).not.toMatch(/removed guard|envoy_bug/);
  });

  /** Runs entrypoint.sh with the real Envoy on PATH as `envoy`, as the stock image has it. */
  function entrypoint(env: Record<string, string>, args: string[]): Run & { tmp: string } {
    const bin = tmpDir('envoy-on-path-');
    fs.symlinkSync(envoyBin, path.join(bin, 'envoy'));
    const tmp = tmpDir('entrypoint-tmp-');
    const r = spawnSync(SH, [ENTRYPOINT, ...args], {
      encoding: 'utf8',
      env: { PATH: imageLikePath([bin]), TMPDIR: tmp, ...env },
      timeout: 60_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, tmp };
  }

  it('entrypoint.sh renders the bootstrap from the variables and runs Envoy on it, passing arguments on', () => {
    const env = {
      APPMESH_RESOURCE_ARN: ARN,
      MESHD_XDS_ADDRESS: 'meshd:18000',
      ENVOY_LOG_LEVEL: 'DEBUG',
      ENVOY_CONCURRENCY: '2',
      ENABLE_ENVOY_XRAY_TRACING: '1',
      XRAY_SOMETHING_NEW: '2000',
    };
    const r = entrypoint(env, ['--mode', 'validate']);
    expect(r.stdout + r.stderr).toContain('OK');
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(
      "meshd bootstrap: ignoring XRAY_SOMETHING_NEW: not a variable App Mesh's image read for X-Ray",
    );
    expect(r.stderr).toContain(`meshd entrypoint: "${ARN}" as `);
    // The bootstrap Envoy ran on is the one meshd bootstrap renders, the admin log under TMPDIR.
    const renderedFile = path.join(r.tmp, 'meshd-envoy-bootstrap.yaml');
    const rendered = fs.readFileSync(renderedFile, 'utf8');
    expect(rendered).toContain('name: envoy.tracers.xray');
    // It may hold a join token: its owner alone reads it.
    expect(fs.statSync(renderedFile).mode & 0o777).toBe(0o600);
    expect(rendered).toBe(
      meshdBootstrap({ ...env, ENVOY_ADMIN_ACCESS_LOG_FILE: path.join(r.tmp, 'envoy_admin_access.log') }).stdout,
    );
  });

  /**
   * A TLS HTTP/2 server standing in for meshd's xDS port: it answers the ADS stream with headers
   * and nothing else, and records what each stream and each failed handshake showed.
   */
  async function tlsAdsServer(cert: Certificate) {
    const streams: {
      path: string;
      authorization: string | undefined;
      alpn: string | false | null;
      sni: string | false | undefined;
      clientSan: string | undefined;
      clientAuthorized: boolean;
    }[] = [];
    const handshakeFailures: string[] = [];
    const server = http2.createSecureServer({
      cert: fs.readFileSync(cert.certFile),
      key: fs.readFileSync(cert.keyFile),
      ca: fs.readFileSync(CA.certFile),
      requestCert: true,
      rejectUnauthorized: false, // a client certificate is recorded, not required
    });
    server.on('stream', (stream, headers) => {
      const socket = stream.session!.socket as tls.TLSSocket;
      streams.push({
        path: String(headers[':path']),
        authorization: headers.authorization,
        alpn: socket.alpnProtocol,
        sni: (socket as tls.TLSSocket & { servername?: string | false }).servername,
        clientSan: socket.getPeerCertificate().subjectaltname,
        clientAuthorized: socket.authorized,
      });
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    });
    server.on('tlsClientError', (err) => handshakeFailures.push(err.message));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as AddressInfo).port,
      streams,
      handshakeFailures,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Envoy's open session would keep close() waiting.
          setTimeout(resolve, 1000).unref();
        }),
    };
  }

  /** Runs Envoy on the bootstrap these variables give, pointed at `port`, until `until` passes. */
  async function envoyAgainst(port: number, env: Record<string, string>, until: () => Promise<unknown>) {
    const adminPort = await freePort();
    const rendered = meshdBootstrap({
      ...env,
      MESHD_XDS_ADDRESS: `127.0.0.1:${port}`,
      ENVOY_ADMIN_ACCESS_PORT: String(adminPort),
    });
    expect(rendered.stderr).toBe('');
    const envoy = startEnvoy(envoyBin, rendered.stdout, adminPort);
    try {
      await until();
    } catch (err) {
      throw new Error(`${(err as Error).message}\nEnvoy's log:\n${envoy.logs().slice(-3000)}`);
    } finally {
      await envoy.stop();
    }
  }

  it('Envoy opens the ADS stream over TLS (h2, SNI), presents its client certificate and sends the token', async () => {
    const server = await tlsAdsServer(issueCertificate(CA, PKI_DIR, 'meshd-server', ['meshd.local']));
    try {
      await envoyAgainst(server.port, VALID[FULL_CONTROL_CHANNEL]!, () =>
        waitFor('the ADS stream', () => server.streams[0]),
      );
      expect(server.streams[0]).toEqual({
        path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
        authorization: `Bearer ${TOKEN}`,
        alpn: 'h2',
        sni: 'meshd.local',
        clientSan: 'DNS:front.apps.local',
        clientAuthorized: true,
      });
    } finally {
      await server.close();
    }
  }, 30_000);

  it('without a client certificate Envoy presents none, and the token from a file still goes', async () => {
    const server = await tlsAdsServer(issueCertificate(CA, PKI_DIR, 'meshd-server-2', ['meshd.local']));
    try {
      await envoyAgainst(
        server.port,
        VALID['xDS over TLS checked against the CA alone, the token from a file with blanks around it']!,
        () => waitFor('the ADS stream', () => server.streams[0]),
      );
      expect(server.streams[0]).toMatchObject({ authorization: `Bearer ${TOKEN}`, alpn: 'h2', clientSan: undefined });
      expect(server.streams[0]!.clientAuthorized).toBe(false);
    } finally {
      await server.close();
    }
  }, 30_000);

  it.each([
    ['a certificate for another name', () => issueCertificate(CA, PKI_DIR, 'not-meshd', ['other.local'])],
    ['a certificate from another CA', () => issueCertificate(OTHER_CA, PKI_DIR, 'foreign-meshd', ['meshd.local'])],
  ])(
    'Envoy refuses a server with %s: the handshake fails and no token is sent',
    async (_, makeCert) => {
      const server = await tlsAdsServer(makeCert());
      try {
        await envoyAgainst(server.port, VALID[FULL_CONTROL_CHANNEL]!, async () => {
          await waitFor('two refused handshakes', () => (server.handshakeFailures.length >= 2 ? true : undefined));
        });
        expect(server.streams).toEqual([]);
      } finally {
        await server.close();
      }
    },
    40_000,
  );

  it('entrypoint.sh renders the control channel (TLS files, token file, SPIRE socket) as meshd bootstrap does, and Envoy accepts it', () => {
    const env = {
      ...VALID[FULL_CONTROL_CHANNEL]!,
      MESHD_TOKEN: '',
      MESHD_TOKEN_FILE: TOKEN_FILE,
      ENVOY_ADMIN_ACCESS_LOG_FILE: '/dev/null',
    };
    const r = entrypoint(env, ['--mode', 'validate']);
    expect(r.stdout + r.stderr).toContain('OK');
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
    const renderedFile = path.join(r.tmp, 'meshd-envoy-bootstrap.yaml');
    expect(fs.statSync(renderedFile).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(renderedFile, 'utf8')).toBe(meshdBootstrap(env).stdout);
    expect(fs.readFileSync(renderedFile, 'utf8')).toContain(`value: "Bearer ${TOKEN}"`);
  });

  it('entrypoint.sh refuses a bad log level or concurrency, and a bad variable, before starting Envoy', () => {
    expect(entrypoint({ APPMESH_RESOURCE_ARN: ARN, ENVOY_LOG_LEVEL: 'loud' }, ['--mode', 'validate'])).toMatchObject({
      status: 2,
      stderr:
        "meshd entrypoint: ENVOY_LOG_LEVEL must be one of trace, debug, info, warn, error, critical, off; got 'loud'\n",
    });
    expect(entrypoint({ APPMESH_RESOURCE_ARN: ARN, ENVOY_CONCURRENCY: 'two' }, ['--mode', 'validate'])).toMatchObject({
      status: 2,
      stderr: "meshd entrypoint: ENVOY_CONCURRENCY must be a whole number of worker threads (1 or more), got 'two'\n",
    });
    expect(entrypoint({ APPMESH_VIRTUAL_NODE_NAME: 'front' }, ['--mode', 'validate'])).toMatchObject({
      status: 2,
      stdout: '',
    });
  });
});
