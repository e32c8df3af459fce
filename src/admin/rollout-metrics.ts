// The canary rollouts on /metrics: each rollout's phase, canary weight and failed checks, read
// from the rollout controller when /metrics is rendered.
import type { RolloutController } from '../rollout/controller';
import { PHASES } from '../rollout/records';
import type { WebhookCaller } from '../rollout/webhooks';
import type { MetricsRegistry } from './metrics';

const LABELS = ['mesh', 'rollout'];

export function rolloutMetrics(registry: MetricsRegistry, rollouts: RolloutController, webhooks?: WebhookCaller): void {
  const each = <T>(value: (r: ReturnType<RolloutController['list']>[number]) => T) =>
    rollouts.list().map((r) => ({ labels: { mesh: r.mesh, rollout: r.name }, r, value: value(r) }));
  registry.gauge(
    'meshd_rollout_phase',
    "A rollout's phase: 1 for the phase it is in, 0 for the others",
    [...LABELS, 'phase'],
    () =>
      each(() => 0).flatMap(({ labels, r }) =>
        PHASES.map((phase) => ({ labels: { ...labels, phase }, value: r.phase === phase ? 1 : 0 })),
      ),
  );
  registry.gauge(
    'meshd_rollout_canary_weight_percent',
    "The canary's share of the route, as the rollout set it",
    LABELS,
    () => each((r) => r.expected.canary),
  );
  registry.gauge(
    'meshd_rollout_failed_checks',
    'Failed checks so far; the rollout rolls back at its threshold',
    LABELS,
    () => each((r) => r.failedChecks),
  );
  if (webhooks) {
    registry.counter(
      'meshd_rollout_webhooks_refused_total',
      'Webhook calls meshd refused to make, by reason (scheme: not http or https; host_not_allowed: not in --webhook-allow; bad_url)',
      ['reason'],
      () => Object.entries(webhooks.refused).map(([reason, value]) => ({ labels: { reason }, value })),
    );
    registry.counter(
      'meshd_rollout_webhook_answers_cut_total',
      'Webhook answers longer than --webhook-max-body-bytes, cut off unread',
      [],
      () => [{ value: webhooks.bodiesCut }],
    );
  }
}
