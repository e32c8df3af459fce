// The bootstrap template language (envoy-bootstrap/bootstrap.yaml), all of it:
//   `## …` lines are template notes, left out;
//   `# {{#NAME}}` … `# {{/NAME}}` keep the lines between only when NAME has a value;
//   `{{NAME}}` is the value: a string double-quoted as JSON (which YAML reads), a number as is,
//   YAML lines as they are, each line after the first indented like the line of the placeholder.
// envoy-bootstrap/render-bootstrap.sh implements the same rules in awk; the two must agree
// byte for byte (test/e2e/bootstrap.test.ts).

/** `{ yaml }`: lines of YAML, put in as they are (the renderer built them from checked values). */
export type TemplateValue = string | number | boolean | { yaml: string } | undefined;

const NOTE = /^\s*##/;
const OPEN = /^\s*# \{\{#([A-Z0-9_]+)\}\}\s*$/;
const CLOSE = /^\s*# \{\{\/([A-Z0-9_]+)\}\}\s*$/;
const PLACEHOLDER = /\{\{([A-Z0-9_]+)\}\}/g;

export function fillTemplate(template: string, values: Readonly<Record<string, TemplateValue>>): string {
  const out: string[] = [];
  let section: { name: string; keep: boolean } | undefined;
  for (const line of template.split('\n')) {
    if (NOTE.test(line)) continue;
    const open = OPEN.exec(line);
    if (open) {
      if (section) throw new Error(`bootstrap template: section {{#${open[1]}}} inside {{#${section.name}}}`);
      section = { name: open[1]!, keep: present(values[open[1]!]) };
      continue;
    }
    const close = CLOSE.exec(line);
    if (close) {
      if (section?.name !== close[1]) throw new Error(`bootstrap template: {{/${close[1]}}} closes no open section`);
      section = undefined;
      continue;
    }
    if (section && !section.keep) continue;
    const indent = /^[ \t]*/.exec(line)![0];
    // Only the template itself is checked for braces it cannot read: a value may hold `{{` (a
    // string is quoted; YAML lines were checked by whoever built them).
    if (line.replace(PLACEHOLDER, '').includes('{{'))
      throw new Error(`bootstrap template: cannot read '${line.trim()}'`);
    out.push(line.replace(PLACEHOLDER, (_, key: string) => literal(key, values[key], indent)));
  }
  if (section) throw new Error(`bootstrap template: section {{#${section.name}}} is never closed`);
  return out.join('\n');
}

function present(value: TemplateValue): boolean {
  return value !== undefined && value !== false && value !== '';
}

function literal(key: string, value: TemplateValue, indent: string): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'object') return value.yaml.split('\n').join(`\n${indent}`);
  if (typeof value === 'string') return JSON.stringify(value);
  throw new Error(`bootstrap template: {{${key}}} has no value`);
}
