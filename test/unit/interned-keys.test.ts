// KeyInterner: the key of a (scope, outer, inner) is make's string, one object per triple.
import { KeyInterner } from '../../src/control/interned-keys';

describe('KeyInterner', () => {
  const interner = () => new KeyInterner<string>((scope, outer, inner) => `${outer}/${scope}/${inner}`);

  it("gives make's key, and the very same string again for the same scope and names", () => {
    const keys = interner();
    const first = keys.key('VirtualNode', 'apps', 'a');
    expect(first).toBe('apps/VirtualNode/a');
    expect(keys.key('VirtualNode', 'apps', 'a')).toBe(first);
  });

  it('tells apart every part of the triple, names that join alike included', () => {
    const keys = interner();
    expect(keys.key('VirtualNode', 'apps', 'a')).toBe('apps/VirtualNode/a');
    expect(keys.key('VirtualRouter', 'apps', 'a')).toBe('apps/VirtualRouter/a');
    expect(keys.key('VirtualNode', 'other', 'a')).toBe('other/VirtualNode/a');
    expect(keys.key('VirtualNode', 'apps', 'b')).toBe('apps/VirtualNode/b');
    const joins = new KeyInterner<undefined>((_, outer, inner) => `${outer}\0${inner}`);
    expect(joins.key(undefined, 'a', 'bc')).toBe('a\0bc');
    expect(joins.key(undefined, 'ab', 'c')).toBe('ab\0c');
  });

  it('holds at most 100,000 keys, and keeps giving the right ones once it has forgotten what it held', () => {
    const keys = interner();
    for (let i = 0; i < 150_000; i++) keys.key('VirtualNode', 'apps', `m${i}`);
    expect(keys.size).toBeLessThanOrEqual(100_000);
    for (let i = 0; i < 100_010; i++)
      expect(keys.key('VirtualNode', 'apps', `n${i % 100_005}`)).toBe(`apps/VirtualNode/n${i % 100_005}`);
  });
});
