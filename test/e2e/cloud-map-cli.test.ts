// `meshd register` and `meshd deregister` against a real meshd, run as the real executable:
// what a compose health check or a script sees (one line, an exit status) and what lands in
// the registry (meshd's GET /v1/cloud-map).
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { QUICKSTART_MESH } from '../helpers/mesh-text';
import { freePort, getOk, MESHD_BIN, startMeshd, tmpDir, waitFor, type RunningProcess } from '../helpers/processes';

function meshd(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MESHD_BIN, ...args], { encoding: 'utf8', timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

interface Contents {
  namespaces: {
    name: string;
    type: string;
    services: {
      name: string;
      customHealthCheck: boolean;
      instances: { id: string; health: string; attributes: Record<string, string> }[];
    }[];
  }[];
}

describe('meshd register / deregister', () => {
  let server: RunningProcess;
  let admin: string;
  const contents = async () => JSON.parse(await getOk(Number(admin.split(':')[1]), '/v1/cloud-map')) as Contents;
  const instances = async () =>
    (await contents()).namespaces.find((n) => n.name === 'shop.local')?.services.find((s) => s.name === 'orders')
      ?.instances ?? [];

  beforeAll(async () => {
    const adminPort = await freePort();
    admin = `127.0.0.1:${adminPort}`;
    const state = path.join(tmpDir('cloud-map-cli-'), 'cloud-map.json');
    server = startMeshd([
      'serve',
      '--mesh',
      QUICKSTART_MESH,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(await freePort()),
      '--admin-port',
      String(adminPort),
      '--cloud-map-state',
      state,
    ]);
    await waitFor(
      'meshd ready',
      async () =>
        await getOk(adminPort, '/readyz').then(
          () => true,
          () => undefined,
        ),
    );
  }, 30000);

  afterAll(async () => {
    await server?.stop();
  });

  it('registers, creating the namespace and the service (with a custom health check) on first use', async () => {
    const r = await meshd(
      'register',
      '--admin',
      admin,
      '--namespace',
      'shop.local',
      '--service',
      'orders',
      '--instance',
      'o-1',
      '--ipv4',
      '127.0.0.1',
      '--port',
      '9001',
      '--attribute',
      'version=v1',
    );
    expect(r).toMatchObject({ status: 0, stderr: '' });
    expect(r.stdout).toBe(
      'registered o-1 (127.0.0.1:9001) in shop.local/orders (created HTTP namespace shop.local, created service orders)\n',
    );
    const ns = (await contents()).namespaces.find((n) => n.name === 'shop.local')!;
    expect(ns.type).toBe('HTTP');
    expect(ns.services[0]).toMatchObject({ name: 'orders', customHealthCheck: true });
    expect(await instances()).toEqual([
      {
        id: 'o-1',
        health: 'HEALTHY',
        attributes: { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: '9001', version: 'v1' },
      },
    ]);
  });

  it('registering again replaces the attributes and can set the health; nothing new is created', async () => {
    const r = await meshd(
      'register',
      '--admin',
      admin,
      '--namespace',
      'shop.local',
      '--service',
      'orders',
      '--instance',
      'o-1',
      '--ipv4',
      '127.0.0.2',
      '--port',
      '9002',
      '--health',
      'UNHEALTHY',
    );
    expect(r.stdout).toBe('registered o-1 (127.0.0.2:9002, UNHEALTHY) in shop.local/orders\n');
    expect(await instances()).toEqual([
      { id: 'o-1', health: 'UNHEALTHY', attributes: { AWS_INSTANCE_IPV4: '127.0.0.2', AWS_INSTANCE_PORT: '9002' } },
    ]);
    expect((await contents()).namespaces.filter((n) => n.name === 'shop.local')).toHaveLength(1);
  });

  it("a value the registry refuses: exit 1 with AWS's error in one line, nothing changed", async () => {
    const before = await instances();
    const r = await meshd(
      'register',
      '--admin',
      admin,
      '--namespace',
      'shop.local',
      '--service',
      'orders',
      '--instance',
      'o-2',
      '--ipv4',
      '10.0.0.300',
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      "meshd register: RegisterInstance refused: InvalidInput: AWS_INSTANCE_IPV4 must be an IPv4 address, got '10.0.0.300'\n",
    );
    expect(await instances()).toEqual(before);
  });

  it('deregisters; deregistering what is not there is exit 1 naming it', async () => {
    expect(
      await meshd(
        'deregister',
        '--admin',
        admin,
        '--namespace',
        'shop.local',
        '--service',
        'orders',
        '--instance',
        'o-1',
      ),
    ).toMatchObject({
      status: 0,
      stdout: 'deregistered o-1 from shop.local/orders\n',
    });
    expect(await instances()).toEqual([]);
    const again = await meshd(
      'deregister',
      '--admin',
      admin,
      '--namespace',
      'shop.local',
      '--service',
      'orders',
      '--instance',
      'o-1',
    );
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(
      /^meshd deregister: DeregisterInstance refused: InstanceNotFound: No instance exists with ID: o-1/,
    );
    const noNamespace = await meshd(
      'deregister',
      '--admin',
      admin,
      '--namespace',
      'nowhere.local',
      '--service',
      'orders',
      '--instance',
      'o-1',
    );
    expect(noNamespace).toMatchObject({
      status: 1,
      stderr: 'meshd deregister: namespace nowhere.local does not exist\n',
    });
  });

  it('bad flags are exit 2 with one line; an unreachable meshd is exit 1 saying so', async () => {
    expect(await meshd('register', '--admin', admin, '--namespace', 'shop.local', '--service', 'orders')).toMatchObject(
      { status: 2, stderr: 'meshd register: --instance is required\n' },
    );
    expect(
      await meshd('register', '--admin', admin, '--namespace', 'a', '--service', 'b', '--instance', 'c'),
    ).toMatchObject({
      status: 2,
      stderr: 'meshd register: give --ipv4 or --ipv6: Envoy needs an address to reach the instance\n',
    });
    expect(
      (
        await meshd(
          'register',
          '--admin',
          admin,
          '--namespace',
          'a',
          '--service',
          'b',
          '--instance',
          'c',
          '--ipv4',
          '127.0.0.1',
          '--attribute',
          'novalue',
        )
      ).stderr,
    ).toBe("meshd register: --attribute must be key=value, got 'novalue'\n");
    expect(
      (
        await meshd(
          'register',
          '--admin',
          admin,
          '--namespace',
          'a',
          '--service',
          'b',
          '--instance',
          'c',
          '--ipv4',
          '127.0.0.1',
          '--health',
          'fine',
        )
      ).status,
    ).toBe(2);
    const gone = await meshd(
      'deregister',
      '--admin',
      `127.0.0.1:${await freePort()}`,
      '--namespace',
      'a',
      '--service',
      'b',
      '--instance',
      'c',
    );
    expect(gone.status).toBe(1);
    expect(gone.stderr).toMatch(/cannot reach meshd's admin API at http:\/\/127\.0\.0\.1:\d+ \(connection refused\)/);
    const help = await meshd('register', '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--attribute');
  });
});
