// The App Mesh API's two token stores on their own: clientToken answers (src/api/idempotency.ts:
// the window, the bound, duplicates in flight) and page tokens (src/api/page-token.ts: bound to
// their list and their key).
import { ApiError } from '../../src/api/errors';
import { ClientTokens, type Answer } from '../../src/api/idempotency';
import { pageAfter, PageTokens } from '../../src/api/page-token';

const ok = (body: string): Answer => ({ status: 200, headers: {}, body });

describe('ClientTokens', () => {
  it('replays within the window and forgets after it', async () => {
    let now = 0;
    const tokens = new ClientTokens({ ttlMs: 1000, now: () => now });
    let applied = 0;
    const apply = async () => ok(`answer ${++applied}`);
    expect((await tokens.run('k', 'f', apply)).body).toBe('answer 1');
    now = 999;
    expect((await tokens.run('k', 'f', apply)).body).toBe('answer 1');
    await expect(tokens.run('k', 'other', apply)).rejects.toMatchObject({ type: 'ConflictException' });
    now = 2000;
    expect((await tokens.run('k', 'other', apply)).body).toBe('answer 2');
  });

  it('keeps at most maxEntries, dropping the oldest', async () => {
    const tokens = new ClientTokens({ maxEntries: 3 });
    for (const k of ['a', 'b', 'c', 'd']) await tokens.run(k, 'f', async () => ok(k));
    expect(tokens.size).toBe(3);
    expect((await tokens.run('a', 'f', async () => ok('again'))).body).toBe('again');
    expect((await tokens.run('d', 'f', async () => ok('again'))).body).toBe('d');
  });

  it('a duplicate in flight waits for the first answer; a refusal is not kept', async () => {
    const tokens = new ClientTokens();
    let release!: (a: Answer) => void;
    const first = tokens.run('k', 'f', () => new Promise<Answer>((r) => (release = r)));
    const second = tokens.run('k', 'f', async () => ok('applied twice'));
    release({ status: 404, headers: {}, body: 'refused' });
    expect((await first).body).toBe('refused');
    expect((await second).body).toBe('refused');
    expect(tokens.size).toBe(0);
    await expect(
      tokens.run('x', 'f', async () => Promise.reject(new ApiError('NotFoundException', 'no'))),
    ).rejects.toThrow('no');
    expect(tokens.size).toBe(0);
  });
});

describe('PageTokens', () => {
  it('reads back its own token for the same list only, and refuses another key', () => {
    const key = Buffer.alloc(32, 1);
    const tokens = new PageTokens(key);
    const token = tokens.issue('ListRoutes\nm\nvr', 'r-099');
    expect(tokens.read('ListRoutes\nm\nvr', token)).toBe('r-099');
    expect(new PageTokens(key).read('ListRoutes\nm\nvr', token)).toBe('r-099');
    expect(() => tokens.read('ListRoutes\nm\nvr2', token)).toThrow(/not a token this meshd gave/);
    expect(() => new PageTokens().read('ListRoutes\nm\nvr', token)).toThrow(/not a token this meshd gave/);
    expect(() => tokens.read('ListRoutes\nm\nvr', `${token}x`)).toThrow(/not a token this meshd gave/);
  });

  it('pages after a name, and gives the last name only when more follow', () => {
    const items = ['a', 'b', 'c', 'd', 'e'];
    expect(pageAfter(items, (i) => i, undefined, 2)).toEqual({ items: ['a', 'b'], last: 'b' });
    expect(pageAfter(items, (i) => i, 'b', 3)).toEqual({ items: ['c', 'd', 'e'] });
    expect(pageAfter(items, (i) => i, 'bb', 2)).toEqual({ items: ['c', 'd'], last: 'd' });
    expect(pageAfter(items, (i) => i, 'z', 2)).toEqual({ items: [] });
  });
});
