// Rendering one virtual service's split: the bar for a terminal, the plain line for pipes.
// Pure functions of a tally snapshot.
import type { TallySnapshot } from './traffic';

export const BAR_WIDTH = 20;
/** One fill per answer, in order: the first answer █, the second ░, … */
const FILLS = ['█', '░', '▓', '▒', '▚', '▞'];
const EMPTY = '·';
/** Answers that name a terminal color are drawn in it. */
const ANSI_COLORS: Record<string, number> = {
  black: 90,
  red: 31,
  green: 32,
  yellow: 33,
  blue: 34,
  magenta: 35,
  purple: 35,
  cyan: 36,
  white: 37,
};

export interface Share {
  readonly label: string;
  readonly count: number;
  /** Whole percent of the 200 answers; the shares add up to exactly 100 when there are any. */
  readonly percent: number;
}

/** Splits `total` units in proportion to `counts` (largest remainder), so they add up to `total`. */
export function apportion(counts: readonly number[], total: number): number[] {
  const sum = counts.reduce((a, b) => a + b, 0);
  if (sum === 0) return counts.map(() => 0);
  const exact = counts.map((c) => (c * total) / sum);
  const out = exact.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of byRemainder) {
    if (left-- <= 0) break;
    out[i]!++;
  }
  return out;
}

/** The known answers first (in their order, even when absent), then any others seen, by name. */
export function sharesOf(known: readonly string[], snapshot: TallySnapshot): Share[] {
  const others = [...snapshot.answers.keys()].filter((a) => !known.includes(a)).sort();
  const labels = [...known, ...others];
  const counts = labels.map((l) => snapshot.answers.get(l) ?? 0);
  const percents = apportion(counts, 100);
  return labels.map((label, i) => ({ label, count: counts[i]!, percent: percents[i]! }));
}

/** A label safe for the plain format: no spaces or '=' and not too long. */
export function plainLabel(label: string): string {
  return (label.replace(/[\s=]+/g, '_') || '(empty)').slice(0, 40);
}

/**
 * The plain line for one virtual service (see screen.ts for the whole plain format):
 * `split <service> <answer>=<percent>... errors=<n> requests=<n>`.
 */
export function plainLine(service: string, shares: readonly Share[], snapshot: TallySnapshot): string {
  const parts = shares.map((s) => `${plainLabel(s.label)}=${s.percent}`);
  return `split ${service} ${parts.join(' ')} errors=${snapshot.errors} requests=${snapshot.requests}`.replace(
    / {2,}/g,
    ' ',
  );
}

function paint(text: string, label: string, color: boolean): string {
  const code = ANSI_COLORS[label.toLowerCase()];
  return color && code !== undefined ? `\x1b[${code}m${text}\x1b[39m` : text;
}

const dim = (text: string, color: boolean) => (color ? `\x1b[2m${text}\x1b[22m` : text);

/**
 * `color.colorapp.local  [██████████████░░░░░░]  blue 70%  green 30%  (41 req/2s, 0 errors)`,
 * and when there were errors a second line with the latest one.
 */
export function barLines(
  service: string,
  nameWidth: number,
  shares: readonly Share[],
  snapshot: TallySnapshot,
  windowMs: number,
  color: boolean,
): string[] {
  const cells = apportion(
    shares.map((s) => s.count),
    BAR_WIDTH,
  );
  const answered = shares.reduce((a, s) => a + s.count, 0);
  const bar =
    answered === 0
      ? dim(EMPTY.repeat(BAR_WIDTH), color)
      : shares
          .map((s, i) => (cells[i]! > 0 ? paint(FILLS[i % FILLS.length]!.repeat(cells[i]!), s.label, color) : ''))
          .join('');
  const legend = shares
    .map((s, i) => paint(`${FILLS[i % FILLS.length]} ${s.label} ${String(s.percent).padStart(3)}%`, s.label, color))
    .join('  ');
  const errors = `${snapshot.errors} error${snapshot.errors === 1 ? '' : 's'}`;
  const counts = `(${snapshot.requests} req/${windowMs / 1000}s, ${snapshot.errors > 0 && color ? `\x1b[31m${errors}\x1b[39m` : errors})`;
  const lines = [`${service.padEnd(nameWidth)}  [${bar}]  ${legend}  ${dim(counts, color && snapshot.errors === 0)}`];
  if (snapshot.errors > 0 && snapshot.lastError)
    lines.push(`${' '.repeat(nameWidth)}  latest error: ${snapshot.lastError}`);
  return lines;
}
