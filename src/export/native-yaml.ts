// meshd YAML, the native dialect (src/load/native.ts reads it back): one file per resource, so a
// change to one resource is a change to one file in `git diff`:
//   <mesh>/mesh.yaml
//   <mesh>/virtual-nodes/<name>.yaml, virtual-services/, virtual-routers/, virtual-gateways/
//   <mesh>/routes/<router>/<name>.yaml, gateway-routes/<gateway>/<name>.yaml
//   cloud-map/<namespace>/<service>.yaml  (kind: CloudMapService)
import type { ResourceKind } from '../model/common';
import { parentOf, type Resource } from '../model/mesh-model';
import { PARENT_FIELD } from '../load/resource-draft';
import { extensionFiles, pathSegment, type ExportedFile, type ExportInput, type ExportResult } from './exported';
import { dumpYaml } from './yaml-text';

const FOLDER: Readonly<Record<ResourceKind, string>> = {
  Mesh: '',
  VirtualService: 'virtual-services',
  VirtualNode: 'virtual-nodes',
  VirtualRouter: 'virtual-routers',
  Route: 'routes',
  VirtualGateway: 'virtual-gateways',
  GatewayRoute: 'gateway-routes',
};

/** One resource as a native document: kind, mesh, (virtualRouter | virtualGateway), name, spec. */
export function nativeDocument(r: Resource): Record<string, unknown> {
  const parentField = PARENT_FIELD[r.kind];
  return {
    kind: r.kind,
    ...(r.kind === 'Mesh' ? {} : { mesh: r.mesh }),
    ...(parentField ? { [parentField]: parentOf(r) } : {}),
    name: r.name,
    spec: r.spec,
  };
}

export function nativeFilePath(r: Resource): string {
  return nativePathOf(r.kind, r.mesh, parentOf(r), r.name);
}

/** Where one resource's file goes, relative to the folder: the store's API folder uses the same layout. */
export function nativePathOf(kind: ResourceKind, mesh: string, parent: string | undefined, name: string): string {
  if (kind === 'Mesh') return `${pathSegment(mesh)}/mesh.yaml`;
  return [
    pathSegment(mesh),
    FOLDER[kind],
    ...(parent === undefined ? [] : [pathSegment(parent)]),
    `${pathSegment(name)}.yaml`,
  ].join('/');
}

export function exportNativeYaml(input: ExportInput): ExportResult {
  const files: ExportedFile[] = input.model.resources.map((r) => ({
    path: nativeFilePath(r),
    text: dumpYaml(nativeDocument(r)),
  }));
  return { ok: true, files: [...files, ...extensionFiles(input)] };
}
