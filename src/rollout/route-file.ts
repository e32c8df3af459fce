// Rewrites weights in the user's own mesh file, in place: only the digits of each weight change,
// so comments, quoting, flow or block style and key order all stay as the user wrote them, in
// YAML and JSON alike. The file is replaced atomically (temp file + rename, which the watcher
// sees as a save), and only if each weight still holds the value meshd expects there, so an edit
// made by hand in the meantime is never overwritten.
import * as fs from 'node:fs';
import { isScalar, LineCounter, parseAllDocuments } from 'yaml';
import { replaceFileAtomically } from '../util/atomic-json-file';
import type { WrittenAt } from '../model/common';
import { isEmpty } from '../load/yaml-documents';

export interface WeightEdit {
  readonly at: WrittenAt;
  /** What the weight must be now; anything else means the file was edited since it was served. */
  readonly expected: number;
  readonly value: number;
}

/** A field that must still hold `value` (the route's name, its router's): else the document is another resource now. */
export interface IdentityCheck {
  readonly at: WrittenAt;
  readonly value: string;
}

export type EditResult =
  { readonly ok: true } | { readonly ok: false; readonly conflict: boolean; readonly error: string };

/** Applies every edit (all in one file) or none, if every identity check holds. */
export function editWeights(edits: readonly WeightEdit[], identity: readonly IdentityCheck[] = []): EditResult {
  const file = edits[0]?.at.file;
  if (file === undefined) return { ok: true };
  if (edits.some((e) => e.at.file !== file))
    return { ok: false, conflict: false, error: 'the weights to change are in several files' };
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, conflict: false, error: `${file}: cannot read: ${(err as Error).message}` };
  }
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter });
  const nonEmpty = Array.isArray(docs) ? docs.filter((d) => !isEmpty(d)) : [];
  for (const check of identity) {
    const node = check.at.file === file ? nonEmpty[check.at.document]?.getIn(check.at.path, true) : undefined;
    if (!isScalar(node) || node.value !== check.value) {
      return {
        ok: false,
        conflict: true,
        error: `${file}: ${check.at.path.join('.')} is no longer '${check.value}' where meshd read it; the file was edited`,
      };
    }
  }
  const splices: { start: number; end: number; text: string }[] = [];
  for (const edit of edits) {
    const doc = nonEmpty[edit.at.document];
    const where = `${file} (${edit.at.path.join('.')})`;
    if (!doc || doc.errors.length > 0)
      return { ok: false, conflict: true, error: `${where}: the document is no longer there or no longer parses` };
    const node = doc.getIn(edit.at.path, true);
    if (!isScalar(node) || !node.range)
      return { ok: false, conflict: true, error: `${where}: no weight there any more` };
    const { line, col } = lineCounter.linePos(node.range[0]);
    if (node.value !== edit.expected) {
      return {
        ok: false,
        conflict: true,
        error: `${file}:${line}:${col}: the weight is ${JSON.stringify(node.value)} in the file where meshd set ${edit.expected}; the file was edited`,
      };
    }
    splices.push({ start: node.range[0], end: node.range[1], text: String(edit.value) });
  }
  let out = text;
  for (const s of splices.sort((a, b) => b.start - a.start)) out = out.slice(0, s.start) + s.text + out.slice(s.end);
  try {
    replaceFileAtomically(file, out);
  } catch (err) {
    return { ok: false, conflict: false, error: `${file}: cannot write: ${(err as Error).message}` };
  }
  return { ok: true };
}
