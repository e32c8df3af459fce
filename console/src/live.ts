// Live numbers: an element's traffic is the sum over its trafficNodes (the virtual nodes whose telemetry is
// traffic into it, as /v1/mesh lists them) of GET /v1/telemetry?window=10s: requests per second add up, the
// success rate is weighted by requests, and p99 is the highest p99 among them (a bound, not the true p99 of the
// sum: percentiles do not add up). docs/console.md says so.
import type { Telemetry } from './types';

export type Health = 'healthy' | 'degraded' | 'failing' | 'idle';

export interface Live {
  rps: number;
  requests: number;
  /** Percent; null without requests. */
  success: number | null;
  p99: number | null;
  health: Health;
}

/** Below these success rates (percent) an element is failing or degraded; idle means no requests in the window. */
export const FAILING_BELOW = 95;
export const DEGRADED_BELOW = 99.5;

export const GLYPH: Record<Health, string> = { healthy: '✓', degraded: '!', failing: '✗', idle: '–' };

export const IDLE: Live = { rps: 0, requests: 0, success: null, p99: null, health: 'idle' };

interface Sample {
  rps: number;
  requests: number;
  errors: number;
  p99: number | null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Telemetry by virtual node id (`<mesh>/VirtualNode/<name>`). */
export function indexTelemetry(t: Telemetry | undefined): Map<string, Sample> {
  const map = new Map<string, Sample>();
  for (const v of t?.virtualNodes ?? []) {
    // Numbers only: anything else counts as nothing rather than breaking the arithmetic below.
    map.set(`${v.mesh}/VirtualNode/${v.virtualNode}`, {
      rps: num(v.ratePerSecond) ?? 0,
      requests: num(v.requests) ?? 0,
      errors: num(v.errors) ?? 0,
      p99: num(v.p99Ms),
    });
  }
  return map;
}

export function healthOf(requests: number, success: number | null): Health {
  if (requests <= 0 || success === null) return 'idle';
  if (success < FAILING_BELOW) return 'failing';
  if (success < DEGRADED_BELOW) return 'degraded';
  return 'healthy';
}

/** The live numbers of an element whose traffic is that of `trafficNodes`. */
export function liveOf(trafficNodes: readonly string[], index: Map<string, Sample>): Live {
  let rps = 0;
  let requests = 0;
  let errors = 0;
  let p99: number | null = null;
  for (const id of trafficNodes) {
    const s = index.get(id);
    if (!s) continue;
    rps += s.rps;
    requests += s.requests;
    errors += s.errors;
    if (s.p99 !== null && (p99 === null || s.p99 > p99)) p99 = s.p99;
  }
  if (requests <= 0) return rps > 0 ? { ...IDLE, rps } : IDLE;
  const success = ((requests - errors) / requests) * 100;
  return { rps, requests, success, p99, health: healthOf(requests, success) };
}

const pct = (n: number) => (n >= 99.95 && n < 100 ? '99.9' : n.toFixed(1));

/** `12.0 rps · 99.5% · p99 4 ms`, or `no traffic`. */
export function liveText(l: Live): string {
  if (l.requests <= 0) return 'no traffic';
  const p99 = l.p99 === null ? '' : ` · p99 ${Math.round(l.p99)} ms`;
  return `${l.rps.toFixed(1)} rps · ${l.success === null ? '–' : pct(l.success)}%${p99}`;
}

/** data-rps: one decimal, "" without traffic. */
export const rpsAttr = (l: Live): string => (l.requests > 0 ? l.rps.toFixed(1) : '');
