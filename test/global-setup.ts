// Jest's global setup (jest.config.js): refuses, before any test runs, a run whose tests would not test the source:
// MESHD_UPDATE_GOLDEN=1 where CI is set, and tests that run the built meshd while dist/ is older than src/.
// Runs that select only tests not touching dist/ do not ask for a build.
import { selectedTests, staleDistReason, usesDist } from './helpers/dist-freshness';
import { goldenUpdateRequested } from './helpers/golden';

/** The parts of jest's GlobalConfig and ProjectConfig read here. */
interface JestConfig {
  rootDir: string;
  roots: string[];
  testPathPattern: string;
  testPathIgnorePatterns: string[];
  findRelatedTests: boolean;
  onlyChanged: boolean;
  onlyFailures: boolean;
  changedSince?: string;
}

/** Jest prints a thrown error's stack: this one is its message alone. */
function refuse(message: string): never {
  const err = new Error(message);
  err.stack = `meshd tests refused: ${message}`;
  throw err;
}

export default function globalSetup(globalConfig: JestConfig, projectConfig: JestConfig): void {
  try {
    goldenUpdateRequested(process.env);
  } catch (err) {
    refuse((err as Error).message);
  }
  const tests = selectedTests({
    roots: projectConfig.roots,
    testPathPattern: globalConfig.testPathPattern,
    testPathIgnorePatterns: projectConfig.testPathIgnorePatterns,
    byOtherMeans:
      globalConfig.findRelatedTests ||
      globalConfig.onlyChanged ||
      globalConfig.onlyFailures ||
      !!globalConfig.changedSince,
  });
  if (tests !== 'unknown' && !tests.some(usesDist)) return;
  const stale = staleDistReason(projectConfig.rootDir);
  if (stale) refuse(stale);
}
