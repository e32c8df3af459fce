import type { SourceLocation } from '../model/common';
import type { Logger } from '../util/log';

export type Severity = 'error' | 'warning' | 'info';

/** One finding about the input, pointing at the exact spot. Only errors make the input invalid. */
export interface Problem {
  readonly severity: Severity;
  readonly location: SourceLocation;
  /** `Kind/name` of the resource the finding is about, when known. */
  readonly resource?: string;
  readonly message: string;
  /** The field it is about, as written in the file: `spec.listeners[0].portMapping.port`. */
  readonly field?: string;
}

/** `path:line:col: error: Kind/name: message (spec.field.path)`: the format of `meshd validate` and `meshd render`. */
export function formatProblem(p: Problem): string {
  const { file, line, col } = p.location;
  return `${file}:${line}:${col}: ${p.severity}: ${describe(p)}`;
}

/**
 * `path:line:col: Kind/name: message (spec.field.path)`: a finding in meshd's log, which it is
 * logged at the level of its severity; the level says `error` (or `warn`, `info`), so the line
 * says it once.
 */
export function formatLoggedProblem(p: Problem): string {
  const { file, line, col } = p.location;
  return `${file}:${line}:${col}: ${describe(p)}`;
}

function describe(p: Problem): string {
  return `${p.resource ? `${p.resource}: ` : ''}${p.message}${p.field ? ` (${p.field})` : ''}`;
}

export { formatFieldPath } from '../model/common';

export function isError(p: Problem): boolean {
  return p.severity === 'error';
}

/**
 * An input value as text for a label or message. String() throws on a mapping that carries its
 * own `toString` or `valueOf` key (`{ toString: "" }` is valid YAML), so a mapping or list that
 * cannot be made text is named by its shape instead.
 */
export function inputText(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Array.isArray(value) ? 'a list' : 'a mapping';
  }
}

/** Sends each finding to the log at its own level (the level says the severity, so the line does not). */
export function logProblems(log: Logger, problems: readonly Problem[]): void {
  for (const p of problems)
    (p.severity === 'error' ? log.error : p.severity === 'warning' ? log.warn : log.info)(formatLoggedProblem(p));
}

/** How many of the findings are errors (only they make the input invalid). */
export function errorCount(problems: readonly Problem[]): number {
  return problems.filter((p) => p.severity === 'error').length;
}
