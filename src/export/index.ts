// `meshd export`'s writers: a MeshModel (and its Cloud Map seeds) as files of one format.
import { exportCliJson } from './cli-json';
import type { ExportFormat, ExportInput, ExportResult } from './exported';
import { exportK8sManifests } from './k8s-manifests';
import { exportNativeYaml } from './native-yaml';

export { EXPORT_FORMATS, type ExportFormat, type ExportInput, type ExportResult, type ExportedFile } from './exported';
export { writeExportFolder, exportAsStream, OutFolderError } from './write-folder';

export function exportMesh(input: ExportInput, format: ExportFormat): ExportResult {
  const result =
    format === 'yaml'
      ? exportNativeYaml(input)
      : format === 'cli-json'
        ? exportCliJson(input)
        : exportK8sManifests(input);
  if (!result.ok) return result;
  // Two files at one path (or at paths only a case-insensitive file system confuses) would lose a resource.
  const seen = new Map<string, string>();
  for (const f of result.files) {
    const key = f.path.toLowerCase();
    const other = seen.get(key);
    if (other !== undefined)
      return { ok: false, errors: [`two resources would be written to one file: ${other} and ${f.path}`] };
    seen.set(key, f.path);
  }
  return result;
}
