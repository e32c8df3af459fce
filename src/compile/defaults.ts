// The defaults App Mesh applied and its users rely on (APP-MESH-FACTS.md, "Defaults").
import type { Duration } from '../generated/google/protobuf/Duration';

export const DEFAULT_INGRESS_PORT = 15000;
export const DEFAULT_EGRESS_PORT = 15001;

export const ROUTE_TIMEOUT: Duration = { seconds: 15 };
export const ROUTE_IDLE_TIMEOUT: Duration = { seconds: 300 };
export const EGRESS_CONNECT_TIMEOUT: Duration = { seconds: 1 };
export const INGRESS_CONNECT_TIMEOUT: Duration = { nanos: 250_000_000 };

/** "Effectively unlimited" circuit-breaker thresholds, as App Mesh set them. */
export const UNLIMITED = 2147483647;
