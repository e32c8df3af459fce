// Rules of the App Mesh controller's validating webhooks (aws-app-mesh-controller-for-k8s,
// webhooks/appmesh/virtualrouter_validator.go and gatewayroute_validator.go) that App Mesh's own
// API did not have. A Kubernetes manifest that breaks one never reached App Mesh, so meshd
// refuses it too; the same spec in meshd YAML or App Mesh CLI JSON is valid (App Mesh's API marks
// every match field optional, and a match of only `port` is a prefix `/` match).
import { isPlain, type FieldPath, type Plain } from '../model/common';

type Report = (path: FieldPath, message: string) => void;

const WHY = "the App Mesh controller's webhook requires it in a Kubernetes manifest";

/** An inline route of a VirtualRouter manifest (`at` is its path): an http or http2 match sets a prefix or a path. */
export function checkRouteWebhookRules(route: Plain, at: FieldPath, report: Report): void {
  for (const kind of ['httpRoute', 'http2Route']) {
    const match = matchOf(route, kind);
    if (match && unset(match.prefix) && unset(match.path))
      report([...at, kind, 'match'], `must set 'prefix' or 'path': ${WHY}`);
  }
}

/**
 * A GatewayRoute manifest's spec (at `at`): an http or http2 match sets a prefix, a path or a
 * hostname, and a rewrite sets something; a grpc match sets a serviceName or a hostname.
 */
export function checkGatewayRouteWebhookRules(spec: Plain, at: FieldPath, report: Report): void {
  for (const kind of ['httpRoute', 'http2Route']) {
    const match = matchOf(spec, kind);
    if (match && unset(match.prefix) && unset(match.path) && unset(match.hostname)) {
      report([...at, kind, 'match'], `must set 'prefix', 'path' or 'hostname': ${WHY}`);
    }
    const action = isPlain(spec[kind]) ? (spec[kind] as Plain).action : undefined;
    const rewrite = isPlain(action) ? action.rewrite : undefined;
    if (isPlain(rewrite) && unset(rewrite.prefix) && unset(rewrite.path) && unset(rewrite.hostname)) {
      report([...at, kind, 'action', 'rewrite'], `must set 'prefix', 'path' or 'hostname': ${WHY}`);
    }
  }
  const grpc = matchOf(spec, 'grpcRoute');
  if (grpc && unset(grpc.serviceName) && unset(grpc.hostname))
    report([...at, 'grpcRoute', 'match'], `must set 'serviceName' or 'hostname': ${WHY}`);
}

/** `body[kind].match` when both are mappings (anything else is the schema's to report). */
function matchOf(body: Plain, kind: string): Plain | undefined {
  const route = Object.hasOwn(body, kind) ? body[kind] : undefined;
  const match = isPlain(route) && Object.hasOwn(route, 'match') ? route.match : undefined;
  return isPlain(match) ? match : undefined;
}

/** Left out, or null (which JSON writes for "not set"). */
function unset(value: unknown): boolean {
  return value === undefined || value === null;
}
