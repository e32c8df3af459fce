// The Node.js versions meshd supports (package.json engines), chosen on purpose: from the
// @types/node line the code is type-checked against (an API newer than it would not compile, an
// API of it may be used), with no upper bound (Node 22 and 24 are the upstream-supported lines, and
// the AWS SDK's later versions need 22). The tests and the container image run Node 20.
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
};
const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { engines?: { node: string } }>;
};
const version = (v: string) => v.split('.').map(Number) as [number, number, number];

describe('package.json engines.node', () => {
  it('starts at the @types/node line the code compiles against, with no upper bound', () => {
    const [major, minor] = version(pkg.devDependencies['@types/node']!);
    expect(pkg.engines.node).toBe(`>=${major}.${minor}.0`);
    expect(lock.packages['']!.engines).toEqual(pkg.engines);
  });

  it('holds the Node running the tests, and the container image', () => {
    const floor = version(pkg.engines.node.slice(2));
    const running = version(process.versions.node);
    expect(
      running[0] > floor[0] ||
        (running[0] === floor[0] && (running[1] > floor[1] || (running[1] === floor[1] && running[2] >= floor[2]))),
    ).toBe(true);
    const images = [...fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').matchAll(/^FROM node:(\d+)/gm)].map((m) =>
      Number(m[1]),
    );
    expect(images.length).toBeGreaterThan(0);
    for (const major of images) expect(major).toBeGreaterThanOrEqual(floor[0]);
  });
});
