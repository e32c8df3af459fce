// DogStatsD lines, as Envoy's `envoy.stat_sinks.dog_statsd` sink sends them to meshd.
//
// What the pinned Envoy (1.40.0) actually sends, observed with `meshd bootstrap --dog-statsd`
// pointed at a UDP socket, requests of 200, 500 and +100 ms through a sidecar:
//   - one metric per datagram (the sink's max_bytes_per_datagram is unset, so no batching);
//     the format still allows several lines per datagram, separated by '\n', so we split;
//   - `<name>:<value>|<type>|#<tag>:<value>,…`, no sample rate, prefix `envoy.`;
//     types: `c` counters, `g` gauges, `ms` histograms whose unit is milliseconds;
//   - Envoy's default tag extraction moves names into tags: `cluster.<c>.upstream_rq_5xx`
//     arrives as `envoy.cluster.upstream_rq_xx:3|c|#envoy.response_code_class:5,
//     envoy.cluster_name:<c>`; `upstream_rq_500` as `envoy.cluster.upstream_rq` with
//     `envoy.response_code:500`. Tag order is not fixed (stats tags come in between);
//   - a cluster name with a dot is cut at it: `cluster.cds_egress_m_a.b_http_80.upstream_rq_2xx`
//     arrives as `envoy.cluster.b_http_80.upstream_rq_xx|…#…,envoy.cluster_name:cds_egress_m_a`;
//   - counters are deltas since the previous flush (stats_flush_interval), sent at each flush,
//     including `:0` for every counter that was ever used;
//   - histograms are sent at once, one line per recorded value (`upstream_rq_time:101|ms`),
//     not summarised at flush; values are whole milliseconds;
//   - every request counts twice, in `envoy.cluster.upstream_rq_*` and again in
//     `envoy.cluster.external.upstream_rq_*` (or `internal.`), so only the first is summed;
//   - a retried attempt's answer goes to `envoy.cluster.retry.upstream_rq_xx`, so
//     `envoy.cluster.upstream_rq_xx` counts each request once, with the answer the caller got
//     (a 503 retried into a 200 is one 2xx); `upstream_rq_time` is one value per request;
//   - gRPC calls count by HTTP status there: a call failing with grpc-status 5 or 13 is a 200;
//     the grpc_stats filter meshd compiles in (compile/grpc-stats.ts) adds, per call, with the
//     status as the server sent it, `envoy.cluster.grpc.<status>:1|c|#…,envoy.cluster_name:<c>`
//     and `envoy.cluster.grpc.success` or `.failure`, `.total`, message counts (and no tags of
//     its own); Envoy's own 503 to a gRPC call is both a 5xx and `grpc.14`;
//   - with `--stats-tags` every line also carries `appmesh.mesh:<m>,appmesh.virtual_node:<n>`
//     naming the sidecar that sent it (the caller), not the destination.
// This module only parses; what the stats mean is envoy-stats.ts.

export type StatsdType = 'c' | 'g' | 'ms' | 'h' | 'd' | 's';

const TYPES: ReadonlySet<string> = new Set<StatsdType>(['c', 'g', 'ms', 'h', 'd', 's']);
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
/** Words some clients print for a non-finite number; never a count or a duration. */
const NON_FINITE_WORD = /^[+-]?(nan|inf(inity)?)$/i;

/**
 * The smallest sample rate taken: a value is divided by its rate, so a tiny rate blows a
 * counter up (`1|c|@1e-300` would count 1e300 requests). Envoy sends no rate at all; DogStatsD
 * clients that sample use 0.01 or more.
 */
export const MIN_SAMPLE_RATE = 0.001;

/**
 * Why a line that looked like a metric was refused (a datagram the sidecars' Envoy would never
 * send, so hostile or broken): counted per reason on /metrics. The first four are found here;
 * out_of_range by envoy-stats.ts, node_limit, latency_budget and overflow by traffic-window.ts.
 */
export const LINE_DROP_REASONS = [
  'non_finite',
  'sample_rate',
  'too_many_tags',
  'out_of_range',
  'node_limit',
  'latency_budget',
  'overflow',
] as const;
export type LineDropReason = (typeof LINE_DROP_REASONS)[number];

/** Why a whole datagram was refused before its lines were read (telemetry.ts). */
/** source: from an address --statsd-allow does not allow (statsd-allow.ts), dropped unread. */
export const DATAGRAM_DROP_REASONS = ['oversized', 'too_many_lines', 'source'] as const;
export type DatagramDropReason = (typeof DATAGRAM_DROP_REASONS)[number];

/** Tags a line may carry (Envoy sends four or five). */
export const DEFAULT_MAX_TAGS_PER_LINE = 64;

export interface StatsdMetric {
  readonly name: string;
  readonly type: StatsdType;
  /** Usually one; DogStatsD 1.1 packs several as `name:1:2:3|ms`. Always finite. */
  readonly values: readonly number[];
  /** `|@0.5`: the client sent this fraction of events (1 when absent); from MIN_SAMPLE_RATE to 1. */
  readonly sampleRate: number;
  readonly tags: ReadonlyMap<string, string>;
}

/** What became of one line: a metric, not a metric at all (skipped), or a metric refused (dropped). */
export type LineResult =
  { readonly metric: StatsdMetric } | { readonly skipped: true } | { readonly dropped: LineDropReason };

export interface ParsedDatagram {
  readonly metrics: StatsdMetric[];
  /** Non-empty lines seen. */
  readonly lines: number;
  /** Lines that were not a metric (malformed, events, service checks); never thrown. */
  readonly skipped: number;
  /** Lines that were metrics but refused, by reason. */
  readonly dropped: ReadonlyMap<LineDropReason, number>;
}

const SKIPPED = { skipped: true } as const;

/** One line: a metric, or why it is not one. */
export function readLine(line: string, maxTags = DEFAULT_MAX_TAGS_PER_LINE): LineResult {
  const colon = line.indexOf(':');
  const bar = line.indexOf('|');
  if (colon <= 0 || bar < colon) return SKIPPED;
  const name = line.slice(0, colon);
  // Events (`_e{…}`) and service checks (`_sc|…`) are not metrics.
  if (name.startsWith('_e{') || name.startsWith('_sc') || /\s/.test(name)) return SKIPPED;
  const sections = line.slice(bar + 1).split('|');
  const type = sections[0]!;
  if (!TYPES.has(type)) return SKIPPED;
  const tokens = line.slice(colon + 1, bar).split(':');
  if (tokens.some((v) => NON_FINITE_WORD.test(v))) return { dropped: 'non_finite' };
  if (!tokens.every((v) => NUMBER.test(v))) return SKIPPED;
  const values = tokens.map(Number);
  // `1e999` is a number in the text but Infinity once read.
  if (!values.every(Number.isFinite)) return { dropped: 'non_finite' };
  let sampleRate = 1;
  const tags = new Map<string, string>();
  for (const section of sections.slice(1)) {
    if (section.startsWith('@')) {
      const rate = section.slice(1);
      if (NON_FINITE_WORD.test(rate)) return { dropped: 'sample_rate' };
      if (!NUMBER.test(rate)) return SKIPPED;
      sampleRate = Number(rate);
      // Written so that NaN fails too.
      if (!(sampleRate >= MIN_SAMPLE_RATE && sampleRate <= 1)) return { dropped: 'sample_rate' };
    } else if (section.startsWith('#')) {
      for (const tag of section.slice(1).split(',')) {
        if (tag === '') continue;
        const at = tag.indexOf(':');
        if (at === -1) tags.set(tag, '');
        else tags.set(tag.slice(0, at), tag.slice(at + 1));
        if (tags.size > maxTags) return { dropped: 'too_many_tags' };
      }
    }
    // Other sections (`c:` container id, `T` timestamp) carry nothing meshd uses.
  }
  return { metric: { name, type: type as StatsdType, values, sampleRate, tags } };
}

/** One line, or undefined when it is not a well-formed DogStatsD metric meshd would take. */
export function parseLine(line: string): StatsdMetric | undefined {
  const read = readLine(line);
  return 'metric' in read ? read.metric : undefined;
}

/** Every line of a datagram (`\n`-separated; `\r\n` tolerated); blank lines are not counted. */
export function parseDatagram(text: string, maxTags = DEFAULT_MAX_TAGS_PER_LINE): ParsedDatagram {
  const metrics: StatsdMetric[] = [];
  const dropped = new Map<LineDropReason, number>();
  let lines = 0;
  let skipped = 0;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    lines++;
    const read = readLine(line, maxTags);
    if ('metric' in read) metrics.push(read.metric);
    else if ('dropped' in read) dropped.set(read.dropped, (dropped.get(read.dropped) ?? 0) + 1);
    else skipped++;
  }
  return { metrics, lines, skipped, dropped };
}
