// The size of the program RE2 compiles a regex to (RE2::ProgramSize), which Envoy compares
// with re2.max_program_size.error_level before it accepts a route. Written from RE2's
// simplify.cc (counted repetitions expanded, x*x coalesced), compile.cc (Latin-1, as Envoy
// 1.40 compiles: one byte range per rune range) and prog.cc (Optimize, then Flatten, whose
// instruction count is the size). test/e2e/re2-program-size.test.ts compares it with Envoy's.
import { concat, equal, FOLD_CASE, NON_GREEDY, node, parse, Re2SyntaxError, RUNE_MAX, type Re } from './syntax';

// ---- simplification (RE2's CoalesceWalker, then SimplifyWalker) -------------------------------

const REPEAT_OPS = new Set(['Star', 'Plus', 'Quest', 'Repeat']);
const ATOMS = new Set(['Literal', 'CharClass', 'AnyChar', 'AnyByte']);

function canCoalesce(r1: Re, r2: Re): boolean {
  if (!REPEAT_OPS.has(r1.op) || !ATOMS.has(r1.subs[0]!.op)) return false;
  const atom = r1.subs[0]!;
  if (REPEAT_OPS.has(r2.op) && equal(atom, r2.subs[0]!) && (r1.flags & NON_GREEDY) === (r2.flags & NON_GREEDY))
    return true;
  if (equal(atom, r2)) return true;
  return (
    atom.op === 'Literal' &&
    r2.op === 'LiteralString' &&
    r2.runes[0] === atom.runes[0] &&
    (atom.flags & FOLD_CASE) === (r2.flags & FOLD_CASE)
  );
}

/** r1 r2 → (empty) r1{n,m} where the repetition absorbs r2; or a shorter literal string. */
function doCoalesce(subs: Re[], i: number): void {
  const r1 = subs[i]!;
  const r2 = subs[i + 1]!;
  const nre = node('Repeat', r1.flags, { subs: [r1.subs[0]!] });
  if (r1.op === 'Star') Object.assign(nre, { min: 0, max: -1 });
  else if (r1.op === 'Plus') Object.assign(nre, { min: 1, max: -1 });
  else if (r1.op === 'Quest') Object.assign(nre, { min: 0, max: 1 });
  else Object.assign(nre, { min: r1.min, max: r1.max });
  const leaveEmpty = () => {
    subs[i] = node('EmptyMatch', 0);
    subs[i + 1] = nre;
  };
  switch (r2.op) {
    case 'Star':
      nre.max = -1;
      return leaveEmpty();
    case 'Plus':
      nre.min++;
      nre.max = -1;
      return leaveEmpty();
    case 'Quest':
      if (nre.max !== -1) nre.max++;
      return leaveEmpty();
    case 'Repeat':
      nre.min += r2.min;
      if (r2.max === -1) nre.max = -1;
      else if (nre.max !== -1) nre.max += r2.max;
      return leaveEmpty();
    case 'LiteralString': {
      const r = r1.subs[0]!.runes[0];
      let n = 1;
      while (n < r2.runes.length && r2.runes[n] === r) n++;
      nre.min += n;
      if (nre.max !== -1) nre.max += n;
      if (n === r2.runes.length) return leaveEmpty();
      subs[i] = nre;
      const rest = r2.runes.slice(n);
      subs[i + 1] = node(rest.length === 1 ? 'Literal' : 'LiteralString', r2.flags, { runes: rest });
      return;
    }
    default:
      nre.min++;
      if (nre.max !== -1) nre.max++;
      return leaveEmpty();
  }
}

function coalesce(re: Re): Re {
  if (re.subs.length === 0) return re;
  const subs = re.subs.map(coalesce);
  const changed = subs.some((s, i) => s !== re.subs[i]);
  if (re.op !== 'Concat' || !subs.some((s, i) => i + 1 < subs.length && canCoalesce(s, subs[i + 1]!))) {
    return changed ? { ...re, subs } : re;
  }
  for (let i = 0; i + 1 < subs.length; i++) if (canCoalesce(subs[i]!, subs[i + 1]!)) doCoalesce(subs, i);
  return { ...re, subs: subs.filter((s) => s.op !== 'EmptyMatch') };
}

/** RE2's Regexp::Star/Plus/Quest constructors, which squash nested repetitions. */
function starPlusOrQuest(op: 'Star' | 'Plus' | 'Quest', sub: Re, flags: number): Re {
  if (op === sub.op && flags === sub.flags) return sub;
  if ((sub.op === 'Star' || sub.op === 'Plus' || sub.op === 'Quest') && flags === sub.flags) {
    return sub.op === 'Star' ? sub : node('Star', flags, { subs: [sub.subs[0]!] });
  }
  return node(op, flags, { subs: [sub] });
}

const EMPTY_WIDTH = new Set(['BeginLine', 'EndLine', 'WordBoundary', 'NoWordBoundary', 'BeginText', 'EndText']);

function simplifyRepeat(re: Re, min: number, max: number, f: number): Re {
  if (
    EMPTY_WIDTH.has(re.op) ||
    ((re.op === 'Concat' || re.op === 'Alternate') && re.subs.every((s) => EMPTY_WIDTH.has(s.op)))
  ) {
    min = Math.min(min, 1);
    max = Math.min(max, 1);
  }
  if (max === -1) {
    if (min === 0) return starPlusOrQuest('Star', re, f);
    if (min === 1) return starPlusOrQuest('Plus', re, f);
    return concat([...Array<Re>(min - 1).fill(re), starPlusOrQuest('Plus', re, f)], f);
  }
  if (min === 0 && max === 0) return node('EmptyMatch', f);
  if (min === 1 && max === 1) return re;
  let nre: Re | undefined = min > 0 ? concat(Array<Re>(min).fill(re), f) : undefined;
  if (max > min) {
    let suffix = starPlusOrQuest('Quest', re, f);
    for (let i = min + 1; i < max; i++) suffix = starPlusOrQuest('Quest', concat([re, suffix], f), f);
    nre = nre === undefined ? suffix : concat([nre, suffix], f);
  }
  return nre ?? node('NoMatch', f);
}

function simplify(re: Re): Re {
  switch (re.op) {
    case 'Concat':
    case 'Alternate':
    case 'Capture': {
      const subs = re.subs.map(simplify);
      return subs.some((s, i) => s !== re.subs[i]) ? { ...re, subs } : re;
    }
    case 'Star':
    case 'Plus':
    case 'Quest': {
      const sub = simplify(re.subs[0]!);
      if (sub.op === 'EmptyMatch') return sub;
      if (sub === re.subs[0]) return re;
      if (re.op === sub.op && re.flags === sub.flags) return sub;
      return node(re.op, re.flags, { subs: [sub] });
    }
    case 'Repeat': {
      const sub = simplify(re.subs[0]!);
      if (sub.op === 'EmptyMatch') return sub;
      return simplifyRepeat(sub, re.min, re.max, re.flags);
    }
    case 'CharClass':
      if (re.ranges.length === 0) return node('NoMatch', re.flags);
      // RE2's full class is all of Unicode, which a Latin-1 class never is: no AnyChar here.
      if (re.ranges.length === 1 && re.ranges[0]![0] === 0 && re.ranges[0]![1] === 0x10ffff)
        return node('AnyChar', re.flags);
      return re;
    default:
      return re;
  }
}

// ---- compilation (RE2's Compiler, forward, UTF-8) ---------------------------------------------

const enum Opcode {
  Alt = 0,
  AltMatch,
  ByteRange,
  Capture,
  EmptyWidth,
  Match,
  Nop,
  Fail,
}

interface Inst {
  op: Opcode;
  out: number;
  out1: number;
  lo: number;
  hi: number;
  fold: boolean;
}

/** A fragment: its first instruction and its dangling outs (id << 1 | which). */
interface Frag {
  begin: number;
  end: number[];
  nullable: boolean;
}

const noMatch = (): Frag => ({ begin: 0, end: [], nullable: false });
/** RE2 program size above which Envoy refuses a regex: App Mesh's runtime raised Envoy's 100 to 1000. */
export const RE2_MAX_PROGRAM_SIZE = 1000;

/** RE2 gives up compiling past this many instructions (its default memory budget). */
export const MAX_INSTRUCTIONS = 87_000;

class TooLarge extends Error {}

class Compiler {
  readonly inst: Inst[] = [];
  ninst = 0;
  private range: Frag = { begin: 0, end: [], nullable: false };

  constructor() {
    this.inst[this.alloc()]!.op = Opcode.Fail;
  }

  alloc(): number {
    if (this.ninst + 1 > MAX_INSTRUCTIONS) throw new TooLarge();
    const id = this.ninst++;
    this.inst[id] = { op: Opcode.Nop, out: 0, out1: 0, lo: 0, hi: 0, fold: false };
    return id;
  }

  patch(end: number[], target: number): void {
    for (const hole of end) {
      if (hole & 1) this.inst[hole >> 1]!.out1 = target;
      else this.inst[hole >> 1]!.out = target;
    }
  }

  byteRange(lo: number, hi: number, fold: boolean): Frag {
    const id = this.alloc();
    Object.assign(this.inst[id]!, { op: Opcode.ByteRange, lo, hi, fold });
    return { begin: id, end: [id << 1], nullable: false };
  }

  nop(): Frag {
    const id = this.alloc();
    return { begin: id, end: [id << 1], nullable: true };
  }

  match(): Frag {
    const id = this.alloc();
    this.inst[id]!.op = Opcode.Match;
    return { begin: id, end: [], nullable: false };
  }

  emptyWidth(): Frag {
    const id = this.alloc();
    this.inst[id]!.op = Opcode.EmptyWidth;
    return { begin: id, end: [id << 1], nullable: true };
  }

  capture(a: Frag): Frag {
    if (a.begin === 0) return noMatch();
    const id = this.alloc();
    this.alloc();
    Object.assign(this.inst[id]!, { op: Opcode.Capture, out: a.begin });
    this.inst[id + 1]!.op = Opcode.Capture;
    this.patch(a.end, id + 1);
    return { begin: id, end: [(id + 1) << 1], nullable: a.nullable };
  }

  cat(a: Frag, b: Frag): Frag {
    if (a.begin === 0 || b.begin === 0) return noMatch();
    const first = this.inst[a.begin]!;
    if (first.op === Opcode.Nop && a.end.length === 1 && a.end[0] === a.begin << 1 && first.out === 0) {
      this.patch(a.end, b.begin);
      return b;
    }
    this.patch(a.end, b.begin);
    return { begin: a.begin, end: b.end, nullable: a.nullable && b.nullable };
  }

  alt(a: Frag, b: Frag): Frag {
    if (a.begin === 0) return b;
    if (b.begin === 0) return a;
    const id = this.alloc();
    Object.assign(this.inst[id]!, { op: Opcode.Alt, out: a.begin, out1: b.begin });
    // a and b are used up: their dangling outs join in place (copying would be quadratic).
    for (const hole of b.end) a.end.push(hole);
    return { begin: id, end: a.end, nullable: a.nullable || b.nullable };
  }

  /**
   * An Alt instruction whose preferred branch (out, or out1 when non-greedy) enters `begin`;
   * the other branch is left as the returned hole, as RE2's Compiler does for *, + and ?.
   */
  private altInto(begin: number, nongreedy: boolean): { id: number; hole: number } {
    const id = this.alloc();
    const ip = this.inst[id]!;
    ip.op = Opcode.Alt;
    if (nongreedy) {
      ip.out1 = begin;
      return { id, hole: id << 1 };
    }
    ip.out = begin;
    return { id, hole: (id << 1) | 1 };
  }

  plus(a: Frag, nongreedy: boolean): Frag {
    const { id, hole } = this.altInto(a.begin, nongreedy);
    this.patch(a.end, id);
    return { begin: a.begin, end: [hole], nullable: a.nullable };
  }

  star(a: Frag, nongreedy: boolean): Frag {
    if (a.nullable) return this.quest(this.plus(a, nongreedy), nongreedy);
    const { id, hole } = this.altInto(a.begin, nongreedy);
    this.patch(a.end, id);
    return { begin: id, end: [hole], nullable: true };
  }

  quest(a: Frag, nongreedy: boolean): Frag {
    if (a.begin === 0) return this.nop();
    const { id, hole } = this.altInto(a.begin, nongreedy);
    a.end.push(hole);
    return { begin: id, end: a.end, nullable: true };
  }

  literal(r: number, fold: boolean): Frag {
    return this.byteRange(r, r, fold);
  }

  // -- rune ranges as a trie of byte ranges --

  beginRange(): void {
    this.range = { begin: 0, end: [], nullable: false };
  }

  endRange(): Frag {
    return this.range;
  }

  private uncachedSuffix(lo: number, hi: number, fold: boolean, next: number): number {
    const f = this.byteRange(lo, hi, fold);
    if (next !== 0) this.patch(f.end, next);
    else this.range.end.push(...f.end);
    return f.begin;
  }

  /** RE2's AddRuneRangeLatin1: runes are bytes; each range one more alternative. */
  addRuneRange(lo: number, hi: number, fold: boolean): void {
    if (lo > hi || lo > 0xff) return;
    const id = this.uncachedSuffix(lo, Math.min(hi, 0xff), fold, 0);
    if (this.range.begin === 0) {
      this.range.begin = id;
      return;
    }
    const alt = this.alloc();
    Object.assign(this.inst[alt]!, { op: Opcode.Alt, out: this.range.begin, out1: id });
    this.range.begin = alt;
  }

  charClass(ranges: Array<[number, number]>): Frag {
    if (ranges.length === 0) return noMatch();
    // ASCII case folding: a class that treats A-Z as it treats a-z keeps only the a-z side, folded.
    let upper = 0;
    let lower = 0;
    for (const [lo, hi] of ranges) {
      for (let c = Math.max(lo, 0x41); c <= Math.min(hi, 0x5a); c++) upper |= 1 << (c - 0x41);
      for (let c = Math.max(lo, 0x61); c <= Math.min(hi, 0x7a); c++) lower |= 1 << (c - 0x61);
    }
    const foldsAscii = upper === lower;
    this.beginRange();
    for (const [lo, hi] of ranges) {
      if (foldsAscii && 0x41 <= lo && hi <= 0x5a) continue;
      let fold = foldsAscii;
      if ((lo <= 0x41 && 0x7a <= hi) || hi < 0x41 || 0x7a < lo || (0x5a < lo && hi < 0x61)) fold = false;
      this.addRuneRange(lo, hi, fold);
    }
    return this.endRange();
  }

  compile(re: Re): Frag {
    switch (re.op) {
      case 'NoMatch':
        return noMatch();
      case 'EmptyMatch':
        return this.nop();
      case 'Concat': {
        const frags = re.subs.map((s) => this.compile(s));
        return frags.slice(1).reduce((f, g) => this.cat(f, g), frags[0]!);
      }
      case 'Alternate': {
        const frags = re.subs.map((s) => this.compile(s));
        return frags.slice(1).reduce((f, g) => this.alt(f, g), frags[0]!);
      }
      case 'Star':
        return this.star(this.compile(re.subs[0]!), (re.flags & NON_GREEDY) !== 0);
      case 'Plus':
        return this.plus(this.compile(re.subs[0]!), (re.flags & NON_GREEDY) !== 0);
      case 'Quest':
        return this.quest(this.compile(re.subs[0]!), (re.flags & NON_GREEDY) !== 0);
      case 'Literal':
        return this.literal(re.runes[0]!, (re.flags & FOLD_CASE) !== 0);
      case 'LiteralString': {
        if (re.runes.length === 0) return this.nop();
        let f = this.literal(re.runes[0]!, (re.flags & FOLD_CASE) !== 0);
        for (let i = 1; i < re.runes.length; i++)
          f = this.cat(f, this.literal(re.runes[i]!, (re.flags & FOLD_CASE) !== 0));
        return f;
      }
      case 'AnyChar':
        this.beginRange();
        this.addRuneRange(0, RUNE_MAX, false);
        return this.endRange();
      case 'AnyByte':
        return this.byteRange(0, 0xff, false);
      case 'CharClass':
        return this.charClass(re.ranges);
      case 'Capture':
        return this.capture(this.compile(re.subs[0]!));
      case 'Repeat':
        throw new Error('RE2 port: a counted repetition survived simplification');
      default:
        return this.emptyWidth();
    }
  }
}

// ---- the compiled program's size (RE2's Prog::Optimize and Prog::Flatten) -------------------

function optimize(inst: Inst[], start: number): void {
  const seen = new Set<number>();
  const queue: number[] = [];
  const add = (id: number) => {
    if (id !== 0 && !seen.has(id)) {
      seen.add(id);
      queue.push(id);
    }
  };
  const skipNops = (j: number) => {
    while (j !== 0 && inst[j]!.op === Opcode.Nop) j = inst[j]!.out;
    return j;
  };
  add(start);
  for (let k = 0; k < queue.length; k++) {
    const ip = inst[queue[k]!]!;
    ip.out = skipNops(ip.out);
    add(ip.out);
    if (ip.op === Opcode.Alt) {
      ip.out1 = skipNops(ip.out1);
      add(ip.out1);
    }
  }
  // Alt → (any byte looping back | match) becomes AltMatch.
  const isMatch = (id: number): boolean => {
    for (;;) {
      const ip = inst[id]!;
      if (ip.op === Opcode.Capture || ip.op === Opcode.Nop) id = ip.out;
      else return ip.op === Opcode.Match;
    }
  };
  const anyByteTo = (id: number, target: number) =>
    inst[id]!.op === Opcode.ByteRange && inst[id]!.out === target && inst[id]!.lo === 0 && inst[id]!.hi === 0xff;
  seen.clear();
  queue.length = 0;
  add(start);
  for (let k = 0; k < queue.length; k++) {
    const id = queue[k]!;
    const ip = inst[id]!;
    add(ip.out);
    if (ip.op === Opcode.Alt) add(ip.out1);
    if (
      ip.op === Opcode.Alt &&
      ((anyByteTo(ip.out, id) && isMatch(ip.out1)) || (isMatch(ip.out) && anyByteTo(ip.out1, id)))
    )
      ip.op = Opcode.AltMatch;
  }
}

/**
 * RE2's Flatten marks dominators with a walk from every root, quadratic on a hostile program
 * ('[a-z]{2,1000}|' x 19, 251 characters, took 6.6 s). Once a program has more reachable leaves than
 * the limit (each leaf is in some root's list, so the size is at least that), the walks get this
 * many steps; past them the size is reported as at least the number of leaves.
 */
const FLATTEN_STEPS_OVER_LIMIT = 2_000_000;

class FlattenBudgetSpent extends Error {}

function flattenedSize(inst: Inst[], start: number, startUnanchored: number): { size: number; atLeast: boolean } {
  // Roots: instructions reached other than through Alt/Nop, in the order RE2 numbers them.
  const rootmap = new Map<number, number>();
  const addRoot = (id: number) => {
    if (!rootmap.has(id)) rootmap.set(id, rootmap.size);
  };
  const preds = new Map<number, number[]>();
  addRoot(0);
  addRoot(startUnanchored);
  addRoot(start);
  const reachable = new Set<number>();
  {
    const stack = [startUnanchored];
    while (stack.length > 0) {
      let id = stack.pop()!;
      for (;;) {
        if (reachable.has(id)) break;
        reachable.add(id);
        const ip = inst[id]!;
        if (ip.op === Opcode.Alt || ip.op === Opcode.AltMatch) {
          for (const out of [ip.out, ip.out1]) {
            if (!preds.has(out)) preds.set(out, []);
            preds.get(out)!.push(id);
          }
          stack.push(ip.out1);
          id = ip.out;
        } else if (ip.op === Opcode.ByteRange || ip.op === Opcode.Capture || ip.op === Opcode.EmptyWidth) {
          addRoot(ip.out);
          id = ip.out;
        } else if (ip.op === Opcode.Nop) {
          id = ip.out;
        } else {
          break;
        }
      }
    }
  }
  let leaves = 0;
  for (const id of reachable) if (isLeaf(inst[id]!.op)) leaves++;
  const budget = leaves > RE2_MAX_PROGRAM_SIZE ? FLATTEN_STEPS_OVER_LIMIT : Infinity;
  let steps = 0;
  try {
    return {
      size: rootListsSize(inst, start, startUnanchored, rootmap, addRoot, preds, () => {
        if (++steps > budget) throw new FlattenBudgetSpent();
      }),
      atLeast: false,
    };
  } catch (err) {
    if (err instanceof FlattenBudgetSpent) return { size: leaves, atLeast: true };
    throw err;
  }
}

/**
 * The sum of the roots' list sizes (dominator roots added first);
 * `step` is called at each instruction and predecessor a walk visits.
 */
function rootListsSize(
  inst: Inst[],
  start: number,
  startUnanchored: number,
  rootmap: Map<number, number>,
  addRoot: (id: number) => void,
  preds: Map<number, number[]>,
  step: () => void,
): number {
  // Epsilon walk from a root, stopping at other roots.
  const walk = (root: number, visit: (id: number, ip: Inst) => void, onRoot: (id: number) => void): Set<number> => {
    const reachable = new Set<number>();
    const stack = [root];
    while (stack.length > 0) {
      let id = stack.pop()!;
      for (;;) {
        if (reachable.has(id)) break;
        step();
        reachable.add(id);
        if (id !== root && rootmap.has(id)) {
          onRoot(id);
          break;
        }
        const ip = inst[id]!;
        if (ip.op === Opcode.Alt || ip.op === Opcode.AltMatch) {
          visit(id, ip);
          stack.push(ip.out1);
          id = ip.out;
        } else if (ip.op === Opcode.Nop) {
          id = ip.out;
        } else {
          visit(id, ip);
          break;
        }
      }
    }
    return reachable;
  };
  // Dominator roots: an instruction also reached from outside a root's tree is a root itself.
  const sorted = [...rootmap.keys()].sort((a, b) => a - b);
  for (let k = sorted.length - 1; k > 0; k--) {
    const root = sorted[k]!;
    if (root === startUnanchored || root === start) continue;
    const reachable = walk(
      root,
      () => undefined,
      () => undefined,
    );
    for (const id of reachable) {
      for (const pred of preds.get(id) ?? []) {
        step();
        if (!reachable.has(pred)) addRoot(id);
      }
    }
  }
  // Each root's list: its leaves (and AltMatch markers), and a Nop for each other root it reaches.
  let size = 0;
  for (const root of rootmap.keys()) {
    walk(
      root,
      (_, ip) => {
        if (ip.op !== Opcode.Alt) size++;
      },
      () => size++,
    );
  }
  return size;
}

function isLeaf(op: Opcode): boolean {
  return op === Opcode.ByteRange || op === Opcode.Capture || op === Opcode.EmptyWidth || op === Opcode.Match;
}

/** `atLeast`: the program is at least `size` (far over the limit; its exact size was not worked out). */
export type ProgramSizeResult =
  | { ok: true; size: number; atLeast?: true }
  | { ok: false; syntax: true; error: string }
  | { ok: false; syntax: false; error: string };

/** RE2::ProgramSize() of a regex as Envoy compiles it, or RE2's reason for refusing it. */
export function re2ProgramSize(source: string): ProgramSizeResult {
  // Every byte is at least part of an instruction or of a syntax error: bound the work.
  if (source.length > MAX_INSTRUCTIONS)
    return { ok: false, syntax: false, error: `pattern too large - compile failed (${source.length} characters)` };
  let re: Re;
  try {
    re = parse(source);
  } catch (err) {
    if (err instanceof Re2SyntaxError) return { ok: false, syntax: true, error: err.message };
    throw err;
  }
  // RE2 matches a leading ^literal by itself and compiles only what follows (RequiredPrefix).
  if (re.op === 'Concat') {
    let i = 0;
    while (i < re.subs.length && re.subs[i]!.op === 'BeginText') i++;
    const lit = re.subs[i];
    if (i > 0 && lit && (lit.op === 'Literal' || lit.op === 'LiteralString'))
      re = concat(re.subs.slice(i + 1), re.flags);
  }
  try {
    return compiledSize(re);
  } catch (err) {
    // Coalesced repetitions nest one level per repeat ('[a-z]{2,1000}' x 19 is 19,000 deep); RE2
    // walks them with a stack of its own, this port recurses: such a program is far over any limit.
    if (err instanceof RangeError && /call stack/i.test(err.message))
      return {
        ok: false,
        syntax: false,
        error: 'pattern too large - compile failed (its repetitions nest too deeply)',
      };
    throw err;
  }
}

function compiledSize(re: Re): ProgramSizeResult {
  let sre = simplify(coalesce(re));
  const anchorStart = stripAnchor(sre, 'start');
  if (anchorStart) sre = anchorStart;
  const anchorEnd = stripAnchor(sre, 'end');
  if (anchorEnd) sre = anchorEnd;
  try {
    const c = new Compiler();
    let all = c.compile(sre);
    all = c.cat(all, c.match());
    const start = all.begin;
    if (!anchorStart) all = c.cat(c.star(c.byteRange(0, 0xff, false), true), all);
    const startUnanchored = all.begin;
    if (start === 0 && startUnanchored === 0) return { ok: true, size: 1 };
    optimize(c.inst, start);
    const { size, atLeast } = flattenedSize(c.inst, start, startUnanchored);
    return atLeast ? { ok: true, size, atLeast } : { ok: true, size };
  } catch (err) {
    if (err instanceof TooLarge)
      return {
        ok: false,
        syntax: false,
        error: `pattern too large - compile failed (more than ${MAX_INSTRUCTIONS} instructions)`,
      };
    throw err;
  }
}

/** RE2's IsAnchorStart/IsAnchorEnd: a leading \A (trailing \z) becomes empty; undefined if none. */
function stripAnchor(re: Re, side: 'start' | 'end', depth = 0): Re | undefined {
  if (depth >= 4) return undefined;
  if (re.op === 'Concat' && re.subs.length > 0) {
    const i = side === 'start' ? 0 : re.subs.length - 1;
    const sub = stripAnchor(re.subs[i]!, side, depth + 1);
    if (!sub) return undefined;
    const subs = [...re.subs];
    subs[i] = sub;
    return concat(subs, re.flags);
  }
  if (re.op === 'Capture') {
    const sub = stripAnchor(re.subs[0]!, side, depth + 1);
    return sub ? { ...re, subs: [sub] } : undefined;
  }
  if (re.op === (side === 'start' ? 'BeginText' : 'EndText')) return node('LiteralString', re.flags);
  return undefined;
}
