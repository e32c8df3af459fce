// The local Cloud Map's API contract, checked with the real AWS SDK client against a real
// `meshd serve`: every operation meshd answers, AWS's error shapes for bad requests (and that a
// bad request changes nothing, in memory or on disk), SigV4 credentials, persistence across a
// restart, and what happens when the state file is broken or cannot be written.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import {
  CreateHttpNamespaceCommand,
  CreatePrivateDnsNamespaceCommand,
  CreateServiceCommand,
  DeleteNamespaceCommand,
  DeleteServiceCommand,
  DeregisterInstanceCommand,
  DiscoverInstancesCommand,
  GetInstanceCommand,
  GetInstancesHealthStatusCommand,
  GetNamespaceCommand,
  GetOperationCommand,
  GetServiceCommand,
  ListInstancesCommand,
  ListNamespacesCommand,
  ListServicesCommand,
  RegisterInstanceCommand,
  ServiceDiscoveryClient,
  UpdateInstanceCustomHealthStatusCommand,
  type RegisterInstanceCommandInput,
} from '@aws-sdk/client-servicediscovery';
import { openRegistryReadOnly } from '../../src/discovery/cloud-map/state-file';
import { QUICKSTART_MESH } from '../helpers/mesh-text';
import { freePort, getOk, MESHD_BIN, startMeshd, tmpDir, waitFor, type RunningProcess } from '../helpers/processes';

// The SDK plays a user's app here; its notice that its versions from
// 2027 on need Node 22 is not about meshd (package.json engines).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const TARGET = 'Route53AutoNaming_v20170314.';
const AWS_JSON = 'application/x-amz-json-1.1';
const ANY_CREDENTIALS = { accessKeyId: 'x', secretAccessKey: 'y' };

/** A copy of the quickstart mesh in a fresh folder (meshd watches it; the example stays untouched). */
function meshCopy(): string {
  const dir = tmpDir('cm-mesh-');
  fs.copyFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), path.join(dir, 'mesh.yaml'));
  return dir;
}

function sdkClient(
  adminPort: number,
  credentials: { accessKeyId: string; secretAccessKey: string } = ANY_CREDENTIALS,
): ServiceDiscoveryClient {
  // DiscoverInstances has the host prefix `data-`, which the SDK would prepend to 127.0.0.1.
  return new ServiceDiscoveryClient({
    endpoint: `http://127.0.0.1:${adminPort}`,
    region: 'us-east-1',
    credentials,
    maxAttempts: 1,
    disableHostPrefix: true,
  });
}

interface Meshd {
  readonly process: RunningProcess;
  readonly adminPort: number;
  readonly statePath: string;
  readonly client: ServiceDiscoveryClient;
  stop(): Promise<number | null>;
}

/** `meshd serve` on free ports with its registry at `statePath`, once /readyz answers 200. */
async function startServe(statePath: string, extra: string[] = [], env: Record<string, string> = {}): Promise<Meshd> {
  const adminPort = await freePort();
  const xdsPort = await freePort();
  const args = [
    'serve',
    '--mesh',
    meshCopy(),
    '--xds-address',
    '127.0.0.1',
    '--xds-port',
    `${xdsPort}`,
    '--admin-port',
    `${adminPort}`,
    '--cloud-map-state',
    statePath,
    ...extra,
  ];
  const proc = Object.keys(env).length === 0 ? startMeshd(args) : startMeshd(args, env);
  const outcome = await waitFor('meshd to be ready', async () => {
    if (proc.child.exitCode !== null) return 'exited';
    return (await getOk(adminPort, '/readyz')) === 'ready\n' ? 'ready' : undefined;
  }).catch(async (err: Error) => {
    await proc.stop();
    throw new Error(`${err.message}\nstderr: ${proc.stderr()}`);
  });
  if (outcome === 'exited') throw new Error(`meshd exited with ${proc.child.exitCode}: ${proc.stderr()}`);
  const client = sdkClient(adminPort);
  return {
    process: proc,
    adminPort,
    statePath,
    client,
    stop: async () => {
      client.destroy();
      return proc.stop();
    },
  };
}

/** Runs `meshd serve` expecting it to exit by itself (a bad flag or state file). */
async function serveExit(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ status: number | null; stderr: string; stdout: string }> {
  const ports = [
    '--xds-address',
    '127.0.0.1',
    '--xds-port',
    `${await freePort()}`,
    '--admin-port',
    `${await freePort()}`,
  ];
  const result = spawnSync(process.execPath, [MESHD_BIN, 'serve', '--mesh', meshCopy(), ...ports, ...args], {
    encoding: 'utf8',
    timeout: 15000,
    env: { ...process.env, ...env },
  });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

/** serve stopped at start with exit 1 and exactly one line, no stack trace; that line. */
function oneLineStartError({ status, stderr }: { status: number | null; stderr: string }): string {
  expect(status).toBe(1);
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

interface SdkError {
  readonly name: string;
  readonly message: string;
  readonly $metadata: { httpStatusCode?: number; requestId?: string };
  readonly [field: string]: unknown;
}

/** The error a call fails with; fails the test if it succeeds. */
async function failure(call: Promise<unknown>): Promise<SdkError> {
  let result: unknown;
  try {
    result = await call;
  } catch (err) {
    return err as SdkError;
  }
  throw new Error(`expected the call to fail, it answered ${JSON.stringify(result)}`);
}

/** What the registry holds, as the admin API shows it and as the state file stores it. */
async function snapshot(meshd: Meshd): Promise<{ contents: unknown; file: string }> {
  const contents = JSON.parse(await getOk(meshd.adminPort, '/v1/cloud-map')) as unknown;
  const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file).toString('base64') : null);
  return { contents, file: `${read(meshd.statePath)} ${read(`${meshd.statePath}.journal`)}` };
}

/**
 * Asserts that a failing call is answered with `type` (HTTP 400), a message matching `message`, and changes nothing.
 */
async function expectRejected(
  meshd: Meshd,
  call: () => Promise<unknown>,
  type: string,
  message: RegExp,
  status = 400,
): Promise<SdkError> {
  const before = await snapshot(meshd);
  const err = await failure(call());
  expect({ name: err.name, status: err.$metadata.httpStatusCode }).toEqual({ name: type, status });
  expect(err.message).toMatch(message);
  expect(err.$metadata.requestId).toEqual(expect.any(String));
  expect(await snapshot(meshd)).toEqual(before);
  return err;
}

interface RawAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
}

/** A raw POST / to the admin port (no SDK, no signature). */
function rawPost(port: number, headers: Record<string, string>, body: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('request timed out')));
    req.end(body);
  });
}

function ids<T extends { Id?: string }>(items: readonly T[] | undefined): string[] {
  return (items ?? []).map((i) => i.Id!).sort();
}

describe('the local Cloud Map API, called with the AWS SDK', () => {
  let meshd: Meshd;
  let client: ServiceDiscoveryClient;
  let data: ServiceDiscoveryClient;
  // Filled in as the tests go: each builds on the registry the previous ones left.
  let httpNs: string;
  let dnsNs: string;
  let orders: string; // HTTP namespace, custom health check
  let plain: string; // HTTP namespace, no health check
  let dnsA: string; // DNS namespace, an A record
  let dnsSrv: string; // DNS namespace, an SRV record
  let registerOp: string;

  beforeAll(async () => {
    meshd = await startServe(path.join(tmpDir('cm-api-'), 'cm.json'));
    client = meshd.client;
    data = sdkClient(meshd.adminPort);
  }, 30000);

  afterAll(async () => {
    data?.destroy();
    await meshd?.stop();
  });

  it('creates an HTTP and a private DNS namespace, each as an operation that has succeeded', async () => {
    const created = await client.send(
      new CreateHttpNamespaceCommand({ Name: 'apps.local', Description: 'the apps', CreatorRequestId: 'req-1' }),
    );
    expect(created.OperationId).toEqual(expect.any(String));
    const op = (await client.send(new GetOperationCommand({ OperationId: created.OperationId! }))).Operation!;
    expect(op).toMatchObject({
      Id: created.OperationId,
      Type: 'CREATE_NAMESPACE',
      Status: 'SUCCESS',
      Targets: { NAMESPACE: expect.stringMatching(/^ns-/) },
    });
    expect(op.CreateDate).toBeInstanceOf(Date);
    httpNs = op.Targets!.NAMESPACE!;

    const dns = await client.send(
      new CreatePrivateDnsNamespaceCommand({ Name: 'internal.example', Vpc: 'vpc-12345678' }),
    );
    const dnsOp = (await client.send(new GetOperationCommand({ OperationId: dns.OperationId! }))).Operation!;
    expect(dnsOp).toMatchObject({ Type: 'CREATE_NAMESPACE', Status: 'SUCCESS' });
    dnsNs = dnsOp.Targets!.NAMESPACE!;

    const got = (await client.send(new GetNamespaceCommand({ Id: httpNs }))).Namespace!;
    expect(got).toMatchObject({
      Id: httpNs,
      Name: 'apps.local',
      Type: 'HTTP',
      Description: 'the apps',
      CreatorRequestId: 'req-1',
      ServiceCount: 0,
    });
    expect(got.Arn).toContain(`namespace/${httpNs}`);
    expect(got.Properties?.HttpProperties?.HttpName).toBe('apps.local');
    expect((await client.send(new GetNamespaceCommand({ Id: dnsNs }))).Namespace).toMatchObject({
      Name: 'internal.example',
      Type: 'DNS_PRIVATE',
    });
  });

  it('lists namespaces, filtered by TYPE and by NAME', async () => {
    expect(ids((await client.send(new ListNamespacesCommand({}))).Namespaces)).toEqual([httpNs, dnsNs].sort());
    const byType = await client.send(
      new ListNamespacesCommand({ Filters: [{ Name: 'TYPE', Values: ['HTTP'], Condition: 'EQ' }] }),
    );
    expect(byType.Namespaces?.map((n) => n.Name)).toEqual(['apps.local']);
    const dnsOnly = await client.send(
      new ListNamespacesCommand({ Filters: [{ Name: 'TYPE', Values: ['DNS_PRIVATE'] }] }),
    );
    expect(dnsOnly.Namespaces?.map((n) => n.Name)).toEqual(['internal.example']);
    const byName = await client.send(
      new ListNamespacesCommand({ Filters: [{ Name: 'NAME', Values: ['internal.example'], Condition: 'EQ' }] }),
    );
    expect(ids(byName.Namespaces)).toEqual([dnsNs]);
    const none = await client.send(
      new ListNamespacesCommand({
        Filters: [
          { Name: 'NAME', Values: ['nothing.local'] },
          { Name: 'TYPE', Values: ['HTTP'] },
        ],
      }),
    );
    expect(none.Namespaces).toEqual([]);
  });

  it('creates services (custom health check, plain, DNS records) and lists them by namespace', async () => {
    const o = (
      await client.send(
        new CreateServiceCommand({
          Name: 'orders',
          NamespaceId: httpNs,
          HealthCheckCustomConfig: {},
          CreatorRequestId: 'svc-req',
        }),
      )
    ).Service!;
    expect(o).toMatchObject({
      Name: 'orders',
      NamespaceId: httpNs,
      Type: 'HTTP',
      HealthCheckCustomConfig: {},
      InstanceCount: 0,
    });
    expect(o.Id).toMatch(/^srv-/);
    orders = o.Id!;
    plain = (await client.send(new CreateServiceCommand({ Name: 'plain', NamespaceId: httpNs }))).Service!.Id!;
    const a = (
      await client.send(
        new CreateServiceCommand({
          Name: 'web',
          NamespaceId: dnsNs,
          DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 60 }] },
        }),
      )
    ).Service!;
    expect(a).toMatchObject({
      Type: 'DNS_HTTP',
      DnsConfig: { NamespaceId: dnsNs, RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 60 }] },
    });
    dnsA = a.Id!;
    dnsSrv = (
      await client.send(
        new CreateServiceCommand({
          Name: 'db',
          NamespaceId: dnsNs,
          DnsConfig: { DnsRecords: [{ Type: 'SRV', TTL: 30 }] },
        }),
      )
    ).Service!.Id!;

    expect((await client.send(new GetServiceCommand({ Id: orders }))).Service).toMatchObject({
      Id: orders,
      Name: 'orders',
      CreatorRequestId: 'svc-req',
    });
    const inHttp = await client.send(
      new ListServicesCommand({ Filters: [{ Name: 'NAMESPACE_ID', Values: [httpNs], Condition: 'EQ' }] }),
    );
    expect(ids(inHttp.Services)).toEqual([orders, plain].sort());
    const inDns = await client.send(new ListServicesCommand({ Filters: [{ Name: 'NAMESPACE_ID', Values: [dnsNs] }] }));
    expect(inDns.Services?.map((s) => s.Name).sort()).toEqual(['db', 'web']);
    expect(ids((await client.send(new ListServicesCommand({}))).Services)).toEqual(
      [orders, plain, dnsA, dnsSrv].sort(),
    );
    expect((await client.send(new GetNamespaceCommand({ Id: httpNs }))).Namespace?.ServiceCount).toBe(2);
  });

  it('registers instances and reads them back: GetInstance, ListInstances page by page, GetOperation targets', async () => {
    const register = (InstanceId: string, Attributes: Record<string, string>) =>
      client.send(new RegisterInstanceCommand({ ServiceId: orders, InstanceId, Attributes }));
    const first = await register('o-1', {
      AWS_INSTANCE_IPV4: '10.0.0.1',
      AWS_INSTANCE_PORT: '8080',
      zone: 'a',
      stage: 'prod',
    });
    registerOp = first.OperationId!;
    await register('o-2', { AWS_INSTANCE_IPV4: '10.0.0.2', AWS_INSTANCE_PORT: '8080', zone: 'b', stage: 'prod' });
    await register('o-3', {
      AWS_INSTANCE_IPV4: '10.0.0.3',
      AWS_INSTANCE_PORT: '8080',
      zone: 'a',
      stage: 'canary',
      AWS_INIT_HEALTH_STATUS: 'UNHEALTHY',
    });

    expect((await client.send(new GetOperationCommand({ OperationId: registerOp }))).Operation).toMatchObject({
      Id: registerOp,
      Type: 'REGISTER_INSTANCE',
      Status: 'SUCCESS',
      Targets: { INSTANCE: 'o-1', SERVICE: orders },
    });
    const got = (await client.send(new GetInstanceCommand({ ServiceId: orders, InstanceId: 'o-1' }))).Instance;
    // The SDK fills CreatorRequestId with an idempotency token when the caller gives none.
    expect(got).toEqual({
      Id: 'o-1',
      CreatorRequestId: expect.any(String),
      Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '8080', zone: 'a', stage: 'prod' },
    });

    // One instance per page, following NextToken to the end.
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await client.send(
        new ListInstancesCommand({ ServiceId: orders, MaxResults: 1, ...(token ? { NextToken: token } : {}) }),
      );
      expect(page.Instances).toHaveLength(1);
      seen.push(page.Instances![0]!.Id!);
      token = page.NextToken;
      pages += 1;
    } while (token && pages < 10);
    expect(seen).toEqual(['o-1', 'o-2', 'o-3']);
    expect(pages).toBe(3);
    const all = await client.send(new ListInstancesCommand({ ServiceId: orders }));
    expect(all.Instances?.map((i) => i.Id)).toEqual(['o-1', 'o-2', 'o-3']);
    expect(all.NextToken).toBeUndefined();
    expect((await client.send(new GetServiceCommand({ Id: orders }))).Service?.InstanceCount).toBe(3);

    // A DNS service's instance with the attribute its A record needs.
    await client.send(
      new RegisterInstanceCommand({
        ServiceId: dnsA,
        InstanceId: 'web-1',
        Attributes: { AWS_INSTANCE_IPV4: '10.1.0.1' },
      }),
    );
    await client.send(
      new RegisterInstanceCommand({
        ServiceId: plain,
        InstanceId: 'p-1',
        Attributes: { AWS_INSTANCE_IPV4: '10.2.0.1' },
      }),
    );
  });

  it('reports and updates custom health: GetInstancesHealthStatus, UpdateInstanceCustomHealthStatus', async () => {
    const health = await client.send(new GetInstancesHealthStatusCommand({ ServiceId: orders }));
    expect(health.Status).toEqual({ 'o-1': 'HEALTHY', 'o-2': 'HEALTHY', 'o-3': 'UNHEALTHY' });
    await client.send(
      new UpdateInstanceCustomHealthStatusCommand({ ServiceId: orders, InstanceId: 'o-2', Status: 'UNHEALTHY' }),
    );
    const named = await client.send(
      new GetInstancesHealthStatusCommand({ ServiceId: orders, Instances: ['o-2', 'o-3'] }),
    );
    expect(named.Status).toEqual({ 'o-2': 'UNHEALTHY', 'o-3': 'UNHEALTHY' });
    await client.send(
      new UpdateInstanceCustomHealthStatusCommand({ ServiceId: orders, InstanceId: 'o-2', Status: 'HEALTHY' }),
    );
    expect((await client.send(new GetInstancesHealthStatusCommand({ ServiceId: orders }))).Status).toEqual({
      'o-1': 'HEALTHY',
      'o-2': 'HEALTHY',
      'o-3': 'UNHEALTHY',
    });
    // A service without a custom health check reports UNKNOWN.
    expect((await client.send(new GetInstancesHealthStatusCommand({ ServiceId: plain }))).Status).toEqual({
      'p-1': 'UNKNOWN',
    });
    const paged = await client.send(new GetInstancesHealthStatusCommand({ ServiceId: orders, MaxResults: 2 }));
    expect(Object.keys(paged.Status ?? {})).toEqual(['o-1', 'o-2']);
    const rest = await client.send(
      new GetInstancesHealthStatusCommand({ ServiceId: orders, MaxResults: 2, NextToken: paged.NextToken! }),
    );
    expect(rest.Status).toEqual({ 'o-3': 'UNHEALTHY' });
  });

  it('discovers instances by QueryParameters, OptionalParameters and HealthStatus', async () => {
    const discover = async (input: Partial<ConstructorParameters<typeof DiscoverInstancesCommand>[0]>) => {
      const out = await data.send(
        new DiscoverInstancesCommand({ NamespaceName: 'apps.local', ServiceName: 'orders', ...input }),
      );
      return (out.Instances ?? []).map((i) => i.InstanceId).sort();
    };
    const full = await data.send(new DiscoverInstancesCommand({ NamespaceName: 'apps.local', ServiceName: 'orders' }));
    expect(full.Instances?.find((i) => i.InstanceId === 'o-1')).toEqual({
      InstanceId: 'o-1',
      NamespaceName: 'apps.local',
      ServiceName: 'orders',
      HealthStatus: 'HEALTHY',
      Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '8080', zone: 'a', stage: 'prod' },
    });
    expect(full.InstancesRevision).toEqual(expect.any(Number));

    // HealthStatus: HEALTHY by default.
    expect(await discover({})).toEqual(['o-1', 'o-2']);
    expect(await discover({ HealthStatus: 'HEALTHY' })).toEqual(['o-1', 'o-2']);
    expect(await discover({ HealthStatus: 'UNHEALTHY' })).toEqual(['o-3']);
    expect(await discover({ HealthStatus: 'ALL' })).toEqual(['o-1', 'o-2', 'o-3']);
    expect(await discover({ HealthStatus: 'HEALTHY_OR_ELSE_ALL', QueryParameters: { stage: 'canary' } })).toEqual([
      'o-3',
    ]);
    expect(await discover({ HealthStatus: 'HEALTHY_OR_ELSE_ALL', QueryParameters: { zone: 'a' } })).toEqual(['o-1']);
    // QueryParameters must all match.
    expect(await discover({ HealthStatus: 'ALL', QueryParameters: { zone: 'a' } })).toEqual(['o-1', 'o-3']);
    expect(await discover({ HealthStatus: 'ALL', QueryParameters: { zone: 'a', stage: 'prod' } })).toEqual(['o-1']);
    expect(await discover({ HealthStatus: 'ALL', QueryParameters: { zone: 'c' } })).toEqual([]);
    // OptionalParameters narrow the answer only when some instance matches them.
    expect(await discover({ HealthStatus: 'ALL', OptionalParameters: { zone: 'b' } })).toEqual(['o-2']);
    expect(await discover({ HealthStatus: 'ALL', OptionalParameters: { zone: 'nowhere' } })).toEqual([
      'o-1',
      'o-2',
      'o-3',
    ]);
    expect(
      await discover({ HealthStatus: 'ALL', QueryParameters: { stage: 'prod' }, OptionalParameters: { zone: 'b' } }),
    ).toEqual(['o-2']);
    expect(await discover({ HealthStatus: 'ALL', MaxResults: 1 })).toHaveLength(1);

    // A service without a health check: every instance, UNKNOWN.
    const plainOut = await data.send(
      new DiscoverInstancesCommand({ NamespaceName: 'apps.local', ServiceName: 'plain', HealthStatus: 'HEALTHY' }),
    );
    expect(plainOut.Instances?.map((i) => [i.InstanceId, i.HealthStatus])).toEqual([['p-1', 'UNKNOWN']]);

    // The revision moves when instances change.
    await client.send(
      new UpdateInstanceCustomHealthStatusCommand({ ServiceId: orders, InstanceId: 'o-3', Status: 'HEALTHY' }),
    );
    const after = await data.send(new DiscoverInstancesCommand({ NamespaceName: 'apps.local', ServiceName: 'orders' }));
    expect(after.InstancesRevision).toBeGreaterThan(full.InstancesRevision!);
    expect(after.Instances?.map((i) => i.InstanceId).sort()).toEqual(['o-1', 'o-2', 'o-3']);
    await client.send(
      new UpdateInstanceCustomHealthStatusCommand({ ServiceId: orders, InstanceId: 'o-3', Status: 'UNHEALTHY' }),
    );
  });

  it('deregisters an instance, as an operation', async () => {
    await client.send(
      new RegisterInstanceCommand({
        ServiceId: orders,
        InstanceId: 'o-tmp',
        Attributes: { AWS_INSTANCE_IPV4: '10.0.0.9' },
      }),
    );
    const { OperationId } = await client.send(
      new DeregisterInstanceCommand({ ServiceId: orders, InstanceId: 'o-tmp' }),
    );
    expect((await client.send(new GetOperationCommand({ OperationId: OperationId! }))).Operation).toMatchObject({
      Type: 'DEREGISTER_INSTANCE',
      Status: 'SUCCESS',
      Targets: { INSTANCE: 'o-tmp', SERVICE: orders },
    });
    expect((await client.send(new ListInstancesCommand({ ServiceId: orders }))).Instances?.map((i) => i.Id)).toEqual([
      'o-1',
      'o-2',
      'o-3',
    ]);
  });

  describe('bad requests get AWS-style errors and change nothing', () => {
    it('unknown namespace: NamespaceNotFound', async () => {
      await expectRejected(
        meshd,
        () => client.send(new CreateServiceCommand({ Name: 'ghost', NamespaceId: 'ns-doesnotexist0000' })),
        'NamespaceNotFound',
        /ns-doesnotexist0000/,
      );
      await expectRejected(
        meshd,
        () => data.send(new DiscoverInstancesCommand({ NamespaceName: 'nowhere.local', ServiceName: 'orders' })),
        'NamespaceNotFound',
        /nowhere\.local/,
      );
      await expectRejected(
        meshd,
        () => client.send(new GetNamespaceCommand({ Id: 'ns-doesnotexist0000' })),
        'NamespaceNotFound',
        /ns-doesnotexist0000/,
      );
      await expectRejected(
        meshd,
        () => client.send(new DeleteNamespaceCommand({ Id: 'ns-doesnotexist0000' })),
        'NamespaceNotFound',
        /ns-doesnotexist0000/,
      );
    });

    it('unknown service: ServiceNotFound', async () => {
      await expectRejected(
        meshd,
        () =>
          client.send(
            new RegisterInstanceCommand({
              ServiceId: 'srv-nope',
              InstanceId: 'i-1',
              Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' },
            }),
          ),
        'ServiceNotFound',
        /srv-nope/,
      );
      await expectRejected(
        meshd,
        () => data.send(new DiscoverInstancesCommand({ NamespaceName: 'apps.local', ServiceName: 'nope' })),
        'ServiceNotFound',
        /nope/,
      );
      await expectRejected(
        meshd,
        () => client.send(new ListInstancesCommand({ ServiceId: 'srv-nope' })),
        'ServiceNotFound',
        /srv-nope/,
      );
      await expectRejected(
        meshd,
        () => client.send(new DeleteServiceCommand({ Id: 'srv-nope' })),
        'ServiceNotFound',
        /srv-nope/,
      );
    });

    it('unknown instance: InstanceNotFound; unknown operation: OperationNotFound', async () => {
      await expectRejected(
        meshd,
        () => client.send(new GetInstanceCommand({ ServiceId: orders, InstanceId: 'o-99' })),
        'InstanceNotFound',
        /o-99/,
      );
      await expectRejected(
        meshd,
        () => client.send(new DeregisterInstanceCommand({ ServiceId: orders, InstanceId: 'o-99' })),
        'InstanceNotFound',
        /o-99/,
      );
      await expectRejected(
        meshd,
        () =>
          client.send(
            new UpdateInstanceCustomHealthStatusCommand({ ServiceId: orders, InstanceId: 'o-99', Status: 'UNHEALTHY' }),
          ),
        'InstanceNotFound',
        /o-99/,
      );
      await expectRejected(
        meshd,
        () => client.send(new GetInstancesHealthStatusCommand({ ServiceId: orders, Instances: ['o-1', 'o-99'] })),
        'InstanceNotFound',
        /o-99/,
      );
      await expectRejected(
        meshd,
        () => client.send(new GetOperationCommand({ OperationId: 'nosuchoperation0000000000000000000' })),
        'OperationNotFound',
        /nosuchoperation/,
      );
    });

    it('missing or invalid attributes: InvalidInput naming the attribute', async () => {
      const register = (ServiceId: string, Attributes: Record<string, string> | undefined) => () =>
        client.send(
          new RegisterInstanceCommand({ ServiceId, InstanceId: 'new-1', Attributes } as RegisterInstanceCommandInput),
        );
      await expectRejected(meshd, register(dnsA, { AWS_INSTANCE_PORT: '80' }), 'InvalidInput', /AWS_INSTANCE_IPV4/);
      await expectRejected(
        meshd,
        register(dnsSrv, { AWS_INSTANCE_IPV4: '10.1.0.2' }),
        'InvalidInput',
        /AWS_INSTANCE_PORT/,
      );
      await expectRejected(
        meshd,
        register(dnsA, { AWS_INSTANCE_IPV4: '999.1.2.3' }),
        'InvalidInput',
        /AWS_INSTANCE_IPV4.*999\.1\.2\.3/,
      );
      await expectRejected(
        meshd,
        register(orders, { AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '70000' }),
        'InvalidInput',
        /AWS_INSTANCE_PORT.*70000/,
      );
      await expectRejected(meshd, register(orders, undefined), 'InvalidInput', /Attributes is required/);
      // Re-registering an existing instance with bad attributes keeps the old ones.
      await expectRejected(
        meshd,
        () =>
          client.send(
            new RegisterInstanceCommand({
              ServiceId: dnsA,
              InstanceId: 'web-1',
              Attributes: { AWS_INSTANCE_IPV6: '::1' },
            }),
          ),
        'InvalidInput',
        /AWS_INSTANCE_IPV4/,
      );
      expect(
        (await client.send(new GetInstanceCommand({ ServiceId: dnsA, InstanceId: 'web-1' }))).Instance?.Attributes,
      ).toEqual({ AWS_INSTANCE_IPV4: '10.1.0.1' });
      // An instance id AWS would refuse.
      await expectRejected(
        meshd,
        () =>
          client.send(
            new RegisterInstanceCommand({
              ServiceId: orders,
              InstanceId: 'bad id!',
              Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' },
            }),
          ),
        'InvalidInput',
        /InstanceId/,
      );
    });

    it('custom health on a service without HealthCheckCustomConfig: CustomHealthNotFound', async () => {
      await expectRejected(
        meshd,
        () =>
          client.send(
            new UpdateInstanceCustomHealthStatusCommand({ ServiceId: plain, InstanceId: 'p-1', Status: 'UNHEALTHY' }),
          ),
        'CustomHealthNotFound',
        /plain/,
      );
    });

    it('duplicates: NamespaceAlreadyExists with NamespaceId, ServiceAlreadyExists with ServiceId', async () => {
      const ns = await expectRejected(
        meshd,
        () => client.send(new CreateHttpNamespaceCommand({ Name: 'apps.local' })),
        'NamespaceAlreadyExists',
        /apps\.local/,
      );
      expect(ns.NamespaceId).toBe(httpNs);
      expect(ns.CreatorRequestId).toBe('req-1');
      const dns = await expectRejected(
        meshd,
        () => client.send(new CreatePrivateDnsNamespaceCommand({ Name: 'internal.example', Vpc: 'vpc-1' })),
        'NamespaceAlreadyExists',
        /internal\.example/,
      );
      expect(dns.NamespaceId).toBe(dnsNs);
      const svc = await expectRejected(
        meshd,
        () => client.send(new CreateServiceCommand({ Name: 'orders', NamespaceId: httpNs })),
        'ServiceAlreadyExists',
        /orders/,
      );
      expect(svc.ServiceId).toBe(orders);
      expect(svc.CreatorRequestId).toBe('svc-req');
    });

    it('deleting what is in use: ResourceInUse', async () => {
      await expectRejected(
        meshd,
        () => client.send(new DeleteServiceCommand({ Id: orders })),
        'ResourceInUse',
        /orders.*instances/,
      );
      await expectRejected(
        meshd,
        () => client.send(new DeleteNamespaceCommand({ Id: httpNs })),
        'ResourceInUse',
        /apps\.local.*services/,
      );
    });

    it('other invalid input: DnsConfig in an HTTP namespace, missing required fields, filters', async () => {
      await expectRejected(
        meshd,
        () =>
          client.send(
            new CreateServiceCommand({
              Name: 'dnsy',
              NamespaceId: httpNs,
              DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 60 }] },
            }),
          ),
        'InvalidInput',
        /HTTP namespace/,
      );
      await expectRejected(
        meshd,
        () => client.send(new CreateServiceCommand({ Name: 'nowhere' } as never)),
        'InvalidInput',
        /NamespaceId/,
      );
      await expectRejected(
        meshd,
        () => client.send(new CreatePrivateDnsNamespaceCommand({ Name: 'novpc.example' } as never)),
        'InvalidInput',
        /Vpc is required/,
      );
      await expectRejected(
        meshd,
        () =>
          client.send(
            new ListNamespacesCommand({
              Filters: [{ Name: 'TYPE', Values: ['HTTP', 'DNS_PRIVATE'], Condition: 'EQ' }],
            }),
          ),
        'InvalidInput',
        /EQ/,
      );
      await expectRejected(
        meshd,
        () => client.send(new ListInstancesCommand({ ServiceId: orders, NextToken: 'garbage!' })),
        'InvalidInput',
        /NextToken/,
      );
      await expectRejected(
        meshd,
        () =>
          client.send(
            new UpdateInstanceCustomHealthStatusCommand({
              ServiceId: orders,
              InstanceId: 'o-1',
              Status: 'SICK' as never,
            }),
          ),
        'InvalidInput',
        /Status/,
      );
    });

    describe('protocol errors, sent raw', () => {
      const headers = (target?: string) => ({
        'content-type': AWS_JSON,
        ...(target ? { 'x-amz-target': target } : {}),
      });

      async function expectRawError(
        hdrs: Record<string, string>,
        body: string,
        type: string,
        message: RegExp,
        status = 400,
      ): Promise<void> {
        const before = await snapshot(meshd);
        const answer = await rawPost(meshd.adminPort, hdrs, body);
        expect(answer.status).toBe(status);
        expect(answer.headers['content-type']).toBe(AWS_JSON);
        expect(answer.headers['x-amzn-requestid']).toEqual(expect.stringMatching(/^[0-9a-f-]{36}$/));
        const parsed = JSON.parse(answer.text) as { __type: string; Message: string };
        expect(parsed.__type).toBe(type);
        expect(parsed.Message).toMatch(message);
        expect(await snapshot(meshd)).toEqual(before);
      }

      it('malformed JSON: SerializationException', async () => {
        await expectRawError(headers(`${TARGET}ListServices`), '{bad', 'SerializationException', /not valid JSON/);
        await expectRawError(
          headers(`${TARGET}CreateHttpNamespace`),
          '{"Name": "half.local"',
          'SerializationException',
          /not valid JSON/,
        );
        await expectRawError(headers(`${TARGET}ListServices`), '[1,2]', 'SerializationException', /JSON object/);
      });

      it('a wrong JSON type: SerializationException', async () => {
        await expectRawError(
          headers(`${TARGET}RegisterInstance`),
          JSON.stringify({ ServiceId: 5, InstanceId: 'x', Attributes: {} }),
          'SerializationException',
          /ServiceId/,
        );
        await expectRawError(
          headers(`${TARGET}RegisterInstance`),
          JSON.stringify({ ServiceId: orders, InstanceId: 'x', Attributes: { AWS_INSTANCE_IPV4: 10 } }),
          'SerializationException',
          /Attributes\.AWS_INSTANCE_IPV4/,
        );
        await expectRawError(
          headers(`${TARGET}ListInstances`),
          JSON.stringify({ ServiceId: orders, MaxResults: '1' }),
          'SerializationException',
          /MaxResults/,
        );
      });

      it('an unknown operation or no X-Amz-Target: UnknownOperationException', async () => {
        await expectRawError(headers(`${TARGET}Nope`), '{}', 'UnknownOperationException', /Nope/);
        await expectRawError(headers(), '{}', 'UnknownOperationException', /no X-Amz-Target/);
        await expectRawError(
          headers('SomeOtherService_2020.ListServices'),
          '{}',
          'UnknownOperationException',
          /SomeOtherService/,
        );
        // Not an own property of the operation table.
        await expectRawError(headers(`${TARGET}constructor`), '{}', 'UnknownOperationException', /constructor/);
        await expectRawError(headers(`${TARGET}__proto__`), '{}', 'UnknownOperationException', /__proto__/);
      });

      it('a well-formed raw request works too, with the same headers', async () => {
        const answer = await rawPost(meshd.adminPort, headers(`${TARGET}GetService`), JSON.stringify({ Id: orders }));
        expect(answer.status).toBe(200);
        expect(answer.headers['content-type']).toBe(AWS_JSON);
        expect(answer.headers['x-amzn-requestid']).toEqual(expect.any(String));
        expect((JSON.parse(answer.text) as { Service: { Name: string } }).Service.Name).toBe('orders');
      });
    });
  });

  it('deletes a service and a namespace once they are empty', async () => {
    for (const id of ['o-1', 'o-2', 'o-3'])
      await client.send(new DeregisterInstanceCommand({ ServiceId: orders, InstanceId: id }));
    await client.send(new DeregisterInstanceCommand({ ServiceId: plain, InstanceId: 'p-1' }));
    await client.send(new DeleteServiceCommand({ Id: orders }));
    await client.send(new DeleteServiceCommand({ Id: plain }));
    expect((await failure(client.send(new GetServiceCommand({ Id: orders })))).name).toBe('ServiceNotFound');
    const { OperationId } = await client.send(new DeleteNamespaceCommand({ Id: httpNs }));
    expect((await client.send(new GetOperationCommand({ OperationId: OperationId! }))).Operation).toMatchObject({
      Type: 'DELETE_NAMESPACE',
      Status: 'SUCCESS',
      Targets: { NAMESPACE: httpNs },
    });
    expect((await failure(client.send(new GetNamespaceCommand({ Id: httpNs })))).name).toBe('NamespaceNotFound');
    expect(ids((await client.send(new ListNamespacesCommand({}))).Namespaces)).toEqual([dnsNs]);
    // The name is free again.
    await client.send(new CreateHttpNamespaceCommand({ Name: 'apps.local' }));
    expect(
      (await client.send(new ListNamespacesCommand({ Filters: [{ Name: 'NAME', Values: ['apps.local'] }] })))
        .Namespaces,
    ).toHaveLength(1);
  });
});

describe('SigV4 credentials', () => {
  it('--cloud-map-credentials: accepts calls signed with them, rejects another secret and unsigned requests', async () => {
    const meshd = await startServe(path.join(tmpDir('cm-creds-'), 'cm.json'), [
      '--cloud-map-credentials',
      'AKIDTEST:secret123',
    ]);
    const good = sdkClient(meshd.adminPort, { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret123' });
    const wrongSecret = sdkClient(meshd.adminPort, { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret124' });
    const wrongKey = sdkClient(meshd.adminPort, { accessKeyId: 'AKIDOTHER', secretAccessKey: 'secret123' });
    try {
      await good.send(new CreateHttpNamespaceCommand({ Name: 'signed.local' }));
      expect((await good.send(new ListNamespacesCommand({}))).Namespaces?.map((n) => n.Name)).toEqual(['signed.local']);
      // DiscoverInstances too (the SDK signs it like the rest once the host prefix is off).
      const ns = (await good.send(new ListNamespacesCommand({}))).Namespaces![0]!.Id!;
      await good.send(new CreateServiceCommand({ Name: 'svc', NamespaceId: ns }));
      expect(
        (await good.send(new DiscoverInstancesCommand({ NamespaceName: 'signed.local', ServiceName: 'svc' })))
          .Instances,
      ).toEqual([]);

      await expectRejected(
        meshd,
        () => wrongSecret.send(new CreateHttpNamespaceCommand({ Name: 'forged.local' })),
        'InvalidSignatureException',
        /signature/i,
      );
      await expectRejected(
        meshd,
        () => wrongSecret.send(new ListNamespacesCommand({})),
        'InvalidSignatureException',
        /signature/i,
      );
      const unknownKey = await failure(wrongKey.send(new ListNamespacesCommand({})));
      expect(unknownKey.name).toBe('UnrecognizedClientException');

      const before = await snapshot(meshd);
      const unsigned = await rawPost(
        meshd.adminPort,
        { 'content-type': AWS_JSON, 'x-amz-target': `${TARGET}CreateHttpNamespace` },
        JSON.stringify({ Name: 'unsigned.local' }),
      );
      expect(unsigned.status).toBe(403);
      expect(unsigned.headers['content-type']).toBe(AWS_JSON);
      expect((JSON.parse(unsigned.text) as { __type: string }).__type).toBe('MissingAuthenticationTokenException');
      expect(await snapshot(meshd)).toEqual(before);
    } finally {
      good.destroy();
      wrongSecret.destroy();
      wrongKey.destroy();
      await meshd.stop();
    }
  }, 30000);

  it('MESHD_CLOUD_MAP_CREDENTIALS sets them too', async () => {
    const meshd = await startServe(path.join(tmpDir('cm-creds-env-'), 'cm.json'), [], {
      MESHD_CLOUD_MAP_CREDENTIALS: 'AKIDENV:envsecret',
    });
    const good = sdkClient(meshd.adminPort, { accessKeyId: 'AKIDENV', secretAccessKey: 'envsecret' });
    try {
      expect((await good.send(new ListNamespacesCommand({}))).Namespaces).toEqual([]);
      expect((await failure(meshd.client.send(new ListNamespacesCommand({})))).name).toBe(
        'UnrecognizedClientException',
      );
      const bad = sdkClient(meshd.adminPort, { accessKeyId: 'AKIDENV', secretAccessKey: 'nope' });
      expect((await failure(bad.send(new ListNamespacesCommand({})))).name).toBe('InvalidSignatureException');
      bad.destroy();
    } finally {
      good.destroy();
      await meshd.stop();
    }
  }, 30000);

  it('a bad value makes serve exit 2 with a one-line error', async () => {
    const flag = await serveExit([
      '--cloud-map-state',
      path.join(tmpDir('cm-badcreds-'), 'cm.json'),
      '--cloud-map-credentials',
      'nocolon',
    ]);
    expect(flag.status).toBe(2);
    expect(flag.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^meshd serve: --cloud-map-credentials: .*ACCESS_KEY_ID:SECRET_ACCESS_KEY/),
    ]);
    const empty = await serveExit([
      '--cloud-map-state',
      path.join(tmpDir('cm-badcreds-'), 'cm.json'),
      '--cloud-map-credentials',
      'AKID:',
    ]);
    expect(empty.status).toBe(2);
    expect(empty.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/secret access key is empty/)]);
    const variable = await serveExit(['--cloud-map-state', path.join(tmpDir('cm-badcreds-'), 'cm.json')], {
      MESHD_CLOUD_MAP_CREDENTIALS: 'nocolon',
    });
    expect(variable.status).toBe(2);
    expect(variable.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^meshd serve: MESHD_CLOUD_MAP_CREDENTIALS: /),
    ]);
  }, 30000);
});

describe('the registry on disk', () => {
  it('survives a restart: namespaces, services, instances, health and operations', async () => {
    const statePath = path.join(tmpDir('cm-persist-'), 'cm.json');
    const first = await startServe(statePath);
    let listed: { namespaces: unknown; services: unknown; instances: unknown; health: unknown; plainHealth: unknown };
    let serviceId: string;
    let plainId: string;
    let opId: string;
    const read = async (client: ServiceDiscoveryClient) => ({
      namespaces: (await client.send(new ListNamespacesCommand({}))).Namespaces,
      services: (await client.send(new ListServicesCommand({}))).Services,
      instances: (await client.send(new ListInstancesCommand({ ServiceId: serviceId }))).Instances,
      health: (await client.send(new GetInstancesHealthStatusCommand({ ServiceId: serviceId }))).Status,
      plainHealth: (await client.send(new GetInstancesHealthStatusCommand({ ServiceId: plainId }))).Status,
    });
    try {
      const c = first.client;
      const { OperationId } = await c.send(new CreateHttpNamespaceCommand({ Name: 'kept.local' }));
      const ns = (await c.send(new GetOperationCommand({ OperationId: OperationId! }))).Operation!.Targets!.NAMESPACE!;
      serviceId = (
        await c.send(new CreateServiceCommand({ Name: 'orders', NamespaceId: ns, HealthCheckCustomConfig: {} }))
      ).Service!.Id!;
      plainId = (await c.send(new CreateServiceCommand({ Name: 'plain', NamespaceId: ns }))).Service!.Id!;
      opId = (
        await c.send(
          new RegisterInstanceCommand({
            ServiceId: serviceId,
            InstanceId: 'a',
            Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1', AWS_INSTANCE_PORT: '80' },
          }),
        )
      ).OperationId!;
      await c.send(
        new RegisterInstanceCommand({
          ServiceId: serviceId,
          InstanceId: 'b',
          Attributes: { AWS_INSTANCE_IPV4: '10.0.0.2' },
        }),
      );
      await c.send(
        new RegisterInstanceCommand({
          ServiceId: serviceId,
          InstanceId: 'c',
          Attributes: { AWS_INSTANCE_IPV4: '10.0.0.3' },
        }),
      );
      await c.send(
        new RegisterInstanceCommand({
          ServiceId: plainId,
          InstanceId: 'p',
          Attributes: { AWS_INSTANCE_IPV4: '10.0.0.4' },
        }),
      );
      await c.send(
        new UpdateInstanceCustomHealthStatusCommand({ ServiceId: serviceId, InstanceId: 'b', Status: 'UNHEALTHY' }),
      );
      await c.send(new DeregisterInstanceCommand({ ServiceId: serviceId, InstanceId: 'c' }));
      listed = await read(c);
      expect(listed.health).toEqual({ a: 'HEALTHY', b: 'UNHEALTHY' });
    } finally {
      expect(await first.stop()).toBe(0);
    }

    const second = await startServe(statePath);
    try {
      expect(await read(second.client)).toEqual(listed);
      expect((await second.client.send(new GetOperationCommand({ OperationId: opId }))).Operation).toMatchObject({
        Type: 'REGISTER_INSTANCE',
        Targets: { INSTANCE: 'a', SERVICE: serviceId },
      });
      const discovered = await sdkClient(second.adminPort).send(
        new DiscoverInstancesCommand({ NamespaceName: 'kept.local', ServiceName: 'orders', HealthStatus: 'ALL' }),
      );
      expect(discovered.Instances?.map((i) => [i.InstanceId, i.HealthStatus])).toEqual([
        ['a', 'HEALTHY'],
        ['b', 'UNHEALTHY'],
      ]);
      // And it keeps working (and persisting) after the restart.
      await second.client.send(
        new UpdateInstanceCustomHealthStatusCommand({ ServiceId: serviceId, InstanceId: 'b', Status: 'HEALTHY' }),
      );
      // On disk: the state file (a snapshot, in the format earlier versions wrote) and its journal.
      const stored = JSON.parse(fs.readFileSync(statePath, 'utf8')) as { format: string };
      expect(stored.format).toBe('meshd-cloud-map/v1');
      expect(openRegistryReadOnly(statePath).instance(serviceId, 'b').health).toBe('HEALTHY');
    } finally {
      await second.stop();
    }
  }, 60000);

  it('a state file with garbage makes serve exit 1 with one line naming the file, no stack trace', async () => {
    const statePath = path.join(tmpDir('cm-garbage-'), 'cm.json');
    fs.writeFileSync(statePath, '{"format":');
    const line = oneLineStartError(await serveExit(['--cloud-map-state', statePath]));
    expect(line).toMatch(/error/);
    expect(line).toContain(statePath);
    expect(line).toMatch(/not valid JSON/);
    expect(fs.readFileSync(statePath, 'utf8')).toBe('{"format":');
  }, 30000);

  it.each([
    ['another format', JSON.stringify({ format: 'something-else/v2', namespaces: [] })],
    ['a JSON list', '[]'],
    [
      'a table that is not a list',
      JSON.stringify({ format: 'meshd-cloud-map/v1', namespaces: {}, services: [], instances: [], operations: [] }),
    ],
  ])(
    'a JSON state file with %s makes serve exit 1 with one line naming the file',
    async (_what, text) => {
      const statePath = path.join(tmpDir('cm-otherformat-'), 'cm.json');
      fs.writeFileSync(statePath, text);
      expect(oneLineStartError(await serveExit(['--cloud-map-state', statePath]))).toContain(statePath);
      expect(fs.readFileSync(statePath, 'utf8')).toBe(text);
    },
    30000,
  );

  it('a state path under a regular file makes serve exit 1 at start with one line naming it', async () => {
    // The path can never be created: meshd says so at start rather than on the first registration.
    const dir = tmpDir('cm-underfile-');
    fs.writeFileSync(path.join(dir, 'plainfile'), 'not a folder\n');
    const statePath = path.join(dir, 'plainfile', 'cm.json');
    expect(oneLineStartError(await serveExit(['--cloud-map-state', statePath]))).toContain(statePath);
  }, 30000);

  it('a registry that cannot be saved answers 500 InternalFailure and applies nothing', async () => {
    // The state folder does not exist at start (fine: nothing is written until the first change);
    // a regular file then takes its name, so the first save fails.
    const dir = tmpDir('cm-unwritable-');
    const statePath = path.join(dir, 'plainfile', 'cm.json');
    const meshd = await startServe(statePath);
    try {
      fs.writeFileSync(path.join(dir, 'plainfile'), 'not a folder\n');
      const before = await snapshot(meshd);
      const err = await failure(meshd.client.send(new CreateHttpNamespaceCommand({ Name: 'lost.local' })));
      expect({ name: err.name, status: err.$metadata.httpStatusCode }).toEqual({
        name: 'InternalFailure',
        status: 500,
      });
      expect(err.message).toMatch(/could not be saved/);
      expect(err.message).toContain(statePath);
      expect((await meshd.client.send(new ListNamespacesCommand({}))).Namespaces).toEqual([]);
      expect(await snapshot(meshd)).toEqual(before);
      expect(meshd.process.stderr()).toMatch(/cloud map: the registry could not be saved/);
      expect(fs.readdirSync(dir)).toEqual(['plainfile']);

      // Once the path is usable again, the same call succeeds.
      fs.rmSync(path.join(dir, 'plainfile'));
      await meshd.client.send(new CreateHttpNamespaceCommand({ Name: 'lost.local' }));
      expect((await meshd.client.send(new ListNamespacesCommand({}))).Namespaces?.map((n) => n.Name)).toEqual([
        'lost.local',
      ]);
      expect(fs.existsSync(statePath)).toBe(true);
    } finally {
      await meshd.stop();
    }
  }, 30000);
});
