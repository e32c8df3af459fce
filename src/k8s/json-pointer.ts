// JSON Pointers (RFC 6901) for the JSON Patches meshd sends the API server (a route's weights) and answers
// it (an injected Pod): `~` as `~0`, `/` as `~1` in each token.
import type { FieldPath } from '../model/common';

export function pointerToken(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function jsonPointer(path: FieldPath): string {
  return path.map((p) => `/${pointerToken(String(p))}`).join('');
}
