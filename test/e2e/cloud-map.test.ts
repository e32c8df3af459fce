// The local Cloud Map registry end to end: the real AWS SDK (@aws-sdk/client-servicediscovery)
// registers instances with a real `meshd serve`, and a real Envoy sidecar reaches them through
// the virtual nodes that find their service in Cloud Map. What a user sees: traffic reaches
// exactly the registered, healthy, matching instances; a change reaches Envoy at once (the
// delay is measured and printed, not asserted); registrations survive a restart and a crash;
// the IP preference picks each instance's address.
import {
  CreateHttpNamespaceCommand,
  CreateServiceCommand,
  DeregisterInstanceCommand,
  DiscoverInstancesCommand,
  GetInstancesHealthStatusCommand,
  GetOperationCommand,
  ListInstancesCommand,
  RegisterInstanceCommand,
  ServiceDiscoveryClient,
  UpdateInstanceCustomHealthStatusCommand,
} from '@aws-sdk/client-servicediscovery';
import { performance } from 'node:perf_hooks';
import type { DiscoveryRequest } from '../../src/generated/envoy/service/discovery/v3/DiscoveryRequest';
import type { DiscoveryResponse__Output } from '../../src/generated/envoy/service/discovery/v3/DiscoveryResponse';
import { decodeResource } from '../../src/xds/protos';
import { TypeUrl } from '../../src/xds/type-urls';
import { AdsTestClient } from '../helpers/ads-client';
import { describeWithEnvoy } from '../helpers/envoy';
import { waitFor } from '../helpers/processes';
import { answeredBy, startSidecar, targetNodeYaml, type Sidecar } from '../helpers/sidecar-harness';
import { startHttpUpstream, type HttpUpstream } from '../helpers/upstreams';

// The SDK plays a user's app here; its notice that its versions from
// 2027 on need Node 22 is not about meshd (package.json engines).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const MESH = 'cm';
const NODE_ID = `mesh/${MESH}/virtualNode/client`;
const NAMESPACE = 'cm.local';
const ORDERS = 'orders.cm.local';
const ORDERS_V2 = 'orders-v2.cm.local';
const LEGACY = 'legacy.cm.local';
const USERS = 'users.cm.local';
const ORDERS_CLUSTER = `cds_egress_${MESH}_orders_http_8080`;
const ORDERS_V2_CLUSTER = `cds_egress_${MESH}_orders-v2_http_8080`;
const LEGACY_CLUSTER = `cds_egress_${MESH}_legacy_http_8080`;

/**
 * client → orders (Cloud Map cm.local/orders), orders-v2 (the same service, only instances with
 * version=v2), legacy (cm.local/legacy, IPv6 only) and users (DNS, a plain test upstream).
 */
function meshYaml(usersPort: number): string {
  const cloudMapNode = (name: string, discovery: string) =>
    `kind: VirtualNode\nmesh: ${MESH}\nname: ${name}\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { awsCloudMap: ${discovery} }\n`;
  const service = (name: string, node: string) =>
    `kind: VirtualService\nmesh: ${MESH}\nname: ${name}\nspec: { provider: { virtualNode: { virtualNodeName: ${node} } } }\n`;
  return [
    `kind: Mesh\nname: ${MESH}\n`,
    `kind: VirtualNode\nmesh: ${MESH}\nname: client\nspec:\n  backends:\n${[ORDERS, ORDERS_V2, LEGACY, USERS].map((s) => `    - virtualService: { virtualServiceName: ${s} }\n`).join('')}`,
    cloudMapNode('orders', `{ namespaceName: ${NAMESPACE}, serviceName: orders }`),
    cloudMapNode(
      'orders-v2',
      `{ namespaceName: ${NAMESPACE}, serviceName: orders, attributes: [{ key: version, value: v2 }] }`,
    ),
    cloudMapNode('legacy', `{ namespaceName: ${NAMESPACE}, serviceName: legacy, ipPreference: IPv6_ONLY }`),
    targetNodeYaml(MESH, 'users', usersPort),
    service(ORDERS, 'orders'),
    service(ORDERS_V2, 'orders-v2'),
    service(LEGACY, 'legacy'),
    service(USERS, 'users'),
  ].join('---\n');
}

interface ProxyEntry {
  nodeId: string;
  client: string;
  stream: number;
  types: Record<string, { state: string; ackedVersion: string | null; lastNack: { message: string } | null }>;
}

interface Assignment {
  cluster_name: string;
  endpoints?: {
    lb_endpoints?: { endpoint?: { address?: { socket_address?: { address: string; port_value: number } } } }[];
  }[];
}

/** `address:port` of every endpoint of an assignment, sorted. */
function endpointsOf(assignment: Assignment | undefined): string[] {
  return (assignment?.endpoints ?? [])
    .flatMap((locality) => locality.lb_endpoints ?? [])
    .map((e) => `${e.endpoint?.address?.socket_address?.address}:${e.endpoint?.address?.socket_address?.port_value}`)
    .sort();
}

const local = (u: HttpUpstream) => `127.0.0.1:${u.port}`;

/** Sorted min / median / max, rounded to 0.1 ms. */
function summary(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 10) / 10;
  return `min ${r(s[0]!)} median ${r(s[Math.floor(s.length / 2)]!)} max ${r(s[s.length - 1]!)} (n=${s.length})`;
}

describeWithEnvoy('local Cloud Map registry: the AWS SDK registers, Envoy routes (EDS over ADS)', (envoyBin) => {
  let users: HttpUpstream;
  let ordersA: HttpUpstream;
  let ordersB: HttpUpstream;
  let sidecar: Sidecar;
  let sdk: ServiceDiscoveryClient;
  let namespaceId: string;
  let ordersServiceId: string;

  beforeAll(async () => {
    users = await startHttpUpstream('users');
    ordersA = await startHttpUpstream('orders-a');
    ordersB = await startHttpUpstream('orders-b');
    sidecar = await startSidecar({ envoyBin, meshYaml: meshYaml(users.port), nodeId: NODE_ID, ready: { host: USERS } });
    sdk = new ServiceDiscoveryClient({
      endpoint: `http://127.0.0.1:${sidecar.meshdAdminPort}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
      // DiscoverInstances has the host prefix 'data-' in AWS's model; the local endpoint has none.
      disableHostPrefix: true,
    });
  }, 60000);

  afterAll(async () => {
    sdk?.destroy();
    await sidecar?.stop();
    for (const u of [users, ordersA, ordersB]) await u?.close();
  });

  /** `n` requests one after the other; how many each upstream (or Envoy, `HTTP <status>`) answered. */
  async function spread(host: string, n: number): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const who = answeredBy(await sidecar.request(host, { timeoutMs: 5000 }));
      counts[who] = (counts[who] ?? 0) + 1;
    }
    return counts;
  }

  /** Every ADS stream meshd has open for the client node id (the Envoy and any test clients). */
  async function streams(): Promise<ProxyEntry[]> {
    return (JSON.parse(await sidecar.meshdAdmin('/v1/proxies')) as ProxyEntry[]).filter((p) => p.nodeId === NODE_ID);
  }

  async function envoyStream(): Promise<ProxyEntry | undefined> {
    return (await streams()).find((p) => p.client === 'envoy');
  }

  /**
   * Waits until the real Envoy ACKed every type meshd wants it to have now. A registry change is
   * compiled and sent before the API call answers, so after a call this means Envoy has it.
   */
  async function envoySynced(what: string, timeoutMs = 10000): Promise<ProxyEntry> {
    let seen: ProxyEntry | undefined;
    return waitFor(
      `Envoy to ACK ${what}`,
      async () => {
        const e = (seen = await envoyStream());
        return e && e.types.EDS && Object.values(e.types).every((t) => t.state === 'SYNCED') ? e : undefined;
      },
      timeoutMs,
      20,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last seen: ${JSON.stringify(seen)}\n${sidecar.logs()}`);
    });
  }

  /** The endpoints meshd serves the client node for a cluster (GET /v1/config/<node id>). */
  async function servedEndpoints(cluster: string): Promise<string[]> {
    const config = JSON.parse(await sidecar.meshdAdmin(`/v1/config/${encodeURIComponent(NODE_ID)}`)) as {
      endpoints?: Assignment[];
    };
    const assignment = (config.endpoints ?? []).find((a) => a.cluster_name === cluster);
    if (!assignment)
      throw new Error(
        `meshd serves no assignment for ${cluster}; it serves ${JSON.stringify((config.endpoints ?? []).map((a) => a.cluster_name))}`,
      );
    return endpointsOf(assignment);
  }

  const register = (serviceId: string, instanceId: string, attributes: Record<string, string>) =>
    sdk.send(new RegisterInstanceCommand({ ServiceId: serviceId, InstanceId: instanceId, Attributes: attributes }));
  const attributesOf = (u: HttpUpstream, extra: Record<string, string> = {}) => ({
    AWS_INSTANCE_IPV4: '127.0.0.1',
    AWS_INSTANCE_PORT: String(u.port),
    ...extra,
  });
  const setHealth = (instanceId: string, status: 'HEALTHY' | 'UNHEALTHY') =>
    sdk.send(
      new UpdateInstanceCustomHealthStatusCommand({
        ServiceId: ordersServiceId,
        InstanceId: instanceId,
        Status: status,
      }),
    );

  async function createNamespace(name: string): Promise<string> {
    const { OperationId } = await sdk.send(new CreateHttpNamespaceCommand({ Name: name }));
    const { Operation } = await sdk.send(new GetOperationCommand({ OperationId: OperationId! }));
    expect(Operation).toMatchObject({ Type: 'CREATE_NAMESPACE', Status: 'SUCCESS' });
    return Operation!.Targets!.NAMESPACE!;
  }

  it('before anything is registered: the Cloud Map service answers 503 no healthy upstream, the DNS one works, EDS is SYNCED', async () => {
    expect((await sidecar.proxyStatus())?.EDS?.state).toBe('SYNCED');
    for (const host of [ORDERS, ORDERS_V2, LEGACY]) {
      const r = await sidecar.request(host);
      expect({ host, status: r.status, body: r.body }).toEqual({ host, status: 503, body: 'no healthy upstream' });
    }
    expect(answeredBy(await sidecar.request(USERS))).toBe('users');
    // Envoy accepted the (empty) assignment: the cluster warmed with no hosts.
    expect(await sidecar.stat(`cluster.${ORDERS_CLUSTER}.update_success`)).toBeGreaterThan(0);
    expect(await sidecar.stat(`cluster.${ORDERS_CLUSTER}.membership_total`)).toBe(0);
    expect(await servedEndpoints(ORDERS_CLUSTER)).toEqual([]);
  });

  it('registers two instances with the SDK, and requests through the sidecar reach both', async () => {
    namespaceId = await createNamespace(NAMESPACE);
    const { Service } = await sdk.send(
      new CreateServiceCommand({ Name: 'orders', NamespaceId: namespaceId, HealthCheckCustomConfig: {} }),
    );
    expect(Service).toMatchObject({ Name: 'orders', NamespaceId: namespaceId, HealthCheckCustomConfig: {} });
    ordersServiceId = Service!.Id!;

    await register(ordersServiceId, 'orders-a', attributesOf(ordersA, { version: 'v1' }));
    await register(ordersServiceId, 'orders-b', attributesOf(ordersB, { version: 'v2' }));
    // Served at once: the registry change was compiled before the calls answered.
    expect(await servedEndpoints(ORDERS_CLUSTER)).toEqual([local(ordersA), local(ordersB)].sort());
    await envoySynced('the two instances');

    const counts = await spread(ORDERS, 40);
    expect(Object.keys(counts).sort()).toEqual(['orders-a', 'orders-b']);
    expect(counts['orders-a']! + counts['orders-b']!).toBe(40);
    expect(answeredBy(await sidecar.request(USERS))).toBe('users');

    const discovered = await sdk.send(
      new DiscoverInstancesCommand({ NamespaceName: NAMESPACE, ServiceName: 'orders' }),
    );
    expect(discovered.Instances?.map((i) => [i.InstanceId, i.HealthStatus, i.Attributes?.version]).sort()).toEqual([
      ['orders-a', 'HEALTHY', 'v1'],
      ['orders-b', 'HEALTHY', 'v2'],
    ]);
  });

  it('pushes a registration to every subscribed ADS client and to Envoy at once (measured, printed)', async () => {
    const N = 5;
    const REGISTRATIONS = 10;
    const node: DiscoveryRequest['node'] = { id: NODE_ID, cluster: 'client' };
    const edsNames = [ORDERS_CLUSTER];
    const clients = Array.from({ length: N }, () => new AdsTestClient(sidecar.xdsPort));
    const extra: HttpUpstream[] = [];
    try {
      // Subscribe like Envoy: every cluster (wildcard CDS), then the endpoints of the Cloud Map one.
      await Promise.all(
        clients.map(async (c) => {
          c.send({ node, type_url: TypeUrl.Cluster });
          const cds = await c.next(5000);
          expect(cds.type_url).toBe(TypeUrl.Cluster);
          expect(cds.resources.map((r) => decodeResource(r.type_url, r.value).name)).toContain(ORDERS_CLUSTER);
          c.ack(cds, node);
          c.send({ node, type_url: TypeUrl.Endpoint, resource_names: edsNames });
          const eds = await c.next(5000);
          c.ack(eds, node, edsNames);
          expect(endpointsIn(eds)).toEqual([local(ordersA), local(ordersB)].sort());
        }),
      );

      /** Reads (and ACKs) responses until an EDS one satisfies `done`; resolves with when it arrived. */
      const until = async (c: AdsTestClient, done: (endpoints: string[]) => boolean, what: string): Promise<number> => {
        for (;;) {
          const res = await c.next(5000).catch((err: Error) => {
            throw new Error(`an ADS client waiting for ${what}: ${err.message}\n${sidecar.logs()}`);
          });
          const arrived = performance.now();
          const isEds = res.type_url === TypeUrl.Endpoint;
          c.ack(res, node, isEds ? edsNames : []);
          if (isEds && done(endpointsIn(res))) return arrived;
        }
      };
      const everyStreamSynced = () =>
        waitFor('every stream of the node to ACK the latest endpoints', async () => {
          const all = await streams();
          return all.length === N + 1 && all.every((s) => s.types.EDS?.state === 'SYNCED') ? true : undefined;
        });

      const toClients: number[] = [];
      const toEnvoy: number[] = [];
      const callTimes: number[] = [];
      const deregisterToClients: number[] = [];
      for (let i = 0; i < REGISTRATIONS; i++) {
        const upstream = await startHttpUpstream(`orders-new-${i}`);
        extra.push(upstream);
        const address = local(upstream);
        const seenByClients = clients.map((c) =>
          until(c, (eps) => eps.includes(address), `${upstream.name}'s endpoint`),
        );

        const t0 = performance.now();
        const seenByEnvoy = (async () => {
          for (;;) {
            const r = await sidecar.request(ORDERS, { timeoutMs: 5000 });
            if (answeredBy(r) === upstream.name) return performance.now();
            if (performance.now() - t0 > 15000)
              throw new Error(`Envoy did not route to ${upstream.name} within 15 s; last answer: ${answeredBy(r)}`);
          }
        })();
        await register(ordersServiceId, upstream.name, attributesOf(upstream, { version: 'v9' }));
        callTimes.push(performance.now() - t0);
        const arrivals = await Promise.all(seenByClients);
        expect(arrivals).toHaveLength(N);
        toClients.push(...arrivals.map((t) => t - t0));
        toEnvoy.push((await seenByEnvoy) - t0);

        const goneFromClients = clients.map((c) =>
          until(c, (eps) => !eps.includes(address), `${upstream.name}'s endpoint to go`),
        );
        const t1 = performance.now();
        await sdk.send(new DeregisterInstanceCommand({ ServiceId: ordersServiceId, InstanceId: upstream.name }));
        deregisterToClients.push(...(await Promise.all(goneFromClients)).map((t) => t - t1));
        // Every stream ACKed the removal, so the next registration is not held behind a response in flight.
        await everyStreamSynced();
      }

      // Each registration reached every client and Envoy (else the waits above failed).
      expect(toClients).toHaveLength(N * REGISTRATIONS);
      expect(toEnvoy).toHaveLength(REGISTRATIONS);
      console.log(
        [
          `cloud-map RegisterInstance call (SDK round trip) ms: ${summary(callTimes)}`,
          `cloud-map register→EDS ms: ${summary(toClients)} [${N} ADS clients × ${REGISTRATIONS} registrations]`,
          `cloud-map register→Envoy routes ms: ${summary(toEnvoy)} [first request answered by the new instance]`,
          `cloud-map deregister→EDS ms: ${summary(deregisterToClients)}`,
        ].join('\n'),
      );
    } finally {
      for (const c of clients) c.close();
      for (const u of extra) await u.close();
    }
    await waitFor("the test clients' streams to close", async () =>
      (await streams()).length === 1 ? true : undefined,
    );
    expect(await servedEndpoints(ORDERS_CLUSTER)).toEqual([local(ordersA), local(ordersB)].sort());
  }, 60000);

  it('follows custom health: an UNHEALTHY instance gets no traffic, HEALTHY again does; a deregistered one none', async () => {
    await setHealth('orders-a', 'UNHEALTHY');
    expect(await servedEndpoints(ORDERS_CLUSTER)).toEqual([local(ordersB)]);
    await envoySynced('orders-a UNHEALTHY');
    expect(await spread(ORDERS, 30)).toEqual({ 'orders-b': 30 });
    const healthy = await sdk.send(
      new DiscoverInstancesCommand({ NamespaceName: NAMESPACE, ServiceName: 'orders', HealthStatus: 'HEALTHY' }),
    );
    expect(healthy.Instances?.map((i) => i.InstanceId)).toEqual(['orders-b']);

    await setHealth('orders-a', 'HEALTHY');
    await envoySynced('orders-a HEALTHY again');
    const both = await spread(ORDERS, 30);
    expect(Object.keys(both).sort()).toEqual(['orders-a', 'orders-b']);

    await sdk.send(new DeregisterInstanceCommand({ ServiceId: ordersServiceId, InstanceId: 'orders-b' }));
    expect(await servedEndpoints(ORDERS_CLUSTER)).toEqual([local(ordersA)]);
    await envoySynced('orders-b deregistered');
    expect(await spread(ORDERS, 30)).toEqual({ 'orders-a': 30 });
  });

  it('filters on attributes: the version=v2 node reaches only the instances registered with version v2', async () => {
    // Only orders-a (v1) is registered now: nothing matches the filter.
    expect(await servedEndpoints(ORDERS_V2_CLUSTER)).toEqual([]);
    expect(answeredBy(await sidecar.request(ORDERS_V2))).toBe('HTTP 503');

    await register(ordersServiceId, 'orders-b', attributesOf(ordersB, { version: 'v2' }));
    expect(await servedEndpoints(ORDERS_V2_CLUSTER)).toEqual([local(ordersB)]);
    await envoySynced('orders-b (v2) registered again');
    expect(await spread(ORDERS_V2, 30)).toEqual({ 'orders-b': 30 });
    expect(Object.keys(await spread(ORDERS, 30)).sort()).toEqual(['orders-a', 'orders-b']);

    // Registering again replaces the attributes: orders-a moves into v2, then back out.
    await register(ordersServiceId, 'orders-a', attributesOf(ordersA, { version: 'v2' }));
    await envoySynced('orders-a re-registered as v2');
    expect(Object.keys(await spread(ORDERS_V2, 30)).sort()).toEqual(['orders-a', 'orders-b']);
    await register(ordersServiceId, 'orders-a', attributesOf(ordersA, { version: 'v1' }));
    expect(await servedEndpoints(ORDERS_V2_CLUSTER)).toEqual([local(ordersB)]);
    await envoySynced('orders-a re-registered as v1');
    expect(await spread(ORDERS_V2, 30)).toEqual({ 'orders-b': 30 });
  });

  /**
   * Restarts meshd with `signal`; checks that the new one has every registration (through the SDK
   * and in what it serves), and waits until Envoy reconnected to it and ACKed what it serves.
   */
  async function restartAndCheck(signal: 'SIGTERM' | 'SIGKILL', bHealth: 'HEALTHY' | 'UNHEALTHY'): Promise<ProxyEntry> {
    const t0 = performance.now();
    await sidecar.restartMeshd({ kill: signal });
    const serving = performance.now() - t0;

    const { Instances } = await sdk.send(new ListInstancesCommand({ ServiceId: ordersServiceId }));
    expect(Instances?.map((i) => [i.Id, i.Attributes])).toEqual([
      ['orders-a', attributesOf(ordersA, { version: 'v1' })],
      ['orders-b', attributesOf(ordersB, { version: 'v2' })],
    ]);
    const { Status } = await sdk.send(new GetInstancesHealthStatusCommand({ ServiceId: ordersServiceId }));
    expect(Status).toEqual({ 'orders-a': 'HEALTHY', 'orders-b': bHealth });
    const bServed = bHealth === 'HEALTHY' ? [local(ordersB)] : [];
    expect(await servedEndpoints(ORDERS_CLUSTER)).toEqual([local(ordersA), ...bServed].sort());
    expect(await servedEndpoints(ORDERS_V2_CLUSTER)).toEqual(bServed);

    // Envoy reconnects on its own (the new meshd lists its stream only then).
    const after = await envoySynced(`its configuration from the meshd started after ${signal}`, 30000);
    console.log(
      `cloud-map restart (${signal}): meshd serving again after ${Math.round(serving)} ms, Envoy re-synced after ${Math.round(performance.now() - t0)} ms`,
    );
    return after;
  }

  it('keeps the registrations across a meshd restart (SIGTERM): Envoy reconnects holding the very endpoints served', async () => {
    const before = await envoySynced('everything before the restart');
    const after = await restartAndCheck('SIGTERM', 'HEALTHY');
    // Envoy reports the version it holds; the new meshd, with the same registry, serves the same one.
    expect(after.types.EDS!.ackedVersion).toBe(before.types.EDS!.ackedVersion);
    expect(Object.keys(await spread(ORDERS, 30)).sort()).toEqual(['orders-a', 'orders-b']);
    expect(await spread(ORDERS_V2, 10)).toEqual({ 'orders-b': 10 });
  }, 45000);

  it('keeps a change answered just before a crash (SIGKILL), and the new meshd pushes the next one', async () => {
    // Killed right after the call answered: the answer means the change is on disk.
    await setHealth('orders-b', 'UNHEALTHY');
    await restartAndCheck('SIGKILL', 'UNHEALTHY');
    expect(await spread(ORDERS, 30)).toEqual({ 'orders-a': 30 });
    expect(answeredBy(await sidecar.request(ORDERS_V2))).toBe('HTTP 503');

    await setHealth('orders-b', 'HEALTHY');
    expect(await servedEndpoints(ORDERS_CLUSTER)).toEqual([local(ordersA), local(ordersB)].sort());
    await envoySynced('orders-b HEALTHY after the crash');
    expect(Object.keys(await spread(ORDERS, 30)).sort()).toEqual(['orders-a', 'orders-b']);
  }, 45000);

  it('IPv6_ONLY: an instance with only AWS_INSTANCE_IPV4 gives no endpoint, one with AWS_INSTANCE_IPV6 does', async () => {
    // No custom health check: its instances are UNKNOWN, and served.
    const { Service } = await sdk.send(new CreateServiceCommand({ Name: 'legacy', NamespaceId: namespaceId }));
    const legacyId = Service!.Id!;
    await register(legacyId, 'v4-only', { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: '9101' });
    expect(await servedEndpoints(LEGACY_CLUSTER)).toEqual([]);

    // No AWS_INSTANCE_PORT: the port of the virtual node's listener.
    await register(legacyId, 'v6', { AWS_INSTANCE_IPV6: '::1' });
    expect(await servedEndpoints(LEGACY_CLUSTER)).toEqual(['::1:8080']);
    await register(legacyId, 'dual', {
      AWS_INSTANCE_IPV4: '127.0.0.1',
      AWS_INSTANCE_IPV6: '::1',
      AWS_INSTANCE_PORT: '9103',
    });
    expect(await servedEndpoints(LEGACY_CLUSTER)).toEqual(['::1:8080', '::1:9103']);

    const discovered = await sdk.send(
      new DiscoverInstancesCommand({ NamespaceName: NAMESPACE, ServiceName: 'legacy' }),
    );
    expect(discovered.Instances?.map((i) => [i.InstanceId, i.HealthStatus]).sort()).toEqual([
      ['dual', 'UNKNOWN'],
      ['v4-only', 'UNKNOWN'],
      ['v6', 'UNKNOWN'],
    ]);
    // The other services are untouched.
    expect(await servedEndpoints(ORDERS_CLUSTER)).toEqual([local(ordersA), local(ordersB)].sort());
    const envoy = await envoyStream();
    console.log(
      `cloud-map IPv6_ONLY: Envoy's EDS after the ::1 endpoints: ${envoy?.types.EDS?.state}${envoy?.types.EDS?.lastNack ? ` (${envoy.types.EDS.lastNack.message})` : ''}`,
    );
  });
});

/** The endpoints (`address:port`) of the orders cluster in an EDS response. */
function endpointsIn(res: DiscoveryResponse__Output): string[] {
  const assignment = res.resources
    .map((r) => decodeResource(r.type_url, r.value) as unknown as Assignment)
    .find((a) => a.cluster_name === ORDERS_CLUSTER);
  return endpointsOf(assignment);
}
