// Where a resource came from, and how its fields map back to the file. A resource's fields are
// addressed as App Mesh names them (`spec.provider.virtualNode.virtualNodeName`); dialects that
// spell a field differently (`virtualNodeRef` in Kubernetes, `virtualNodeName` at the top of CLI
// JSON) map each path back to where it was written, so every message points at the user's text.
import type { FieldPath, SourceLocation } from '../model/common';
import { formatFieldPath } from './problems';
import type { ParsedDocument } from './yaml-documents';

export class Origin {
  constructor(
    private readonly doc: ParsedDocument,
    private readonly rules: readonly PathRule[] = [],
  ) {}

  /** The path in the file for a path in the resource (the longest matching rule's `from` wins). */
  documentPath(path: FieldPath): FieldPath {
    let best: PathRule | undefined;
    for (const rule of this.rules) {
      if (rule.from.length <= path.length && rule.from.every((seg, i) => seg === path[i]) && (!best || rule.from.length > best.from.length)) best = rule;
    }
    return best ? [...best.to, ...path.slice(best.from.length)] : path;
  }

  locate(path: FieldPath): SourceLocation {
    return this.doc.locate(this.documentPath(path));
  }

  /** Where the field at `path` (a resource path) is written: for tools that edit the user's file in place. */
  whereWritten(path: FieldPath): WrittenAt {
    return { file: this.doc.file, document: this.doc.place.document, path: [...this.doc.place.prefix, ...this.documentPath(path)] };
  }

  /** The field as the user wrote it, for messages. */
  fieldName(path: FieldPath): string {
    return formatFieldPath(this.documentPath(path));
  }
}

/** A field's place in a mesh file: the file, the nth non-empty YAML document in it, the path within that document. */
export interface WrittenAt {
  readonly file: string;
  readonly document: number;
  readonly path: FieldPath;
}

/** Resource paths starting with `from` were written at `to` (plus the rest of the path). */
export interface PathRule {
  readonly from: FieldPath;
  readonly to: FieldPath;
}
