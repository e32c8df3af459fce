// Join tokens (src/ca/join-tokens.ts): a token meshd issued verifies to its node id; expired, revoked, forged
// (another key), unsigned (alg none), truncated, huge, wrong-audience and garbage tokens are refused with the
// reason a refused stream reports, and verify() never throws. Revocations are kept in the CA state, so another
// replica (a second CertificateAuthority on the same store) refuses the token after reload().
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import * as fc from 'fast-check';
import { SignJWT } from 'jose';
import { CertificateAuthority } from '../../src/ca/authority';
import { isRefused, JoinTokens, MAX_TOKEN_LENGTH } from '../../src/ca/join-tokens';
import { MemoryCaStateStore } from '../helpers/ca';

const NODE = 'mesh/demo/virtualNode/web';
const HOUR = 3600_000;

async function setup(now: () => number = Date.now) {
  const store = new MemoryCaStateStore();
  const ca = await CertificateAuthority.open({ store, now });
  return { store, ca, tokens: new JoinTokens(ca, { now }) };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('join tokens', () => {
  it('a token meshd issued verifies to its node id, id and expiry', async () => {
    const { tokens } = await setup();
    const issued = await tokens.issue(NODE, 2 * HOUR);
    expect(Math.abs(issued.expiresAt.getTime() - (Date.now() + 2 * HOUR))).toBeLessThan(2000);
    expect(await tokens.verify(issued.token)).toEqual({ nodeId: NODE, id: issued.id, expiresAt: issued.expiresAt });
    const [header, payload] = issued.token
      .split('.')
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()));
    expect(header.alg).toBe('ES256');
    expect(payload).toMatchObject({ sub: NODE, iss: 'meshd', aud: 'meshd-xds', jti: issued.id });
  });

  it('refuses an expired token, within the 30 s tolerance still accepting it', async () => {
    let now = Date.now();
    const { tokens } = await setup(() => now);
    const issued = await tokens.issue(NODE, HOUR);
    now += HOUR + 20_000;
    expect(isRefused(await tokens.verify(issued.token))).toBe(false);
    now += 20_000;
    expect(await tokens.verify(issued.token)).toEqual({ error: 'expired', message: 'the token has expired' });
  });

  it('refuses a revoked token, on every replica once it reloads; the revocation is pruned after expiry', async () => {
    let now = Date.now();
    const { store, ca, tokens } = await setup(() => now);
    const other = await CertificateAuthority.open({ store, now: () => now });
    const otherTokens = new JoinTokens(other, { now: () => now });
    const issued = await tokens.issue(NODE, HOUR);
    const keep = await tokens.issue(NODE, HOUR);
    expect(isRefused(await otherTokens.verify(issued.token))).toBe(false);
    await tokens.revoke(issued.id, issued.expiresAt);
    expect(await tokens.verify(issued.token)).toMatchObject({ error: 'revoked' });
    expect(isRefused(await tokens.verify(keep.token))).toBe(false);
    let heard = 0;
    other.onRevocation(() => heard++);
    await other.reload();
    expect(heard).toBe(1);
    expect(await otherTokens.verify(issued.token)).toMatchObject({ error: 'revoked' });
    expect(tokens.revoked().map((r) => r.id)).toEqual([issued.id]);
    // Once expired (and past the tolerance), the revocation is no longer listed, and the next write drops it.
    now += HOUR + 31_000;
    expect(tokens.revoked()).toEqual([]);
    const later = await tokens.issue(NODE, HOUR);
    await tokens.revoke(later.id, later.expiresAt);
    expect(store.stored!.state.revokedTokens.map((t) => t.jti)).toEqual([later.id]);
    ca.close();
    other.close();
  });

  it('refuses a token signed by another key (forged), and one from another meshd', async () => {
    const { tokens } = await setup();
    const { tokens: stranger } = await setup();
    const foreign = await stranger.issue(NODE);
    expect(await tokens.verify(foreign.token)).toMatchObject({ error: 'bad_signature' });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256' })
      .setSubject(NODE)
      .setIssuer('meshd')
      .setAudience('meshd-xds')
      .setJti('x')
      .setExpirationTime('1h')
      .sign(createPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' })));
    expect(await tokens.verify(forged)).toMatchObject({ error: 'bad_signature' });
    // A valid token's payload swapped for another node's keeps the signature, which then does not match.
    const real = await tokens.issue(NODE);
    const [h, p, s] = real.token.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    const swapped = `${h}.${b64({ ...claims, sub: 'mesh/demo/virtualNode/admin' })}.${s}`;
    expect(await tokens.verify(swapped)).toMatchObject({ error: 'bad_signature' });
  });

  it('refuses alg none, HS256 with the public key, a wrong audience, and garbage, without throwing', async () => {
    const { tokens, ca } = await setup();
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const claims = { sub: NODE, iss: 'meshd', aud: 'meshd-xds', jti: 'j', exp };
    expect(await tokens.verify(`${b64({ alg: 'none' })}.${b64(claims)}.`)).toMatchObject({ error: 'bad_signature' });
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .sign(Buffer.from(JSON.stringify(ca.tokenSigningKey())));
    expect(await tokens.verify(hs)).toMatchObject({ error: 'bad_signature' });
    const issued = await tokens.issue(NODE);
    const cut = issued.token.slice(0, issued.token.length - 10);
    expect(await tokens.verify(cut)).toMatchObject({ error: expect.stringMatching(/bad_signature|malformed/) });
    expect(await tokens.verify(issued.token.split('.').slice(0, 2).join('.'))).toMatchObject({ error: 'malformed' });
    expect(await tokens.verify('a'.repeat(MAX_TOKEN_LENGTH + 1))).toEqual({
      error: 'malformed',
      message: `the token is ${MAX_TOKEN_LENGTH + 1} characters (at most ${MAX_TOKEN_LENGTH})`,
    });
    // A huge (but under the limit) token with a valid shape: refused, not parsed into trouble.
    const huge = `${b64({ alg: 'ES256' })}.${b64({ ...claims, pad: 'x'.repeat(5000) })}.${'A'.repeat(86)}`;
    expect(huge.length).toBeLessThan(MAX_TOKEN_LENGTH);
    expect(await tokens.verify(huge)).toMatchObject({ error: 'bad_signature' });
    for (const junk of [
      '',
      'Bearer x',
      'a.b.c',
      '...',
      `${b64('x')}.${b64([1])}.`,
      null,
      42,
      {},
      '\u0000.\u0000.\u0000',
    ])
      expect(isRefused(await tokens.verify(junk))).toBe(true);

    // The right key but another audience (a token for some other service signed with the same key).
    const { importJWK } = await import('jose');
    const key = await importJWK({ ...ca.tokenSigningKey(), kty: 'EC', alg: 'ES256' }, 'ES256');
    const wrongAud = await new SignJWT({ ...claims, aud: 'someone-else' })
      .setProtectedHeader({ alg: 'ES256' })
      .sign(key);
    expect(await tokens.verify(wrongAud)).toMatchObject({ error: 'wrong_audience' });
    const noJti = await new SignJWT({ sub: NODE, iss: 'meshd', aud: 'meshd-xds', exp })
      .setProtectedHeader({ alg: 'ES256' })
      .sign(key);
    expect(await tokens.verify(noJti)).toMatchObject({ error: 'malformed' });
    const wrongIss = await new SignJWT({ ...claims, iss: 'mallory' }).setProtectedHeader({ alg: 'ES256' }).sign(key);
    expect(await tokens.verify(wrongIss)).toMatchObject({ error: 'malformed', message: expect.stringMatching(/iss/) });
  });

  it('answers a refusal, never an exception, for any string or any change to a real token', async () => {
    const { tokens } = await setup();
    const real = (await tokens.issue(NODE)).token;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ maxLength: 300 }), fc.stringMatching(/^[A-Za-z0-9_.-]{0,400}$/)),
        async (s) => {
          const result = await tokens.verify(s);
          expect(isRefused(result)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
    await fc.assert(
      fc.asyncProperty(fc.nat(real.length - 1), fc.constantFrom(...'ABab01-_.'), async (at, ch) => {
        fc.pre(real[at] !== ch);
        const changed = real.slice(0, at) + ch + real.slice(at + 1);
        const result = await tokens.verify(changed);
        // A changed token never verifies, except a change base64url ignores (the last character's spare bits).
        if (!isRefused(result)) expect(at).toBe(real.length - 1);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses to issue for no node id or a lifetime over 366 days', async () => {
    const { tokens } = await setup();
    await expect(tokens.issue('', HOUR)).rejects.toThrow(/node id/);
    await expect(tokens.issue(NODE, 400 * 24 * HOUR)).rejects.toThrow(/366 days/);
    await expect(tokens.issue(NODE, 0)).rejects.toThrow(/between 1 second and 366 days/);
    const year = await tokens.issue(NODE, 365 * 24 * HOUR);
    expect(isRefused(await tokens.verify(year.token))).toBe(false);
  });
});
