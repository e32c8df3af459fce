// The telemetry pipeline: datagram → lines (dogstatsd.ts) → observations about virtual nodes
// (envoy-stats.ts) → sliding windows (traffic-window.ts); and the report the admin API shows.
import { formatDuration, parseDuration } from '../util/duration';
import type { MeshModel } from '../model/mesh-model';
import {
  DATAGRAM_DROP_REASONS,
  DEFAULT_MAX_TAGS_PER_LINE,
  LINE_DROP_REASONS,
  parseDatagram,
  type DatagramDropReason,
  type LineDropReason,
} from './dogstatsd';
import { EgressClusterIndex, interpret, type Observation } from './envoy-stats';
import {
  DEFAULT_WINDOW_LIMITS,
  MAX_WINDOW_MS,
  TrafficWindows,
  type TelemetryReader,
  type TrafficSummary,
  type TrafficTotals,
  type WindowLimits,
} from './traffic-window';

/** What one sender can make meshd read and hold; every refusal is counted (droppedCounts). */
export interface TelemetryLimits extends WindowLimits {
  /** A bigger datagram is dropped unread (Envoy's sink sends one stat per datagram, ~200 bytes). */
  readonly maxDatagramBytes: number;
  /** A datagram with more non-blank lines is dropped whole. */
  readonly maxLinesPerDatagram: number;
  readonly maxTagsPerLine: number;
}

export const DEFAULT_TELEMETRY_LIMITS: TelemetryLimits = {
  ...DEFAULT_WINDOW_LIMITS,
  maxDatagramBytes: 8192,
  maxLinesPerDatagram: 256,
  maxTagsPerLine: DEFAULT_MAX_TAGS_PER_LINE,
};

export interface DroppedCounts {
  /** Datagrams refused whole, by reason (every reason present). */
  readonly datagrams: Readonly<Record<DatagramDropReason, number>>;
  /** Lines refused, by reason (every reason present). */
  readonly lines: Readonly<Record<LineDropReason, number>>;
}

export interface StatsdCounts {
  readonly datagrams: number;
  /** Non-empty lines received. */
  readonly lines: number;
  /** Lines that were not a DogStatsD metric. */
  readonly skippedLines: number;
  /** Lines that counted for a virtual node (the rest are stats meshd does not use). */
  readonly usedLines: number;
}

export interface VirtualNodeTraffic extends TrafficSummary {
  readonly mesh: string;
  readonly virtualNode: string;
  /** Since meshd started. */
  readonly totals: TrafficTotals;
}

const zeros = <K extends string>(keys: readonly K[]): Record<K, number> =>
  Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;

export class Telemetry {
  readonly windows: TrafficWindows;
  private index = EgressClusterIndex.EMPTY;
  /** The model the index was made for. */
  private model: MeshModel | undefined;
  private counts = { datagrams: 0, lines: 0, skippedLines: 0, usedLines: 0 };
  private readonly droppedDatagrams = zeros(DATAGRAM_DROP_REASONS);
  private readonly droppedLines = zeros(LINE_DROP_REASONS);

  constructor(private readonly limits: TelemetryLimits = DEFAULT_TELEMETRY_LIMITS) {
    this.windows = new TrafficWindows(limits);
  }

  /** The reader the rollout controller uses. */
  get reader(): TelemetryReader {
    return this.windows;
  }

  /** Which egress clusters stand for which virtual node; call on every model change. */
  setModel(model: MeshModel): void {
    const before = this.model;
    this.model = model;
    // A reload that changed no virtual node (a route's weights) leaves the index as it is.
    const changed = before && model.changedSince(before);
    const isNode = (key: string) =>
      model.resourceAt(key)?.kind === 'VirtualNode' || before!.resourceAt(key)?.kind === 'VirtualNode';
    if (changed && ![...changed].some(isNode)) return;
    this.index = EgressClusterIndex.fromModel(model);
  }

  receive(datagram: Buffer | string, now = Date.now()): void {
    this.counts.datagrams++;
    const bytes = typeof datagram === 'string' ? Buffer.byteLength(datagram) : datagram.length;
    if (bytes > this.limits.maxDatagramBytes) return void this.droppedDatagrams.oversized++;
    const text = typeof datagram === 'string' ? datagram : datagram.toString('utf8');
    // Counted before anything is parsed, so a datagram of many tiny lines costs one scan.
    if (nonBlankLines(text) > this.limits.maxLinesPerDatagram) return void this.droppedDatagrams.too_many_lines++;
    const parsed = parseDatagram(text, this.limits.maxTagsPerLine);
    this.counts.lines += parsed.lines;
    this.counts.skippedLines += parsed.skipped;
    for (const [reason, n] of parsed.dropped) this.droppedLines[reason] += n;
    for (const metric of parsed.metrics) {
      const observation = interpret(metric, this.index);
      if (!observation) continue;
      const refused = 'refused' in observation ? observation.refused : this.windows.record(observation, now);
      if (refused) this.droppedLines[refused]++;
      else this.counts.usedLines++;
      if (!refused && !('refused' in observation))
        for (const listener of this.observationListeners) {
          // A listener's bug loses its own update, not the other listeners' nor the datagram's other lines.
          try {
            listener(observation);
          } catch {
            // Nothing to undo: the observation is recorded in the windows already.
          }
        }
    }
  }

  /** A datagram dropped before it was read (its source is not allowed): counted like the others. */
  refuseDatagram(reason: DatagramDropReason): void {
    this.counts.datagrams++;
    this.droppedDatagrams[reason]++;
  }

  private readonly observationListeners: ((observation: Observation) => void)[] = [];

  /** Calls `listener` with every observation recorded for a virtual node (/metrics' request-duration histogram). */
  onObservation(listener: (observation: Observation) => void): void {
    this.observationListeners.push(listener);
  }

  statsdCounts(): StatsdCounts {
    return { ...this.counts };
  }

  droppedCounts(): DroppedCounts {
    return { datagrams: { ...this.droppedDatagrams }, lines: { ...this.droppedLines } };
  }

  /** Every virtual node that had traffic since meshd started, with its window and totals. */
  traffic(windowMs: number, now = Date.now()): VirtualNodeTraffic[] {
    return this.windows.nodesSeen().map(({ mesh, virtualNode }) => ({
      mesh,
      virtualNode,
      ...this.windows.summary(mesh, virtualNode, windowMs, now),
      totals: this.windows.totals(mesh, virtualNode),
    }));
  }
}

function nonBlankLines(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line.trim() !== '') n++;
  return n;
}

/** A window such as `30s`, `5m`, `1m30s` or `1500ms`, from 1 s to 15 min, in ms; or why not. */
export function parseWindow(text: string): { ms: number } | { error: string } {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1000 || ms > MAX_WINDOW_MS)
    return { error: `must be a duration from 1s to 15m such as 30s, 5m or 1m30s, got '${text}'` };
  return { ms };
}

/** The admin API's `GET /v1/telemetry[?window=…]` body, or a one-line reason the window is bad. */
export function telemetryReport(
  telemetry: Telemetry,
  listen: { address: string; port: number },
  defaultWindowMs: number,
  windowText: string | null,
  now = Date.now(),
): { ok: true; body: unknown } | { ok: false; error: string } {
  let windowMs = defaultWindowMs;
  if (windowText !== null) {
    const parsed = parseWindow(windowText);
    if ('error' in parsed) return { ok: false, error: `window ${parsed.error}` };
    windowMs = parsed.ms;
  }
  return {
    ok: true,
    body: {
      statsd: {
        address: listen.address,
        port: listen.port,
        ...telemetry.statsdCounts(),
        dropped: telemetry.droppedCounts(),
      },
      window: formatDuration(windowMs),
      windowMs,
      virtualNodes: telemetry.traffic(windowMs, now),
    },
  };
}
