// sortInPlace gives what Array.prototype.sort gives (a stable sort), short lists and long.
import * as fc from 'fast-check';
import { sortInPlace } from '../../src/util/sort-in-place';

describe('sortInPlace', () => {
  it('orders any list as Array.prototype.sort does, equal keys kept in their order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ key: fc.integer({ min: 0, max: 5 }), id: fc.nat() }), { maxLength: 40 }),
        (list) => {
          const compare = (a: { key: number }, b: { key: number }) => a.key - b.key;
          const expected = [...list].sort(compare);
          const copy = [...list];
          expect(sortInPlace(copy, compare)).toBe(copy);
          expect(copy).toEqual(expected);
        },
      ),
    );
  });
});
