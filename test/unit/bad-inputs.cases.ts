// Bad inputs, one per case: each is a file added next to test/fixtures/bad/base.yaml (a valid
// mesh), and must be rejected with exactly the finding listed in bad-inputs.test.ts.
const NODE = 'kind: VirtualNode\nmesh: apps\nname: n\nspec:\n';
const LISTENER = (extra: string) =>
  `${NODE}  serviceDiscovery: { dns: { hostname: n.local } }\n  listeners:\n    - portMapping: { port: 8080, protocol: http }\n${extra}`;
const ROUTE = (body: string) => `kind: Route\nmesh: apps\nvirtualRouter: r\nname: rt\nspec:\n${body}`;
const HTTP_ROUTE = (match: string, extra = '') =>
  ROUTE(
    `  httpRoute:\n    match: ${match}\n    action: { weightedTargets: [{ virtualNode: a, weight: 1 }] }\n${extra}`,
  );
const GW_ROUTE = (match: string, action = '{ target: { virtualService: { virtualServiceName: a.apps.local } } }') =>
  `kind: GatewayRoute\nmesh: apps\nvirtualGateway: gw\nname: gr\nspec:\n  httpRoute:\n    match: ${match}\n    action: ${action}\n`;
// A route from a (primary) to b (canary), and a Rollout of it
// whose spec ends with `analysis` (or whose fields are replaced).
const CANARY_NODE =
  'kind: VirtualNode\nmesh: apps\nname: b\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: b.local } }\n';
const CANARY_ROUTE = (targets = '[{ virtualNode: a, weight: 100 }, { virtualNode: b, weight: 0 }]') =>
  ROUTE(`  httpRoute: { match: { prefix: / }, action: { weightedTargets: ${targets} } }\n`);
const ROLLOUT_DOC = ({ name = 'ro', route = 'rt', primary = 'a', canary = 'b', analysis = '' } = {}) =>
  `kind: Rollout\nmesh: apps\nname: ${name}\nspec:\n  route: { virtualRouter: r, name: ${route} }\n  primary: ${primary}\n  canary: ${canary}\n${analysis}`;
const ROLLOUT = (rollout: Parameters<typeof ROLLOUT_DOC>[0] = {}, route = CANARY_ROUTE(), ...more: string[]) =>
  [CANARY_NODE, route, ROLLOUT_DOC(rollout), ...more].join('---\n');
const K8S_NODE_A = 'arn:aws:appmesh:r:1:mesh/apps/virtualNode/a';
const K8S_SERVICE_A = 'arn:aws:appmesh:r:1:mesh/apps/virtualService/a.apps.local';
// `terraform show -json` output (pretty-printed as `| jq .` leaves it) holding the given resources.
const TF_STATE = (resources: readonly object[], extra: object = {}) =>
  `${JSON.stringify({ format_version: '1.0', terraform_version: '1.9.8', values: { root_module: { resources, ...extra } } }, null, 2)}\n`;
const TF_RESOURCE = (type: string, name: string, values: object) => ({
  address: `${type}.${name}`,
  mode: 'managed',
  type,
  name,
  provider_name: 'registry.terraform.io/hashicorp/aws',
  schema_version: 1,
  values,
});
const TF_NODE = (spec: object[] | undefined, extra: object = {}) =>
  TF_STATE([
    TF_RESOURCE('aws_appmesh_virtual_node', 'n', { mesh_name: 'apps', name: 'n', ...(spec ? { spec } : {}), ...extra }),
  ]);
const TF_LISTENER = (listener: object) =>
  TF_NODE([
    {
      listener: [{ port_mapping: [{ port: 8080, protocol: 'http' }], ...listener }],
      service_discovery: [{ dns: [{ hostname: 'n.local' }] }],
    },
  ]);
const TF_ROUTE = (httpRoute: object) =>
  TF_STATE([
    TF_RESOURCE('aws_appmesh_route', 'rt', {
      mesh_name: 'apps',
      name: 'rt',
      virtual_router_name: 'r',
      spec: [{ http_route: [httpRoute] }],
    }),
  ]);
const TF_TARGET = [{ weighted_target: [{ virtual_node: 'a', weight: 1 }] }];
const TF_NESTED_MODULES = (depth: number): object =>
  depth === 0
    ? { address: 'module.m', resources: [] }
    : { address: 'module.m', resources: [], child_modules: [TF_NESTED_MODULES(depth - 1)] };
const K8S = (kind: string, spec: string, name = 'x') =>
  `apiVersion: appmesh.k8s.aws/v1beta2\nkind: ${kind}\nmetadata: { name: ${name}, namespace: ns }\nspec:\n${spec}`;

// A CloudFormation template: its Resources (and what comes before them), and a virtual node in mesh apps.
const CFN = (resources: string, head = '') => `${head}Resources:\n${resources}`;
const CFN_NODE = (properties: string, logicalId = 'Node') =>
  `  ${logicalId}:\n    Type: AWS::AppMesh::VirtualNode\n    Properties:\n      MeshName: apps\n${properties}`;
const CFN_DNS = (hostname: string, head = '') =>
  CFN(
    CFN_NODE(
      `      VirtualNodeName: n2\n      Spec:\n        Listeners: [{ PortMapping: { Port: 8080, Protocol: http } }]\n        ServiceDiscovery:\n          DNS:\n            Hostname: ${hostname}\n`,
    ),
    head,
  );

export const BAD_INPUTS: readonly (readonly [title: string, file: string, text: string])[] = [
  // ---- documents and the native envelope ----
  ['unknown kind', 'm.yaml', 'kind: VirtualThing\nmesh: apps\nname: x\n'],
  [
    'missing name',
    'm.yaml',
    'kind: VirtualRouter\nmesh: apps\nspec: { listeners: [{ portMapping: { port: 81, protocol: http } }] }\n',
  ],
  ['name longer than 255', 'm.yaml', `kind: VirtualService\nmesh: apps\nname: ${'x'.repeat(256)}\n`],
  ['misspelt top-level field', 'm.yaml', 'kind: VirtualService\nmesh: apps\nname: s\nspecs: {}\n'],
  ['virtualRouter on a node', 'm.yaml', 'kind: VirtualNode\nmesh: apps\nname: n\nvirtualRouter: r\n'],
  [
    'route without its router',
    'm.yaml',
    'kind: Route\nmesh: apps\nname: rt\nspec: { tcpRoute: { action: { weightedTargets: [{ virtualNode: a, weight: 1 }] } } }\n',
  ],
  ['a Mesh naming another mesh', 'm.yaml', 'kind: Mesh\nmesh: apps\nname: other\n'],
  ['spec is a list', 'm.yaml', 'kind: VirtualService\nmesh: apps\nname: s\nspec: [1]\n'],
  ['a document that is a list', 'm.yaml', '- kind: Mesh\n'],
  ['a document of no dialect', 'm.yaml', 'hello: world\n'],
  ['YAML syntax error', 'm.yaml', 'kind: Mesh\nname: [apps\n'],
  ['duplicate YAML key', 'm.yaml', 'kind: Mesh\nname: a\nname: b\n'],
  ['YAML alias to no anchor', 'm.yaml', 'kind: Mesh\nname: *apps\n'],
  [
    'aliases expanding to a billion values',
    'm.yaml',
    `a: &a [x, x, x, x, x, x, x, x, x, x]\n${Array.from(
      { length: 9 },
      (_, i) =>
        `b${i}: &b${i} [${Array(10)
          .fill(i ? `*b${i - 1}` : '*a')
          .join(', ')}]`,
    ).join('\n')}\n`,
  ],
  [
    'null where a mapping belongs',
    'm.yaml',
    'kind: VirtualRouter\nmesh: apps\nname: r2\nspec: { listeners: [null] }\n',
  ],
  [
    'tag key too long',
    'm.yaml',
    `kind: VirtualService\nmesh: apps\nname: s\ntags: [{ key: ${'k'.repeat(129)}, value: v }]\n`,
  ],
  ['resource defined twice', 'm.yaml', 'kind: VirtualService\nmesh: apps\nname: a.apps.local\n'],
  ['mesh not defined', 'm.yaml', 'kind: VirtualService\nmesh: nowhere\nname: s\n'],
  // Keys every object inherits are not fields: a `__proto__` key must not become the spec's prototype.
  [
    'a __proto__ key in a spec',
    'm.yaml',
    'kind: Mesh\nname: m2\nspec:\n  __proto__: { egressFilter: { type: ALLOW_ALL } }\n',
  ],
  // String() throws on a mapping with its own toString key: such values are named by their shape.
  [
    'a toString key where a name belongs',
    'm.yaml',
    'kind: CloudMapService\nname: { toString: "" }\nnamespace: n\n---\napiVersion: appmesh.k8s.aws/v1beta2\nkind: { toString: "" }\nmetadata: { name: { valueOf: 1 } }\n',
  ],
  [
    'a constructor key in a spec',
    'm.yaml',
    'kind: VirtualService\nmesh: apps\nname: s\nspec: { constructor: { provider: {} } }\n',
  ],
  [
    'a __proto__ key in a Kubernetes spec',
    'm.yaml',
    K8S(
      'Mesh',
      '  __proto__: { egressFilter: { type: ALLOW_ALL } }\n  namespaceSelector: { matchLabels: { mesh: m2 } }\n',
      'm2',
    ),
  ],
  // ---- Mesh ----
  ['egress filter type', 'm.yaml', 'kind: Mesh\nname: m2\nspec: { egressFilter: { type: ALLOW_SOME } }\n'],
  ['mesh ip preference', 'm.yaml', 'kind: Mesh\nname: m2\nspec: { serviceDiscovery: { ipPreference: IPv4 } }\n'],
  ['egress filter without type', 'm.yaml', 'kind: Mesh\nname: m2\nspec: { egressFilter: {} }\n'],
  // ---- VirtualService ----
  [
    'provider names two things',
    'm.yaml',
    'kind: VirtualService\nmesh: apps\nname: s\nspec: { provider: { virtualNode: { virtualNodeName: a }, virtualRouter: { virtualRouterName: r } } }\n',
  ],
  ['provider names nothing', 'm.yaml', 'kind: VirtualService\nmesh: apps\nname: s\nspec: { provider: {} }\n'],
  [
    'provider node not defined',
    'm.yaml',
    'kind: VirtualService\nmesh: apps\nname: s\nspec: { provider: { virtualNode: { virtualNodeName: ghost } } }\n',
  ],
  [
    'provider router not defined',
    'm.yaml',
    'kind: VirtualService\nmesh: apps\nname: s\nspec: { provider: { virtualRouter: { virtualRouterName: ghost } } }\n',
  ],
  [
    'provider node without listeners',
    'm.yaml',
    'kind: VirtualService\nmesh: apps\nname: s\nspec: { provider: { virtualNode: { virtualNodeName: client } } }\n',
  ],
  // ---- VirtualNode ----
  [
    'port 0',
    'm.yaml',
    `${NODE}  serviceDiscovery: { dns: { hostname: n.local } }\n  listeners: [{ portMapping: { port: 0, protocol: http } }]\n`,
  ],
  [
    'unknown protocol',
    'm.yaml',
    `${NODE}  serviceDiscovery: { dns: { hostname: n.local } }\n  listeners: [{ portMapping: { port: 80, protocol: htp } }]\n`,
  ],
  ['two listeners on one port', 'm.yaml', LISTENER('    - portMapping: { port: 8080, protocol: grpc }\n')],
  [
    'listeners without service discovery',
    'm.yaml',
    `${NODE}  listeners: [{ portMapping: { port: 80, protocol: http } }]\n`,
  ],
  [
    'health check threshold',
    'm.yaml',
    LISTENER(
      '      healthCheck: { protocol: tcp, healthyThreshold: 1, unhealthyThreshold: 2, intervalMillis: 5000, timeoutMillis: 2000 }\n',
    ),
  ],
  [
    'health check interval',
    'm.yaml',
    LISTENER(
      '      healthCheck: { protocol: tcp, healthyThreshold: 2, unhealthyThreshold: 2, intervalMillis: 1000, timeoutMillis: 2000 }\n',
    ),
  ],
  [
    'health check timeout',
    'm.yaml',
    LISTENER(
      '      healthCheck: { protocol: tcp, healthyThreshold: 2, unhealthyThreshold: 2, intervalMillis: 5000, timeoutMillis: 70000 }\n',
    ),
  ],
  [
    'health check without protocol',
    'm.yaml',
    LISTENER(
      '      healthCheck: { healthyThreshold: 2, unhealthyThreshold: 2, intervalMillis: 5000, timeoutMillis: 2000 }\n',
    ),
  ],
  [
    'http health check without path',
    'm.yaml',
    LISTENER(
      '      healthCheck: { protocol: http, healthyThreshold: 2, unhealthyThreshold: 2, intervalMillis: 5000, timeoutMillis: 2000 }\n',
    ),
  ],
  [
    'health check on another port',
    'm.yaml',
    LISTENER(
      '      healthCheck: { protocol: tcp, port: 9, healthyThreshold: 2, unhealthyThreshold: 2, intervalMillis: 5000, timeoutMillis: 2000 }\n',
    ),
  ],
  [
    'outlier detection without interval',
    'm.yaml',
    LISTENER(
      '      outlierDetection: { maxServerErrors: 5, maxEjectionPercent: 50, baseEjectionDuration: { unit: s, value: 10 } }\n',
    ),
  ],
  [
    'outlier ejection percent',
    'm.yaml',
    LISTENER(
      '      outlierDetection: { maxServerErrors: 5, maxEjectionPercent: 101, interval: { unit: s, value: 1 }, baseEjectionDuration: { unit: s, value: 10 } }\n',
    ),
  ],
  [
    'outlier server errors 0',
    'm.yaml',
    LISTENER(
      '      outlierDetection: { maxServerErrors: 0, maxEjectionPercent: 50, interval: { unit: s, value: 1 }, baseEjectionDuration: { unit: s, value: 10 } }\n',
    ),
  ],
  [
    'connection pool for another protocol',
    'm.yaml',
    LISTENER('      connectionPool: { tcp: { maxConnections: 10 } }\n'),
  ],
  [
    'connection pool of two kinds',
    'm.yaml',
    LISTENER('      connectionPool: { http: { maxConnections: 10 }, http2: { maxRequests: 5 } }\n'),
  ],
  ['connection pool of 0', 'm.yaml', LISTENER('      connectionPool: { http: { maxConnections: 0 } }\n')],
  [
    'timeout for another protocol',
    'm.yaml',
    LISTENER('      timeout: { grpc: { perRequest: { unit: s, value: 5 } } }\n'),
  ],
  ['duration in minutes', 'm.yaml', LISTENER('      timeout: { http: { idle: { unit: m, value: 5 } } }\n')],
  ['negative duration', 'm.yaml', LISTENER('      timeout: { http: { idle: { unit: s, value: -1 } } }\n')],
  ['tls mode', 'm.yaml', LISTENER('      tls: { mode: ON, certificate: { sds: { secretName: s } } }\n')],
  ['tls without certificate', 'm.yaml', LISTENER('      tls: { mode: STRICT }\n')],
  [
    'tls file certificate without key',
    'm.yaml',
    LISTENER('      tls: { mode: STRICT, certificate: { file: { certificateChain: /c.pem } } }\n'),
  ],
  [
    'listener tls trusting acm',
    'm.yaml',
    LISTENER(
      '      tls: { mode: STRICT, certificate: { sds: { secretName: s } }, validation: { trust: { acm: { certificateAuthorityArns: [x] } } } }\n',
    ),
  ],
  [
    'dns and cloud map',
    'm.yaml',
    `${NODE}  serviceDiscovery: { dns: { hostname: n.local }, awsCloudMap: { namespaceName: ns, serviceName: s } }\n`,
  ],
  ['dns response type', 'm.yaml', `${NODE}  serviceDiscovery: { dns: { hostname: n.local, responseType: ALL } }\n`],
  ['cloud map without namespace', 'm.yaml', `${NODE}  serviceDiscovery: { awsCloudMap: { serviceName: s } }\n`],
  [
    'backend not defined',
    'm.yaml',
    `${NODE}  backends: [{ virtualService: { virtualServiceName: ghost.apps.local } }]\n`,
  ],
  [
    'backend listed twice',
    'm.yaml',
    `${NODE}  backends:\n    - virtualService: { virtualServiceName: a.apps.local }\n    - virtualService: { virtualServiceName: a.apps.local }\n`,
  ],
  [
    'client tls without validation',
    'm.yaml',
    `${NODE}  backendDefaults: { clientPolicy: { tls: { enforce: true } } }\n`,
  ],
  [
    'four trusted authorities',
    'm.yaml',
    `${NODE}  backendDefaults: { clientPolicy: { tls: { validation: { trust: { acm: { certificateAuthorityArns: [a, b, c, d] } } } } } }\n`,
  ],
  [
    'tls enforce not a boolean',
    'm.yaml',
    `${NODE}  backendDefaults: { clientPolicy: { tls: { enforce: yes please, validation: { trust: { sds: { secretName: s } } } } } }\n`,
  ],
  [
    'access log without path',
    'm.yaml',
    `${NODE}  logging: { accessLog: { file: { format: { text: '%START_TIME%' } } } }\n`,
  ],
  [
    'access log in two formats',
    'm.yaml',
    `${NODE}  logging: { accessLog: { file: { path: /dev/stdout, format: { text: x, json: [{ key: a, value: b }] } } } }\n`,
  ],
  ['misspelt listener field', 'm.yaml', LISTENER('      healtCheck: {}\n')],
  // ---- VirtualRouter ----
  ['router without listeners', 'm.yaml', 'kind: VirtualRouter\nmesh: apps\nname: r2\nspec: { listeners: [] }\n'],
  [
    'router listener protocol',
    'm.yaml',
    'kind: VirtualRouter\nmesh: apps\nname: r2\nspec: { listeners: [{ portMapping: { port: 80, protocol: udp } }] }\n',
  ],
  // ---- Route ----
  ['route of no kind', 'm.yaml', ROUTE('  priority: 1\n')],
  [
    'route of two kinds',
    'm.yaml',
    ROUTE(
      '  httpRoute: { match: { prefix: / }, action: { weightedTargets: [{ virtualNode: a, weight: 1 }] } }\n  tcpRoute: { action: { weightedTargets: [{ virtualNode: a, weight: 1 }] } }\n',
    ),
  ],
  ['prefix without slash', 'm.yaml', HTTP_ROUTE('{ prefix: api }')],
  ['prefix and path', 'm.yaml', HTTP_ROUTE('{ prefix: /, path: { exact: /a } }')],
  ['path exact and regex', 'm.yaml', HTTP_ROUTE('{ path: { exact: /a, regex: "/a.*" } }')],
  ['path regex with a lookahead (not RE2)', 'm.yaml', HTTP_ROUTE("{ path: { regex: '/users/(?!admin).*' } }")],
  [
    'header regex that does not parse',
    'm.yaml',
    HTTP_ROUTE("{ prefix: /, headers: [{ name: x-n, match: { regex: 'v[0-9' } }] }"),
  ],
  [
    'path regex whose RE2 program is over 1000 (Envoy would refuse it)',
    'm.yaml',
    HTTP_ROUTE("{ path: { regex: '/[a-z]{997}' } }"),
  ],
  [
    'gateway route header regex with a repetition RE2 refuses',
    'm.yaml',
    GW_ROUTE("{ prefix: /, headers: [{ name: x-n, match: { regex: 'x{2}{3}' } }] }"),
  ],
  [
    'header range end before start',
    'm.yaml',
    HTTP_ROUTE('{ prefix: /, headers: [{ name: x-n, match: { range: { start: 10, end: 10 } } }] }'),
  ],
  [
    'eleven headers',
    'm.yaml',
    HTTP_ROUTE(`{ prefix: /, headers: [${Array.from({ length: 11 }, (_, i) => `{ name: h${i} }`).join(', ')}] }`),
  ],
  ['unknown method', 'm.yaml', HTTP_ROUTE('{ prefix: /, method: FETCH }')],
  ['scheme on an http route', 'm.yaml', HTTP_ROUTE('{ prefix: /, scheme: https }')],
  [
    'query parameter match without exact',
    'm.yaml',
    HTTP_ROUTE('{ prefix: /, queryParameters: [{ name: q, match: {} }] }'),
  ],
  [
    'eleven targets',
    'm.yaml',
    ROUTE(
      `  tcpRoute: { action: { weightedTargets: [${Array.from({ length: 11 }, () => '{ virtualNode: a, weight: 1 }').join(', ')}] } }\n`,
    ),
  ],
  [
    'weight above 100',
    'm.yaml',
    ROUTE('  httpRoute: { match: { prefix: / }, action: { weightedTargets: [{ virtualNode: a, weight: 101 }] } }\n'),
  ],
  [
    'weights adding up to 0',
    'm.yaml',
    ROUTE('  httpRoute: { match: { prefix: / }, action: { weightedTargets: [{ virtualNode: a, weight: 0 }] } }\n'),
  ],
  [
    'weights adding up to more than 100',
    'm.yaml',
    ROUTE(
      '  httpRoute: { match: { prefix: / }, action: { weightedTargets: [{ virtualNode: a, weight: 60 }, { virtualNode: multi, port: 8080, weight: 60 }] } }\n',
    ),
  ],
  [
    'target node not defined',
    'm.yaml',
    ROUTE('  httpRoute: { match: { prefix: / }, action: { weightedTargets: [{ virtualNode: ghost, weight: 1 }] } }\n'),
  ],
  [
    'target port not on the node',
    'm.yaml',
    ROUTE(
      '  httpRoute: { match: { prefix: / }, action: { weightedTargets: [{ virtualNode: a, port: 9999, weight: 1 }] } }\n',
    ),
  ],
  [
    'target node with several listeners',
    'm.yaml',
    ROUTE('  httpRoute: { match: { prefix: / }, action: { weightedTargets: [{ virtualNode: multi, weight: 1 }] } }\n'),
  ],
  [
    'retry policy without maxRetries',
    'm.yaml',
    HTTP_ROUTE(
      '{ prefix: / }',
      '    retryPolicy: { perRetryTimeout: { unit: s, value: 1 }, httpRetryEvents: [server-error] }\n',
    ),
  ],
  [
    'retry policy without events',
    'm.yaml',
    HTTP_ROUTE('{ prefix: / }', '    retryPolicy: { maxRetries: 2, perRetryTimeout: { unit: s, value: 1 } }\n'),
  ],
  [
    'unknown http retry event',
    'm.yaml',
    HTTP_ROUTE(
      '{ prefix: / }',
      '    retryPolicy: { maxRetries: 2, perRetryTimeout: { unit: s, value: 1 }, httpRetryEvents: [5xx] }\n',
    ),
  ],
  [
    'unknown tcp retry event',
    'm.yaml',
    HTTP_ROUTE(
      '{ prefix: / }',
      '    retryPolicy: { maxRetries: 2, perRetryTimeout: { unit: s, value: 1 }, tcpRetryEvents: [reset] }\n',
    ),
  ],
  [
    'grpc method without service',
    'm.yaml',
    ROUTE(
      '  grpcRoute: { match: { methodName: Get }, action: { weightedTargets: [{ virtualNode: a, weight: 1 }] } }\n',
    ),
  ],
  [
    'unknown grpc retry event',
    'm.yaml',
    ROUTE(
      '  grpcRoute:\n    match: { serviceName: s }\n    action: { weightedTargets: [{ virtualNode: a, weight: 1 }] }\n    retryPolicy: { maxRetries: 1, perRetryTimeout: { unit: ms, value: 100 }, grpcRetryEvents: [timeout] }\n',
    ),
  ],
  [
    'grpc route on an http router',
    'm.yaml',
    ROUTE('  grpcRoute: { match: { serviceName: s }, action: { weightedTargets: [{ virtualNode: a, weight: 1 }] } }\n'),
  ],
  ['match port not on the router', 'm.yaml', HTTP_ROUTE('{ prefix: /, port: 81 }')],
  [
    'priority above 1000',
    'm.yaml',
    ROUTE(
      '  priority: 1001\n  httpRoute: { match: { prefix: / }, action: { weightedTargets: [{ virtualNode: a, weight: 1 }] } }\n',
    ),
  ],
  [
    'router not defined',
    'm.yaml',
    'kind: Route\nmesh: apps\nvirtualRouter: ghost\nname: rt\nspec: { tcpRoute: { action: { weightedTargets: [{ virtualNode: a, weight: 1 }] } } }\n',
  ],
  [
    'retry policy on a tcp route',
    'm.yaml',
    ROUTE('  tcpRoute: { action: { weightedTargets: [{ virtualNode: a, weight: 1 }] }, retryPolicy: {} }\n'),
  ],
  // ---- VirtualGateway ----
  [
    'gateway listening for tcp',
    'm.yaml',
    'kind: VirtualGateway\nmesh: apps\nname: g2\nspec: { listeners: [{ portMapping: { port: 8089, protocol: tcp } }] }\n',
  ],
  ['gateway without listeners', 'm.yaml', 'kind: VirtualGateway\nmesh: apps\nname: g2\nspec: {}\n'],
  [
    'gateway tcp connection pool',
    'm.yaml',
    'kind: VirtualGateway\nmesh: apps\nname: g2\nspec: { listeners: [{ portMapping: { port: 8089, protocol: http }, connectionPool: { tcp: { maxConnections: 1 } } }] }\n',
  ],
  // ---- GatewayRoute ----
  ['reserved prefix', 'm.yaml', GW_ROUTE('{ prefix: /aws-appmesh/x }')],
  ['reserved path', 'm.yaml', GW_ROUTE('{ path: { exact: /aws-app-mesh } }')],
  [
    'reserved grpc service',
    'm.yaml',
    'kind: GatewayRoute\nmesh: apps\nvirtualGateway: gw\nname: gr\nspec:\n  grpcRoute: { match: { serviceName: aws.appmesh.Admin }, action: { target: { virtualService: { virtualServiceName: a.apps.local } } } }\n',
  ],
  [
    'rewrite prefix without trailing slash',
    'm.yaml',
    GW_ROUTE(
      '{ prefix: /a/ }',
      '{ target: { virtualService: { virtualServiceName: a.apps.local } }, rewrite: { prefix: { value: /b } } }',
    ),
  ],
  [
    'rewrite with defaultPrefix and value',
    'm.yaml',
    GW_ROUTE(
      '{ prefix: /a/ }',
      '{ target: { virtualService: { virtualServiceName: a.apps.local } }, rewrite: { prefix: { defaultPrefix: DISABLED, value: /b/ } } }',
    ),
  ],
  [
    'prefix rewrite of a path match',
    'm.yaml',
    GW_ROUTE(
      '{ path: { exact: /a } }',
      '{ target: { virtualService: { virtualServiceName: a.apps.local } }, rewrite: { prefix: { value: /b/ } } }',
    ),
  ],
  ['gateway not defined', 'm.yaml', GW_ROUTE('{ prefix: / }').replace('virtualGateway: gw', 'virtualGateway: ghost')],
  [
    'gateway target not defined',
    'm.yaml',
    GW_ROUTE('{ prefix: / }', '{ target: { virtualService: { virtualServiceName: ghost.apps.local } } }'),
  ],
  [
    'gateway target port not served',
    'm.yaml',
    GW_ROUTE('{ prefix: / }', '{ target: { virtualService: { virtualServiceName: a.apps.local }, port: 9 } }'),
  ],
  [
    'gateway target on a tcp port',
    'm.yaml',
    'kind: VirtualNode\nmesh: apps\nname: t\nspec:\n  listeners: [{ portMapping: { port: 7000, protocol: tcp } }]\n  serviceDiscovery: { dns: { hostname: t.local } }\n---\nkind: VirtualService\nmesh: apps\nname: t.apps.local\nspec: { provider: { virtualNode: { virtualNodeName: t } } }\n---\n' +
      GW_ROUTE('{ prefix: / }', '{ target: { virtualService: { virtualServiceName: t.apps.local } } }'),
  ],
  ['hostname exact and suffix', 'm.yaml', GW_ROUTE('{ hostname: { exact: a.example.com, suffix: .example.com } }')],
  [
    'grpc gateway route on an http listener',
    'm.yaml',
    'kind: GatewayRoute\nmesh: apps\nvirtualGateway: gw\nname: gr\nspec:\n  grpcRoute: { match: { serviceName: s }, action: { target: { virtualService: { virtualServiceName: a.apps.local } } } }\n',
  ],
  // ---- App Mesh CLI JSON ----
  [
    'CLI JSON field value',
    'm.json',
    '{\n  "meshName": "apps",\n  "virtualNodeName": "j",\n  "spec": {\n    "listeners": [{ "portMapping": { "port": 99999, "protocol": "http" } }],\n    "serviceDiscovery": { "dns": { "hostname": "j.local" } }\n  }\n}\n',
  ],
  [
    'CLI JSON unknown field',
    'm.json',
    '{\n  "meshName": "apps",\n  "virtualServiceName": "j",\n  "spec": {},\n  "provider": {}\n}\n',
  ],
  [
    'CLI JSON route without router',
    'm.json',
    '{\n  "meshName": "apps",\n  "routeName": "j",\n  "spec": { "tcpRoute": { "action": { "weightedTargets": [{ "virtualNode": "a", "weight": 1 }] } } }\n}\n',
  ],
  [
    'CLI JSON describe output with a bad spec',
    'm.json',
    '{\n  "virtualRouter": {\n    "meshName": "apps",\n    "virtualRouterName": "j",\n    "spec": { "listeners": [] },\n    "status": { "status": "ACTIVE" }\n  }\n}\n',
  ],
  ['CLI JSON invalid JSON', 'm.json', '{\n  "meshName": "apps",\n  "virtualNodeName": "j"\n  "spec": {}\n}\n'],
  // ---- Kubernetes manifests ----
  [
    'k8s ref to a missing node',
    'm.yaml',
    K8S('VirtualService', '  provider: { virtualNode: { virtualNodeRef: { name: ghost } } }\n'),
  ],
  [
    'k8s bad ARN',
    'm.yaml',
    K8S(
      'VirtualService',
      '  provider: { virtualNode: { virtualNodeARN: "arn:aws:appmesh:us-west-2:111122223333:mesh/apps/virtualRouter/r" } }\n',
    ),
  ],
  [
    'k8s ref and ARN',
    'm.yaml',
    K8S(
      'VirtualNode',
      '  backends:\n    - virtualService: { virtualServiceRef: { name: a }, virtualServiceARN: "arn:aws:appmesh:us-west-2:1:mesh/apps/virtualService/a.apps.local" }\n',
    ),
  ],
  [
    'k8s duplicate inline route',
    'm.yaml',
    K8S(
      'VirtualRouter',
      '  listeners: [{ portMapping: { port: 80, protocol: tcp } }]\n  routes:\n    - { name: one, tcpRoute: { match: {}, action: { weightedTargets: [{ virtualNodeARN: "arn:aws:appmesh:r:1:mesh/apps/virtualNode/a", weight: 1 }] } } }\n    - { name: one, tcpRoute: { match: {}, action: { weightedTargets: [{ virtualNodeARN: "arn:aws:appmesh:r:1:mesh/apps/virtualNode/a", weight: 1 }] } } }\n',
    ),
  ],
  [
    'k8s inline route weight',
    'm.yaml',
    K8S(
      'VirtualRouter',
      '  listeners: [{ portMapping: { port: 80, protocol: http } }]\n  routes:\n    - name: one\n      httpRoute:\n        match: { prefix: / }\n        action: { weightedTargets: [{ virtualNodeARN: "arn:aws:appmesh:r:1:mesh/apps/virtualNode/a", weight: 200 }] }\n',
    ),
  ],
  ['k8s old API version', 'm.yaml', 'apiVersion: appmesh.k8s.aws/v1beta1\nkind: Mesh\nmetadata: { name: apps }\n'],
  [
    'k8s gateway route no gateway selects',
    'm.yaml',
    `${K8S('VirtualGateway', '  gatewayRouteSelector: { matchLabels: { gateway: public } }\n  listeners: [{ portMapping: { port: 8090, protocol: http } }]\n', 'g')}---\n${K8S('GatewayRoute', '  httpRoute: { match: { prefix: / }, action: { target: { virtualService: { virtualServiceARN: "arn:aws:appmesh:r:1:mesh/apps/virtualService/a.apps.local" } } } }\n', 'gr')}`,
  ],
  [
    'k8s selector on an inherited member',
    'm.yaml',
    `${K8S('VirtualGateway', '  gatewayRouteSelector: { matchExpressions: [{ key: constructor, operator: Exists }] }\n  listeners: [{ portMapping: { port: 8090, protocol: http } }]\n', 'g')}---\n${K8S('GatewayRoute', '  httpRoute: { match: { prefix: / }, action: { target: { virtualService: { virtualServiceARN: "arn:aws:appmesh:r:1:mesh/apps/virtualService/a.apps.local" } } } }\n', 'gr')}`,
  ],
  [
    'k8s acm certificate without ARN',
    'm.yaml',
    K8S(
      'VirtualGateway',
      '  listeners: [{ portMapping: { port: 8090, protocol: http }, tls: { mode: STRICT, certificate: { acm: { certificateARN: 7 } } } }]\n',
    ),
  ],
  ['k8s backend groups', 'm.yaml', K8S('VirtualNode', '  backendGroups: [{ name: all }]\n')],
  // The App Mesh controller's webhook rules, which App Mesh's API
  // did not have (meshd YAML and CLI JSON take these matches).
  [
    'k8s route with neither prefix nor path',
    'm.yaml',
    K8S(
      'VirtualRouter',
      `  listeners: [{ portMapping: { port: 80, protocol: http } }]\n  routes:\n    - name: one\n      httpRoute:\n        match: { port: 80 }\n        action: { weightedTargets: [{ virtualNodeARN: "${K8S_NODE_A}", weight: 1 }] }\n`,
    ),
  ],
  [
    'k8s gateway route with neither prefix, path nor hostname',
    'm.yaml',
    K8S(
      'GatewayRoute',
      `  virtualGatewayRef: { name: gw }\n  httpRoute:\n    match: { port: 8088 }\n    action: { target: { virtualService: { virtualServiceARN: "${K8S_SERVICE_A}" } } }\n`,
      'gr',
    ),
  ],
  [
    'k8s grpc gateway route with neither serviceName nor hostname',
    'm.yaml',
    K8S(
      'GatewayRoute',
      `  virtualGatewayRef: { name: gw }\n  grpcRoute:\n    match: {}\n    action: { target: { virtualService: { virtualServiceARN: "${K8S_SERVICE_A}" } } }\n`,
      'gr',
    ),
  ],
  [
    'k8s gateway route rewrite that sets nothing',
    'm.yaml',
    K8S(
      'GatewayRoute',
      `  virtualGatewayRef: { name: gw }\n  httpRoute:\n    match: { prefix: /x }\n    action: { target: { virtualService: { virtualServiceARN: "${K8S_SERVICE_A}" } }, rewrite: {} }\n`,
      'gr',
    ),
  ],
  // Kubernetes prunes an unknown field (a warning), but never these keys.
  [
    'a constructor key deep in a Kubernetes spec',
    'm.yaml',
    K8S(
      'VirtualNode',
      '  serviceDiscovery: { dns: { hostname: x.local } }\n  listeners:\n    - portMapping: { port: 80, protocol: http }\n      constructor: { prototype: {} }\n',
    ),
  ],
  // ---- Meshes declared more than once: the same spec is one mesh, a different one an error naming both places ----
  [
    'a Mesh declared again with another spec',
    'm.yaml',
    'kind: Mesh\nname: apps\nspec: { egressFilter: { type: ALLOW_ALL } }\n',
  ],
  [
    'k8s Mesh declared twice, differently, both selecting a namespace',
    'm.yaml',
    [
      'apiVersion: v1\nkind: Namespace\nmetadata: { name: ns, labels: { mesh: m2 } }\n',
      'apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: { name: m2 }\nspec: { namespaceSelector: { matchLabels: { mesh: m2 } } }\n',
      'apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: { name: m2 }\nspec: { namespaceSelector: { matchLabels: { mesh: m2 } }, egressFilter: { type: ALLOW_ALL } }\n',
      K8S('VirtualService', '  awsName: s.m2\n'),
    ].join('---\n'),
  ],
  // ---- Terraform (terraform show -json) ----
  ['terraform virtual node without spec', 'm.json', TF_NODE(undefined)],
  [
    'terraform route without a route block',
    'm.json',
    TF_STATE([
      TF_RESOURCE('aws_appmesh_route', 'rt', {
        mesh_name: 'apps',
        name: 'rt',
        virtual_router_name: 'r',
        spec: [{ priority: 0, grpc_route: [], http2_route: [], http_route: [], tcp_route: [] }],
      }),
    ]),
  ],
  [
    'terraform two blocks where the provider allows one',
    'm.json',
    TF_NODE([
      {
        listener: [
          {
            port_mapping: [
              { port: 8080, protocol: 'http' },
              { port: 8081, protocol: 'http' },
            ],
          },
        ],
        service_discovery: [{ dns: [{ hostname: 'n.local' }] }],
      },
    ]),
  ],
  ['terraform unknown attribute', 'm.json', TF_LISTENER({ health_checks: [] })],
  [
    'terraform wrong type',
    'm.json',
    TF_NODE([
      {
        listener: [{ port_mapping: [{ port: '8080', protocol: 'http' }] }],
        service_discovery: [{ dns: [{ hostname: 'n.local' }] }],
      },
    ]),
  ],
  [
    'terraform unknown weighted target',
    'm.json',
    TF_ROUTE({ match: [{ prefix: '/' }], action: [{ weighted_target: [{ virtual_node: 'ghost', weight: 1 }] }] }),
  ],
  [
    'terraform bad unit',
    'm.json',
    TF_ROUTE({
      match: [{ prefix: '/' }],
      action: TF_TARGET,
      retry_policy: [
        { max_retries: 2, http_retry_events: ['server-error'], per_retry_timeout: [{ unit: 'm', value: 1 }] },
      ],
    }),
  ],
  ['terraform child modules too deep', 'm.json', TF_STATE([], { child_modules: [TF_NESTED_MODULES(16)] })],
  [
    'terraform block written as a mapping',
    'm.json',
    TF_NODE([
      {
        listener: [{ port_mapping: { port: 8080, protocol: 'http' } }],
        service_discovery: [{ dns: [{ hostname: 'n.local' }] }],
      },
    ]),
  ],
  [
    'terraform API field the provider does not have',
    'm.json',
    TF_STATE([
      TF_RESOURCE('aws_appmesh_gateway_route', 'gr', {
        mesh_name: 'apps',
        name: 'gr',
        virtual_gateway_name: 'gw',
        spec: [
          {
            http_route: [
              {
                match: [{ prefix: '/', method: 'GET' }],
                action: [{ target: [{ virtual_service: [{ virtual_service_name: 'a.apps.local' }] }] }],
              },
            ],
          },
        ],
      }),
    ]),
  ],
  [
    'terraform unknown resource attribute',
    'm.json',
    TF_STATE([
      TF_RESOURCE('aws_appmesh_virtual_service', 's', {
        mesh_name: 'apps',
        name: 's',
        virtual_router_name: 'r',
        spec: [{ provider: [] }],
      }),
    ]),
  ],
  [
    'terraform listener timeout for two protocols',
    'm.json',
    TF_LISTENER({
      timeout: [{ http: [{ idle: [{ unit: 's', value: 5 }] }], tcp: [{ idle: [{ unit: 's', value: 5 }] }] }],
    }),
  ],
  [
    'terraform cloud map service in an undeclared namespace',
    'm.json',
    TF_STATE([
      TF_RESOURCE('aws_service_discovery_http_namespace', 'ns', { id: 'ns-1', name: 'apps.local' }),
      TF_RESOURCE('aws_service_discovery_service', 's', { id: 'srv-1', name: 's', namespace_id: 'ns-2' }),
    ]),
  ],
  [
    'terraform cloud map instance id',
    'm.json',
    TF_STATE([
      TF_RESOURCE('aws_service_discovery_http_namespace', 'ns', { id: 'ns-1', name: 'apps.local' }),
      TF_RESOURCE('aws_service_discovery_service', 's', { id: 'srv-1', name: 's', namespace_id: 'ns-1' }),
      TF_RESOURCE('aws_service_discovery_instance', 'i', {
        id: 'x',
        instance_id: 'web 1',
        service_id: 'srv-1',
        attributes: { AWS_INSTANCE_IPV4: '127.0.0.1' },
      }),
    ]),
  ],
  [
    'terraform state on one line',
    'm.json',
    JSON.stringify(JSON.parse(TF_LISTENER({ connection_pool: [{ http: [{ max_connections: -1 }] }] }))),
  ],
  ['terraform module that is not a mapping', 'm.json', TF_STATE([], { child_modules: [7] })],
  [
    'terraform tags not a map',
    'm.json',
    TF_STATE([
      TF_RESOURCE('aws_appmesh_virtual_service', 's', {
        mesh_name: 'apps',
        name: 's',
        spec: [{ provider: [] }],
        tags: ['team'],
      }),
    ]),
  ],
  [
    'terraform health check port 0 and path "" are not set, as the provider sends them',
    'm.json',
    TF_LISTENER({
      health_check: [
        {
          protocol: 'tcp',
          path: '',
          port: 0,
          healthy_threshold: 2,
          unhealthy_threshold: 2,
          interval_millis: 5000,
          timeout_millis: 0,
        },
      ],
    }),
  ],
  // ---- Rollout ----
  ['rollout analysis field misspelt', 'm.yaml', ROLLOUT({ analysis: '  analysis: { interval: 1m, stepWieght: 5 }\n' })],
  ['rollout interval below 1s', 'm.yaml', ROLLOUT({ analysis: '  analysis: { interval: 500ms }\n' })],
  ['rollout interval not a duration', 'm.yaml', ROLLOUT({ analysis: '  analysis: { interval: 2d }\n' })],
  [
    'rollout maxWeight below stepWeight',
    'm.yaml',
    ROLLOUT({ analysis: '  analysis: { stepWeight: 20, maxWeight: 10 }\n' }),
  ],
  ['rollout maxWeight below the default stepWeight', 'm.yaml', ROLLOUT({ analysis: '  analysis: { maxWeight: 5 }\n' })],
  [
    'rollout metric without min or max',
    'm.yaml',
    ROLLOUT({
      analysis: '  analysis:\n    metrics:\n      - name: request-success-rate\n        thresholdRange: {}\n',
    }),
  ],
  [
    'rollout metric window above 15m',
    'm.yaml',
    ROLLOUT({
      analysis:
        '  analysis:\n    metrics:\n      - { name: request-duration, thresholdRange: { max: 500 }, interval: 1h }\n',
    }),
  ],
  [
    'rollout unknown metric',
    'm.yaml',
    ROLLOUT({ analysis: '  analysis: { metrics: [{ name: error-rate, thresholdRange: { max: 1 } }] }\n' }),
  ],
  [
    'rollout webhook type',
    'm.yaml',
    ROLLOUT({
      analysis: '  analysis:\n    webhooks:\n      - { name: gate, type: pre-rollot, url: http://localhost:8080/ }\n',
    }),
  ],
  [
    'rollout webhook URL',
    'm.yaml',
    ROLLOUT({
      analysis: '  analysis:\n    webhooks:\n      - { name: gate, type: pre-rollout, url: ftp://localhost/gate }\n',
    }),
  ],
  [
    'rollout webhook timeout',
    'm.yaml',
    ROLLOUT({
      analysis:
        '  analysis:\n    webhooks:\n      - { name: gate, type: pre-rollout, url: http://localhost/, timeout: 10m }\n',
    }),
  ],
  [
    'rollout webhook metadata not a string',
    'm.yaml',
    ROLLOUT({
      analysis:
        '  analysis:\n    webhooks:\n      - name: load\n        type: rollout\n        url: http://localhost/\n        metadata: { cmd: hey, retries: 3 }\n',
    }),
  ],
  [
    'rollout webhook metadata a list',
    'm.yaml',
    ROLLOUT({
      analysis:
        '  analysis:\n    webhooks:\n      - name: load\n        type: rollout\n        url: http://localhost/\n        metadata: [cmd]\n',
    }),
  ],
  ['rollout of a route not defined', 'm.yaml', ROLLOUT({ route: 'ghost' })],
  ['rollout canary not defined', 'm.yaml', ROLLOUT({ canary: 'ghost' })],
  [
    'rollout route with a third target',
    'm.yaml',
    ROLLOUT(
      {},
      CANARY_ROUTE(
        '[{ virtualNode: a, weight: 80 }, { virtualNode: b, weight: 10 }, { virtualNode: multi, port: 8080, weight: 10 }]',
      ),
    ),
  ],
  ['rollout route without the canary', 'm.yaml', ROLLOUT({ canary: 'client' })],
  [
    'rollout route listing the primary twice',
    'm.yaml',
    ROLLOUT(
      {},
      CANARY_ROUTE('[{ virtualNode: a, weight: 50 }, { virtualNode: b, weight: 0 }, { virtualNode: a, weight: 50 }]'),
    ),
  ],
  ['rollout primary is the canary', 'm.yaml', ROLLOUT({ canary: 'a' })],
  [
    'rollout declared twice',
    'm.yaml',
    ROLLOUT({}, CANARY_ROUTE(), ROLLOUT_DOC({ analysis: '  analysis: { stepWeight: 5 }\n' })),
  ],
  ['two rollouts of one route', 'm.yaml', ROLLOUT({ name: 'one' }, CANARY_ROUTE(), ROLLOUT_DOC({ name: 'two' }))],
  [
    'rollout of a route that is itself invalid',
    'm.yaml',
    ROLLOUT({}, CANARY_ROUTE('[{ virtualNode: a, weight: 0 }, { virtualNode: b, weight: 0 }]')),
  ],
  // ---- CloudFormation templates ----
  [
    'cfn Ref to an unknown name',
    'm.yaml',
    CFN_DNS('!Ref HostNam', 'Parameters:\n  HostName: { Type: String, Default: n2.local }\n'),
  ],
  [
    'cfn cyclic Fn::Sub between resources',
    'm.yaml',
    CFN(
      CFN_NODE("      VirtualNodeName: !Sub '${Other.VirtualNodeName}-a'\n      Spec: {}\n") +
        CFN_NODE("      VirtualNodeName: !Sub '${Node.VirtualNodeName}-b'\n      Spec: {}\n", 'Other'),
    ),
  ],
  [
    'cfn a resource naming itself',
    'm.yaml',
    CFN(CFN_NODE('      VirtualNodeName: !Select [5, !Split [/, !Ref Node]]\n      Spec: {}\n')),
  ],
  [
    'cfn GetAtt of an attribute the type has not',
    'm.yaml',
    CFN(
      CFN_NODE('      VirtualNodeName: n2\n      Spec: {}\n') +
        CFN_NODE('      VirtualNodeName: !GetAtt Node.VirtualNodName\n      Spec: {}\n', 'Other'),
    ),
  ],
  ['cfn GetAtt of a resource not declared', 'm.yaml', CFN_DNS('!GetAtt Gateway.VirtualGatewayName')],
  [
    'cfn GetAtt of a load balancer',
    'm.yaml',
    CFN_DNS('!GetAtt PublicLoadBalancer.DNSName') +
      '  PublicLoadBalancer:\n    Type: AWS::ElasticLoadBalancingV2::LoadBalancer\n    Properties: { Scheme: internet-facing }\n',
  ],
  [
    'cfn GetAtt HostedZoneId of a namespace',
    'm.yaml',
    CFN_DNS('!Sub "n2.${Namespace.HostedZoneId}"') +
      '  Namespace:\n    Type: AWS::ServiceDiscovery::PrivateDnsNamespace\n    Properties: { Name: apps.local, Vpc: vpc-1 }\n',
  ],
  ['cfn Fn::Select out of range', 'm.yaml', CFN_DNS('!Select [2, [a.local, b.local]]')],
  [
    'cfn Fn::If on an unknown condition',
    'm.yaml',
    CFN_DNS('!If [IsProd, a.local, b.local]', 'Conditions:\n  IsProduction: !Equals [a, a]\n'),
  ],
  [
    'cfn circular condition',
    'm.yaml',
    CFN_DNS(
      '!If [A, a.local, b.local]',
      'Conditions:\n  A: !Not [!Condition B]\n  B: !And [!Condition A, !Equals [x, x]]\n',
    ),
  ],
  ['cfn Fn::Equals outside Conditions', 'm.yaml', CFN_DNS('!Equals [a, b]')],
  [
    'cfn parameter without a value',
    'm.yaml',
    CFN_DNS('!Sub "n2.${Domain}"', 'Parameters:\n  Domain:\n    Type: String\n    Description: no Default\n'),
  ],
  [
    'cfn parameter Default not in AllowedValues',
    'm.yaml',
    CFN_DNS(
      '!Sub "n2.${Env}.local"',
      'Parameters:\n  Env:\n    Type: String\n    Default: prod\n    AllowedValues: [production, staging]\n    ConstraintDescription: production or staging\n',
    ),
  ],
  [
    'cfn Number parameter that is no number',
    'm.yaml',
    CFN_DNS('n2.local', 'Parameters:\n  Port: { Type: Number, Default: eighty }\n'),
  ],
  [
    'cfn Fn::Sub of a list parameter',
    'm.yaml',
    CFN_DNS('!Sub "${Zones}.local"', 'Parameters:\n  Zones: { Type: CommaDelimitedList, Default: "a,b" }\n'),
  ],
  ['cfn Fn::Sub of an unknown variable', 'm.yaml', CFN_DNS('!Sub ["${Host}.${Domian}", { Host: n2, Domain: local }]')],
  ['cfn Fn::Join of a mapping', 'm.yaml', CFN_DNS("!Join ['.', { a: b }]")],
  [
    'cfn Fn::FindInMap of a missing key',
    'm.yaml',
    CFN_DNS('!FindInMap [Hosts, !Ref AWS::Region, Name]', 'Mappings:\n  Hosts:\n    eu-west-1: { Name: n2.local }\n'),
  ],
  ['cfn Fn::ImportValue without --import-value', 'm.yaml', CFN_DNS('!ImportValue "shared:ServiceDomain"')],
  ['cfn function meshd cannot evaluate', 'm.yaml', CFN_DNS('!Select [0, !GetAZs ""]')],
  ['cfn unknown function', 'm.yaml', CFN_DNS("{ 'Fn::Frobnicate': n2.local }")],
  ['cfn unknown short tag', 'm.yaml', CFN_DNS('!Frobnicate n2.local')],
  [
    'cfn Ref to a resource that is not created',
    'm.yaml',
    CFN(
      CFN_NODE('      VirtualNodeName: !GetAtt Other.VirtualNodeName\n      Spec: {}\n') +
        CFN_NODE('      VirtualNodeName: n3\n      Spec: {}\n', 'Other').replace(
          '    Properties:',
          '    Condition: IsStaging\n    Properties:',
        ),
      'Conditions:\n  IsStaging: !Equals [prod, staging]\n',
    ),
  ],
  [
    'cfn Cloud Map service name over 127 characters',
    'm.yaml',
    `AWSTemplateFormatVersion: '2010-09-09'\nResources:\n  Namespace:\n    Type: AWS::ServiceDiscovery::HttpNamespace\n    Properties: { Name: apps.local }\n  Service:\n    Type: AWS::ServiceDiscovery::Service\n    Properties: { Name: ${'s'.repeat(128)}, NamespaceId: !Ref Namespace }\n`,
  ],
  [
    'cfn property of the wrong type',
    'm.yaml',
    CFN(
      CFN_NODE(
        '      VirtualNodeName: n2\n      Spec:\n        Listeners:\n          - PortMapping: { Port: eighty, Protocol: http }\n        ServiceDiscovery: { DNS: { Hostname: n2.local } }\n',
      ),
    ),
  ],
  [
    'cfn misspelt spec property',
    'm.yaml',
    CFN(
      CFN_NODE(
        '      VirtualNodeName: n2\n      Spec:\n        Listeners:\n          - PortMapping: { Port: 8080, Protocl: http }\n        ServiceDiscovery: { DNS: { Hostname: n2.local } }\n',
      ),
    ),
  ],
  [
    'cfn API spelling of a CloudFormation acronym',
    'm.yaml',
    CFN(
      CFN_NODE(
        '      VirtualNodeName: n2\n      Spec:\n        Listeners: [{ PortMapping: { Port: 8080, Protocol: http } }]\n        ServiceDiscovery: { Dns: { Hostname: n2.local } }\n',
      ),
    ),
  ],
  ['cfn misspelt resource property', 'm.yaml', CFN(CFN_NODE('      VirtualNodeNam: n2\n      Spec: {}\n'))],
  ['cfn virtual node without Spec', 'm.yaml', CFN(CFN_NODE('      VirtualNodeName: n2\n'))],
  [
    'cfn route without its router',
    'm.yaml',
    CFN(
      '  Route:\n    Type: AWS::AppMesh::Route\n    Properties:\n      MeshName: apps\n      RouteName: rt2\n      Spec: { TcpRoute: { Action: { WeightedTargets: [{ VirtualNode: a, Weight: 1 }] } } }\n',
    ),
  ],
  [
    'cfn unknown App Mesh resource type',
    'm.yaml',
    CFN('  Node:\n    Type: AWS::AppMesh::VirtualNod\n    Properties: { MeshName: apps }\n'),
  ],
  [
    'cfn MeshOwner that is no account ID',
    'm.yaml',
    CFN(CFN_NODE('      MeshOwner: !Ref AWS::StackName\n      VirtualNodeName: n2\n      Spec: {}\n')),
  ],
  [
    'cfn logical ID with an underscore',
    'm.yaml',
    CFN(CFN_NODE('      VirtualNodeName: n2\n      Spec: {}\n', 'My_Node')),
  ],
  [
    'cfn unknown template section',
    'm.yaml',
    CFN(CFN_NODE('      VirtualNodeName: n2\n      Spec: {}\n'), 'Parameter:\n  Env: { Type: String }\n'),
  ],
  [
    'cfn Cloud Map instance attribute that is a list',
    'm.yaml',
    CFN(
      '  Namespace:\n    Type: AWS::ServiceDiscovery::HttpNamespace\n    Properties: { Name: apps.local }\n  Registry:\n    Type: AWS::ServiceDiscovery::Service\n    Properties: { Name: a, NamespaceId: !Ref Namespace }\n  Task:\n    Type: AWS::ServiceDiscovery::Instance\n    Properties:\n      ServiceId: !Ref Registry\n      InstanceAttributes: { AWS_INSTANCE_IPV4: [10.0.0.1] }\n',
    ),
  ],
  [
    'cfn misspelt property of a node a service names',
    'm.yaml',
    CFN(
      CFN_NODE('      VirtualNodeName: n2\n      Spec: {}\n      Tag: []\n') +
        '  Service:\n    Type: AWS::AppMesh::VirtualService\n    Properties:\n      MeshName: apps\n      VirtualServiceName: n2.apps.local\n      Spec: { Provider: { VirtualNode: { VirtualNodeName: n2 } } }\n',
    ),
  ],
  [
    'cfn JSON template with a bad value',
    'm.json',
    '{\n  "Resources": {\n    "Node": {\n      "Type": "AWS::AppMesh::VirtualNode",\n      "Properties": {\n        "MeshName": { "Ref": "AWS::NoValue" },\n        "VirtualNodeName": "n2",\n        "Spec": {}\n      }\n    }\n  }\n}\n',
  ],
];
