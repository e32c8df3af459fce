// `meshd status` and `meshd config-dump` against a real meshd (and, for the exact table, a
// stand-in admin API with a fixed answer), run as the real executable.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { TypeUrl } from '../../src/xds/type-urls';
import { AdsTestClient } from '../helpers/ads-client';
import { meshFolder, QUICKSTART_MESH } from '../helpers/mesh-text';
import { freePort, MESHD_BIN, startMeshd, waitFor, type RunningProcess } from '../helpers/processes';

/** Runs bin/meshd without blocking this process (the ADS clients and stand-in servers live here). */
function meshd(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MESHD_BIN, ...args], { encoding: 'utf8', timeout: 20000 }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

/** A stand-in admin API answering every GET with one fixed status and body. */
async function fakeAdmin(status: number, body: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const FRONT = { id: 'mesh/apps/virtualNode/front', cluster: 'front' };
const BLUE = { id: 'mesh/apps/virtualNode/color-blue', cluster: 'color-blue' };

describe('meshd status and config-dump against a running meshd', () => {
  let server: RunningProcess;
  let admin: string;
  const clients: AdsTestClient[] = [];

  beforeAll(async () => {
    const xdsPort = await freePort();
    const adminPort = await freePort();
    admin = `127.0.0.1:${adminPort}`;
    server = startMeshd([
      'serve',
      '--mesh',
      QUICKSTART_MESH,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(xdsPort),
      '--admin-port',
      String(adminPort),
    ]);
    await waitFor('meshd to start', () => (server.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
    clients.push(new AdsTestClient(xdsPort), new AdsTestClient(xdsPort));
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    expect(await server.stop()).toBe(0);
    expect(server.stderr()).not.toMatch(/\n\s+at /);
  });

  it('status: no proxies yet', async () => {
    expect(await meshd('status', '--admin', admin)).toEqual({
      status: 0,
      stdout: 'no proxies connected\n',
      stderr: '',
    });
  });

  it('status: a proxy that ACKed CDS is SYNCED; one that NACKed is NACKED, with the reason under the table', async () => {
    const [front, blue] = clients as [AdsTestClient, AdsTestClient];
    front.send({ node: FRONT, type_url: TypeUrl.Cluster });
    const frontRes = await front.next();
    front.send({
      node: FRONT,
      type_url: TypeUrl.Cluster,
      version_info: frontRes.version_info,
      response_nonce: frontRes.nonce,
    });

    const synced = await waitFor('status to show front SYNCED', async () => {
      const out = await meshd('status', '--admin', admin);
      return out.stdout.includes('SYNCED') ? out : undefined;
    });
    expect(synced.status).toBe(0);
    expect(synced.stderr).toBe('');
    const lines = synced.stdout.split('\n');
    expect(lines[0]).toMatch(/^NODE ID {3,}PROTOCOL {3,}CLIENT {3,}CDS {3,}EDS {3,}LDS {3,}RDS$/);
    // PROTOCOL and CLIENT are '-' on a meshd that does not report them yet.
    expect(lines[1]).toMatch(/^mesh\/apps\/virtualNode\/front {3,}\S+ {3,}\S.* {3,}SYNCED {3,}- {3,}- {3,}-$/);
    expect(lines.slice(2)).toEqual(['', '1 proxy: 1 SYNCED', '']);

    blue.send({ node: BLUE, type_url: TypeUrl.Cluster });
    const blueRes = await blue.next();
    blue.send({
      node: BLUE,
      type_url: TypeUrl.Cluster,
      response_nonce: blueRes.nonce,
      error_detail: { code: 3, message: 'rejected by test' },
    });

    const nacked = await waitFor('status to show color-blue NACKED', async () => {
      const out = await meshd('status', '--admin', admin);
      return out.stdout.includes('NACKED') ? out : undefined;
    });
    expect(nacked.status).toBe(0); // a NACK is news, not a failure of `meshd status`
    const rows = nacked.stdout.split('\n');
    // sorted by node id
    expect(rows[1]).toMatch(/^mesh\/apps\/virtualNode\/color-blue {3,}.* {3,}NACKED {3,}- {3,}- {3,}-$/);
    expect(rows[2]).toMatch(/^mesh\/apps\/virtualNode\/front {3,}.* {3,}SYNCED {3,}- {3,}- {3,}-$/);
    expect(rows.slice(3)).toEqual([
      '',
      `mesh/apps/virtualNode/color-blue CDS NACKED version ${blueRes.version_info}: rejected by test`,
      '2 proxies: 1 SYNCED, 1 NACKED',
      '',
    ]);

    const json = await meshd('status', '--admin', admin, '--format', 'json');
    expect(json.status).toBe(0);
    const entries = JSON.parse(json.stdout) as {
      nodeId: string;
      types: Record<string, { state: string; lastNack: { message: string } | null }>;
    }[];
    const blueEntry = entries.find((e) => e.nodeId === BLUE.id)!;
    expect(blueEntry.types.CDS).toMatchObject({ state: 'NACKED', lastNack: { message: 'rejected by test' } });
    expect(entries.find((e) => e.nodeId === FRONT.id)!.types.CDS).toMatchObject({
      state: 'SYNCED',
      ackedVersion: frontRes.version_info,
    });
  });

  it('config-dump: prints the JSON config of a node, with its clusters', async () => {
    const out = await meshd('config-dump', FRONT.id, '--admin', admin);
    expect(out.status).toBe(0);
    expect(out.stderr).toBe('');
    const config = JSON.parse(out.stdout) as { clusters: { name: string }[]; listeners: { name: string }[] };
    expect(config.clusters.map((c) => c.name)).toEqual(
      expect.arrayContaining([
        'cds_egress_apps_color-blue_http_9081',
        'cds_egress_apps_color-green_http_9082',
        'cds_ingress_apps_front_http_9080',
      ]),
    );
    expect(config.listeners.map((l) => l.name)).toEqual(
      expect.arrayContaining(['lds_egress_0.0.0.0_15001', 'lds_ingress_0.0.0.0_15000']),
    );
  });

  it('config-dump: an unknown node id is one error line and exit 1', async () => {
    expect(await meshd('config-dump', 'mesh/apps/virtualNode/nope', '--admin', admin)).toEqual({
      status: 1,
      stdout: '',
      stderr:
        "meshd config-dump: node id 'mesh/apps/virtualNode/nope' names virtual node 'nope', which is not defined in mesh 'apps'\n",
    });
  });
});

describe('meshd status: a proxy whose node id the mesh does not define', () => {
  const TYPO = 'mesh/apps/virtualNode/typo';
  const MALFORMED = 'apps/typo';
  const NO_MESH = 'mesh/nomesh/virtualNode/front';
  const TYPO_NODE = [
    '---',
    'kind: VirtualNode',
    'mesh: apps',
    'name: typo',
    'spec:',
    '  listeners: [{ portMapping: { port: 9083, protocol: http } }]',
    '  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }',
    '',
  ].join('\n');
  let server: RunningProcess;
  let admin: string;
  let dir: string;
  const clients: AdsTestClient[] = [];

  /** The messages of meshd's error log lines, without time and level. */
  const loggedErrors = () =>
    server
      .stderr()
      .split('\n')
      .flatMap((l) => /^\S+ error (.*)$/.exec(l)?.[1] ?? []);
  const proxiesJson = async () => {
    const out = await meshd('status', '--admin', admin, '--format', 'json');
    expect(out.status).toBe(0);
    return JSON.parse(out.stdout) as { nodeId: string; configProblem?: string | null }[];
  };

  beforeAll(async () => {
    dir = meshFolder({ 'mesh.yaml': fs.readFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), 'utf8') });
    const xdsPort = await freePort();
    admin = `127.0.0.1:${await freePort()}`;
    server = startMeshd([
      'serve',
      '--mesh',
      dir,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(xdsPort),
      '--admin-port',
      admin.split(':')[1]!,
      '--debounce-ms',
      '0',
    ]);
    await waitFor('meshd to start', () => (server.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
    for (const id of [TYPO, MALFORMED, NO_MESH]) {
      const client = new AdsTestClient(xdsPort);
      client.send({ node: { id, cluster: 'c' }, type_url: TypeUrl.Cluster });
      clients.push(client);
    }
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    expect(await server.stop()).toBe(0);
    expect(server.stderr()).not.toMatch(/\n\s+at /);
  });

  it('status says why each gets no configuration, in the words meshd logs, in text and json', async () => {
    const reasons = [
      `node id '${MALFORMED}' is not of the form mesh/<mesh>/virtualNode/<name> (or its ARN form arn:aws:appmesh:<region>:<account>:mesh/<mesh>/virtualNode/<name>); it gets no configuration until the mesh defines it`,
      `node id '${TYPO}' names virtual node 'typo', which is not defined in mesh 'apps'; it gets no configuration until the mesh defines it`,
      `node id '${NO_MESH}' names mesh 'nomesh', which is not defined; it gets no configuration until the mesh defines it`,
    ];
    const text = await waitFor('status to list the three proxies', async () => {
      const out = await meshd('status', '--admin', admin);
      return out.stdout.includes('3 proxies') ? out : undefined;
    });
    expect(text.status).toBe(0);
    expect(text.stderr).toBe('');
    const lines = text.stdout.split('\n');
    expect(lines.slice(1, 4).map((l) => l.split(/ {3,}/)[0])).toEqual([MALFORMED, TYPO, NO_MESH]);
    expect(lines.slice(4)).toEqual(['', ...reasons, '3 proxies: 3 NOT_SENT', '']);
    // One source: what status shows is what meshd logged.
    expect(loggedErrors()).toEqual(expect.arrayContaining(reasons));

    const json = await proxiesJson();
    expect(Object.fromEntries(json.map((p) => [p.nodeId, p.configProblem]))).toEqual({
      [MALFORMED]: reasons[0],
      [TYPO]: reasons[1],
      [NO_MESH]: reasons[2],
    });
  });

  it('once the mesh defines the node, its proxy is served and the reason is gone; if the mesh drops it again, status says it keeps its last configuration', async () => {
    const typo = clients[0]!;
    fs.writeFileSync(path.join(dir, 'typo.yaml'), TYPO_NODE);
    const res = await typo.next(10000);
    typo.send({
      node: { id: TYPO, cluster: 'c' },
      type_url: TypeUrl.Cluster,
      version_info: res.version_info,
      response_nonce: res.nonce,
    });
    const fixed = await waitFor('status to show typo SYNCED', async () => {
      const out = await meshd('status', '--admin', admin);
      return out.stdout.includes('SYNCED') ? out : undefined;
    });
    expect(fixed.stdout).not.toContain(`names virtual node 'typo'`);
    expect(fixed.stdout).toContain(`names mesh 'nomesh'`);
    expect((await proxiesJson()).find((p) => p.nodeId === TYPO)!.configProblem).toBeNull();

    fs.rmSync(path.join(dir, 'typo.yaml'));
    const kept = `node id '${TYPO}' names virtual node 'typo', which is not defined in mesh 'apps'; it keeps its last good configuration`;
    const dropped = await waitFor('status to say typo keeps its last configuration', async () => {
      const out = await meshd('status', '--admin', admin);
      return out.stdout.includes(kept) ? out : undefined;
    });
    expect(dropped.stdout.split('\n')).toContain(kept);
    expect(loggedErrors()).toContain(kept);
    expect((await proxiesJson()).find((p) => p.nodeId === TYPO)!.configProblem).toBe(kept);
  });
});

describe('meshd status: a proxy that connects before any valid mesh has loaded', () => {
  it('the banner says meshd waits for a valid mesh, status says why the proxy gets nothing, and the reason goes once the mesh loads', async () => {
    const valid = fs.readFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), 'utf8');
    const dir = meshFolder({ 'mesh.yaml': valid.replace('kind: VirtualNode', 'kind: VirtualNode\nspek: {}') });
    const file = path.join(dir, 'mesh.yaml');
    const xdsPort = await freePort();
    const admin = `127.0.0.1:${await freePort()}`;
    const server = startMeshd(
      ['serve', '--mesh', dir, '--xds-address', '127.0.0.1', '--xds-port', String(xdsPort)].concat([
        '--admin-port',
        admin.split(':')[1]!,
        '--debounce-ms',
        '0',
      ]),
    );
    let client: AdsTestClient | undefined;
    try {
      await waitFor('meshd to start', () => (server.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
      client = new AdsTestClient(xdsPort);
      expect(server.stdout().split('\n')[0]).toBe(
        `meshd is waiting for a valid mesh in ${dir}; nothing is served until the files load without errors (the log says what is wrong)`,
      );
      client.send({ node: FRONT, type_url: TypeUrl.Cluster });
      const reason = 'no valid mesh is loaded yet; nothing is served until the mesh files load without errors';
      const waiting = await waitFor('status to list the proxy', async () => {
        const out = await meshd('status', '--admin', admin);
        return out.stdout.includes('1 proxy') ? out : undefined;
      });
      expect(waiting.stdout.split('\n')).toContain(reason);
      const json = JSON.parse((await meshd('status', '--admin', admin, '--format', 'json')).stdout) as {
        configProblem: string | null;
      }[];
      expect(json.map((p) => p.configProblem)).toEqual([reason]);

      fs.writeFileSync(file, valid);
      await client.next(10000);
      const served = await waitFor('the reason to go', async () => {
        const out = await meshd('status', '--admin', admin, '--format', 'json');
        const proxies = JSON.parse(out.stdout) as { configProblem: string | null }[];
        return proxies[0]?.configProblem === null ? proxies : undefined;
      });
      expect(served).toHaveLength(1);
    } finally {
      client?.close();
      expect(await server.stop()).toBe(0);
    }
  });
});

describe('meshd status: the table', () => {
  it('shows every type, the protocol and client, sorts by node id then stream, and lists each NACK', async () => {
    const type = (state: string, version: string | null = 'v1') => ({
      state,
      sentVersion: version,
      ackedVersion: state === 'SYNCED' ? version : null,
      lastNack: null,
    });
    const nack = (version: string, message: string) => ({
      state: 'NACKED',
      sentVersion: version,
      ackedVersion: 'v1',
      lastNack: { version, message, at: '2024-01-01T00:00:00.000Z' },
    });
    const proxies = [
      {
        nodeId: 'mesh/apps/virtualNode/b',
        cluster: 'b',
        stream: 7,
        protocol: 'delta',
        client: 'gRPC Node Pure JS',
        peer: 'ipv4:127.0.0.1:1',
        connectedAt: '',
        types: { CDS: type('SYNCED'), LDS: type('STALE', 'v2') },
      },
      {
        nodeId: 'mesh/apps/virtualNode/a',
        cluster: 'a',
        stream: 9,
        protocol: 'sotw',
        client: 'envoy',
        peer: '',
        connectedAt: '',
        types: { CDS: type('SYNCED'), EDS: type('SYNCED'), LDS: type('SYNCED'), RDS: nack('v2', 'route\nrejected') },
      },
      {
        nodeId: 'mesh/apps/virtualNode/a',
        cluster: 'a',
        stream: 3,
        peer: '',
        connectedAt: '',
        types: { CDS: nack('v3', 'bad cluster'), EDS: type('NOT_SENT', null) },
      },
      {
        nodeId: 'mesh/apps/virtualGateway/gw',
        cluster: 'gw',
        stream: 1,
        protocol: 'sotw',
        client: 'envoy',
        peer: '',
        connectedAt: '',
        types: {},
      },
    ];
    const fake = await fakeAdmin(200, JSON.stringify(proxies));
    try {
      expect(await meshd('status', '--admin', `127.0.0.1:${fake.port}`)).toEqual({
        status: 0,
        stderr: '',
        stdout: [
          'NODE ID                       PROTOCOL   CLIENT              CDS      EDS        LDS      RDS',
          'mesh/apps/virtualGateway/gw   sotw       envoy               -        -          -        -',
          'mesh/apps/virtualNode/a       -          -                   NACKED   NOT_SENT   -        -',
          'mesh/apps/virtualNode/a       sotw       envoy               SYNCED   SYNCED     SYNCED   NACKED',
          'mesh/apps/virtualNode/b       delta      gRPC Node Pure JS   SYNCED   -          STALE    -',
          '',
          'mesh/apps/virtualNode/a CDS NACKED version v3: bad cluster',
          'mesh/apps/virtualNode/a RDS NACKED version v2: route rejected',
          '4 proxies: 1 STALE, 2 NACKED, 1 NOT_SENT',
          '',
        ].join('\n'),
      });
      const json = await meshd('status', '--admin', `http://127.0.0.1:${fake.port}`, '--format', 'json');
      expect(json.status).toBe(0);
      expect(JSON.parse(json.stdout)).toEqual(proxies);
    } finally {
      await fake.close();
    }
  });

  it("an answer that is not meshd's is one line and exit 1", async () => {
    const fake = await fakeAdmin(404, '{"error":"no such endpoint: /v1/proxies"}');
    try {
      expect(await meshd('status', '--admin', `127.0.0.1:${fake.port}`)).toEqual({
        status: 1,
        stdout: '',
        stderr: `meshd status: http://127.0.0.1:${fake.port}/v1/proxies answered 404: no such endpoint: /v1/proxies; is http://127.0.0.1:${fake.port} meshd's admin API?\n`,
      });
    } finally {
      await fake.close();
    }
  });
});

describe('meshd status and config-dump: usage and an unreachable meshd', () => {
  it.each(['status', 'config-dump'])('%s --help describes the command and exits 0', async (command) => {
    const out = await meshd(command, '--help');
    expect(out.status).toBe(0);
    expect(out.stdout).toContain(`usage: meshd ${command}`);
    expect(out.stdout).toContain('--admin <host:port>');
  });

  it('both are listed in meshd --help', async () => {
    const out = await meshd('--help');
    expect(out.stdout).toContain('  status ');
    expect(out.stdout).toContain('  config-dump ');
  });

  it('status: nothing listening is one line and exit 1', async () => {
    const port = await freePort();
    expect(await meshd('status', '--admin', `127.0.0.1:${port}`)).toEqual({
      status: 1,
      stdout: '',
      stderr: `meshd status: cannot reach meshd's admin API at http://127.0.0.1:${port} (connection refused); is meshd serve running? pass --admin host:port\n`,
    });
  });

  it('config-dump: nothing listening is one line and exit 1', async () => {
    const port = await freePort();
    expect(await meshd('config-dump', FRONT.id, '--admin', `127.0.0.1:${port}`)).toEqual({
      status: 1,
      stdout: '',
      stderr: `meshd config-dump: cannot reach meshd's admin API at http://127.0.0.1:${port} (connection refused); is meshd serve running? pass --admin host:port\n`,
    });
  });

  it('bad usage is one line and exit 2', async () => {
    expect(await meshd('config-dump')).toEqual({
      status: 2,
      stdout: '',
      stderr: 'meshd config-dump: name the proxy: meshd config-dump mesh/<mesh>/virtualNode/<name>\n',
    });
    expect(await meshd('status', '--format', 'yaml')).toEqual({
      status: 2,
      stdout: '',
      stderr: "meshd status: --format must be text or json, got 'yaml'\n",
    });
    expect(await meshd('config-dump', 'a', 'b')).toEqual({
      status: 2,
      stdout: '',
      stderr: 'meshd config-dump: takes one node id, got 2: a b\n',
    });
    expect(await meshd('status', 'front')).toEqual({
      status: 2,
      stdout: '',
      stderr: "meshd status: takes no arguments, got 'front' (a node's config: meshd config-dump <node-id>)\n",
    });
    expect(await meshd('status', '--admin', 'localhost')).toEqual({
      status: 2,
      stdout: '',
      stderr: "meshd status: --admin must be host:port (for example 127.0.0.1:18001), got 'localhost'\n",
    });
  });
});
