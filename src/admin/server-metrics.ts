// The metrics and log lines of meshd's servers' refusals and handler failures (the HTTP ones
// through src/admin/http-guard.ts, and the xDS and DogStatsD servers' handlers): what an
// operator watches to see meshd being probed or hit by a bug.
import type { Logger } from '../util/log';
import type { HttpObserver } from './http-guard';
import type { MetricsRegistry } from './metrics';

export function serverMetrics(registry: MetricsRegistry, log: Logger): HttpObserver {
  const errors = registry.counter(
    'meshd_handler_errors_total',
    'Requests, streams and datagrams a handler failed on unexpectedly (HTTP answered 500, a stream ended with INTERNAL, a datagram dropped; the cause is logged), by server (admin, xds, statsd)',
    ['server'],
  );
  const refused = registry.counter(
    'meshd_http_refused_total',
    "Requests and connections refused, by server and reason (body_too_large: 413; bad_request: a malformed target or encoding; connection_limit: over the server's connection limit; unauthenticated: an admin write without its credential, 401; forbidden: with another credential, or none allowed, 403)",
    ['server', 'reason'],
  );
  return {
    handlerError: (server, err) => {
      errors.inc({ server });
      log.error(`${server}: a handler failed: ${err.message}`);
    },
    refused: (server, reason) => refused.inc({ server, reason }),
  };
}
