// What the demo runs, read from the mesh itself (loadMesh): the front app for the virtual node
// that has backends, one color app per virtual node those backends route to, and the virtual
// services to measure. Nothing here is colorapp's names; only the file layout of the example.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadMesh } from '../load/mesh-source';
import { formatProblem, isError } from '../load/problems';
import type { MeshModel } from '../model/mesh-model';
import { routeKindOf } from '../model/route';
import type { VirtualNode } from '../model/virtual-node';
import { DemoError } from './fail';

/** The example's files, relative to its folder: the mesh meshd serves, and the apps. */
export const MESH_FILES = ['mesh/mesh.yaml', 'mesh/color-route.yaml', 'local/nodes.yaml'];
export const FRONT_APP = 'app/front.js';
export const COLOR_APP = 'app/color.js';

export interface ColorApp {
  /** The virtual node it plays. */
  readonly node: string;
  readonly port: number;
  /** What it answers: the node's name after its last '-' (color-blue → blue). */
  readonly color: string;
}

export interface CalledService {
  readonly name: string;
  /** The port callers name with it (the router's listener, or the provider node's). */
  readonly port: number;
  /** The answers it can give, in the order of its routes' targets (for the bar). */
  readonly colors: readonly string[];
  /** The target nodes, in the same order (for the banner). */
  readonly targets: readonly string[];
  /** The files holding its routes: the ones to edit to move its traffic. */
  readonly routeFiles: readonly string[];
}

export interface Topology {
  readonly mesh: string;
  readonly front: { readonly node: string; readonly nodeId: string; readonly port: number };
  /** The virtual services front calls, in the order of its backends. */
  readonly services: readonly CalledService[];
  readonly colorApps: readonly ColorApp[];
}

/** The example's mesh files (checked to exist), as paths relative to the working folder when inside it. */
export function exampleFiles(exampleDir: string): { meshFiles: string[]; frontApp: string; colorApp: string } {
  const resolve = (rel: string) => {
    const full = path.join(exampleDir, rel);
    if (!fs.existsSync(full))
      throw new DemoError(
        `${displayPath(full)} does not exist; --example-dir must be a copy of examples/colorapp (with mesh/, local/ and app/)`,
      );
    return displayPath(full);
  };
  return { meshFiles: MESH_FILES.map(resolve), frontApp: resolve(FRONT_APP), colorApp: resolve(COLOR_APP) };
}

/** A path as the user can read it: relative to the working folder when inside it. */
export function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), path.resolve(file));
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : path.resolve(file);
}

/** Loads the mesh as meshd will, and fails with its findings when it does not validate. */
export function loadTopology(meshFiles: readonly string[]): Topology {
  const result = loadMesh(meshFiles);
  if (!result.ok) {
    const errors = result.problems.filter(isError);
    throw new DemoError(
      `the mesh does not validate (${errors.length} error(s)); fix it and start again:`,
      errors.map(formatProblem),
    );
  }
  return planTopology(result.model);
}

function firstListenerPort(node: VirtualNode): number | undefined {
  return node.spec.listeners?.[0]?.portMapping.port;
}

/** The last '-'-separated part of a node's name: what its color app answers. */
export function colorOf(nodeName: string): string {
  return nodeName.slice(nodeName.lastIndexOf('-') + 1) || nodeName;
}

export function planTopology(model: MeshModel): Topology {
  const callers = model.virtualNodes().filter((n) => (n.spec.backends ?? []).length > 0);
  if (callers.length !== 1) {
    throw new DemoError(
      `the demo runs its front app as the one virtual node with backends, but the mesh has ${callers.length} (${callers.map((n) => n.name).join(', ') || 'none'})`,
    );
  }
  const front = callers[0]!;
  const mesh = front.mesh;
  const frontPort = firstListenerPort(front);
  if (frontPort === undefined)
    throw new DemoError(`virtual node ${front.name} has no listener, so its app has no port to listen on`);

  const apps = new Map<string, ColorApp>();
  const services: CalledService[] = [];
  for (const backend of front.spec.backends ?? []) {
    const name = backend.virtualService?.virtualServiceName;
    if (name === undefined) continue;
    const service = model.virtualService(mesh, name);
    const provider = service?.spec.provider;
    let port: number | undefined;
    const targets: { node: string; port?: number }[] = [];
    const routeFiles: string[] = [];
    if (provider?.virtualRouter) {
      const router = model.virtualRouter(mesh, provider.virtualRouter.virtualRouterName);
      port = router?.spec.listeners[0]?.portMapping.port;
      for (const route of model.routesOf(mesh, provider.virtualRouter.virtualRouterName)) {
        routeFiles.push(route.source.file);
        for (const t of routeKindOf(route.spec).action.weightedTargets)
          targets.push({ node: t.virtualNode, port: t.port });
      }
    } else if (provider?.virtualNode) {
      const node = model.virtualNode(mesh, provider.virtualNode.virtualNodeName);
      port = node && firstListenerPort(node);
      targets.push({ node: provider.virtualNode.virtualNodeName });
    }
    if (port === undefined || targets.length === 0)
      throw new DemoError(
        `virtual service ${name}, a backend of ${front.name}, has no provider with a listener to send its traffic to`,
      );

    const colors: string[] = [];
    const nodes: string[] = [];
    for (const t of targets) {
      const node = model.virtualNode(mesh, t.node)!;
      const appPort = t.port ?? firstListenerPort(node);
      if (appPort === undefined)
        throw new DemoError(`virtual node ${t.node} has no listener, so its app has no port to listen on`);
      if (!apps.has(t.node)) apps.set(t.node, { node: t.node, port: appPort, color: colorOf(t.node) });
      const color = apps.get(t.node)!.color;
      if (!colors.includes(color)) colors.push(color);
      if (!nodes.includes(t.node)) nodes.push(t.node);
    }
    services.push({ name, port, colors, targets: nodes, routeFiles: [...new Set(routeFiles)] });
  }
  return {
    mesh,
    front: { node: front.name, nodeId: `mesh/${mesh}/virtualNode/${front.name}`, port: frontPort },
    services,
    colorApps: [...apps.values()],
  };
}
