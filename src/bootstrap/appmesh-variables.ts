// What meshd's bootstrap does with each of App Mesh's Envoy variables, from the table both
// renderers read (envoy-bootstrap/appmesh-variables.tsv): the ones it ignores are reported.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const VARIABLES_PATH = path.resolve(__dirname, '../../envoy-bootstrap/appmesh-variables.tsv');

export interface VariableRule {
  /** A variable name, or a prefix when `prefix` is true (written `NAME*` in the table). */
  readonly name: string;
  readonly prefix: boolean;
  readonly used: boolean;
  /** Why an ignored variable is ignored. */
  readonly why: string;
}

export function readVariableRules(text = fs.readFileSync(VARIABLES_PATH, 'utf8')): VariableRule[] {
  const rules: VariableRule[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [name = '', what = ''] = line.split('\t');
    const prefix = name.endsWith('*');
    const ignored = /^ignored: (.+)$/.exec(what);
    if (what !== 'used' && !ignored)
      throw new Error(`${VARIABLES_PATH}: '${line}' is neither 'used' nor 'ignored: <why>'`);
    rules.push({ name: prefix ? name.slice(0, -1) : name, prefix, used: !ignored, why: ignored?.[1] ?? '' });
  }
  return rules;
}

/** The rule for a variable: its exact name, else the longest prefix that covers it. */
export function ruleFor(rules: readonly VariableRule[], name: string): VariableRule | undefined {
  const exact = rules.find((r) => !r.prefix && r.name === name);
  if (exact) return exact;
  return rules.filter((r) => r.prefix && name.startsWith(r.name)).sort((a, b) => b.name.length - a.name.length)[0];
}

/** One line per ignored variable that is set (not empty), sorted by name. */
export function ignoredVariableReport(
  env: Readonly<Record<string, string | undefined>>,
  rules = readVariableRules(),
): string[] {
  return Object.keys(env)
    .filter((name) => env[name] !== undefined && env[name] !== '')
    .sort()
    .flatMap((name) => {
      const rule = ruleFor(rules, name);
      return rule && !rule.used ? [`ignoring ${name}: ${rule.why}`] : [];
    });
}
