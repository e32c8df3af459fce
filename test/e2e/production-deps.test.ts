// The production install runs without meshd's devDependencies, @grpc/grpc-js-xds among them
// (meshd once read Envoy's .proto files from it at run time; the build now compiles them into a
// descriptor, scripts/gen-descriptor.js). The built meshd (bin/meshd, dist/) runs here with
// test/fixtures/production-only.js preloaded, which makes every dev-only package of
// package-lock.json unreachable, for modules and files alike, and logs each attempt; the user
// still gets a node's config from `render` and from a serving meshd, over ADS too, and nothing
// reached for a devDependency.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DiscoveryResponse__Output } from '../../src/generated/envoy/service/discovery/v3/DiscoveryResponse';
import { decodeResource } from '../../src/xds/protos';
import { TypeUrl } from '../../src/xds/type-urls';
import { AdsTestClient } from '../helpers/ads-client';
import { QUICKSTART_MESH } from '../helpers/mesh-text';
import { freePort, getOk, MESHD_BIN, startMeshd, tmpDir, waitFor, type RunningProcess } from '../helpers/processes';

const ROOT = path.resolve(__dirname, '../..');
const HOOK = path.join(ROOT, 'test/fixtures/production-only.js');
const FRONT = 'mesh/apps/virtualNode/front';

/** The environment of a meshd child that cannot reach devDependencies; refusals go to `blockedLog`. */
function productionEnv(blockedLog: string): Record<string, string> {
  return {
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${HOOK}`.trim(),
    MESHD_TEST_BLOCKED_LOG: blockedLog,
  };
}

const blocked = (log: string): string => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '');

describe('class: the production install reaches for a devDependency (@grpc/grpc-js-xds) at run time', () => {
  it('the hook really makes @grpc/grpc-js-xds unreachable (a dev-only package in the lock file)', () => {
    const log = path.join(tmpDir('prod-deps-'), 'blocked.log');
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    expect(lock.packages['node_modules/@grpc/grpc-js-xds']?.dev).toBe(true);
    const probe = spawnSync(process.execPath, ['-e', "require.resolve('@grpc/grpc-js-xds/package.json')"], {
      cwd: ROOT,
      env: { ...process.env, ...productionEnv(log) },
      encoding: 'utf8',
    });
    expect(probe.status).not.toBe(0);
    expect(probe.stderr).toContain('production-only: require');
    expect(blocked(log)).toContain('@grpc/grpc-js-xds');
  });

  it.each([
    ['render', []],
    ['render --static', ['--static']],
  ])("meshd %s prints a node's config", (_label, extra) => {
    const log = path.join(tmpDir('prod-deps-'), 'blocked.log');
    const r = spawnSync(
      process.execPath,
      [MESHD_BIN, 'render', '--mesh', QUICKSTART_MESH, '--node', FRONT, '--format', 'json', ...extra],
      { cwd: ROOT, env: { ...process.env, ...productionEnv(log) }, encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    const text = JSON.stringify(out);
    expect(text).toContain('lds_ingress_0.0.0.0_15000');
    expect(text).toContain('cds_egress_apps_color-blue_http_9081');
    expect(blocked(log)).toBe('');
  });

  it('an install missing a runtime package says which in one line, not "not built yet" (bin/meshd)', () => {
    const log = path.join(tmpDir('prod-deps-'), 'blocked.log');
    const r = spawnSync(process.execPath, [MESHD_BIN, 'render', '--mesh', QUICKSTART_MESH, '--node', FRONT], {
      cwd: ROOT,
      env: { ...process.env, ...productionEnv(log), MESHD_TEST_MISSING: 'chokidar' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /^meshd: a module it needs is not installed: .*chokidar.*; run `npm ci` in the meshd folder\n$/,
    );
  });

  describe('meshd serve', () => {
    let meshd: RunningProcess;
    let client: AdsTestClient | undefined;
    let adminPort: number;
    let xdsPort: number;
    let log: string;

    beforeAll(async () => {
      const state = tmpDir('prod-deps-');
      log = path.join(state, 'blocked.log');
      [adminPort, xdsPort] = [await freePort(), await freePort()];
      meshd = startMeshd(
        [
          'serve',
          '--mesh',
          QUICKSTART_MESH,
          '--xds-address',
          '127.0.0.1',
          '--xds-port',
          String(xdsPort),
          '--admin-port',
          String(adminPort),
          '--cloud-map-state',
          path.join(state, 'cloud-map.json'),
        ],
        productionEnv(log),
      );
      await waitFor('meshd to start', () =>
        meshd.stdout().includes('xDS (ADS gRPC)')
          ? true
          : meshd.child.exitCode !== null
            ? Promise.reject(new Error(meshd.stderr()))
            : undefined,
      );
    });

    afterAll(async () => {
      client?.close();
      await meshd.stop();
    });

    it('serves a node its listeners over ADS and shows its config on the admin API', async () => {
      client = new AdsTestClient(xdsPort);
      client.send({ node: { id: FRONT, cluster: 'front' }, type_url: TypeUrl.Listener });
      const res: DiscoveryResponse__Output = await client.next(10000);
      const names = res.resources.map((any) => decodeResource(any.type_url, any.value).name);
      expect(names).toContain('lds_ingress_0.0.0.0_15000');
      const config = JSON.parse(await getOk(adminPort, `/v1/config/${encodeURIComponent(FRONT)}`)) as unknown;
      expect(JSON.stringify(config)).toContain('cds_egress_apps_color-blue_http_9081');
      expect(meshd.child.exitCode).toBeNull();
      expect(blocked(log)).toBe('');
    });
  });
});
