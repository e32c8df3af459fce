// The command-line reference (docs/cli.md), generated from the same CommandSpecs that parse the
// flags and print --help, so the document cannot drift from the commands. `npm run docs` writes
// it (scripts/gen-cli-reference.js); test/unit/cli-reference.test.ts fails when it is stale.
import type { CommandSpec, FlagSpec } from './args';

export const CLI_REFERENCE_FILE = 'docs/cli.md';

/** Text for a Markdown table cell or paragraph: no raw HTML, no column breaks, no emphasis. */
function escape(text: string): string {
  return text
    .replace(/\\/g, '\\\\')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/\*/g, '\\*');
}

/** `code` for a table cell: GitHub still splits a cell at a `|` inside backticks unless it is escaped. */
function code(text: string): string {
  return `\`${text.replace(/\|/g, '\\|')}\``;
}

/** The flag as typed, with its value's name (as `--help` shows it). */
function flagForm(name: string, f: FlagSpec): string {
  if (f.type === 'bool') return `--${name}`;
  const metavar = 'metavar' in f && f.metavar ? f.metavar : f.type === 'int' ? 'port' : 'value';
  const many = f.type === 'list' && !f.single ? '...' : '';
  return `--${name} <${metavar}>${many}`;
}

function flagType(f: FlagSpec): string {
  switch (f.type) {
    case 'bool':
      return 'switch';
    case 'int':
      // The parser's bounds when the flag names none: 0 to 65535.
      return `number, ${f.min ?? 0} to ${f.max ?? 65535}`;
    case 'list':
      return f.single ? 'repeatable' : 'list: several values, or repeated';
    default:
      return 'text';
  }
}

function flagDefault(f: FlagSpec): string {
  return 'default' in f && f.default !== undefined ? code(String(f.default)) : '';
}

function flagVariables(f: FlagSpec): string {
  return (f.env ?? []).map((v) => code(v)).join(', ');
}

/** GitHub's anchor for a `## meshd <name>` heading. */
function anchor(spec: CommandSpec): string {
  return `meshd-${spec.name
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-')}`;
}

function commandSection(spec: CommandSpec): string[] {
  const lines = [
    `## meshd ${spec.name}`,
    '',
    `${escape(spec.summary.charAt(0).toUpperCase() + spec.summary.slice(1))}.`,
    '',
    '```',
    spec.usage,
    '```',
    '',
  ];
  const flags = Object.entries(spec.flags);
  lines.push('| flag | type | default | variables | what it does |', '|---|---|---|---|---|');
  for (const [name, f] of flags)
    lines.push(
      `| ${code(flagForm(name, f))} | ${flagType(f)} | ${flagDefault(f)} | ${flagVariables(f)} | ${escape(f.help)} |`,
    );
  lines.push(`| ${code('--help')} | switch |  |  | show this help |`, '');
  if (spec.notes?.length) lines.push('```text', ...spec.notes, '```', '');
  return lines;
}

/** docs/cli.md for these commands. */
export function cliReference(commands: readonly CommandSpec[]): string {
  const lines = [
    '# Command-line reference',
    '',
    '<!-- Generated from the command definitions in src/cli/ by `npm run docs`; do not edit by hand.',
    '     test/unit/cli-reference.test.ts fails when this file is stale. -->',
    '',
    'Every command is `meshd <command> [flags]` (in a checkout, `bin/meshd`), and `meshd <command> --help` prints',
    'its section of this page. A flag takes its value as `--name value` or `--name=value`; a list flag takes',
    'every value up to the next flag (`--mesh a/ b.yaml`), and a repeatable one a value per occurrence.',
    'Most flags can also be set by the environment variables listed with them, the first one set winning;',
    'a flag on the command line wins over its variables, and a list read from a variable is comma-separated.',
    'Bad flags or variables exit with status 2 and one line saying why.',
    '',
    '| command | what it does |',
    '|---|---|',
    ...commands.map((c) => `| [${code(`meshd ${c.name}`)}](#${anchor(c)}) | ${escape(c.summary)} |`),
    '',
  ];
  for (const spec of commands) lines.push(...commandSection(spec));
  return `${lines.join('\n').replace(/\n+$/, '')}\n`;
}
