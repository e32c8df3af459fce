// A CloudFormation App Mesh `Spec` (and `Tags`) in the App Mesh API's shape. The property names
// are the API's in PascalCase (`PortMapping` for `portMapping`), except for the acronyms
// CloudFormation spells in capitals: AWSCloudMap, DNS, TLS, ACM, SDS, GRPC, HTTP, HTTP2, TCP. The
// walk follows the API schema, evaluates intrinsic functions where they stand, turns the scalars
// CloudFormation converts (a Number parameter is a string; `Port: '8080'` is a port), and
// remembers where each field was written so that every finding points at the template.
import type { FieldPath } from '../../model/common';
import type { ObjectSchema, Schema } from '../../model/schema';
import { Origin, PathRuleIndex, type PathRule } from '../origin';
import { unknownFieldMessage } from '../schema-check';
import type { ParsedDocument } from '../yaml-documents';
import { FAILED, NO_VALUE, type Evaluator } from './intrinsics';

/** API field names CloudFormation does not write as plain PascalCase. */
const ACRONYMS: Readonly<Record<string, string>> = {
  awsCloudMap: 'AWSCloudMap',
  dns: 'DNS',
  tls: 'TLS',
  acm: 'ACM',
  sds: 'SDS',
  grpc: 'GRPC',
  http: 'HTTP',
  http2: 'HTTP2',
  tcp: 'TCP',
};

/** The CloudFormation property name of an API field. */
export function cfnName(apiName: string): string {
  return Object.hasOwn(ACRONYMS, apiName) ? ACRONYMS[apiName]! : apiName.charAt(0).toUpperCase() + apiName.slice(1);
}

const fieldIndexes = new WeakMap<ObjectSchema, ReadonlyMap<string, string>>();

/** CloudFormation name → API name, for the fields of an object schema. */
function fieldsByCfnName(schema: ObjectSchema): ReadonlyMap<string, string> {
  let index = fieldIndexes.get(schema);
  if (!index) {
    index = new Map(Object.keys(schema.fields).map((name) => [cfnName(name), name]));
    fieldIndexes.set(schema, index);
  }
  return index;
}

/**
 * Maps resource paths to template paths: by the rules recorded where a field's text is not
 * simply at its PascalCase name (an Fn::If branch, a list item after a left-out one, a value a
 * function produced), and otherwise by PascalCasing the rest of the path.
 */
export class TemplateOrigin extends Origin {
  private templateIndex: PathRuleIndex | undefined;
  private producedIndex: PathRuleIndex | undefined;

  constructor(
    private readonly templateDoc: ParsedDocument,
    private readonly templateRules: readonly PathRule[],
    /** Resource paths whose value a function produced: anything under one is located at the function. */
    private readonly produced: readonly FieldPath[] = [],
  ) {
    super(templateDoc, templateRules);
  }

  override locate(path: FieldPath): ReturnType<Origin['locate']> {
    this.producedIndex ??= new PathRuleIndex(this.produced.map((p) => ({ from: p, to: p })));
    const at = this.producedIndex.longest(path)?.from;
    return this.templateDoc.locate(this.documentPath(at ?? path));
  }

  override documentPath(path: FieldPath): FieldPath {
    this.templateIndex ??= new PathRuleIndex(this.templateRules);
    const best = this.templateIndex.longest(path);
    const rest = path.slice(best?.from.length ?? 0).map((seg) => (typeof seg === 'string' ? cfnName(seg) : seg));
    return [...(best?.to ?? []), ...rest];
  }
}

/** How many values mapping may copy for one template (a mapping can be referenced many times). */
export interface CopyBudget {
  left: number;
}

export class PropertyMapper {
  /** Where fields were written, when not at their PascalCase path (see TemplateOrigin). */
  readonly rules: PathRule[] = [];
  /** Resource paths whose value a function could not give (already reported). */
  readonly unresolved: FieldPath[] = [];
  /** Resource paths whose value a function produced (see TemplateOrigin). */
  readonly produced: FieldPath[] = [];
  rejected = false;

  constructor(
    private readonly evaluator: Evaluator,
    private readonly fail: (docPath: FieldPath, message: string) => void,
    private readonly budget: CopyBudget,
  ) {}

  /** The API value of `raw` (written at `docPath`) for the field at `apiPath`; undefined when left out. */
  map(raw: unknown, docPath: FieldPath, apiPath: FieldPath, schema: Schema): unknown {
    const top = this.evaluator.resolveTop(raw, docPath);
    if (top === NO_VALUE) return undefined;
    if (top === FAILED) {
      this.rejected = true;
      this.unresolved.push(apiPath);
      return undefined;
    }
    if (top.path.length !== docPath.length || top.path.some((seg, i) => seg !== docPath[i]))
      this.rules.push({ from: apiPath, to: top.path });
    if (!top.literal) this.produced.push(apiPath);
    return this.convert(top.value, top.path, apiPath, schema, !top.literal);
  }

  /**
   * `value` in the API's shape. A value a function produced (`produced`) holds no functions and
   * has no positions of its own: its findings point at the function.
   */
  private convert(value: unknown, docPath: FieldPath, apiPath: FieldPath, schema: Schema, produced: boolean): unknown {
    if (--this.budget.left < 0) {
      if (this.budget.left === -1) this.reject(docPath, 'the template expands to too many values; meshd stops here');
      return undefined;
    }
    switch (schema.type) {
      case 'object': {
        // the schema check says what it should be
        if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
        const fields = fieldsByCfnName(schema);
        const out: Record<string, unknown> = {};
        for (const [key, item] of Object.entries(value)) {
          const name = fields.get(key);
          if (name === undefined) {
            this.reject(produced ? docPath : [...docPath, key], unknownFieldMessage(key, [...fields.keys()]));
            // Probably meant as one of the fields: what the schema would say
            // of the mapping without it ("must set one of") is not said.
            this.unresolved.push([...apiPath, key]);
            continue;
          }
          const field = schema.fields[name]!.schema;
          const mapped = produced
            ? this.convert(item, docPath, [...apiPath, name], field, true)
            : this.map(item, [...docPath, key], [...apiPath, name], field);
          if (mapped !== undefined) out[name] = mapped;
        }
        return out;
      }
      case 'list': {
        if (!Array.isArray(value)) return value;
        const out: unknown[] = [];
        value.forEach((item, i) => {
          const at = [...apiPath, out.length];
          const mapped = produced
            ? this.convert(item, docPath, at, schema.item, true)
            : this.map(item, [...docPath, i], at, schema.item);
          if (mapped === undefined) return;
          if (!produced && out.length !== i) this.rules.push({ from: at, to: [...docPath, i] });
          out.push(mapped);
        });
        return out;
      }
      case 'string':
      case 'enum':
        return typeof value === 'number' || typeof value === 'boolean' ? String(value) : value;
      case 'integer':
      case 'number':
        return typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;
      case 'boolean':
        return typeof value === 'string' && /^(true|false)$/i.test(value) ? value.toLowerCase() === 'true' : value;
    }
  }

  private reject(docPath: FieldPath, message: string): void {
    this.rejected = true;
    this.fail(docPath, message);
  }
}
