// The content hash of a served mesh: what replicas of a fleet compare to see that they serve the
// same mesh. It covers what is served (resources, the files' Cloud Map instances, rollouts), not
// where it was written: two checkouts of one Git commit in different folders hash alike.
//
// It is the SHA-256 of one canonical JSON text ({resources, rollouts, seeds}), megabytes for a large
// mesh. A reload changes few resources, so the text is not built again: each resource's and seed's
// canonical JSON is kept while it is the same object (a reload keeps unchanged ones), and the hash's
// state is kept every CHUNK pieces of the text, so a reload hashes again only from the first piece
// that changed. The value is the same as hashing the whole text.
import { createHash, type Hash } from 'node:crypto';
import type { LocatedSeed } from '../load/cloud-map-seed';
import type { Resource } from '../model/mesh-model';
import { canonicalJson } from '../util/canonical-json';
import type { LoadedMesh } from './types';

/** The canonical JSON of each resource as served (without where it is written), and of each seed. */
const resourceJson = new WeakMap<Resource, string>();
const seedJson = new WeakMap<LocatedSeed, string>();

/** Pieces of the text hashed between two kept states of the hash. */
const CHUNK = 256;

/** The pieces of the last text hashed, and the hash's state before each chunk of them. */
let last: { readonly pieces: readonly string[]; readonly states: readonly Hash[] } | undefined;

export function meshHash(mesh: Pick<LoadedMesh, 'model' | 'cloudMapSeeds' | 'rollouts'>): string {
  const pieces = meshPieces(mesh);
  let first = 0;
  if (last) {
    const before = last.pieces;
    const same = Math.min(before.length, pieces.length);
    while (first < same && before[first] === pieces[first]) first++;
  }
  // states[c] is the state before chunk c; the last one, after every chunk, gives the digest.
  const states = last ? last.states.slice(0, Math.floor(first / CHUNK) + 1) : [createHash('sha256')];
  for (let c = states.length - 1; c * CHUNK < pieces.length; c++)
    states.push(states[c]!.copy().update(pieces.slice(c * CHUNK, (c + 1) * CHUNK).join('')));
  last = { pieces, states };
  return states[states.length - 1]!.copy().digest('hex').slice(0, 16);
}

/** The canonical JSON of {resources, rollouts, seeds}, in pieces whose concatenation is the text. */
function meshPieces(mesh: Pick<LoadedMesh, 'model' | 'cloudMapSeeds' | 'rollouts'>): string[] {
  const pieces = ['{"resources":['];
  mesh.model.resources.forEach((r, i) => {
    let json = resourceJson.get(r);
    if (json === undefined) {
      const { source: _source, ...served } = r;
      json = canonicalJson(served);
      resourceJson.set(r, json);
    }
    if (i > 0) pieces.push(',');
    pieces.push(json);
  });
  const rollouts = mesh.rollouts.map((r) => ({ mesh: r.mesh, name: r.name, settings: r.settings }));
  pieces.push(`],"rollouts":${canonicalJson(rollouts)},"seeds":[`);
  mesh.cloudMapSeeds.forEach((s, i) => {
    let json = seedJson.get(s);
    if (json === undefined) {
      json = canonicalJson(s.seed);
      seedJson.set(s, json);
    }
    if (i > 0) pieces.push(',');
    pieces.push(json);
  });
  pieces.push(']}');
  return pieces;
}
