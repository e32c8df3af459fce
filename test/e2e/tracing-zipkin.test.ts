// App Mesh's ENABLE_ENVOY_JAEGER_TRACING end to end: real Envoys for a virtual gateway and the
// sidecars of front and color, each in a network namespace on one bridge network (App Mesh's
// capture rules in the sidecars' namespaces), their bootstraps rendered by `meshd bootstrap` from
// App Mesh's variables (ENABLE_ENVOY_JAEGER_TRACING, JAEGER_TRACER_ADDRESS, JAEGER_TRACER_PORT,
// JAEGER_TRACER_VERSION=json), fed by a real meshd over ADS. The collector is a stand-in: a
// Zipkin v2 JSON receiver (test/helpers/zipkin-receiver.ts) in place of Jaeger's collector, which
// takes the same Zipkin API; it listens on the bridge's root-namespace address, named
// `jaeger-collector` in each namespace's hosts file. front's app calls color for every request
// and passes on Envoy's Zipkin (B3) headers, as an instrumented app would.
//
// What a user of Jaeger sees: one request through gateway → front → color is ONE trace, with a
// span per hop, under the service names App Mesh's bootstrap gave them: node.cluster, which is
// the node id unless APPMESH_RESOURCE_CLUSTER (or APPMESH_VIRTUAL_NODE_CLUSTER) says otherwise.
import * as crypto from 'node:crypto';
import { describeWithNetns } from '../helpers/netns';
import { waitFor } from '../helpers/processes';
import { TracedTopology } from '../helpers/traced-topology';
import { startZipkinReceiver, type ZipkinReceiver, type ZipkinSpan } from '../helpers/zipkin-receiver';

const MESH = 'zipkin';
const COLLECTOR_HOST = 'jaeger-collector';
const GATEWAY_SERVICE = `mesh/${MESH}/virtualGateway/gateway`; // node.cluster = the node id (App Mesh's default)
const FRONT_SERVICE = `mesh/${MESH}/virtualNode/front`;
const COLOR_SERVICE = 'color'; // APPMESH_RESOURCE_CLUSTER=color

/**
 * front's app: calls color for every request, passing on the B3 headers Envoy's Zipkin tracer
 * sets (and x-request-id, which carries Envoy's tracing decision), as an app instrumented for
 * Zipkin does; one that drops them splits the trace in two.
 */
const FORWARDING_APP = `'use strict';
const http = require('node:http');
const [name, port, targetIp, targetPort, targetHost] = process.argv.slice(2);
const PROPAGATED = ['x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags', 'b3', 'x-request-id'];
http
  .createServer((req, res) => {
    const headers = { host: targetHost };
    for (const h of PROPAGATED) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h];
    const out = http.request({ host: targetIp, port: Number(targetPort), path: req.url, headers, agent: false }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d) => { if (body.length < 65536) body += d; });
      r.on('end', () => {
        res.writeHead(r.statusCode === 200 ? 200 : 502, { 'content-type': 'text/plain' });
        res.end(name + ' -> ' + (r.statusCode === 200 ? body : 'HTTP ' + r.statusCode));
      });
    });
    out.setTimeout(10000, () => out.destroy(new Error('timed out')));
    out.on('error', (err) => {
      if (res.headersSent) return res.destroy();
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(name + ' -> error ' + err.message);
    });
    out.end();
  })
  .listen(Number(port), '127.0.0.1', () => process.stdout.write('app ' + name + ' listening\\n'));
`;

const describeSpans = (spans: readonly ZipkinSpan[]) =>
  spans
    .map(
      (s) =>
        `${s.localEndpoint?.serviceName} ${s.kind} "${s.name}" trace ${s.traceId} span ${s.id} parent ${s.parentId ?? '-'} url ${s.tags?.['http.url'] ?? '-'}`,
    )
    .join('\n');

describeWithNetns(
  "Zipkin tracing from App Mesh's ENABLE_ENVOY_JAEGER_TRACING across a gateway and two sidecars",
  (envoyBin) => {
    const topo = new TracedTopology<ZipkinReceiver>({
      envoyBin,
      mesh: MESH,
      collectorHost: COLLECTOR_HOST,
      startReceiver: (host) => startZipkinReceiver({ host }),
      forwardingApp: { source: FORWARDING_APP },
      // App Mesh's variables, as a task definition or pod would set them on the Envoy container.
      bootstrapEnv: (node, r) => {
        const jaeger = {
          ENABLE_ENVOY_JAEGER_TRACING: '1',
          JAEGER_TRACER_ADDRESS: COLLECTOR_HOST,
          JAEGER_TRACER_PORT: String(r.port),
          JAEGER_TRACER_VERSION: 'json',
        };
        return node === 'color' ? { ...jaeger, APPMESH_RESOURCE_CLUSTER: COLOR_SERVICE } : jaeger;
      },
    });
    let receiver: ZipkinReceiver;
    const throughGateway = (pathName: string) => topo.throughGateway(pathName);

    beforeAll(async () => {
      await topo.start();
      receiver = topo.receiver;
    }, 120_000);

    afterAll(() => topo.stop());

    it('one request is one trace: a span per hop, under the node.cluster service names, parent to child', async () => {
      const pathName = `/one-trace-${crypto.randomBytes(4).toString('hex')}`;
      const r = await throughGateway(pathName);
      expect(`${r.status} ${r.body}`).toBe('200 front -> color:8080');
      const answered = Date.now();

      // Envoy's Zipkin tracer reports in batches (every 5 s): wait for all three services' spans.
      const services = [GATEWAY_SERVICE, FRONT_SERVICE, COLOR_SERVICE];
      const traceOf = () => {
        const first = receiver.spans.find(
          (s) => s.localEndpoint?.serviceName === GATEWAY_SERVICE && (s.tags?.['http.url'] ?? '').includes(pathName),
        );
        return first && receiver.spans.filter((s) => s.traceId === first.traceId);
      };
      const spans = await waitFor(
        `the spans of ${pathName} from gateway, front and color`,
        () => {
          const trace = traceOf();
          const seen = new Set(trace?.map((s) => s.localEndpoint?.serviceName));
          return trace && services.every((s) => seen.has(s)) && trace.length >= 5 ? trace : undefined;
        },
        30000,
        200,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; received:\n${describeSpans(receiver.spans)}`);
      });
      // A figure, not an assert: Envoy's Zipkin tracer reports every 5 s or every 5 spans.
      console.log(`all five spans at the collector ${Date.now() - answered} ms after the answer`);
      console.log(`spans of one request:\n${describeSpans(spans)}`);

      // Nothing of this request went to another trace (a hop that lost the context would start one).
      const elsewhere = receiver.spans.filter(
        (s) => s.traceId !== spans[0]!.traceId && (s.tags?.['http.url'] ?? '').includes(pathName),
      );
      expect(describeSpans(elsewhere)).toBe('');

      const kinds = (service: string) =>
        spans
          .filter((s) => s.localEndpoint?.serviceName === service)
          .map((s) => s.kind)
          .sort();
      // The gateway: its listener (server) and its loopback hop into the mesh (client); front: the
      // request it took (ingress) and its app's call (egress); color: its ingress.
      expect(kinds(GATEWAY_SERVICE)).toEqual(['CLIENT', 'SERVER']);
      expect(kinds(FRONT_SERVICE)).toEqual(['CLIENT', 'SERVER']);
      expect(kinds(COLOR_SERVICE)).toEqual(['SERVER']);

      // One root (the gateway's listener); every other span's parent is a span of this trace, and
      // color's span descends hop by hop from it.
      const ids = new Set(spans.map((s) => s.id));
      expect(spans.filter((s) => !s.parentId).map((s) => `${s.localEndpoint?.serviceName} ${s.kind}`)).toEqual([
        `${GATEWAY_SERVICE} SERVER`,
      ]);
      expect(spans.filter((s) => s.parentId && !ids.has(s.parentId)).map((s) => s.id)).toEqual([]);
      const byId = new Map(spans.map((s) => [s.id, s]));
      const chain: string[] = [];
      for (
        let s: ZipkinSpan | undefined = spans.find((x) => x.localEndpoint?.serviceName === COLOR_SERVICE);
        s;
        s = s.parentId ? byId.get(s.parentId) : undefined
      )
        chain.push(`${s.localEndpoint?.serviceName} ${s.kind}`);
      expect(chain).toEqual([
        `${COLOR_SERVICE} SERVER`,
        `${FRONT_SERVICE} CLIENT`,
        `${FRONT_SERVICE} SERVER`,
        `${GATEWAY_SERVICE} CLIENT`,
        `${GATEWAY_SERVICE} SERVER`,
      ]);
      expect(receiver.refused).toEqual([]);
    }, 60_000);
  },
);
