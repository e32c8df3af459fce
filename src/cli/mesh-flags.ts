// Flags shared by every command that reads a mesh, and how their findings are printed.
import type { LoadOptions } from '../load/mesh-source';
import { formatProblem, type Problem } from '../load/problems';
import type { Logger } from '../log';
import type { FlagSpec, ParsedArgs } from './args';

export const meshNameFlag: FlagSpec = {
  type: 'string',
  metavar: 'mesh',
  help: 'the mesh of resources that name none (App Mesh CLI JSON without meshName, Kubernetes manifests without meshRef); default: the only mesh defined',
};

export function loadOptions(args: ParsedArgs): LoadOptions {
  const meshName = args.flags['mesh-name'] as string | undefined;
  return meshName === undefined ? {} : { meshName };
}

/** Sends each finding to the log at its own level. */
export function logProblems(log: Logger, problems: readonly Problem[]): void {
  for (const p of problems) (p.severity === 'error' ? log.error : p.severity === 'warning' ? log.warn : log.info)(formatProblem(p));
}

export function errorCount(problems: readonly Problem[]): number {
  return problems.filter((p) => p.severity === 'error').length;
}
