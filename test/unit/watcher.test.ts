// The watcher must notice every way an editor saves a file, on the real filesystem.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { watchMeshPaths, type MeshWatcher } from '../../src/load/watcher';
import { tmpDir, waitFor } from '../helpers/processes';

describe('watching mesh files', () => {
  let dir: string;
  let file: string;
  let changes: string[][];
  let watcher: MeshWatcher;

  const start = async (paths: string[]) => {
    changes = [];
    watcher = watchMeshPaths(paths, (changed) => changes.push(changed));
    await watcher.ready;
  };
  const nextChange = () => waitFor('a change to be reported', () => changes.shift(), 5000);

  beforeEach(() => {
    dir = tmpDir('watch-');
    file = path.join(dir, 'mesh.yaml');
    fs.writeFileSync(file, 'kind: Mesh\nname: a\n');
  });
  afterEach(() => watcher.close());

  it('reports an in-place write to a watched file', async () => {
    await start([file]);
    fs.writeFileSync(file, 'kind: Mesh\nname: b\n');
    expect(await nextChange()).toEqual([file]);
  });

  it('reports a save by rename (write a temp file, rename it over), again and again', async () => {
    await start([file]);
    for (const name of ['b', 'c']) {
      const tmp = path.join(dir, `.mesh.yaml.${name}.swp`);
      fs.writeFileSync(tmp, `kind: Mesh\nname: ${name}\n`);
      fs.renameSync(tmp, file);
      expect(await nextChange()).toEqual([file]);
    }
  });

  it('reports new, changed and removed mesh files in a watched folder, and ignores other files', async () => {
    await start([dir]);
    const added = path.join(dir, 'nested', 'more.yml');
    fs.mkdirSync(path.dirname(added));
    fs.writeFileSync(added, 'kind: Mesh\nname: c\n');
    expect(await nextChange()).toEqual([added]);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a mesh file');
    fs.unlinkSync(added);
    expect(await nextChange()).toEqual([added]);
    expect(changes).toEqual([]);
  });
});
