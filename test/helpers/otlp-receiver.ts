// A minimal OTLP/gRPC trace receiver for tests: the real OpenTelemetry collector protocol
// (opentelemetry.proto.collector.trace.v1.TraceService/Export, loaded from the OTLP protos the
// OpenTelemetry JS exporter ships) served by @grpc/grpc-js, keeping every span it is sent,
// flattened, in memory. It stands in for an OpenTelemetry Collector: it stores, it does not
// forward. Hostile input is bounded: a message over MAX_MESSAGE_BYTES is refused by grpc-js, and
// past MAX_SPANS spans further ones are counted as dropped rather than kept.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as path from 'node:path';

const PROTO_ROOT = path.resolve(__dirname, '../../node_modules/@opentelemetry/otlp-grpc-exporter-base/build/protos');
const TRACE_SERVICE = 'opentelemetry/proto/collector/trace/v1/trace_service.proto';

/** The largest Export request taken (grpc-js answers RESOURCE_EXHAUSTED above it). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Spans kept at most; more are counted in `dropped`. */
export const MAX_SPANS = 10_000;

/** One span as received, with its resource's service.name. */
export interface ReceivedSpan {
  /** Lowercase hex (32 digits). */
  readonly traceId: string;
  /** Lowercase hex (16 digits). */
  readonly spanId: string;
  /** Lowercase hex, '' for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  /** SPAN_KIND_SERVER, SPAN_KIND_CLIENT, ... */
  readonly kind: string;
  /** The resource's service.name attribute ('' when missing). */
  readonly serviceName: string;
  /** The span's attributes, as strings. */
  readonly attributes: Readonly<Record<string, string>>;
}

export interface OtlpReceiver {
  /** host:port the receiver listens on. */
  readonly address: string;
  readonly port: number;
  /** Every span received so far, in arrival order. */
  spans(): readonly ReceivedSpan[];
  /** Export calls answered. */
  exports(): number;
  /** Spans not kept (over MAX_SPANS). */
  dropped(): number;
  close(): Promise<void>;
}

interface AnyValue {
  string_value?: string;
  bool_value?: boolean;
  int_value?: string;
  double_value?: number;
  bytes_value?: Buffer;
  value?: string;
}
interface KeyValue {
  key: string;
  value?: AnyValue | null;
}
interface Span {
  trace_id: Buffer;
  span_id: Buffer;
  parent_span_id: Buffer;
  name: string;
  kind: string;
  attributes: KeyValue[];
}
interface ExportRequest {
  resource_spans: {
    resource?: { attributes: KeyValue[] } | null;
    scope_spans: { spans: Span[] }[];
  }[];
}

function text(v: AnyValue | null | undefined): string {
  if (!v) return '';
  if (v.string_value !== undefined) return v.string_value;
  if (v.bool_value !== undefined) return String(v.bool_value);
  if (v.int_value !== undefined) return String(v.int_value);
  if (v.double_value !== undefined) return String(v.double_value);
  if (v.bytes_value !== undefined) return v.bytes_value.toString('hex');
  return '';
}

function attributes(list: readonly KeyValue[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) out[kv.key] = text(kv.value);
  return out;
}

/** Starts the receiver on `host` (default 127.0.0.1) at a free port, or at `port`. */
export async function startOtlpReceiver(opts: { host?: string; port?: number } = {}): Promise<OtlpReceiver> {
  const definition = protoLoader.loadSync(TRACE_SERVICE, {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    opentelemetry: {
      proto: { collector: { trace: { v1: { TraceService: grpc.ServiceClientConstructor } } } };
    };
  };
  const service = loaded.opentelemetry.proto.collector.trace.v1.TraceService.service;
  const received: ReceivedSpan[] = [];
  let exportCalls = 0;
  let dropped = 0;

  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': 64 * 1024,
  });
  server.addService(service, {
    Export: (call: grpc.ServerUnaryCall<ExportRequest, object>, callback: grpc.sendUnaryData<object>) => {
      exportCalls++;
      try {
        for (const rs of call.request.resource_spans ?? []) {
          const serviceName = attributes(rs.resource?.attributes)['service.name'] ?? '';
          for (const ss of rs.scope_spans ?? [])
            for (const s of ss.spans ?? []) {
              if (received.length >= MAX_SPANS) {
                dropped++;
                continue;
              }
              received.push({
                traceId: Buffer.from(s.trace_id ?? []).toString('hex'),
                spanId: Buffer.from(s.span_id ?? []).toString('hex'),
                parentSpanId: Buffer.from(s.parent_span_id ?? []).toString('hex'),
                name: s.name ?? '',
                kind: s.kind ?? '',
                serviceName,
                attributes: attributes(s.attributes),
              });
            }
        }
        callback(null, {});
      } catch (err) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: (err as Error).message });
      }
    },
  });
  const host = opts.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${opts.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  return {
    address: `${host}:${port}`,
    port,
    spans: () => received,
    exports: () => exportCalls,
    dropped: () => dropped,
    close: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
