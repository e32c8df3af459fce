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
//   - gRPC calls count by HTTP status: a call failing with grpc-status 5 or 13 is a 200 there
//     (the compiled listeners have no grpc_stats filter), so gRPC errors are not seen;
//   - with `--stats-tags` every line also carries `appmesh.mesh:<m>,appmesh.virtual_node:<n>`
//     naming the sidecar that sent it (the caller), not the destination.
// This module only parses; what the stats mean is envoy-stats.ts.

export type StatsdType = 'c' | 'g' | 'ms' | 'h' | 'd' | 's';

const TYPES: ReadonlySet<string> = new Set<StatsdType>(['c', 'g', 'ms', 'h', 'd', 's']);
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

export interface StatsdMetric {
  readonly name: string;
  readonly type: StatsdType;
  /** Usually one; DogStatsD 1.1 packs several as `name:1:2:3|ms`. */
  readonly values: readonly number[];
  /** `|@0.5`: the client sent this fraction of events (1 when absent). */
  readonly sampleRate: number;
  readonly tags: ReadonlyMap<string, string>;
}

export interface ParsedDatagram {
  readonly metrics: StatsdMetric[];
  /** Non-empty lines seen. */
  readonly lines: number;
  /** Lines that were not a metric (malformed, events, service checks); never thrown. */
  readonly skipped: number;
}

/** One line, or undefined when it is not a well-formed DogStatsD metric. */
export function parseLine(line: string): StatsdMetric | undefined {
  const colon = line.indexOf(':');
  const bar = line.indexOf('|');
  if (colon <= 0 || bar < colon) return undefined;
  const name = line.slice(0, colon);
  // Events (`_e{…}`) and service checks (`_sc|…`) are not metrics.
  if (name.startsWith('_e{') || name.startsWith('_sc') || /\s/.test(name)) return undefined;
  const values = line.slice(colon + 1, bar).split(':').map((v) => (NUMBER.test(v) ? Number(v) : NaN));
  if (values.some((v) => !Number.isFinite(v))) return undefined;
  const sections = line.slice(bar + 1).split('|');
  const type = sections[0]!;
  if (!TYPES.has(type)) return undefined;
  let sampleRate = 1;
  const tags = new Map<string, string>();
  for (const section of sections.slice(1)) {
    if (section.startsWith('@')) {
      sampleRate = NUMBER.test(section.slice(1)) ? Number(section.slice(1)) : NaN;
      if (!(sampleRate > 0 && sampleRate <= 1)) return undefined;
    } else if (section.startsWith('#')) {
      for (const tag of section.slice(1).split(',')) {
        if (tag === '') continue;
        const at = tag.indexOf(':');
        if (at === -1) tags.set(tag, '');
        else tags.set(tag.slice(0, at), tag.slice(at + 1));
      }
    }
    // Other sections (`c:` container id, `T` timestamp) carry nothing meshd uses.
  }
  return { name, type: type as StatsdType, values, sampleRate, tags };
}

/** Every line of a datagram (`\n`-separated; `\r\n` tolerated); blank lines are not counted. */
export function parseDatagram(text: string): ParsedDatagram {
  const metrics: StatsdMetric[] = [];
  let lines = 0;
  let skipped = 0;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    lines++;
    const metric = parseLine(line);
    if (metric) metrics.push(metric);
    else skipped++;
  }
  return { metrics, lines, skipped };
}
