// The local Cloud Map API as an adversary on the admin port would use it, against a real
// `meshd serve`: SigV4 headers that name Object.prototype members, attributes past AWS's
// limits, endpoints at addresses that are never a workload's, thousands of random targets and
// bodies, and SIGKILLs in the middle of writes. What a user would notice is asserted: the
// process is alive, the answer is an AWS-shaped 4xx, the refusal is counted in /metrics,
// nothing is pushed to proxies, and every acknowledged write is there after a crash.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Hash } from '@smithy/core/serde';
import { SignatureV4 } from '@smithy/signature-v4';
import { freePort, getOk, MESHD_BIN, startMeshd, tmpDir, waitFor, type RunningProcess } from '../helpers/processes';
import { prng } from '../helpers/fuzz';

const TARGET = 'Route53AutoNaming_v20170314.';
const AWS_JSON = 'application/x-amz-json-1.1';
const MESH = 'adv';
const NAMESPACE = 'adv.local';
const CLIENT_NODE = `mesh/${MESH}/virtualNode/client`;

/** client → orders (Cloud Map adv.local/orders). */
const MESH_YAML = [
  `kind: Mesh\nname: ${MESH}\n`,
  `kind: VirtualNode\nmesh: ${MESH}\nname: orders\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { awsCloudMap: { namespaceName: ${NAMESPACE}, serviceName: orders } }\n`,
  `kind: VirtualService\nmesh: ${MESH}\nname: orders.${NAMESPACE}\nspec: { provider: { virtualNode: { virtualNodeName: orders } } }\n`,
  `kind: VirtualNode\nmesh: ${MESH}\nname: client\nspec:\n  backends: [{ virtualService: { virtualServiceName: orders.${NAMESPACE} } }]\n`,
].join('---\n');

interface Meshd {
  readonly process: RunningProcess;
  readonly adminPort: number;
  readonly statePath: string;
  readonly meshDir: string;
  alive(): Promise<boolean>;
  stop(): Promise<number | null>;
}

/** `meshd serve` on free ports once /readyz answers 200 (or, with `ready: false`, once /healthz does). */
async function startServe(
  options: { statePath?: string; meshDir?: string; args?: string[]; ready?: boolean } = {},
): Promise<Meshd> {
  const meshDir = options.meshDir ?? tmpDir('adv-cm-mesh-');
  if (!fs.existsSync(path.join(meshDir, 'mesh.yaml'))) fs.writeFileSync(path.join(meshDir, 'mesh.yaml'), MESH_YAML);
  const statePath = options.statePath ?? path.join(tmpDir('adv-cm-state-'), 'cm.json');
  const adminPort = await freePort();
  const xdsPort = await freePort();
  const proc = startMeshd([
    'serve',
    '--mesh',
    meshDir,
    '--xds-address',
    '127.0.0.1',
    '--xds-port',
    `${xdsPort}`,
    '--admin-port',
    `${adminPort}`,
    '--cloud-map-state',
    statePath,
    ...(options.args ?? []),
  ]);
  const probe = options.ready === false ? '/healthz' : '/readyz';
  await waitFor('meshd to answer', async () => {
    if (proc.child.exitCode !== null) throw new Error(`meshd exited with ${proc.child.exitCode}: ${proc.stderr()}`);
    await getOk(adminPort, probe);
    return true;
  }).catch(async (err: Error) => {
    await proc.stop();
    throw new Error(`${err.message}\nstderr: ${proc.stderr()}`);
  });
  return {
    process: proc,
    adminPort,
    statePath,
    meshDir,
    alive: async () =>
      proc.child.exitCode === null &&
      proc.child.signalCode === null &&
      (await getOk(adminPort, '/healthz').then(
        () => true,
        () => false,
      )),
    // A SIGKILLed child has a signalCode and no exitCode: proc.stop() would wait for an exit already past.
    stop: () =>
      proc.child.exitCode !== null || proc.child.signalCode !== null
        ? Promise.resolve(proc.child.exitCode)
        : proc.stop(),
  };
}

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 4 });
afterAll(() => keepAlive.destroy());

/** A raw POST / to the admin port. */
function post(
  port: number,
  headers: Record<string, string>,
  body: string | Buffer,
  agent: http.Agent | false = false,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        agent,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('request timed out')));
    req.end(body);
  });
}

/** One Cloud Map call, unsigned; resolves with the status and the parsed JSON answer. */
async function call(
  port: number,
  operation: string,
  input: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const answer = await post(
    port,
    { 'content-type': AWS_JSON, 'x-amz-target': `${TARGET}${operation}` },
    JSON.stringify(input),
  );
  return { status: answer.status, body: JSON.parse(answer.text) as Record<string, unknown> };
}

async function ok(port: number, operation: string, input: unknown): Promise<Record<string, unknown>> {
  const answer = await call(port, operation, input);
  if (answer.status !== 200) throw new Error(`${operation}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** A namespace and a service (custom health check) to register into; its id. */
async function ordersService(port: number): Promise<string> {
  const { OperationId } = (await ok(port, 'CreateHttpNamespace', { Name: NAMESPACE })) as { OperationId: string };
  const { Operation } = (await ok(port, 'GetOperation', { OperationId })) as {
    Operation: { Targets: { NAMESPACE: string } };
  };
  const { Service } = (await ok(port, 'CreateService', {
    Name: 'orders',
    NamespaceId: Operation.Targets.NAMESPACE,
    HealthCheckCustomConfig: {},
  })) as { Service: { Id: string } };
  return Service.Id;
}

async function instanceIds(port: number, serviceId: string): Promise<string[]> {
  const ids: string[] = [];
  let NextToken: string | undefined;
  do {
    const page = (await ok(port, 'ListInstances', { ServiceId: serviceId, ...(NextToken ? { NextToken } : {}) })) as {
      Instances: { Id: string }[];
      NextToken?: string;
    };
    ids.push(...page.Instances.map((i) => i.Id));
    NextToken = page.NextToken;
  } while (NextToken);
  return ids.sort();
}

/** meshd_cloud_map_refused_total{reason} from /metrics. */
async function refused(port: number, reason: string): Promise<number> {
  const text = await getOk(port, '/metrics');
  const line = text.split('\n').find((l) => l.startsWith(`meshd_cloud_map_refused_total{reason="${reason}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

function expectAwsError(
  answer: Answer | { status: number; body: Record<string, unknown> },
  type: string,
  message?: RegExp,
): void {
  const body = 'text' in answer ? (JSON.parse(answer.text) as Record<string, unknown>) : answer.body;
  expect({ status: answer.status, type: body.__type }).toEqual({ status: 400, type });
  if (message) expect(body.Message).toMatch(message);
}

/** Every endpoint address in a proxy's config (/v1/config): lb_endpoints[].endpoint.address.socket_address.address. */
function endpointAddresses(configJson: string): string[] {
  const found: string[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(walk);
    if (value === null || typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    if (Array.isArray(record.lb_endpoints)) {
      for (const lb of record.lb_endpoints as {
        endpoint?: { address?: { socket_address?: { address?: string } } };
      }[]) {
        const address = lb.endpoint?.address?.socket_address?.address;
        if (address !== undefined) found.push(address);
      }
    }
    Object.values(record).forEach(walk);
  };
  walk(JSON.parse(configJson));
  return found.sort();
}

/** Every own name of Object.prototype, the keys a plain-object lookup would answer. */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);

// ---------------------------------------------------------------------------------------------

describe('class: SigV4 canonicalisation looks client-named headers up in a plain object', () => {
  const CREDENTIALS = { accessKeyId: 'AKIDADVERSARY', secretAccessKey: 'adversarial-secret' };
  let meshd: Meshd;

  beforeAll(async () => {
    meshd = await startServe({
      args: ['--cloud-map-credentials', `${CREDENTIALS.accessKeyId}:${CREDENTIALS.secretAccessKey}`],
    });
  }, 30000);
  afterAll(async () => {
    await meshd?.stop();
  });

  function amzDate(date = new Date()): string {
    return date
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z')
      .replace(/[-:]/g, '');
  }

  it.each(PROTOTYPE_NAMES)(
    "SignedHeaders naming '%s' (absent from the request): a 400 AWS error, meshd alive, counted",
    async (name) => {
      const before = await refused(meshd.adminPort, 'signature');
      const date = amzDate();
      // Anyone who has seen the access key id (it travels in clear) can send this; the signature need not be right.
      const authorization = `AWS4-HMAC-SHA256 Credential=${CREDENTIALS.accessKeyId}/${date.slice(0, 8)}/us-east-1/servicediscovery/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target;${name.toLowerCase()}, Signature=${'0'.repeat(64)}`;
      const answer = await post(
        meshd.adminPort,
        { 'content-type': AWS_JSON, 'x-amz-target': `${TARGET}ListNamespaces`, 'x-amz-date': date, authorization },
        '{}',
      );
      expectAwsError(answer, 'IncompleteSignatureException', new RegExp(`'${name.toLowerCase()}' is missing`));
      expect(await meshd.alive()).toBe(true);
      expect(await refused(meshd.adminPort, 'signature')).toBe(before + 1);
    },
  );

  it('a header that really has such a name is signed and checked like any other', async () => {
    for (const name of ['constructor', 'tostring', 'hasownproperty', 'valueof']) {
      const signer = new SignatureV4({
        service: 'servicediscovery',
        region: 'us-east-1',
        credentials: CREDENTIALS,
        sha256: Hash.bind(null, 'sha256'),
      });
      const host = `127.0.0.1:${meshd.adminPort}`;
      const signed = await signer.sign({
        method: 'POST',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: meshd.adminPort,
        path: '/',
        query: {},
        headers: { host, 'content-type': AWS_JSON, 'x-amz-target': `${TARGET}ListNamespaces`, [name]: 'x' },
        body: '{}',
      });
      expect(signed.headers.authorization).toContain(name);
      const answer = await post(meshd.adminPort, signed.headers as Record<string, string>, '{}');
      expect({ name, status: answer.status }).toEqual({ name, status: 200 });
      // The same request with the header's value changed no longer verifies.
      const forged = await post(meshd.adminPort, { ...(signed.headers as Record<string, string>), [name]: 'y' }, '{}');
      expectAwsError(forged, 'InvalidSignatureException');
    }
    expect(await meshd.alive()).toBe(true);
  });

  it('fuzz: 1,000 random Authorization headers (random SignedHeaders, scopes, dates): every answer a 4xx AWS error, meshd alive', async () => {
    const random = prng(21);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const junk = (n: number) =>
      Array.from({ length: Math.floor(random() * n) }, () => String.fromCharCode(32 + Math.floor(random() * 95))).join(
        '',
      );
    const headerNames = [
      ...PROTOTYPE_NAMES.map((n) => n.toLowerCase()),
      'host',
      'x-amz-date',
      'x-amz-target',
      'content-type',
      '',
      ' ',
      ';',
      junk(12).toLowerCase(),
    ];
    for (let i = 0; i < 1000; i++) {
      const date =
        random() < 0.8 ? amzDate(new Date(Date.now() + (random() < 0.2 ? (random() - 0.5) * 4e9 : 0))) : junk(20);
      const signed = Array.from({ length: Math.floor(random() * 6) }, () => pick(headerNames)).join(
        pick([';', ';', ',', ' ']),
      );
      const parts = [
        `Credential=${pick([CREDENTIALS.accessKeyId, junk(10), ''])}/${pick([date.slice(0, 8), junk(8)])}/${pick(['us-east-1', junk(5)])}/${pick(['servicediscovery', junk(5)])}/${pick(['aws4_request', junk(5)])}`,
        `SignedHeaders=${signed}`,
        `Signature=${pick(['0'.repeat(64), junk(70), 'ab'])}`,
        ...(random() < 0.2 ? [junk(30)] : []),
      ].sort(() => random() - 0.5);
      const authorization = `${pick(['AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA256', junk(16)])} ${parts.join(pick([', ', ',', ' , ']))}`;
      const headers: Record<string, string> = {
        'content-type': AWS_JSON,
        'x-amz-target': `${TARGET}${pick(['ListNamespaces', 'RegisterInstance', 'constructor', junk(10)])}`,
        authorization: authorization.replace(/[^\t\x20-\x7e]/g, ''),
      };
      if (random() < 0.9) headers['x-amz-date'] = date;
      if (random() < 0.3) headers[pick(PROTOTYPE_NAMES).toLowerCase()] = junk(10);
      if (random() < 0.2) headers['x-amz-content-sha256'] = pick(['UNSIGNED-PAYLOAD', junk(64)]);
      const answer = await post(meshd.adminPort, headers, junk(200), keepAlive);
      expect({ i, status: answer.status >= 400 && answer.status < 500, json: answer.headers['content-type'] }).toEqual({
        i,
        status: true,
        json: AWS_JSON,
      });
      expect(JSON.parse(answer.text)).toEqual({
        __type: expect.stringMatching(/Exception$/),
        Message: expect.any(String),
      });
    }
    expect(await meshd.alive()).toBe(true);
  }, 120000);
});

// ---------------------------------------------------------------------------------------------

describe('class: instance attributes beyond what AWS allows', () => {
  let meshd: Meshd;
  let serviceId: string;

  beforeAll(async () => {
    meshd = await startServe();
    serviceId = await ordersService(meshd.adminPort);
  }, 30000);
  afterAll(async () => {
    await meshd?.stop();
  });

  const custom = (n: number, valueLength = 8) =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v'.repeat(valueLength)]));

  it.each([
    ['31 custom attributes', custom(31), /at most 30 custom attributes, got 31/],
    ['a 256-character name', { ['k'.repeat(256)]: 'v' }, /is 256 characters long; at most 255/],
    ['a 1,025-byte value', { big: 'v'.repeat(1025) }, /big: the value is 1025 characters long; at most 1024/],
    ['names and values over 5,000 characters in all', custom(6, 900), /total 5437 characters; at most 5000/],
    ['1,000 attributes', custom(1000), /at most 30 custom attributes, got 1000/],
  ])('%s: InvalidInput, nothing registered, counted', async (_what, extra, message) => {
    const before = await refused(meshd.adminPort, 'attribute_limit');
    const answer = await call(meshd.adminPort, 'RegisterInstance', {
      ServiceId: serviceId,
      InstanceId: 'too-big',
      Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1', ...extra },
    });
    expectAwsError(answer, 'InvalidInput', message);
    expect(await instanceIds(meshd.adminPort, serviceId)).not.toContain('too-big');
    expect(await refused(meshd.adminPort, 'attribute_limit')).toBe(before + 1);
    expect(await meshd.alive()).toBe(true);
  });

  it("exactly AWS's limits are accepted: 30 custom attributes besides AWS_*, a 255-character name, a 1,024-byte value", async () => {
    await ok(meshd.adminPort, 'RegisterInstance', {
      ServiceId: serviceId,
      InstanceId: 'at-limit',
      Attributes: {
        AWS_INSTANCE_IPV4: '10.0.0.2',
        AWS_INSTANCE_PORT: '80',
        AWS_INIT_HEALTH_STATUS: 'HEALTHY',
        ...custom(30, 100),
      },
    });
    await ok(meshd.adminPort, 'RegisterInstance', {
      ServiceId: serviceId,
      InstanceId: 'long-name',
      Attributes: { ['k'.repeat(255)]: 'v'.repeat(1024) },
    });
    expect(await instanceIds(meshd.adminPort, serviceId)).toEqual(['at-limit', 'long-name']);
  });

  it('a CloudMapService in the mesh files with 31 custom attributes is refused at load, and the last good mesh keeps serving', async () => {
    const seed = `kind: CloudMapService\nnamespace: seeds.local\nname: web\ninstances:\n  - id: w-1\n    attributes:\n${Array.from({ length: 31 }, (_, i) => `      k${i}: v\n`).join('')}`;
    fs.writeFileSync(path.join(meshd.meshDir, 'seed.yaml'), seed);
    await waitFor('the refused seed to be logged', () =>
      /at most 30 custom attributes, got 31/.test(meshd.process.stderr()) ? true : undefined,
    );
    expect(JSON.stringify(JSON.parse(await getOk(meshd.adminPort, '/v1/cloud-map')))).not.toContain('seeds.local');
    fs.rmSync(path.join(meshd.meshDir, 'seed.yaml'));
    expect(await meshd.alive()).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------

/** Each class of address that is never a workload's, with IPv4 and IPv6 forms. */
const FORBIDDEN: readonly (readonly [string, 'AWS_INSTANCE_IPV4' | 'AWS_INSTANCE_IPV6', string])[] = [
  ['unspecified', 'AWS_INSTANCE_IPV4', '0.0.0.0'],
  ['unspecified', 'AWS_INSTANCE_IPV4', '0.1.2.3'],
  ['unspecified', 'AWS_INSTANCE_IPV6', '::'],
  ['unspecified', 'AWS_INSTANCE_IPV6', '0:0:0:0:0:0:0:0'],
  ['unspecified', 'AWS_INSTANCE_IPV6', '::ffff:0.0.0.0'],
  ['broadcast', 'AWS_INSTANCE_IPV4', '255.255.255.255'],
  ['broadcast', 'AWS_INSTANCE_IPV6', '::ffff:255.255.255.255'],
  ['broadcast', 'AWS_INSTANCE_IPV6', '::ffff:ffff:ffff'],
  ['multicast', 'AWS_INSTANCE_IPV4', '224.0.0.1'],
  ['multicast', 'AWS_INSTANCE_IPV4', '239.255.255.250'],
  ['multicast', 'AWS_INSTANCE_IPV6', 'ff02::1'],
  ['multicast', 'AWS_INSTANCE_IPV6', 'FF05::1:3'],
  ['multicast', 'AWS_INSTANCE_IPV6', '::ffff:224.0.0.251'],
  ['link-local', 'AWS_INSTANCE_IPV4', '169.254.169.254'],
  ['link-local', 'AWS_INSTANCE_IPV4', '169.254.0.1'],
  ['link-local', 'AWS_INSTANCE_IPV6', 'fe80::1'],
  ['link-local', 'AWS_INSTANCE_IPV6', 'febf:ffff::1'],
  ['link-local', 'AWS_INSTANCE_IPV6', 'fe80::1%eth0'],
  ['link-local', 'AWS_INSTANCE_IPV6', '::ffff:169.254.169.254'],
  ['link-local', 'AWS_INSTANCE_IPV6', '::ffff:a9fe:a9fe'],
  ['link-local', 'AWS_INSTANCE_IPV6', '0:0:0:0:0:ffff:169.254.169.254'],
  ['link-local', 'AWS_INSTANCE_IPV6', '::ffff:0:169.254.169.254'],
  ['link-local', 'AWS_INSTANCE_IPV6', '64:ff9b::169.254.169.254'],
  ['link-local', 'AWS_INSTANCE_IPV6', '::169.254.169.254'],
];

/** Addresses that must keep working: loopback (laptops) and ordinary unicast. */
const ALLOWED: readonly (readonly ['AWS_INSTANCE_IPV4' | 'AWS_INSTANCE_IPV6', string])[] = [
  ['AWS_INSTANCE_IPV4', '127.0.0.1'],
  ['AWS_INSTANCE_IPV4', '127.0.0.53'],
  ['AWS_INSTANCE_IPV6', '::1'],
  ['AWS_INSTANCE_IPV4', '10.0.0.7'],
  ['AWS_INSTANCE_IPV4', '169.253.255.255'],
  ['AWS_INSTANCE_IPV4', '223.255.255.255'],
  ['AWS_INSTANCE_IPV6', '2001:db8::7'],
  ['AWS_INSTANCE_IPV6', 'fec0::1'],
  ['AWS_INSTANCE_IPV6', '::ffff:10.0.0.8'],
];

describe('class: endpoints at addresses that are never a workload (unspecified, broadcast, multicast, link-local)', () => {
  let meshd: Meshd;
  let serviceId: string;

  beforeAll(async () => {
    meshd = await startServe();
    serviceId = await ordersService(meshd.adminPort);
  }, 30000);
  afterAll(async () => {
    await meshd?.stop();
  });

  /** The endpoint addresses the client proxy is sent (EDS). */
  const clientEndpoints = async () => endpointAddresses(await getOk(meshd.adminPort, `/v1/config/${CLIENT_NODE}`));

  it.each(FORBIDDEN)(
    '%s: %s %s is refused with InvalidInput naming the attribute, and never reaches a proxy',
    async (_class, attribute, address) => {
      const before = await refused(meshd.adminPort, 'address');
      const id = `bad-${address.replace(/[^0-9a-zA-Z]/g, '_')}`;
      const answer = await call(meshd.adminPort, 'RegisterInstance', {
        ServiceId: serviceId,
        InstanceId: id,
        Attributes: { [attribute]: address, AWS_INSTANCE_PORT: '8080' },
      });
      expectAwsError(
        answer,
        'InvalidInput',
        new RegExp(`^${attribute} '${address.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}' is .*never a workload's address`),
      );
      expect(await instanceIds(meshd.adminPort, serviceId)).not.toContain(id);
      expect(await clientEndpoints()).not.toContain(address);
      expect(await refused(meshd.adminPort, 'address')).toBe(before + 1);
    },
  );

  it.each(ALLOWED)('%s %s is accepted and reaches the proxy', async (attribute, address) => {
    const id = `ok-${address.replace(/[^0-9a-zA-Z]/g, '_')}`;
    await ok(meshd.adminPort, 'RegisterInstance', {
      ServiceId: serviceId,
      InstanceId: id,
      Attributes: { [attribute]: address, AWS_INSTANCE_PORT: '8080' },
    });
    expect(await instanceIds(meshd.adminPort, serviceId)).toContain(id);
    expect(await clientEndpoints()).toContain(address);
    await ok(meshd.adminPort, 'DeregisterInstance', { ServiceId: serviceId, InstanceId: id });
  });

  it('a CloudMapService in the mesh files at 169.254.169.254 or ff02::1 is refused at load; the registry does not get it', async () => {
    for (const [attribute, address] of [
      ['AWS_INSTANCE_IPV4', '169.254.169.254'],
      ['AWS_INSTANCE_IPV6', 'ff02::1'],
    ] as const) {
      fs.writeFileSync(
        path.join(meshd.meshDir, 'seed.yaml'),
        `kind: CloudMapService\nnamespace: seeds.local\nname: web\ninstances:\n  - id: w-1\n    attributes: { ${attribute}: "${address}", AWS_INSTANCE_PORT: 80 }\n`,
      );
      await waitFor(`the seed at ${address} to be refused`, () =>
        meshd.process.stderr().includes(`${attribute} '${address}' is`) ? true : undefined,
      );
      expect(JSON.stringify(JSON.parse(await getOk(meshd.adminPort, '/v1/cloud-map')))).not.toContain(address);
      // `meshd validate` (no registry at hand) warns at the attribute's line.
      const validate = spawnSync(process.execPath, [MESHD_BIN, 'validate', meshd.meshDir], {
        encoding: 'utf8',
        timeout: 15000,
      });
      expect(validate.status).toBe(0);
      expect(validate.stdout + validate.stderr).toMatch(
        new RegExp(
          `seed\\.yaml:6:\\d+: warning: CloudMapService/web: meshd serve refuses this instance: ${attribute} '${address}'`,
        ),
      );
    }
    fs.rmSync(path.join(meshd.meshDir, 'seed.yaml'));
    expect(await meshd.alive()).toBe(true);
  });

  it('--cloud-map-allow-any-address accepts them (an operator who means it), and they are served', async () => {
    const permissive = await startServe({ args: ['--cloud-map-allow-any-address'] });
    try {
      const service = await ordersService(permissive.adminPort);
      await ok(permissive.adminPort, 'RegisterInstance', {
        ServiceId: service,
        InstanceId: 'metadata',
        Attributes: { AWS_INSTANCE_IPV4: '169.254.169.254' },
      });
      await ok(permissive.adminPort, 'RegisterInstance', {
        ServiceId: service,
        InstanceId: 'v6',
        Attributes: { AWS_INSTANCE_IPV6: 'fe80::1' },
      });
      expect(endpointAddresses(await getOk(permissive.adminPort, `/v1/config/${CLIENT_NODE}`))).toEqual([
        '169.254.169.254',
        'fe80::1',
      ]);
    } finally {
      await permissive.stop();
    }
  }, 30000);

  it('an instance stored at such an address before (an older state file) is kept but not sent to proxies, and a warning names it', async () => {
    const statePath = path.join(tmpDir('adv-cm-legacy-'), 'cm.json');
    const now = Date.now() / 1000;
    const nsId = 'ns-legacylegacylega';
    const srvId = 'srv-legacylegacyleg';
    fs.writeFileSync(
      statePath,
      JSON.stringify({
        format: 'meshd-cloud-map/v1',
        namespaces: [
          {
            id: nsId,
            arn: `arn:aws:servicediscovery:us-east-1:000000000000:namespace/${nsId}`,
            name: NAMESPACE,
            type: 'HTTP',
            createDate: now,
          },
        ],
        services: [
          {
            id: srvId,
            arn: `arn:aws:servicediscovery:us-east-1:000000000000:service/${srvId}`,
            name: 'orders',
            namespaceId: nsId,
            createDate: now,
            revision: 3,
          },
        ],
        instances: [
          {
            id: 'metadata',
            serviceId: srvId,
            attributes: { AWS_INSTANCE_IPV4: '169.254.169.254' },
            health: 'HEALTHY',
            createDate: now,
          },
          {
            id: 'fine',
            serviceId: srvId,
            attributes: { AWS_INSTANCE_IPV4: '10.0.0.9' },
            health: 'HEALTHY',
            createDate: now,
          },
        ],
        operations: [],
      }),
    );
    const legacy = await startServe({ statePath });
    try {
      expect(endpointAddresses(await getOk(legacy.adminPort, `/v1/config/${CLIENT_NODE}`))).toEqual(['10.0.0.9']);
      expect(legacy.process.stderr()).toMatch(
        /instance metadata .* is not sent to proxies: AWS_INSTANCE_IPV4 '169\.254\.169\.254' is link-local/,
      );
    } finally {
      await legacy.stop();
    }
  }, 30000);
});

// ---------------------------------------------------------------------------------------------

describe('class: a Cloud Map write costs O(registry) on the event loop', () => {
  it('on a ~9 MB registry, 30 registrations write ~30 small journal lines and never rewrite the state file', async () => {
    const statePath = path.join(tmpDir('adv-cm-big-'), 'cm.json');
    const now = Date.now() / 1000;
    const nsId = 'ns-bigbigbigbigbigbi';
    const srvId = 'srv-bigbigbigbigbigb';
    const instances = Array.from({ length: 2000 }, (_, i) => ({
      id: `i-${i}`,
      serviceId: srvId,
      attributes: {
        AWS_INSTANCE_IPV4: `10.0.${i >> 8}.${i & 255}`,
        pad: `${i}`.padEnd(1000, 'p'),
        more: 'm'.repeat(1000),
        most: 'x'.repeat(1000),
        last: 'y'.repeat(900),
      },
      health: 'HEALTHY',
      createDate: now,
    }));
    fs.writeFileSync(
      statePath,
      JSON.stringify({
        format: 'meshd-cloud-map/v1',
        namespaces: [
          {
            id: nsId,
            arn: `arn:aws:servicediscovery:us-east-1:000000000000:namespace/${nsId}`,
            name: NAMESPACE,
            type: 'HTTP',
            createDate: now,
          },
        ],
        services: [
          {
            id: srvId,
            arn: `arn:aws:servicediscovery:us-east-1:000000000000:service/${srvId}`,
            name: 'orders',
            namespaceId: nsId,
            healthCheckCustomConfig: {},
            createDate: now,
            revision: 2001,
          },
        ],
        instances,
        operations: [],
      }),
    );
    const stateBytes = fs.statSync(statePath).size;
    expect(stateBytes).toBeGreaterThan(8e6);
    const snapshot = fs.readFileSync(statePath);
    const meshd = await startServe({ statePath });
    try {
      for (let i = 0; i < 30; i++)
        await ok(meshd.adminPort, 'RegisterInstance', {
          ServiceId: srvId,
          InstanceId: `new-${i}`,
          Attributes: { AWS_INSTANCE_IPV4: '10.9.0.1', n: String(i) },
        });
      // Bytes written per write are the change's, not the registry's: the state file is as it was...
      expect(fs.readFileSync(statePath).equals(snapshot)).toBe(true);
      // ...and the journal has one line per registration, each the size of one instance and its operation.
      const lines = fs.readFileSync(`${statePath}.journal`, 'utf8').split('\n').filter(Boolean);
      expect(lines).toHaveLength(30);
      expect(Math.max(...lines.map((l) => Buffer.byteLength(l)))).toBeLessThan(2000);
      expect((await instanceIds(meshd.adminPort, srvId)).length).toBe(2030);
      expect(await meshd.alive()).toBe(true);
    } finally {
      await meshd.stop();
    }
  }, 60000);
});

// ---------------------------------------------------------------------------------------------

describe('class: random X-Amz-Target and bodies take the Cloud Map API down', () => {
  let meshd: Meshd;
  let serviceId: string;

  beforeAll(async () => {
    meshd = await startServe();
    serviceId = await ordersService(meshd.adminPort);
  }, 30000);
  afterAll(async () => {
    await meshd?.stop();
  });

  it('fuzz: 3,000 requests with random targets (prototype names included) and bodies: never a 5xx, always AWS-shaped JSON, meshd alive', async () => {
    const random = prng(2121);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const operations = [
      'CreateHttpNamespace',
      'CreatePrivateDnsNamespace',
      'CreateService',
      'GetNamespace',
      'GetService',
      'ListNamespaces',
      'ListServices',
      'DeleteService',
      'DeleteNamespace',
      'RegisterInstance',
      'DeregisterInstance',
      'ListInstances',
      'GetInstance',
      'DiscoverInstances',
      'DiscoverInstancesRevision',
      'GetInstancesHealthStatus',
      'UpdateInstanceCustomHealthStatus',
      'GetOperation',
    ];
    const fields = [
      'Name',
      'NamespaceId',
      'ServiceId',
      'InstanceId',
      'Id',
      'OperationId',
      'Attributes',
      'QueryParameters',
      'OptionalParameters',
      'Filters',
      'DnsConfig',
      'HealthCheckCustomConfig',
      'HealthCheckConfig',
      'MaxResults',
      'NextToken',
      'Status',
      'Instances',
      'NamespaceName',
      'ServiceName',
      'HealthStatus',
      'Type',
      'Vpc',
      'CreatorRequestId',
      'Description',
      ...PROTOTYPE_NAMES,
    ];
    const junk = (n: number) =>
      Array.from({ length: Math.floor(random() * n) }, () => String.fromCharCode(Math.floor(random() * 0x2ff))).join(
        '',
      );
    const value = (depth: number): unknown => {
      switch (Math.floor(random() * (depth > 3 ? 6 : 9))) {
        case 0:
          return null;
        case 1:
          return random() < 0.5;
        case 2:
          return pick([0, -1, 1, 1e308, -1e308, 2 ** 53, 0.5, 1000, 1001, 30, 31]);
        case 3:
          return junk(40);
        case 4:
          return pick([
            serviceId,
            NAMESPACE,
            'orders',
            '10.0.0.1',
            '169.254.169.254',
            '::',
            'HEALTHY',
            'UNHEALTHY',
            'ALL',
            'EQ',
            'TYPE',
            'x'.repeat(5000),
          ]);
        case 5:
          return pick(PROTOTYPE_NAMES);
        case 6:
          return Array.from({ length: Math.floor(random() * 5) }, () => value(depth + 1));
        default:
          return Object.fromEntries(
            Array.from({ length: Math.floor(random() * 6) }, () => [pick([...fields, junk(10)]), value(depth + 1)]),
          );
      }
    };
    const counts = new Map<number, number>();
    for (let i = 0; i < 3000; i++) {
      const target = pick([
        () => `${TARGET}${pick(operations)}`,
        () => `${TARGET}${pick(operations)}`,
        () => `${TARGET}${pick(PROTOTYPE_NAMES)}`,
        () => pick(PROTOTYPE_NAMES),
        () =>
          `${pick(['', TARGET, 'Route53AutoNaming_v20170314', 'AWSServiceDiscovery.'])}${junk(30)}`.replace(
            /[^\t\x20-\x7e]/g,
            '?',
          ),
      ])();
      const body = pick([
        () => JSON.stringify(value(0)),
        () =>
          JSON.stringify(
            Object.fromEntries(Array.from({ length: 1 + Math.floor(random() * 6) }, () => [pick(fields), value(1)])),
          ),
        () =>
          JSON.stringify({
            ServiceId: serviceId,
            InstanceId: `f-${i}`,
            Attributes: Object.fromEntries(
              Array.from({ length: Math.floor(random() * 40) }, () => [
                pick([
                  ...PROTOTYPE_NAMES,
                  'AWS_INSTANCE_IPV4',
                  'AWS_INSTANCE_IPV6',
                  'AWS_INSTANCE_PORT',
                  'AWS_INIT_HEALTH_STATUS',
                  junk(300),
                ]),
                pick([junk(20), '169.254.169.254', 'fe80::1', '10.0.0.1', '80', 'x'.repeat(1100)]),
              ]),
            ),
          }),
        () => junk(300),
        () => '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}},"Name":"p"}',
        () => '['.repeat(5000),
      ])();
      const headers: Record<string, string> = { 'content-type': pick([AWS_JSON, 'text/plain', '']) };
      if (random() < 0.95) headers['x-amz-target'] = target;
      const answer = await post(meshd.adminPort, headers, body, keepAlive);
      counts.set(answer.status, (counts.get(answer.status) ?? 0) + 1);
      expect({ i, target, body: body.slice(0, 200), status: answer.status < 500 }).toEqual({
        i,
        target,
        body: body.slice(0, 200),
        status: true,
      });
      const parsed = JSON.parse(answer.text) as Record<string, unknown>;
      if (answer.status !== 200)
        expect(parsed).toMatchObject({ __type: expect.any(String), Message: expect.any(String) });
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await meshd.alive()).toBe(true);
    // Some of it got through (the fuzz is not all rejected at the door).
    expect(counts.get(200) ?? 0).toBeGreaterThan(0);
    expect(meshd.process.stderr()).not.toMatch(/internal error/);
  }, 300000);
});

// ---------------------------------------------------------------------------------------------

describe('class: a crash loses or tears Cloud Map writes (the journal)', () => {
  it('SIGKILL in the middle of writes (compactions included), six times: every acknowledged write is there after a restart', async () => {
    const statePath = path.join(tmpDir('adv-cm-crash-'), 'cm.json');
    const meshDir = tmpDir('adv-cm-crash-mesh-');
    // A tiny journal limit: the snapshot is rewritten every few writes, so kills land in compactions too.
    const args = ['--cloud-map-journal-bytes', '4096'];
    let meshd = await startServe({ statePath, meshDir, args });
    const serviceId = await ordersService(meshd.adminPort);
    /** Acknowledged state: instance id → its attribute `seq`, or null once deregistered. */
    const acked = new Map<string, string | null>();
    /** The write in flight when meshd was killed (its outcome is unknown: either is fine). */
    let inFlight: { id: string; seq: string | null } | undefined;
    let seq = 0;
    const random = prng(7);
    const unexpected: string[] = [];
    try {
      for (let round = 0; round < 6; round++) {
        const killAfterMs = 150 + Math.floor(random() * 400);
        const killer = setTimeout(() => meshd.process.child.kill('SIGKILL'), killAfterMs);
        try {
          for (;;) {
            seq++;
            const live = [...acked].filter(([, v]) => v !== null).map(([k]) => k);
            const deregister = live.length > 5 && random() < 0.25;
            const id = deregister
              ? live[Math.floor(random() * live.length)]!
              : `i-${random() < 0.3 && live.length > 0 ? live[0]!.slice(2) : seq}`;
            inFlight = { id, seq: deregister ? null : String(seq) };
            const answer = deregister
              ? await call(meshd.adminPort, 'DeregisterInstance', { ServiceId: serviceId, InstanceId: id })
              : await call(meshd.adminPort, 'RegisterInstance', {
                  ServiceId: serviceId,
                  InstanceId: id,
                  Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1', seq: String(seq), pad: 'p'.repeat(500) },
                });
            // Not an expect(): the catch below takes any throw for the kill.
            if (answer.status !== 200)
              unexpected.push(`round ${round}: ${id}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
            acked.set(id, inFlight.seq);
            inFlight = undefined;
          }
        } catch (err) {
          // The kill: the connection was reset, or meshd was gone before the next call.
          if (meshd.process.child.signalCode !== 'SIGKILL' && meshd.process.child.exitCode === null) {
            await new Promise((r) => meshd.process.child.once('exit', r));
          }
          expect(meshd.process.child.signalCode).toBe('SIGKILL');
          void err;
        } finally {
          clearTimeout(killer);
        }
        meshd = await startServe({ statePath, meshDir, args });
        const contents = JSON.parse(await getOk(meshd.adminPort, '/v1/cloud-map')) as {
          namespaces: { services: { instances: { id: string; attributes: Record<string, string> }[] }[] }[];
        };
        const held = new Map(
          contents.namespaces.flatMap((n) =>
            n.services.flatMap((s) => s.instances.map((i) => [i.id, i.attributes.seq ?? null] as const)),
          ),
        );
        for (const [id, value] of acked) {
          const now = held.get(id) ?? null;
          const fine = now === value || (inFlight?.id === id && now === inFlight.seq);
          expect({ round, id, acknowledged: value, afterRestart: now, fine }).toEqual({
            round,
            id,
            acknowledged: value,
            afterRestart: now,
            fine: true,
          });
        }
        // Nothing that was never written appears.
        for (const id of held.keys()) expect(acked.has(id) || inFlight?.id === id).toBe(true);
        // A deregistration in flight that was applied leaves no instance: `held` has no entry, which is null here.
        if (inFlight && (held.get(inFlight.id) ?? null) === inFlight.seq) acked.set(inFlight.id, inFlight.seq);
        inFlight = undefined;
        // No temp file is left behind after the restart.
        expect(fs.readdirSync(path.dirname(statePath)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      }
      expect(unexpected).toEqual([]);
      expect(acked.size).toBeGreaterThan(20);
    } finally {
      await meshd.stop();
    }
  }, 180000);

  it('a torn last journal line (a write cut short) is ignored on load and cut off, and later writes survive the next restart', async () => {
    const statePath = path.join(tmpDir('adv-cm-torn-'), 'cm.json');
    const meshDir = tmpDir('adv-cm-torn-mesh-');
    let meshd = await startServe({ statePath, meshDir });
    const serviceId = await ordersService(meshd.adminPort);
    await ok(meshd.adminPort, 'RegisterInstance', {
      ServiceId: serviceId,
      InstanceId: 'before',
      Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' },
    });
    meshd.process.child.kill('SIGKILL');
    await new Promise((r) => meshd.process.child.once('exit', r));

    // What a power cut mid-append leaves: the start of a line, no newline (here: of a registration of 'torn').
    const journal = `${statePath}.journal`;
    const lines = fs.readFileSync(journal, 'utf8');
    expect(lines.endsWith('\n')).toBe(true);
    const whole = lines
      .trimEnd()
      .split('\n')
      .pop()!
      .replace(/"before"/g, '"torn"')
      .replace(/"seq":\d+/, `"seq":${lines.trimEnd().split('\n').length + 100}`);
    fs.appendFileSync(journal, whole.slice(0, Math.floor(whole.length / 2)));

    meshd = await startServe({ statePath, meshDir });
    try {
      expect(await instanceIds(meshd.adminPort, serviceId)).toEqual(['before']);
      await ok(meshd.adminPort, 'RegisterInstance', {
        ServiceId: serviceId,
        InstanceId: 'after',
        Attributes: { AWS_INSTANCE_IPV4: '10.0.0.2' },
      });
      meshd.process.child.kill('SIGKILL');
      await new Promise((r) => meshd.process.child.once('exit', r));
      meshd = await startServe({ statePath, meshDir });
      expect(await instanceIds(meshd.adminPort, serviceId)).toEqual(['after', 'before']);
      expect(
        fs
          .readFileSync(journal, 'utf8')
          .split('\n')
          .filter(Boolean)
          .every((l) => JSON.parse(l) !== undefined),
      ).toBe(true);
    } finally {
      await meshd.stop();
    }
  }, 60000);

  it('a corrupt line before the end is a one-line start error naming file:line, never a silent loss', async () => {
    const statePath = path.join(tmpDir('adv-cm-corrupt-'), 'cm.json');
    const meshDir = tmpDir('adv-cm-corrupt-mesh-');
    const meshd = await startServe({ statePath, meshDir });
    const serviceId = await ordersService(meshd.adminPort);
    await ok(meshd.adminPort, 'RegisterInstance', {
      ServiceId: serviceId,
      InstanceId: 'a',
      Attributes: { AWS_INSTANCE_IPV4: '10.0.0.1' },
    });
    await ok(meshd.adminPort, 'RegisterInstance', {
      ServiceId: serviceId,
      InstanceId: 'b',
      Attributes: { AWS_INSTANCE_IPV4: '10.0.0.2' },
    });
    await meshd.stop();
    const journal = `${statePath}.journal`;
    const lines = fs.readFileSync(journal, 'utf8').split('\n');
    lines[0] = '{"seq": garbage';
    fs.writeFileSync(journal, lines.join('\n'));
    const broken = startMeshd([
      'serve',
      '--mesh',
      meshDir,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      `${await freePort()}`,
      '--admin-port',
      `${await freePort()}`,
      '--cloud-map-state',
      statePath,
    ]);
    const code = await new Promise<number | null>((r) => broken.child.once('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(broken.stderr().trimEnd().split('\n')).toEqual([expect.stringContaining(`${journal}:1: not valid JSON`)]);
  }, 30000);
});
