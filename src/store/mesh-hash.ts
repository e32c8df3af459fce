// The content hash of a served mesh: what replicas of a fleet compare to see that they serve the
// same mesh. It covers what is served (resources, the files' Cloud Map instances, rollouts), not
// where it was written: two checkouts of one Git commit in different folders hash alike.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../util/canonical-json';
import type { LoadedMesh } from './types';

export function meshHash(mesh: Pick<LoadedMesh, 'model' | 'cloudMapSeeds' | 'rollouts'>): string {
  const resources = mesh.model.resources.map(({ source: _source, ...served }) => served);
  const seeds = mesh.cloudMapSeeds.map((s) => s.seed);
  const rollouts = mesh.rollouts.map((r) => ({ mesh: r.mesh, name: r.name, settings: r.settings }));
  return createHash('sha256').update(canonicalJson({ resources, seeds, rollouts })).digest('hex').slice(0, 16);
}
