// Turns mesh paths (files or folders) into a validated MeshModel, or into the complete list
// of problems. Never throws on bad input and never returns a half-valid model.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compare, MeshModel, resourceLabel, type Resource } from '../model/mesh-model';
import { findDuplicates, validateReferences, type ModelIssue } from '../model/validate';
import { decodeNativeDocument } from './native';
import { formatFieldPath, type Problem } from './problems';
import { parseYamlDocuments, type ParsedDocument } from './yaml-documents';

export type LoadResult =
  | { readonly ok: true; readonly model: MeshModel; readonly files: readonly string[] }
  | { readonly ok: false; readonly problems: readonly Problem[]; readonly files: readonly string[] };

export const MESH_FILE_EXTENSIONS = ['.yaml', '.yml', '.json'];

export function isMeshFile(file: string): boolean {
  return MESH_FILE_EXTENSIONS.includes(path.extname(file).toLowerCase()) && !path.basename(file).startsWith('.');
}

/** The mesh files under the given paths, sorted; problems for paths that do not exist. */
export function listMeshFiles(paths: readonly string[]): { files: string[]; problems: Problem[] } {
  const files = new Set<string>();
  const problems: Problem[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory() && !entry.name.startsWith('.')) walk(full);
      else if (entry.isFile() && isMeshFile(full)) files.add(full);
    }
  };
  for (const p of paths) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(p);
    } catch {
      problems.push({ location: { file: p, line: 1, col: 1 }, message: 'mesh path does not exist; pass a mesh file or a folder of them' });
      continue;
    }
    if (stat.isDirectory()) walk(p);
    else files.add(p);
  }
  return { files: [...files].sort(), problems };
}

/** Reads, decodes and validates every mesh file under `paths`. */
export function loadMesh(paths: readonly string[]): LoadResult {
  const { files, problems } = listMeshFiles(paths);
  const resources: Resource[] = [];
  const documentOf = new Map<Resource, ParsedDocument>();

  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      problems.push({ location: { file, line: 1, col: 1 }, message: `cannot read file: ${(err as Error).message}` });
      continue;
    }
    const parsed = parseYamlDocuments(file, text);
    problems.push(...parsed.problems);
    for (const doc of parsed.documents) {
      const resource = decodeNativeDocument(doc, problems);
      if (resource) {
        resources.push(resource);
        documentOf.set(resource, doc);
      }
    }
  }
  if (files.length === 0 && problems.length === 0) {
    problems.push({ location: { file: paths.join(', '), line: 1, col: 1 }, message: `no mesh files (${MESH_FILE_EXTENSIONS.join(', ')}) found` });
  }

  const toProblem = (issue: ModelIssue): Problem => ({
    location: documentOf.get(issue.resource)!.locate(issue.path),
    resource: resourceLabel(issue.resource),
    message: issue.path.length > 0 && issue.path[0] === 'spec' ? `${formatFieldPath(issue.path)}: ${issue.message}` : issue.message,
  });
  problems.push(...findDuplicates(resources).map(toProblem));
  if (problems.length > 0) return { ok: false, problems: sortProblems(problems), files };

  const model = new MeshModel(resources);
  const issues = validateReferences(model).map(toProblem);
  if (issues.length > 0) return { ok: false, problems: sortProblems(issues), files };
  return { ok: true, model, files };
}

function sortProblems(problems: Problem[]): Problem[] {
  return [...problems].sort(
    ({ location: a }, { location: b }) => compare(a.file, b.file) || a.line - b.line || a.col - b.col,
  );
}
