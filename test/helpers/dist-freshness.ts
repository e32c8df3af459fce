// Whether the built meshd (dist/, which bin/meshd runs) is what src/ says, and whether a jest run's tests use it:
// the e2e and adversarial tests start bin/meshd, and a few unit tests read dist/ too.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { filesUnder as buildInputsUnder, INPUTS } from '../../scripts/build-if-stale';

function* filesUnder(dir: string): Generator<string> {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules') yield* filesUnder(full);
    else if (entry.isFile()) yield full;
  }
}

/**
 * Why `root`'s dist/ does not hold the current build of src/, or undefined when it does: every src/X.ts (generated
 * ones included) must have a dist/X.js written no earlier than itself, as `npm run build` (tsc) leaves them.
 */
export function staleDistReason(root: string): string | undefined {
  if (!fs.existsSync(path.join(root, 'dist'))) return 'dist/ is not built: run `npm run build` first';
  const stale: string[] = [];
  let oldestBuild = Infinity;
  for (const file of filesUnder(path.join(root, 'src'))) {
    if (!file.endsWith('.ts') || file.endsWith('.d.ts')) continue;
    const rel = path.relative(path.join(root, 'src'), file);
    const built = path.join(root, 'dist', rel.replace(/\.ts$/, '.js'));
    let builtAt: number;
    try {
      builtAt = fs.statSync(built).mtimeMs;
    } catch {
      builtAt = -Infinity;
    }
    oldestBuild = Math.min(oldestBuild, builtAt);
    if (builtAt < fs.statSync(file).mtimeMs) stale.push(`src/${rel.split(path.sep).join('/')}`);
  }
  // The rest of what the build reads, as `npm run demo` checks it (scripts/build-if-stale.js): a changed
  // .proto or generator changes dist/ without any src/ file changing.
  const input = INPUTS.flatMap((i) => buildInputsUnder(root, i)).find(
    (f) => fs.statSync(path.join(root, f)).mtimeMs > oldestBuild,
  );
  if (stale.length === 0 && input !== undefined) {
    return `dist/ is older than ${input.split(path.sep).join('/')}: run \`npm run build\` first (these tests run the built meshd)`;
  }
  if (stale.length === 0) return undefined;
  const more = stale.length > 1 ? ` and ${stale.length - 1} more` : '';
  return `dist/ is older than src/ (${stale.sort()[0]}${more}): run \`npm run build\` first (these tests run the built meshd)`;
}

/**
 * The tests that run or read the built meshd: all of e2e and adversarial, and any other that names dist/ or MESHD_BIN
 * (test/helpers/processes.ts's path of bin/meshd) anywhere: a mention too many only asks for a build.
 */
export function usesDist(testFile: string): boolean {
  if (/[\\/]test[\\/](e2e|adversarial)[\\/]/.test(testFile)) return true;
  return /\bdist\/|\bMESHD_BIN\b/.test(fs.readFileSync(testFile, 'utf8'));
}

/** What a jest run selects, as far as its global setup can tell; 'unknown' when it selects by other means. */
export interface Selection {
  readonly roots: readonly string[];
  /** jest's positional arguments, joined into one regular expression (empty: every test). */
  readonly testPathPattern: string;
  readonly testPathIgnorePatterns: readonly string[];
  /** --findRelatedTests, --onlyChanged, --changedSince, --onlyFailures: selections made from outside the paths. */
  readonly byOtherMeans: boolean;
}

/** The test files `selection` runs: the files under its roots named *.test.ts or *.test.js (jest.config.js's). */
export function selectedTests(selection: Selection): string[] | 'unknown' {
  if (selection.byOtherMeans) return 'unknown';
  const pattern = new RegExp(selection.testPathPattern, 'i');
  const ignored = selection.testPathIgnorePatterns.map((p) => new RegExp(p));
  return selection.roots
    .flatMap((root) => [...filesUnder(root)])
    .filter((f) => /\.test\.[jt]s$/.test(f) && pattern.test(f) && !ignored.some((p) => p.test(f)));
}
