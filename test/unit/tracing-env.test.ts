// App Mesh's tracing variables → the bootstrap's tracer (src/bootstrap/tracing.ts): App Mesh's
// defaults, which variable wins, how a sampling rate is rounded, and what a tracing file may hold.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  bootstrapTracing,
  ipWithOptionalPort,
  readTracingConfigFile,
  samplingManifest,
  samplingPercent,
  type TracingInput,
} from '../../src/bootstrap/tracing';
import { tmpDir } from '../helpers/processes';
import { MAX_BODY_BYTES, startZipkinReceiver } from '../helpers/zipkin-receiver';

const VARIABLES: Record<string, string> = {
  xray: 'ENABLE_ENVOY_XRAY_TRACING',
  datadog: 'ENABLE_ENVOY_DATADOG_TRACING',
  jaeger: 'ENABLE_ENVOY_JAEGER_TRACING',
  xrayDaemonAddress: 'AWS_XRAY_DAEMON_ADDRESS',
  xraySamplingRate: 'XRAY_SAMPLING_RATE',
  xraySamplingRuleManifest: 'XRAY_SAMPLING_RULE_MANIFEST',
  jaegerAddress: 'JAEGER_TRACER_ADDRESS',
  datadogAddress: 'DATADOG_TRACER_ADDRESS',
  configFile: 'ENVOY_TRACING_CFG_FILE',
};

/** App Mesh's defaults for a node front of mesh apps, with `over` on top. */
function input(over: Partial<TracingInput> = {}): TracingInput {
  return {
    node: { mesh: 'apps', type: 'virtualNode', name: 'front' },
    xray: false,
    datadog: false,
    jaeger: false,
    xrayDaemonPort: '2000',
    jaegerAddress: '127.0.0.1',
    jaegerPort: '9411',
    datadogAddress: '127.0.0.1',
    datadogPort: '8126',
    source: (field) => VARIABLES[field] ?? field,
    ...over,
  };
}

const DIR = tmpDir('tracing-env-unit-');
const file = (name: string, text: string) => {
  const p = path.join(DIR, name);
  fs.writeFileSync(p, text);
  return p;
};

describe("tracing from App Mesh's variables", () => {
  it('configures no tracer when none is enabled, whatever the other variables say', () => {
    // Ports too: Kubernetes' service links put tcp://… or udp://… in them (App Mesh ignored them).
    const links = { xrayDaemonPort: 'udp://10.100.0.5:2000', jaegerPort: 'tcp://10.100.0.6:9411', datadogPort: 'x' };
    expect(bootstrapTracing(input({ ...links, xraySamplingRate: 'not a rate', jaegerAddress: 'bad host!' }))).toEqual({
      notes: [],
    });
  });

  it("X-Ray: App Mesh's defaults (daemon 127.0.0.1:2000, segment <mesh>/<node>, X-Ray's own sampling)", () => {
    expect(bootstrapTracing(input({ xray: true }))).toEqual({
      tracing: {
        kind: 'xray',
        segmentName: 'apps/front',
        address: '127.0.0.1',
        port: 2000,
        mesh: 'apps',
        node: 'front',
      },
      notes: [],
    });
  });

  it("X-Ray: a port in AWS_XRAY_DAEMON_ADDRESS wins over XRAY_DAEMON_PORT; XRAY_SEGMENT_NAME wins over the node's", () => {
    const t = bootstrapTracing(
      input({ xray: true, xrayDaemonAddress: '[fd00::2]:2100', xrayDaemonPort: '3000', xraySegmentName: 'edge' }),
    );
    expect(t).toMatchObject({ tracing: { address: 'fd00::2', port: 2100, segmentName: 'edge' } });
    expect(
      bootstrapTracing(input({ xray: true, xrayDaemonAddress: '10.1.2.3', xrayDaemonPort: '3000' })),
    ).toMatchObject({
      tracing: { address: '10.1.2.3', port: 3000 },
    });
  });

  it('X-Ray: a manifest file wins over the rate; the rate becomes one default rule; 5% writes none', () => {
    const manifest = file('rules.json', '{"version": 2, "default": {"fixed_target": 1, "rate": 0.2}, "rules": []}');
    expect(
      bootstrapTracing(input({ xray: true, xraySamplingRuleManifest: manifest, xraySamplingRate: '0.5' })),
    ).toMatchObject({ tracing: { samplingFile: manifest } });
    expect(bootstrapTracing(input({ xray: true, xraySamplingRate: '0.5' }))).toMatchObject({
      tracing: { samplingRules: '{"version":2,"default":{"fixed_target":1,"rate":0.5},"rules":[]}' },
    });
    const fivePercent = bootstrapTracing(input({ xray: true, xraySamplingRate: '0.05' }));
    expect(fivePercent).toMatchObject({ tracing: { kind: 'xray' } });
    expect((fivePercent as { tracing: object }).tracing).not.toHaveProperty('samplingRules', expect.anything());
  });

  it.each([
    ['1', 100],
    ['1.00', 100],
    ['0', 0],
    ['.5', 50],
    ['0.125', 13],
    ['0.124', 12],
    ['0.995', 100],
    ['00.05', 5],
    ['0.', 0],
  ])('a sampling rate of %s is %d%%', (text, percent) => {
    expect(samplingPercent(text)).toBe(percent);
  });

  it.each(['1.01', '2', '-0.1', '+0.5', '5%', '1e-1', '.', '', '0.5.1', ' 0.5'])(
    'a sampling rate of %p is refused',
    (text) => {
      expect(samplingPercent(text)).toBeUndefined();
    },
  );

  it('writes a rate with as few digits as it needs', () => {
    expect([0, 1, 10, 13, 50, 100].map((p) => JSON.parse(samplingManifest(p)).default.rate)).toEqual([
      0, 0.01, 0.1, 0.13, 0.5, 1,
    ]);
  });

  it('reads a daemon address as an IP address with an optional port, never a name', () => {
    expect(ipWithOptionalPort('127.0.0.1')).toEqual({ host: '127.0.0.1' });
    expect(ipWithOptionalPort('127.0.0.1:02000')).toEqual({ host: '127.0.0.1', port: 2000 });
    expect(ipWithOptionalPort('::1')).toEqual({ host: '::1' });
    expect(ipWithOptionalPort('[::1]:2000')).toEqual({ host: '::1', port: 2000 });
    // Leading zeros are refused: Envoy 1.40 crashes on such a daemon address (App Mesh refused them).
    for (const bad of ['01.2.3.4', '1.2.3.04:2000', '::ffff:01.2.3.4', '[::ffff:1.2.3.04]:2000'])
      expect([bad, ipWithOptionalPort(bad)]).toEqual([bad, undefined]);
    for (const bad of ['xray', 'xray:2000', '127.0.0.1:0', '127.0.0.1:65536', '[xray]:2000', '::1:2000x', '300.0.0.1'])
      expect([bad, ipWithOptionalPort(bad)]).toEqual([bad, undefined]);
  });

  it("Datadog: App Mesh's agent cluster and service name envoy-<mesh>/<node>, or DD_SERVICE", () => {
    expect(bootstrapTracing(input({ datadog: true }))).toEqual({
      tracing: { kind: 'datadog', address: '127.0.0.1', port: 8126, serviceName: 'envoy-apps/front' },
      notes: [],
    });
    expect(
      bootstrapTracing(input({ datadog: true, datadogService: 'shop', datadogAddress: 'dd-agent' })),
    ).toMatchObject({ tracing: { serviceName: 'shop', address: 'dd-agent' } });
  });

  it('Jaeger: protobuf spans unless JAEGER_TRACER_VERSION mentions json, in any case', () => {
    const version = (jaegerVersion?: string) =>
      (bootstrapTracing(input({ jaeger: true, jaegerVersion })) as { tracing: { version: string } }).tracing.version;
    expect([version(), version('PROTO'), version('v2'), version('JSON'), version('zipkin-json')]).toEqual([
      'HTTP_PROTO',
      'HTTP_PROTO',
      'HTTP_PROTO',
      'HTTP_JSON',
      'HTTP_JSON',
    ]);
  });

  it('refuses two tracers at once, naming the first two as App Mesh read them', () => {
    expect(bootstrapTracing(input({ xray: true, datadog: true, jaeger: true }))).toEqual({
      error:
        'ENABLE_ENVOY_XRAY_TRACING and ENABLE_ENVOY_DATADOG_TRACING are both set: Envoy takes one tracer; enable one of ENABLE_ENVOY_XRAY_TRACING, ENABLE_ENVOY_DATADOG_TRACING and ENABLE_ENVOY_JAEGER_TRACING',
    });
  });

  it('a tracing file turns the tracers off (said in a note), as in App Mesh', () => {
    const cfg = file('only-tracing.yaml', 'tracing:\n  http:\n    name: envoy.tracers.zipkin\n');
    expect(bootstrapTracing(input({ configFile: cfg, xray: true, datadog: true }))).toEqual({
      tracing: { kind: 'file', tracing: '  http:\n    name: envoy.tracers.zipkin', clusters: undefined },
      notes: [
        'ENABLE_ENVOY_XRAY_TRACING has no effect: ENVOY_TRACING_CFG_FILE is set and its tracing is used',
        'ENABLE_ENVOY_DATADOG_TRACING has no effect: ENVOY_TRACING_CFG_FILE is set and its tracing is used',
      ],
    });
  });

  it("a tracing file's clusters are re-indented to sit among meshd's, comments and carriage returns left out", () => {
    const cfg = file(
      'clusters.yaml',
      [
        'static_resources:',
        '    clusters:   # the collector',
        '        - name: c1',
        '          # a comment',
        '          type: STATIC',
        '        - name: c2',
        'tracing:',
        '  http: { name: envoy.tracers.zipkin }',
        '',
      ].join('\r\n'),
    );
    expect(readTracingConfigFile(cfg, 'ENVOY_TRACING_CFG_FILE')).toEqual({
      tracing: '  http: { name: envoy.tracers.zipkin }',
      clusters: '- name: c1\n  type: STATIC\n- name: c2',
    });
    // A list at the key's own indentation is a list too.
    const flush = file(
      'flush.yaml',
      'tracing:\n  http: {}\nstatic_resources:\n  clusters:\n  - name: c1\n    type: STATIC\n',
    );
    expect(readTracingConfigFile(flush, 'ENVOY_TRACING_CFG_FILE')).toEqual({
      tracing: '  http: {}',
      clusters: '- name: c1\n  type: STATIC',
    });
  });

  it('names the file, the line and what is wrong', () => {
    const bad = file('bad.yaml', 'tracing:\n  http: {}\nadmin:\n  address: {}\n');
    expect(readTracingConfigFile(bad, 'ENVOY_TRACING_CFG_FILE')).toEqual({
      error: `ENVOY_TRACING_CFG_FILE: '${bad}' line 3: meshd takes a block 'tracing:' and a 'static_resources:' holding 'clusters:' only, got 'admin:'`,
    });
    const under = file('under.yaml', 'static_resources:\n  clusters:\n      - name: a\n    - name: b\n');
    expect(readTracingConfigFile(under, 'ENVOY_TRACING_CFG_FILE')).toEqual({
      error: `ENVOY_TRACING_CFG_FILE: '${under}' line 4: less indented than the first cluster, got '    - name: b'`,
    });
  });
});

describe("the tests' Zipkin receiver (a stand-in for Jaeger's collector)", () => {
  const post = async (port: number, body: string | Buffer) => {
    const r = await fetch(`http://127.0.0.1:${port}/api/v2/spans`, { method: 'POST', body }).catch(() => undefined);
    return r?.status;
  };

  it('keeps well-formed spans, refuses what is not a JSON array and bodies over its bound, and keeps serving', async () => {
    const receiver = await startZipkinReceiver();
    try {
      expect(await post(receiver.port, JSON.stringify([{ traceId: 'a1', id: 'b2' }, { no: 'ids' }, 7]))).toBe(202);
      expect(await post(receiver.port, 'not json')).toBe(400);
      expect(await post(receiver.port, '{"traceId": "a1"}')).toBe(400);
      // Over the bound: answered 413 (or the connection closed mid-body), never buffered whole.
      expect([413, undefined]).toContain(await post(receiver.port, Buffer.alloc(MAX_BODY_BYTES + 1, 0x20)));
      expect(await post(receiver.port, JSON.stringify([{ traceId: 'c3', id: 'd4' }]))).toBe(202);
      expect(receiver.spans.map((s) => s.traceId)).toEqual(['a1', 'c3']);
      expect(receiver.refused).toEqual([
        'not JSON (content-type text/plain;charset=UTF-8)',
        'not a JSON array of spans',
        `a body over ${MAX_BODY_BYTES} bytes`,
      ]);
    } finally {
      await receiver.close();
    }
  });
});
