// `meshd render` and `meshd config-dump` print Envoy's own JSON (and YAML from it), one section
// or one resource at a time with --type and --name, as `istioctl proxy-config` does; a bad
// --type is a one-line usage error naming the valid ones, a --name nothing has is exit 1.
import { execFile } from 'node:child_process';
import { QUICKSTART_MESH } from '../helpers/mesh-text';
import { freePort, MESHD_BIN, startMeshd, waitFor, type RunningProcess } from '../helpers/processes';

const FRONT = 'mesh/apps/virtualNode/front';
const BLUE_CLUSTER = 'cds_egress_apps_color-blue_http_9081';
const TYPES = 'clusters, listeners, routes, endpoints, secrets';

function meshd(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MESHD_BIN, ...args], { encoding: 'utf8', timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

const render = (...args: string[]) => meshd('render', '--mesh', QUICKSTART_MESH, '--node', FRONT, ...args);
const namesOf = (config: Record<string, { name?: string; cluster_name?: string }[]>) =>
  Object.fromEntries(
    Object.entries(config).map(([section, list]) => [section, list.map((r) => r.name ?? r.cluster_name)]),
  );

describe('meshd render: canonical JSON and the --type/--name filters', () => {
  it('prints Envoy\'s JSON: durations as "1s", wrapped numbers bare, each resource with its @type', async () => {
    const out = await render('--format', 'json');
    expect(out.stderr).toBe('');
    const config = JSON.parse(out.stdout) as { clusters: Record<string, unknown>[] };
    const blue = config.clusters.find((c) => c.name === BLUE_CLUSTER)!;
    expect(blue['@type']).toBe('type.googleapis.com/envoy.config.cluster.v3.Cluster');
    expect(blue.connect_timeout).toBe('1s');
    expect(blue.circuit_breakers).toEqual({
      thresholds: [
        {
          max_connections: 2147483647,
          max_pending_requests: 2147483647,
          max_requests: 2147483647,
          max_retries: 2147483647,
        },
      ],
    });
  });

  it('YAML is the same JSON in YAML', async () => {
    const out = await render('--type', 'clusters', '--name', BLUE_CLUSTER);
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(
      /^clusters:\n {2}- "@type": type\.googleapis\.com\/envoy\.config\.cluster\.v3\.Cluster\n {4}name: cds_egress_apps_color-blue_http_9081\n/,
    );
    expect(out.stdout).toContain('    connect_timeout: 1s\n');
    expect(out.stdout).toContain('        - max_connections: 2147483647\n');
  });

  it('--type prints that section alone; --name the resources of that name', async () => {
    const listeners = JSON.parse((await render('--format', 'json', '--type', 'listeners')).stdout);
    expect(namesOf(listeners)).toEqual({ listeners: ['lds_egress_0.0.0.0_15001', 'lds_ingress_0.0.0.0_15000'] });
    const route = JSON.parse((await render('--format', 'json', '--name', 'rds_ingress_http_9080')).stdout);
    expect(namesOf(route)).toEqual({ routes: ['rds_ingress_http_9080'] });
    const both = JSON.parse((await render('--format', 'json', '--type', 'clusters', '--name', BLUE_CLUSTER)).stdout);
    expect(namesOf(both)).toEqual({ clusters: [BLUE_CLUSTER] });
    // meshd serves no secrets (certificates are files or an SDS agent's): an empty section.
    expect(JSON.parse((await render('--format', 'json', '--type', 'secrets')).stdout)).toEqual({ secrets: [] });
  });

  it('a bad --type is a one-line usage error naming the valid ones; an unknown --name is exit 1 naming what there is', async () => {
    expect(await render('--type', 'cluster')).toEqual({
      status: 2,
      stdout: '',
      stderr: `meshd render: --type must be one of ${TYPES}, got 'cluster'\n`,
    });
    expect(await render('--type', 'routes', '--name', 'nope')).toEqual({
      status: 1,
      stdout: '',
      stderr:
        "meshd render: no resource named 'nope' among this node's routes (rds_egress_http_15001, rds_egress_http_8080, rds_ingress_http_9080)\n",
    });
    expect(await render('--type', 'secrets', '--name', 'nope')).toEqual({
      status: 1,
      stdout: '',
      stderr: "meshd render: no resource named 'nope' among this node's secrets (none)\n",
    });
    expect((await render('--static', '--type', 'clusters')).status).toBe(2);
  });

  it.each(['render', 'config-dump'])('%s --help describes --type and --name', async (command) => {
    const out = await meshd(command, '--help');
    expect(out.status).toBe(0);
    // Descriptions wrap at 100 columns: read the help with each run of blanks as one space.
    const help = out.stdout.replace(/\s+/g, ' ');
    expect(help).toContain(`--type <section> print only this section: ${TYPES} (as istioctl proxy-config does)`);
    expect(help).toContain('--name <resource> print only the resources of this name');
  });
});

describe('meshd config-dump: canonical JSON and the --type/--name filters against a running meshd', () => {
  let server: RunningProcess;
  let admin: string;

  beforeAll(async () => {
    const adminPort = await freePort();
    admin = `127.0.0.1:${adminPort}`;
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
    ]);
    await waitFor('meshd to start', () => (server.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
  });

  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it('prints what render prints for the same node, and filters the same way', async () => {
    const dumped = await meshd('config-dump', FRONT, '--admin', admin);
    expect(dumped.stderr).toBe('');
    expect(JSON.parse(dumped.stdout)).toEqual(JSON.parse((await render('--format', 'json')).stdout));
    const one = await meshd(
      'config-dump',
      FRONT,
      '--admin',
      admin,
      '--type',
      'clusters',
      '--name',
      BLUE_CLUSTER,
      '--format',
      'yaml',
    );
    expect(one.stdout).toEqual((await render('--type', 'clusters', '--name', BLUE_CLUSTER)).stdout);
  });

  it('a bad --type is exit 2 before asking meshd; an unknown --name is exit 1', async () => {
    expect(await meshd('config-dump', FRONT, '--admin', admin, '--type', 'bogus')).toEqual({
      status: 2,
      stdout: '',
      stderr: `meshd config-dump: --type must be one of ${TYPES}, got 'bogus'\n`,
    });
    expect(await meshd('config-dump', FRONT, '--admin', admin, '--type', 'listeners', '--name', 'nope')).toEqual({
      status: 1,
      stdout: '',
      stderr:
        "meshd config-dump: no resource named 'nope' among this node's listeners (lds_egress_0.0.0.0_15001, lds_ingress_0.0.0.0_15000)\n",
    });
  });
});
