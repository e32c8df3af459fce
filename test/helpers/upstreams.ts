// Controllable upstream apps for real-Envoy traffic tests, on 127.0.0.1 and an OS-picked port.
// Each answers with its own name, so a test sees where the mesh sent a request, counts what it
// saw, and can be told at run time to fail, stall, or fail its health check.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as http from 'node:http';
import type * as net from 'node:net';
import * as path from 'node:path';

// ---------------------------------------------------------------- HTTP/1.1

/** What an HTTP upstream answers with 200: who it is and what it saw. */
export interface EchoBody {
  server: string;
  method: string;
  path: string;
  headers: Record<string, string>;
}

export interface SeenRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
}

type Plan = { kind: 'fail'; status: number } | { kind: 'stall'; ms: number } | { kind: 'reset' };

export interface HttpUpstream {
  readonly name: string;
  readonly port: number;
  /** The path Envoy's active health check probes; not counted in `requests`. */
  readonly healthPath: string;
  /** Every request other than health checks, in arrival order (including failed and stalled ones). */
  readonly requests: readonly SeenRequest[];
  /** Number of health-check probes seen. */
  readonly healthChecks: number;
  /** Answer the next `n` requests with `status` (and a body naming this server). */
  failNext(n: number, status?: number): void;
  /**
   * Hold the next `n` requests for at least `ms` before answering 200 (a request whose client goes away is dropped).
   */
  stallNext(n: number, ms: number): void;
  /** Reset the connection (TCP RST, no answer) on each of the next `n` requests. */
  resetNext(n: number): void;
  /** Answer every request with `status` until `reset()` (0 means: back to normal). */
  failAll(status: number): void;
  /** Answer every `n`th request (the n-th, 2n-th, …, counted from now) with `status` until `reset()`. */
  failEvery(n: number, status: number): void;
  /** Hold every request for at least `ms` before answering 200, until `reset()` (0 means: at once). */
  delayAll(ms: number): void;
  /** Make the health-check path answer 200 (true) or 503 (false). */
  setHealthy(healthy: boolean): void;
  /** Forget the requests seen and every pending failure/stall; healthy again. */
  reset(): void;
  close(): Promise<void>;
}

export async function startHttpUpstream(name: string, opts: { healthPath?: string } = {}): Promise<HttpUpstream> {
  const healthPath = opts.healthPath ?? '/health';
  let requests: SeenRequest[] = [];
  let plans: Plan[] = [];
  let failAllStatus = 0;
  let failEvery = { n: 0, status: 0, seen: 0 };
  let delayAllMs = 0;
  let healthy = true;
  let healthChecks = 0;
  const timers = new Set<NodeJS.Timeout>();

  const answer = (res: http.ServerResponse, status: number, body: EchoBody) => {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(status, { 'content-type': 'application/json', 'x-upstream': name });
    res.end(JSON.stringify(body));
  };

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (url.split('?')[0] === healthPath) {
      healthChecks++;
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'text/plain', 'x-upstream': name });
      res.end(healthy ? `${name} healthy` : `${name} unhealthy`);
      return;
    }
    requests.push({ method: req.method ?? '', path: url, headers: req.headers });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
    const body: EchoBody = { server: name, method: req.method ?? '', path: url, headers };
    // Drain the request body (if any) before answering.
    req.resume();
    const plan = plans.shift();
    if (plan?.kind === 'fail') return answer(res, plan.status, body);
    if (plan?.kind === 'reset') return void req.socket.resetAndDestroy();
    if (failAllStatus) return answer(res, failAllStatus, body);
    if (failEvery.n > 0 && ++failEvery.seen % failEvery.n === 0) return answer(res, failEvery.status, body);
    const stallMs = plan?.kind === 'stall' ? plan.ms : delayAllMs;
    if (stallMs > 0) {
      // At least stallMs, measured: a timer may fire a little early, and a test may assert
      // that a delay shows in measured latencies.
      const until = performance.now() + stallMs;
      let timer: NodeJS.Timeout;
      const fire = () => {
        timers.delete(timer);
        const left = until - performance.now();
        if (left > 0) return void timers.add((timer = setTimeout(fire, Math.ceil(left))));
        answer(res, 200, body);
      };
      timers.add((timer = setTimeout(fire, stallMs)));
      res.on('close', () => {
        clearTimeout(timer);
        timers.delete(timer);
      });
      return;
    }
    answer(res, 200, body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));

  return {
    name,
    port: (server.address() as net.AddressInfo).port,
    healthPath,
    get requests() {
      return requests;
    },
    get healthChecks() {
      return healthChecks;
    },
    failNext: (n, status = 503) => plans.push(...Array.from({ length: n }, (): Plan => ({ kind: 'fail', status }))),
    stallNext: (n, ms) => plans.push(...Array.from({ length: n }, (): Plan => ({ kind: 'stall', ms }))),
    resetNext: (n) => plans.push(...Array.from({ length: n }, (): Plan => ({ kind: 'reset' }))),
    failAll: (status) => (failAllStatus = status),
    failEvery: (n, status) => (failEvery = { n, status, seen: 0 }),
    delayAll: (ms) => (delayAllMs = ms),
    setHealthy: (h) => (healthy = h),
    reset: () => {
      requests = [];
      plans = [];
      failAllStatus = 0;
      failEvery = { n: 0, status: 0, seen: 0 };
      delayAllMs = 0;
      healthy = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------- gRPC (h2c)

export const TRAFFIC_PROTO = path.resolve(__dirname, '../fixtures/traffic.proto');
export const GRPC_PACKAGE = 'meshd.traffic';
export const GRPC_SERVICES = { Colors: ['Pick', 'Mix'], Shapes: ['Pick', 'Draw'] } as const;
export type GrpcServiceName = keyof typeof GRPC_SERVICES;

export interface GrpcAnswer {
  server: string;
  service: string;
  method: string;
  text: string;
  metadata: Record<string, string>;
}

interface ServiceDefinitions {
  Colors: grpc.ServiceClientConstructor;
  Shapes: grpc.ServiceClientConstructor;
}

let loaded: ServiceDefinitions | undefined;

/** The two test services, loaded with @grpc/proto-loader from test/fixtures/traffic.proto. */
export function trafficServices(): ServiceDefinitions {
  if (loaded) return loaded;
  const definition = protoLoader.loadSync(TRAFFIC_PROTO, { keepCase: true, longs: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { meshd: { traffic: ServiceDefinitions } };
  loaded = pkg.meshd.traffic;
  return loaded;
}

export interface SeenCall {
  service: string;
  method: string;
  metadata: Record<string, string>;
}

export interface GrpcUpstream {
  readonly name: string;
  readonly port: number;
  /** Every call seen, in arrival order (including failed ones). */
  readonly calls: readonly SeenCall[];
  /** Fail the next `n` calls with this gRPC status. */
  failNext(n: number, code: grpc.status, details?: string): void;
  reset(): void;
  close(): Promise<void>;
}

/** An h2c gRPC server implementing both test services; every answer names this server. */
export async function startGrpcUpstream(name: string): Promise<GrpcUpstream> {
  const services = trafficServices();
  let calls: SeenCall[] = [];
  let failures: { code: grpc.status; details: string }[] = [];

  const handler =
    (service: string, method: string): grpc.handleUnaryCall<{ text: string }, GrpcAnswer> =>
    (call, callback) => {
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(call.metadata.getMap())) if (typeof v === 'string') metadata[k] = v;
      calls.push({ service, method, metadata });
      const failure = failures.shift();
      if (failure) return callback({ code: failure.code, details: failure.details });
      callback(null, { server: name, service, method, text: call.request.text, metadata });
    };

  const server = new grpc.Server();
  for (const [service, methods] of Object.entries(GRPC_SERVICES)) {
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const method of methods) implementation[method] = handler(`${GRPC_PACKAGE}.${service}`, method);
    server.addService(services[service as GrpcServiceName].service, implementation);
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );

  return {
    name,
    port,
    get calls() {
      return calls;
    },
    failNext: (n, code, details = `${name} failing on purpose`) =>
      failures.push(...Array.from({ length: n }, () => ({ code, details }))),
    reset: () => {
      calls = [];
      failures = [];
    },
    close: async () => server.forceShutdown(),
  };
}

export type GrpcResult = { ok: true; answer: GrpcAnswer } | { ok: false; code: grpc.status; details: string };

/**
 * A real grpc-js client call through a sidecar's egress port in explicit mode: the channel's
 * :authority (`grpc.default_authority`) names the virtual service, as `name:port`.
 */
export class GrpcEgressClient {
  private readonly clients = new Map<GrpcServiceName, grpc.Client>();

  constructor(
    readonly egressPort: number,
    readonly authority: string,
  ) {}

  call(
    service: GrpcServiceName,
    method: string,
    metadata: Record<string, string> = {},
    deadlineMs = 10000,
  ): Promise<GrpcResult> {
    let client = this.clients.get(service);
    if (!client) {
      const Ctor = trafficServices()[service];
      client = new Ctor(`127.0.0.1:${this.egressPort}`, grpc.credentials.createInsecure(), {
        'grpc.default_authority': this.authority,
      });
      this.clients.set(service, client);
    }
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(metadata)) md.set(k, v);
    const fn = (
      client as unknown as Record<
        string,
        (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<GrpcAnswer>) => void
      >
    )[method];
    if (!fn) throw new Error(`${service} has no method ${method}`);
    return new Promise((resolve) =>
      fn.call(client, { text: `${service}.${method}` }, md, { deadline: Date.now() + deadlineMs }, (err, answer) =>
        resolve(
          err
            ? { ok: false, code: err.code ?? grpc.status.UNKNOWN, details: err.details ?? err.message }
            : { ok: true, answer: answer! },
        ),
      ),
    );
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

/**
 * A sidecar harness readiness check for a gRPC route: one Colors.Pick call through the egress port to
 * `authority` (`name:port`) must end OK; otherwise it throws with the gRPC status and details.
 */
export function grpcReady(authority: string): (egressPort: number) => Promise<boolean> {
  return async (egressPort) => {
    const probe = new GrpcEgressClient(egressPort, authority);
    try {
      const r = await probe.call('Colors', 'Pick', {}, 2000);
      if (!r.ok) throw new Error(`gRPC ${grpc.status[r.code]}: ${r.details}`);
      return true;
    } finally {
      probe.close();
    }
  };
}
