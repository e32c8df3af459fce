// The command line as a user meets it: help everywhere, one-line errors, exit codes.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { meshFolder, QUICKSTART_MESH } from '../helpers/mesh-text';
import { freePort, getOk, MESHD_BIN, startMeshd, waitFor } from '../helpers/processes';
import { BAD_INPUTS } from '../unit/bad-inputs.cases';

function meshd(...args: string[]) {
  const r = spawnSync(process.execPath, [MESHD_BIN, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('meshd command line', () => {
  it.each(['serve', 'validate', 'render', 'bootstrap', 'rollout'])(
    '%s --help describes the command and exits 0',
    (command) => {
      const out = meshd(command, '--help');
      expect(out.status).toBe(0);
      expect(out.stdout).toContain(`usage: meshd ${command}`);
    },
  );

  it('--version and the version command print meshd and the version in package.json, exit 0', () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as {
      version: string;
    };
    expect(meshd('--version')).toEqual({ status: 0, stdout: `meshd ${version}\n`, stderr: '' });
    expect(meshd('version')).toEqual({ status: 0, stdout: `meshd ${version}\n`, stderr: '' });
    expect(meshd('--help').stdout).toMatch(/^ {2}version +print meshd's version \(also: meshd --version\)$/m);
  });

  it('--help of every command: each flag apart from its description, which starts in one column, wrapped to 100 columns', () => {
    const overview = meshd('--help').stdout;
    const commands = overview
      .slice(overview.indexOf('commands:\n'))
      .split('\n')
      .flatMap((l) => /^ {2}([a-z-]+) /.exec(l)?.[1] ?? []);
    expect(commands).toEqual(
      expect.arrayContaining([
        'serve',
        'validate',
        'render',
        'bootstrap',
        'status',
        'config-dump',
        'rollout',
        'version',
      ]),
    );
    for (const command of commands) {
      const help = meshd(command, '--help');
      expect(help.status).toBe(0);
      const lines = help.stdout.split('\n');
      const flags = lines.slice(lines.indexOf('flags:') + 1, lines.indexOf('', lines.indexOf('flags:')));
      expect(flags).toContain('  --help                          show this help');
      for (const line of flags) {
        // `  --flag <value>` alone, or followed by two spaces or more and the description at column 34;
        // or a description's next line there.
        const ok = /^ {2}--[a-z0-9-]+( <[^>]+>)?( {2,}(?<=^.{34})\S.*)?$/.test(line) || /^ {34}\S/.test(line);
        expect({ command, line, ok }).toEqual({ command, line, ok: true });
        if (line.length > 100)
          expect({ command, line, oneWord: !/\S \S/.test(line.trim()) }).toEqual({ command, line, oneWord: true });
      }
    }
  });

  it('lists the commands when run without one', () => {
    const out = meshd('--help');
    expect(out.status).toBe(0);
    for (const c of ['serve', 'validate', 'render', 'bootstrap']) expect(out.stdout).toContain(`  ${c} `);
  });

  it('rejects an unknown flag in one line', () => {
    expect(meshd('render', '--nod', 'x')).toEqual({
      status: 2,
      stdout: '',
      stderr: "meshd render: unknown flag --nod for 'meshd render' (see meshd render --help)\n",
    });
  });

  it.each([
    [['rollout'], 'name what to do: meshd rollout <status|start|pause|resume|abort|promote>'],
    [
      ['rollout', 'frob'],
      "unknown rollout command 'frob'; expected one of status, start, pause, resume, abort, promote",
    ],
    [['rollout', 'abort'], 'name the rollout: meshd rollout abort <name> (or <mesh>/<name>)'],
    [['rollout', 'status', '--canary', 'v2'], '--canary is for meshd rollout start only'],
    [
      ['rollout', 'start', '--primary', 'v1', '--canary', 'v2'],
      '--route is required: meshd rollout start --route <router>/<route> --primary <node> --canary <node>',
    ],
    [
      ['rollout', 'start', '--route', 'r', '--primary', 'v1', '--canary', 'v2'],
      "--route must be <virtual router>/<route>, got 'r'",
    ],
    [
      ['rollout', 'start', '--route', 'r/rt', '--primary', 'v1', '--canary', 'v2', '--webhook', 'later=http://x/'],
      "--webhook must be <type>=<url> with a type among confirm-rollout, pre-rollout, rollout, confirm-traffic-increase, confirm-promotion, post-rollout, rollback, event, got 'later=http://x/'",
    ],
  ])('rollout %j is refused in one line, exit 2, before meshd is asked', (args, message) => {
    expect(meshd(...args, '--admin', '127.0.0.1:1')).toEqual({
      status: 2,
      stdout: '',
      stderr: `meshd rollout: ${message}\n`,
    });
  });

  it('rollout: an unreachable meshd is one line and exit 1', () => {
    expect(meshd('rollout', 'status', '--admin', '127.0.0.1:1')).toEqual({
      status: 1,
      stdout: '',
      stderr:
        "meshd rollout status: cannot reach meshd's admin API at http://127.0.0.1:1 (connection refused); is meshd serve running? pass --admin host:port\n",
    });
  });

  it('validate: exit 0 on the bundled example', () => {
    const out = meshd('validate', QUICKSTART_MESH);
    expect(out.status).toBe(0);
    expect(out.stdout).toBe('1 file(s), 8 resource(s): valid\n');
  });

  it('validate: exit 1 and one path:line:col line per problem', () => {
    const dir = meshFolder({
      'm.yaml':
        'kind: Mesh\nname: apps\n---\nkind: Gateway\nmesh: apps\nname: g\n---\nkind: VirtualNode\nmesh: apps\nname: n\nspec: { backends: [{ virtualService: { virtualServiceName: nope } }] }\n',
    });
    const out = meshd('validate', dir);
    expect(out.status).toBe(1);
    const file = path.join(dir, 'm.yaml');
    expect(out.stdout.split('\n').filter(Boolean)).toEqual([
      `${file}:4:7: error: must be one of Mesh, VirtualService, VirtualNode, VirtualRouter, Route, VirtualGateway, GatewayRoute, CloudMapService, Rollout, got "Gateway" (kind)`,
      `${file}:11:60: error: VirtualNode/n: virtual service 'nope' is not defined in mesh 'apps' (spec.backends[0].virtualService.virtualServiceName)`,
    ]);
    expect(out.stderr).toBe('');
  });

  it('validate --format json: the same findings, machine-readable', () => {
    const dir = meshFolder({
      'm.yaml':
        'kind: Mesh\nname: apps\n---\nkind: VirtualService\nmesh: apps\nname: s\nspec: { provider: { virtualRouter: { virtualRouterName: r } } }\n',
    });
    const out = meshd('validate', '--format', 'json', dir);
    expect(out.status).toBe(1);
    expect(JSON.parse(out.stdout)).toEqual({
      valid: false,
      files: 1,
      resources: 0,
      errors: 1,
      findings: [
        {
          severity: 'error',
          file: path.join(dir, 'm.yaml'),
          line: 7,
          col: 57,
          resource: 'VirtualService/s',
          field: 'spec.provider.virtualRouter.virtualRouterName',
          message: "virtual router 'r' is not defined in mesh 'apps'",
        },
      ],
    });
  });

  it('validate: an empty mesh is valid but warned about in one line naming the path(s), in text and json', () => {
    const empty = (files: string) =>
      `the mesh is empty: ${files} no App Mesh resources (Mesh, VirtualNode, ...), so no proxy gets any configuration`;
    const dir = meshFolder({
      'empty.yaml': '',
      'comments.yaml': '# nothing yet\n---\n',
      'deploy.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d }\n',
    });
    const file = path.join(dir, 'empty.yaml');
    expect(meshd('validate', file)).toEqual({
      status: 0,
      stdout: `${file}:1:1: warning: ${empty('its file defines')}\n1 file(s), 0 resource(s): valid\n`,
      stderr: '',
    });
    expect(meshd('validate', dir)).toEqual({
      status: 0,
      stdout: `${path.join(dir, 'deploy.yaml')}:1:1: info: skipping Deployment/d: not an App Mesh resource\n${dir}:1:1: warning: ${empty('its 3 files define')}\n3 file(s), 0 resource(s): valid\n`,
      stderr: '',
    });
    const two = [file, path.join(dir, 'comments.yaml')];
    const json = meshd('validate', '--format', 'json', ...two);
    expect(json.status).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      valid: true,
      files: 2,
      resources: 0,
      errors: 0,
      findings: [
        {
          severity: 'warning',
          file: two.join(', '),
          line: 1,
          col: 1,
          resource: null,
          field: null,
          message: empty('its 2 files define'),
        },
      ],
    });
    // A mesh with resources is not empty, whatever other files hold.
    expect(meshd('validate', QUICKSTART_MESH, file).stdout).toBe('2 file(s), 8 resource(s): valid\n');
  });

  it('validate --mesh-name: CLI JSON without meshName joins the named mesh', () => {
    const node =
      '{ "virtualNodeName": "n", "spec": { "backends": [{ "virtualService": { "virtualServiceName": "s" } }] } }';
    const dir = meshFolder({
      'm.yaml': 'kind: Mesh\nname: a\n---\nkind: Mesh\nname: b\n---\nkind: VirtualService\nmesh: b\nname: s\n',
      'n.json': node,
    });
    const without = meshd('validate', dir);
    expect(without.status).toBe(1);
    expect(without.stdout).toContain(
      'n.json:1:1: error: VirtualNode/n: names no mesh and 2 meshes are defined (a, b); name one here or pass --mesh-name',
    );
    const withName = meshd('validate', '--mesh-name', 'b', dir);
    expect(withName.stdout).toContain("warning: VirtualNode/n: virtual service 's' has no provider");
    expect(withName.status).toBe(0);
  });

  it('render: prints the resources of a node, and names an unknown node in one line', () => {
    const out = meshd('render', '--mesh', QUICKSTART_MESH, '--node', 'mesh/apps/virtualNode/front', '--format', 'json');
    expect(out.status).toBe(0);
    const rendered = JSON.parse(out.stdout);
    expect(rendered.listeners.map((l: { name: string }) => l.name)).toEqual([
      'lds_egress_0.0.0.0_15001',
      'lds_ingress_0.0.0.0_15000',
    ]);
    expect(rendered.listeners[0].filter_chains[0].filters[0].typed_config['@type']).toBe(
      'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    );
    const unknown = meshd('render', '--mesh', QUICKSTART_MESH, '--node', 'mesh/apps/virtualNode/nobody');
    expect(unknown).toEqual({
      status: 1,
      stdout: '',
      stderr:
        "meshd render: node id 'mesh/apps/virtualNode/nobody' names virtual node 'nobody', which is not defined in mesh 'apps'\n",
    });
  });

  it('serve: a missing mesh path is reported, meshd keeps running, and serves once the path appears', async () => {
    const dir = meshFolder({});
    const missing = path.join(dir, 'later');
    const adminPort = await freePort();
    const server = startMeshd([
      'serve',
      '--mesh',
      missing,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(await freePort()),
      '--admin-port',
      String(adminPort),
    ]);
    try {
      await waitFor('meshd to start', () => (server.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
      // The banner says what meshd waits for, not that it serves it.
      expect(server.stdout().split('\n')[0]).toBe(
        `meshd is waiting for ${missing} to appear; nothing is served until it does and the mesh is valid`,
      );
      expect(server.stdout()).not.toContain('meshd is serving');
      expect(server.stderr()).toContain(
        `error ${missing}:1:1: mesh path does not exist; pass a mesh file or a folder of them`,
      );
      expect(server.stderr()).toContain('nothing is served until the mesh is valid');
      const health = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
      expect(health.status).toBe(200);

      fs.mkdirSync(missing);
      fs.copyFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), path.join(missing, 'mesh.yaml'));
      await waitFor('meshd to load the new folder', () =>
        server.stderr().includes('mesh reloaded') ? true : undefined,
      );
      const config = (await (
        await fetch(`http://127.0.0.1:${adminPort}/v1/config/${encodeURIComponent('mesh/apps/virtualNode/front')}`)
      ).json()) as { clusters: unknown[] };
      expect(config.clusters).toHaveLength(3);
      expect(server.stderr()).not.toMatch(/\n\s+at /); // no stack trace anywhere
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('serve: the banner names each missing mesh path, and only those', async () => {
    const dir = meshFolder({});
    const [first, second] = [path.join(dir, 'one.yaml'), path.join(dir, 'two')];
    const server = startMeshd([
      'serve',
      '--mesh',
      QUICKSTART_MESH,
      '--mesh',
      first,
      second,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(await freePort()),
      '--admin-port',
      String(await freePort()),
    ]);
    try {
      await waitFor('meshd to start', () => (server.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
      expect(server.stdout().split('\n')[0]).toBe(
        `meshd is waiting for ${first} and ${second} to appear; nothing is served until they do and the mesh is valid`,
      );
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('serve: an empty mesh is served (a folder may be waiting for its files), with a warning in the log', async () => {
    const dir = meshFolder({ 'mesh.yaml': '# to be written\n' });
    const server = startMeshd([
      'serve',
      '--mesh',
      dir,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(await freePort()),
      '--admin-port',
      String(await freePort()),
    ]);
    try {
      await waitFor('meshd to start', () => (server.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
      expect(server.stderr()).toContain('mesh loaded: 0 resources from 1 file(s)');
      const warnings = server
        .stderr()
        .split('\n')
        .filter((l) => / warn /.test(l));
      expect(warnings.map((l) => l.replace(/^\S+ warn {2}/, ''))).toEqual([
        `${dir}:1:1: the mesh is empty: its file defines no App Mesh resources (Mesh, VirtualNode, ...), so no proxy gets any configuration`,
      ]);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('serve: each finding of bad mesh files is logged as validate prints it, its severity said once (by the level)', async () => {
    const picked = [
      'YAML syntax error',
      'misspelt top-level field',
      'mesh not defined',
      'k8s ref and ARN',
      'terraform API field the provider does not have',
      'cfn GetAtt of a load balancer',
    ];
    const files: Record<string, string> = {
      'base.yaml': fs.readFileSync(path.join(__dirname, '../fixtures/bad/base.yaml'), 'utf8'),
    };
    for (const [title, file, text] of BAD_INPUTS.filter(([title]) => picked.includes(title)))
      files[`${picked.indexOf(title)}-${file}`] = text;
    expect(Object.keys(files)).toHaveLength(picked.length + 1);
    const dir = meshFolder(files);
    const validated = meshd('validate', dir).stdout.trim().split('\n');
    expect(validated.filter((l) => l.includes(': error: ')).length).toBeGreaterThanOrEqual(picked.length);

    const server = startMeshd([
      'serve',
      '--mesh',
      dir,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(await freePort()),
      '--admin-port',
      String(await freePort()),
    ]);
    try {
      await waitFor('meshd to start', () => (server.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
      const logged = server
        .stderr()
        .split('\n')
        .map((l) => l.replace(/^\S+ /, ''));
      const LEVEL: Record<string, string> = { error: 'error', warning: 'warn ', info: 'info ' };
      // `path:line:col: error: message` in validate is `error path:line:col: message` in the log.
      const expected = validated
        .filter((l) => / (error|warning|info): /.test(l))
        .map((l) =>
          l.replace(
            /^(.+?:\d+:\d+): (error|warning|info): /,
            (_, at: string, severity: string) => `${LEVEL[severity]} ${at}: `,
          ),
        );
      expect(logged).toEqual(expect.arrayContaining(expected));
      expect(logged.filter((l) => /: (error|warning|info): /.test(l))).toEqual([]);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('serve: a port already in use is one error line and exit 1', async () => {
    const port = await freePort();
    const first = startMeshd([
      'serve',
      '--mesh',
      QUICKSTART_MESH,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(port),
      '--admin-port',
      String(await freePort()),
    ]);
    try {
      await waitFor('the first meshd to start', () => (first.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
      const second = spawnSync(
        process.execPath,
        [
          MESHD_BIN,
          'serve',
          '--mesh',
          QUICKSTART_MESH,
          '--xds-address',
          '127.0.0.1',
          '--xds-port',
          String(port),
          '--admin-port',
          String(await freePort()),
          '--statsd-port',
          '0',
        ],
        { encoding: 'utf8', timeout: 20000 },
      );
      expect(second.status).toBe(1);
      expect(second.stderr).toContain(
        `error cannot start: xDS address 127.0.0.1:${port} is already in use (another meshd?); pick another with --xds-port`,
      );
      expect(second.stderr.split('\n').filter((l) => l && !/ info {2}/.test(l))).toHaveLength(1);
      expect(second.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await first.stop();
    }
  });

  it('serve: every flag can come from its MESHD_* variable (for compose files); a flag wins', async () => {
    const [xdsPort, adminPort] = [await freePort(), await freePort()];
    const env = {
      ...process.env,
      MESHD_MESH: QUICKSTART_MESH,
      MESHD_XDS_LISTEN_ADDRESS: '127.0.0.1',
      MESHD_XDS_PORT: String(xdsPort),
      MESHD_ADMIN_PORT: '1',
      MESHD_LOG_FORMAT: 'json',
      MESHD_STATSD_PORT: '0',
    };
    const child = spawn(process.execPath, [MESHD_BIN, 'serve', '--admin-port', String(adminPort)], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      expect(await waitFor("meshd to be ready on the flag's admin port", () => getOk(adminPort, '/readyz'))).toContain(
        'ready',
      );
      expect(out.split('\n').find((l) => l.includes('mesh loaded'))).toMatch(
        /^\{.*"msg":"mesh loaded: 8 resources from 1 file\(s\)"/,
      );
      await waitFor(`the banner naming the xDS address from the variables`, () =>
        out.includes(`127.0.0.1:${xdsPort}`) ? true : undefined,
      );
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('serve: a bad variable is one line naming it', () => {
    const r = spawnSync(process.execPath, [MESHD_BIN, 'serve'], {
      encoding: 'utf8',
      env: { ...process.env, MESHD_MESH: QUICKSTART_MESH, MESHD_XDS_PORT: 'eighteen' },
    });
    expect({ status: r.status, stderr: r.stderr }).toEqual({
      status: 2,
      stderr: "meshd serve: MESHD_XDS_PORT must be a whole number from 0 to 65535, got 'eighteen'\n",
    });
    expect(meshd('serve', '--help').stdout).toMatch(/--mesh <path> +mesh files or folders[^[]*\[\$MESHD_MESH\]/);
  });
});

describe('a long report through a pipe', () => {
  it('meshd validate writes every finding before it exits, past the 64 KiB a pipe buffers', () => {
    const docs = ['kind: Mesh\nname: m\n'];
    for (let i = 0; i < 3000; i++)
      docs.push(`kind: VirtualNode\nname: n${i}\nspec: {listeners: [{portMapping: {port: 0, protocol: bogus}}]}\n`);
    const dir = meshFolder({ 'nodes.yaml': docs.join('---\n') });
    // spawnSync reads stdout through a pipe, as `meshd validate | less` would.
    const r = spawnSync(process.execPath, [MESHD_BIN, 'validate', dir], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(r.status).toBe(1);
    expect(r.stdout.length).toBeGreaterThan(64 * 1024);
    for (const i of [0, 1500, 2999]) expect(r.stdout).toContain(`VirtualNode/n${i}:`);
  });
});
