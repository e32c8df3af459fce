// Lint and format are part of the tests: scripts/style-check.js runs ESLint (eslint.config.js: typescript-eslint's
// recommended rules, no import cycles, 120 columns) and prettier's check over the repository's code, in a process of
// its own. A failure lists each finding as `file:line:col rule: message`; `npm run lint` and `npm run format` fix them.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from '../helpers/processes';

const ROOT = path.resolve(__dirname, '../..');
const CHECK = path.join(ROOT, 'scripts/style-check.js');

interface StyleCheck {
  eslintFiles: string[];
  prettierFiles: string[];
  findings: string[];
}

function styleCheck(root?: string): StyleCheck {
  const args = [CHECK, '--json', ...(root ? ['--root', root] : [])];
  const run = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0 && run.status !== 1) {
    throw new Error(`scripts/style-check.js failed (${run.status ?? run.signal}): ${run.stderr}`);
  }
  return JSON.parse(run.stdout) as StyleCheck;
}

describe('code style', () => {
  it('ESLint and prettier find nothing to change in the code (npm run lint, npm run format)', () => {
    const result = styleCheck();
    // Both saw every folder's code: a check that reads no file passes for nothing.
    for (const file of [
      'src/cli/main.ts',
      'test/unit/style.test.ts',
      'scripts/style-check.js',
      'bench/run.js',
      'bin/meshd',
      'console/src/main.tsx',
    ]) {
      expect(result.eslintFiles).toContain(file);
      expect(result.prettierFiles).toContain(file);
    }
    const { findings } = result;
    if (findings.length > 0) {
      const shown = findings.slice(0, 60).join('\n');
      const more = findings.length > 60 ? `\n... and ${findings.length - 60} more` : '';
      const fixes = 'npm run format; comments over 120 columns: node scripts/wrap-comments.js; npm run lint';
      throw new Error(`${findings.length} style findings (${fixes}):\n${shown}${more}`);
    }
  }, 180_000);

  it('names a misformatted line and an import cycle', () => {
    const dir = tmpDir('style-');
    fs.writeFileSync(path.join(dir, 'a.ts'), "import { b } from './b';\n\nexport const a = (): number => b() + 1;\n");
    fs.writeFileSync(path.join(dir, 'b.ts'), "import { a } from './a';\n\nexport const b = (): number => a( ) - 1;\n");
    expect(styleCheck(dir).findings).toEqual([
      'a.ts:1:1 import-x/no-cycle: Dependency cycle detected',
      'b.ts:1:1 import-x/no-cycle: Dependency cycle detected',
      'b.ts:3 prettier: not formatted; prettier writes "export const b = (): number => a() - 1;" here (npm run format)',
    ]);
  });
});
