// The plan's normalised matches → Envoy RouteMatch and HeaderMatcher.
import type { HeaderMatcher } from '../generated/envoy/config/route/v3/HeaderMatcher';
import type { QueryParameterMatcher } from '../generated/envoy/config/route/v3/QueryParameterMatcher';
import type { RouteMatch } from '../generated/envoy/config/route/v3/RouteMatch';
import type { StringMatcher } from '../generated/envoy/type/matcher/v3/StringMatcher';
import type { HeaderMatchPlan, RouteMatchPlan, StringMatchPlan } from './plan/types';

function stringMatcher({ kind, value, ignoreCase }: StringMatchPlan): StringMatcher {
  const ignoring = ignoreCase ? { ignore_case: true } : {};
  if (kind === 'regex') return { safe_regex: { regex: value }, ...ignoring };
  return { [kind]: value, ...ignoring };
}

function headerMatcher({ name, match, invert }: HeaderMatchPlan): HeaderMatcher {
  const inverted = invert ? { invert_match: true } : {};
  if (match.kind === 'present') return { name, present_match: true, ...inverted };
  if (match.kind === 'range')
    return { name, range_match: { start: String(match.start), end: String(match.end) }, ...inverted };
  return { name, string_match: stringMatcher(match), ...inverted };
}

function queryParameterMatcher({
  name,
  match,
}: NonNullable<RouteMatchPlan['queryParameters']>[number]): QueryParameterMatcher {
  return match.kind === 'present' ? { name, present_match: true } : { name, string_match: stringMatcher(match) };
}

export function routeMatch(match: RouteMatchPlan): RouteMatch {
  const { kind, value } = match.path;
  return {
    ...(kind === 'regex' ? { safe_regex: { regex: value } } : kind === 'exact' ? { path: value } : { prefix: value }),
    ...(match.grpc ? { grpc: {} } : {}),
    ...(match.headers?.length ? { headers: match.headers.map(headerMatcher) } : {}),
    ...(match.queryParameters ? { query_parameters: match.queryParameters.map(queryParameterMatcher) } : {}),
  };
}
