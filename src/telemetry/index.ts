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
export {
  DEFAULT_FLEET_LIMITS,
  FleetTraffic,
  MAX_CLOCK_AHEAD_MS,
  type FleetImportResult,
  type FleetLimits,
  type FleetOptions,
  type RefusedRecord,
} from './fleet-traffic';
export type { HistogramJson } from './latency-histogram';
export { EgressClusterIndex, interpret } from './envoy-stats';
export { startStatsdServer, type StatsdServer, type StatsdSourceFilter } from './statsd-server';
export {
  describeStatsdAllow,
  normalizeIp,
  parseStatsdAllow,
  peerIp,
  statsdSourceCheck,
  STATSD_ALLOW_ANY,
  STATSD_ALLOW_CONNECTED,
  type StatsdAllow,
} from './statsd-allow';
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
  grpcTraffic,
  MAX_WINDOW_MS,
  SecondCounts,
  failureFraction,
  TrafficWindows,
  type FailureFraction,
  type GrpcTraffic,
  type TelemetryReader,
  type TrafficRecord,
  type TrafficSummary,
  type TrafficTotals,
} from './traffic-window';
