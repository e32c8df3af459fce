// CloudFormation's intrinsic functions, evaluated as CloudFormation would for one stack: Ref,
// Fn::Sub, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split, Fn::If (with Conditions: Fn::Equals,
// Fn::And, Fn::Or, Fn::Not, Condition), Fn::FindInMap, Fn::ImportValue, Fn::Base64. A function
// meshd cannot work out is reported at the file, line and column of the call, naming the
// function, and yields FAILED: never a made-up value. Evaluation is bounded in depth and size,
// since a template is input like any other.
import type { FieldPath } from '../../model/common';
import { closest } from '../schema-check';
import { PSEUDO_PARAMETERS, type DeclaredParameter, type StackInputs } from './stack-inputs';

/** `Ref: AWS::NoValue` (possibly through Fn::If): the property or list item is left out. */
export const NO_VALUE: unique symbol = Symbol('AWS::NoValue');
/** The value could not be worked out; the reason was reported where it arose. */
export const FAILED: unique symbol = Symbol('failed');
export type Evaluated = unknown;

/** Nested calls (functions inside functions, and one resource's name needing another's) past this are refused. */
const MAX_ACTIVE = 200;
/** The longest string a function may make (App Mesh's longest strings are far shorter). */
export const MAX_STRING = 64 * 1024;
/** How many list items and mapping entries one template's functions may produce in all. */
const MAX_NODES = 1_000_000;
/**
 * How many characters and list items one template's functions may read in all. Parameters,
 * mappings and YAML aliases hand the same long value to any number of calls, so what one call
 * makes is bounded but the calls together were not (a 200,000-item list joined 20,000 times).
 */
const MAX_READ = 16 * 1024 * 1024;
/** How much comparing (edit distance cells) "did you mean" suggestions may cost one template. */
const MAX_SUGGESTION_COST = 20_000_000;

/**
 * Reports a problem about the call `fn` written at `node` (the argument
 * path `arg` under it, for position); `fn` empty: about `node` itself.
 */
export type Report = (node: FieldPath, fn: string, message: string, arg?: FieldPath) => void;

/** What Ref and Fn::GetAtt give for the template's resources (the template reader knows them). */
export interface ResourceValues {
  has(logicalId: string): boolean;
  ids(): readonly string[];
  ref(logicalId: string, node: FieldPath, fn: string): Evaluated;
  getAtt(logicalId: string, attribute: string, node: FieldPath, fn: string): Evaluated;
}

export interface TemplateSections {
  readonly parameters: ReadonlyMap<string, DeclaredParameter>;
  readonly mappings: ReadonlyMap<string, { readonly value: unknown; readonly path: FieldPath }>;
  readonly conditions: ReadonlyMap<string, { readonly value: unknown; readonly path: FieldPath }>;
}

/** A value after its top-level function (if any) was evaluated, and where its content was written. */
export type Top =
  { readonly value: unknown; readonly path: FieldPath; readonly literal: boolean } | typeof NO_VALUE | typeof FAILED;

/** Functions whose argument is a condition, allowed only in Conditions (and in each other). */
const CONDITION_FUNCTIONS = ['Fn::Equals', 'Fn::And', 'Fn::Or', 'Fn::Not', 'Condition'];
/** Functions meshd knows but cannot evaluate without AWS (or a transform). */
const NEEDS_AWS: Readonly<Record<string, string>> = {
  'Fn::GetAZs': "it asks AWS for the region's availability zones",
  'Fn::Cidr': 'meshd does not compute address blocks',
  'Fn::Transform': 'meshd runs no macros',
  'Fn::Length': 'it needs the AWS::LanguageExtensions transform',
  'Fn::ToJsonString': 'it needs the AWS::LanguageExtensions transform',
};

export class Evaluator {
  private active = 0;
  private nodes = 0;
  private read = 0;
  private suggestionCost = 0;
  private readonly conditionValues = new Map<string, boolean | typeof FAILED>();
  private readonly conditionsInProgress: string[] = [];
  private readonly valuelessReported = new Set<string>();
  private depthReported = false;

  constructor(
    private readonly inputs: StackInputs,
    private readonly sections: TemplateSections,
    private readonly resources: ResourceValues,
    private readonly report: Report,
  ) {}

  /** The name of the intrinsic function `value` calls, if it is a call. */
  static functionOf(value: unknown, inCondition = false): string | undefined {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    const keys = Object.keys(value);
    if (keys.length !== 1) return undefined;
    const key = keys[0]!;
    return key === 'Ref' || key.startsWith('Fn::') || (inCondition && key === 'Condition') ? key : undefined;
  }

  /** `value` (written at `path`) with every function in it evaluated; NO_VALUE items and entries are left out. */
  resolve(value: unknown, path: FieldPath): Evaluated {
    return this.guarded(path, () => {
      const fn = Evaluator.functionOf(value);
      if (fn) return this.call(fn, (value as Record<string, unknown>)[fn], path);
      // Counted before the walk: a YAML alias can stand for millions of values, and past the budget none is walked.
      if (Array.isArray(value)) {
        if (this.counted(path, value, value.length) === FAILED) return FAILED;
        const out: unknown[] = [];
        let failed = false;
        for (const [i, item] of value.entries()) {
          const r = this.resolve(item, [...path, i]);
          if (r === FAILED) failed = true;
          else if (r !== NO_VALUE) out.push(r);
          if (this.nodes > MAX_NODES) return FAILED;
        }
        return failed ? FAILED : out;
      }
      if (value !== null && typeof value === 'object') {
        const entries = Object.entries(value);
        if (this.counted(path, value, entries.length) === FAILED) return FAILED;
        const out: Record<string, unknown> = {};
        let failed = false;
        for (const [key, item] of entries) {
          const r = this.resolve(item, [...path, key]);
          if (r === FAILED) failed = true;
          else if (r !== NO_VALUE) setOwn(out, key, r);
          if (this.nodes > MAX_NODES) return FAILED;
        }
        return failed ? FAILED : out;
      }
      return value;
    });
  }

  /**
   * Evaluates the function at the top of `value` only. Fn::If hands back its chosen branch
   * unevaluated, with the branch's path, so a caller walking a literal mapping keeps every field's position.
   */
  resolveTop(value: unknown, path: FieldPath): Top {
    return this.guarded(path, (): Top => {
      const fn = Evaluator.functionOf(value);
      if (!fn) return { value, path, literal: true };
      const arg = (value as Record<string, unknown>)[fn];
      if (fn === 'Fn::If') {
        const branch = this.ifBranch(arg, path);
        return branch === FAILED ? FAILED : this.resolveTop(branch.value, branch.path);
      }
      const r = this.call(fn, arg, path);
      return r === FAILED || r === NO_VALUE ? r : { value: r, path, literal: false };
    }) as Top;
  }

  /** A condition's value by name (Conditions section), evaluated once. */
  condition(name: string, node: FieldPath, fn: string, arg: FieldPath = []): boolean | typeof FAILED {
    const known = this.conditionValues.get(name);
    if (known !== undefined) return known;
    const declared = this.sections.conditions.get(name);
    if (!declared) {
      this.report(
        node,
        fn,
        `condition '${shown(name)}' is not declared in Conditions${this.suggest(name, [...this.sections.conditions.keys()])}`,
        arg,
      );
      return FAILED;
    }
    if (this.conditionsInProgress.includes(name)) {
      this.report(
        node,
        fn,
        `circular condition: ${[...this.conditionsInProgress.slice(this.conditionsInProgress.indexOf(name)), name].join(' → ')}`,
        arg,
      );
      return FAILED;
    }
    this.conditionsInProgress.push(name);
    const value = this.conditionExpression(declared.value, declared.path);
    this.conditionsInProgress.pop();
    this.conditionValues.set(name, value);
    return value;
  }

  /** Ref semantics for a name (Ref, and `${Name}` in Fn::Sub): a pseudo parameter, a parameter or a resource. */
  refValue(
    name: string,
    node: FieldPath,
    fn: string,
    arg: FieldPath = [],
    variables: readonly string[] = [],
  ): Evaluated {
    if (name === 'AWS::NoValue') return NO_VALUE;
    const pseudo = this.inputs.pseudo(name);
    if (pseudo !== undefined) return pseudo;
    const parameter = this.sections.parameters.get(name);
    if (parameter?.refused) return FAILED;
    if (parameter) {
      if (parameter.kind === 'ssm') {
        this.report(
          node,
          fn,
          `parameter '${name}' is an SSM parameter type; meshd cannot read SSM Parameter Store`,
          arg,
        );
        return FAILED;
      }
      if (parameter.value === undefined) {
        // Said once, at the first use: every other use fails for the same reason.
        if (!this.valuelessReported.has(name))
          this.report(
            node,
            fn,
            `parameter '${name}' has no value: give it a Default or pass --parameter ${name}=<value>`,
            arg,
          );
        this.valuelessReported.add(name);
        return FAILED;
      }
      return parameter.value;
    }
    if (this.resources.has(name)) return this.resources.ref(name, node, fn);
    const known = [...variables, ...this.sections.parameters.keys(), ...this.resources.ids(), ...PSEUDO_PARAMETERS];
    const what =
      fn === 'Fn::Sub'
        ? 'a variable of this Fn::Sub, a parameter or resource of this template, nor a pseudo parameter'
        : 'a parameter or resource of this template, nor a pseudo parameter';
    this.report(node, fn, `'${shown(name)}' is not ${what}${this.suggest(name, known)}`, arg);
    return FAILED;
  }

  private call(fn: string, arg: unknown, path: FieldPath): Evaluated {
    const fail = (message: string, argPath: FieldPath = []): typeof FAILED => {
      this.report(path, fn, message, argPath);
      return FAILED;
    };
    // Past a budget every later call fails at once (the budget's finding was made once).
    if (this.nodes > MAX_NODES || this.read > MAX_READ) return FAILED;
    switch (fn) {
      case 'Ref':
        return typeof arg === 'string' && arg !== ''
          ? this.refValue(arg, path, fn)
          : fail('needs the name of a parameter, a resource or a pseudo parameter');
      case 'Fn::GetAtt':
        return this.getAtt(arg, path);
      case 'Fn::Sub':
        return this.sub(arg, path);
      case 'Fn::If': {
        const branch = this.ifBranch(arg, path);
        return branch === FAILED ? FAILED : this.resolve(branch.value, branch.path);
      }
      case 'Fn::Join': {
        if (!Array.isArray(arg) || arg.length !== 2) return fail('takes [delimiter, [values...]]');
        const delimiter = this.resolve(arg[0], [...path, fn, 0]);
        const list = this.resolve(arg[1], [...path, fn, 1]);
        if (delimiter === FAILED || list === FAILED) return FAILED;
        if (typeof delimiter !== 'string') return fail('the delimiter must be a string', [0]);
        if (!Array.isArray(list)) return fail('the values must be a list', [1]);
        if (!this.reading(path, list.length)) return FAILED;
        const items: string[] = [];
        let length = 0;
        for (const [i, item] of list.entries()) {
          const text = scalarText(item);
          if (text === undefined) return fail(`value ${i} is not a string`, [1]);
          length += text.length + (i > 0 ? delimiter.length : 0);
          // Before joining: N references to one long string would make a string too long for memory.
          if (length > MAX_STRING) return fail(`makes a string longer than ${MAX_STRING} characters`);
          items.push(text);
        }
        if (!this.reading(path, length)) return FAILED;
        return items.join(delimiter);
      }
      case 'Fn::Select': {
        if (!Array.isArray(arg) || arg.length !== 2) return fail('takes [index, [values...]]');
        const index = this.resolve(arg[0], [...path, fn, 0]);
        const list = this.resolve(arg[1], [...path, fn, 1]);
        if (index === FAILED || list === FAILED) return FAILED;
        const n =
          typeof index === 'number' ? index : typeof index === 'string' && /^\d+$/.test(index) ? Number(index) : NaN;
        if (!Number.isInteger(n) || n < 0)
          return fail(`the index must be a whole number of at least 0, got ${JSON.stringify(index)}`, [0]);
        if (!Array.isArray(list)) return fail('the values must be a list', [1]);
        if (n >= list.length) return fail(`index ${n} is out of range: the list has ${list.length} item(s)`, [0]);
        return list[n];
      }
      case 'Fn::Split': {
        if (!Array.isArray(arg) || arg.length !== 2) return fail('takes [delimiter, string]');
        const delimiter = this.resolve(arg[0], [...path, fn, 0]);
        const source = this.resolve(arg[1], [...path, fn, 1]);
        if (delimiter === FAILED || source === FAILED) return FAILED;
        if (typeof delimiter !== 'string' || delimiter === '')
          return fail('the delimiter must be a string that is not empty', [0]);
        const text = scalarText(source);
        if (text === undefined) return fail('the source must be a string', [1]);
        if (!this.reading(path, text.length)) return FAILED;
        const parts = text.split(delimiter);
        return this.counted(path, parts, parts.length);
      }
      case 'Fn::FindInMap':
        return this.findInMap(arg, path);
      case 'Fn::ImportValue': {
        const r = this.resolve(arg, [...path, fn]);
        if (r === FAILED) return FAILED;
        const name = scalarText(r);
        if (name === undefined) return fail('takes the name of an export (a string)');
        const value = this.inputs.options.importValues?.get(name);
        return value !== undefined
          ? value
          : fail(`no value for the export '${shown(name)}': pass --import-value ${shown(name)}=<value>`);
      }
      case 'Fn::Base64': {
        const r = this.resolve(arg, [...path, fn]);
        if (r === FAILED) return FAILED;
        const text = scalarText(r);
        if (text === undefined) return fail('takes a string');
        if (text.length > MAX_STRING) return fail(`makes a string longer than ${MAX_STRING} characters`);
        if (!this.reading(path, text.length)) return FAILED;
        return this.text(Buffer.from(text, 'utf8').toString('base64'), path, fn);
      }
      default:
        if (CONDITION_FUNCTIONS.includes(fn)) return fail('can be used only in the Conditions section');
        if (Object.hasOwn(NEEDS_AWS, fn)) return fail(`meshd cannot evaluate this function: ${NEEDS_AWS[fn]}`);
        return fail('unknown intrinsic function');
    }
  }

  /** `[condition, whenTrue, whenFalse]`: the branch to take, with its path. */
  private ifBranch(arg: unknown, path: FieldPath): { value: unknown; path: FieldPath } | typeof FAILED {
    if (!Array.isArray(arg) || arg.length !== 3 || typeof arg[0] !== 'string') {
      this.report(path, 'Fn::If', 'takes [condition name, value if true, value if false]');
      return FAILED;
    }
    const holds = this.condition(arg[0], path, 'Fn::If', [0]);
    if (holds === FAILED) return FAILED;
    const i = holds ? 1 : 2;
    return { value: arg[i], path: [...path, 'Fn::If', i] };
  }

  private getAtt(arg: unknown, path: FieldPath): Evaluated {
    const fn = 'Fn::GetAtt';
    let logicalId: unknown;
    let attribute: unknown;
    if (typeof arg === 'string') {
      const dot = arg.indexOf('.');
      [logicalId, attribute] = dot === -1 ? [arg, undefined] : [arg.slice(0, dot), arg.slice(dot + 1)];
    } else if (Array.isArray(arg) && arg.length === 2) {
      logicalId = arg[0];
      attribute = this.resolve(arg[1], [...path, fn, 1]);
      if (attribute === FAILED) return FAILED;
    }
    if (typeof logicalId !== 'string' || typeof attribute !== 'string' || logicalId === '' || attribute === '') {
      this.report(path, fn, 'takes [resource, attribute] (or resource.attribute)');
      return FAILED;
    }
    if (!this.resources.has(logicalId)) {
      this.report(
        path,
        fn,
        `'${shown(logicalId)}' is not a resource of this template${this.suggest(logicalId, this.resources.ids())}`,
      );
      return FAILED;
    }
    return this.resources.getAtt(logicalId, attribute, path, fn);
  }

  private sub(arg: unknown, path: FieldPath): Evaluated {
    const fn = 'Fn::Sub';
    let template: unknown = arg;
    let variables: Record<string, unknown> = {};
    let templatePath: FieldPath = [];
    if (Array.isArray(arg)) {
      if (arg.length !== 2) {
        this.report(path, fn, 'takes a string, or [string, {variable: value}]');
        return FAILED;
      }
      template = arg[0];
      templatePath = [0];
      const vars = arg[1];
      if (vars === null || typeof vars !== 'object' || Array.isArray(vars)) {
        this.report(path, fn, 'the variables must be a mapping of names to values', [1]);
        return FAILED;
      }
      const resolved = this.resolve(vars, [...path, fn, 1]);
      if (resolved === FAILED) return FAILED;
      variables = resolved as Record<string, unknown>;
    }
    if (typeof template !== 'string') {
      this.report(path, fn, 'takes a string, or [string, {variable: value}]', templatePath);
      return FAILED;
    }
    if (!this.reading(path, template.length)) return FAILED;
    let out = '';
    let failed = false;
    for (let i = 0; ;) {
      const start = template.indexOf('${', i);
      const end = start === -1 ? -1 : template.indexOf('}', start);
      if (start === -1 || end === -1) {
        out += template.slice(i);
        break;
      }
      out += template.slice(i, start);
      i = end + 1;
      const name = template.slice(start + 2, end).trim();
      if (name.startsWith('!')) {
        out += `\${${name.slice(1)}}`; // ${!Literal} is written as ${Literal}
        continue;
      }
      const value = Object.hasOwn(variables, name)
        ? variables[name]
        : this.subVariable(name, path, templatePath, Object.keys(variables));
      if (value === FAILED) {
        failed = true;
        continue;
      }
      const text = scalarText(value);
      if (text === undefined) {
        this.report(
          path,
          fn,
          `\${${shown(name)}} is ${Array.isArray(value) ? 'a list' : value === NO_VALUE ? 'AWS::NoValue' : 'not a string'}; Fn::Sub puts only strings in (use Fn::Join for a list)`,
          templatePath,
        );
        failed = true;
        continue;
      }
      out += text;
      if (out.length > MAX_STRING) break;
    }
    return failed ? FAILED : this.text(out, path, fn);
  }

  /** `${Name}` is Ref Name; `${Resource.Attribute}` is Fn::GetAtt. */
  private subVariable(name: string, path: FieldPath, templatePath: FieldPath, variables: readonly string[]): Evaluated {
    const fn = 'Fn::Sub';
    const dot = name.indexOf('.');
    if (dot !== -1 && !name.startsWith('AWS::')) {
      const [logicalId, attribute] = [name.slice(0, dot), name.slice(dot + 1)];
      if (this.resources.has(logicalId)) return this.resources.getAtt(logicalId, attribute, path, fn);
      this.report(
        path,
        fn,
        `\${${shown(name)}}: '${shown(logicalId)}' is not a resource of this template${this.suggest(logicalId, this.resources.ids())}`,
        templatePath,
      );
      return FAILED;
    }
    return this.refValue(name, path, fn, templatePath, variables);
  }

  private findInMap(arg: unknown, path: FieldPath): Evaluated {
    const fn = 'Fn::FindInMap';
    if (!Array.isArray(arg) || arg.length !== 3) {
      this.report(path, fn, 'takes [map name, top-level key, second-level key]');
      return FAILED;
    }
    const keys = arg.map((k, i) => this.resolve(k, [...path, fn, i]));
    if (keys.includes(FAILED)) return FAILED;
    const texts = keys.map(scalarText);
    const bad = texts.findIndex((t) => t === undefined);
    if (bad !== -1) {
      this.report(path, fn, 'each key must be a string', [bad]);
      return FAILED;
    }
    const [mapName, top, second] = texts as [string, string, string];
    const mapping = this.sections.mappings.get(mapName);
    if (!mapping) {
      this.report(
        path,
        fn,
        `mapping '${shown(mapName)}' is not declared in Mappings${this.suggest(mapName, [...this.sections.mappings.keys()])}`,
        [0],
      );
      return FAILED;
    }
    const level1 = ownValue(mapping.value, top);
    if (level1 === undefined) {
      this.report(path, fn, `mapping '${shown(mapName)}' has no key '${shown(top)}'`, [1]);
      return FAILED;
    }
    const level2 = ownValue(level1, second);
    if (level2 === undefined) {
      this.report(path, fn, `mapping '${shown(mapName)}' has no key '${shown(second)}' under '${shown(top)}'`, [2]);
      return FAILED;
    }
    return level2;
  }

  /** A condition expression (a Conditions entry, or an argument of Fn::And/Or/Not). */
  private conditionExpression(value: unknown, path: FieldPath): boolean | typeof FAILED {
    return this.guarded(path, () => {
      const fn = Evaluator.functionOf(value, true);
      const arg = fn ? (value as Record<string, unknown>)[fn] : undefined;
      const fail = (message: string): typeof FAILED => {
        this.report(path, fn ?? '', message);
        return FAILED;
      };
      switch (fn) {
        case 'Condition':
          return typeof arg === 'string' ? this.condition(arg, path, fn) : fail('takes the name of a condition');
        case 'Fn::Equals': {
          if (!Array.isArray(arg) || arg.length !== 2) return fail('takes [value, value]');
          const [a, b] = [this.resolve(arg[0], [...path, fn, 0]), this.resolve(arg[1], [...path, fn, 1])];
          if (a === FAILED || b === FAILED) return FAILED;
          if (!this.reading(path, readSize(a) + readSize(b))) return FAILED;
          return comparable(a) === comparable(b);
        }
        case 'Fn::Not': {
          if (!Array.isArray(arg) || arg.length !== 1) return fail('takes [condition]');
          const inner = this.conditionExpression(arg[0], [...path, fn, 0]);
          return inner === FAILED ? FAILED : !inner;
        }
        case 'Fn::And':
        case 'Fn::Or': {
          if (!Array.isArray(arg) || arg.length < 2 || arg.length > 10)
            return fail('takes a list of 2 to 10 conditions');
          const values = arg.map((c, i) => this.conditionExpression(c, [...path, fn, i]));
          if (values.includes(FAILED)) return FAILED;
          return fn === 'Fn::And' ? values.every(Boolean) : values.some(Boolean);
        }
        default:
          return fail('a condition must be Fn::Equals, Fn::And, Fn::Or, Fn::Not or Condition');
      }
    }) as boolean | typeof FAILED;
  }

  /** Runs one step of evaluation, refusing past MAX_ACTIVE nested steps. */
  private guarded<T>(path: FieldPath, step: () => T): T | typeof FAILED {
    if (this.active >= MAX_ACTIVE) {
      // Once: everything else evaluated at this depth fails for the same reason.
      if (!this.depthReported)
        this.report(path, '', `functions and references nest more than ${MAX_ACTIVE} deep; meshd stops here`);
      this.depthReported = true;
      return FAILED;
    }
    this.active++;
    try {
      return step();
    } finally {
      this.active--;
    }
  }

  private counted<T>(path: FieldPath, value: T, count: number): T | typeof FAILED {
    this.nodes += count;
    if (this.nodes <= MAX_NODES) return value;
    if (this.nodes - count <= MAX_NODES)
      this.report(path, '', `the template's functions produce more than ${MAX_NODES} values; meshd stops here`);
    return FAILED;
  }

  /** Charges `count` characters or items read to the template's budget; false (reported once) past it. */
  private reading(path: FieldPath, count: number): boolean {
    this.read += count;
    if (this.read <= MAX_READ) return true;
    if (this.read - count <= MAX_READ)
      this.report(
        path,
        '',
        `the template's functions read more than ${MAX_READ} characters and list items; meshd stops here`,
      );
    return false;
  }

  /**
   * `; did you mean 'X'?`, while comparing names has cost this template little (each comparison is an edit distance).
   */
  private suggest(name: string, known: readonly string[]): string {
    let cost = 0;
    for (const k of known) cost += (k.length + 1) * (Math.min(name.length, 256) + 1);
    if (name.length > 255 || this.suggestionCost + cost > MAX_SUGGESTION_COST) return '';
    this.suggestionCost += cost;
    return suggestion(name, known);
  }

  private text(value: string, path: FieldPath, fn: string): string | typeof FAILED {
    if (value.length <= MAX_STRING) return value;
    this.report(path, fn, `makes a string longer than ${MAX_STRING} characters`);
    return FAILED;
  }
}

/** A string, or a number or boolean written where a string goes (CloudFormation turns them into strings). */
export function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** A name from the template in a message: at most 80 characters of it. */
export function shown(name: string): string {
  return name.length > 80 ? `${name.slice(0, 80)}…` : name;
}

/** What comparing a value reads: a string's characters, a list's items and theirs. */
function readSize(value: unknown): number {
  if (typeof value === 'string') return value.length;
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + 1 + (typeof v === 'string' ? v.length : 1), 0);
  return 1;
}

/** How Fn::Equals compares: scalars as strings, lists item by item. */
function comparable(value: unknown): string {
  return JSON.stringify(Array.isArray(value) ? value.map((v) => scalarText(v) ?? v) : (scalarText(value) ?? value));
}

function ownValue(container: unknown, key: string): unknown {
  if (container === null || typeof container !== 'object' || Array.isArray(container) || !Object.hasOwn(container, key))
    return undefined;
  return (container as Record<string, unknown>)[key];
}

/** `; did you mean 'X'?` when a known name is close. */
export function suggestion(name: string, known: readonly string[]): string {
  const near = closest(name, known);
  return near ? `; did you mean '${near}'?` : '';
}

/** Sets an own property, even one named `__proto__` (see k8s-manifest.ts). */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
