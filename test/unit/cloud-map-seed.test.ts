// `kind: CloudMapService` in mesh files: how it is read and checked (file:line and field), and
// how the registry applies it (registry.applySeeds): idempotent, updating and removing only
// what the files declared, never touching registrations made through the API; and a registry
// whose save fails changes nothing.
import * as path from 'node:path';
import {
  CloudMapRegistry,
  serviceKey,
  type RegistryChange,
  type ServiceSeed,
} from '../../src/discovery/cloud-map/registry';
import { emptyState } from '../../src/discovery/cloud-map/records';
import { applyChange, stateTables } from '../../src/discovery/cloud-map/tables';
import { offlineRegistry } from '../../src/control/offline-registry';
import { seedProblems } from '../../src/load/cloud-map-seed';
import { loadMesh, type LoadResult } from '../../src/load/mesh-source';
import { formatProblem } from '../../src/load/problems';
import { meshFolder } from '../helpers/mesh-text';

const SEED = `kind: CloudMapService
namespace: apps.local
name: orders
instances:
  - id: orders-1
    attributes:
      AWS_INSTANCE_IPV4: 10.0.0.1
      AWS_INSTANCE_PORT: 8080
  - id: orders-2
    attributes: { AWS_INSTANCE_IPV4: 10.0.0.2, zone: b }
    health: UNHEALTHY
`;

const MESH = `kind: Mesh
name: apps
---
kind: VirtualNode
mesh: apps
name: orders
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
  serviceDiscovery: { awsCloudMap: { namespaceName: apps.local, serviceName: orders } }
---
kind: VirtualService
mesh: apps
name: orders.apps.local
spec: { provider: { virtualNode: { virtualNodeName: orders } } }
`;

function load(files: Record<string, string>): { dir: string; result: LoadResult } {
  const dir = meshFolder(files);
  return { dir, result: loadMesh([dir]) };
}

/** The load's errors, formatted as `meshd validate` prints them, with the temp folder shortened to `./`. */
function errorsOf(files: Record<string, string>): string[] {
  const { dir, result } = load(files);
  expect(result.ok).toBe(false);
  return result.problems
    .filter((p) => p.severity === 'error')
    .map((p) => formatProblem(p).replaceAll(dir + path.sep, './'));
}

/** Records every change event a registry announces. */
function recordChanges(registry: CloudMapRegistry): string[][] {
  const events: string[][] = [];
  registry.onChange((changed) => events.push([...changed].sort()));
  return events;
}

const ORDERS = serviceKey('apps.local', 'orders');

function seed(instances: ServiceSeed['instances'], service = 'orders', namespace = 'apps.local'): ServiceSeed {
  return { namespace, service, instances };
}

function serviceId(registry: CloudMapRegistry, namespace: string, service: string): string {
  const ns = registry.namespaceNamed(namespace);
  const found = ns && registry.serviceNamed(ns.id, service);
  if (!found) throw new Error(`no service ${namespace}/${service}`);
  return found.id;
}

describe('kind: CloudMapService in mesh files', () => {
  it('reads a valid declaration into cloudMapSeeds: attributes as strings, health when given', () => {
    const { dir, result } = load({ 'seed.yaml': SEED });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.cloudMapSeeds.map((s) => s.seed)).toEqual([
      {
        namespace: 'apps.local',
        service: 'orders',
        instances: [
          // YAML reads 8080 as a number; Cloud Map attributes are strings.
          { id: 'orders-1', attributes: { AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '8080' } },
          { id: 'orders-2', attributes: { AWS_INSTANCE_IPV4: '10.0.0.2', zone: 'b' }, health: 'UNHEALTHY' },
        ],
      },
    ]);
    const [located] = result.cloudMapSeeds;
    expect(located!.label).toBe('CloudMapService/orders');
    expect(located!.locate(['instances', 1, 'attributes'])).toMatchObject({
      file: path.join(dir, 'seed.yaml'),
      line: 10,
    });
  });

  it('a declaration without instances is a service with none', () => {
    const { result } = load({ 'seed.yaml': 'kind: CloudMapService\nnamespace: apps.local\nname: empty\n' });
    expect(result.ok && result.cloudMapSeeds.map((s) => s.seed)).toEqual([
      { namespace: 'apps.local', service: 'empty', instances: [] },
    ]);
  });

  it('applied, the registry discovers the declared instances (namespace and service created with a custom health check)', () => {
    const { result } = load({ 'seed.yaml': SEED });
    if (!result.ok) throw new Error('did not load');
    const offline = offlineRegistry(result.cloudMapSeeds);
    expect(offline.ok).toBe(true);
    if (!offline.ok) return;
    const registry = offline.registry;
    expect(registry.discover('apps.local', 'orders')).toEqual([
      { id: 'orders-1', attributes: { AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '8080' }, health: 'HEALTHY' },
      { id: 'orders-2', attributes: { AWS_INSTANCE_IPV4: '10.0.0.2', zone: 'b' }, health: 'UNHEALTHY' },
    ]);
    expect(registry.discover('apps.local', 'users')).toBeUndefined();
    expect(registry.namespaces().map((n) => [n.name, n.type])).toEqual([['apps.local', 'HTTP']]);
    expect(registry.services().map((s) => [s.name, s.healthCheckCustomConfig])).toEqual([['orders', {}]]);
  });

  it('loads the mesh model next to the declarations, in the same file or another', () => {
    const layouts: Record<string, string>[] = [
      { 'all.yaml': `${MESH}---\n${SEED}` },
      { 'mesh.yaml': MESH, 'cloud-map/seed.yaml': SEED },
    ];
    for (const files of layouts) {
      const { result } = load(files);
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect(result.model.virtualNodes().map((n) => n.name)).toEqual(['orders']);
      expect(result.model.resources.map((r) => r.kind).sort()).toEqual(['Mesh', 'VirtualNode', 'VirtualService']);
      expect(
        result.cloudMapSeeds.map((s) => `${s.seed.namespace}/${s.seed.service}:${s.seed.instances.length}`),
      ).toEqual(['apps.local/orders:2']);
    }
  });

  describe('mistakes point at file:line and the field, and fail the whole load', () => {
    it('an unknown field', () => {
      expect(
        errorsOf({ 'mesh.yaml': MESH, 'seed.yaml': SEED.replace('name: orders\n', 'name: orders\ncolour: blue\n') }),
      ).toEqual([
        "./seed.yaml:4:9: error: CloudMapService/orders: unknown field 'colour'; expected one of: kind, namespace, name, instances (colour)",
      ]);
      expect(
        errorsOf({ 'seed.yaml': SEED.replace('    health: UNHEALTHY\n', '    health: UNHEALTHY\n    weight: 3\n') }),
      ).toEqual([
        "./seed.yaml:12:13: error: CloudMapService/orders: unknown field 'weight'; expected one of: id, health (instances[1].weight)",
      ]);
    });

    it('a missing namespace', () => {
      expect(errorsOf({ 'mesh.yaml': MESH, 'seed.yaml': SEED.replace('namespace: apps.local\n', '') })).toEqual([
        './seed.yaml:1:1: error: CloudMapService/orders: required field is missing (namespace)',
      ]);
    });

    it('a bad instance id', () => {
      expect(errorsOf({ 'seed.yaml': SEED.replace('id: orders-2', 'id: "orders 2!"') })).toEqual([
        './seed.yaml:9:9: error: CloudMapService/orders: may contain only letters, digits and _/:.@-, got "orders 2!" (instances[1].id)',
      ]);
      expect(errorsOf({ 'seed.yaml': SEED.replace('  - id: orders-2\n', '  - idd: orders-2\n') })).toEqual(
        expect.arrayContaining([
          expect.stringMatching(
            /^\.\/seed\.yaml:\d+:\d+: error: CloudMapService\/orders: required field is missing \(instances\[1\]\.id\)$/,
          ),
        ]),
      );
    });

    it('an attribute value that is not a string (a list, a mapping, a boolean), or attributes that are not a mapping', () => {
      expect(
        errorsOf({
          'seed.yaml': SEED.replace(
            '      AWS_INSTANCE_PORT: 8080\n',
            '      AWS_INSTANCE_PORT: 8080\n      TAGS: [a, b]\n',
          ),
        }),
      ).toEqual([
        './seed.yaml:9:13: error: CloudMapService/orders: must be a string, got a list (instances[0].attributes.TAGS)',
      ]);
      expect(errorsOf({ 'seed.yaml': SEED.replace('zone: b }', 'zone: { name: b } }') })).toEqual([
        expect.stringMatching(
          /^\.\/seed\.yaml:10:\d+: error: CloudMapService\/orders: must be a string, got .* \(instances\[1\]\.attributes\.zone\)$/,
        ),
      ]);
      expect(errorsOf({ 'seed.yaml': SEED.replace('zone: b }', 'canary: true }') })).toEqual([
        expect.stringMatching(
          /^\.\/seed\.yaml:10:\d+: error: CloudMapService\/orders: must be a string, got .*true.* \(instances\[1\]\.attributes\.canary\)$/,
        ),
      ]);
      expect(
        errorsOf({
          'seed.yaml': SEED.replace('attributes: { AWS_INSTANCE_IPV4: 10.0.0.2, zone: b }', 'attributes: [10.0.0.2]'),
        }),
      ).toEqual([
        './seed.yaml:10:17: error: CloudMapService/orders: must be a mapping of attribute names to values, got a list (instances[1].attributes)',
      ]);
    });

    it('duplicate instance ids', () => {
      expect(errorsOf({ 'seed.yaml': SEED.replace('id: orders-2', 'id: orders-1') })).toEqual([
        "./seed.yaml:9:9: error: CloudMapService/orders: instance 'orders-1' is already declared at instances[0] (instances[1].id)",
      ]);
    });

    it('the same service declared twice, in two files', () => {
      const { dir, result } = load({
        'a.yaml': SEED,
        'b.yaml': 'kind: CloudMapService\nnamespace: apps.local\nname: orders\ninstances: [{ id: other }]\n',
      });
      expect(result.ok).toBe(false);
      expect(
        result.problems
          .filter((p) => p.severity === 'error')
          .map((p) => formatProblem(p).replaceAll(dir + path.sep, './')),
      ).toEqual([
        './b.yaml:3:7: error: CloudMapService/orders: service apps.local/orders is already declared at ./a.yaml:1',
      ]);
      // The same service name in another namespace is another service.
      expect(
        load({ 'a.yaml': SEED, 'b.yaml': 'kind: CloudMapService\nnamespace: other.local\nname: orders\n' }).result.ok,
      ).toBe(true);
    });

    it('a bad declaration fails the load even when the mesh itself is valid', () => {
      const { result } = load({ 'mesh.yaml': MESH, 'seed.yaml': SEED.replace('health: UNHEALTHY', 'health: SICK') });
      expect(result.ok).toBe(false);
      expect('model' in result).toBe(false);
      expect(result.problems.map((p) => `${p.location.line}: ${p.message} (${p.field})`)).toEqual([
        expect.stringMatching(/^11: must be one of HEALTHY, UNHEALTHY.*\(instances\[1\]\.health\)$/),
      ]);
    });
  });
});

describe('registry.applySeeds', () => {
  const v1 = [
    seed([
      { id: 'o-1', attributes: { AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '8080' } },
      { id: 'o-2', attributes: { AWS_INSTANCE_IPV4: '10.0.0.2' }, health: 'HEALTHY' },
    ]),
    seed([{ id: 'u-1', attributes: { AWS_INSTANCE_IPV4: '10.0.1.1' } }], 'users'),
  ];

  function seeded(seeds: readonly ServiceSeed[] = v1): { registry: CloudMapRegistry; events: string[][] } {
    const registry = new CloudMapRegistry();
    registry.applySeeds(seeds);
    return { registry, events: recordChanges(registry) };
  }

  it('creates what is missing and announces the services it changed', () => {
    const registry = new CloudMapRegistry();
    const events = recordChanges(registry);
    expect(registry.applySeeds(v1)).toEqual({ registered: 3, deregistered: 0 });
    expect(events).toEqual([[ORDERS, serviceKey('apps.local', 'users')].sort()]);
    expect(registry.discover('apps.local', 'orders')?.map((i) => i.id)).toEqual(['o-1', 'o-2']);
    expect(registry.state().instances.every((i) => i.seed !== undefined)).toBe(true);
  });

  it('re-applying the same seeds changes nothing and announces nothing', () => {
    const { registry, events } = seeded();
    const before = registry.state();
    // Equal declarations, not the same objects (a reload reads the files again).
    expect(registry.applySeeds(JSON.parse(JSON.stringify(v1)) as ServiceSeed[])).toEqual({
      registered: 0,
      deregistered: 0,
    });
    expect(registry.applySeeds(v1)).toEqual({ registered: 0, deregistered: 0 });
    expect(events).toEqual([]);
    expect(registry.state()).toEqual(before);
  });

  it('a declaration with the same attributes in another order is the same declaration', () => {
    const { registry, events } = seeded();
    const reordered = [
      seed([
        { id: 'o-1', attributes: { AWS_INSTANCE_PORT: '8080', AWS_INSTANCE_IPV4: '10.0.0.1' } },
        v1[0]!.instances[1]!,
      ]),
      v1[1]!,
    ];
    expect(registry.applySeeds(reordered)).toEqual({ registered: 0, deregistered: 0 });
    expect(events).toEqual([]);
  });

  it("changing an instance's attributes in the seed updates it", () => {
    const { registry, events } = seeded();
    const changed = [
      seed([
        { id: 'o-1', attributes: { AWS_INSTANCE_IPV4: '10.0.0.11', AWS_INSTANCE_PORT: '9090' } },
        v1[0]!.instances[1]!,
      ]),
      v1[1]!,
    ];
    expect(registry.applySeeds(changed)).toEqual({ registered: 1, deregistered: 0 });
    expect(events).toEqual([[ORDERS]]);
    expect(registry.instance(serviceId(registry, 'apps.local', 'orders'), 'o-1').attributes).toEqual({
      AWS_INSTANCE_IPV4: '10.0.0.11',
      AWS_INSTANCE_PORT: '9090',
    });
    // A removed attribute is gone too.
    const fewer = [seed([{ id: 'o-1', attributes: { AWS_INSTANCE_IPV4: '10.0.0.11' } }, v1[0]!.instances[1]!]), v1[1]!];
    expect(registry.applySeeds(fewer)).toEqual({ registered: 1, deregistered: 0 });
    expect(registry.instance(serviceId(registry, 'apps.local', 'orders'), 'o-1').attributes).toEqual({
      AWS_INSTANCE_IPV4: '10.0.0.11',
    });
  });

  it('removing an instance from the seeds deregisters it; removing a whole service deregisters its instances', () => {
    const { registry, events } = seeded();
    expect(registry.applySeeds([seed([v1[0]!.instances[0]!]), v1[1]!])).toEqual({ registered: 0, deregistered: 1 });
    expect(events).toEqual([[ORDERS]]);
    expect(registry.discover('apps.local', 'orders')?.map((i) => i.id)).toEqual(['o-1']);
    expect(registry.applySeeds([])).toEqual({ registered: 0, deregistered: 2 });
    expect(registry.discover('apps.local', 'orders')).toEqual([]);
    expect(registry.discover('apps.local', 'users')).toEqual([]);
  });

  it('never removes an instance registered through the API', () => {
    const { registry } = seeded();
    const orders = serviceId(registry, 'apps.local', 'orders');
    registry.registerInstance({
      serviceId: orders,
      instanceId: 'api-1',
      attributes: { AWS_INSTANCE_IPV4: '10.9.0.1' },
    });
    expect(registry.applySeeds(v1)).toEqual({ registered: 0, deregistered: 0 });
    expect(registry.applySeeds([seed([v1[0]!.instances[0]!])])).toEqual({ registered: 0, deregistered: 2 });
    expect(registry.applySeeds([])).toEqual({ registered: 0, deregistered: 1 });
    expect(registry.discover('apps.local', 'orders')).toEqual([
      { id: 'api-1', attributes: { AWS_INSTANCE_IPV4: '10.9.0.1' }, health: 'HEALTHY' },
    ]);
  });

  it('an instance the API registered again (taking it over from the files) is neither rewritten nor removed by the seeds', () => {
    // registerInstance: "it also takes the instance over from the mesh files"; applySeeds:
    // "Registrations made through the API are left alone".
    const { registry } = seeded();
    const orders = serviceId(registry, 'apps.local', 'orders');
    registry.registerInstance({ serviceId: orders, instanceId: 'o-1', attributes: { AWS_INSTANCE_IPV4: '10.9.9.9' } });
    // A reload with unchanged files.
    registry.applySeeds(v1);
    expect(registry.instance(orders, 'o-1').attributes).toEqual({ AWS_INSTANCE_IPV4: '10.9.9.9' });
    // The files drop it.
    registry.applySeeds([seed([v1[0]!.instances[1]!]), v1[1]!]);
    expect(registry.discover('apps.local', 'orders')?.map((i) => i.id)).toEqual(['o-1', 'o-2']);
  });

  it('keeps a health status set through the API while the declaration is unchanged', () => {
    const { registry, events } = seeded();
    const orders = serviceId(registry, 'apps.local', 'orders');
    registry.setCustomHealth(orders, 'o-1', 'UNHEALTHY'); // declared without health
    registry.setCustomHealth(orders, 'o-2', 'UNHEALTHY'); // declared HEALTHY
    expect(events).toHaveLength(2);
    expect(registry.applySeeds(v1)).toEqual({ registered: 0, deregistered: 0 });
    expect(events).toHaveLength(2);
    expect(registry.discover('apps.local', 'orders')?.map((i) => [i.id, i.health])).toEqual([
      ['o-1', 'UNHEALTHY'],
      ['o-2', 'UNHEALTHY'],
    ]);
    // New attributes without a declared health keep the health;
    // a declared health is applied when the declaration changes.
    const changed = [
      seed([
        { id: 'o-1', attributes: { AWS_INSTANCE_IPV4: '10.0.0.21' } },
        { id: 'o-2', attributes: { AWS_INSTANCE_IPV4: '10.0.0.22' }, health: 'HEALTHY' },
      ]),
      v1[1]!,
    ];
    expect(registry.applySeeds(changed)).toEqual({ registered: 2, deregistered: 0 });
    expect(registry.discover('apps.local', 'orders')?.map((i) => [i.id, i.health])).toEqual([
      ['o-1', 'UNHEALTHY'],
      ['o-2', 'HEALTHY'],
    ]);
  });

  it('fills services that exist already and keeps their settings', () => {
    const registry = new CloudMapRegistry();
    const op = registry.createNamespace({ name: 'apps.local', type: 'HTTP' });
    const created = registry.createService({ name: 'orders', namespaceId: op.targets.NAMESPACE! });
    expect(registry.applySeeds([seed([{ id: 'o-1', attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' } }])])).toEqual({
      registered: 1,
      deregistered: 0,
    });
    expect(registry.services()).toHaveLength(1);
    expect(registry.service(created.id).healthCheckCustomConfig).toBeUndefined();
    expect(registry.discover('apps.local', 'orders')).toEqual([
      { id: 'o-1', attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' }, health: 'UNKNOWN' },
    ]);
  });

  describe('seedProblems', () => {
    function dnsRegistry(): CloudMapRegistry {
      const registry = new CloudMapRegistry();
      const op = registry.createNamespace({ name: 'internal.example', type: 'DNS_PRIVATE', vpc: 'vpc-1' });
      registry.createService({
        name: 'web',
        namespaceId: op.targets.NAMESPACE!,
        dnsConfig: { routingPolicy: 'MULTIVALUE', dnsRecords: [{ type: 'A', ttl: 60 }] },
      });
      registry.createService({
        name: 'db',
        namespaceId: op.targets.NAMESPACE!,
        dnsConfig: { routingPolicy: 'MULTIVALUE', dnsRecords: [{ type: 'SRV', ttl: 60 }] },
      });
      return registry;
    }

    it("reports an instance missing the attribute its service's DNS record needs, by index, without changing anything", () => {
      const registry = dnsRegistry();
      const before = registry.state();
      const web = seed(
        [
          { id: 'w-1', attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' } },
          { id: 'w-2', attributes: { AWS_INSTANCE_PORT: '80' } },
        ],
        'web',
        'internal.example',
      );
      expect(registry.seedProblems(web)).toEqual([
        { index: 1, message: expect.stringMatching(/A record.*AWS_INSTANCE_IPV4 is required/) },
      ]);
      const db = seed([{ id: 'd-1', attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' } }], 'db', 'internal.example');
      expect(registry.seedProblems(db)).toEqual([{ index: 0, message: expect.stringMatching(/AWS_INSTANCE_PORT/) }]);
      expect(registry.state()).toEqual(before);
      // A service that does not exist yet has no DNS records: only the general attribute rules apply.
      expect(registry.seedProblems(seed([{ id: 'x', attributes: {} }], 'new', 'internal.example'))).toEqual([]);
      expect(registry.seedProblems(seed([{ id: 'x', attributes: { AWS_INSTANCE_IPV4: '10.0.0.300' } }]))).toEqual([
        { index: 0, message: expect.stringMatching(/AWS_INSTANCE_IPV4 must be an IPv4 address/) },
      ]);
    });

    it('checks a seed asked about again against the service as it is now, and a changed seed afresh', () => {
      const registry = new CloudMapRegistry();
      const op = registry.createNamespace({ name: 'internal.example', type: 'DNS_PRIVATE', vpc: 'vpc-1' });
      const api = seed([{ id: 'a-1', attributes: { AWS_INSTANCE_PORT: '80' } }], 'api', 'internal.example');
      // No such service yet: nothing asks for an address.
      expect(registry.seedProblems(api)).toEqual([]);
      expect(registry.seedProblems(api)).toEqual([]);
      // The service is created (through the API) with an A record: the very same seed now lacks its address.
      registry.createService({
        name: 'api',
        namespaceId: op.targets.NAMESPACE!,
        dnsConfig: { routingPolicy: 'MULTIVALUE', dnsRecords: [{ type: 'A', ttl: 60 }] },
      });
      expect(registry.seedProblems(api)).toEqual([
        { index: 0, message: expect.stringMatching(/A record.*AWS_INSTANCE_IPV4 is required/) },
      ]);
      // The file changed: its seed (a new object) is judged on what it says now.
      const fixed = seed([{ id: 'a-1', attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' } }], 'api', 'internal.example');
      expect(registry.seedProblems(fixed)).toEqual([]);
      const broken = seed([{ id: 'a-1', attributes: { AWS_INSTANCE_IPV4: '10.0.0.300' } }], 'api', 'internal.example');
      expect(registry.seedProblems(broken)).toEqual([
        { index: 0, message: expect.stringMatching(/AWS_INSTANCE_IPV4 must be an IPv4 address/) },
      ]);
    });

    it('points at the file and line of the instance, and offlineRegistry refuses to apply', () => {
      const text =
        'kind: CloudMapService\nnamespace: internal.example\nname: web\ninstances:\n  - id: w-1\n    attributes: { AWS_INSTANCE_IPV4: 10.0.0.1 }\n  - id: w-2\n    attributes: { AWS_INSTANCE_PORT: 80 }\n';
      const { dir, result } = load({ 'web.yaml': text });
      if (!result.ok) throw new Error('did not load');
      const registry = dnsRegistry();
      const before = registry.state();
      expect(
        seedProblems(registry, result.cloudMapSeeds).map((p) => formatProblem(p).replaceAll(dir + path.sep, './')),
      ).toEqual([
        './web.yaml:8:17: error: CloudMapService/web: service web has an A record, so AWS_INSTANCE_IPV4 is required (instances[1].attributes)',
      ]);
      const offline = offlineRegistry(result.cloudMapSeeds, registry);
      expect(offline.ok).toBe(false);
      expect(registry.state()).toEqual(before);
    });
  });
});

describe('a registry whose persist throws', () => {
  function failingRegistry(): { registry: CloudMapRegistry; fail: (on: boolean) => void; saved: RegistryChange[] } {
    let failing = false;
    const saved: RegistryChange[] = [];
    const registry = new CloudMapRegistry(undefined, {
      persist: (change) => {
        if (failing) throw new Error('ENOSPC: no space left on device');
        saved.push(change);
      },
    });
    return { registry, fail: (on) => (failing = on), saved };
  }

  it('persists every change, and only what changed: replaying the changes gives the state', () => {
    const { registry, saved } = failingRegistry();
    const op = registry.createNamespace({ name: 'apps.local', type: 'HTTP' });
    const service = registry.createService({
      name: 'orders',
      namespaceId: op.targets.NAMESPACE!,
      healthCheckCustomConfig: {},
    });
    registry.registerInstance({
      serviceId: service.id,
      instanceId: 'o-1',
      attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' },
    });
    registry.registerInstance({
      serviceId: service.id,
      instanceId: 'o-2',
      attributes: { AWS_INSTANCE_IPV4: '10.0.0.2' },
    });
    registry.deregisterInstance(service.id, 'o-1');
    expect(saved).toHaveLength(5);
    // A registration puts the instance, the service (its revision) and the operation; nothing else.
    expect(Object.keys(saved[3]!.put).sort()).toEqual(['instances', 'operations', 'services']);
    expect(saved[3]!.put.instances!.map((i) => i.id)).toEqual(['o-2']);
    expect(saved[4]!.delete.instances).toEqual([`${service.id}\u0000o-1`]);
    const tables = stateTables(emptyState());
    for (const change of saved) applyChange(tables, change);
    const replayed = new CloudMapRegistry({
      format: 'meshd-cloud-map/v1',
      namespaces: [...tables.namespaces.values()],
      services: [...tables.services.values()],
      instances: [...tables.instances.values()],
      operations: [...tables.operations.values()],
      appliedSeeds: [...tables.appliedSeeds.values()],
    });
    expect(replayed.state()).toEqual(registry.state());
  });

  it('registerInstance throws, the registry is unchanged and no change is announced', () => {
    const { registry, fail } = failingRegistry();
    const op = registry.createNamespace({ name: 'apps.local', type: 'HTTP' });
    const service = registry.createService({
      name: 'orders',
      namespaceId: op.targets.NAMESPACE!,
      healthCheckCustomConfig: {},
    });
    registry.registerInstance({
      serviceId: service.id,
      instanceId: 'o-1',
      attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' },
    });
    const events = recordChanges(registry);
    const before = registry.state();
    fail(true);

    expect(() =>
      registry.registerInstance({
        serviceId: service.id,
        instanceId: 'o-2',
        attributes: { AWS_INSTANCE_IPV4: '10.0.0.2' },
      }),
    ).toThrow(/no space left/);
    expect(() =>
      registry.registerInstance({
        serviceId: service.id,
        instanceId: 'o-1',
        attributes: { AWS_INSTANCE_IPV4: '10.0.0.99' },
      }),
    ).toThrow(/no space left/);
    expect(registry.state()).toEqual(before);
    expect(registry.instance(service.id, 'o-1').attributes).toEqual({ AWS_INSTANCE_IPV4: '10.0.0.1' });
    expect(registry.service(service.id).revision).toBe(before.services[0]!.revision);
    expect(events).toEqual([]);

    // The other writes too.
    expect(() => registry.deregisterInstance(service.id, 'o-1')).toThrow(/no space left/);
    expect(() => registry.setCustomHealth(service.id, 'o-1', 'UNHEALTHY')).toThrow(/no space left/);
    expect(() => registry.createNamespace({ name: 'other.local', type: 'HTTP' })).toThrow(/no space left/);
    expect(() => registry.createService({ name: 'users', namespaceId: op.targets.NAMESPACE! })).toThrow(
      /no space left/,
    );
    expect(() => registry.applySeeds([seed([{ id: 's-1', attributes: {} }], 'seeded')])).toThrow(/no space left/);
    expect(registry.state()).toEqual(before);
    expect(events).toEqual([]);

    // Once saving works again, the same call succeeds.
    fail(false);
    registry.registerInstance({
      serviceId: service.id,
      instanceId: 'o-2',
      attributes: { AWS_INSTANCE_IPV4: '10.0.0.2' },
    });
    expect(registry.instances(service.id).map((i) => i.id)).toEqual(['o-1', 'o-2']);
    expect(events).toEqual([[ORDERS]]);
  });
});

describe('changes made elsewhere (a shared store)', () => {
  /** A registry that keeps each change's undo, as the shared store does to revert a write its transaction lost. */
  function undoable(): { registry: CloudMapRegistry; undos: RegistryChange[] } {
    const undos: RegistryChange[] = [];
    const registry = new CloudMapRegistry(undefined, { persist: (_change, undo) => undos.push(undo) });
    return { registry, undos };
  }

  it("each write's undo, applied, gives back exactly the registry before it, and announces the service again", () => {
    const { registry, undos } = undoable();
    const op = registry.createNamespace({ name: 'apps.local', type: 'HTTP' });
    const service = registry.createService({
      name: 'orders',
      namespaceId: op.targets.NAMESPACE!,
      healthCheckCustomConfig: {},
    });
    const writes: (() => unknown)[] = [
      () =>
        registry.registerInstance({
          serviceId: service.id,
          instanceId: 'o-1',
          attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' },
        }),
      () =>
        registry.registerInstance({
          serviceId: service.id,
          instanceId: 'o-1',
          attributes: { AWS_INSTANCE_IPV4: '10.0.0.9' },
        }),
      () => registry.setCustomHealth(service.id, 'o-1', 'UNHEALTHY'),
      () => registry.applySeeds([seed([{ id: 's-1', attributes: { AWS_INSTANCE_IPV4: '10.0.1.1' } }], 'billing')]),
      () => registry.deregisterInstance(service.id, 'o-1'),
      () => registry.createService({ name: 'users', namespaceId: op.targets.NAMESPACE! }),
    ];
    for (const write of writes) {
      const before = registry.state();
      const events = recordChanges(registry);
      write();
      const announced = events.splice(0);
      registry.applyChange(undos.at(-1)!);
      expect(registry.state()).toEqual(before);
      // What the write announced, its undo announces again: proxies sent the write are sent the registry without it.
      expect(events).toEqual(announced);
      write();
    }
    expect(registry.instances(service.id)).toEqual([]);
    expect(registry.discover('apps.local', 'billing')?.map((i) => i.id)).toEqual(['s-1']);
  });

  it('replaceState loads a whole registry and announces only the services whose instances differ', () => {
    const { registry: source } = undoable();
    const op = source.createNamespace({ name: 'apps.local', type: 'HTTP' });
    const orders = source.createService({ name: 'orders', namespaceId: op.targets.NAMESPACE! });
    const users = source.createService({ name: 'users', namespaceId: op.targets.NAMESPACE! });
    source.registerInstance({ serviceId: orders.id, instanceId: 'o-1', attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' } });
    source.registerInstance({ serviceId: users.id, instanceId: 'u-1', attributes: { AWS_INSTANCE_IPV4: '10.0.0.2' } });
    const { registry } = undoable();
    const events = recordChanges(registry);
    registry.replaceState(source.state());
    expect(registry.state()).toEqual(source.state());
    expect(events.flat().sort()).toEqual([`apps.local\u0000orders`, `apps.local\u0000users`]);
    events.length = 0;
    source.registerInstance({ serviceId: users.id, instanceId: 'u-2', attributes: { AWS_INSTANCE_IPV4: '10.0.0.3' } });
    registry.replaceState(source.state());
    expect(registry.discover('apps.local', 'users')?.map((i) => i.id)).toEqual(['u-1', 'u-2']);
    expect(events).toEqual([[`apps.local\u0000users`]]);
    // The same instances with another address, or another health: changed too.
    events.length = 0;
    source.registerInstance({ serviceId: orders.id, instanceId: 'o-1', attributes: { AWS_INSTANCE_IPV4: '10.0.0.9' } });
    registry.replaceState(source.state());
    expect(events).toEqual([[`apps.local\u0000orders`]]);
    events.length = 0;
    registry.replaceState(source.state());
    expect(events).toEqual([]);
  });

  it('an array of instances a caller holds never changes under it', () => {
    const { registry } = undoable();
    const op = registry.createNamespace({ name: 'apps.local', type: 'HTTP' });
    const service = registry.createService({ name: 'orders', namespaceId: op.targets.NAMESPACE! });
    const register = (id: string) =>
      registry.registerInstance({
        serviceId: service.id,
        instanceId: id,
        attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' },
      });
    register('b');
    register('d');
    const held = registry.instances(service.id);
    register('a');
    register('c');
    registry.deregisterInstance(service.id, 'd');
    expect(held.map((i) => i.id)).toEqual(['b', 'd']);
    expect(registry.instances(service.id).map((i) => i.id)).toEqual(['a', 'b', 'c']);
    const discovered = registry.discover('apps.local', 'orders');
    register('e');
    expect(discovered?.map((i) => i.id)).toEqual(['a', 'b', 'c']);
    expect(registry.discover('apps.local', 'orders')?.map((i) => i.id)).toEqual(['a', 'b', 'c', 'e']);
  });
});
