// Join tokens: how a proxy proves to meshd's xDS server which node it is. A token is a JWT
// (ES256, signed with the key in the CA state) with sub = the node id, iss 'meshd', aud
// 'meshd-xds', exp and a random jti; the proxy sends it as `authorization: Bearer <token>`.
// verify() answers for any input, hostile or not, and never throws: a refused stream needs a reason.
import { randomUUID } from 'node:crypto';
import { errors, importJWK, jwtVerify, SignJWT, type JWK, type KeyLike } from 'jose';
import { publicJwk } from './authority';

export const TOKEN_ISSUER = 'meshd';
export const TOKEN_AUDIENCE = 'meshd-xds';
export const DEFAULT_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;
export const MAX_TOKEN_TTL_MS = 366 * 24 * 60 * 60 * 1000;
/** A token longer than this is refused before it is parsed (a real one is about 400 bytes). */
export const MAX_TOKEN_LENGTH = 8 * 1024;
/** How far apart meshd's clock and the token's times may be. */
export const CLOCK_TOLERANCE_S = 30;
const MAX_NODE_ID_LENGTH = 2048;

/** What join tokens need of the CA: its token key and revocations (CertificateAuthority has these). */
export interface TokenKeySource {
  tokenSigningKey(): Record<string, string>;
  revokedTokens(): readonly { jti: string; exp: number }[];
  revokeToken(jti: string, exp: number): Promise<void>;
}

export interface IssuedToken {
  readonly token: string;
  /** The jti: what revoke() names. */
  readonly id: string;
  readonly expiresAt: Date;
}

export interface VerifiedToken {
  readonly nodeId: string;
  readonly id: string;
  readonly expiresAt: Date;
}

export type TokenRefusal = 'malformed' | 'bad_signature' | 'expired' | 'revoked' | 'wrong_audience';

export interface RefusedToken {
  readonly error: TokenRefusal;
  readonly message: string;
}

export class JoinTokenError extends Error {
  override name = 'JoinTokenError';
}

/** Three base64url parts; the signature may be empty only for alg none, which is refused anyway. */
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export class JoinTokens {
  private keys:
    | {
        jwk: Record<string, string>;
        privateKey: Promise<KeyLike | Uint8Array>;
        publicKey: Promise<KeyLike | Uint8Array>;
      }
    | undefined;
  private readonly now: () => number;

  constructor(
    private readonly source: TokenKeySource,
    options: { now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The token key from the CA state, imported once per key (another replica may have replaced it). */
  private key(): NonNullable<JoinTokens['keys']> {
    const jwk = this.source.tokenSigningKey();
    if (this.keys?.jwk !== jwk) {
      const privateKey = importJWK({ ...jwk, alg: 'ES256' } as JWK, 'ES256');
      const publicKey = importJWK({ ...publicJwk(jwk), alg: 'ES256' } as JWK, 'ES256');
      privateKey.catch(() => undefined);
      publicKey.catch(() => undefined);
      this.keys = { jwk, privateKey, publicKey };
    }
    return this.keys;
  }

  /** A token for `nodeId` (mesh/M/virtualNode/N), valid `ttlMs` (24 h by default, at most 366 days). */
  async issue(nodeId: string, ttlMs: number = DEFAULT_TOKEN_TTL_MS): Promise<IssuedToken> {
    if (typeof nodeId !== 'string' || nodeId.length === 0 || nodeId.length > MAX_NODE_ID_LENGTH)
      throw new JoinTokenError(`a join token needs a node id of 1 to ${MAX_NODE_ID_LENGTH} characters`);
    if (!Number.isFinite(ttlMs) || ttlMs < 1000 || ttlMs > MAX_TOKEN_TTL_MS)
      throw new JoinTokenError(`a join token's lifetime must be between 1 second and 366 days, not ${ttlMs} ms`);
    const nowS = Math.floor(this.now() / 1000);
    const exp = nowS + Math.ceil(ttlMs / 1000);
    const id = randomUUID();
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .setSubject(nodeId)
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setIssuedAt(nowS)
      .setExpirationTime(exp)
      .setJti(id)
      .sign(await this.key().privateKey);
    return { token, id, expiresAt: new Date(exp * 1000) };
  }

  /** The token's node id, or why it is refused. Never throws. */
  async verify(token: unknown): Promise<VerifiedToken | RefusedToken> {
    try {
      return await this.check(token);
    } catch (err) {
      return refused('malformed', `the token cannot be read (${err instanceof Error ? err.name : 'error'})`);
    }
  }

  private async check(token: unknown): Promise<VerifiedToken | RefusedToken> {
    if (typeof token !== 'string' || token.length === 0) return refused('malformed', 'no token');
    if (token.length > MAX_TOKEN_LENGTH)
      return refused('malformed', `the token is ${token.length} characters (at most ${MAX_TOKEN_LENGTH})`);
    if (!JWS_COMPACT.test(token)) return refused('malformed', 'the token is not a JWT (three base64url parts)');
    let payload;
    try {
      ({ payload } = await jwtVerify(token, await this.key().publicKey, {
        algorithms: ['ES256'],
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: new Date(this.now()),
        requiredClaims: ['sub', 'exp', 'jti'],
      }));
    } catch (err) {
      if (err instanceof errors.JWTExpired) return refused('expired', 'the token has expired');
      if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'aud')
        return refused('wrong_audience', `the token is not for ${TOKEN_AUDIENCE}`);
      if (err instanceof errors.JWSSignatureVerificationFailed)
        return refused('bad_signature', "the token's signature is not this meshd's");
      if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported)
        return refused('bad_signature', 'the token is not signed with ES256');
      if (err instanceof errors.JWTClaimValidationFailed)
        return refused('malformed', `the token's ${err.claim} claim is wrong (${err.reason})`);
      return refused('malformed', 'the token cannot be read');
    }
    const { sub, jti, exp } = payload;
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_NODE_ID_LENGTH)
      return refused('malformed', "the token's sub is not a node id");
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256)
      return refused('malformed', "the token's jti is not an id");
    if (typeof exp !== 'number') return refused('malformed', 'the token has no exp');
    if (this.source.revokedTokens().some((t) => t.jti === jti))
      return refused('revoked', `the token ${jti} has been revoked`);
    return { nodeId: sub, id: jti, expiresAt: new Date(exp * 1000) };
  }

  /** Revokes the token `id` until `expiresAt` (after which it is refused as expired anyway). */
  async revoke(id: string, expiresAt: Date): Promise<void> {
    if (typeof id !== 'string' || id.length === 0 || id.length > 256)
      throw new JoinTokenError('a token id is 1 to 256 characters');
    if (Number.isNaN(expiresAt.getTime())) throw new JoinTokenError('the token expiry is not a date');
    // Kept past exp by the clock tolerance, so a token still accepted as not-yet-expired stays revoked.
    await this.source.revokeToken(id, Math.ceil(expiresAt.getTime() / 1000) + CLOCK_TOLERANCE_S);
  }

  /** The revoked token ids not yet expired, with their expiry. */
  revoked(): { id: string; expiresAt: Date }[] {
    return this.source.revokedTokens().map((t) => ({ id: t.jti, expiresAt: new Date(t.exp * 1000) }));
  }
}

/** Whether verify() refused the token. */
export function isRefused(result: VerifiedToken | RefusedToken): result is RefusedToken {
  return 'error' in result;
}

function refused(error: TokenRefusal, message: string): RefusedToken {
  return { error, message };
}
