// The JSON the console reads from meshd's admin API (docs/api.md, docs/console.md). Its own copy of the shapes: the
// console imports nothing from src/, and only the fields it shows are listed.

export type NodeKind = 'VirtualGateway' | 'VirtualService' | 'VirtualRouter' | 'VirtualNode';
export type EdgeKind = 'gateway-route' | 'provider' | 'route-target' | 'backend';

export interface MeshNode {
  id: string;
  kind: NodeKind;
  mesh: string;
  name: string;
  source?: string | null;
  origin?: 'file' | 'api' | 'kubernetes' | string;
  nodeId?: string;
  trafficNodes: string[];
}

export interface MeshEdge {
  id: string;
  from: string;
  to: string;
  kind: EdgeKind;
  resource?: string;
  weight?: number;
  percent?: number;
}

export interface MeshGraph {
  generation: number;
  meshHash?: string;
  nodes: MeshNode[];
  edges: MeshEdge[];
}

export interface TypeState {
  state: 'SYNCED' | 'STALE' | 'NACKED' | 'NOT_SENT' | string;
  targetVersion: string | null;
  sentVersion: string | null;
  ackedVersion: string | null;
  /** The last configuration this type's proxy refused, and Envoy's reason. */
  lastNack: { version: string; message: string; at: string } | null;
}

export interface Proxy {
  nodeId: string;
  cluster?: string;
  stream?: number | string;
  protocol?: string;
  client?: string;
  peer?: string;
  connectedAt?: string;
  types: Record<string, TypeState>;
  configProblem: string | null;
}

export interface Replica {
  id: string;
  alive?: boolean;
  leader?: boolean;
  self?: boolean;
  proxies?: string[];
}

export interface ReplicasReport {
  /** This replica's id. */
  replicaId?: string;
  replicas: Replica[];
}

export interface MetricCheck {
  name: string;
  min?: number;
  max?: number;
  windowMs?: number;
}

export interface MetricResult {
  metric: string;
  value: number | null;
  ok: boolean;
  message: string;
}

export interface RolloutEvent {
  at: string;
  type: 'Normal' | 'Warning' | string;
  message: string;
  canaryWeight?: number;
}

export interface Rollout {
  mesh: string;
  name: string;
  source: string;
  phase: string;
  canaryWeight: number;
  failedChecks: number;
  settings: {
    route: { virtualRouter: string; name: string };
    primary: string;
    canary: string;
    intervalMs: number;
    stepWeight: number;
    maxWeight: number;
    threshold: number;
    minRequests: number;
    metrics: MetricCheck[];
  };
  expected: { primary: number; canary: number };
  startedAt: string;
  updatedAt: string;
  lastCheck?: { at: string; ok: boolean; results: MetricResult[] };
  events: RolloutEvent[];
  nextStepInMs: number | null;
}

export interface Problem {
  severity: 'error' | 'warning' | string;
  file?: string;
  line?: number;
  col?: number;
  resource?: string;
  field?: string;
  message: string;
  text: string;
}

export interface ProblemsReport {
  generation: number;
  valid: boolean;
  checkedAt: string;
  problems: Problem[];
}

export interface VirtualNodeTraffic {
  mesh: string;
  virtualNode: string;
  requests: number;
  errors: number;
  successRate: number | null;
  ratePerSecond: number;
  p50Ms?: number | null;
  p99Ms?: number | null;
}

export interface Telemetry {
  window?: string;
  windowMs?: number;
  virtualNodes: VirtualNodeTraffic[];
}

export interface ResourceDetails {
  id: string;
  kind: string;
  mesh: string;
  name: string;
  source: string | null;
  origin: string;
  yaml: string;
  envoy: unknown;
  proxies: Proxy[];
}
