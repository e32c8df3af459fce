// RE2's regular expression syntax, parsed as RE2 parses it for Envoy 1.40 (Perl-like,
// case-sensitive, and Latin-1: each byte of the pattern's UTF-8 is one rune, runes end at 0xFF,
// so \x{100} is an error and \p{Greek} matches nothing; measured on the real Envoy), into RE2's
// own tree shapes: literal runs merged into
// strings, single-rune classes turned into literals, alternations factored (common literal
// prefixes, common leading pieces, runs of literals merged into one class). Those shapes decide
// the size of the compiled program (program.ts), which Envoy limits. Written from RE2's
// parse.cc; bad syntax gives RE2's error text.

export const FOLD_CASE = 1;
export const NON_GREEDY = 2;
export const DOT_NL = 4;
export const ONE_LINE = 8;
export const WAS_DOLLAR = 16;

/** Latin-1: the largest rune. */
export const RUNE_MAX = 0xff;
export const MAX_REPEAT = 1000;
const MAX_NESTING = 1000;

export type Op =
  | 'NoMatch'
  | 'EmptyMatch'
  | 'Literal'
  | 'LiteralString'
  | 'Concat'
  | 'Alternate'
  | 'Star'
  | 'Plus'
  | 'Quest'
  | 'Repeat'
  | 'Capture'
  | 'AnyChar'
  | 'AnyByte'
  | 'BeginLine'
  | 'EndLine'
  | 'WordBoundary'
  | 'NoWordBoundary'
  | 'BeginText'
  | 'EndText'
  | 'CharClass';

/** A node of RE2's tree. Mutable, as RE2's factoring rewrites nodes in place. */
export interface Re {
  op: Op;
  flags: number;
  runes: number[]; // Literal: one rune; LiteralString: the runes
  subs: Re[];
  min: number;
  max: number; // -1: no maximum
  cap: number;
  name: string;
  /** CharClass: sorted, disjoint, non-adjacent [lo, hi] ranges. */
  ranges: Array<[number, number]>;
}

export function node(op: Op, flags: number, extra: Partial<Re> = {}): Re {
  return { op, flags, runes: [], subs: [], min: 0, max: 0, cap: 0, name: '', ranges: [], ...extra };
}

export class Re2SyntaxError extends Error {}

// ---- character classes --------------------------------------------------------------------

/** Ranges sorted and merged (adjacent ranges joined), as RE2's CharClassBuilder keeps them. */
export function normalize(ranges: Array<[number, number]>): Array<[number, number]> {
  const sorted = ranges.filter(([lo, hi]) => lo <= hi).sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

export function negate(ranges: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let next = 0;
  for (const [lo, hi] of normalize(ranges)) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= RUNE_MAX) out.push([next, RUNE_MAX]);
  return out;
}

export function clip(ranges: Array<[number, number]>): Array<[number, number]> {
  return normalize(
    ranges.filter(([lo]) => lo <= RUNE_MAX).map(([lo, hi]) => [lo, Math.min(hi, RUNE_MAX)] as [number, number]),
  );
}

export function runeCount(ranges: Array<[number, number]>): number {
  return ranges.reduce((n, [lo, hi]) => n + hi - lo + 1, 0);
}

/** RE2's AddFoldedRangeLatin1: in Latin-1, case folding adds the other case of ASCII letters only. */
function addFolded(out: Array<[number, number]>, lo: number, hi: number): void {
  out.push([lo, hi]);
  for (let r = Math.max(lo, 0x41); r <= Math.min(hi, 0x7a); r++) {
    if ((r >= 0x41 && r <= 0x5a) || (r >= 0x61 && r <= 0x7a)) out.push([r ^ 0x20, r ^ 0x20]);
  }
}

function addRanges(out: Array<[number, number]>, ranges: Array<[number, number]>, flags: number): void {
  for (const [lo, hi] of ranges) {
    if (flags & FOLD_CASE) addFolded(out, lo, hi);
    else out.push([lo, hi]);
  }
}

/** A group such as \d or [:alpha:] or \pL, positive or negated, as RE2's AddUGroup adds it. */
function addGroup(out: Array<[number, number]>, group: Array<[number, number]>, negated: boolean, flags: number): void {
  if (!negated) return addRanges(out, group, flags);
  if (flags & FOLD_CASE) {
    const positive: Array<[number, number]> = [];
    addRanges(positive, group, flags);
    out.push(...negate(positive));
    return;
  }
  addRanges(out, negate(group), flags);
}

const PERL_GROUPS: Record<string, Array<[number, number]>> = {
  d: [[0x30, 0x39]],
  s: [
    [0x09, 0x0a],
    [0x0c, 0x0d],
    [0x20, 0x20],
  ],
  w: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
};

const POSIX_GROUPS: Record<string, Array<[number, number]>> = {
  alnum: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  alpha: [
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  ascii: [[0x00, 0x7f]],
  blank: [
    [0x09, 0x09],
    [0x20, 0x20],
  ],
  cntrl: [
    [0x00, 0x1f],
    [0x7f, 0x7f],
  ],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [
    [0x21, 0x2f],
    [0x3a, 0x40],
    [0x5b, 0x60],
    [0x7b, 0x7e],
  ],
  space: [
    [0x09, 0x0d],
    [0x20, 0x20],
  ],
  upper: [[0x41, 0x5a]],
  word: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
    [0x5f, 0x5f],
  ],
  xdigit: [
    [0x30, 0x39],
    [0x41, 0x46],
    [0x61, 0x66],
  ],
};

const unicodeGroups = new Map<string, Array<[number, number]> | null>();
/** \p{Name}: a general category (L, Lu, ...), a script (Greek, Latin, ...) or Any. */
function unicodeGroup(name: string): Array<[number, number]> | undefined {
  if (name === 'Any') return [[0, RUNE_MAX]];
  if (!/^[A-Za-z_]+$/.test(name)) return undefined;
  if (!unicodeGroups.has(name)) {
    let test: RegExp | undefined;
    try {
      test = /^[A-Z][a-z]?$/.test(name)
        ? new RegExp(`\\p{General_Category=${name}}`, 'u')
        : new RegExp(`\\p{Script=${name}}`, 'u');
    } catch {
      test = undefined;
    }
    if (!test) {
      unicodeGroups.set(name, null);
    } else {
      const ranges: Array<[number, number]> = [];
      let start = -1;
      for (let c = 0; c <= RUNE_MAX + 1; c++) {
        const inside = c <= RUNE_MAX && test.test(String.fromCodePoint(c));
        if (inside && start < 0) start = c;
        if (!inside && start >= 0) {
          ranges.push([start, c - 1]);
          start = -1;
        }
      }
      unicodeGroups.set(name, ranges);
    }
  }
  return unicodeGroups.get(name) ?? undefined;
}

// ---- equality (RE2's Regexp::Equal) -----------------------------------------------------------

export function equal(a: Re, b: Re): boolean {
  if (a.op !== b.op) return false;
  switch (a.op) {
    case 'EndText':
      if ((a.flags ^ b.flags) & WAS_DOLLAR) return false;
      break;
    case 'Literal':
    case 'LiteralString':
      if (
        (a.flags ^ b.flags) & FOLD_CASE ||
        a.runes.length !== b.runes.length ||
        a.runes.some((r, i) => r !== b.runes[i])
      )
        return false;
      break;
    case 'Star':
    case 'Plus':
    case 'Quest':
      if ((a.flags ^ b.flags) & NON_GREEDY) return false;
      break;
    case 'Repeat':
      if ((a.flags ^ b.flags) & NON_GREEDY || a.min !== b.min || a.max !== b.max) return false;
      break;
    case 'Capture':
      if (a.cap !== b.cap || a.name !== b.name) return false;
      break;
    case 'CharClass':
      if (
        a.ranges.length !== b.ranges.length ||
        a.ranges.some(([lo, hi], i) => lo !== b.ranges[i]![0] || hi !== b.ranges[i]![1])
      )
        return false;
      break;
    default:
      break;
  }
  if (a.subs.length !== b.subs.length) return false;
  return a.subs.every((s, i) => equal(s, b.subs[i]!));
}

// ---- alternation factoring (RE2's FactorAlternation) -----------------------------------------

function leadingString(re: Re): { runes: number[]; flags: number } {
  while (re.op === 'Concat' && re.subs.length > 0) re = re.subs[0]!;
  const flags = re.flags & FOLD_CASE;
  if (re.op === 'Literal' || re.op === 'LiteralString') return { runes: re.runes, flags };
  return { runes: [], flags };
}

function removeLeadingString(re: Re, n: number): void {
  const stack: Re[] = [];
  while (re.op === 'Concat') {
    if (stack.length < 4) stack.push(re);
    re = re.subs[0]!;
  }
  if (re.op === 'Literal') {
    Object.assign(re, { op: 'EmptyMatch', runes: [] });
  } else if (re.op === 'LiteralString') {
    if (n >= re.runes.length) Object.assign(re, { op: 'EmptyMatch', runes: [] });
    else if (n === re.runes.length - 1) Object.assign(re, { op: 'Literal', runes: [re.runes[re.runes.length - 1]!] });
    else re.runes = re.runes.slice(n);
  }
  while (stack.length > 0) {
    const concat = stack.pop()!;
    if (concat.subs[0]!.op === 'EmptyMatch') {
      if (concat.subs.length === 2) Object.assign(concat, { ...concat.subs[1]! });
      else concat.subs = concat.subs.slice(1);
    }
  }
}

function leadingRegexp(re: Re): Re | undefined {
  if (re.op === 'EmptyMatch') return undefined;
  if (re.op === 'Concat' && re.subs.length >= 2) return re.subs[0]!.op === 'EmptyMatch' ? undefined : re.subs[0];
  return re;
}

function removeLeadingRegexp(re: Re): Re {
  if (re.op === 'EmptyMatch') return re;
  if (re.op === 'Concat' && re.subs.length >= 2) {
    if (re.subs[0]!.op === 'EmptyMatch') return re;
    if (re.subs.length === 2) return re.subs[1]!;
    re.subs = re.subs.slice(1);
    return re;
  }
  return node('EmptyMatch', re.flags);
}

const isLiteralOrClass = (re: Re) => re.op === 'Literal' || re.op === 'CharClass';
const FACTORABLE_LEADERS = new Set<Op>([
  'BeginLine',
  'EndLine',
  'WordBoundary',
  'NoWordBoundary',
  'BeginText',
  'EndText',
  'CharClass',
  'AnyChar',
  'AnyByte',
]);
const REPEATABLE = new Set<Op>(['Literal', 'CharClass', 'AnyChar', 'AnyByte']);

/** Replaces runs sub[start:i] by one regexp each, where `decide` finds the runs. */
function factorRuns(
  subs: Re[],
  key: (re: Re) => unknown,
  same: (first: unknown, next: unknown) => boolean,
  build: (run: Re[], first: unknown) => Re,
): Re[] {
  const out: Re[] = [];
  let start = 0;
  let first: unknown;
  for (let i = 0; i <= subs.length; i++) {
    let next: unknown;
    if (i < subs.length) {
      next = key(subs[i]!);
      if (i > start && same(first, next)) {
        continue;
      }
    }
    if (i - start >= 2) out.push(build(subs.slice(start, i), first));
    else if (i - start === 1) out.push(subs[start]!);
    if (i < subs.length) {
      start = i;
      first = next;
    }
  }
  return out;
}

export function factorAlternation(subs: Re[], flags: number): Re[] {
  // Round 1: common literal prefixes. The run's common prefix shrinks as it grows.
  {
    const out: Re[] = [];
    let start = 0;
    let runes: number[] = [];
    let runeFlags = 0;
    let nrune = 0;
    for (let i = 0; i <= subs.length; i++) {
      let lead: { runes: number[]; flags: number } | undefined;
      if (i < subs.length) {
        lead = leadingString(subs[i]!);
        if (lead.flags === runeFlags) {
          let same = 0;
          while (same < nrune && same < lead.runes.length && runes[same] === lead.runes[same]) same++;
          if (same > 0) {
            nrune = same;
            continue;
          }
        }
      }
      if (i - start >= 2) {
        const prefix = node(nrune === 1 ? 'Literal' : 'LiteralString', runeFlags, { runes: runes.slice(0, nrune) });
        const run = subs.slice(start, i);
        for (const re of run) removeLeadingString(re, nrune);
        out.push(node('Concat', flags, { subs: [prefix, alternateNoFactor(factorAlternation(run, flags), flags)] }));
      } else if (i - start === 1) {
        out.push(subs[start]!);
      }
      if (lead) {
        start = i;
        runes = lead.runes;
        nrune = lead.runes.length;
        runeFlags = lead.flags;
      }
    }
    subs = out;
  }
  // Round 2: a common simple leading piece.
  subs = factorRuns(
    subs,
    (re) => leadingRegexp(re),
    (first, next) => {
      const f = first as Re | undefined;
      if (!f || !next) return false;
      const simple =
        FACTORABLE_LEADERS.has(f.op) || (f.op === 'Repeat' && f.min === f.max && REPEATABLE.has(f.subs[0]!.op));
      return simple && equal(f, next as Re);
    },
    (run, first) => {
      const rest = run.map(removeLeadingRegexp);
      return node('Concat', flags, { subs: [first as Re, alternateNoFactor(factorAlternation(rest, flags), flags)] });
    },
  );
  // Round 3: runs of literals and classes become one class.
  subs = factorRuns(
    subs,
    (re) => re,
    (first, next) => isLiteralOrClass(first as Re) && isLiteralOrClass(next as Re),
    (run) => {
      const ranges: Array<[number, number]> = [];
      for (const re of run) {
        if (re.op === 'CharClass') ranges.push(...re.ranges);
        else addRanges(ranges, [[re.runes[0]!, re.runes[0]!]], re.flags);
      }
      return node('CharClass', flags & ~FOLD_CASE, { ranges: normalize(ranges) });
    },
  );
  return subs;
}

export function alternateNoFactor(subs: Re[], flags: number): Re {
  if (subs.length === 0) return node('NoMatch', flags);
  if (subs.length === 1) return subs[0]!;
  return node('Alternate', flags, { subs });
}

export function concat(subs: Re[], flags: number): Re {
  if (subs.length === 0) return node('EmptyMatch', flags);
  if (subs.length === 1) return subs[0]!;
  return node('Concat', flags, { subs });
}

// ---- the parser -------------------------------------------------------------------------------

interface Branch {
  items: Re[];
}

/** Parses as RE2 does with Envoy's options; throws Re2SyntaxError with RE2's message. */
export function parse(source: string): Re {
  return new Parser(source).parseAll();
}

class Parser {
  private readonly s: number[];
  private pos = 0;
  private flags = ONE_LINE;
  private ncap = 0;
  private depth = 0;

  constructor(private readonly text: string) {
    this.s = [...Buffer.from(text, 'utf8')];
  }

  private fail(what: string, arg: string): never {
    throw new Re2SyntaxError(`${what}: ${arg.length > 80 ? `${arg.slice(0, 77)}...` : arg}`);
  }

  private peek(k = 0): number | undefined {
    return this.s[this.pos + k];
  }

  /** The next `n` bytes as text (a window: never the whole rest, which would be quadratic). */
  private ahead(n: number): string {
    return this.slice(this.pos, this.pos + n);
  }

  /** Pattern bytes back as text, for messages. */
  private slice(from: number, to = this.s.length): string {
    return Buffer.from(this.s.slice(from, to)).toString('utf8');
  }

  parseAll(): Re {
    const re = this.parseAlternation();
    if (this.pos < this.s.length) this.fail('unexpected )', this.text); // only ')' stops early
    return re;
  }

  /** Up to ')' or the end; flags set inside hold to the end of the group. */
  private parseAlternation(): Re {
    if (++this.depth > MAX_NESTING) this.fail('expression nests too deeply', this.text);
    const branches: Re[] = [];
    let branch: Branch = { items: [] };
    let lastRepeat = -1; // where the last repetition operator began, for `a**`
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === 0x29 /* ) */) break;
      const start = this.pos;
      if (c === 0x7c /* | */) {
        this.pos++;
        this.pushBranch(branches, this.finishBranch(branch));
        branch = { items: [] };
        lastRepeat = -1;
        continue;
      }
      if (c === 0x2a || c === 0x2b || c === 0x3f /* * + ? */) {
        this.pos++;
        let nongreedy = false;
        if (this.peek() === 0x3f) {
          nongreedy = true;
          this.pos++;
        }
        if (lastRepeat >= 0) this.fail('bad repetition operator', this.slice(lastRepeat, this.pos));
        this.repeatOp(branch, c === 0x2a ? 'Star' : c === 0x2b ? 'Plus' : 'Quest', nongreedy, start);
        lastRepeat = start;
        continue;
      }
      if (c === 0x7b /* { */) {
        const rep = this.maybeRepeat();
        if (rep) {
          let nongreedy = false;
          if (this.peek() === 0x3f) {
            nongreedy = true;
            this.pos++;
          }
          if (lastRepeat >= 0) this.fail('bad repetition operator', this.slice(lastRepeat, this.pos));
          this.repetition(branch, rep.min, rep.max, nongreedy, start);
          lastRepeat = start;
          continue;
        }
      }
      lastRepeat = -1;
      this.parseAtom(branch);
    }
    this.pushBranch(branches, this.finishBranch(branch));
    this.depth--;
    return this.collapseAlternation(branches);
  }

  private pushBranch(branches: Re[], re: Re): void {
    // RE2's DoVerticalBar: AnyChar next to a literal, class or AnyChar subsumes it.
    const last = branches[branches.length - 1];
    const subsumable = (r: Re) => r.op === 'Literal' || r.op === 'CharClass' || r.op === 'AnyChar';
    if (last && last.op === 'AnyChar' && subsumable(re)) return;
    if (last && re.op === 'AnyChar' && subsumable(last)) {
      branches[branches.length - 1] = re;
      return;
    }
    branches.push(re);
  }

  private collapseAlternation(branches: Re[]): Re {
    if (branches.length === 1) return branches[0]!;
    const flat = branches.flatMap((b) => (b.op === 'Alternate' ? b.subs : [b]));
    return alternateNoFactor(factorAlternation(flat, this.flags), this.flags);
  }

  private finishBranch(branch: Branch): Re {
    this.mergeTop(branch);
    const items = branch.items.flatMap((i) => (i.op === 'Concat' ? i.subs : [i]));
    if (items.length === 0) return node('EmptyMatch', this.flags);
    return concat(items, this.flags);
  }

  /** RE2's MaybeConcatString: the top two literals merge when their case folding agrees. */
  private mergeTop(branch: Branch): void {
    const items = branch.items;
    const a = items[items.length - 2];
    const b = items[items.length - 1];
    if (!a || !b) return;
    if ((a.op !== 'Literal' && a.op !== 'LiteralString') || (b.op !== 'Literal' && b.op !== 'LiteralString')) return;
    if ((a.flags & FOLD_CASE) !== (b.flags & FOLD_CASE)) return;
    // Each literal owns its runes array, so the run grows in place (no quadratic copying).
    if (a.op === 'Literal') a.runes = [...a.runes];
    a.op = 'LiteralString';
    for (const r of b.runes) a.runes.push(r);
    items.pop();
  }

  private push(branch: Branch, re: Re): void {
    this.mergeTop(branch);
    // RE2's PushRegexp: a class of one rune is that literal; [Aa] is a case-folded literal.
    if (re.op === 'CharClass') {
      re.ranges = clip(re.ranges); // RE2's RemoveAbove(rune_max)
      const n = runeCount(re.ranges);
      if (n === 1) {
        re = node('Literal', this.flags, { runes: [re.ranges[0]![0]] });
      } else if (n === 2) {
        const r = re.ranges[0]![0];
        if (r >= 0x41 && r <= 0x5a && re.ranges.some(([lo, hi]) => lo <= r + 0x20 && r + 0x20 <= hi))
          re = node('Literal', this.flags | FOLD_CASE, { runes: [r + 0x20] });
      }
    }
    branch.items.push(re);
  }

  private pushLiteral(branch: Branch, r: number): void {
    // In Latin-1, RE2 folds a literal's case only for ASCII letters.
    if (this.flags & FOLD_CASE && /[A-Za-z]/.test(String.fromCharCode(r))) {
      const other = r ^ 0x20;
      this.push(
        branch,
        node('CharClass', this.flags & ~FOLD_CASE, {
          ranges: normalize([
            [r, r],
            [other, other],
          ]),
        }),
      );
      return;
    }
    this.push(branch, node('Literal', this.flags, { runes: [r] }));
  }

  private repeatOp(branch: Branch, op: 'Star' | 'Plus' | 'Quest', nongreedy: boolean, start: number): void {
    const top = branch.items[branch.items.length - 1];
    if (!top) this.fail('missing argument to repetition operator', this.slice(start, this.pos));
    const fl = nongreedy ? this.flags ^ NON_GREEDY : this.flags;
    // Squash ** ++ ?? to one, and *+ *? +* +? ?* ?+ to *.
    if (top.op === op && top.flags === fl) return;
    if ((top.op === 'Star' || top.op === 'Plus' || top.op === 'Quest') && top.flags === fl) {
      top.op = 'Star';
      return;
    }
    branch.items[branch.items.length - 1] = node(op, fl, { subs: [top] });
  }

  private repetition(branch: Branch, min: number, max: number, nongreedy: boolean, start: number): void {
    const text = this.slice(start, this.pos);
    const top = branch.items[branch.items.length - 1];
    if (!top) this.fail('missing argument to repetition operator', text);
    if ((max !== -1 && max < min) || min > MAX_REPEAT || max > MAX_REPEAT) this.fail('bad repetition operator', text);
    const re = node('Repeat', nongreedy ? this.flags ^ NON_GREEDY : this.flags, { subs: [top], min, max });
    branch.items[branch.items.length - 1] = re;
    if ((min >= 2 || max >= 2) && repetitionBudget(re, MAX_REPEAT) === 0) this.fail('bad repetition operator', text);
  }

  /** {n}, {n,} or {n,m}; anything else leaves '{' a literal. */
  private maybeRepeat(): { min: number; max: number } | undefined {
    const m = /^\{([0-9]+)(,([0-9]*))?\}/.exec(this.ahead(32));
    if (!m) return undefined;
    const bad = (d: string) => d.length >= 2 && d[0] === '0';
    if (bad(m[1]!) || (m[3] !== undefined && m[3] !== '' && bad(m[3]))) return undefined;
    const num = (d: string) => (d.length > 8 ? 100_000_000 : Number(d));
    this.pos += m[0].length;
    const min = num(m[1]!);
    const max = m[2] === undefined ? min : m[3] === '' ? -1 : num(m[3]!);
    return { min, max };
  }

  private parseAtom(branch: Branch): void {
    const c = this.peek()!;
    switch (c) {
      case 0x28 /* ( */:
        return this.parseGroup(branch);
      case 0x5b /* [ */:
        return this.push(branch, this.parseClass());
      case 0x2e /* . */:
        this.pos++;
        if (this.flags & DOT_NL) return this.push(branch, node('AnyChar', this.flags));
        return this.push(
          branch,
          node('CharClass', this.flags & ~FOLD_CASE, {
            ranges: [
              [0, 9],
              [11, RUNE_MAX],
            ],
          }),
        );
      case 0x5e /* ^ */:
        this.pos++;
        return this.push(branch, node(this.flags & ONE_LINE ? 'BeginText' : 'BeginLine', this.flags));
      case 0x24 /* $ */:
        this.pos++;
        return this.push(
          branch,
          this.flags & ONE_LINE ? node('EndText', this.flags | WAS_DOLLAR) : node('EndLine', this.flags),
        );
      case 0x5c /* \ */:
        return this.parseBackslash(branch);
      default:
        this.pos++;
        return this.pushLiteral(branch, c);
    }
  }

  private parseBackslash(branch: Branch): void {
    const next = this.peek(1);
    const simple: Record<number, Op> = {
      0x62: 'WordBoundary',
      0x42: 'NoWordBoundary',
      0x41: 'BeginText',
      0x7a: 'EndText',
      0x43: 'AnyByte',
    };
    if (next !== undefined && simple[next]) {
      this.pos += 2;
      return this.push(branch, node(simple[next]!, this.flags));
    }
    if (next === 0x51 /* Q */) {
      this.pos += 2;
      while (this.pos < this.s.length) {
        if (this.peek() === 0x5c && this.peek(1) === 0x45) {
          this.pos += 2;
          break;
        }
        this.pushLiteral(branch, this.s[this.pos++]!);
      }
      return;
    }
    const group = this.maybeGroupEscape();
    if (group) return this.push(branch, node('CharClass', this.flags & ~FOLD_CASE, { ranges: normalize(group) }));
    this.pushLiteral(branch, this.parseEscape());
  }

  /** \d \s \w (and negations), \pN \p{Name} \PN \P{^Name}: their ranges, with this.flags applied. */
  private maybeGroupEscape(): Array<[number, number]> | undefined {
    const next = this.peek(1);
    if (next === undefined) return undefined;
    const letter = String.fromCodePoint(next);
    const out: Array<[number, number]> = [];
    if ('dswDSW'.includes(letter)) {
      this.pos += 2;
      addGroup(out, PERL_GROUPS[letter.toLowerCase()]!, letter !== letter.toLowerCase(), this.flags);
      return out;
    }
    if (letter !== 'p' && letter !== 'P') return undefined;
    const start = this.pos;
    this.pos += 2;
    let negated = letter === 'P';
    let name: string;
    if (this.peek() === 0x7b) {
      const end = this.s.indexOf(0x7d, this.pos);
      if (end < 0) this.fail('invalid character class range', this.slice(start));
      name = this.slice(this.pos + 1, end);
      this.pos = end + 1;
    } else {
      const c = this.peek();
      if (c === undefined) this.fail('invalid escape sequence', this.slice(start));
      name = String.fromCodePoint(c);
      this.pos++;
    }
    if (name.startsWith('^')) {
      negated = !negated;
      name = name.slice(1);
    }
    const group = unicodeGroup(name);
    if (!group) this.fail('invalid character class range', this.slice(start, this.pos));
    addGroup(out, group, negated, this.flags);
    return out;
  }

  /** One escaped rune (RE2's ParseEscape). */
  private parseEscape(): number {
    const start = this.pos;
    this.pos++; // the backslash
    const c = this.peek();
    const bad = (): never =>
      this.fail('invalid escape sequence', this.slice(start, Math.min(this.pos + 1, this.s.length)));
    if (c === undefined) this.fail('trailing \\', '');
    this.pos++;
    if (c >= 0x31 && c <= 0x37) {
      // \1-\7 are backreferences unless another octal digit follows.
      const d = this.peek();
      if (d === undefined || d < 0x30 || d > 0x37) bad();
    }
    if (c >= 0x30 && c <= 0x37) {
      let code = c - 0x30;
      for (let i = 0; i < 2; i++) {
        const d = this.peek();
        if (d === undefined || d < 0x30 || d > 0x37) break;
        code = code * 8 + d - 0x30;
        this.pos++;
      }
      return code;
    }
    if (c === 0x78 /* x */) {
      const hex = (d: number | undefined) => d !== undefined && /[0-9A-Fa-f]/.test(String.fromCodePoint(d));
      if (this.peek() === 0x7b) {
        this.pos++;
        let digits = '';
        while (hex(this.peek())) digits += String.fromCodePoint(this.s[this.pos++]!);
        if (this.peek() !== 0x7d || digits === '' || parseInt(digits, 16) > RUNE_MAX) bad();
        this.pos++;
        return parseInt(digits, 16);
      }
      if (!hex(this.peek()) || !hex(this.peek(1))) bad();
      this.pos += 2;
      return parseInt(String.fromCodePoint(this.s[this.pos - 2]!, this.s[this.pos - 1]!), 16);
    }
    const named: Record<number, number> = { 0x61: 7, 0x66: 12, 0x6e: 10, 0x72: 13, 0x74: 9, 0x76: 11 };
    if (named[c] !== undefined) return named[c]!;
    if (c < 0x80 && !/[0-9A-Za-z]/.test(String.fromCharCode(c))) return c; // punctuation, space and _
    return bad();
  }

  private parseGroup(branch: Branch): void {
    const start = this.pos;
    this.pos++;
    const saved = this.flags;
    let cap = -1;
    let name = '';
    if (this.peek() === 0x3f /* ? */) {
      const rest = this.ahead(1024);
      const named = /^\?P?<([^>]*)>/.exec(rest);
      if (named) {
        name = named[1]!;
        if (!/^[A-Za-z0-9_]+$/.test(name))
          this.fail('invalid named capture group', this.slice(start, start + 1 + named[0].length));
        this.pos += [...named[0]].length;
        cap = ++this.ncap;
      } else {
        // (?flags) or (?flags:
        this.pos++;
        let flags = this.flags;
        let negated = false;
        let sawFlag = false;
        for (;;) {
          const c = this.peek();
          if (c === undefined) this.fail('missing closing )', this.text);
          this.pos++;
          const ch = String.fromCodePoint(c);
          if (ch === '-') {
            if (negated) this.fail('invalid or unsupported Perl syntax', this.slice(start, this.pos));
            negated = true;
            sawFlag = false;
            continue;
          }
          const bit =
            ch === 'i' ? FOLD_CASE : ch === 's' ? DOT_NL : ch === 'U' ? NON_GREEDY : ch === 'm' ? ONE_LINE : 0;
          if (bit) {
            sawFlag = true;
            // m is the opposite of OneLine.
            const set = ch === 'm' ? negated : !negated;
            flags = set ? flags | bit : flags & ~bit;
            continue;
          }
          if ((ch === ':' || ch === ')') && !(negated && !sawFlag)) {
            if (ch === ')') {
              this.flags = flags;
              return;
            }
            this.flags = flags;
            break;
          }
          this.fail('invalid or unsupported Perl syntax', this.slice(start, this.pos));
        }
      }
    } else {
      cap = ++this.ncap;
    }
    const inner = this.parseAlternation();
    if (this.peek() !== 0x29) this.fail('missing )', this.text);
    this.pos++;
    this.flags = saved;
    this.push(branch, cap < 0 ? inner : node('Capture', saved, { subs: [inner], cap, name }));
  }

  private parseClass(): Re {
    const start = this.pos;
    this.pos++;
    const ranges: Array<[number, number]> = [];
    let negated = false;
    if (this.peek() === 0x5e) {
      negated = true;
      this.pos++;
    }
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail('missing ]', this.slice(start));
      if (c === 0x5d && !first) break;
      first = false;
      if (c === 0x5b && this.peek(1) === 0x3a) {
        const m = /^\[:(\^?)([a-z]*):\]/.exec(this.ahead(16));
        let close = -1;
        for (let k = this.pos + 2; k + 1 < this.s.length; k++) {
          if (this.s[k] === 0x3a && this.s[k + 1] === 0x5d) {
            close = k - this.pos;
            break;
          }
        }
        if (m) {
          const group = POSIX_GROUPS[m[2]!];
          if (!group) this.fail('invalid character class range', m[0]);
          addGroup(ranges, group, m[1] === '^', this.flags);
          this.pos += m[0].length;
          continue;
        }
        if (close >= 2) this.fail('invalid character class range', this.ahead(close + 2));
      }
      if (c === 0x5c) {
        const group = this.maybeGroupEscape();
        if (group) {
          ranges.push(...group);
          continue;
        }
      }
      const lo = this.classChar();
      let hi = lo;
      if (this.peek() === 0x2d && this.peek(1) !== undefined && this.peek(1) !== 0x5d) {
        this.pos++;
        const rangeStart = this.pos;
        hi = this.classChar();
        if (hi < lo)
          this.fail('invalid character class range', `${String.fromCodePoint(lo)}-${this.slice(rangeStart, this.pos)}`);
      }
      addRanges(ranges, [[lo, hi]], this.flags);
    }
    this.pos++;
    const normal = normalize(ranges);
    return node('CharClass', this.flags & ~FOLD_CASE, { ranges: negated ? negate(normal) : normal });
  }

  private classChar(): number {
    if (this.peek() === 0x5c) return this.parseEscape();
    return this.s[this.pos++]!;
  }
}

/** RE2's RepetitionWalker: nested counted repetitions may not multiply past 1000. */
function repetitionBudget(re: Re, budget: number): number {
  let arg = budget;
  if (re.op === 'Repeat') {
    const m = re.max < 0 ? re.min : re.max;
    if (m > 0) arg = Math.floor(arg / m);
  }
  let least = arg;
  for (const sub of re.subs) least = Math.min(least, repetitionBudget(sub, arg));
  return least;
}
