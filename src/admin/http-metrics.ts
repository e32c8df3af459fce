// The metrics and log lines of meshd's HTTP servers' refusals and handler failures
// (src/admin/http-guard.ts): what an operator watches to see meshd being probed or hit by a bug.
import type { Logger } from '../log';
import type { HttpObserver } from './http-guard';
import type { MetricsRegistry } from './metrics';

export function httpMetrics(registry: MetricsRegistry, log: Logger): HttpObserver {
  const errors = registry.counter('meshd_http_handler_errors_total', 'Requests a handler failed on unexpectedly (answered 500; the cause is logged), by server', ['server']);
  const refused = registry.counter(
    'meshd_http_refused_total',
    'Requests and connections refused, by server and reason (body_too_large: 413; bad_request: a malformed target or encoding; connection_limit: over the server\'s connection limit)',
    ['server', 'reason'],
  );
  return {
    handlerError: (server, err) => {
      errors.inc({ server });
      log.error(`${server} http: a request failed: ${err.message}`);
    },
    refused: (server, reason) => refused.inc({ server, reason }),
  };
}
