// App Mesh route and gateway-route matches → the plan's normalised match: one path condition,
// header conditions (the method, scheme and gateway hostname as pseudo-headers), query parameters.
import { impliedPrefix, type GrpcRoute, type HttpRouteMatch } from '../../model/route';
import type { Infer } from '../../model/schema';
import type { headerShape, queryParameterShape } from '../../model/shapes';
import type { HeaderMatchPlan, RouteMatchPlan } from './types';

type HeaderSpec = Infer<typeof headerShape>;
type QueryParameterSpec = Infer<typeof queryParameterShape>;

/** One header condition; without `match` the header only has to be present (or absent, inverted). */
export function headerMatch({ name, invert, match }: HeaderSpec): HeaderMatchPlan {
  const inverted = invert ? { invert: true } : {};
  if (!match) return { name, match: { kind: 'present' }, ...inverted };
  if (match.range)
    return { name, match: { kind: 'range', start: match.range.start, end: match.range.end }, ...inverted };
  const value =
    match.exact !== undefined
      ? { kind: 'exact' as const, value: match.exact }
      : match.prefix !== undefined
        ? { kind: 'prefix' as const, value: match.prefix }
        : match.suffix !== undefined
          ? { kind: 'suffix' as const, value: match.suffix }
          : { kind: 'regex' as const, value: match.regex! };
  return { name, match: value, ...inverted };
}

function queryParameterMatch({
  name,
  match,
}: QueryParameterSpec): NonNullable<RouteMatchPlan['queryParameters']>[number] {
  return match ? { name, match: { kind: 'exact', value: match.exact } } : { name, match: { kind: 'present' } };
}

function pathMatch(match: { prefix?: string; path?: { exact?: string; regex?: string } }): RouteMatchPlan['path'] {
  if (match.path?.exact !== undefined) return { kind: 'exact', value: match.path.exact };
  if (match.path?.regex !== undefined) return { kind: 'regex', value: match.path.regex };
  return { kind: 'prefix', value: impliedPrefix(match)! };
}

/** An httpRoute/http2Route match. Its `port` picks the listener, so it is not part of the match. */
export function httpMatch(match: HttpRouteMatch): RouteMatchPlan {
  const headers: HeaderMatchPlan[] = [
    ...(match.method ? [{ name: ':method', match: { kind: 'exact' as const, value: match.method } }] : []),
    ...(match.scheme ? [{ name: ':scheme', match: { kind: 'exact' as const, value: match.scheme } }] : []),
    ...(match.headers ?? []).map(headerMatch),
  ];
  return {
    path: pathMatch(match),
    ...(headers.length ? { headers } : {}),
    ...(match.queryParameters ? { queryParameters: match.queryParameters.map(queryParameterMatch) } : {}),
  };
}

/** A grpcRoute match: gRPC requests are POSTs to /<service>/<method>; metadata are headers. */
export function grpcMatch(match: GrpcRoute['match']): RouteMatchPlan {
  const path: RouteMatchPlan['path'] =
    match.serviceName === undefined
      ? { kind: 'prefix', value: '/' }
      : match.methodName === undefined
        ? { kind: 'prefix', value: `/${match.serviceName}/` }
        : { kind: 'exact', value: `/${match.serviceName}/${match.methodName}` };
  return { path, grpc: true, ...(match.metadata ? { headers: match.metadata.map(headerMatch) } : {}) };
}

/**
 * A gateway route's hostname match. The gateway's connection manager strips any port from the
 * Host before routing, and host names are case-insensitive.
 */
export function hostnameMatch(hostname: { exact?: string; suffix?: string }): HeaderMatchPlan {
  const match =
    hostname.exact !== undefined
      ? { kind: 'exact' as const, value: hostname.exact, ignoreCase: true }
      : { kind: 'suffix' as const, value: hostname.suffix!, ignoreCase: true };
  return { name: ':authority', match };
}

/** `match` with more header conditions, all of which must hold too. */
export function withHeaders(match: RouteMatchPlan, ...headers: HeaderMatchPlan[]): RouteMatchPlan {
  return { ...match, headers: [...(match.headers ?? []), ...headers] };
}
