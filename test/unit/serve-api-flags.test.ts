// `meshd serve`'s flags for App Mesh's API: --api-credentials (parsed like --cloud-map-credentials),
// --api-account-id, --api-region and --api-dir with its default beside the first mesh path. A bad
// value is a one-line usage error naming the flag (or the variable that set it), exit 2; a
// non-loopback admin address without credentials gets one warning at start.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, UsageError } from '../../src/cli/args';
import { apiSettings, serveCommand } from '../../src/cli/serve';
import { defaultApiDir } from '../../src/store/api-dir';
import { QUICKSTART_MESH } from '../helpers/mesh-text';
import { freePort, MESHD_BIN, startMeshd, tmpDir, waitFor } from '../helpers/processes';

function settings(argv: string[], env: Record<string, string> = {}, paths = ['/srv/mesh.yaml']) {
  return apiSettings(parseArgs(serveCommand, argv, env), paths);
}

function usageError(argv: string[], env: Record<string, string> = {}): string {
  try {
    settings(argv, env);
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  throw new Error(`accepted: ${argv.join(' ')}`);
}

describe('--api-* flags', () => {
  it('defaults: account 000000000000, region us-east-1, no credentials, .meshd-api beside the mesh file', () => {
    expect(settings([])).toEqual({ dir: '/srv/.meshd-api', accountId: '000000000000', region: 'us-east-1' });
  });

  it('takes the values given, by flag or variable', () => {
    expect(
      settings([
        '--api-credentials',
        'AKID:s3cret',
        '--api-account-id',
        '123456789012',
        '--api-region',
        'eu-west-1',
        '--api-dir',
        '/var/lib/meshd/api',
      ]),
    ).toEqual({
      dir: '/var/lib/meshd/api',
      credentials: { accessKeyId: 'AKID', secretAccessKey: 's3cret' },
      accountId: '123456789012',
      region: 'eu-west-1',
    });
    expect(
      settings([], { MESHD_API_CREDENTIALS: 'K:S', MESHD_API_ACCOUNT_ID: '111122223333', MESHD_API_DIR: '/d' }),
    ).toMatchObject({ dir: '/d', credentials: { accessKeyId: 'K', secretAccessKey: 'S' }, accountId: '111122223333' });
  });

  it('a bad value is a usage error naming the flag or the variable', () => {
    expect(usageError(['--api-credentials', 'nocolon'])).toMatch(
      /^--api-credentials: expected ACCESS_KEY_ID:SECRET_ACCESS_KEY \(exactly one ':'\)/,
    );
    expect(usageError(['--api-credentials', 'AKID:'])).toBe(
      '--api-credentials: expected ACCESS_KEY_ID:SECRET_ACCESS_KEY: the secret access key is empty',
    );
    expect(usageError([], { MESHD_API_CREDENTIALS: ':secret' })).toMatch(
      /^MESHD_API_CREDENTIALS: .*the access key id is empty/,
    );
    expect(usageError(['--api-account-id', '12345'])).toBe("--api-account-id must be 12 digits, got '12345'");
    expect(usageError(['--api-account-id', '12345678901a'])).toBe(
      "--api-account-id must be 12 digits, got '12345678901a'",
    );
    expect(usageError([], { MESHD_API_ACCOUNT_ID: '1234567890123' })).toBe(
      "MESHD_API_ACCOUNT_ID must be 12 digits, got '1234567890123'",
    );
    expect(usageError(['--api-region', 'US East'])).toBe(
      "--api-region must be an AWS region such as us-east-1, got 'US East'",
    );
    expect(usageError(['--api-dir', ''])).toBe('--api-dir must name a folder');
  });
});

describe('defaultApiDir', () => {
  it('.meshd-api in the first mesh path when a folder, else in its folder; a missing path by its extension', () => {
    const root = tmpDir('api-dir-');
    const folder = path.join(root, 'mesh');
    fs.mkdirSync(folder);
    const file = path.join(root, 'one.yaml');
    fs.writeFileSync(file, '');
    expect(defaultApiDir([folder, file])).toBe(path.join(folder, '.meshd-api'));
    expect(defaultApiDir([file, folder])).toBe(path.join(root, '.meshd-api'));
    // A folder whose name has a dot is still a folder when it exists.
    const dotted = path.join(root, 'mesh.d');
    fs.mkdirSync(dotted);
    expect(defaultApiDir([dotted])).toBe(path.join(dotted, '.meshd-api'));
    // Not there yet (serve waits for it): mesh.yaml is a file, later-mesh a folder.
    expect(defaultApiDir([path.join(root, 'later', 'mesh.yaml')])).toBe(path.join(root, 'later', '.meshd-api'));
    expect(defaultApiDir([path.join(root, 'later-mesh')])).toBe(path.join(root, 'later-mesh', '.meshd-api'));
    expect(defaultApiDir(['mesh.yaml'])).toBe('.meshd-api');
  });
});

describe('meshd serve (the real binary)', () => {
  it('exits 2 with one line for a bad --api-account-id, before anything listens', async () => {
    const result = spawnSync(
      process.execPath,
      [
        MESHD_BIN,
        'serve',
        '--mesh',
        QUICKSTART_MESH,
        '--admin-port',
        String(await freePort()),
        '--api-account-id',
        '42',
      ],
      { encoding: 'utf8', timeout: 15000 },
    );
    expect(result.status).toBe(2);
    expect(result.stderr).toBe("meshd serve: --api-account-id must be 12 digits, got '42'\n");
  }, 20000);

  it('with --insecure-admin, warns once at start when the admin address is not loopback and --api-credentials is not set', async () => {
    // The API's folder and the Cloud Map registry in a fresh folder, never beside the example's files.
    const common = async () => {
      const dir = tmpDir('api-warn-');
      return [
        'serve',
        '--mesh',
        QUICKSTART_MESH,
        '--api-dir',
        path.join(dir, 'api'),
        '--cloud-map-state',
        path.join(dir, 'cm.json'),
        '--xds-address',
        '127.0.0.1',
        '--xds-port',
        `${await freePort()}`,
        '--admin-address',
        '0.0.0.0',
        '--admin-port',
        '0',
        // Without it meshd refuses to start beyond loopback without every admin credential (admin-auth.test.ts).
        '--insecure-admin',
      ];
    };
    const warned = startMeshd(await common());
    try {
      await waitFor('the banner', () => warned.stdout().includes('admin API:') || undefined);
      const lines = warned
        .stderr()
        .split('\n')
        .filter((l) => l.includes('--api-credentials'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/admin address 0\.0\.0\.0 is not loopback.*every App Mesh API call is refused/);
    } finally {
      await warned.stop();
    }
    const quiet = startMeshd([...(await common()), '--api-credentials', 'AKID:secret']);
    try {
      await waitFor('the banner', () => quiet.stdout().includes('admin API:') || undefined);
      expect(quiet.stderr()).not.toContain('--api-credentials');
    } finally {
      await quiet.stop();
    }
  }, 40000);
});
