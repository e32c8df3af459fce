// A reload with a LoadCache reads again only the files that may have changed: a file whose stat
// (inode, size, times) is as it was at a read made well after its last change is taken as read.
// Whatever may have changed is read: a same-size rewrite within one tick of a coarse file-system
// clock, a file the watcher reported, a file an overlay (an API write being checked) stood in for.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LoadCache, loadMesh, type LoadResult } from '../../src/load/mesh-source';
import { formatProblem } from '../../src/load/problems';
import { tmpDir } from '../helpers/processes';

const MESH = 'kind: Mesh\nname: apps\n';
const NODE = (name: string) =>
  `kind: VirtualNode\nmesh: apps\nname: ${name}\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: ${name}.local } }\n`;
const ROUTER =
  'kind: VirtualRouter\nmesh: apps\nname: r\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n';
// Same length for any two-digit weights: a rewrite keeps the file's size.
const ROUTE = (a: number, b: number) =>
  `kind: Route\nmesh: apps\nvirtualRouter: r\nname: one\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action: { weightedTargets: [{ virtualNode: a, weight: ${a} }, { virtualNode: b, weight: ${b} }] }\n`;

function meshDir(): { dir: string; route: string } {
  const dir = tmpDir('unchanged-files-');
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), MESH);
  fs.writeFileSync(path.join(dir, 'nodes.yaml'), `${NODE('a')}---\n${NODE('b')}---\n${ROUTER}`);
  const route = path.join(dir, 'route.yaml');
  fs.writeFileSync(route, ROUTE(10, 90));
  return { dir, route };
}

function weights(result: LoadResult): number[] {
  if (!result.ok) throw new Error(`the mesh did not load:\n${result.problems.map(formatProblem).join('\n')}`);
  const route = result.model.resources.find((r) => r.kind === 'Route')!;
  const spec = route.spec as unknown as { httpRoute: { action: { weightedTargets: { weight: number }[] } } };
  return spec.httpRoute.action.weightedTargets.map((t) => t.weight);
}

/** A stat whose times are those of a file system with a coarse clock (ext3, HFS+: a second). */
function coarseStat(file: string): fs.Stats | undefined {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st) return undefined;
  return Object.assign(Object.create(Object.getPrototypeOf(st) as object) as fs.Stats, st, {
    mtimeMs: Math.floor(st.mtimeMs / 1000) * 1000,
    ctimeMs: Math.floor(st.ctimeMs / 1000) * 1000,
  });
}

/** A stat that shows every file as last changed long ago, whatever was written since: only the inode and size tell. */
function staleStat(file: string): fs.Stats | undefined {
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st) return undefined;
  return Object.assign(Object.create(Object.getPrototypeOf(st) as object) as fs.Stats, st, {
    mtimeMs: 1_000_000,
    ctimeMs: 1_000_000,
  });
}

/** Waits until the clock is early in a second, so that the next few writes fall within that second. */
function earlyInASecond(): void {
  while (Date.now() % 1000 > 300) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
}

describe('LoadCache: a reload reads again only the files that may have changed', () => {
  it('reads a file rewritten with the same size in the same tick of a coarse clock right after a load', () => {
    const { dir, route } = meshDir();
    const cache = new LoadCache(coarseStat);
    earlyInASecond();
    fs.writeFileSync(route, ROUTE(10, 90));
    expect(weights(loadMesh([dir], { cache }))).toEqual([10, 90]);
    // In place (same inode), same size, within the same second: the coarse stat is the same as at the read.
    fs.writeFileSync(route, ROUTE(20, 80));
    expect(fs.statSync(route).size).toBe(Buffer.byteLength(ROUTE(10, 90)));
    expect(weights(loadMesh([dir], { cache }))).toEqual([20, 80]);
  });

  it('takes a file whose stat is as it was at the read as read, and reads it once the stat changes', () => {
    const { dir, route } = meshDir();
    const cache = new LoadCache(staleStat);
    expect(weights(loadMesh([dir], { cache }))).toEqual([10, 90]);
    // The same inode and size, and (through staleStat) the same times: not read again.
    fs.writeFileSync(route, ROUTE(20, 80));
    expect(weights(loadMesh([dir], { cache }))).toEqual([10, 90]);
    // A new inode (an editor's save by rename): read.
    fs.writeFileSync(`${route}.tmp`, ROUTE(30, 70));
    fs.renameSync(`${route}.tmp`, route);
    expect(weights(loadMesh([dir], { cache }))).toEqual([30, 70]);
    // Another size: read.
    fs.writeFileSync(route, `${ROUTE(40, 60)}# a comment\n`);
    expect(weights(loadMesh([dir], { cache }))).toEqual([40, 60]);
  });

  it('reads a file the watcher reported, or a file in a folder it reported, whatever its stat shows', () => {
    const { dir, route } = meshDir();
    const cache = new LoadCache(staleStat);
    expect(weights(loadMesh([dir], { cache }))).toEqual([10, 90]);
    fs.writeFileSync(route, ROUTE(20, 80));
    expect(weights(loadMesh([dir], { cache, changed: [route] }))).toEqual([20, 80]);
    fs.writeFileSync(route, ROUTE(30, 70));
    expect(weights(loadMesh([dir], { cache, changed: [path.join(dir, 'other.yaml')] }))).toEqual([20, 80]);
    expect(weights(loadMesh([dir], { cache, changed: [dir] }))).toEqual([30, 70]);
  });

  it('reads a file from disk again after an overlay stood in for it (an API write checked, and refused)', () => {
    const { dir, route } = meshDir();
    const cache = new LoadCache(staleStat);
    expect(weights(loadMesh([dir], { cache }))).toEqual([10, 90]);
    const overlay = new Map([[route, ROUTE(55, 45)]]);
    expect(weights(loadMesh([dir], { cache, overlay }))).toEqual([55, 45]);
    // The write did not happen: the file on disk is what is served.
    expect(weights(loadMesh([dir], { cache }))).toEqual([10, 90]);
  });
});

describe('a path swapped during a reload', () => {
  it('a file swapped between the stat and the read keeps no print: swapped back, it is read again', () => {
    const root = tmpDir('swap-race-');
    const dir = path.join(root, 'mesh');
    fs.mkdirSync(dir);
    fs.mkdirSync(path.join(root, 'a'));
    fs.mkdirSync(path.join(root, 'b'));
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), MESH);
    fs.writeFileSync(path.join(dir, 'nodes.yaml'), `${NODE('a')}---\n${NODE('b')}---\n${ROUTER}`);
    fs.writeFileSync(path.join(root, 'a', 'route.yaml'), ROUTE(10, 90));
    fs.writeFileSync(path.join(root, 'b', 'route.yaml'), ROUTE(20, 80));
    const link = path.join(dir, 'route.yaml');
    const point = (to: string) => {
      fs.rmSync(`${link}.tmp`, { force: true });
      fs.symlinkSync(path.join(root, to, 'route.yaml'), `${link}.tmp`);
      fs.renameSync(`${link}.tmp`, link);
    };
    point('a');
    let swapAfterStat: string | undefined;
    // The real stat, its times as a file changed 10 s ago (settled); optionally swaps the link right after (the race).
    const stat = (file: string) => {
      const st = fs.statSync(file, { throwIfNoEntry: false });
      if (st && file === link && swapAfterStat) {
        point(swapAfterStat);
        swapAfterStat = undefined;
      }
      if (!st) return undefined;
      return Object.assign(Object.create(Object.getPrototypeOf(st)), st, {
        mtimeMs: st.mtimeMs - 10_000,
        ctimeMs: st.ctimeMs - 10_000,
      }) as fs.Stats;
    };
    const cache = new LoadCache(stat);
    expect(weights(loadMesh([dir], { cache }))).toEqual([10, 90]);
    // The watcher reports the link; during the reload's read it is swapped to b (between stat and open).
    swapAfterStat = 'b';
    expect(weights(loadMesh([dir], { cache, changed: [link] }))).toEqual([20, 80]);
    // Swapped back to a (unchanged since): a reload not reporting the link (an API write's, another file's) ...
    point('a');
    expect(weights(loadMesh([dir], { cache }))).toEqual([10, 90]);
  });
});
