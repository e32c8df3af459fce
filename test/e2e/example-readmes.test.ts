// The examples' READMEs: their meshd commands run from the folder the README says, as written.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const EXAMPLES = path.resolve(__dirname, '../../examples');

/** The ```sh blocks of a README. */
function shellBlocks(readme: string): string[] {
  return [...fs.readFileSync(readme, 'utf8').matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

describe('examples/colorapp-migration/README.md', () => {
  it('validates both folders and renders the same front from them and from ../colorapp/mesh, run from its folder', () => {
    const dir = path.join(EXAMPLES, 'colorapp-migration');
    const block = shellBlocks(path.join(dir, 'README.md')).find((b) => b.includes('bin/meshd validate'));
    expect(block).toBeDefined();
    const run = spawnSync('bash', ['-euo', 'pipefail', '-c', block!], { cwd: dir, encoding: 'utf8' });
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
    const [cliJson, k8s, ...sums] = run.stdout.trimEnd().split('\n');
    // What the README's comments say each line prints.
    expect([cliJson, k8s]).toEqual(
      block!
        .split('\n')
        .filter((l) => l.includes('validate'))
        .map((l) => l.split('# ')[1]),
    );
    expect(sums).toHaveLength(3);
    expect(new Set(sums).size).toBe(1);
  });
});
