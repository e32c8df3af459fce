// meshd sizes route regexes as Envoy's RE2 does (src/model/re2), so `meshd validate` refuses
// exactly what Envoy would NACK under App Mesh's limit (program size 1000) and accepts the rest.
// Calibrated here against the real Envoy: one `envoy --mode validate` reports the program size
// of every regex of a corpus (hand-written shapes plus generated ones), and meshd's figure must
// be the same for each. Envoy's own refusals (syntax RE2 lacks) must be meshd's refusals too.
import { spawnSync } from 'node:child_process';
import { describeWithEnvoy } from '../helpers/envoy';
import { envoyProgramSizes, envoyRegexError } from '../helpers/envoy-regex';
import { re2ProgramSize } from '../../src/model/re2/program';
import { regexProblem } from '../../src/model/shapes';

/** Shapes users write (paths, ids, versions, hosts) and the corners of RE2's syntax. */
const HAND_WRITTEN = [
  'a',
  'a+b',
  'abc',
  '^abc',
  'abc$',
  '^abc$',
  '^abc[0-9]+',
  '^/api/v[0-9]+/users/[0-9]+$',
  '/items/[0-9]+',
  '/items/[0-9]+/?',
  '.',
  '.*',
  '.+',
  '(?s).*',
  '(?s).',
  '\\C',
  '\\C*',
  'a.b',
  '.*foo.*',
  '^.*$',
  '^$',
  '$',
  '^',
  '\\A',
  '\\z',
  '\\Aabc\\z',
  'abc|abd',
  'a|b|c',
  'ab|ac|ad',
  'foo|bar|baz',
  'foo|foobar',
  'abc|',
  '|abc',
  'a|a',
  'x|y|xy|yx',
  'v1|v2|v3|v10',
  '(?:a|b)|c',
  '(a|b)*c',
  '(foo|bar|baz)+',
  '^(GET|POST|PUT|DELETE|PATCH)$',
  '(?:GET|HEAD)',
  '[ab]|c|[de]',
  'a|.',
  '(?s:.)|a',
  '[0-9]+',
  '[0-9]*',
  '[0-9]?',
  '[^0-9]',
  '[^a-z]',
  '[a-zA-Z0-9_-]+',
  '[a-z]',
  '[A-Za-z]',
  '[]a]',
  '[^]a]',
  '[a-]',
  '[-a]',
  '[.]',
  '[*+?]',
  '[\\]\\[]',
  '[\\x00-\\x{FF}]',
  '[\\x80-\\xFF]',
  '[\\x{80}-\\x{FF}]',
  '\\x41+',
  '\\x{41}',
  '\\101',
  '\\0',
  '\\n\\t\\r\\f\\v\\a',
  '\\d',
  '\\d+',
  '\\D',
  '\\s',
  '\\S+',
  '\\w',
  '\\w+',
  '\\W',
  '[\\d\\s]',
  '[^\\d]',
  '[\\w.-]+@[\\w.-]+',
  '\\d{3}-\\d{4}',
  '[[:alpha:]]',
  '[[:alnum:]]+',
  '[[:^digit:]]',
  '[[:punct:]]',
  '[[:space:][:upper:]]',
  '[[:xdigit:]]{2}',
  '[[:word:]]',
  '\\pL',
  '\\p{L}',
  '\\p{Lu}+',
  '\\PL',
  '\\p{^L}',
  '\\pN',
  '\\p{Latin}+',
  '\\p{Greek}',
  '\\p{Greek}+',
  '\\P{Greek}',
  '\\p{Any}',
  '(?i)hello',
  '(?i)k',
  '(?i)s',
  '(?i)[a-z]+',
  '(?i)[^a-z]',
  '(?i:abc)d',
  'a(?i)b|c',
  '(?i)\\w',
  '(?i)[[:upper:]]',
  '(?i)GET|post',
  '(?m)^a$',
  '(?s)a.b',
  '(?U)a+',
  'a+?',
  'a*?b',
  'a??',
  '(?i-s:a.)',
  '(?ims)x',
  'x{2}',
  'x{2,}',
  'x{2,5}',
  'x{0,3}',
  'x{0}',
  'x{1}',
  'x{1,}',
  'x{0,}',
  '[a-z]{3,10}',
  '[0-9a-f]{8}',
  '(ab){2,3}',
  '(?:ab){3}',
  '(a{2}){3}',
  'a{0,3}b{2}',
  '[0-9]{1,3}(\\.[0-9]{1,3}){3}',
  'x{2,5}?',
  '(x?){3}',
  '(x*)+',
  '(x+)*',
  '(a*)*',
  '(a|)+',
  '(|a)*',
  'a*a',
  'a*a+',
  'a+a*',
  'a?a',
  'a*aa',
  'a{2}a*',
  'a*aab',
  '[ab]*[ab]',
  '.*.',
  '\\d+\\d',
  'a*a*a*',
  '\\bword\\b',
  '\\Bx\\B',
  '(?P<id>[0-9a-f]{8})',
  '(?<id>[0-9]+)',
  '(a)(b)(c)',
  '((a)(b))',
  '()',
  '(?:)',
  '(?:a)',
  '\\Qa.b*c\\E',
  '\\Q(x)',
  'é',
  '[é]',
  '(?i)é',
  'café|cafe',
  '[à-ÿ]',
  '(?i)[à-ÿ]',
  '\\x{e9}',
  '^/v1/(users|orders|items)/[0-9]+(/[a-z]+)?$',
  '^/api/[^/]+/[^/]+$',
  '^(?:/[a-z0-9-]+)+/?$',
  '[a-z0-9.-]+\\.example\\.com',
  '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}',
  '^Bearer [A-Za-z0-9._~+/-]+=*$',
  'Mozilla/5\\.0 \\(.*\\) Chrome/[0-9.]+',
  '[a-z]{200}',
  '(?:[a-z][0-9]){40}',
  '[a-z]{996}',
  '[a-z]{997}',
  '(?:[a-z0-9]{3}-){100}',
  '(?i)(?:[a-z]+\\.){50}',
  '(a|b|c){300}',
  '([a-f0-9]{2}:){5}[a-f0-9]{2}',
  '(?i)(?:iphone|ipad|android|blackberry|windows phone)',
];

/**
 * A seeded generator of valid RE2 regexes: literals, classes (ranges, negated, Perl, POSIX,
 * Unicode), case folding, dot, any byte, Latin-1 bytes, zero-width assertions, every repetition
 * form, capturing and non-capturing groups three deep, alternations of up to five branches.
 */
function generated(count: number, seed = 20261203): string[] {
  let state = seed;
  const rand = (n: number) => {
    state = (state * 48271) % 2147483647; // Park-Miller: exact in doubles
    return state % n;
  };
  const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)]!;
  const atoms = [
    'a',
    'b',
    'k',
    's',
    'K',
    'S',
    'x',
    '0',
    '_',
    '/',
    '-',
    '\\.',
    '.',
    '[a-z]',
    '[^a-z]',
    '[A-Z]',
    '[^A-Z0-9]',
    '[0-9a-f]',
    '[a-fA-F]',
    '\\d',
    '\\D',
    '\\w',
    '\\W',
    '\\s',
    '\\S',
    '[[:alpha:]]',
    '[[:^space:]]',
    '[[:punct:]]',
    '\\pL',
    '\\pN',
    '\\PL',
    '\\p{Lu}',
    '\\p{Latin}',
    '[ab]',
    '[A-Z_]',
    '(?i:k)',
    '(?i:[a-z])',
    '(?s:.)',
    '\\C',
    'é',
    'ß',
    '\\x{e9}',
    '[\\x80-\\xff]',
  ];
  const zeroWidth = ['^', '$', '(?i)', '\\A', '\\z', '\\b', '\\B', '(?:)', '\\Qa.b\\E', '(?m:^)', '(?m:$)'];
  const repeats = [
    '',
    '',
    '',
    '*',
    '+',
    '?',
    '*?',
    '+?',
    '??',
    '{2}',
    '{1,3}',
    '{0,2}',
    '{2,}',
    '{3,5}',
    '{0,1}',
    '{1}',
    '{0}',
    '{4,4}',
  ];
  const piece = (depth: number): string => {
    const r = rand(14);
    if (depth < 3 && r < 2) return `(${alternation(depth + 1)})${pick(repeats)}`;
    if (depth < 3 && r < 4) return `(?:${alternation(depth + 1)})${pick(repeats)}`;
    if (r < 5) return pick(['abc', 'foo', 'api', 'v1', 'ab', 'aab']);
    if (r < 6) return pick(zeroWidth);
    return pick(atoms) + pick(repeats);
  };
  const concat = (depth: number): string => Array.from({ length: 1 + rand(5) }, () => piece(depth)).join('');
  const alternation = (depth: number): string =>
    Array.from({ length: rand(3) === 0 ? 2 + rand(4) : 1 }, () => concat(depth)).join('|');
  const out = new Set<string>();
  for (let tries = 0; out.size < count && tries < count * 10; tries++) out.add(alternation(0));
  return [...out];
}

const CORPUS = [...new Set([...HAND_WRITTEN, ...generated(1000)])];

/** Regexes Envoy refuses (RE2 syntax, Latin-1, repetition limits), each alone. */
const REFUSED = [
  '/users/(?!admin).*',
  '(?=a)',
  '(?<=a)b',
  '(a)\\1',
  'v[0-9',
  'a)',
  '(a',
  'a**',
  'a*+',
  'x{2}{3}',
  '*a',
  'x{1001}',
  '(a{50}){50}',
  '\\x{100}',
  '\\p{Klingon}',
  '[z-a]',
  '\\8',
  '(?P<>x)',
  '[[:foo:]]',
  '\\Z',
];

/** Regexes RE2 takes that JavaScript's RegExp (meshd's former stand-in) refused or read otherwise. */
const RE2_ONLY = [
  '(?P<id>[0-9]+)',
  '\\pL+',
  '[[:alpha:]]+',
  '\\Qa.b\\E',
  '\\Aabc\\z',
  '\\C',
  '(?i:abc)',
  '(?U)a+',
  '\\_',
  '(?P<a>x)(?P<a>y)',
  '\\z',
];

describe("meshd's RE2 checks (no Envoy needed)", () => {
  it("accepts what RE2 accepts and JavaScript's RegExp would not", () => {
    for (const regex of RE2_ONLY) expect([regex, regexProblem(regex)]).toEqual([regex, undefined]);
  });

  it('answers hostile regexes (deep nesting, huge alternations and literals) with a size or an error, never a throw', () => {
    expect(re2ProgramSize(`${'('.repeat(1200)}a${')'.repeat(1200)}`)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^expression nests too deeply/),
    });
    expect(re2ProgramSize('a|'.repeat(40000))).toEqual({ ok: true, size: 7 });
    expect(re2ProgramSize('a'.repeat(90000))).toMatchObject({ ok: false, syntax: false });
    expect(re2ProgramSize('(?:a|b)'.repeat(10000))).toEqual({ ok: true, size: 10004 });
    expect(regexProblem('[[:'.repeat(20000))).toMatch(/^is not a valid RE2 regular expression: missing \]: .{0,80}$/);
  });

  it('refuses lookarounds, backreferences, bad syntax and programs over 1000, saying why', () => {
    expect(regexProblem('/users/(?!admin).*')).toBe(
      "uses a lookaround, which Envoy's regex engine (RE2) does not support",
    );
    expect(regexProblem('(a)\\1')).toBe("uses a backreference, which Envoy's regex engine (RE2) does not support");
    expect(regexProblem('x{2}{3}')).toBe('is not a valid RE2 regular expression: bad repetition operator: {2}{3}');
    expect(re2ProgramSize('[a-z]{996}')).toEqual({ ok: true, size: 1000 });
    expect(regexProblem('[a-z]{996}')).toBeUndefined();
    expect(regexProblem('[a-z]{997}')).toBe(
      "compiles to an RE2 program of size 1001, over the 1000 App Mesh's Envoy accepts (re2.max_program_size.error_level); Envoy would refuse it",
    );
  });
});

describeWithEnvoy("meshd's RE2 program size against the real Envoy", (envoyBin) => {
  it(`equals Envoy's own figure for each of ${CORPUS.length} regexes`, () => {
    const envoy = envoyProgramSizes(envoyBin, CORPUS);
    const meshd = CORPUS.map((regex) => {
      const r = re2ProgramSize(regex);
      return r.ok ? r.size : r.error;
    });
    const differences = CORPUS.map((regex, i) => ({ regex, envoy: envoy[i], meshd: meshd[i] })).filter(
      (d) => d.envoy !== d.meshd,
    );
    expect(differences).toEqual([]);
    // The corpus spans the interesting range: under Envoy's default limit, between it and App Mesh's, and over.
    expect(envoy.some((n) => n <= 100)).toBe(true);
    expect(envoy.some((n) => n > 100 && n <= 1000)).toBe(true);
    expect(envoy.some((n) => n > 1000)).toBe(true);
  });

  it.each(REFUSED)('Envoy and meshd both refuse %s', (regex) => {
    expect(envoyRegexError(envoyBin, regex)).toBeDefined();
    expect(regexProblem(regex)).toBeDefined();
  });

  it.each(RE2_ONLY)('Envoy and meshd both accept %s', (regex) => {
    expect(envoyRegexError(envoyBin, regex)).toBeUndefined();
    expect(regexProblem(regex)).toBeUndefined();
  });

  it('Envoy refuses a regex over the limit with the size meshd reports', () => {
    const regex = '[a-z]{997}';
    const result = spawnSync(envoyBin, ['--version'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(envoyRegexError(envoyBin, regex, 1000)).toContain('RE2 program size of 1001 > max program size of 1000');
    expect(envoyRegexError(envoyBin, '[a-z]{996}', 1000)).toBeUndefined();
  });
});
