import { compileProxy, NO_CLOUD_MAP, type ProxyConfig } from '../../src/compile';
import { loadMesh } from '../../src/load/mesh-source';
import type { MeshModel } from '../../src/model/mesh-model';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { meshFolder, QUICKSTART_MESH } from '../helpers/mesh-text';

const QUICKSTART_TEXT = () => fs.readFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), 'utf8');

const DEFAULT_PORTS = { ingressPort: 15000, egressPort: 15001 };

function model(dir: string): MeshModel {
  const result = loadMesh([dir]);
  if (!result.ok) throw new Error(result.problems.map((p) => p.message).join('\n'));
  return result.model;
}

function compile(m: MeshModel, nodeId: string, settings = DEFAULT_PORTS): ProxyConfig {
  const result = compileProxy(m, NO_CLOUD_MAP, nodeId, settings);
  if (!result.ok) throw new Error(result.error);
  return result.config;
}

/** The typed_config of the first filter of a listener's chain for a destination port (an HCM in these tests). */
function chainFilterConfig(config: ProxyConfig, listener: string, port: number): Record<string, unknown> {
  const l = config.listeners.find((x) => x.name === listener)!;
  const chain = l.filter_chains!.find((c) => c.filter_chain_match?.destination_port?.value === port)!;
  return chain.filters![0]!.typed_config as Record<string, unknown>;
}

describe('compiling a sidecar', () => {
  const quickstart = model(QUICKSTART_MESH);

  it("uses App Mesh's resource names", () => {
    const config = compile(quickstart, 'mesh/apps/virtualNode/front');
    expect(config.listeners.map((l) => l.name)).toEqual(['lds_egress_0.0.0.0_15001', 'lds_ingress_0.0.0.0_15000']);
    expect(config.routes.map((r) => r.name)).toEqual([
      'rds_egress_http_15001',
      'rds_egress_http_8080',
      'rds_ingress_http_9080',
    ]);
    expect(config.clusters.map((c) => c.name)).toEqual([
      'cds_egress_apps_color-blue_http_9081',
      'cds_egress_apps_color-green_http_9082',
      'cds_ingress_apps_front_http_9080',
    ]);
  });

  it('routes by Host to one virtual host per backend service, with weighted clusters per the route', () => {
    const egress = compile(quickstart, 'mesh/apps/virtualNode/front').routes.find(
      (r) => r.name === 'rds_egress_http_15001',
    )!;
    expect(egress.virtual_hosts).toHaveLength(1);
    const vhost = egress.virtual_hosts![0]!;
    expect(vhost.domains).toEqual(['color.apps.local', 'color.apps.local:8080']);
    expect(vhost.routes![0]!.route!.weighted_clusters!.clusters).toEqual([
      { name: 'cds_egress_apps_color-blue_http_9081', weight: { value: 100 } },
      { name: 'cds_egress_apps_color-green_http_9082', weight: { value: 0 } },
    ]);
    expect(vhost.routes![0]!.route!.timeout).toEqual({ seconds: 15 });
    expect(vhost.routes![0]!.route!.retry_policy!.num_retries).toEqual({ value: 2 });
  });

  it('sends egress through RDS per captured port (transparent) and for the egress port itself (explicit), ingress through original_dst chains per listener port', () => {
    const config = compile(quickstart, 'mesh/apps/virtualNode/front');
    expect(chainFilterConfig(config, 'lds_egress_0.0.0.0_15001', 15001)).toMatchObject({
      rds: { route_config_name: 'rds_egress_http_15001' },
    });
    expect(chainFilterConfig(config, 'lds_egress_0.0.0.0_15001', 8080)).toMatchObject({
      rds: { route_config_name: 'rds_egress_http_8080' },
    });
    const ingress = config.listeners.find((l) => l.name === 'lds_ingress_0.0.0.0_15000')!;
    expect(ingress.listener_filters!.map((f) => f.name)).toEqual(['envoy.filters.listener.original_dst']);
    expect(ingress.filter_chains!.map((c) => c.filter_chain_match!.destination_port)).toEqual([{ value: 9080 }]);
    const local = config.clusters.find((c) => c.name === 'cds_ingress_apps_front_http_9080')!;
    expect(local.type).toBe('STATIC');
    expect(local.load_assignment!.endpoints![0]!.lb_endpoints![0]!.endpoint!.address!.socket_address).toEqual({
      address: '127.0.0.1',
      port_value: 9080,
    });
  });

  it('accepts the ARN form of a node id and gives the same resources', () => {
    expect(compile(quickstart, 'arn:aws:appmesh:eu-west-1:111122223333:mesh/apps/virtualNode/front')).toEqual(
      compile(quickstart, 'mesh/apps/virtualNode/front'),
    );
  });

  it('binds the listener ports the proxy asks for in its node metadata', () => {
    const config = compile(quickstart, 'mesh/apps/virtualNode/front', { ingressPort: 25000, egressPort: 25001 });
    expect(config.listeners.map((l) => [l.name, l.address!.socket_address!.port_value])).toEqual([
      ['lds_egress_0.0.0.0_25001', 25001],
      ['lds_ingress_0.0.0.0_25000', 25000],
    ]);
  });

  it('says what is wrong with a node id that names nothing', () => {
    expect(compileProxy(quickstart, NO_CLOUD_MAP, 'mesh/apps/virtualNode/nobody', DEFAULT_PORTS)).toEqual({
      ok: false,
      error: "node id 'mesh/apps/virtualNode/nobody' names virtual node 'nobody', which is not defined in mesh 'apps'",
    });
    expect(compileProxy(quickstart, NO_CLOUD_MAP, 'mesh/other/virtualNode/front', DEFAULT_PORTS)).toMatchObject({
      ok: false,
      error: expect.stringContaining("mesh 'other'"),
    });
    expect(compileProxy(quickstart, NO_CLOUD_MAP, 'front', DEFAULT_PORTS)).toMatchObject({
      ok: false,
      error: expect.stringContaining('is not of the form mesh/<mesh>/virtualNode/<name>'),
    });
  });

  it('gives a node-provided service one route to that node, and uses ENDPOINTS as STRICT_DNS', () => {
    const m = model(
      meshFolder({
        'm.yaml': `kind: Mesh
name: m
---
kind: VirtualNode
mesh: m
name: caller
spec:
  backends: [{ virtualService: { virtualServiceName: db.local } }]
---
kind: VirtualNode
mesh: m
name: db
spec:
  listeners: [{ portMapping: { port: 5432, protocol: http2 } }]
  serviceDiscovery: { dns: { hostname: db.internal, responseType: ENDPOINTS } }
---
kind: VirtualService
mesh: m
name: db.local
spec: { provider: { virtualNode: { virtualNodeName: db } } }
`,
      }),
    );
    const config = compile(m, 'mesh/m/virtualNode/caller');
    const vhost = config.routes[0]!.virtual_hosts![0]!;
    expect(vhost.domains).toEqual(['db.local', 'db.local:5432']);
    expect(vhost.routes!.map((r) => r.route!.weighted_clusters!.clusters)).toEqual([
      [{ name: 'cds_egress_m_db_http2_5432', weight: { value: 1 } }],
    ]);
    const cluster = config.clusters.find((c) => c.name === 'cds_egress_m_db_http2_5432')!;
    expect(cluster.type).toBe('STRICT_DNS');
    expect(Object.keys(cluster.typed_extension_protocol_options!)).toEqual([
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
    ]);
    // No listeners of its own: no ingress listener.
    expect(config.listeners.map((l) => l.name)).toEqual(['lds_egress_0.0.0.0_15001']);
  });

  it('orders routes by priority, then longest prefix', () => {
    const route = (name: string, prefix: string, priority?: number) => `---
kind: Route
mesh: m
virtualRouter: r
name: ${name}
spec:
  ${priority === undefined ? '' : `priority: ${priority}\n  `}httpRoute: { match: { prefix: ${prefix} }, action: { weightedTargets: [{ virtualNode: app, weight: 1 }] } }
`;
    const m = model(
      meshFolder({
        'm.yaml': `kind: Mesh
name: m
---
kind: VirtualNode
mesh: m
name: app
spec:
  listeners: [{ portMapping: { port: 80, protocol: http } }]
  serviceDiscovery: { dns: { hostname: app } }
  backends: [{ virtualService: { virtualServiceName: svc } }]
---
kind: VirtualRouter
mesh: m
name: r
spec: { listeners: [{ portMapping: { port: 80, protocol: http } }] }
---
kind: VirtualService
mesh: m
name: svc
spec: { provider: { virtualRouter: { virtualRouterName: r } } }
${route('root', '/')}${route('api', '/api')}${route('api-v2', '/api/v2')}${route('first', '/', 1)}`,
      }),
    );
    const egress = compile(m, 'mesh/m/virtualNode/app').routes.find((r) => r.name === 'rds_egress_http_15001')!;
    expect(egress.virtual_hosts![0]!.routes!.map((r) => r.name)).toEqual(['first', 'api-v2', 'api', 'root']);
  });

  it("compiles an ACM trust to meshd's trust bundle over ADS, and gives only that proxy an identity", () => {
    const acm = `backendDefaults: { clientPolicy: { tls: { validation: { trust: { acm: { certificateAuthorityArns: ['arn:aws:acm-pca:eu-west-1:111122223333:certificate-authority/x'] } } } } } }`;
    const dir = meshFolder({ 'm.yaml': QUICKSTART_TEXT().replace(/(name: front\nspec:\n)/, `$1  ${acm}\n`) });
    const front = compile(model(dir), 'mesh/apps/virtualNode/front');
    expect(front.identity).toEqual({
      spiffeId: 'spiffe://meshd.local/mesh/apps/virtualNode/front',
      dnsNames: [expect.any(String)],
    });
    const tls = front.clusters
      .filter((c) => c.name!.startsWith('cds_egress_'))
      .map((c) => c.transport_socket?.typed_config as Record<string, any> | undefined);
    expect(tls.length).toBeGreaterThan(0);
    for (const t of tls)
      expect(t?.common_tls_context?.combined_validation_context?.validation_context_sds_secret_config).toEqual({
        name: 'meshd/trust-bundle',
        sds_config: { ads: {}, resource_api_version: 'V3' },
      });
    // A node without that policy names no managed secret, so it gets no identity.
    expect(compile(model(dir), 'mesh/apps/virtualNode/color-blue').identity).toBeUndefined();
  });

  it('leaves a TCP backend port uncaptured while its router has no route yet (an empty tcp_proxy would be refused by Envoy)', () => {
    const m = model(
      meshFolder({
        'm.yaml': `kind: Mesh
name: m
---
kind: VirtualNode
mesh: m
name: caller
spec:
  backends: [{ virtualService: { virtualServiceName: db.local } }]
---
kind: VirtualRouter
mesh: m
name: db
spec: { listeners: [{ portMapping: { port: 5432, protocol: tcp } }] }
---
kind: VirtualService
mesh: m
name: db.local
spec: { provider: { virtualRouter: { virtualRouterName: db } } }
`,
      }),
    );
    const egress = compile(m, 'mesh/m/virtualNode/caller').listeners.find(
      (l) => l.name === 'lds_egress_0.0.0.0_15001',
    )!;
    expect(egress.filter_chains!.map((c) => c.name)).toEqual(['egress_http_15001']);
  });

  it('is deterministic: the same model compiles to the same output', () => {
    expect(JSON.stringify(compile(model(QUICKSTART_MESH), 'mesh/apps/virtualNode/front'))).toBe(
      JSON.stringify(compile(quickstart, 'mesh/apps/virtualNode/front')),
    );
  });
});

describe('compiling for a proxyless gRPC client', () => {
  const PROXYLESS = { ...DEFAULT_PORTS, proxyless: true };

  it('serves an api_listener per name the client can dial, the egress route configuration and only the clusters it routes to', () => {
    const config = compile(model(QUICKSTART_MESH), 'mesh/apps/virtualNode/front', PROXYLESS);
    expect(config.listeners.map((l) => [l.name, l.api_listener ? 'api_listener' : 'socket'])).toEqual([
      ['color.apps.local', 'api_listener'],
      ['color.apps.local:8080', 'api_listener'],
    ]);
    expect(config.routes.map((r) => r.name)).toEqual(['rds_egress_http_15001']);
    expect(config.clusters.map((c) => c.name)).toEqual([
      'cds_egress_apps_color-blue_http_9081',
      'cds_egress_apps_color-green_http_9082',
    ]);
  });

  it('turns STRICT_DNS (responseType ENDPOINTS), which gRPC lacks, into LOGICAL_DNS', () => {
    const text = QUICKSTART_TEXT().replace(/hostname: (\S+)/g, 'hostname: $1, responseType: ENDPOINTS');
    expect(
      compile(model(meshFolder({ 'mesh.yaml': text })), 'mesh/apps/virtualNode/front').clusters.filter(
        (c) => c.type === 'STRICT_DNS',
      ),
    ).toHaveLength(2);
    expect(
      compile(model(meshFolder({ 'mesh.yaml': text })), 'mesh/apps/virtualNode/front', PROXYLESS).clusters.map(
        (c) => c.type,
      ),
    ).toEqual(['LOGICAL_DNS', 'LOGICAL_DNS']);
  });

  it('refuses client TLS from files (no gRPC equivalent) instead of serving the backend in plaintext', () => {
    const text = QUICKSTART_TEXT().replace(
      /(name: front\nspec:\n)/,
      '$1  backendDefaults: { clientPolicy: { tls: { validation: { trust: { file: { certificateChain: /certs/ca.pem } } } } } }\n',
    );
    const m = model(meshFolder({ 'mesh.yaml': text }));
    expect(compileProxy(m, NO_CLOUD_MAP, 'mesh/apps/virtualNode/front', DEFAULT_PORTS).ok).toBe(true);
    const result = compileProxy(m, NO_CLOUD_MAP, 'mesh/apps/virtualNode/front', PROXYLESS);
    expect(result).toEqual({
      ok: false,
      error: expect.stringMatching(
        /^cannot compile mesh\/apps\/virtualNode\/front: cluster cds_egress_apps_color-blue_http_9081: client TLS from files is not supported for proxyless gRPC clients/,
      ),
    });
  });
});

describe('compiling for a virtual gateway', () => {
  const GATEWAY = `---
kind: VirtualGateway
mesh: apps
name: gw
spec: { listeners: [{ portMapping: { port: 8000, protocol: http } }] }
---
kind: GatewayRoute
mesh: apps
virtualGateway: gw
name: color
spec:
  httpRoute:
    match: { prefix: /color }
    action: { target: { virtualService: { virtualServiceName: color.apps.local } } }
`;
  const withGateway = () => model(meshFolder({ 'mesh.yaml': QUICKSTART_TEXT() + GATEWAY }));

  it("listens on the gateway's ports and on its loopback hop, which runs the target's own routes", () => {
    const config = compile(withGateway(), 'mesh/apps/virtualGateway/gw');
    expect(config.listeners.map((l) => l.name)).toEqual(['lds_egress_127.0.0.1_15001', 'lds_ingress_0.0.0.0_8000']);
    expect(config.routes.map((r) => r.name)).toEqual(['rds_egress_http_15001', 'rds_ingress_http_8000']);
    expect(config.clusters.map((c) => c.name)).toEqual([
      'cds_egress_apps_color-blue_http_9081',
      'cds_egress_apps_color-green_http_9082',
      'cds_ingress_apps_gw_self_redirect_http_15001',
    ]);
  });

  it('names the hop cluster after the egress port it leads to, as App Mesh did, whatever port the gateway listens on', () => {
    const config = compile(withGateway(), 'mesh/apps/virtualGateway/gw', { ingressPort: 25000, egressPort: 25001 });
    const hop = config.clusters.find((c) => c.name!.includes('_self_redirect_'))!;
    expect(hop.name).toBe('cds_ingress_apps_gw_self_redirect_http_25001');
    expect(hop.load_assignment!.endpoints![0]!.lb_endpoints![0]!.endpoint!.address!.socket_address).toEqual({
      address: '127.0.0.1',
      port_value: 25001,
    });
  });

  it("keeps App Mesh's hop name for the first listener of a protocol; a later one of the same protocol adds its own port", () => {
    const text = (QUICKSTART_TEXT() + GATEWAY)
      .replace(
        'listeners: [{ portMapping: { port: 8000, protocol: http } }]',
        'listeners: [{ portMapping: { port: 8000, protocol: http } }, { portMapping: { port: 8443, protocol: http2 } }, { portMapping: { port: 8001, protocol: http } }]',
      )
      .replace('match: { prefix: /color }', 'match: { prefix: /color, port: 8000 }');
    const config = compile(model(meshFolder({ 'mesh.yaml': text })), 'mesh/apps/virtualGateway/gw');
    expect(config.clusters.map((c) => c.name).filter((n) => n!.includes('_self_redirect_'))).toEqual([
      'cds_ingress_apps_gw_self_redirect_http2_15001',
      'cds_ingress_apps_gw_self_redirect_http_15001',
      'cds_ingress_apps_gw_self_redirect_http_15001_8001',
    ]);
    const gatewayRouteCluster = config.routes.find((r) => r.name === 'rds_ingress_http_8000')!.virtual_hosts![0]!
      .routes![0]!.route!.cluster;
    expect(gatewayRouteCluster).toBe('cds_ingress_apps_gw_self_redirect_http_15001');
  });

  it('says what is wrong with a gateway node id that names nothing, or a proxyless client that names a gateway', () => {
    const m = withGateway();
    expect(compileProxy(m, NO_CLOUD_MAP, 'mesh/apps/virtualGateway/nobody', DEFAULT_PORTS)).toEqual({
      ok: false,
      error:
        "node id 'mesh/apps/virtualGateway/nobody' names virtual gateway 'nobody', which is not defined in mesh 'apps'",
    });
    expect(
      compileProxy(m, NO_CLOUD_MAP, 'mesh/apps/virtualGateway/gw', { ...DEFAULT_PORTS, proxyless: true }),
    ).toMatchObject({ ok: false, error: expect.stringContaining('only an Envoy can run') });
  });

  it("refuses a gateway listener on the Envoy's own egress port, where the hop listens, naming the way out", () => {
    const result = compileProxy(withGateway(), NO_CLOUD_MAP, 'mesh/apps/virtualGateway/gw', {
      ingressPort: 15000,
      egressPort: 8000,
    });
    expect(result).toEqual({
      ok: false,
      error:
        "cannot compile mesh/apps/virtualGateway/gw: VirtualGateway/gw: listeners[0].portMapping.port: 8000 is this gateway Envoy's egress port, where its internal hop listens; give the Envoy another one (APPMESH_ENVOY_EGRESS_PORT or meshd bootstrap --egress-port)",
    });
  });
});
