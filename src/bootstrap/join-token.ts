// The join token a proxy sends meshd (`authorization: Bearer <token>` on the ADS stream). The
// bootstrap writes it into YAML, so it is checked to be what a JWT is made of — base64url parts
// separated by dots — before it goes anywhere: a newline or a quote in a hostile variable must
// not add keys to Envoy's bootstrap. envoy-bootstrap/render-bootstrap.sh has the same rules and
// messages (test/e2e/bootstrap.test.ts holds the two together). Messages never echo the token.
import * as fs from 'node:fs';

/** meshd's tokens are a few hundred characters; this leaves room and bounds what is read. */
export const MAX_TOKEN_LENGTH = 4096;
/** A token file is read only up to this size (blanks around the token are allowed). */
export const MAX_TOKEN_FILE_BYTES = 8192;

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const WHAT = `a join token (a JWT: three base64url parts separated by dots, at most ${MAX_TOKEN_LENGTH} characters)`;

/** Whether `token` may be written into the bootstrap as it is. */
export function isJoinToken(token: string): boolean {
  return token.length <= MAX_TOKEN_LENGTH && JWT.test(token);
}

/** The token from a variable or flag; `source` names it in the error. */
export function checkJoinToken(token: string, source: string): string | { error: string } {
  return isJoinToken(token) ? token : { error: `${source} is not ${WHAT}` };
}

/** The token in a file (a mounted secret), blanks around it left out. */
export function readJoinTokenFile(file: string, source: string): string | { error: string } {
  let bytes: Buffer;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) return { error: `${source}: cannot read '${file}'` };
    if (stat.size > MAX_TOKEN_FILE_BYTES)
      return { error: `${source}: '${file}' is over ${MAX_TOKEN_FILE_BYTES} bytes, too large for a join token` };
    bytes = fs.readFileSync(file);
  } catch {
    return { error: `${source}: cannot read '${file}'` };
  }
  // latin1: one character per byte, so any byte outside the JWT alphabet fails the check.
  const token = bytes.toString('latin1').replace(/^[ \t\n\r]+|[ \t\n\r]+$/g, '');
  return isJoinToken(token) ? token : { error: `${source}: '${file}' does not hold ${WHAT}` };
}
