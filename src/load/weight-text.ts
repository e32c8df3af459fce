// A route's weights rewritten in the text of a mesh file: only the digits of each weight change, so
// comments, quoting, flow or block style and key order all stay as the user wrote them, in YAML and
// JSON alike, and only if each weight still holds the value meshd expects there. The rollouts use it
// on the file itself (rollout/route-file.ts); a fleet's store applies the weights it keeps to a file's
// text at each load, since the files are read-only there (store/postgres/mesh-store.ts).
import { isScalar, LineCounter, parseAllDocuments } from 'yaml';
import type { WrittenAt } from '../model/common';
import { isEmpty } from './yaml-documents';

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

/**
 * The text of one mesh file with every edit applied (only the digits of each weight change), or why
 * not: a weight that no longer holds the value expected, an identity check that fails. Edits and checks
 * name the file the text is of (their `at.file`); those naming another are refused, or fail.
 */
export function editWeightsInText(
  text: string,
  edits: readonly WeightEdit[],
  identity: readonly IdentityCheck[] = [],
): { readonly ok: true; readonly text: string } | Extract<EditResult, { ok: false }> {
  const file = edits[0]?.at.file;
  if (file === undefined) return { ok: true, text };
  if (edits.some((e) => e.at.file !== file))
    return { ok: false, conflict: false, error: 'the weights to change are in several files' };
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
  return { ok: true, text: out };
}
