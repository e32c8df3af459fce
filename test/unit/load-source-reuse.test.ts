// A reload keeps a resource whose document was read again but says the same the same object, and
// tells where it is written without building the file's syntax tree when the edit cannot have moved
// its document (sameDocumentStarts). Whatever the edit, every resource's source is where it is now.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LoadCache, loadMesh, sameDocumentStarts, type LoadResult } from '../../src/load/mesh-source';
import { formatProblem } from '../../src/load/problems';
import type { Resource } from '../../src/model/mesh-model';
import { tmpDir } from '../helpers/processes';

const NODE = (name: string, port = 8080) =>
  `kind: VirtualNode\nmesh: apps\nname: ${name}\nspec:\n  listeners: [{ portMapping: { port: ${port}, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: ${name}.local } }\n`;

function node(result: LoadResult, name: string): Resource {
  if (!result.ok) throw new Error(`the mesh did not load:\n${result.problems.map(formatProblem).join('\n')}`);
  return result.model.resources.find((r) => r.kind === 'VirtualNode' && r.name === name)!;
}

/** The line (from 1) of the nth `kind:` line of a text. */
function kindLine(text: string, nth: number): number {
  const lines = text.split('\n').map((l, i) => (l.startsWith('kind:') ? i + 1 : 0));
  return lines.filter((n) => n > 0)[nth]!;
}

describe('sameDocumentStarts', () => {
  const text = `${NODE('a')}---\n${NODE('b')}`;

  it('is true for an edit inside the lines of one document after its first line', () => {
    expect(sameDocumentStarts(text, text.replace('port: 8080', 'port: 9090'))).toBe(true);
    expect(sameDocumentStarts(text, `${NODE('a')}---\n${NODE('b', 7)}`)).toBe(true);
  });

  it('is false when lines come or go, or a document marker or a first line of content changes', () => {
    expect(sameDocumentStarts(text, `# a comment\n${text}`)).toBe(false);
    expect(sameDocumentStarts(text, text.replace('---\n', '---\n\n'))).toBe(false);
    expect(sameDocumentStarts(text, text.replace('---\n', '--- \n'))).toBe(false);
    expect(sameDocumentStarts(text, text.replace('kind: VirtualNode\nmesh', 'kind:  VirtualNode\nmesh'))).toBe(false);
    // A comment and the first line of content change places: as many lines, and the document starts a line earlier.
    const commented = `# about a\n${text}`;
    const moved = `${NODE('a').replace('\n', '\n# about a\n')}---\n${NODE('b')}`;
    expect(sameDocumentStarts(commented, moved)).toBe(false);
    // A tag on the first line of content: the node may start on the next.
    expect(sameDocumentStarts(`--- !!map\n${text}`, `--- !!map\n${text.replace('8080', '9090')}`)).toBe(false);
  });
});

describe('a reload with a LoadCache: the sources of resources read again', () => {
  function write(file: string, text: string): void {
    fs.writeFileSync(file, text);
  }

  it('keeps an unchanged resource of an edited file the same object, at its line', () => {
    const dir = tmpDir('source-reuse-');
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), 'kind: Mesh\nname: apps\n');
    const file = path.join(dir, 'nodes.yaml');
    const cache = new LoadCache();
    const first = `${NODE('a')}---\n${NODE('b')}`;
    write(file, first);
    const before = loadMesh([dir], { cache });
    const next = `${NODE('a')}---\n${NODE('b', 9090)}`;
    write(file, next);
    const after = loadMesh([dir], { cache });
    expect(node(after, 'a')).toBe(node(before, 'a'));
    expect(node(after, 'b')).not.toBe(node(before, 'b'));
    expect([node(after, 'a').source.line, node(after, 'b').source.line]).toEqual([
      kindLine(next, 0),
      kindLine(next, 1),
    ]);
  });

  it('gives the new line of a resource whose document moved, though it says the same', () => {
    const dir = tmpDir('source-reuse-');
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), 'kind: Mesh\nname: apps\n');
    const file = path.join(dir, 'nodes.yaml');
    const cache = new LoadCache();
    // b's document opens with a comment; the edit moves the comment below its first line: b starts a line earlier.
    const first = `${NODE('a')}---\n# about b\n${NODE('b')}`;
    write(file, first);
    const before = loadMesh([dir], { cache });
    expect(node(before, 'b').source.line).toBe(kindLine(first, 1));
    const next = `${NODE('a')}---\n${NODE('b').replace('\n', '\n# about b\n')}`;
    expect(next.split('\n').length).toBe(first.split('\n').length);
    write(file, next);
    const after = loadMesh([dir], { cache });
    expect(node(after, 'b').source.line).toBe(kindLine(next, 1));
    expect(node(after, 'b').source.line).toBe(node(before, 'b').source.line - 1);
    // b's document indented: as many lines, its first line where it was, its column another.
    const indented = `${NODE('a')}---\n${NODE('b')
      .replace('\n', '\n# about b\n')
      .split('\n')
      .map((l) => (l === '' ? l : `  ${l}`))
      .join('\n')}`;
    write(file, indented);
    const shifted = loadMesh([dir], { cache });
    expect(node(shifted, 'b').source).toEqual({ file, line: node(before, 'b').source.line - 1, col: 3 });
    write(file, next);
    expect(node(loadMesh([dir], { cache }), 'b').source).toEqual({ file, line: kindLine(next, 1), col: 1 });
    // A line added at the top moves both.
    const third = `# nodes\n${next}`;
    write(file, third);
    const last = loadMesh([dir], { cache });
    expect([node(last, 'a').source.line, node(last, 'b').source.line]).toEqual([
      kindLine(third, 0),
      kindLine(third, 1),
    ]);
  });
});
