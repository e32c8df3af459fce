// Which files a mesh folder holds, when the file system is not kind: symbolic links (loops,
// ConfigMap-style links, links to nothing), and inputs whose size decides an array's length.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listMeshFiles, loadMesh } from '../../src/load/mesh-source';
import { formatProblem } from '../../src/load/problems';
import { parseYamlDocuments } from '../../src/load/yaml-documents';
import { watchMeshPaths } from '../../src/load/watcher';
import { MESHD_BIN, tmpDir, waitFor } from '../helpers/processes';

const MESH = 'kind: Mesh\nname: apps\n';

function listing(dir: string): { files: string[]; problems: string[] } {
  const { files, problems } = listMeshFiles([dir]);
  return {
    files: files.map((f) => path.relative(dir, f)),
    problems: problems.map((p) => formatProblem(p).replaceAll(dir, '.')),
  };
}

describe('listing a mesh folder with symbolic links', () => {
  it('follows links to files and folders (a ConfigMap mount), each real folder once', () => {
    const dir = tmpDir('listing-');
    fs.mkdirSync(path.join(dir, '..2026_12_03'));
    fs.writeFileSync(path.join(dir, '..2026_12_03', 'mesh.yaml'), MESH);
    fs.symlinkSync('..2026_12_03', path.join(dir, '..data'));
    fs.symlinkSync('..data/mesh.yaml', path.join(dir, 'mesh.yaml'));
    fs.mkdirSync(path.join(dir, 'real'));
    fs.writeFileSync(path.join(dir, 'real', 'a.yaml'), MESH);
    fs.symlinkSync('real', path.join(dir, 'twin'));
    expect(listing(dir)).toEqual({
      files: ['mesh.yaml', 'real/a.yaml'],
      problems: ['./twin:1:1: warning: skipped: the same folder as ./real (through a symbolic link)'],
    });
  });

  it('skips loops back up the tree with a warning (two of them in one folder would be 2^40 paths walked naively)', () => {
    const dir = tmpDir('listing-loop-');
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), MESH);
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.symlinkSync('..', path.join(dir, 'sub', 'up'));
    fs.symlinkSync('..', path.join(dir, 'sub', 'up-again'));
    fs.symlinkSync('.', path.join(dir, 'sub', 'here'));
    expect(listing(dir)).toEqual({
      files: ['mesh.yaml'],
      problems: [
        './sub/here:1:1: warning: skipped: the same folder as ./sub (through a symbolic link)',
        './sub/up:1:1: warning: skipped: the same folder as . (through a symbolic link)',
        './sub/up-again:1:1: warning: skipped: the same folder as . (through a symbolic link)',
      ],
    });
  });

  it('a mesh file linked to nothing or to itself is an error; another name, a warning', () => {
    const dir = tmpDir('listing-broken-');
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), MESH);
    fs.symlinkSync('gone.yaml', path.join(dir, 'dangling.yaml'));
    fs.symlinkSync('self.yaml', path.join(dir, 'self.yaml'));
    fs.symlinkSync('gone', path.join(dir, 'maybe-a-folder'));
    const { problems } = listing(dir);
    expect(problems).toEqual([
      expect.stringMatching(
        /^\.\/dangling\.yaml:1:1: error: cannot read: symbolic link that cannot be followed: ENOENT/,
      ),
      expect.stringMatching(/^\.\/maybe-a-folder:1:1: warning: skipped: symbolic link that cannot be followed: ENOENT/),
      expect.stringMatching(/^\.\/self\.yaml:1:1: error: cannot read: symbolic link that cannot be followed: ELOOP/),
    ]);
    expect(loadMesh([dir]).ok).toBe(false);
  });

  it('folders nested deeper than any call stack are listed without recursion', () => {
    const dir = tmpDir('listing-deep-');
    let deep = dir;
    // Paths stay under PATH_MAX: 1,500 one-letter folders.
    for (let i = 0; i < 1500; i++) deep = path.join(deep, 'd');
    fs.mkdirSync(deep, { recursive: true });
    fs.writeFileSync(path.join(deep, 'mesh.yaml'), MESH);
    expect(listMeshFiles([dir]).files).toEqual([path.join(deep, 'mesh.yaml')]);
  });
});

describe('class: input-sized arrays spread into arguments, and quadratic position look-ups', () => {
  it('a 130,000-item flow list passes the alias-bomb guard', () => {
    const { documents, problems } = parseYamlDocuments('m.yaml', `${MESH}x: [${Array(130_000).fill('1').join(',')}]\n`);
    expect(problems).toEqual([]);
    expect((documents[0]!.value as { x: unknown[] }).x.length).toBe(130_000);
  });

  it('100,000 unknown keys in one mapping are 100,000 findings, each located (a key index, not a scan per finding)', () => {
    const dir = tmpDir('wide-');
    fs.writeFileSync(
      path.join(dir, 'm.yaml'),
      `${MESH}spec: {${Array.from({ length: 100_000 }, (_, i) => `k${i}: 1`).join(', ')}}\n`,
    );
    // In a child with a deadline: quadratic, this took over three minutes of one synchronous call, which no jest
    // timeout interrupts. Its output goes to a file: meshd exits as
    // soon as it is done, and a pipe may not be drained by then.
    const out = path.join(dir, 'findings.json');
    const fd = fs.openSync(out, 'w');
    const child = spawnSync(process.execPath, [MESHD_BIN, 'validate', '--format', 'json', path.join(dir, 'm.yaml')], {
      timeout: 45_000,
      stdio: ['ignore', fd, 'ignore'],
    });
    fs.closeSync(fd);
    const [code, stdout] = [child.status, fs.readFileSync(out, 'utf8')];
    expect(code).toBe(1);
    const findings = (JSON.parse(stdout) as { findings: { line: number; col: number; message: string }[] }).findings;
    expect(findings).toHaveLength(100_000);
    expect(findings[99_999]).toMatchObject({ line: 3, message: expect.stringMatching(/^unknown field 'k99999'/) });
    expect(findings[99_999]!.col).toBeGreaterThan(1_000_000);
  });

  it('a duplicate key in a wide mapping is found by js-yaml and reported where it is, without the quadratic check', () => {
    const keys = Array.from({ length: 50_000 }, (_, i) => `k${i}: 1`);
    const { problems } = parseYamlDocuments('m.yaml', `${MESH}spec: {${keys.join(', ')}, k7: 2}\n`);
    expect(problems.map(formatProblem)).toEqual([
      expect.stringMatching(/^m\.yaml:3:\d+: error: invalid YAML: Map keys must be unique$/),
    ]);
  });
});

describe('the watcher: loads tried again', () => {
  it('reloadLater reports every mesh path again after the check interval', async () => {
    const dir = tmpDir('reload-later-');
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), MESH);
    const changes: string[][] = [];
    const watcher = watchMeshPaths([dir], (changed) => changes.push(changed), { checkIntervalMs: 50 });
    try {
      await watcher.ready;
      watcher.reloadLater();
      expect(await waitFor('the paths to be reported again', () => changes.shift(), 5000)).toEqual([dir]);
      expect(watcher.unwatched()).toEqual([]);
    } finally {
      await watcher.close();
    }
  });
});
