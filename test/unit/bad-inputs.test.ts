// Every bad input of bad-inputs.cases.ts is rejected with exactly these findings (file:line:col, resource,
// message, field). The whole mesh is reported at once, so each case names one finding.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadMesh } from '../../src/load/mesh-source';
import { formatProblem } from '../../src/load/problems';
import { tmpDir } from '../helpers/processes';
import { BAD_INPUTS } from './bad-inputs.cases';

const BASE = fs.readFileSync(path.join(__dirname, '../fixtures/bad/base.yaml'), 'utf8');

const EXPECTED: Readonly<Record<string, readonly string[]>> = {
  'unknown kind': [
    'm.yaml:1:7: error: must be one of Mesh, VirtualService, VirtualNode, VirtualRouter, Route, VirtualGateway, GatewayRoute, CloudMapService, Rollout, got "VirtualThing" (kind)',
  ],
  'missing name': ['m.yaml:1:1: error: VirtualRouter/?: required field is missing (name)'],
  'name longer than 255': [
    'm.yaml:3:7: error: VirtualService/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx: must be 1\u2013255 characters long, got 256 (name)',
  ],
  'misspelt top-level field': [
    "m.yaml:4:8: error: VirtualService/s: unknown field 'specs'; did you mean 'spec'? (specs)",
  ],
  'a __proto__ key in a spec': [
    "m.yaml:4:14: error: Mesh/m2: unknown field '__proto__'; expected one of: egressFilter, serviceDiscovery, meshd (spec.__proto__)",
  ],
  'a toString key where a name belongs': [
    'm.yaml:2:7: error: CloudMapService/a mapping: must be a string, got a mapping (name)',
    'm.yaml:5:1: info: skipping a mapping/[object Object]: meshd does not read this App Mesh controller kind',
  ],
  'a constructor key in a spec': [
    "m.yaml:4:22: error: VirtualService/s: unknown field 'constructor'; expected one of: provider (spec.constructor)",
  ],
  'a __proto__ key in a Kubernetes spec': [
    "m.yaml:5:14: error: Mesh/m2: unknown field '__proto__'; expected one of: egressFilter, serviceDiscovery, meshd (spec.__proto__)",
  ],
  'k8s selector on an inherited member': [
    'm.yaml:10:11: error: GatewayRoute/gr_ns: no VirtualGateway in the input selects this GatewayRoute (by gatewayRouteSelector and namespaceSelector); set spec.virtualGatewayRef (metadata)',
  ],
  'virtualRouter on a node': ['m.yaml:4:16: error: VirtualNode/n: only a Route names a virtualRouter (virtualRouter)'],
  'route without its router': ['m.yaml:1:1: error: Route/?/rt: required field is missing (virtualRouter)'],
  'a Mesh naming another mesh': [
    "m.yaml:2:7: error: Mesh/other: a Mesh is its own mesh: 'mesh' must be its name 'other' or left out (mesh)",
  ],
  'spec is a list': ['m.yaml:4:7: error: VirtualService/s: must be a mapping, got a list (spec)'],
  'a document that is a list': [
    'm.yaml:1:1: error: a mesh document must be a mapping with a kind, an App Mesh CLI input or a Kubernetes manifest',
  ],
  'a document of no dialect': [
    'm.yaml:1:1: error: not a mesh resource: expected `kind:` (meshd YAML), a name such as `virtualNodeName` (App Mesh CLI JSON), `apiVersion: appmesh.k8s.aws/v1beta2` (Kubernetes) or `Resources:` (CloudFormation)',
  ],
  'YAML alias to no anchor': [
    'm.yaml:1:1: error: invalid YAML: Unresolved alias (the anchor must be set before the alias): apps',
  ],
  'aliases expanding to a billion values': [
    'm.yaml:1:1: error: invalid YAML: Excessive alias count indicates a resource exhaustion attack',
  ],
  'null where a mapping belongs': [
    'm.yaml:4:21: error: VirtualRouter/r2: must be a mapping, got null (spec.listeners[0])',
  ],
  'YAML syntax error': [
    'm.yaml:3:1: error: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
  ],
  'duplicate YAML key': ['m.yaml:3:1: error: invalid YAML: Map keys must be unique'],
  'tag key too long': [
    'm.yaml:4:15: error: VirtualService/s: must be 1\u2013128 characters long, got 129 (tags[0].key)',
  ],
  'resource defined twice': [
    "m.yaml:3:7: error: VirtualService/a.apps.local: already defined in mesh 'apps' at base.yaml:27 (name)",
  ],
  'mesh not defined': [
    "m.yaml:2:7: error: VirtualService/s: mesh 'nowhere' is not defined; add a Mesh named 'nowhere' (mesh)",
  ],
  'egress filter type': [
    'm.yaml:3:31: error: Mesh/m2: must be one of ALLOW_ALL, DROP_ALL, got "ALLOW_SOME" (spec.egressFilter.type)',
  ],
  'mesh ip preference': [
    'm.yaml:3:43: error: Mesh/m2: must be one of IPv6_PREFERRED, IPv4_PREFERRED, IPv4_ONLY, IPv6_ONLY, got "IPv4" (spec.serviceDiscovery.ipPreference)',
  ],
  'egress filter without type': ['m.yaml:3:23: error: Mesh/m2: required field is missing (spec.egressFilter.type)'],
  'provider names two things': [
    'm.yaml:4:19: error: VirtualService/s: sets virtualNode and virtualRouter; set exactly one of them (spec.provider)',
  ],
  'provider names nothing': [
    'm.yaml:4:19: error: VirtualService/s: must set one of: virtualNode, virtualRouter (spec.provider)',
  ],
  'provider node not defined': [
    "m.yaml:4:53: error: VirtualService/s: virtual node 'ghost' is not defined in mesh 'apps' (spec.provider.virtualNode.virtualNodeName)",
  ],
  'provider router not defined': [
    "m.yaml:4:57: error: VirtualService/s: virtual router 'ghost' is not defined in mesh 'apps' (spec.provider.virtualRouter.virtualRouterName)",
  ],
  'provider node without listeners': [
    "m.yaml:4:53: error: VirtualService/s: virtual node 'client' has no listeners, so it cannot provide a service (spec.provider.virtualNode.virtualNodeName)",
  ],
  'port 0': [
    'm.yaml:6:38: error: VirtualNode/n: must be a whole number from 1 to 65535, got 0 (spec.listeners[0].portMapping.port)',
  ],
  'unknown protocol': [
    'm.yaml:6:52: error: VirtualNode/n: must be one of http, http2, grpc, tcp, got "htp" (spec.listeners[0].portMapping.protocol)',
  ],
  'two listeners on one port': [
    'm.yaml:8:28: error: VirtualNode/n: port 8080 is already used by listeners[0] (spec.listeners[1].portMapping.port)',
  ],
  'listeners without service discovery': [
    'm.yaml:5:3: error: VirtualNode/n: required field is missing: a virtual node with listeners needs it, so callers can find it (spec.serviceDiscovery)',
  ],
  'health check threshold': [
    'm.yaml:8:55: error: VirtualNode/n: must be a whole number from 2 to 10, got 1 (spec.listeners[0].healthCheck.healthyThreshold)',
  ],
  'health check interval': [
    'm.yaml:8:97: error: VirtualNode/n: must be a whole number from 5000 to 300000, got 1000 (spec.listeners[0].healthCheck.intervalMillis)',
  ],
  'health check timeout': [
    'm.yaml:8:118: error: VirtualNode/n: must be a whole number from 2000 to 60000, got 70000 (spec.listeners[0].healthCheck.timeoutMillis)',
  ],
  'health check without protocol': [
    'm.yaml:8:20: error: VirtualNode/n: required field is missing (spec.listeners[0].healthCheck.protocol)',
  ],
  'http health check without path': [
    'm.yaml:8:20: error: VirtualNode/n: an http health check needs a path (spec.listeners[0].healthCheck.path)',
  ],
  'health check on another port': [
    "m.yaml:8:43: error: VirtualNode/n: must be the listener's own port 8080, got 9 (spec.listeners[0].healthCheck.port)",
  ],
  'outlier detection without interval': [
    'm.yaml:8:25: error: VirtualNode/n: required field is missing (spec.listeners[0].outlierDetection.interval)',
  ],
  'outlier ejection percent': [
    'm.yaml:8:67: error: VirtualNode/n: must be a whole number from 0 to 100, got 101 (spec.listeners[0].outlierDetection.maxEjectionPercent)',
  ],
  'outlier server errors 0': [
    'm.yaml:8:44: error: VirtualNode/n: must be a whole number of at least 1, got 0 (spec.listeners[0].outlierDetection.maxServerErrors)',
  ],
  'connection pool for another protocol': [
    "m.yaml:8:30: error: VirtualNode/n: this listener speaks http, so its connectionPool must be 'http', not 'tcp' (spec.listeners[0].connectionPool.tcp)",
  ],
  'connection pool of two kinds': [
    'm.yaml:8:23: error: VirtualNode/n: sets http and http2; set exactly one of them (spec.listeners[0].connectionPool)',
  ],
  'connection pool of 0': [
    'm.yaml:8:49: error: VirtualNode/n: must be a whole number of at least 1, got 0 (spec.listeners[0].connectionPool.http.maxConnections)',
  ],
  'timeout for another protocol': [
    "m.yaml:8:24: error: VirtualNode/n: this listener speaks http, so its timeout must be 'http', not 'grpc' (spec.listeners[0].timeout.grpc)",
  ],
  'duration in minutes': [
    'm.yaml:8:40: error: VirtualNode/n: must be one of s, ms, got "m" (spec.listeners[0].timeout.http.idle.unit)',
  ],
  'negative duration': [
    'm.yaml:8:50: error: VirtualNode/n: must be a whole number of at least 0, got -1 (spec.listeners[0].timeout.http.idle.value)',
  ],
  'tls mode': [
    'm.yaml:8:20: error: VirtualNode/n: must be one of STRICT, PERMISSIVE, DISABLED, got "ON" (spec.listeners[0].tls.mode)',
  ],
  'tls without certificate': [
    'm.yaml:8:12: error: VirtualNode/n: required field is missing (spec.listeners[0].tls.certificate)',
  ],
  'tls file certificate without key': [
    'm.yaml:8:49: error: VirtualNode/n: required field is missing (spec.listeners[0].tls.certificate.file.privateKey)',
  ],
  'listener tls trusting acm': [
    "m.yaml:8:97: error: VirtualNode/n: unknown field 'acm'; expected one of: file, sds (spec.listeners[0].tls.validation.trust.acm)",
  ],
  'dns and cloud map': [
    'm.yaml:5:21: error: VirtualNode/n: sets dns and awsCloudMap; set exactly one of them (spec.serviceDiscovery)',
  ],
  'dns response type': [
    'm.yaml:5:63: error: VirtualNode/n: must be one of LOADBALANCER, ENDPOINTS, got "ALL" (spec.serviceDiscovery.dns.responseType)',
  ],
  'cloud map without namespace': [
    'm.yaml:5:36: error: VirtualNode/n: required field is missing (spec.serviceDiscovery.awsCloudMap.namespaceName)',
  ],
  'backend not defined': [
    "m.yaml:5:54: error: VirtualNode/n: virtual service 'ghost.apps.local' is not defined in mesh 'apps' (spec.backends[0].virtualService.virtualServiceName)",
  ],
  'backend listed twice': [
    "m.yaml:7:45: error: VirtualNode/n: virtual service 'a.apps.local' is already a backend (backends[0]) (spec.backends[1].virtualService.virtualServiceName)",
  ],
  'client tls without validation': [
    'm.yaml:5:43: error: VirtualNode/n: required field is missing (spec.backendDefaults.clientPolicy.tls.validation)',
  ],
  'four trusted authorities': [
    'm.yaml:5:101: error: VirtualNode/n: must list 1 to 3 item(s), got 4 (spec.backendDefaults.clientPolicy.tls.validation.trust.acm.certificateAuthorityArns)',
  ],
  'tls enforce not a boolean': [
    'm.yaml:5:54: error: VirtualNode/n: must be true or false, got "yes please" (spec.backendDefaults.clientPolicy.tls.enforce)',
  ],
  'access log without path': [
    'm.yaml:5:33: error: VirtualNode/n: required field is missing (spec.logging.accessLog.file.path)',
  ],
  'access log in two formats': [
    'm.yaml:5:62: error: VirtualNode/n: sets text and json; set exactly one of them (spec.logging.accessLog.file.format)',
  ],
  'misspelt listener field': [
    "m.yaml:8:19: error: VirtualNode/n: unknown field 'healtCheck'; did you mean 'healthCheck'? (spec.listeners[0].healtCheck)",
  ],
  'router without listeners': [
    'm.yaml:4:20: error: VirtualRouter/r2: must list at least 1 item(s), got 0 (spec.listeners)',
  ],
  'router listener protocol': [
    'm.yaml:4:58: error: VirtualRouter/r2: must be one of http, http2, grpc, tcp, got "udp" (spec.listeners[0].portMapping.protocol)',
  ],
  'route of no kind': [
    'm.yaml:6:3: error: Route/r/rt: must set one of: httpRoute, http2Route, grpcRoute, tcpRoute (spec)',
  ],
  'route of two kinds': [
    'm.yaml:7:13: error: Route/r/rt: sets httpRoute and tcpRoute; a route has exactly one of them (spec.tcpRoute)',
  ],
  'prefix without slash': [
    'm.yaml:7:22: error: Route/r/rt: must start with \'/\', got "api" (spec.httpRoute.match.prefix)',
  ],
  'prefix and path': [
    "m.yaml:7:31: error: Route/r/rt: sets both 'prefix' and 'path'; set exactly one of them (spec.httpRoute.match.path)",
  ],
  'path exact and regex': [
    'm.yaml:7:20: error: Route/r/rt: sets exact and regex; set exactly one of them (spec.httpRoute.match.path)',
  ],
  'path regex with a lookahead (not RE2)': [
    "m.yaml:7:29: error: Route/r/rt: uses a lookaround, which Envoy's regex engine (RE2) does not support (spec.httpRoute.match.path.regex)",
  ],
  'header regex that does not parse': [
    'm.yaml:7:64: error: Route/r/rt: is not a valid RE2 regular expression: missing ]: [0-9 (spec.httpRoute.match.headers[0].match.regex)',
  ],
  'path regex whose RE2 program is over 1000 (Envoy would refuse it)': [
    "m.yaml:7:29: error: Route/r/rt: compiles to an RE2 program of size 1002, over the 1000 App Mesh's Envoy accepts (re2.max_program_size.error_level); Envoy would refuse it (spec.httpRoute.match.path.regex)",
  ],
  'gateway route header regex with a repetition RE2 refuses': [
    'm.yaml:7:64: error: GatewayRoute/gw/gr: is not a valid RE2 regular expression: bad repetition operator: {2}{3} (spec.httpRoute.match.headers[0].match.regex)',
  ],
  'header range end before start': [
    'm.yaml:7:82: error: Route/r/rt: must be greater than start (10); the range includes start and excludes end (spec.httpRoute.match.headers[0].match.range.end)',
  ],
  'eleven headers': [
    'm.yaml:7:34: error: Route/r/rt: must list 1 to 10 item(s), got 11 (spec.httpRoute.match.headers)',
  ],
  'unknown method': [
    'm.yaml:7:33: error: Route/r/rt: must be one of CONNECT, DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT, TRACE, got "FETCH" (spec.httpRoute.match.method)',
  ],
  'scheme on an http route': [
    'm.yaml:7:33: error: Route/r/rt: applies only to an http2Route (spec.httpRoute.match.scheme)',
  ],
  'query parameter match without exact': [
    'm.yaml:7:61: error: Route/r/rt: required field is missing (spec.httpRoute.match.queryParameters[0].match.exact)',
  ],
  'eleven targets': [
    'm.yaml:6:42: error: Route/r/rt: must list 1 to 10 item(s), got 11 (spec.tcpRoute.action.weightedTargets)',
  ],
  'weight above 100': [
    'm.yaml:6:92: error: Route/r/rt: must be a whole number from 0 to 100, got 101 (spec.httpRoute.action.weightedTargets[0].weight)',
  ],
  'weights adding up to 0': [
    'm.yaml:6:65: error: Route/r/rt: the weights add up to 0; at least one target needs a weight above 0 (spec.httpRoute.action.weightedTargets)',
  ],
  'weights adding up to more than 100': [
    'm.yaml:6:65: error: Route/r/rt: the weights add up to 120; App Mesh allows at most 100 in total (spec.httpRoute.action.weightedTargets)',
  ],
  'target node not defined': [
    "m.yaml:6:81: error: Route/r/rt: virtual node 'ghost' is not defined in mesh 'apps' (spec.httpRoute.action.weightedTargets[0].virtualNode)",
  ],
  'target port not on the node': [
    "m.yaml:6:90: error: Route/r/rt: virtual node 'a' has no listener on port 9999 (its ports: 8080) (spec.httpRoute.action.weightedTargets[0].port)",
  ],
  'target node with several listeners': [
    "m.yaml:6:66: error: Route/r/rt: virtual node 'multi' has several listeners (8080, 9090); say which with 'port' (spec.httpRoute.action.weightedTargets[0])",
  ],
  'retry policy without maxRetries': [
    'm.yaml:9:18: error: Route/r/rt: required field is missing (spec.httpRoute.retryPolicy.maxRetries)',
  ],
  'retry policy without events': [
    'm.yaml:9:18: error: Route/r/rt: lists no retry events; set at least one of: httpRetryEvents, tcpRetryEvents (spec.httpRoute.retryPolicy)',
  ],
  'unknown http retry event': [
    'm.yaml:9:93: error: Route/r/rt: must be one of server-error, gateway-error, client-error, stream-error, got "5xx" (spec.httpRoute.retryPolicy.httpRetryEvents[0])',
  ],
  'unknown tcp retry event': [
    'm.yaml:9:92: error: Route/r/rt: must be one of connection-error, got "reset" (spec.httpRoute.retryPolicy.tcpRetryEvents[0])',
  ],
  'grpc method without service': [
    'm.yaml:6:37: error: Route/r/rt: needs serviceName as well: a method is matched within a service (spec.grpcRoute.match.methodName)',
  ],
  'unknown grpc retry event': [
    'm.yaml:9:96: error: Route/r/rt: must be one of cancelled, deadline-exceeded, internal, resource-exhausted, unavailable, got "timeout" (spec.grpcRoute.retryPolicy.grpcRetryEvents[0])',
  ],
  'grpc route on an http router': [
    "m.yaml:6:14: error: Route/r/rt: virtual router 'r' listens for http on port 80, so this route must be a httpRoute, not a grpcRoute (spec.grpcRoute)",
  ],
  'match port not on the router': [
    "m.yaml:7:31: error: Route/r/rt: virtual router 'r' has no listener on port 81 (its ports: 80) (spec.httpRoute.match.port)",
  ],
  'priority above 1000': [
    'm.yaml:6:13: error: Route/r/rt: must be a whole number from 0 to 1000, got 1001 (spec.priority)',
  ],
  'router not defined': [
    "m.yaml:3:16: error: Route/ghost/rt: virtual router 'ghost' is not defined in mesh 'apps' (virtualRouter)",
  ],
  'retry policy on a tcp route': [
    "m.yaml:6:90: error: Route/r/rt: unknown field 'retryPolicy'; expected one of: match, action, timeout (spec.tcpRoute.retryPolicy)",
  ],
  'gateway listening for tcp': [
    'm.yaml:4:60: error: VirtualGateway/g2: must be one of http, http2, grpc, got "tcp" (spec.listeners[0].portMapping.protocol)',
  ],
  'gateway without listeners': ['m.yaml:4:7: error: VirtualGateway/g2: required field is missing (spec.listeners)'],
  'gateway tcp connection pool': [
    "m.yaml:4:91: error: VirtualGateway/g2: unknown field 'tcp'; expected one of: http, http2, grpc (spec.listeners[0].connectionPool.tcp)",
  ],
  'reserved prefix': [
    "m.yaml:7:22: error: GatewayRoute/gw/gr: '/aws-appmesh' is reserved by App Mesh; a gateway route cannot match it (spec.httpRoute.match.prefix)",
  ],
  'reserved path': [
    "m.yaml:7:29: error: GatewayRoute/gw/gr: '/aws-app-mesh' is reserved by App Mesh; a gateway route cannot match it (spec.httpRoute.match.path.exact)",
  ],
  'reserved grpc service': [
    "m.yaml:6:38: error: GatewayRoute/gw/gr: 'aws.appmesh' services are reserved by App Mesh; a gateway route cannot match them (spec.grpcRoute.match.serviceName)",
  ],
  'rewrite prefix without trailing slash': [
    'm.yaml:8:109: error: GatewayRoute/gw/gr: must start and end with \'/\', got "/b" (spec.httpRoute.action.rewrite.prefix.value)',
  ],
  'rewrite with defaultPrefix and value': [
    "m.yaml:8:100: error: GatewayRoute/gw/gr: sets both 'defaultPrefix' and 'value'; set one of them (spec.httpRoute.action.rewrite.prefix)",
  ],
  'prefix rewrite of a path match': [
    "m.yaml:8:100: error: GatewayRoute/gw/gr: a prefix rewrite needs a 'match.prefix' to replace, and this route matches a 'path' (spec.httpRoute.action.rewrite.prefix)",
  ],
  'gateway not defined': [
    "m.yaml:3:17: error: GatewayRoute/ghost/gr: virtual gateway 'ghost' is not defined in mesh 'apps' (virtualGateway)",
  ],
  'gateway target not defined': [
    "m.yaml:8:63: error: GatewayRoute/gw/gr: virtual service 'ghost.apps.local' is not defined in mesh 'apps' (spec.httpRoute.action.target.virtualService.virtualServiceName)",
  ],
  'gateway target port not served': [
    "m.yaml:8:85: error: GatewayRoute/gw/gr: virtual service 'a.apps.local' has no listener on port 9 (its ports: 8080) (spec.httpRoute.action.target.port)",
  ],
  'gateway target on a tcp port': [
    "m.yaml:20:63: error: GatewayRoute/gw/gr: virtual service 't.apps.local' listens for tcp on port 7000; a gateway route sends http, http2 or grpc requests (spec.httpRoute.action.target.virtualService.virtualServiceName)",
  ],
  'hostname exact and suffix': [
    'm.yaml:7:24: error: GatewayRoute/gw/gr: sets exact and suffix; set exactly one of them (spec.httpRoute.match.hostname)',
  ],
  'grpc gateway route on an http listener': [
    "m.yaml:6:14: error: GatewayRoute/gw/gr: virtual gateway 'gw' listens for http on port 8088, so this route must be a httpRoute, not a grpcRoute (spec.grpcRoute)",
  ],
  'CLI JSON field value': [
    'm.json:5:46: error: VirtualNode/j: must be a whole number from 1 to 65535, got 99999 (spec.listeners[0].portMapping.port)',
  ],
  'CLI JSON unknown field': [
    "m.json:5:15: error: VirtualService/j: unknown field 'provider'; expected one of: meshName, spec, tags, clientToken, meshOwner, virtualServiceName (provider)",
  ],
  'CLI JSON route without router': ['m.json:1:1: error: Route/?/j: required field is missing (virtualRouterName)'],
  'CLI JSON describe output with a bad spec': [
    'm.json:5:28: error: VirtualRouter/j: must list at least 1 item(s), got 0 (virtualRouter.spec.listeners)',
  ],
  'CLI JSON invalid JSON': ['m.json:4:3: error: invalid YAML: Missing , between flow map items'],
  'k8s ref to a missing node': [
    "m.yaml:5:46: error: VirtualService/x.ns: virtual node 'ghost_ns' is not defined in mesh 'apps' (spec.provider.virtualNode.virtualNodeRef)",
  ],
  'k8s bad ARN': [
    'm.yaml:5:46: error: VirtualService/x.ns: names a virtualRouter, but a virtualNode is expected here (spec.provider.virtualNode.virtualNodeARN)',
  ],
  'k8s ref and ARN': [
    'm.yaml:6:76: error: VirtualNode/x_ns: set virtualServiceRef or virtualServiceARN, not both (spec.backends[0].virtualService.virtualServiceARN)',
  ],
  'k8s duplicate inline route': [
    "m.yaml:8:15: error: Route/x_ns/one: already defined in mesh 'apps' at m.yaml:7 (spec.routes[1].name)",
  ],
  'k8s inline route weight': [
    'm.yaml:10:110: error: Route/x_ns/one: must be a whole number from 0 to 100, got 200 (spec.routes[0].httpRoute.action.weightedTargets[0].weight)',
  ],
  'k8s old API version': [
    'm.yaml:1:13: error: only appmesh.k8s.aws/v1beta2 manifests are read, got "appmesh.k8s.aws/v1beta1" (apiVersion)',
  ],
  'k8s gateway route no gateway selects': [
    'm.yaml:10:11: error: GatewayRoute/gr_ns: no VirtualGateway in the input selects this GatewayRoute (by gatewayRouteSelector and namespaceSelector); set spec.virtualGatewayRef (metadata)',
  ],
  'k8s acm certificate without ARN': [
    'm.yaml:5:121: error: VirtualGateway/x_ns: must be a string, got 7 (spec.listeners[0].tls.certificate.acm.certificateARN)',
  ],
  'k8s backend groups': [
    'm.yaml:5:18: error: VirtualNode/x_ns: backendGroups are not supported; list the services under backends instead (spec.backendGroups)',
  ],
  'k8s route with neither prefix nor path': [
    "m.yaml:9:16: error: VirtualRouter/x_ns: must set 'prefix' or 'path': the App Mesh controller's webhook requires it in a Kubernetes manifest (spec.routes[0].httpRoute.match)",
  ],
  'k8s gateway route with neither prefix, path nor hostname': [
    "m.yaml:7:12: error: GatewayRoute/gr_ns: must set 'prefix', 'path' or 'hostname': the App Mesh controller's webhook requires it in a Kubernetes manifest (spec.httpRoute.match)",
  ],
  'k8s grpc gateway route with neither serviceName nor hostname': [
    "m.yaml:7:12: error: GatewayRoute/gr_ns: must set 'serviceName' or 'hostname': the App Mesh controller's webhook requires it in a Kubernetes manifest (spec.grpcRoute.match)",
  ],
  'k8s gateway route rewrite that sets nothing': [
    "m.yaml:8:136: error: GatewayRoute/gr_ns: must set 'prefix', 'path' or 'hostname': the App Mesh controller's webhook requires it in a Kubernetes manifest (spec.httpRoute.action.rewrite)",
  ],
  'a constructor key deep in a Kubernetes spec': [
    "m.yaml:8:20: error: VirtualNode/x_ns: unknown field 'constructor'; expected one of: portMapping, healthCheck, outlierDetection, connectionPool, timeout, tls (spec.listeners[0].constructor)",
  ],
  'a Mesh declared again with another spec': [
    'm.yaml:2:7: error: Mesh/apps: already defined at base.yaml:2 with a different spec.egressFilter; every declaration of a mesh must be the same (name)',
  ],
  'k8s Mesh declared twice, differently, both selecting a namespace': [
    'm.yaml:12:19: error: Mesh/m2: already defined at m.yaml:5 with a different spec.egressFilter; every declaration of a mesh must be the same (metadata.name)',
  ],
  'rollout analysis field misspelt': [
    "m.yaml:22:41: error: Rollout/ro: unknown field 'stepWieght'; did you mean 'stepWeight'? (spec.analysis.stepWieght)",
  ],
  'rollout interval below 1s': [
    'm.yaml:22:25: error: Rollout/ro: must be from 1s to 24h, got 500ms (spec.analysis.interval)',
  ],
  'rollout interval not a duration': [
    'm.yaml:22:25: error: Rollout/ro: must be a duration such as 30s, 1m or 500ms, got "2d" (spec.analysis.interval)',
  ],
  'rollout maxWeight below stepWeight': [
    'm.yaml:22:42: error: Rollout/ro: is 10, below stepWeight (20); the canary could never take a step (spec.analysis.maxWeight)',
  ],
  'rollout maxWeight below the default stepWeight': [
    'm.yaml:22:26: error: Rollout/ro: is 5, below stepWeight (10); the canary could never take a step (spec.analysis.maxWeight)',
  ],
  'rollout metric without min or max': [
    'm.yaml:25:25: error: Rollout/ro: sets neither min nor max; set at least one (spec.analysis.metrics[0].thresholdRange)',
  ],
  'rollout metric window above 15m': [
    'm.yaml:24:75: error: Rollout/ro: must be from 1s to 15m, got 1h (spec.analysis.metrics[0].interval)',
  ],
  'rollout unknown metric': [
    "m.yaml:22:33: error: Rollout/ro: is 'error-rate', not a built-in metric (request-success-rate or request-duration); a metric of another name needs a query (a PromQL template, docs/prometheus.md) (spec.analysis.metrics[0].name)",
  ],
  'rollout webhook type': [
    'm.yaml:24:29: error: Rollout/ro: must be one of confirm-rollout, pre-rollout, rollout, confirm-traffic-increase, confirm-promotion, post-rollout, rollback, event, got "pre-rollot" (spec.analysis.webhooks[0].type)',
  ],
  'rollout webhook URL': [
    'm.yaml:24:47: error: Rollout/ro: must be an http:// or https:// URL, got "ftp://localhost/gate" (spec.analysis.webhooks[0].url)',
  ],
  'rollout webhook timeout': [
    'm.yaml:24:75: error: Rollout/ro: must be from 1ms to 5m, got 10m (spec.analysis.webhooks[0].timeout)',
  ],
  'rollout webhook metadata not a string': [
    'm.yaml:27:40: error: Rollout/ro: must be a string (quote it), got 3 (spec.analysis.webhooks[0].metadata.retries)',
  ],
  'rollout webhook metadata a list': [
    'm.yaml:27:19: error: Rollout/ro: must be a mapping of names to strings (spec.analysis.webhooks[0].metadata)',
  ],
  'rollout of a route not defined': [
    "m.yaml:19:36: error: Rollout/ro: route 'ghost' of virtual router 'r' is not defined in mesh 'apps' (spec.route.name)",
  ],
  'rollout canary not defined': [
    "m.yaml:21:11: error: Rollout/ro: virtual node 'ghost' is not defined in mesh 'apps' (spec.canary)",
  ],
  'rollout route with a third target': [
    "m.yaml:19:36: error: Rollout/ro: Route/r/rt also sends traffic to multi; a rollout's route must have exactly two weighted targets, the primary and the canary (spec.route.name)",
  ],
  'rollout route without the canary': [
    "m.yaml:21:11: error: Rollout/ro: Route/r/rt has no weighted target for the canary 'client' (it sends to a, b); add { virtualNode: client, weight: 0 } (spec.canary)",
  ],
  'rollout route listing the primary twice': [
    "m.yaml:20:12: error: Rollout/ro: Route/r/rt lists 'a' 2 times; a rollout needs it once (spec.primary)",
  ],
  'rollout primary is the canary': [
    "m.yaml:21:11: error: Rollout/ro: is the primary too ('a'); name two different virtual nodes (spec.canary)",
  ],
  'rollout declared twice': ['m.yaml:25:7: error: Rollout/ro: rollout apps/ro is already declared at m.yaml:15 (name)'],
  'two rollouts of one route': [
    'm.yaml:27:10: error: Rollout/two: rollout apps/one already rolls out Route/r/rt; one route takes one rollout at a time (spec.route)',
  ],
  'rollout of a route that is itself invalid': [
    'm.yaml:13:65: error: Route/r/rt: the weights add up to 0; at least one target needs a weight above 0 (spec.httpRoute.action.weightedTargets)',
  ],
  'terraform virtual node without spec': [
    "m.json:14:21: error: VirtualNode/n: required block 'spec' is missing; the provider requires one spec block (aws_appmesh_virtual_node.n.spec)",
  ],
  'terraform route without a route block': [
    'm.json:19:15: error: Route/r/rt: must set one of: httpRoute, http2Route, grpcRoute, tcpRoute (aws_appmesh_route.rt.spec[0])',
  ],
  'terraform two blocks where the provider allows one': [
    "m.json:26:23: error: VirtualNode/n: the provider allows one 'port_mapping' block here, got 2 (aws_appmesh_virtual_node.n.spec[0].listener[0].port_mapping[1])",
  ],
  'terraform unknown attribute': [
    "m.json:27:38: error: VirtualNode/n: unknown attribute 'health_checks'; did you mean 'health_check'? (aws_appmesh_virtual_node.n.spec[0].listener[0].health_checks)",
  ],
  'terraform wrong type': [
    'm.json:23:33: error: VirtualNode/n: must be a whole number from 1 to 65535, got "8080" (aws_appmesh_virtual_node.n.spec[0].listener[0].port_mapping[0].port)',
  ],
  'terraform unknown weighted target': [
    "m.json:31:45: error: Route/r/rt: virtual node 'ghost' is not defined in mesh 'apps' (aws_appmesh_route.rt.spec[0].http_route[0].action[0].weighted_target[0].virtual_node)",
  ],
  'terraform bad unit': [
    'm.json:45:37: error: Route/r/rt: must be one of s, ms, got "m" (aws_appmesh_route.rt.spec[0].http_route[0].retry_policy[0].per_retry_timeout[0].unit)',
  ],
  'terraform child modules too deep': [
    'm.json:72:73: error: module.m: modules are nested more than 16 deep; meshd reads no deeper',
  ],
  'terraform block written as a mapping': [
    "m.json:21:37: error: VirtualNode/n: must be a list of 'port_mapping' blocks (terraform show -json writes a nested block as a list), got a mapping (aws_appmesh_virtual_node.n.spec[0].listener[0].port_mapping)",
  ],
  'terraform API field the provider does not have': [
    "m.json:25:35: error: GatewayRoute/gw/gr: unknown attribute 'method'; expected one of: prefix, path, hostname, header, query_parameter, port (aws_appmesh_gateway_route.gr.spec[0].http_route[0].match[0].method)",
  ],
  'terraform unknown resource attribute': [
    "m.json:17:36: error: VirtualService/s: unknown attribute 'virtual_router_name'; expected one of: name, spec, tags, tags_all, mesh_name, id, arn, created_date, last_updated_date, resource_owner, mesh_owner, region (aws_appmesh_virtual_service.s.virtual_router_name)",
  ],
  'terraform listener timeout for two protocols': [
    'm.json:28:23: error: VirtualNode/n: sets http and tcp; set exactly one of them (aws_appmesh_virtual_node.n.spec[0].listener[0].timeout[0])',
  ],
  'terraform cloud map service in an undeclared namespace': [
    "m.json:29:29: error: CloudMapService/s: namespace 'ns-2' is not declared in this file (no aws_service_discovery_*_namespace has this id) (aws_service_discovery_service.s.namespace_id)",
  ],
  'terraform cloud map instance id': [
    'm.json:41:28: error: CloudMapService/s: may contain only letters, digits and _/:.@-, got "web 1" (aws_service_discovery_instance.i.instance_id)',
  ],
  'terraform state on one line': [
    'm.json:1:424: error: VirtualNode/n: must be a whole number of at least 1, got -1 (aws_appmesh_virtual_node.n.spec[0].listener[0].connection_pool[0].http[0].max_connections)',
  ],
  'terraform module that is not a mapping': [
    'm.json:8:9: error: a module must be a mapping with resources and child_modules (values.root_module.child_modules[0])',
  ],
  'terraform tags not a map': [
    'm.json:22:21: error: VirtualService/s: must be a map of tag names to values (aws_appmesh_virtual_service.s.tags)',
  ],
  'terraform health check port 0 and path "" are not set, as the provider sends them': [
    'm.json:35:43: error: VirtualNode/n: must be a whole number from 2000 to 60000, got 0 (aws_appmesh_virtual_node.n.spec[0].listener[0].health_check[0].timeout_millis)',
  ],
  'cfn Ref to an unknown name': [
    "m.yaml:13:28: error: VirtualNode/n2: Ref: 'HostNam' is not a parameter or resource of this template, nor a pseudo parameter; did you mean 'HostName'? (Resources.Node.Properties.Spec.ServiceDiscovery.DNS.Hostname)",
  ],
  'cfn cyclic Fn::Sub between resources': [
    'm.yaml:12:29: error: VirtualNode/?: Fn::Sub: circular reference: Node → Other → Node (Resources.Other.Properties.VirtualNodeName)',
  ],
  'cfn a resource naming itself': [
    'm.yaml:6:52: error: VirtualNode/?: Ref: circular reference: Node → Node (Resources.Node.Properties.VirtualNodeName.Fn::Select[1].Fn::Split[1])',
  ],
  'cfn GetAtt of an attribute the type has not': [
    "m.yaml:12:32: error: VirtualNode/?: Fn::GetAtt: AWS::AppMesh::VirtualNode has no attribute 'VirtualNodName'; did you mean 'VirtualNodeName'? (Resources.Other.Properties.VirtualNodeName)",
  ],
  'cfn GetAtt of a resource not declared': [
    "m.yaml:11:31: error: VirtualNode/n2: Fn::GetAtt: 'Gateway' is not a resource of this template (Resources.Node.Properties.Spec.ServiceDiscovery.DNS.Hostname)",
  ],
  'cfn GetAtt of a load balancer': [
    "m.yaml:11:31: error: VirtualNode/n2: Fn::GetAtt: 'PublicLoadBalancer' is of type AWS::ElasticLoadBalancingV2::LoadBalancer, whose values meshd cannot know (it evaluates only AWS::AppMesh and AWS::ServiceDiscovery resources): pass --resource-value PublicLoadBalancer.DNSName=<value> (Resources.Node.Properties.Spec.ServiceDiscovery.DNS.Hostname)",
    'm.yaml:13:5: info: skipping AWS::ElasticLoadBalancingV2::LoadBalancer/PublicLoadBalancer: not an App Mesh resource',
  ],
  'cfn GetAtt HostedZoneId of a namespace': [
    'm.yaml:11:28: error: VirtualNode/n2: Fn::Sub: Namespace.HostedZoneId: meshd cannot know this value (Route 53 assigns it) (Resources.Node.Properties.Spec.ServiceDiscovery.DNS.Hostname)',
  ],
  'cfn Fn::Select out of range': [
    'm.yaml:11:32: error: VirtualNode/n2: Fn::Select: index 2 is out of range: the list has 2 item(s) (Resources.Node.Properties.Spec.ServiceDiscovery.DNS.Hostname)',
  ],
  'cfn Fn::If on an unknown condition': [
    "m.yaml:13:28: error: VirtualNode/n2: Fn::If: condition 'IsProd' is not declared in Conditions (Resources.Node.Properties.Spec.ServiceDiscovery.DNS.Hostname)",
  ],
  'cfn circular condition': [
    'm.yaml:3:23: error: Condition/B: Condition: circular condition: A → B → A (Conditions.B.Fn::And[0])',
  ],
  'cfn Fn::Equals outside Conditions': [
    'm.yaml:11:31: error: VirtualNode/n2: Fn::Equals: can be used only in the Conditions section (Resources.Node.Properties.Spec.ServiceDiscovery.DNS.Hostname)',
  ],
  'cfn parameter without a value': [
    "m.yaml:15:28: error: VirtualNode/n2: Fn::Sub: parameter 'Domain' has no value: give it a Default or pass --parameter Domain=<value> (Resources.Node.Properties.Spec.ServiceDiscovery.DNS.Hostname)",
  ],
  'cfn parameter Default not in AllowedValues': [
    "m.yaml:4:14: error: Parameter/Env: Default 'prod' is not one of the AllowedValues (production, staging): production or staging (Parameters.Env.Default)",
  ],
  'cfn Number parameter that is no number': [
    "m.yaml:2:34: error: Parameter/Port: Default 'eighty' is not a number (Parameters.Port.Default)",
  ],
  'cfn Fn::Sub of a list parameter': [
    'm.yaml:13:28: error: VirtualNode/n2: Fn::Sub: ${Zones} is a list; Fn::Sub puts only strings in (use Fn::Join for a list) (Resources.Node.Properties.Spec.ServiceDiscovery.DNS.Hostname)',
  ],
  'cfn Fn::Sub of an unknown variable': [
    "m.yaml:11:29: error: VirtualNode/n2: Fn::Sub: 'Domian' is not a variable of this Fn::Sub, a parameter or resource of this template, nor a pseudo parameter; did you mean 'Domain'? (Resources.Node.Properties.Spec.ServiceDiscovery.DNS.Hostname)",
  ],
  'cfn Fn::Join of a mapping': [
    'm.yaml:11:35: error: VirtualNode/n2: Fn::Join: the values must be a list (Resources.Node.Properties.Spec.ServiceDiscovery.DNS.Hostname)',
  ],
  'cfn Fn::FindInMap of a missing key': [
    "m.yaml:14:47: error: VirtualNode/n2: Fn::FindInMap: mapping 'Hosts' has no key 'us-east-1' (Resources.Node.Properties.Spec.ServiceDiscovery.DNS.Hostname)",
  ],
  'cfn Fn::ImportValue without --import-value': [
    "m.yaml:11:36: error: VirtualNode/n2: Fn::ImportValue: no value for the export 'shared:ServiceDomain': pass --import-value shared:ServiceDomain=<value> (Resources.Node.Properties.Spec.ServiceDiscovery.DNS.Hostname)",
  ],
  'cfn function meshd cannot evaluate': [
    "m.yaml:11:43: error: VirtualNode/n2: Fn::GetAZs: meshd cannot evaluate this function: it asks AWS for the region's availability zones (Resources.Node.Properties.Spec.ServiceDiscovery.DNS.Hostname.Fn::Select[1])",
  ],
  'cfn unknown function': [
    'm.yaml:11:43: error: VirtualNode/n2: Fn::Frobnicate: unknown intrinsic function (Resources.Node.Properties.Spec.ServiceDiscovery.DNS.Hostname)',
  ],
  'cfn unknown short tag': [
    "m.yaml:11:23: error: invalid YAML: unknown tag !Frobnicate; the tags meshd reads are CloudFormation's short forms (!Ref, !Sub, !GetAtt, !If, !Join, ...)",
  ],
  'cfn Ref to a resource that is not created': [
    "m.yaml:8:32: error: VirtualNode/?: Fn::GetAtt: resource 'Other' is not created: its Condition 'IsStaging' is false (Resources.Node.Properties.VirtualNodeName)",
    "m.yaml:12:16: info: skipping AWS::AppMesh::VirtualNode/Other: its Condition 'IsStaging' is false",
  ],
  'cfn Cloud Map service name over 127 characters': [
    'm.yaml:8:25: error: AWS::ServiceDiscovery::Service/Service: must be 1\u2013127 characters long, got 128 (Resources.Service.Properties.Name)',
  ],
  'cfn property of the wrong type': [
    'm.yaml:9:34: error: VirtualNode/n2: must be a whole number from 1 to 65535, got "eighty" (Resources.Node.Properties.Spec.Listeners[0].PortMapping.Port)',
  ],
  'cfn misspelt spec property': [
    'm.yaml:9:26: error: VirtualNode/n2: required field is missing (Resources.Node.Properties.Spec.Listeners[0].PortMapping.Protocol)',
    "m.yaml:9:49: error: VirtualNode/n2: unknown field 'Protocl'; did you mean 'Protocol'? (Resources.Node.Properties.Spec.Listeners[0].PortMapping.Protocl)",
  ],
  'cfn API spelling of a CloudFormation acronym': [
    "m.yaml:9:34: error: VirtualNode/n2: unknown field 'Dns'; did you mean 'DNS'? (Resources.Node.Properties.Spec.ServiceDiscovery.Dns)",
  ],
  'cfn misspelt resource property': [
    "m.yaml:6:23: error: unknown field 'VirtualNodeNam'; did you mean 'VirtualNodeName'? (Resources.Node.Properties.VirtualNodeNam)",
  ],
  'cfn virtual node without Spec': [
    'm.yaml:5:7: error: VirtualNode/n2: required field is missing (Resources.Node.Properties.Spec)',
  ],
  'cfn route without its router': [
    'm.yaml:5:7: error: Route/?/?: required field is missing (Resources.Route.Properties.VirtualRouterName)',
  ],
  'cfn unknown App Mesh resource type': [
    "m.yaml:3:11: error: unknown App Mesh resource type 'AWS::AppMesh::VirtualNod'; did you mean 'AWS::AppMesh::VirtualNode'? (Resources.Node.Type)",
  ],
  'cfn MeshOwner that is no account ID': [
    'm.yaml:6:23: error: VirtualNode/?: must be a 12-digit AWS account ID, got "m" (Resources.Node.Properties.MeshOwner)',
  ],
  'cfn logical ID with an underscore': [
    "m.yaml:3:5: error: 'My_Node' is not a valid name: CloudFormation names are 1–255 letters and digits (Resources.My_Node)",
  ],
  'cfn unknown template section': [
    "m.yaml:2:3: error: unknown template section 'Parameter'; did you mean 'Parameters'? (Parameter)",
  ],
  'cfn Cloud Map instance attribute that is a list': [
    'm.yaml:12:48: error: AWS::ServiceDiscovery::Instance/Task: must be a string (Resources.Task.Properties.InstanceAttributes.AWS_INSTANCE_IPV4)',
  ],
  'cfn misspelt property of a node a service names': [
    "m.yaml:8:12: error: unknown field 'Tag'; did you mean 'Tags'? (Resources.Node.Properties.Tag)",
  ],
  'cfn JSON template with a bad value': [
    'm.json:6:21: error: VirtualNode/?: must be a string, got AWS::NoValue (Resources.Node.Properties.MeshName)',
  ],
};

describe('bad inputs', () => {
  it('has at least 60 cases, each with its expected findings', () => {
    expect(BAD_INPUTS.length).toBeGreaterThanOrEqual(60);
    expect(BAD_INPUTS.map(([title]) => title).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(BAD_INPUTS)('%s', (title, file, text) => {
    const dir = tmpDir('bad-input-');
    fs.writeFileSync(path.join(dir, 'base.yaml'), BASE);
    fs.writeFileSync(path.join(dir, file), text);
    const result = loadMesh([dir]);
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => formatProblem(p).replaceAll(dir + path.sep, ''))).toEqual(EXPECTED[title]);
  });
});
