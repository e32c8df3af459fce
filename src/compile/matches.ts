// App Mesh route matches → Envoy RouteMatch. Shared by routes and gateway routes.
import type { HeaderMatcher } from '../generated/envoy/config/route/v3/HeaderMatcher';
import type { QueryParameterMatcher } from '../generated/envoy/config/route/v3/QueryParameterMatcher';
import type { RouteMatch } from '../generated/envoy/config/route/v3/RouteMatch';
import { impliedPrefix, type GrpcRoute, type HttpRouteMatch } from '../model/route';
import type { Infer } from '../model/schema';
import type { headerShape, queryParameterShape } from '../model/shapes';

type HeaderSpec = Infer<typeof headerShape>;
type QueryParameterSpec = Infer<typeof queryParameterShape>;

/** One header condition; without `match` the header only has to be present (or absent, inverted). */
export function headerMatcher({ name, invert, match }: HeaderSpec): HeaderMatcher {
  const inverted = invert ? { invert_match: true } : {};
  if (!match) return { name, present_match: true, ...inverted };
  if (match.range) return { name, range_match: { start: String(match.range.start), end: String(match.range.end) }, ...inverted };
  const string =
    match.exact !== undefined
      ? { exact: match.exact }
      : match.prefix !== undefined
        ? { prefix: match.prefix }
        : match.suffix !== undefined
          ? { suffix: match.suffix }
          : { safe_regex: { regex: match.regex! } };
  return { name, string_match: string, ...inverted };
}

function queryParameterMatcher({ name, match }: QueryParameterSpec): QueryParameterMatcher {
  return match ? { name, string_match: { exact: match.exact } } : { name, present_match: true };
}

function pathSpecifier(match: { prefix?: string; path?: { exact?: string; regex?: string } }): RouteMatch {
  if (match.path?.exact !== undefined) return { path: match.path.exact };
  if (match.path?.regex !== undefined) return { safe_regex: { regex: match.path.regex } };
  return { prefix: impliedPrefix(match)! };
}

/** An httpRoute/http2Route match. Its `port` picks the listener, so it is not part of the Envoy match. */
export function httpRouteMatch(match: HttpRouteMatch): RouteMatch {
  const headers = [
    ...(match.method ? [{ name: ':method', string_match: { exact: match.method } }] : []),
    ...(match.scheme ? [{ name: ':scheme', string_match: { exact: match.scheme } }] : []),
    ...(match.headers ?? []).map(headerMatcher),
  ];
  return {
    ...pathSpecifier(match),
    ...(headers.length ? { headers } : {}),
    ...(match.queryParameters ? { query_parameters: match.queryParameters.map(queryParameterMatcher) } : {}),
  };
}

/** A grpcRoute match: gRPC requests are POSTs to /<service>/<method>; metadata are headers. */
export function grpcRouteMatch(match: GrpcRoute['match']): RouteMatch {
  const path =
    match.serviceName === undefined ? { prefix: '/' } : match.methodName === undefined ? { prefix: `/${match.serviceName}/` } : { path: `/${match.serviceName}/${match.methodName}` };
  return {
    ...path,
    grpc: {},
    ...(match.metadata ? { headers: match.metadata.map(headerMatcher) } : {}),
  };
}

/**
 * A gateway route's hostname match. The gateway's connection manager strips any port from the
 * Host before routing, and host names are case-insensitive.
 */
export function hostnameMatcher(hostname: { exact?: string; suffix?: string }): HeaderMatcher {
  const string_match = hostname.exact !== undefined ? { exact: hostname.exact, ignore_case: true } : { suffix: hostname.suffix!, ignore_case: true };
  return { name: ':authority', string_match };
}

/** RE2 syntax characters escaped, so the text matches literally inside a regex. */
export function literalRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `match` with more header conditions, all of which must hold too. */
export function withHeaders(match: RouteMatch, ...matchers: HeaderMatcher[]): RouteMatch {
  return { ...match, headers: [...(match.headers ?? []), ...matchers] };
}
