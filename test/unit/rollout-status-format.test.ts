// `meshd rollout list` shows one event per rollout: the last one that is not a webhook call's record, so that a
// post-rollout hook's yes (recorded after the end) does not hide how the rollout ended.
import { formatRollout, type RolloutView } from '../../src/cli/rollout';

const view = (events: RolloutView['events']): RolloutView => ({
  mesh: 'apps',
  name: 'web',
  source: 'file',
  phase: 'Succeeded',
  canaryWeight: 100,
  failedChecks: 0,
  settings: {
    route: { virtualRouter: 'web', name: 'web' },
    primary: 'web-v1',
    canary: 'web-v2',
    threshold: 5,
    maxWeight: 50,
    intervalMs: 60_000,
  },
  expected: { primary: 0, canary: 100 },
  events,
  nextStepInMs: null,
});

describe('rollout list and status', () => {
  const events = [
    { at: '2026-12-04T10:00:00.000Z', type: 'Normal', message: 'promoted: all traffic to web-v2' },
    {
      at: '2026-12-04T10:00:01.000Z',
      type: 'Normal',
      message: 'post-rollout webhook notify: ok (HTTP 200)',
      webhook: 'notify',
    },
  ];

  it('list shows the last event that is not a webhook call', () => {
    const text = formatRollout(view(events), false);
    expect(text).toContain('promoted: all traffic to web-v2');
    expect(text).not.toContain('post-rollout webhook notify');
  });

  it('status shows every recent event, webhook calls included', () => {
    const text = formatRollout(view(events), true);
    expect(text).toContain('promoted: all traffic to web-v2');
    expect(text).toContain('post-rollout webhook notify: ok (HTTP 200)');
  });
});
