// Where a resource came from, and how its fields map back to the file. A resource's fields are
// addressed as App Mesh names them (`spec.provider.virtualNode.virtualNodeName`); dialects that
// spell a field differently (`virtualNodeRef` in Kubernetes, `virtualNodeName` at the top of CLI
// JSON) map each path back to where it was written, so every message points at the user's text.
import type { FieldPath, SourceLocation, WrittenAt } from '../model/common';

export type { WrittenAt };
import { formatFieldPath } from './problems';
import type { ParsedDocument } from './yaml-documents';

export class Origin {
  private index: PathRuleIndex | undefined;

  constructor(
    private readonly doc: ParsedDocument,
    private readonly rules: readonly PathRule[] = [],
  ) {}

  /** The file the resource is written in. */
  get file(): string {
    return this.doc.file;
  }

  /** Whether the resource itself (path []) is where its document is: a document of its own. */
  get isWholeDocument(): boolean {
    return this.doc.place.prefix.length === 0 && this.documentPath([]).length === 0;
  }

  /** The document the resource is read from. */
  get document(): ParsedDocument {
    return this.doc;
  }

  /** The path in the file for a path in the resource (the longest matching rule's `from` wins). */
  documentPath(path: FieldPath): FieldPath {
    this.index ??= new PathRuleIndex(this.rules);
    const best = this.index.longest(path);
    return best ? [...best.to, ...path.slice(best.from.length)] : path;
  }

  locate(path: FieldPath): SourceLocation {
    return this.doc.locate(this.documentPath(path));
  }

  /** Where the field at `path` (a resource path) is written: for tools that edit the user's file in place. */
  whereWritten(path: FieldPath): WrittenAt {
    return {
      file: this.doc.file,
      document: this.doc.place.document,
      path: [...this.doc.place.prefix, ...this.documentPath(path)],
    };
  }

  /** The field as the user wrote it, for messages. */
  fieldName(path: FieldPath): string {
    return formatFieldPath(this.documentPath(path));
  }
}

/** Resource paths starting with `from` were written at `to` (plus the rest of the path). */
export interface PathRule {
  readonly from: FieldPath;
  readonly to: FieldPath;
}

/**
 * Finds the rule with the longest `from` that `path` starts with (the first given, among equal
 * ones) by looking up each prefix of the path: one finding per item of a long list scanned every
 * rule before (quadratic: a Terraform node with 4,000 listener blocks took 18 s to validate).
 */
export class PathRuleIndex {
  private readonly byFrom = new Map<string, PathRule>();

  constructor(rules: readonly PathRule[]) {
    for (const rule of rules) {
      const key = JSON.stringify(rule.from);
      if (!this.byFrom.has(key)) this.byFrom.set(key, rule);
    }
  }

  longest(path: FieldPath): PathRule | undefined {
    for (let n = path.length; n >= 0; n--) {
      const rule = this.byFrom.get(JSON.stringify(path.slice(0, n)));
      if (rule) return rule;
    }
    return undefined;
  }
}
