// A plan does not know `mesh_name = aws_appmesh_mesh.apps.id` until the mesh exists (the id is
// computed), so planned_values leaves it out. A mesh's id is its name, and the plan's
// `configuration` says which mesh the expression names: the mesh's planned `name` is the answer.
// Only references to a mesh of the same module are followed (not variables or module outputs).
import { isPlain } from '../../model/common';

/** Modules of `configuration` are walked to this depth at most (as planned_values are). */
const MAX_DEPTH = 16;

/**
 * `module.a["x"].aws_appmesh_mesh.m[0]` → `module.a.aws_appmesh_mesh.m`: configuration addresses have no instance keys.
 */
export function withoutInstanceKeys(address: string): string {
  return address.replace(/\[[^\]]*\]/g, '');
}

/**
 * The mesh name of each resource (by address without instance keys) whose `mesh_name` the plan's
 * configuration takes from a mesh's `id` or `name`, given the planned names of the meshes.
 */
export function meshNamesFromConfiguration(
  configuration: unknown,
  plannedMeshNames: ReadonlyMap<string, string | undefined>,
): Map<string, string> {
  const out = new Map<string, string>();
  const pending: { module: unknown; prefix: string; depth: number }[] = [
    { module: isPlain(configuration) ? configuration.root_module : undefined, prefix: '', depth: 0 },
  ];
  for (let next = 0; next < pending.length; next++) {
    const { module, prefix, depth } = pending[next]!;
    if (!isPlain(module)) continue;
    for (const resource of Array.isArray(module.resources) ? module.resources : []) {
      if (!isPlain(resource) || typeof resource.address !== 'string' || !isPlain(resource.expressions)) continue;
      const expression = resource.expressions.mesh_name;
      const references = isPlain(expression) && Array.isArray(expression.references) ? expression.references : [];
      const mesh = references
        .map((r) => (typeof r === 'string' ? /^(aws_appmesh_mesh\.[^.[\]]+)\.(id|name)$/.exec(r)?.[1] : undefined))
        .find((m) => m !== undefined);
      const name = mesh !== undefined ? plannedMeshNames.get(prefix + mesh) : undefined;
      if (name !== undefined) out.set(prefix + resource.address, name);
    }
    if (depth >= MAX_DEPTH || !isPlain(module.module_calls)) continue;
    for (const [call, value] of Object.entries(module.module_calls)) {
      if (isPlain(value)) pending.push({ module: value.module, prefix: `${prefix}module.${call}.`, depth: depth + 1 });
    }
  }
  return out;
}
