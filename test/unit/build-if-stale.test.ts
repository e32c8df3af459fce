// scripts/build-if-stale.js, which `npm run demo` and `npm start` run instead of a full build:
// it builds when dist/ misses a file or something the build reads changed since, and only then.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tmpDir } from '../helpers/processes';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { staleness } = require('../../scripts/build-if-stale.js') as { staleness: (root: string) => string | undefined };

describe('build-if-stale: is dist/ older than what it is built from?', () => {
  let root: string;
  const BUILT = Date.now() / 1000 - 100;
  const write = (rel: string, ageSeconds: number) => {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '');
    fs.utimesSync(file, BUILT - ageSeconds, BUILT - ageSeconds);
  };

  beforeEach(() => {
    // A tree as a build leaves it: every input older than every output.
    root = tmpDir('build-if-stale-');
    for (const input of [
      'src/cli/main.ts',
      'src/demo/main.ts',
      'protos/envoy-protos.txt',
      'scripts/gen-types.js',
      'scripts/gen-descriptor.js',
      'tsconfig.json',
      'package-lock.json',
      'console/src/main.tsx',
      'console/app.css',
      'scripts/build-console.js',
    ])
      write(input, 50);
    for (const output of [
      'src/generated/envoy-protos.json',
      'src/generated/envoy/Thing.ts',
      'dist/generated/envoy-protos.json',
      'dist/cli/main.js',
      'dist/demo/main.js',
      'dist/removed/old.js',
      'dist/console/app.js',
    ])
      write(output, 0);
  });

  it('is current after a build, whatever dist/ holds besides (an output of a deleted source)', () => {
    write('dist/removed/old.js', 500);
    expect(staleness(root)).toBeUndefined();
  });

  it('is stale when a source was edited since', () => {
    write('src/demo/main.ts', -5);
    expect(staleness(root)).toBe(`${path.join('src', 'demo', 'main.ts')} changed since the last build`);
  });

  it.each([
    'protos/envoy-protos.txt',
    'scripts/gen-types.js',
    'tsconfig.json',
    'package-lock.json',
    'console/src/main.tsx',
    'console/app.css',
    'scripts/build-console.js',
  ])('is stale when %s changed since', (input) => {
    write(input, -5);
    expect(staleness(root)).toBe(`${path.join(...input.split('/'))} changed since the last build`);
  });

  it('is stale when a source has no output yet', () => {
    write('src/demo/new.ts', 50);
    expect(staleness(root)).toBe(`${path.join('dist', 'demo', 'new.js')} is missing`);
  });

  it('is stale when the web console was never built', () => {
    fs.rmSync(path.join(root, 'dist/console/app.js'));
    expect(staleness(root)).toBe(`${path.join('dist', 'console', 'app.js')} is missing`);
  });

  it('is stale when the protos descriptor is missing', () => {
    fs.rmSync(path.join(root, 'dist/generated/envoy-protos.json'));
    expect(staleness(root)).toBe(`${path.join('dist', 'generated', 'envoy-protos.json')} is missing`);
  });
});
