// Live per-virtual-node traffic from the sidecars' DogStatsD stats: what `meshd serve`, the
// admin API and the rollout controller use.
export type { StatsdMetric } from './dogstatsd';
export {
  DATAGRAM_DROP_REASONS,
  LINE_DROP_REASONS,
  parseDatagram,
  parseLine,
  readLine,
  type DatagramDropReason,
  type LineDropReason,
} from './dogstatsd';
export type { Observation, VirtualNodeRef } from './envoy-stats';
export { EgressClusterIndex, interpret } from './envoy-stats';
export { startStatsdServer, type StatsdServer } from './statsd-server';
export {
  DEFAULT_TELEMETRY_LIMITS,
  parseWindow,
  Telemetry,
  telemetryReport,
  type DroppedCounts,
  type StatsdCounts,
  type TelemetryLimits,
  type VirtualNodeTraffic,
} from './telemetry';
export {
  MAX_WINDOW_MS,
  TrafficWindows,
  type TelemetryReader,
  type TrafficSummary,
  type TrafficTotals,
} from './traffic-window';
