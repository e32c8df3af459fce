// Which operation a request names: its method and path matched against the operation table
// (operations.ts), the path labels and query parameters percent-decoded once each. Everything is
// client input: the request target is bounded before it is split, malformed percent-encoding and
// repeated parameters are refused, and nothing is ever looked up on an object's prototype.
//
// An unknown path answers 404 UnknownOperationException (AWS's generic name; App Mesh's model has
// no error for it); a known path with a method it does not take answers 405 with the same type and
// an `Allow` header. Both SDKs surface the type by name.
import { ApiError, badRequest } from './errors';
import { OPERATIONS, type MemberName, type Operation } from './operations';

/** The request target (path and query) is at most this long: 7 names of 255 characters, encoded, fit. */
export const MAX_TARGET_LENGTH = 8192;
/** Query parameters beyond this many are refused (the operations take at most 4). */
export const MAX_QUERY_PARAMS = 16;

export interface Routed {
  readonly operation: Operation;
  /** The path labels, decoded. */
  readonly labels: Readonly<Partial<Record<MemberName, string>>>;
  /** Every query parameter, decoded; a parameter given without `=` has the value ''. */
  readonly query: ReadonlyMap<string, string>;
}

type Segment = { readonly literal: string } | { readonly label: MemberName };

interface Compiled {
  readonly operation: Operation;
  readonly segments: readonly Segment[];
}

const COMPILED: readonly Compiled[] = OPERATIONS.map((operation) => ({
  operation,
  segments: operation.path
    .slice(1)
    .split('/')
    .map((s) => (s.startsWith('{') ? { label: s.slice(1, -1) as MemberName } : { literal: s })),
}));

/** The operation a request names, or an ApiError (thrown) saying why there is none. */
export function route(method: string, target: string): Routed {
  if (target.length > MAX_TARGET_LENGTH)
    throw badRequest(`the request target is ${target.length} characters long; at most ${MAX_TARGET_LENGTH} are read`);
  if (!target.startsWith('/')) throw badRequest('the request target must be a path starting with /');
  const hash = target.indexOf('#');
  const bare = hash < 0 ? target : target.slice(0, hash);
  const q = bare.indexOf('?');
  const rawPath = q < 0 ? bare : bare.slice(0, q);
  const rawQuery = q < 0 ? '' : bare.slice(q + 1);
  const raw = rawPath.slice(1).split('/');
  if (raw.some((s) => s === '.' || s === '..'))
    throw badRequest(`the path ${shown(rawPath)} has a '.' or '..' segment; clients send names percent-encoded`);

  const matching = COMPILED.filter(
    (c) => c.segments.length === raw.length && c.segments.every((s, i) => !('literal' in s) || s.literal === raw[i]),
  );
  if (matching.length === 0)
    throw new ApiError('UnknownOperationException', `no App Mesh operation has the path ${shown(rawPath)}`);
  const chosen = matching.find((c) => c.operation.method === method);
  if (!chosen) {
    const allowed = [...new Set(matching.map((c) => c.operation.method))].sort();
    throw new ApiError(
      'UnknownOperationException',
      `${shown(method)} is not an App Mesh operation on ${shown(rawPath)}; it takes ${allowed.join(', ')}`,
      405,
      { allow: allowed.join(', ') },
    );
  }

  const labels: Partial<Record<MemberName, string>> = Object.create(null) as Partial<Record<MemberName, string>>;
  chosen.segments.forEach((s, i) => {
    if ('label' in s) labels[s.label] = decode(raw[i]!, `the path label ${s.label}`);
  });
  return { operation: chosen.operation, labels, query: parseQuery(rawQuery) };
}

function parseQuery(rawQuery: string): Map<string, string> {
  const query = new Map<string, string>();
  if (rawQuery === '') return query;
  const parts = rawQuery.split('&').filter((p) => p !== '');
  if (parts.length > MAX_QUERY_PARAMS)
    throw badRequest(`the query has ${parts.length} parameters; at most ${MAX_QUERY_PARAMS} are read`);
  for (const part of parts) {
    const eq = part.indexOf('=');
    const name = decode(eq < 0 ? part : part.slice(0, eq), 'a query parameter name');
    const value = eq < 0 ? '' : decode(part.slice(eq + 1), `the query parameter ${shown(name)}`);
    if (query.has(name)) throw badRequest(`the query parameter ${shown(name)} is given more than once`);
    query.set(name, value);
  }
  return query;
}

/** Percent-decodes once (`+` stays a plus: the SDKs encode a space as %20); malformed escapes are a BadRequest. */
function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw badRequest(`${what} has malformed percent-encoding: each % must start a %XX escape of UTF-8 bytes`);
  }
}

/** A piece of the request for a message: quoted, and cut short when long. */
export function shown(text: string): string {
  const quoted = JSON.stringify(text);
  return quoted.length > 100 ? `${quoted.slice(0, 97)}…"` : quoted;
}
