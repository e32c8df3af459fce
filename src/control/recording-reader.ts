// A MeshReader that notes what a compile looked up, so that after a reload only the proxies
// whose look-ups now answer differently (MeshModel.changedKeys) are compiled again.
import type { RecordingMeshReader } from '../compile/memo';
import { lookupKey, type MeshModel } from '../model/mesh-model';

/** Reads `model`, adding the key (lookupKey) of every look-up to `reads` (a memo hit adds its look-ups' keys). */
export function recordingReader(model: MeshModel, reads: Set<string>): RecordingMeshReader {
  const noted = <T>(key: string, answer: T): T => {
    reads.add(key);
    return answer;
  };
  return {
    source: model,
    noteKeys: (keys) => {
      for (const key of keys) reads.add(key);
    },
    mesh: (mesh) => noted(lookupKey.resource(mesh, 'Mesh', mesh), model.mesh(mesh)),
    virtualService: (mesh, name) =>
      noted(lookupKey.resource(mesh, 'VirtualService', name), model.virtualService(mesh, name)),
    virtualNode: (mesh, name) => noted(lookupKey.resource(mesh, 'VirtualNode', name), model.virtualNode(mesh, name)),
    virtualRouter: (mesh, name) =>
      noted(lookupKey.resource(mesh, 'VirtualRouter', name), model.virtualRouter(mesh, name)),
    virtualGateway: (mesh, name) =>
      noted(lookupKey.resource(mesh, 'VirtualGateway', name), model.virtualGateway(mesh, name)),
    routesOf: (mesh, router) => noted(lookupKey.routesOf(mesh, router), model.routesOf(mesh, router)),
    gatewayRoutesOf: (mesh, gateway) =>
      noted(lookupKey.gatewayRoutesOf(mesh, gateway), model.gatewayRoutesOf(mesh, gateway)),
  };
}
