// The Terraform dialect: the JSON that `terraform show -json` prints, for a state
// ({"format_version", "terraform_version", "values": {"root_module": …}}) or a saved plan
// ({"planned_values": {"root_module": …}, "prior_state", "resource_changes", "configuration"}).
// Of a plan `planned_values` is read: it is the mesh as it will be after `apply`, which is
// what meshd would then serve; `prior_state` is what it replaces. Modules are walked to a bounded
// depth; aws_appmesh_* resources become App Mesh resources, aws_service_discovery_* ones seed
// the local Cloud Map registry, and every other resource is skipped with one info line. A plan's
// `configuration` is read for one thing only: which mesh a mesh_name not known yet names.
import type { FieldPath } from '../../model/common';
import type { LocatedSeed } from '../cloud-map-seed';
import { formatFieldPath, inputText, type Problem } from '../problems';
import type { ResourceDraft } from '../resource-draft';
import type { ParsedDocument } from '../yaml-documents';
import { APPMESH_TYPES, readAppMeshResource, type AppMeshType } from './appmesh-resource';
import { isPlain } from '../../model/common';
import { cloudMapSeeds, INSTANCE_TYPE, NAMESPACE_TYPES, SERVICE_TYPE, type CloudMapResource } from './cloud-map';
import { meshNamesFromConfiguration, withoutInstanceKeys } from './plan-references';

/**
 * Modules nested deeper than this are not read (Terraform sets no limit; real configurations use a handful of levels).
 */
export const MAX_MODULE_DEPTH = 16;

/** True for the output of `terraform show -json`: a format_version and the values of a state or a plan. */
export function isTerraformShowJson(value: Record<string, unknown>): boolean {
  return (
    typeof value.format_version === 'string' &&
    ('values' in value || 'planned_values' in value || 'terraform_version' in value)
  );
}

export function readTerraformDocument(
  doc: ParsedDocument,
  problems: Problem[],
): { drafts: ResourceDraft[]; seeds: LocatedSeed[] } {
  const top = doc.value as Record<string, unknown>;
  const drafts: ResourceDraft[] = [];
  const appMeshResources: { type: AppMeshType; at: FieldPath; address: string; values: Record<string, unknown> }[] = [];
  const cloudMap: CloudMapResource[] = [];
  const error = (path: FieldPath, message: string) =>
    problems.push({
      severity: 'error',
      location: doc.locate(path),
      message,
      ...(path.length > 0 ? { field: formatFieldPath(path) } : {}),
    });

  const valuesKey = 'planned_values' in top ? 'planned_values' : 'values';
  const values = top[valuesKey];
  // an empty state prints only format_version
  if (values === undefined || values === null) return { drafts, seeds: [] };
  if (!isPlain(values)) {
    error([valuesKey], 'must be a mapping with a root_module');
    return { drafts, seeds: [] };
  }

  const readResource = (resource: unknown, at: FieldPath) => {
    if (!isPlain(resource)) return error(at, 'a resource must be a mapping');
    const { type, mode } = resource;
    const address =
      typeof resource.address === 'string' ? resource.address : `${inputText(type)}.${inputText(resource.name ?? '?')}`;
    if (mode === 'data') {
      problems.push({
        severity: 'info',
        location: doc.locate(at),
        message: `skipping ${address}: a data source reads a resource, it does not declare one`,
      });
      return;
    }
    const appMesh = typeof type === 'string' ? APPMESH_TYPES.get(type) : undefined;
    const isCloudMap =
      typeof type === 'string' && (NAMESPACE_TYPES.includes(type) || type === SERVICE_TYPE || type === INSTANCE_TYPE);
    if (!appMesh && !isCloudMap) {
      problems.push({
        severity: 'info',
        location: doc.locate(at),
        message: `skipping ${address}: meshd reads aws_appmesh_* and aws_service_discovery_* resources`,
      });
      return;
    }
    if (!isPlain(resource.values)) return error([...at, 'values'], `${address}: a resource's values must be a mapping`);
    if (appMesh) appMeshResources.push({ type: appMesh, at, address, values: resource.values });
    else cloudMap.push({ type: type as string, address, valuesAt: [...at, 'values'], values: resource.values });
  };

  // Iterative, with the depth bounded: a module's child_modules hold modules of their own.
  const pending: { module: unknown; at: FieldPath; depth: number }[] = [
    { module: values.root_module, at: [valuesKey, 'root_module'], depth: 0 },
  ];
  for (let next = 0; next < pending.length; next++) {
    const { module, at, depth } = pending[next]!;
    if (module === undefined || module === null) continue;
    if (!isPlain(module)) {
      error(at, 'a module must be a mapping with resources and child_modules');
      continue;
    }
    if (module.resources !== undefined && !Array.isArray(module.resources))
      error([...at, 'resources'], 'must be a list of resources');
    else (module.resources ?? []).forEach((r: unknown, i: number) => readResource(r, [...at, 'resources', i]));
    if (module.child_modules === undefined) continue;
    if (!Array.isArray(module.child_modules)) {
      error([...at, 'child_modules'], 'must be a list of modules');
      continue;
    }
    module.child_modules.forEach((child: unknown, i: number) => {
      const childAt = [...at, 'child_modules', i];
      if (depth + 1 > MAX_MODULE_DEPTH) {
        // No field: the path would name every level; the address says which module.
        const address = isPlain(child) && typeof child.address === 'string' ? `${child.address}: ` : '';
        problems.push({
          severity: 'error',
          location: doc.locate(childAt),
          message: `${address}modules are nested more than ${MAX_MODULE_DEPTH} deep; meshd reads no deeper`,
        });
      } else pending.push({ module: child, at: childAt, depth: depth + 1 });
    });
  }

  // In a plan, a mesh_name taken from a mesh not created yet is not known: the configuration says which mesh it is.
  const plannedMeshNames = new Map<string, string | undefined>();
  for (const r of appMeshResources.filter((r) => r.type.kind === 'Mesh')) {
    const key = withoutInstanceKeys(r.address);
    // counted meshes: ambiguous
    plannedMeshNames.set(
      key,
      plannedMeshNames.has(key) || typeof r.values.name !== 'string' ? undefined : r.values.name,
    );
  }
  const meshNames =
    valuesKey === 'planned_values'
      ? meshNamesFromConfiguration(top.configuration, plannedMeshNames)
      : new Map<string, string>();
  for (const r of appMeshResources)
    drafts.push(
      readAppMeshResource(
        doc,
        r.type,
        r.at,
        r.address,
        r.values,
        problems,
        meshNames.get(withoutInstanceKeys(r.address)),
      ),
    );
  return { drafts, seeds: cloudMapSeeds(doc, cloudMap, problems) };
}
