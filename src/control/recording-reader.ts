// A MeshReader that notes what a compile looked up, so that after a reload only the proxies
// whose look-ups now answer differently (MeshModel.changedKeys) are compiled again.
import type { RecordingMeshReader } from '../compile/memo';
import { lookupKey, MeshModel } from '../model/mesh-model';
import { KeyInterner } from './interned-keys';
import type { Mesh } from '../model/mesh';
import type { VirtualGateway } from '../model/virtual-gateway';
import type { VirtualNode } from '../model/virtual-node';
import type { VirtualRouter } from '../model/virtual-router';
import type { VirtualService } from '../model/virtual-service';

/**
 * The look-ups of one compile, in order: a key (lookupKey) or a memo entry's list of keys, as it
 * is (not copied). Two compiles that log the same items made the same look-ups, which is cheaper
 * to check than building and comparing their sets (most of a compile's look-ups come from memo
 * hits, whose key lists are the same arrays from compile to compile).
 */
export type ReadLog = (string | readonly string[])[];

type Kind = Parameters<typeof lookupKey.resource>[1];
/** lookupKey.resource, interned. */
const resourceKeys = new KeyInterner<Kind>((kind, mesh, name) => lookupKey.resource(mesh, kind, name));

/** Reads `model`, logging the key (lookupKey) of every look-up in `reads` (a memo hit logs its look-ups' keys). */
export function recordingReader(model: MeshModel, reads: ReadLog): RecordingMeshReader {
  const noted = <T>(key: string, answer: T): T => {
    reads.push(key);
    return answer;
  };
  const resource = (mesh: string, kind: Kind, name: string) => {
    const key = resourceKeys.key(kind, mesh, name);
    reads.push(key);
    return model.resourceAt(key);
  };
  return {
    source: model,
    noteKeys: (keys) => {
      reads.push(keys);
    },
    changedSince: (previous) => (previous instanceof MeshModel ? model.changedSince(previous) : undefined),
    // Asked by the interned key (MeshModel.resourceAt, the map the named look-ups read), whose hash is kept.
    mesh: (mesh) => resource(mesh, 'Mesh', mesh) as Mesh | undefined,
    virtualService: (mesh, name) => resource(mesh, 'VirtualService', name) as VirtualService | undefined,
    virtualNode: (mesh, name) => resource(mesh, 'VirtualNode', name) as VirtualNode | undefined,
    virtualRouter: (mesh, name) => resource(mesh, 'VirtualRouter', name) as VirtualRouter | undefined,
    virtualGateway: (mesh, name) => resource(mesh, 'VirtualGateway', name) as VirtualGateway | undefined,
    routesOf: (mesh, router) => noted(lookupKey.routesOf(mesh, router), model.routesOf(mesh, router)),
    gatewayRoutesOf: (mesh, gateway) =>
      noted(lookupKey.gatewayRoutesOf(mesh, gateway), model.gatewayRoutesOf(mesh, gateway)),
  };
}

/** The keys a log holds, each once. */
export function keysOf(log: readonly (string | readonly string[])[]): Set<string> {
  const keys = new Set<string>();
  for (const item of log) {
    if (typeof item === 'string') keys.add(item);
    else for (const key of item) keys.add(key);
  }
  return keys;
}
