// The demo's problem area: which of meshd's log lines make the problem (meshd-log.ts), and how
// they are laid out under the bars on a terminal of a given size (screen.ts problemRows).
import { MeshdProblem } from '../../src/demo/meshd-log';
import { problemRows, wrap } from '../../src/demo/screen';

/** meshd's log line for a message; a finding's severity is the level there, not in the text (as validate prints it). */
const log = (level: string, message: string) =>
  `2026-12-03T16:04:37.713Z ${level.padEnd(5)} ${message.replace(/^(.+?:\d+:\d+): (error|warning|info): /, '$1: ')}`;
const MISSING =
  'mesh/color-route.yaml:13:11: error: Route/color/color-split: required field is missing (spec.httpRoute.action.weightedTargets[0].weight)';
const UNKNOWN =
  "mesh/color-route.yaml:13:46: error: Route/color/color-split: unknown field 'wieght'; did you mean 'weight'? (spec.httpRoute.action.weightedTargets[0].wieght)";
const WARNING = 'mesh/color-route.yaml:9:5: warning: Route/color/color-split: something meshd accepts but doubts';
const VERDICT =
  'mesh not reloaded after a change to mesh/color-route.yaml: 2 error(s); the last good mesh keeps serving';

describe("MeshdProblem: meshd's latest problem from its log", () => {
  it('keeps every error of a reload that failed, then its warnings, then the verdict', () => {
    const problem = new MeshdProblem();
    problem.feed(log('info', 'mesh loaded: 8 resources from 3 file(s)'));
    problem.feed(log('error', MISSING));
    problem.feed(log('warn', WARNING));
    problem.feed(log('error', UNKNOWN));
    problem.feed(log('error', VERDICT));
    expect(problem.current()).toEqual([MISSING, UNKNOWN, WARNING, VERDICT]);
  });

  it('clears the problem on the next successful reload, and forgets the warnings of one', () => {
    const heard: (readonly string[])[] = [];
    const problem = new MeshdProblem((lines) => heard.push(lines));
    problem.feed(log('error', MISSING));
    problem.feed(log('error', VERDICT));
    problem.feed(log('warn', WARNING));
    problem.feed(log('info', 'mesh reloaded after a change to mesh/color-route.yaml: 8 resources'));
    problem.feed(log('error', UNKNOWN));
    problem.feed(log('error', VERDICT));
    expect(heard).toEqual([[MISSING, VERDICT], [], [UNKNOWN, VERDICT]]);
  });
});

describe('problemRows: the problem under the bars', () => {
  const text = (rows: ReturnType<typeof problemRows>) => rows.map((r) => `${r.lead}${r.text}`);

  it('shows every line when they fit, each wrapped to the width', () => {
    const rows = problemRows(
      [MISSING, UNKNOWN, 'mesh not reloaded: 2 error(s); the last good mesh keeps serving'],
      100,
      20,
    );
    expect(rows.every((r) => `${r.lead}${r.text}`.length <= 100)).toBe(true);
    expect(text(rows)).toEqual([
      'meshd: mesh/color-route.yaml:13:11: error: Route/color/color-split: required field is missing',
      '         (spec.httpRoute.action.weightedTargets[0].weight)',
      "       mesh/color-route.yaml:13:46: error: Route/color/color-split: unknown field 'wieght'; did",
      "         you mean 'weight'? (spec.httpRoute.action.weightedTargets[0].wieght)",
      '       mesh not reloaded: 2 error(s); the last good mesh keeps serving',
    ]);
  });

  it('bounds them to the rows it has: the first findings, the count of the rest, the verdict', () => {
    const findings = Array.from(
      { length: 30 },
      (_, i) => `m.yaml:${i + 1}:1: error: VirtualNode/n${i}: something is wrong`,
    );
    const rows = problemRows([...findings, 'mesh not reloaded: 30 error(s); the last good mesh keeps serving'], 100, 6);
    expect(text(rows)).toEqual([
      'meshd: m.yaml:1:1: error: VirtualNode/n0: something is wrong',
      '       m.yaml:2:1: error: VirtualNode/n1: something is wrong',
      '       m.yaml:3:1: error: VirtualNode/n2: something is wrong',
      '       m.yaml:4:1: error: VirtualNode/n3: something is wrong',
      '       … and 26 more (a taller terminal shows them)',
      '       mesh not reloaded: 30 error(s); the last good mesh keeps serving',
    ]);
    expect(rows[4]!.more).toBe(true);
  });

  it('wraps at a space, or mid-word when a word is longer than half the width', () => {
    expect(wrap('aaa bbb ccc', 7)).toEqual(['aaa bbb', 'ccc']);
    expect(wrap('x'.repeat(25), 10)).toEqual(['x'.repeat(10), 'x'.repeat(10), 'x'.repeat(5)]);
  });
});
