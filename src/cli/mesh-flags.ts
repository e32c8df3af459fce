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

export const strictFlag: FlagSpec = {
  type: 'bool',
  help: "refuse fields of Kubernetes manifests that App Mesh's CRDs do not know (as kubectl --validate=strict does); without it they are warnings and left out, as the API server prunes them",
};

export function loadOptions(args: ParsedArgs): LoadOptions {
  const meshName = args.flags['mesh-name'] as string | undefined;
  return { ...(meshName === undefined ? {} : { meshName }), ...(args.flags.strict === true ? { strict: true } : {}) };
}

/** Sends each finding to the log at its own level. */
export function logProblems(log: Logger, problems: readonly Problem[]): void {
  for (const p of problems) (p.severity === 'error' ? log.error : p.severity === 'warning' ? log.warn : log.info)(formatProblem(p));
}

export function errorCount(problems: readonly Problem[]): number {
  return problems.filter((p) => p.severity === 'error').length;
}
