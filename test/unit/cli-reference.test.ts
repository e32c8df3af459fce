// docs/cli.md is generated from the command definitions (src/cli/reference.ts): it must be the one
// the current commands generate, so the reference never drifts from the flags and --help.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COMMANDS } from '../../src/cli/main';
import { CLI_REFERENCE_FILE, cliReference } from '../../src/cli/reference';

const SHIPPED = path.join(__dirname, '../..', CLI_REFERENCE_FILE);

describe('the command-line reference', () => {
  const current = cliReference(COMMANDS.map((c) => c.spec));

  it(`${CLI_REFERENCE_FILE} is the one the current commands generate (run npm run docs after changing a command)`, () => {
    const shipped = fs.existsSync(SHIPPED) ? fs.readFileSync(SHIPPED, 'utf8') : '';
    if (shipped === current) return;
    const [have, want] = [shipped.split('\n'), current.split('\n')];
    const line = want.findIndex((l, i) => have[i] !== l);
    throw new Error(
      `${CLI_REFERENCE_FILE} is stale: run \`npm run docs\` to regenerate it from src/cli/.\n` +
        `First difference at line ${line + 1}:\n  in the file: ${have[line] ?? '(end of file)'}\n  generated:   ${want[line] ?? '(end of file)'}`,
    );
  });

  it('has a section for every command, with every flag and its variables', () => {
    for (const { spec } of COMMANDS) {
      expect(current).toContain(`## meshd ${spec.name}\n`);
      const section = current.slice(current.indexOf(`## meshd ${spec.name}\n`)).split('\n## ')[0]!;
      for (const [name, flag] of Object.entries(spec.flags)) {
        expect(section).toContain(`| \`--${name}`);
        for (const variable of flag.env ?? []) expect(section).toContain(`\`${variable}\``);
      }
    }
  });
});
