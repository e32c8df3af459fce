// The demo's problem area reads meshd's text log, where a finding's severity is the log level
// (`<time> error m.yaml:2:7: …`): it shows the reload's errors as `meshd validate` prints them.
import { MeshdProblem } from '../../src/demo/meshd-log';

const T = '2026-01-01T00:00:00.000Z';

describe("the demo's reading of meshd's log", () => {
  it('a failed reload: its error findings, then its warnings, each with its severity, and the verdict; info lines are no problem', () => {
    const problem = new MeshdProblem();
    for (const line of [
      `${T} info  mesh loaded: 8 resources from 1 file(s)`,
      `${T} info  m.yaml:1:1: skipping Deployment/d: not an App Mesh resource`,
      `${T} warn  m.yaml:9:3: VirtualNode/n: virtual service 's' has no provider`,
      `${T} error m.yaml:2:7: Route/r/rt: unknown field 'wieght'; did you mean 'weight'? (spec.httpRoute.action.weightedTargets[0].wieght)`,
      `${T} error m.yaml:5:1: Route/r/rt: required field is missing (weight)`,
      `${T} error mesh not reloaded after a change to m.yaml: 2 error(s); the last good mesh keeps serving`,
    ])
      problem.feed(line);
    expect(problem.current()).toEqual([
      "m.yaml:2:7: error: Route/r/rt: unknown field 'wieght'; did you mean 'weight'? (spec.httpRoute.action.weightedTargets[0].wieght)",
      'm.yaml:5:1: error: Route/r/rt: required field is missing (weight)',
      "m.yaml:9:3: warning: VirtualNode/n: virtual service 's' has no provider",
      'mesh not reloaded after a change to m.yaml: 2 error(s); the last good mesh keeps serving',
    ]);
    problem.feed(`${T} info  mesh reloaded after a change to m.yaml: 8 resources from 1 file(s)`);
    expect(problem.current()).toEqual([]);
  });

  it('a NACK whose message looks like a position is the problem as it is', () => {
    const problem = new MeshdProblem();
    const nack = 'xds: proxy mesh/apps/virtualNode/front NACKed RDS version 3: bad.proto:1:2: invalid';
    problem.feed(`${T} warn  ${nack}`);
    expect(problem.current()).toEqual([nack]);
  });
});
