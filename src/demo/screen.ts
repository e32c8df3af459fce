// The live output. On a terminal: a block of lines (a bar per virtual service, then meshd's
// latest problem, every line of it that the terminal's height leaves room for) redrawn in place
// about every 500 ms. Anywhere else (pipes, files, tests):
// plain lines, one per virtual service every second, in this format:
//
//   process <name> pid=<pid>
//       once per child the demo started (meshd, each app, envoy), before any split line
//   split <service> <answer>=<percent>... errors=<n> requests=<n>
//       every second for each virtual service front calls. <answer>: the body of a 200 answer
//       (spaces and '=' written '_'), the service's route targets first and always (even at 0),
//       then any other answer seen; <percent>: whole percent of the 200 answers of the last
//       2 s, adding up to 100 (all 0 when there were none); errors: the window's requests that
//       did not get a 200 (other statuses, refused, timed out); requests: all of the window's.
//       e.g. `split color.colorapp.local blue=70 green=30 errors=0 requests=41`
//   problem <text>
//       meshd reported a problem (for a mesh that did not reload: a `problem` line for each of
//       its errors `file:line:col: error: …`, then one for each warning, then a last one with
//       meshd's verdict `mesh not reloaded …; the last good mesh keeps serving`)
//   problem-cleared
//       a later reload succeeded
//
// Every other line (the banner, notes, errors) starts with none of these words.
import { barLines, plainLine, sharesOf } from './bar';
import type { TallySnapshot } from './traffic';

export interface ServiceView {
  readonly service: string;
  /** The answers the service's targets give, in route order. */
  readonly known: readonly string[];
  readonly snapshot: () => TallySnapshot;
}

export interface Frame {
  readonly services: readonly ServiceView[];
  readonly windowMs: number;
}

export interface Screen {
  /** True when redrawing a terminal; false for the plain format. */
  readonly tty: boolean;
  start(frame: () => Frame): void;
  /** Lines to print once (above the live block on a terminal). */
  print(lines: readonly string[]): void;
  /** meshd's latest problem, shown under the bars; `[]` clears it. */
  showProblem(lines: readonly string[]): void;
  /** Stops redrawing; the last frame stays on screen. */
  stop(): void;
}

export function createScreen(out: NodeJS.WriteStream, env: Readonly<Record<string, string | undefined>>): Screen {
  if (out.isTTY) return new TtyScreen(out, !env.NO_COLOR && env.TERM !== 'dumb');
  return new PlainScreen(out);
}

const ESCAPE = /\x1b\[[0-9;?]*[A-Za-z]/y;

/** Cuts a line to `width` visible characters (escape sequences take no room). */
export function fitWidth(line: string, width: number): string {
  let out = '';
  let visible = 0;
  for (let i = 0; i < line.length;) {
    ESCAPE.lastIndex = i;
    const esc = ESCAPE.exec(line);
    if (esc) {
      out += esc[0];
      i += esc[0].length;
      continue;
    }
    const ch = String.fromCodePoint(line.codePointAt(i)!);
    if (visible >= width) return `${out}\x1b[0m`;
    out += ch;
    visible++;
    i += ch.length;
  }
  return out;
}

export interface ProblemRow {
  /** `meshd: ` on the first row, spaces on the others. */
  readonly lead: string;
  readonly text: string;
  /** The `… and N more` row. */
  readonly more?: boolean;
}

const LEAD = 'meshd: ';
const INDENT = ' '.repeat(LEAD.length);
/** A wrapped line's continuation rows are indented further, so each line's start stands out. */
const CONTINUATION = `${INDENT}  `;

/** `text` cut into pieces of at most `width` characters, at a space when there is one in the second half. */
export function wrap(text: string, width: number): string[] {
  const pieces: string[] = [];
  let rest = text;
  while ([...rest].length > width) {
    const head = [...rest].slice(0, width).join('');
    const space = head.lastIndexOf(' ');
    const cut = space > width / 2 ? space : head.length;
    pieces.push(rest.slice(0, cut));
    rest = rest.slice(cut).trimStart();
  }
  return [...pieces, rest];
}

/**
 * meshd's problem lines as rows under the bars, each line wrapped to `columns`, in at most
 * `maxRows` rows (3 at least). When they do not all fit: the first lines that do, `… and N more`,
 * and the last line, meshd's verdict (`mesh not reloaded …`).
 */
export function problemRows(lines: readonly string[], columns: number, maxRows: number): ProblemRow[] {
  const rowsOf = (line: string, first: boolean): ProblemRow[] =>
    wrap(line, columns - CONTINUATION.length).map((text, i) => ({
      lead: i > 0 ? CONTINUATION : first ? LEAD : INDENT,
      text,
    }));
  const all = lines.flatMap((l, i) => rowsOf(l, i === 0));
  if (all.length <= maxRows || lines.length < 2) return all;
  const verdict = rowsOf(lines[lines.length - 1]!, false);
  const findings = lines.slice(0, -1);
  const shown: ProblemRow[] = [];
  let count = 0;
  for (const [i, line] of findings.entries()) {
    const rows = rowsOf(line, i === 0);
    // Room for this line, the `… and N more` row and the verdict; the first line is shown in any case.
    if (i > 0 && shown.length + rows.length + 1 + verdict.length > maxRows) break;
    shown.push(...rows);
    count++;
  }
  const more = findings.length - count;
  return [
    ...shown,
    ...(more > 0 ? [{ lead: INDENT, text: `… and ${more} more (a taller terminal shows them)`, more: true }] : []),
    ...verdict,
  ];
}

class TtyScreen implements Screen {
  readonly tty = true;
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private frame: (() => Frame) | undefined;
  private problem: readonly string[] = [];

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly color: boolean,
  ) {}

  showProblem(lines: readonly string[]): void {
    this.problem = lines;
  }

  start(frame: () => Frame): void {
    this.frame = frame;
    this.out.write('\x1b[?25l'); // no cursor blinking over the bars
    // The first frame after one interval: drawn at once, the traffic just started showed an empty bar at 0 %.
    this.timer = setInterval(() => this.draw(), 500);
  }

  print(lines: readonly string[]): void {
    this.out.write(this.erase() + lines.map((l) => `${l}\n`).join(''));
    this.drawn = 0;
    if (this.timer) this.draw();
  }

  stop(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.draw();
    }
    this.out.write('\x1b[?25h');
  }

  private erase(): string {
    return this.drawn > 0 ? `\x1b[${this.drawn}F\x1b[J` : '';
  }

  private draw(): void {
    if (!this.frame) return;
    const f = this.frame();
    const width = Math.max(...f.services.map((s) => s.service.length));
    const lines = [''];
    for (const s of f.services) {
      const snapshot = s.snapshot();
      lines.push(...barLines(s.service, width, sharesOf(s.known, snapshot), snapshot, f.windowMs, this.color));
    }
    lines.push('');
    const columns = Math.max(20, (this.out.columns || 100) - 1);
    if (this.problem.length === 0) lines.push(this.dim('meshd: no problems; the mesh as saved is served'));
    else {
      // The verdict names the file again after the findings; without it, it fits a terminal line.
      const problem = this.problem.map((l) =>
        l.replace(/^(mesh not \S+) after a change to .*?: (\d+ error)/, '$1: $2'),
      );
      // Whatever room the bars leave (the cursor's line stays free),
      // but always a finding, the count of the rest and the verdict.
      const rows = problemRows(problem, columns, Math.max(3, (this.out.rows || 24) - lines.length - 1));
      for (const row of rows) lines.push(`${row.lead}${row.more ? this.dim(row.text) : this.red(row.text)}`);
    }
    this.out.write(this.erase() + lines.map((l) => `${fitWidth(l, columns)}\n`).join(''));
    this.drawn = lines.length;
  }

  private dim(text: string): string {
    return this.color ? `\x1b[2m${text}\x1b[22m` : text;
  }

  private red(text: string): string {
    return this.color ? `\x1b[31m${text}\x1b[39m` : text;
  }
}

/** The plain format's first line (it starts with none of the format's words). */
export const NO_BAR_NOTE =
  'demo: no bars: stdout is not a terminal, so each second prints a `split` line per service instead (run `npm run demo` in a terminal, not piped, to see the bars)';

class PlainScreen implements Screen {
  readonly tty = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly out: NodeJS.WriteStream) {}

  showProblem(lines: readonly string[]): void {
    this.print(lines.length === 0 ? ['problem-cleared'] : lines.map((l) => `problem ${l}`));
  }

  start(frame: () => Frame): void {
    // Said once, so that someone piping the demo (`| tee`, `| less`) knows where the bars went.
    this.print([NO_BAR_NOTE]);
    this.timer = setInterval(() => this.tick(frame()), 1000);
  }

  print(lines: readonly string[]): void {
    this.out.write(lines.map((l) => `${l}\n`).join(''));
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(f: Frame): void {
    const lines: string[] = [];
    for (const s of f.services) {
      const snapshot = s.snapshot();
      lines.push(plainLine(s.service, sharesOf(s.known, snapshot), snapshot));
    }
    this.print(lines);
  }
}
