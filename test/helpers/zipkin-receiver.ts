// A tiny Zipkin v2 collector for tests: POST /api/v2/spans with a JSON array of spans. It stands
// in for Jaeger's collector, which App Mesh's ENABLE_ENVOY_JAEGER_TRACING pointed Envoy's Zipkin
// tracer at (Jaeger's collector takes the same Zipkin v2 API on port 9411); Envoy sends it JSON
// when JAEGER_TRACER_VERSION says json. Bodies are bounded, bad ones answered 400, never thrown.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A Zipkin v2 span, the fields the tests read. */
export interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name?: string;
  kind?: string;
  localEndpoint?: { serviceName?: string };
  tags?: Record<string, string>;
}

export interface ZipkinReceiver {
  readonly port: number;
  /** Every span received so far, in arrival order. */
  readonly spans: ZipkinSpan[];
  /** Requests refused (too large, not JSON, wrong path), with why. */
  readonly refused: string[];
  close(): Promise<void>;
}

/** Envoy batches spans in small reports; 1 MiB is far more than a test's worth. */
export const MAX_BODY_BYTES = 1 << 20;
/** Spans kept at most, so a runaway sender cannot grow the test process for ever. */
export const MAX_SPANS = 10_000;

/** Listens on `host` (loopback by default; a bridge's address for Envoys in network namespaces). */
export async function startZipkinReceiver(opts: { host?: string } = {}): Promise<ZipkinReceiver> {
  const spans: ZipkinSpan[] = [];
  const refused: string[] = [];
  const server = http.createServer((req, res) => {
    const answer = (status: number, why?: string) => {
      if (why !== undefined) refused.push(why);
      res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
      res.end(why ?? '');
    };
    if (req.method !== 'POST' || req.url !== '/api/v2/spans') {
      req.resume();
      return answer(404, `${req.method} ${req.url}: not the Zipkin v2 spans endpoint`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        answer(413, `a body over ${MAX_BODY_BYTES} bytes`);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      if (tooLarge) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return answer(400, `not JSON (content-type ${req.headers['content-type'] ?? 'none'})`);
      }
      if (!Array.isArray(body)) return answer(400, 'not a JSON array of spans');
      for (const span of body) {
        if (typeof span !== 'object' || span === null) continue;
        const s = span as ZipkinSpan;
        if (typeof s.traceId !== 'string' || typeof s.id !== 'string') continue;
        if (spans.length < MAX_SPANS) spans.push(s);
      }
      answer(202);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, opts.host ?? '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    spans,
    refused,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
