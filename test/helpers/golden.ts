// The golden cases (test/golden/<case>/in.yaml), shared by the golden test and the
// `envoy --mode validate` test.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const GOLDEN_DIR = path.resolve(__dirname, '../golden');

export function goldenCases(): string[] {
  return fs
    .readdirSync(GOLDEN_DIR)
    .filter((d) => fs.existsSync(path.join(GOLDEN_DIR, d, 'in.yaml')))
    .sort();
}
