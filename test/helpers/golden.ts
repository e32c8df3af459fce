// The golden cases (test/golden/<case>/in.yaml), shared by the golden test and the
// `envoy --mode validate` test; and whether a run may rewrite their outputs.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const GOLDEN_DIR = path.resolve(__dirname, '../golden');

export function goldenCases(): string[] {
  return fs
    .readdirSync(GOLDEN_DIR)
    .filter((d) => fs.existsSync(path.join(GOLDEN_DIR, d, 'in.yaml')))
    .sort();
}

/**
 * Whether this run rewrites the golden outputs (MESHD_UPDATE_GOLDEN=1). Refused where CI is set (to anything): a CI
 * run that rewrote them would pass whatever meshd now produces. Called by the golden test and jest's global setup.
 */
export function goldenUpdateRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.MESHD_UPDATE_GOLDEN !== '1') return false;
  if (env.CI) {
    throw new Error(
      'MESHD_UPDATE_GOLDEN=1 where CI is set would rewrite the goldens and pass: update them locally and commit the diff',
    );
  }
  return true;
}
