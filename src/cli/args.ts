// A small flag parser: `--name value`, `--name=value`, repeatable list flags, positionals,
// and a generated `--help`. A flag may also come from environment variables (for compose
// files and App Mesh's Envoy variables); a flag on the command line wins. Bad flags and bad
// variables are a UsageError (one line, exit 2), never a crash.

interface FlagBase {
  readonly help: string;
  /** Environment variables that set this flag when it is not given, first one set wins. */
  readonly env?: readonly string[];
}

export type FlagSpec =
  | (FlagBase & { readonly type: 'string'; readonly default?: string; readonly metavar?: string })
  | (FlagBase & {
      readonly type: 'int';
      readonly default?: number;
      readonly metavar?: string;
      readonly min?: number;
      readonly max?: number;
    })
  | (FlagBase & {
      readonly type: 'list';
      readonly metavar?: string;
      /** Each occurrence takes exactly one value (`--parameter A=1 --parameter B=2`). */ readonly single?: boolean;
    })
  | (FlagBase & { readonly type: 'bool' });

export type Env = Readonly<Record<string, string | undefined>>;

export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly flags: Readonly<Record<string, FlagSpec>>;
  /** Extra lines after the flags in --help. */
  readonly notes?: readonly string[];
}

export class UsageError extends Error {}

export interface ParsedArgs {
  readonly flags: Record<string, string | number | boolean | string[] | undefined>;
  /** Where each flag that was set came from, to name it in errors: `--name` or the variable. */
  readonly sources: Record<string, string>;
  readonly positionals: string[];
  readonly help: boolean;
}

/** The words Go's strconv.ParseBool accepts, as App Mesh's Envoy image read its switches. */
const TRUE_WORDS = ['1', 't', 'T', 'true', 'TRUE', 'True'];
const FALSE_WORDS = ['0', 'f', 'F', 'false', 'FALSE', 'False'];

/** `raw` read as Go's strconv.ParseBool reads it (App Mesh's variables), or undefined when it is no boolean. */
export function parseGoBool(raw: string): boolean | undefined {
  return TRUE_WORDS.includes(raw) ? true : FALSE_WORDS.includes(raw) ? false : undefined;
}

/** The first of a flag's environment variables that is set (and not empty), and its value. */
function fromEnv(f: FlagSpec, env: Env): { source: string; value: string[] | number | boolean | string } | undefined {
  const source = f.env?.find((n) => blankTrimmed(env[n] ?? '') !== '');
  if (!source) return undefined;
  const raw = blankTrimmed(env[source]!);
  switch (f.type) {
    case 'int':
      return { source, value: parseInt(raw, source, f.min, f.max) };
    case 'bool': {
      const value = parseGoBool(raw);
      if (value !== undefined) return { source, value };
      throw new UsageError(`${source} must be 1 or 0 (or true or false), got '${raw}'`);
    }
    case 'list':
      return {
        source,
        value: raw
          .split(',')
          .map((v) => v.trim())
          .filter(Boolean),
      };
    default:
      return { source, value: raw };
  }
}

/** Without leading and trailing spaces, tabs and line breaks (as the sh renderer trims too). */
function blankTrimmed(value: string): string {
  return value.replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, '');
}

function parseInt(value: string, what: string, min = 0, max = 65535): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n < min || n > max)
    throw new UsageError(`${what} must be a whole number from ${min} to ${max}, got '${value}'`);
  return n;
}

export function parseArgs(spec: CommandSpec, argv: readonly string[], env: Env = {}): ParsedArgs {
  const flags: ParsedArgs['flags'] = {};
  const sources: Record<string, string> = {};
  for (const [name, f] of Object.entries(spec.flags)) {
    const fromVariable = fromEnv(f, env);
    if (fromVariable) sources[name] = fromVariable.source;
    if (f.type === 'list') flags[name] = fromVariable?.value ?? [];
    else if (f.type === 'bool') flags[name] = fromVariable?.value ?? false;
    else flags[name] = fromVariable?.value ?? f.default;
  }
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const f = spec.flags[name];
    if (!f) throw new UsageError(`unknown flag --${name} for 'meshd ${spec.name}' (see meshd ${spec.name} --help)`);
    if (f.type === 'bool') {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      sources[name] = `--${name}`;
      continue;
    }
    const value: string | undefined = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || (eq === -1 && value.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
    const fromVariable = sources[name] !== undefined && !sources[name]!.startsWith('--');
    sources[name] = `--${name}`;
    if (f.type === 'int') {
      flags[name] = parseInt(value, `--${name}`, f.min, f.max);
    } else if (f.type === 'list') {
      // `--mesh a b c` takes every following non-flag argument; the command line replaces
      // what the environment said.
      if (fromVariable) flags[name] = [];
      const values = [value];
      while (eq === -1 && !f.single && i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) values.push(argv[++i]!);
      (flags[name] as string[]).push(...values);
    } else {
      flags[name] = value;
    }
  }
  return { flags, sources, positionals, help };
}

/** Where flag descriptions start, and the width they are wrapped to, in --help. */
const HELP_COLUMN = 34;
const HELP_WIDTH = 100;

export function helpText(spec: CommandSpec): string {
  const lines = [`meshd ${spec.name}: ${spec.summary}`, '', `usage: ${spec.usage}`, '', 'flags:'];
  for (const [name, f] of Object.entries(spec.flags)) {
    const meta =
      f.type === 'bool' ? '' : ` <${'metavar' in f && f.metavar ? f.metavar : f.type === 'int' ? 'port' : 'value'}>`;
    const def = 'default' in f && f.default !== undefined ? ` (default ${f.default})` : '';
    const env = f.env?.length ? ` [$${f.env.join(', $')}]` : '';
    lines.push(...flagHelp(`--${name}${meta}`, f.help + def + env));
  }
  lines.push(...flagHelp('--help', 'show this help'));
  // Notes wrap like descriptions; an indented note (an example line) is kept as written.
  if (spec.notes) lines.push('', ...spec.notes.flatMap((n) => (n.startsWith(' ') ? [n] : wrapWords(n, HELP_WIDTH))));
  return lines.join('\n') + '\n';
}

/**
 * A flag and its description in two columns, the description wrapped at word boundaries; a flag
 * too wide for its column gets the description on the lines below it, never glued to it.
 */
function flagHelp(flag: string, description: string): string[] {
  const indent = ' '.repeat(HELP_COLUMN);
  const text = wrapWords(description, HELP_WIDTH - HELP_COLUMN).map((line) => indent + line);
  const head = `  ${flag}`;
  if (head.length + 2 > HELP_COLUMN) return [head, ...text];
  return [head.padEnd(HELP_COLUMN) + text[0]!.slice(HELP_COLUMN), ...text.slice(1)];
}

/** `text` in lines of at most `width` characters, broken at spaces (a longer word keeps a line of its own). */
function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ').filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  return [...lines, line];
}
