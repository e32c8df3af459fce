// The App Mesh CLI's input form, one file per resource, as `aws appmesh create-<kind>
// --cli-input-json file://<file>` takes it (src/load/aws-cli-json.ts reads it back). The number
// that starts each file name is the order App Mesh needs them created in, so
// `for f in <mesh>/*.json` in name order works: the mesh, then virtual nodes, routers, their
// routes (after the nodes they target), virtual services (after the nodes and routers that
// provide them), gateways, and gateway routes (after their gateway and target service).
//   <mesh>/1-mesh.json
//   <mesh>/2-virtual-node-<name>.json       create-virtual-node
//   <mesh>/3-virtual-router-<name>.json     create-virtual-router
//   <mesh>/4-route-<router>+<name>.json     create-route
//   <mesh>/5-virtual-service-<name>.json    create-virtual-service
//   <mesh>/6-virtual-gateway-<name>.json    create-virtual-gateway
//   <mesh>/7-gateway-route-<gateway>+<name>.json  create-gateway-route
// (`+` cannot be part of a name's segment: pathSegment escapes it.)
// Cloud Map seeds have no App Mesh form: they are meshd YAML under cloud-map/ (exported.ts).
import type { ResourceKind } from '../model/common';
import { parentOf, type Resource } from '../model/mesh-model';
import { extensionFiles, pathSegment, type ExportedFile, type ExportInput, type ExportResult } from './exported';

/** The create order, the file-name stem, the CLI's name field and its parent's. */
const CLI: Readonly<Record<ResourceKind, { order: number; stem: string; name: string; parent?: string }>> = {
  Mesh: { order: 1, stem: 'mesh', name: 'meshName' },
  VirtualNode: { order: 2, stem: 'virtual-node', name: 'virtualNodeName' },
  VirtualRouter: { order: 3, stem: 'virtual-router', name: 'virtualRouterName' },
  Route: { order: 4, stem: 'route', name: 'routeName', parent: 'virtualRouterName' },
  VirtualService: { order: 5, stem: 'virtual-service', name: 'virtualServiceName' },
  VirtualGateway: { order: 6, stem: 'virtual-gateway', name: 'virtualGatewayName' },
  GatewayRoute: { order: 7, stem: 'gateway-route', name: 'gatewayRouteName', parent: 'virtualGatewayName' },
};

/** The `--cli-input-json` of `aws appmesh create-<kind>` for one resource. */
export function cliInput(r: Resource): Record<string, unknown> {
  const entry = CLI[r.kind];
  const parent = parentOf(r);
  return {
    meshName: r.mesh,
    ...(entry.parent !== undefined ? { [entry.parent]: parent } : {}),
    ...(r.kind === 'Mesh' ? {} : { [entry.name]: r.name }),
    spec: r.spec,
  };
}

export function cliFilePath(r: Resource): string {
  const entry = CLI[r.kind];
  const parent = parentOf(r);
  const stem =
    r.kind === 'Mesh'
      ? entry.stem
      : `${entry.stem}-${parent === undefined ? '' : `${pathSegment(parent)}+`}${pathSegment(r.name)}`;
  return `${pathSegment(r.mesh)}/${entry.order}-${stem}.json`;
}

export function exportCliJson(input: ExportInput): ExportResult {
  // App Mesh's CLI refuses a field App Mesh does not have, and the loader refuses it in this form.
  const errors = input.model.resources
    .filter((r) => r.kind === 'Mesh' && r.spec.meshd !== undefined)
    .map(
      (r) =>
        `Mesh/${r.name}: cannot be written as App Mesh CLI input: spec.meshd: meshd's own extension, which App Mesh does not have; export as native or k8s`,
    );
  if (errors.length > 0) return { ok: false, errors };
  const files: ExportedFile[] = input.model.resources.map((r) => ({
    path: cliFilePath(r),
    text: `${JSON.stringify(cliInput(r), null, 2)}\n`,
  }));
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { ok: true, files: [...files, ...extensionFiles(input)] };
}
