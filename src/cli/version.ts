// `meshd version` (and `meshd --version`): the version of package.json, read at run time so the
// executable, the image (which copies package.json) and the checkout never disagree.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, type CommandSpec, type ParsedArgs } from './args';

export const versionCommand: CommandSpec = {
  name: 'version',
  summary: "print meshd's version (also: meshd --version)",
  usage: 'meshd version',
  flags: {},
};

/** package.json, from dist/cli/ (the executable) or src/cli/ (the tests) alike. */
const PACKAGE_JSON = path.resolve(__dirname, '../../package.json');

/** meshd's version, or why it cannot be read. */
export function meshdVersion(file = PACKAGE_JSON): { ok: true; version: string } | { ok: false; error: string } {
  try {
    const version = (JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: unknown }).version;
    if (typeof version === 'string' && version) return { ok: true, version };
    return { ok: false, error: `${file} names no version` };
  } catch (err) {
    return { ok: false, error: `cannot read ${file}: ${(err as Error).message}` };
  }
}

export function runVersion(args: ParsedArgs): number {
  if (args.positionals.length > 0) throw new UsageError(`takes no arguments, got '${args.positionals[0]}'`);
  const version = meshdVersion();
  if (!version.ok) {
    process.stderr.write(`meshd version: ${version.error}\n`);
    return 1;
  }
  process.stdout.write(`meshd ${version.version}\n`);
  return 0;
}
