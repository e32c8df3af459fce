// Property tests of the loader: whatever the input, it returns a model or precise errors, and
// never throws. Inputs are random text, random YAML/JSON values, and valid fixtures of each
// dialect with one field replaced or removed at random.
import * as fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { listMeshFiles, loadDocuments, type LoadResult } from '../../src/load/mesh-source';
import { parseYamlDocuments } from '../../src/load/yaml-documents';

const RUNS = 300;

function load(files: Record<string, string>): LoadResult {
  const problems = [];
  const documents = [];
  for (const [file, text] of Object.entries(files)) {
    const parsed = parseYamlDocuments(file, text);
    problems.push(...parsed.problems);
    documents.push(...parsed.documents);
  }
  return loadDocuments(documents, problems, Object.keys(files));
}

/** The loader's contract: a model, or at least one error, each pointing at a real line of a real file. */
function expectModelOrErrors(result: LoadResult, files: Record<string, string>): void {
  if (!result.ok) expect(result.problems.some((p) => p.severity === 'error')).toBe(true);
  for (const p of result.problems) {
    expect(Object.keys(files)).toContain(p.location.file);
    const lines = files[p.location.file]!.split('\n').length;
    expect(p.location.line).toBeGreaterThanOrEqual(1);
    expect(p.location.line).toBeLessThanOrEqual(lines);
    expect(p.location.col).toBeGreaterThanOrEqual(1);
    expect(p.message.length).toBeGreaterThan(0);
  }
}

/** Every path to a value inside a plain value tree. */
function pathsOf(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  const out = [at];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...at, i])));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...at, k]));
  return out;
}

function mutate(value: unknown, at: (string | number)[], replacement: unknown, remove: boolean): unknown {
  if (at.length === 0) return replacement;
  const copy: any = Array.isArray(value) ? [...value] : { ...(value as object) };
  const [head, ...rest] = at;
  if (rest.length === 0 && remove) {
    if (Array.isArray(copy)) copy.splice(head as number, 1);
    else delete copy[head!];
  } else {
    copy[head!] = mutate(copy[head!], rest, replacement, remove);
  }
  return copy;
}

const FIXTURES = path.join(__dirname, '../fixtures/dialects');
const fixtureFiles = (dialect: string) =>
  Object.fromEntries(
    listMeshFiles([path.join(FIXTURES, dialect)]).files.map((f) => [
      path.relative(FIXTURES, f),
      fs.readFileSync(f, 'utf8'),
    ]),
  );

describe('the loader never crashes', () => {
  it('on random text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (text) => {
        const files = { 'random.yaml': text };
        expectModelOrErrors(load(files), files);
      }),
      { numRuns: RUNS },
    );
  });

  it('on random YAML-looking text built from mesh words', () => {
    const token = fc.constantFrom(
      'kind:',
      'Mesh',
      'VirtualNode',
      'Route',
      'spec:',
      'mesh:',
      'name:',
      '---',
      '\n',
      '  ',
      '- ',
      '{',
      '}',
      '[',
      ']',
      ',',
      'apiVersion: appmesh.k8s.aws/v1beta2',
      'meshName:',
      '"x"',
      '80',
      '&a',
      '*a',
      '!!str',
      ':',
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 60 }), (tokens) => {
        const files = { 'words.yaml': tokens.join(' ') };
        expectModelOrErrors(load(files), files);
      }),
      { numRuns: RUNS },
    );
  });

  it('on random JSON values, as JSON and as YAML documents', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue({ maxDepth: 4 }), { minLength: 1, maxLength: 3 }), (values) => {
        const files = { 'a.json': JSON.stringify(values[0]), 'b.yaml': values.map((v) => stringify(v)).join('---\n') };
        expectModelOrErrors(load(files), files);
      }),
      { numRuns: RUNS },
    );
  });

  it.each(['native', 'aws-cli', 'k8s', 'cloudformation', 'terraform'])(
    'on the %s fixture with one field replaced or removed',
    (dialect) => {
      const files = fixtureFiles(dialect);
      expect(load(files).ok).toBe(true);
      const names = Object.keys(files);
      fc.assert(
        fc.property(
          fc.nat(),
          fc.nat(),
          fc.nat(),
          fc.jsonValue({ maxDepth: 2 }),
          fc.boolean(),
          (fileIndex, docIndex, pathIndex, replacement, remove) => {
            const file = names[fileIndex % names.length]!;
            const docs = parseYamlDocuments(file, files[file]!).documents.map((d) => d.value);
            const d = docIndex % docs.length;
            const paths = pathsOf(docs[d]);
            docs[d] = mutate(docs[d], paths[pathIndex % paths.length]!, replacement, remove);
            const text = file.endsWith('.json')
              ? JSON.stringify(docs[0], null, 2)
              : docs.map((v) => stringify(v)).join('---\n');
            const mutated = { ...files, [file]: text };
            expectModelOrErrors(load(mutated), mutated);
          },
        ),
        { numRuns: RUNS },
      );
    },
  );
});
