// A MeshReader that notes what a compile looked up, so that after a reload only the proxies
// whose look-ups now answer differently (MeshModel.changedKeys) are compiled again.
import { lookupKey, type MeshModel, type MeshReader } from '../model/mesh-model';

/** Reads `model`, adding the key (lookupKey) of every look-up to `reads`. */
export function recordingReader(model: MeshModel, reads: Set<string>): MeshReader {
  const noted = <T>(key: string, answer: T): T => {
    reads.add(key);
    return answer;
  };
  return {
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
