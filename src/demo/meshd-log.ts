// meshd's latest problem, from its text log (stderr, `<time> <level> <message>`): a reload that
// failed (every `file:line:col: …` finding logged at level error, then its warnings, then the
// `mesh not reloaded …` verdict), a NACK, a node that does not compile. A later successful
// (re)load clears it.

const LOG_LINE = /^\S+ (debug|info|warn|error)\s+(.*)$/;
/** A mesh file finding: its severity is the log level; shown as `meshd validate` prints it. */
const FINDING = /^((?:(?!: ).)+:\d+:\d+): /;

export class MeshdProblem {
  private errors: string[] = [];
  private warnings: string[] = [];
  private lines: readonly string[] = [];

  /** `onChange` hears each new problem, and `[]` when one is cleared. */
  constructor(private readonly onChange: (lines: readonly string[]) => void = () => undefined) {}

  /** Feeds one line of meshd's stderr. */
  feed(line: string): void {
    const m = LOG_LINE.exec(line);
    if (!m) return;
    const [, level, message] = m as unknown as [string, string, string];
    if (level === 'info' && /^mesh (re)?loaded/.test(message)) {
      this.errors = [];
      this.warnings = [];
      this.set([]);
    } else if (FINDING.test(message)) {
      // Findings come before the reload's verdict; warnings of a reload that succeeds are no problem.
      if (level === 'error') this.errors.push(message.replace(FINDING, '$1: error: '));
      else if (level === 'warn') this.warnings.push(message.replace(FINDING, '$1: warning: '));
    } else if (level === 'error' && message.startsWith('mesh not ')) {
      // All of them: the first error is often not the telling one (a misspelt field is first
      // reported as the field it should have been, missing).
      this.set([...this.errors, ...this.warnings, message]);
      this.errors = [];
      this.warnings = [];
    } else if (level === 'error' || level === 'warn') {
      this.set([message]);
    }
  }

  /** The problem's lines; empty when there is none. */
  current(): readonly string[] {
    return this.lines;
  }

  private set(lines: readonly string[]): void {
    if (lines.length === 0 && this.lines.length === 0) return;
    this.lines = lines;
    this.onChange(lines);
  }
}
