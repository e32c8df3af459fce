// The telemetry pipeline: datagram → lines (dogstatsd.ts) → observations about virtual nodes
// (envoy-stats.ts) → sliding windows (traffic-window.ts); and the report the admin API shows.
import { formatDuration, parseDuration } from '../duration';
import type { MeshModel } from '../model/mesh-model';
import { parseDatagram } from './dogstatsd';
import { EgressClusterIndex, interpret } from './envoy-stats';
import { MAX_WINDOW_MS, TrafficWindows, type TelemetryReader, type TrafficSummary, type TrafficTotals } from './traffic-window';

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

export class Telemetry {
  readonly windows = new TrafficWindows();
  private index = EgressClusterIndex.EMPTY;
  private counts = { datagrams: 0, lines: 0, skippedLines: 0, usedLines: 0 };

  /** The reader the rollout controller uses. */
  get reader(): TelemetryReader {
    return this.windows;
  }

  /** Which egress clusters stand for which virtual node; call on every model change. */
  setModel(model: MeshModel): void {
    this.index = EgressClusterIndex.fromModel(model);
  }

  receive(datagram: Buffer | string, now = Date.now()): void {
    const parsed = parseDatagram(typeof datagram === 'string' ? datagram : datagram.toString('utf8'));
    this.counts.datagrams++;
    this.counts.lines += parsed.lines;
    this.counts.skippedLines += parsed.skipped;
    for (const metric of parsed.metrics) {
      const observation = interpret(metric, this.index);
      if (!observation) continue;
      this.counts.usedLines++;
      this.windows.record(observation, now);
    }
  }

  statsdCounts(): StatsdCounts {
    return { ...this.counts };
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

/** A window such as `30s`, `5m`, `1m30s` or `1500ms`, from 1 s to 15 min, in ms; or why not. */
export function parseWindow(text: string): { ms: number } | { error: string } {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1000 || ms > MAX_WINDOW_MS) return { error: `must be a duration from 1s to 15m such as 30s, 5m or 1m30s, got '${text}'` };
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
      statsd: { address: listen.address, port: listen.port, ...telemetry.statsdCounts() },
      window: formatDuration(windowMs),
      windowMs,
      virtualNodes: telemetry.traffic(windowMs, now),
    },
  };
}
