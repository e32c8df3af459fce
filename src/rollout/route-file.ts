// Rewrites weights in the user's own mesh file, in place: only the digits of each weight change,
// so comments, quoting, flow or block style and key order all stay as the user wrote them, in
// YAML and JSON alike. The file is replaced atomically (temp file + rename, which the watcher
// sees as a save), and only if each weight still holds the value meshd expects there, so an edit
// made by hand in the meantime is never overwritten.
import * as fs from 'node:fs';
import { replaceFileAtomically } from '../util/atomic-json-file';
import { editWeightsInText, type EditResult, type IdentityCheck, type WeightEdit } from '../load/weight-text';

export type { EditResult, IdentityCheck, WeightEdit } from '../load/weight-text';

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
  const edited = editWeightsInText(text, edits, identity);
  if (!edited.ok) return edited;
  try {
    replaceFileAtomically(file, edited.text);
  } catch (err) {
    return { ok: false, conflict: false, error: `${file}: cannot write: ${(err as Error).message}` };
  }
  return { ok: true };
}
