import {
  EXPORT_FORMATS,
  exportAsStream,
  exportMesh,
  OutFolderError,
  writeExportFolder,
  type ExportFormat,
} from '../export';
import { loadMesh } from '../load/mesh-source';
import { formatProblem } from '../load/problems';
import { UsageError, type CommandSpec, type ParsedArgs } from './args';
import { apiDirFlag, cloudFormationFlags, loadOptions, meshNameFlag, meshPathsOf, strictFlag } from './mesh-flags';

export const exportCommand: CommandSpec = {
  name: 'export',
  summary: 'write the whole mesh as meshd YAML, App Mesh CLI JSON or Kubernetes manifests',
  usage: 'meshd export --mesh <file|folder>... [--format yaml|cli-json|k8s] [--out <folder> [--force]]',
  flags: {
    mesh: { type: 'list', metavar: 'path', help: 'mesh files or folders, in any of the five dialects' },
    'mesh-name': meshNameFlag,
    'api-dir': apiDirFlag,
    strict: strictFlag,
    ...cloudFormationFlags,
    format: {
      type: 'string',
      metavar: 'yaml|cli-json|k8s',
      help: "yaml: meshd YAML, one file per resource; cli-json: aws appmesh create-* --cli-input-json files, numbered in the order to create them; k8s: the App Mesh controller's appmesh.k8s.aws/v1beta2 manifests",
      default: 'yaml',
    },
    out: {
      type: 'string',
      metavar: 'folder',
      help: 'write the files under this folder (created; it must be missing or empty, unless --force) instead of printing them',
    },
    force: {
      type: 'bool',
      help: 'with --out: write into a folder that is not empty, replacing each file atomically and removing the mesh files (.yaml, .yml, .json) the export no longer has; dot files and folders such as .git are left alone',
    },
  },
  notes: [
    'Without --out, every file is printed as one YAML document introduced by `--- # <path>`: the output, saved as one .yaml file, loads as it is.',
    'Cloud Map seeds (kind: CloudMapService) and Rollouts are written as meshd YAML under cloud-map/ and rollouts/ in every format; tags are not exported (see docs/mesh-files.md, Export).',
    'Nothing is written when the mesh is not valid or a resource cannot be written in the format (exit 1).',
  ],
};

export function runExport(args: ParsedArgs): number {
  const paths = [...(args.flags.mesh as string[]), ...args.positionals];
  const format = args.flags.format as string;
  const out = args.flags.out as string | undefined;
  if (paths.length === 0) throw new UsageError('name the mesh with --mesh <file|folder>');
  if (!(EXPORT_FORMATS as readonly string[]).includes(format))
    throw new UsageError(`--format must be ${EXPORT_FORMATS.join(', ')}, got '${format}'`);
  if (args.flags.force === true && out === undefined) throw new UsageError('--force goes with --out');
  if (out === '') throw new UsageError('--out must name a folder');

  const loaded = loadMesh(meshPathsOf(args, paths), loadOptions(args));
  if (!loaded.ok) {
    for (const p of loaded.problems) process.stderr.write(`${formatProblem(p)}\n`);
    return 1;
  }
  const result = exportMesh(
    { model: loaded.model, cloudMapSeeds: loaded.cloudMapSeeds.map((s) => s.seed), rollouts: loaded.rollouts },
    format as ExportFormat,
  );
  if (!result.ok) {
    for (const e of result.errors) process.stderr.write(`meshd export: ${e}\n`);
    return 1;
  }
  if (out === undefined) {
    process.stdout.write(exportAsStream(result.files));
    return 0;
  }
  try {
    writeExportFolder(out, result.files, args.flags.force === true);
  } catch (err) {
    if (err instanceof OutFolderError) throw new UsageError(err.message);
    process.stderr.write(`meshd export: cannot write --out ${out}: ${(err as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`meshd export: wrote ${result.files.length} files under ${out}\n`);
  return 0;
}
