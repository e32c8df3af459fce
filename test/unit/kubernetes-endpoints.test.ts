// Endpoints from the cluster (--kubernetes-endpoints): which EndpointSlice addresses a VirtualNode
// gets (k8s/endpoint-slices.ts), how compile turns them into an EDS cluster while a node without
// them keeps its DNS output byte for byte, and that a change of one node's endpoints recompiles
// only the proxies that call it (control/mesh-controller.ts through combinedDiscovery).
import { compileProxy, LookupMemo, NO_CLOUD_MAP, type CloudMapView, type ProxyConfig } from '../../src/compile';
import { combinedDiscovery } from '../../src/control/combined-discovery';
import { MeshController } from '../../src/control/mesh-controller';
import { CloudMapRegistry } from '../../src/discovery/cloud-map/registry';
import { WorkloadEndpoints, type WorkloadInputs } from '../../src/k8s/endpoint-slices';
import type { KubeObject } from '../../src/k8s/kube-api';
import { loadMesh } from '../../src/load/mesh-source';
import type { MeshModel } from '../../src/model/mesh-model';
import { SnapshotCache } from '../../src/xds/snapshot-cache';
import { TypeUrl } from '../../src/xds/type-urls';
import { meshFolder } from '../helpers/mesh-text';

const QUIET = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

// ---------------------------------------------------------------- fixtures (Kubernetes objects)

const virtualNode = (namespace: string, name: string, podSelector?: unknown): KubeObject => ({
  apiVersion: 'appmesh.k8s.aws/v1beta2',
  kind: 'VirtualNode',
  metadata: { namespace, name },
  spec: podSelector === undefined ? {} : { podSelector },
});

const pod = (namespace: string, name: string, labels: Record<string, string>, ips: string[] = []): KubeObject => ({
  kind: 'Pod',
  metadata: { namespace, name, labels },
  status: ips.length > 0 ? { podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) } : {},
});

interface EndpointFixture {
  address: string;
  pod: string;
  podNamespace?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

const slice = (namespace: string, name: string, endpoints: EndpointFixture[], addressType = 'IPv4'): KubeObject => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { namespace, name },
  addressType,
  endpoints: endpoints.map((e) => ({
    addresses: [e.address],
    conditions: {
      ...(e.ready !== undefined ? { ready: e.ready } : {}),
      ...(e.serving !== undefined ? { serving: e.serving } : {}),
      ...(e.terminating !== undefined ? { terminating: e.terminating } : {}),
    },
    targetRef: { kind: 'Pod', name: e.pod, ...(e.podNamespace ? { namespace: e.podNamespace } : {}) },
  })),
});

/** VirtualNode prod/<name> is virtual node <name> of mesh `apps`. */
const identify = (vn: KubeObject) => ({ mesh: 'apps', name: vn.metadata.name });

function workloads(inputs: WorkloadInputs, max?: number) {
  const warnings: string[] = [];
  const infos: string[] = [];
  const changes: string[][] = [];
  const w = new WorkloadEndpoints({
    identify,
    ...(max !== undefined ? { maxEndpointsPerNode: max } : {}),
    log: { warn: (m: unknown) => warnings.push(String(m)), info: (m: unknown) => infos.push(String(m)) },
  });
  w.onChange((changed) => changes.push([...changed].sort()));
  w.update(inputs);
  const addresses = (node: string) => w.workloadEndpoints('apps', node)?.map((e) => e.address);
  return { w, warnings, infos, changes, addresses };
}

// ---------------------------------------------------------------- WorkloadEndpoints

describe('WorkloadEndpoints: the addresses a VirtualNode gets from the EndpointSlices', () => {
  const RED = { app: 'color', version: 'red' };

  it('lists the ready addresses of the pods its podSelector selects in its namespace, deduplicated and sorted', () => {
    const { addresses } = workloads({
      virtualNodes: [virtualNode('prod', 'red', { matchLabels: { app: 'color', version: 'red' } })],
      pods: [
        pod('prod', 'red-1', RED),
        pod('prod', 'red-2', RED),
        pod('prod', 'red-3', RED),
        pod('prod', 'red-4', RED),
        pod('prod', 'red-5', RED),
        pod('prod', 'blue-1', { app: 'color', version: 'blue' }),
        pod('staging', 'red-9', RED),
      ],
      slices: [
        slice('prod', 'color-a', [
          { address: '10.0.0.12', pod: 'red-2' },
          { address: '10.0.0.11', pod: 'red-1', ready: true, serving: true },
          { address: '10.0.0.13', pod: 'red-3', ready: false, serving: false },
          // Terminating: not sent even where its slice leaves `ready` unset.
          { address: '10.0.0.14', pod: 'red-4', serving: true, terminating: true },
          { address: '10.0.0.20', pod: 'blue-1' },
        ]),
        // The same pod again in a second slice (a Service of its own): listed once.
        slice('prod', 'color-b', [{ address: '10.0.0.11', pod: 'red-1' }]),
        // Another namespace's pod of the same name and labels is not prod's.
        slice('staging', 'color-c', [{ address: '10.0.9.5', pod: 'red-9' }]),
      ],
    });
    // red-3 not ready, red-4 terminating, red-5 in no slice, blue-1 not selected, red-9 in staging.
    expect(addresses('red')).toEqual(['10.0.0.11', '10.0.0.12']);
  });

  it('takes matchExpressions, and an empty podSelector selects every pod of the namespace', () => {
    const { addresses } = workloads({
      virtualNodes: [
        virtualNode('prod', 'not-red', { matchExpressions: [{ key: 'version', operator: 'NotIn', values: ['red'] }] }),
        virtualNode('prod', 'everyone', {}),
      ],
      pods: [pod('prod', 'red-1', RED), pod('prod', 'blue-1', { app: 'color', version: 'blue' })],
      slices: [
        slice('prod', 's', [
          { address: '10.0.0.1', pod: 'red-1' },
          { address: '10.0.0.2', pod: 'blue-1' },
        ]),
      ],
    });
    expect(addresses('not-red')).toEqual(['10.0.0.2']);
    expect(addresses('everyone')).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('skips FQDN slices and addresses not of the slice type, takes IPv6 slices', () => {
    const { addresses } = workloads({
      virtualNodes: [virtualNode('prod', 'red', { matchLabels: { version: 'red' } })],
      pods: [pod('prod', 'red-1', RED), pod('prod', 'red-2', RED), pod('prod', 'red-3', RED)],
      slices: [
        slice('prod', 'fqdn', [{ address: 'red-1.example.com', pod: 'red-1' }], 'FQDN'),
        slice('prod', 'v4', [
          { address: 'fd00::2', pod: 'red-2' },
          { address: '10.0.0.3', pod: 'red-3' },
        ]),
        slice('prod', 'v6', [{ address: 'fd00::1', pod: 'red-1' }], 'IPv6'),
      ],
    });
    expect(addresses('red')).toEqual(['10.0.0.3', 'fd00::1']);
  });

  it('believes a slice only for pods of its own namespace, and only at an IP the pod reports (when it reports any)', () => {
    const { addresses } = workloads({
      virtualNodes: [virtualNode('prod', 'red', { matchLabels: { version: 'red' } })],
      pods: [pod('prod', 'red-1', RED, ['10.0.0.1']), pod('prod', 'red-2', RED, ['10.0.0.2'])],
      slices: [
        // A slice in another namespace naming prod's pod.
        slice('evil', 'steal', [{ address: '10.6.6.6', pod: 'red-1', podNamespace: 'prod' }]),
        slice('prod', 'ok', [
          { address: '10.0.0.1', pod: 'red-1' },
          // Not red-2's IP.
          { address: '10.7.7.7', pod: 'red-2' },
        ]),
      ],
    });
    expect(addresses('red')).toEqual(['10.0.0.1']);
  });

  it('answers undefined for a VirtualNode without podSelector or that identify() does not serve, [] for one that selects nothing', () => {
    const w = new WorkloadEndpoints({
      identify: (vn) => (vn.metadata.name === 'unserved' ? undefined : { mesh: 'apps', name: vn.metadata.name }),
    });
    w.update({
      virtualNodes: [
        virtualNode('prod', 'dns-only'),
        virtualNode('prod', 'unserved', {}),
        virtualNode('prod', 'empty', { matchLabels: { app: 'nothing' } }),
      ],
      pods: [pod('prod', 'red-1', RED)],
      slices: [],
    });
    expect(w.workloadEndpoints('apps', 'dns-only')).toBeUndefined();
    expect(w.workloadEndpoints('apps', 'unserved')).toBeUndefined();
    expect(w.workloadEndpoints('apps', 'empty')).toEqual([]);
  });

  it('announces exactly the nodes whose endpoints changed, and keeps an unchanged list the same array', () => {
    const nodes = [
      virtualNode('prod', 'red', { matchLabels: { version: 'red' } }),
      virtualNode('prod', 'blue', { matchLabels: { version: 'blue' } }),
    ];
    const pods = [pod('prod', 'red-1', RED), pod('prod', 'blue-1', { version: 'blue' })];
    const { w, changes, infos, addresses } = workloads({
      virtualNodes: nodes,
      pods,
      slices: [slice('prod', 's', [{ address: '10.0.0.1', pod: 'red-1' }])],
    });
    expect(changes).toEqual([['k8s:apps/blue', 'k8s:apps/red']]);
    const blueBefore = w.workloadEndpoints('apps', 'blue');

    w.update({
      slices: [
        slice('prod', 's', [
          { address: '10.0.0.1', pod: 'red-1' },
          { address: '10.0.0.2', pod: 'blue-1' },
        ]),
      ],
    });
    expect(changes[1]).toEqual(['k8s:apps/blue']);
    expect(infos.at(-1)).toBe('kubernetes endpoints: virtual node apps/blue now has 1 ready endpoint(s)');
    expect(addresses('blue')).toEqual(['10.0.0.2']);
    expect(w.workloadEndpoints('apps', 'blue')).not.toBe(blueBefore);

    const redBefore = w.workloadEndpoints('apps', 'red');
    w.update({ pods: [...pods] });
    expect(changes).toHaveLength(2);
    expect(w.workloadEndpoints('apps', 'red')).toBe(redBefore);

    // The VirtualNode deleted: its key is announced and it answers undefined again.
    w.update({ virtualNodes: [nodes[0]!] });
    expect(changes[2]).toEqual(['k8s:apps/blue']);
    expect(w.workloadEndpoints('apps', 'blue')).toBeUndefined();
  });

  it('caps a node at maxEndpointsPerNode, keeping the lowest addresses, and says so once', () => {
    const pods = Array.from({ length: 12 }, (_, i) => pod('prod', `red-${i}`, RED));
    const slices = [
      slice(
        'prod',
        's',
        pods.map((p, i) => ({ address: `10.0.1.${i + 10}`, pod: p.metadata.name })),
      ),
    ];
    const { w, warnings, addresses } = workloads(
      { virtualNodes: [virtualNode('prod', 'red', { matchLabels: { version: 'red' } })], pods, slices },
      5,
    );
    expect(addresses('red')).toEqual(['10.0.1.10', '10.0.1.11', '10.0.1.12', '10.0.1.13', '10.0.1.14']);
    w.update({ pods: [...pods] });
    const said = warnings.filter((m) => m.includes('over the limit of 5'));
    expect(said).toEqual([
      'kubernetes endpoints: VirtualNode prod/red has 12 ready endpoints, over the limit of 5: only the first 5 addresses are sent to its callers',
    ]);
  });

  it('says once when a node selects pods that no EndpointSlice lists (no Service, or no slice controller)', () => {
    // Before the slices' informer has listed them, nothing is said.
    const { w, warnings } = workloads({
      virtualNodes: [virtualNode('prod', 'red', { matchLabels: { version: 'red' } })],
      pods: [pod('prod', 'red-1', RED)],
    });
    expect(warnings).toEqual([]);
    w.update({ slices: [] });
    w.update({ slices: [] });
    expect(warnings).toEqual([
      'kubernetes endpoints: VirtualNode prod/red selects 1 pod(s) but no EndpointSlice lists any of them, so its callers get no endpoints: give the pods a Service, and check that the cluster runs the EndpointSlice controller',
    ]);
  });

  it('never throws on hostile objects', () => {
    const junk = [
      { metadata: { name: 'x', namespace: 'prod' }, spec: 'nope' },
      { metadata: { name: 'y', namespace: 'prod' }, addressType: 'IPv4', endpoints: 'nope' },
      {
        metadata: { name: 'z', namespace: 'prod' },
        addressType: 'IPv4',
        endpoints: [null, 1, { targetRef: 'x' }, { targetRef: { kind: 'Pod', name: 'red-1' }, addresses: [7] }],
      },
      { metadata: { name: 'p', namespace: 'prod', labels: { version: 7 } }, status: { podIPs: 'x' } },
      null,
      7,
      {},
      { spec: { podSelector: {} } },
      { metadata: 'x', spec: { podSelector: {} } },
    ] as unknown as KubeObject[];
    const w = new WorkloadEndpoints({ identify: () => ({ mesh: 'apps', name: 'red' }) });
    expect(() =>
      w.update({
        virtualNodes: [...junk, virtualNode('prod', 'red', { matchLabels: 'x' })],
        pods: junk,
        slices: junk,
      }),
    ).not.toThrow();
    expect(w.workloadEndpoints('apps', 'red')).toEqual([]);
  });
});

// ---------------------------------------------------------------- compile

const MESH_DOCS = [
  'kind: Mesh\nname: apps\n',
  ...['x', 'y'].flatMap((n) => [
    `kind: VirtualNode\nmesh: apps\nname: ${n}\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: ${n}.prod.svc.cluster.local } }\n`,
    `kind: VirtualService\nmesh: apps\nname: ${n}.apps.local\nspec: { provider: { virtualNode: { virtualNodeName: ${n} } } }\n`,
  ]),
  ...(
    [
      ['cx1', ['x']],
      ['cx2', ['x']],
      ['cy', ['y']],
    ] as const
  ).map(
    ([name, backends]) =>
      `kind: VirtualNode\nmesh: apps\nname: ${name}\nspec:\n  backends:\n${backends.map((b) => `    - virtualService: { virtualServiceName: ${b}.apps.local }\n`).join('')}`,
  ),
];

function meshModel(): MeshModel {
  const result = loadMesh([meshFolder({ 'mesh.yaml': MESH_DOCS.join('---\n') })]);
  if (!result.ok) throw new Error(result.problems.map((p) => p.message).join('\n'));
  return result.model;
}

const PORTS = { ingressPort: 15000, egressPort: 15001 };
const X_CLUSTER = 'cds_egress_apps_x_http_8080';
const Y_CLUSTER = 'cds_egress_apps_y_http_8080';

function compiled(model: MeshModel, view: CloudMapView, node: string, memo = new LookupMemo(), proxyless = false) {
  const result = compileProxy(model, view, `mesh/apps/virtualNode/${node}`, { ...PORTS, proxyless }, memo);
  if (!result.ok) throw new Error(result.error);
  return result.config;
}

const clusterOf = (config: ProxyConfig, name: string) => config.clusters.find((c) => c.name === name);
const assignmentOf = (config: ProxyConfig, name: string) => config.endpoints.find((e) => e.cluster_name === name);
const socketAddresses = (config: ProxyConfig, name: string) =>
  assignmentOf(config, name)?.endpoints?.flatMap((e) =>
    (e.lb_endpoints ?? []).map((l) => l.endpoint?.address?.socket_address),
  );

describe('compile: a target with workload endpoints is an EDS cluster', () => {
  const model = meshModel();
  const view = (endpoints: Record<string, string[]>): CloudMapView => ({
    discover: () => undefined,
    workloadEndpoints: (mesh, node) => (mesh === 'apps' ? endpoints[node]?.map((address) => ({ address })) : undefined),
  });

  it("sends the node's addresses over EDS at its listener's port, sorted", () => {
    const config = compiled(model, view({ x: ['10.0.0.9', '10.0.0.10', '10.0.0.2'] }), 'cx1');
    expect(clusterOf(config, X_CLUSTER)).toMatchObject({
      type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
    });
    expect(clusterOf(config, X_CLUSTER)!.load_assignment).toBeUndefined();
    expect(socketAddresses(config, X_CLUSTER)).toEqual([
      { address: '10.0.0.10', port_value: 8080 },
      { address: '10.0.0.2', port_value: 8080 },
      { address: '10.0.0.9', port_value: 8080 },
    ]);
  });

  it('gives an empty assignment for a node that selects no ready pod', () => {
    const config = compiled(model, view({ x: [] }), 'cx1');
    expect(clusterOf(config, X_CLUSTER)!.type).toBe('EDS');
    expect(assignmentOf(config, X_CLUSTER)).toEqual({ cluster_name: X_CLUSTER, endpoints: [] });
  });

  it('keeps DNS, byte for byte, for a node the view does not answer for', () => {
    const plain = compiled(model, NO_CLOUD_MAP, 'cy');
    const withOthers = compiled(model, view({ x: ['10.0.0.1'] }), 'cy');
    expect(JSON.stringify(withOthers)).toBe(JSON.stringify(plain));
    expect(clusterOf(plain, Y_CLUSTER)!.type).toBe('LOGICAL_DNS');
    expect(plain.endpoints).toEqual([]);
  });

  it('picks one family of a dual-stack list: IPv4 by default, IPv6 when the mesh prefers it', () => {
    const dual = view({ x: ['fd00::1', '10.0.0.1'] });
    expect(socketAddresses(compiled(model, dual, 'cx1'), X_CLUSTER)).toEqual([
      { address: '10.0.0.1', port_value: 8080 },
    ]);
    const v6 = loadMesh([
      meshFolder({
        'mesh.yaml': [
          'kind: Mesh\nname: apps\nspec: { serviceDiscovery: { ipPreference: IPv6_PREFERRED } }\n',
          ...MESH_DOCS.slice(1),
        ].join('---\n'),
      }),
    ]);
    if (!v6.ok) throw new Error('invalid');
    expect(socketAddresses(compiled(v6.model, dual, 'cx1'), X_CLUSTER)).toEqual([
      { address: 'fd00::1', port_value: 8080 },
    ]);
  });

  it('a memoised compile follows a change of the endpoints (the memo asks the view again)', () => {
    const memo = new LookupMemo();
    let x = ['10.0.0.1'];
    const changing: CloudMapView = {
      discover: () => undefined,
      workloadEndpoints: (_mesh, node) => (node === 'x' ? x.map((address) => ({ address })) : undefined),
    };
    expect(socketAddresses(compiled(model, changing, 'cx1', memo), X_CLUSTER)).toEqual([
      { address: '10.0.0.1', port_value: 8080 },
    ]);
    x = ['10.0.0.2'];
    expect(socketAddresses(compiled(model, changing, 'cx2', memo), X_CLUSTER)).toEqual([
      { address: '10.0.0.2', port_value: 8080 },
    ]);
  });

  it('a virtual gateway routing to the node gets the same EDS cluster', () => {
    const withGateway = loadMesh([
      meshFolder({
        'mesh.yaml': [
          ...MESH_DOCS,
          'kind: VirtualGateway\nmesh: apps\nname: edge\nspec:\n  listeners: [{ portMapping: { port: 8000, protocol: http } }]\n',
          'kind: GatewayRoute\nmesh: apps\nvirtualGateway: edge\nname: to-x\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action: { target: { virtualService: { virtualServiceName: x.apps.local } } }\n',
        ].join('---\n'),
      }),
    ]);
    if (!withGateway.ok) throw new Error(withGateway.problems.map((p) => p.message).join('\n'));
    const result = compileProxy(withGateway.model, view({ x: ['10.0.0.1'] }), 'mesh/apps/virtualGateway/edge', PORTS);
    if (!result.ok) throw new Error(result.error);
    expect(clusterOf(result.config, X_CLUSTER)!.type).toBe('EDS');
    expect(socketAddresses(result.config, X_CLUSTER)).toEqual([{ address: '10.0.0.1', port_value: 8080 }]);
  });

  it('a proxyless gRPC client gets the same EDS cluster', () => {
    const config = compiled(model, view({ x: ['10.0.0.1'] }), 'cx1', new LookupMemo(), true);
    expect(clusterOf(config, X_CLUSTER)!.type).toBe('EDS');
    expect(socketAddresses(config, X_CLUSTER)).toEqual([{ address: '10.0.0.1', port_value: 8080 }]);
  });
});

// ---------------------------------------------------------------- controller

describe('MeshController with combinedDiscovery: a change of one node’s endpoints recompiles only its callers', () => {
  it('recompiles and pushes to the callers of X alone when X’s pods change', () => {
    const cache = new SnapshotCache();
    const compiledFor = new Map<string, number>();
    const set = cache.set.bind(cache);
    cache.set = (key, snapshot) => {
      compiledFor.set(key, (compiledFor.get(key) ?? 0) + 1);
      return set(key, snapshot);
    };
    const w = new WorkloadEndpoints({ identify });
    const nodes = [
      virtualNode('prod', 'x', { matchLabels: { app: 'x' } }),
      virtualNode('prod', 'y', { matchLabels: { app: 'y' } }),
    ];
    const pods = [pod('prod', 'x-1', { app: 'x' }), pod('prod', 'x-2', { app: 'x' }), pod('prod', 'y-1', { app: 'y' })];
    w.update({ virtualNodes: nodes, pods, slices: [slice('prod', 's', [{ address: '10.0.0.1', pod: 'x-1' }])] });
    const controller = new MeshController(cache, combinedDiscovery(new CloudMapRegistry(), w), QUIET);
    controller.setModel(meshModel());
    const keys = Object.fromEntries(
      ['cx1', 'cx2', 'cy'].map((n) => [
        n,
        controller.nodeKey({ id: `mesh/apps/virtualNode/${n}`, metadata: { fields: {} } } as never),
      ]),
    );
    const eds = (n: string) => [...(cache.get(keys[n]!)?.types.get(TypeUrl.Endpoint)?.resources.keys() ?? [])].sort();
    expect(eds('cx1')).toEqual([X_CLUSTER]);
    expect(eds('cy')).toEqual([Y_CLUSTER]);
    const before = { cy: cache.get(keys.cy!), cx1: cache.get(keys.cx1!) };
    compiledFor.clear();

    w.update({
      slices: [
        slice('prod', 's', [
          { address: '10.0.0.1', pod: 'x-1' },
          { address: '10.0.0.2', pod: 'x-2' },
        ]),
      ],
    });
    expect(Object.fromEntries(compiledFor)).toEqual({ [keys.cx1!]: 1, [keys.cx2!]: 1 });
    expect(cache.get(keys.cy!)).toBe(before.cy);
    expect(cache.get(keys.cx1!)).not.toBe(before.cx1);
    const cla = cache.get(keys.cx2!)!.types.get(TypeUrl.Endpoint)!.resources.get(X_CLUSTER)!;
    expect(cla.any.includes('10.0.0.2')).toBe(true);
    expect(cla.any.includes('10.0.0.1')).toBe(true);
  });
});
