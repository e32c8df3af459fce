import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { SourceLocation } from '../model/common';
import type { Problem } from './problems';

export type { FieldPath } from '../model/common';
import type { FieldPath } from '../model/common';

/** One YAML document of a mesh file: its plain value, and a way to find where any field of it was written. */
export interface ParsedDocument {
  readonly file: string;
  readonly value: unknown;
  /** Location of the field at `path`, or of its nearest ancestor that exists. */
  locate(path: FieldPath): SourceLocation;
}

/**
 * Splits a (multi-document) YAML file into documents. Syntax errors come back as problems with
 * their line and column; a file with any syntax error yields no documents at all, so a
 * half-parsed file can never become half-applied configuration.
 */
export function parseYamlDocuments(file: string, text: string): { documents: ParsedDocument[]; problems: Problem[] } {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: Problem[] = [];
  const at = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, col };
  };
  // parseAllDocuments returns an EmptyStream (no documents, but errors) for an empty input.
  for (const doc of Array.isArray(docs) ? docs : []) {
    for (const err of [...doc.errors]) {
      problems.push({ severity: 'error', location: at(err.pos[0]), message: `invalid YAML: ${firstLine(err.message)}` });
    }
  }
  if (problems.length > 0 || !Array.isArray(docs)) return { documents: [], problems };

  const documents: ParsedDocument[] = [];
  for (const doc of docs) {
    if (doc.contents === null) continue;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      // An alias to an anchor that is not there, or too many aliases (a "billion laughs" file).
      problems.push({ severity: 'error', location: at(doc.range?.[0] ?? 0), message: `invalid YAML: ${firstLine((err as Error).message)}` });
      continue;
    }
    documents.push({ file, value, locate: (path) => at(offsetOf(doc, path)) });
  }
  if (problems.length > 0) return { documents: [], problems };
  return { documents, problems };
}

function offsetOf(doc: Document, path: FieldPath): number {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return node.range[0];
  }
  return doc.range?.[0] ?? 0;
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}
