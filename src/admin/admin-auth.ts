// Who may change meshd through its own admin API (the /v1/* writes: rollouts today, tokens
// later): a bearer token read from a file (`--admin-token-file`), compared in constant time.
//
// - With a token: every guarded write must carry `Authorization: Bearer <token>`: none answers 401
//   (with `WWW-Authenticate: Bearer`), another token 403.
// - Without one, on a loopback admin address: writes are open to local processes, as before, but
//   the Host must name a loopback address and a browser's Origin, if sent, must be that same address
//   (meshd's own console at /ui/), so that no other web page can reach them by DNS rebinding or a
//   cross-site POST.
// - Without one, on any other address (only with --insecure-admin): every guarded write is refused
//   (403), naming --admin-token-file: a meshd reachable from a network is never writable by omission.
//
// The two AWS APIs on the same port keep SigV4 (api/auth.ts, discovery/cloud-map/http.ts): the
// SDKs and the AWS CLI cannot send a bearer token.
import * as crypto from 'node:crypto';
import type * as http from 'node:http';
import { loopbackHost } from '../util/loopback';
import { readPrivateText } from '../util/private-file';

/** A token shorter than this is refused at start: it could be guessed. */
export const MIN_ADMIN_TOKEN_LENGTH = 32;
/** A token file is a line, not a document. */
const MAX_TOKEN_FILE_BYTES = 4096;

/** Why a guarded write was refused; a reason of meshd_http_refused_total{server="admin"}. */
export type AdminAuthRefusal = 'unauthenticated' | 'forbidden';

export interface AdminWriteAuth {
  /** SHA-256 of the token; none: see `loopback`. */
  readonly tokenDigest?: Buffer;
  /** The admin address is loopback: without a token, local writes are accepted. */
  readonly loopback: boolean;
}

export type AdminAuthVerdict =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly status: 401 | 403;
      readonly reason: AdminAuthRefusal;
      readonly error: string;
      readonly headers: Readonly<Record<string, string>>;
    };

const digest = (text: string): Buffer => crypto.createHash('sha256').update(text, 'utf8').digest();

/** The guard's settings: `token` as read by readAdminTokenFile, `adminHost` the address the admin port listens on. */
export function adminWriteAuth(token: string | undefined, loopback: boolean): AdminWriteAuth {
  return { ...(token !== undefined ? { tokenDigest: digest(token) } : {}), loopback };
}

/**
 * Reads the admin token from `file`: one line (surrounding whitespace dropped), at least
 * MIN_ADMIN_TOKEN_LENGTH printable ASCII characters, in a file neither group nor others can read.
 * Throws an Error naming the file and the fix.
 */
export function readAdminTokenFile(file: string): string {
  const token = readPrivateText(file, 'the admin token file', MAX_TOKEN_FILE_BYTES, ': it should hold one token');
  if (!/^[\x21-\x7e]*$/.test(token))
    throw new Error(
      `the admin token file ${file} must hold one token of printable ASCII characters without spaces (openssl rand -hex 32)`,
    );
  if (token.length < MIN_ADMIN_TOKEN_LENGTH)
    throw new Error(
      `the admin token in ${file} has ${token.length} characters; it needs at least ${MIN_ADMIN_TOKEN_LENGTH} (openssl rand -hex 32 > ${file})`,
    );
  return token;
}

const refusal = (status: 401 | 403, reason: AdminAuthRefusal, error: string, bearer = false): AdminAuthVerdict => ({
  ok: false,
  status,
  reason,
  error,
  headers: bearer ? { 'www-authenticate': 'Bearer realm="meshd-admin"' } : {},
});

/**
 * Whether `req` may perform an admin write under `auth`. Never throws. Apply it to any route that
 * changes state (see guardAdminWrite in http-server.ts): a GET stays open.
 */
export function checkAdminWrite(req: http.IncomingMessage, auth: AdminWriteAuth): AdminAuthVerdict {
  const header = req.headers.authorization;
  if (auth.tokenDigest) {
    if (typeof header !== 'string' || header.trim() === '')
      return refusal(
        401,
        'unauthenticated',
        'this admin write needs a credential: send Authorization: Bearer <token> (meshd CLI: --admin-token-file or MESHD_ADMIN_TOKEN_FILE)',
        true,
      );
    const m = /^Bearer +(\S+) *$/i.exec(header);
    if (!m) return refusal(401, 'unauthenticated', 'the Authorization header must be Bearer <token>', true);
    // Digests of equal length, so timingSafeEqual neither throws nor tells the token's length.
    if (!crypto.timingSafeEqual(digest(m[1]!), auth.tokenDigest))
      return refusal(403, 'forbidden', 'the admin token is not the one meshd was started with (--admin-token-file)');
    return { ok: true };
  }
  if (!auth.loopback)
    return refusal(
      403,
      'forbidden',
      'admin writes are refused: the admin address is not loopback and no credential is set; start meshd serve with --admin-token-file <file>',
    );
  if (!loopbackHost(req.headers.host))
    return refusal(
      403,
      'forbidden',
      'without --admin-token-file, admin writes are answered only for a loopback Host (127.0.0.1, [::1] or localhost), so that no web page can reach them through DNS rebinding',
    );
  // meshd's own console (same origin: its Origin names the
  // loopback Host it was sent to) may write; another page may not.
  if (req.headers.origin !== undefined && req.headers.origin !== `http://${req.headers.host}`)
    return refusal(
      403,
      'forbidden',
      "without --admin-token-file, admin writes from a web page other than meshd's own console (a request whose Origin is not this admin address) are refused",
    );
  return { ok: true };
}
