// The defaults App Mesh applied and its users rely on (APP-MESH-FACTS.md, "Defaults").
export const DEFAULT_INGRESS_PORT = 15000;
export const DEFAULT_EGRESS_PORT = 15001;

export const ROUTE_TIMEOUT_MS = 15_000;
export const ROUTE_IDLE_TIMEOUT_MS = 300_000;
export const EGRESS_CONNECT_TIMEOUT_MS = 1_000;
export const INGRESS_CONNECT_TIMEOUT_MS = 250;

/** "Effectively unlimited" circuit-breaker thresholds, as App Mesh set them. */
export const UNLIMITED = 2147483647;
