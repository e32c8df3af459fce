// For commands that compile without a running meshd (render, the golden tests): a registry in
// memory holding the mesh files' CloudMapService instances, over a saved registry if given.
import { CloudMapRegistry } from '../discovery/cloud-map/registry';
import { seedProblems, type LocatedSeed } from '../load/cloud-map-seed';
import type { Problem } from '../load/problems';

export function offlineRegistry(
  seeds: readonly LocatedSeed[],
  base = new CloudMapRegistry(),
): { ok: true; registry: CloudMapRegistry } | { ok: false; problems: Problem[] } {
  const problems = seedProblems(base, seeds);
  if (problems.length > 0) return { ok: false, problems };
  base.applySeeds(seeds.map((s) => s.seed));
  return { ok: true, registry: base };
}
