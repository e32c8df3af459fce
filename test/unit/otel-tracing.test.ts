// Tracing in what meshd compiles, as Envoy receives it (encoded and decoded back: an empty
// `tracing: {}` must survive the wire): every HTTP connection manager of a sidecar and a gateway
// carries a tracing block, the bootstrap's tracer's without the mesh's OpenTelemetry extension,
// the OpenTelemetry tracer's with it, plus the collector's cluster; and the extension's
// validation, with the file, line, resource and field the validator reports.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compileProxy, LookupMemo, type CompileMemo } from '../../src/compile';
import { NO_CLOUD_MAP } from '../../src/compile/cloud-map-view';
import { renderProxyConfig } from '../../src/control/render';
import { LoadCache, loadMesh } from '../../src/load/mesh-source';
import { formatProblem } from '../../src/load/problems';
import type { MeshReader } from '../../src/model/mesh-model';
import { tmpDir } from '../helpers/processes';

const SETTINGS = { ingressPort: 15000, egressPort: 15001 };

function meshYaml(meshd = '', meshSpec = ''): string {
  return `kind: Mesh
name: apps
spec:
${meshSpec}${meshd ? `  meshd:\n${meshd}` : ''}---
kind: VirtualNode
name: client
spec:
  backends:
    - virtualService: { virtualServiceName: api.apps.local }
    - virtualService: { virtualServiceName: db.apps.local }
---
kind: VirtualNode
name: api
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
  serviceDiscovery: { dns: { hostname: api.apps.internal } }
---
kind: VirtualService
name: api.apps.local
spec: { provider: { virtualNode: { virtualNodeName: api } } }
---
kind: VirtualNode
name: db
spec:
  listeners: [{ portMapping: { port: 5432, protocol: tcp } }]
  serviceDiscovery: { dns: { hostname: db.apps.internal } }
---
kind: VirtualService
name: db.apps.local
spec: { provider: { virtualNode: { virtualNodeName: db } } }
---
kind: VirtualGateway
name: edge
spec:
  listeners: [{ portMapping: { port: 8088, protocol: http } }]
---
kind: GatewayRoute
name: to-api
virtualGateway: edge
spec:
  httpRoute:
    match: { prefix: / }
    action: { target: { virtualService: { virtualServiceName: api.apps.local } } }
`;
}

const otel = (fields: string) => `    tracing:\n      openTelemetry: ${fields}\n`;

function load(yaml: string): { model: MeshReader; problems: string[] } {
  const dir = tmpDir('otel-unit-');
  const file = path.join(dir, 'm.yaml');
  fs.writeFileSync(file, yaml);
  const loaded = loadMesh([file]);
  if (!loaded.ok)
    return {
      model: undefined as unknown as MeshReader,
      problems: loaded.problems.map((p) => formatProblem(p).replaceAll(dir + path.sep, '')),
    };
  return { model: loaded.model, problems: [] };
}

interface Rendered {
  listeners: Record<string, unknown>[];
  clusters: Record<string, unknown>[];
}

function compile(model: MeshReader, nodeId: string, memo?: CompileMemo, proxyless = false): Rendered {
  const result = compileProxy(model, NO_CLOUD_MAP, nodeId, { ...SETTINGS, ...(proxyless ? { proxyless } : {}) }, memo);
  if (!result.ok) throw new Error(result.error);
  return renderProxyConfig(result.config) as unknown as Rendered;
}

interface Found {
  /** listener/chain */
  where: string;
  filter: string;
  tracing?: Record<string, unknown>;
  requestId?: unknown;
}

/** Every network filter of every listener, with its HCM's tracing block (after the wire round trip). */
function filters(r: Rendered): Found[] {
  const out: Found[] = [];
  for (const l of r.listeners) {
    const chains = (l.filter_chains ?? []) as { name: string; filters: { name: string; typed_config: object }[] }[];
    for (const chain of chains)
      for (const f of chain.filters) {
        const config = f.typed_config as { tracing?: Record<string, unknown>; request_id_extension?: unknown };
        out.push({
          where: `${String(l.name)}/${chain.name}`,
          filter: f.name,
          ...('tracing' in config ? { tracing: config.tracing } : {}),
          ...('request_id_extension' in config ? { requestId: config.request_id_extension } : {}),
        });
      }
  }
  return out;
}

const NODES = ['mesh/apps/virtualNode/client', 'mesh/apps/virtualNode/api', 'mesh/apps/virtualGateway/edge'];
const HCM = 'envoy.filters.network.http_connection_manager';

describe('HTTP connection managers: tracing', () => {
  it('without the extension every HCM (sidecar ingress and egress, gateway listener and hop) has tracing: {}, TCP none', () => {
    const { model, problems } = load(meshYaml());
    expect(problems).toEqual([]);
    const all = NODES.flatMap((id) => filters(compile(model, id)).map((f) => ({ id, ...f })));
    const hcms = all.filter((f) => f.filter === HCM);
    // client egress (8080 and the egress port), api ingress, the gateway's listener and its hop.
    expect(hcms.map((f) => f.where).sort()).toEqual([
      'lds_egress_0.0.0.0_15001/egress_http_15001',
      'lds_egress_0.0.0.0_15001/egress_http_15001',
      'lds_egress_0.0.0.0_15001/egress_http_8080',
      'lds_egress_127.0.0.1_15001/egress_http_15001',
      'lds_ingress_0.0.0.0_15000/ingress_http_8080',
      'lds_ingress_0.0.0.0_8088/gateway_http_8088',
    ]);
    for (const f of hcms) expect(`${f.id} ${f.where}: ${JSON.stringify(f.tracing)}`).toBe(`${f.id} ${f.where}: {}`);
    const tcp = all.filter((f) => f.filter !== HCM);
    expect(tcp.map((f) => `${f.filter} ${JSON.stringify(f.tracing)}`)).toEqual([
      'envoy.filters.network.tcp_proxy undefined',
    ]);
    // No collector without the extension.
    for (const id of NODES)
      expect(compile(model, id).clusters.map((c) => c.name)).not.toContain('meshd_otel_collector');
  });

  it('every HCM, with the extension or without, passes x-request-id on unchanged (no trace decision packed in it)', () => {
    const unchanged = JSON.stringify({
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig',
        pack_trace_reason: false,
      },
    });
    for (const meshd of ['', otel('{ address: "otel:4317", samplingRate: 0.5 }')]) {
      const { model, problems } = load(meshYaml(meshd));
      expect(problems).toEqual([]);
      const hcms = NODES.flatMap((id) =>
        filters(compile(model, id))
          .filter((f) => f.filter === HCM)
          .map((f) => ({ id, ...f })),
      );
      expect(hcms).toHaveLength(6);
      for (const f of hcms)
        expect(`${f.id} ${f.where}: ${JSON.stringify(f.requestId)}`).toBe(`${f.id} ${f.where}: ${unchanged}`);
    }
  });

  it("only the gateway's listener refuses client-forced traces (client_sampling 0 %), with the extension", () => {
    const clientSampling = (meshd: string) => {
      const { model } = load(meshYaml(meshd));
      return NODES.flatMap((id) =>
        filters(compile(model, id))
          .filter((f) => f.filter === HCM)
          .map((f) => `${id} ${f.where}: ${JSON.stringify(f.tracing?.client_sampling)}`),
      ).sort();
    };
    const withIt = clientSampling(otel('{ address: "otel:4317" }'));
    // The Percent is there; its zero value is not on the wire.
    expect(withIt.filter((l) => !l.endsWith(': undefined'))).toEqual([
      'mesh/apps/virtualGateway/edge lds_ingress_0.0.0.0_8088/gateway_http_8088: {}',
    ]);
    expect(withIt).toHaveLength(6);
    // Without it, the bootstrap's tracer (if any) keeps Envoy's defaults.
    expect(clientSampling('').filter((l) => !l.endsWith(': undefined'))).toEqual([]);
  });

  it('the listeners say which way traffic goes (span kinds): ingress and the gateway INBOUND, egress and the hop OUTBOUND', () => {
    const { model } = load(meshYaml());
    const directions = NODES.flatMap((id) =>
      compile(model, id).listeners.map((l) => `${String(l.name)} ${String(l.traffic_direction)}`),
    );
    expect(directions.sort()).toEqual([
      'lds_egress_0.0.0.0_15001 OUTBOUND',
      'lds_egress_0.0.0.0_15001 OUTBOUND',
      'lds_egress_127.0.0.1_15001 OUTBOUND',
      'lds_ingress_0.0.0.0_15000 INBOUND',
      'lds_ingress_0.0.0.0_8088 INBOUND',
    ]);
  });

  it('with the extension every HCM names the OpenTelemetry tracer, as its virtual node or gateway, sampling as set', () => {
    const { model, problems } = load(meshYaml(otel('{ address: "otel.observability:4317", samplingRate: 0.05 }')));
    expect(problems).toEqual([]);
    for (const [id, service, tag] of [
      ['mesh/apps/virtualNode/client', 'client', 'appmesh.virtual_node'],
      ['mesh/apps/virtualNode/api', 'api', 'appmesh.virtual_node'],
      ['mesh/apps/virtualGateway/edge', 'edge', 'appmesh.virtual_gateway'],
    ] as const) {
      const hcms = filters(compile(model, id)).filter((f) => f.filter === HCM);
      expect(hcms.length).toBeGreaterThan(0);
      for (const f of hcms)
        expect(f.tracing).toEqual({
          // The gateway's listener refuses client-forced traces (the next test).
          ...(f.where.includes('gateway_http') ? { client_sampling: {} } : {}),
          random_sampling: { value: 5 },
          custom_tags: [
            { tag: 'appmesh.mesh', literal: { value: 'apps' } },
            { tag, literal: { value: service } },
          ],
          provider: {
            name: 'envoy.tracers.opentelemetry',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig',
              grpc_service: { envoy_grpc: { cluster_name: 'meshd_otel_collector' }, timeout: '1s' },
              service_name: service,
            },
          },
        });
    }
  });

  it('samplingRate defaults to 1.0 (every request), and becomes a percentage without float noise', () => {
    const sampling = (fields: string) => {
      const { model } = load(meshYaml(otel(fields)));
      const [first] = filters(compile(model, 'mesh/apps/virtualNode/api')).filter((f) => f.filter === HCM);
      return first?.tracing?.random_sampling;
    };
    expect(sampling('{ address: "otel:4317" }')).toEqual({ value: 100 });
    expect(sampling('{ address: "otel:4317", samplingRate: 0.07 }')).toEqual({ value: 7 });
    expect(sampling('{ address: "otel:4317", samplingRate: 0.00015 }')).toEqual({ value: 0.015 });
    expect(sampling('{ address: "otel:4317", samplingRate: 0 }')).toEqual({});
  });

  it('a proxyless gRPC client gets no tracer and no collector cluster (it runs no Envoy)', () => {
    const { model } = load(meshYaml(otel('{ address: "otel:4317" }')));
    const r = compile(model, 'mesh/apps/virtualNode/client', undefined, true);
    expect(r.clusters.map((c) => c.name)).not.toContain('meshd_otel_collector');
    expect(JSON.stringify(r.listeners)).not.toContain('opentelemetry');
  });
});

describe('the collector cluster', () => {
  const collector = (address: string, meshSpec = '') => {
    const { model, problems } = load(meshYaml(otel(`{ address: "${address}" }`), meshSpec));
    expect(problems).toEqual([]);
    const all = NODES.map((id) => compile(model, id).clusters.find((c) => c.name === 'meshd_otel_collector'));
    // Every Envoy of the mesh gets the same one.
    for (const c of all) expect(c).toEqual(all[0]);
    return all[0]!;
  };
  const endpoint = (c: Record<string, unknown>) =>
    (c.load_assignment as { endpoints: { lb_endpoints: { endpoint: { address: unknown } }[] }[] }).endpoints[0]!
      .lb_endpoints[0]!.endpoint.address;
  const http2 = {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      explicit_http_config: { http2_protocol_options: {} },
    },
  };

  it('a DNS name: STRICT_DNS, HTTP/2 (OTLP/gRPC), the mesh IP preference', () => {
    const c = collector(
      'otel-collector.observability.svc.cluster.local:4317',
      '  serviceDiscovery: { ipPreference: IPv6_ONLY }\n',
    );
    expect(c.type).toBe('STRICT_DNS');
    expect(c.dns_lookup_family).toBe('V6_ONLY');
    expect(endpoint(c)).toEqual({
      socket_address: { address: 'otel-collector.observability.svc.cluster.local', port_value: 4317 },
    });
    expect(c.typed_extension_protocol_options).toEqual(http2);
  });

  it("a virtual node's own ipPreference decides its collector lookup, as for its other clusters; a gateway has the mesh's", () => {
    const yaml = meshYaml(
      otel('{ address: "otel-collector:4317" }'),
      '  serviceDiscovery: { ipPreference: IPv6_ONLY }\n',
    ).replace('hostname: api.apps.internal }', 'hostname: api.apps.internal, ipPreference: IPv4_ONLY }');
    const { model, problems } = load(yaml);
    expect(problems).toEqual([]);
    const families = NODES.map((id) => {
      const clusters = compile(model, id).clusters;
      const family = (name: string) => clusters.find((c) => c.name === name)?.dns_lookup_family;
      return `${id}: collector ${String(family('meshd_otel_collector'))}`;
    });
    expect(families).toEqual([
      'mesh/apps/virtualNode/client: collector V6_ONLY',
      'mesh/apps/virtualNode/api: collector V4_ONLY',
      'mesh/apps/virtualGateway/edge: collector V6_ONLY',
    ]);
  });

  it('an IPv4 or bracketed IPv6 address: STATIC, reached as is', () => {
    const v4 = collector('10.1.2.3:55680');
    expect(v4.type).toBe('STATIC');
    expect(endpoint(v4)).toEqual({ socket_address: { address: '10.1.2.3', port_value: 55680 } });
    expect(v4.typed_extension_protocol_options).toEqual(http2);
    const v6 = collector('[fd00::1]:4317');
    expect(v6.type).toBe('STATIC');
    expect(endpoint(v6)).toEqual({ socket_address: { address: 'fd00::1', port_value: 4317 } });
  });

  it('a reload that changes only the Mesh (the nodes keep their objects, the memo its frames) changes every proxy', () => {
    // As `meshd serve` reloads: one LoadCache and one LookupMemo, the Mesh in a file of its own.
    const dir = tmpDir('otel-reload-');
    const [meshDoc, ...rest] = meshYaml().split('---\n');
    fs.writeFileSync(path.join(dir, 'resources.yaml'), rest.join('---\n'));
    const cache = new LoadCache();
    const memo = new LookupMemo();
    const state = (meshd: string) => {
      fs.writeFileSync(path.join(dir, 'mesh.yaml'), meshd ? `${meshDoc}  meshd:\n${meshd}` : meshDoc!);
      const loaded = loadMesh([dir], { cache });
      if (!loaded.ok) throw new Error(loaded.problems.map(formatProblem).join('\n'));
      return NODES.map((id) => {
        const r = compile(loaded.model, id, memo);
        const c = r.clusters.find((x) => x.name === 'meshd_otel_collector');
        const tracers = filters(r).filter((f) => f.tracing?.provider !== undefined).length;
        return `${id}: ${c ? JSON.stringify(endpoint(c)) : 'no collector'}, ${tracers} tracers`;
      });
    };
    const off = [
      'mesh/apps/virtualNode/client: no collector, 0 tracers',
      'mesh/apps/virtualNode/api: no collector, 0 tracers',
      'mesh/apps/virtualGateway/edge: no collector, 0 tracers',
    ];
    const on = (host: string, port: number) =>
      NODES.map((id) => `${id}: {"socket_address":{"address":"${host}","port_value":${port}}}, 2 tracers`);
    expect(state('')).toEqual(off);
    expect(state(otel('{ address: "a:1" }'))).toEqual(on('a', 1));
    expect(state(otel('{ address: "b:2" }'))).toEqual(on('b', 2));
    expect(state('')).toEqual(off);
    expect(state(otel('{ address: "b:2" }'))).toEqual(on('b', 2));
  });
});

describe('a reload that changes only samplingRate', () => {
  it('reaches every HCM of every proxy (one LoadCache and LookupMemo, as meshd serve reloads)', () => {
    const dir = tmpDir('otel-sampling-reload-');
    const [meshDoc, ...rest] = meshYaml().split('---\n');
    fs.writeFileSync(path.join(dir, 'resources.yaml'), rest.join('---\n'));
    const cache = new LoadCache();
    const memo = new LookupMemo();
    const sampling = (rate: string) => {
      const fields = rate ? `{ address: "otel:4317", samplingRate: ${rate} }` : '{ address: "otel:4317" }';
      fs.writeFileSync(path.join(dir, 'mesh.yaml'), `${meshDoc}  meshd:\n${otel(fields)}`);
      const loaded = loadMesh([dir], { cache });
      if (!loaded.ok) throw new Error(loaded.problems.map(formatProblem).join('\n'));
      const percents = NODES.flatMap((id) =>
        filters(compile(loaded.model, id, memo))
          .filter((f) => f.filter === HCM)
          .map((f) => JSON.stringify(f.tracing?.random_sampling)),
      );
      expect(percents).toHaveLength(6);
      return [...new Set(percents)];
    };
    expect(sampling('')).toEqual(['{"value":100}']);
    expect(sampling('0.25')).toEqual(['{"value":25}']);
    expect(sampling('0.001')).toEqual(['{"value":0.1}']);
    // 0 %: the Percent is there (not Envoy's default 100 %), its zero value is not on the wire.
    expect(sampling('0')).toEqual(['{}']);
    expect(sampling('')).toEqual(['{"value":100}']);
  });
});

describe('spec.meshd.tracing.openTelemetry validation', () => {
  const FIELD = '(spec.meshd.tracing.openTelemetry.address)';
  const problemsOf = (fields: string) => load(meshYaml(otel(fields))).problems;

  it.each([
    [
      'no port',
      '"otel-collector"',
      'm.yaml:6:33: error: Mesh/apps: must be <host>:<port>, got "otel-collector": there is no port',
    ],
    [
      'an empty port',
      '"otel-collector:"',
      'm.yaml:6:33: error: Mesh/apps: must be <host>:<port>, got "otel-collector:": the port is empty',
    ],
    ['port 0', '"otel:0"', 'm.yaml:6:33: error: Mesh/apps: the port must be a number from 1 to 65535, got 0'],
    [
      'port 65536',
      '"otel:65536"',
      'm.yaml:6:33: error: Mesh/apps: the port must be a number from 1 to 65535, got 65536',
    ],
    [
      'a port that is no number',
      '"otel:grpc"',
      'm.yaml:6:33: error: Mesh/apps: the port must be a number from 1 to 65535, got "grpc"',
    ],
    [
      'an empty host',
      '":4317"',
      'm.yaml:6:33: error: Mesh/apps: must be <host>:<port>, got ":4317": the host is empty',
    ],
    [
      'a host with a space',
      '"otel collector:4317"',
      `m.yaml:6:33: error: Mesh/apps: the host "otel collector" is not a DNS name (labels of letters, digits, '-' and '_', joined by '.')`,
    ],
    [
      'a bad IPv4 address',
      '"10.0.0.300:4317"',
      'm.yaml:6:33: error: Mesh/apps: the host "10.0.0.300" is not a valid IPv4 address',
    ],
    [
      'a leading zero in an IPv4 address',
      '"10.0.0.01:4317"',
      'm.yaml:6:33: error: Mesh/apps: the host "10.0.0.01" is not a valid IPv4 address',
    ],
    [
      'a lone dot (no dotted quad: the DNS name message)',
      '".:4317"',
      `m.yaml:6:33: error: Mesh/apps: the host "." is not a DNS name (labels of letters, digits, '-' and '_', joined by '.')`,
    ],
    [
      'three colons in brackets',
      '"[:::]:4317"',
      'm.yaml:6:33: error: Mesh/apps: the host ":::" is not a valid IPv6 address (in [<address>]:<port>)',
    ],
    [
      'an IPv4 address with a colon in brackets',
      '"[1.2.3.4:]:4317"',
      'm.yaml:6:33: error: Mesh/apps: the host "1.2.3.4:" is not a valid IPv6 address (in [<address>]:<port>)',
    ],
    [
      'two :: in brackets',
      '"[fd00::1::2]:4317"',
      'm.yaml:6:33: error: Mesh/apps: the host "fd00::1::2" is not a valid IPv6 address (in [<address>]:<port>)',
    ],
    [
      'a group of five hex digits',
      '"[fd00::12345]:4317"',
      'm.yaml:6:33: error: Mesh/apps: the host "fd00::12345" is not a valid IPv6 address (in [<address>]:<port>)',
    ],
    [
      'an IPv6 zone index',
      '"[fe80::1%eth0]:4317"',
      'm.yaml:6:33: error: Mesh/apps: the host "fe80::1%eth0" is not a valid IPv6 address (in [<address>]:<port>)',
    ],
    [
      'a name of 254 characters',
      `"${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}:4317"`,
      `m.yaml:6:33: error: Mesh/apps: the host "${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}" is not a DNS name (labels of letters, digits, '-' and '_', joined by '.')`,
    ],
    [
      'IPv6 without brackets',
      '"fd00::1:4317"',
      'm.yaml:6:33: error: Mesh/apps: an IPv6 host is written in brackets, [<address>]:<port>, got "fd00::1:4317"',
    ],
    [
      'a URL',
      '"http://otel:4317"',
      'm.yaml:6:33: error: Mesh/apps: must be <host>:<port> with no scheme (Envoy speaks OTLP over gRPC to it), got "http://otel:4317"',
    ],
  ])('%s', (_title, address, expected) => {
    expect(problemsOf(`{ address: ${address} }`)).toEqual([`${expected} ${FIELD}`]);
  });

  it('valid addresses: IPv6 forms node parses, a 253-character name with or without its trailing dot', () => {
    const name253 = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    expect(name253.length).toBe(253);
    for (const address of [
      '[::]:4317',
      '[::ffff:10.1.2.3]:4317',
      '[FD00:0:0::1]:4317',
      `${name253}:4317`,
      `${name253}.:4317`,
    ])
      expect(`${address}: ${problemsOf(`{ address: "${address}" }`).join('; ')}`).toBe(`${address}: `);
  });

  it('a sampling rate above 1 or below 0', () => {
    expect(problemsOf('{ address: "otel:4317", samplingRate: 1.5 }')).toEqual([
      'm.yaml:6:60: error: Mesh/apps: must be a number from 0 to 1, got 1.5 (spec.meshd.tracing.openTelemetry.samplingRate)',
    ]);
    expect(problemsOf('{ address: "otel:4317", samplingRate: -0.1 }')).toEqual([
      'm.yaml:6:60: error: Mesh/apps: must be a number from 0 to 1, got -0.1 (spec.meshd.tracing.openTelemetry.samplingRate)',
    ]);
  });

  it('is read from a Kubernetes Mesh manifest (spec.meshd.tracing), and checked there too', () => {
    const manifest = (address: string) =>
      `apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: { name: apps }\nspec:\n  meshd:\n    tracing: { openTelemetry: { address: "${address}", samplingRate: 0.5 } }\n`;
    const good = load(manifest('otel:4317'));
    expect(good.problems).toEqual([]);
    expect(good.model.mesh('apps')?.spec.meshd?.tracing).toEqual({
      openTelemetry: { address: 'otel:4317', samplingRate: 0.5 },
    });
    expect(load(manifest('otel')).problems).toEqual([
      'm.yaml:6:42: error: Mesh/apps: must be <host>:<port>, got "otel": there is no port (spec.meshd.tracing.openTelemetry.address)',
    ]);
  });

  it('the address is required, and an unknown field is named', () => {
    expect(problemsOf('{ samplingRate: 0.5 }')).toEqual([
      'm.yaml:6:22: error: Mesh/apps: required field is missing (spec.meshd.tracing.openTelemetry.address)',
    ]);
    expect(problemsOf('{ address: "otel:4317", sampling: 0.5 }')).toEqual([
      "m.yaml:6:56: error: Mesh/apps: unknown field 'sampling'; expected one of: address, samplingRate (spec.meshd.tracing.openTelemetry.sampling)",
    ]);
  });
});
