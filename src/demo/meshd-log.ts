// meshd's latest problem, from its text log (stderr, `<time> <level> <message>`): a reload that
// failed (every `file:line:col: error: …` finding, then its warnings, then the `mesh not
// reloaded …` verdict), a NACK, a node that does not compile. A later successful (re)load
// clears it.

const LOG_LINE = /^\S+ (debug|info|warn|error)\s+(.*)$/;
const FINDING = /^.+?:\d+:\d+: (error|warning|info): /;

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
    const finding = FINDING.exec(message);
    if (level === 'info' && /^mesh (re)?loaded/.test(message)) {
      this.errors = [];
      this.warnings = [];
      this.set([]);
    } else if (finding) {
      // Findings come before the reload's verdict; warnings of a reload that succeeds are no problem.
      if (finding[1] === 'error') this.errors.push(message);
      else if (finding[1] === 'warning') this.warnings.push(message);
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
