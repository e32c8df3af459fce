// `npm start` (package.json's start script: meshd serving examples/quickstart) ends its banner
// with the commands that attach an Envoy. Run exactly as printed, in meshd's folder, they write
// the bootstrap where they say (under .meshd/, which git ignores) and start an Envoy that gets
// its configuration from that meshd. The quickstart's fixed ports are moved by App Mesh's
// variables, which `meshd bootstrap` reads, so the printed text itself is what runs.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeWithEnvoy } from '../helpers/envoy';
import { freePort, getOk, tmpDir, waitFor } from '../helpers/processes';

const ROOT = path.resolve(__dirname, '../..');

interface ProxyEntry {
  readonly nodeId: string;
  readonly types: Record<string, { state: string }>;
}

/** The arguments `npm start` gives bin/meshd. */
function startScriptArgs(): string[] {
  const script = (
    JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts.start!;
  const m = /(?:^|&& )node bin\/meshd (.*)$/.exec(script);
  if (!m) throw new Error(`package.json's start script does not run node bin/meshd: ${script}`);
  return m[1]!.split(' ');
}

describeWithEnvoy('npm start: the Envoy commands it prints run as printed', () => {
  it('writes the bootstrap under .meshd/ and starts an Envoy that meshd configures', async () => {
    const cwd = tmpDir('quickstart-');
    const adminPort = await freePort();
    // The start script's mesh path is relative to the checkout; meshd runs in a folder of its own here.
    const args = startScriptArgs().map((a) => (a.startsWith('examples/') ? path.join(ROOT, a) : a));
    const meshd = spawn(
      process.execPath,
      [
        path.join(ROOT, 'bin/meshd'),
        ...args,
        '--xds-port',
        String(await freePort()),
        '--admin-port',
        String(adminPort),
        '--statsd-port',
        '0',
      ],
      {
        cwd,
        env: { ...process.env, INIT_CWD: cwd },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    meshd.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const envoyLog = path.join(cwd, 'envoy.log');
    let envoy: ReturnType<typeof spawn> | undefined;
    try {
      const commands = await waitFor('the attach commands in the banner', () => {
        if (meshd.exitCode !== null) throw new Error(`meshd exited (${meshd.exitCode})`);
        const lines = stdout.split('\n');
        const heading = lines.findIndex((l) => l.startsWith('attach an Envoy'));
        const end = lines.indexOf('', heading);
        return heading >= 0 && end > heading ? lines.slice(heading + 1, end).map((l) => l.trim()) : undefined;
      });
      expect(commands).toHaveLength(2); // the Envoy is installed: no install line
      const [bootstrapLine, envoyLine] = commands as [string, string];
      expect(bootstrapLine).toMatch(
        /^mkdir -p \.meshd && \S+ bootstrap --node mesh\/apps\/virtualNode\/front .*> \.meshd\/front-envoy\.yaml$/,
      );
      expect(envoyLine).toBe(
        `${process.env.ENVOY_BIN || path.join(ROOT, '.envoy/envoy/_bin/envoy')} -c .meshd/front-envoy.yaml`,
      );

      const ports = {
        ENVOY_ADMIN_ACCESS_PORT: String(await freePort()),
        APPMESH_ENVOY_INGRESS_PORT: String(await freePort()),
        APPMESH_ENVOY_EGRESS_PORT: String(await freePort()),
      };
      const bootstrap = spawnSync('bash', ['-c', bootstrapLine], {
        cwd,
        env: { ...process.env, ...ports },
        encoding: 'utf8',
      });
      expect({ status: bootstrap.status, stderr: bootstrap.stderr }).toEqual({ status: 0, stderr: '' });
      expect(fs.readFileSync(path.join(cwd, '.meshd/front-envoy.yaml'), 'utf8')).toContain(
        'mesh/apps/virtualNode/front',
      );

      // Hot restart off, so that it shares nothing with another Envoy on this machine; otherwise as printed.
      const log = fs.openSync(envoyLog, 'w');
      envoy = spawn('bash', ['-c', `exec ${envoyLine} --disable-hot-restart`], { cwd, stdio: ['ignore', log, log] });
      fs.closeSync(log);
      const spawned = envoy;
      await waitFor(
        'front SYNCED in /v1/proxies',
        async () => {
          if (spawned.exitCode !== null)
            throw new Error(`Envoy exited (${spawned.exitCode}): ${fs.readFileSync(envoyLog, 'utf8').slice(-2000)}`);
          const proxies = JSON.parse(await getOk(adminPort, '/v1/proxies')) as ProxyEntry[];
          const front = proxies.find((p) => p.nodeId === 'mesh/apps/virtualNode/front');
          return front && ['CDS', 'LDS'].every((t) => front.types[t]?.state === 'SYNCED') ? true : undefined;
        },
        30_000,
        200,
      );
    } finally {
      envoy?.kill('SIGKILL');
      meshd.kill('SIGTERM');
    }
  }, 60_000);

  it('names a bootstrap file that git ignores in the checkout', () => {
    const ignored = spawnSync('git', ['check-ignore', '-q', '.meshd/front-envoy.yaml'], { cwd: ROOT });
    expect(ignored.status).toBe(0);
  });
});
