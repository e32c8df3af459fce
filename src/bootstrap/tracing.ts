// Tracing from App Mesh's Envoy-image variables: X-Ray (ENABLE_ENVOY_XRAY_TRACING), Jaeger
// through Envoy's Zipkin tracer (ENABLE_ENVOY_JAEGER_TRACING), Datadog (ENABLE_ENVOY_DATADOG_TRACING),
// or a file of Envoy config holding a tracing block (ENVOY_TRACING_CFG_FILE), as the image's agent
// mapped them (docs/tracing.md has the table). envoy-bootstrap/render-bootstrap.sh applies the same
// rules in sh and awk, with the same messages (test/e2e/bootstrap.test.ts holds the two together),
// so the checks here are written step by step rather than with a YAML or JSON parser.
import * as fs from 'node:fs';
import type { NodeIdentity } from '../model/node-id';
import { isDnsName, isIpv4, isIpv6, parsePort } from './xds-addresses';

/** A tracing config file or sampling rule manifest is read only up to this size. */
export const MAX_TRACING_FILE_BYTES = 65536;

export type BootstrapTracing =
  | {
      kind: 'xray';
      segmentName: string;
      address: string;
      port: number;
      mesh: string;
      node: string;
      /** XRAY_SAMPLING_RULE_MANIFEST: a file Envoy reads. */
      samplingFile?: string;
      /** XRAY_SAMPLING_RATE: the rules as JSON, inline. */
      samplingRules?: string;
    }
  | { kind: 'zipkin'; address: string; port: number; version: 'HTTP_PROTO' | 'HTTP_JSON' }
  | { kind: 'datadog'; address: string; port: number; serviceName: string }
  | { kind: 'file'; tracing?: string; clusters?: string };

/** The variables (or flags) as read; `source` names where each came from, for messages. */
export interface TracingInput {
  node: NodeIdentity;
  xray: boolean;
  datadog: boolean;
  jaeger: boolean;
  xrayDaemonAddress?: string;
  /** Ports as given: checked only when their tracer is on (see tracerPort). */
  xrayDaemonPort: string;
  xraySamplingRate?: string;
  xraySamplingRuleManifest?: string;
  xraySegmentName?: string;
  jaegerAddress: string;
  jaegerPort: string;
  jaegerVersion?: string;
  datadogAddress: string;
  datadogPort: string;
  datadogService?: string;
  configFile?: string;
  /** The variable or flag a field came from: xray, datadog, jaeger, xrayDaemonAddress, ... */
  source: (field: keyof Omit<TracingInput, 'node' | 'source'>) => string;
}

export interface TracingResult {
  tracing?: BootstrapTracing;
  /** Variables that had no effect, said on stderr. */
  notes: string[];
}

/** The tracer App Mesh's image would have configured from these variables, or why not. */
export function bootstrapTracing(input: TracingInput): TracingResult | { error: string } {
  const enabled = (['xray', 'datadog', 'jaeger'] as const).filter((t) => input[t]);
  if (input.configFile !== undefined) {
    // App Mesh's agent skipped its own tracers when a tracing file was given.
    const notes = enabled.map(
      (t) => `${input.source(t)} has no effect: ${input.source('configFile')} is set and its tracing is used`,
    );
    const file = readTracingConfigFile(input.configFile, input.source('configFile'));
    if ('error' in file) return file;
    return { tracing: { kind: 'file', ...file }, notes };
  }
  if (enabled.length > 1)
    return {
      error: `${input.source(enabled[0]!)} and ${input.source(enabled[1]!)} are both set: Envoy takes one tracer; enable one of ENABLE_ENVOY_XRAY_TRACING, ENABLE_ENVOY_DATADOG_TRACING and ENABLE_ENVOY_JAEGER_TRACING`,
    };
  if (input.xray) return xray(input);
  if (input.datadog) {
    const port = tracerPort(input.datadogPort, input.source('datadogPort'));
    if (typeof port !== 'number') return port;
    const address = collectorHost(input.datadogAddress, input.source('datadogAddress'));
    if (typeof address !== 'string') return address;
    const serviceName = input.datadogService ?? `envoy-${input.node.mesh}/${input.node.name}`;
    const bad = notAscii(serviceName, input.source('datadogService'));
    if (bad) return bad;
    return { tracing: { kind: 'datadog', address, port, serviceName }, notes: [] };
  }
  if (input.jaeger) {
    const port = tracerPort(input.jaegerPort, input.source('jaegerPort'));
    if (typeof port !== 'number') return port;
    const address = collectorHost(input.jaegerAddress, input.source('jaegerAddress'));
    if (typeof address !== 'string') return address;
    // As the agent: any value with "json" in it, in any case, asks for JSON; anything else is protobuf.
    const version = (input.jaegerVersion ?? '').toLowerCase().includes('json') ? 'HTTP_JSON' : 'HTTP_PROTO';
    return { tracing: { kind: 'zipkin', address, port, version }, notes: [] };
  }
  return { notes: [] };
}

/** A collector's host for a STRICT_DNS cluster: an IP address or a DNS name. */
function collectorHost(host: string, source: string): string | { error: string } {
  return isIpv4(host) || isIpv6(host) || isDnsName(host)
    ? host
    : { error: `${source} must be an IP address or a DNS name, got '${host}'` };
}

/**
 * A tracer's port, 1 to 65535 (leading zeros allowed), checked only when its tracer is on:
 * Kubernetes sets XRAY_DAEMON_PORT=udp://10.100.0.5:2000 (or JAEGER_TRACER_PORT=tcp://…) in
 * every pod of a namespace with a Service of that name, and App Mesh's image read the variable
 * only for the tracer it configured.
 */
export function tracerPort(text: string, source: string): number | { error: string } {
  return parsePort(text) ?? { error: `${source} must be a whole number from 1 to 65535, got '${text}'` };
}

/**
 * Free text Envoy sends on (a segment or service name) or opens (a manifest's path): printable
 * ASCII only, as App Mesh's names are, so that both renderers write the same bytes (Node reads a
 * variable that is not UTF-8 with replacement characters, sh as it is).
 */
function notAscii(text: string | undefined, source: string): { error: string } | undefined {
  return text !== undefined && /[^\x20-\x7e]/.test(text)
    ? { error: `${source} must be printable ASCII (characters from space to ~)` }
    : undefined;
}

function xray(input: TracingInput): TracingResult | { error: string } {
  let address = '127.0.0.1';
  const daemonPort = tracerPort(input.xrayDaemonPort, input.source('xrayDaemonPort'));
  if (typeof daemonPort !== 'number') return daemonPort;
  let port = daemonPort;
  const given = input.xrayDaemonAddress;
  if (given !== undefined) {
    // An IP address, with or without a port: the X-Ray tracer sends to an address, not a cluster,
    // so it cannot look a name up. A port here wins over XRAY_DAEMON_PORT, as in App Mesh.
    const parsed = ipWithOptionalPort(given);
    if (parsed === undefined)
      return {
        error: `${input.source('xrayDaemonAddress')} must be an IP address, with a port or not (127.0.0.1, 127.0.0.1:2000, [::1]:2000): the X-Ray tracer does not look names up, got '${given}'`,
      };
    address = parsed.host;
    port = parsed.port ?? port;
  }
  const bad =
    notAscii(input.xraySegmentName, input.source('xraySegmentName')) ??
    notAscii(input.xraySamplingRuleManifest, input.source('xraySamplingRuleManifest'));
  if (bad) return bad;
  let samplingFile: string | undefined;
  let samplingRules: string | undefined;
  if (input.xraySamplingRuleManifest !== undefined) {
    const checked = checkSamplingManifest(input.xraySamplingRuleManifest, input.source('xraySamplingRuleManifest'));
    if (checked !== undefined) return checked;
    samplingFile = input.xraySamplingRuleManifest;
  } else if (input.xraySamplingRate !== undefined) {
    const percent = samplingPercent(input.xraySamplingRate);
    if (percent === undefined)
      return {
        error: `${input.source('xraySamplingRate')} must be a decimal from 0 to 1.00 (100%), got '${input.xraySamplingRate}'`,
      };
    // 5% is X-Ray's own default rate: App Mesh wrote no rules for it, and neither does meshd.
    if (percent !== 5) samplingRules = samplingManifest(percent);
  }
  return {
    tracing: {
      kind: 'xray',
      segmentName: input.xraySegmentName ?? `${input.node.mesh}/${input.node.name}`,
      address,
      port,
      mesh: input.node.mesh,
      node: input.node.name,
      samplingFile,
      samplingRules,
    },
    notes: [],
  };
}

/** `ip`, `ipv4:port` or `[ipv6]:port` (port 1 to 65535, leading zeros allowed), else undefined. */
export function ipWithOptionalPort(text: string): { host: string; port?: number } | undefined {
  if (isIpv4(text) || isIpv6(text)) return { host: text };
  const m = /^(\[([^\]]*)\]|([0-9.]+)):([0-9]+)$/.exec(text);
  if (!m) return undefined;
  const host = m[2] ?? m[3]!;
  if (m[2] !== undefined ? !isIpv6(host) : !isIpv4(host)) return undefined;
  const port = parsePort(m[4]!);
  return port === undefined ? undefined : { host, port };
}

/**
 * A sampling rate as a whole percentage, rounded half up from the decimal as written (0.125 →
 * 13): `1`, `0.5`, `.25`, `00.050`; undefined for anything else or above 1. (App Mesh rounded
 * the float Go parsed; the two differ only where a binary float lands just under a half.)
 */
export function samplingPercent(text: string): number | undefined {
  const m = /^([0-9]*)(\.([0-9]*))?$/.exec(text);
  if (!m || !/[0-9]/.test(text)) return undefined;
  const whole = m[1]!.replace(/^0+/, '');
  const fraction = m[3] ?? '';
  if (whole !== '' && whole !== '1') return undefined;
  if (whole === '1' && /[1-9]/.test(fraction)) return undefined;
  const hundredths = Number(`${fraction}00`.slice(0, 2));
  const up = Number(fraction.charAt(2) || '0') >= 5 ? 1 : 0;
  return Math.min(100, (whole === '1' ? 100 : 0) + hundredths + up);
}

/** X-Ray's local sampling rules (version 2): one default rule, one request a second, then the rate. */
export function samplingManifest(percent: number): string {
  const rate = percent === 100 ? '1' : percent === 0 ? '0' : `0.${String(percent).padStart(2, '0').replace(/0$/, '')}`;
  return `{"version":2,"default":{"fixed_target":1,"rate":${rate}},"rules":[]}`;
}

const MANIFEST_VERSION_2 = /"version"[ \t]*:[ \t]*2([^0-9.]|$)/;

/** A readable file, at most 64 KiB, with a line that says "version": 2 (Envoy reads no other). */
function checkSamplingManifest(file: string, source: string): { error: string } | undefined {
  const text = readBounded(file, source);
  if (typeof text !== 'string') return text;
  if (!text.split('\n').some((line) => MANIFEST_VERSION_2.test(line)))
    return {
      error: `${source}: '${file}' is not an X-Ray sampling rule manifest of version 2 ("version": 2), the only one Envoy's X-Ray tracer reads`,
    };
  return undefined;
}

/** A regular file's bytes as latin1 (one character a byte), at most 64 KiB. */
function readBounded(file: string, source: string): string | { error: string } {
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) return { error: `${source}: cannot read '${file}'` };
    if (stat.size > MAX_TRACING_FILE_BYTES)
      return { error: `${source}: '${file}' is over ${MAX_TRACING_FILE_BYTES} bytes` };
    return fs.readFileSync(file).toString('latin1');
  } catch {
    return { error: `${source}: cannot read '${file}'` };
  }
}

/** meshd's own bootstrap clusters: a tracing file's cluster may not take their names. */
export const MESHD_BOOTSTRAP_CLUSTERS = ['meshd_xds', 'static_cluster_sds_unix_socket'] as const;
const RESERVED_NAME = /(^|[^A-Za-z0-9_])name: *["']?(meshd_xds|static_cluster_sds_unix_socket)["']? *([,}#]|$)/;

const TOP_KEY = /^(tracing|static_resources|staticResources):( +#.*)? *$/;
const CLUSTERS_KEY = /^ +clusters:( +#.*)? *$/;

/**
 * ENVOY_TRACING_CFG_FILE: block YAML whose top-level keys are `tracing:` and, for the clusters
 * its tracer sends to, `static_resources:` holding `clusters:` only. The tracing block goes into
 * the bootstrap as written, the clusters after meshd's own. Read line by line, so that the sh
 * renderer can apply the very same rules: comment and blank lines are left out, carriage
 * returns dropped; every byte must be printable ASCII or a tab or line break.
 */
export function readTracingConfigFile(
  file: string,
  source: string,
): { tracing?: string; clusters?: string } | { error: string } {
  const raw = readBounded(file, source);
  if (typeof raw !== 'string') return raw;
  if (/[^\t\n\r\x20-\x7e]/.test(raw))
    return {
      error: `${source}: '${file}' holds a byte that is not printable ASCII (only tabs, line breaks and characters from space to ~ are allowed)`,
    };
  const fail = (n: number, why: string) => ({ error: `${source}: '${file}' line ${n}: ${why}` });
  const tracing: string[] = [];
  const clusters: string[] = [];
  let section = '';
  let seenTracing = false;
  let seenStatic = false;
  let clustersIndent = -1;
  let itemIndent = -1;
  const lines = raw.replace(/\r/g, '').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i]!;
    if (/^[ \t]*$/.test(line) || /^[ \t]*#/.test(line)) continue;
    if (/^ *\t/.test(line)) return fail(n, 'indent with spaces, not tabs');
    const indent = /^ */.exec(line)![0].length;
    if (indent === 0) {
      if (!TOP_KEY.test(line))
        return fail(
          n,
          `meshd takes a block 'tracing:' and a 'static_resources:' holding 'clusters:' only, got '${line}'`,
        );
      if (line.startsWith('tracing:')) {
        if (seenTracing) return fail(n, "a second 'tracing:': Envoy takes one tracer");
        seenTracing = true;
        section = 'tracing';
      } else {
        if (seenStatic) return fail(n, "a second 'static_resources:'");
        seenStatic = true;
        section = 'static';
      }
      continue;
    }
    if (section === '')
      return fail(
        n,
        `meshd takes a block 'tracing:' and a 'static_resources:' holding 'clusters:' only, got '${line}'`,
      );
    if (section === 'tracing') {
      tracing.push(line);
      continue;
    }
    // static_resources: first `clusters:`, then its block list, re-indented to meshd's clusters.
    const dash = line.charAt(indent) === '-';
    if (clustersIndent < 0) {
      if (!CLUSTERS_KEY.test(line))
        return fail(n, `static_resources may hold a block 'clusters:' list only, got '${line}'`);
      clustersIndent = indent;
      continue;
    }
    if (indent < clustersIndent || (indent === clustersIndent && !dash))
      return fail(n, `static_resources may hold a block 'clusters:' list only, got '${line}'`);
    if (itemIndent < 0) {
      if (!dash) return fail(n, `'clusters:' must be a block list (- name: ...), got '${line}'`);
      itemIndent = indent;
    }
    if (indent < itemIndent) return fail(n, `less indented than the first cluster, got '${line}'`);
    const reserved = RESERVED_NAME.exec(line);
    if (reserved)
      return fail(
        n,
        `the cluster name '${reserved[2]}' is one of meshd's own bootstrap clusters (${MESHD_BOOTSTRAP_CLUSTERS.join(', ')}); name the collector's cluster otherwise`,
      );
    clusters.push(line.slice(itemIndent));
  }
  if (seenTracing && tracing.length === 0) return { error: `${source}: '${file}': 'tracing:' is empty` };
  if (seenStatic && clusters.length === 0)
    return { error: `${source}: '${file}': 'static_resources:' holds no clusters` };
  // Clusters without a tracer would trace nothing: App Mesh's tracers are off with a file set.
  if (!seenTracing) return { error: `${source}: '${file}' holds no 'tracing:' block` };
  return {
    tracing: seenTracing ? tracing.join('\n') : undefined,
    clusters: seenStatic ? clusters.join('\n') : undefined,
  };
}
