// A virtual node the telemetry unit tests build a MeshModel from: only the name and the listeners'
// protocols and ports matter to which Envoy clusters count for it.
import type { VirtualNode } from '../../src/model/virtual-node';

/** A virtual node `name` in `mesh` with a listener per `[protocol, port]`, nothing else. */
export function listenerNode(mesh: string, name: string, listeners: [string, number][]): VirtualNode {
  return {
    kind: 'VirtualNode',
    mesh,
    name,
    source: { file: 'test', line: 1, col: 1 },
    spec: {
      listeners: listeners.map(([protocol, port]) => ({ portMapping: { protocol, port } })),
    } as VirtualNode['spec'],
  };
}
