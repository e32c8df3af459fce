import { loadMesh } from '../load/mesh-source';
import { formatProblem } from '../load/problems';
import type { CommandSpec, ParsedArgs } from './args';
import { UsageError } from './args';
import { errorCount } from '../load/problems';
import { apiDirFlag, cloudFormationFlags, loadOptions, meshNameFlag, meshPathsOf, strictFlag } from './mesh-flags';

export const validateCommand: CommandSpec = {
  name: 'validate',
  summary: 'check mesh files; exit 0 when valid, else 1 with one line per problem',
  usage:
    'meshd validate <file|folder>... [--mesh-name <mesh>] [--strict] [--parameter Key=Value]... [--format text|json]',
  flags: {
    'mesh-name': meshNameFlag,
    'api-dir': apiDirFlag,
    strict: strictFlag,
    ...cloudFormationFlags,
    format: {
      type: 'string',
      metavar: 'text|json',
      help: 'text: one line per finding; json: one JSON document',
      default: 'text',
    },
  },
  notes: [
    'Folders are read recursively (.yaml, .yml, .json); each document may be meshd YAML, App Mesh CLI JSON, a',
    'Kubernetes manifest of the App Mesh controller, a CloudFormation template or the output of',
    '`terraform show -json` (a state or a saved plan). Each finding is printed as',
    '  path:line:col: error|warning|info: <Kind>/<name>: <message> (<field>)',
    'Warnings (legal but suspicious) and info lines do not make the mesh invalid.',
  ],
};

export function runValidate(args: ParsedArgs): number {
  if (args.positionals.length === 0)
    throw new UsageError('name at least one mesh file or folder: meshd validate <paths...>');
  const format = args.flags.format as string;
  if (format !== 'text' && format !== 'json') throw new UsageError(`--format must be text or json, got '${format}'`);
  const result = loadMesh(meshPathsOf(args, args.positionals), loadOptions(args));
  const resources = result.ok ? result.model.resources.length : 0;

  if (format === 'json') {
    const findings = result.problems.map((p) => ({
      severity: p.severity,
      ...p.location,
      resource: p.resource ?? null,
      field: p.field ?? null,
      message: p.message,
    }));
    process.stdout.write(
      `${JSON.stringify({ valid: result.ok, files: result.files.length, resources, errors: errorCount(result.problems), findings }, null, 2)}\n`,
    );
  } else {
    for (const p of result.problems) process.stdout.write(`${formatProblem(p)}\n`);
    const seeds =
      result.ok && result.cloudMapSeeds.length > 0 ? `, ${result.cloudMapSeeds.length} Cloud Map service(s)` : '';
    const rollouts = result.ok && result.rollouts.length > 0 ? `, ${result.rollouts.length} rollout(s)` : '';
    if (result.ok)
      process.stdout.write(`${result.files.length} file(s), ${resources} resource(s)${seeds}${rollouts}: valid\n`);
  }
  return result.ok ? 0 : 1;
}
