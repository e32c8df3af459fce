import { loadMesh } from '../load/mesh-source';
import { formatProblem } from '../load/problems';
import type { CommandSpec, ParsedArgs } from './args';
import { UsageError } from './args';

export const validateCommand: CommandSpec = {
  name: 'validate',
  summary: 'check mesh files; exit 0 when valid, else 1 with one line per problem',
  usage: 'meshd validate <file|folder>...',
  flags: {},
  notes: ['Each problem is printed as  path:line:col: error: <Kind>/<name>: <message>'],
};

export function runValidate(args: ParsedArgs): number {
  if (args.positionals.length === 0) throw new UsageError('name at least one mesh file or folder: meshd validate <paths...>');
  const result = loadMesh(args.positionals);
  if (!result.ok) {
    for (const p of result.problems) process.stdout.write(`${formatProblem(p)}\n`);
    return 1;
  }
  const count = result.model.resources.length;
  process.stdout.write(`${result.files.length} file(s), ${count} resource(s): valid\n`);
  return 0;
}
