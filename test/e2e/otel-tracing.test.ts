// meshd's OpenTelemetry tracing extension end to end: a mesh with
// `spec.meshd.tracing.openTelemetry`, real Envoys for a virtual gateway and the sidecars of
// front and color, each in a network namespace on one bridge network (App Mesh's capture rules
// in the sidecars' namespaces), fed by a real meshd over ADS; an OTLP/gRPC receiver speaking the
// real OTLP protos (test/helpers/otlp-receiver.ts, a stand-in for an OpenTelemetry Collector that
// keeps the spans in memory) at the collector address, a host name each namespace's hosts file
// maps to the bridge's root-namespace address. front's app calls color for every request and
// passes on the trace context headers, as an instrumented app would.
//
// What a user of a trace UI sees: one request through gateway → front → color is ONE trace,
// with spans of the services gateway, front and color (the virtual gateway's and nodes' names),
// linked parent to child through the gateway's loopback hop and across the sidecars, each with
// the appmesh.* tags. And a hot reload: removing the extension takes the tracer and the
// collector cluster out of the running Envoys; adding it back brings them back.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeWithNetns, type Netns } from '../helpers/netns';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver';
import { waitFor } from '../helpers/processes';
import { request, type NsSidecar } from '../helpers/sidecars';
import {
  TOPOLOGY_APP_PORT as APP_PORT,
  TOPOLOGY_GATEWAY_PORT as GATEWAY_PORT,
  TracedTopology,
  afterListenerDrain,
} from '../helpers/traced-topology';

const MESH = 'otel';
const COLLECTOR_HOST = 'otel-collector';
const FORWARDING_APP = path.resolve(__dirname, '../fixtures/otel-forwarding-app.js');

/** The Mesh's spec: the OpenTelemetry extension pointing at `collector`, or none. */
function meshSpec(collector: string | undefined, samplingRate?: number): string {
  const sampling = samplingRate === undefined ? '' : `, samplingRate: ${samplingRate}`;
  return collector
    ? `spec:\n  meshd:\n    tracing:\n      openTelemetry: { address: "${collector}"${sampling} }\n`
    : 'spec: {}\n';
}

/** The parts of Envoy's /config_dump read here. */
interface ConfigDump {
  configs: {
    '@type': string;
    dynamic_listeners?: { name: string; active_state?: unknown }[];
    dynamic_active_clusters?: { cluster: { name: string } }[];
  }[];
}

/** The spans of the trace whose gateway span saw `pathName` (undefined until the gateway's span arrived). */
function traceOf(spans: readonly ReceivedSpan[], pathName: string): ReceivedSpan[] | undefined {
  const first = spans.find((s) => s.serviceName === 'gateway' && (s.attributes['http.url'] ?? '').includes(pathName));
  return first && spans.filter((s) => s.traceId === first.traceId);
}

/** One line per span, for failure messages and the log. */
const describeSpans = (spans: readonly ReceivedSpan[]) =>
  spans
    .map(
      (s) =>
        `${s.serviceName} ${s.kind} "${s.name}" trace ${s.traceId} span ${s.spanId} parent ${s.parentSpanId || '-'} url ${s.attributes['http.url'] ?? '-'}`,
    )
    .join('\n');

describeWithNetns('OpenTelemetry tracing (meshd extension) across a gateway and two sidecars', (envoyBin) => {
  const topo = new TracedTopology<OtlpReceiver>({
    envoyBin,
    mesh: MESH,
    collectorHost: COLLECTOR_HOST,
    startReceiver: (host) => startOtlpReceiver({ host }),
    meshSpec: (r) => meshSpec(`${COLLECTOR_HOST}:${r.port}`),
    forwardingApp: { file: FORWARDING_APP },
  });
  let gatewayNs: Netns;
  let frontNs: Netns;
  let meshFile: string;
  let receiver: OtlpReceiver;
  const sidecars: readonly NsSidecar[] = topo.sidecars;

  const collector = () => `${COLLECTOR_HOST}:${receiver.port}`;
  const meshYaml = (collectorAddress: string | undefined, samplingRate?: number) =>
    topo.meshYaml(meshSpec(collectorAddress, samplingRate));
  const throughGateway = (pathName: string) => topo.throughGateway(pathName);
  /**
   * Whether a sidecar's Envoy runs the OpenTelemetry tracer (in a listener it serves now, not one draining) and has
   * the collector's cluster. The node's extension list in the dump names the tracer too, so the dump is parsed.
   */
  const tracerOf = async (s: NsSidecar) => {
    const dump = JSON.parse(
      (await request({ host: s.adminHost, port: s.adminPort, path: '/config_dump' })).body,
    ) as ConfigDump;
    const of = (type: string) => dump.configs.find((c) => c['@type'].endsWith(type));
    const listeners = of('ListenersConfigDump')?.dynamic_listeners ?? [];
    const clusters = of('ClustersConfigDump')?.dynamic_active_clusters ?? [];
    return {
      tracer: listeners.some((l) => JSON.stringify(l.active_state ?? {}).includes('"envoy.tracers.opentelemetry"')),
      cluster: clusters.some((c) => c.cluster.name === 'meshd_otel_collector'),
    };
  };
  /** The tracing blocks of the listeners a sidecar's Envoy serves now (not those draining), as one JSON text. */
  const activeListeners = async (s: NsSidecar) => {
    const dump = JSON.parse(
      (await request({ host: s.adminHost, port: s.adminPort, path: '/config_dump' })).body,
    ) as ConfigDump;
    const listeners = dump.configs.find((c) => c['@type'].endsWith('ListenersConfigDump'))?.dynamic_listeners ?? [];
    return JSON.stringify(listeners.map((l) => l.active_state ?? {}));
  };
  /**
   * Waits for the active listeners of every Envoy (gateway, front, color) to pass `ok`, then for the replaced
   * listeners' connections to close, so that no request rides a connection with the old configuration.
   */
  const untilEveryListener = async (description: string, ok: (listeners: string) => boolean) => {
    await waitFor(
      description,
      async () => ((await Promise.all(sidecars.map(activeListeners))).every(ok) ? true : undefined),
      20000,
      200,
    );
    await afterListenerDrain();
  };
  const allTracers = async () => (await Promise.all(sidecars.map(tracerOf))).map((t) => `${t.tracer} ${t.cluster}`);

  beforeAll(async () => {
    await topo.start();
    ({ gatewayNs, frontNs, meshFile, receiver } = topo);
  }, 120_000);

  afterAll(() => topo.stop());

  /**
   * A request with a known x-request-id straight to front (its sidecar's ingress takes it: App Mesh's capture rules),
   * which front's app passes on to color through its sidecar's egress; front's app says in x-app-saw-request-id which
   * id its sidecar gave it. Not through the gateway: an edge proxy replaces an outside caller's id with one of its own.
   */
  const withRequestId = async (label: string) => {
    // A version 4 UUID: the digit a connection manager that packs its tracing decision rewrites is the '4'.
    const id = crypto.randomUUID();
    const pathName = `/${label}-${crypto.randomBytes(4).toString('hex')}`;
    const r = await request({
      host: frontNs.nsIp,
      port: APP_PORT,
      path: pathName,
      headers: { host: `front.${MESH}.local`, 'x-request-id': id },
      timeoutMs: 15000,
    });
    expect(`${r.status} ${r.body}`).toBe('200 front -> color:8080');
    return { id, pathName, seen: r.headers['x-app-saw-request-id'] };
  };

  /** Sends one request with a path of its own and waits for its trace to hold spans of every service. */
  async function tracedRequest(label: string): Promise<{ spans: ReceivedSpan[]; body: string }> {
    const pathName = `/${label}-${crypto.randomBytes(4).toString('hex')}`;
    const r = await throughGateway(pathName);
    expect(`${r.status} ${r.body}`).toBe('200 front -> color:8080');
    // Envoy exports in batches (every 5 s by default): wait for all three services' spans.
    const answered = Date.now();
    const spans = await waitFor(
      `the spans of ${pathName} from gateway, front and color`,
      () => {
        const trace = traceOf(receiver.spans(), pathName);
        const services = new Set(trace?.map((s) => s.serviceName));
        return trace && ['gateway', 'front', 'color'].every((s) => services.has(s)) ? trace : undefined;
      },
      30000,
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; received:\n${describeSpans(receiver.spans())}`);
    });
    // A figure, not a check: how long after the answer the last of the trace's spans arrived.
    console.log(
      `${label}: ${spans.length} spans of gateway, front and color within ${Date.now() - answered} ms of the answer`,
    );
    return { spans, body: r.body };
  }

  it('one request is one trace: a span per hop, service.name gateway/front/color, parent to child, appmesh tags', async () => {
    const { spans } = await tracedRequest('one-trace');
    console.log(`spans of one request:\n${describeSpans(spans)}`);
    const trace = spans[0]!.traceId;
    // Nothing of this request went to another trace (a hop that lost the context would start one).
    const pathName = spans.find((s) => s.serviceName === 'gateway')!.attributes['http.url']!;
    const urlPath = new URL(pathName).pathname;
    const elsewhere = receiver
      .spans()
      .filter((s) => s.traceId !== trace && (s.attributes['http.url'] ?? '').includes(urlPath));
    expect(describeSpans(elsewhere)).toBe('');

    const kinds = (service: string) =>
      spans
        .filter((s) => s.serviceName === service)
        .map((s) => s.kind)
        .sort();
    // The gateway: its listener (server) and its loopback hop into the mesh (client).
    expect(kinds('gateway')).toEqual(['SPAN_KIND_CLIENT', 'SPAN_KIND_SERVER']);
    // front: the request it took (ingress) and the call its app made (egress).
    expect(kinds('front')).toEqual(['SPAN_KIND_CLIENT', 'SPAN_KIND_SERVER']);
    expect(kinds('color')).toEqual(['SPAN_KIND_SERVER']);

    // One root (the gateway's listener); every other span's parent is a span of this trace.
    const ids = new Set(spans.map((s) => s.spanId));
    const roots = spans.filter((s) => !s.parentSpanId);
    expect(roots.map((s) => `${s.serviceName} ${s.kind}`)).toEqual(['gateway SPAN_KIND_SERVER']);
    expect(spans.filter((s) => s.parentSpanId && !ids.has(s.parentSpanId)).map((s) => s.spanId)).toEqual([]);
    // Parent to child, hop by hop: color's span descends from front's egress, which descends from front's ingress, ...
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const colorSpan = spans.find((s) => s.serviceName === 'color')!;
    const chain: string[] = [];
    for (let s: ReceivedSpan | undefined = colorSpan; s; s = byId.get(s.parentSpanId))
      chain.push(`${s.serviceName} ${s.kind}`);
    expect(chain).toEqual([
      'color SPAN_KIND_SERVER',
      'front SPAN_KIND_CLIENT',
      'front SPAN_KIND_SERVER',
      'gateway SPAN_KIND_CLIENT',
      'gateway SPAN_KIND_SERVER',
    ]);

    // Which mesh and which virtual node or gateway, in App Mesh's words, on every span.
    for (const s of spans) {
      expect(s.attributes['appmesh.mesh']).toBe(MESH);
      const own = s.serviceName === 'gateway' ? 'appmesh.virtual_gateway' : 'appmesh.virtual_node';
      expect(`${s.serviceName}: ${s.attributes[own]}`).toBe(`${s.serviceName}: ${s.serviceName}`);
    }
    expect(receiver.dropped()).toBe(0);
  }, 60_000);

  it("x-request-id passes unchanged, byte for byte, through traced sidecars (each span's guid:x-request-id too)", async () => {
    const { id, pathName, seen } = await withRequestId('request-id');
    expect(seen).toBe(id);
    // At the gateway's listener, an edge proxy, an outside client's id gives way to one of the gateway's own.
    const outside = crypto.randomUUID();
    const viaGateway = await request({
      host: gatewayNs.nsIp,
      port: GATEWAY_PORT,
      path: `/outside-request-id-${crypto.randomBytes(4).toString('hex')}`,
      headers: { 'x-request-id': outside },
      timeoutMs: 15000,
    });
    expect(viaGateway.status).toBe(200);
    const given = String(viaGateway.headers['x-app-saw-request-id']);
    expect(given).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(given).not.toBe(outside);
    // front's ingress and egress and color's ingress each traced the request: every span names the caller's id.
    const spans = await waitFor(
      `the spans of ${pathName} from front and color`,
      () => {
        const own = receiver.spans().filter((s) => (s.attributes['http.url'] ?? '').includes(pathName));
        const services = own.map((s) => `${s.serviceName} ${s.kind}`).sort();
        return services.length === 3 ? own : undefined;
      },
      30000,
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; received:\n${describeSpans(receiver.spans())}`);
    });
    expect(spans.map((s) => `${s.serviceName} ${s.kind} ${s.attributes['guid:x-request-id']}`).sort()).toEqual([
      `color SPAN_KIND_SERVER ${id}`,
      `front SPAN_KIND_CLIENT ${id}`,
      `front SPAN_KIND_SERVER ${id}`,
    ]);
  }, 60_000);

  it('samplingRate 0: a client of the gateway forces no trace, neither with x-client-trace-id nor a sampled traceparent', async () => {
    fs.writeFileSync(meshFile, meshYaml(collector(), 0));
    await waitFor(
      'every Envoy sampling 0 %, the gateway refusing client-forced traces',
      async () => {
        const [gateway, ...nodes] = await Promise.all(sidecars.map(activeListeners));
        const zero = [gateway!, ...nodes].every((l) => l.includes('"random_sampling":{}'));
        return zero && gateway!.includes('"client_sampling":{}') ? true : undefined;
      },
      20000,
      200,
    );
    await afterListenerDrain();
    const suffix = () => crypto.randomBytes(4).toString('hex');
    const attempts: { path: string; headers: Record<string, string> }[] = [
      // Envoy's own way to force a trace (client_sampling, 100 % unless meshd sets 0 % on the gateway).
      { path: `/client-trace-id-${suffix()}`, headers: { 'x-client-trace-id': crypto.randomUUID() } },
      // W3C trace context with the sampled flag: Envoy 1.40's OpenTelemetry tracer keeps the listener's decision.
      {
        path: `/traceparent-${suffix()}`,
        headers: {
          traceparent: `00-${crypto.randomBytes(16).toString('hex')}-${crypto.randomBytes(8).toString('hex')}-01`,
        },
      },
    ];
    for (const a of attempts) {
      const r = await request({ host: gatewayNs.nsIp, port: GATEWAY_PORT, timeoutMs: 15000, ...a });
      expect(`${a.path}: ${r.status} ${r.body}`).toBe(`${a.path}: 200 front -> color:8080`);
    }

    // Back to the default (every request): a traced request's spans arriving bound the wait for late ones.
    fs.writeFileSync(meshFile, meshYaml(collector()));
    await untilEveryListener('every Envoy sampling every request again', (l) => !l.includes('"random_sampling":{}'));
    await tracedRequest('after-sampling-0');
    await new Promise((resolve) => setTimeout(resolve, 5500));
    const leaked = receiver
      .spans()
      .filter((s) => attempts.some((a) => (s.attributes['http.url'] ?? '').includes(a.path)));
    expect(describeSpans(leaked)).toBe('');
  }, 90_000);

  it('samplingRate 0.5: each request is traced at every hop or at none (no partial traces)', async () => {
    fs.writeFileSync(meshFile, meshYaml(collector(), 0.5));
    await untilEveryListener('every Envoy sampling 50 %', (l) => l.includes('"random_sampling":{"value":50}'));
    const paths = Array.from({ length: 16 }, (_, i) => `/half-${i}-${crypto.randomBytes(4).toString('hex')}`);
    for (const p of paths) expect((await throughGateway(p)).status).toBe(200);
    fs.writeFileSync(meshFile, meshYaml(collector()));
    await untilEveryListener('every Envoy sampling every request again', (l) =>
      l.includes('"random_sampling":{"value":100}'),
    );
    // A traced request's spans arriving, and one more export interval, bound the wait for late spans.
    await tracedRequest('after-sampling-half');
    await new Promise((resolve) => setTimeout(resolve, 5500));
    const perRequest = paths.map((p) => {
      const spans = receiver.spans().filter((s) => (s.attributes['http.url'] ?? '').includes(p));
      return spans.map((s) => `${s.serviceName} ${s.kind}`).sort();
    });
    const whole = [
      'color SPAN_KIND_SERVER',
      'front SPAN_KIND_CLIENT',
      'front SPAN_KIND_SERVER',
      'gateway SPAN_KIND_CLIENT',
      'gateway SPAN_KIND_SERVER',
    ];
    const traced = perRequest.filter((s) => s.length > 0).length;
    console.log(`samplingRate 0.5: ${traced} of ${paths.length} requests traced`);
    for (const [i, spans] of perRequest.entries())
      expect(`${paths[i]}: ${spans.join(', ')}`).toBe(`${paths[i]}: ${spans.length ? whole.join(', ') : ''}`);
    // 16 requests all traced or all not at 50 %: 1 chance in 32768.
    expect(traced).toBeGreaterThan(0);
    expect(traced).toBeLessThan(paths.length);
  }, 90_000);

  it('hot reload: removing the extension takes the tracer and the collector cluster out; adding it brings them back', async () => {
    // gateway, front, color: tracer and cluster each.
    expect(await allTracers()).toEqual(['true true', 'true true', 'true true']);

    fs.writeFileSync(meshFile, meshYaml(undefined));
    const off = ['false false', 'false false', 'false false'];
    await waitFor(
      'every Envoy without the tracer and the collector',
      async () => (JSON.stringify(await allTracers()) === JSON.stringify(off) ? true : undefined),
      20000,
      200,
    );
    await afterListenerDrain();
    // Traffic still flows without it.
    const untraced = `/untraced-${crypto.randomBytes(4).toString('hex')}`;
    expect((await throughGateway(untraced)).status).toBe(200);
    // With no tracer at all (nor one in the bootstrap), the caller's x-request-id still passes unchanged.
    const plain = await withRequestId('untraced-request-id');
    expect(plain.seen).toBe(plain.id);

    fs.writeFileSync(meshFile, meshYaml(collector()));
    const on = ['true true', 'true true', 'true true'];
    await waitFor(
      'every Envoy with the tracer and the collector again',
      async () => (JSON.stringify(await allTracers()) === JSON.stringify(on) ? true : undefined),
      20000,
      200,
    );
    await afterListenerDrain();
    // A request is traced end to end again, as one trace.
    const { spans } = await tracedRequest('after-reload');
    expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
    // The requests sent while the extension was off left no span at any hop: every listener was replaced and its
    // connections closed (afterListenerDrain) before they went. Envoy exports every 5 s, and those requests went
    // before this trace's spans arrived; one more export interval bounds the wait for a late span.
    await new Promise((resolve) => setTimeout(resolve, 5500));
    const ofPath = (p: string) => receiver.spans().filter((s) => (s.attributes['http.url'] ?? '').includes(p));
    expect(describeSpans([...ofPath(untraced), ...ofPath(plain.pathName)])).toBe('');
  }, 90_000);
});
