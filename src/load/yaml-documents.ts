// Splits a mesh file (YAML, or JSON, which is YAML too) into documents. Values come from js-yaml,
// which is fast; positions come from the `yaml` package, which keeps a syntax tree with offsets
// but is an order of magnitude slower, so it runs only when a position is asked for (to report a
// problem) or when js-yaml rejects the file (to report its syntax errors precisely).
import { CORE_SCHEMA, loadAll } from 'js-yaml';
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type YAMLMap } from 'yaml';
import type { FieldPath, SourceLocation } from '../model/common';
import { appendAll } from './append-all';
import { SHORT_TAG_TYPES, SHORT_TAGS } from './cloudformation/short-tags';
import type { Problem } from './problems';

export type { FieldPath } from '../model/common';

/** One YAML document of a mesh file: its plain value, and a way to find where any field of it was written. */
export interface ParsedDocument {
  readonly file: string;
  readonly value: unknown;
  /** Location of the field at `path`, or of its nearest ancestor that exists. */
  locate(path: FieldPath): SourceLocation;
  /** Which document of the file this is (counting non-empty ones), and where its value sits in it. */
  readonly place: DocumentPlace;
}

/** A value's place in its file: the nth non-empty YAML document, under `prefix` (a Kubernetes List's `items[i]`). */
export interface DocumentPlace {
  readonly document: number;
  readonly prefix: FieldPath;
}

/**
 * Splits a (multi-document) YAML file into documents. Syntax errors come back as problems with
 * their line and column; a file with any syntax error yields no documents at all, so a
 * half-parsed file can never become half-applied configuration. Empty (and null) documents are skipped.
 */
/** YAML's core schema, and CloudFormation's short forms (`!Sub`, `!Ref`, ...) read as their long forms. */
const SCHEMA = CORE_SCHEMA.extend([...SHORT_TAG_TYPES]);

export function parseYamlDocuments(file: string, text: string): { documents: ParsedDocument[]; problems: Problem[] } {
  let values: unknown[];
  try {
    values = [];
    loadAll(text, (doc) => values.push(doc), { schema: SCHEMA, filename: file });
  } catch (err) {
    // Nested past js-yaml's depth: said at js-yaml's mark, without the `yaml` package, which recurses
    // through all of it; near the stack's end V8 may then compile a regex and abort the whole process
    // ('RegExpCompiler Allocation failed': two files 1,000 and 2,000 brackets deep, 6 KB in all).
    const { reason, mark } = err as Error & { reason?: string; mark?: { line: number; column: number } };
    if (typeof reason === 'string' && reason.startsWith('nesting exceeded maxDepth') && mark) {
      return {
        documents: [],
        problems: [
          {
            severity: 'error',
            location: { file, line: mark.line + 1, col: mark.column + 1 },
            message: `invalid YAML: ${reason}`,
          },
        ],
      };
    }
    return parseWithPositions(file, text, err as Error);
  }
  // js-yaml shares aliased values instead of copying them, so a small file of nested aliases can
  // stand for a huge tree. Past a size no mesh file has, the `yaml` package's alias limit decides.
  if (exceeds(values, 20 * text.length + 1000))
    return parseWithPositions(file, text, new Error('the document expands to too many values through aliases'));
  const tree = lazyTree(file, text);
  const documents = values
    .map((value, index) => ({ value, index }))
    .filter(({ value }) => value !== null && value !== undefined)
    .map(({ value }, nth): ParsedDocument => ({
      file,
      value,
      locate: (path) => tree().locate(nth, path),
      place: { document: nth, prefix: [] },
    }));
  return { documents, problems: [] };
}

interface PositionTree {
  locate(nth: number, path: FieldPath): SourceLocation;
}

/** The `yaml` package's documents of a file (none for an empty file), and offsets turned into locations. */
function syntaxTree(file: string, text: string): { docs: Document[]; at: (offset: number) => SourceLocation } {
  const lineCounter = new LineCounter();
  // Not uniqueKeys: the package checks it by scanning every earlier key of the map (quadratic: a
  // 40,000-key map took 10 s); js-yaml has already refused duplicate keys by then (see parseWithPositions).
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  // parseAllDocuments returns an EmptyStream (no documents, but errors) for an empty input.
  return { docs: Array.isArray(docs) ? docs : [], at: (offset) => ({ file, ...lineCounter.linePos(offset) }) };
}

/** Positions in a file, from its syntax tree, built on first use. */
function lazyTree(file: string, text: string): () => PositionTree {
  let tree: PositionTree | undefined;
  return () => {
    if (!tree) {
      const { docs, at } = syntaxTree(file, text);
      const nonEmpty = docs.filter((d) => !isEmpty(d));
      tree = {
        locate: (nth, path) => (nonEmpty[nth] ? at(offsetOf(nonEmpty[nth]!, path)) : { file, line: 1, col: 1 }),
      };
    }
    return tree;
  };
}

/** Syntax errors with the `yaml` package's positions and wording; js-yaml's own error if the two parsers disagree. */
function parseWithPositions(
  file: string,
  text: string,
  fastError: Error,
): { documents: ParsedDocument[]; problems: Problem[] } {
  const { docs, at } = syntaxTree(file, text);
  const problems: Problem[] = [];
  for (const doc of docs) {
    for (const err of doc.errors)
      problems.push({
        severity: 'error',
        location: at(err.pos[0]),
        message: `invalid YAML: ${firstLine(err.message)}`,
      });
    if (doc.errors.length > 0 || isEmpty(doc)) continue;
    try {
      doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      // An alias to an anchor that is not there, or too many aliases (a "billion laughs" file).
      problems.push({
        severity: 'error',
        location: at(doc.range?.[0] ?? 0),
        message: `invalid YAML: ${firstLine((err as Error).message)}`,
      });
    }
  }
  if (problems.length === 0) {
    const mark = (fastError as Error & { mark?: { position: number } }).mark;
    const fastReason = (fastError as Error & { reason?: string }).reason ?? fastError.message;
    const unknownTag = unknownTagProblem(docs, at, fastReason);
    if (unknownTag) return { documents: [], problems: [unknownTag] };
    // js-yaml's mark for a duplicate key is where the `yaml` package would point; its wording is that package's.
    const reason = fastReason === 'duplicated mapping key' ? 'Map keys must be unique' : fastReason;
    problems.push({
      severity: 'error',
      location: at(Math.min(mark?.position ?? 0, Math.max(0, text.length - 1))),
      message: `invalid YAML: ${firstLine(reason)}`,
    });
  }
  return { documents: [], problems };
}

/**
 * js-yaml's `unknown tag !<!Foo>`, said plainly and placed at the tag (the `yaml` package, which
 * leaves unknown tags unresolved, warns about each with its position).
 */
function unknownTagProblem(
  docs: Document[],
  at: (offset: number) => SourceLocation,
  reason: string,
): Problem | undefined {
  const tag = /^unknown tag !<(.*)>$/.exec(reason)?.[1];
  if (tag === undefined) return undefined;
  const warning = docs.flatMap((d) => d.warnings).find((w) => w.message.startsWith(`Unresolved tag: ${tag}`));
  return {
    severity: 'error',
    location: at(warning?.pos[0] ?? 0),
    message: `invalid YAML: unknown tag ${tag}; the tags meshd reads are CloudFormation's short forms (!Ref, !Sub, !GetAtt, !If, !Join, ...)`,
  };
}

/** True when walking `values` visits more than `budget` nodes (stops as soon as it does). */
function exceeds(values: unknown[], budget: number): boolean {
  const stack: unknown[] = [...values];
  let visited = 0;
  while (stack.length > 0) {
    if (++visited > budget) return true;
    const v = stack.pop();
    if (Array.isArray(v)) appendAll(stack, v);
    else if (v !== null && typeof v === 'object') appendAll(stack, Object.values(v));
  }
  return false;
}

/** Whether the `yaml` package's document holds nothing: such documents are not counted in DocumentPlace. */
export function isEmpty(doc: Document): boolean {
  return doc.contents === null || (doc.contents as { value?: unknown }).value === null;
}

/** Offset of the node at `path`, or of its nearest ancestor that exists (with a position). */
function offsetOf(doc: Document, path: FieldPath): number {
  let node: unknown = doc.contents;
  let offset = doc.range?.[0] ?? 0;
  for (let depth = 0; ; depth++) {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    if (range) offset = range[0];
    if (depth === path.length) return offset;
    node = childOf(node, path[depth]!);
    if (node === undefined || node === null) return offset;
  }
}

/**
 * Looking a key up in a `yaml` map scans its pairs (YAMLMap.get), and locating one finding per
 * key of a map made that quadratic (a 130,000-key map never finished): each map gets an index of its keys on first use.
 */
const keyIndexes = new WeakMap<YAMLMap, Map<unknown, unknown>>();

function childOf(node: unknown, segment: string | number): unknown {
  // A CloudFormation short form (`!Sub x`) stands for its long form
  // (`Fn::Sub: x`): the tagged node is the function's argument.
  const tag = (node as { tag?: unknown } | null)?.tag;
  if (typeof tag === 'string' && SHORT_TAGS.get(tag) === segment) return node;
  if (isSeq(node)) return node.get(segment, true);
  if (!isMap(node)) return undefined;
  let index = keyIndexes.get(node);
  if (!index) {
    index = new Map();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? pair.key.value : pair.key;
      if (!index.has(key)) index.set(key, pair.value);
    }
    keyIndexes.set(node, index);
  }
  return index.get(segment);
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}
