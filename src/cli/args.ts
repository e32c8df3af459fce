// A small flag parser: `--name value`, `--name=value`, repeatable list flags, positionals,
// and a generated `--help`. Bad flags are a UsageError (one line, exit 2), never a crash.

export type FlagSpec =
  | { readonly type: 'string'; readonly help: string; readonly default?: string; readonly metavar?: string }
  | { readonly type: 'int'; readonly help: string; readonly default?: number; readonly metavar?: string }
  | { readonly type: 'list'; readonly help: string; readonly metavar?: string }
  | { readonly type: 'bool'; readonly help: string };

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
  readonly positionals: string[];
  readonly help: boolean;
}

export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const flags: ParsedArgs['flags'] = {};
  for (const [name, f] of Object.entries(spec.flags)) {
    if (f.type === 'list') flags[name] = [];
    else if (f.type === 'bool') flags[name] = false;
    else flags[name] = f.default;
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
      continue;
    }
    const value: string | undefined = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || (eq === -1 && value.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
    if (f.type === 'int') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--${name} must be a whole number from 0 to 65535, got '${value}'`);
      flags[name] = n;
    } else if (f.type === 'list') {
      // `--mesh a b c` takes every following non-flag argument.
      const values = [value];
      while (eq === -1 && i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) values.push(argv[++i]!);
      (flags[name] as string[]).push(...values);
    } else {
      flags[name] = value;
    }
  }
  return { flags, positionals, help };
}

export function helpText(spec: CommandSpec): string {
  const lines = [`meshd ${spec.name}: ${spec.summary}`, '', `usage: ${spec.usage}`, ''];
  const entries = Object.entries(spec.flags);
  if (entries.length > 0) lines.push('flags:');
  for (const [name, f] of entries) {
    const meta = f.type === 'bool' ? '' : ` <${'metavar' in f && f.metavar ? f.metavar : f.type === 'int' ? 'port' : 'value'}>`;
    const def = 'default' in f && f.default !== undefined ? ` (default ${f.default})` : '';
    lines.push(`  --${name}${meta}`.padEnd(34) + f.help + def);
  }
  lines.push('  --help'.padEnd(34) + 'show this help');
  if (spec.notes) lines.push('', ...spec.notes);
  return lines.join('\n') + '\n';
}
