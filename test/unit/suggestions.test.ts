// "did you mean" suggestions for unknown names: a typo of one edit is suggested, including two
// adjacent letters swapped (the typo hands make most), and a name that is not close is not.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadMesh } from '../../src/load/mesh-source';
import { formatProblem } from '../../src/load/problems';
import { closest, unknownFieldMessage } from '../../src/load/schema-check';
import { tmpDir } from '../helpers/processes';

describe('closest: the known name a typo meant', () => {
  it.each([
    ['wieght', 'weight'], // two adjacent letters swapped
    ['wiehgt', undefined], // two swaps: two edits, too far for a 6-letter name
    ['virtualNdoe', 'virtualNode'],
    ['wight', 'weight'], // one letter missing
    ['weigth', 'weight'],
    ['Weight', 'weight'], // case only
    ['colour', undefined],
  ])('%s → %s', (typo, meant) => {
    expect(closest(typo, ['virtualNode', 'weight', 'port'])).toBe(meant);
  });

  it('names the suggestion in the unknown-field message', () => {
    expect(unknownFieldMessage('wieght', ['virtualNode', 'weight', 'port'])).toBe(
      "unknown field 'wieght'; did you mean 'weight'?",
    );
  });
});

describe('a route with a weight spelt wieght', () => {
  it('is reported as missing weight and as unknown wieght, which suggests weight', () => {
    const dir = tmpDir('suggestions-');
    fs.writeFileSync(
      path.join(dir, 'mesh.yaml'),
      [
        'kind: Mesh\nname: m\n---',
        'kind: VirtualNode\nmesh: m\nname: a\nspec: {}\n---',
        'kind: VirtualRouter\nmesh: m\nname: r\nspec:\n  listeners: [{ portMapping: { port: 80, protocol: http } }]\n---',
        'kind: Route\nmesh: m\nvirtualRouter: r\nname: split\nspec:\n  httpRoute:\n    match: { prefix: / }\n    action:\n      weightedTargets:\n        - { virtualNode: a, wieght: 1 }\n',
      ].join('\n'),
    );
    const result = loadMesh([dir]);
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => formatProblem(p).replaceAll(dir + path.sep, ''))).toEqual([
      'mesh.yaml:24:11: error: Route/r/split: required field is missing (spec.httpRoute.action.weightedTargets[0].weight)',
      "mesh.yaml:24:37: error: Route/r/split: unknown field 'wieght'; did you mean 'weight'? (spec.httpRoute.action.weightedTargets[0].wieght)",
    ]);
  });
});
