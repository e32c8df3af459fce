// The rollout API and `meshd rollout` against a real meshd (no Envoy needed): what it refuses,
// in which words, and that a refused start changes nothing. The rollouts themselves, with
// Envoy and traffic, are test/e2e/rollout.test.ts.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { QUICKSTART_MESH } from '../helpers/mesh-text';
import { freePort, MESHD_BIN, startMeshd, tmpDir, waitFor, type RunningProcess } from '../helpers/processes';

function post(
  port: number,
  pathName: string,
  body?: string,
): Promise<{ status: number; body: { error?: string; phase?: string } }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: pathName, method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { error?: string } }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('rollout API and CLI against a running meshd', () => {
  let meshd: RunningProcess;
  let adminPort: number;
  let meshFile: string;

  beforeAll(async () => {
    const dir = tmpDir('rollout-api-');
    meshFile = path.join(dir, 'mesh.yaml');
    fs.copyFileSync(
      path.join(
        QUICKSTART_MESH,
        fs.readdirSync(QUICKSTART_MESH).find((f) => f.endsWith('.yaml'))!,
      ),
      meshFile,
    );
    adminPort = await freePort();
    meshd = startMeshd([
      'serve',
      '--mesh',
      meshFile,
      '--xds-port',
      String(await freePort()),
      '--admin-port',
      String(adminPort),
      '--rollout-state',
      path.join(dir, 'rollouts.json'),
    ]);
    await waitFor('meshd to serve', () => (meshd.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
  });

  afterAll(async () => {
    await meshd.stop();
  });

  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [MESHD_BIN, 'rollout', ...args, '--admin', `127.0.0.1:${adminPort}`], {
      encoding: 'utf8',
    });
  const spec = { route: { virtualRouter: 'color', name: 'color-split' }, primary: 'color-blue', canary: 'color-green' };

  it('a bad spec is 400 naming every field at fault', async () => {
    const r = await post(
      adminPort,
      '/v1/rollouts',
      JSON.stringify({
        name: 'c',
        spec: {
          ...spec,
          analysis: { interval: '10ms', stepWeigth: 5, metrics: [{ name: 'request-duration', thresholdRange: {} }] },
        },
      }),
    );
    expect(r.status).toBe(400);
    expect(r.body.error).toBe(
      "spec.analysis.stepWeigth: unknown field 'stepWeigth'; did you mean 'stepWeight'?; spec.analysis.metrics[0].thresholdRange: sets neither min nor max; set at least one",
    );
  });

  it('a body that is not JSON is 400', async () => {
    expect(await post(adminPort, '/v1/rollouts', '{')).toEqual({
      status: 400,
      body: { error: 'the body must be JSON: {"mesh": "...", "name": "...", "spec": {...}}' },
    });
  });

  it('a route that cannot be rolled out is 409 and exit 1 from the CLI, and nothing starts', () => {
    const r = cli('start', '--route', 'color/color-split', '--primary', 'color-blue', '--canary', 'front');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      "meshd rollout start: Route/color/color-split has no weighted target for the canary 'front' (it sends to color-blue, color-green); add { virtualNode: front, weight: 0 }\n",
    );
    expect(cli('status').stdout).toBe('no rollouts\n');
  });

  it('commands on a rollout that does not exist are 404, exit 1', async () => {
    expect(await post(adminPort, '/v1/rollouts/apps/ghost/pause')).toEqual({
      status: 404,
      body: { error: 'no rollout apps/ghost' },
    });
    expect(cli('pause', 'ghost')).toMatchObject({ status: 1, stderr: "meshd rollout pause: no rollout 'ghost'\n" });
    expect((await post(adminPort, '/v1/rollouts/apps/ghost/frob')).status).toBe(404);
  });

  it('start, pause and abort through the CLI; the file keeps every byte but the two weights', () => {
    const before = fs.readFileSync(meshFile, 'utf8');
    const started = cli(
      'start',
      '--route',
      'color/color-split',
      '--primary',
      'color-blue',
      '--canary',
      'color-green',
      '--interval',
      '1h',
      '--format',
      'json',
    );
    expect(started.status).toBe(0);
    expect(JSON.parse(started.stdout)).toMatchObject({
      mesh: 'apps',
      name: 'color-green',
      source: 'api',
      settings: { intervalMs: 3_600_000, stepWeight: 10, maxWeight: 50 },
    });
    expect(
      cli(
        'start',
        '--route',
        'color/color-split',
        '--primary',
        'color-blue',
        '--canary',
        'color-green',
        '--name',
        'again',
      ),
    ).toMatchObject({
      status: 1,
      stderr: 'meshd rollout start: rollout apps/color-green is already rolling out that route\n',
    });
    expect(cli('pause', 'color-green')).toMatchObject({ status: 0 });
    expect(cli('pause', 'apps/color-green')).toMatchObject({
      status: 1,
      stderr: 'meshd rollout pause: rollout apps/color-green is already paused\n',
    });
    expect(cli('abort', 'color-green').stdout).toMatch(
      /^apps\/color-green {2}Aborted {2}color-green 0% \/ color-blue 100%/,
    );
    // The first step (10%) was written, then the abort: the file is back to its own text.
    expect(fs.readFileSync(meshFile, 'utf8')).toBe(before);
  });
});
