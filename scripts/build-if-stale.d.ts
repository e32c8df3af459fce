// Types of scripts/build-if-stale.js, for the test run's stale-build guard (test/helpers/dist-freshness.ts).
/** Why `root`'s dist/ must be built again, or undefined when it is current. */
export function staleness(root: string): string | undefined;
/** The files under `rel` (a file or a folder), as paths relative to `root`. */
export function filesUnder(root: string, rel: string): string[];
/**
 * What the build reads besides src/: the protos, the generator scripts, tsconfig.json, package-lock.json, and the
 * web console's sources (console/, scripts/build-console.js).
 */
export const INPUTS: readonly string[];
