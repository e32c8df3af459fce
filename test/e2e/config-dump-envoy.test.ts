// `meshd config-dump` against a real Envoy's /config_dump for the same sidecar: resource by
// resource, the JSON meshd prints is the JSON Envoy prints (canonical proto3 JSON, snake_case
// names), except for the fields Envoy adds itself, listed below with the reason for each. A
// user can then diff what meshd serves against what Envoy holds.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { describeWithEnvoy } from '../helpers/envoy';
import { MESHD_BIN, tmpDir } from '../helpers/processes';
import { startSidecar, type Sidecar } from '../helpers/sidecar-harness';

const MESH = 'dump';
const NODE_ID = `mesh/${MESH}/virtualNode/client`;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

/**
 * A sidecar with every kind of resource and the well-known types in them: Durations with and
 * without fractions (timeouts, health checks, outlier detection), wrappers (circuit breakers,
 * retries, ports), a Struct (the JSON access log format), Anys (every typed_config), enums,
 * uint64 (weights), an EDS cluster whose endpoints come from a Cloud Map service, a TCP
 * route (tcp_proxy) and a gRPC route (HTTP/2 protocol options).
 */
function meshYaml(accessLog: string): string {
  return `kind: Mesh
name: ${MESH}
---
kind: VirtualNode
mesh: ${MESH}
name: client
spec:
  listeners:
    - portMapping: { port: 9080, protocol: http }
      healthCheck: { protocol: http, path: /ping, intervalMillis: 5000, timeoutMillis: 2500, healthyThreshold: 2, unhealthyThreshold: 3 }
      outlierDetection: { maxServerErrors: 5, interval: { value: 10, unit: s }, baseEjectionDuration: { value: 1500, unit: ms }, maxEjectionPercent: 50 }
      connectionPool: { http: { maxConnections: 10, maxPendingRequests: 5 } }
      timeout: { http: { perRequest: { value: 30, unit: s }, idle: { value: 0, unit: s } } }
  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }
  backends:
    - virtualService: { virtualServiceName: shop.${MESH}.local }
    - virtualService: { virtualServiceName: orders.${MESH}.local }
    - virtualService: { virtualServiceName: db.${MESH}.local }
    - virtualService: { virtualServiceName: greeter.${MESH}.local }
  logging: { accessLog: { file: { path: ${accessLog}, format: { json: [{ key: start, value: '%START_TIME%' }, { key: code, value: '%RESPONSE_CODE%' }] } } } }
---
kind: VirtualNode
mesh: ${MESH}
name: shop-v1
spec:
  listeners: [{ portMapping: { port: 8081, protocol: http } }]
  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }
---
kind: VirtualNode
mesh: ${MESH}
name: shop-v2
spec:
  listeners: [{ portMapping: { port: 8082, protocol: http } }]
  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }
---
kind: VirtualRouter
mesh: ${MESH}
name: shop
spec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }
---
kind: Route
mesh: ${MESH}
virtualRouter: shop
name: beta
spec:
  priority: 1
  httpRoute:
    match: { prefix: /, headers: [{ name: x-beta, match: { exact: "yes" } }] }
    action: { weightedTargets: [{ virtualNode: shop-v2, weight: 1 }] }
    timeout: { perRequest: { value: 1500, unit: ms } }
---
kind: Route
mesh: ${MESH}
virtualRouter: shop
name: split
spec:
  priority: 2
  httpRoute:
    match: { prefix: / }
    action: { weightedTargets: [{ virtualNode: shop-v1, weight: 90 }, { virtualNode: shop-v2, weight: 10 }] }
    retryPolicy: { maxRetries: 3, perRetryTimeout: { value: 250, unit: ms }, httpRetryEvents: [server-error], tcpRetryEvents: [connection-error] }
---
kind: VirtualService
mesh: ${MESH}
name: shop.${MESH}.local
spec: { provider: { virtualRouter: { virtualRouterName: shop } } }
---
kind: VirtualNode
mesh: ${MESH}
name: orders
spec:
  listeners: [{ portMapping: { port: 8090, protocol: http } }]
  serviceDiscovery: { awsCloudMap: { namespaceName: ${MESH}.local, serviceName: orders } }
---
kind: VirtualService
mesh: ${MESH}
name: orders.${MESH}.local
spec: { provider: { virtualNode: { virtualNodeName: orders } } }
---
kind: VirtualNode
mesh: ${MESH}
name: db
spec:
  listeners: [{ portMapping: { port: 5432, protocol: tcp }, connectionPool: { tcp: { maxConnections: 20 } }, timeout: { tcp: { idle: { value: 900, unit: s } } } }]
  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }
---
kind: VirtualRouter
mesh: ${MESH}
name: db
spec: { listeners: [{ portMapping: { port: 5432, protocol: tcp } }] }
---
kind: Route
mesh: ${MESH}
virtualRouter: db
name: db
spec:
  tcpRoute: { action: { weightedTargets: [{ virtualNode: db, weight: 1 }] }, timeout: { idle: { value: 600, unit: s } } }
---
kind: VirtualService
mesh: ${MESH}
name: db.${MESH}.local
spec: { provider: { virtualRouter: { virtualRouterName: db } } }
---
kind: VirtualNode
mesh: ${MESH}
name: greeter
spec:
  listeners: [{ portMapping: { port: 50051, protocol: grpc }, connectionPool: { grpc: { maxRequests: 50 } } }]
  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }
---
kind: VirtualRouter
mesh: ${MESH}
name: greeter
spec: { listeners: [{ portMapping: { port: 50051, protocol: grpc } }] }
---
kind: Route
mesh: ${MESH}
virtualRouter: greeter
name: hello
spec:
  grpcRoute:
    match: { serviceName: helloworld.Greeter, methodName: SayHello, metadata: [{ name: x-tenant, match: { exact: acme } }] }
    action: { weightedTargets: [{ virtualNode: greeter, weight: 1 }] }
    retryPolicy: { maxRetries: 3, perRetryTimeout: { value: 500, unit: ms }, grpcRetryEvents: [unavailable, resource-exhausted] }
    timeout: { perRequest: { value: 30, unit: s } }
---
kind: VirtualService
mesh: ${MESH}
name: greeter.${MESH}.local
spec: { provider: { virtualRouter: { virtualRouterName: greeter } } }
---
kind: CloudMapService
namespace: ${MESH}.local
name: orders
instances:
  - id: orders-1
    attributes: { AWS_INSTANCE_IPV4: 127.0.0.1, AWS_INSTANCE_PORT: 8091 }
  - id: orders-2
    attributes: { AWS_INSTANCE_IPV4: 127.0.0.2, AWS_INSTANCE_PORT: 8092 }
`;
}

/**
 * The fields of a resource that Envoy's /config_dump shows and meshd did not send, each with the
 * reason; everything else must be equal. Keyed by section, as paths inside one resource.
 */
const ENVOY_ADDS: Record<string, { path: string; why: string }[]> = {
  // Envoy does not keep the ClusterLoadAssignment it was sent: its EDS dump is rebuilt from the
  // cluster's live host set, with the defaults it applied filled in.
  endpoints: [
    {
      path: 'policy',
      why: 'the load balancing policy Envoy applied: its default overprovisioning factor (140) when none was sent',
    },
    { path: 'endpoints[].locality', why: 'every host set has a locality; an unset one is dumped as {}' },
    {
      path: 'endpoints[].load_balancing_weight',
      why: 'the locality weight of the host set, 0 when none was sent (a set UInt32Value)',
    },
    {
      path: 'endpoints[].lb_endpoints[].health_status',
      why: "the host's current health, as Envoy sees it (HEALTHY until a check says otherwise)",
    },
    { path: 'endpoints[].lb_endpoints[].load_balancing_weight', why: "the host's weight, 1 when none was sent" },
    {
      path: 'endpoints[].lb_endpoints[].endpoint.health_check_config',
      why: "the host's health check settings, {} when none were sent",
    },
  ],
  // Clusters, listeners and route configurations are dumped as they were sent: nothing added.
  clusters: [],
  listeners: [],
  routes: [],
};

/**
 * What Envoy wraps each resource in, beside the resource itself: none of it is meshd's to print.
 * (A listener sits in `active_state` under its `name`: Envoy also keeps warming and draining ones.)
 */
const ENVOY_WRAPPER_FIELDS: Record<string, { field: string; why: string }[]> = {
  clusters: [
    {
      field: 'version_info',
      why: 'the xDS version Envoy ACKed for this resource (meshd prints the content, not the stream state)',
    },
    { field: 'last_updated', why: 'when Envoy applied the resource' },
  ],
  listeners: [
    { field: 'name', why: "the listener's name, repeated outside its states" },
    { field: 'version_info', why: 'the xDS version Envoy ACKed for this resource' },
    { field: 'last_updated', why: 'when Envoy applied the resource' },
  ],
  routes: [
    { field: 'version_info', why: 'the xDS version Envoy ACKed for this resource' },
    { field: 'last_updated', why: 'when Envoy applied the resource' },
  ],
  endpoints: [
    { field: 'version_info', why: 'the xDS version Envoy ACKed for this resource' },
    { field: 'last_updated', why: 'when Envoy applied the resource' },
  ],
};

/** meshd's section name → Envoy's dynamic config_dump entries, and the resource inside each. */
interface EnvoyResource {
  name: string;
  resource: Obj;
  /** The wrapper's fields other than the resource: version_info, last_updated, ... */
  wrapper: Obj;
}

function envoyResources(dump: { configs: Obj[] }): Record<string, EnvoyResource[]> {
  const byType = (suffix: string) => dump.configs.find((c) => String(c['@type']).endsWith(`.${suffix}`)) ?? {};
  const entries = (config: Obj, list: string) => (config[list] ?? []) as Obj[];
  const unwrap = (entry: Obj, field: string, nameField = 'name'): EnvoyResource => {
    const { [field]: resource, ...wrapper } = entry;
    return { name: String((resource as Obj)[nameField]), resource: resource as Obj, wrapper };
  };
  return {
    clusters: entries(byType('ClustersConfigDump'), 'dynamic_active_clusters').map((e) => unwrap(e, 'cluster')),
    listeners: entries(byType('ListenersConfigDump'), 'dynamic_listeners').map((e) => {
      const { active_state: active, ...outer } = e;
      const { listener, ...wrapper } = active as Obj;
      return { name: String(outer.name), resource: listener as Obj, wrapper: { ...outer, ...wrapper } };
    }),
    routes: entries(byType('RoutesConfigDump'), 'dynamic_route_configs').map((e) => unwrap(e, 'route_config')),
    endpoints: entries(byType('EndpointsConfigDump'), 'dynamic_endpoint_configs').map((e) =>
      unwrap(e, 'endpoint_config', 'cluster_name'),
    ),
  };
}

/** Every path where two JSON values differ, as `path: meshd → envoy`. */
function differences(meshd: Json | undefined, envoy: Json | undefined, at = ''): string[] {
  if (JSON.stringify(meshd) === JSON.stringify(envoy)) return [];
  const isObj = (v: Json | undefined): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(meshd) && isObj(envoy)) {
    const keys = [...new Set([...Object.keys(meshd), ...Object.keys(envoy)])];
    return keys.flatMap((k) => differences(meshd[k], envoy[k], `${at}.${k}`));
  }
  if (Array.isArray(meshd) && Array.isArray(envoy) && meshd.length === envoy.length) {
    return meshd.flatMap((m, i) => differences(m, envoy[i], `${at}[${i}]`));
  }
  return [`${at || '.'}: ${JSON.stringify(meshd)} → ${JSON.stringify(envoy)}`];
}

/** Removes the paths Envoy adds (dotted, `[]` for every element of a list) from a copy of `value`. */
function without(value: Obj, paths: string[]): Obj {
  const copy = JSON.parse(JSON.stringify(value)) as Obj;
  const drop = (node: Json | undefined, parts: string[]): void => {
    if (node === null || typeof node !== 'object' || parts.length === 0) return;
    const [head, ...rest] = parts as [string, ...string[]];
    if (head === '[]') {
      if (Array.isArray(node)) for (const e of node) drop(e, rest);
      return;
    }
    if (Array.isArray(node)) return;
    if (rest.length === 0) delete node[head];
    else drop(node[head], rest);
  };
  for (const p of paths)
    drop(
      copy,
      p.split(/\.|(?=\[\])|(?<=\[\])\./).filter((s) => s !== ''),
    );
  return copy;
}

function meshd(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [MESHD_BIN, ...args],
      { encoding: 'utf8', timeout: 20000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
      },
    );
  });
}

describeWithEnvoy('meshd config-dump matches a real Envoy /config_dump', (envoyBin) => {
  let sidecar: Sidecar;

  beforeAll(async () => {
    const accessLog = path.join(tmpDir('config-dump-'), 'access.log');
    sidecar = await startSidecar({ envoyBin, nodeId: NODE_ID, meshYaml: meshYaml(accessLog), ready: async () => true });
  }, 60000);

  afterAll(async () => {
    await sidecar?.stop();
  });

  it('shows every resource Envoy holds, field for field, but for what Envoy adds itself', async () => {
    const envoyText = await sidecar.admin('/config_dump?include_eds');
    const envoy = envoyResources(JSON.parse(envoyText) as { configs: Obj[] });
    const out = await meshd('config-dump', NODE_ID, '--admin', `127.0.0.1:${sidecar.meshdAdminPort}`);
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    const ours = JSON.parse(out.stdout) as Record<string, Obj[]>;

    const edsClusters = new Set(envoy.clusters!.filter((c) => c.resource.type === 'EDS').map((c) => c.name));
    const report: string[] = [];
    for (const section of ['clusters', 'listeners', 'routes', 'endpoints']) {
      const nameOf = (r: Obj) => String(section === 'endpoints' ? r.cluster_name : r.name);
      // With include_eds, Envoy also lists the hosts of every non-EDS cluster (STATIC, DNS) as an
      // endpoint config; meshd served those inside the cluster (load_assignment), not over EDS.
      const servedOverEds = (e: EnvoyResource) => section !== 'endpoints' || edsClusters.has(e.name);
      const theirs = new Map(envoy[section]!.filter(servedOverEds).map((e) => [e.name, e.resource]));
      // The same resources by name: Envoy holds exactly what meshd serves this node.
      expect({ section, names: [...theirs.keys()].sort() }).toEqual({
        section,
        names: (ours[section] ?? []).map(nameOf).sort(),
      });
      // Around each resource, Envoy adds only its own bookkeeping.
      const allowed = ENVOY_WRAPPER_FIELDS[section]!.map((w) => w.field);
      for (const e of envoy[section]!.filter(servedOverEds)) {
        for (const key of Object.keys(e.wrapper))
          if (!allowed.includes(key))
            report.push(`${section}/${e.name}: Envoy wraps it with '${key}', not listed here`);
      }
      for (const resource of ours[section] ?? []) {
        const adds = ENVOY_ADDS[section]!.map((a) => a.path);
        const diff = differences(without(resource, adds), without(theirs.get(nameOf(resource))!, adds));
        report.push(...diff.map((d) => `${section}/${nameOf(resource)}${d}`));
      }
    }
    expect(report).toEqual([]);
    // The dump covers what the test means to cover: an EDS assignment with its endpoints, and every section.
    expect(envoy.endpoints!.find((e) => e.name.includes('orders'))?.resource).toHaveProperty('endpoints');
    for (const section of ['clusters', 'listeners', 'routes']) expect(envoy[section]!.length).toBeGreaterThan(0);
    // ... a TCP proxy, and a map of Anys (the gRPC cluster's HTTP/2 protocol options).
    expect(out.stdout).toContain(
      '"@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"',
    );
    expect(out.stdout).toContain('"typed_extension_protocol_options": {');
  });
});
