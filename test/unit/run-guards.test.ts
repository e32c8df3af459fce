// The guards of jest's global setup (test/global-setup.ts): MESHD_UPDATE_GOLDEN=1 is refused where CI is set, and
// tests of the built meshd are refused while its build is older than src/. The last tests run jest itself, with that
// setup, on a small project in a temp folder. (The build folder is spelled `${OUT}/` here: a test file that names it
// outright is taken for one that runs the built meshd, see usesDist().)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { selectedTests, staleDistReason, usesDist } from '../helpers/dist-freshness';
import { goldenUpdateRequested } from '../helpers/golden';
import { tmpDir } from '../helpers/processes';

const ROOT = path.resolve(__dirname, '../..');
const OUT = 'dist';

function write(root: string, rel: string, text: string, mtimeSeconds?: number): string {
  const file = path.join(root, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  if (mtimeSeconds !== undefined) fs.utimesSync(file, mtimeSeconds, mtimeSeconds);
  return file;
}

/** src/a.ts and src/generated/g.ts, built after them. */
function builtProject(): string {
  const root = tmpDir('build-');
  write(root, 'src/a.ts', 'export const a = 1;\n', 1000);
  write(root, 'src/generated/g.ts', 'export const g = 1;\n', 1000);
  write(root, 'src/types.d.ts', 'declare const x: number;\n', 3000);
  write(root, `${OUT}/a.js`, 'exports.a = 1;\n', 2000);
  write(root, `${OUT}/generated/g.js`, 'exports.g = 1;\n', 2000);
  return root;
}

describe('MESHD_UPDATE_GOLDEN under CI', () => {
  it('rewrites the goldens only when asked, and never where CI is set', () => {
    expect(goldenUpdateRequested({})).toBe(false);
    expect(goldenUpdateRequested({ CI: 'true' })).toBe(false);
    expect(goldenUpdateRequested({ MESHD_UPDATE_GOLDEN: '1' })).toBe(true);
    expect(goldenUpdateRequested({ MESHD_UPDATE_GOLDEN: '1', CI: '' })).toBe(true);
    for (const CI of ['true', '1', 'false']) {
      expect(() => goldenUpdateRequested({ MESHD_UPDATE_GOLDEN: '1', CI })).toThrow(
        'MESHD_UPDATE_GOLDEN=1 where CI is set would rewrite the goldens and pass',
      );
    }
  });
});

describe('the build against src/', () => {
  it('is current when every src/X.ts has an X.js built no earlier (generated ones too; .d.ts have none)', () => {
    expect(staleDistReason(builtProject())).toBeUndefined();
  });

  it('is stale when a source changed after the build, or has no output yet, and says to build', () => {
    const root = builtProject();
    fs.utimesSync(path.join(root, 'src/generated/g.ts'), 3000, 3000);
    expect(staleDistReason(root)).toBe(
      `${OUT}/ is older than src/ (src/generated/g.ts): run \`npm run build\` first (these tests run the built meshd)`,
    );
    write(root, 'src/new.ts', 'export {};\n', 1000);
    expect(staleDistReason(root)).toMatch(
      new RegExp(`^${OUT}/ is older than src/ \\(src/generated/g\\.ts and 1 more\\)`),
    );
    fs.rmSync(path.join(root, OUT), { recursive: true });
    expect(staleDistReason(root)).toBe(`${OUT}/ is not built: run \`npm run build\` first`);
  });

  it('is stale when another input of the build (a .proto, a generator, tsconfig.json) changed after it', () => {
    const root = builtProject();
    write(root, 'protos/meshd/x.proto', 'syntax = "proto3";\n', 1500);
    expect(staleDistReason(root)).toBeUndefined();
    fs.utimesSync(path.join(root, 'protos/meshd/x.proto'), 2500, 2500);
    expect(staleDistReason(root)).toBe(
      `${OUT}/ is older than protos/meshd/x.proto: run \`npm run build\` first (these tests run the built meshd)`,
    );
  });

  it('is asked for only when the selected tests run the built meshd', () => {
    const roots = [path.join(ROOT, 'test')];
    const select = (testPathPattern: string) =>
      selectedTests({ roots, testPathPattern, testPathIgnorePatterns: ['/node_modules/'], byOtherMeans: false });
    const unitOnly = select('test/unit/telemetry-window|test/golden');
    expect(unitOnly).toHaveLength(2);
    expect((unitOnly as string[]).some(usesDist)).toBe(false);
    expect((select('test/e2e/cli.test.ts') as string[]).some(usesDist)).toBe(true);
    // A unit test that spawns the built meshd, and the whole suite.
    expect((select('mesh-listing') as string[]).some(usesDist)).toBe(true);
    expect((select('') as string[]).some(usesDist)).toBe(true);
    expect(selectedTests({ roots, testPathPattern: '', testPathIgnorePatterns: [], byOtherMeans: true })).toBe(
      'unknown',
    );
  });
});

describe("jest's global setup", () => {
  /** A project whose jest config uses meshd's global setup, with an e2e and a unit test; src/a.ts built. */
  function project(): string {
    const root = builtProject();
    const tsJest = require.resolve('ts-jest', { paths: [ROOT] });
    const config = {
      rootDir: root,
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.test.js'],
      transform: { '^.+\\.ts$': [tsJest, { tsconfig: path.join(ROOT, 'tsconfig.test.json') }] },
      globalSetup: path.join(ROOT, 'test/global-setup.ts'),
    };
    write(root, 'jest.config.json', JSON.stringify(config));
    write(root, 'test/e2e/runs-meshd.test.js', "test('e2e', () => {});\n");
    write(root, 'test/unit/pure.test.js', "test('unit', () => {});\n");
    return root;
  }

  function jest(root: string, args: string[], env: Record<string, string> = {}) {
    const bin = require.resolve('jest/bin/jest', { paths: [ROOT] });
    const run = spawnSync(process.execPath, [bin, '--config', path.join(root, 'jest.config.json'), '--ci', ...args], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, CI: '', MESHD_UPDATE_GOLDEN: '', ...env },
      timeout: 60_000,
    });
    return { status: run.status, output: `${run.stdout}${run.stderr}` };
  }

  it('refuses e2e tests against a build older than src/ before any test runs, in one line', () => {
    const root = project();
    expect(jest(root, ['test/e2e']).status).toBe(0);
    fs.utimesSync(path.join(root, 'src/a.ts'), 3000, 3000);
    const refused = jest(root, ['test/e2e']);
    expect(refused.status).toBe(1);
    expect(refused.output.trim()).toBe(
      `meshd tests refused: ${OUT}/ is older than src/ (src/a.ts): run \`npm run build\` first (these tests run the built meshd)`,
    );
    // Unit tests that do not use the build still run.
    const unit = jest(root, ['test/unit']);
    expect(unit.output).toContain('1 passed');
    expect(unit.status).toBe(0);
  });

  it('refuses MESHD_UPDATE_GOLDEN=1 where CI is set', () => {
    const refused = jest(project(), ['test/unit'], { CI: 'true', MESHD_UPDATE_GOLDEN: '1' });
    expect(refused.status).toBe(1);
    expect(refused.output.trim()).toBe(
      'meshd tests refused: MESHD_UPDATE_GOLDEN=1 where CI is set would rewrite the goldens and pass: ' +
        'update them locally and commit the diff',
    );
  });
});
