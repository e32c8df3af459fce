// A real Envoy on the bootstrap meshd renders from App Mesh's tracing variables sends its traces
// where App Mesh's would have: X-Ray segments over UDP to the daemon's address, Datadog traces to
// the agent's /v0.4/traces, Zipkin spans to the `jaeger` cluster, or to the cluster a tracing file
// brings. Each Envoy serves one listener of its own (added to the rendered bootstrap here) whose
// HTTP connection manager has a `tracing` block, as meshd's do; meshd itself is not running, so
// ENVOY_INITIAL_FETCH_TIMEOUT=1 lets Envoy start without its first answer.
import * as dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { describeWithEnvoy, startEnvoy, type RunningEnvoy } from '../helpers/envoy';
import { freePort, httpGet, MESHD_BIN, tmpDir, waitFor } from '../helpers/processes';
import { startZipkinReceiver, type ZipkinReceiver } from '../helpers/zipkin-receiver';

const NODE = 'mesh/apps/virtualNode/front';

/** meshd bootstrap's YAML for these variables, with a traced listener on `listenerPort` added. */
function tracedBootstrap(
  env: Record<string, string>,
  adminPort: number,
  listenerPort: number,
  xdsPort: number,
): string {
  const r = spawnSync(process.execPath, [MESHD_BIN, 'bootstrap'], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      APPMESH_RESOURCE_ARN: NODE,
      ENVOY_ADMIN_ACCESS_PORT: String(adminPort),
      ENVOY_INITIAL_FETCH_TIMEOUT: '1',
      MESHD_XDS_ADDRESS: `127.0.0.1:${xdsPort}`,
      ...env,
    },
  });
  if (r.status !== 0) throw new Error(`meshd bootstrap failed: ${r.stderr}`);
  const doc = parse(r.stdout);
  doc.admin.address.socket_address.address = '127.0.0.1';
  doc.static_resources.listeners = [
    {
      name: 'traced',
      address: { socket_address: { address: '127.0.0.1', port_value: listenerPort } },
      filter_chains: [
        {
          filters: [
            {
              name: 'envoy.filters.network.http_connection_manager',
              typed_config: {
                '@type':
                  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                stat_prefix: 'traced',
                tracing: {},
                route_config: {
                  virtual_hosts: [
                    {
                      name: 'all',
                      domains: ['*'],
                      routes: [
                        {
                          match: { prefix: '/' },
                          direct_response: { status: 200, body: { inline_string: 'traced' } },
                        },
                      ],
                    },
                  ],
                },
                http_filters: [
                  {
                    name: 'envoy.filters.http.router',
                    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                  },
                ],
              },
            },
          ],
        },
      ],
    },
  ];
  return stringify(doc);
}

describeWithEnvoy("a real Envoy traces from App Mesh's variables", (envoyBin) => {
  let envoy: RunningEnvoy | undefined;
  const closers: (() => Promise<void>)[] = [];

  afterEach(async () => {
    // An Envoy killed by a signal (a crash) has no exit code, and the helper's stop() would wait
    // for an exit that already happened.
    if (envoy?.process.signalCode === null) await envoy.stop();
    envoy = undefined;
    for (const close of closers.splice(0)) await close();
  });

  /** Starts Envoy on the traced bootstrap and sends requests until `received` says the tracer delivered. */
  async function traceRequests<T>(env: Record<string, string>, received: () => T | undefined): Promise<T> {
    const [adminPort, listenerPort, xdsPort] = [await freePort(), await freePort(), await freePort()];
    envoy = startEnvoy(envoyBin, tracedBootstrap(env, adminPort, listenerPort, xdsPort), adminPort);
    const running = envoy;
    try {
      await waitFor('the traced listener', async () =>
        (await httpGet(listenerPort, 'front')).body === 'traced' ? true : undefined,
      );
      // Zipkin and Datadog batch their reports (up to 5 s); a request every 200 ms until one arrives.
      return await waitFor(
        'traces at the collector',
        async () => {
          await httpGet(listenerPort, 'front', '/color');
          return received();
        },
        20_000,
        200,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\nEnvoy's log:\n${running.logs().slice(-4000)}`);
    }
  }

  /** A stand-in X-Ray daemon: a UDP socket on `host` that keeps the segment documents it receives. */
  async function xrayDaemon(
    type: 'udp4' | 'udp6',
    host: string,
  ): Promise<{ port: number; segments: Record<string, unknown>[] }> {
    const daemon = dgram.createSocket(type);
    const segments: Record<string, unknown>[] = [];
    daemon.on('message', (msg) => {
      // The daemon's protocol: a JSON header line, then the segment document.
      const [header, body] = msg.toString('utf8').split('\n', 2);
      if (header && body && JSON.parse(header).format === 'json') segments.push(JSON.parse(body));
    });
    await new Promise<void>((resolve) => daemon.bind(0, host, resolve));
    closers.push(() => new Promise<void>((resolve) => daemon.close(() => resolve())));
    return { port: (daemon.address() as AddressInfo).port, segments };
  }

  it("X-Ray: segments go over UDP to AWS_XRAY_DAEMON_ADDRESS, named <mesh>/<node>, with App Mesh's origin and fields", async () => {
    const { port, segments } = await xrayDaemon('udp4', '127.0.0.1');
    const segment = await traceRequests(
      { ENABLE_ENVOY_XRAY_TRACING: '1', AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${port}`, XRAY_SAMPLING_RATE: '1' },
      () => segments[0],
    );
    expect(segment).toMatchObject({
      name: 'apps/front',
      origin: 'AWS::AppMesh::Proxy',
      aws: { app_mesh: { mesh_name: 'apps', virtual_node_name: 'front' } },
      http: { request: { method: 'GET' } },
    });
    expect(segment.trace_id).toMatch(/^1-[0-9a-f]{8}-[0-9a-f]{24}$/);
  });

  it('X-Ray on an IPv6 daemon (AWS_XRAY_DAEMON_ADDRESS=::1, XRAY_DAEMON_PORT): Envoy keeps serving and the segments arrive', async () => {
    // Written bare (address: "::1"), Envoy 1.40 crashed on the first traced request.
    const { port, segments } = await xrayDaemon('udp6', '::1');
    const segment = await traceRequests(
      {
        ENABLE_ENVOY_XRAY_TRACING: '1',
        AWS_XRAY_DAEMON_ADDRESS: '::1',
        XRAY_DAEMON_PORT: String(port),
        XRAY_SAMPLING_RATE: '1',
      },
      () => segments[0],
    );
    expect(segment).toMatchObject({ name: 'apps/front', origin: 'AWS::AppMesh::Proxy' });
    // Still running after the traced requests (a crash leaves an exit code or a signal).
    expect(envoy?.process.exitCode).toBeNull();
    expect(envoy?.process.signalCode).toBeNull();
  });

  it('Datadog: traces go to the datadog_agent cluster (/v0.4/traces, msgpack) as envoy-<mesh>/<node>', async () => {
    const requests: { method: string; url: string; type: string; body: Buffer }[] = [];
    const agent = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 1 << 20) chunks.push(c); // bounded: a test's traces are a few KiB
      });
      req.on('end', () => {
        requests.push({
          method: req.method ?? '',
          url: req.url ?? '',
          type: String(req.headers['content-type']),
          body: Buffer.concat(chunks),
        });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => agent.listen(0, '127.0.0.1', resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          agent.closeAllConnections();
          agent.close(() => resolve());
        }),
    );
    const port = (agent.address() as AddressInfo).port;

    const traces = await traceRequests({ ENABLE_ENVOY_DATADOG_TRACING: '1', DATADOG_TRACER_PORT: String(port) }, () =>
      requests.find((r) => r.url === '/v0.4/traces' && r.body.includes('envoy-apps/front')),
    );
    expect(['PUT', 'POST']).toContain(traces.method);
    expect(traces.type).toBe('application/msgpack');
    // msgpack writes strings as they are: the service name and the request's path are in the body.
    expect(traces.body.includes(Buffer.from('envoy-apps/front'))).toBe(true);
  });

  async function zipkin(): Promise<ZipkinReceiver> {
    const receiver = await startZipkinReceiver();
    closers.push(() => receiver.close());
    return receiver;
  }

  it('Jaeger: Zipkin spans (JSON as JAEGER_TRACER_VERSION asks) go to the jaeger cluster, the service named by node.cluster', async () => {
    const receiver = await zipkin();
    const span = await traceRequests(
      {
        ENABLE_ENVOY_JAEGER_TRACING: '1',
        JAEGER_TRACER_ADDRESS: '127.0.0.1',
        JAEGER_TRACER_PORT: String(receiver.port),
        JAEGER_TRACER_VERSION: 'json',
      },
      () => receiver.spans[0],
    );
    expect(span.localEndpoint?.serviceName).toBe(NODE);
    expect(span.kind).toBe('SERVER');
    expect(span.traceId).toMatch(/^[0-9a-f]{16}([0-9a-f]{16})?$/);
    expect(receiver.refused).toEqual([]);
  });

  it('ENVOY_TRACING_CFG_FILE: the tracer and collector cluster of the file are the ones Envoy uses', async () => {
    const receiver = await zipkin();
    const file = path.join(tmpDir('tracing-cfg-'), 'tracing.yaml');
    fs.writeFileSync(
      file,
      [
        'tracing:',
        '  http:',
        '    name: envoy.tracers.zipkin',
        '    typed_config:',
        '      "@type": type.googleapis.com/envoy.config.trace.v3.ZipkinConfig',
        '      collector_cluster: my_collector',
        '      collector_endpoint: /api/v2/spans',
        '      collector_endpoint_version: HTTP_JSON',
        'static_resources:',
        '  clusters:',
        '    - name: my_collector',
        '      type: STATIC',
        '      connect_timeout: 1s',
        '      load_assignment:',
        '        cluster_name: my_collector',
        '        endpoints:',
        '          - lb_endpoints:',
        `              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${receiver.port} } } }`,
        '',
      ].join('\n'),
    );
    // ENABLE_ENVOY_XRAY_TRACING is left aside when a tracing file is given, as App Mesh's image did.
    const span = await traceRequests({ ENVOY_TRACING_CFG_FILE: file, ENABLE_ENVOY_XRAY_TRACING: '1' }, () =>
      receiver.spans.find((s) => s.tags?.['http.url']?.endsWith('/color')),
    );
    expect(span.localEndpoint?.serviceName).toBe(NODE);
  });
});
